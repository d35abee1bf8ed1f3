import Foundation

/// What a command printed and how it ended.
public struct LaunchResult: Sendable {
    public var status: Int32
    public var output: String
    public var seconds: Double
    public var timedOut: Bool
}

/// Runs commands for tests that need real processes (mpirun jobs, network namespaces).
public enum Launcher {
    /// An executable found on PATH, or nil.
    public static func onPath(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A product of this package built beside the test bundle (`cortex` in `.build/debug`).
    public static func builtProduct(_ name: String) -> String? {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    /// The package's root directory (for its Tools/ scripts).
    public static func packageRoot(file: String = #filePath) -> String {
        URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Starts `arguments` with output (stdout and stderr together) going to a file.
    public static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, String) {
        let log = NSTemporaryDirectory() + "cortex-launch-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return (process, log)
    }

    /// Waits up to `timeout` seconds for `process`, killing it (and reporting it) past that.
    public static func finish(_ process: Process, log: String, started: Date, timeout: Double) -> LaunchResult {
        let deadline = started.addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: log)
        return LaunchResult(status: process.terminationStatus, output: output, seconds: Date().timeIntervalSince(started), timedOut: timedOut)
    }

    /// Runs `arguments` to the end (at most `timeout` seconds).
    public static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 300) throws -> LaunchResult {
        let started = Date()
        let (process, log) = try start(arguments, environment: environment)
        return finish(process, log: log, started: started, timeout: timeout)
    }

    /// mpirun's arguments to start `ranks` ranks here (root needs --allow-run-as-root).
    public static func mpirun(_ ranks: Int, oversubscribe: Bool = false) -> [String]? {
        guard let mpirun = onPath("mpirun") else { return nil }
        return [mpirun] + (getuid() == 0 ? ["--allow-run-as-root"] : []) + (oversubscribe ? ["--oversubscribe"] : []) + ["-np", String(ranks)]
    }
}
