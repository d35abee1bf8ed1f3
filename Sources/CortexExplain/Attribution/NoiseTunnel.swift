import CortexCore
import CortexNN

/// How a ``NoiseTunnel`` combines the attributions of its noisy copies, with Captum's names.
public enum NoiseTunnelType: String, Sendable, CaseIterable {
    /// The mean (SmoothGrad, Smilkov et al. 2017).
    case smoothGrad = "smoothgrad"
    /// The mean of the squares.
    case smoothGradSquared = "smoothgrad_sq"
    /// The variance (Adebayo et al. 2018).
    case varGrad = "vargrad"
}

/// Averages an attribution method over copies of the input with Gaussian noise added, as
/// Captum's `NoiseTunnel`: `samples` copies with noise of standard deviation `standardDeviation`
/// (in the inputs' units).
///
/// ```swift
/// let smooth = NoiseTunnel(Saliency(model))
/// let maps = try smooth.attribute(images, target: labels, samples: 25, standardDeviation: 0.15)
/// ```
public struct NoiseTunnel: Sendable {
    let attribution: @Sendable (Tensor, AttributionTarget) throws -> Tensor

    /// SmoothGrad over saliency maps.
    public init(_ saliency: Saliency, abs: Bool = true) {
        attribution = { try saliency.attribute($0, target: $1, abs: abs) }
    }

    /// SmoothGrad over input × gradient.
    public init(_ method: InputXGradient) {
        attribution = { try method.attribute($0, target: $1) }
    }

    /// SmoothGrad over integrated gradients (the baseline zeros).
    public init(_ method: IntegratedGradients, steps: Int = 50, integration: IntegrationMethod = .gaussLegendre) {
        attribution = { try method.attribute($0, target: $1, steps: steps, method: integration).attributions }
    }

    /// Any attribution of a batch for a target.
    public init(_ attribution: @escaping @Sendable (Tensor, AttributionTarget) throws -> Tensor) {
        self.attribution = attribution
    }

    public func attribute(_ inputs: Tensor, target: AttributionTarget = .none, type: NoiseTunnelType = .smoothGrad,
                          samples: Int = 5, standardDeviation: Float = 1, generator: RandomGenerator = .default) throws -> Tensor {
        try checkBatch(inputs, operation: "NoiseTunnel")
        guard samples >= 1 else { throw CortexError.invalidArgument(operation: "NoiseTunnel", reason: "\(samples) samples: at least 1 is needed") }
        guard standardDeviation >= 0, standardDeviation.isFinite else {
            throw CortexError.invalidArgument(operation: "NoiseTunnel", reason: "noise standard deviation \(standardDeviation) is not a finite non-negative number")
        }
        var sum = try Tensor.zeros(like: inputs), squares = try Tensor.zeros(like: inputs)
        for _ in 0..<samples {
            let noisy = try inputs + Tensor.randn(inputs.shape, standardDeviation: standardDeviation, generator: generator)
            let map = try attribution(noisy, target).detach()
            sum = try sum + map
            squares = try squares + map * map
        }
        let mean = try sum * (1 / Float(samples)), meanOfSquares = try squares * (1 / Float(samples))
        switch type {
        case .smoothGrad: return mean
        case .smoothGradSquared: return meanOfSquares
        case .varGrad: return try meanOfSquares - mean * mean
        }
    }
}
