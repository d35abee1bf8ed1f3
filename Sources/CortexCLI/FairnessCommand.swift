import ArgumentParser
import CortexCore
import CortexExplain
import Foundation

/// `cortex fairness`: audits an arrests-mlp checkpoint on its test split by sensitive columns,
/// then mitigates by per-group thresholds (fitted on the validation split) and by reweighing
/// (a model retrained with Kamiran & Calders's weights), and reports all three.
struct FairnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fairness",
        abstract: "Audit a tabular classifier for fairness by sensitive columns, before and after mitigation.",
        discussion: """
            Reads a checkpoint of `cortex train arrests-mlp --out DIR` and the arrests table, and writes DIR/report.json \
            (Fairlearn's MetricFrame figures per group: count, selection rate, accuracy, TPR, FPR, precision; demographic \
            parity and equalized odds differences and ratios) and one SVG bar chart per sensitive column, each showing the \
            unmitigated model, the per-group thresholds (ThresholdOptimizer) and the reweighed model.
            """)

    @Option(help: "Checkpoint directory of `cortex train arrests-mlp --out`.") var checkpoint: String
    @Option(help: "Sensitive columns, comma-separated (colour,sex).") var sensitive: String = "colour"
    @Option(help: "The column the mitigations equalise (default: the first sensitive column).") var mitigate: String?
    @Option(help: "demographic-parity or equalized-odds: the constraint of the per-group thresholds.") var constraint = "demographic-parity"
    @Option(help: "Epochs for the reweighed model (default: the checkpoint's best epoch count, at least 10).") var epochs: Int?
    @Option(name: .customLong("data-dir"), help: "Directory holding arrests.csv.") var dataDirectory: String?
    @Option(name: .customLong("out"), help: "Directory for report.json and the charts.") var output: String
    @Flag(help: "Print one JSON object with the headline figures.") var json = false

    var constraintValue: ThresholdOptimizer.Constraint? {
        ThresholdOptimizer.Constraint(rawValue: constraint.replacingOccurrences(of: "-", with: "_"))
    }

    var sensitiveColumns: [String] { sensitive.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    func validate() throws {
        guard constraintValue != nil else { throw ValidationError("--constraint must be demographic-parity or equalized-odds, got \(constraint)") }
        guard !sensitiveColumns.isEmpty else { throw ValidationError("--sensitive names no column") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
    }

    func run() throws {
        try audit()
    }

    func audit() throws {
        let (model, configuration) = try ArrestsRecipe.load(checkpoint)
        let data = try ArrestsData(dataDirectory: dataDirectory, seed: configuration.seed)
        let mitigated = mitigate ?? sensitiveColumns[0]
        let columns = sensitiveColumns.contains(mitigated) ? sensitiveColumns : sensitiveColumns + [mitigated]
        for column in columns { _ = try data.table.index(of: column) }
        let allGroups = try Dictionary(uniqueKeysWithValues: columns.map { ($0, Set(try data.table.column($0)).sorted()) })
        let testLabels = data.labels(data.test)
        let testSensitive = try Dictionary(uniqueKeysWithValues: columns.map { ($0, try data.groups($0, data.test)) })
        func report(_ predictions: [Int]) throws -> FairnessReport {
            try FairnessReport(truth: testLabels, predictions: predictions, sensitiveFeatures: testSensitive, requiredGroups: allGroups)
        }
        let testInputs = try data.inputs(data.test, configuration.encoder)
        let testScores = try ArrestsRecipe.scores(model, testInputs)
        let before = try report(testScores.map { $0 >= 0.5 ? 1 : 0 })

        // Per-group thresholds, fitted on the validation split.
        let validationScores = try ArrestsRecipe.scores(model, data.inputs(data.validation, configuration.encoder))
        let validationGroups = try data.groups(mitigated, data.validation)
        if let missing = allGroups[mitigated]!.first(where: { !validationGroups.contains($0) }) {
            throw CortexError.invalidArgument(operation: "cortex fairness", reason: "group \"\(missing)\" of \(mitigated) has no samples in the validation split")
        }
        let optimizer = try ThresholdOptimizer(constraint: constraintValue!, scores: validationScores, labels: data.labels(data.validation),
                                               groups: validationGroups)
        let thresholded = try report(optimizer.predict(scores: testScores, groups: testSensitive[mitigated]!, seed: configuration.seed))

        // Reweighing: the same recipe retrained with weights that decouple label and group.
        var options = RecipeOptions(epochs: epochs ?? max(10, configuration.epochs), batchSize: 64, learningRate: nil, optimizer: "adam",
                                    seed: configuration.seed, dataDirectory: dataDirectory, output: nil, resume: nil, json: true)
        options.parallel = .single
        let (reweighedModel, _) = try ArrestsRecipe.train(data, options, reweighBy: mitigated)
        let reweighed = try report(ArrestsRecipe.scores(reweighedModel, testInputs).map { $0 >= 0.5 ? 1 : 0 })

        let variants = [("unmitigated", before), ("thresholds (\(constraintValue!.rawValue))", thresholded), ("reweighing", reweighed)]
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for column in columns {
            let svg = FairnessCharts.groupBars(
                title: "arrests-mlp on the test split by \(column) (mitigating \(mitigated))", groups: before.features[column]!.frame.groups,
                variants: variants.map { ($0.0, $0.1.features[column]!.frame.byGroup) },
                metrics: [.selectionRate, .truePositiveRate, .falsePositiveRate, .accuracy, .precision])
            try writeText(svg, to: output + "/\(column).svg")
        }
        let change = { (after: FairnessReport) -> [String: Any] in
            let (b, a) = (before.features[mitigated]?.demographicParityDifference ?? .nan, after.features[mitigated]?.demographicParityDifference ?? .nan)
            return ["demographic_parity_difference": jsonNumber(a), "reduction": jsonNumber(b > 0 ? 1 - a / b : .nan),
                    "accuracy_cost_points": jsonNumber(100 * (before.accuracy - after.accuracy))]
        }
        let document: [String: Any] = [
            "checkpoint": checkpoint, "split": "test", "test_count": data.test.count, "mitigated_feature": mitigated,
            "constraint": constraintValue!.rawValue,
            "threshold_optimizer": ["fitted_on": "validation", "operating_point": optimizer.operatingPoint,
                                    "policies": optimizer.policies.mapValues { policy in
                                        zip(policy.operations, policy.weights).map { ["threshold": jsonNumber($0.threshold ?? .nan), "coin_rate": $0.threshold == nil ? $0.rate : 0, "probability": $1] as [String: Any] }
                                    }],
            "unmitigated": before.dictionary, "thresholds": thresholded.dictionary, "reweighing": reweighed.dictionary,
            "summary": ["unmitigated": ["demographic_parity_difference": jsonNumber(before.features[mitigated]?.demographicParityDifference ?? .nan),
                                        "accuracy": before.accuracy],
                        "thresholds": change(thresholded).merging(["accuracy": thresholded.accuracy]) { a, _ in a },
                        "reweighing": change(reweighed).merging(["accuracy": reweighed.accuracy]) { a, _ in a }],
        ]
        try writeText(jsonText(document), to: output + "/report.json")
        if json {
            print(try jsonText(document["summary"]!).replacingOccurrences(of: "\n", with: " "))
        } else {
            for (name, variant) in variants {
                let feature = variant.features[mitigated]
                print(String(format: "%@: accuracy %.4f, demographic parity difference by %@ %.4f (ratio %.4f), equalized odds difference %.4f",
                             name, variant.accuracy, mitigated, feature?.demographicParityDifference ?? .nan, feature?.demographicParityRatio ?? .nan,
                             feature?.equalizedOddsDifference ?? .nan))
            }
            print("report and charts written to \(output)")
        }
    }
}
