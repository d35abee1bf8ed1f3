/// Text cut around special tokens written in it (`<|im_start|>`, `<s>`): at each position the
/// longest special token that starts there is taken whole, and the text between them is left
/// to the tokenizer's own rules. Byte-level BPE and SentencePiece share it.
struct SpecialTokenSplitter: Sendable {
    private let byLength: [(text: [Unicode.Scalar], id: Int)]
    /// Whether some special token starts with something other than "<" (else a text without
    /// "<" has none, and the scan is skipped).
    private let startsOtherThanAngle: Bool

    init(_ specials: [String: Int]) {
        byLength = specials.filter { !$0.key.isEmpty }.map { (Array($0.key.unicodeScalars), $0.value) }.sorted { $0.text.count > $1.text.count }
        startsOtherThanAngle = byLength.contains { $0.text.first != "<" }
    }

    /// Calls `body` with each piece of `text` in order: plain text with nil, a special token
    /// with its id.
    func forEachSegment(_ text: String, _ body: (Substring, Int?) -> Void) {
        guard !byLength.isEmpty, startsOtherThanAngle || text.contains("<") else {
            body(Substring(text), nil)
            return
        }
        let scalars = text.unicodeScalars
        var segmentStart = scalars.startIndex, index = scalars.startIndex
        outer: while index < scalars.endIndex {
            for (special, id) in byLength where scalars[index] == special.first {
                var position = index, matched = true
                for scalar in special {
                    guard position < scalars.endIndex, scalars[position] == scalar else { matched = false; break }
                    position = scalars.index(after: position)
                }
                if matched {
                    if segmentStart < index { body(Substring(scalars[segmentStart..<index]), nil) }
                    body(Substring(scalars[index..<position]), id)
                    segmentStart = position
                    index = position
                    continue outer
                }
            }
            index = scalars.index(after: index)
        }
        if segmentStart < scalars.endIndex { body(Substring(scalars[segmentStart...]), nil) }
    }
}
