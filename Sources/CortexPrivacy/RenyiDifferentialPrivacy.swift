import Foundation
import Synchronization

/// Rényi differential privacy of the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019,
/// "Rényi Differential Privacy of the Sampled Gaussian Mechanism", section 3.3) and its
/// conversion to (ε, δ) by Balle et al. 2020's theorem 21: the analysis Opacus's
/// `opacus.accountants.analysis.rdp` does, term for term, in double precision.
///
/// ```swift
/// let orders = (2...32).map(Double.init)
/// var rdp = RenyiDifferentialPrivacy.rdp(sampleRate: 1e-5, noiseMultiplier: 1, steps: 10, orders: orders)
/// rdp = zip(rdp, RenyiDifferentialPrivacy.rdp(sampleRate: 1e-4, noiseMultiplier: 3, steps: 4, orders: orders)).map(+)
/// let (epsilon, order) = try RenyiDifferentialPrivacy.privacySpent(orders: orders, rdp: rdp, delta: 1e-5)
/// // 0.336, 23 (Opacus's doctest)
/// ```
public enum RenyiDifferentialPrivacy {
    /// The RDP of `steps` compositions of the sampled Gaussian mechanism at each order
    /// (infinite where it is unbounded).
    public static func rdp(sampleRate q: Double, noiseMultiplier sigma: Double, steps: Int, orders: [Double]) -> [Double] {
        perStep(q, sigma, orders).map { $0 * Double(steps) }
    }

    struct Mechanism: Hashable {
        let sampleRate: Double, noiseMultiplier: Double, orders: [Double]
    }

    /// One step's RDP at each order, memoised: a private run asks for ε at every step (to stop
    /// at its budget), and the series behind each order are the costly part.
    private static let perStepCache = Mutex<[Mechanism: [Double]]>([:])

    static func perStep(_ q: Double, _ sigma: Double, _ orders: [Double]) -> [Double] {
        let mechanism = Mechanism(sampleRate: q, noiseMultiplier: sigma, orders: orders)
        if let known = perStepCache.withLock({ $0[mechanism] }) { return known }
        let values = orders.map { rdp(q, sigma, $0) }
        perStepCache.withLock { cache in
            if cache.count >= 1024 { cache.removeAll() }   // a noise search fills it with one-off σs
            cache[mechanism] = values
        }
        return values
    }

    /// One step's RDP at order `alpha`.
    static func rdp(_ q: Double, _ sigma: Double, _ alpha: Double) -> Double {
        if q == 0 { return 0 }
        if sigma == 0 { return .infinity }
        if q == 1 { return alpha / (2 * sigma * sigma) }
        if alpha.isInfinite { return .infinity }
        return logA(q, sigma, alpha) / (alpha - 1)
    }

    /// log(A_alpha) of the paper, by its integer or its fractional series.
    static func logA(_ q: Double, _ sigma: Double, _ alpha: Double) -> Double {
        if alpha == alpha.rounded() { return logAForIntegerOrder(q, sigma, Int(alpha)) }
        return logAForFractionalOrder(q, sigma, alpha)
    }

    static func logAForIntegerOrder(_ q: Double, _ sigma: Double, _ alpha: Int) -> Double {
        var logA = -Double.infinity
        for i in 0...alpha {
            let logCoefficient = log(binomial(Double(alpha), i)) + Double(i) * log(q) + Double(alpha - i) * log(1 - q)
            logA = logAdd(logA, logCoefficient + Double(i * i - i) / (2 * sigma * sigma))
        }
        return logA
    }

