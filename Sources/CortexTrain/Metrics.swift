import CortexCore

/// Classification and regression metrics, computed on the host from predictions and targets.
///
/// ```swift
/// let accuracy = try Metrics.accuracy(logits: output, targets: labels)
/// let report = try Metrics.ClassificationReport(predictions: predicted, targets: labels, classes: 10)
/// print(report.f1Macro)
/// ```
public enum Metrics {
    /// Fraction of rows of `logits` (N, C) whose argmax equals the target class.
    public static func accuracy(logits: Tensor, targets: Tensor) throws -> Double {
        try topK(logits: logits, targets: targets, k: 1)
    }

    /// Fraction of rows whose target is among the `k` largest logits.
    public static func topK(logits: Tensor, targets: Tensor, k: Int) throws -> Double {
        guard logits.rank == 2, targets.shape == [logits.shape[0]], k >= 1, k <= logits.shape[1] else {
            throw CortexError.shapeMismatch(operation: "topK", shapes: [logits.shape, targets.shape],
                                            reason: "need logits (N, C), targets (N) and 1 <= k (\(k)) <= C")
        }
        let values = try logits.toFloatArray(), labels = try targets.toIntArray()
        let classes = logits.shape[1]
        var hits = 0
        for row in 0..<labels.count {
            let scores = values[(row * classes)..<((row + 1) * classes)]
            let target = scores[scores.startIndex + labels[row]]
            // Count classes strictly better than the target; ties resolve in the target's favour.
            if scores.filter({ $0 > target }).count < k { hits += 1 }
        }
        return labels.isEmpty ? 0 : Double(hits) / Double(labels.count)
    }

    /// Precision, recall and F1 per class, macro and micro averaged, and the confusion matrix
    /// (rows: true class, columns: predicted class).
    public struct ClassificationReport: Sendable, Equatable {
        public let confusion: [[Int]]
        public let precision: [Double], recall: [Double], f1: [Double]

        public init(predictions: [Int], targets: [Int], classes: Int) throws {
            guard predictions.count == targets.count else {
                throw CortexError.shapeMismatch(operation: "ClassificationReport", shapes: [[predictions.count], [targets.count]],
                                                reason: "(predictions and targets) differ in length")
            }
            var confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes)
            for (predicted, actual) in zip(predictions, targets) {
                guard predicted >= 0, predicted < classes else { throw CortexError.indexOutOfRange(operation: "ClassificationReport", index: predicted, bound: classes) }
                guard actual >= 0, actual < classes else { throw CortexError.indexOutOfRange(operation: "ClassificationReport", index: actual, bound: classes) }
                confusion[actual][predicted] += 1
            }
            self.confusion = confusion
            var precision: [Double] = [], recall: [Double] = [], f1: [Double] = []
            for label in 0..<classes {
                let truePositives = Double(confusion[label][label])
                let predictedPositives = Double((0..<classes).reduce(0) { $0 + confusion[$1][label] })
                let actualPositives = Double(confusion[label].reduce(0, +))
                let p = predictedPositives > 0 ? truePositives / predictedPositives : 0
                let r = actualPositives > 0 ? truePositives / actualPositives : 0
                precision.append(p)
                recall.append(r)
                f1.append(p + r > 0 ? 2 * p * r / (p + r) : 0)
            }
            (self.precision, self.recall, self.f1) = (precision, recall, f1)
        }

        public var accuracy: Double {
            let total = confusion.joined().reduce(0, +)
            return total == 0 ? 0 : Double(confusion.indices.reduce(0) { $0 + confusion[$1][$1] }) / Double(total)
        }
        public var precisionMacro: Double { precision.reduce(0, +) / Double(max(precision.count, 1)) }
        public var recallMacro: Double { recall.reduce(0, +) / Double(max(recall.count, 1)) }
        public var f1Macro: Double { f1.reduce(0, +) / Double(max(f1.count, 1)) }
        /// Micro-averaged F1 equals accuracy for single-label classification.
        public var f1Micro: Double { accuracy }
    }

    /// Mean squared error, mean absolute error and the coefficient of determination R^2.
    public static func regression(predictions: Tensor, targets: Tensor) throws -> (mse: Double, mae: Double, r2: Double) {
        guard predictions.shape == targets.shape else {
            throw CortexError.shapeMismatch(operation: "regression", shapes: [predictions.shape, targets.shape], reason: "differ")
        }
        let p = try predictions.toFloatArray().map(Double.init), t = try targets.toFloatArray().map(Double.init)
        guard !t.isEmpty else { return (0, 0, 0) }
        let mean = t.reduce(0, +) / Double(t.count)
        let squared = zip(p, t).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let absolute = zip(p, t).reduce(0) { $0 + Swift.abs($1.0 - $1.1) }
        let total = t.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (squared / Double(t.count), absolute / Double(t.count), total > 0 ? 1 - squared / total : 0)
    }
}
