import CortexServe
import Foundation
import Testing

/// JSONValue's own writer and reader against Foundation's JSONEncoder and JSONDecoder, which
/// they replaced: the same bytes out, the same documents in.
@Suite struct JSONTextTests {
    /// Random documents: nested objects and arrays, strings over every control character,
    /// quotes, slashes and non-ASCII, whole and fractional numbers of every size.
    static func randomValue(_ generator: inout SystemRandomNumberGenerator, depth: Int) -> JSONValue {
        let pieces = ["a", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "😀", "\u{2028}", " ", "data: ", "{", "]"]
        func text() -> String { (0..<Int.random(in: 0...6, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined() }
        switch Int.random(in: 0..<(depth > 2 ? 5 : 7), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2:
            let numbers: [Double] = [0, -0.0, 1, -7, 1e-5, 0.1, 1.5e300, 5e-324, 9.1e15, 1e16, 12345678901234567, 1_765_000_000, -2.5,
                                     Double.random(in: -1e6...1e6, using: &generator), Double.random(in: 0...1, using: &generator)]
            return .number(numbers.randomElement(using: &generator)!)
        case 3, 4: return .string(text())
        case 5: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(&generator, depth: depth + 1) })
        default:
            var fields: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &generator) { fields[text() + String(Int.random(in: 0...20, using: &generator))] = randomValue(&generator, depth: depth + 1) }
            return .object(fields)
        }
    }

    @Test func writesWhatJSONEncoderWrites() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let value = Self.randomValue(&generator, depth: 0)
            let expected = try encoder.encode(value)
            #expect(value.encoded() == expected, "\(String(decoding: expected, as: UTF8.self))")
            #expect(value.text == String(decoding: expected, as: UTF8.self))
        }
        // A number that is not finite makes the whole document null, as the encoder's failure did.
        #expect(JSONValue.array([1, .number(.nan)]).text == "null")
        #expect(JSONValue.object(["a": .number(.infinity)]).encoded() == Data("null".utf8))
    }

    @Test func readsWhatJSONDecoderReads() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let value = Self.randomValue(&generator, depth: 0)
            let data = value.encoded()
            #expect(JSONValue.parse(data) == value, "\(String(decoding: data, as: UTF8.self))")
            #expect(JSONValue.parse(data) == (try JSONDecoder().decode(JSONValue.self, from: data)))
        }
        let documents: [(String, JSONValue)] = [
            (" { \"a\" : [1, 2.5e3, -0.25E-1, true, false, null] ,\"b\":{}} \n", ["a": [1, 2500, -0.025, true, false, nil], "b": [:]]),
            ("\"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\\n\\r\\t \\\" \\\\\"", .string("😀 é / \u{8}\u{c}\n\r\t \" \\")),
            ("-0", .number(-0.0)), ("[]", []), ("5", 5),
            ("{\"a\":1,\"a\":2}", ["a": 2]),   // a repeated key keeps its last value, as Python's json does
        ]
        for (text, expected) in documents { #expect(JSONValue.parse(Data(text.utf8)) == expected, "\(text)") }
    }

    @Test func refusesWhatIsNotJSON() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        for text in ["", " ", "nul", "tru", "[1 2]", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "-", "1e", "1e400", "+1", "\"a\u{0}b\"",
                     "\"\\ud83d\"", "\"\\ude00\"", "\"\\x\"", "\"\\u12\"", "\"open", "[", "{\"a\"", "{\"a\":}", "1 2", "NaN", deep] {
            #expect(JSONValue.parse(Data(text.utf8)) == nil, "\(text.prefix(40))")
        }
        #expect(JSONValue.parse(Data([0x22, 0xFF, 0x22])) == nil)   // not UTF-8
    }
}
