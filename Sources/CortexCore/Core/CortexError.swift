/// Every error Cortex throws for input a caller can get wrong.
///
/// Each case carries the offending shapes, axes, indices, dtypes or paths, so the message alone
/// says what to fix:
///
/// ```swift
/// do { _ = try Tensor.zeros([2, 3]) + Tensor.zeros([4]) }
/// catch let error as CortexError { print(error) }
/// // shape mismatch in add: [2, 3] and [4] cannot be broadcast together
/// ```
public enum CortexError: Error, Equatable, CustomStringConvertible, Sendable {
    case shapeMismatch(operation: String, shapes: [[Int]], reason: String)
    case invalidAxis(operation: String, axis: Int, rank: Int)
    case indexOutOfRange(operation: String, index: Int, bound: Int)
    case dtypeMismatch(operation: String, expected: String, got: String)
    case invalidArgument(operation: String, reason: String)
    case deviceMismatch(operation: String, devices: [String])
    case deviceUnavailable(device: String, reason: String)
    case autograd(String)
    case io(path: String, reason: String)
    case invalidFile(path: String, reason: String)
    /// A collective operation across processes failed: `call` names it (`MPI_Allreduce`).
    case communication(call: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(operation, shapes, reason):
            let list = shapes.map { "\($0)" }.joined(separator: " and ")
            return "shape mismatch in \(operation): \(list) \(reason)"
        case let .invalidAxis(operation, axis, rank):
            return "invalid axis in \(operation): axis \(axis) is out of range for a tensor of rank \(rank)"
        case let .indexOutOfRange(operation, index, bound):
            return "index out of range in \(operation): index \(index) is outside 0..<\(bound)"
        case let .dtypeMismatch(operation, expected, got):
            return "dtype mismatch in \(operation): expected \(expected), got \(got)"
        case let .invalidArgument(operation, reason):
            return "invalid argument to \(operation): \(reason)"
        case let .deviceMismatch(operation, devices):
            return "device mismatch in \(operation): tensors on \(devices.joined(separator: " and "))"
        case let .deviceUnavailable(device, reason):
            return "device \(device) is not available: \(reason)"
        case let .autograd(reason):
            return "autograd: \(reason)"
        case let .io(path, reason):
            return "I/O error at \(path): \(reason)"
        case let .invalidFile(path, reason):
            return "invalid file \(path): \(reason)"
        case let .communication(call, reason):
            return "communication failed in \(call): \(reason)"
        }
    }
}
