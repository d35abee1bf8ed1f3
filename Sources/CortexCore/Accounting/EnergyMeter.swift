import Foundation

/// Energy used while it runs: from the RAPL package counters of Linux's powercap interface
/// (`/sys/class/powercap/intel-rapl:N/energy_uj`, which AMD's Zen kernels expose under the
/// same name) where they are readable, each counter's wrap-around at `max_energy_range_uj`
/// undone; otherwise an estimate, labelled as one, of CPU time × a stated power per busy core
/// (CodeCarbon's fallback when it cannot read RAPL).
///
/// ```swift
/// var meter = EnergyMeter()
/// ... work ...
/// meter.sample()                    // now and then on long runs, so no counter wraps twice unseen
/// print(meter.reading(cpuSeconds: 12.5))
/// ```
public struct EnergyMeter: Sendable {
    /// The watts per fully busy core of the estimate: a 350 W server CPU over 56 cores is about
    /// 6 W per core. `CORTEX_WATTS_PER_CORE` overrides it.
    public static let defaultWattsPerCore = 6.0

    struct Zone: Sendable {
        let name: String
        let energyPath: String
        let range: Double
        var last: Double
        var joules = 0.0
    }

    public let root: String
    private var zones: [Zone]
    public let wattsPerCore: Double

    /// Reads the package zones under `root` (the top-level `intel-rapl:N` directories, not their
    /// `intel-rapl:N:M` subzones, which the package already includes).
    public init(root: String = "/sys/class/powercap", wattsPerCore: Double? = nil) {
        self.root = root
        self.wattsPerCore = wattsPerCore ?? ProcessInfo.processInfo.environment["CORTEX_WATTS_PER_CORE"].flatMap(Double.init)
            ?? EnergyMeter.defaultWattsPerCore
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        zones = names.sorted().compactMap { name -> Zone? in
            guard name.hasPrefix("intel-rapl:"), name.split(separator: ":").count == 2 else { return nil }
            let energyPath = "\(root)/\(name)/energy_uj"
            guard let value = EnergyMeter.readNumber(energyPath) else { return nil }
            let range = EnergyMeter.readNumber("\(root)/\(name)/max_energy_range_uj") ?? 0
            return Zone(name: name, energyPath: energyPath, range: range, last: value)
        }
    }

    /// Whether RAPL counters are being read (false: the figure will be an estimate).
    public var measures: Bool { !zones.isEmpty }

    /// Adds what each counter advanced since the last sample (a counter below its last value
    /// wrapped once past its range).
    public mutating func sample() {
        for index in zones.indices {
            guard let value = EnergyMeter.readNumber(zones[index].energyPath) else { continue }
            var delta = value - zones[index].last
            if delta < 0 { delta += zones[index].range }
            zones[index].joules += max(delta, 0) / 1e6
            zones[index].last = value
        }
    }

    /// The energy so far: measured, or estimated from `cpuSeconds`.
    public mutating func reading(cpuSeconds: Double) -> EnergyReading {
        sample()
        if measures {
            let joules = zones.reduce(0) { $0 + $1.joules }
            return EnergyReading(joules: joules, source: "RAPL package counters (\(zones.map(\.name).joined(separator: ", ")) under \(root))", measured: true)
        }
        return EnergyReading(joules: cpuSeconds * wattsPerCore,
                             source: String(format: "estimate: %.1f CPU-seconds x %.3g W per busy core (no readable RAPL counters under %@)",
                                            cpuSeconds, wattsPerCore, root), measured: false)
    }

    static func readNumber(_ path: String) -> Double? {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        return Double(text)
    }
}

/// Joules used, and where the figure came from.
public struct EnergyReading: Codable, Sendable, Equatable {
    public var joules: Double
    public var source: String
    /// True for counters read, false for an estimate.
    public var measured: Bool
}
