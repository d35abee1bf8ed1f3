import CortexCore

/// A (numEmbeddings, embeddingDimension) table looked up by integer ids, initialised N(0, 1)
/// as `nn.Embedding`; the output has shape `ids.shape + [embeddingDimension]`.
public final class Embedding: Module, Layer, @unchecked Sendable {
    @Parameter public var weight: Tensor

    public init(_ numEmbeddings: Int, _ embeddingDimension: Int, generator: RandomGenerator = .default) {
        self.weight = try! Tensor.randn([numEmbeddings, embeddingDimension], generator: generator)
        super.init()
    }

    /// An embedding over the given (numEmbeddings, embeddingDimension) table.
    public init(weight: Tensor) {
        self.weight = weight
        super.init()
    }

    public func forward(_ ids: Tensor) throws -> Tensor { try masked("weight", weight).embedding(ids) }
}
