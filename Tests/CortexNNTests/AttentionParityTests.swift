import Foundation
import Testing
import CortexCore
@testable import CortexNN
import CortexTestSupport

/// MultiheadAttention, the Transformer layers and nn.Transformer against PyTorch
/// (Tools/make_sequence_fixtures.py): outputs and the gradients of inputs and every parameter,
/// with padding, causal and arbitrary masks, at rtol 1e-4.
@Suite struct AttentionParityTests {
    static let file = RecurrentParityTests.file
    static let cases: [String] = (file.metadata["attention"] ?? "").split(separator: ",").map(String.init)

    /// The module for each case and how it is called (mirroring the Python lambdas).
    static func model(_ name: String) -> (Module, ([String: Tensor], [String: Tensor]) throws -> [Tensor]) {
        switch name {
        case "mha_self_padding":
            let attention = MultiheadAttention(8, heads: 2)
            return (attention, { input, mask in
                let result = try attention(input["x"]!, input["x"]!, input["x"]!, keyPaddingMask: mask["key_padding"])
                return [result.output, result.weights!]
            })
        case "mha_cross_batch_first_masked":
            let attention = MultiheadAttention(8, heads: 4, batchFirst: true)
            return (attention, { input, mask in
                let result = try attention(input["query"]!, input["memory"]!, input["memory"]!, attentionMask: mask["attention"],
                                           averageWeights: false)
                return [result.output, result.weights!]
            })
        case "encoder_layer_post_relu":
            let layer = TransformerEncoderLayer(8, heads: 2, feedforward: 16, dropout: 0, batchFirst: true)
            return (layer, { input, mask in [try layer(input["x"]!, keyPaddingMask: mask["key_padding"])] })
        case "encoder_layer_pre_gelu_causal":
            let layer = TransformerEncoderLayer(8, heads: 4, feedforward: 12, dropout: 0, activation: .gelu, normFirst: true)
            return (layer, { input, mask in [try layer(input["x"]!, mask: mask["attention"])] })
        case "decoder_layer":
            let layer = TransformerDecoderLayer(8, heads: 2, feedforward: 16, dropout: 0, batchFirst: true)
            return (layer, { input, mask in
                [try layer(input["target"]!, memory: input["memory"]!, targetMask: mask["attention"], memoryKeyPaddingMask: mask["memory_padding"])]
            })
        default:
            let transformer = Transformer(dModel: 8, heads: 2, encoderLayers: 2, decoderLayers: 2, feedforward: 16, dropout: 0, batchFirst: true)
            return (transformer, { input, mask in [try transformer(input["source"]!, input["target"]!, targetMask: mask["attention"])] })
        }
    }

    @Test(arguments: cases)
    func matchesPyTorch(_ name: String) throws {
        let file = AttentionParityTests.file
        func tensors(_ kind: String) -> [String: Tensor] {
            let prefix = "\(name).\(kind)."
            return Dictionary(uniqueKeysWithValues: file.tensors.filter { $0.key.hasPrefix(prefix) }.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        }
        let (module, call) = AttentionParityTests.model(name)
        try module.loadStateDict(tensors("param"))
        let inputs = try tensors("input").mapValues { try $0.requiringGrad() }
        let outputs = try call(inputs, tensors("mask"))
        var objective = try Tensor.zeros([])
        for (index, output) in outputs.enumerated() {
            let failure = try closenessFailure(output, file.tensor("\(name).output.\(index)"), rtol: 1e-4, atol: 1e-5)
            #expect(failure == nil, "\(name) output \(index): \(failure ?? "")")
            objective = try objective + (output * file.tensor("\(name).seed.\(index)")).sum()
        }
        try objective.backward()
        for (key, input) in inputs {
            let failure = try closenessFailure(input.grad!, file.tensor("\(name).grad.input.\(key)"), rtol: 1e-4, atol: 1e-5)
            #expect(failure == nil, "\(name) gradient of input \(key): \(failure ?? "")")
        }
        for (key, parameter) in module.namedParameters() {
            let failure = try closenessFailure(parameter.grad!, file.tensor("\(name).grad.\(key)"), rtol: 1e-4, atol: 1e-5)
            #expect(failure == nil, "\(name) gradient of \(key): \(failure ?? "")")
        }
    }

    @Test func scaledDotProductAttentionMasks() throws {
        let generator = RandomGenerator(seed: 3)
        let q = try Tensor.randn([2, 3, 4, 8], generator: generator), k = try Tensor.randn([2, 3, 5, 8], generator: generator)
        let v = try Tensor.randn([2, 3, 5, 6], generator: generator)
        let causal = try Attention.scaledDotProduct(query: q, key: k, value: v, causal: true)
        let masked = try Attention.scaledDotProduct(query: q, key: k, value: v, allowed: Attention.causalMask(4, 5))
        #expect(try closenessFailure(causal, masked) == nil)
        // Query 0 sees key 0 only: its output is value 0.
        #expect(try closenessFailure(causal.slice(axis: 2, start: 0, end: 1), v.slice(axis: 2, start: 0, end: 1)) == nil)
        #expect(throws: CortexError.self) { try Attention.scaledDotProduct(query: q, key: v, value: v) }
    }

    @Test func positionalEncodings() throws {
        let encoding = SinusoidalPositionalEncoding(6, maximumLength: 10)
        let y = try encoding(Tensor.zeros([2, 3, 6])).toFloatArray()
        #expect(y[0] == 0 && y[1] == 1 && Swift.abs(y[6] - Float(Foundation.sin(1.0))) < 1e-6)
        #expect(throws: CortexError.self) { try encoding(Tensor.zeros([1, 11, 6])) }
        let learned = LearnedPositionalEmbedding(maximumLength: 8, 4)
        #expect(try learned(Tensor.zeros([2, 5, 4])).shape == [2, 5, 4])
        #expect(learned.stateDict().keys.sorted() == ["embedding.weight"])
    }
}
