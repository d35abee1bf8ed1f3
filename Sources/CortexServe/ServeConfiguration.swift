import CortexCore

/// How `cortex serve` listens and schedules: its address, slots, context, limits and key.
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Sequences decoded together (llama-server's `--parallel`).
    public var parallel = 4
    /// Tokens of prompt plus completion per sequence; nil: the model's context length.
    public var context: Int?
    /// Requests that may wait for a slot before the server answers 503.
    public var queueLimit = 64
    /// Prompt tokens a sequence reads per step (its prompt is cut into chunks of this size).
    public var prefillChunk = 8
    /// Rows one step takes at most (decoding tokens plus prompt chunks; at least one chunk).
    public var stepRows = 16
    /// Largest request body accepted (413 above it).
    public var maximumBodyBytes = 1 << 20
    /// When set, every /v1 and /metrics request needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// How long in-flight requests may run after SIGINT/SIGTERM before they are cancelled.
    public var shutdownDeadline: Duration = .seconds(10)
    /// How quantised products treat the activations (`.integer`, llama.cpp's 8-bit codes, unless
    /// CORTEX_QUANT_ACTIVATIONS says otherwise).
    public var activations = QuantizedMatrix.activations
    /// What the sequences' key/value caches hold: `.float32`, or `.float16` (llama.cpp's
    /// default: half the memory, and half the bytes each step's attention reads). float32 is
    /// the default because float16 keys and values, on top of 8-bit activations, flip
    /// SmolLM2's greedy answer to "What is the capital of France?" away from Paris.
    public var cacheType = DType.float32

    public init() {}
}
