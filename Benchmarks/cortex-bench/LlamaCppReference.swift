import Foundation

/// llama.cpp as a same-run peer: `CORTEX_LLAMA_CPP` names its build (the `build/bin` folder
/// Tools/build-llama-cpp.sh prints, or the build folder above it), and `llama-bench` measures
/// the same GGUF file on the same threads.
enum LlamaCppReference {
    /// The folder holding llama.cpp's tools and shared libraries, nil when unset or missing.
    static var binDirectory: String? {
        guard let named = ProcessInfo.processInfo.environment["CORTEX_LLAMA_CPP"], !named.isEmpty else { return nil }
        for candidate in [named, (named as NSString).appendingPathComponent("bin")]
        where FileManager.default.isExecutableFile(atPath: (candidate as NSString).appendingPathComponent("llama-bench")) {
            return candidate
        }
        return nil
    }

    static let unsetNote = "llama.cpp column empty: set CORTEX_LLAMA_CPP to a llama.cpp build (bash Tools/build-llama-cpp.sh prints it)."

    /// llama-bench's prompt (pp) and generation (tg) tokens/s for `model`, `repetitions` runs
    /// each, or the reason there are none.
    static func bench(model: String, promptTokens: Int, generatedTokens: Int, threads: Int, repetitions: Int = 5)
        -> (prompt: Double?, generation: Double?, note: String) {
        guard let bin = binDirectory else { return (nil, nil, unsetNote) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (bin as NSString).appendingPathComponent("llama-bench"))
        process.arguments = ["-m", model, "-t", String(threads), "-p", String(promptTokens), "-n", String(generatedTokens),
                             "-r", String(repetitions), "-o", "json"]
        var environment = ProcessInfo.processInfo.environment
        environment["LD_LIBRARY_PATH"] = [bin, environment["LD_LIBRARY_PATH"]].compactMap { $0 }.joined(separator: ":")
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return (nil, nil, "llama.cpp column empty: could not run llama-bench in \(bin): \(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let results = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            return (nil, nil, "llama.cpp column empty: llama-bench exited with status \(process.terminationStatus) on \(model)")
        }
        var prompt: Double?, generation: Double?, commit = "unknown"
        for result in results {
            guard let rate = result["avg_ts"] as? Double else { continue }
            commit = result["build_commit"] as? String ?? commit
            if (result["n_gen"] as? Int ?? 0) > 0 { generation = rate } else { prompt = rate }
        }
        let build = commit == "unknown" ? "(build \(bin))" : commit
        return (prompt, generation, "llama.cpp \(build) llama-bench measured in this run (pp\(promptTokens), tg\(generatedTokens), \(threads) threads, \(repetitions) runs).")
    }
}
