import CortexCore

/// Metrics disaggregated by a sensitive feature, as Fairlearn's `MetricFrame`: every metric
/// over all samples (`overall`) and within each group (`byGroup`, groups in sorted order),
/// with the group extremes and the differences and ratios between them.
///
/// ```swift
/// // Fairlearn's documented example.
/// let frame = try MetricFrame(metrics: [.accuracy, .selectionRate],
///                             truth: [1, 1, 1, 1, 1, 0, 0, 1, 1, 0], predictions: [0, 1, 1, 1, 1, 0, 0, 0, 1, 1],
///                             sensitiveFeatures: Array(repeating: "Female", count: 5) + Array(repeating: "Male", count: 5))
/// frame.byGroup["Female"]![.selectionRate]        // 0.8
/// frame.difference()[.selectionRate]              // 0.4
/// frame.ratio()[.selectionRate]                   // 0.5
/// ```
public struct MetricFrame: Sendable {
    public let metrics: [FairnessMetric]
    /// The groups, sorted.
    public let groups: [String]
    public let overall: [FairnessMetric: Double]
    public let byGroup: [String: [FairnessMetric: Double]]

    /// `sensitiveFeatures` holds each sample's group; an intersection of several features is a
    /// joined value ("Black, Male"), see ``MetricFrame/intersection(_:)``.
    public init(metrics: [FairnessMetric], truth: [Int], predictions: [Int], sensitiveFeatures: [String], sampleWeights: [Double]? = nil) throws {
        try checkFairnessInputs(truth: truth, predictions: predictions, groups: sensitiveFeatures, weights: sampleWeights, operation: "MetricFrame")
        guard !metrics.isEmpty else { throw CortexError.invalidArgument(operation: "MetricFrame", reason: "no metrics were asked for") }
        self.metrics = metrics
        var members: [String: [Int]] = [:]
        for (index, group) in sensitiveFeatures.enumerated() { members[group, default: []].append(index) }
        groups = members.keys.sorted()
        let all = Array(truth.indices)
        overall = Dictionary(uniqueKeysWithValues: metrics.map { ($0, $0.value(truth: truth, predictions: predictions, weights: sampleWeights, indices: all)) })
        byGroup = members.mapValues { indices in
            Dictionary(uniqueKeysWithValues: metrics.map { ($0, $0.value(truth: truth, predictions: predictions, weights: sampleWeights, indices: indices)) })
        }
    }

    /// Each sample's groups under several features joined into one ("Black, Male").
    public static func intersection(_ features: [[String]]) throws -> [String] {
        guard let first = features.first, features.allSatisfy({ $0.count == first.count }) else {
            throw CortexError.invalidArgument(operation: "MetricFrame.intersection", reason: "the features have \(features.map(\.count)) values; they must agree")
        }
        return first.indices.map { index in features.map { $0[index] }.joined(separator: ", ") }
    }

    /// The values of `metric` over the groups (NaNs skipped, as pandas does).
    private func values(_ metric: FairnessMetric) -> [Double] { groups.compactMap { byGroup[$0]?[metric] }.filter { !$0.isNaN } }

    public func groupMin() -> [FairnessMetric: Double] {
        Dictionary(uniqueKeysWithValues: metrics.map { ($0, values($0).min() ?? .nan) })
    }

    public func groupMax() -> [FairnessMetric: Double] {
        Dictionary(uniqueKeysWithValues: metrics.map { ($0, values($0).max() ?? .nan) })
    }

    public func difference(method: DisparityMethod = .betweenGroups) -> [FairnessMetric: Double] {
        Dictionary(uniqueKeysWithValues: metrics.map { metric in
            switch method {
            case .betweenGroups: return (metric, (values(metric).max() ?? .nan) - (values(metric).min() ?? .nan))
            case .toOverall:
                let whole = overall[metric]!
                return (metric, values(metric).map { Swift.abs($0 - whole) }.filter { !$0.isNaN }.max() ?? .nan)
            }
        })
    }

