import Foundation
import CortexCore
import CortexExplain
import CortexModels
import CortexNN
import CortexTestSupport
import Testing

/// Layer integrated gradients through the token embeddings of causal language models: the
/// attributions add up to the change in the next-token logit (completeness).
@Suite struct TokenAttributionTests {
    static func completeness(_ model: some CausalLanguageModel, embedding: Module, steps: Int = 64) throws -> (delta: Float, change: Float) {
        model.eval()
        let ids = try Tensor(integers: [5, 17, 3, 29, 11, 8], shape: [1, 6])
        let last = { (x: Tensor) throws -> Tensor in try model(x).select(axis: 1, index: x.shape[1] - 1) }
        let result = try LayerIntegratedGradients(ExplainedFunction(model, last), layer: embedding)
            .attribute(ids, baselines: Tensor(integers: Array(repeating: 1, count: 6), shape: [1, 6]), target: .all(7), steps: steps, internalBatchSize: 16)
        return (result.delta[0], result.scoreChange[0])
    }

    @Test func llama() throws {
        let configuration = LlamaConfiguration(vocabularySize: 40, hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, keyValueHeads: 2,
                                               contextLength: 16, tieWordEmbeddings: true)
        let model = try Llama(configuration, generator: RandomGenerator(seed: 3))
        let (delta, change) = try Self.completeness(model, embedding: model.model.embedTokens)
        #expect(abs(delta) <= 0.01 * abs(change) + 1e-5, "delta \(delta) of a change \(change)")
    }
}

/// Gradients through a quantised matrix's product flow to the input as through its dequantised weights.
@Suite struct QuantizedGradientTests {
    @Test(arguments: [QuantizationFormat.q8_0, .q4_1])
    func inputGradient(format: QuantizationFormat) throws {
        let weights = try Tensor.randn([40, 64], generator: RandomGenerator(seed: 1))
        let data = try GGUFWriter.quantize(weights, as: format) as NSData
        let matrix = try QuantizedMatrix(format: format, rows: 40, columns: 64, bytes: data.bytes, owner: data)
        let x = try Tensor.randn([5, 64], generator: RandomGenerator(seed: 2)).requiringGrad()
        let seed = try Tensor.randn([5, 40], generator: RandomGenerator(seed: 3))
        try (matrix.product(x) * seed).sum().backward()
        let expected = try seed.matmul(matrix.dequantized())
        #expect(try closenessFailure(#require(x.grad), expected, rtol: 1e-5, atol: 1e-5) == nil)
    }
}
