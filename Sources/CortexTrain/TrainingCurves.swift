import CortexCore
import Foundation

/// Loss and accuracy per epoch drawn as standalone SVG line charts.
public enum TrainingCurves {
    /// Writes `loss.svg` and, when accuracies were measured, `accuracy.svg` into `directory`.
    public static func write(history: [EpochRecord], to directory: String) throws {
        guard !history.isEmpty else { return }
        let loss = chart(title: "Loss", series: [
            ("train", history.map(\.trainLoss)),
            ("validation", history.compactMap(\.validationLoss)),
        ])
        try save(loss, to: directory + "/loss.svg")
        let accuracies = [("train", history.compactMap(\.trainAccuracy)), ("validation", history.compactMap(\.validationAccuracy))]
        if accuracies.contains(where: { !$0.1.isEmpty }) {
            try save(chart(title: "Accuracy", series: accuracies), to: directory + "/accuracy.svg")
        }
    }

    static func save(_ text: String, to path: String) throws {
        let bytes = Array(text.utf8)
        try AtomicFile.write(to: path) { handle in try bytes.withUnsafeBytes { try handle.write($0) } }
    }

    /// A 640x400 line chart of each series against epoch 1, 2, ...
    public static func chart(title: String, series: [(String, [Double])]) -> String {
        let width = 640.0, height = 400.0, left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let values = series.flatMap(\.1).filter(\.isFinite)
        let count = max(series.map(\.1.count).max() ?? 1, 2)
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low < 1e-12 { low -= 0.5; high += 0.5 }
        func x(_ index: Int) -> Double { left + (width - left - right) * Double(index) / Double(count - 1) }
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
        for index in 0..<count {
            svg += "<text x=\"\(x(index))\" y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(index + 1)</text>\n"
        }
        svg += "<text x=\"\(width / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\">epoch</text>\n"
        for (index, (name, points)) in series.enumerated() where !points.isEmpty {
            let colour = colours[index % colours.count]
            let path = points.enumerated().map { "\(x($0.offset)),\(y($0.element))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for (offset, value) in points.enumerated() {
                svg += "<circle cx=\"\(x(offset))\" cy=\"\(y(value))\" r=\"3\" fill=\"\(colour)\"/>\n"
            }
            svg += "<text x=\"\(width - right - 90)\" y=\"\(top + 16 * Double(index))\" fill=\"\(colour)\">\(name)</text>\n"
        }
        return svg + "</svg>\n"
    }
}
