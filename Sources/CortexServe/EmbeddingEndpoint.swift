import CortexCore
import CortexModels
import Foundation
import Hummingbird

/// /v1/embeddings: `input` as a string or a list of strings, answered by the sentence
/// embedder as floats or, with `encoding_format: "base64"` (what OpenAI's Python client
/// asks for), as base64 of little-endian float32.
extension CortexServer {
    func embeddings(_ request: Request) async throws -> Response {
        var request = request
        let fields = try await readBody(&request)
        guard let embedder, let embeddingName else {
            throw APIError.invalid("This server has no embedding model (start it with --embedding-model)", param: "model", code: "model_not_found")
        }
        try checkModel(try fields.string("model"), served: embeddingName)
        let inputs: [String]
        switch fields.value("input") {
        case let .string(text)?: inputs = [text]
        case let .array(items)? where !items.isEmpty:
            inputs = try items.map { item in
                guard case let .string(text) = item else {
                    throw APIError.invalid("input must be a string or a list of strings (token ids are not accepted: the embedder has its own vocabulary)",
                                           param: "input")
                }
                return text
            }
        case nil: throw APIError.invalid("input is required", param: "input")
        default: throw APIError.invalid("input must be a string or a non-empty list of strings", param: "input")
        }
        guard inputs.count <= 2048 else { throw APIError.invalid("input has \(inputs.count) strings; at most 2048 are allowed", param: "input") }
        let format = try fields.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw APIError.invalid("encoding_format is \"\(format)\"; it must be float or base64", param: "encoding_format")
        }
        if let dimensions = try fields.integer("dimensions"), dimensions != embedder.dimension {
            throw APIError.invalid("dimensions is \(dimensions); this model gives \(embedder.dimension)", param: "dimensions")
        }
        let (vectors, tokens) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<([[Float]], Int), Error>) in
            embeddingQueue.async {
                continuation.resume(with: Result {
                    let rows = try withNoGrad { try embedder.embed(inputs) }
                    let flat = try rows.toFloatArray()
                    let dimension = embedder.dimension
                    let vectors = (0..<inputs.count).map { Array(flat[($0 * dimension)..<(($0 + 1) * dimension)]) }
                    let tokens = try inputs.reduce(0) { $0 + min(try embedder.tokenizer.encode($1).count, embedder.maximumLength) }
                    return (vectors, tokens)
                })
            }
        }
        metrics.promptTokens.increment(by: Int64(tokens))
        let data: [JSONValue] = vectors.enumerated().map { index, vector in
            let embedding: JSONValue = format == "base64"
                ? .string(vector.withUnsafeBytes { Data($0) }.base64EncodedString())
                : .array(vector.map { JSONValue(Double($0)) })
            return ["object": "embedding", "index": JSONValue(index), "embedding": embedding]
        }
        return Self.json(["object": "list", "data": .array(data), "model": .string(embeddingName),
                          "usage": ["prompt_tokens": JSONValue(tokens), "total_tokens": JSONValue(tokens)]])
    }
}
