import CortexCore
import Foundation

/// Per-sample gradients of a model's parameters, computed vectorised during the ordinary
/// backward pass, as Opacus's `GradSampleModule`: a forward hook on every layer with
/// parameters keeps the layer's input and taps the gradient of its output
/// (``CortexCore/Tensor/observingGradient(_:)``); from the two the layer's
/// ``PerSampleGradientLayer`` conformance forms each example's gradient, with no loop of
/// batch-of-one backward passes. A layer called several times in one forward pass (tied
/// weights) gets the sum of its calls.
///
/// ```swift
/// let perSample = try PerSampleGradients(model)
/// let loss = try Loss.crossEntropy(model(images), targets: labels)   // mean over the batch
/// try loss.backward()
/// let weight = try perSample.gradient(of: "fc1.weight")              // (batch, 32, 512)
/// perSample.reset()
/// ```
///
/// Every module that holds trainable parameters of its own must conform to
/// ``PerSampleGradientLayer`` (``MultiheadAttention``, with `batchFirst`, reports its input
/// projections itself); the batch is axis 0 of every layer's input. BatchNorm mixes the examples of a batch, so it is refused, and
/// the error suggests GroupNorm (as Opacus's validator does).
public final class PerSampleGradients: @unchecked Sendable {
    /// How the loss reduces over the batch: with `.mean` the output gradients carry a 1/B that
    /// is multiplied back, so each example's gradient is that of its own loss.
    public enum LossReduction: String, Codable, Sendable { case mean, sum }

    public let model: Module
    public let lossReduction: LossReduction
    private var handles: [ForwardHookHandle] = []
    /// The Linear and convolution layers whose ordinary gradients ``skipsOrdinaryGradients`` skips.
    private var productLayers: [Module] = []
    private var attentionModules: [MultiheadAttention] = []
    private var stored: [String: Tensor] = [:]
    private var batch: Int?
    private let lock = NSLock()

    public init(_ model: Module, lossReduction: LossReduction = .mean) throws {
        self.model = model
        self.lossReduction = lossReduction
        try PerSampleGradients.validate(model)
        let layers = model.namedModules().filter { $0.1 is any PerSampleGradientLayer || $0.1 is MultiheadAttention }
        // Multi-head attention computes its input projections itself: it reports them.
        for (path, module) in layers {
            guard let attention = module as? MultiheadAttention else { continue }
            attention.perSampleRecorder = { [weak self] gradients in
                try self?.add(gradients, prefix: path, batch: gradients.values.first?.shape.first ?? 0)
            }
            attentionModules.append(attention)
        }
        productLayers = layers.map(\.1).filter { $0 is Linear || $0 is Conv1d || $0 is Conv2d }
        handles.append(model.registerForwardPreHook { [weak self] _, input in
            guard let self, self.skipsOrdinaryGradients, GradMode.isEnabled, input.dtype == .float32 else { return nil }
            for layer in self.productLayers { layer.detachesParameters = true }
            return input.requiresGrad ? nil : try input.detach().requiringGrad()
        })
        for (path, module) in layers where module is any PerSampleGradientLayer {
            handles.append(module.registerForwardHook { [weak self] module, input, output in
                guard let self, output.requiresGrad, let layer = module as? any PerSampleGradientLayer else { return nil }
                let saved = input.detach()
                return output.observingGradient { [weak self] gradient in
                    guard let self else { return }
                    try self.add(layer.perSampleGradients(input: saved, outputGradient: gradient), prefix: path, batch: saved.shape.first ?? 0)
                }
            })
        }
    }

    /// Skips the ordinary gradients of Linear, Conv1d and Conv2d parameters (their per-sample
    /// gradients still come): those layers compute with their parameters detached, and the
    /// model's float input is made to require a gradient so the graph reaches every layer.
    /// DP-SGD replaces the ordinary gradient anyway, so it saves a weight-gradient product per
    /// layer. Off by default; ``PrivateTraining`` turns it on after its first step has checked
    /// the per-sample gradients against the ordinary ones.
    ///
    /// The layers detach their parameters only from the start of a forward pass of the model
    /// (called as a Layer) to the next ``reset()``, which DP-SGD's step calls: between steps,
    /// and in a forward pass that does not go through the model's call, they compute as usual.
    public var skipsOrdinaryGradients = false

    deinit { remove() }

    /// Stops computing per-sample gradients (the hooks are removed).
    public func remove() {
        for handle in handles { handle.remove() }
        for attention in attentionModules { attention.perSampleRecorder = nil }
        for layer in productLayers { layer.detachesParameters = false }
        productLayers = []
        handles = []
        attentionModules = []
    }

    /// The per-sample gradients of the last backward pass(es) since ``reset()``, by dotted
    /// parameter name, each `[batch] + parameter.shape`.
    public var gradients: [String: Tensor] {
        lock.lock(); defer { lock.unlock() }
        return stored
    }

