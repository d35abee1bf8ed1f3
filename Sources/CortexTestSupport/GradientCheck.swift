import CortexCore

/// Finite-difference gradient checking: compares autograd's gradient of
/// L(x) = sum(f(x) * seed) with central differences (L(x + h e_j) - L(x - h e_j)) / 2h,
/// element by element. float32 arithmetic limits the agreement to about 1e-3 relative, so
/// the default tolerances are looser than fixture parity; inputs should keep a distance
/// greater than `step` from kinks (relu at 0, clamp bounds, ties).
public enum GradientCheck {
    public struct Mismatch: CustomStringConvertible, Sendable {
        public let input: Int, element: Int
        public let analytic: Float, numeric: Float
        public var description: String { "input \(input) element \(element): autograd \(analytic), finite differences \(numeric)" }
    }

    /// Checks every float32 input of `function`; returns the mismatches (empty when it passes).
    public static func check(_ function: ([Tensor]) throws -> Tensor, inputs: [Tensor], seed: Tensor? = nil,
                             step: Float = 1e-2, rtol: Float = 2e-2, atol: Float = 2e-3,
                             maximumElementsPerInput: Int = 64) throws -> [Mismatch] {
        let leaves = try inputs.map { $0.dtype == .float32 ? try $0.detach().clone().requiringGrad() : $0 }
        let output = try function(leaves)
        let weights = try seed ?? Tensor.ones(output.shape)
        try (output * weights).sum().backward()

        func loss(_ values: [Tensor]) throws -> Double {
            let result = try withNoGrad { try function(values) }
            let products = zip(try result.toFloatArray(), try weights.toFloatArray())
            return products.reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }

        var mismatches: [Mismatch] = []
        for (inputIndex, input) in inputs.enumerated() where input.dtype == .float32 {
            let analytic = try leaves[inputIndex].grad.map { try $0.toFloatArray() } ?? [Float](repeating: 0, count: input.count)
            let base = try input.contiguous().toFloatArray()
            let positions = base.count <= maximumElementsPerInput
                ? Array(0..<base.count)
                : (0..<maximumElementsPerInput).map { $0 * base.count / maximumElementsPerInput }
            for position in positions {
                var values = [Tensor]()
                var plus = base, minus = base
                plus[position] += step
                minus[position] -= step
                values = inputs
                values[inputIndex] = try Tensor(plus, shape: input.shape)
                let upper = try loss(values)
                values[inputIndex] = try Tensor(minus, shape: input.shape)
                let lower = try loss(values)
                let numeric = Float((upper - lower) / Double(2 * step))
                if !(Swift.abs(numeric - analytic[position]) <= atol + rtol * Swift.abs(numeric)) {
                    mismatches.append(Mismatch(input: inputIndex, element: position, analytic: analytic[position], numeric: numeric))
                }
            }
        }
        return mismatches
    }
}
