import Foundation

extension JinjaBuiltins {
    // MARK: Filters

    static func filter(_ name: String, _ value: JinjaValue, arguments: [JinjaValue], keywords: JinjaObject, renderer: JinjaRenderer) throws -> JinjaValue {
        switch (name, value) {
        case ("safe", .markup), ("e", .markup), ("escape", .markup): return value
        case ("safe", _): return .markup(value.text)
        case ("e", _), ("escape", _), ("forceescape", _): return .markup(escapeHTML(value.text))
        default: break
        }
        let value = value.unmarked
        func argument(_ index: Int, _ keyword: String) -> JinjaValue? { index < arguments.count ? arguments[index] : keywords[keyword] }
        func attributeOf(_ item: JinjaValue, _ path: String) throws -> JinjaValue {
            var current = item
            for part in path.split(separator: ".") {
                if let index = Int(part) { current = try JinjaBuiltins.item(.int(index), of: current, orAttribute: nil, renderer: renderer) }
                else { current = try JinjaBuiltins.item(.string(String(part)), of: current, orAttribute: String(part), renderer: renderer) }
            }
            return current
        }
        switch name {
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            let boolean = argument(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "length", "count":
            switch value {
            case let .string(text): return .int(text.count)
            case let .array(values): return .int(values.count)
            case let .object(object): return .int(object.keys.count)
            case .undefined: return .int(0)
            case .generator: throw JinjaError.render("object of type 'generator' has no len() (length of map, select or reject: add | list)")
            default: throw JinjaError.render("length of a \(value.typeName)")
            }
        case "first":
            return try items(of: value, for: "first").first ?? .undefined("first")
        case "last":
            if case .generator = value { throw JinjaError.render("'generator' object is not reversible (last of map, select or reject: add | list)") }
            return try items(of: value, for: "last").last ?? .undefined("last")
        case "list": return .array(try items(of: value, for: "list"))
        case "reverse":
            if case let .string(text) = value { return .string(String(text.reversed())) }
            return .array(try items(of: value, for: "reverse").reversed())
        case "string": return .string(value.text)
        case "lower": return .string(value.text.lowercased())
        case "upper": return .string(value.text.uppercased())
        case "title": return .string(title(value.text))
        case "capitalize": return .string(capitalize(value.text))
        case "trim":
            return .string(strip(value.text, argument(0, "chars").map(\.text), leading: true, trailing: true))
        case "replace":
            guard let old = argument(0, "old"), let new = argument(1, "new") else { throw JinjaError.render("replace takes the old and new text") }
            let count = try argument(2, "count").map { try integer($0, for: "replace") } ?? -1
            return .string(replace(value.text, old.text, new.text, count: count))
        case "join":
            let separator = argument(0, "d")?.text ?? ""
            var values = try items(of: value, for: "join")
            if let path = argument(1, "attribute")?.text { values = try values.map { try attributeOf($0, path) } }
            return .string(values.map(\.text).joined(separator: separator))
        case "tojson":
            let indent = try argument(0, "indent").flatMap { $0 == .none ? nil : try integer($0, for: "tojson indent") }
            var text = try value.json(indent: indent, sortKeys: argument(3, "sort_keys")?.isTruthy ?? false)
            if argument(1, "ensure_ascii")?.isTruthy ?? false { text = asciiEscaped(text) }
            if case let .array(separators)? = argument(2, "separators"), separators.count == 2 {
                // Only the common compact form (",", ":") is spelled differently.
                if separators[0].text == "," && separators[1].text == ":" { text = try value.compactJSON() }
            }
            return .string(text)
        case "items":
            guard case let .object(object) = value else {
                if value.isUndefined { return .array([]) }
                throw JinjaError.render("items of a \(value.typeName)")
            }
            return .array(object.keys.map { .array([JinjaObject.keyValue($0), object[$0]!]) })
        case "dictsort":
            guard case let .object(object) = value else { throw JinjaError.render("dictsort of a \(value.typeName)") }
            let caseSensitive = argument(0, "case_sensitive")?.isTruthy ?? false
            let byValue = argument(1, "by")?.text == "value"
            var pairs = object.keys.map { (JinjaObject.keyValue($0), object[$0]!) }
            var failure: Error?
            pairs.sort { a, b in
                var (x, y) = byValue ? (a.1, b.1) : (a.0, b.0)
                if !caseSensitive, case let .string(first) = x, case let .string(second) = y { (x, y) = (.string(first.lowercased()), .string(second.lowercased())) }
                do { return try compare("<", x, y) } catch { failure = error; return false }
            }
            if let failure { throw failure }
            return .array(pairs.map { .array([$0.0, $0.1]) })
        case "map":
            // jinja2's map and select filters walk nothing for a false value (None).
            let values = value == .none ? [] : try items(of: value, for: "map")
            if let path = keywords["attribute"]?.text {
                let fallback = keywords["default"]
                return .generator(try values.map { item in
                    let found = try attributeOf(item, path)
                    return found.isUndefined ? (fallback ?? found) : found
                })
            }
            guard let filterName = arguments.first?.text else { throw JinjaError.render("map needs a filter name or attribute=") }
            return .generator(try values.map { try filter(filterName, $0, arguments: Array(arguments.dropFirst()), keywords: JinjaObject(), renderer: renderer) })
        case "select", "reject":
            let values = value == .none ? [] : try items(of: value, for: name)
            return .generator(try values.filter { item in
                let passes = try arguments.first.map { try test($0.text, item, arguments: Array(arguments.dropFirst()), renderer: renderer) } ?? item.isTruthy
                return passes == (name == "select")
            })
        case "selectattr", "rejectattr":
            guard let path = arguments.first?.text else { throw JinjaError.render("\(name) needs an attribute") }
            let values = value == .none ? [] : try items(of: value, for: name)
            return .generator(try values.filter { item in
                let found = try attributeOf(item, path)
                let passes = arguments.count > 1 ? try test(arguments[1].text, found, arguments: Array(arguments.dropFirst(2)), renderer: renderer)
                    : found.isTruthy
                return passes == (name == "selectattr")
            })
        case "unique":
            var seen: [JinjaValue] = []
            for item in try items(of: value, for: "unique") where !seen.contains(item) { seen.append(item) }
            return .array(seen)
        case "sort":
            let reverse = argument(0, "reverse")?.isTruthy ?? false
            let caseSensitive = argument(1, "case_sensitive")?.isTruthy ?? false
            let path = argument(2, "attribute")?.text
            let values = try items(of: value, for: "sort")
            let keyed = try values.map { item -> (JinjaValue, JinjaValue) in
                var key = try path.map { try attributeOf(item, $0) } ?? item
                if !caseSensitive, case let .string(text) = key { key = .string(text.lowercased()) }
                return (key, item)
            }
            var failure: Error?
            let sorted = keyed.enumerated().sorted { a, b in
                do {
                    if try compare("<", a.element.0, b.element.0) { return !reverse }
                    if try compare("<", b.element.0, a.element.0) { return reverse }
                } catch { failure = error }
                return a.offset < b.offset
            }
            if let failure { throw failure }
            return .array(sorted.map(\.element.1))
        case "min", "max":
            let values = try items(of: value, for: name)
            guard var best = values.first else { return .undefined(name) }
            for item in values.dropFirst() where try compare(name == "min" ? "<" : ">", item, best) { best = item }
            return best
        case "sum":
            var total = argument(1, "start") ?? .int(0)
            for item in try items(of: value, for: "sum") {
                total = try arithmetic("+", total, try argument(0, "attribute").map { try attributeOf(item, $0.text) } ?? item)
            }
            return total
        case "abs":
            switch value {
            case let .int(number): return number == .min ? .double(-Double(number)) : .int(abs(number))
            case let .double(number): return .double(abs(number))
            default: throw JinjaError.render("abs of a \(value.typeName)")
            }
        case "int":
            switch value {
            case let .int(number): return .int(number)
            case let .double(number): return Self.truncated(number).map(JinjaValue.int) ?? (argument(0, "default") ?? .int(0))
            case let .bool(flag): return .int(flag ? 1 : 0)
            case let .string(text): return Int(text.trimmingCharacters(in: .whitespaces)).map(JinjaValue.int)
                ?? Double(text.trimmingCharacters(in: .whitespaces)).flatMap(Self.truncated).map(JinjaValue.int) ?? (argument(0, "default") ?? .int(0))
            default: return argument(0, "default") ?? .int(0)
            }
        case "float":
            if let number = value.number { return .double(number) }
            if case let .string(text) = value, let number = Double(text.trimmingCharacters(in: .whitespaces)) { return .double(number) }
            return argument(0, "default") ?? .double(0)
        case "round":
            let precision = try argument(0, "precision").map { try integer($0, for: "round") } ?? 0
            let method = argument(1, "method")?.text ?? "common"
            guard let number = value.number else { throw JinjaError.render("round of a \(value.typeName)") }
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrAwayFromZero
            return .double((number * scale).rounded(rule) / scale)
        case "indent":
            let width = try argument(0, "width").map { value -> String in
                guard let number = value.number else { return value.text }
                guard let count = Self.truncated(number), (0...4096).contains(count) else { throw JinjaError.render("indent width \(number)") }
                return String(repeating: " ", count: count)
            } ?? "    "
            let first = argument(1, "first")?.isTruthy ?? false, blank = argument(2, "blank")?.isTruthy ?? false
            var lines = value.text.components(separatedBy: "\n")
            for index in lines.indices where (index > 0 || first) && (blank || !lines[index].isEmpty) { lines[index] = width + lines[index] }
            return .string(lines.joined(separator: "\n"))
        case "center":
            let width = try argument(0, "width").map { try integer($0, for: "center") } ?? 80
            try checkedLength(width, "center")
            let text = value.text, padding = max(0, width - text.count)
            let left = padding / 2 + (padding % 2 == 1 && width % 2 == 1 ? 1 : 0)
            return .string(String(repeating: " ", count: left) + text + String(repeating: " ", count: padding - left))
        case "wordcount": return .int(split(value.text, separator: nil, limit: -1).count)
        case "batch":
            let size = try argument(0, "linecount").map { try integer($0, for: "batch") } ?? 1
            guard size > 0 else { throw JinjaError.render("batch of \(size)") }
            let values = try items(of: value, for: "batch")
            return .array(stride(from: 0, to: values.count, by: size).map { .array(Array(values[$0..<min($0 + size, values.count)])) })
        case "truncate":
            let length = try argument(0, "length").map { try integer($0, for: "truncate") } ?? 255
            let text = value.text
            guard text.count > length else { return value }
            let end = argument(3, "end")?.text ?? "..."
            return .string(String(text.prefix(max(0, length - end.count))) + end)
        default:
            throw JinjaError.render("unknown filter '\(name)'")
        }
    }

    /// A float's integer part, where it fits in Int.
    static func truncated(_ number: Double) -> Int? {
        number.isFinite && abs(number) < 9.2e18 ? Int(number) : nil
    }

    static func asciiEscaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x80 { result.unicodeScalars.append(scalar); continue }
            for unit in String(scalar).utf16 { result += String(format: "\\u%04x", unit) }
        }
        return result
    }

    // MARK: Tests

    static func test(_ name: String, _ value: JinjaValue, arguments: [JinjaValue], renderer: JinjaRenderer) throws -> Bool {
        let value = value.unmarked
        let other = arguments.first?.unmarked ?? .undefined("test argument")
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none && !value.isUndefined
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true) && { if case .bool = value { return true } else { return false } }()
        case "false": if case .bool(false) = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number":
            switch value { case .int, .double: return true; default: return false }
        case "string": if case .string = value { return true } else { return false }
        case "mapping":
            switch value { case .object, .namespace: return true; default: return false }
        case "iterable":
            switch value { case .array, .object, .string, .generator: return true; default: return false }
        case "sequence":
            switch value { case .array, .object, .string: return true; default: return false }
        case "callable":
            switch value { case .macro, .function: return true; default: return false }
        case "even", "odd":
            let number = try integer(value, for: name)
            return (number % 2 == 0) == (name == "even")
        case "divisibleby": return try integer(value, for: name) % max(1, try integer(other, for: name)) == 0
        case "eq", "equalto", "==": return value == other
        case "ne", "!=": return value != other
        case "lt", "lessthan", "<": return try compare("<", value, other)
        case "le", "<=": return try compare("<=", value, other)
        case "gt", "greaterthan", ">": return try compare(">", value, other)
        case "ge", ">=": return try compare(">=", value, other)
        case "in": return try compare("in", value, other)
        case "lower": return value.text == value.text.lowercased()
        case "upper": return value.text == value.text.uppercased()
        case "sameas": return value == other
        default: throw JinjaError.render("unknown test '\(name)'")
        }
    }
}

extension JinjaValue {
    /// json.dumps with separators (",", ":").
    func compactJSON() throws -> String {
        switch self {
        case let .array(values): return "[" + (try values.map { try $0.compactJSON() }).joined(separator: ",") + "]"
        case let .object(object):
            return "{" + (try object.keys.map { JinjaValue.jsonQuoted(JinjaObject.keyValue($0).text) + ":" + (try object[$0]!.compactJSON()) })
                .joined(separator: ",") + "}"
        default: return try json(indent: nil)
        }
    }
}
