import Foundation

/// One line of a benchmark table.
struct BenchmarkRow {
    var name: String
    var cortex: Double
    var reference: Double?
    var unit: String
    /// Raw `cblas_sgemm` in the same process, for matmul rows.
    var blas: Double?
    /// True when larger is better (throughput); false for times.
    var higherIsBetter = true
    /// For bandwidth rows: the op's bandwidth over the plain copy kernel's.
    var ofCopy: Double?
    /// llama.cpp's figure for the same row, measured in the same run (the second peer).
    var llamaCpp: Double?

    var json: String {
        func number(_ value: Double?) -> String { value.map { String(format: "%.4g", $0) } ?? "null" }
        var fields = ["\"name\": \"\(name)\"", "\"cortex\": \(number(cortex))", "\"reference\": \(number(reference))", "\"unit\": \"\(unit)\""]
        if let blas { fields.append("\"blas\": \(number(blas))") }
        if let ofCopy { fields.append("\"of_copy\": \(number(ofCopy))") }
        if let llamaCpp { fields.append("\"llama_cpp\": \(number(llamaCpp))") }
        return "{\(fields.joined(separator: ", "))}"
    }
}

enum BenchmarkReport {
    static func print(_ rows: [BenchmarkRow], json: Bool, notes: [String], peer: String = "pytorch", llamaCppRows: Bool = false) {
        if json {
            for row in rows { Swift.print(row.json) }
            return
        }
        // A llama.cpp column appears where any row has a llama.cpp figure or asks for one.
        let showsLlamaCpp = rows.contains { $0.llamaCpp != nil } || llamaCppRows
        var header = ["benchmark", "cortex", peer, "vs \(peer)"]
        if showsLlamaCpp { header += ["llama.cpp", "vs llama.cpp"] }
        header += ["blas", "of copy", "unit"]
        var lines = [header]
        for row in rows {
            func ratio(_ other: Double?) -> String {
                other.map { String(format: "%.2fx", row.higherIsBetter ? row.cortex / $0 : $0 / row.cortex) } ?? "-"
            }
            var line = [row.name, format(row.cortex), row.reference.map(format) ?? "-", ratio(row.reference)]
            if showsLlamaCpp { line += [row.llamaCpp.map(format) ?? "-", ratio(row.llamaCpp)] }
            line += [row.blas.map(format) ?? "", row.ofCopy.map { String(format: "%.0f%%", $0 * 100) } ?? "", row.unit]
            lines.append(line)
        }
        let widths = (0..<header.count).map { column in lines.map { $0[column].count }.max()! }
        for (index, line) in lines.enumerated() {
            let cells = line.enumerated().map { column, cell in
                column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }
            Swift.print(cells.joined(separator: "  "))
            if index == 0 { Swift.print(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))) }
        }
        for note in notes { Swift.print(note) }
    }

    static func format(_ value: Double) -> String {
        value >= 100 ? String(format: "%.1f", value) : value >= 1 ? String(format: "%.2f", value) : String(format: "%.3f", value)
    }
}

/// Median wall time in seconds of `repetitions` runs of `body`, after one warm-up run.
func medianSeconds(repetitions: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times: [Double] = []
    for _ in 0..<max(repetitions, 1) { times.append(try elapsedSeconds(body)) }
    times.sort()
    return times[times.count / 2]
}

/// Seconds one run of `body` takes.
func elapsedSeconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
}

/// Runs Tools/reference_bench.py with the Python named by CORTEX_TORCH_PYTHON and returns its
/// figures by row name, or nil (with the reason) when no reference is available.
enum PyTorchReference {
    static func run(suite: String, repetitions: Int) -> (figures: [String: Double], note: String) {
        guard let python = ProcessInfo.processInfo.environment["CORTEX_TORCH_PYTHON"], !python.isEmpty else {
            return ([:], "PyTorch column empty: set CORTEX_TORCH_PYTHON to a Python with torch (../shared/tools/make-reference-venv.sh).")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Tools/reference_bench.py").standardized.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, suite, "--repetitions", String(repetitions)]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            return ([:], "PyTorch column empty: could not run \(python): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return ([:], "PyTorch column empty: \(script) exited with status \(process.terminationStatus)")
        }
        var figures: [String: Double] = [:]
        var version = "?"
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            if let name = object["name"] as? String, let value = object["value"] as? Double { figures[name] = value }
            if let torch = object["torch"] as? String { version = torch }
        }
        return (figures, "PyTorch \(version) measured in this run with \(python) (2 threads).")
    }
}

/// Peak resident memory of this process in bytes (VmHWM from /proc/self/status), NaN where unreadable.
func peakResidentBytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kilobytes * 1024
}
