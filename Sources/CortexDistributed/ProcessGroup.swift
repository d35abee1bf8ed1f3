import CortexCore
import Foundation

/// How an all-reduce or reduce-scatter combines the ranks' values.
public enum ReduceOperation: String, Sendable, CaseIterable {
    case sum, mean, max, min
}

/// The ranks of one training job and the collective operations between them, as PyTorch's
/// `torch.distributed` process groups: the transport (MPI on CPUs today) sits behind this
/// protocol, so data parallelism runs the same over any of them.
///
/// Every operation has a non-blocking form (`start...`) that returns a ``CommunicationWork`` to
/// wait on, and a blocking form that waits itself. Every rank must issue the same collectives in
/// the same order. Tensors are CPU tensors, contiguous; all-reduce and reduce-scatter take
/// float32, broadcast and all-gather any dtype.
///
/// ```swift
/// let group = try ProcessGroups.fromEnvironment()      // MPI under mpirun, else one process
/// let gradient = try Tensor([1, 2, 3])
/// try group.allReduce(gradient, operation: .mean)      // in place
/// let everyone = try group.allGather(try Tensor([Float(group.rank)]))   // shape [size]
/// ```
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process's index, 0 ..< size.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// A short name of the transport ("mpi", "single").
    var backendName: String { get }

    /// Combines the float32 `tensor` across ranks in place.
    func startAllReduce(_ tensor: Tensor, operation: ReduceOperation) throws -> CommunicationWork
    /// Copies rank `root`'s `tensor` into every other rank's `tensor` (same shape and dtype).
    func startBroadcast(_ tensor: Tensor, root: Int) throws -> CommunicationWork
    /// Concatenates every rank's `input` along the first axis into `output` (rank order), as
    /// `all_gather_into_tensor`; `output` holds `size` times `input`'s elements.
    func startAllGather(_ input: Tensor, into output: Tensor) throws -> CommunicationWork
    /// Reduces `input` (`size` equal chunks along the first axis) across ranks and leaves chunk
    /// `rank` of the result in `output`, as `reduce_scatter_tensor`.
    func startReduceScatter(_ input: Tensor, into output: Tensor, operation: ReduceOperation) throws -> CommunicationWork
    /// Completes when every rank has started it.
    func startBarrier() throws -> CommunicationWork
    /// `values` combined across ranks in double precision (blocking): for metrics such as loss
    /// sums and counts, and for agreeing on control flow (stop when any rank's clock says so).
    func allReduce(_ values: [Double], operation: ReduceOperation) throws -> [Double]
    /// Every rank's `bytes` in rank order, lengths free to differ (blocking): for comparing
    /// model descriptions across ranks.
    func allGather(bytes: [UInt8]) throws -> [[UInt8]]
    /// Ends the job on every rank at once with `code` (MPI_Abort): for failures only one rank saw,
    /// which would otherwise leave the others waiting in a collective.
    func abort(code: Int32) -> Never
}

extension ProcessGroup {
    public func allReduce(_ tensor: Tensor, operation: ReduceOperation = .sum) throws {
        try startAllReduce(tensor, operation: operation).wait()
    }

    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        try startBroadcast(tensor, root: root).wait()
    }

    public func allGather(_ input: Tensor, into output: Tensor) throws {
        try startAllGather(input, into: output).wait()
    }

    /// Every rank's `input` concatenated along the first axis in rank order: shape
    /// `[size * d0, ...]` (`[size]` for a scalar).
    public func allGather(_ input: Tensor) throws -> Tensor {
        var shape = input.shape
        if shape.isEmpty { shape = [size] } else { shape[0] *= size }
        let output = try Tensor.empty(shape, dtype: input.dtype)
        try allGather(input, into: output)
        return output
    }

    public func reduceScatter(_ input: Tensor, into output: Tensor, operation: ReduceOperation = .sum) throws {
        try startReduceScatter(input, into: output, operation: operation).wait()
    }

    /// `input`'s chunk `rank` (of `size` along the first axis) reduced across ranks.
    public func reduceScatter(_ input: Tensor, operation: ReduceOperation = .sum) throws -> Tensor {
        guard let first = input.shape.first, first % size == 0 else {
            throw CortexError.invalidArgument(operation: "reduceScatter",
                                              reason: "the first axis of shape \(input.shape) must divide into \(size) equal chunks")
        }
        var shape = input.shape
        shape[0] = first / size
        let output = try Tensor.empty(shape, dtype: input.dtype)
        try reduceScatter(input, into: output, operation: operation)
        return output
    }

    public func barrier() throws { try startBarrier().wait() }
}

/// A collective operation in flight; ``wait()`` returns when it completed on this rank, or
/// throws the error it ended with.
public final class CommunicationWork: @unchecked Sendable {
    private let condition = NSCondition()
    private var done = false
    private var failure: (any Error)?

    public init() {}

    /// Work that is already complete (a single-process group's).
    public static func completed() -> CommunicationWork {
        let work = CommunicationWork()
        work.complete(nil)
        return work
    }

    public func complete(_ error: (any Error)?) {
        condition.lock()
        done = true
        failure = error
        condition.broadcast()
        condition.unlock()
    }

    public var isCompleted: Bool {
        condition.lock()
        defer { condition.unlock() }
        return done
    }

    public func wait() throws {
        condition.lock()
        while !done { condition.wait() }
        let error = failure
        condition.unlock()
        if let error { throw error }
    }

    /// Waits at most `timeout` seconds; true when the work completed (with or without an error).
    public func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !done && condition.wait(until: deadline) {}
        return done
    }
}

extension Tensor {
    /// Checks that a collective can use this tensor's bytes in place.
    func requireCommunicable(_ operation: String) throws {
        guard device == .cpu else {
            throw CortexError.deviceMismatch(operation: operation, devices: [device.description, "cpu (the MPI transport reads host memory)"])
        }
        guard isContiguous else {
            throw CortexError.invalidArgument(operation: operation, reason: "the tensor of shape \(shape) must be contiguous (call contiguous() first)")
        }
    }
}
