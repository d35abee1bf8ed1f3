import CortexCore
import Foundation
import Synchronization
import Testing

/// The worker pool's contract, from several threads at once: every index of a region is run
/// exactly once, whether the pool took the region or the caller ran it alone (the pool was
/// busy with another thread's region, or the region was nested in one). This is the test
/// `Tools/sanitize.sh thread` is pointed at first.
@Suite struct WorkerPoolTests {
    /// Counts, per index, how often a region ran it.
    private final class Tally: @unchecked Sendable {
        let counts: UnsafeMutablePointer<Atomic<Int>>
        let size: Int
        init(size: Int) {
            self.size = size
            counts = .allocate(capacity: size)
            for index in 0..<size { (counts + index).initialize(to: Atomic(0)) }
        }
        deinit { counts.deinitialize(count: size); counts.deallocate() }
        func add(_ range: Range<Int>) {
            for index in range { counts[index].add(1, ordering: .relaxed) }
        }
        /// Indices run other than once.
        func wrong() -> [Int] {
            (0..<size).filter { counts[$0].load(ordering: .relaxed) != 1 }
        }
    }

    @Test func everyIndexRunsOnceWhileThreadsCompeteForThePool() throws {
        let threads = 4
        let rounds = 300
        let failures = Mutex<[String]>([])
        let done = Atomic<Int>(0)
        for thread in 0..<threads {
            Thread {
                defer { done.add(1, ordering: .releasing) }
                for round in 0..<rounds {
                    let count = 1 + (thread * 7919 + round * 104_729) % 5000
                    let ranges = Tally(size: count)
                    CPUParallelism.forEachRange(count, grain: 16) { ranges.add($0) }
                    let pieces = Tally(size: count)
                    CPUParallelism.forEachPiece(count, piece: 37, grain: 16) { pieces.add($0) }
                    // A region inside a region runs on the calling worker, serially.
                    let nested = Tally(size: count)
                    CPUParallelism.forEachRange(4, grain: 1) { outer in
                        for part in outer {
                            let start = count * part / 4, end = count * (part + 1) / 4
                            CPUParallelism.forEachRange(end - start, grain: 8) { inner in
                                nested.add((start + inner.lowerBound)..<(start + inner.upperBound))
                            }
                        }
                    }
                    for (name, tally) in [("forEachRange", ranges), ("forEachPiece", pieces), ("nested", nested)] {
                        let wrong = tally.wrong()
                        if !wrong.isEmpty {
                            failures.withLock { $0.append("thread \(thread) round \(round) \(name) over \(count): \(wrong.count) indices not run once, first \(wrong[0])") }
                        }
                    }
                }
            }.start()
        }
        let deadline = Date().addingTimeInterval(600)
        while done.load(ordering: .acquiring) < threads && Date() < deadline { usleep(2000) }
        #expect(done.load(ordering: .acquiring) == threads, "the threads did not finish within 600 s")
        let found = failures.withLock { $0 }
        #expect(found.isEmpty, "\(found.prefix(5).joined(separator: "\n"))")
    }
}
