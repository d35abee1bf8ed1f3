import CortexCore

/// FLOPs of one forward pass, by layer: what ``CortexCore/FLOPCounter`` counts while each leaf
/// module (one with no children) runs, found with forward hooks. A convolution's entry is its
/// im2col product, 2·N·O·(C/g)·kh·kw·OH·OW, plus one addition per output for the bias.
public struct LayerFLOPs: Sendable {
    public var name: String
    public var type: String
    public var count: FLOPCount
}

extension Module {
    /// Each leaf layer's FLOPs in one forward pass of `input` (no gradients recorded), in the
    /// order the layers ran, and the whole pass's total.
    ///
    /// ```swift
    /// let (layers, total) = try model.flopsPerLayer(input: Tensor.zeros([1, 1, 28, 28]))
    /// for layer in layers { print(layer.name, layer.type, layer.count.total) }
    /// ```
    public func flopsPerLayer(input: Tensor) throws -> (layers: [LayerFLOPs], total: FLOPCount) {
        guard let layer = self as? Layer else {
            throw CortexError.invalidArgument(operation: "flopsPerLayer", reason: "\(type(of: self)) is not a Layer (one input, one output)")
        }
        var entries: [LayerFLOPs] = []
        var starts: [ObjectIdentifier: FLOPCount] = [:]
        var handles: [ForwardHookHandle] = []
        for (name, module) in namedModules() where module.namedChildren().isEmpty && module !== self {
            handles.append(module.registerForwardPreHook { module, _ in
                starts[ObjectIdentifier(module)] = FLOPCounter.current?.snapshot ?? FLOPCount()
                return nil
            })
            handles.append(module.registerForwardHook { module, _, _ in
                let now = FLOPCounter.current?.snapshot ?? FLOPCount()
                entries.append(LayerFLOPs(name: name, type: "\(Swift.type(of: module))", count: now - (starts[ObjectIdentifier(module)] ?? FLOPCount())))
                return nil
            })
        }
        defer { for handle in handles { handle.remove() } }
        let (_, total) = try FLOPCounter.counting { try withNoGrad { try layer(input) } }
        return (entries, total)
    }
}