    public func ratio(method: DisparityMethod = .betweenGroups) -> [FairnessMetric: Double] {
        Dictionary(uniqueKeysWithValues: metrics.map { metric in
            switch method {
            case .betweenGroups: return (metric, (values(metric).min() ?? .nan) / (values(metric).max() ?? .nan))
            case .toOverall:
                let whole = overall[metric]!
                let ratios = values(metric).map { $0 / whole }.map { $0 > 1 ? 1 / $0 : $0 }.filter { !$0.isNaN }
                return (metric, ratios.min() ?? .nan)
            }
        })
    }
}

/// Fairlearn's disparity metrics.
public enum Fairness {
    /// The difference in selection rate (`demographic_parity_difference`).
    public static func demographicParityDifference(truth: [Int], predictions: [Int], sensitiveFeatures: [String], method: DisparityMethod = .betweenGroups,
                                                   sampleWeights: [Double]? = nil) throws -> Double {
        try MetricFrame(metrics: [.selectionRate], truth: truth, predictions: predictions, sensitiveFeatures: sensitiveFeatures,
                        sampleWeights: sampleWeights).difference(method: method)[.selectionRate]!
    }

    /// The ratio of selection rates (`demographic_parity_ratio`).
    public static func demographicParityRatio(truth: [Int], predictions: [Int], sensitiveFeatures: [String], method: DisparityMethod = .betweenGroups,
                                              sampleWeights: [Double]? = nil) throws -> Double {
        try MetricFrame(metrics: [.selectionRate], truth: truth, predictions: predictions, sensitiveFeatures: sensitiveFeatures,
                        sampleWeights: sampleWeights).ratio(method: method)[.selectionRate]!
    }

    /// The larger of the true- and false-positive-rate differences (`equalized_odds_difference`,
    /// `agg="worst_case"`), or their mean with `mean`.
    public static func equalizedOddsDifference(truth: [Int], predictions: [Int], sensitiveFeatures: [String], method: DisparityMethod = .betweenGroups,
                                               mean: Bool = false, sampleWeights: [Double]? = nil) throws -> Double {
        try MetricFrame.EqualizedOdds(truth: truth, predictions: predictions, sensitiveFeatures: sensitiveFeatures, sampleWeights: sampleWeights)
            .difference(method, mean: mean)
    }

    /// The smaller of the true- and false-positive-rate ratios (`equalized_odds_ratio`).
    public static func equalizedOddsRatio(truth: [Int], predictions: [Int], sensitiveFeatures: [String], method: DisparityMethod = .betweenGroups,
                                          mean: Bool = false, sampleWeights: [Double]? = nil) throws -> Double {
        try MetricFrame.EqualizedOdds(truth: truth, predictions: predictions, sensitiveFeatures: sensitiveFeatures, sampleWeights: sampleWeights)
            .ratio(method, mean: mean)
    }
}

extension MetricFrame {
    /// Equalized odds from a frame that holds both rates: the worst case of the true- and
    /// false-positive-rate disparities (Fairlearn's `agg="worst_case"`), or their mean.
    struct EqualizedOdds {
        let frame: MetricFrame

        init(_ frame: MetricFrame) { self.frame = frame }

        init(truth: [Int], predictions: [Int], sensitiveFeatures: [String], sampleWeights: [Double]?) throws {
            frame = try MetricFrame(metrics: [.truePositiveRate, .falsePositiveRate], truth: truth, predictions: predictions,
                                    sensitiveFeatures: sensitiveFeatures, sampleWeights: sampleWeights)
        }

        func difference(_ method: DisparityMethod, mean: Bool = false) -> Double {
            let parts = frame.difference(method: method)
            let (tpr, fpr) = (parts[.truePositiveRate]!, parts[.falsePositiveRate]!)
            return mean ? (tpr + fpr) / 2 : Swift.max(tpr, fpr)
        }

        func ratio(_ method: DisparityMethod, mean: Bool = false) -> Double {
            let parts = frame.ratio(method: method)
            let (tpr, fpr) = (parts[.truePositiveRate]!, parts[.falsePositiveRate]!)
            return mean ? (tpr + fpr) / 2 : Swift.min(tpr, fpr)
        }
    }
}
