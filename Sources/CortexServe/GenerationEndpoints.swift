import CortexCore
import CortexModels
import CortexText
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// /v1/completions and /v1/chat/completions: the request read and checked, one scheduler job
/// per prompt and choice, the answer whole or as server-sent events.
extension CortexServer {
    /// One request's jobs, where its answer's fields come from.
    struct PlannedRequest: Sendable {
        var chat: Bool
        var fields: GenerationFields
        var jobs: [GenerationJob]
        var id: String
    }

    func generate(_ request: Request, chat: Bool) async throws -> Response {
        let started = ContinuousClock.now
        var request = request
        let plan = try self.plan(try await readBody(&request), chat: chat)
        let events: AsyncStream<(Int, GenerationEvent)>
        do throws(BatchScheduler.SubmitError) {
            events = try scheduler.submit(plan.jobs)
        } catch {
            switch error {
            case let .queueFull(limit): throw APIError.busy("All \(scheduler.slots) slots are busy and \(limit) requests are queued; retry later")
            case .shuttingDown: throw APIError.busy("The server is shutting down")
            }
        }
        // A streamed answer notices a client that left at its next write; a whole one is
        // cancelled when the connection closes (and the connection ends with the answer).
        if plan.fields.stream { return streamResponse(plan, events: events, started: started) }
        var response = try await request.body.consumeWithCancellationOnInboundClose { _ in
            try await self.wholeResponse(plan, events: events, started: started)
        }
        response.headers[.connection] = "close"
        return response
    }

