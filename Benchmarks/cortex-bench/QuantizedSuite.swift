import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import CortexText
import Foundation

/// Quantised inference beside PyTorch's `quantize_dynamic` in the same run: int8 Linear GOP/s
/// at the MNIST MLP's and all-MiniLM-L6-v2's shapes (activations quantised per call, included in
/// the time), MiniLM sentences/s in float32 and int8 with the int8 embeddings' cosine to the
/// float32 ones, and GPT-2 124M (random weights) decoding from Cortex's own f32 and Q8_0 GGUF
/// exports, with llama.cpp on the same two files where CORTEX_LLAMA_CPP is set.
struct QuantizedSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "quantized", abstract: "int8 Linear, MiniLM int8, GPT-2 Q8_0 against f32.")

    @OptionGroup var options: BenchmarkOptions

    /// (name, rows, in, out), as Tools/reference_bench.py's QUANTIZED_LINEAR_SHAPES.
    static let linearShapes = [("mlp_64x784x128", 64, 784, 128), ("minilm_512x384x384", 512, 384, 384),
                               ("minilm_512x384x1536", 512, 384, 1536), ("minilm_512x1536x384", 512, 1536, 384)]

    func run() throws {
        let reference = PyTorchReference.run(suite: "quantized", repetitions: options.repetitions)
        var rows: [BenchmarkRow] = []
        try withNoGrad {
            for (name, count, inputs, outputs) in Self.linearShapes {
                let layer = Linear(inputs, outputs, generator: RandomGenerator(seed: 1))
                let x = try Tensor.randn([count, inputs], generator: RandomGenerator(seed: 2))
                let operations = 2.0 * Double(count * inputs * outputs)
                let repetitions = options.repetitions * (count * inputs * outputs < 10_000_000 ? 20 : 4)
                let float = operations / (try medianSeconds(repetitions: repetitions) { _ = try layer(x) }) / 1e9
                try Int8Quantization.quantize(layer)
                let int8 = operations / (try medianSeconds(repetitions: repetitions) { _ = try layer(x) }) / 1e9
                let (torchFloat, torchInt8) = (reference.figures["linear_\(name)_f32"], reference.figures["linear_\(name)_int8"])
                rows.append(BenchmarkRow(name: "linear_\(name)_f32", cortex: float, reference: torchFloat, unit: "GOP/s"))
                rows.append(BenchmarkRow(name: "linear_\(name)_int8", cortex: int8, reference: torchInt8, unit: "GOP/s"))
                rows.append(BenchmarkRow(name: "linear_\(name)_int8_over_f32", cortex: int8 / float,
                                         reference: torchInt8.flatMap { i in torchFloat.map { i / $0 } }, unit: "x"))
            }
        }
        var notes = [reference.note, "int8: per-channel symmetric weights, activations quantised per row at every call (in the time); "
                     + "PyTorch: quantize_dynamic's defaults (per-tensor weights, reduce_range), x86 engine. \(CPUParallelism.threadCount) threads."]
        if let miniLM = PretrainedModels.miniLM {
            rows += try miniLMRows(miniLM, reference: reference.figures)
        } else {
            notes.append(PretrainedModels.missing("all-MiniLM-L6-v2"))
        }
        let (gpt2Rows, gpt2Note) = try gpt2Rows()
        rows += gpt2Rows
        notes.append(gpt2Note)
        BenchmarkReport.print(rows, json: options.json, notes: notes, llamaCppRows: true)
    }


    /// MiniLM over 256 tiny-Shakespeare lines in batches of 32, float32 then int8; the cosine on
    /// the test sentences of the MiniLM fixture.
    func miniLMRows(_ directory: String, reference: [String: Double]) throws -> [BenchmarkRow] {
        let embedder = try SentenceEmbedder.load(directory: directory)
        let sentences = try PretrainedSuite().shakespeareLines(256)
        let testSentences = try Self.miniLMTestSentences()
        let floatTest = try embedder.embed(testSentences)
        let floatRate = Double(sentences.count) / (try medianSeconds(repetitions: max(options.repetitions / 5, 3)) { _ = try embedder.embed(sentences, batchSize: 32) })
        try embedder.quantizeInt8()
        let int8Rate = Double(sentences.count) / (try medianSeconds(repetitions: max(options.repetitions / 5, 3)) { _ = try embedder.embed(sentences, batchSize: 32) })
        let cosines = try (embedder.embed(testSentences) * floatTest).sum(axes: [1]).toFloatArray()
        let (torchFloat, torchInt8) = (reference["minilm_f32_sentences_per_sec"], reference["minilm_int8_sentences_per_sec"])
        return [
            BenchmarkRow(name: "minilm_f32_sentences_per_sec", cortex: floatRate, reference: torchFloat, unit: "sentences/s"),
            BenchmarkRow(name: "minilm_int8_sentences_per_sec", cortex: int8Rate, reference: torchInt8, unit: "sentences/s"),
            BenchmarkRow(name: "minilm_int8_over_f32", cortex: int8Rate / floatRate, reference: torchInt8.flatMap { i in torchFloat.map { i / $0 } }, unit: "x"),
            BenchmarkRow(name: "minilm_int8_cosine_min", cortex: Double(cosines.min() ?? 0), reference: reference["minilm_int8_cosine_min"], unit: "cos"),
            BenchmarkRow(name: "minilm_int8_cosine_mean", cortex: Double(cosines.reduce(0, +)) / Double(max(cosines.count, 1)),
                         reference: reference["minilm_int8_cosine_mean"], unit: "cos"),
        ]
    }

    static func miniLMTestSentences() throws -> [String] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Tests/CortexModelsTests/Fixtures/minilm.reference.json").standardized.path
        guard let data = FileManager.default.contents(atPath: path),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = object["sentences"] as? [[String: Any]] else { throw CortexError.io(path: path, reason: "cannot be read") }
        return cases.compactMap { $0["text"] as? String }
    }

    /// GPT-2 124M with random weights written by Cortex's GGUF writer in F32 and Q8_0 (with GPT-2's
    /// tokenizer where CORTEX_DATA_DIR has it, so llama.cpp loads the files too), decoded greedily.
    func gpt2Rows() throws -> ([BenchmarkRow], String) {
        let configuration = GPTConfiguration(vocabularySize: 50257, contextLength: 1024, embeddingSize: 768, layers: 12, heads: 12, dropout: 0)
        let model = GPT(configuration, generator: RandomGenerator(seed: 0))
        let data = ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] ?? "../shared/data"
        let tokenizer = try? ByteLevelBPETokenizer.load(directory: (data as NSString).appendingPathComponent("gpt2-tokenizer"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-bench-quantized-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let generator = RandomGenerator(seed: 1)
        let prompt = (0..<16).map { _ in generator.integer(below: 50257) }
        var rates: [QuantizationFormat: Double] = [:], llamaCpp: [QuantizationFormat: Double] = [:]
        var llamaNote = LlamaCppReference.unsetNote
        for format in [QuantizationFormat.f32, .q8_0] {
            var export = try model.ggufExport(format: format)
            if let tokenizer {
                let endOfText = tokenizer.specialTokens["<|endoftext|>"]
                export.setTokenizer(tokenizer, pre: "gpt-2", bos: endOfText, eos: endOfText, vocabularySize: configuration.vocabularySize)
            }
            let path = directory + "/gpt2-\(format.description.lowercased()).gguf"
            try export.writer.write(to: path)
            rates[format] = try greedyTiming(GPT.load(gguf: path), prompt: prompt, newTokens: 64, repetitions: options.repetitions).rate
            if tokenizer != nil {
                let result = LlamaCppReference.bench(model: path, promptTokens: 16, generatedTokens: 64, threads: CPUParallelism.threadCount)
                llamaCpp[format] = result.generation
                llamaNote = result.note
            }
        }
        let (float, q8) = (rates[.f32] ?? .nan, rates[.q8_0] ?? .nan)
        let llamaRatio = llamaCpp[.q8_0].flatMap { q in llamaCpp[.f32].map { q / $0 } }
        return ([
            BenchmarkRow(name: "gpt2_f32_greedy_tokens_per_sec", cortex: float, reference: nil, unit: "tokens/s", llamaCpp: llamaCpp[.f32]),
            BenchmarkRow(name: "gpt2_q8_0_greedy_tokens_per_sec", cortex: q8, reference: nil, unit: "tokens/s", llamaCpp: llamaCpp[.q8_0]),
            BenchmarkRow(name: "gpt2_q8_0_over_f32", cortex: q8 / float, reference: nil, unit: "x", llamaCpp: llamaRatio),
        ], llamaNote + " GPT-2 124M, random weights, exported by Cortex as F32 and Q8_0 GGUF; 16-token prompt, 64 greedy tokens, tokens/s after the first.")
    }
}
