import Foundation

/// Whether operations record the autograd graph on the current thread, as PyTorch's
/// thread-local grad mode.
public enum GradMode {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True unless inside ``withNoGrad(_:)`` on this thread.
    public static var isEnabled: Bool { pthread_getspecific(key) == nil }

    /// Runs `body` with gradient recording switched on or off on this thread.
    public static func with<Result>(enabled: Bool, _ body: () throws -> Result) rethrows -> Result {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, enabled ? nil : UnsafeRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, previous) }
        return try body()
    }
}

/// Runs `body` without recording operations for autograd (PyTorch's `torch.no_grad()`).
///
/// ```swift
/// let prediction = try withNoGrad { try model(input) }
/// ```
public func withNoGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradMode.with(enabled: false, body)
}
