import Foundation
import Synchronization
import CCortexKernels

/// The one pool Cortex's CPU kernels run on (``WorkerPool``), split into one chunk per core.
///
/// OpenBLAS (the products on CPUs without AVX-512) runs single-threaded on these workers, so
/// there is one pool and the cores are never oversubscribed.
public enum CPUParallelism {
    /// Worker count, from CORTEX_NUM_THREADS, else the cores this process may run on: the ones
    /// a launcher bound it to (mpirun binds each of 2 ranks to a core), or else the active cores
    /// shared out among the ranks started on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), so
    /// ranks never oversubscribe the cores.
    nonisolated(unsafe) public private(set) static var threadCount: Int = {
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["CORTEX_NUM_THREADS"], let value = Int(text), value > 0 {
            return value
        }
        let online = max(ProcessInfo.processInfo.activeProcessorCount, 1)
        let allowed = Int(cortex_allowed_cpu_count())
        if allowed > 0 && allowed < online { return allowed }
        let localRanks = max(environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? 1, 1)
        return max(online / localRanks, 1)
    }()

    /// Sets the workers used by Cortex kernels (OpenBLAS products run on them).
    public static func setThreadCount(_ count: Int) {
        threadCount = max(count, 1)
    }

    /// Runs `body` over `0..<count` split into contiguous ranges, one per worker, when the work
    /// is large enough to pay for waking them (`grain` items per worker at least).
    @inline(__always)
    public static func forEachRange(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let workers = min(threadCount, count / max(grain, 1))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        // The workers run the kernels the calling thread has chosen (cortex_allow_avx512).
        let allowed = cortex_avx512_allowed()
        let ran = WorkerPool.shared.run(parts: workers) { worker in
            cortex_allow_avx512(allowed)
            body((count * worker / workers)..<(count * (worker + 1) / workers))
        }
        // The pool is busy with another region (nested, or another thread's): run the same
        // ranges here, one after another, so results (partial sums) never depend on whether
        // the pool was free.
        if !ran {
            for worker in 0..<workers { body((count * worker / workers)..<(count * (worker + 1) / workers)) }
        }
    }
}

extension CPUParallelism {
    /// Runs `body` over `0..<count` in ranges that the workers take in turn from a shared
    /// counter, each a share of what is left (a quarter of it between two workers) and never
    /// under `piece` items: a worker slowed by its core (a busier memory path, a neighbour on
    /// the host) takes less, while each worker still reads long contiguous runs. (Pieces of one
    /// size taken in turn cost the hardware prefetchers their streams: SmolLM2's packed
    /// products over all its matrices took 4.0 ms per pass on two Zen 4 cores in pieces of 64
    /// rows, 3.2 ms in halves.) Each item is computed by one worker, so results never depend on who.
    public static func forEachPiece(_ count: Int, piece: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let piece = max(piece, 1)
        let workers = min(threadCount, count / max(grain, 1))
        if workers <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let next = Atomic<Int>(0)
        forEachRange(workers, grain: 1) { _ in
            var start = next.load(ordering: .relaxed)
            while start < count {
                let end = min(count, start + max(piece, (count - start) / (2 * workers)))
                let (exchanged, original) = next.compareExchange(expected: start, desired: end, ordering: .relaxed)
                if exchanged { body(start..<end); start = end } else { start = original }
            }
        }
    }
}

/// Hands a value to worker threads that only read through disjoint ranges.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
