import CortexCore
import Foundation

/// SentencePiece's precompiled normalization rules (`precompiled_charsmap`: NFKC and friends as
/// a darts-clone double-array trie from UTF-8 sequences to their replacements), applied as
/// Hugging Face's `Precompiled` normalizer applies them: each grapheme of under six bytes is
/// looked up whole, else each of its characters; a lookup takes the shortest rule that
/// starts the text looked up.
///
/// The blob is a little-endian UInt32 trie size in bytes, the trie's UInt32 units, then the
/// replacements, each ended by a zero byte.
public struct PrecompiledCharsmap: Sendable {
    private let units: [UInt32]
    private let replacements: [UInt8]

    public init(_ blob: [UInt8], source: String = "precompiled_charsmap") throws {
        guard blob.count >= 4 else { throw CortexError.invalidFile(path: source, reason: "precompiled charsmap of \(blob.count) bytes has no trie size") }
        let trieBytes = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        guard trieBytes % 4 == 0, trieBytes >= 4, 4 + trieBytes <= blob.count else {
            throw CortexError.invalidFile(path: source, reason: "precompiled charsmap trie size \(trieBytes) does not fit its \(blob.count) bytes")
        }
        units = stride(from: 4, to: 4 + trieBytes, by: 4).map { UInt32(blob[$0]) | UInt32(blob[$0 + 1]) << 8 | UInt32(blob[$0 + 2]) << 16 | UInt32(blob[$0 + 3]) << 24 }
        replacements = Array(blob[(4 + trieBytes)...])
    }

    /// The replacement for the shortest rule that starts `key`, or nil.
    func replacement(_ key: some Sequence<UInt8>) -> ArraySlice<UInt8>? {
        func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        var position = offset(units[0])
        for byte in key {
            if byte == 0 { return nil }
            position ^= Int(byte)
            guard position < units.count else { return nil }
            let unit = units[position]
            // The unit's label is its byte (and no leaf-value bit).
            guard unit & ((1 << 31) | 0xFF) == UInt32(byte) else { return nil }
            position ^= offset(unit)
            guard position < units.count else { return nil }
            if (unit >> 8) & 1 == 1 {
                let start = Int(units[position] & ((1 << 31) - 1))
                guard start < replacements.count else { return nil }
                let end = replacements[start...].firstIndex(of: 0) ?? replacements.count
                return replacements[start..<end]
            }
        }
        return nil
    }

    /// `text` normalized.
    public func normalize(_ text: Substring) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        for grapheme in text {
            let utf8 = grapheme.utf8
            if utf8.count < 6, let replaced = replacement(utf8) {
                output += replaced
                continue
            }
            for scalar in grapheme.unicodeScalars {
                let bytes = Array(String(scalar).utf8)
                if let replaced = replacement(bytes) { output += replaced } else { output += bytes }
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
