/// Broadcasting arithmetic (+, -, *, /, pow, maximum, minimum) with their gradients.
extension Tensor {
    /// Runs a binary kernel over the broadcast of `a` and `b` (float32, same device).
    static func binaryKernel(_ operation: BinaryOperation, _ a: Tensor, _ b: Tensor, name: String) throws -> Tensor {
        try a.requireFloat32(name)
        try b.requireFloat32(name)
        try a.requireSameDevice(b, name)
        let shape = try Shapes.broadcast(a.shape, b.shape, operation: name)
        let output = try empty(shape, device: a.device)
        try a.backend.binary(operation, a.storage, a.layout, b.storage, b.layout, shape: shape, into: output.storage)
        FLOPCounter.record(.elementwise, output.count)
        return output
    }

    /// Runs a unary kernel (float32).
    func unaryKernel(_ operation: UnaryOperation, name: String) throws -> Tensor {
        try requireFloat32(name)
        let output = try Tensor.empty(shape, device: device)
        try backend.unary(operation, storage, layout, into: output.storage)
        FLOPCounter.record(.elementwise, output.count)
        return output
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        let (shapeA, shapeB) = (a.shape, b.shape)
        return try binaryKernel(.add, a, b, name: "add").recorded("add", [a, b]) { gradient in
            [try gradient.sumToShape(shapeA), try gradient.sumToShape(shapeB)]
        }
    }

    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        let (shapeA, shapeB) = (a.shape, b.shape)
        return try binaryKernel(.subtract, a, b, name: "sub").recorded("sub", [a, b]) { gradient in
            [try gradient.sumToShape(shapeA), try (-gradient).sumToShape(shapeB)]
        }
    }

    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        let detachedA = a.detach(), detachedB = b.detach()
        return try binaryKernel(.multiply, a, b, name: "mul").recorded("mul", [a, b]) { gradient in
            [try (gradient * detachedB).sumToShape(detachedA.shape), try (gradient * detachedA).sumToShape(detachedB.shape)]
        }
    }

    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        let detachedA = a.detach(), detachedB = b.detach()
        return try binaryKernel(.divide, a, b, name: "div").recorded("div", [a, b]) { gradient in
            let gradientA = try gradient / detachedB
            let gradientB = try -(gradientA * detachedA / detachedB)
            return [try gradientA.sumToShape(detachedA.shape), try gradientB.sumToShape(detachedB.shape)]
        }
    }

    public static prefix func - (x: Tensor) throws -> Tensor {
        try x.unaryKernel(.negate, name: "neg").recorded("neg", [x]) { gradient in [try -gradient] }
    }

    /// `scale * self + shift` in one pass.
    public func affine(scale: Float, shift: Float) throws -> Tensor {
        try unaryKernel(.affine(scale: scale, shift: shift), name: "affine").recorded("affine", [self]) { gradient in
            [try gradient.affine(scale: scale, shift: 0)]
        }
    }

    public static func + (a: Tensor, b: Float) throws -> Tensor { try a.affine(scale: 1, shift: b) }
    public static func + (a: Float, b: Tensor) throws -> Tensor { try b.affine(scale: 1, shift: a) }
    public static func - (a: Tensor, b: Float) throws -> Tensor { try a.affine(scale: 1, shift: -b) }
    public static func - (a: Float, b: Tensor) throws -> Tensor { try b.affine(scale: -1, shift: a) }
    public static func * (a: Tensor, b: Float) throws -> Tensor { try a.affine(scale: b, shift: 0) }
    public static func * (a: Float, b: Tensor) throws -> Tensor { try b.affine(scale: a, shift: 0) }
    public static func / (a: Tensor, b: Float) throws -> Tensor { try a.affine(scale: 1 / b, shift: 0) }
    public static func / (a: Float, b: Tensor) throws -> Tensor { try b.reciprocal() * a }

    /// Element-wise power with a tensor exponent (broadcast).
    public func pow(_ exponent: Tensor) throws -> Tensor {
        let base = detach(), power = exponent.detach()
        let output = try Tensor.binaryKernel(.power, self, exponent, name: "pow")
        let result = output.detach()
        return output.recorded("pow", [self, exponent]) { gradient in
            // d/da a^b = b a^(b-1); d/db a^b = a^b log a (0 where a == 0, as PyTorch)
            let gradientBase = try gradient * power * base.pow(power - 1)
            let logBase = try Tensor.where(base .== 0, try Tensor.zeros([], device: base.device), try base.log())
            let gradientPower = try gradient * result * logBase
            return [try gradientBase.sumToShape(base.shape), try gradientPower.sumToShape(power.shape)]
        }
    }

    /// Element-wise power with a scalar exponent.
    public func pow(_ exponent: Float) throws -> Tensor {
        let base = detach()
        return try unaryKernel(.power(exponent), name: "pow").recorded("pow", [self]) { gradient in
            [try gradient * (try base.pow(exponent - 1) * exponent)]
        }
    }

    /// Element-wise maximum; on ties the gradient is split evenly, as PyTorch.
    public func maximum(_ other: Tensor) throws -> Tensor {
        try Tensor.extreme(self, other, operation: .maximum, name: "maximum")
    }

    /// Element-wise minimum; on ties the gradient is split evenly, as PyTorch.
    public func minimum(_ other: Tensor) throws -> Tensor {
        try Tensor.extreme(self, other, operation: .minimum, name: "minimum")
    }

    private static func extreme(_ a: Tensor, _ b: Tensor, operation: BinaryOperation, name: String) throws -> Tensor {
        let detachedA = a.detach(), detachedB = b.detach()
        return try binaryKernel(operation, a, b, name: name).recorded(name, [a, b]) { gradient in
            let wins = operation == .maximum ? try detachedA .> detachedB : try detachedA .< detachedB
            let share = try wins.to(.float32) + (try (detachedA .== detachedB).to(.float32) * 0.5)
            let gradientA = try gradient * share
            let gradientB = try gradient - gradientA
            return [try gradientA.sumToShape(detachedA.shape), try gradientB.sumToShape(detachedB.shape)]
        }
    }
}
