import CortexCore
import Foundation

/// A group of one process: every collective is the identity (an all-gather copies), so code
/// written for data parallelism runs unchanged without mpirun.
public final class SingleProcessGroup: ProcessGroup {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var backendName: String { "single" }

    public func startAllReduce(_ tensor: Tensor, operation: ReduceOperation) throws -> CommunicationWork {
        try tensor.requireReducible("allReduce")
        return .completed()
    }

    public func startBroadcast(_ tensor: Tensor, root: Int) throws -> CommunicationWork {
        try tensor.requireCommunicable("broadcast")
        try requireRank(root, "broadcast")
        return .completed()
    }

    public func startAllGather(_ input: Tensor, into output: Tensor) throws -> CommunicationWork {
        try checkGather(input, output, operation: "allGather")
        try withNoGrad { try output.copy(from: input.reshape(output.shape)) }
        return .completed()
    }

    public func startReduceScatter(_ input: Tensor, into output: Tensor, operation: ReduceOperation) throws -> CommunicationWork {
        try input.requireReducible("reduceScatter")
        try checkGather(output, input, operation: "reduceScatter")
        try withNoGrad { try output.copy(from: input.reshape(output.shape)) }
        return .completed()
    }

    public func startBarrier() throws -> CommunicationWork { .completed() }

    public func allReduce(_ values: [Double], operation: ReduceOperation) throws -> [Double] { values }

    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }

    public func abort(code: Int32) -> Never { exit(code) }
}

extension ProcessGroup {
    func requireRank(_ root: Int, _ operation: String) throws {
        guard root >= 0 && root < size else {
            throw CortexError.indexOutOfRange(operation: operation, index: root, bound: size)
        }
    }

    /// `gathered` must hold `size` times `part`'s elements, of the same dtype.
    func checkGather(_ part: Tensor, _ gathered: Tensor, operation: String) throws {
        try part.requireCommunicable(operation)
        try gathered.requireCommunicable(operation)
        guard part.dtype == gathered.dtype else {
            throw CortexError.dtypeMismatch(operation: operation, expected: part.dtype.rawValue, got: gathered.dtype.rawValue)
        }
        guard gathered.count == part.count * size else {
            throw CortexError.shapeMismatch(operation: operation, shapes: [part.shape, gathered.shape],
                                            reason: "(one rank's part and the whole) must differ by a factor of \(size) ranks in element count")
        }
    }
}

extension Tensor {
    /// All-reduce and reduce-scatter combine float32 values.
    func requireReducible(_ operation: String) throws {
        try requireCommunicable(operation)
        guard dtype == .float32 else {
            throw CortexError.dtypeMismatch(operation: operation, expected: "float32", got: dtype.rawValue)
        }
    }
}
