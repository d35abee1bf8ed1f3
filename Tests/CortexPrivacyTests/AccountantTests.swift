import CortexPrivacy
import CortexTestSupport
import Foundation
import Testing

/// The RDP accountant against Opacus's (Tools/make_privacy_fixtures.py): ε to 1e-6 relative on
/// a grid of sample rates, noise multipliers, steps and deltas, the doctest vector of Opacus's
/// rdp.py, a history of two phases, and get_noise_multiplier.
@Suite struct AccountantTests {
    struct Point: Decodable { let sample_rate: Double, noise_multiplier: Double, steps: Int, delta: Double, epsilon: Double, order: Double }
    struct Doctest: Decodable { let orders: [Double], epsilon: Double, order: Double }
    struct Phases: Decodable { let history: [[Double]], delta: Double, epsilon: Double }
    struct Budget: Decodable { let target_epsilon: Double, delta: Double, sample_rate: Double, epochs: Double?, steps: Int?, noise_multiplier: Double }
    struct File: Decodable {
        let opacus: String
        let default_orders: [Double]
        let grid: [Point]
        let doctest: Doctest
        let phases: Phases
        let noise_multipliers: [Budget]
    }

    static let file: File = {
        let url = Bundle.module.url(forResource: "rdp_accountant", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }()

    static func relative(_ got: Double, _ want: Double) -> Double {
        got == want ? 0 : abs(got - want) / max(abs(want), 1e-300)
    }

    @Test func defaultOrdersAreOpacuss() {
        #expect(RDPAccountant.defaultOrders.count == AccountantTests.file.default_orders.count)
        for (ours, theirs) in zip(RDPAccountant.defaultOrders, AccountantTests.file.default_orders) { #expect(abs(ours - theirs) < 1e-12) }
    }

    @Test func epsilonOnTheGridEqualsOpacus() throws {
        var worst = 0.0, worstPoint = ""
        for point in AccountantTests.file.grid {
            var accountant = RDPAccountant()
            accountant.step(noiseMultiplier: point.noise_multiplier, sampleRate: point.sample_rate, count: point.steps)
            let (epsilon, order) = try accountant.privacySpent(delta: point.delta)
            let error = AccountantTests.relative(epsilon, point.epsilon)
            #expect(error <= 1e-6, "q \(point.sample_rate) σ \(point.noise_multiplier) steps \(point.steps) δ \(point.delta): ε \(epsilon) vs Opacus \(point.epsilon)")
            #expect(order == point.order, "q \(point.sample_rate) σ \(point.noise_multiplier) steps \(point.steps): order \(order) vs \(point.order)")
            if error > worst { (worst, worstPoint) = (error, "q \(point.sample_rate) σ \(point.noise_multiplier) steps \(point.steps) δ \(point.delta)") }
        }
        print("RDP accountant: \(AccountantTests.file.grid.count) grid points against Opacus \(AccountantTests.file.opacus); worst relative error \(worst) (\(worstPoint))")
    }

    @Test func opacusDoctestVector() throws {
        let doctest = AccountantTests.file.doctest
        let first = RenyiDifferentialPrivacy.rdp(sampleRate: 1e-5, noiseMultiplier: 1, steps: 10, orders: doctest.orders)
        let second = RenyiDifferentialPrivacy.rdp(sampleRate: 1e-4, noiseMultiplier: 3, steps: 4, orders: doctest.orders)
        let (epsilon, order) = try RenyiDifferentialPrivacy.privacySpent(orders: doctest.orders, rdp: zip(first, second).map(+), delta: 1e-5)
        #expect(AccountantTests.relative(epsilon, doctest.epsilon) <= 1e-6, "\(epsilon) vs \(doctest.epsilon)")
        #expect(order == 23 && doctest.order == 23)
        #expect(abs(epsilon - 0.336) < 5e-4)
    }

    @Test func phasesCompose() throws {
        let phases = AccountantTests.file.phases
        var accountant = RDPAccountant()
        for _ in 0..<300 { accountant.step(noiseMultiplier: 1.1, sampleRate: 0.01) }
        for _ in 0..<200 { accountant.step(noiseMultiplier: 0.9, sampleRate: 0.02) }
        #expect(accountant.history.map { [$0.noiseMultiplier, $0.sampleRate, Double($0.steps)] } == phases.history)
        #expect(AccountantTests.relative(try accountant.epsilon(delta: phases.delta), phases.epsilon) <= 1e-6)
        // A checkpoint's round trip keeps the count going.
        let decoded = try JSONDecoder().decode(RDPAccountant.self, from: JSONEncoder().encode(accountant))
        #expect(decoded == accountant && decoded.steps == 500)
    }

    @Test func noiseMultiplierForATargetEqualsOpacus() throws {
        for budget in AccountantTests.file.noise_multipliers {
            let sigma = try RDPAccountant.noiseMultiplier(targetEpsilon: budget.target_epsilon, targetDelta: budget.delta, sampleRate: budget.sample_rate,
                                                          steps: budget.steps, epochs: budget.epochs)
            #expect(AccountantTests.relative(sigma, budget.noise_multiplier) <= 1e-9,
                    "ε \(budget.target_epsilon) δ \(budget.delta) q \(budget.sample_rate): σ \(sigma) vs Opacus \(budget.noise_multiplier)")
        }
    }

    @Test func badBudgetsAreRefused() {
        expectCortexError(["epsilon", "0.0"]) { _ = try RDPAccountant.noiseMultiplier(targetEpsilon: 0, targetDelta: 1e-5, sampleRate: 0.01, steps: 10) }
        expectCortexError(["epsilon", "-1.0"]) { _ = try RDPAccountant.noiseMultiplier(targetEpsilon: -1, targetDelta: 1e-5, sampleRate: 0.01, steps: 10) }
        expectCortexError(["delta", "1.0"]) { _ = try RDPAccountant().epsilon(delta: 1) }
        expectCortexError(["delta", "2.0"]) { _ = try RDPAccountant.noiseMultiplier(targetEpsilon: 1, targetDelta: 2, sampleRate: 0.01, steps: 10) }
        expectCortexError(["sample rate", "1.5"]) { try RDPAccountant.validate(sampleRate: 1.5) }
        expectCortexError(["max grad norm", "-1.0"]) { try RDPAccountant.validate(maxGradNorm: -1) }
        expectCortexError(["either a number of steps or a number of epochs"]) {
            _ = try RDPAccountant.noiseMultiplier(targetEpsilon: 1, targetDelta: 1e-5, sampleRate: 0.01)
        }
        expectCortexError(["too small a budget"]) { _ = try RDPAccountant.noiseMultiplier(targetEpsilon: 1e-9, targetDelta: 1e-12, sampleRate: 1, steps: 100_000) }
    }
}
