import CortexCore
import CortexData
import CortexNN
import Foundation
import Yams

/// A model and its training settings described in YAML or JSON, in the spirit of Keras's
/// `Sequential` config: the input shape, the layers in order (each one's input size is
/// inferred from the layer before), and how to train.
///
/// ```yaml
/// input: [1, 28, 28]            # channels, height, width; or [features] for tables
/// layers:
///   - conv2d: {out_channels: 32, kernel_size: 3, padding: 1}
///   - relu
///   - max_pool2d: 2
///   - flatten
///   - linear: 10
/// optimizer: {name: adam, lr: 0.002}
/// schedule: cosine              # cosine, constant or plateau
/// epochs: 3
/// batch_size: 64
/// metrics: [accuracy, f1_macro]
/// augment: [{random_crop: {size: 28, padding: 2}}, horizontal_flip]   # training batches only
/// ```
///
/// Layers: `linear` (or `dense`; `out_features`/`units`, `in_features` to check, `bias`),
/// `conv2d` (`out_channels`/`filters`, `kernel_size`, `stride`, `padding`, `in_channels` to
/// check, `bias`), `max_pool2d` and `avg_pool2d` (`kernel_size`, `stride`, `padding`),
/// `adaptive_avg_pool2d` (`output_size`), `flatten`, `dropout` (`p`), `batch_norm`,
/// `layer_norm`, and the activations `relu`, `leaky_relu` (`negative_slope`), `gelu`, `silu`,
/// `sigmoid`, `tanh`. A layer given as a bare value takes it as its main size
/// (`linear: 10`, `max_pool2d: 2`, `dropout: 0.25`).
public struct ModelConfiguration: Sendable {
    /// The file it was read from, for error messages.
    public let path: String
    /// The description itself, as JSON (what checkpoints carry).
    public let json: Data
    public let name: String?
    /// One example's shape: [channels, height, width] or [features].
    public let input: [Int]
    public let layers: [LayerDescription]
    public let optimizer: String
    public let learningRate: Float?
    public let weightDecay: Float?
    public let schedule: String
    public let epochs: Int
    public let batchSize: Int
    public let metrics: [String]
    public let seed: UInt64
    public let validationSplit: Double
    /// CSV data: the column to predict, and columns to treat as categories though numeric.
    public let target: String?
    public let categorical: [String]
    /// Augmentations of training batches, in order: `random_crop` (`size`, `padding`),
    /// `horizontal_flip` (`p`), `random_rotation` (`degrees`), `random_erasing` (`p`).
    public let augmentations: [LayerDescription]

    /// One layer of the description.
    public struct LayerDescription: Sendable {
        public let type: String
        /// Where it is in the file, as `layers[3]`.
        public let key: String
        let value: ConfigurationValue
    }

    public static let layerTypes = ["linear", "dense", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "flatten", "dropout",
                                    "batch_norm", "layer_norm", "relu", "leaky_relu", "gelu", "silu", "sigmoid", "tanh"]
    static let topLevelKeys: Set = ["name", "input", "layers", "optimizer", "schedule", "epochs", "batch_size", "metrics", "seed",
                                    "validation_split", "target", "categorical", "loss", "augment"]
    public static let augmentationTypes = ["random_crop", "horizontal_flip", "random_rotation", "random_erasing"]
    public static let metricNames: Set = ["accuracy", "loss", "f1_macro", "precision_macro", "recall_macro"]

    /// Reads a YAML or JSON description (JSON is YAML too).
    public static func load(_ path: String) throws -> ModelConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws -> ModelConfiguration {
        let loaded: Any?
        do { loaded = try Yams.load(yaml: text) } catch {
            throw CortexError.invalidFile(path: path, reason: "is not valid YAML or JSON: \(error)")
        }
        guard let root = loaded.map(ConfigurationValue.init), case .object(let object) = root else {
            throw CortexError.invalidFile(path: path, reason: "must hold a mapping with input and layers")
        }
        return try ModelConfiguration(object, path: path)
    }

    /// Rebuilds a description from the JSON a checkpoint carries.
    public static func fromCheckpoint(json: Data, path: String) throws -> ModelConfiguration {
        try parse(String(decoding: json, as: UTF8.self), path: path)
    }

