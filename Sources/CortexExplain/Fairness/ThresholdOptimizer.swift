import CortexCore

/// Post-processing for fairness by per-group thresholds on a model's scores (Hardt, Price &
/// Srebro 2016), as Fairlearn's `ThresholdOptimizer` with `objective="accuracy_score"`:
///
/// - **demographic parity**: every group selects the same share of its samples; the share is
///   the one (on a grid of `gridSize` + 1 points) with the best overall accuracy;
/// - **equalized odds**: every group has the same true- and false-positive rates.
///
/// A group reaches a point between two of its thresholds by choosing between them at random
/// (and, for equalized odds, by mixing in a coin that says yes at the target rate), so
/// predictions are randomised; ``probabilities(scores:groups:)`` gives P(ŷ = 1) without drawing.
///
/// ```swift
/// let optimizer = try ThresholdOptimizer(constraint: .demographicParity,
///                                        scores: validationScores, labels: validationLabels, groups: validationColour)
/// let fair = try optimizer.predict(scores: testScores, groups: testColour, seed: 0)
/// ```
public struct ThresholdOptimizer: Sendable {
    public enum Constraint: String, Sendable, CaseIterable, Codable {
        case demographicParity = "demographic_parity"
        case equalizedOdds = "equalized_odds"
    }

    /// One way of answering: yes when the score is at least `threshold` (+inf: never), or, for
    /// `threshold == nil`, yes with probability `rate` whatever the score.
    public struct Operation: Sendable, Equatable, Codable {
        public let threshold: Double?
        public let rate: Double
    }

    /// A group's randomised rule: operation i with probability `weights[i]`.
    public struct Policy: Sendable, Codable {
        public let operations: [Operation]
        public let weights: [Double]

        func probability(_ score: Double) -> Double {
            zip(operations, weights).reduce(0) { total, pair in
                let (operation, weight) = pair
                guard let threshold = operation.threshold else { return total + weight * operation.rate }
                return total + (score >= threshold ? weight : 0)
            }
        }
    }

    public let constraint: Constraint
    /// Each group's rule, by group.
    public let policies: [String: Policy]
    /// The common selection rate (demographic parity) or false-positive rate (equalized odds) chosen.
    public let operatingPoint: Double
    /// The accuracy the rules have on the data they were fitted on (in expectation).
    public let fittedAccuracy: Double

    public init(constraint: Constraint, scores: [Double], labels: [Int], groups: [String], gridSize: Int = 1000) throws {
        try checkFairnessInputs(truth: labels, predictions: labels, groups: groups, weights: nil, operation: "ThresholdOptimizer")
        guard scores.count == labels.count else {
            throw CortexError.invalidArgument(operation: "ThresholdOptimizer", reason: "\(scores.count) scores for \(labels.count) labels")
        }
        if let bad = scores.first(where: { !$0.isFinite }) {
            throw CortexError.invalidArgument(operation: "ThresholdOptimizer", reason: "score \(bad) is not finite")
        }
        guard gridSize >= 1 else { throw CortexError.invalidArgument(operation: "ThresholdOptimizer", reason: "grid size \(gridSize) is not positive") }
        self.constraint = constraint
        var members: [String: [Int]] = [:]
        for (index, group) in groups.enumerated() { members[group, default: []].append(index) }
        let names = members.keys.sorted()
        let curves = names.map { ROCCurve(scores: members[$0]!.map { scores[$0] }, labels: members[$0]!.map { labels[$0] }) }
        let total = Double(labels.count)
        let grid = (0...gridSize).map { Double($0) / Double(gridSize) }
        var best = (point: 0.0, value: -Double.infinity)
        switch constraint {
        case .demographicParity:
            let hulls = curves.map { curve in UpperHull(curve.points.map { ($0.selectionRate(curve), $0.accuracy(curve)) }) }
            for x in grid {
                let value = zip(curves, hulls).reduce(0) { $0 + Double($1.0.count) / total * $1.1.value(at: x) }
                if value > best.value + 1e-12 { best = (x, value) }
            }
            policies = Dictionary(uniqueKeysWithValues: zip(names, zip(curves, hulls)).map { name, pair in
                (name, pair.0.policy(pair.1.bracket(best.point)))
            })
        case .equalizedOdds:
            let hulls = curves.map { curve in UpperHull(curve.points.map { ($0.falsePositiveRate(curve), $0.truePositiveRate(curve)) }) }
            let positives = Double(labels.filter { $0 == 1 }.count) / total
            for x in grid {
                let y = hulls.map { $0.value(at: x) }.min()!
                let value = positives * y + (1 - positives) * (1 - x)
                if value > best.value + 1e-12 { best = (x, value) }
            }
            let y = hulls.map { $0.value(at: best.point) }.min()!
            policies = Dictionary(uniqueKeysWithValues: zip(names, zip(curves, hulls)).map { name, pair in
                let (curve, hull) = pair
                let onHull = hull.value(at: best.point)
                // (x, y) lies between the hull's point (x, hull(x)) and the coin (x, x).
                let share = onHull - best.point > 1e-12 ? (y - best.point) / (onHull - best.point) : 1
                let rule = curve.policy(hull.bracket(best.point))
                return (name, Policy(operations: rule.operations + [Operation(threshold: nil, rate: best.point)],
                                     weights: rule.weights.map { $0 * share } + [1 - share]))
            })
        }
        operatingPoint = best.point
        fittedAccuracy = best.value
    }

