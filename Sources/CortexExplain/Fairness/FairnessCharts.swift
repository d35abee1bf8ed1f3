import Foundation

/// SVG bar charts of per-group metrics, one panel per metric, one bar per group and variant
/// (before mitigation, after thresholds, after reweighing, ...).
///
/// ```swift
/// let svg = FairnessCharts.groupBars(title: "colour", groups: ["Black", "White"],
///                                    variants: [("unmitigated", before), ("thresholds", after)],
///                                    metrics: [.selectionRate, .truePositiveRate, .falsePositiveRate, .accuracy])
/// ```
public enum FairnessCharts {
    static let palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]

    /// `variants` pairs a name with each group's metrics.
    public static func groupBars(title: String, groups: [String], variants: [(name: String, byGroup: [String: [FairnessMetric: Double]])],
                                 metrics: [FairnessMetric]) -> String {
        let barWidth = 26, gap = 10, panelHeight = 180, top = 60, labelHeight = 40
        let groupWidth = variants.count * barWidth + gap
        let panelWidth = max(160, groups.count * groupWidth + 40)
        let width = metrics.count * (panelWidth + 20) + 20
        let height = top + panelHeight + labelHeight + 30
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"20\" y=\"22\" font-size=\"16\">\(TokenPictures.escaped(title))</text>\n"
        for (index, variant) in variants.enumerated() {
            let x = 20 + index * 190
            svg += "<rect x=\"\(x)\" y=\"32\" width=\"12\" height=\"12\" fill=\"\(palette[index % palette.count])\"/>"
            svg += "<text x=\"\(x + 16)\" y=\"43\">\(TokenPictures.escaped(variant.name))</text>\n"
        }
        for (panel, metric) in metrics.enumerated() {
            let left = 20 + panel * (panelWidth + 20)
            let base = top + panelHeight
            svg += "<text x=\"\(left)\" y=\"\(top - 4)\" font-weight=\"bold\">\(metric.rawValue.replacingOccurrences(of: "_", with: " "))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(base)\" x2=\"\(left + panelWidth)\" y2=\"\(base)\" stroke=\"black\"/>\n"
            for tick in [0.25, 0.5, 0.75, 1.0] {
                let y = base - Int(Double(panelHeight - 10) * tick)
                svg += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + panelWidth)\" y2=\"\(y)\" stroke=\"#dddddd\"/>"
                svg += "<text x=\"\(left + panelWidth + 2)\" y=\"\(y + 4)\" font-size=\"9\" fill=\"#888\">\(tick)</text>\n"
            }
            for (groupIndex, group) in groups.enumerated() {
                let groupLeft = left + 20 + groupIndex * groupWidth
                for (variantIndex, variant) in variants.enumerated() {
                    let value = variant.byGroup[group]?[metric] ?? .nan
                    let barHeight = value.isFinite ? Int(Double(panelHeight - 10) * min(max(value, 0), 1)) : 0
                    let x = groupLeft + variantIndex * barWidth
                    svg += "<rect x=\"\(x)\" y=\"\(base - barHeight)\" width=\"\(barWidth - 2)\" height=\"\(barHeight)\" fill=\"\(palette[variantIndex % palette.count])\">"
                    svg += "<title>\(TokenPictures.escaped(variant.name)) \(TokenPictures.escaped(group)): \(String(format: "%.4f", value))</title></rect>"
                    svg += "<text x=\"\(x + barWidth / 2 - 1)\" y=\"\(base - barHeight - 3)\" font-size=\"8\" text-anchor=\"middle\">\(value.isFinite ? String(format: "%.2f", value) : "n/a")</text>\n"
                }
                svg += "<text x=\"\(groupLeft + variants.count * barWidth / 2)\" y=\"\(base + 16)\" text-anchor=\"middle\">\(TokenPictures.escaped(group))</text>\n"
            }
        }
        return svg + "</svg>\n"
    }
}
