import CortexCore

/// Layers applied in order, named `0`, `1`, ... in the state dict as `torch.nn.Sequential`.
///
/// ```swift
/// let model = Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
/// ```
public final class Sequential: Module, Layer, @unchecked Sendable {
    public let layers: [Module & Layer]

    public init(_ layers: [Module & Layer]) {
        self.layers = layers
        super.init()
    }

    public convenience init(_ layers: (Module & Layer)...) { self.init(layers) }

    public override func namedChildren() -> [(String, Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    public func forward(_ input: Tensor) throws -> Tensor {
        try layers.reduce(input) { try $1($0) }
    }
}
