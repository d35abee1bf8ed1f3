/// Text cut around special tokens written in it (`<|im_start|>`, `<s>`): at each position the
/// longest special token that starts there is taken whole, and the text between them is left
/// to the tokenizer's own rules. Byte-level BPE and SentencePiece share it.
///
/// The scan runs over UTF-8 bytes: a token can start only at a byte some token starts with
/// (its first byte is a lead byte, so a match starts on a scalar boundary), and the tokens
/// starting with that byte are tried longest first.
struct SpecialTokenSplitter: Sendable {
    private let byLength: [(bytes: [UInt8], id: Int)]
    /// For each byte, the indices in `byLength` of the tokens that start with it.
    private let startingWith: [[Int]]

    init(_ specials: [String: Int]) {
        byLength = specials.filter { !$0.key.isEmpty }.map { (Array($0.key.utf8), $0.value) }
            .sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.bytes.lexicographicallyPrecedes($1.bytes) }
        var table = [[Int]](repeating: [], count: 256)
        for (index, special) in byLength.enumerated() { table[Int(special.bytes[0])].append(index) }
        startingWith = table
    }

    /// Calls `body` with each piece of `text` in order: plain text with nil, a special token
    /// with its id.
    func forEachSegment(_ text: String, _ body: (Substring, Int?) -> Void) {
        guard !byLength.isEmpty else {
            body(Substring(text), nil)
            return
        }
        var text = text
        text.makeContiguousUTF8()
        let utf8 = text.utf8, scalars = text.unicodeScalars
        func segment(_ start: Int, _ end: Int) -> Substring {
            Substring(scalars[utf8.index(utf8.startIndex, offsetBy: start)..<utf8.index(utf8.startIndex, offsetBy: end)])
        }
        utf8.withContiguousStorageIfAvailable { bytes in
            var segmentStart = 0, index = 0
            outer: while index < bytes.count {
                for candidate in startingWith[Int(bytes[index])] {
                    let special = byLength[candidate].bytes
                    guard index + special.count <= bytes.count else { continue }
                    var matched = true
                    for offset in 1..<special.count where bytes[index + offset] != special[offset] {
                        matched = false
                        break
                    }
                    if matched {
                        if segmentStart < index { body(segment(segmentStart, index), nil) }
                        body(segment(index, index + special.count), byLength[candidate].id)
                        index += special.count
                        segmentStart = index
                        continue outer
                    }
                }
                index += 1
            }
            if segmentStart < bytes.count { body(segment(segmentStart, bytes.count), nil) }
        }
    }
}

extension SpecialTokenSplitter {
    /// The ids of `text`: each special token's id, and the ids `plain` appends for each run of
    /// text between them (told whether the run starts the text).
    func encode(_ text: String, plain: (_ run: Substring, _ atStart: Bool, _ output: inout [Int]) -> Void) -> [Int] {
        var output: [Int] = []
        output.reserveCapacity(text.utf8.count / 3)
        var atStart = true
        forEachSegment(text) { segment, special in
            if let special { output.append(special) } else if !segment.isEmpty { plain(segment, atStart, &output) }
            atStart = false
        }
        return output
    }
}
