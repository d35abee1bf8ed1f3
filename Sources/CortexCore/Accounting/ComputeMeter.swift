import Foundation

/// Compute and energy accounting of one run (llm.c's and nanoGPT's FLOPs and MFU, CodeCarbon's
/// energy): the FLOPs its ops count on this thread, wall and CPU time, throughput, model FLOPs
/// utilisation against the machine's peak (``PeakThroughput``), and energy (``EnergyMeter``).
///
/// ```swift
/// let meter = ComputeMeter(unit: "samples")
/// try trainer.fit(train: loader, epochs: 1)
/// let report = meter.finish(examples: 60_000)
/// print(report.summary)
/// ```
public final class ComputeMeter: @unchecked Sendable {
    public let unit: String
    private let counter: FLOPCounter
    private let started: Date
    private let startedCPU: Double
    private var energy: EnergyMeter
    private var lastSample: Date
    private var finished: ComputeReport?

    /// Starts counting now, on this thread (finish on this thread too).
    public init(unit: String = "samples", energy: EnergyMeter = EnergyMeter()) {
        self.unit = unit
        self.counter = FLOPCounter.start()
        self.started = Date()
        self.startedCPU = ComputeMeter.processCPUSeconds()
        self.energy = energy
        self.lastSample = started
    }

    deinit { counter.stop() }

    /// Reads the energy counters if a second has passed (call it as often as convenient).
    public func tick() {
        let now = Date()
        if now.timeIntervalSince(lastSample) >= 1 {
            energy.sample()
            lastSample = now
        }
    }

    /// The figures so far, for `examples` examples (samples or tokens) processed.
    public func report(examples: Int, peak: PeakThroughput? = PeakThroughput.cached()) -> ComputeReport {
        if let finished { return finished }
        let wall = max(Date().timeIntervalSince(started), 1e-9)
        let cpu = ComputeMeter.processCPUSeconds() - startedCPU
        let flops = counter.snapshot
        let reading = energy.reading(cpuSeconds: cpu)
        let achieved = flops.total / wall
        return ComputeReport(flops: flops.total, flopsByKind: Dictionary(uniqueKeysWithValues: flops.byKind.map { ($0.key.rawValue, $0.value) }),
                             wallSeconds: wall, cpuSeconds: cpu, examples: examples, unit: unit,
                             examplesPerSecond: Double(examples) / wall, achievedFLOPS: achieved,
                             peakFLOPS: peak?.flops, peakSource: peak?.source,
                             modelFLOPsUtilisation: peak.map { achieved / $0.flops },
                             energyJoules: reading.joules, energySource: reading.source, energyMeasured: reading.measured,
                             averageWatts: reading.joules / wall)
    }

    /// The final report; counting stops.
    @discardableResult
    public func finish(examples: Int, peak: PeakThroughput? = PeakThroughput.cached()) -> ComputeReport {
        let result = report(examples: examples, peak: peak)
        finished = result
        counter.stop()
        return result
    }

    /// User plus system CPU time of this process.
    public static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// What a run computed and spent (written as `compute.json` beside a run's checkpoint).
public struct ComputeReport: Codable, Sendable, Equatable {
    public var flops: Double
    public var flopsByKind: [String: Double]
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var examples: Int
    public var unit: String
    public var examplesPerSecond: Double
    public var achievedFLOPS: Double
    public var peakFLOPS: Double?
    public var peakSource: String?
    /// Achieved over peak FLOP/s (nil when no peak is known).
    public var modelFLOPsUtilisation: Double?
    public var energyJoules: Double
    public var energySource: String
    public var energyMeasured: Bool
    public var averageWatts: Double

    /// One line for a run's summary.
    public var summary: String {
        var text = String(format: "compute: %.4g FLOPs in %.1f s (%.1f CPU-s)", flops, wallSeconds, cpuSeconds)
        if examples > 0 { text += String(format: ", %.4g %@/s", examplesPerSecond, unit) }
        text += String(format: ", %.2f GFLOP/s", achievedFLOPS / 1e9)
        if let peakFLOPS, let modelFLOPsUtilisation {
            text += String(format: ", MFU %.1f%% of %.1f GFLOP/s peak", modelFLOPsUtilisation * 100, peakFLOPS / 1e9)
        }
        text += String(format: "; energy %.4g J (%.3g Wh, %.1f W average) from %@", energyJoules, energyJoules / 3600, averageWatts, energySource)
        return text
    }

    /// The report's figures as (name, value) pairs for a command's JSON line.
    public var fields: [(String, Any)] {
        var result: [(String, Any)] = [("flops", flops), ("gflops_per_sec", achievedFLOPS / 1e9), ("cpu_seconds", cpuSeconds),
                                       ("wall_seconds", wallSeconds), ("energy_joules", energyJoules),
                                       ("energy_source", energyMeasured ? "rapl" : "estimate")]
        if let modelFLOPsUtilisation { result.append(("mfu", modelFLOPsUtilisation)) }
        return result
    }

    /// Writes the report as pretty JSON, atomically.
    public func write(to path: String) throws { try AtomicFile.writeJSON(self, to: path) }
}
