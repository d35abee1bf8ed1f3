/// Where a tensor's storage lives. Every kernel runs on its tensors' device through that
/// device's ``Backend``.
///
/// ```swift
/// let x = Tensor.ones([4])            // .cpu
/// let y = try x.to(.cpu)              // no copy: already there
/// ```
public enum Device: Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case let .cuda(index): return "cuda:\(index)"
        }
    }
}
