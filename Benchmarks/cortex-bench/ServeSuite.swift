import ArgumentParser
import AsyncHTTPClient
import CortexCore
import CortexModels
import CortexServe
import Foundation
import NIOCore

/// `cortex-bench serve`: `cortex serve` on loopback under 1, 4, 8 and 16 concurrent streaming
/// clients, each client sending a bounded number of requests within a time limit. Rows: total
/// generated tokens/s, time to first token p50/p99, inter-token latency p50/p99. With
/// CORTEX_LLAMA_SERVER naming llama.cpp's llama-server, the same loads run against it (the
/// same GGUF file, as many slots) in the same run, as the peer column.
struct ServeSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "The OpenAI-compatible server under concurrent streaming clients.")

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "GGUF model (default: SmolLM2-135M-Instruct Q4_1).") var model: String?
    @Option(help: "Concurrent clients per level.") var clients = "1,4,8,16"
    @Option(name: .customLong("requests-per-client"), help: "Requests each client sends per level.") var requestsPerClient = 2
    @Option(name: .customLong("max-tokens"), help: "Tokens generated per request (ignore_eos).") var maxTokens = 64
    @Option(name: .customLong("seconds-per-level"), help: "Time limit of each level.") var secondsPerLevel = 120.0
    @Option(name: .customLong("rounds"), help: "Rounds of every level, the levels alternating; tokens/s is each level's median.")
    var rounds = 3

    func run() throws {
        guard let path = model ?? PretrainedModels.smolLM2 else { throw ValidationError(PretrainedModels.missing("SmolLM2-135M-Instruct Q4_1")) }
        let levels = clients.split(separator: ",").compactMap { Int($0) }
        guard !levels.isEmpty, levels.allSatisfy({ $0 > 0 }) else { throw ValidationError("--clients must list positive counts, got \(clients)") }
        let slots = levels.max()!
        var configuration = ServeConfiguration()
        configuration.port = 0
        configuration.parallel = slots
        configuration.queueLimit = slots * 4
        let server = try CortexServer(generator: TextGenerator.load(path), modelName: "bench", configuration: configuration)
        guard rounds >= 1 else { throw ValidationError("--rounds must be 1 or more, got \(rounds)") }
        let load = LoadSettings(requestsPerClient: requestsPerClient, maxTokens: maxTokens, timeLimit: secondsPerLevel, rounds: rounds)
        let ours = try blocking {
            let port = try await ServeSuite.start(server)
            return try await load.measure(url: "http://127.0.0.1:\(port)", levels: levels)
        }
        var peer: [Int: LoadResult] = [:]
        var notes = ["\(requestsPerClient) requests per client, \(maxTokens) tokens each (ignore_eos, greedy), prompts of 20-40 tokens; \(slots) slots; "
                     + "\(rounds) rounds with the levels alternating: tokens/s is each level's median, the ratio the median of the rounds' ratios, "
                     + "latencies over all rounds"]
        if let binary = ProcessInfo.processInfo.environment["CORTEX_LLAMA_SERVER"]
            ?? LlamaCppReference.binDirectory.map({ ($0 as NSString).appendingPathComponent("llama-server") }) {
            do {
                peer = try LlamaServerPeer.measure(binary: binary, model: path, slots: slots, load: load, levels: levels)
                notes.append("peer: llama.cpp llama-server \(binary), -np \(slots), 2 threads")
            } catch {
                notes.append("peer: llama-server failed: \(error)")
            }
        } else {
            notes.append("peer: set CORTEX_LLAMA_CPP to a llama.cpp build (or CORTEX_LLAMA_SERVER to its llama-server) to measure it in the same run")
        }
        var rows: [BenchmarkRow] = []
        for level in levels {
            guard let result = ours[level] else { continue }
            let other = peer[level]
            rows.append(BenchmarkRow(name: "\(level) streams: generated tokens/s", cortex: result.tokensPerSecond, reference: other?.tokensPerSecond, unit: "tok/s"))
            rows.append(BenchmarkRow(name: "\(level) streams: time to first token p50", cortex: result.timeToFirstToken.percentile(50) * 1000,
                                     reference: other.map { $0.timeToFirstToken.percentile(50) * 1000 }, unit: "ms", higherIsBetter: false))
            rows.append(BenchmarkRow(name: "\(level) streams: time to first token p99", cortex: result.timeToFirstToken.percentile(99) * 1000,
                                     reference: other.map { $0.timeToFirstToken.percentile(99) * 1000 }, unit: "ms", higherIsBetter: false))
            rows.append(BenchmarkRow(name: "\(level) streams: inter-token latency p50", cortex: result.interToken.percentile(50) * 1000,
                                     reference: other.map { $0.interToken.percentile(50) * 1000 }, unit: "ms", higherIsBetter: false))
            rows.append(BenchmarkRow(name: "\(level) streams: inter-token latency p99", cortex: result.interToken.percentile(99) * 1000,
                                     reference: other.map { $0.interToken.percentile(99) * 1000 }, unit: "ms", higherIsBetter: false))
            if result.failures > 0 { notes.append("\(level) streams: \(result.failures) requests failed: \(Set(result.errors).sorted().joined(separator: "; "))") }
        }
        if let one = ours[1], let eight = ours[8] {
            rows.append(BenchmarkRow(name: "8 streams over 1: tokens/s", cortex: LoadResult.ratio(eight, over: one),
                                     reference: peer[8].flatMap { e in peer[1].map { LoadResult.ratio(e, over: $0) } }, unit: "x"))
            rows.append(BenchmarkRow(name: "8 streams over 1: inter-token p99", cortex: eight.interToken.percentile(99) / one.interToken.percentile(99),
                                     reference: peer[8].flatMap { e in peer[1].map { e.interToken.percentile(99) / $0.interToken.percentile(99) } },
                                     unit: "x", higherIsBetter: false))
        }
        BenchmarkReport.print(rows, json: options.json, notes: notes, peer: "llama.cpp")
    }

    /// Starts the server in this process and answers its port once it listens.
    static func start(_ server: CortexServer) async throws -> Int {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        Task { try await server.run(onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }) }
        for await port in ports { return port }
        throw ValidationError("the server did not start")
    }
}

