import CortexCore
import CCortexKernels
import Foundation

/// A Linear or Conv2d layer's int8 form, set by ``Int8Quantization``: while calibrating it
/// records the range of the layer's inputs (the layer still computes in float); once quantised it
/// holds the int8 weights and how its inputs are quantised, and the layer computes in int8.
public final class Int8LayerState: @unchecked Sendable {
    public enum Phase: Sendable {
        /// Calibrating: the smallest and largest input seen so far (nil before the first).
        case observing(low: Float?, high: Float?)
        case quantized(Int8Matrix, Int8Activations)
    }

    public internal(set) var phase: Phase
    private let lock = NSLock()

    init(_ phase: Phase) { self.phase = phase }

    /// The int8 weights, once quantised.
    public var matrix: Int8Matrix? {
        if case let .quantized(matrix, _) = phase { return matrix }
        return nil
    }

    public var activations: Int8Activations? {
        if case let .quantized(_, activations) = phase { return activations }
        return nil
    }

    func observe(_ input: Tensor) throws {
        let values = try input.detach().to(.float32).contiguous()
        guard values.count > 0 else { return }
        var low: Float = 0, high: Float = 0
        cortex_int8_range(values.storage.pointer.assumingMemoryBound(to: Float.self) + values.layout.offset, values.count, 1, values.count,
                          &low, &high)
        lock.lock()
        defer { lock.unlock() }
        if case let .observing(seenLow, seenHigh) = phase {
            phase = .observing(low: min(low, seenLow ?? low), high: max(high, seenHigh ?? high))
        }
    }

    /// x Wᵀ + bias in int8, where quantised; nil while observing (after recording x's range).
    func product(_ x: Tensor, bias: Tensor?) throws -> Tensor? {
        switch phase {
        case .observing:
            try observe(x)
            return nil
        case let .quantized(matrix, activations):
            return try matrix.product(x, bias: bias, activations: activations)
        }
    }
}

/// Post-training int8 quantisation of a model's Linear layers, and of its Conv2d layers through
/// im2col, as `torch.ao.quantization.quantize_dynamic` quantises Linear layers (and its static
/// flow, with calibration, Conv2d): weights per output channel, symmetric int8; activations
/// uint8, per row dynamically or from calibrated ranges; integer sums in int32. The layers are
/// quantised in place and then compute in int8, inference only (no gradients flow through them).
///
/// ```swift
/// let model = try MNISTMLP.load("mnist-mlp/model.safetensors")
/// let report = try Int8Quantization.quantize(model)                   // dynamic activations
/// let logits = try model(images)                                      // int8 products
/// // or static: calibrate the activation ranges on training batches first
/// try Int8Quantization.quantize(model, calibration: { for batch in batches { _ = try model(batch) } })
/// try Int8Quantization.save(model, to: "mnist-mlp-int8.safetensors")
/// ```
public enum Int8Quantization {
    /// What a quantisation did: the layers quantised, those left in float (and why), and the
    /// bytes their weights took before and after.
    public struct Report: Sendable, Codable {
        public var quantized: [String] = []
        public var skipped: [String: String] = [:]
        public var floatBytes = 0
        public var int8Bytes = 0
    }

    /// Quantises every Linear and Conv2d below `model` (grouped convolutions stay in float).
    /// With `calibration`, which should run the model's forward pass over representative
    /// batches, each layer's input range is observed first and fixed (static quantisation);
    /// without it activations are quantised per row at every call (dynamic). Pruning masks
    /// are folded into their weights first (``Pruning/removeAll(_:)``): int8 layers do not train.
    @discardableResult
    public static func quantize(_ model: Module, calibration: (() throws -> Void)? = nil) throws -> Report {
        try Pruning.removeAll(model)
        var report = Report()
        var layers: [(String, Module, Tensor)] = []
        for (name, module) in model.namedModules() {
            if let linear = module as? Linear {
                layers.append((name, linear, linear.weight))
            } else if let convolution = module as? Conv2d {
                guard convolution.groups == 1 else {
                    report.skipped[name] = "grouped convolution (groups \(convolution.groups))"
                    continue
                }
                layers.append((name, convolution, try convolution.weight.reshape([convolution.outChannels, -1])))
            }
        }
        var activations = [Int8Activations](repeating: .dynamic, count: layers.count)
        if let calibration {
            let observers = layers.map { _ in Int8LayerState(.observing(low: nil, high: nil)) }
            for (layer, observer) in zip(layers, observers) { setState(observer, on: layer.1) }
            // Back to float while calibrating fails; the quantised states replace these below.
            defer { for layer in layers { setState(nil, on: layer.1) } }
            try withNoGrad { try calibration() }
            for (index, (layer, observer)) in zip(layers, observers).enumerated() {
                guard case let .observing(low?, high?) = observer.phase else {
                    throw CortexError.invalidArgument(operation: "Int8Quantization.quantize",
                                                      reason: "layer \(layer.0.isEmpty ? "(the model)" : layer.0) saw no input during calibration")
                }
                activations[index] = .calibrated(low: low, high: high)
            }
        }
        for ((name, module, weight), activations) in zip(layers, activations) {
            let matrix = try Int8Matrix(quantizing: weight)
            setState(Int8LayerState(.quantized(matrix, activations)), on: module)
            report.quantized.append(name)
            report.floatBytes += weight.count * 4
            report.int8Bytes += matrix.byteCount
        }
        return report
    }

