import Foundation

/// jinja2's filters, tests and globals, Python's operators and the string and dictionary
/// methods templates call, with jinja2's and Python's semantics.
enum JinjaBuiltins {
    // MARK: Globals

    static func global(_ name: String, renderer: JinjaRenderer) -> JinjaValue? {
        switch name {
        case "range":
            return .function(JinjaFunction("range") { arguments, _ in
                let numbers = try arguments.map { try integer($0, for: "range") }
                let (start, stop, step) = numbers.count == 1 ? (0, numbers[0], 1)
                    : numbers.count == 2 ? (numbers[0], numbers[1], 1) : numbers.count == 3 ? (numbers[0], numbers[1], numbers[2]) : (0, 0, 0)
                guard step != 0 else { throw JinjaError.render("range() takes 1 to 3 integers, the step not 0") }
                // The length first (in floating point, so no bound overflows), then the values.
                let length = max(0, ((Double(stop) - Double(start)) / Double(step)).rounded(.up))
                guard length <= Double(renderer.limits.loopIterations) else {
                    throw JinjaError.limit("range(\(numbers.map(String.init).joined(separator: ", "))) has more than \(renderer.limits.loopIterations) values")
                }
                return .array(stride(from: start, to: stop, by: step).map(JinjaValue.int))
            })
        case "namespace":
            return .function(JinjaFunction("namespace") { arguments, keywords in
                var attributes = JinjaObject()
                if case let .object(initial)? = arguments.first { for key in initial.keys { attributes[key] = initial[key] } }
                for key in keywords.keys { attributes[key] = keywords[key] }
                return .namespace(JinjaNamespace(attributes))
            })
        case "dict":
            return .function(JinjaFunction("dict") { arguments, keywords in
                var object = JinjaObject()
                if case let .object(initial)? = arguments.first { for key in initial.keys { object[key] = initial[key] } }
                for key in keywords.keys { object[key] = keywords[key] }
                return .object(object)
            })
        case "raise_exception":
            return .function(JinjaFunction("raise_exception") { arguments, _ in
                throw JinjaError.raised(arguments.first?.text ?? "")
            })
        case "strftime_now":
            return .function(JinjaFunction("strftime_now") { arguments, _ in
                .string(strftime(arguments.first?.text ?? "", renderer.now))
            })
        default: return nil
        }
    }

    /// Python's strftime for the directives chat templates use (`%d %b %Y` and kin), in UTC.
    static func strftime(_ format: String, _ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let (year, month, day) = (parts.year!, parts.month!, parts.day!)
        let (hour, minute, second, weekday) = (parts.hour!, parts.minute!, parts.second!, parts.weekday! - 1)
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var result = ""
        var characters = Array(format)[...]
        while let character = characters.popFirst() {
            guard character == "%", var directive = characters.popFirst() else { result.append(character); continue }
            var padded = true
            if directive == "-", let next = characters.popFirst() { padded = false; directive = next }
            func number(_ value: Int) -> String { padded ? two(value) : String(value) }
            switch directive {
            case "d": result += number(day)
            case "m": result += number(month)
            case "Y": result += String(year)
            case "y": result += two(year % 100)
            case "b": result += String(months[month - 1].prefix(3))
            case "B": result += months[month - 1]
            case "a": result += String(days[weekday].prefix(3))
            case "A": result += days[weekday]
            case "H": result += number(hour)
            case "I": result += number(hour % 12 == 0 ? 12 : hour % 12)
            case "p": result += hour < 12 ? "AM" : "PM"
            case "M": result += number(minute)
            case "S": result += number(second)
            case "j": result += padded ? String(repeating: "0", count: max(0, 3 - String(dayOfYear).count)) + String(dayOfYear) : String(dayOfYear)
            case "%": result += "%"
            default: result += "%" + String(directive)
            }
        }
        return result
    }

    // MARK: Access

