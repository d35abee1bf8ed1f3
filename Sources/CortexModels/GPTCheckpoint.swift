import CortexCore
import CortexNN
import Foundation

/// Hugging Face GPT-2 checkpoints: `config.json` + `model.safetensors` (float32, float16 or
/// bfloat16, memory-mapped), from a directory or by name from the Hugging Face cache.
extension GPT {
    /// Loads a Hugging Face GPT-2 checkpoint directory. Missing, unexpected and mis-shaped
    /// tensors are all named in one error.
    ///
    /// ```swift
    /// let model = try GPT.load(directory: "checkpoints/gpt2")
    /// ```
    public static func load(directory: String) throws -> GPT {
        let configuration = try GPTConfiguration.load(path: (directory as NSString).appendingPathComponent("config.json"))
        let weightsPath = (directory as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw CortexError.io(path: weightsPath, reason: "missing (Cortex reads safetensors checkpoints)")
        }
        let file = try Safetensors.load(weightsPath)
        var state: [String: Tensor] = [:]
        for (key, tensor) in file.tensors {
            // GPT2Model checkpoints lack the "transformer." prefix; attention-mask buffers of old
            // checkpoints and the tied lm_head are not parameters here.
            if key.hasSuffix(".attn.bias") || key.hasSuffix(".attn.masked_bias") { continue }
            if key == "lm_head.weight" { continue }
            state[key.hasPrefix("transformer.") ? key : "transformer." + key] = tensor
        }
        // The model takes the mapped tensors themselves (float32 ones are not copied at all).
        let model = GPT(configuration, initialize: false)
        do {
            try model.loadStateDict(state, assign: true)
        } catch let error as CortexError {
            throw CortexError.invalidFile(path: weightsPath, reason: "does not match config.json: \(error.description)")
        }
        return model
    }

    /// The directory of `name` in the Hugging Face hub cache ($HF_HOME/hub, else
    /// ~/.cache/huggingface/hub): models--<org>--<name>/snapshots/<revision>, the revision in
    /// refs/main when present.
    public static func cachedDirectory(name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let home = environment["HF_HOME"] ?? ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".cache/huggingface")
        let hub = environment["HF_HUB_CACHE"] ?? (home as NSString).appendingPathComponent("hub")
        let model = (hub as NSString).appendingPathComponent("models--" + name.replacingOccurrences(of: "/", with: "--"))
        let snapshots = (model as NSString).appendingPathComponent("snapshots")
        if let revision = try? String(contentsOfFile: (model as NSString).appendingPathComponent("refs/main"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !revision.isEmpty {
            let directory = (snapshots as NSString).appendingPathComponent(revision)
            if FileManager.default.fileExists(atPath: directory) { return directory }
        }
        guard let revision = (try? FileManager.default.contentsOfDirectory(atPath: snapshots))?.sorted().first else {
            throw CortexError.io(path: model, reason: "model \"\(name)\" is not in the Hugging Face cache (download it with huggingface-cli)")
        }
        return (snapshots as NSString).appendingPathComponent(revision)
    }

    /// Loads `nameOrDirectory`: a checkpoint directory, or a model name in the Hugging Face cache.
    public static func load(_ nameOrDirectory: String) throws -> GPT {
        try load(directory: checkpointDirectory(nameOrDirectory))
    }

    /// `nameOrDirectory` itself when it is a directory, else the model's directory in the
    /// Hugging Face cache.
    public static func checkpointDirectory(_ nameOrDirectory: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrDirectory, isDirectory: &isDirectory), isDirectory.boolValue {
            return nameOrDirectory
        }
        return try cachedDirectory(name: nameOrDirectory)
    }

    /// Writes a Hugging Face-compatible checkpoint: model.safetensors (the tied lm_head left
    /// out, as transformers saves it) and config.json.
    public func saveCheckpoint(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try save(to: (directory as NSString).appendingPathComponent("model.safetensors"))
        let config = try configuration.huggingFaceJSON()
        try AtomicFile.write(to: (directory as NSString).appendingPathComponent("config.json")) { handle in
            try config.withUnsafeBytes { try handle.write($0) }
        }
    }
}

extension GPTConfiguration {
    /// Reads a Hugging Face GPT-2 config.json (dropouts and epsilon default as transformers does).
    public static func load(path: String) throws -> GPTConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CortexError.invalidFile(path: path, reason: "not a JSON object")
        }
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            if let value = json[key] as? Int, value > 0 { return value }
            if json[key] == nil || json[key] is NSNull, let fallback { return fallback }
            throw CortexError.invalidFile(path: path, reason: "\"\(key)\" must be a positive integer, got \(json[key].map { "\($0)" } ?? "nothing")")
        }
        let size = try integer("n_embd"), heads = try integer("n_head")
        guard size % heads == 0 else { throw CortexError.invalidFile(path: path, reason: "n_embd \(size) is not divisible by n_head \(heads)") }
        if let inner = json["n_inner"] as? Int, inner != 4 * size {
            throw CortexError.invalidFile(path: path, reason: "n_inner \(inner) is not 4 * n_embd; only GPT-2's 4x MLP is supported")
        }
        if let activation = json["activation_function"] as? String, !["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(activation) {
            throw CortexError.invalidFile(path: path, reason: "activation_function \(activation) is not GPT-2's tanh GELU")
        }
        if let tied = json["tie_word_embeddings"] as? Bool, !tied {
            throw CortexError.invalidFile(path: path, reason: "tie_word_embeddings false is not supported (GPT-2 ties lm_head to wte)")
        }
        let dropout = (json["resid_pdrop"] as? Double).map(Float.init) ?? 0.1
        let epsilon = (json["layer_norm_epsilon"] as? Double).map(Float.init) ?? 1e-5
        return GPTConfiguration(vocabularySize: try integer("vocab_size"), contextLength: try integer("n_positions", default: 1024),
                                embeddingSize: size, layers: try integer("n_layer"), heads: heads, dropout: dropout, layerNormEpsilon: epsilon)
    }

    /// config.json as transformers writes it for GPT2LMHeadModel.
    public func huggingFaceJSON() throws -> Data {
        var object: [String: Any] = [
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
            "vocab_size": vocabularySize, "n_positions": contextLength, "n_ctx": contextLength, "n_embd": embeddingSize,
            "n_layer": layers, "n_head": heads, "resid_pdrop": Double(dropout), "embd_pdrop": Double(dropout), "attn_pdrop": Double(dropout),
            "layer_norm_epsilon": Double(layerNormEpsilon), "initializer_range": 0.02, "tie_word_embeddings": true,
            "scale_attn_weights": true, "use_cache": true,
        ]
        // GPT-2's end-of-text token where the vocabulary has it; none otherwise (transformers
        // would assume 50256).
        let endOfText: Any = vocabularySize > 50256 ? 50256 : NSNull()
        (object["bos_token_id"], object["eos_token_id"]) = (endOfText, endOfText)
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}

