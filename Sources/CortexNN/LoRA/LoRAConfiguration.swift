import CortexCore
import Foundation

/// Which modules get an adapter, and how large, with PEFT's `LoraConfig` names in its JSON
/// form (`adapter_config.json`), so adapters move between Cortex and PEFT both ways.
///
/// ```swift
/// let configuration = try LoRAConfiguration(rank: 8, alpha: 16, targetModules: ["q_proj", "v_proj"])
/// ```
public struct LoRAConfiguration: Codable, Sendable, Equatable {
    /// Which modules are adapted: names matched as PEFT matches a list (the module's dotted
    /// path equals the name or ends with "." + name), or one regular expression that must match
    /// the whole path.
    public enum Targets: Codable, Sendable, Equatable {
        case names([String])
        case pattern(String)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let pattern = try? container.decode(String.self) { self = .pattern(pattern) } else { self = .names(try container.decode([String].self)) }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case let .names(names): try container.encode(names)
            case let .pattern(pattern): try container.encode(pattern)
            }
        }
    }

    public var rank: Int
    public var alpha: Double
    public var dropout: Float
    public var targetModules: Targets
    /// α / √r instead of α / r (PEFT's `use_rslora`).
    public var rankStabilized: Bool
    /// Whether the adapted weights are stored (in, out), as GPT-2's `Conv1D` stores them.
    public var fanInFanOut: Bool
    public var baseModelNameOrPath: String?
    public var taskType: String

    public init(rank: Int = 8, alpha: Double = 8, dropout: Float = 0, targetModules: [String], rankStabilized: Bool = false,
                baseModelNameOrPath: String? = nil) throws {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = .names(targetModules)
        self.rankStabilized = rankStabilized
        fanInFanOut = false
        self.baseModelNameOrPath = baseModelNameOrPath
        taskType = "CAUSAL_LM"
        try validate()
    }

    /// Throws unless the numbers make an adapter.
    public func validate() throws {
        guard rank > 0 else { throw CortexError.invalidArgument(operation: "LoRA", reason: "the rank r must be positive, got \(rank)") }
        guard alpha.isFinite, alpha > 0 else { throw CortexError.invalidArgument(operation: "LoRA", reason: "lora_alpha must be positive, got \(alpha)") }
        guard dropout >= 0, dropout < 1 else { throw CortexError.invalidArgument(operation: "LoRA", reason: "lora_dropout must be in [0, 1), got \(dropout)") }
        if case let .names(names) = targetModules, names.isEmpty {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "target_modules names no module")
        }
    }

    /// PEFT's rule for a name in a list of targets: the whole path, or its last components.
    static func path(_ path: String, matches name: String) -> Bool { path == name || path.hasSuffix("." + name) }

    /// Whether the module at dotted path `path` is a target.
    func targets(_ path: String) throws -> Bool {
        switch targetModules {
        case let .names(names): return names.contains { Self.path(path, matches: $0) }
        case let .pattern(pattern):
            let expression: Regex<AnyRegexOutput>
            do { expression = try Regex(pattern) } catch {
                throw CortexError.invalidArgument(operation: "LoRA", reason: "target_modules \"\(pattern)\" is not a regular expression: \(error)")
            }
            return (try? expression.wholeMatch(in: path)) != nil
        }
    }

    enum CodingKeys: String, CodingKey {
        case rank = "r", alpha = "lora_alpha", dropout = "lora_dropout", targetModules = "target_modules", rankStabilized = "use_rslora"
        case fanInFanOut = "fan_in_fan_out", baseModelNameOrPath = "base_model_name_or_path", taskType = "task_type"
        case peftType = "peft_type", bias = "bias", useDora = "use_dora", rankPattern = "rank_pattern", alphaPattern = "alpha_pattern"
        case layersToTransform = "layers_to_transform", modulesToSave = "modules_to_save", inferenceMode = "inference_mode"
        case initLoraWeights = "init_lora_weights", layersPattern = "layers_pattern", revision = "revision"
        case loraBias = "lora_bias", excludeModules = "exclude_modules", layerReplication = "layer_replication"
        case targetParameters = "target_parameters", trainableTokenIndices = "trainable_token_indices"
    }

    /// Reads PEFT's `adapter_config.json`; settings Cortex does not implement (DoRA, per-module
    /// ranks, bias training, extra trained modules, layer subsets) are refused by name rather
    /// than ignored.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        guard type == "LORA" else { throw CortexError.invalidArgument(operation: "LoRA", reason: "peft_type \"\(type)\" is not LORA") }
        rank = try container.decodeIfPresent(Int.self, forKey: .rank) ?? 8
        alpha = try container.decodeIfPresent(Double.self, forKey: .alpha) ?? 8
        dropout = try container.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        guard let targets = try container.decodeIfPresent(Targets.self, forKey: .targetModules) else {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "target_modules is missing (Cortex has no per-architecture default)")
        }
        targetModules = targets
        rankStabilized = try container.decodeIfPresent(Bool.self, forKey: .rankStabilized) ?? false
        fanInFanOut = try container.decodeIfPresent(Bool.self, forKey: .fanInFanOut) ?? false
        baseModelNameOrPath = try container.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
        taskType = try container.decodeIfPresent(String.self, forKey: .taskType) ?? "CAUSAL_LM"
        if let bias = try container.decodeIfPresent(String.self, forKey: .bias), bias != "none" {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "bias \"\(bias)\" is not supported (only \"none\")")
        }
        if try container.decodeIfPresent(Bool.self, forKey: .useDora) == true {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "use_dora is not supported")
        }
        for key in [CodingKeys.rankPattern, .alphaPattern] {
            if let pattern = try container.decodeIfPresent([String: Double].self, forKey: key), !pattern.isEmpty {
                throw CortexError.invalidArgument(operation: "LoRA", reason: "\(key.rawValue) \(pattern) is not supported")
            }
        }
        if container.contains(.layersToTransform), !(try container.decodeNil(forKey: .layersToTransform)) {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "layers_to_transform is not supported")
        }
        if try container.decodeIfPresent(Bool.self, forKey: .loraBias) == true {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "lora_bias is not supported")
        }
        for key in [CodingKeys.excludeModules, .layerReplication, .targetParameters, .trainableTokenIndices] where container.contains(key) {
            if try !container.decodeNil(forKey: key) {
                throw CortexError.invalidArgument(operation: "LoRA", reason: "\(key.rawValue) is not supported")
            }
        }
        if let modules = try container.decodeIfPresent([String].self, forKey: .modulesToSave), !modules.isEmpty {
            throw CortexError.invalidArgument(operation: "LoRA", reason: "modules_to_save \(modules) is not supported")
        }
        try validate()
    }

    /// Writes the fields PEFT's `LoraConfig` reads, with its defaults for the rest.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("LORA", forKey: .peftType)
        try container.encode(rank, forKey: .rank)
        try container.encode(alpha, forKey: .alpha)
        try container.encode(dropout, forKey: .dropout)
        try container.encode(targetModules, forKey: .targetModules)
        try container.encode(rankStabilized, forKey: .rankStabilized)
        try container.encode(fanInFanOut, forKey: .fanInFanOut)
        try container.encode(baseModelNameOrPath, forKey: .baseModelNameOrPath)
        try container.encode(taskType, forKey: .taskType)
        try container.encode("none", forKey: .bias)
        try container.encode(false, forKey: .useDora)
        try container.encode(true, forKey: .inferenceMode)
        try container.encode(true, forKey: .initLoraWeights)
        try container.encode([String: Double](), forKey: .rankPattern)
        try container.encode([String: Double](), forKey: .alphaPattern)
        try container.encodeNil(forKey: .layersToTransform)
        try container.encodeNil(forKey: .layersPattern)
        try container.encodeNil(forKey: .modulesToSave)
        try container.encodeNil(forKey: .revision)
    }
}