/// Runs async work to completion from synchronous code.
func blocking<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
    let box = ResultBox<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

final class ResultBox<Value>: @unchecked Sendable {
    var result: Result<Value, Error>?
}

/// Latencies of one level, in seconds.
struct Samples: Sendable {
    var values: [Double] = []

    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))]
    }
}

struct LoadResult: Sendable {
    /// Each round's tokens/s, in order.
    var rounds: [Double] = []
    /// The rounds' median.
    var tokensPerSecond: Double { Samples(values: rounds).percentile(50) }
    var timeToFirstToken = Samples()
    var interToken = Samples()
    var failures = 0
    var errors: [String] = []

    /// The median over rounds of `level`'s tokens/s over `base`'s in the same round (levels
    /// measured minutes apart see different machines; within a round, nearly the same).
    static func ratio(_ level: LoadResult, over base: LoadResult) -> Double {
        Samples(values: zip(level.rounds, base.rounds).map { $0 / $1 }).percentile(50)
    }
}

/// One client's view of a streamed completion.
struct StreamTiming: Sendable {
    var firstToken: Double?
    var gaps: [Double] = []
    var tokens = 0
    var failed = false
    var error: String?
}

struct LoadSettings: Sendable {
    var requestsPerClient: Int
    var maxTokens: Int
    var timeLimit: Double
    var rounds = 1

    static let topics = ["the history of the printing press", "how rivers shape valleys", "the life of honey bees", "a journey across the desert",
                         "the invention of the telescope", "why the sky is blue", "a small village by the sea", "the rules of chess",
                         "building a wooden boat", "the first winter on a new farm", "how bread is baked", "a lighthouse keeper's night",
                         "the migration of birds", "an old clock repairer", "learning to play the violin", "the tides and the moon"]

    func prompt(client: Int, request: Int) -> String {
        "Write a long, detailed story about \(Self.topics[(client + request) % Self.topics.count]). Begin with the setting, then the characters, then what happens."
    }

    /// Each level in turn, `rounds` times over: `clients` tasks each sending its requests one
    /// after another.
    func measure(url: String, levels: [Int]) async throws -> [Int: LoadResult] {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        // Warm-up: one short request (first-touch of the weights and caches).
        _ = try? await stream(client: client, url: url, prompt: prompt(client: 0, request: 0), maxTokens: 4)
        var results: [Int: LoadResult] = [:]
        for _ in 0..<rounds {
            for level in levels { await run(level: level, client: client, url: url, into: &results) }
        }
        return results
    }

