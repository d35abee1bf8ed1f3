import CortexCore
import Foundation

/// Pictures for token models: text coloured by attribution (HTML), attention matrices as SVG heatmaps.
///
/// ```swift
/// let html = TokenPictures.attributionHTML(tokens: ["The", " cat", " sat"], scores: [0.1, 0.7, -0.2],
///                                          title: "integrated gradients for \" on\"")
/// try writeText(html, to: "tokens.html")
/// let svg = try TokenPictures.attentionSVG(weights: layer0.select(axis: 0, index: 0).select(axis: 0, index: 3), tokens: tokens)
/// ```
public enum TokenPictures {
    /// An HTML page with each token on a background from blue (negative) through white to red
    /// (positive), scaled by the largest magnitude; hovering shows the value.
    public static func attributionHTML(tokens: [String], scores: [Float], title: String, caption: String = "") -> String {
        let largest = scores.map { Swift.abs($0) }.max() ?? 0
        let spans = zip(tokens, scores).map { token, score -> String in
            let color = Colormap.diverging.color(largest > 0 ? score / largest : 0)
            return "<span class=\"token\" style=\"background:\(color.hex)\" title=\"\(String(format: "%.6g", score))\">\(escaped(visible(token)))</span>"
        }.joined()
        return """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escaped(title))</title>
        <style>body{font-family:sans-serif;margin:2em;max-width:60em} .text{font-family:monospace;font-size:18px;line-height:2.2}
        .token{padding:2px 1px;border-radius:3px;white-space:pre} .legend span{padding:2px 8px;font-family:monospace}</style></head>
        <body><h2>\(escaped(title))</h2><p>\(escaped(caption))</p>
        <div class="text">\(spans)</div>
        <p class="legend"><span style="background:\(Colormap.diverging.color(-1).hex)">−\(String(format: "%.3g", largest))</span><span style="background:#ffffff">0</span><span style="background:\(Colormap.diverging.color(1).hex)">+\(String(format: "%.3g", largest))</span></p>
        <table><tr><th>token</th><th>attribution</th></tr>\(zip(tokens, scores).map { "<tr><td><code>\(escaped(visible($0)))</code></td><td>\(String(format: "%.6g", $1))</td></tr>" }.joined())</table>
        </body></html>

        """
    }

    /// An SVG heatmap of one attention matrix (queries down, keys across; each row sums to one),
    /// the tokens written along both axes.
    public static func attentionSVG(weights: Tensor, tokens: [String], title: String = "") throws -> String {
        guard weights.rank == 2, weights.shape[0] <= tokens.count, weights.shape[1] == tokens.count else {
            throw CortexError.shapeMismatch(operation: "TokenPictures.attentionSVG", shapes: [weights.shape, [tokens.count]],
                                            reason: "(one (queries, keys) matrix and a token per key are needed)")
        }
        let (rows, columns) = (weights.shape[0], weights.shape[1])
        let values = try weights.contiguous().toFloatArray()
        let cell = 22, label = 8 * min(24, tokens.map { visible($0).count }.max() ?? 1) + 12, top = 28
        let width = label + columns * cell + 10, height = top + label + rows * cell + 10
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"monospace\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"4\" y=\"18\" font-size=\"14\">\(escaped(title))</text>\n"
        let offsetKeys = tokens.count - rows
        for (j, token) in tokens.enumerated() {
            let x = label + j * cell + cell / 2
            svg += "<text transform=\"translate(\(x),\(top + label - 4)) rotate(-60)\">\(escaped(String(visible(token).prefix(24))))</text>\n"
        }
        for i in 0..<rows {
            let y = top + label + i * cell
            svg += "<text x=\"\(label - 4)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"end\">\(escaped(String(visible(tokens[offsetKeys + i]).prefix(24))))</text>\n"
            for j in 0..<columns {
                let value = values[i * columns + j]
                svg += "<rect x=\"\(label + j * cell)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(Colormap.inferno.color(value).hex)\"><title>\(String(format: "%.4f", value))</title></rect>\n"
            }
        }
        return svg + "</svg>\n"
    }

    /// Spaces and newlines made visible (GPT-2's byte-level tokens start with a space).
    static func visible(_ token: String) -> String {
        token.replacingOccurrences(of: "\n", with: "↵").replacingOccurrences(of: "\t", with: "⇥")
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
