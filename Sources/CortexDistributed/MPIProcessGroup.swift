import CMPI
import CortexCore
import Foundation

/// The ranks of an `mpirun` job (MPI_COMM_WORLD) over Open MPI: shared memory between ranks on
/// one machine, TCP (or any fabric Open MPI finds) between machines.
///
/// Every MPI call runs on one communication thread, in the order the operations were started,
/// so non-blocking operations overlap the caller's computation (backward goes on while a
/// gradient bucket is being reduced) and MPI needs only `MPI_THREAD_SERIALIZED`. Failures
/// become ``CortexError/communication(call:reason:)`` naming the MPI call.
///
/// ```swift
/// // mpirun -np 2 my-program
/// let group = try MPIProcessGroup.world()
/// let values = try Tensor([Float(group.rank + 1)])
/// try group.allReduce(values, operation: .sum)   // 3 on both ranks
/// ```
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public var backendName: String { "mpi" }
    /// The name of the machine this rank runs on (MPI_Get_processor_name).
    public let processorName: String

    private let queue = CommunicationThread()
    private let lock = NSLock()
    nonisolated(unsafe) private static var shared: MPIProcessGroup?
    private static let sharedLock = NSLock()
    private var finalized = false

    /// The job's world group, initialising MPI on first use (once per process).
    public static func world() throws -> MPIProcessGroup {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let shared { return shared }
        let group = try MPIProcessGroup()
        shared = group
        atexit { MPIProcessGroup.finalizeAtExit() }
        return group
    }

    /// Opens libmpi (once); throws, naming the libraries tried, where Open MPI is absent.
    static func loadLibrary() throws {
        var reason = [CChar](repeating: 0, count: 512)
        guard cortex_mpi_load(&reason, Int32(reason.count)) == 0 else {
            throw CortexError.communication(call: "dlopen(libmpi)", reason: String(cCharacters: reason))
        }
    }

    private init() throws {
        try MPIProcessGroup.loadLibrary()
        let queue = self.queue
        let (rank, size, name): (Int, Int, String) = try queue.runAndWait {
            var provided: Int32 = 0
            try MPIProcessGroup.check(cortex_mpi_init_thread(cortex_mpi_thread_serialized(), &provided), "MPI_Init_thread")
            guard provided >= cortex_mpi_thread_serialized() else {
                throw CortexError.communication(call: "MPI_Init_thread", reason: "this MPI provides thread level \(provided), Cortex needs MPI_THREAD_SERIALIZED")
            }
            try MPIProcessGroup.check(cortex_mpi_comm_set_errhandler(cortex_mpi_comm_world(), cortex_mpi_errors_return()), "MPI_Comm_set_errhandler")
            var rank: Int32 = 0, size: Int32 = 0
            try MPIProcessGroup.check(cortex_mpi_comm_rank(cortex_mpi_comm_world(), &rank), "MPI_Comm_rank")
            try MPIProcessGroup.check(cortex_mpi_comm_size(cortex_mpi_comm_world(), &size), "MPI_Comm_size")
            var buffer = [CChar](repeating: 0, count: Int(cortex_mpi_max_processor_name()) + 1)
            var length: Int32 = 0
            try MPIProcessGroup.check(cortex_mpi_get_processor_name(&buffer, &length), "MPI_Get_processor_name")
            let name = String(cCharacters: buffer)
            return (Int(rank), Int(size), name)
        }
        self.rank = rank
        self.size = size
        self.processorName = name
    }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != cortex_mpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: Int(cortex_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        cortex_mpi_error_string(code, &buffer, &length)
        let message = String(cCharacters: buffer)
        throw CortexError.communication(call: call, reason: "error \(code): \(message)")
    }

    /// Runs `body` on the communication thread after everything started before it.
    private func start(_ body: @escaping @Sendable () throws -> Void) throws -> CommunicationWork {
        lock.lock()
        let closed = finalized
        lock.unlock()
        if closed { throw CortexError.communication(call: "MPI", reason: "the MPI process group was finalized") }
        return enqueue(body)
    }

    private func enqueue(_ body: @escaping @Sendable () throws -> Void) -> CommunicationWork {
        let work = CommunicationWork()
        queue.submit {
            do { try body(); work.complete(nil) } catch { work.complete(error) }
        }
        return work
    }

    // MARK: Collectives

    public func startAllReduce(_ tensor: Tensor, operation: ReduceOperation) throws -> CommunicationWork {
        try tensor.requireReducible("allReduce")
        let (count, size) = (tensor.count, self.size)
        // The closure holds the tensor, so its storage outlives the operation.
        return try start {
            let address = tensor.hostAddress
            try Chunks.each(count: count) { offset, length in
                try MPIProcessGroup.check(cortex_mpi_allreduce(cortex_mpi_in_place(), address + offset * 4, Int32(length), cortex_mpi_float(),
                                                        operation.mpiOperation, cortex_mpi_comm_world()), "MPI_Allreduce")
            }
            if operation == .mean { Scaling.divide(address.assumingMemoryBound(to: Float.self), count: count, by: size) }
        }
    }

    public func startBroadcast(_ tensor: Tensor, root: Int) throws -> CommunicationWork {
        try tensor.requireCommunicable("broadcast")
        try requireRank(root, "broadcast")
        let bytes = tensor.count * tensor.dtype.byteCount
        return try start {
            let address = tensor.hostAddress
            try Chunks.each(count: bytes) { offset, length in
                try MPIProcessGroup.check(cortex_mpi_bcast(address + offset, Int32(length), cortex_mpi_byte(), Int32(root), cortex_mpi_comm_world()), "MPI_Bcast")
            }
        }
    }

    public func startAllGather(_ input: Tensor, into output: Tensor) throws -> CommunicationWork {
        try checkGather(input, output, operation: "allGather")
        let bytes = input.count * input.dtype.byteCount
        guard bytes <= Int(Int32.max) else {
            throw CortexError.invalidArgument(operation: "allGather", reason: "\(bytes) bytes per rank exceed MPI's count limit of \(Int32.max)")
        }
        return try start {
            let (source, destination) = (input.hostAddress, output.hostAddress)
            try MPIProcessGroup.check(cortex_mpi_allgather(source, Int32(bytes), cortex_mpi_byte(), destination, Int32(bytes), cortex_mpi_byte(),
                                                    cortex_mpi_comm_world()), "MPI_Allgather")
        }
    }

    public func startReduceScatter(_ input: Tensor, into output: Tensor, operation: ReduceOperation) throws -> CommunicationWork {
        try input.requireReducible("reduceScatter")
        try checkGather(output, input, operation: "reduceScatter")
        guard output.count <= Int(Int32.max) else {
            throw CortexError.invalidArgument(operation: "reduceScatter", reason: "\(output.count) elements per rank exceed MPI's count limit of \(Int32.max)")
        }
        let (count, size) = (output.count, self.size)
        return try start {
            let (source, destination) = (input.hostAddress, output.hostAddress)
            try MPIProcessGroup.check(cortex_mpi_reduce_scatter_block(source, destination, Int32(count), cortex_mpi_float(), operation.mpiOperation,
                                                               cortex_mpi_comm_world()), "MPI_Reduce_scatter_block")
            if operation == .mean { Scaling.divide(destination.assumingMemoryBound(to: Float.self), count: count, by: size) }
        }
    }

    public func startBarrier() throws -> CommunicationWork {
        try start { try MPIProcessGroup.check(cortex_mpi_barrier(cortex_mpi_comm_world()), "MPI_Barrier") }
    }

    public func allReduce(_ values: [Double], operation: ReduceOperation) throws -> [Double] {
        let box = ValueBox(values)
        try start {
            try box.values.withUnsafeMutableBufferPointer { buffer in
                try MPIProcessGroup.check(cortex_mpi_allreduce(cortex_mpi_in_place(), buffer.baseAddress, Int32(buffer.count), cortex_mpi_double(),
                                                        operation.mpiOperation, cortex_mpi_comm_world()), "MPI_Allreduce")
            }
        }.wait()
        return operation == .mean ? box.values.map { $0 / Double(size) } : box.values
    }

    public func allGather(bytes: [UInt8]) throws -> [[UInt8]] {
        let box = ValueBox([[UInt8]]())
        let size = self.size
        try start {
            var length = Int32(bytes.count)
            var lengths = [Int32](repeating: 0, count: size)
            try MPIProcessGroup.check(cortex_mpi_allgather(&length, 1, cortex_mpi_int32(), &lengths, 1, cortex_mpi_int32(),
                                                    cortex_mpi_comm_world()), "MPI_Allgather")
            var offsets = [Int32](repeating: 0, count: size)
            for index in 1..<max(size, 1) { offsets[index] = offsets[index - 1] + lengths[index - 1] }
            var gathered = [UInt8](repeating: 0, count: Int(lengths.reduce(0, +)) + 1)
            var mine = bytes + [0]
            try MPIProcessGroup.check(cortex_mpi_allgatherv(&mine, length, cortex_mpi_byte(), &gathered, lengths, offsets, cortex_mpi_byte(),
                                                     cortex_mpi_comm_world()), "MPI_Allgatherv")
            box.values = (0..<size).map { Array(gathered[Int(offsets[$0])..<Int(offsets[$0] + lengths[$0])]) }
        }.wait()
        return box.values
    }

    public func abort(code: Int32) -> Never {
        fflush(nil)
        cortex_mpi_abort(cortex_mpi_comm_world(), code)
        exit(code)
    }

    // MARK: Finalize

    /// Ends MPI for this process (every rank must call it; `cortex` does at exit). Waits up to
    /// `timeout` seconds for the other ranks, then aborts the job instead of hanging.
    public func finalize(timeout: TimeInterval = 60) {
        lock.lock()
        if finalized { lock.unlock(); return }
        finalized = true
        lock.unlock()
        let work = enqueue { try MPIProcessGroup.check(cortex_mpi_finalize(), "MPI_Finalize") }
        if !work.wait(timeout: timeout) {
            FileHandle.standardError.write(Data("rank \(rank): MPI_Finalize did not complete within \(Int(timeout)) s; aborting the job\n".utf8))
            cortex_mpi_abort(cortex_mpi_comm_world(), 1)
        }
    }

    private static func finalizeAtExit() {
        sharedLock.lock()
        let group = shared
        sharedLock.unlock()
        group?.finalize()
    }
}

extension ReduceOperation {
    var mpiOperation: MPI_Op {
        switch self {
        case .sum, .mean: return cortex_mpi_sum()
        case .max: return cortex_mpi_max()
        case .min: return cortex_mpi_min()
        }
    }
}

/// MPI counts are 32-bit: long buffers go in pieces of at most 2^30 elements.
enum Chunks {
    static func each(count: Int, _ body: (_ offset: Int, _ length: Int) throws -> Void) throws {
        let limit = 1 << 30
        var offset = 0
        repeat {
            let length = min(limit, count - offset)
            try body(offset, length)
            offset += length
        } while offset < count
    }
}

enum Scaling {
    static func divide(_ values: UnsafeMutablePointer<Float>, count: Int, by divisor: Int) {
        let scale = 1 / Float(divisor)
        for index in 0..<count { values[index] *= scale }
    }
}

extension Tensor {
    /// The address of the first element of a contiguous CPU tensor.
    var hostAddress: UnsafeMutableRawPointer { storage.pointer + layout.offset * dtype.byteCount }
}
