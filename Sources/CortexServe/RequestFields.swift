import CortexModels
import Foundation

/// Typed reading of a request's JSON fields: each getter answers nil for an absent (or null)
/// field and throws a 400 naming the field for a value of the wrong type or out of range.
struct RequestFields {
    let object: [String: JSONValue]

    init(_ body: JSONValue) throws {
        guard case let .object(object) = body else { throw APIError.invalid("The request body must be a JSON object") }
        self.object = object
    }

    func value(_ name: String) -> JSONValue? {
        guard let value = object[name], value != .null else { return nil }
        return value
    }

    func string(_ name: String) throws -> String? {
        guard let value = value(name) else { return nil }
        guard case let .string(text) = value else { throw APIError.invalid("\(name) must be a string", param: name) }
        return text
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = value(name) else { return nil }
        guard case let .bool(flag) = value else { throw APIError.invalid("\(name) must be a boolean", param: name) }
        return flag
    }

    func number(_ name: String, in range: ClosedRange<Double>? = nil, above lower: Double? = nil, rangeText: String = "") throws -> Double? {
        guard let value = value(name) else { return nil }
        guard case let .number(number) = value, number.isFinite else { throw APIError.invalid("\(name) must be a number", param: name) }
        if let range, !range.contains(number) {
            throw APIError.invalid("\(name) is \(Self.format(number)); it must be \(rangeText.isEmpty ? "in [\(Self.format(range.lowerBound)), \(Self.format(range.upperBound))]" : rangeText)",
                                   param: name, code: "invalid_value")
        }
        if let lower, !(number > lower) {
            throw APIError.invalid("\(name) is \(Self.format(number)); it must be \(rangeText.isEmpty ? "above \(Self.format(lower))" : rangeText)",
                                   param: name, code: "invalid_value")
        }
        return number
    }

    func integer(_ name: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = value(name) else { return nil }
        guard case let .number(number) = value, number.rounded() == number, abs(number) < 9e15 else {
            throw APIError.invalid("\(name) must be an integer", param: name)
        }
        let integer = Int(number)
        if let range, !range.contains(integer) {
            let bounds = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "in [\(range.lowerBound), \(range.upperBound)]"
            throw APIError.invalid("\(name) is \(integer); it must be \(bounds)", param: name, code: "invalid_value")
        }
        return integer
    }

    /// `stop`: a string or a list of up to 4 strings.
    func stopStrings() throws -> [String] {
        guard let value = value("stop") else { return [] }
        switch value {
        case let .string(text): return text.isEmpty ? [] : [text]
        case let .array(items):
            let texts = try items.map { item -> String in
                guard case let .string(text) = item else { throw APIError.invalid("stop must be a string or a list of strings", param: "stop") }
                return text
            }
            guard texts.count <= 4 else { throw APIError.invalid("stop has \(texts.count) strings; at most 4 are allowed", param: "stop") }
            return texts.filter { !$0.isEmpty }
        default: throw APIError.invalid("stop must be a string or a list of strings", param: "stop")
        }
    }

    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }
}

/// What every generation request shares: how many tokens, how they are drawn, when to stop,
/// and what to report.
struct GenerationFields {
    var model: String?
    /// nil: as many as the context leaves.
    var maxTokens: Int?
    var sampling: SamplingOptions
    var seed: UInt64?
    var stop: [String]
    var stream: Bool
    var includeUsage: Bool
    /// nil: no log-probabilities; k: the chosen token's and the k most likely.
    var logprobs: Int?
    var choices: Int
    /// vLLM's and llama-server's `ignore_eos`: run to max_tokens past the end-of-sequence token
    /// (benchmarks use it for a fixed length).
    var ignoreEndOfSequence: Bool

    /// Reads the fields of /v1/completions (`chat` false: logprobs is an integer) or
    /// /v1/chat/completions (`chat` true: logprobs a boolean, top_logprobs the count).
    init(_ fields: RequestFields, chat: Bool) throws {
        model = try fields.string("model")
        let maxCompletion = try fields.integer("max_completion_tokens", in: 1...Int.max)
        maxTokens = try maxCompletion ?? fields.integer("max_tokens", in: 1...Int.max)
        let temperature = try fields.number("temperature", in: 0...2) ?? 1
        let topP = try fields.number("top_p", in: 0...1, rangeText: "in (0, 1]").map { value -> Double in
            guard value > 0 else { throw APIError.invalid("top_p is 0; it must be in (0, 1]", param: "top_p", code: "invalid_value") }
            return value
        }
        let topK = try fields.integer("top_k", in: -1...Int.max)
        let presence = try fields.number("presence_penalty", in: -2...2) ?? 0
        let frequency = try fields.number("frequency_penalty", in: -2...2) ?? 0
        let repetition = try fields.number("repetition_penalty", above: 0, rangeText: "above 0") ?? 1
        sampling = SamplingOptions(temperature: Float(temperature), topK: topK.flatMap { $0 > 0 ? $0 : nil }, topP: topP.map(Float.init),
                                   repetitionPenalty: Float(repetition), presencePenalty: Float(presence), frequencyPenalty: Float(frequency))
        seed = try fields.integer("seed").map { UInt64(bitPattern: Int64($0)) }
        stop = try fields.stopStrings()
        stream = try fields.bool("stream") ?? false
        if let options = fields.value("stream_options") {
            guard case .object = options else { throw APIError.invalid("stream_options must be an object", param: "stream_options") }
            includeUsage = try RequestFields(options).bool("include_usage") ?? false
        } else {
            includeUsage = false
        }
        if chat {
            let wanted = try fields.bool("logprobs") ?? false
            let top = try fields.integer("top_logprobs", in: 0...20)
            if top != nil && !wanted { throw APIError.invalid("top_logprobs needs logprobs set to true", param: "top_logprobs") }
            logprobs = wanted ? (top ?? 0) : nil
        } else {
            logprobs = try fields.integer("logprobs", in: 0...20)
        }
        choices = try fields.integer("n", in: 1...16) ?? 1
        ignoreEndOfSequence = try fields.bool("ignore_eos") ?? false
    }
}
