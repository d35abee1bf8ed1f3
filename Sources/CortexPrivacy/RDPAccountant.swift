import Foundation

/// The privacy spent by a run of DP-SGD, as Opacus's `RDPAccountant`: a history of
/// (noise multiplier, sample rate, steps) entries, consecutive equal steps merged, whose RDP
/// over ``defaultOrders`` converts to ε for a δ. It is `Codable`, so a checkpoint saves it
/// and a resumed run goes on counting.
///
/// ```swift
/// var accountant = RDPAccountant()
/// for _ in 0..<2_000 { accountant.step(noiseMultiplier: 1.1, sampleRate: 256.0 / 60_000) }
/// let epsilon = try accountant.epsilon(delta: 1e-5)
/// ```
public struct RDPAccountant: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var noiseMultiplier: Double
        public var sampleRate: Double
        public var steps: Int
    }

    /// Opacus's `RDPAccountant.DEFAULT_ALPHAS`: 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63.
    public static let defaultOrders: [Double] = (1..<100).map { 1 + Double($0) / 10 } + (12..<64).map(Double.init)

    public private(set) var history: [Entry]

    public init(history: [Entry] = []) { self.history = history }

    /// Steps taken so far.
    public var steps: Int { history.reduce(0) { $0 + $1.steps } }

    /// Records one step of the sampled Gaussian mechanism.
    public mutating func step(noiseMultiplier: Double, sampleRate: Double, count: Int = 1) {
        if let last = history.last, last.noiseMultiplier == noiseMultiplier, last.sampleRate == sampleRate {
            history[history.count - 1].steps += count
        } else {
            history.append(Entry(noiseMultiplier: noiseMultiplier, sampleRate: sampleRate, steps: count))
        }
    }

    /// ε spent for `delta`, with the best order (0 and 0 before any step).
    public func privacySpent(delta: Double, orders: [Double] = RDPAccountant.defaultOrders) throws -> (epsilon: Double, order: Double) {
        guard delta > 0, delta < 1 else { throw PrivacyError.invalid("delta", "\(delta) must be in (0, 1)") }
        guard !history.isEmpty else { return (0, 0) }
        var total = [Double](repeating: 0, count: orders.count)
        for entry in history {
            let rdp = RenyiDifferentialPrivacy.rdp(sampleRate: entry.sampleRate, noiseMultiplier: entry.noiseMultiplier, steps: entry.steps, orders: orders)
            for index in total.indices { total[index] += rdp[index] }
        }
        return try RenyiDifferentialPrivacy.privacySpent(orders: orders, rdp: total, delta: delta)
    }

    public func epsilon(delta: Double, orders: [Double] = RDPAccountant.defaultOrders) throws -> Double {
        try privacySpent(delta: delta, orders: orders).epsilon
    }

    /// The noise multiplier σ with which `steps` steps at `sampleRate` spend at most
    /// `targetEpsilon` for `targetDelta`, found as Opacus's `get_noise_multiplier` finds it:
    /// doubling from 10 until ε is under the target, then bisecting until it is within
    /// `tolerance` below it. Pass `epochs` instead of `steps` for `Int(epochs / sampleRate)` steps.
    public static func noiseMultiplier(targetEpsilon: Double, targetDelta: Double, sampleRate: Double, steps: Int? = nil,
                                       epochs: Double? = nil, tolerance: Double = 0.01,
                                       orders: [Double] = RDPAccountant.defaultOrders) throws -> Double {
        try validate(epsilon: targetEpsilon, delta: targetDelta, sampleRate: sampleRate)
        guard (steps == nil) != (epochs == nil) else {
            throw PrivacyError.invalid("noise multiplier search", "give either a number of steps or a number of epochs, not \(steps == nil ? "neither" : "both")")
        }
        let stepCount = steps ?? Int(epochs! / sampleRate)
        guard stepCount > 0 else { throw PrivacyError.invalid("steps", "\(stepCount) must be positive") }
        guard tolerance > 0 else { throw PrivacyError.invalid("epsilon tolerance", "\(tolerance) must be positive") }
        func epsilon(_ sigma: Double) throws -> Double {
            try RDPAccountant(history: [Entry(noiseMultiplier: sigma, sampleRate: sampleRate, steps: stepCount)]).epsilon(delta: targetDelta, orders: orders)
        }
        var (low, high, epsilonHigh) = (0.0, 10.0, Double.infinity)
        while epsilonHigh > targetEpsilon {
            high *= 2
            epsilonHigh = try epsilon(high)
            if high > 1e6 {
                throw PrivacyError.invalid("target epsilon", "\(targetEpsilon) is too small a budget for \(stepCount) steps at sample rate \(sampleRate): no noise multiplier up to 1e6 reaches it")
            }
        }
        while targetEpsilon - epsilonHigh > tolerance {
            let sigma = (low + high) / 2
            let value = try epsilon(sigma)
            if value < targetEpsilon { (high, epsilonHigh) = (sigma, value) } else { low = sigma }
        }
        return high
    }

    /// Typed errors for a budget or rate outside its range.
    public static func validate(epsilon: Double? = nil, delta: Double? = nil, sampleRate: Double? = nil, noiseMultiplier: Double? = nil,
                                maxGradNorm: Double? = nil) throws {
        if let epsilon, !(epsilon > 0 && epsilon.isFinite) { throw PrivacyError.invalid("epsilon", "\(epsilon) must be a positive number") }
        if let delta, !(delta > 0 && delta < 1) { throw PrivacyError.invalid("delta", "\(delta) must be in (0, 1)") }
        if let sampleRate, !(sampleRate > 0 && sampleRate <= 1) { throw PrivacyError.invalid("sample rate", "\(sampleRate) must be in (0, 1]") }
        if let noiseMultiplier, !(noiseMultiplier >= 0 && noiseMultiplier.isFinite) {
            throw PrivacyError.invalid("noise multiplier", "\(noiseMultiplier) must be zero or positive")
        }
        if let maxGradNorm, !(maxGradNorm > 0 && maxGradNorm.isFinite) {
            throw PrivacyError.invalid("max grad norm", "\(maxGradNorm) must be positive (it is the clipping bound C)")
        }
    }
}
