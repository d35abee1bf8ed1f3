import CortexCore
import CortexModels
import CortexServe
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every endpoint through a real HTTP connection (HummingbirdTesting's AsyncHTTPClient mode,
/// on 127.0.0.1), with the small random Llama.
@Suite struct EndpointTests {
    typealias F = ServeFixtures

    @Test func healthModelsAndMetrics() async throws {
        let server = try F.server()
        try await F.serve(server) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(F.json(response) == ["status": "ok"])
            }
            try await client.execute(uri: "/v1/models", method: .get) { response in
                let body = F.json(response)
                #expect(body["object"] == "list")
                #expect(body["data"] == .array([["id": "tiny", "object": "model", "created": body["data"]!.firstCreated, "owned_by": "cortex"]]))
            }
            _ = try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                         body: F.body(["prompt": "The quick", "max_tokens": 3, "temperature": 0]))
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                for name in ["cortex_requests_total", "cortex_prompt_tokens_total", "cortex_generated_tokens_total", "cortex_queue_depth",
                             "cortex_decode_batch_size_bucket", "cortex_time_to_first_token_seconds_bucket", "cortex_inter_token_latency_seconds_bucket",
                             "cortex_request_duration_seconds_bucket"] {
                    #expect(text.contains(name), "\(name) missing from /metrics")
                }
                #expect(text.contains("cortex_generated_tokens_total 3"))
            }
        }
    }

    @Test func completionsTakeStringsListsAndTokenIds() async throws {
        let server = try F.server()
        let tokenizer = F.tinyGenerator.tokenizer
        try await F.serve(server) { client in
            let ids = try tokenizer.encode("The lazy dog")
            var answers: [JSONValue] = []
            for prompt: JSONValue in ["The lazy dog", ["The lazy dog", "A small model"], .array(ids.map { JSONValue($0) })] {
                try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                         body: F.body(["model": "tiny", "prompt": prompt, "max_tokens": 5, "temperature": 0])) { response in
                    #expect(response.status == .ok)
                    let body = F.json(response)
                    #expect(body["object"] == "text_completion")
                    #expect(body["model"] == "tiny")
                    guard case let .string(id)? = body["id"], case .number? = body["created"], case let .array(choices)? = body["choices"] else {
                        Issue.record("missing id, created or choices: \(body.text)")
                        return
                    }
                    #expect(id.hasPrefix("cmpl-"))
                    #expect(choices.count == (prompt == ["The lazy dog", "A small model"] ? 2 : 1))
                    #expect(choices.first?["finish_reason"] == "length")
                    #expect(body["usage"]?["completion_tokens"] == JSONValue(5 * choices.count))
                    let secondPrompt = try tokenizer.encode("A small model").count
                    #expect(body["usage"]?["prompt_tokens"] == JSONValue(ids.count + (choices.count == 2 ? secondPrompt : 0)))
                    answers.append(choices[0]["text"] ?? .null)
                }
            }
            // The same prompt as text or as its token ids gives the same greedy text.
            #expect(answers[0] == answers[2])
            #expect(answers[0] == answers[1])
        }
    }

    @Test func chatAnswersAndStreams() async throws {
        let server = try F.server()
        let messages: JSONValue = [["role": "system", "content": "Be brief."], ["role": "user", "content": "What about the weather?"]]
        try await F.serve(server) { client in
            var whole = ""
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["messages": messages, "max_completion_tokens": 12, "temperature": 0, "seed": 3])) { response in
                let body = F.json(response)
                #expect(body["object"] == "chat.completion")
                let choice = body["choices"]?.first
                #expect(choice?["message"]?["role"] == "assistant")
                guard case let .string(text)? = choice?["message"]?["content"] else { Issue.record("no content: \(body.text)"); return }
                whole = text
                #expect(body["usage"]?["total_tokens"] != nil)
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["messages": messages, "max_tokens": 12, "temperature": 0, "stream": true,
                                                   "stream_options": ["include_usage": true]])) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                let events = F.events(response)
                #expect(events.last == "[DONE]")
                let chunks = events.dropLast().compactMap { JSONValue.parse(Data($0.utf8)) }
                #expect(chunks.first?["choices"]?.first?["delta"]?["role"] == "assistant")
                #expect(chunks.dropFirst().allSatisfy { $0["choices"]?.first?["delta"]?["role"] == nil })
                #expect(chunks.allSatisfy { $0["object"] == "chat.completion.chunk" })
                var streamed = ""
                for chunk in chunks { if case let .string(piece)? = chunk["choices"]?.first?["delta"]?["content"] { streamed += piece } }
                #expect(streamed == whole)
                let finishes = chunks.compactMap { $0["choices"]?.first?["finish_reason"] }.filter { $0 != .null }
                #expect(finishes == ["length"] || finishes == ["stop"])
                // The usage chunk: no choices, the counts.
                #expect(chunks.last?["choices"] == .array([]))
                #expect(chunks.last?["usage"]?["completion_tokens"] != nil)
            }
        }
    }

    @Test func samplingFieldsStopsLogprobsAndChoices() async throws {
        let server = try F.server()
        try await F.serve(server) { client in
            // Sampled with a seed: the same answer twice; n choices differ in seed.
            let request: JSONValue = ["prompt": "The quick", "max_tokens": 8, "temperature": 1.2, "top_p": 0.9, "top_k": 40, "seed": 11,
                                      "presence_penalty": 0.5, "frequency_penalty": 0.5, "repetition_penalty": 1.1, "n": 3]
            var first: JSONValue?
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders, body: F.body(request)) { response in
                    #expect(response.status == .ok)
                    let choices = F.json(response)["choices"]
                    if let first { #expect(choices == first) } else { first = choices }
                    guard case let .array(items)? = choices else { Issue.record("no choices"); return }
                    #expect(items.map { $0["index"] } == [0, 1, 2])
                }
            }
            // Logprobs: one entry per token, with the top alternatives; the chosen greedy token is the most likely.
            try await client.execute(uri: "/v1/chat/completions", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["messages": [["role": "user", "content": "Hello"]], "max_tokens": 4, "temperature": 0,
                                                   "logprobs": true, "top_logprobs": 3])) { response in
                guard case let .array(content)? = F.json(response)["choices"]?.first?["logprobs"]?["content"], let entry = content.first else {
                    Issue.record("no logprobs: \(F.json(response).text)")
                    return
                }
                #expect(content.count >= 1)
                guard case let .array(top)? = entry["top_logprobs"], case let .number(chosen)? = entry["logprob"],
                      case let .number(best)? = top.first?["logprob"] else { Issue.record("bad logprobs entry \(entry.text)"); return }
                #expect(top.count == 3)
                #expect(chosen <= 0 && abs(chosen - best) < 1e-6)
            }
            try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["prompt": "The quick", "max_tokens": 4, "temperature": 0, "logprobs": 2])) { response in
                let logprobs = F.json(response)["choices"]?.first?["logprobs"]
                guard case let .array(tokens)? = logprobs?["tokens"], case let .array(values)? = logprobs?["token_logprobs"] else {
                    Issue.record("no completion logprobs"); return
                }
                #expect(tokens.count == 4 && values.count == 4)
            }
            // A stop string ends the text before it, with finish_reason stop.
            var greedy = ""
            try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["prompt": "The quick", "max_tokens": 12, "temperature": 0])) { response in
                if case let .string(text)? = F.json(response)["choices"]?.first?["text"] { greedy = text }
            }
            let scalars = Array(greedy.unicodeScalars)
            guard scalars.count >= 4 else { Issue.record("greedy text too short: \(greedy)"); return }
            let stop = String(String.UnicodeScalarView(scalars[2..<4]))
            let expected = String(greedy[..<greedy.range(of: stop)!.lowerBound])
            for stream in [false, true] {
                try await client.execute(uri: "/v1/completions", method: .post, headers: F.jsonHeaders,
                                         body: F.body(["prompt": "The quick", "max_tokens": 12, "temperature": 0, "stop": [.string(stop), "zzzz"],
                                                       "stream": .bool(stream)])) { response in
                    if stream {
                        let chunks = F.events(response).dropLast().compactMap { JSONValue.parse(Data($0.utf8)) }
                        var text = ""
                        for chunk in chunks { if case let .string(piece)? = chunk["choices"]?.first?["text"] { text += piece } }
                        #expect(text == expected)
                        #expect(chunks.last?["choices"]?.first?["finish_reason"] == "stop")
                    } else {
                        #expect(F.json(response)["choices"]?.first?["text"] == .string(expected))
                        #expect(F.json(response)["choices"]?.first?["finish_reason"] == "stop")
                    }
                }
            }
        }
    }

    @Test func chatPageIsServed() async throws {
        let server = try F.server()
        try await F.serve(server) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                let page = String(buffer: response.body)
                #expect(page.contains("/v1/chat/completions") && page.contains("getReader"))
                #expect(!page.contains("http://") && !page.contains("https://"), "the page must fetch nothing from elsewhere")
            }
        }
    }

    @Test func embeddingsWithMiniLM() async throws {
        guard let directory = PretrainedModels.miniLM else {
            print("skipping embeddings endpoint: " + PretrainedModels.missing("all-MiniLM-L6-v2"))
            return
        }
        let embedder = try SentenceEmbedder.load(directory: directory)
        let server = try F.server(embedder: embedder)
        let expected = try embedder.embed(["A man is eating food.", "A cat sits on the mat."]).toFloatArray()
        try await F.serve(server) { client in
            for format in ["float", "base64"] {
                try await client.execute(uri: "/v1/embeddings", method: .post, headers: F.jsonHeaders,
                                         body: F.body(["model": "minilm", "input": ["A man is eating food.", "A cat sits on the mat."],
                                                       "encoding_format": .string(format)])) { response in
                    #expect(response.status == .ok)
                    let body = F.json(response)
                    guard case let .array(data)? = body["data"], data.count == 2 else { Issue.record("bad data \(body.text)"); return }
                    var values: [Float] = []
                    for item in data {
                        switch item["embedding"] {
                        case let .array(numbers)?: values += numbers.compactMap { if case let .number(n) = $0 { Float(n) } else { nil } }
                        case let .string(text)?:
                            let bytes = Data(base64Encoded: text)!
                            values += bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                        default: Issue.record("no embedding")
                        }
                    }
                    #expect(values == expected)
                    #expect(body["usage"]?["prompt_tokens"] != nil)
                }
            }
            try await client.execute(uri: "/v1/embeddings", method: .post, headers: F.jsonHeaders,
                                     body: F.body(["model": "other", "input": "x"])) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}

extension JSONValue {
    /// The `created` of the first element of a list (for comparing a list of models).
    var firstCreated: JSONValue { if case let .array(items) = self { items.first?["created"] ?? .null } else { .null } }
    var first: JSONValue? { if case let .array(items) = self { items.first } else { nil } }
}
