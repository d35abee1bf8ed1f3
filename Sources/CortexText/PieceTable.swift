/// Token ids by their UTF-8 bytes, looked up from a byte range without building a `String`
/// (an open-addressing hash table over one contiguous store of the tokens' bytes). The
/// tokenizers that join adjacent symbols (SentencePiece, character-level BPE) ask it whether a
/// joined range is a token once per candidate join.
struct PieceTable: Sendable {
    private let storage: [UInt8]
    private let starts: [Int32]
    /// Slot to index in `entries` (-1 empty); the table is a power of two, at most half full.
    private let slots: [Int32]
    private let ids: [Int32]
    private let mask: Int

    /// `pieces` as (text, id); where two share a text, the first listed wins.
    init(_ pieces: [(text: String, id: Int)]) {
        var storage: [UInt8] = [], starts: [Int32] = [0], ids: [Int32] = []
        var capacity = 16
        while capacity < pieces.count * 2 { capacity *= 2 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        for (text, id) in pieces {
            let bytes = Array(text.utf8)
            var slot = PieceTable.hash(bytes) & mask
            var duplicate = false
            while slots[slot] >= 0 {
                let entry = Int(slots[slot])
                if storage[Int(starts[entry])..<Int(starts[entry + 1])].elementsEqual(bytes) { duplicate = true; break }
                slot = (slot + 1) & mask
            }
            if duplicate { continue }
            slots[slot] = Int32(ids.count)
            ids.append(Int32(id))
            storage += bytes
            starts.append(Int32(storage.count))
        }
        self.storage = storage
        self.starts = starts
        self.slots = slots
        self.ids = ids
        self.mask = mask
    }

    /// The id of the token whose bytes are `bytes`, or nil.
    @inline(__always) func id(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var slot = PieceTable.hash(bytes) & mask
        while true {
            let entry = Int(slots[slot])
            if entry < 0 { return nil }
            let start = Int(starts[entry]), end = Int(starts[entry + 1])
            if end - start == bytes.count {
                var equal = true
                for offset in 0..<bytes.count where storage[start + offset] != bytes[offset] {
                    equal = false
                    break
                }
                if equal { return Int(ids[entry]) }
            }
            slot = (slot + 1) & mask
        }
    }

    func id(_ text: String) -> Int? {
        var text = text
        return text.withUTF8 { id($0) }
    }

    /// FNV-1a over the bytes, with a final mix of the high bits into the low.
    @inline(__always) static func hash<Bytes: Collection>(_ bytes: Bytes) -> Int where Bytes.Element == UInt8 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
        value ^= value >> 29
        return Int(truncatingIfNeeded: value)
    }
}
