import CortexCore
import Foundation

/// A module whose projections can be swapped for others (an adapted or a merged one). The
/// attention and MLP blocks of Cortex's language models adopt it; ``LoRAAdapter`` needs it of
/// every parent of a target.
public protocol ChildReplacing: Module {
    /// Puts `module` where the child named `name` (as ``Module/namedChildren()`` names it) is.
    func replaceChild(named name: String, with module: Module & Layer) throws
}

extension ChildReplacing {
    /// The error for a name that is not a replaceable child here.
    public func noReplaceableChild(_ name: String, among names: [String]) -> CortexError {
        .invalidArgument(operation: "replaceChild", reason: "\(type(of: self)) has no replaceable child \"\(name)\" (it has \(names.joined(separator: ", ")))")
    }
}

/// Low-rank adapters on a model's projections, with PEFT's semantics and file format
/// (Hu et al. 2021): ``apply(to:configuration:generator:)`` freezes the model and puts a
/// ``LoRALinear`` in place of every target; the adapter's parameters are then the only
/// trainable ones. ``save(to:)`` writes `adapter_model.safetensors` and `adapter_config.json`
/// with PEFT's key names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`), so
/// `PeftModel.from_pretrained` loads them onto the transformers model, and
/// ``load(directory:into:)`` reads adapters PEFT trained. ``merge()`` folds the update into the
/// base weights for a plain checkpoint.
///
/// ```swift
/// let model = try Llama.load(gguf: "SmolLM2-135M-Instruct.Q4_1.gguf")        // a quantised base: QLoRA
/// let adapter = try LoRAAdapter.apply(to: model, configuration: LoRAConfiguration(rank: 8, alpha: 16,
///                                                                   targetModules: ["q_proj", "v_proj"]))
/// let optimizer = AdamW(adapter.parameters(), learningRate: 2e-4)
/// // ... train ...
/// try adapter.save(to: "runs/lora")
/// ```
public final class LoRAAdapter: @unchecked Sendable {
    /// The prefix PEFT puts before a module's path in adapter files (`PeftModel.base_model.model`).
    public static let keyPrefix = "base_model.model."
    public static let weightsFile = "adapter_model.safetensors"
    public static let configurationFile = "adapter_config.json"

    public let model: Module
    public private(set) var configuration: LoRAConfiguration
    /// The adapted layers with their dotted paths in the model, in the model's order.
    public private(set) var layers: [(path: String, layer: LoRALinear)]

    private init(model: Module, configuration: LoRAConfiguration, layers: [(path: String, layer: LoRALinear)]) {
        self.model = model
        self.configuration = configuration
        self.layers = layers
    }

