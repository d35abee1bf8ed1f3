infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence

/// Element-wise comparisons (bool results, never differentiated) and `where`.
///
/// ```swift
/// let mask = try x .> 0                  // bool tensor
/// let y = try Tensor.where(mask, x, 0 * x)
/// ```
extension Tensor {
    static func compareKernel(_ operation: CompareOperation, _ a: Tensor, _ b: Tensor, name: String) throws -> Tensor {
        let a = try a.to(.float32), b = try b.to(.float32)
        try a.requireSameDevice(b, name)
        let shape = try Shapes.broadcast(a.shape, b.shape, operation: name)
        let output = try empty(shape, dtype: .bool, device: a.device)
        try a.backend.compare(operation, a.storage, a.layout, b.storage, b.layout, shape: shape, into: output.storage)
        FLOPCounter.record(.elementwise, output.count)
        return output
    }

    public static func .== (a: Tensor, b: Tensor) throws -> Tensor { try compareKernel(.equal, a, b, name: "eq") }
    public static func .!= (a: Tensor, b: Tensor) throws -> Tensor { try compareKernel(.notEqual, a, b, name: "ne") }
    public static func .< (a: Tensor, b: Tensor) throws -> Tensor { try compareKernel(.less, a, b, name: "lt") }
    public static func .<= (a: Tensor, b: Tensor) throws -> Tensor { try compareKernel(.lessEqual, a, b, name: "le") }
    public static func .> (a: Tensor, b: Tensor) throws -> Tensor { try compareKernel(.greater, a, b, name: "gt") }
    public static func .>= (a: Tensor, b: Tensor) throws -> Tensor { try compareKernel(.greaterEqual, a, b, name: "ge") }

    public static func .== (a: Tensor, b: Float) throws -> Tensor { try a .== Tensor.scalar(b, device: a.device) }
    public static func .!= (a: Tensor, b: Float) throws -> Tensor { try a .!= Tensor.scalar(b, device: a.device) }
    public static func .< (a: Tensor, b: Float) throws -> Tensor { try a .< Tensor.scalar(b, device: a.device) }
    public static func .<= (a: Tensor, b: Float) throws -> Tensor { try a .<= Tensor.scalar(b, device: a.device) }
    public static func .> (a: Tensor, b: Float) throws -> Tensor { try a .> Tensor.scalar(b, device: a.device) }
    public static func .>= (a: Tensor, b: Float) throws -> Tensor { try a .>= Tensor.scalar(b, device: a.device) }

    /// Element-wise not of a boolean (or numeric: zero is false) tensor, as `torch.logical_not`.
    public func logicalNot() throws -> Tensor { try to(.float32) .== 0 }

    /// Element-wise or (broadcasting), as `torch.logical_or`.
    public func logicalOr(_ other: Tensor) throws -> Tensor { try (to(.float32).abs() + other.to(.float32).abs()) .> 0 }

    /// Element-wise and (broadcasting), as `torch.logical_and`.
    public func logicalAnd(_ other: Tensor) throws -> Tensor { try (to(.float32) .!= 0).to(.float32) * (other.to(.float32) .!= 0).to(.float32) .> 0 }

    /// `condition ? a : b` element-wise, all three broadcast together, as `torch.where`.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard condition.dtype == .bool else {
            throw CortexError.dtypeMismatch(operation: "where", expected: "bool condition", got: condition.dtype.rawValue)
        }
        guard a.dtype == b.dtype else {
            throw CortexError.dtypeMismatch(operation: "where", expected: a.dtype.rawValue, got: b.dtype.rawValue)
        }
        try a.requireSameDevice(b, "where")
        try a.requireSameDevice(condition, "where")
        let shape = try Shapes.broadcast(try Shapes.broadcast(condition.shape, a.shape, operation: "where"), b.shape, operation: "where")
        let output = try empty(shape, dtype: a.dtype, device: a.device)
        try a.backend.select(condition.storage, condition.layout, a.storage, a.layout, b.storage, b.layout,
                             shape: shape, into: output.storage)
        FLOPCounter.record(.elementwise, output.count)
        let (shapeA, shapeB) = (a.shape, b.shape)
        return output.recorded("where", [a, b]) { gradient in
            let zero = try Tensor.zeros([], device: gradient.device)
            return [try Tensor.where(condition, gradient, zero).sumToShape(shapeA),
                    try Tensor.where(condition, zero, gradient).sumToShape(shapeB)]
        }
    }
}
