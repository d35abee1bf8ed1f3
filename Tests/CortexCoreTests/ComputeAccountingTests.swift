import CortexCore
import CortexTestSupport
import Foundation
import Testing

/// FLOPs counted by the ops, and energy from powercap counters (a fake sysfs tree, one of whose
/// counters wraps) or, without them, an estimate that says it is one.
@Suite struct ComputeAccountingTests {
    @Test func productsAndElementwiseOpsAreCounted() throws {
        let a = try Tensor.randn([4, 8, 16]), b = try Tensor.randn([16, 5])
        let (_, counted) = try FLOPCounter.counting { try (a.matmul(b) + 1).sum() }
        #expect(counted[.matmul] == Double(2 * 4 * 8 * 5 * 16))
        #expect(counted[.elementwise] == Double(4 * 8 * 5))
        #expect(counted[.reduction] == Double(4 * 8 * 5))
        // Counters nest: the inner count reaches the outer one; none runs outside.
        let (inner, outer) = try FLOPCounter.counting { try FLOPCounter.counting { try a.exp() }.1 }
        #expect(inner[.elementwise] == Double(a.count) && outer[.elementwise] == Double(a.count))
        #expect(FLOPCounter.current == nil)
        // An isolated counter (the peak probe's) keeps its count from the outer one.
        let (_, around) = try FLOPCounter.counting {
            let probe = FLOPCounter.start(isolated: true)
            _ = try a.exp()
            probe.stop()
            return try a.exp()
        }
        #expect(around[.elementwise] == Double(a.count))
    }

    @Test func backwardIsCountedAsTheOpsItRuns() throws {
        let x = try Tensor.randn([3, 6]).requiringGrad(), w = try Tensor.randn([6, 2]).requiringGrad()
        let (_, counted) = try FLOPCounter.counting { try x.matmul(w).sum().backward() }
        // Forward 2·3·2·6, then both operand gradients of the same size.
        #expect(counted[.matmul] == Double(3 * 2 * 3 * 2 * 6))
    }

    /// A fake /sys/class/powercap: package zones 0 and 1 (1 wraps past its range), a subzone
    /// that must not be added again, and an unrelated entry.
    func fakePowercap(_ root: String, zone0: Int, zone1: Int, subzone: Int) throws {
        func write(_ path: String, _ value: Int) throws {
            try FileManager.default.createDirectory(atPath: (root + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try "\(value)\n".write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
        }
        try write("intel-rapl:0/energy_uj", zone0)
        try write("intel-rapl:0/max_energy_range_uj", 262_143_328_850)
        try write("intel-rapl:1/energy_uj", zone1)
        try write("intel-rapl:1/max_energy_range_uj", 65_532_610_987)
        try write("intel-rapl:0:0/energy_uj", subzone)
        try write("intel-rapl:0:0/max_energy_range_uj", 65_532_610_987)
        try write("dtpm/unrelated", 7)
    }

    @Test func raplCountersAreReadAndTheirWrapUndone() throws {
        let root = temporaryDirectory("cortex-powercap")
        try fakePowercap(root, zone0: 1_000_000_000, zone1: 65_500_000_000, subzone: 5)
        var meter = EnergyMeter(root: root)
        #expect(meter.measures)
        // Zone 0 advances 12.5 J; zone 1 wraps: 32,610,987 µJ to its range, then 10,000,000 more.
        try fakePowercap(root, zone0: 1_012_500_000, zone1: 10_000_000, subzone: 999_999_999)
        let reading = meter.reading(cpuSeconds: 99)
        #expect(abs(reading.joules - (12.5 + 42.610987)) < 1e-6, "\(reading.joules)")
        #expect(reading.measured && reading.source.contains("RAPL") && reading.source.contains("intel-rapl:0, intel-rapl:1"))
    }

    @Test func withoutCountersTheEnergyIsAnEstimateSaidToBeOne() {
        var meter = EnergyMeter(root: temporaryDirectory("cortex-no-powercap"), wattsPerCore: 6)
        #expect(!meter.measures)
        let reading = meter.reading(cpuSeconds: 10)
        #expect(reading.joules == 60 && !reading.measured)
        #expect(reading.source.hasPrefix("estimate: 10.0 CPU-seconds x 6 W per busy core"))
    }

    @Test func aMeterReportsThroughputAndUtilisation() throws {
        let meter = ComputeMeter(unit: "samples", energy: EnergyMeter(root: temporaryDirectory("cortex-no-powercap"), wattsPerCore: 6))
        let a = try Tensor.randn([64, 64])
        for _ in 0..<10 { _ = try a.matmul(a) }
        let report = meter.finish(examples: 640, peak: PeakThroughput(flops: 1e12, source: "test"))
        #expect(report.flops == Double(10 * 2 * 64 * 64 * 64))
        #expect(report.examplesPerSecond > 0 && report.modelFLOPsUtilisation == report.achievedFLOPS / 1e12)
        #expect(report.summary.contains("MFU") && report.summary.contains("estimate"))
        let path = temporaryDirectory("cortex-compute") + "/compute.json"
        try report.write(to: path)
        #expect(try JSONDecoder().decode(ComputeReport.self, from: Data(contentsOf: URL(fileURLWithPath: path))) == report)
    }
}
