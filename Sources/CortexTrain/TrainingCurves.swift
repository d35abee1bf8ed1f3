import CortexCore
import Foundation

/// Training curves drawn as standalone SVG line charts: per epoch, and per logged step with
/// the epochs marked on the step axis.
public enum TrainingCurves {
    /// The chart of the step logs, beside `loss.svg` and `accuracy.svg`.
    public static let stepChartName = "loss-by-step.svg"

    /// Writes `loss.svg` and, when accuracies were measured, `accuracy.svg` into `directory`;
    /// with step logs, also ``stepChartName``: the training loss at each logged step, the
    /// validation loss at the step each epoch ended, and a dashed marker at each epoch's end.
    public static func write(history: [EpochRecord], steps: [StepRecord] = [], to directory: String) throws {
        guard !history.isEmpty else { return }
        func byEpoch(_ values: [Double?]) -> [(Double, Double)] {
            values.enumerated().compactMap { index, value in value.map { (Double(index + 1), $0) } }
        }
        let epochTicks = history.indices.map { (Double($0 + 1), String($0 + 1)) }
        let loss = chart(title: "Loss", xLabel: "epoch", series: [("train", byEpoch(history.map(\.trainLoss))),
                                                                 ("validation", byEpoch(history.map(\.validationLoss)))],
                         ticks: epochTicks, dots: true)
        try save(loss, to: directory + "/loss.svg")
        let accuracies = [("train", byEpoch(history.map(\.trainAccuracy))), ("validation", byEpoch(history.map(\.validationAccuracy)))]
        if accuracies.contains(where: { !$0.1.isEmpty }) {
            try save(chart(title: "Accuracy", xLabel: "epoch", series: accuracies, ticks: epochTicks, dots: true), to: directory + "/accuracy.svg")
        }
        if !steps.isEmpty {
            let ends = history.compactMap { record in record.step.map { (Double($0), record) } }
            let stepChart = chart(title: "Loss by step", xLabel: "optimizer step",
                                  series: [("train", steps.map { (Double($0.step), $0.loss) }),
                                           ("validation", ends.compactMap { step, record in record.validationLoss.map { (step, $0) } })],
                                  markers: ends.map { step, record in (step, "epoch \(record.epoch)") })
            try save(stepChart, to: directory + "/" + stepChartName)
        }
    }

    static func save(_ text: String, to path: String) throws {
        let bytes = Array(text.utf8)
        try AtomicFile.write(to: path) { handle in try bytes.withUnsafeBytes { try handle.write($0) } }
    }

    /// A 640x400 line chart of each series' (x, y) points. `ticks` label the x axis (five
    /// evenly spaced values when nil); `markers` are dashed vertical lines with a label.
    public static func chart(title: String, xLabel: String, series: [(String, [(Double, Double)])],
                             ticks: [(Double, String)]? = nil, markers: [(Double, String)] = [], dots: Bool = false) -> String {
        let width = 640.0, height = 400.0, left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let points = series.flatMap(\.1).filter { $0.0.isFinite && $0.1.isFinite }
        var low = points.map(\.1).min() ?? 0, high = points.map(\.1).max() ?? 1
        if high - low < 1e-12 { low -= 0.5; high += 0.5 }
        let xs = points.map(\.0) + markers.map(\.0) + (ticks ?? []).map(\.0)
        var first = xs.min() ?? 0, last = xs.max() ?? 1
        if last - first < 1e-12 { first -= 1; last += 1 }
        func x(_ value: Double) -> Double { left + (width - left - right) * (value - first) / (last - first) }
        func y(_ value: Double) -> Double { top + (height - top - bottom) * (1 - (value - low) / (high - low)) }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(width / 2)\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">\(title)</text>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"black\"/>\n"
        for tick in 0...4 {
            let value = low + (high - low) * Double(tick) / 4
            svg += "<text x=\"\(left - 6)\" y=\"\(y(value) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", value))</text>\n"
        }
        let xTicks = ticks ?? (0...4).map { index in
            let value = first + (last - first) * Double(index) / 4
            return (value, String(format: "%.0f", value))
        }
        for (value, label) in xTicks {
            svg += "<text x=\"\(x(value))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        svg += "<text x=\"\(width / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">\(xLabel)</text>\n"
        for (value, label) in markers {
            svg += "<line x1=\"\(x(value))\" y1=\"\(top)\" x2=\"\(x(value))\" y2=\"\(height - bottom)\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
            svg += "<text x=\"\(x(value) - 3)\" y=\"\(height - bottom - 6)\" text-anchor=\"end\" fill=\"#777\" font-size=\"10\">\(label)</text>\n"
        }
        for (index, (name, line)) in series.enumerated() where !line.isEmpty {
            let colour = colours[index % colours.count]
            let visible = line.filter { $0.0.isFinite && $0.1.isFinite }
            let path = visible.map { "\(x($0.0)),\(y($0.1))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            if dots || visible.count < 30 {
                for (pointX, pointY) in visible { svg += "<circle cx=\"\(x(pointX))\" cy=\"\(y(pointY))\" r=\"3\" fill=\"\(colour)\"/>\n" }
            }
            svg += "<text x=\"\(width - right - 90)\" y=\"\(top + 16 * Double(index))\" fill=\"\(colour)\">\(name)</text>\n"
        }
        return svg + "</svg>\n"
    }
}