    /// Reads and checks the request: 400 for bad fields, 404 for another model, 400 for a
    /// prompt and completion that do not fit the context.
    func plan(_ fields: RequestFields, chat: Bool) throws -> PlannedRequest {
        let options = try GenerationFields(fields, chat: chat)
        try checkModel(options.model, served: modelName)
        let prompts = chat ? [try chatPrompt(fields)] : try completionPrompts(fields)
        var jobs: [GenerationJob] = []
        let baseSeed = options.seed ?? UInt64.random(in: 0...UInt64.max)
        for prompt in prompts {
            guard !prompt.isEmpty else { throw APIError.invalid("The prompt has no tokens", param: chat ? "messages" : "prompt") }
            if let outside = prompt.first(where: { $0 < 0 || $0 >= generator.model.vocabularySize }) {
                throw APIError.invalid("Token \(outside) is outside the vocabulary of \(generator.model.vocabularySize)", param: "prompt",
                                       code: "invalid_value")
            }
            let maxTokens = options.maxTokens ?? (chat ? contextLength - prompt.count : 16)
            guard prompt.count + maxTokens <= contextLength, maxTokens >= 1 else {
                throw APIError.invalid("This model's maximum context length is \(contextLength) tokens; the request asks for \(prompt.count + maxTokens) "
                                       + "(\(prompt.count) in the prompt, \(maxTokens) for max_tokens)",
                                       param: chat ? "messages" : "prompt", code: "context_length_exceeded")
            }
            for choice in 0..<options.choices {
                jobs.append(GenerationJob(prompt: prompt, maxTokens: maxTokens, sampling: options.sampling, seed: baseSeed &+ UInt64(choice),
                                          stop: options.stop, logprobs: options.logprobs, ignoreStopTokens: options.ignoreEndOfSequence))
            }
        }
        return PlannedRequest(chat: chat, fields: options, jobs: jobs, id: (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased())
    }

    /// `prompt`: a string, a list of strings, a list of token ids or a list of such lists.
    func completionPrompts(_ fields: RequestFields) throws -> [[Int]] {
        let wrongType = APIError.invalid("prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids", param: "prompt")
        guard let prompt = fields.value("prompt") else { throw APIError.invalid("prompt is required", param: "prompt") }
        func tokens(_ items: [JSONValue]) throws -> [Int] {
            try items.map { item in
                guard case let .number(number) = item, number.rounded() == number, abs(number) < 1e9 else { throw wrongType }
                return Int(number)
            }
        }
        switch prompt {
        case let .string(text): return [try generator.tokenizer.encode(text)]
        case let .array(items):
            guard !items.isEmpty else { throw APIError.invalid("prompt is an empty list", param: "prompt") }
            if items.allSatisfy({ if case .number = $0 { true } else { false } }) { return [try tokens(items)] }
            return try items.map { item in
                switch item {
                case let .string(text): return try generator.tokenizer.encode(text)
                case let .array(inner): return try tokens(inner)
                default: throw wrongType
                }
            }
        default: throw wrongType
        }
    }

    /// `messages` rendered by the model's chat template.
    func chatPrompt(_ fields: RequestFields) throws -> [Int] {
        guard let template = generator.chatTemplate else {
            throw APIError.invalid("The model \(modelName) has no chat template; use /v1/completions", param: "messages")
        }
        guard case let .array(items)? = fields.value("messages"), !items.isEmpty else {
            throw APIError.invalid("messages must be a non-empty list of messages", param: "messages")
        }
        let messages = try items.enumerated().map { index, item -> ChatTemplate.Message in
            guard case let .object(message) = item, case let .string(role)? = message["role"] else {
                throw APIError.invalid("messages[\(index)] must be an object with a role", param: "messages")
            }
            guard ["system", "developer", "user", "assistant"].contains(role) else {
                throw APIError.invalid("messages[\(index)].role is \"\(role)\"; it must be system, user or assistant", param: "messages")
            }
            let content: String
            switch message["content"] {
            case let .string(text)?: content = text
            case let .array(parts)?:
                // Content parts: only text ones can be read by a language model.
                content = try parts.map { part in
                    guard case let .object(fields) = part, fields["type"] == "text", case let .string(text)? = fields["text"] else {
                        throw APIError.invalid("messages[\(index)].content parts must be {\"type\": \"text\", \"text\": ...}", param: "messages")
                    }
                    return text
                }.joined()
            case .null?, nil where role == "assistant": content = ""
            default: throw APIError.invalid("messages[\(index)].content must be a string or a list of text parts", param: "messages")
            }
            return ChatTemplate.Message(role: role == "developer" ? "system" : role, content: content)
        }
        let prompt: String
        do {
            prompt = try template.render(messages)
        } catch let JinjaError.raised(message) {
            // The template's own check of the conversation (roles must alternate, ...).
            throw APIError.invalid("The chat template refused the messages: \(message)", param: "messages")
        }
        return try generator.tokenizer.encode(prompt)
    }

    /// Collects every choice, then answers once.
    func wholeResponse(_ plan: PlannedRequest, events: AsyncStream<(Int, GenerationEvent)>, started: ContinuousClock.Instant) async throws -> Response {
        var texts = Array(repeating: "", count: plan.jobs.count)
        var logprobs = Array(repeating: [TokenLogProbability](), count: plan.jobs.count)
        var reasons = Array(repeating: FinishReason.cancelled, count: plan.jobs.count)
        var usage = (prompt: 0, completion: 0)
        var timing = LatencyTracker(metrics: metrics, started: started, choices: plan.jobs.count)
        for await (index, event) in events {
            switch event {
            case let .text(delta, tokens):
                timing.sawText(choice: index)
                texts[index] += delta
                logprobs[index] += tokens
            case let .finished(reason, promptTokens, completionTokens):
                reasons[index] = reason
                usage.prompt += promptTokens
                usage.completion += completionTokens
            case let .failed(message):
                throw APIError(status: .internalServerError, message: "Generation failed: \(message)", type: "server_error")
            }
        }
        try Task.checkCancellation()
        if reasons.contains(.cancelled) { throw APIError.busy("The server shut down before the answer was complete") }
        recordUsage(plan, usage, started: started)
        let choices: [JSONValue] = plan.jobs.indices.map { index in
            var choice: [String: JSONValue] = ["index": JSONValue(index), "finish_reason": .string(reasons[index].rawValue)]
            if plan.chat {
                choice["message"] = ["role": "assistant", "content": .string(texts[index])]
            } else {
                choice["text"] = .string(texts[index])
            }
            choice["logprobs"] = plan.fields.logprobs == nil ? .null : Self.logprobsJSON(logprobs[index], chat: plan.chat)
            return .object(choice)
        }
        return Self.json(["id": .string(plan.id), "object": plan.chat ? "chat.completion" : "text_completion", "created": JSONValue(created),
                          "model": .string(modelName), "choices": .array(choices), "usage": Self.usageJSON(usage)])
    }

    /// Server-sent events: a chunk per piece of text (the first chat chunk of each choice
    /// carrying the role), one with each choice's finish reason, a usage chunk when asked
    /// for, then `data: [DONE]`. A write that fails (the client left) ends the stream, which
    /// cancels the sequences.
    func streamResponse(_ plan: PlannedRequest, events: AsyncStream<(Int, GenerationEvent)>, started: ContinuousClock.Instant) -> Response {
        let body = ResponseBody { writer in
            var timing = LatencyTracker(metrics: self.metrics, started: started, choices: plan.jobs.count)
            var usage = (prompt: 0, completion: 0)
            var roleSent = Array(repeating: false, count: plan.jobs.count)
            func chunk(_ choice: JSONValue) -> JSONValue {
                var fields: [String: JSONValue] = ["id": .string(plan.id), "object": plan.chat ? "chat.completion.chunk" : "text_completion",
                                                   "created": JSONValue(self.created), "model": .string(self.modelName), "choices": [choice]]
                if plan.fields.includeUsage { fields["usage"] = .null }
                return .object(fields)
            }
            func send(_ value: JSONValue) async throws {
                try await writer.write(ByteBuffer(string: "data: \(value.text)\n\n"))
            }
            for await (index, event) in events {
                switch event {
                case let .text(delta, tokens):
                    timing.sawText(choice: index)
                    var choice: [String: JSONValue] = ["index": JSONValue(index), "finish_reason": .null]
                    if plan.chat {
                        var delta: [String: JSONValue] = ["content": .string(delta)]
                        if !roleSent[index] { delta["role"] = "assistant" }
                        roleSent[index] = true
                        choice["delta"] = .object(delta)
                    } else {
                        choice["text"] = .string(delta)
                    }
                    choice["logprobs"] = plan.fields.logprobs == nil ? .null : Self.logprobsJSON(tokens, chat: plan.chat)
                    try await send(chunk(.object(choice)))
                case let .finished(reason, promptTokens, completionTokens):
                    usage.prompt += promptTokens
                    usage.completion += completionTokens
                    var choice: [String: JSONValue] = ["index": JSONValue(index), "finish_reason": .string(reason.rawValue), "logprobs": .null]
                    if plan.chat { choice["delta"] = roleSent[index] ? [:] : ["role": "assistant", "content": ""] } else { choice["text"] = "" }
                    try await send(chunk(.object(choice)))
                case let .failed(message):
                    try await send(APIError(status: .internalServerError, message: "Generation failed: \(message)", type: "server_error").body)
                }
            }
            self.recordUsage(plan, usage, started: started)
            if plan.fields.includeUsage {
                try await send(["id": .string(plan.id), "object": plan.chat ? "chat.completion.chunk" : "text_completion",
                                "created": JSONValue(self.created), "model": .string(self.modelName), "choices": [],
                                "usage": Self.usageJSON(usage)])
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func recordUsage(_ plan: PlannedRequest, _ usage: (prompt: Int, completion: Int), started: ContinuousClock.Instant) {
        metrics.promptTokens.increment(by: Int64(usage.prompt))
        metrics.generatedTokens.increment(by: Int64(usage.completion))
        metrics.requestDuration.record(ContinuousClock.now - started)
    }

    static func usageJSON(_ usage: (prompt: Int, completion: Int)) -> JSONValue {
        ["prompt_tokens": JSONValue(usage.prompt), "completion_tokens": JSONValue(usage.completion),
         "total_tokens": JSONValue(usage.prompt + usage.completion)]
    }

    /// Chat: `{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}]}`; completions:
    /// `{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}], "text_offset"}`.
    static func logprobsJSON(_ tokens: [TokenLogProbability], chat: Bool) -> JSONValue {
        func candidate(_ item: TokenLogProbability.Candidate) -> [String: JSONValue] {
            ["token": .string(item.text), "logprob": JSONValue(Double(item.logprob)), "bytes": .array(item.bytes.map { JSONValue(Int($0)) })]
        }
        if chat {
            return ["content": .array(tokens.map { token in
                var entry = candidate(token.chosen)
                entry["top_logprobs"] = .array(token.top.map { .object(candidate($0)) })
                return .object(entry)
            })]
        }
        var offset = 0
        var offsets: [JSONValue] = []
        for token in tokens {
            offsets.append(JSONValue(offset))
            offset += token.chosen.text.count
        }
        return ["tokens": .array(tokens.map { .string($0.chosen.text) }),
                "token_logprobs": .array(tokens.map { JSONValue(Double($0.chosen.logprob)) }),
                "top_logprobs": .array(tokens.map { token in
                    .object(Dictionary(token.top.map { ($0.text, JSONValue(Double($0.logprob))) }) { first, _ in first })
                }),
                "text_offset": .array(offsets)]
    }
}

/// Time to first token per request and time between tokens per choice, into the histograms.
struct LatencyTracker {
    let metrics: ServerMetrics
    let started: ContinuousClock.Instant
    var firstSeen = false
    var last: [ContinuousClock.Instant?]

    init(metrics: ServerMetrics, started: ContinuousClock.Instant, choices: Int) {
        self.metrics = metrics
        self.started = started
        last = Array(repeating: nil, count: choices)
    }

    mutating func sawText(choice: Int) {
        let now = ContinuousClock.now
        if !firstSeen {
            firstSeen = true
            metrics.timeToFirstToken.record(now - started)
        }
        if let previous = last[choice] { metrics.interTokenLatency.record(now - previous) }
        last[choice] = now
    }
}
