import CortexCore

/// y = x Wᵀ with W kept in quantised blocks (a GGUF tensor): inference only, no parameters.
///
/// ```swift
/// let projection = QuantizedLinear(try file.matrix("blk.0.attn_q.weight"))
/// let q = try projection(x)       // (..., 576) -> (..., 576)
/// ```
public final class QuantizedLinear: Module, Layer, @unchecked Sendable {
    public let matrix: QuantizedMatrix
    /// Added to every output row (GPT-2's projections have one; Llama's do not).
    public let bias: Tensor?

    public init(_ matrix: QuantizedMatrix, bias: Tensor? = nil) throws {
        if let bias, bias.shape != [matrix.rows] {
            throw CortexError.shapeMismatch(operation: "QuantizedLinear", shapes: [bias.shape, matrix.shape], reason: "(the bias must have one value per row)")
        }
        self.matrix = matrix
        self.bias = bias
        super.init()
    }

    public var inFeatures: Int { matrix.columns }
    public var outFeatures: Int { matrix.rows }

    public func forward(_ input: Tensor) throws -> Tensor { try addingBias(matrix.product(input)) }

    /// The matrix's product plus the bias, if any.
    func addingBias(_ product: Tensor) throws -> Tensor { try bias.map { try product + $0 } ?? product }
}

/// Each layer applied to the same input: quantised linear layers share one quantisation of it
/// and one parallel region (``QuantizedMatrix/products(_:_:)``); other layers run in turn.
public func sameInputProjections(_ layers: [Module & Layer], _ x: Tensor) throws -> [Tensor] {
    let linears = layers.compactMap { $0 as? QuantizedLinear }
    if linears.count == layers.count && layers.count > 1 {
        return try zip(QuantizedMatrix.products(linears.map(\.matrix), x), linears).map { try $1.addingBias($0) }
    }
    return try layers.map { try $0(x) }
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
    public func forward(_ ids: Tensor) throws -> Tensor { try matrix.gatherRows(ids) }
}
