import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import Foundation

/// LoRA training beside PEFT + PyTorch in the same run: SmolLM2-135M-Instruct with r = 8,
/// alpha 16 on q_proj and v_proj, AdamW, one step (forward, next-token loss, backward, update)
/// on 4 x 128 tokens. The float32 row uses the GGUF's weights dequantised to F32 (as
/// transformers dequantises them for PEFT); the QLoRA row keeps the Q4_1 blocks (PEFT's QLoRA
/// needs bitsandbytes on a GPU, so it has no peer here). Goal: 1.5x PEFT's tokens/s in f32.
struct FineTuneSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "finetune", abstract: "LoRA training tokens/s on SmolLM2 beside PEFT.")

    @OptionGroup var options: BenchmarkOptions

    static let (batch, length) = (4, 128)

    func run() throws {
        guard let quantized = PretrainedModels.smolLM2 else {
            print(PretrainedModels.missing("SmolLM2-135M-Instruct.Q4_1.gguf"))
            return
        }
        let reference = PyTorchReference.run(suite: "finetune", repetitions: options.repetitions)
        // The same weights in float32, written once and kept beside the benchmark's other caches.
        let cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/cortex/bench").path
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let dense = cache + "/SmolLM2-135M-Instruct.F32.gguf"
        if !FileManager.default.fileExists(atPath: dense) {
            _ = try ModelQuantization.run(model: quantized, format: .f32, output: dense)
        }
        var rows: [BenchmarkRow] = []
        for (name, path) in [("lora_smollm2_f32", dense), ("qlora_smollm2_q4_1", quantized)] where options.includes(name) {
            let speed = try QuantizedMatrix.$activations.withValue(.float) { try tokensPerSecond(path) }
            rows.append(BenchmarkRow(name: name + "_tokens_per_sec", cortex: speed, reference: reference.figures[name + "_tokens_per_sec"],
                                     unit: "tokens/s"))
        }
        let notes = [reference.note, "LoRA r=8, alpha=16 on q_proj and v_proj (\(CPUParallelism.threadCount) threads), AdamW; the median training step "
                     + "on \(Self.batch) x \(Self.length) tokens; the reference is PEFT on transformers' float32 SmolLM2 from the same GGUF file."]
        BenchmarkReport.print(rows, json: options.json, notes: notes, peer: "peft")
    }

    func tokensPerSecond(_ path: String) throws -> Double {
        let model = try Llama.load(gguf: path)
        let adapter = try LoRAAdapter.apply(to: model, configuration: LoRAConfiguration(rank: 8, alpha: 16, targetModules: ["q_proj", "v_proj"]),
                                            generator: RandomGenerator(seed: 0))
        let optimizer = AdamW(adapter.parameters(), learningRate: 2e-4, weightDecay: 0)
        let generator = RandomGenerator(seed: 1)
        let ids = try Tensor(integers: (0..<(Self.batch * (Self.length + 1))).map { _ in generator.integer(below: model.vocabularySize) },
                             shape: [Self.batch, Self.length + 1])
        let (inputs, targets) = (try ids.slice(axis: 1, start: 0, end: Self.length).contiguous(), try ids.slice(axis: 1, start: 1, end: Self.length + 1).contiguous())
        func step() throws {
            optimizer.zeroGrad()
            try model.loss(inputs, targets: targets).backward()
            try optimizer.step()
        }
        try step()
        var seconds: [Double] = []
        for _ in 0..<max(options.repetitions / 3, 3) {
            let started = DispatchTime.now().uptimeNanoseconds
            try step()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        }
        return Double(Self.batch * Self.length) / seconds.sorted()[seconds.count / 2]
    }
}
