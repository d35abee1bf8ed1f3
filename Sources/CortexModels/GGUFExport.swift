import CortexCore
import CortexNN
import CortexText
import Foundation

/// Exporting models to GGUF files that llama.cpp reads: the architecture's metadata under
/// llama.cpp's keys, the tensors under its names and layouts, matrices in the chosen format
/// (1-D tensors, norms and biases, stay F32 as llama.cpp keeps them), and the tokenizer.
///
/// ```swift
/// var export = try model.ggufExport(format: .q8_0)
/// export.writer.copy(from: source, prefixes: ["tokenizer."])     // or .setTokenizer(...)
/// try export.writer.write(to: "model.Q8_0.gguf", protecting: [source.path])
/// ```
public struct GGUFExport: Sendable {
    public var writer = GGUFWriter()
    /// Matrices written in `fallback` because their rows are not whole blocks of the format.
    public private(set) var fellBack: [String] = []
    public let format: QuantizationFormat
    /// The format for matrices whose rows do not divide into `format`'s blocks (llama.cpp
    /// falls back the same way); nil makes them an error.
    public let fallback: QuantizationFormat?

    public init(format: QuantizationFormat, fallback: QuantizationFormat? = .q8_0) throws {
        guard GGUFWriter.quantizable.contains(format) else {
            throw CortexError.invalidArgument(operation: "GGUF export", reason: "Cortex cannot write \(format) (it writes \(GGUFWriter.quantizable.map(\.description).joined(separator: ", ")))")
        }
        self.format = format
        self.fallback = fallback
        writer.set("general.quantization_version", .uint32(2))
        writer.set("general.file_type", .uint32(Self.fileType(format)))
    }

    /// llama.cpp's llama_ftype for a file whose matrices are (mostly) `format`.
    static func fileType(_ format: QuantizationFormat) -> UInt32 {
        switch format {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 7
        case .q5_0: 8
        case .q5_1: 9
        case .q2K: 10
        case .q3K: 11
        case .q4K: 14
        case .q5K: 16
        case .q6K: 18
        case .bf16: 32
        }
    }

    /// The format a matrix with rows of `columns` values gets.
    func format(forColumns columns: Int, name: String) throws -> QuantizationFormat {
        if columns % format.blockSize == 0 { return format }
        guard let fallback, columns % fallback.blockSize == 0 else {
            throw GGUFWriter.blockMismatch(name, columns: columns, format: format)
        }
        return fallback
    }

    /// Adds a weight matrix (out, in) from a dense or quantised layer, or from a tensor.
    mutating func addMatrix(_ name: String, _ source: MatrixSource) throws {
        let chosen = try format(forColumns: source.columns, name: name)
        if chosen != format { fellBack.append(name) }
        switch source {
        case let .dense(tensor): try writer.add(name, tensor: tensor, as: chosen)
        case let .quantized(matrix): try writer.add(name, matrix: matrix, as: chosen)
        }
    }

    /// Adds a 1-D tensor (a norm's weight, a bias) as F32.
    mutating func addVector(_ name: String, _ tensor: Tensor) throws {
        try writer.add(name, tensor: tensor, as: .f32)
    }

    enum MatrixSource {
        case dense(Tensor)
        case quantized(QuantizedMatrix)

        init(layer: Module & Layer, name: String) throws {
            switch layer {
            case let linear as Linear: self = .dense(linear.weight)
            case let quantized as QuantizedLinear: self = .quantized(quantized.matrix)
            case let transposed as TransposedLinear: self = .dense(try transposed.weight.mT.contiguous())
            case let embedding as Embedding: self = .dense(embedding.weight)
            case let embedding as QuantizedEmbedding: self = .quantized(embedding.matrix)
            default: throw CortexError.invalidArgument(operation: "GGUF export", reason: "\(name) is a \(type(of: layer)), which has no weight matrix to export")
            }
        }

        /// Values per row.
        var columns: Int {
            switch self {
            case let .dense(tensor): tensor.shape.last!
            case let .quantized(matrix): matrix.columns
            }
        }

        var tensor: Tensor {
            get throws {
                switch self {
                case let .dense(tensor): try tensor.to(.float32)
                case let .quantized(matrix): try matrix.dequantized()
                }
            }
        }
    }

