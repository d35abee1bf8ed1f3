import CortexCore
import CortexNN
import Foundation

/// Llama checkpoints: GGUF files (quantised blocks kept as they are, memory-mapped) and Hugging
/// Face directories (config.json + model.safetensors, float32/float16/bfloat16).
extension Llama {
    /// The tensors one decoder needs, named by role; each source maps them to its own names.
    enum Role {
        case embedding, finalNorm, output
        case attentionNorm(Int), query(Int), key(Int), value(Int), attentionOutput(Int)
        case feedForwardNorm(Int), gate(Int), up(Int), down(Int)

        var huggingFace: String {
            switch self {
            case .embedding: "model.embed_tokens.weight"
            case .finalNorm: "model.norm.weight"
            case .output: "lm_head.weight"
            case let .attentionNorm(i): "model.layers.\(i).input_layernorm.weight"
            case let .query(i): "model.layers.\(i).self_attn.q_proj.weight"
            case let .key(i): "model.layers.\(i).self_attn.k_proj.weight"
            case let .value(i): "model.layers.\(i).self_attn.v_proj.weight"
            case let .attentionOutput(i): "model.layers.\(i).self_attn.o_proj.weight"
            case let .feedForwardNorm(i): "model.layers.\(i).post_attention_layernorm.weight"
            case let .gate(i): "model.layers.\(i).mlp.gate_proj.weight"
            case let .up(i): "model.layers.\(i).mlp.up_proj.weight"
            case let .down(i): "model.layers.\(i).mlp.down_proj.weight"
            }
        }

        var gguf: String {
            switch self {
            case .embedding: "token_embd.weight"
            case .finalNorm: "output_norm.weight"
            case .output: "output.weight"
            case let .attentionNorm(i): "blk.\(i).attn_norm.weight"
            case let .query(i): "blk.\(i).attn_q.weight"
            case let .key(i): "blk.\(i).attn_k.weight"
            case let .value(i): "blk.\(i).attn_v.weight"
            case let .attentionOutput(i): "blk.\(i).attn_output.weight"
            case let .feedForwardNorm(i): "blk.\(i).ffn_norm.weight"
            case let .gate(i): "blk.\(i).ffn_gate.weight"
            case let .up(i): "blk.\(i).ffn_up.weight"
            case let .down(i): "blk.\(i).ffn_down.weight"
            }
        }
    }

    /// Builds the model from `matrix` (a projection of the given (out, in) shape, or the
    /// embedding) and `vector` (a norm weight), collecting every missing or mis-shaped tensor
    /// into one error.
    static func assemble(_ c: LlamaConfiguration, source: String, pairing: RotaryEmbedding.Pairing, frequencyFactors: [Float]? = nil,
                         matrix: (Role, [Int]) throws -> (Module & Layer), embedding: ([Int]) throws -> (Module & Layer),
                         vector: (Role, Int) throws -> Tensor) throws -> Llama {
        try c.validate(source: source)
        var problems: [String] = []
        func collect<T>(_ make: () throws -> T) -> T? {
            do { return try make() } catch let error as CortexError {
                if case let .invalidFile(_, reason) = error { problems.append(reason) } else { problems.append(error.description) }
            } catch { problems.append("\(error)") }
            return nil
        }
        let rope = try RotaryEmbedding(dimension: c.headSize, maximumPositions: c.contextLength, theta: c.ropeTheta, scaling: c.ropeScaling,
                                       frequencyFactors: frequencyFactors, pairing: pairing)
        let hidden = c.hiddenSize
        var layers: [LlamaDecoderLayer] = []
        for i in 0..<c.layers {
            let q = collect { try matrix(.query(i), [c.heads * c.headSize, hidden]) }
            let k = collect { try matrix(.key(i), [c.keyValueHeads * c.headSize, hidden]) }
            let v = collect { try matrix(.value(i), [c.keyValueHeads * c.headSize, hidden]) }
            let o = collect { try matrix(.attentionOutput(i), [hidden, c.heads * c.headSize]) }
            let gate = collect { try matrix(.gate(i), [c.intermediateSize, hidden]) }
            let up = collect { try matrix(.up(i), [c.intermediateSize, hidden]) }
            let down = collect { try matrix(.down(i), [hidden, c.intermediateSize]) }
            let attentionNorm = collect { try vector(.attentionNorm(i), hidden) }
            let feedForwardNorm = collect { try vector(.feedForwardNorm(i), hidden) }
            if let q, let k, let v, let o, let gate, let up, let down, let attentionNorm, let feedForwardNorm {
                layers.append(LlamaDecoderLayer(selfAttn: LlamaAttention(qProj: q, kProj: k, vProj: v, oProj: o, configuration: c, rope: rope),
                                                mlp: LlamaMLP(gateProj: gate, upProj: up, downProj: down),
                                                inputLayernorm: RMSNorm(weight: attentionNorm, epsilon: c.rmsNormEpsilon),
                                                postAttentionLayernorm: RMSNorm(weight: feedForwardNorm, epsilon: c.rmsNormEpsilon)))
            }
        }
        let embed = collect { try embedding([c.vocabularySize, hidden]) }
        let norm = collect { try vector(.finalNorm, hidden) }
        let head = c.tieWordEmbeddings ? nil : collect { try matrix(.output, [c.vocabularySize, hidden]) }
        guard problems.isEmpty, let embed, let norm, c.tieWordEmbeddings || head != nil else {
            throw CortexError.invalidFile(path: source, reason: "does not hold the Llama the configuration describes: " + problems.joined(separator: "; "))
        }
        return Llama(configuration: c, model: LlamaBody(embedTokens: embed, layers: layers, norm: RMSNorm(weight: norm, epsilon: c.rmsNormEpsilon)),
                     lmHead: head)
    }