    init(_ object: [String: ConfigurationValue], path: String) throws {
        self.path = path
        func fail(_ key: String, _ reason: String) -> CortexError { .invalidFile(path: path, reason: "\(key): \(reason)") }
        if let unknown = object.keys.sorted().first(where: { !ModelConfiguration.topLevelKeys.contains($0) }) {
            throw fail(unknown, "unknown key (known: \(ModelConfiguration.topLevelKeys.sorted().joined(separator: ", ")))")
        }
        json = try JSONSerialization.data(withJSONObject: ConfigurationValue.object(object).foundation, options: [.sortedKeys])
        name = try object["name"]?.string("name", path)
        guard let inputValue = object["input"] else { throw fail("input", "missing: give one example's shape, [channels, height, width] or [features]") }
        input = try inputValue.integers("input", path)
        guard [1, 3].contains(input.count), input.allSatisfy({ $0 > 0 }) else {
            throw fail("input", "\(input) must be [channels, height, width] or [features], all positive")
        }
        guard case .array(let layerValues)? = object["layers"], !layerValues.isEmpty else { throw fail("layers", "missing or empty: list the model's layers") }
        func entries(_ values: [ConfigurationValue], _ list: String, _ known: [String]) throws -> [LayerDescription] {
            try values.enumerated().map { index, value in
                let key = "\(list)[\(index)]"
                let (type, options): (String, ConfigurationValue)
                switch value {
                case .string(let text): (type, options) = (text, .null)
                case .object(let entry) where entry.count == 1: (type, options) = (entry.first!.key, entry.first!.value)
                default: throw fail(key, "an entry is a name (relu) or a one-key mapping (conv2d: {...})")
                }
                guard known.contains(type) else {
                    throw fail(key, "unknown \(list == "layers" ? "layer" : "augmentation") type \"\(type)\" (known: \(known.joined(separator: ", ")))")
                }
                return LayerDescription(type: type, key: key, value: options)
            }
        }
        layers = try entries(layerValues, "layers", ModelConfiguration.layerTypes)
        switch object["augment"] {
        case nil: augmentations = []
        case .array(let values)?: augmentations = try entries(values, "augment", ModelConfiguration.augmentationTypes)
        default: throw fail("augment", "a list such as [horizontal_flip, {random_crop: {size: 28, padding: 2}}]")
        }
        switch object["optimizer"] {
        case nil: (optimizer, learningRate, weightDecay) = ("adam", nil, nil)
        case .string(let text)?: (optimizer, learningRate, weightDecay) = (text, nil, nil)
        case .object(let options)?:
            if let unknown = options.keys.sorted().first(where: { !["name", "lr", "weight_decay"].contains($0) }) {
                throw fail("optimizer.\(unknown)", "unknown key (known: name, lr, weight_decay)")
            }
            optimizer = try options["name"]?.string("optimizer.name", path) ?? "adam"
            learningRate = try options["lr"].map { Float(try $0.number("optimizer.lr", path)) }
            weightDecay = try options["weight_decay"].map { Float(try $0.number("optimizer.weight_decay", path)) }
        default: throw fail("optimizer", "a name (adam) or a mapping {name, lr, weight_decay}")
        }
        guard ["sgd", "adam", "adamw", "rmsprop", "adagrad"].contains(optimizer) else {
            throw fail("optimizer", "unknown optimizer \"\(optimizer)\" (sgd, adam, adamw, rmsprop, adagrad)")
        }
        schedule = try object["schedule"]?.string("schedule", path) ?? "cosine"
        guard ["cosine", "constant", "plateau"].contains(schedule) else { throw fail("schedule", "\"\(schedule)\" is not cosine, constant or plateau") }
        epochs = try object["epochs"]?.integer("epochs", path) ?? 3
        batchSize = try object["batch_size"]?.integer("batch_size", path) ?? 64
        guard epochs > 0, batchSize > 0 else { throw fail(epochs > 0 ? "batch_size" : "epochs", "must be positive") }
        metrics = try object["metrics"].map { value in
            guard case .array(let items) = value else { throw fail("metrics", "a list such as [accuracy, f1_macro]") }
            return try items.enumerated().map { try $1.string("metrics[\($0)]", path) }
        } ?? ["accuracy"]
        if let unknown = metrics.first(where: { !ModelConfiguration.metricNames.contains($0) }) {
            throw fail("metrics", "unknown metric \"\(unknown)\" (known: \(ModelConfiguration.metricNames.sorted().joined(separator: ", ")))")
        }
        let seedValue = try object["seed"]?.integer("seed", path) ?? 0
        guard seedValue >= 0 else { throw fail("seed", "must not be negative") }
        seed = UInt64(seedValue)
        validationSplit = try object["validation_split"]?.number("validation_split", path) ?? 0.1
        guard validationSplit >= 0 && validationSplit < 1 else { throw fail("validation_split", "\(validationSplit) must be in [0, 1)") }
        target = try object["target"]?.string("target", path)
        categorical = try object["categorical"].map { value in
            guard case .array(let items) = value else { throw fail("categorical", "a list of column names") }
            return try items.enumerated().map { try $1.string("categorical[\($0)]", path) }
        } ?? []
        if let loss = try object["loss"]?.string("loss", path), loss != "cross_entropy" {
            throw fail("loss", "\"\(loss)\": configured models are classifiers trained with cross_entropy")
        }
        _ = try build(generator: RandomGenerator(seed: 0))   // every layer and shape checked now
        _ = try augmentation()
    }

