import ArgumentParser
import CortexCore
import CortexModels
import CortexServe
import Foundation

/// `cortex serve`: the OpenAI-compatible server (completions, chat, embeddings, models,
/// health, metrics and a chat page), continuous batching over `--parallel` slots.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/embeddings) with a chat page at /.")

    @Option(help: "Generation model: a .gguf file, a checkpoint directory or a short name (smollm2).") var model: String
    @Option(name: .customLong("embedding-model"), help: "Sentence-embedding model for /v1/embeddings: a directory or all-minilm-l6-v2.")
    var embeddingModel: String?
    @Option(help: "The model's name in the API (default: the file or directory name).") var alias: String?
    @Option(name: .customLong("embedding-alias"), help: "The embedding model's name in the API.") var embeddingAlias: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Sequences decoded together (slots); further requests queue.") var parallel = 4
    @Option(help: "Tokens of prompt plus completion per sequence (default: the model's context length).") var context: Int?
    @Option(name: .customLong("queue"), help: "Requests that may wait for a slot before the server answers 503.") var queueLimit = 64
    @Option(name: .customLong("prefill-chunk"), help: "Prompt tokens a sequence reads per step.") var prefillChunk = 8
    @Option(name: .customLong("step-rows"), help: "Rows (decoding tokens plus prompt tokens) per step beyond its first prompt chunk: more reads prompts sooner, fewer keeps decoding steady.")
    var stepRows = 16
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted.") var maximumBodyBytes = 1 << 20
    @Option(name: .customLong("api-key"), help: "Require Authorization: Bearer KEY (or set CORTEX_API_KEY).") var apiKey: String?
    @Option(name: .customLong("shutdown-seconds"), help: "On SIGINT/SIGTERM, how long requests in flight may finish before they are cancelled.")
    var shutdownSeconds = 10.0
    @OptionGroup var quantized: QuantizedActivationsOption
    @Option(name: .customLong("cache-type"), help: "What the key/value caches hold: f32, or f16 (half the memory and the attention's reads).")
    var cacheType = "f32"

    func validate() throws {
        try quantized.validate()
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1, got \(parallel)") }
        if let context, context < 2 { throw ValidationError("--context must be at least 2, got \(context)") }
        guard prefillChunk >= 1 else { throw ValidationError("--prefill-chunk must be at least 1, got \(prefillChunk)") }
        guard stepRows >= 1 else { throw ValidationError("--step-rows must be at least 1, got \(stepRows)") }
        guard queueLimit >= 0 else { throw ValidationError("--queue must be 0 or more, got \(queueLimit)") }
        guard maximumBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024, got \(maximumBodyBytes)") }
        guard ["f16", "f32"].contains(cacheType) else { throw ValidationError("--cache-type must be f16 or f32, got \(cacheType)") }
        guard shutdownSeconds >= 0 else { throw ValidationError("--shutdown-seconds must be 0 or more, got \(shutdownSeconds)") }
    }

    /// The API name of a model given by path or short name: its last path component without extension.
    static func name(of model: String) -> String {
        if let miniLM = PretrainedModels.miniLM, (model as NSString).standardizingPath == (miniLM as NSString).standardizingPath || model.lowercased() == "minilm" {
            return "all-MiniLM-L6-v2"
        }
        var last = (model as NSString).lastPathComponent
        // A model in a folder named generically ("model") is named by its parent folder.
        if last == "model", case let parent = ((model as NSString).deletingLastPathComponent as NSString).lastPathComponent, !parent.isEmpty {
            last = parent
        }
        return last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last
    }

    func run() throws {
        var configuration = ServeConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.parallel = parallel
        configuration.context = context
        configuration.queueLimit = queueLimit
        configuration.prefillChunk = prefillChunk
        configuration.stepRows = stepRows
        configuration.maximumBodyBytes = maximumBodyBytes
        configuration.apiKey = apiKey ?? ProcessInfo.processInfo.environment["CORTEX_API_KEY"]
        configuration.activations = quantized.mode
        configuration.cacheType = cacheType == "f32" ? .float32 : .float16
        configuration.shutdownDeadline = .milliseconds(Int64(shutdownSeconds * 1000))
        let server: CortexServer
        let generator = try TextGenerator.load(model)
        let embedder = try embeddingModel.map { try SentenceEmbedder.load(directory: PretrainedModels.path(named: $0) ?? $0) }
        server = try CortexServer(generator: generator, modelName: alias ?? Self.name(of: model), embedder: embedder,
                                  embeddingName: embeddingAlias ?? embeddingModel.map(Self.name(of:)), configuration: configuration)
        let (host, port, parallel, name) = (host, port, parallel, server.modelName)
        let outcome = ServeOutcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run(onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    print("cortex serve: \(name) on http://\(host):\(bound) (\(parallel) slots); SIGINT or SIGTERM stops it")
                    fflush(nil)
                })
            } catch {
                outcome.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
        print("cortex serve: stopped")
    }
}

/// How the server's task ended, read after it signals.
private final class ServeOutcome: @unchecked Sendable {
    var error: Error?
}
