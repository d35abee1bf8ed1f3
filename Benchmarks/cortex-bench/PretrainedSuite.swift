import ArgumentParser
import CortexCore
import CortexModels
import Foundation

/// The two real pretrained models: SmolLM2-135M-Instruct from its Q4_1 GGUF file (prompt
/// tokens/s over a 95-token paragraph, greedy decoding tokens/s over 64 new tokens, peak
/// resident memory over the file's size) and all-MiniLM-L6-v2 sentence embeddings
/// (sentences/s, 256 tiny-Shakespeare lines in batches of 32); transformers + PyTorch beside.
struct PretrainedSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pretrained", abstract: "SmolLM2 (GGUF Q4_1) generation and MiniLM embeddings.")

    @OptionGroup var options: BenchmarkOptions

    static let paragraph = """
        The history of computing is a story of ideas that took decades to become practical. Early machines filled rooms, \
        consumed enormous amounts of power, and could be programmed only by rewiring their circuits. The stored-program \
        design changed that: instructions and data lived in the same memory, and software became something people could \
        write, share and improve. Today a phone in a pocket holds more computing power than all of those early machines \
        together, and the models that run on it can
        """

    func run() throws {
        guard let gguf = PretrainedModels.smolLM2, let miniLM = PretrainedModels.miniLM else {
            print(PretrainedModels.missing("SmolLM2-135M-Instruct.Q4_1.gguf or all-MiniLM-L6-v2"))
            return
        }
        let reference = PyTorchReference.run(suite: "pretrained", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        let generator = try TextGenerator.load(gguf: gguf)
        let prompt = try generator.tokenizer.encode(PretrainedSuite.paragraph)
        var promptRates: [Double] = [], decodeRates: [Double] = []
        for _ in 0..<max(options.repetitions / 5, 3) {
            let start = DispatchTime.now().uptimeNanoseconds
            var first: UInt64 = 0
            var count = 0
            _ = try generator.model.generate(prompt: prompt, maxNewTokens: 65, sampling: SamplingOptions(temperature: 0), onToken: { _ in
                count += 1
                if count == 1 { first = DispatchTime.now().uptimeNanoseconds }
            })
            let end = DispatchTime.now().uptimeNanoseconds
            promptRates.append(Double(prompt.count) / (Double(first - start) * 1e-9))
            decodeRates.append(Double(count - 1) / (Double(end - first) * 1e-9))
        }
        let llamaCpp = LlamaCppReference.bench(model: gguf, promptTokens: prompt.count, generatedTokens: 64, threads: CPUParallelism.threadCount)
        let fileBytes = Double((try FileManager.default.attributesOfItem(atPath: gguf)[.size] as? Int) ?? 1)
        rows.append(BenchmarkRow(name: "smollm2_decode_tokens_per_sec", cortex: median(decodeRates),
                                 reference: reference.figures["smollm2_decode_tokens_per_sec"], unit: "tokens/s", llamaCpp: llamaCpp.generation))
        rows.append(BenchmarkRow(name: "smollm2_prompt_tokens_per_sec", cortex: median(promptRates),
                                 reference: reference.figures["smollm2_prompt_tokens_per_sec"], unit: "tokens/s", llamaCpp: llamaCpp.prompt))
        rows.append(BenchmarkRow(name: "smollm2_peak_memory_over_file", cortex: peakResidentBytes() / fileBytes,
                                 reference: reference.figures["smollm2_peak_memory_over_file"], unit: "x", higherIsBetter: false))

        let embedder = try SentenceEmbedder.load(directory: miniLM)
        let sentences = try shakespeareLines(256)
        _ = try embedder.embed(sentences, batchSize: 32)
        var seconds: [Double] = []
        for _ in 0..<max(options.repetitions / 5, 3) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try embedder.embed(sentences, batchSize: 32)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        rows.append(BenchmarkRow(name: "minilm_sentences_per_sec", cortex: Double(sentences.count) / median(seconds),
                                 reference: reference.figures["minilm_sentences_per_sec"], unit: "sentences/s"))
        BenchmarkReport.print(rows, json: options.json, notes: [reference.note, llamaCpp.note,
            "SmolLM2-135M-Instruct.Q4_1.gguf (\(String(format: "%.1f", fileBytes / 1e6)) MB): \(prompt.count)-token prompt, 64 greedy tokens after the first; "
            + "transformers runs the same file dequantised to float32. all-MiniLM-L6-v2: 256 tiny-Shakespeare lines, batches of 32, "
            + "mean pooling + normalisation. \(CPUParallelism.threadCount) threads. Decoding quantises activations to 8 bits as llama.cpp does "
            + "(QuantizedMatrix.activations = .\(QuantizedMatrix.activations); CORTEX_QUANT_ACTIVATIONS=float for the float path)."], llamaCppRows: true)
    }

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    func shakespeareLines(_ count: Int) throws -> [String] {
        let data = ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] ?? "../shared/data"
        let path = (data as NSString).appendingPathComponent("tinyshakespeare/input.txt")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CortexError.io(path: path, reason: "cannot be read") }
        return Array(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.count > 20 }.prefix(count))
    }
}
