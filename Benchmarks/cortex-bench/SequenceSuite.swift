import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import Foundation

/// Training throughput of the two sequence models, in tokens per second of full steps
/// (forward, loss, backward, optimizer), PyTorch beside: the word-level LSTM language model
/// (vocabulary 10,000, embedding 128, hidden 256, dropout 0.2, Adam) on batches of 20 × 35,
/// and the char-gpt decoder (4 layers, 4 heads, width 128, context 64, vocabulary 65, AdamW) on
/// batches of 32 × 64. Random token batches: throughput does not depend on the text.
struct SequenceSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sequence", abstract: "LSTM language model and char-gpt training tokens/s.")

    @OptionGroup var options: BenchmarkOptions

    func run() throws {
        let reference = PyTorchReference.run(suite: "sequence", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        let generator = RandomGenerator(seed: 0)

        func measure(_ name: String, batch: Int, steps: Int, vocabulary: Int, parameters: [Tensor], optimizer: Optimizer,
                     loss: (Tensor, Tensor) throws -> Tensor) throws {
            guard options.includes(name) else { return }
            let ids = try Tensor(integers: (0..<(batch * steps)).map { _ in generator.integer(below: vocabulary) }, shape: [batch, steps])
            let targets = try Tensor(integers: (0..<(batch * steps)).map { _ in generator.integer(below: vocabulary) }, shape: [batch, steps])
            func step() throws {
                optimizer.zeroGrad()
                try loss(ids, targets).backward()
                try optimizer.step()
            }
            for _ in 0..<2 { try step() }
            let iterations = 5
            let seconds = try medianSeconds(repetitions: max(options.repetitions / 5, 3)) {
                for _ in 0..<iterations { try step() }
            }
            rows.append(BenchmarkRow(name: name, cortex: Double(iterations * batch * steps) / seconds, reference: reference.figures[name], unit: "tokens/s"))
        }

        let lstm = LSTMLanguageModel(vocabularySize: 10_000, embeddingSize: 128, hiddenSize: 256, dropout: 0.2, generator: generator)
        lstm.train()
        try measure("lstm_lm_v10000_b20x35", batch: 20, steps: 35, vocabulary: 10_000, parameters: lstm.parameters(),
                    optimizer: Adam(lstm.parameters(), learningRate: 1e-3), loss: lstm.loss)
        let gpt = GPT(GPTConfiguration(vocabularySize: 65, contextLength: 64, embeddingSize: 128, layers: 4, heads: 4, dropout: 0),
                      generator: generator)
        gpt.train()
        try measure("char_gpt_l4_w128_b32x64", batch: 32, steps: 64, vocabulary: 65, parameters: gpt.parameters(),
                    optimizer: AdamW(gpt.parameters(), learningRate: 1e-3), loss: gpt.loss)
        // `cortex train char-gpt`'s own configuration, in float32 and with bfloat16 autocast.
        let recipe = GPT(GPTConfiguration(vocabularySize: 65, contextLength: 128, embeddingSize: 192, layers: 4, heads: 4, dropout: 0),
                         generator: generator)
        recipe.train()
        for precision in Autocast.Precision.allCases {
            try measure("char_gpt_l4_w192_b32x128" + (precision == .float32 ? "" : "_bf16"), batch: 32, steps: 128, vocabulary: 65,
                        parameters: recipe.parameters(), optimizer: AdamW(recipe.parameters(), learningRate: 1e-3)) { ids, targets in
                try Autocast.run(precision) { try recipe.loss(ids, targets: targets) }
            }
        }
        var notes = [reference.note,
            "Full training steps on random token batches, 5 steps per timing; \(CPUParallelism.threadCount) threads. "
            + "PyTorch runs nn.LSTM and transformers' GPT2LMHeadModel of the same sizes with the same optimizers; "
            + "its _bf16 row runs under torch.autocast(\"cpu\", dtype=torch.bfloat16)."]
        let figures = Dictionary(rows.map { ($0.name, $0.cortex) }, uniquingKeysWith: { first, _ in first })
        if let full = figures["char_gpt_l4_w192_b32x128"], let mixed = figures["char_gpt_l4_w192_b32x128_bf16"] {
            notes.append(String(format: "char-gpt (the recipe's 4 x 192, context 128, batch 32): bf16 autocast = %.2fx float32 (target 1.3x)", mixed / full)
                         + (Autocast.hasBFloat16Kernel ? "" : "; this CPU has no AVX512_BF16, so bf16 is emulated"))
        }
        BenchmarkReport.print(rows, json: options.json, notes: notes)
    }
}
