/// Element-wise math functions with their derivatives.
extension Tensor {
    public func exp() throws -> Tensor {
        let output = try unaryKernel(.exp, name: "exp")
        let result = output.detach()
        return output.recorded("exp", [self]) { gradient in [try gradient * result] }
    }

    public func log() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.log, name: "log").recorded("log", [self]) { gradient in [try gradient / input] }
    }

    public func sqrt() throws -> Tensor {
        let output = try unaryKernel(.sqrt, name: "sqrt")
        let result = output.detach()
        return output.recorded("sqrt", [self]) { gradient in [try gradient / (result * 2)] }
    }

    /// 1 / sqrt(x).
    public func rsqrt() throws -> Tensor {
        let output = try unaryKernel(.rsqrt, name: "rsqrt")
        let result = output.detach()
        return output.recorded("rsqrt", [self]) { gradient in [try gradient * result.pow(3) * -0.5] }
    }

    public func abs() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.abs, name: "abs").recorded("abs", [self]) { gradient in [try gradient * input.sign()] }
    }

    /// -1, 0 or 1 (gradient zero).
    public func sign() throws -> Tensor {
        try unaryKernel(.sign, name: "sign").recorded("sign", [self]) { gradient in [try Tensor.zeros(like: gradient)] }
    }

    public func reciprocal() throws -> Tensor {
        let output = try unaryKernel(.reciprocal, name: "reciprocal")
        let result = output.detach()
        return output.recorded("reciprocal", [self]) { gradient in [try -(gradient * result * result)] }
    }

    public func square() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.square, name: "square").recorded("square", [self]) { gradient in [try gradient * input * 2] }
    }

    public func sin() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.sin, name: "sin").recorded("sin", [self]) { gradient in [try gradient * input.cos()] }
    }

    public func cos() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.cos, name: "cos").recorded("cos", [self]) { gradient in [try -(gradient * input.sin())] }
    }

    /// Limits values to `[minimum, maximum]` (either bound optional), as `torch.clamp`;
    /// the gradient passes where the input lies within the bounds.
    public func clamp(min minimum: Float? = nil, max maximum: Float? = nil) throws -> Tensor {
        let low = minimum ?? -.infinity, high = maximum ?? .infinity
        guard !(low > high) else {
            throw CortexError.invalidArgument(operation: "clamp", reason: "min \(low) is greater than max \(high)")
        }
        let input = detach()
        return try unaryKernel(.clamp(minimum: low, maximum: high), name: "clamp").recorded("clamp", [self]) { gradient in
            [try Tensor.binaryKernel(.clampBackward(minimum: low, maximum: high), input, gradient, name: "clampBackward")]
        }
    }
}

/// Activation functions, each with a fused backward kernel.
extension Tensor {
    public func relu() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.relu, name: "relu").recorded("relu", [self]) { gradient in
            [try Tensor.binaryKernel(.reluBackward, input, gradient, name: "reluBackward")]
        }
    }

    public func leakyRelu(negativeSlope: Float = 0.01) throws -> Tensor {
        let input = detach()
        return try unaryKernel(.leakyRelu(slope: negativeSlope), name: "leakyRelu").recorded("leakyRelu", [self]) { gradient in
            [try Tensor.binaryKernel(.leakyReluBackward(slope: negativeSlope), input, gradient, name: "leakyReluBackward")]
        }
    }

    /// GELU approximations, as PyTorch's `approximate` argument.
    public enum GELUApproximation: Sendable { case none, tanh }

    /// Gaussian error linear unit: exact (erf) or the tanh approximation GPT-2 uses.
    public func gelu(approximate: GELUApproximation = .none) throws -> Tensor {
        let input = detach()
        let exact = approximate == .none
        return try unaryKernel(exact ? .gelu : .geluTanh, name: "gelu").recorded("gelu", [self]) { gradient in
            [try Tensor.binaryKernel(exact ? .geluBackward : .geluTanhBackward, input, gradient, name: "geluBackward")]
        }
    }

    /// x * sigmoid(x) (also called swish).
    public func silu() throws -> Tensor {
        let input = detach()
        return try unaryKernel(.silu, name: "silu").recorded("silu", [self]) { gradient in
            [try Tensor.binaryKernel(.siluBackward, input, gradient, name: "siluBackward")]
        }
    }

    public func sigmoid() throws -> Tensor {
        let output = try unaryKernel(.sigmoid, name: "sigmoid")
        let result = output.detach()
        return output.recorded("sigmoid", [self]) { gradient in
            [try Tensor.binaryKernel(.sigmoidBackwardFromOutput, result, gradient, name: "sigmoidBackward")]
        }
    }

    public func tanh() throws -> Tensor {
        let output = try unaryKernel(.tanh, name: "tanh")
        let result = output.detach()
        return output.recorded("tanh", [self]) { gradient in
            [try Tensor.binaryKernel(.tanhBackwardFromOutput, result, gradient, name: "tanhBackward")]
        }
    }

    /// log(1 + exp(beta x)) / beta, linear where beta x > threshold, as PyTorch.
    public func softplus(beta: Float = 1, threshold: Float = 20) throws -> Tensor {
        guard beta != 0 else { throw CortexError.invalidArgument(operation: "softplus", reason: "beta must be non-zero") }
        let input = detach()
        return try unaryKernel(.softplus(beta: beta, threshold: threshold), name: "softplus").recorded("softplus", [self]) { gradient in
            [try Tensor.binaryKernel(.softplusBackward(beta: beta, threshold: threshold), input, gradient, name: "softplusBackward")]
        }
    }
}