    /// Loads a GGUF file of the "llama" architecture, or of "qwen2" (a Llama with biases on the
    /// query, key and value projections, rotating halves of each head rather than neighbour
    /// pairs). Projections stay in their blocks (QuantizedLinear over the mapped file); norms
    /// are dequantised. The output projection is the token embedding when the file has no
    /// `output.weight`.
    ///
    /// ```swift
    /// let model = try Llama.load(gguf: "SmolLM2-135M-Instruct.Q4_1.gguf")
    /// ```
    public static func load(gguf path: String) throws -> Llama {
        try load(gguf: GGUF.load(path))
    }

    /// The GGUF architectures ``load(gguf:)-(GGUF.File)`` reads.
    public static let ggufArchitectures = ["llama", "qwen2"]

    public static func load(gguf file: GGUF.File) throws -> Llama {
        let architecture = try file.string("general.architecture")
        guard ggufArchitectures.contains(architecture) else {
            throw CortexError.invalidFile(path: file.path, reason: "architecture \"\(architecture)\" is not a Llama (\"llama\", \"qwen2\")")
        }
        func key(_ name: String) -> String { architecture + "." + name }
        let embeddingInfo = try file.info("token_embd.weight")
        let hidden = try file.integer(key("embedding_length")), heads = try file.integer(key("attention.head_count"))
        let headSize = file.metadata[key("attention.key_length")]?.integer ?? hidden / max(heads, 1)
        var scaling: RotaryEmbedding.Scaling?
        if file.metadata[key("rope.scaling.type")]?.string == "linear", let factor = file.metadata[key("rope.scaling.factor")]?.number, factor != 1 {
            scaling = .linear(factor: factor)
        } else if let type = file.metadata[key("rope.scaling.type")]?.string, type != "none", type != "linear" {
            throw CortexError.invalidFile(path: file.path, reason: "rope scaling \"\(type)\" is not supported (linear is)")
        }
        let configuration = LlamaConfiguration(
            vocabularySize: file.metadata[key("vocab_size")]?.integer ?? embeddingInfo.rows, hiddenSize: hidden,
            intermediateSize: try file.integer(key("feed_forward_length")), layers: try file.integer(key("block_count")), heads: heads,
            keyValueHeads: file.metadata[key("attention.head_count_kv")]?.integer, headSize: headSize,
            contextLength: try file.integer(key("context_length")),
            rmsNormEpsilon: Float(try file.number(key("attention.layer_norm_rms_epsilon"))),
            ropeTheta: file.metadata[key("rope.freq_base")]?.number ?? 10_000, ropeScaling: scaling,
            tieWordEmbeddings: !file.tensors.contains { $0.name == "output.weight" })
        if let dimensions = file.metadata[key("rope.dimension_count")]?.integer, dimensions != configuration.headSize {
            throw CortexError.invalidFile(path: file.path, reason: "rotary dimension \(dimensions) differs from the head size \(configuration.headSize) (partial rotary is not supported)")
        }
        let frequencyFactors = file.tensors.contains { $0.name == "rope_freqs.weight" } ? try file.tensor("rope_freqs.weight").toFloatArray() : nil
        func checked(_ name: String, _ shape: [Int]) throws -> QuantizedMatrix {
            let matrix = try file.matrix(name)
            guard matrix.shape == shape else { throw CortexError.invalidFile(path: file.path, reason: "\(name) is \(matrix.shape), expected \(shape)") }
            return matrix
        }
        // llama.cpp's converter permutes a Llama's query and key rows for neighbour-pair
        // rotation; a Qwen2's it leaves in Hugging Face's order (llama.cpp's NEOX rotation).
        let names = Set(file.tensors.map(\.name))
        return try assemble(configuration, source: file.path, pairing: architecture == "qwen2" ? .halves : .interleaved,
                            frequencyFactors: frequencyFactors,
                            matrix: { role, shape in
                                let biasName = role.gguf.replacingOccurrences(of: ".weight", with: ".bias")
                                let bias = names.contains(biasName) ? try file.tensor(biasName) : nil
                                return try QuantizedLinear(checked(role.gguf, shape).packedIfRepacking(), bias: bias)
                            },
                            embedding: { shape in
                                // Packed for the tied output projection; lookups read the rows.
                                let matrix = try checked("token_embd.weight", shape)
                                return QuantizedEmbedding(configuration.tieWordEmbeddings ? matrix.packedIfRepacking() : matrix)
                            },
                            vector: { role, size in
                                let weight = try file.tensor(role.gguf)
                                guard weight.shape == [size] else { throw CortexError.invalidFile(path: file.path, reason: "\(role.gguf) is \(weight.shape), expected [\(size)]") }
                                return weight
                            })
    }

