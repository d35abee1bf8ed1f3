import Foundation

// JSONValue's own writer and reader. A streamed completion writes one JSON chunk per token and
// per stream, and Foundation's JSONEncoder (through Codable) took 13 µs a chunk, its decoder
// 20 µs: at 8 streams that time competed with the model's threads for the same two cores.
// These take about a tenth of that.

extension JSONValue {
    /// Compact UTF-8 JSON, keys sorted: byte for byte what JSONEncoder writes with
    /// `[.sortedKeys, .withoutEscapingSlashes]` (numbers as ``encode(to:)`` gives them), or
    /// `null` for a document holding a number that is not finite, as the encoder's failure was.
    public func encoded() -> Data { Data(writtenBytes) }

    public var text: String { String(decoding: writtenBytes, as: UTF8.self) }

    /// What ``encoded()`` and ``text`` hold.
    private var writtenBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        return JSONWriter.write(self, into: &bytes) ? bytes : Array("null".utf8)
    }

    /// The document in `data` (RFC 8259: no trailing commas, no comments; a repeated key keeps
    /// its last value; at most 512 levels deep), or nil when it is not JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw in
            var reader = JSONReader(bytes: raw.bindMemory(to: UInt8.self))
            return reader.document()
        }
    }
}

enum JSONWriter {
    /// Appends `value`; false where it holds a number that is not finite.
    static func write(_ value: JSONValue, into bytes: inout [UInt8]) -> Bool {
        switch value {
        case .null: bytes += "null".utf8
        case let .bool(flag): bytes += (flag ? "true" : "false").utf8
        case let .number(number):
            guard number.isFinite else { return false }
            // Whole numbers as integers (token counts, timestamps), the rest as doubles.
            if number.rounded() == number, abs(number) < 9e15 { bytes += String(Int64(number)).utf8 } else { bytes += number.description.utf8 }
        case let .string(string): writeString(string, into: &bytes)
        case let .array(elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                guard write(element, into: &bytes) else { return false }
            }
            bytes.append(UInt8(ascii: "]"))
        case let .object(fields):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(key, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                guard write(fields[key]!, into: &bytes) else { return false }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        return true
    }

    /// A string with JSONEncoder's escapes: quote, backslash, the five short control escapes,
    /// other controls as \u00xx; everything else (slashes, non-ASCII) as it is.
    static func writeString(_ string: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0..<0x20: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A recursive-descent reader over UTF-8 bytes.
struct JSONReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    static let depthLimit = 512

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// One value and nothing after it but whitespace.
    mutating func document() -> JSONValue? {
        guard let value = value(depth: 0) else { return nil }
        skipWhitespace()
        // (Not a ternary: its `nil` would be JSONValue's nil literal, `.null`.)
        guard position == bytes.count else { return nil }
        return value
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func value(depth: Int) -> JSONValue? {
        skipWhitespace()
        guard let byte = current, depth < Self.depthLimit else { return nil }
        switch byte {
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { return nil }
        for index in 0..<count where bytes[position + index] != word.utf8Start[index] { return nil }
        position += count
        return value
    }

    private mutating func object(depth: Int) -> JSONValue? {
        position += 1
        var fields: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return nil }
            position += 1
            guard let element = value(depth: depth + 1) else { return nil }
            fields[key] = element
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return .object(fields)
            default: return nil
            }
        }
    }

    private mutating func array(depth: Int) -> JSONValue? {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            guard let element = value(depth: depth + 1) else { return nil }
            elements.append(element)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default: return nil
            }
        }
    }

    /// A string at the opening quote: escapes decoded (surrogate pairs joined), raw control
    /// characters and invalid UTF-8 refused.
    private mutating func string() -> String? {
        position += 1
        let start = position
        // The common case: no escapes, one copy of the bytes.
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { position += 1 }
        guard let stop = current else { return nil }
        var text = Array(bytes[start..<position])
        if stop == UInt8(ascii: "\"") {
            position += 1
            return String(validating: text, as: UTF8.self)
        }
        while let byte = current {
            position += 1
            switch byte {
            case UInt8(ascii: "\""): return String(validating: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = current else { return nil }
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    guard var unit = hexUnit() else { return nil }
                    if (0xD800..<0xDC00).contains(unit) {
                        // A high surrogate must be followed by an escaped low one.
                        guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else { return nil }
                        position += 2
                        guard let low = hexUnit(), (0xDC00..<0xE000).contains(low) else { return nil }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(unit) {
                        return nil
                    }
                    guard let scalar = Unicode.Scalar(unit) else { return nil }
                    text += Array(String(Character(scalar)).utf8)
                default: return nil
                }
            case 0..<0x20: return nil
            default: text.append(byte)
            }
        }
        return nil
    }

    /// Four hex digits after `\u`.
    private mutating func hexUnit() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var unit: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            unit = unit << 4 | UInt32(digit)
            position += 1
        }
        return unit
    }

    /// RFC 8259's number grammar, converted by Double's own parser; nil for one out of
    /// Double's range (as JSONDecoder refuses 1e400).
    private mutating func number() -> JSONValue? {
        let start = position
        func digits() -> Int {
            let first = position
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
            return position - first
        }
        if current == UInt8(ascii: "-") { position += 1 }
        guard let lead = current else { return nil }
        if lead == UInt8(ascii: "0") { position += 1 } else if digits() == 0 { return nil }
        if current == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { return nil }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { return nil }
        }
        guard let number = Double(String(decoding: bytes[start..<position], as: UTF8.self)), number.isFinite else { return nil }
        return .number(number)
    }
}
