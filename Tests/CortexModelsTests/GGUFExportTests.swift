import CortexCore
import CortexModels
import CortexNN
import CortexTestSupport
import CortexText
import Foundation
import Testing

/// Exporting to GGUF: a model written and read back computes what it computed (float32
/// exactly up to summation order; Q8_0 within its rounding), Llama's query and key rows are
/// permuted for GGUF's rotation, blocks already in the target format are copied, and the
/// tokenizer travels with the file.
@Suite struct GGUFExportTests {
    static let ids = try! Tensor(integers: [3, 17, 42, 5, 99, 7, 0, 12], shape: [1, 8])

    static func largestDifference(_ a: Tensor, _ b: Tensor) throws -> Float {
        zip(try a.toFloatArray(), try b.toFloatArray()).map { abs($0 - $1) }.max()!
    }

    static func tinyLlama() throws -> Llama {
        try Llama(LlamaConfiguration(vocabularySize: 120, hiddenSize: 64, intermediateSize: 128, layers: 2, heads: 4, keyValueHeads: 2,
                                     contextLength: 64, ropeTheta: 10_000, tieWordEmbeddings: false), generator: RandomGenerator(seed: 3))
    }

    @Test func llamaRoundTripsThroughGGUF() throws {
        let directory = temporaryDirectory("llama-export")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = try Self.tinyLlama()
        let expected = try withNoGrad { try model(Self.ids) }
        for (format, bound) in [(QuantizationFormat.f32, Float(1e-4)), (.f16, 0.02), (.q8_0, 0.05)] {
            let path = directory + "/tiny-\(format).gguf"
            let export = try model.ggufExport(format: format)
            try export.writer.write(to: path)
            let loaded = try Llama.load(gguf: path)
            let got = try QuantizedMatrix.$activations.withValue(.float) { try withNoGrad { try loaded(Self.ids) } }
            let largest = try Self.largestDifference(got, expected)
            #expect(largest < bound, "\(format): logits differ by \(largest)")
            // Read back and written again in the same format: the blocks are copied, not re-rounded.
            let again = directory + "/again-\(format).gguf"
            try loaded.ggufExport(format: format).writer.write(to: again, protecting: [path])
            let first = try GGUF.load(path), second = try GGUF.load(again)
            for info in first.tensors {
                #expect(try first.tensor(info.name).toFloatArray() == second.tensor(info.name).toFloatArray(), "\(format) \(info.name)")
            }
        }
    }

    @Test func gpt2RoundTripsThroughGGUF() throws {
        let directory = temporaryDirectory("gpt2-export")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = GPT(GPTConfiguration(vocabularySize: 120, contextLength: 32, embeddingSize: 64, layers: 2, heads: 4), generator: RandomGenerator(seed: 5))
        model.eval()
        let expected = try withNoGrad { try model(Self.ids) }
        for (format, bound) in [(QuantizationFormat.f32, Float(1e-4)), (.q8_0, 0.05)] {
            let path = directory + "/tiny-\(format).gguf"
            try model.ggufExport(format: format).writer.write(to: path)
            let loaded = try GPT.load(gguf: path)
            let got = try QuantizedMatrix.$activations.withValue(.float) { try withNoGrad { try loaded(Self.ids) } }
            let largest = try Self.largestDifference(got, expected)
            #expect(largest < bound, "\(format): logits differ by \(largest)")
        }
    }

    /// Matrices whose rows are not whole Q4_K blocks (64 values here) take the fallback, or
    /// are an error naming the tensor when there is none.
    @Test func rowsThatAreNotWholeBlocksFallBack() throws {
        let model = try Self.tinyLlama()
        let export = try model.ggufExport(format: .q4K)
        #expect(export.fellBack.count == export.writer.tensors.filter { $0.shape.count == 2 }.count)
        #expect(export.writer.tensors.filter { $0.shape.count == 2 }.allSatisfy { $0.format == .q8_0 })
        do {
            _ = try model.ggufExport(format: .q4K, fallback: nil)
            Issue.record("no error")
        } catch let error as CortexError {
            #expect(error.description.contains("token_embd.weight") && error.description.contains("256"), "\(error)")
        }
        #expect(try model.ggufExport(format: .q6K).fellBack.count == export.fellBack.count)
    }

    /// A generator exported with its tokenizer loads as the same generator.
    @Test func theTokenizerTravelsWithTheFile() throws {
        let directory = temporaryDirectory("tokenizer-export")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corpus = String(repeating: "The quick brown fox jumps over the lazy dog. Questions about cats and the weather. ", count: 10)
        let tokenizer = try BPETrainer.train(corpus: corpus, vocabularySize: 300, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        let vocabulary = max(tokenizer.vocabularySize, (tokenizer.specialTokens.values.max() ?? 0) + 1)
        let model = try Llama(LlamaConfiguration(vocabularySize: vocabulary, hiddenSize: 64, intermediateSize: 128, layers: 1, heads: 4,
                                                 contextLength: 64), generator: RandomGenerator(seed: 9))
        var export = try model.ggufExport(format: .f32)
        let template = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        export.setTokenizer(tokenizer, eos: tokenizer.specialTokens["<|im_end|>"], chatTemplate: template, vocabularySize: vocabulary)
        let path = directory + "/chat.gguf"
        try export.writer.write(to: path)
        let generator = try TextGenerator.load(gguf: path)
        let text = "The lazy fox asks about the weather <|im_end|>"
        #expect(try generator.tokenizer.encode(text) == tokenizer.encode(text))
        #expect(generator.stopTokens == [tokenizer.specialTokens["<|im_end|>"]!])
        #expect(generator.chatTemplate != nil)
        let original = TextGenerator(model: model, tokenizer: tokenizer)
        let prompt = try tokenizer.encode("The quick")
        let greedy = SamplingOptions(temperature: 0)
        #expect(try generator.continuation(of: prompt, maxNewTokens: 8, sampling: greedy).tokens
            == original.continuation(of: prompt, maxNewTokens: 8, sampling: greedy).tokens)
    }

    @Test func perplexityCountsAsLlamaPerplexity() throws {
        let model = try Self.tinyLlama()
        let tokens = (0..<100).map { ($0 * 37 + 11) % 120 }
        let result = try Perplexity.evaluate(model, tokens: tokens, context: 32)
        // Three disjoint windows of 32, each scoring positions 16..<31.
        #expect(result.windows == 3 && result.scoredTokens == 45)
        // By hand from the logits of the first window.
        let logits = try withNoGrad { try model(Tensor(integers: Array(tokens[0..<32]), shape: [1, 32])) }.toFloatArray()
        var first = 0.0
        for position in 16..<31 {
            let row = logits[(position * 120)..<((position + 1) * 120)].map(Double.init)
            let maximum = row.max()!
            first += maximum + Foundation.log(row.map { Foundation.exp($0 - maximum) }.reduce(0, +)) - row[tokens[position + 1]]
        }
        #expect(abs(result.running[0] - Foundation.exp(first / 15)) < 1e-6 * result.running[0])
        let sliding = try Perplexity.evaluate(model, tokens: tokens, context: 32, stride: 8)
        #expect(sliding.windows == 9 && sliding.scoredTokens == 72)
        #expect(throws: CortexError.self) { try Perplexity.evaluate(model, tokens: Array(tokens.prefix(10)), context: 32) }
        #expect(throws: CortexError.self) { try Perplexity.evaluate(model, tokens: tokens, context: 32, stride: 40) }
    }
}
