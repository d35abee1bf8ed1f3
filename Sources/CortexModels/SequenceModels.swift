import CortexCore
import CortexNN

/// A word-level LSTM language model (PyTorch's word_language_model example): embedding, LSTM,
/// and a linear decoder to vocabulary logits.
///
/// ```swift
/// let model = LSTMLanguageModel(vocabularySize: 10_000, embeddingSize: 128, hiddenSize: 256)
/// let logits = try model(ids)      // (B, T) -> (B, T, 10000)
/// ```
public final class LSTMLanguageModel: Module, @unchecked Sendable {
    public let encoder: Embedding
    public let rnn: LSTM
    public let decoder: Linear
    public let dropout: Dropout

    public init(vocabularySize: Int, embeddingSize: Int = 128, hiddenSize: Int = 256, layers: Int = 1, dropout: Float = 0.2,
                generator: RandomGenerator = .default) {
        encoder = Embedding(vocabularySize, embeddingSize, generator: generator)
        rnn = LSTM(embeddingSize, hiddenSize, layers: layers, batchFirst: true, dropout: layers > 1 ? dropout : 0, generator: generator)
        decoder = Linear(hiddenSize, vocabularySize, generator: generator)
        self.dropout = Dropout(dropout, generator: generator)
        super.init()
    }

    public func callAsFunction(_ ids: Tensor) throws -> Tensor {
        let embedded = try dropout(encoder(ids))
        return try decoder(dropout(rnn(embedded).output))
    }

    /// Mean cross-entropy of predicting `targets` from `ids`, both (B, T).
    public func loss(_ ids: Tensor, targets: Tensor) throws -> Tensor {
        let logits = try self(ids)
        return try Loss.crossEntropy(logits.reshape([-1, logits.shape[2]]), targets: targets.reshape([-1]))
    }
}

/// A Transformer-encoder sequence classifier: each step's features projected to the model
/// width, sinusoidal positions, a stack of encoder layers, mean pooling over the steps, and a
/// linear classifier. Reads (N, T, features).
///
/// ```swift
/// let classifier = TransformerClassifier(features: 28, classes: 10)   // MNIST rows as a sequence
/// let logits = try classifier(images.reshape([-1, 28, 28]))
/// ```
public final class TransformerClassifier: Module, Layer, @unchecked Sendable {
    public let embed: Linear
    public let positions: SinusoidalPositionalEncoding
    public let encoder: TransformerEncoder
    public let head: Linear

    public init(features: Int, classes: Int, dModel: Int = 64, heads: Int = 4, layers: Int = 2, feedforward: Int = 128,
                dropout: Float = 0.1, maximumLength: Int = 512, generator: RandomGenerator = .default) {
        embed = Linear(features, dModel, generator: generator)
        positions = SinusoidalPositionalEncoding(dModel, maximumLength: maximumLength)
        encoder = TransformerEncoder(layers: (0..<layers).map { _ in
            TransformerEncoderLayer(dModel, heads: heads, feedforward: feedforward, dropout: dropout, activation: .gelu,
                                    batchFirst: true, normFirst: true, generator: generator)
        }, norm: LayerNorm([dModel]))
        head = Linear(dModel, classes, generator: generator)
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        let sequence = input.rank == 4 ? try input.reshape([input.shape[0], -1, input.shape[3]]) : input
        guard sequence.rank == 3, sequence.shape[2] == embed.weight.shape[1] else {
            throw CortexError.shapeMismatch(operation: "TransformerClassifier", shapes: [input.shape],
                                            reason: "(input must be (N, T, \(embed.weight.shape[1])))")
        }
        let encoded = try encoder(positions(embed(sequence)))
        return try head(encoded.mean(axes: [1]))
    }
}
