import CortexCore
import Foundation

/// A value in a Jinja template: what jinja2 computes with, with Python's types (dictionaries
/// keep their insertion order, as Python's do) and Python's spelling when printed.
public indirect enum JinjaValue: Sendable, Equatable {
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// Text marked safe (`|safe`, `|escape`): markupsafe's Markup, whose `+` escapes a plain
    /// string beside it.
    case markup(String)
    case array([JinjaValue])
    /// What jinja2's map, select and reject filters give: a Python generator, walked once,
    /// always true, with no length and not JSON.
    case generator([JinjaValue])
    case object(JinjaObject)
    case macro(JinjaMacro)
    case namespace(JinjaNamespace)
    /// A built-in callable (a global such as `range`, or a bound method such as `"a".upper`).
    case function(JinjaFunction)

    public static func == (left: JinjaValue, right: JinjaValue) -> Bool {
        switch (left, right) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.string(a), .string(b)), let (.markup(a), .markup(b)), let (.string(a), .markup(b)), let (.markup(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a == b
        case let (.macro(a), .macro(b)): return a === b
        case let (.namespace(a), .namespace(b)): return a === b
        case let (.function(a), .function(b)): return a === b
        default:
            // Numbers compare across int, float and bool, as in Python.
            if let a = left.number, let b = right.number { return a == b }
            return false
        }
    }

    /// The value as a number where it is one (bools count, as in Python).
    var number: Double? {
        switch self {
        case let .int(value): return Double(value)
        case let .double(value): return value
        case let .bool(value): return value ? 1 : 0
        default: return nil
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Markup as the plain string it is (for everything but `+` and escaping).
    var unmarked: JinjaValue {
        if case let .markup(text) = self { return .string(text) }
        return self
    }

    /// Python's truth value.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case let .bool(value): return value
        case let .int(value): return value != 0
        case let .double(value): return value != 0
        case let .string(value), let .markup(value): return !value.isEmpty
        case let .array(values): return !values.isEmpty
        case .generator: return true
        case let .object(object): return !object.keys.isEmpty
        case .macro, .namespace, .function: return true
        }
    }

    /// Python's type name, for errors.
    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .array: return "list"
        case .generator: return "generator"
        case .object: return "dict"
        case .macro: return "macro"
        case .namespace: return "Namespace"
        case .function: return "function"
        }
    }

    /// What `{{ value }}` prints: Python's str().
    var text: String {
        switch self {
        case .undefined: return ""
        case let .string(value), let .markup(value): return value
        default: return representation
        }
    }

    /// Python's repr(): strings quoted as Python quotes them.
    var representation: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case let .bool(value): return value ? "True" : "False"
        case let .int(value): return String(value)
        case let .double(value): return JinjaValue.pythonFloat(value)
        case let .string(value): return JinjaValue.pythonQuoted(value)
        case let .markup(value): return "Markup(" + JinjaValue.pythonQuoted(value) + ")"
        case let .array(values): return "[" + values.map(\.representation).joined(separator: ", ") + "]"
        case .generator: return "<generator object>"
        case let .object(object):
            return "{" + object.keys.map { JinjaObject.keyValue($0).representation + ": " + object.values[$0]!.representation }.joined(separator: ", ") + "}"
        case let .macro(macro): return "<Macro '\(macro.name)'>"
        case .namespace: return "<Namespace>"
        case let .function(function): return "<built-in function \(function.name)>"
        }
    }

    /// Python's repr of a float: the shortest digits that read back, "1.0" for whole numbers,
    /// exponents from 1e16 up and below 1e-4.
    static func pythonFloat(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        let magnitude = abs(value)
        if magnitude != 0 && (magnitude >= 1e16 || magnitude < 1e-4) {
            // Swift spells these 1e-05 / 1e+16 as Python does.
            return "\(value)"
        }
        var text = "\(value)"
        if text.contains("e") {
            // Swift uses exponents for some values Python writes in full.
            text = String(format: "%.17g", value)
        }
        if !text.contains(".") && !text.contains("e") { text += ".0" }
        return text
    }

    /// Python's repr of a string: single quotes unless the text holds one and no double quote.
    static func pythonQuoted(_ text: String) -> String {
        let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var result = String(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if Character(scalar) == quote { result += "\\" + String(quote) }
                else if scalar.value < 0x20 || scalar.value == 0x7F { result += String(format: "\\x%02x", scalar.value) }
                else { result.unicodeScalars.append(scalar) }
            }
        }
        result.append(quote)
        return result
    }
}