    /// The values a `for` walks: a list's items, a dictionary's keys, a string's characters.
    static func items(of value: JinjaValue, for construct: String) throws -> [JinjaValue] {
        switch value.unmarked {
        case let .array(values), let .generator(values): return values
        case let .object(object): return object.keyValues
        case let .string(text): return text.map { .string(String($0)) }
        case .undefined: return []
        case .namespace: throw JinjaError.render("\(construct) over a namespace")
        default: throw JinjaError.render("\(construct) over a \(value.typeName), which is not iterable")
        }
    }

    static func integer(_ value: JinjaValue, for construct: String) throws -> Int {
        switch value {
        case let .int(number): return number
        case let .bool(flag): return flag ? 1 : 0
        default: throw JinjaError.render("\(construct) needs an integer, not a \(value.typeName)")
        }
    }

    /// `base.name`: a method of strings, lists and dictionaries, else a dictionary's item or a
    /// namespace's attribute (undefined where missing, as jinja2's getattr gives).
    static func attribute(_ name: String, of base: JinjaValue, renderer: JinjaRenderer) throws -> JinjaValue {
        switch base.unmarked {
        case let .undefined(missing): throw JinjaError.render("'\(missing)' is undefined, so it has no attribute '\(name)'")
        case let .object(object):
            if let method = dictionaryMethod(name, object) { return method }
            return object[name] ?? .undefined(name)
        case let .namespace(namespace): return namespace.attributes[name] ?? .undefined(name)
        case let .string(text): return stringMethod(name, text) ?? .undefined(name)
        case let .array(values): return listMethod(name, values) ?? .undefined(name)
        default: return .undefined(name)
        }
    }

    /// `base[key]`: a dictionary's item (then an attribute, as jinja2's getitem falls back),
    /// a list's or string's element (negative from the end).
    static func item(_ key: JinjaValue, of base: JinjaValue, orAttribute name: String?, renderer: JinjaRenderer) throws -> JinjaValue {
        let key = key.unmarked
        switch base.unmarked {
        case .generator: throw JinjaError.render("a generator (map, select or reject) cannot be indexed: add | list")
        case let .undefined(missing): throw JinjaError.render("'\(missing)' is undefined, so it has no item \(key.representation)")
        case let .object(object):
            if let value = object[key] { return value }
            if let name, let method = dictionaryMethod(name, object) { return method }
            return .undefined(key.text)
        case let .namespace(namespace):
            guard case let .string(text) = key else { return .undefined(key.representation) }
            return namespace.attributes[text] ?? .undefined(text)
        case let .array(values):
            guard case .int = key else { return .undefined(key.representation) }
            let index = try integer(key, for: "a list index")
            let position = index < 0 ? values.count + index : index
            return values.indices.contains(position) ? values[position] : .undefined("index \(index)")
        case let .string(text):
            guard case .int = key else { return .undefined(key.representation) }
            let characters = Array(text), index = try integer(key, for: "a string index")
            let position = index < 0 ? characters.count + index : index
            return characters.indices.contains(position) ? .string(String(characters[position])) : .undefined("index \(index)")
        default: return .undefined(key.representation)
        }
    }