    /// Loads a Hugging Face Llama directory: config.json and model.safetensors (the mapped
    /// float32 tensors become the parameters; float16 and bfloat16 ones are converted).
    public static func load(directory: String) throws -> Llama {
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        let configuration = try LlamaConfiguration.load(path: configPath)
        let weightsPath = (directory as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw CortexError.io(path: weightsPath, reason: "missing (Cortex reads safetensors checkpoints)")
        }
        let file = try Safetensors.load(weightsPath)
        var unused = Set(file.names)
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let tensor = file.tensors[name] else { throw CortexError.invalidFile(path: weightsPath, reason: "\(name) is missing") }
            guard tensor.shape == shape else { throw CortexError.invalidFile(path: weightsPath, reason: "\(name) is \(tensor.shape), expected \(shape)") }
            unused.remove(name)
            return try tensor.to(.float32)
        }
        let model = try assemble(configuration, source: weightsPath, pairing: .halves,
                                 matrix: { role, shape in try Linear(weight: try tensor(role.huggingFace, shape)) },
                                 embedding: { shape in Embedding(weight: try tensor(Role.embedding.huggingFace, shape)) },
                                 vector: { role, size in try tensor(role.huggingFace, [size]) })
        // Tied checkpoints may still carry lm_head.weight (a copy of the embedding).
        if configuration.tieWordEmbeddings { unused.remove(Role.output.huggingFace) }
        unused = unused.filter { !$0.hasSuffix("rotary_emb.inv_freq") }
        guard unused.isEmpty else {
            throw CortexError.invalidFile(path: weightsPath, reason: "unexpected tensors \(unused.sorted().prefix(10).joined(separator: ", "))")
        }
        return model
    }
}

extension LlamaConfiguration {
    /// Reads a Hugging Face Llama (or Mistral) config.json and checks it is one Cortex can build.
    public static func load(path: String) throws -> LlamaConfiguration {
        let configuration: LlamaConfiguration
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            if let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
                if let type = object["model_type"] as? String, !["llama", "mistral"].contains(type) {
                    throw CortexError.invalidFile(path: path, reason: "model_type \"\(type)\" is not a Llama")
                }
                if object["attention_bias"] as? Bool == true || object["mlp_bias"] as? Bool == true {
                    throw CortexError.invalidFile(path: path, reason: "attention or MLP biases are not supported")
                }
            }
            configuration = try JSONDecoder().decode(LlamaConfiguration.self, from: data)
        } catch let error as CortexError {
            throw error
        } catch {
            throw CortexError.invalidFile(path: path, reason: "not a Llama config.json: \(error)")
        }
        try configuration.validate(source: path)
        return configuration
    }
}
