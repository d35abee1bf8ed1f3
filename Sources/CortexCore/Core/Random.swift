import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64) that gives the
/// same numbers on every machine: uniforms come from integer bits, normals from Box-Muller in
/// Double, so nothing depends on the platform's float rounding.
///
/// ```swift
/// var generator = RandomGenerator(seed: 42)
/// let noise = try Tensor.randn([2, 3], generator: generator)
/// ```
///
/// A generator is a reference: tensors drawn one after another from it continue its stream.
public final class RandomGenerator: @unchecked Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private let lock = NSLock()

    public init(seed: UInt64) { reseed(seed) }

    /// Restarts the stream from `seed`.
    public func reseed(_ seed: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The generator's full state, for checkpoints.
    public var stateWords: [UInt64] {
        get { lock.lock(); defer { lock.unlock() }; return [state.0, state.1, state.2, state.3] }
        set {
            precondition(newValue.count == 4, "RandomGenerator state has four words")
            lock.lock(); state = (newValue[0], newValue[1], newValue[2], newValue[3]); lock.unlock()
        }
    }

    @inline(__always)
    private func nextUnlocked() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = (state.3 << 45) | (state.3 >> 19)
        return result
    }

    public func next() -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        return nextUnlocked()
    }

    /// `count` floats uniform in [0, 1), 24 random bits each.
    public func uniformFloats(_ count: Int) -> [Float] {
        lock.lock(); defer { lock.unlock() }
        return (0..<count).map { _ in Float(nextUnlocked() >> 40) * 0x1p-24 }
    }

    /// `count` standard normal floats (Box-Muller on 53-bit uniforms).
    public func normalFloats(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fillNormal(buffer.baseAddress!, count: count)
            initialized = count
        }
    }

    /// Writes `count` normal floats, mean + standardDeviation * N(0, 1), the same sequence as
    /// ``normalFloats(_:)``, straight into memory (no intermediate array for a large tensor).
    public func fillNormal(_ target: UnsafeMutablePointer<Float>, count: Int, mean: Float = 0, standardDeviation: Float = 1) {
        lock.lock(); defer { lock.unlock() }
        var index = 0
        while index < count {
            let u1 = (Double(nextUnlocked() >> 11) + 1) * 0x1p-53 // (0, 1]
            let u2 = Double(nextUnlocked() >> 11) * 0x1p-53
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            let angle = 2 * Double.pi * u2
            target[index] = mean + standardDeviation * Float(radius * Foundation.cos(angle))
            if index + 1 < count { target[index + 1] = mean + standardDeviation * Float(radius * Foundation.sin(angle)) }
            index += 2
        }
    }

    /// A uniform integer in `0..<bound` without modulo bias.
    public func integer(below bound: Int) -> Int {
        precondition(bound > 0)
        lock.lock(); defer { lock.unlock() }
        let limit = UInt64(bound)
        let threshold = (0 &- limit) % limit
        while true {
            let value = nextUnlocked()
            if value >= threshold { return Int(value % limit) }
        }
    }

    /// The process-wide default generator (seed 0 until ``manualSeed(_:)``).
    public static let `default` = RandomGenerator(seed: 0)

    /// Reseeds the default generator, as `torch.manual_seed`.
    public static func manualSeed(_ seed: UInt64) { RandomGenerator.default.reseed(seed) }
}