    /// Freezes every parameter of `model` and adapts each projection the configuration targets.
    /// A target name that matches no projection is an error listing the names there are.
    public static func apply(to model: Module, configuration: LoRAConfiguration, generator: RandomGenerator = .default) throws -> LoRAAdapter {
        try configuration.validate()
        let modules = model.namedModules()
        if let adapted = modules.first(where: { $0.1 is LoRALinear }) {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "the model already has an adapter (at \(adapted.0))")
        }
        var targets: [(path: String, layer: any LoRAAdaptable, holder: (parent: any ChildReplacing, name: String))] = []
        for (path, module) in modules where !path.isEmpty {
            guard try configuration.targets(path) else { continue }
            guard let layer = module as? any LoRAAdaptable else {
                throw CortexError.invalidArgument(operation: "LoRA", reason: "target \(path) is a \(type(of: module)), not a linear projection")
            }
            // Every holder is found before anything changes, so a refusal leaves the model as it was.
            targets.append((path, layer, try holder(of: path, in: model)))
        }
        let adaptable = Set(modules.compactMap { path, module in module is any LoRAAdaptable ? path.split(separator: ".").last.map(String.init) : nil })
        let known = "the model's projections are named \(adaptable.sorted().joined(separator: ", "))"
        switch configuration.targetModules {
        case let .names(names):
            for name in names where !targets.contains(where: { LoRAConfiguration.path($0.path, matches: name) }) {
                throw CortexError.invalidArgument(operation: "LoRA", reason: "target module \"\(name)\" matches no layer; \(known)")
            }
        case let .pattern(pattern):
            guard !targets.isEmpty else {
                throw CortexError.invalidArgument(operation: "LoRA", reason: "target_modules \"\(pattern)\" matches no layer; \(known)")
            }
        }
        var configuration = configuration
        configuration.fanInFanOut = targets.contains { $0.layer.storesWeightTransposed }
        model.freeze()
        var layers: [(path: String, layer: LoRALinear)] = []
        for (path, base, holder) in targets {
            let adapted = try LoRALinear(base: base, rank: configuration.rank, alpha: configuration.alpha, dropout: configuration.dropout,
                                         rankStabilized: configuration.rankStabilized, generator: generator)
            try holder.parent.replaceChild(named: holder.name, with: adapted)
            layers.append((path, adapted))
        }
        return LoRAAdapter(model: model, configuration: configuration, layers: layers)
    }

    /// The module holding the one at dotted path `path` of `model`, and that one's name there;
    /// an error unless the holder can swap it.
    static func holder(of path: String, in model: Module) throws -> (parent: any ChildReplacing, name: String) {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false)
        let parent = try model.submodule(named: parts.dropLast().joined(separator: "."))
        guard let replacing = parent as? any ChildReplacing else {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "target \(path) is held by a \(type(of: parent)), which cannot swap its projections")
        }
        return (replacing, String(parts.last!))
    }

    /// Puts `module` at dotted path `path` of `model`.
    static func replace(_ path: String, in model: Module, with module: Module & Layer) throws {
        let (parent, name) = try holder(of: path, in: model)
        try parent.replaceChild(named: name, with: module)
    }

    // MARK: Parameters

    /// The adapter's tensors under PEFT's keys, A then B for each layer in the model's order.
    public func namedParameters() -> [(String, Tensor)] {
        layers.flatMap { path, layer in
            [(Self.keyPrefix + path + ".lora_A.weight", layer.loraA.weight), (Self.keyPrefix + path + ".lora_B.weight", layer.loraB.weight)]
        }
    }

    /// The trainable tensors, for an optimizer.
    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Number of adapter parameter elements.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Parameter elements of the model without the adapter (a quantised base counts its
    /// matrices' elements).
    public var baseParameterCount: Int {
        let adapterTensors = parameterCount
        let dense = model.parameterCount() - adapterTensors
        var quantized = 0
        for (_, module) in model.namedModules() {
            if let linear = module as? QuantizedLinear { quantized += linear.matrix.rows * linear.matrix.columns }
            if let embedding = module as? QuantizedEmbedding { quantized += embedding.matrix.rows * embedding.matrix.columns }
        }
        return dense + quantized
    }

    // MARK: Files

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into `directory`, replacing
    /// an earlier adapter there as one unit.
    public func save(to directory: String) throws {
        let state = Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.0, $0.1.detach()) })
        try AtomicDirectory.write(to: directory, owning: [Self.weightsFile, Self.configurationFile]) { staging in
            try Safetensors.save(state, metadata: ["format": "pt"], to: staging + "/" + Self.weightsFile)
            try AtomicFile.writeJSON(configuration, to: staging + "/" + Self.configurationFile)
        }
    }

    /// Reads an adapter directory (Cortex's or PEFT's) and applies it to `model`.
    public static func load(directory: String, into model: Module) throws -> LoRAAdapter {
        let configurationPath = directory + "/" + configurationFile
        guard let data = FileManager.default.contents(atPath: configurationPath) else {
            throw CortexError.io(path: configurationPath, reason: "no adapter configuration here")
        }
        let configuration: LoRAConfiguration
        do {
            configuration = try JSONDecoder().decode(LoRAConfiguration.self, from: data)
        } catch let error as CortexError {
            throw CortexError.invalidFile(path: configurationPath, reason: error.description)
        } catch {
            throw CortexError.invalidFile(path: configurationPath, reason: "not a LoRA configuration: \(error)")
        }
        let weightsPath = directory + "/" + weightsFile
        let file = try Safetensors.load(weightsPath)
        let adapter: LoRAAdapter
        do {
            adapter = try apply(to: model, configuration: configuration)
        } catch let CortexError.invalidArgument(_, reason) {
            throw CortexError.invalidFile(path: configurationPath, reason: reason)
        }
        do {
            try adapter.loadWeights(file.tensors)
        } catch let CortexError.invalidArgument(_, reason) {
            try adapter.remove()
            throw CortexError.invalidFile(path: weightsPath, reason: reason)
        }
        return adapter
    }

    /// Copies adapter tensors under PEFT's keys into the adapter; every missing, unexpected or
    /// misshapen key is named in one error (an adapter trained on another base shows here).
    public func loadWeights(_ state: [String: Tensor]) throws {
        // Some writers keep PEFT's adapter name in the key (`lora_A.default.weight`).
        let normalized = Dictionary(state.map { ($0.key.replacingOccurrences(of: ".default.weight", with: ".weight"), $0.value) },
                                    uniquingKeysWith: { first, _ in first })
        let expected = namedParameters()
        var problems: [String] = []
        let missing = expected.map(\.0).filter { normalized[$0] == nil }
        let unexpected = Set(normalized.keys).subtracting(expected.map(\.0)).sorted()
        func listed(_ keys: [String]) -> String {
            keys.prefix(6).joined(separator: ", ") + (keys.count > 6 ? " and \(keys.count - 6) more" : "")
        }
        if !missing.isEmpty { problems.append("missing keys: \(listed(missing))") }
        if !unexpected.isEmpty { problems.append("unexpected keys: \(listed(unexpected))") }
        for (name, target) in expected {
            if let source = normalized[name], source.shape != target.shape {
                problems.append("\(name) has shape \(source.shape) in the adapter but \(target.shape) in the model")
            }
        }
        guard problems.isEmpty else {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "the adapter does not fit this model (trained for another base?): "
                                              + problems.joined(separator: "; "))
        }
        try withNoGrad {
            for (name, target) in expected { try target.copy(from: normalized[name]!.to(target.dtype)) }
        }
    }

    // MARK: Merging

    /// Folds every layer's update into its base weight and puts the base back in the model
    /// (PEFT's `merge_and_unload`): the model then computes what it computed with the adapter,
    /// with no adapter left. Quantised bases become dense layers.
    public func merge() throws {
        for (path, layer) in layers { try Self.replace(path, in: model, with: layer.merged()) }
        layers = []
    }

    /// Puts the base layers back without their updates (PEFT's `unload`).
    public func remove() throws {
        for (path, layer) in layers { try Self.replace(path, in: model, with: layer.baseLayer) }
        layers = []
    }
}
