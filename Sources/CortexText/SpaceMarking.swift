import CortexCore

/// Spaces written as "▁" (U+2581), as SentencePiece-style tokenizers see text: runs of spaces
/// made one where the tokenizer collapses them, a "▁" in front by the tokenizer's scheme, and the
/// text cut before each "▁" where it splits there (Hugging Face's Metaspace).
struct SpaceMarking: Sendable, Equatable {
    static let marker: [UInt8] = [0xE2, 0x96, 0x81]

    var prefix: CharacterBPETokenizer.SpacePrefix
    var collapsesSpaces = false
    var splitsBeforeSpaces = false

    /// The UTF-8 of `text` with spaces as "▁" and the prefix in front (none on empty text).
    func escape(_ text: some Sequence<UInt8>, atStart: Bool) -> [UInt8] {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(text.underestimatedCount + 8)
        var previousWasSpace = false
        for byte in text {
            if byte == 0x20 {
                if !(collapsesSpaces && previousWasSpace) { escaped += Self.marker }
                previousWasSpace = true
            } else {
                escaped.append(byte)
                previousWasSpace = false
            }
        }
        guard !escaped.isEmpty else { return escaped }
        // Metaspace's prefix goes only where the text does not already start with "▁".
        let startsWithMarker = escaped.starts(with: Self.marker)
        switch prefix {
        case .none: break
        case .unconditional: escaped.insert(contentsOf: Self.marker, at: 0)
        case .first: if atStart && !startsWithMarker { escaped.insert(contentsOf: Self.marker, at: 0) }
        case .always: if !startsWithMarker { escaped.insert(contentsOf: Self.marker, at: 0) }
        }
        return escaped
    }

    /// Calls `body` with the byte ranges of `bytes` cut before each "▁" (the whole when the
    /// tokenizer does not split there).
    func forEachPiece(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        guard splitsBeforeSpaces else { return bytes.isEmpty ? () : body(0..<bytes.count) }
        var start = 0
        while start < bytes.count {
            var end = start + 1
            while end < bytes.count && !(bytes[end] == 0xE2 && end + 2 < bytes.count && bytes[end + 1] == 0x96 && bytes[end + 2] == 0x81) { end += 1 }
            body(start..<end)
            start = end
        }
    }
}

extension SpaceMarking {
    /// The byte a byte-fallback token stands for (`<0x41>` is 0x41), or nil for other tokens.
    static func byteValue(ofToken token: String) -> UInt8? {
        guard token.utf8.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") else { return nil }
        return UInt8(token.dropFirst(3).prefix(2), radix: 16)
    }

    /// The text of `ids` for a tokenizer that marks spaces: byte tokens give their bytes, "▁" a
    /// space, special tokens nothing; the prefix's space comes off the front.
    static func decode(_ ids: [Int], pieces: [String], byteIds: [Int], specialTokens: [String: Int], stripsPrefix: Bool,
                       operation: String) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard pieces.indices.contains(id) else { throw CortexError.indexOutOfRange(operation: operation, index: id, bound: pieces.count) }
            if let byte = byteIds.firstIndex(of: id) { bytes.append(UInt8(byte)); continue }
            if specialTokens[pieces[id]] == id { continue }
            bytes += Array(pieces[id].replacingOccurrences(of: "▁", with: " ").utf8)
        }
        var text = String(decoding: bytes, as: UTF8.self)
        if stripsPrefix && text.hasPrefix(" ") { text.removeFirst() }
        return text
    }
}