    /// Sets a byte-level BPE tokenizer's metadata as llama.cpp's converter writes it: the
    /// tokens by id (ids without one become "[PAD<id>]"), their types (special tokens are
    /// control tokens, the padding ones unused), the merges, the special ids and the chat template.
    public mutating func setTokenizer(_ tokenizer: ByteLevelBPETokenizer, pre: String? = nil, bos: Int? = nil, eos: Int? = nil,
                                      padding: Int? = nil, addBOS: Bool = false, chatTemplate: String? = nil, vocabularySize: Int? = nil) {
        let count = max(vocabularySize ?? 0, tokenizer.vocabularySize, (tokenizer.specialTokens.values.max() ?? -1) + 1)
        var tokens = (0..<count).map { "[PAD\($0)]" }
        var types = [Int32](repeating: 1, count: count)
        for (token, id) in tokenizer.vocabulary where id < count { tokens[id] = token }
        for (token, id) in tokenizer.specialTokens where id < count {
            tokens[id] = token
            types[id] = 3
        }
        for id in 0..<count where tokens[id] == "[PAD\(id)]" { types[id] = 5 }
        writer.set("tokenizer.ggml.model", .string("gpt2"))
        writer.set("tokenizer.ggml.pre", .string(pre ?? (tokenizer.preTokenization == .llama3 ? "llama-bpe" : "gpt-2")))
        writer.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        writer.set("tokenizer.ggml.token_type", .array(types.map { .int32($0) }))
        writer.set("tokenizer.ggml.merges", .array(tokenizer.merges.map { .string("\($0.0) \($0.1)") }))
        if let bos { writer.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos))) }
        if let eos { writer.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos))) }
        if let padding { writer.set("tokenizer.ggml.padding_token_id", .uint32(UInt32(padding))) }
        writer.set("tokenizer.ggml.add_bos_token", .bool(addBOS))
        if let chatTemplate { writer.set("tokenizer.chat_template", .string(chatTemplate)) }
    }
}

extension Llama {
    /// The model as a GGUF file of the "llama" architecture, in llama.cpp's layout: query and
    /// key rows permuted for neighbour-pair rotation (as convert_hf_to_gguf.py does) when the
    /// model rotates halves (a Hugging Face checkpoint); a model read from GGUF is written as
    /// it was read. The tokenizer is the caller's to add.
    public func ggufExport(format: QuantizationFormat, fallback: QuantizationFormat? = .q8_0, name: String = "Llama") throws -> GGUFExport {
        var export = try GGUFExport(format: format, fallback: fallback)
        let c = configuration
        func key(_ suffix: String) -> String { "llama." + suffix }
        export.writer.set("general.architecture", .string("llama"))
        export.writer.set("general.name", .string(name))
        export.writer.set(key("vocab_size"), .uint32(UInt32(c.vocabularySize)))
        export.writer.set(key("context_length"), .uint32(UInt32(c.contextLength)))
        export.writer.set(key("embedding_length"), .uint32(UInt32(c.hiddenSize)))
        export.writer.set(key("block_count"), .uint32(UInt32(c.layers)))
        export.writer.set(key("feed_forward_length"), .uint32(UInt32(c.intermediateSize)))
        export.writer.set(key("rope.dimension_count"), .uint32(UInt32(c.headSize)))
        export.writer.set(key("attention.head_count"), .uint32(UInt32(c.heads)))
        export.writer.set(key("attention.head_count_kv"), .uint32(UInt32(c.keyValueHeads)))
        if c.headSize * c.heads != c.hiddenSize {
            export.writer.set(key("attention.key_length"), .uint32(UInt32(c.headSize)))
            export.writer.set(key("attention.value_length"), .uint32(UInt32(c.headSize)))
        }
        export.writer.set(key("attention.layer_norm_rms_epsilon"), .float32(c.rmsNormEpsilon))
        export.writer.set(key("rope.freq_base"), .float32(Float(c.ropeTheta)))
        guard let rope = model.layers.first?.selfAttn.rope else {
            throw CortexError.invalidArgument(operation: "GGUF export", reason: "the model has no layers")
        }
        switch c.ropeScaling {
        case let .linear(factor)?:
            export.writer.set(key("rope.scaling.type"), .string("linear"))
            export.writer.set(key("rope.scaling.factor"), .float32(Float(factor)))
        case .llama3?, nil:
            break
        }
        let permute = rope.pairing == .halves
        let unscaled = (0..<(c.headSize / 2)).map { Float(1 / pow(c.ropeTheta, Double(2 * $0) / Double(c.headSize))) }
        if zip(unscaled, rope.inverseFrequencies).contains(where: { abs($0 - $1) > 1e-6 * max(abs($0), 1e-30) }) {
            // Llama 3's scaled frequencies travel as factors dividing the base frequencies.
            let factors = zip(unscaled, rope.inverseFrequencies).map { $0 / $1 }
            try export.addVector("rope_freqs.weight", Tensor(factors, shape: [factors.count]))
        }
        try export.addMatrix(Role.embedding.gguf, .init(layer: model.embedTokens, name: Role.embedding.huggingFace))
        for (index, layer) in model.layers.enumerated() {
            let attention = layer.selfAttn
            for (role, projection, heads) in [(Role.query(index), attention.qProj, c.heads), (Role.key(index), attention.kProj, c.keyValueHeads)] {
                let source = try GGUFExport.MatrixSource(layer: projection, name: role.huggingFace)
                try export.addMatrix(role.gguf, permute ? .dense(try Self.interleavingRows(try source.tensor, heads: heads)) : source)
            }
            try export.addMatrix(Role.value(index).gguf, .init(layer: attention.vProj, name: Role.value(index).huggingFace))
            try export.addMatrix(Role.attentionOutput(index).gguf, .init(layer: attention.oProj, name: Role.attentionOutput(index).huggingFace))
            try export.addMatrix(Role.gate(index).gguf, .init(layer: layer.mlp.gateProj, name: Role.gate(index).huggingFace))
            try export.addMatrix(Role.up(index).gguf, .init(layer: layer.mlp.upProj, name: Role.up(index).huggingFace))
            try export.addMatrix(Role.down(index).gguf, .init(layer: layer.mlp.downProj, name: Role.down(index).huggingFace))
            try export.addVector(Role.attentionNorm(index).gguf, layer.inputLayernorm.weight)
            try export.addVector(Role.feedForwardNorm(index).gguf, layer.postAttentionLayernorm.weight)
        }
        try export.addVector(Role.finalNorm.gguf, model.norm.weight)
        if let lmHead { try export.addMatrix(Role.output.gguf, .init(layer: lmHead, name: Role.output.huggingFace)) }
        return export
    }

