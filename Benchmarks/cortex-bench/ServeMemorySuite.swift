import ArgumentParser
import AsyncHTTPClient
import CortexCore
import CortexModels
import CortexServe
import Foundation
import NIOCore

/// `cortex-bench serve-memory`: resident memory of the in-process server before and after
/// many sequential short requests (after a warm-up), a mix of completions, streamed chat and
/// bad requests, so a leak in any path shows as growth.
struct ServeMemorySuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve-memory", abstract: "Resident memory across many sequential requests to the server.")

    @OptionGroup var options: BenchmarkOptions
    @Option(help: "GGUF model (default: SmolLM2-135M-Instruct Q4_1).") var model: String?
    @Option(help: "Requests measured (after the warm-up).") var requests = 10_000
    @Option(help: "Warm-up requests.") var warmup = 500

    /// VmRSS of this process in bytes.
    static func residentBytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kilobytes * 1024
    }

    func run() throws {
        guard let path = model ?? PretrainedModels.smolLM2 else { throw ValidationError(PretrainedModels.missing("SmolLM2-135M-Instruct Q4_1")) }
        var configuration = ServeConfiguration()
        configuration.port = 0
        let server = try CortexServer(generator: TextGenerator.load(path), modelName: "bench", configuration: configuration)
        let (requests, warmup) = (requests, warmup)
        let (before, after, failures, seconds) = try blocking {
            let port = try await ServeSuite.start(server)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = client.shutdown() }
            let url = "http://127.0.0.1:\(port)"
            var failures = 0
            func send(_ index: Int) async {
                var request = HTTPClientRequest(url: url + (index % 3 == 1 ? "/v1/chat/completions" : "/v1/completions"))
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                let body: JSONValue = switch index % 3 {
                case 0: ["prompt": .string("Hello number \(index)"), "max_tokens": 2, "temperature": 0]
                case 1: ["messages": [["role": "user", "content": .string("Hi \(index)")]], "max_tokens": 2, "stream": true]
                default: ["prompt": "x", "temperature": -1]   // a 400
                }
                request.body = .bytes(ByteBuffer(bytes: body.encoded()))
                do {
                    let response = try await client.execute(request, timeout: .seconds(60))
                    _ = try await response.body.collect(upTo: 1 << 20)
                    if response.status != (index % 3 == 2 ? .badRequest : .ok) { failures += 1 }
                } catch {
                    failures += 1
                }
            }
            for index in 0..<warmup { await send(index) }
            let before = Self.residentBytes()
            let start = Date()
            for index in 0..<requests { await send(index) }
            return (before, Self.residentBytes(), failures, Date().timeIntervalSince(start))
        }
        let rows = [
            BenchmarkRow(name: "resident memory after \(warmup) warm-up requests", cortex: before / 1_048_576, reference: nil, unit: "MiB", higherIsBetter: false),
            BenchmarkRow(name: "resident memory after \(requests) more", cortex: after / 1_048_576, reference: nil, unit: "MiB", higherIsBetter: false),
            BenchmarkRow(name: "growth", cortex: (after / before - 1) * 100, reference: nil, unit: "%", higherIsBetter: false),
            BenchmarkRow(name: "requests per second (sequential)", cortex: Double(requests) / seconds, reference: nil, unit: "req/s"),
        ]
        BenchmarkReport.print(rows, json: options.json, notes: ["\(failures) requests failed or got an unexpected status",
                                                               "requests cycle through a completion, a streamed chat and a 400"])
    }
}
