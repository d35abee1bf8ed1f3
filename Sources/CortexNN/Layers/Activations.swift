import CortexCore

/// Activation layers (no parameters), for ``Sequential``.
public final class ReLU: Module, Layer, @unchecked Sendable {
    public override init() { super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.relu() }
}

public final class LeakyReLU: Module, Layer, @unchecked Sendable {
    public let negativeSlope: Float
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope; super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.leakyRelu(negativeSlope: negativeSlope) }
}

public final class GELU: Module, Layer, @unchecked Sendable {
    public let approximate: Tensor.GELUApproximation
    public init(approximate: Tensor.GELUApproximation = .none) { self.approximate = approximate; super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.gelu(approximate: approximate) }
}

public final class SiLU: Module, Layer, @unchecked Sendable {
    public override init() { super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.silu() }
}

public final class Sigmoid: Module, Layer, @unchecked Sendable {
    public override init() { super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.sigmoid() }
}

public final class Tanh: Module, Layer, @unchecked Sendable {
    public override init() { super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.tanh() }
}

public final class Softplus: Module, Layer, @unchecked Sendable {
    public let beta: Float, threshold: Float
    public init(beta: Float = 1, threshold: Float = 20) { self.beta = beta; self.threshold = threshold; super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.softplus(beta: beta, threshold: threshold) }
}

public final class Softmax: Module, Layer, @unchecked Sendable {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis; super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.softmax(axis: axis) }
}

public final class LogSoftmax: Module, Layer, @unchecked Sendable {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis; super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.logSoftmax(axis: axis) }
}

/// Collapses axes `startAxis...endAxis` (by default all but the batch axis), as `nn.Flatten`.
public final class Flatten: Module, Layer, @unchecked Sendable {
    public let startAxis: Int, endAxis: Int
    public init(startAxis: Int = 1, endAxis: Int = -1) { self.startAxis = startAxis; self.endAxis = endAxis; super.init() }
    public func forward(_ input: Tensor) throws -> Tensor { try input.flatten(startAxis: startAxis, endAxis: endAxis) }
}
