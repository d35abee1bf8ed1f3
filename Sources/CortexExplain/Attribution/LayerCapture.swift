import CortexCore
import CortexNN

/// Runs `body` with `layer`'s output captured, or replaced, through a forward hook: the output
/// seen by the rest of the model is a fresh leaf that records gradients (`replacement`, or the
/// layer's own output cut from the graph), so its `.grad` after backward is the gradient with
/// respect to the layer's output whether or not anything before the layer needs gradients.
func withLayerOutput<Result>(of layer: Module, replacing replacement: Tensor? = nil, inputOf: Bool = false,
                             _ body: (_ captured: () throws -> Tensor) throws -> Result) throws -> Result {
    var captured: [Tensor] = []
    let handle: ForwardHookHandle
    if inputOf {
        handle = layer.registerForwardPreHook { _, input in
            let leaf = try (replacement ?? input).detach().contiguous().requiringGrad()
            captured.append(leaf)
            return leaf
        }
    } else {
        handle = layer.registerForwardHook { _, _, output in
            let leaf = try (replacement ?? output).detach().contiguous().requiringGrad()
            captured.append(leaf)
            return leaf
        }
    }
    defer { handle.remove() }
    return try body {
        guard captured.count == 1 else {
            throw CortexError.invalidArgument(
                operation: "layer attribution",
                reason: captured.isEmpty ? "the layer \(type(of: layer)) did not run in the forward pass (is it part of the model, called as a Layer?)"
                    : "the layer \(type(of: layer)) ran \(captured.count) times in one forward pass; attribute to a layer that runs once")
        }
        return captured[0]
    }
}