    /// Rows of a query or key projection reordered from rotating halves (Hugging Face) to
    /// rotating neighbour pairs (GGUF): within each head, row s * d/2 + i moves to 2i + s.
    static func interleavingRows(_ weight: Tensor, heads: Int) throws -> Tensor {
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        return try weight.reshape([heads, 2, rows / heads / 2, columns]).permute([0, 2, 1, 3]).contiguous().reshape([rows, columns])
    }
}

extension GPT {
    /// The model as a GGUF file of the "gpt2" architecture, in llama.cpp's layout (each
    /// Conv1D weight transposed to (out, in), the output tied to token_embd). The position
    /// embedding stays F32. The tokenizer is the caller's to add.
    public func ggufExport(format: QuantizationFormat, fallback: QuantizationFormat? = .q8_0, name: String = "GPT-2") throws -> GGUFExport {
        var export = try GGUFExport(format: format, fallback: fallback)
        let c = configuration
        export.writer.set("general.architecture", .string("gpt2"))
        export.writer.set("general.name", .string(name))
        export.writer.set("gpt2.context_length", .uint32(UInt32(c.contextLength)))
        export.writer.set("gpt2.embedding_length", .uint32(UInt32(c.embeddingSize)))
        export.writer.set("gpt2.feed_forward_length", .uint32(UInt32(4 * c.embeddingSize)))
        export.writer.set("gpt2.block_count", .uint32(UInt32(c.layers)))
        export.writer.set("gpt2.attention.head_count", .uint32(UInt32(c.heads)))
        export.writer.set("gpt2.attention.layer_norm_epsilon", .float32(c.layerNormEpsilon))
        let body = transformer
        try export.addMatrix("token_embd.weight", .init(layer: body.wte, name: "transformer.wte.weight"))
        try export.writer.add("position_embd.weight", tensor: body.wpe.weight, as: .f32)
        func norm(_ name: String, _ layer: LayerNorm) throws {
            guard let weight = layer.weight, let bias = layer.bias else {
                throw CortexError.invalidArgument(operation: "GGUF export", reason: "\(name) has no affine weight and bias")
            }
            try export.addVector(name + ".weight", weight)
            try export.addVector(name + ".bias", bias)
        }
        func linear(_ name: String, _ layer: Module & Layer) throws {
            try export.addMatrix(name + ".weight", .init(layer: layer, name: name))
            let bias: Tensor? = switch layer {
            case let transposed as TransposedLinear: transposed.bias
            case let quantized as QuantizedLinear: quantized.bias
            case let dense as Linear: dense.bias
            default: nil
            }
            guard let bias else { throw CortexError.invalidArgument(operation: "GGUF export", reason: "\(name) has no bias (GPT-2's projections have one)") }
            try export.addVector(name + ".bias", bias)
        }
        for (index, block) in body.h.enumerated() {
            let prefix = "blk.\(index)."
            try norm(prefix + "attn_norm", block.firstNorm)
            try linear(prefix + "attn_qkv", block.attention.cAttn)
            try linear(prefix + "attn_output", block.attention.cProj)
            try norm(prefix + "ffn_norm", block.secondNorm)
            try linear(prefix + "ffn_up", block.feedForward.cFc)
            try linear(prefix + "ffn_down", block.feedForward.cProj)
        }
        try norm("output_norm", body.lnF)
        return export
    }
}
