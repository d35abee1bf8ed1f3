import CortexCore
import CortexModels
import CortexText
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// An OpenAI-compatible inference server in one process: /v1/completions,
/// /v1/chat/completions (streamed as server-sent events or not), /v1/embeddings, /v1/models,
/// /health, /metrics and a chat page at /. Generation runs through one `BatchScheduler`
/// (continuous batching); embeddings through a `SentenceEmbedder` on its own queue.
///
/// ```swift
/// var configuration = ServeConfiguration()
/// configuration.parallel = 8
/// let server = try CortexServer(generator: try TextGenerator.load("smollm2"), modelName: "smollm2",
///                               embedder: try SentenceEmbedder.load(directory: miniLM), embeddingName: "all-MiniLM-L6-v2",
///                               configuration: configuration)
/// try await server.run()     // until SIGINT or SIGTERM
/// ```
public final class CortexServer: Sendable {
    public let generator: TextGenerator
    public let modelName: String
    public let embedder: SentenceEmbedder?
    public let embeddingName: String?
    public let configuration: ServeConfiguration
    public let scheduler: BatchScheduler
    public let metrics = ServerMetrics()
    /// Tokens of prompt plus completion a sequence may use.
    public let contextLength: Int
    let created = Int(Date().timeIntervalSince1970)
    let embeddingQueue = DispatchQueue(label: "cortex-embeddings")

    public init(generator: TextGenerator, modelName: String, embedder: SentenceEmbedder? = nil, embeddingName: String? = nil,
                configuration: ServeConfiguration = ServeConfiguration()) throws {
        let modelContext = generator.model.contextLength
        if let context = configuration.context, !(1...modelContext).contains(context) {
            throw CortexError.invalidArgument(operation: "serve", reason: "--context \(context) must be in 1...\(modelContext), the model's context length")
        }
        guard configuration.parallel >= 1 else {
            throw CortexError.invalidArgument(operation: "serve", reason: "--parallel \(configuration.parallel) must be at least 1")
        }
        self.generator = generator
        self.modelName = modelName
        self.embedder = embedder
        self.embeddingName = embedder == nil ? nil : (embeddingName ?? "embedding")
        self.configuration = configuration
        contextLength = configuration.context ?? modelContext
        scheduler = BatchScheduler(generator: generator, slots: configuration.parallel, queueLimit: configuration.queueLimit,
                                   prefillChunk: configuration.prefillChunk, stepRows: configuration.stepRows, activations: configuration.activations,
                                   cacheType: configuration.cacheType)
        let batchSize = metrics.batchSize
        scheduler.onStep = { batchSize.record(Double($0)) }
    }

    /// The routes, with the error-shaping and (when a key is set) key-checking middleware.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorShapeMiddleware(metrics: metrics))
        if let key = configuration.apiKey, !key.isEmpty { router.add(middleware: APIKeyMiddleware(key: key)) }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: ChatPage.html)))
        }
        router.get("/health") { _, _ in Self.json(["status": "ok"]) }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.exposition(self.scheduler.currentStatistics))))
        }
        router.get("/v1/models") { _, _ in self.models() }
        router.post("/v1/completions") { request, _ in try await self.generate(request, chat: false) }
        router.post("/v1/chat/completions") { request, _ in try await self.generate(request, chat: true) }
        router.post("/v1/embeddings") { request, _ in try await self.embeddings(request) }
        return router
    }

    /// The application (a `Service`), listening where the configuration says.
    public func makeApplication(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in })
        -> Application<RouterResponder<BasicRequestContext>> {
        var logger = Logger(label: "cortex-serve")
        logger.logLevel = .warning
        return Application(router: makeRouter(),
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "cortex"),
                           onServerRunning: onServerRunning, logger: logger)
    }

    /// Serves until SIGINT or SIGTERM: then it stops accepting connections, lets requests in
    /// flight finish for up to `shutdownDeadline`, and cancels what is left.
    public func run(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) async throws {
        try await makeServiceGroup(onServerRunning: onServerRunning).run()
    }

    /// The server, the scheduler and the shutdown deadline as one service group, shut down
    /// gracefully by `signals` or by `triggerGracefulShutdown()`.
    public func makeServiceGroup(signals: [UnixSignal] = [.sigterm, .sigint],
                                 onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> ServiceGroup {
        let application = makeApplication(onServerRunning: onServerRunning)
        var logger = Logger(label: "cortex-serve")
        logger.logLevel = .warning
        // Services stop in reverse order: first the deadline (which cancels what still runs
        // once it passes), then the HTTP server (no new connections; it waits for the
        // requests in flight, which finish or are cancelled by then), then the scheduler.
        let deadline = configuration.shutdownDeadline
        var group = ServiceGroupConfiguration(services: [.init(service: SchedulerService(scheduler: scheduler)), .init(service: application),
                                                         .init(service: ShutdownDeadline(scheduler: scheduler, deadline: deadline))],
                                              gracefulShutdownSignals: signals, logger: logger)
        group.maximumGracefulShutdownDuration = deadline + .seconds(5)
        group.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: group)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: value.encoded())))
    }

    func models() -> Response {
        var data: [JSONValue] = [["id": .string(modelName), "object": "model", "created": JSONValue(created), "owned_by": "cortex"]]
        if let embeddingName { data.append(["id": .string(embeddingName), "object": "model", "created": JSONValue(created), "owned_by": "cortex"]) }
        return Self.json(["object": "list", "data": .array(data)])
    }

    /// The body as JSON: 413 past the size limit, 400 when it is not JSON.
    func readBody(_ request: inout Request) async throws -> RequestFields {
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: configuration.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge(limit: configuration.maximumBodyBytes)
        }
        guard let json = JSONValue.parse(Data(buffer.readableBytesView)) else {
            throw APIError.invalid("The request body is not valid JSON", code: "invalid_json")
        }
        return try RequestFields(json)
    }

    func checkModel(_ name: String?, served: String?) throws {
        guard let name else { return }
        guard name == served else { throw APIError.modelNotFound(name) }
    }
}

/// Owns the scheduler's life: when the server has stopped, the scheduler's thread stops.
struct SchedulerService: Service {
    let scheduler: BatchScheduler

    func run() async throws {
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
            scheduler.stop()
        } onCancel: {
            scheduler.stop()
        }
    }
}

/// The first to hear of a shutdown: it makes the scheduler refuse new work, and once the
/// deadline has passed it cancels the sequences still running (their answers end, so the
/// HTTP server's wait for them ends too).
struct ShutdownDeadline: Service {
    let scheduler: BatchScheduler
    let deadline: Duration

    func run() async throws {
        try? await gracefulShutdown()
        scheduler.startDraining(deadline: deadline)
    }
}