    /// Python's slice of a list or string.
    static func slice(_ base: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws -> JinjaValue {
        func bound(_ value: JinjaValue?) throws -> Int? {
            guard let value, !(value == .none), !value.isUndefined else { return nil }
            return try integer(value, for: "a slice")
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw JinjaError.render("a slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ value: Int?, _ fallback: Int) -> Int {
                guard var value else { return fallback }
                if value < 0 { value += count }
                return stepValue > 0 ? min(max(value, 0), count) : min(max(value, -1), count - 1)
            }
            let first = clamp(try bound(start), stepValue > 0 ? 0 : count - 1)
            let last = clamp(try bound(stop), stepValue > 0 ? count : -1)
            return Array(stride(from: first, to: last, by: stepValue))
        }
        switch base.unmarked {
        case let .array(values): return .array(try indices(values.count).map { values[$0] })
        case let .string(text):
            let characters = Array(text)
            return .string(String(try indices(characters.count).map { characters[$0] }))
        case .undefined: return base
        default: throw JinjaError.render("cannot slice a \(base.typeName)")
        }
    }

    // MARK: Methods

    static func dictionaryMethod(_ name: String, _ object: JinjaObject) -> JinjaValue? {
        switch name {
        case "items":
            return .function(JinjaFunction("items") { _, _ in .array(object.keys.map { .array([JinjaObject.keyValue($0), object[$0]!]) }) })
        case "keys": return .function(JinjaFunction("keys") { _, _ in .array(object.keyValues) })
        case "values": return .function(JinjaFunction("values") { _, _ in .array(object.keys.map { object[$0]! }) })
        case "get":
            return .function(JinjaFunction("get") { arguments, _ in
                guard let key = arguments.first else { return .none }
                return object[key] ?? (arguments.count > 1 ? arguments[1] : .none)
            })
        default: return nil
        }
    }

    static func listMethod(_ name: String, _ values: [JinjaValue]) -> JinjaValue? {
        switch name {
        case "index":
            return .function(JinjaFunction("index") { arguments, _ in
                guard let wanted = arguments.first, let index = values.firstIndex(of: wanted) else { throw JinjaError.render("list.index: value not in the list") }
                return .int(index)
            })
        case "count":
            return .function(JinjaFunction("count") { arguments, _ in .int(values.filter { $0 == arguments.first }.count) })
        case "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse":
            return .function(JinjaFunction(name) { _, _ in
                throw JinjaError.render("list.\(name) changes a list, which the sandbox forbids (as transformers' immutable sandbox does)")
            })
        default: return nil
        }
    }

    static let pythonWhitespace: Set<Character> = [" ", "\t", "\n", "\r", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1D}", "\u{1E}", "\u{1F}", "\u{85}", "\u{A0}",
                                                    "\u{1680}", "\u{2000}", "\u{2001}", "\u{2002}", "\u{2003}", "\u{2004}", "\u{2005}", "\u{2006}",
                                                    "\u{2007}", "\u{2008}", "\u{2009}", "\u{200A}", "\u{2028}", "\u{2029}", "\u{202F}", "\u{205F}",
                                                    "\u{3000}"]

    static func strip(_ text: String, _ characters: String?, leading: Bool, trailing: Bool) -> String {
        let set: (Character) -> Bool = { character in
            if let characters { return characters.contains(character) }
            return pythonWhitespace.contains(character) || character == "\r\n"
        }
        var slice = Substring(text)
        if leading { while let first = slice.first, set(first) { slice = slice.dropFirst() } }
        if trailing { while let last = slice.last, set(last) { slice = slice.dropLast() } }
        return String(slice)
    }

