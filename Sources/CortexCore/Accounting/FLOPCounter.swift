import Foundation
import Synchronization

/// Floating-point operations counted by the ops as they run, on the thread that issues them
/// (the training loop or generation; data loading on its prefetch thread is not counted).
/// Matrix products count 2·M·N·K (so convolutions, computed as im2col products, count
/// 2·N·O·(C/g)·kh·kw·OH·OW, and attention 4·B·H·L·S·d for its two products); element-wise
/// ops, comparisons, selections and softmax one per output element; reductions one per input
/// element; max pooling one per window element; a fused optimizer step the operations of its
/// update rule per parameter. Backward passes are counted as the ops they run.
///
/// ```swift
/// let (loss, counted) = try FLOPCounter.counting { try model(x).sum() }
/// print(counted.total, counted.byKind[.matmul] ?? 0)
/// ```
///
/// Counters nest: an inner count is added to the outer ones too.
public final class FLOPCounter: @unchecked Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable, Comparable {
        case matmul, elementwise, reduction, softmax, pooling, optimizer
        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    private var counts: [Kind: Double] = [:]
    private let lock = NSLock()
    /// The counter that was current when this one started (restored by ``stop()``).
    private let parent: FLOPCounter?
    /// Whether counts stop here instead of reaching the parent.
    private let isolated: Bool

    init(parent: FLOPCounter?, isolated: Bool = false) {
        self.parent = parent
        self.isolated = isolated
    }

    /// The totals so far.
    public var snapshot: FLOPCount {
        lock.lock(); defer { lock.unlock() }
        return FLOPCount(byKind: counts)
    }

    func add(_ kind: Kind, _ flops: Double) {
        var counter: FLOPCounter? = self
        while let current = counter {
            current.lock.lock()
            current.counts[kind, default: 0] += flops
            current.lock.unlock()
            counter = current.isolated ? nil : current.parent
        }
    }

    // MARK: The counter of this thread

    nonisolated(unsafe) private static var key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The innermost counter running on this thread, if any.
    public static var current: FLOPCounter? {
        pthread_getspecific(key).map { Unmanaged<FLOPCounter>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs `body` with a fresh counter on this thread; returns its result and what it counted.
    public static func counting<Result>(_ body: () throws -> Result) rethrows -> (Result, FLOPCount) {
        let counter = start()
        defer { counter.stop() }
        let result = try body()
        return (result, counter.snapshot)
    }

    /// Starts a counter on this thread until ``stop()`` (which must come on this thread, in
    /// the reverse order of starts): for counts that span calls, as a training run's. An
    /// `isolated` counter keeps what it counts from the counters outside it (a measurement
    /// that is not part of the run, such as the peak probe).
    public static func start(isolated: Bool = false) -> FLOPCounter {
        let counter = FLOPCounter(parent: current, isolated: isolated)
        pthread_setspecific(key, Unmanaged.passRetained(counter).toOpaque())
        return counter
    }

    /// Stops this counter (its parent, if any, becomes current again).
    public func stop() {
        guard let installed = pthread_getspecific(FLOPCounter.key) else { return }
        let current = Unmanaged<FLOPCounter>.fromOpaque(installed)
        guard current.takeUnretainedValue() === self else { return }
        pthread_setspecific(FLOPCounter.key, parent.map { Unmanaged.passUnretained($0).toOpaque() })
        current.release()
    }

    /// A fused causal attention over a cache: `queries` new rows after `offset` cached ones,
    /// each row i attending offset + i + 1 keys with two products of `headSize` per key and
    /// head, and a softmax over its scores.
    public static func recordCachedAttention(heads: Int, headSize: Int, queries: Int, offset: Int) {
        let scores = heads * (queries * offset + queries * (queries + 1) / 2)
        record(.matmul, 4 * headSize * scores)
        record(.softmax, scores)
    }

    /// Counts `flops` of `kind` on this thread's counter (nothing when none runs).
    @inline(__always)
    public static func record(_ kind: Kind, _ flops: Int) {
        guard let raw = pthread_getspecific(key) else { return }
        Unmanaged<FLOPCounter>.fromOpaque(raw).takeUnretainedValue().add(kind, Double(flops))
    }
}

/// What a ``FLOPCounter`` counted, by kind.
public struct FLOPCount: Codable, Sendable, Equatable {
    public var byKind: [FLOPCounter.Kind: Double]

    public init(byKind: [FLOPCounter.Kind: Double] = [:]) { self.byKind = byKind }

    public var total: Double { byKind.values.reduce(0, +) }

    public subscript(kind: FLOPCounter.Kind) -> Double { byKind[kind] ?? 0 }

    public static func - (a: FLOPCount, b: FLOPCount) -> FLOPCount {
        var result = a.byKind
        for (kind, value) in b.byKind { result[kind, default: 0] -= value }
        return FLOPCount(byKind: result)
    }
}
