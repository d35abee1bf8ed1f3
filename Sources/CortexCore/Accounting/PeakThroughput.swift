import CCortexKernels
import Foundation

/// The machine's peak float32 FLOP/s for model FLOPs utilisation: measured once by a short
/// probe (square float32 products of 1024 on every worker thread, the best of a few timed
/// rounds) and cached per CPU model and thread count in `~/.cache/cortex/peak-flops.json`.
/// `CORTEX_PEAK_FLOPS` (FLOP/s) overrides it.
public struct PeakThroughput: Codable, Sendable, Equatable {
    public var flops: Double
    public var source: String

    public init(flops: Double, source: String) {
        self.flops = flops
        self.source = source
    }

    /// What identifies a measurement: the CPU model, the threads, the kernels used, and whether
    /// this is a debug build (its unoptimised kernels run some 20-50x slower, so a probe taken
    /// by `swift test` must not serve a release build's runs, which then reported MFUs of 1700%).
    public static var machineKey: String {
        let model = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        #if DEBUG
        let build = " | debug build"
        #else
        let build = ""
        #endif
        return "\(model) | \(CPUParallelism.threadCount) threads | avx512 \(cortex_has_avx512() != 0 ? "yes" : "no")" + build
    }

    public static var defaultCachePath: String {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSTemporaryDirectory()
        return home + "/.cache/cortex/peak-flops.json"
    }

    /// The override, the cached measurement for this machine, or a fresh probe (then cached).
    /// Nil only if the probe itself fails.
    public static func cached(path: String = PeakThroughput.defaultCachePath) -> PeakThroughput? {
        if let text = ProcessInfo.processInfo.environment["CORTEX_PEAK_FLOPS"], let value = Double(text), value > 0 {
            return PeakThroughput(flops: value, source: "CORTEX_PEAK_FLOPS")
        }
        let key = machineKey
        var table: [String: PeakThroughput] = [:]
        if let data = FileManager.default.contents(atPath: path),
           let decoded = try? JSONDecoder().decode([String: PeakThroughput].self, from: data) {
            table = decoded
            if let known = decoded[key] { return known }
        }
        guard let measured = try? probe() else { return nil }
        table[key] = measured
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? AtomicFile.writeJSON(table, to: path)
        return measured
    }

    /// Times float32 products of `size` x `size` matrices for about `seconds` (after a warm-up
    /// round); the best round's FLOP/s. Products are not counted by any running FLOP counter.
    public static func probe(size: Int = 1024, seconds: Double = 0.6) throws -> PeakThroughput {
        let a = try Tensor.randn([size, size], generator: RandomGenerator(seed: 1))
        let b = try Tensor.randn([size, size], generator: RandomGenerator(seed: 2))
        let perProduct = 2 * Double(size) * Double(size) * Double(size)
        var best = 0.0
        let counter = FLOPCounter.start(isolated: true)   // keep the probe out of any outer count
        defer { counter.stop() }
        _ = try withNoGrad { try a.matmul(b) }
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let started = Date()
            for _ in 0..<3 { _ = try withNoGrad { try a.matmul(b) } }
            best = max(best, 3 * perProduct / max(Date().timeIntervalSince(started), 1e-9))
        }
        return PeakThroughput(flops: best, source: String(format: "probe: float32 products of %d on %d threads, %.1f GFLOP/s (%@)", size,
                                                          CPUParallelism.threadCount, best / 1e9, machineKey))
    }
}
