import CortexCore
import Foundation

/// A new, empty directory under the system's temporary directory, named `<prefix>-<UUID>`.
public func temporaryDirectory(_ prefix: String) -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private let kernelSelection = NSLock()

/// Runs `body` while no other test switches the CPU kernels process-wide
/// (`cortex_allow_avx512`): tests that switch them and tests whose checks depend on which
/// kernels run (the integer path exists only beside AVX-512) take turns here.
public func withKernelSelectionLock<Result>(_ body: () throws -> Result) rethrows -> Result {
    kernelSelection.lock()
    defer { kernelSelection.unlock() }
    return try body()
}
