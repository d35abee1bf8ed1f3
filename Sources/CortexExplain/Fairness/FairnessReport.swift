import CortexCore
import Foundation

/// A fairness audit of one set of predictions: for each sensitive feature a ``MetricFrame``
/// over every ``FairnessMetric``, with demographic parity and equalized odds, differences and
/// ratios, between groups and to overall.
///
/// ```swift
/// let report = try FairnessReport(truth: labels, predictions: predicted,
///                                 sensitiveFeatures: ["colour": colour, "sex": sex])
/// print(report.features["colour"]!.demographicParityDifference)
/// try writeText(report.jsonText(), to: "fairness.json")
/// ```
public struct FairnessReport: Sendable {
    public struct Feature: Sendable {
        public let frame: MetricFrame
        public let demographicParityDifference: Double, demographicParityRatio: Double
        public let equalizedOddsDifference: Double, equalizedOddsRatio: Double
        public let demographicParityDifferenceToOverall: Double, equalizedOddsDifferenceToOverall: Double
    }

    public let features: [String: Feature]
    public let accuracy: Double, selectionRate: Double, count: Int

    /// `sensitiveFeatures` maps a feature's name to each sample's group. A feature listed in
    /// `requiredGroups` must have samples in every one of those groups.
    public init(truth: [Int], predictions: [Int], sensitiveFeatures: [String: [String]], requiredGroups: [String: [String]] = [:]) throws {
        guard !sensitiveFeatures.isEmpty else { throw CortexError.invalidArgument(operation: "FairnessReport", reason: "no sensitive features") }
        var features: [String: Feature] = [:]
        for (name, groups) in sensitiveFeatures {
            let frame = try MetricFrame(metrics: FairnessMetric.allCases, truth: truth, predictions: predictions, sensitiveFeatures: groups)
            if let missing = requiredGroups[name]?.first(where: { !frame.groups.contains($0) }) {
                throw CortexError.invalidArgument(operation: "FairnessReport",
                                                  reason: "group \"\(missing)\" of \(name) has no samples (groups present: \(frame.groups.joined(separator: ", ")))")
            }
            let eo = MetricFrame.EqualizedOdds(frame)
            features[name] = Feature(frame: frame, demographicParityDifference: frame.difference()[.selectionRate]!,
                                     demographicParityRatio: frame.ratio()[.selectionRate]!,
                                     equalizedOddsDifference: eo.difference(.betweenGroups), equalizedOddsRatio: eo.ratio(.betweenGroups),
                                     demographicParityDifferenceToOverall: frame.difference(method: .toOverall)[.selectionRate]!,
                                     equalizedOddsDifferenceToOverall: eo.difference(.toOverall))
        }
        self.features = features
        let all = Array(truth.indices)
        accuracy = FairnessMetric.accuracy.value(truth: truth, predictions: predictions, weights: nil, indices: all)
        selectionRate = FairnessMetric.selectionRate.value(truth: truth, predictions: predictions, weights: nil, indices: all)
        count = truth.count
    }

    /// The report as a JSON-ready dictionary (metric names as Fairlearn spells them).
    public var dictionary: [String: Any] {
        func numbers(_ values: [FairnessMetric: Double]) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: values.map { ($0.key.rawValue, jsonNumber($0.value)) })
        }
        return [
            "count": count, "accuracy": accuracy, "selection_rate": selectionRate,
            "features": features.mapValues { feature -> [String: Any] in
                [
                    "overall": numbers(feature.frame.overall),
                    "by_group": feature.frame.byGroup.mapValues(numbers),
                    "difference_between_groups": numbers(feature.frame.difference()),
                    "ratio_between_groups": numbers(feature.frame.ratio()),
                    "difference_to_overall": numbers(feature.frame.difference(method: .toOverall)),
                    "ratio_to_overall": numbers(feature.frame.ratio(method: .toOverall)),
                    "demographic_parity_difference": jsonNumber(feature.demographicParityDifference),
                    "demographic_parity_ratio": jsonNumber(feature.demographicParityRatio),
                    "equalized_odds_difference": jsonNumber(feature.equalizedOddsDifference),
                    "equalized_odds_ratio": jsonNumber(feature.equalizedOddsRatio),
                    "demographic_parity_difference_to_overall": jsonNumber(feature.demographicParityDifferenceToOverall),
                    "equalized_odds_difference_to_overall": jsonNumber(feature.equalizedOddsDifferenceToOverall),
                ]
            },
        ]
    }
}

/// NaN and infinities as JSON null.
public func jsonNumber(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

/// Pretty, key-sorted JSON text of a dictionary.
public func jsonText(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    return String(decoding: data, as: UTF8.self) + "\n"
}