/// A dictionary that keeps its keys in insertion order (Python's dict; JSON objects as written).
public struct JinjaObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    public private(set) var values: [String: JinjaValue] = [:]

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public subscript(key: String) -> JinjaValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public static func == (left: JinjaObject, right: JinjaObject) -> Bool { left.values == right.values }

    /// How a key is stored: a string as itself, an integer (Python dicts take both; `True`
    /// is 1) marked so that 1 and "1" stay apart. Nil for keys of other types.
    static func storedKey(_ key: JinjaValue) -> String? {
        switch key {
        case let .string(text): return text
        case let .int(value): return integerMark + String(value)
        case let .bool(value): return integerMark + (value ? "1" : "0")
        case let .double(value) where value == value.rounded() && abs(value) < 1e18: return integerMark + String(Int(value))
        default: return nil
        }
    }

    /// The key as the template wrote it.
    static func keyValue(_ stored: String) -> JinjaValue {
        if stored.hasPrefix(integerMark), let value = Int(stored.dropFirst(integerMark.count)) { return .int(value) }
        return .string(stored)
    }

    private static let integerMark = "\u{1}int:"

    /// The keys as the template wrote them.
    var keyValues: [JinjaValue] { keys.map(JinjaObject.keyValue) }

    subscript(key: JinjaValue) -> JinjaValue? {
        get { JinjaObject.storedKey(key).flatMap { values[$0] } }
    }
}

/// A namespace object (`namespace(found=false)`): attributes that `{% set ns.x = ... %}`
/// changes from inside loops.
public final class JinjaNamespace: @unchecked Sendable {
    var attributes = JinjaObject()
    init(_ attributes: JinjaObject) { self.attributes = attributes }
}

/// A macro defined by the template.
public final class JinjaMacro: @unchecked Sendable {
    let name: String
    let parameters: [(name: String, defaultValue: JinjaExpression?)]
    let body: [JinjaNode]
    init(name: String, parameters: [(name: String, defaultValue: JinjaExpression?)], body: [JinjaNode]) {
        self.name = name
        self.parameters = parameters
        self.body = body
    }
}

/// A function the engine provides: called with positional and keyword arguments.
public final class JinjaFunction: @unchecked Sendable {
    let name: String
    let call: ([JinjaValue], JinjaObject) throws -> JinjaValue
    init(_ name: String, _ call: @escaping ([JinjaValue], JinjaObject) throws -> JinjaValue) {
        self.name = name
        self.call = call
    }
}

extension JinjaValue {
    /// A JSON text as a value, objects keeping their key order (a messages or tools file).
    public static func parseJSON(_ text: String) throws -> JinjaValue {
        var parser = JSONReader(scalars: Array(text.unicodeScalars))
        let value = try parser.value()
        parser.skipSpace()
        guard parser.position == parser.scalars.count else { throw parser.failure("text after the JSON value") }
        return value
    }

    /// The value as JSON, as Python's json.dumps writes it with ensure_ascii=False (what
    /// transformers' `tojson` filter calls): ", " and ": " between items without an indent,
    /// one item per line with one.
    func json(indent: Int?, sortKeys: Bool = false, level: Int = 0) throws -> String {
        switch self {
        case .undefined: throw JinjaError.render("tojson of an undefined value")
        case .none: return "null"
        case let .bool(value): return value ? "true" : "false"
        case let .int(value): return String(value)
        case let .double(value):
            if value.isNaN { return "NaN" }
            if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
            return JinjaValue.pythonFloat(value)
        case let .string(value), let .markup(value): return JinjaValue.jsonQuoted(value)
        case .generator: throw JinjaError.render("Object of type generator is not JSON serializable (tojson of map, select or reject: add | list)")
        case let .array(values):
            if values.isEmpty { return "[]" }
            let items = try values.map { try $0.json(indent: indent, sortKeys: sortKeys, level: level + 1) }
            return JinjaValue.jsonContainer("[", "]", items, indent: indent, level: level)
        case let .object(object):
            if object.keys.isEmpty { return "{}" }
            let keys = sortKeys ? object.keys.sorted() : object.keys
            let items = try keys.map { JinjaValue.jsonQuoted(JinjaObject.keyValue($0).text) + ": " + (try object.values[$0]!.json(indent: indent, sortKeys: sortKeys, level: level + 1)) }
            return JinjaValue.jsonContainer("{", "}", items, indent: indent, level: level)
        case let .namespace(namespace): return try JinjaValue.object(namespace.attributes).json(indent: indent, sortKeys: sortKeys, level: level)
        case .macro, .function: throw JinjaError.render("tojson of a \(typeName), which JSON cannot hold")
        }
    }

