import CortexModels

/// One sequence to generate: the prompt's tokens and how to continue them.
public struct GenerationJob: Sendable {
    public var prompt: [Int]
    public var maxTokens: Int
    public var sampling: SamplingOptions
    public var seed: UInt64
    public var stop: [String]
    /// nil: no log-probabilities; k: the chosen token's and the k most likely at each step.
    public var logprobs: Int?
    /// Keep going past the model's stop tokens, to `maxTokens`.
    public var ignoreStopTokens: Bool

    public init(prompt: [Int], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(temperature: 0), seed: UInt64 = 0,
                stop: [String] = [], logprobs: Int? = nil, ignoreStopTokens: Bool = false) {
        self.ignoreStopTokens = ignoreStopTokens
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.seed = seed
        self.stop = stop
        self.logprobs = logprobs
    }
}

/// Why a sequence ended: a stop token or string, its token limit, or a cancellation (the
/// client left, or the server shut down).
public enum FinishReason: String, Sendable {
    case stop, length, cancelled
}

/// A token's log-probability under the model, with the most likely alternatives.
public struct TokenLogProbability: Sendable {
    public struct Candidate: Sendable {
        public var token: Int
        public var text: String
        public var bytes: [UInt8]
        public var logprob: Float
    }
    public var chosen: Candidate
    public var top: [Candidate]
}

/// What a sequence reports as it runs.
public enum GenerationEvent: Sendable {
    /// New text (possibly empty while text is held back), with the log-probabilities of the
    /// tokens drawn since the last event when they were asked for.
    case text(String, logprobs: [TokenLogProbability])
    case finished(FinishReason, promptTokens: Int, completionTokens: Int)
    case failed(String)
}
