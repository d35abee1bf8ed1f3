import Foundation
import Prometheus

/// What /metrics reports, in Prometheus text: requests and errors per endpoint, tokens in and
/// out, queue depth and active sequences, decoding batch sizes, and latency histograms
/// (whole request, time to first token, time between tokens).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let promptTokens: Counter
    let generatedTokens: Counter
    let queueDepth: Gauge
    let activeSequences: Gauge
    let batchSize: ValueHistogram
    let requestDuration: DurationHistogram
    let timeToFirstToken: DurationHistogram
    let interTokenLatency: DurationHistogram

    public init() {
        promptTokens = registry.makeCounter(name: "cortex_prompt_tokens_total", help: "Prompt tokens read")
        generatedTokens = registry.makeCounter(name: "cortex_generated_tokens_total", help: "Tokens generated")
        queueDepth = registry.makeGauge(name: "cortex_queue_depth", help: "Requests waiting for a slot")
        activeSequences = registry.makeGauge(name: "cortex_active_sequences", help: "Sequences in slots")
        batchSize = registry.makeValueHistogram(name: "cortex_decode_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64],
                                                help: "Sequences advanced by each decoding step")
        let seconds: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                   .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)]
        requestDuration = registry.makeDurationHistogram(name: "cortex_request_duration_seconds", buckets: seconds,
                                                         help: "Time from a request to its last byte")
        timeToFirstToken = registry.makeDurationHistogram(name: "cortex_time_to_first_token_seconds", buckets: seconds,
                                                          help: "Time from a generation request to its first token")
        interTokenLatency = registry.makeDurationHistogram(name: "cortex_inter_token_latency_seconds", buckets: seconds,
                                                           help: "Time between a sequence's tokens")
    }

    func request(_ endpoint: String, status: Int) {
        registry.makeCounter(name: "cortex_requests_total", labels: [("endpoint", endpoint), ("status", String(status))],
                             help: "Requests answered").increment()
    }

    /// The text exposition, gauges read from the scheduler first.
    func exposition(_ statistics: BatchScheduler.Statistics?) -> String {
        if let statistics {
            queueDepth.set(Double(statistics.queued))
            activeSequences.set(Double(statistics.active))
        }
        return registry.emitToString()
    }
}
