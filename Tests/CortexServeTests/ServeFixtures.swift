import CortexCore
import CortexModels
import CortexServe
import CortexText
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore

/// A small random Llama with a byte-level BPE tokenizer trained here (ChatML special tokens),
/// so every endpoint can be tested without downloads; SmolLM2 and MiniLM where fetched.
enum ServeFixtures {
    static let corpus = String(repeating: "The quick brown fox jumps over the lazy dog. A small model answers questions about cats, dogs and the weather. ", count: 20)

    static let tinyGenerator: TextGenerator = {
        let tokenizer = try! BPETrainer.train(corpus: corpus, vocabularySize: 320, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        let vocabulary = max(tokenizer.vocabularySize, (tokenizer.specialTokens.values.max() ?? 0) + 1)
        let configuration = LlamaConfiguration(vocabularySize: vocabulary, hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, keyValueHeads: 2,
                                               contextLength: 4096)
        let model = try! Llama(configuration, generator: RandomGenerator(seed: 7))
        return TextGenerator(model: model, tokenizer: tokenizer, stopTokens: [tokenizer.specialTokens["<|im_end|>"]!],
                             chatTemplate: ChatTemplate(style: .chatML(defaultSystem: nil)))
    }()

    static func server(parallel: Int = 8, queue: Int = 64, apiKey: String? = nil, maximumBodyBytes: Int = 1 << 20, context: Int? = 512,
                       generator: TextGenerator = tinyGenerator, embedder: SentenceEmbedder? = nil,
                       shutdownDeadline: Duration = .seconds(10)) throws -> CortexServer {
        var configuration = ServeConfiguration()
        configuration.shutdownDeadline = shutdownDeadline
        configuration.port = 0
        configuration.parallel = parallel
        configuration.queueLimit = queue
        configuration.apiKey = apiKey
        configuration.maximumBodyBytes = maximumBodyBytes
        configuration.context = context
        return try CortexServer(generator: generator, modelName: "tiny", embedder: embedder, embeddingName: embedder == nil ? nil : "minilm",
                                configuration: configuration)
    }

    static func body(_ value: JSONValue) -> ByteBuffer { ByteBuffer(bytes: value.encoded()) }

    static func json(_ response: TestResponse) -> JSONValue { JSONValue.parse(Data(response.body.readableBytesView)) ?? .null }

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    /// The `data:` payloads of a server-sent-event body.
    static func events(_ response: TestResponse) -> [String] {
        String(buffer: response.body).components(separatedBy: "\n\n").compactMap { block in
            let line = block.trimmingCharacters(in: .whitespacesAndNewlines)
            return line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
        }
    }
}

/// A raw HTTP/1.1 client over a POSIX socket, for what a well-behaved client does not do:
/// leave in the middle of an answer.
struct RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CortexError.invalidArgument(operation: "RawConnection", reason: "connect to port \(port) failed") }
    }

    func send(path: String, json: JSONValue) {
        let body = json.text
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        _ = request.withCString { write(descriptor, $0, strlen($0)) }
    }

    /// Reads until `marker` has arrived (or `timeout` seconds pass: generous, since CI runs
    /// 2-rank MPI jobs that busy-poll both cores beside these tests), without holding a thread
    /// of the concurrency pool while it waits (the server answering needs those threads).
    func read(until marker: String, timeout: Double = 60) async -> String {
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end = Date().addingTimeInterval(timeout)
        while Date() < end, !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 {
                received += buffer[0..<count]
            } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                break
            } else {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// Two threads of their own for the serve tests' tasks (server and client alike): other
/// suites' synchronous tests hold the concurrency pool's threads (one per core) for minutes,
/// and a server waiting for a free pool thread would miss every client deadline.
final class ServeTestExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = ServeTestExecutor(threads: 2)
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "serve-tests-\(index)"
            thread.start()
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

extension ServeFixtures {
    /// The server's application under HummingbirdTesting's AsyncHTTPClient mode, on the serve
    /// tests' own threads.
    static func serve(_ server: CortexServer, _ test: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await withTaskExecutorPreference(ServeTestExecutor.shared) {
            try await server.makeApplication().test(.ahc(.http), test)
        }
    }
}