    /// Python's str.split: on runs of whitespace without a separator (no empty pieces), else
    /// on each separator, at most `limit` times (-1: no limit).
    static func split(_ text: String, separator: String?, limit: Int) -> [String] {
        guard let separator else {
            var pieces: [String] = []
            var current = ""
            var rest = Substring(text)
            while let character = rest.first {
                rest = rest.dropFirst()
                if pythonWhitespace.contains(character) || character == "\r\n" {
                    if !current.isEmpty {
                        pieces.append(current)
                        current = ""
                        if limit >= 0 && pieces.count == limit {
                            let remainder = strip(String(rest), nil, leading: true, trailing: false)
                            if !remainder.isEmpty { pieces.append(remainder) }
                            return pieces
                        }
                    }
                } else {
                    current.append(character)
                }
            }
            if !current.isEmpty { pieces.append(current) }
            return pieces
        }
        var pieces: [String] = []
        var rest = text[...]
        while let range = rest.range(of: separator), limit < 0 || pieces.count < limit {
            pieces.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        pieces.append(String(rest))
        return pieces
    }

    static func title(_ text: String) -> String {
        var result = ""
        var previousIsCased = false
        for character in text {
            let isCased = character.isLetter
            result += isCased ? (previousIsCased ? character.lowercased() : character.uppercased()) : String(character)
            previousIsCased = isCased
        }
        return result
    }

    static func capitalize(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst().lowercased()
    }

    static func stringMethod(_ name: String, _ text: String) -> JinjaValue? {
        func method(_ body: @escaping ([JinjaValue], JinjaObject) throws -> JinjaValue) -> JinjaValue { .function(JinjaFunction("str." + name, body)) }
        func optionalText(_ arguments: [JinjaValue], _ index: Int) -> String? {
            guard arguments.count > index, case let .string(value) = arguments[index] else { return nil }
            return value
        }
        func prefixes(_ value: JinjaValue?) -> [String] {
            switch value {
            case let .string(prefix)?: return [prefix]
            case let .array(values)?: return values.map(\.text)
            default: return []
            }
        }
        switch name {
        case "strip": return method { arguments, _ in .string(strip(text, optionalText(arguments, 0), leading: true, trailing: true)) }
        case "lstrip": return method { arguments, _ in .string(strip(text, optionalText(arguments, 0), leading: true, trailing: false)) }
        case "rstrip": return method { arguments, _ in .string(strip(text, optionalText(arguments, 0), leading: false, trailing: true)) }
        case "upper": return method { _, _ in .string(text.uppercased()) }
        case "lower": return method { _, _ in .string(text.lowercased()) }
        case "title": return method { _, _ in .string(title(text)) }
        case "capitalize": return method { _, _ in .string(capitalize(text)) }
        case "split", "rsplit":
            return method { arguments, keywords in
                let separator = optionalText(arguments, 0) ?? keywords["sep"].flatMap { if case let .string(value) = $0 { return value } else { return nil } }
                let limit = try (arguments.count > 1 ? arguments[1] : keywords["maxsplit"]).map { try integer($0, for: "split") } ?? -1
                if separator == "" { throw JinjaError.render("split with an empty separator") }
                if name == "rsplit" && limit >= 0 {
                    let reversedText = String(text.reversed()), reversedSeparator = separator.map { String($0.reversed()) }
                    return .array(split(reversedText, separator: reversedSeparator, limit: limit).reversed().map { .string(String($0.reversed())) })
                }
                return .array(split(text, separator: separator, limit: limit).map(JinjaValue.string))
            }
        case "splitlines":
            return method { _, _ in .array(text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
                .map { .string(String($0)) }.dropLast(text.hasSuffix("\n") ? 1 : 0).map { $0 }) }
        case "startswith": return method { arguments, _ in .bool(prefixes(arguments.first).contains { text.hasPrefix($0) }) }
        case "endswith": return method { arguments, _ in .bool(prefixes(arguments.first).contains { text.hasSuffix($0) }) }
        case "replace":
            return method { arguments, _ in
                guard arguments.count >= 2 else { throw JinjaError.render("str.replace takes the old and new text") }
                let count = try arguments.count > 2 ? integer(arguments[2], for: "replace") : -1
                return .string(replace(text, arguments[0].text, arguments[1].text, count: count))
            }
        case "find", "index", "rfind":
            return method { arguments, _ in
                let wanted = arguments.first?.text ?? ""
                let range = name == "rfind" ? text.range(of: wanted, options: .backwards) : text.range(of: wanted)
                guard let range else {
                    if name == "index" { throw JinjaError.render("str.index: substring not found") }
                    return .int(-1)
                }
                return .int(text.distance(from: text.startIndex, to: range.lowerBound))
            }
        case "count": return method { arguments, _ in .int(text.components(separatedBy: arguments.first?.text ?? "").count - 1) }
        case "join": return method { arguments, _ in .string(try items(of: arguments.first ?? .array([]), for: "join").map(\.text).joined(separator: text)) }
        case "removeprefix": return method { arguments, _ in
            let prefix = arguments.first?.text ?? ""
            return .string(text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text)
        }
        case "removesuffix": return method { arguments, _ in
            let suffix = arguments.first?.text ?? ""
            return .string(!suffix.isEmpty && text.hasSuffix(suffix) ? String(text.dropLast(suffix.count)) : text)
        }
        case "isdigit": return method { _, _ in .bool(!text.isEmpty && text.allSatisfy(\.isNumber)) }
        case "isalpha": return method { _, _ in .bool(!text.isEmpty && text.allSatisfy(\.isLetter)) }
        case "isspace": return method { _, _ in .bool(!text.isEmpty && text.allSatisfy { pythonWhitespace.contains($0) }) }
        case "isupper": return method { _, _ in .bool(text.contains { $0.isLetter } && text == text.uppercased()) }
        case "islower": return method { _, _ in .bool(text.contains { $0.isLetter } && text == text.lowercased()) }
        case "format":
            return method { arguments, keywords in
                var result = ""
                var next = 0
                var characters = Array(text)[...]
                while let character = characters.popFirst() {
                    if character == "{", characters.first == "{" { characters.removeFirst(); result += "{"; continue }
                    if character == "}", characters.first == "}" { characters.removeFirst(); result += "}"; continue }
                    guard character == "{" else { result.append(character); continue }
                    var field = ""
                    while let inner = characters.popFirst(), inner != "}" { field.append(inner) }
                    if field.isEmpty { result += next < arguments.count ? arguments[next].text : ""; next += 1 }
                    else if let index = Int(field) { result += index < arguments.count ? arguments[index].text : "" }
                    else { result += keywords[field]?.text ?? "" }
                }
                return .string(result)
            }
        default: return nil
        }
    }

    /// markupsafe's escape.
    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&#34;").replacingOccurrences(of: "'", with: "&#39;")
    }

