import CortexCore
import Foundation

/// One parser of a user's bytes, as a fuzz target: `body` hands the bytes to the parser (through
/// a file when the parser reads files) and uses what it returns. The contract it checks is the
/// one every Cortex reader keeps: it returns, or it throws a `CortexError`. Any other error
/// escaping, a crash, a hang or an address error is a finding.
///
/// libFuzzer drives the targets in `cortex-fuzz` (`Tools/fuzz.sh TARGET SECONDS`); the tests
/// replay each target's seeds and the inputs of past findings through ``run(_:)``.
public struct FuzzTarget: Sendable {
    public let name: String
    /// What the bytes are, for `cortex-fuzz list`.
    public let summary: String
    let body: @Sendable (FuzzWorkspace, [UInt8]) throws -> Void
    let seeds: @Sendable (SeedSources) throws -> [[UInt8]]

    init(_ name: String, _ summary: String, seeds: @escaping @Sendable (SeedSources) throws -> [[UInt8]],
         body: @escaping @Sendable (FuzzWorkspace, [UInt8]) throws -> Void) {
        self.name = name
        self.summary = summary
        self.seeds = seeds
        self.body = body
    }

    /// An input that broke the contract: an error other than `CortexError` left the parser.
    public struct Finding: Error, CustomStringConvertible {
        public let target: String
        public let error: any Error
        public var description: String { "\(target): \(type(of: error)) escaped the parser: \(error)" }
    }

    /// Targets share one workspace (and its file names), so inputs and seed builds run one at a
    /// time, even when tests run targets on several threads.
    private static let running = NSLock()

    /// Runs one input. Returns whether the parser accepted it (false: a `CortexError`).
    @discardableResult
    public func run(_ bytes: [UInt8]) throws -> Bool {
        FuzzTarget.running.lock()
        defer { FuzzTarget.running.unlock() }
        do {
            try body(FuzzWorkspace.shared, bytes)
            return true
        } catch is CortexError {
            return false
        } catch {
            throw Finding(target: name, error: error)
        }
    }

    /// The seed inputs, built from the real files in the data directory, the pretrained models
    /// and the repository's fixtures (whichever are present).
    public func seedInputs(_ sources: SeedSources = SeedSources()) throws -> [[UInt8]] {
        FuzzTarget.running.lock()
        defer { FuzzTarget.running.unlock() }
        return try seeds(sources)
    }

    /// Writes the seeds as files `seed-N` into `directory` (created), leaving it alone when it
    /// already holds files (a corpus grown by earlier runs).
    @discardableResult
    public func writeSeeds(into directory: String, _ sources: SeedSources = SeedSources()) throws -> Int {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard (try manager.contentsOfDirectory(atPath: directory)).isEmpty else { return 0 }
        let inputs = try seedInputs(sources)
        for (index, input) in inputs.enumerated() {
            try AtomicFile.write(to: directory + "/seed-\(index)") { handle in try input.withUnsafeBytes { try handle.write($0) } }
        }
        return inputs.count
    }

    /// Every target, in the order of the list in issue 19.
    public static let all: [FuzzTarget] = dataTargets + textTargets + modelTargets + trainingTargets

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// Where a target writes the bytes for parsers that read files: a directory of its own, in
/// shared memory when the machine has it, removed at exit.
public final class FuzzWorkspace: @unchecked Sendable {
    public static let shared = FuzzWorkspace()
    public let directory: String

    init() {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        directory = base + "/cortex-fuzz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        atexit { FuzzWorkspace.shared.remove() }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Removes the workspace (at exit, which runs no deinit of a shared instance).
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes `bytes` to `name` inside the workspace (or inside `subdirectory` of it) and
    /// returns the path.
    @discardableResult
    public func file(_ name: String, _ bytes: [UInt8], in subdirectory: String? = nil) throws -> String {
        let folder = subdirectory.map { directory + "/" + $0 } ?? directory
        if subdirectory != nil { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        let path = folder + "/" + name
        guard let stream = fopen(path, "wb") else { throw CortexError.io(path: path, reason: "fuzz workspace: cannot write") }
        defer { fclose(stream) }
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, stream) } }
        return path
    }

    /// A fresh, empty directory inside the workspace.
    public func emptyDirectory(_ name: String) throws -> String {
        let path = directory + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// Inputs made of several files (a vocabulary and its merges) join the files with this line.
public let fuzzPartSeparator: [UInt8] = Array("\n--cortex-fuzz-part--\n".utf8)

/// `bytes` cut at each ``fuzzPartSeparator``, padded with empty parts to `count`.
func parts(_ bytes: [UInt8], count: Int) -> [[UInt8]] {
    var result: [[UInt8]] = []
    var start = 0, index = 0
    let separator = fuzzPartSeparator
    while index + separator.count <= bytes.count, result.count < count - 1 {
        if bytes[index] == separator[0] && Array(bytes[index..<(index + separator.count)]) == separator {
            result.append(Array(bytes[start..<index]))
            index += separator.count
            start = index
        } else {
            index += 1
        }
    }
    result.append(Array(bytes[start...]))
    while result.count < count { result.append([]) }
    return result
}

/// `files` joined into one input (the inverse of `parts`).
func joined(_ files: [[UInt8]]) -> [UInt8] {
    var bytes: [UInt8] = []
    for (index, file) in files.enumerated() {
        if index > 0 { bytes += fuzzPartSeparator }
        bytes += file
    }
    return bytes
}

/// Runs `body`, letting a `CortexError` go (a refusal is a fine outcome for each stage of a
/// target) and any other error through.
func attempt(_ body: () throws -> Void) throws {
    do { try body() } catch is CortexError {}
}
