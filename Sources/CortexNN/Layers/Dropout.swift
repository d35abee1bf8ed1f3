import CortexCore

/// Zeroes each element with probability `probability` while training and scales the rest by
/// 1 / (1 - probability), as `nn.Dropout`; the identity in evaluation mode.
public final class Dropout: Module, Layer, @unchecked Sendable {
    public let probability: Float
    let generator: RandomGenerator

    public init(_ probability: Float = 0.5, generator: RandomGenerator = .default) {
        self.probability = probability
        self.generator = generator
        super.init()
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        guard probability >= 0, probability <= 1 else {
            throw CortexError.invalidArgument(operation: "Dropout", reason: "probability \(probability) is outside [0, 1]")
        }
        guard isTraining && probability > 0 else { return input }
        if probability == 1 { return try input * 0 }
        let keep = try Tensor.bernoulli(input.shape, probability: 1 - probability, generator: generator, device: input.device)
        return try input * (keep * (1 / (1 - probability)))
    }
}