    /// The batch size those gradients are for (nil before any backward pass).
    public var batchSize: Int? {
        lock.lock(); defer { lock.unlock() }
        return batch
    }

    /// One parameter's per-sample gradient, or a typed error naming what there is.
    public func gradient(of name: String) throws -> Tensor {
        guard let gradient = gradients[name] else {
            throw CortexError.invalidArgument(operation: "PerSampleGradients",
                                              reason: "no per-sample gradient for \"\(name)\"; there are \(gradients.keys.sorted().joined(separator: ", "))")
        }
        return gradient
    }

    /// Forgets the stored per-sample gradients (before the next batch), and the product layers
    /// that detached their parameters for this step compute as usual again.
    public func reset() {
        lock.lock(); stored = [:]; batch = nil; lock.unlock()
        for layer in productLayers { layer.detachesParameters = false }
    }

    private func add(_ layerGradients: [String: Tensor], prefix: String, batch size: Int) throws {
        let scale: Float = lossReduction == .mean ? Float(size) : 1
        lock.lock(); defer { lock.unlock() }
        if let batch, batch != size {
            throw CortexError.shapeMismatch(operation: "PerSampleGradients", shapes: [[batch], [size]],
                                            reason: "(layers saw batches of different sizes in one pass; the batch must be axis 0 everywhere)")
        }
        batch = size
        for (name, gradient) in layerGradients {
            let key = prefix.isEmpty ? name : prefix + "." + name
            let scaled = scale == 1 ? gradient : try gradient * scale
            stored[key] = try stored[key].map { try $0 + scaled } ?? scaled
        }
    }

    /// Σ over positions t of each example's outer products x_t y_tᵀ: (B, T, m) and (B, T, n)
    /// to (B, m, n), the per-sample weight gradient of a linear map (x the output gradient and
    /// y the input for a (out, in) weight; the other way round for an (in, out) one). With one
    /// position per example the products are formed by broadcasting, not as B tiny matmuls.
    public static func outerProductSums(_ x: Tensor, _ y: Tensor) throws -> Tensor {
        let (batch, m, n) = (x.shape[0], x.shape[2], y.shape[2])
        guard x.shape[1] == 1 else { return try x.mT.matmul(y) }
        return try x.reshape([batch, m, 1]) * y.reshape([batch, 1, n])
    }

    /// The batch size of a layer's input and output gradient, which must agree (for custom
    /// ``PerSampleGradientLayer`` rules too).
    public static func batchSize(_ input: Tensor, _ outputGradient: Tensor, layer: String) throws -> Int {
        guard input.rank >= 1, outputGradient.rank >= 1, input.shape[0] == outputGradient.shape[0] else {
            throw CortexError.shapeMismatch(operation: "\(layer) per-sample gradients", shapes: [input.shape, outputGradient.shape],
                                            reason: "(input and output gradient must share the batch axis 0)")
        }
        return input.shape[0]
    }

    /// Refuses models whose per-sample gradients cannot be formed: BatchNorm, pruned layers,
    /// and modules with trainable parameters of their own that do not conform.
    public static func validate(_ model: Module) throws {
        for (path, module) in model.namedModules() {
            let name = path.isEmpty ? "the model" : "\"\(path)\""
            let trainable = module.ownSlots().filter { !$0.1.isBuffer && ($0.1.tensor?.requiresGrad ?? false) }
            if module is BatchNorm {
                throw CortexError.invalidArgument(
                    operation: "differentially private training",
                    reason: "\(name) is a \(type(of: module)), which mixes the examples of a batch, so per-sample gradients do not exist; replace it with GroupNorm (Opacus's ModuleValidator.fix does the same)")
            }
            guard !trainable.isEmpty else { continue }
            if !module.pruningMasks.isEmpty {
                throw CortexError.invalidArgument(operation: "PerSampleGradients",
                                                  reason: "\(name) is pruned; remove the pruning (Pruning.remove) before private training")
            }
            if let attention = module as? MultiheadAttention {
                guard attention.batchFirst else {
                    throw CortexError.invalidArgument(operation: "PerSampleGradients",
                                                      reason: "\(name) is a MultiheadAttention with batchFirst false; per-sample gradients take the batch as axis 0 everywhere, so build it with batchFirst: true")
                }
                continue
            }
            guard module is any PerSampleGradientLayer else {
                throw CortexError.invalidArgument(
                    operation: "PerSampleGradients",
                    reason: "\(name) (\(type(of: module))) has trainable parameters \(trainable.map(\.0).joined(separator: ", ")) but no per-sample gradient rule; conform it to PerSampleGradientLayer or freeze it")
            }
        }
    }
}
