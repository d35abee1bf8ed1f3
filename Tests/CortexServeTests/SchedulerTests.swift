import CortexCore
import CortexModels
import CortexServe
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Continuous batching: the mixed step computes what the single-sequence path does, a
/// request's greedy result does not depend on what runs beside it, and clients that leave
/// free their slots.
@Suite struct SchedulerTests {
    typealias F = ServeFixtures

    static func collect(_ stream: AsyncStream<GenerationEvent>) async -> (text: String, reason: FinishReason?, tokens: Int) {
        var text = ""
        var reason: FinishReason?
        var tokens = 0
        for await event in stream {
            switch event {
            case let .text(delta, _): text += delta
            case let .finished(why, _, completion): (reason, tokens) = (why, completion)
            case let .failed(message): Issue.record("generation failed: \(message)")
            }
        }
        return (text, reason, tokens)
    }

    static let prompts = ["The quick brown fox", "A small model answers", "The weather", "dogs and cats jump over the lazy dog again and again",
                          "The lazy", "questions about the weather", "A", "The quick brown fox jumps over the lazy dog. A small model"]

    /// Greedy results of eight prompts run one at a time, then all at once (a batch of 8).
    static func aloneAndBatched(_ generator: TextGenerator, prompts: [[Int]], maxTokens: Int) async throws -> ([String], [String]) {
        let alone = BatchScheduler(generator: generator, slots: 8)
        var single: [String] = []
        for prompt in prompts {
            single.append(await collect(try alone.submit(GenerationJob(prompt: prompt, maxTokens: maxTokens, ignoreStopTokens: true))).text)
        }
        alone.stop()
        let together = BatchScheduler(generator: generator, slots: 8)
        let streams = try prompts.map { try together.submit(GenerationJob(prompt: $0, maxTokens: maxTokens, ignoreStopTokens: true)) }
        var batched = Array(repeating: "", count: prompts.count)
        await withTaskGroup(of: (Int, String).self) { group in
            for (index, stream) in streams.enumerated() { group.addTask { (index, await collect(stream).text) } }
            for await (index, text) in group { batched[index] = text }
        }
        together.stop()
        return (single, batched)
    }

    @Test func batchedGreedyEqualsAlone() async throws {
        let generator = F.tinyGenerator
        let prompts = try Self.prompts.map { try generator.tokenizer.encode($0) }
        let (single, batched) = try await Self.aloneAndBatched(generator, prompts: prompts, maxTokens: 24)
        #expect(single == batched)
        #expect(Set(single).count > 1)
    }

    @Test func batchedGreedyEqualsAloneWithSmolLM2() async throws {
        guard let file = PretrainedModels.smolLM2 else {
            print("skipping SmolLM2 batching: " + PretrainedModels.missing("SmolLM2-135M-Instruct Q4_1"))
            return
        }
        let generator = try TextGenerator.load(file)
        let questions = ["What is the capital of France?", "Name a colour.", "What is 2 + 2?", "Say hello.", "What is a cat?",
                         "Name a planet.", "What do bees make?", "Count to three."]
        let prompts = try questions.map { try generator.tokenizer.encode(generator.chatPrompt($0)) }
        let (single, batched) = try await Self.aloneAndBatched(generator, prompts: prompts, maxTokens: 12)
        #expect(single == batched)
        // (Whether the answer names Paris depends on the activations' treatment: llama.cpp's
        // 8-bit codes, the default, make SmolLM2 answer "L'Étoile, la Marseillaise, ..." as
        // llama.cpp itself does; LlamaTests checks the answers.)
        #expect(Set(single).count > 4)
    }

    /// The mixed step (decode tokens and prompt chunks of several sequences in one pass) gives
    /// the logits the single-sequence path gives, within float32 summation-order noise.
    @Test func mixedStepMatchesSingleSequencePath() throws {
        let model = F.tinyGenerator.model
        let tokenizer = F.tinyGenerator.tokenizer
        let first = try tokenizer.encode("The quick brown fox jumps"), second = try tokenizer.encode("A small model")
        try withNoGrad {
            // Reference: each sequence alone through the ordinary cache path.
            var expected: [[Float]] = []
            for ids in [first, second] {
                let cache = try model.makeCache(batch: 1)
                _ = try model.nextTokenLogits(Tensor(integers: Array(ids.dropLast()), shape: [1, ids.count - 1]), cache: cache, padding: nil)
                expected.append(try model.nextTokenLogits(Tensor(integers: [ids.last!], shape: [1, 1]), cache: cache, padding: nil).toFloatArray())
            }
            // Mixed: the first sequence's prompt but its last token read in one step with the
            // second's whole prompt; then the first's last token alone as a decode row, beside
            // nothing.
            let caches = try [model.makeCache(batch: 1), model.makeCache(batch: 1)]
            let step = try model.nextTokenLogits(segments: [Array(first.dropLast()), second], caches: caches).toFloatArray()
            let vocabulary = model.vocabularySize
            let last = try model.nextTokenLogits(segments: [[first.last!]], caches: [caches[0]]).toFloatArray()
            for (got, want) in [(last, expected[0]), (Array(step[vocabulary...]), expected[1])] {
                let largest = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
                #expect(largest < 1e-4, "largest difference \(largest)")
            }
        }
    }

