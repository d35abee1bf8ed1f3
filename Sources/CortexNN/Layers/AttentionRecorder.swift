import CortexCore
import Foundation

/// Collects the attention weights computed while it is active (see
/// ``Attention/recordingWeights(_:)``).
public final class AttentionRecorder: @unchecked Sendable {
    private var recorded: [Tensor] = []
    private let lock = NSLock()

    init() {}

    /// Weights in the order the attentions ran, each (B, heads, L, S).
    public var weights: [Tensor] {
        lock.lock(); defer { lock.unlock() }
        return recorded
    }

    func append(_ weights: Tensor) {
        lock.lock(); recorded.append(weights); lock.unlock()
    }
}

extension Attention {
    @TaskLocal static var recorder: AttentionRecorder?

    /// Runs `body` and returns, beside its result, the attention weights of every attention
    /// computed inside it, in order: for one forward pass of GPT-2, Llama, BERT or a
    /// Transformer, one (B, heads, L, S) tensor per layer, as transformers'
    /// `output_attentions=True` gives them (softmax(QKᵀ/√d + mask), after the causal and padding
    /// masks, before dropout's scaling in evaluation). Grouped-query heads come out one per
    /// query head. Outside it nothing is recorded, and decoding with a cache keeps its fused path.
    ///
    /// ```swift
    /// let (logits, attentions) = try Attention.recordingWeights { try gpt(ids) }
    /// print(attentions.count, attentions[0].shape)     // layers, [1, heads, T, T]
    /// ```
    public static func recordingWeights<Result>(_ body: () throws -> Result) throws -> (result: Result, weights: [Tensor]) {
        let recorder = AttentionRecorder()
        let result = try $recorder.withValue(recorder) { try body() }
        return (result, recorder.weights)
    }

    /// Whether weights are being recorded (fused paths that never form them step aside).
    public static var isRecording: Bool { recorder != nil }

    /// Hands `weights` (..., L, S) to the active recorder as (B, heads, L, S).
    static func record(_ weights: Tensor) throws {
        guard let recorder else { return }
        var value = weights.detach()
        if value.rank > 4 {
            value = try value.reshape([value.shape[0], -1, value.shape[value.rank - 2], value.shape[value.rank - 1]])
        }
        recorder.append(try value.contiguous())
    }
}