    private static func jsonContainer(_ open: String, _ close: String, _ items: [String], indent: Int?, level: Int) -> String {
        guard let indent else { return open + items.joined(separator: ", ") + close }
        let inner = String(repeating: " ", count: indent * (level + 1)), outer = String(repeating: " ", count: indent * level)
        return open + "\n" + items.map { inner + $0 }.joined(separator: ",\n") + "\n" + outer + close
    }

    static func jsonQuoted(_ text: String) -> String { JSONText.quoted(text) }
}

/// A JSON reader that keeps objects' key order (Foundation's does not).
private struct JSONReader {
    let scalars: [Unicode.Scalar]
    var position = 0

    func failure(_ what: String) -> JinjaError { .json("\(what) at character \(position)") }

    mutating func skipSpace() {
        while position < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[position]) { position += 1 }
    }

    /// Arrays and objects open, bounded so a deeply nested file cannot exhaust the stack.
    var depth = 0

    mutating func value() throws -> JinjaValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 512 else { throw failure("nested deeper than 512 levels") }
        skipSpace()
        guard position < scalars.count else { throw failure("a value is missing") }
        switch scalars[position] {
        case "{":
            position += 1
            var object = JinjaObject()
            skipSpace()
            if position < scalars.count, scalars[position] == "}" { position += 1; return .object(object) }
            while true {
                skipSpace()
                guard position < scalars.count, scalars[position] == "\"" else { throw failure("an object key should be a string") }
                let key = try string()
                skipSpace()
                guard position < scalars.count, scalars[position] == ":" else { throw failure("':' expected") }
                position += 1
                object[key] = try value()
                skipSpace()
                guard position < scalars.count else { throw failure("an object is not closed") }
                if scalars[position] == "," { position += 1; continue }
                if scalars[position] == "}" { position += 1; return .object(object) }
                throw failure("',' or '}' expected")
            }
        case "[":
            position += 1
            var values: [JinjaValue] = []
            skipSpace()
            if position < scalars.count, scalars[position] == "]" { position += 1; return .array(values) }
            while true {
                values.append(try value())
                skipSpace()
                guard position < scalars.count else { throw failure("an array is not closed") }
                if scalars[position] == "," { position += 1; continue }
                if scalars[position] == "]" { position += 1; return .array(values) }
                throw failure("',' or ']' expected")
            }
        case "\"": return .string(try string())
        default:
            for (word, result) in [("true", JinjaValue.bool(true)), ("false", .bool(false)), ("null", .none)] where matches(word) {
                position += word.unicodeScalars.count
                return result
            }
            let start = position
            while position < scalars.count, "+-0123456789.eE".unicodeScalars.contains(scalars[position]) { position += 1 }
            let text = String(String.UnicodeScalarView(scalars[start..<position]))
            if let integer = Int(text) { return .int(integer) }
            if let double = Double(text), !text.isEmpty { return .double(double) }
            throw failure("unexpected '\(scalars[start])'")
        }
    }

    private func matches(_ word: String) -> Bool {
        let wanted = Array(word.unicodeScalars)
        return position + wanted.count <= scalars.count && Array(scalars[position..<(position + wanted.count)]) == wanted
    }

    private mutating func string() throws -> String {
        position += 1
        var result = String.UnicodeScalarView()
        while position < scalars.count {
            let scalar = scalars[position]
            position += 1
            if scalar == "\"" { return String(result) }
            guard scalar == "\\" else { result.append(scalar); continue }
            guard position < scalars.count else { break }
            let escaped = scalars[position]
            position += 1
            switch escaped {
            case "n": result.append("\n")
            case "t": result.append("\t")
            case "r": result.append("\r")
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "u":
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), position + 1 < scalars.count, scalars[position] == "\\", scalars[position + 1] == "u" {
                    position += 2
                    let low = try hex4()
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw failure("\\u escape of a lone surrogate") }
                result.append(scalar)
            default: result.append(escaped)
            }
        }
        throw failure("a string is not closed")
    }

    private mutating func hex4() throws -> UInt32 {
        guard position + 4 <= scalars.count, let code = UInt32(String(String.UnicodeScalarView(scalars[position..<(position + 4)])), radix: 16) else {
            throw failure("\\u needs four hex digits")
        }
        position += 4
        return code
    }
}
