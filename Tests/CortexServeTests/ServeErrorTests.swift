import CortexCore
import CortexModels
import CortexServe
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every bad request gets its status and OpenAI's error shape, and the server keeps serving.
@Suite struct ServeErrorTests {
    typealias F = ServeFixtures

    /// Asserts the status and `{"error": {"message", "type", "param", "code"}}`; returns the message.
    @discardableResult
    static func expectError(_ response: TestResponse, _ status: HTTPResponse.Status, param: String? = nil, mentions: [String] = [],
                            sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(response.status == status, "\(String(buffer: response.body))", sourceLocation: sourceLocation)
        let error = F.json(response)["error"]
        guard case let .string(message)? = error?["message"], case .string? = error?["type"], error?["param"] != nil, error?["code"] != nil else {
            Issue.record("not an OpenAI error: \(String(buffer: response.body))", sourceLocation: sourceLocation)
            return ""
        }
        if let param { #expect(error?["param"] == .string(param), sourceLocation: sourceLocation) }
        for text in mentions { #expect(message.contains(text), "\(message) should mention \(text)", sourceLocation: sourceLocation) }
        return message
    }

    @Test func malformedAndOutOfRangeRequestsAre400() async throws {
        let server = try F.server(context: 64)
        try await F.serve(server) { client in
            let post = { (body: ByteBuffer, uri: String) async throws -> TestResponse in
                try await client.execute(uri: uri, method: .post, headers: F.jsonHeaders, body: body)
            }
            Self.expectError(try await post(ByteBuffer(string: "{\"prompt\": \"x\", "), "/v1/completions"), .badRequest, mentions: ["JSON"])
            Self.expectError(try await post(ByteBuffer(string: "[1, 2]"), "/v1/completions"), .badRequest, mentions: ["object"])
            let cases: [(JSONValue, String, [String])] = [
                (["prompt": "x", "temperature": "hot"], "temperature", ["number"]),
                (["prompt": "x", "temperature": -0.5], "temperature", ["-0.5"]),
                (["prompt": "x", "top_p": 0], "top_p", ["(0, 1]"]),
                (["prompt": "x", "top_p": 1.5], "top_p", ["1.5"]),
                (["prompt": "x", "max_tokens": 0], "max_tokens", ["0"]),
                (["prompt": "x", "max_tokens": 2.5], "max_tokens", ["integer"]),
                (["prompt": "x", "stream": "yes"], "stream", ["boolean"]),
                (["prompt": "x", "stop": [1]], "stop", ["string"]),
                (["prompt": "x", "presence_penalty": 3], "presence_penalty", ["3"]),
                (["prompt": "x", "n": 0], "n", ["0"]),
                (["prompt": 12], "prompt", ["string"]),
                (["prompt": [99999]], "prompt", ["99999"]),
                (["max_tokens": 3], "prompt", ["required"]),
            ]
            for (body, param, mentions) in cases {
                Self.expectError(try await post(F.body(body), "/v1/completions"), .badRequest, param: param, mentions: mentions)
            }
            Self.expectError(try await post(F.body(["messages": [["role": "robot", "content": "hi"]]]), "/v1/chat/completions"), .badRequest,
                             param: "messages", mentions: ["robot"])
            Self.expectError(try await post(F.body(["messages": "hi"]), "/v1/chat/completions"), .badRequest, param: "messages")
            // Prompt plus max_tokens beyond the context: both numbers named.
            let prompt = String(repeating: "The quick brown fox ", count: 4)
            let promptTokens = try F.tinyGenerator.tokenizer.encode(prompt).count
            Self.expectError(try await post(F.body(["prompt": .string(prompt), "max_tokens": 60]), "/v1/completions"), .badRequest,
                             mentions: ["64", "\(promptTokens) in the prompt", "60 for max_tokens"])
            // Embeddings without an embedding model.
            Self.expectError(try await post(F.body(["input": "x"]), "/v1/embeddings"), .badRequest, param: "model")
            // Still serving.
            try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["prompt": "The", "max_tokens": 2])) { #expect($0.status == .ok) }
        }
    }

    @Test func unknownModelAndRouteAre404() async throws {
        let server = try F.server()
        try await F.serve(server) { client in
            let response = try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                                    body: F.body(["model": "gpt-9", "prompt": "x"]))
            Self.expectError(response, .notFound, param: "model", mentions: ["gpt-9"])
            Self.expectError(try await client.execute(uri: "/v1/nothing", method: .get), .notFound)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        let server = try F.server(maximumBodyBytes: 2048)
        try await F.serve(server) { client in
            let big = F.body(["prompt": .string(String(repeating: "a", count: 5000))])
            Self.expectError(try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders, body: big),
                             .contentTooLarge, mentions: ["2048"])
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func missingOrWrongKeyIs401() async throws {
        let server = try F.server(apiKey: "sesame")
        try await F.serve(server) { client in
            Self.expectError(try await client.execute(uri: "/v1/models", method: .get), .unauthorized)
            Self.expectError(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sesam"]), .unauthorized)
            Self.expectError(try await client.execute(uri: "/v1/completions", method: .post, headers: [.authorization: "Basic sesame"],
                                                      body: F.body(["prompt": "x"])), .unauthorized)
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sesame"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// One slot and no queue: while a long request holds the slot, another gets 503 with
    /// Retry-After; afterwards the slot serves again.
    @Test func fullQueueIs503WithRetryAfter() async throws {
        let server = try F.server(parallel: 1, queue: 0, context: 4096)
        try await F.serve(server) { client in
            let port = try #require(client.port)
            let holder = try RawConnection(port: port)
            holder.send(path: "/v1/completions", json: ["prompt": "The", "max_tokens": 4000, "ignore_eos": true, "stream": true])
            _ = await holder.read(until: "data: ")
            let response = try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                                    body: F.body(["prompt": "x", "max_tokens": 2]))
            Self.expectError(response, .serviceUnavailable, mentions: ["slots"])
            #expect(response.headers[.retryAfter] == "1")
            holder.close()
            // The holder's sequence is cancelled by its disconnect; the slot frees.
            var status = HTTPResponse.Status.serviceUnavailable
            for _ in 0..<600 where status != .ok {
                status = try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                                  body: F.body(["prompt": "x", "max_tokens": 2])).status
                if status != .ok { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == .ok)
        }
    }
}
