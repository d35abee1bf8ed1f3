import CortexCore

/// Errors of privacy accounting and private training, as `CortexError`s naming the value.
enum PrivacyError {
    static func invalid(_ what: String, _ reason: String) -> CortexError {
        CortexError.invalidArgument(operation: "differential privacy", reason: "\(what): \(reason)")
    }
}