    /// Puts every quantised layer back to float (its float weights were kept).
    public static func dequantize(_ model: Module) {
        for (_, module) in model.namedModules() { setState(nil, on: module) }
    }

    /// The layer's int8 state, if any.
    public static func state(of module: Module) -> Int8LayerState? {
        (module as? Linear)?.int8 ?? (module as? Conv2d)?.int8
    }

    static func setState(_ state: Int8LayerState?, on module: Module) {
        if let linear = module as? Linear { linear.int8 = state }
        if let convolution = module as? Conv2d { convolution.int8 = state }
    }

    // MARK: Saving

    /// The key names of an int8 checkpoint, as compressed-tensors (llm-compressor's "w8a8"
    /// checkpoints) names them: `<layer>.weight` holds the int8 codes, `<layer>.weight_scale`
    /// the per-channel scales, and a calibrated layer's `<layer>.input_scale` and
    /// `<layer>.input_zero_point` its activations' quantisation. Everything else is the float
    /// state dict.
    public static let metadataKey = "cortex.quantization"

    /// The model's state dict with its quantised layers' weights as int8 codes and scales.
    public static func stateDict(_ model: Module) throws -> [String: Tensor] {
        var state = model.stateDict()
        for (name, module) in model.namedModules() {
            guard let layer = self.state(of: module), let matrix = layer.matrix else { continue }
            let prefix = name.isEmpty ? "" : name + "."
            let shape = state[prefix + "weight"]?.shape ?? matrix.shape
            state[prefix + "weight"] = try matrix.codeTensor().reshape(shape)
            state[prefix + "weight_scale"] = try Tensor(matrix.scales, shape: [matrix.rows])
            if case let .calibrated(scale, zeroPoint)? = layer.activations {
                state[prefix + "input_scale"] = try Tensor([scale], shape: [1])
                state[prefix + "input_zero_point"] = try Tensor(integers: [Int(zeroPoint)], shape: [1], dtype: .int32)
            }
        }
        return state
    }

    /// Saves the quantised model as safetensors (atomically), int8 codes and all.
    public static func save(_ model: Module, to path: String) throws {
        try Safetensors.save(stateDict(model), metadata: ["format": "pt", metadataKey: "int8"], to: path)
    }

    /// Loads an int8 checkpoint (from ``save(_:to:)``) into a model of the same architecture:
    /// each layer stored as codes and scales is quantised with them (its float weight set to
    /// their dequantised values), the rest loads as a float state dict.
    public static func load(_ model: Module, from path: String) throws {
        let file = try Safetensors.load(path)
        var state = file.tensors
        for (name, module) in model.namedModules() {
            guard module is Linear || module is Conv2d else { continue }
            let prefix = name.isEmpty ? "" : name + "."
            guard let codes = state[prefix + "weight"], codes.dtype == .int8 else { continue }
            guard let scales = state.removeValue(forKey: prefix + "weight_scale") else {
                throw CortexError.invalidFile(path: path, reason: "\(prefix)weight is int8 but \(prefix)weight_scale is missing")
            }
            let rows = codes.shape.first ?? 0
            let flat = try codes.contiguous()
            let codeValues = Array(UnsafeBufferPointer(start: flat.storage.pointer.assumingMemoryBound(to: Int8.self) + flat.layout.offset,
                                                       count: flat.count))
            let matrix = try Int8Matrix(codes: codeValues, scales: scales.toFloatArray(), rows: rows, columns: rows > 0 ? flat.count / rows : 0)
            var activations = Int8Activations.dynamic
            if let scale = state.removeValue(forKey: prefix + "input_scale") {
                guard let zero = state.removeValue(forKey: prefix + "input_zero_point") else {
                    throw CortexError.invalidFile(path: path, reason: "\(prefix)input_scale has no \(prefix)input_zero_point")
                }
                activations = .calibrated(scale: try scale.toFloatArray().first ?? 0, zeroPoint: Int32(try zero.toIntArray().first ?? -1))
                _ = try matrix.product(Tensor.zeros([1, matrix.columns]), activations: activations)   // checks the parameters
            }
            state[prefix + "weight"] = try matrix.dequantized().reshape(codes.shape)
            setState(Int8LayerState(.quantized(matrix, activations)), on: module)
        }
        try model.loadStateDict(state)
    }

    /// Whether a safetensors file is an int8 checkpoint.
    public static func isInt8Checkpoint(_ path: String) -> Bool {
        (try? Safetensors.load(path).metadata[metadataKey]) == "int8"
    }
}
