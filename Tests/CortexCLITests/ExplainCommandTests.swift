import ArgumentParser
import CortexCore
import CortexModels
import CortexNN
import CortexTestSupport
import Foundation
import Testing
@testable import CortexCLI

/// `cortex explain` and `cortex fairness` end to end on small synthetic data: the files they
/// write, and bad values refused by name.
@Suite struct ExplainCommandTests {
    let directory: String = temporaryDirectory("cortex-explain")
    let cli = CommandLineTests()

    @Test func imageExplanationsAndBadInput() throws {
        let compression = CompressionCommandTests()
        let data = try compression.writeDataset(train: 20, test: 30)
        let checkpoint = try compression.saved(Classifiers.mnistCNN(generator: RandomGenerator(seed: 5)), "cnn")
        for method in ["integrated-gradients", "gradcam", "occlusion", "smoothgrad", "saliency"] {
            let out = directory + "/" + method
            var command = try CortexCommand.parseAsRoot(["explain", "mnist-cnn", "--checkpoint", checkpoint, "--indices", "0,2-3", "--method", method,
                                                         "--steps", "8", "--samples", "2", "--data-dir", data, "--out", out, "--json"])
            try command.run()
            for index in [0, 2, 3] { #expect(FileManager.default.fileExists(atPath: "\(out)/\(index)-\(method).png"), "\(method) \(index)") }
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/explain.json"))) as! [String: Any]
            #expect(summary["images"] as? Int == 3)
            #expect(try Safetensors.load(out + "/attributions.safetensors").tensors["2"]?.shape == [1, 28, 28])
        }
        cli.expectFailure(["explain", "mnist-cnn", "--checkpoint", checkpoint, "--indices", "5,30", "--data-dir", data, "--out", directory + "/x"],
                          mentions: ["index 30", "30"])
        cli.expectFailure(["explain", "mnist-cnn", "--checkpoint", checkpoint, "--method", "gradcam", "--layer", "conv9", "--data-dir", data,
                           "--out", directory + "/x"], mentions: ["no layer named \"conv9\"", "0, 1, 2, 3"])
        cli.expectFailure(["explain", "mnist-cnn", "--checkpoint", checkpoint, "--method", "lime", "--out", directory + "/x"], mentions: ["--method", "lime"])
        cli.expectFailure(["explain", "mnist-cnn", "--checkpoint", checkpoint, "--indices", "a-b", "--data-dir", data, "--out", directory + "/x"],
                          mentions: ["\"a-b\""])
    }

    /// An arrests-shaped table: release depends on checks and, unfairly, on colour.
    func writeArrests(rows: Int = 600) throws -> String {
        let root = directory + "/arrests"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let generator = RandomGenerator(seed: 9)
        var lines = ["released,colour,year,age,sex,employed,citizen,checks"]
        for _ in 0..<rows {
            let black = generator.integer(below: 3) == 0
            let checks = generator.integer(below: 7)
            let chance = 90 - 10 * checks - (black ? 15 : 0)
            let released = generator.integer(below: 100) < chance
            lines.append("\(released ? "Yes" : "No"),\(black ? "Black" : "White"),\(1997 + generator.integer(below: 6)),\(16 + generator.integer(below: 40)),"
                         + "\(generator.integer(below: 10) == 0 ? "Female" : "Male"),\(generator.integer(below: 4) == 0 ? "No" : "Yes"),Yes,\(checks)")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: root + "/arrests.csv", atomically: true, encoding: .utf8)
        return root
    }

    @Test func fairnessAuditWritesReportAndCharts() throws {
        let data = try writeArrests()
        let checkpoint = directory + "/arrests-mlp"
        var train = try CortexCommand.parseAsRoot(["train", "arrests-mlp", "--epochs", "5", "--data-dir", data, "--out", checkpoint, "--json"])
        try train.run()
        let out = directory + "/fairness"
        var audit = try CortexCommand.parseAsRoot(["fairness", "--checkpoint", checkpoint, "--sensitive", "colour,sex", "--epochs", "3",
                                                   "--data-dir", data, "--out", out, "--json"])
        try audit.run()
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as! [String: Any]
        let unmitigated = (report["unmitigated"] as! [String: Any])["features"] as! [String: Any]
        let colour = unmitigated["colour"] as! [String: Any]
        #expect(Set((colour["by_group"] as! [String: Any]).keys) == ["Black", "White"])
        #expect(colour["demographic_parity_difference"] is Double && colour["equalized_odds_ratio"] != nil)
        #expect((report["summary"] as! [String: Any])["thresholds"] != nil)
        for chart in ["colour.svg", "sex.svg"] {
            let svg = try String(contentsOfFile: out + "/" + chart, encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.contains("reweighing") && svg.contains("selection rate"))
        }
        cli.expectFailure(["fairness", "--checkpoint", checkpoint, "--sensitive", "race", "--data-dir", data, "--out", out],
                          mentions: ["no column \"race\"", "colour"])
        cli.expectFailure(["fairness", "--checkpoint", checkpoint, "--constraint", "parity", "--out", out], mentions: ["--constraint", "parity"])
        cli.expectFailure(["fairness", "--checkpoint", directory, "--data-dir", data, "--out", out], mentions: ["arrests.json", "missing"])
    }
}
