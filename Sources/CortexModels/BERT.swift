import CortexCore
import CortexNN
import Foundation

/// The shape of a BERT encoder, with Hugging Face's `BertConfig` names in its JSON form.
public struct BERTConfiguration: Codable, Sendable, Equatable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maximumPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float
    public var hiddenActivation: String

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", hiddenSize = "hidden_size", layers = "num_hidden_layers", heads = "num_attention_heads"
        case intermediateSize = "intermediate_size", maximumPositions = "max_position_embeddings", typeVocabularySize = "type_vocab_size"
        case layerNormEpsilon = "layer_norm_eps", hiddenActivation = "hidden_act"
    }

    public init(vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int, maximumPositions: Int = 512,
                typeVocabularySize: Int = 2, layerNormEpsilon: Float = 1e-12, hiddenActivation: String = "gelu") {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
        self.maximumPositions = maximumPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.hiddenActivation = hiddenActivation
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(vocabularySize: try c.decode(Int.self, forKey: .vocabularySize), hiddenSize: try c.decode(Int.self, forKey: .hiddenSize),
                  layers: try c.decode(Int.self, forKey: .layers), heads: try c.decode(Int.self, forKey: .heads),
                  intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
                  maximumPositions: try c.decodeIfPresent(Int.self, forKey: .maximumPositions) ?? 512,
                  typeVocabularySize: try c.decodeIfPresent(Int.self, forKey: .typeVocabularySize) ?? 2,
                  layerNormEpsilon: try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-12,
                  hiddenActivation: try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? "gelu")
    }
}

/// BERT's encoder (word + position + token-type embeddings, post-norm Transformer layers with
/// GELU), loading Hugging Face `BertModel` checkpoints by their parameter names
/// (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, ...).
///
/// ```swift
/// let bert = try BERT.load(directory: "all-MiniLM-L6-v2")
/// let hidden = try bert(ids, attentionMask: mask)     // (B, L) -> (B, L, 384)
/// ```
public final class BERT: Module, @unchecked Sendable {
    public let configuration: BERTConfiguration
    let wordEmbeddings: Embedding, positionEmbeddings: Embedding, tokenTypeEmbeddings: Embedding
    let embeddingNorm: LayerNorm
    let layers: [BERTLayer]

    init(configuration: BERTConfiguration, wordEmbeddings: Embedding, positionEmbeddings: Embedding, tokenTypeEmbeddings: Embedding,
         embeddingNorm: LayerNorm, layers: [BERTLayer]) {
        self.configuration = configuration
        self.wordEmbeddings = wordEmbeddings
        self.positionEmbeddings = positionEmbeddings
        self.tokenTypeEmbeddings = tokenTypeEmbeddings
        self.embeddingNorm = embeddingNorm
        self.layers = layers
        super.init()
    }

    override public func namedChildren() -> [(String, Module)] {
        [("embeddings.word_embeddings", wordEmbeddings), ("embeddings.position_embeddings", positionEmbeddings),
         ("embeddings.token_type_embeddings", tokenTypeEmbeddings), ("embeddings.LayerNorm", embeddingNorm)]
            + layers.enumerated().map { ("encoder.layer.\($0)", $1) }
    }

    /// Hidden states (B, L, hidden) for ids (B, L); `attentionMask` (B × L, true for real
    /// tokens) keeps padding out of every attention; token types are 0 unless given.
    public func callAsFunction(_ ids: Tensor, attentionMask: [[Bool]]? = nil, tokenTypes: Tensor? = nil) throws -> Tensor {
        guard ids.rank == 2, ids.shape[1] <= configuration.maximumPositions else {
            throw CortexError.shapeMismatch(operation: "BERT", shapes: [ids.shape],
                                            reason: "(ids must be (B, L) with L at most \(configuration.maximumPositions) positions)")
        }
        let (batch, length) = (ids.shape[0], ids.shape[1])
        var allowed: Tensor?
        if let attentionMask {
            guard attentionMask.count == batch, attentionMask.allSatisfy({ $0.count == length }) else {
                throw CortexError.shapeMismatch(operation: "BERT", shapes: [ids.shape], reason: "(the attention mask must cover every id)")
            }
            if attentionMask.contains(where: { $0.contains(false) }) {
                allowed = try Tensor(booleans: attentionMask.flatMap { $0 }, shape: [batch, 1, 1, length])
            }
        }
        let positions = try Tensor.arange(0, Double(length), dtype: .int64)
        let types = try tokenTypes ?? Tensor.zeros([batch, length], dtype: .int64)
        var x = try embeddingNorm(wordEmbeddings(ids) + positionEmbeddings(positions) + tokenTypeEmbeddings(types))
        for layer in layers { x = try layer(x, allowed: allowed) }
        return x
    }

