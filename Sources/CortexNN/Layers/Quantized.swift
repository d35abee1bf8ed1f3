import CortexCore

/// y = x Wᵀ with W kept in quantised blocks (a GGUF tensor): inference only, no parameters.
///
/// ```swift
/// let projection = QuantizedLinear(try file.matrix("blk.0.attn_q.weight"))
/// let q = try projection(x)       // (..., 576) -> (..., 576)
/// ```
public final class QuantizedLinear: Module, Layer, @unchecked Sendable {
    public let matrix: QuantizedMatrix

    public init(_ matrix: QuantizedMatrix) {
        self.matrix = matrix
        super.init()
    }

    public var inFeatures: Int { matrix.columns }
    public var outFeatures: Int { matrix.rows }

    public func callAsFunction(_ input: Tensor) throws -> Tensor { try matrix.product(input) }
}

/// A token embedding looked up from quantised rows; `logits` reuses it as a tied output
/// projection.
public final class QuantizedEmbedding: Module, Layer, @unchecked Sendable {
    public let matrix: QuantizedMatrix

    public init(_ matrix: QuantizedMatrix) {
        self.matrix = matrix
        super.init()
    }

    /// Rows for integer ids of any shape: ids.shape + [columns].
    public func callAsFunction(_ ids: Tensor) throws -> Tensor { try matrix.gatherRows(ids) }
}