    /// The training batches' augmentation (nil without `augment`).
    public func augmentation() throws -> Transforms.Transform? {
        guard !augmentations.isEmpty else { return nil }
        return Transforms.compose(try augmentations.map { entry in
            var options = try LayerOptions(entry, path: path)
            let transform: Transforms.Transform
            switch entry.type {
            case "random_crop":
                guard input.count == 3 else { throw CortexError.invalidFile(path: path, reason: "\(entry.key): random_crop is for images, the input is \(input)") }
                let size = try options.integer(main: true, "size")
                guard size == input[1] && size == input[2] else {
                    throw CortexError.invalidFile(path: path, reason: "\(entry.key): random_crop size \(size) must give the input's \(input[1])x\(input[2]) (pad, then crop back to it)")
                }
                transform = Transforms.randomCrop(size: size, padding: try options.optionalInteger("padding") ?? 0)
            case "horizontal_flip": transform = Transforms.horizontalFlip(probability: Float(try options.optionalNumber(main: true, "p") ?? 0.5))
            case "random_rotation": transform = Transforms.randomRotation(degrees: Float(try options.optionalNumber(main: true, "degrees") ?? 10))
            default: transform = Transforms.randomErasing(probability: Float(try options.optionalNumber(main: true, "p") ?? 0.5))
            }
            try options.finish()
            return transform
        })
    }

    /// The model, layer by layer, each layer's input size inferred from the shape the layer
    /// before gives. A size the description states that does not match is an error naming both
    /// shapes. Initialised from `generator` in layer order, as Swift code building the same
    /// `Sequential` would be.
    public func build(generator: RandomGenerator = .default) throws -> Sequential {
        try buildWithShape(generator: generator).model
    }

    /// The model and the shape of one example's output.
    public func buildWithShape(generator: RandomGenerator = .default) throws -> (model: Sequential, output: [Int]) {
        var shape = input
        var built: [Module & Layer] = []
        for layer in layers {
            let (module, next) = try make(layer, shape, generator)
            built.append(module)
            shape = next
        }
        return (Sequential(built), shape)
    }