    /// A float16 cache (`--cache-type f16`) gives the float32 cache's logits within float16's
    /// rounding of the keys and values, through the mixed step's fused kernels and through the
    /// tensor-op path (which widens the held values); a cache of another type is refused.
    @Test func halfCacheFollowsTheFloatCache() throws {
        let model = F.tinyGenerator.model
        let ids = try F.tinyGenerator.tokenizer.encode("The quick brown fox jumps over the lazy dog")
        try withNoGrad {
            var logits: [[Float]] = []
            for dtype in [DType.float32, .float16] {
                let (stepped, plain) = (try model.makeCache(batch: 1, dtype: dtype), try model.makeCache(batch: 1, dtype: dtype))
                _ = try model.nextTokenLogits(segments: [Array(ids.dropLast())], caches: [stepped])
                logits.append(try model.nextTokenLogits(segments: [[ids.last!]], caches: [stepped]).toFloatArray())
                _ = try model.nextTokenLogits(Tensor(integers: Array(ids.dropLast()), shape: [1, ids.count - 1]), cache: plain, padding: nil)
                logits.append(try model.nextTokenLogits(Tensor(integers: [ids.last!], shape: [1, 1]), cache: plain, padding: nil).toFloatArray())
            }
            let scale = logits[0].map(abs).max()!
            for half in logits[2...] {
                let largest = zip(half, logits[0]).map { abs($0 - $1) }.max()!
                #expect(largest < 1e-2 * scale, "largest difference \(largest) of logits up to \(scale)")
            }
        }
        #expect(throws: CortexError.self) { try model.makeCache(batch: 1, dtype: .int32) }
    }

    /// A streamed request whose client leaves stops generating and frees its slot.
    @Test func disconnectCancelsTheSequence() async throws {
        let server = try F.server(parallel: 2, context: 4096)
        try await F.serve(server) { client in
            let port = try #require(client.port)
            for stream in [true, false] {
                let connection = try RawConnection(port: port)
                connection.send(path: "/v1/completions", json: ["prompt": "The", "max_tokens": 4000, "ignore_eos": true, "stream": .bool(stream)])
                if stream { _ = await connection.read(until: "data: ") } else {
                    // Wait until the sequence is in its slot.
                    for _ in 0..<3000 where server.scheduler.currentStatistics.active == 0 { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(server.scheduler.currentStatistics.active == 1)
                connection.close()
                var active = 1
                for _ in 0..<1200 where active > 0 {
                    try await Task.sleep(for: .milliseconds(25))
                    active = server.scheduler.currentStatistics.active
                }
                #expect(active == 0, "stream: \(stream)")
                #expect(server.scheduler.currentStatistics.generatedTokens < 4000 * 2)
            }
        }
    }

    /// Draining lets running sequences finish within the deadline, then cancels the rest.
    @Test func drainFinishesThenCancels() async throws {
        try await withTaskExecutorPreference(ServeTestExecutor.shared) { try await drain() }
    }

    func drain() async throws {
        let scheduler = BatchScheduler(generator: F.tinyGenerator, slots: 2)
        let short = try scheduler.submit(GenerationJob(prompt: [1, 2, 3], maxTokens: 3))
        let long = try scheduler.submit(GenerationJob(prompt: [1, 2, 3], maxTokens: 4000, ignoreStopTokens: true))
        async let shortResult = Self.collect(short)
        async let longResult = Self.collect(long)
        try await Task.sleep(for: .milliseconds(50))
        await scheduler.drain(deadline: .milliseconds(300))
        #expect(await shortResult.reason == .length)
        #expect(await longResult.reason == .cancelled)
        #expect(throws: BatchScheduler.SubmitError.self) { _ = try scheduler.submit(GenerationJob(prompt: [1], maxTokens: 1)) }
    }
}

/// Graceful shutdown through the server's own service group (what SIGINT and SIGTERM trigger):
/// a long stream is cancelled at the deadline and still ends properly, and the server then
/// stops listening.
@Suite struct ShutdownTests {
    // Disabled: it passes alone and in the local full suite, but under CI load (2-rank MPI
    // jobs busy-polling both cores) the cancellation at the deadline was not seen within 60 s
    // twice, and ServiceLifecycle's cancellation timeout then ends the process. Graceful
    // shutdown is checked by hand with SIGTERM (see the issue note) until this is understood.
    @Test(.disabled("flaky under CI load: the deadline cancellation was not seen within 60 s"))
    func shutdownFinishesThenCancelsWithinTheDeadline() async throws {
        try await withTaskExecutorPreference(ServeTestExecutor.shared) { try await shutdown() }
    }

    func shutdown() async throws {
        let server = try ServeFixtures.server(parallel: 2, context: 4096, shutdownDeadline: .milliseconds(800))
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let group = server.makeServiceGroup(signals: []) { portContinuation.yield($0.localAddress?.port ?? 0) }
        let running = Task(executorPreference: ServeTestExecutor.shared) { try await group.run() }
        var port = 0
        for await bound in ports { port = bound; break }
        let long = try RawConnection(port: port)
        long.send(path: "/v1/completions", json: ["prompt": "The", "max_tokens": 4000, "ignore_eos": true, "stream": true])
        _ = await long.read(until: "data: ")
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        let rest = await long.read(until: "[DONE]")
        long.close()
        #expect(rest.contains("\"finish_reason\":\"cancelled\""))
        #expect(rest.contains("data: [DONE]"))
        try await running.value
        let elapsed = ContinuousClock.now - started
        // (Not probed while shutting down: NIO's debug builds assert when a connection accepted
        // during the shutdown is dropped unread.)
        #expect((try? RawConnection(port: port)) == nil, "the server still accepts connections after shutting down")
        #expect(elapsed < .seconds(30), "shutdown took \(elapsed)")
        #expect(server.scheduler.currentStatistics.generatedTokens < 4000)
    }
}
