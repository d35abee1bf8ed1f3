import CCortexKernels
import CortexCore
import CortexModels
import CortexText
import Foundation

/// Continuous batching: one thread owns the model and runs every sequence in `slots` slots.
/// Each iteration reads one chunk of one waiting prompt (so a long prompt never holds the
/// others up for more than a chunk) and then advances every sequence that is decoding by one
/// token, all in one batched forward pass. A request joins at the next iteration and leaves
/// its slot as soon as it stops, is cancelled or fails; beyond the slots, requests queue, up
/// to `queueLimit`.
///
/// ```swift
/// let scheduler = BatchScheduler(generator: try TextGenerator.load("smollm2"), slots: 8)
/// for await event in try scheduler.submit(GenerationJob(prompt: ids, maxTokens: 32)) { ... }
/// ```
public final class BatchScheduler: @unchecked Sendable {
    public enum SubmitError: Error, Sendable {
        case queueFull(limit: Int)
        case shuttingDown
    }

    /// Counters read by /metrics.
    public struct Statistics: Sendable {
        public var queued = 0
        public var active = 0
        public var steps = 0
        public var lastBatchSize = 0
        public var promptTokens = 0
        public var generatedTokens = 0
    }

    public let generator: TextGenerator
    public let slots: Int
    public let queueLimit: Int
    public let prefillChunk: Int
    /// Rows (decoding tokens plus prompt tokens) one step takes at most, beyond its first chunk.
    public let stepRows: Int
    /// How quantised products treat the activations on the model's thread.
    public let activations: QuantizedMatrix.Activations
    /// What each sequence's key/value cache holds: float32, or float16 (llama.cpp's default).
    public let cacheType: DType
    /// Called on the model's thread with the batch size of each decoding step.
    public var onStep: (@Sendable (Int) -> Void)?

    private let condition = NSCondition()
    private var waiting: [ActiveSequence] = []
    private var active: [ActiveSequence] = []
    private var accepting = true
    private var stopped = false
    /// When a drain's deadline passes: the model's thread then stops, cancelling what runs.
    private var cancelAt: ContinuousClock.Instant?
    private var statistics = Statistics()
    private var thread: Thread?

    public init(generator: TextGenerator, slots: Int, queueLimit: Int = 64, prefillChunk: Int = 8, stepRows: Int = 16,
                activations: QuantizedMatrix.Activations = QuantizedMatrix.activations, cacheType: DType = .float32) {
        self.generator = generator
        self.activations = activations
        self.cacheType = cacheType
        self.slots = max(1, slots)
        self.queueLimit = max(0, queueLimit)
        self.prefillChunk = max(1, prefillChunk)
        self.stepRows = max(1, stepRows)
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "cortex-scheduler"
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    deinit { stop() }

    public var currentStatistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        var copy = statistics
        copy.queued = waiting.count
        copy.active = active.count
        return copy
    }