    private func make(_ layer: LayerDescription, _ shape: [Int], _ generator: RandomGenerator) throws -> (Module & Layer, [Int]) {
        var options = try LayerOptions(layer, path: path)
        func fail(_ reason: String) -> CortexError { .invalidFile(path: path, reason: "\(layer.key) (\(layer.type)): \(reason)") }
        func image() throws -> (Int, Int, Int) {
            guard shape.count == 3 else { throw fail("takes images [channels, height, width] but receives shape \(shape)") }
            return (shape[0], shape[1], shape[2])
        }
        func pooled(_ size: Int, _ kernel: Int, _ stride: Int, _ padding: Int) throws -> Int {
            let out = (size + 2 * padding - kernel) / stride + 1
            guard out > 0, kernel > 0, stride > 0, padding >= 0 else { throw fail("a window of \(kernel), stride \(stride), padding \(padding) does not fit shape \(shape)") }
            return out
        }
        switch layer.type {
        case "linear", "dense":
            guard shape.count == 1 else { throw fail("takes [features] but receives shape \(shape); put a flatten before it") }
            let outputs = try options.integer(main: true, "out_features", "units")
            if let stated = try options.optionalInteger("in_features"), stated != shape[0] {
                throw fail("in_features \(stated) expects shape [\(stated)] but the layer before gives shape \(shape)")
            }
            guard outputs > 0 else { throw fail("out_features must be positive, got \(outputs)") }
            try options.finish()
            return (Linear(shape[0], outputs, bias: try options.bool("bias") ?? true, generator: generator), [outputs])
        case "conv2d":
            let (channels, height, width) = try image()
            let outputs = try options.integer(main: true, "out_channels", "filters")
            if let stated = try options.optionalInteger("in_channels"), stated != channels {
                throw fail("in_channels \(stated) expects shape [\(stated), H, W] but the layer before gives shape \(shape)")
            }
            let kernel = try options.pair("kernel_size") ?? (3, 3), stride = try options.pair("stride") ?? (1, 1)
            let padding = try options.pair("padding") ?? (0, 0)
            let bias = try options.bool("bias") ?? true
            try options.finish()
            guard outputs > 0 else { throw fail("out_channels must be positive, got \(outputs)") }
            let next = [outputs, try pooled(height, kernel.0, stride.0, padding.0), try pooled(width, kernel.1, stride.1, padding.1)]
            return (Conv2d(channels, outputs, kernelSize: kernel, stride: stride, padding: padding, bias: bias, generator: generator), next)
        case "max_pool2d", "avg_pool2d":
            let (channels, height, width) = try image()
            let kernel = try options.pair(main: true, "kernel_size") ?? (2, 2)
            let stride = try options.pair("stride") ?? kernel, padding = try options.pair("padding") ?? (0, 0)
            try options.finish()
            let next = [channels, try pooled(height, kernel.0, stride.0, padding.0), try pooled(width, kernel.1, stride.1, padding.1)]
            let module: Module & Layer = layer.type == "max_pool2d" ? MaxPool2d(kernelSize: kernel, stride: stride, padding: padding)
                : AvgPool2d(kernelSize: kernel, stride: stride, padding: padding)
            return (module, next)
        case "adaptive_avg_pool2d":
            let (channels, _, _) = try image()
            let size = try options.pair(main: true, "output_size") ?? (1, 1)
            try options.finish()
            return (AdaptiveAvgPool2d(outputSize: size), [channels, size.0, size.1])
        case "flatten":
            try options.finish()
            return (Flatten(), [shape.reduce(1, *)])
        case "dropout":
            let probability = try options.optionalNumber(main: true, "p") ?? 0.5
            try options.finish()
            guard probability >= 0 && probability < 1 else { throw fail("p \(probability) must be in [0, 1)") }
            return (Dropout(Float(probability), generator: generator), shape)
        case "batch_norm":
            let momentum = try options.optionalNumber("momentum").map(Float.init) ?? 0.1
            let epsilon = try options.optionalNumber("eps").map(Float.init) ?? 1e-5
            try options.finish()
            return (shape.count == 3 ? BatchNorm2d(shape[0], epsilon: epsilon, momentum: momentum) : BatchNorm1d(shape[0], epsilon: epsilon, momentum: momentum), shape)
        case "layer_norm":
            let epsilon = try options.optionalNumber("eps").map(Float.init) ?? 1e-5
            try options.finish()
            return (LayerNorm([shape.last!], epsilon: epsilon), shape)
        case "leaky_relu":
            let slope = try options.optionalNumber(main: true, "negative_slope") ?? 0.01
            try options.finish()
            return (LeakyReLU(negativeSlope: Float(slope)), shape)
        default:
            try options.finish()
            let activations: [String: () -> Module & Layer] = ["relu": { ReLU() }, "gelu": { GELU() }, "silu": { SiLU() },
                                                              "sigmoid": { Sigmoid() }, "tanh": { Tanh() }]
            return (activations[layer.type]!(), shape)
        }
    }
}

/// A layer's options: a bare value (its main size) or a mapping; every key must be used.
struct LayerOptions {
    let layer: ModelConfiguration.LayerDescription
    let path: String
    let bare: ConfigurationValue?
    let mapping: [String: ConfigurationValue]
    private var used = Set<String>()
    private var usedBare = false

    init(_ layer: ModelConfiguration.LayerDescription, path: String) throws {
        (self.layer, self.path) = (layer, path)
        switch layer.value {
        case .object(let mapping): (bare, self.mapping) = (nil, mapping)
        case .null: (bare, mapping) = (nil, [:])
        default: (bare, mapping) = (layer.value, [:])
        }
    }

    private func key(_ name: String) -> String { "\(layer.key).\(layer.type).\(name)" }

    private mutating func value(main: Bool, _ names: [String]) -> (ConfigurationValue, String)? {
        for name in names {
            if let found = mapping[name] { used.insert(name); return (found, key(name)) }
        }
        if main, let bare {
            usedBare = true
            return (bare, "\(layer.key).\(layer.type)")
        }
        return nil
    }