    /// P(ŷ = 1) for each sample; a group the optimizer was not fitted on is an error.
    public func probabilities(scores: [Double], groups: [String]) throws -> [Double] {
        guard scores.count == groups.count else {
            throw CortexError.invalidArgument(operation: "ThresholdOptimizer", reason: "\(scores.count) scores for \(groups.count) sensitive values")
        }
        return try zip(scores, groups).map { score, group in
            guard let policy = policies[group] else {
                throw CortexError.invalidArgument(operation: "ThresholdOptimizer",
                                                  reason: "group \"\(group)\" had no samples when the thresholds were fitted (groups: \(policies.keys.sorted().joined(separator: ", ")))")
            }
            return policy.probability(score)
        }
    }

    /// Randomised predictions (0 or 1), reproducible for a seed.
    public func predict(scores: [Double], groups: [String], seed: UInt64 = 0) throws -> [Int] {
        let generator = RandomGenerator(seed: seed)
        let draws = try Tensor.rand([scores.count], generator: generator).toFloatArray()
        return try zip(probabilities(scores: scores, groups: groups), draws).map { Double($1) < $0 ? 1 : 0 }
    }
}

/// A group's operating points, one per threshold: "yes when score >= t" for each distinct
/// score t (highest first), after "never yes".
struct ROCCurve {
    struct Point {
        let threshold: Double   // +inf: never yes
        let truePositives: Double, falsePositives: Double
        func selectionRate(_ curve: ROCCurve) -> Double { (truePositives + falsePositives) / Double(curve.count) }
        func accuracy(_ curve: ROCCurve) -> Double { (truePositives + curve.negatives - falsePositives) / Double(curve.count) }
        func truePositiveRate(_ curve: ROCCurve) -> Double { curve.positives > 0 ? truePositives / curve.positives : 0 }
        func falsePositiveRate(_ curve: ROCCurve) -> Double { curve.negatives > 0 ? falsePositives / curve.negatives : 0 }
    }

    let count: Int
    let positives: Double, negatives: Double
    let points: [Point]

    init(scores: [Double], labels: [Int]) {
        count = scores.count
        positives = Double(labels.filter { $0 == 1 }.count)
        negatives = Double(count) - positives
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points = [Point(threshold: .infinity, truePositives: 0, falsePositives: 0)]
        var (tp, fp) = (0.0, 0.0)
        var index = 0
        while index < order.count {
            let threshold = scores[order[index]]
            while index < order.count, scores[order[index]] == threshold {
                if labels[order[index]] == 1 { tp += 1 } else { fp += 1 }
                index += 1
            }
            points.append(Point(threshold: threshold, truePositives: tp, falsePositives: fp))
        }
        self.points = points
    }