    /// One round of one level, added to `results[level]`.
    func run(level: Int, client: HTTPClient, url: String, into results: inout [Int: LoadResult]) async {
        let start = Date()
        let deadline = start.addingTimeInterval(timeLimit)
        let timings = await withTaskGroup(of: [StreamTiming].self) { group in
            for clientIndex in 0..<level {
                group.addTask {
                    var mine: [StreamTiming] = []
                    for request in 0..<requestsPerClient where Date() < deadline {
                        do {
                            mine.append(try await stream(client: client, url: url, prompt: prompt(client: clientIndex, request: request),
                                                         maxTokens: maxTokens))
                        } catch {
                            mine.append(StreamTiming(failed: true, error: "\(error)"))
                        }
                    }
                    return mine
                }
            }
            var all: [StreamTiming] = []
            for await part in group { all += part }
            return all
        }
        let elapsed = Date().timeIntervalSince(start)
        var result = results[level] ?? LoadResult()
        result.rounds.append(Double(timings.reduce(0) { $0 + $1.tokens }) / elapsed)
        for timing in timings {
            if timing.failed {
                result.failures += 1
                result.errors.append(timing.error ?? "unknown")
                continue
            }
            if let first = timing.firstToken { result.timeToFirstToken.values.append(first) }
            result.interToken.values += timing.gaps
        }
        results[level] = result
    }

    /// One streamed /v1/completions request: when each piece of text arrived, and how many
    /// tokens the usage chunk reports (the pieces counted when there is none).
    func stream(client: HTTPClient, url: String, prompt: String, maxTokens: Int) async throws -> StreamTiming {
        var request = HTTPClientRequest(url: url + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body: JSONValue = ["model": "bench", "prompt": .string(prompt), "max_tokens": JSONValue(maxTokens), "temperature": 0, "stream": true,
                               "ignore_eos": true, "stream_options": ["include_usage": true]]
        request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        let sent = Date()
        let response = try await client.execute(request, timeout: .seconds(600))
        guard response.status == .ok else {
            let text = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
            return StreamTiming(failed: true, error: "HTTP \(response.status.code): \(text)")
        }
        var timing = StreamTiming()
        // The events' bytes as they come, cut at each blank line (the load generator shares the
        // server's cores, so it reads bytes rather than building and searching strings).
        var buffer: [UInt8] = []
        var last: Date?
        var pieces = 0
        var usage: Int?
        let prefix = Array("data: ".utf8)
        for try await bytes in response.body {
            buffer += bytes.readableBytesView
            var start = 0
            while let end = (start..<max(start, buffer.count - 1)).first(where: { buffer[$0] == 0x0A && buffer[$0 + 1] == 0x0A }) {
                let line = buffer[start..<end]
                start = end + 2
                guard line.starts(with: prefix), case let data = line.dropFirst(prefix.count), !data.elementsEqual("[DONE]".utf8),
                      let event = JSONValue.parse(Data(data)) else { continue }
                if case let .number(count)? = event["usage"]?["completion_tokens"] { usage = Int(count) }
                guard case let .array(choices)? = event["choices"], case let .string(text)? = choices.first?["text"], !text.isEmpty else { continue }
                let now = Date()
                if let last { timing.gaps.append(now.timeIntervalSince(last)) } else { timing.firstToken = now.timeIntervalSince(sent) }
                last = now
                pieces += 1
            }
            buffer.removeFirst(start)
        }
        timing.tokens = usage ?? pieces
        return timing
    }
}

/// llama.cpp's server as the peer: started on a free port with the same model and slots,
/// measured with the same loads, stopped.
enum LlamaServerPeer {
    static func measure(binary: String, model: String, slots: Int, load: LoadSettings, levels: [Int]) throws -> [Int: LoadResult] {
        let port = 18_000 + Int(getpid() % 1000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-m", model, "--host", "127.0.0.1", "--port", String(port), "-np", String(slots), "-c", String(slots * 512),
                             "--threads", "2", "--alias", "bench", "--no-webui"]
        var environment = ProcessInfo.processInfo.environment
        environment["LD_LIBRARY_PATH"] = (binary as NSString).deletingLastPathComponent
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { process.terminate(); process.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        return try blocking {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = client.shutdown() }
            var ready = false
            for _ in 0..<120 where !ready {
                if let response = try? await client.execute(HTTPClientRequest(url: url + "/health"), timeout: .seconds(2)), response.status == .ok {
                    ready = true
                } else {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            guard ready else { throw ValidationError("llama-server did not become ready on port \(port)") }
            return try await load.measure(url: url, levels: levels)
        }
    }
}