    mutating func integer(main: Bool = false, _ names: String...) throws -> Int {
        guard let (found, key) = value(main: main, names) else {
            throw CortexError.invalidFile(path: path, reason: "\(layer.key) (\(layer.type)): missing \(names.joined(separator: " or "))")
        }
        return try found.integer(key, path)
    }

    mutating func optionalInteger(main: Bool = false, _ names: String...) throws -> Int? {
        try value(main: main, names).map { try $0.0.integer($0.1, path) }
    }

    mutating func optionalNumber(main: Bool = false, _ names: String...) throws -> Double? {
        try value(main: main, names).map { try $0.0.number($0.1, path) }
    }

    mutating func bool(_ name: String) throws -> Bool? {
        guard let (found, key) = value(main: false, [name]) else { return nil }
        guard case .bool(let flag) = found else { throw CortexError.invalidFile(path: path, reason: "\(key): \(found) is not true or false") }
        return flag
    }

    /// An integer for both sides, or [height, width].
    mutating func pair(main: Bool = false, _ name: String) throws -> (Int, Int)? {
        guard let (found, key) = value(main: main, [name]) else { return nil }
        if case .array = found {
            let values = try found.integers(key, path)
            guard values.count == 2 else { throw CortexError.invalidFile(path: path, reason: "\(key): \(values) is not one number or [height, width]") }
            return (values[0], values[1])
        }
        let value = try found.integer(key, path)
        return (value, value)
    }

    /// Refuses keys no option read (a misspelt one would otherwise be ignored).
    func finish() throws {
        if let unknown = mapping.keys.sorted().first(where: { !used.contains($0) }) {
            throw CortexError.invalidFile(path: path, reason: "\(key(unknown)): unknown option of \(layer.type)")
        }
        if let bare, !usedBare {
            throw CortexError.invalidFile(path: path, reason: "\(layer.key).\(layer.type): \(layer.type) takes no value, got \(bare)")
        }
    }
}

/// A parsed YAML/JSON value.
enum ConfigurationValue: Sendable, CustomStringConvertible {
    case null, bool(Bool), integer(Int), number(Double), string(String), array([ConfigurationValue]), object([String: ConfigurationValue])

    init(_ any: Any) {
        switch any {
        case let value as Bool: self = .bool(value)
        case let value as Int: self = .integer(value)
        case let value as Double: self = .number(value)
        case let value as String: self = .string(value)
        case let value as [Any]: self = .array(value.map(ConfigurationValue.init))
        case let value as [String: Any]: self = .object(value.mapValues(ConfigurationValue.init))
        case let value as [AnyHashable: Any]:
            self = .object(Dictionary(uniqueKeysWithValues: value.map { ("\($0.key)", ConfigurationValue($0.value)) }))
        default: self = .null
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .integer(let value): "\(value)"
        case .number(let value): "\(value)"
        case .string(let value): "\"\(value)\""
        case .array(let values): "[" + values.map(\.description).joined(separator: ", ") + "]"
        case .object(let values): "{" + values.keys.sorted().map { "\($0): \(values[$0]!)" }.joined(separator: ", ") + "}"
        }
    }

    /// The value as Foundation objects, for JSONSerialization.
    var foundation: Any {
        switch self {
        case .null: NSNull()
        case .bool(let value): value
        case .integer(let value): value
        case .number(let value): value
        case .string(let value): value
        case .array(let values): values.map(\.foundation)
        case .object(let values): values.mapValues(\.foundation)
        }
    }

    func integer(_ key: String, _ path: String) throws -> Int {
        switch self {
        case .integer(let value): return value
        case .number(let value) where value.rounded() == value && abs(value) < 1e15: return Int(value)
        default: throw CortexError.invalidFile(path: path, reason: "\(key): \(self) is not an integer")
        }
    }

    func number(_ key: String, _ path: String) throws -> Double {
        switch self {
        case .integer(let value): return Double(value)
        case .number(let value): return value
        case .string(let text) where Double(text) != nil: return Double(text)!   // YAML 1.1 reads 1e-3 as text
        default: throw CortexError.invalidFile(path: path, reason: "\(key): \(self) is not a number")
        }
    }

    func string(_ key: String, _ path: String) throws -> String {
        guard case .string(let value) = self else { throw CortexError.invalidFile(path: path, reason: "\(key): \(self) is not text") }
        return value
    }

    func integers(_ key: String, _ path: String) throws -> [Int] {
        guard case .array(let values) = self else { throw CortexError.invalidFile(path: path, reason: "\(key): \(self) is not a list of integers") }
        return try values.enumerated().map { try $1.integer("\(key)[\($0)]", path) }
    }
}