    /// Loads config.json and model.safetensors (a `BertModel`, with or without the `bert.`
    /// prefix); missing and mis-shaped tensors are named together in one error.
    public static func load(directory: String) throws -> BERT {
        let configPath = (directory as NSString).appendingPathComponent("config.json")
        let configuration = try BERTConfiguration.load(path: configPath)
        let c = configuration
        let weightsPath = (directory as NSString).appendingPathComponent("model.safetensors")
        let file = try Safetensors.load(weightsPath)
        var problems: [String] = []
        func tensor(_ name: String, _ shape: [Int]) -> Tensor {
            guard let found = file.tensors[name] ?? file.tensors["bert." + name] else {
                problems.append("\(name) is missing")
                return try! Tensor.zeros(shape)
            }
            guard found.shape == shape, let converted = try? found.to(.float32) else {
                problems.append("\(name) is \(found.shape), expected \(shape)")
                return try! Tensor.zeros(shape)
            }
            return converted
        }
        func linear(_ name: String, _ inFeatures: Int, _ outFeatures: Int) -> Linear {
            try! Linear(weight: tensor(name + ".weight", [outFeatures, inFeatures]), bias: tensor(name + ".bias", [outFeatures]))
        }
        func norm(_ name: String) -> LayerNorm {
            let layer = LayerNorm([c.hiddenSize], epsilon: c.layerNormEpsilon)
            layer.weight = tensor(name + ".weight", [c.hiddenSize])
            layer.bias = tensor(name + ".bias", [c.hiddenSize])
            return layer
        }
        let layers = (0..<c.layers).map { i -> BERTLayer in
            let prefix = "encoder.layer.\(i)."
            return BERTLayer(query: linear(prefix + "attention.self.query", c.hiddenSize, c.hiddenSize),
                             key: linear(prefix + "attention.self.key", c.hiddenSize, c.hiddenSize),
                             value: linear(prefix + "attention.self.value", c.hiddenSize, c.hiddenSize),
                             attentionOutput: linear(prefix + "attention.output.dense", c.hiddenSize, c.hiddenSize),
                             attentionNorm: norm(prefix + "attention.output.LayerNorm"),
                             intermediate: linear(prefix + "intermediate.dense", c.hiddenSize, c.intermediateSize),
                             output: linear(prefix + "output.dense", c.intermediateSize, c.hiddenSize),
                             outputNorm: norm(prefix + "output.LayerNorm"), heads: c.heads, activation: c.hiddenActivation)
        }
        let model = BERT(configuration: c,
                         wordEmbeddings: Embedding(weight: tensor("embeddings.word_embeddings.weight", [c.vocabularySize, c.hiddenSize])),
                         positionEmbeddings: Embedding(weight: tensor("embeddings.position_embeddings.weight", [c.maximumPositions, c.hiddenSize])),
                         tokenTypeEmbeddings: Embedding(weight: tensor("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, c.hiddenSize])),
                         embeddingNorm: norm("embeddings.LayerNorm"), layers: layers)
        guard problems.isEmpty else {
            throw CortexError.invalidFile(path: weightsPath, reason: "does not hold the BERT config.json describes: " + problems.joined(separator: "; "))
        }
        // An int8 checkpoint (`cortex quantize --to int8`): its layers compute in int8 again.
        if file.metadata[Int8Quantization.metadataKey] == "int8" { try Int8Quantization.load(model, from: weightsPath) }
        model.eval()
        return model
    }
}

/// One post-norm encoder layer: LayerNorm(x + attention(x)), then LayerNorm(y + MLP(y)).
public final class BERTLayer: Module, @unchecked Sendable {
    let query: Linear, key: Linear, value: Linear, attentionOutput: Linear, attentionNorm: LayerNorm
    let intermediate: Linear, output: Linear, outputNorm: LayerNorm
    let heads: Int, activation: String

    init(query: Linear, key: Linear, value: Linear, attentionOutput: Linear, attentionNorm: LayerNorm, intermediate: Linear, output: Linear,
         outputNorm: LayerNorm, heads: Int, activation: String) {
        self.query = query
        self.key = key
        self.value = value
        self.attentionOutput = attentionOutput
        self.attentionNorm = attentionNorm
        self.intermediate = intermediate
        self.output = output
        self.outputNorm = outputNorm
        self.heads = heads
        self.activation = activation
        super.init()
    }

    override public func namedChildren() -> [(String, Module)] {
        [("attention.self.query", query), ("attention.self.key", key), ("attention.self.value", value),
         ("attention.output.dense", attentionOutput), ("attention.output.LayerNorm", attentionNorm),
         ("intermediate.dense", intermediate), ("output.dense", output), ("output.LayerNorm", outputNorm)]
    }

    /// The three int8 projections as one matrix (their rows stacked), made on first use after
    /// quantisation: the input is quantised once for all three, and one product fills the tiles.
    private var fusedInt8: (parts: [Int8Matrix], matrix: Int8Matrix)?   // the parts held, so none is freed and its address reused
    private let fusedLock = NSLock()

    /// Query, key and value of x: one int8 product where all three are quantised alike.
    func projections(_ x: Tensor) throws -> (Tensor, Tensor, Tensor) {
        let states = [query, key, value].map { Int8Quantization.state(of: $0) }
        let matrices = states.compactMap { $0?.matrix }, biases = [query.bias, key.bias, value.bias].compactMap { $0 }
        guard matrices.count == 3, biases.count == 3, let activations = states[0]?.activations,
              states.allSatisfy({ $0?.activations == activations }) else {
            return (try query(x), try key(x), try value(x))
        }
        let fused: Int8Matrix = try {
            fusedLock.lock()
            defer { fusedLock.unlock() }
            if let cached = fusedInt8, zip(cached.parts, matrices).allSatisfy({ $0 === $1 }) { return cached.matrix }
            let matrix = try Int8Matrix(codes: matrices.flatMap(\.codes), scales: matrices.flatMap(\.scales),
                                        rows: matrices.reduce(0) { $0 + $1.rows }, columns: matrices[0].columns)
            fusedInt8 = (matrices, matrix)
            return matrix
        }()
        let product = try fused.product(x, bias: Tensor.cat(biases, axis: 0), activations: activations)
        let (q, k, last) = (matrices[0].rows, matrices[1].rows, product.rank - 1)
        return (try product.slice(axis: last, start: 0, end: q), try product.slice(axis: last, start: q, end: q + k),
                try product.slice(axis: last, start: q + k, end: fused.rows))
    }

    func callAsFunction(_ x: Tensor, allowed: Tensor?) throws -> Tensor {
        let (batch, length, size) = (x.shape[0], x.shape[1], x.shape[2])
        func split(_ projected: Tensor) throws -> Tensor {
            try projected.reshape([batch, length, heads, size / heads]).permute([0, 2, 1, 3])
        }
        let (q, k, v) = try projections(x)
        let attended = try Attention.scaledDotProduct(query: split(q), key: split(k), value: split(v), allowed: allowed)
        let y = try attentionNorm(x + attentionOutput(attended.permute([0, 2, 1, 3]).reshape([batch, length, size])))
        let hidden = try intermediate(y)
        let activated = switch activation {
        case "relu": try hidden.relu()
        case "gelu": try hidden.gelu()
        default: try hidden.gelu(approximate: .tanh)
        }
        return try outputNorm(y + output(activated))
    }
}

extension BERTConfiguration {
    /// Reads a Hugging Face BERT config.json and checks it is one Cortex can build.
    public static func load(path: String) throws -> BERTConfiguration {
        let c: BERTConfiguration
        do {
            c = try JSONDecoder().decode(BERTConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw CortexError.invalidFile(path: path, reason: "not a BERT config.json: \(error)")
        }
        guard c.vocabularySize > 0, c.hiddenSize > 0, c.heads > 0, c.hiddenSize % c.heads == 0, c.layers > 0, c.intermediateSize > 0,
              c.maximumPositions > 0, c.typeVocabularySize > 0, c.layerNormEpsilon.isFinite, c.layerNormEpsilon >= 0 else {
            throw CortexError.invalidFile(path: path, reason: "inconsistent BERT configuration \(c)")
        }
        guard ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"].contains(c.hiddenActivation) else {
            throw CortexError.invalidFile(path: path, reason: "hidden_act \(c.hiddenActivation) is not supported (gelu, gelu_new, relu)")
        }
        return c
    }
}
