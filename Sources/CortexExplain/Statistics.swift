import CortexCore

/// Rank statistics for comparing attribution maps.
public enum Statistics {
    /// Ranks from 1, ties given their average rank (scipy's `rankdata(method="average")`).
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, values[order[end + 1]] == values[order[start]] { end += 1 }
            let average = Double(start + end) / 2 + 1
            for position in start...end { ranks[order[position]] = average }
            start = end + 1
        }
        return ranks
    }

    /// Pearson's correlation; NaN when either side is constant.
    public static func pearson(_ a: [Double], _ b: [Double]) throws -> Double {
        guard a.count == b.count, a.count >= 2 else {
            throw CortexError.invalidArgument(operation: "Statistics.pearson", reason: "\(a.count) and \(b.count) values: two equal lengths of at least 2 are needed")
        }
        let (meanA, meanB) = (a.reduce(0, +) / Double(a.count), b.reduce(0, +) / Double(b.count))
        var (covariance, varianceA, varianceB) = (0.0, 0.0, 0.0)
        for (x, y) in zip(a, b) {
            covariance += (x - meanA) * (y - meanB)
            varianceA += (x - meanA) * (x - meanA)
            varianceB += (y - meanB) * (y - meanB)
        }
        guard varianceA > 0, varianceB > 0 else { return .nan }
        return covariance / (varianceA * varianceB).squareRoot()
    }

    /// Spearman's rank correlation (scipy's `spearmanr`): Pearson's on average ranks.
    public static func spearman(_ a: [Double], _ b: [Double]) throws -> Double {
        try pearson(ranks(a), ranks(b))
    }
}
