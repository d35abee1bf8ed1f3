import CortexCore

/// The per-group metrics of a fairness audit, with Fairlearn's and scikit-learn's definitions
/// for binary labels (1 is the positive label): a rate whose denominator is empty is 0, as
/// `confusion_matrix(normalize="true")` and `precision_score(zero_division="warn")` give it.
public enum FairnessMetric: String, Sendable, CaseIterable, Codable {
    /// The number of samples (not weighted, as Fairlearn's `count`).
    case count
    /// P(ŷ = 1), Fairlearn's `selection_rate`.
    case selectionRate = "selection_rate"
    /// P(ŷ = y), `accuracy_score`.
    case accuracy
    /// P(ŷ = 1 | y = 1), Fairlearn's `true_positive_rate` (recall).
    case truePositiveRate = "true_positive_rate"
    /// P(ŷ = 1 | y = 0), Fairlearn's `false_positive_rate`.
    case falsePositiveRate = "false_positive_rate"
    /// P(ŷ = 0 | y = 1), Fairlearn's `false_negative_rate`.
    case falseNegativeRate = "false_negative_rate"
    /// P(ŷ = 0 | y = 0), Fairlearn's `true_negative_rate`.
    case trueNegativeRate = "true_negative_rate"
    /// P(y = 1 | ŷ = 1), `precision_score`.
    case precision

    /// The metric of samples `indices` of `truth` and `predictions` (0 or 1), weighted by `weights`.
    func value(truth: [Int], predictions: [Int], weights: [Double]?, indices: [Int]) -> Double {
        var (tp, fp, tn, fn, total) = (0.0, 0.0, 0.0, 0.0, 0.0)
        for index in indices {
            let weight = weights?[index] ?? 1
            total += weight
            switch (truth[index], predictions[index]) {
            case (1, 1): tp += weight
            case (0, 1): fp += weight
            case (0, 0): tn += weight
            default: fn += weight
            }
        }
        func rate(_ part: Double, _ whole: Double) -> Double { whole > 0 ? part / whole : 0 }
        switch self {
        case .count: return Double(indices.count)
        case .selectionRate: return rate(tp + fp, total)
        case .accuracy: return rate(tp + tn, total)
        case .truePositiveRate: return rate(tp, tp + fn)
        case .falsePositiveRate: return rate(fp, fp + tn)
        case .falseNegativeRate: return rate(fn, tp + fn)
        case .trueNegativeRate: return rate(tn, fp + tn)
        case .precision: return rate(tp, tp + fp)
        }
    }
}

/// How a disparity compares groups, as Fairlearn's `method`.
public enum DisparityMethod: String, Sendable, CaseIterable, Codable {
    /// The largest group against the smallest: `group_max - group_min`, `group_min / group_max`.
    case betweenGroups = "between_groups"
    /// Each group against the whole: the largest |group - overall|, the smallest
    /// min(group / overall, overall / group).
    case toOverall = "to_overall"
}

/// Checks labels and predictions are 0/1 of one length, with a sensitive value (and a weight) per sample.
func checkFairnessInputs(truth: [Int], predictions: [Int], groups: [String], weights: [Double]?, operation: String) throws {
    guard truth.count == predictions.count, truth.count == groups.count, weights.map({ $0.count == truth.count }) ?? true else {
        throw CortexError.invalidArgument(operation: operation, reason: "\(truth.count) labels, \(predictions.count) predictions, \(groups.count) sensitive values"
                                          + (weights.map { " and \($0.count) weights" } ?? "") + ": one of each per sample is needed")
    }
    guard !truth.isEmpty else { throw CortexError.invalidArgument(operation: operation, reason: "there are no samples") }
    if let bad = (truth + predictions).first(where: { $0 != 0 && $0 != 1 }) {
        throw CortexError.invalidArgument(operation: operation, reason: "label \(bad) is not binary (0 or 1)")
    }
    if let weights, let bad = weights.first(where: { !($0 >= 0) || !$0.isFinite }) {
        throw CortexError.invalidArgument(operation: operation, reason: "sample weight \(bad) is not a finite non-negative number")
    }
}