    static func logAForFractionalOrder(_ q: Double, _ sigma: Double, _ alpha: Double) -> Double {
        var (logA0, logA1) = (-Double.infinity, -Double.infinity)
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        var i = 0
        while true {
            let coefficient = binomial(alpha, i)
            let logCoefficient = log(abs(coefficient))
            let (a, j) = (Double(i), alpha - Double(i))
            let logT0 = logCoefficient + a * log(q) + j * log(1 - q)
            let logT1 = logCoefficient + j * log(q) + a * log(1 - q)
            let logE0 = log(0.5) + logErfc((a - z0) / (2.0.squareRoot() * sigma))
            let logE1 = log(0.5) + logErfc((z0 - j) / (2.0.squareRoot() * sigma))
            let logS0 = logT0 + (a * a - a) / (2 * sigma * sigma) + logE0
            let logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
            if coefficient > 0 {
                logA0 = logAdd(logA0, logS0)
                logA1 = logAdd(logA1, logS1)
            } else {
                logA0 = logSubtract(logA0, logS0)
                logA1 = logSubtract(logA1, logS1)
            }
            i += 1
            if max(logS0, logS1) < -30 { break }
        }
        return logAdd(logA0, logA1)
    }

    /// ε for `delta` from RDP values at `orders`, with the order that gives it (Balle et al.
    /// 2020, theorem 21): min over α of rdp(α) − (log δ + log α)/(α − 1) + log((α − 1)/α).
    public static func privacySpent(orders: [Double], rdp: [Double], delta: Double) throws -> (epsilon: Double, order: Double) {
        guard orders.count == rdp.count, !orders.isEmpty else {
            throw PrivacyError.invalid("orders and RDP values", "\(orders.count) orders and \(rdp.count) values; they must be as many, and at least one")
        }
        guard delta > 0, delta < 1 else { throw PrivacyError.invalid("delta", "\(delta) must be in (0, 1)") }
        var best: (epsilon: Double, order: Double)?
        for (alpha, value) in zip(orders, rdp) {
            let epsilon = value - (log(delta) + log(alpha)) / (alpha - 1) + log((alpha - 1) / alpha)
            guard !epsilon.isNaN else { continue }
            if best == nil || epsilon < best!.epsilon { best = (epsilon, alpha) }
        }
        return best ?? (.infinity, .nan)
    }

    // MARK: Numerics

    /// log(exp(x) + exp(y)).
    static func logAdd(_ x: Double, _ y: Double) -> Double {
        let (a, b) = (min(x, y), max(x, y))
        if a == -.infinity { return b }
        return log1p(exp(a - b)) + b
    }

    /// log(exp(x) − exp(y)) for x ≥ y (Opacus raises otherwise; here the series never asks).
    static func logSubtract(_ x: Double, _ y: Double) -> Double {
        if y == -.infinity { return x }
        if x <= y { return -.infinity }
        let difference = expm1(x - y)
        return difference.isInfinite ? x : log(difference) + y
    }

    /// The generalised binomial coefficient C(n, k) for real n, as `scipy.special.binom`.
    static func binomial(_ n: Double, _ k: Int) -> Double {
        var value = 1.0
        if n == n.rounded(), n >= 0, Double(k) > n / 2, Double(k) <= n { return binomial(n, Int(n) - k) }
        for j in 0..<k { value *= (n - Double(j)) / Double(j + 1) }
        return value
    }

    /// log(erfc(x)), accurate where erfc underflows: log 2 + log Φ(−x√2).
    static func logErfc(_ x: Double) -> Double { log(2) + logNormalCDF(-x * 2.0.squareRoot()) }

    /// log Φ(x) of the standard normal, as `scipy.special.log_ndtr`: from erfc in the middle,
    /// log1p near 1, and the asymptotic series of Mills' ratio far in the lower tail.
    static func logNormalCDF(_ x: Double) -> Double {
        if x > 6 { return log1p(-0.5 * erfc(x / 2.0.squareRoot())) }
        if x > -20 { return log(0.5 * erfc(-x / 2.0.squareRoot())) }
        // Φ(x) = φ(x)/(-x) · (1 − 1/x² + 3/x⁴ − 15/x⁶ + ...).
        let inverseSquare = 1 / (x * x)
        var (term, series) = (1.0, 1.0)
        for k in 1...30 {
            term *= -Double(2 * k - 1) * inverseSquare
            series += term
            if abs(term) < 1e-17 { break }
        }
        return -0.5 * x * x - log(-x) - 0.5 * log(2 * Double.pi) + log(series)
    }
}
