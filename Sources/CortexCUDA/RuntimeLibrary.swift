import CortexCore
import Foundation
import Synchronization

/// What the CUDA-side classes share about being loaded at run time.
enum RuntimeLibrary {
    /// Fills `table` with one of the C loaders (cortex_cuda_load_driver, ...) from the first of
    /// `candidates` that has every symbol; throws `deviceUnavailable(device:)` with each
    /// candidate's failure otherwise.
    static func load<Table>(_ table: inout Table, candidates: [String], device: String, what: String,
                            _ loader: (UnsafePointer<UnsafePointer<CChar>?>, UnsafeMutablePointer<Table>, UnsafeMutablePointer<CChar>, Int) -> Int32) throws {
        var error = [CChar](repeating: 0, count: 2048)
        let status = withCStrings(candidates) { names in error.withUnsafeMutableBufferPointer { loader(names, &table, $0.baseAddress!, $0.count) } }
        guard status == 0 else {
            let reason = String(cCharacters: error)
            throw CortexError.deviceUnavailable(device: device, reason: "\(what) could not be loaded (\(reason))")
        }
    }

    /// Library names: `defaults` in order, after the one an environment variable names.
    static func candidates(_ defaults: [String], environment variable: String) -> [String] {
        guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty else { return defaults }
        return [path] + defaults
    }
}

/// A value made once per process on first use; a failure is remembered and thrown again.
final class LoadedOnce<Value: Sendable>: Sendable {
    private let state = Mutex<Result<Value, CortexError>?>(nil)
    private let device: String

    init(device: String) { self.device = device }

    func get(_ make: () throws -> Value) throws -> Value {
        try state.withLock { state in
            if state == nil {
                state = Result { try make() }.mapError { $0 as? CortexError ?? .deviceUnavailable(device: device, reason: "\($0)") }
            }
            return try state!.get()
        }
    }
}

/// Calls `body` with a NULL-terminated C array of `strings`.
func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) throws -> Result) rethrows -> Result {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { Foundation.free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return try pointers.withUnsafeBufferPointer { try body($0.baseAddress!) }
}
