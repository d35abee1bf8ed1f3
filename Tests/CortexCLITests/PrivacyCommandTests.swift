import ArgumentParser
import CortexCore
import CortexPrivacy
import CortexTestSupport
import Foundation
import Testing
@testable import CortexCLI

/// `cortex train mnist-dp` and `cortex privacy` end to end: the ε spent is saved with the
/// checkpoint and a resumed run goes on counting from it; the run's compute report is written
/// beside it; bad budgets are refused by name.
@Suite struct PrivacyCommandTests {
    let directory: String = temporaryDirectory("cortex-privacy")
    let cli = CommandLineTests()

    struct Saved: Decodable {
        struct Privacy: Decodable {
            struct Accountant: Decodable { struct Entry: Decodable { let steps: Int }; let history: [Entry] }
            let accountant: Accountant
            let epsilon: Double, noiseMultiplier: Double, sampleRate: Double
        }
        struct Record: Decodable { let epoch: Int; let epsilon: Double? }
        let privacy: Privacy?
        let history: [Record]
    }

    func saved(_ run: String) throws -> Saved {
        try JSONDecoder().decode(Saved.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/trainer.json")))
    }

    @Test func privateTrainingSavesAndResumesItsAccounting() throws {
        let data = try CompressionCommandTests().writeDataset(train: 320, test: 50)
        let run = directory + "/run"
        let common = ["train", "mnist-dp", "--data-dir", data, "--batch-size", "64", "--dp-epsilon", "50", "--json", "--out", run]
        // σ spends ε 50 in 2 epochs; the first run stops after the first (5 steps).
        var first = try CortexCommand.parseAsRoot(common + ["--epochs", "2", "--max-steps", "5"])
        try first.run()
        let afterOne = try saved(run)
        let privacy = try #require(afterOne.privacy)
        #expect(privacy.accountant.history.map(\.steps).reduce(0, +) == 5, "320 examples at batch 64: q = 1/5 and 5 Poisson batches")
        #expect(abs(privacy.sampleRate - 0.2) < 1e-12 && privacy.epsilon > 0 && privacy.epsilon < 40)
        #expect(afterOne.history.first?.epsilon == privacy.epsilon)
        let compute = try JSONDecoder().decode(ComputeReport.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/compute.json")))
        #expect(compute.flops > 0 && compute.cpuSeconds > 0 && !compute.energySource.isEmpty)
        var resumed = try CortexCommand.parseAsRoot(common + ["--epochs", "2", "--resume", run])
        try resumed.run()
        let afterTwo = try #require(try saved(run).privacy)
        #expect(afterTwo.accountant.history.map(\.steps).reduce(0, +) == 10)
        #expect(afterTwo.epsilon > privacy.epsilon && afterTwo.epsilon <= 50 && afterTwo.noiseMultiplier == privacy.noiseMultiplier)
        #expect(try saved(run).history.map(\.epoch) == [1, 2])
    }

    @Test func trainingStopsAtTheBudget() throws {
        let data = try CompressionCommandTests().writeDataset(train: 320, test: 50)
        let run = directory + "/budget"
        // σ 0.6 at q 0.2 passes ε 8 within a few epochs of 5 steps: training stops before epoch 20.
        var command = try CortexCommand.parseAsRoot(["train", "mnist-dp", "--data-dir", data, "--batch-size", "64", "--noise-multiplier", "0.6",
                                                     "--dp-epsilon", "8", "--epochs", "20", "--json", "--out", run])
        try command.run()
        let state = try saved(run)
        let privacy = try #require(state.privacy)
        #expect(state.history.count < 20 && privacy.epsilon <= 8, "\(state.history.count) epochs, ε \(privacy.epsilon)")
        var more = RDPAccountant()
        more.step(noiseMultiplier: 0.6, sampleRate: 0.2, count: privacy.accountant.history.map(\.steps).reduce(0, +) + 1)
        #expect(try more.epsilon(delta: 1e-5) > 8, "one more step would have passed the budget")
    }

    @Test func privacyCommandPrintsEpsilonAndSigma() throws {
        var epsilon = try CortexCommand.parseAsRoot(["privacy", "--sample-rate", "0.01", "--noise-multiplier", "1.1", "--steps", "1000", "--json"])
        try epsilon.run()
        var sigma = try CortexCommand.parseAsRoot(["privacy", "--sample-rate", "0.01", "--target-epsilon", "1", "--steps", "1000", "--json"])
        try sigma.run()
    }

    @Test func badPrivacySettingsAreRefusedByName() {
        cli.expectFailure(["train", "mnist-dp", "--dp-epsilon", "0"], mentions: ["epsilon", "0.0", "positive"])
        cli.expectFailure(["train", "mnist-dp", "--dp-epsilon=-2"], mentions: ["epsilon", "-2.0"])
        cli.expectFailure(["train", "mnist-dp", "--dp-delta", "1"], mentions: ["delta", "1.0", "(0, 1)"])
        cli.expectFailure(["train", "mnist-dp", "--max-grad-norm=-1"], mentions: ["max grad norm", "-1.0"])
        cli.expectFailure(["train", "char-gpt", "--dp-epsilon", "3"], mentions: ["image recipes", "char-gpt"])
        cli.expectFailure(["privacy", "--sample-rate", "1.5", "--noise-multiplier", "1", "--steps", "10"], mentions: ["sample rate", "1.5"])
        cli.expectFailure(["privacy", "--sample-rate", "0.1", "--target-epsilon", "0", "--steps", "10"], mentions: ["epsilon", "0.0"])
        cli.expectFailure(["privacy", "--sample-rate", "0.1", "--noise-multiplier", "1", "--steps", "10", "--delta", "2"], mentions: ["delta", "2.0"])
        cli.expectFailure(["privacy", "--sample-rate", "0.1", "--steps", "10"], mentions: ["--noise-multiplier", "--target-epsilon"])
    }
}