    /// The rule mixing the two points a hull bracket names.
    func policy(_ bracket: (low: Int, high: Int, share: Double)) -> ThresholdOptimizer.Policy {
        let low = ThresholdOptimizer.Operation(threshold: points[bracket.low].threshold, rate: 0)
        let high = ThresholdOptimizer.Operation(threshold: points[bracket.high].threshold, rate: 0)
        if bracket.low == bracket.high { return .init(operations: [low], weights: [1]) }
        return .init(operations: [low, high], weights: [1 - bracket.share, bracket.share])
    }
}

/// The upper concave hull of (x, y) points: the best y reachable at each x by mixing two points.
struct UpperHull {
    /// Hull vertices: x, y and the index of the point they came from, by increasing x.
    let vertices: [(x: Double, y: Double, index: Int)]

    init(_ points: [(Double, Double)]) {
        let sorted = points.enumerated().map { (x: $0.element.0, y: $0.element.1, index: $0.offset) }
            .sorted { $0.x != $1.x ? $0.x < $1.x : $0.y > $1.y }
        var hull: [(x: Double, y: Double, index: Int)] = []
        for point in sorted {
            if let last = hull.last, last.x == point.x { continue }   // the best y at this x came first
            while hull.count >= 2 {
                let (a, b) = (hull[hull.count - 2], hull[hull.count - 1])
                // Drop b when it lies on or below the line from a to the new point.
                if (b.x - a.x) * (point.y - a.y) - (b.y - a.y) * (point.x - a.x) >= 0 { hull.removeLast() } else { break }
            }
            hull.append(point)
        }
        vertices = hull
    }

    /// The two vertices around x and the share of the upper one; outside the hull's x range,
    /// the nearest vertex.
    func bracket(_ x: Double) -> (low: Int, high: Int, share: Double) {
        guard let first = vertices.first, let last = vertices.last else { return (0, 0, 0) }
        if x <= first.x { return (first.index, first.index, 0) }
        if x >= last.x { return (last.index, last.index, 0) }
        let upper = vertices.firstIndex { $0.x >= x }!
        let (a, b) = (vertices[upper - 1], vertices[upper])
        let share = (x - a.x) / (b.x - a.x)
        return (a.index, b.index, share)
    }

    func value(at x: Double) -> Double {
        guard let first = vertices.first, let last = vertices.last else { return 0 }
        if x <= first.x { return first.y }
        if x >= last.x { return last.y }
        let upper = vertices.firstIndex { $0.x >= x }!
        let (a, b) = (vertices[upper - 1], vertices[upper])
        return a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x)
    }
}

/// Sample weights that make the label independent of the group in the weighted data
/// (Kamiran & Calders 2012's reweighing): w(g, y) = P(g) · P(y) / P(g, y).
///
/// ```swift
/// let weights = try Reweighing.weights(labels: trainLabels, groups: trainColour)
/// let loss = try (Loss.crossEntropy(logits, targets: y, reduction: .none) * Tensor(weights)).mean()
/// ```
public enum Reweighing {
    public static func weights(labels: [Int], groups: [String]) throws -> [Double] {
        try checkFairnessInputs(truth: labels, predictions: labels, groups: groups, weights: nil, operation: "Reweighing")
        let total = Double(labels.count)
        var groupCounts: [String: Double] = [:], labelCounts: [Int: Double] = [:], jointCounts: [String: [Int: Double]] = [:]
        for (label, group) in zip(labels, groups) {
            groupCounts[group, default: 0] += 1
            labelCounts[label, default: 0] += 1
            jointCounts[group, default: [:]][label, default: 0] += 1
        }
        return zip(labels, groups).map { label, group in
            groupCounts[group]! * labelCounts[label]! / (total * jointCounts[group]![label]!)
        }
    }
}