    /// Queues `job`; its events arrive on the stream, which ends after `.finished` or `.failed`.
    /// Dropping the stream (or cancelling the task iterating it) cancels the sequence.
    public func submit(_ job: GenerationJob) throws(SubmitError) -> AsyncStream<GenerationEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: GenerationEvent.self, bufferingPolicy: .unbounded)
        let sequences = try enqueue([job], sink: EventSink(count: 1, deliver: { continuation.yield($1) }, end: { continuation.finish() }))
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(sequences) }
        }
        return stream
    }

    /// Queues several jobs at once (all or none: a queue without room for them all refuses
    /// them); their events arrive tagged with the job's index on one stream, which ends when
    /// every job has ended. Dropping the stream cancels them all.
    public func submit(_ jobs: [GenerationJob]) throws(SubmitError) -> AsyncStream<(Int, GenerationEvent)> {
        let (stream, continuation) = AsyncStream.makeStream(of: (Int, GenerationEvent).self, bufferingPolicy: .unbounded)
        let sequences = try enqueue(jobs, sink: EventSink(count: jobs.count, deliver: { continuation.yield(($0, $1)) }, end: { continuation.finish() }))
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(sequences) }
        }
        return stream
    }

    private func enqueue(_ jobs: [GenerationJob], sink: EventSink) throws(SubmitError) -> [ActiveSequence] {
        let sequences = jobs.enumerated().map { ActiveSequence(job: $1, index: $0, sink: sink) }
        condition.lock()
        defer { condition.unlock() }
        guard accepting, !stopped else { throw .shuttingDown }
        guard active.count + waiting.count + jobs.count <= slots + queueLimit else { throw .queueFull(limit: queueLimit) }
        waiting += sequences
        condition.signal()
        if jobs.isEmpty { sink.end() }
        return sequences
    }

    private func cancel(_ sequences: [ActiveSequence]) {
        condition.lock()
        for sequence in sequences { sequence.cancelled = true }
        condition.signal()
        condition.unlock()
    }

    /// Stops taking requests, lets those running finish for up to `deadline`, then cancels
    /// what is left (their streams end with `.cancelled`) and stops the model's thread. The
    /// deadline is kept by the model's thread itself, so it holds however busy the caller is.
    public func drain(deadline: Duration) async {
        startDraining(deadline: deadline)
        while true {
            let statistics = currentStatistics
            if statistics.active + statistics.queued == 0 || isStopped { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        stop()
    }

    /// Stops taking requests now and has the model's thread cancel what still runs once
    /// `deadline` has passed (without waiting).
    public func startDraining(deadline: Duration) {
        condition.lock()
        accepting = false
        cancelAt = ContinuousClock.now + deadline
        condition.signal()
        condition.unlock()
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Ends the model's thread; sequences still running end with `.cancelled`.
    public func stop() {
        condition.lock()
        accepting = false
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while !stopped && waiting.isEmpty && active.isEmpty { condition.wait() }
            if let cancelAt, ContinuousClock.now >= cancelAt {
                accepting = false
                stopped = true
            }
            if stopped {
                let left = waiting + active
                (waiting, active) = ([], [])
                condition.unlock()
                for sequence in left { sequence.finish(.cancelled) }
                return
            }
            let gone = (waiting + active).filter(\.cancelled)
            waiting.removeAll(where: \.cancelled)
            active.removeAll(where: \.cancelled)
            while active.count < slots, !waiting.isEmpty { active.append(waiting.removeFirst()) }
            let batch = active
            condition.unlock()
            for sequence in gone { sequence.finish(.cancelled) }
            guard !batch.isEmpty else { continue }
            do {
                try QuantizedMatrix.$activations.withValue(activations) { try withNoGrad { try step(batch) } }
            } catch {
                for sequence in batch where !sequence.isDone { sequence.fail(error) }
            }
            condition.lock()
            active.removeAll(where: \.isDone)
            condition.unlock()
        }
    }

    /// One iteration, one forward pass: a token for every sequence already decoding, and the
    /// next chunk of the prompts being read, oldest first, while the rows fit `stepRows` (at
    /// least one chunk, so prompts always advance). A prompt is cut into chunks of
    /// `prefillChunk` tokens whatever else runs, so a sequence computes the same rows alone
    /// as in a batch.
    private func step(_ batch: [ActiveSequence]) throws {
        let model = generator.model
        var members: [(sequence: ActiveSequence, segment: [Int], finishesPrompt: Bool)] = []
        for sequence in batch where !sequence.isDone {
            if let pending = sequence.pending { members.append((sequence, [pending], false)) }
        }
        let decoding = members.count
        var rows = decoding
        for sequence in batch where !sequence.isDone && sequence.pending == nil {
            let prompt = sequence.job.prompt
            let end = min(sequence.prefilled + prefillChunk, prompt.count)
            guard rows == decoding || rows + end - sequence.prefilled <= stepRows else { break }
            if sequence.cache == nil {
                let cache = try model.makeCache(batch: 1, dtype: cacheType)
                cache.reserve(prompt.count + sequence.job.maxTokens)
                sequence.cache = cache
            }
            members.append((sequence, Array(prompt[sequence.prefilled..<end]), end == prompt.count))
            rows += end - sequence.prefilled
            sequence.prefilled = end
        }
        guard !members.isEmpty else { return }
        // Greedy sequences that report no log-probabilities need only their choice, not exact
        // logits (Llama's refined output projection then skips most of its second product).
        let exact = members.map { member in
            let job = member.sequence.job
            return (member.sequence.pending != nil || member.finishesPrompt) && !(job.sampling.isGreedy && job.logprobs == nil)
        }
        let (output, choices) = try model.nextTokenChoices(segments: members.map(\.segment), caches: members.map { $0.sequence.cache! }, exact: exact)
        // The logits are read where the model wrote them (a copy of 8 x 49,152 floats per step
        // was 1% of a serving step).
        let logits = try output.contiguous()
        let vocabulary = logits.count / members.count
        let values = UnsafeBufferPointer(start: logits.storage.pointer.assumingMemoryBound(to: Float.self) + logits.layout.offset, count: logits.count)
        for (index, member) in members.enumerated() where member.sequence.pending != nil || member.finishesPrompt {
            accept(member.sequence, logits: UnsafeBufferPointer(rebasing: values[(index * vocabulary)..<((index + 1) * vocabulary)]), choice: choices[index])
        }
        withExtendedLifetime(logits) {}
        record {
            $0.steps += 1
            $0.lastBatchSize = decoding
            $0.promptTokens += rows - decoding
        }
        if decoding > 0 { onStep?(decoding) }
    }

    private func record(_ change: (inout Statistics) -> Void) {
        condition.lock()
        change(&statistics)
        condition.unlock()
    }

    /// Draws the next token of `sequence` from its logits (a greedy one takes the model's
    /// `choice`) and reports it.
    private func accept(_ sequence: ActiveSequence, logits: UnsafeBufferPointer<Float>, choice: Int) {
        let job = sequence.job
        let token = job.sampling.isGreedy ? choice
            : job.sampling.draw(Array(logits), previous: job.prompt + sequence.produced, generated: sequence.produced, generator: sequence.random)
        sequence.produced.append(token)
        record { $0.generatedTokens += 1 }
        let tokenizer = generator.tokenizer
        let isStopToken = !job.ignoreStopTokens && generator.stopTokens.contains(token)
        if let count = job.logprobs, !isStopToken {
            sequence.logprobs.append(Self.logProbabilities(Array(logits), chosen: token, top: count, tokenizer: tokenizer))
        }
        // The text so far, from the bytes of every token but a final stop token.
        if !isStopToken { sequence.bytes += (try? tokenizer.decodeBytes([token])) ?? [] }
        let reachedLimit = sequence.produced.count >= job.maxTokens
        let text = String(decoding: sequence.bytes, as: UTF8.self)
        let (delta, stoppedByText) = sequence.text.advance(text, final: isStopToken || reachedLimit)
        if !delta.isEmpty || !sequence.logprobs.isEmpty {
            sequence.report(.text(delta, logprobs: sequence.logprobs))
            sequence.logprobs = []
        }
        if isStopToken || stoppedByText { sequence.finish(.stop) }
        else if reachedLimit { sequence.finish(.length) }
        else { sequence.pending = token }
    }

    /// The chosen token's log-probability and the `top` most likely, from raw logits.
    static func logProbabilities(_ logits: [Float], chosen: Int, top: Int, tokenizer: ByteLevelBPETokenizer) -> TokenLogProbability {
        let maximum = logits.max() ?? 0
        let total = logits.reduce(0.0) { $0 + Foundation.exp(Double($1 - maximum)) }
        let logTotal = Float(Foundation.log(total)) + maximum
        func candidate(_ token: Int) -> TokenLogProbability.Candidate {
            let bytes = (try? tokenizer.decodeBytes([token])) ?? []
            return .init(token: token, text: String(decoding: bytes, as: UTF8.self), bytes: bytes, logprob: logits[token] - logTotal)
        }
        var best: [Int] = []
        if top > 0 {
            // A running list of the best `top` (small), one pass over the vocabulary.
            for index in logits.indices where best.count < top || logits[index] > logits[best.last!] {
                let place = best.firstIndex { logits[$0] < logits[index] } ?? best.count
                best.insert(index, at: place)
                if best.count > top { best.removeLast() }
            }
        }
        return TokenLogProbability(chosen: candidate(chosen), top: best.map(candidate))
    }
}

/// Where a request's sequences report: events tagged with the sequence's index, and the end
/// once every sequence has ended.
final class EventSink: @unchecked Sendable {
    let deliver: (Int, GenerationEvent) -> Void
    let end: () -> Void
    private let lock = NSLock()
    private var remaining: Int

    init(count: Int, deliver: @escaping (Int, GenerationEvent) -> Void, end: @escaping () -> Void) {
        remaining = count
        self.deliver = deliver
        self.end = end
    }

    func ended() {
        lock.lock()
        remaining -= 1
        let last = remaining == 0
        lock.unlock()
        if last { end() }
    }
}

/// A sequence in a slot (or waiting for one): its cache, how much of its prompt is read, the
/// token to feed next, what it produced.
final class ActiveSequence: @unchecked Sendable {
    let job: GenerationJob
    let index: Int
    let sink: EventSink
    let random: RandomGenerator
    var cache: KeyValueCache?
    var prefilled = 0
    var pending: Int?
    var produced: [Int] = []
    /// The UTF-8 bytes of the tokens produced (a final stop token left out).
    var bytes: [UInt8] = []
    var logprobs: [TokenLogProbability] = []
    var text: StopText
    /// Set under the scheduler's lock when the request's stream is dropped.
    var cancelled = false
    private(set) var isDone = false

    init(job: GenerationJob, index: Int, sink: EventSink) {
        self.job = job
        self.index = index
        self.sink = sink
        random = RandomGenerator(seed: job.seed)
        text = StopText(stops: job.stop)
    }

    func report(_ event: GenerationEvent) { sink.deliver(index, event) }

    func finish(_ reason: FinishReason) {
        guard !isDone else { return }
        isDone = true
        pending = nil
        cache = nil
        report(.finished(reason, promptTokens: job.prompt.count, completionTokens: produced.count))
        sink.ended()
    }

    func fail(_ error: Error) {
        guard !isDone else { return }
        isDone = true
        pending = nil
        cache = nil
        report(.failed("\(error)"))
        sink.ended()
    }
}