/// GPT-2 from GGUF files (llama.cpp's convert_hf_to_gguf.py output, architecture "gpt2"): the
/// projections and the tied token embedding stay in their blocks (F32, F16, Q8_0, Q4_0, ...),
/// memory-mapped; norms, biases and position embeddings are read as float32.
extension GPT {
    /// ```swift
    /// let model = try GPT.load(gguf: "gpt2-q8_0.gguf")
    /// ```
    public static func load(gguf path: String) throws -> GPT {
        try load(gguf: GGUF.load(path))
    }

    public static func load(gguf file: GGUF.File) throws -> GPT {
        let architecture = try file.string("general.architecture")
        guard architecture == "gpt2" else {
            throw CortexError.invalidFile(path: file.path, reason: "architecture \"\(architecture)\" is not GPT-2 (\"gpt2\")")
        }
        let size = try file.integer("gpt2.embedding_length"), heads = try file.integer("gpt2.attention.head_count")
        guard heads > 0, size % heads == 0 else {
            throw CortexError.invalidFile(path: file.path, reason: "embedding length \(size) is not divisible by \(heads) heads")
        }
        if let feedForward = file.metadata["gpt2.feed_forward_length"]?.integer, feedForward != 4 * size {
            throw CortexError.invalidFile(path: file.path, reason: "feed-forward length \(feedForward) is not 4 × \(size); only GPT-2's 4x MLP is supported")
        }
        let embedding = try file.matrix("token_embd.weight")
        let configuration = GPTConfiguration(vocabularySize: embedding.rows, contextLength: try file.integer("gpt2.context_length"),
                                             embeddingSize: size, layers: try file.integer("gpt2.block_count"), heads: heads, dropout: 0,
                                             layerNormEpsilon: Float(file.metadata["gpt2.attention.layer_norm_epsilon"]?.number ?? 1e-5))
        if file.tensors.contains(where: { $0.name == "output.weight" }) {
            throw CortexError.invalidFile(path: file.path, reason: "has an untied output.weight; GPT-2 ties its output to token_embd.weight")
        }
        func vector(_ name: String, _ count: Int) throws -> Tensor {
            let tensor = try file.tensor(name)
            guard tensor.shape == [count] else { throw CortexError.invalidFile(path: file.path, reason: "\(name) is \(tensor.shape), expected [\(count)]") }
            return tensor
        }
        func linear(_ name: String, rows: Int, columns: Int) throws -> QuantizedLinear {
            let matrix = try file.matrix(name + ".weight")
            guard matrix.shape == [rows, columns] else {
                throw CortexError.invalidFile(path: file.path, reason: "\(name).weight is \(matrix.shape), expected [\(rows), \(columns)]")
            }
            return try QuantizedLinear(matrix.packedIfRepacking(), bias: vector(name + ".bias", rows))
        }
        func norm(_ name: String) throws -> LayerNorm {
            let layer = LayerNorm([size], epsilon: configuration.layerNormEpsilon)
            layer.weight = try vector(name + ".weight", size)
            layer.bias = try vector(name + ".bias", size)
            return layer
        }
        guard embedding.columns == size else {
            throw CortexError.invalidFile(path: file.path, reason: "token_embd.weight is \(embedding.shape), expected rows of \(size)")
        }
        let positions = try file.tensor("position_embd.weight")
        guard positions.shape == [configuration.contextLength, size] else {
            throw CortexError.invalidFile(path: file.path, reason: "position_embd.weight is \(positions.shape), expected [\(configuration.contextLength), \(size)]")
        }
        let blocks = try (0..<configuration.layers).map { index in
            let prefix = "blk.\(index)."
            return GPTBlock(firstNorm: try norm(prefix + "attn_norm"),
                            attention: GPTAttention(cAttn: try linear(prefix + "attn_qkv", rows: 3 * size, columns: size),
                                                    cProj: try linear(prefix + "attn_output", rows: size, columns: size), heads: heads),
                            secondNorm: try norm(prefix + "ffn_norm"),
                            feedForward: GPTMLP(cFc: try linear(prefix + "ffn_up", rows: 4 * size, columns: size),
                                                cProj: try linear(prefix + "ffn_down", rows: size, columns: 4 * size)))
        }
        let body = GPTBody(wte: QuantizedEmbedding(embedding.packedIfRepacking()), wpe: Embedding(weight: positions), h: blocks, lnF: try norm("output_norm"))
        let model = GPT(configuration: configuration, transformer: body)
        model.eval()
        return model
    }
}