    static func replace(_ text: String, _ old: String, _ new: String, count: Int) -> String {
        guard count >= 0 else {
            if old.isEmpty { return new + text.map { String($0) + new }.joined() }
            return text.replacingOccurrences(of: old, with: new)
        }
        var result = ""
        var rest = text[...]
        var done = 0
        while done < count, !old.isEmpty, let range = rest.range(of: old) {
            result += rest[..<range.lowerBound] + new
            rest = rest[range.upperBound...]
            done += 1
        }
        return result + rest
    }

    // MARK: Operators

    /// The longest string or list an operator may build (a template doubling a string in a
    /// loop would otherwise exhaust memory before any output bound is reached).
    static let maximumLength = 4 << 20

    static func checkedLength(_ length: Int, _ operation: String) throws {
        guard length <= maximumLength else { throw JinjaError.limit("'\(operation)' would build a value of \(length) items, past \(maximumLength)") }
    }

    static func arithmetic(_ operation: String, _ left: JinjaValue, _ right: JinjaValue) throws -> JinjaValue {
        if operation == "~" {
            try checkedLength(left.text.utf8.count + right.text.utf8.count, operation)
            return .string(left.text + right.text)
        }
        if operation == "+" || operation == "*" {
            let sizes: (Int, Int)? = {
                switch (left, right) {
                case let (.string(a), .string(b)), let (.markup(a), .string(b)), let (.string(a), .markup(b)), let (.markup(a), .markup(b)):
                    return (a.utf8.count, b.utf8.count)
                case let (.array(a), .array(b)): return (a.count, b.count)
                case let (.string(a), .int(count)), let (.int(count), .string(a)): return (a.utf8.count, count)
                case let (.array(a), .int(count)): return (a.count, count)
                default: return nil
                }
            }()
            if let (a, b) = sizes {
                let (product, overflow) = a.multipliedReportingOverflow(by: max(b, 0))
                try checkedLength(operation == "+" ? a + b : (overflow ? Int.max : product), operation)
            }
        }
        // Markup + str escapes the str (markupsafe), either way round.
        if operation == "+" {
            switch (left, right) {
            case let (.markup(a), .markup(b)): return .markup(a + b)
            case let (.markup(a), .string(b)): return .markup(a + escapeHTML(b))
            case let (.string(a), .markup(b)): return .markup(escapeHTML(a) + b)
            default: break
            }
        }
        let (left, right) = (left.unmarked, right.unmarked)
        switch (operation, left, right) {
        case let ("+", .string(a), .string(b)): return .string(a + b)
        case let ("+", .array(a), .array(b)): return .array(a + b)
        case let ("*", .string(a), .int(b)), let ("*", .int(b), .string(a)): return .string(String(repeating: a, count: max(0, b)))
        case let ("*", .array(a), .int(b)): return .array(Array(Array(repeating: a, count: max(0, b)).joined()))
        default: break
        }
        if case let .undefined(name) = left { throw JinjaError.render("'\(name)' is undefined (operator \(operation))") }
        if case let .undefined(name) = right { throw JinjaError.render("'\(name)' is undefined (operator \(operation))") }
        guard let a = left.number, let b = right.number else {
            throw JinjaError.render("unsupported operand types for \(operation): \(left.typeName) and \(right.typeName)")
        }
        let integers: (Int, Int)? = {
            if case let .double = left { return nil }
            if case let .double = right { return nil }
            return (Int(a), Int(b))
        }()
        switch operation {
        case "+": return integers.map { .int($0.0 &+ $0.1) } ?? .double(a + b)
        case "-": return integers.map { .int($0.0 &- $0.1) } ?? .double(a - b)
        case "*": return integers.map { .int($0.0 &* $0.1) } ?? .double(a * b)
        case "/":
            guard b != 0 else { throw JinjaError.render("division by zero") }
            return .double(a / b)
        case "//":
            guard b != 0 else { throw JinjaError.render("division by zero") }
            if let (x, y) = integers {
                let (quotient, overflow) = x.dividedReportingOverflow(by: y)
                if overflow { return .double((a / b).rounded(.down)) }
                return .int(quotient - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0))
            }
            return .double((a / b).rounded(.down))
        case "%":
            guard b != 0 else { throw JinjaError.render("modulo by zero") }
            if let (x, y) = integers {
                let r = x.remainderReportingOverflow(dividingBy: y).partialValue
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            }
            let r = a.truncatingRemainder(dividingBy: b)
            return .double(r != 0 && (r < 0) != (b < 0) ? r + b : r)
        case "**":
            let power = pow(a, b)
            // Integers stay integers while they fit (Python's grow without bound; here a float).
            if let (_, y) = integers, y >= 0, abs(power) < 9.0e18 { return .int(Int(power)) }
            return .double(power)
        default: throw JinjaError.render("unknown operator \(operation)")
        }
    }

    static func compare(_ operation: String, _ left: JinjaValue, _ right: JinjaValue) throws -> Bool {
        let (left, right) = (left.unmarked, right.unmarked)
        switch operation {
        case "==": return left == right
        case "!=": return left != right
        case "in", "not in":
            let contained: Bool
            switch right {
            case let .string(text): contained = left.text.isEmpty || text.contains(left.text)
            case let .array(values), let .generator(values): contained = values.contains(left)
            case let .object(object): contained = object[left] != nil
            case .undefined: contained = false
            default: throw JinjaError.render("'in' a \(right.typeName)")
            }
            return operation == "in" ? contained : !contained
        default:
            let order: ComparisonResult
            if let a = left.number, let b = right.number {
                order = a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
            } else if case let .string(a) = left, case let .string(b) = right {
                order = a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) ? .orderedAscending : a == b ? .orderedSame : .orderedDescending
            } else {
                throw JinjaError.render("'\(operation)' between a \(left.typeName) and a \(right.typeName)")
            }
            switch operation {
            case "<": return order == .orderedAscending
            case ">": return order == .orderedDescending
            case "<=": return order != .orderedDescending
            default: return order != .orderedAscending
            }
        }
    }
}
