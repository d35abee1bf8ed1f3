import CCortexKernels
import Foundation
import Synchronization

/// Cortex's own worker threads. A training step runs hundreds of short parallel regions back
/// to back; waking a sleeping thread for each (as Dispatch does) cost about a fifth of an MLP
/// step in kernel scheduling. Workers here spin for a short while after each job before
/// sleeping, as OpenMP runtimes do, so the next region starts without a wake-up.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: max(CPUParallelism.threadCount - 1, 0))

    let workerCount: Int
    /// The current job's number times `partsLimit`, plus its part count: a worker learns both
    /// from one load. (A separate part count let a worker that sat out one job read the next
    /// job's count before that job was published, run its part early and then again.)
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    // Written by the caller before it publishes a new generation; read only by the workers
    // that take part, while the caller waits for them.
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    private static let partsLimit = 1 << 16
    /// Spin iterations (each a `pause`) before an idle worker goes to sleep: tens of microseconds.
    private let spinLimit = 20_000

    /// `CORTEX_PIN_THREADS=0` leaves worker placement to the scheduler.
    static let pinsWorkers = ProcessInfo.processInfo.environment["CORTEX_PIN_THREADS"] != "0"

    init(workers: Int) {
        workerCount = workers
        // Workers are pinned, each to its own CPU away from the one the creating thread runs on
        // (which itself stays free): a new worker started beside the caller on one CPU spins
        // away the caller's time until the scheduler separates them, measured as seconds of
        // matmuls at a tenth of their speed on a fresh process.
        let creatorCPU = cortex_current_cpu()
        for index in 0..<workers {
            let thread = Thread { [unowned self] in
                if WorkerPool.pinsWorkers { _ = cortex_pin_current_thread(Int32(index), creatorCPU) }
                self.workerLoop(part: index + 1)
            }
            thread.name = "cortex-worker-\(index + 1)"
            thread.start()
        }
    }

    /// Runs `body(part)` for every part in 0..<parts, the calling thread taking part 0, and
    /// returns when all are done. Returns false without running anything when the pool is in
    /// use (a nested or concurrent region), so the caller runs serially instead.
    func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        guard parts >= 1, parts - 1 <= workerCount, parts < Self.partsLimit,
              busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in
            job = body
            pending.store(parts - 1, ordering: .relaxed)
            let next = (generation.load(ordering: .relaxed) / Self.partsLimit + 1) * Self.partsLimit + parts
            condition.lock()
            generation.store(next, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins < spinLimit { cortex_cpu_relax() } else { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func workerLoop(part: Int) {
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            var spins = 0
            while current == seen && spins < spinLimit {
                cortex_cpu_relax()
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                condition.lock()
                while generation.load(ordering: .acquiring) == seen { condition.wait() }
                condition.unlock()
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            // Only the parts of this job check in; the caller waits for exactly those.
            if part < current % Self.partsLimit {
                runJob(part)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Not inlined, so every reference to the job is released before the worker checks in:
    /// the caller's closure must not outlive `run`.
    @inline(never)
    private func runJob(_ part: Int) {
        job?(part)
    }
}
