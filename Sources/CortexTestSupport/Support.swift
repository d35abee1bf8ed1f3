import CortexCore
import Foundation

/// A new, empty directory under the system's temporary directory, named `<prefix>-<UUID>`.
public func temporaryDirectory(_ prefix: String) -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private let kernelSelection = NSLock()

/// Runs `body` while no other test switches the CPU kernels (`cortex_allow_avx512`). The
/// switch is per thread (a parallel region's workers take their caller's), so a test that
/// switches never changes what other tests run; the tests that switch, or that check which
/// kernels run (the integer path exists only beside AVX-512), still take turns here so each
/// reads the machine's kernels as it expects.
public func withKernelSelectionLock<Result>(_ body: () throws -> Result) rethrows -> Result {
    kernelSelection.lock()
    defer { kernelSelection.unlock() }
    return try body()
}
