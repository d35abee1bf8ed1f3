/// Jinja's grammar (the subset Hugging Face chat templates use) over the lexer's tokens:
/// statements `if`/`elif`/`else`, `for` (with a filter, `else`, `loop`), `set` (names, tuples,
/// namespace attributes, blocks), `macro`, `call`, `filter`, `break`/`continue` and
/// transformers' `generation` block; expressions with Python's precedence, filters, tests,
/// calls, attributes, subscripts and slices, literals.
struct JinjaParser {
    private let tokens: [JinjaLexer.Token]
    private var position = 0
    /// Recursion of the parser itself (blocks in blocks, brackets in brackets), bounded so a
    /// template cannot exhaust the stack before rendering begins.
    private var nesting = 0
    private static let maximumNesting = 200

    private mutating func enter() throws {
        nesting += 1
        guard nesting <= Self.maximumNesting else { throw failure("nested deeper than \(Self.maximumNesting) levels") }
    }

    init(tokens: [JinjaLexer.Token]) { self.tokens = tokens }

    static func parse(_ source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) throws -> [JinjaNode] {
        var parser = JinjaParser(tokens: try JinjaLexer.tokenize(source, trimBlocks: trimBlocks, lstripBlocks: lstripBlocks))
        let (nodes, stop) = try parser.nodes(until: [])
        if let stop { throw parser.failure("unexpected '\(stop)'") }
        return nodes
    }

    private var current: JinjaLexer.Token { tokens[position] }

    private func failure(_ message: String, at token: JinjaLexer.Token? = nil) -> JinjaError {
        let token = token ?? current
        return .syntax(line: token.line, column: token.column, message: message)
    }

    private mutating func next() -> JinjaLexer.Token {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    private func isSymbol(_ symbol: String) -> Bool { current.kind == .symbol(symbol) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func expect(_ symbol: String) throws {
        guard isSymbol(symbol) else { throw failure("expected '\(symbol)', found \(describe(current.kind))") }
        _ = next()
    }

    private mutating func expectName(_ name: String) throws {
        guard isName(name) else { throw failure("expected '\(name)', found \(describe(current.kind))") }
        _ = next()
    }

    private mutating func identifier() throws -> String {
        guard case let .name(name) = current.kind else { throw failure("expected a name, found \(describe(current.kind))") }
        _ = next()
        return name
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw failure("expected '%}', found \(describe(current.kind))") }
        _ = next()
    }

    private func describe(_ kind: JinjaLexer.Kind) -> String {
        switch kind {
        case .text: return "text"
        case .blockStart: return "'{%'"
        case .blockEnd: return "'%}'"
        case .variableStart: return "'{{'"
        case .variableEnd: return "'}}'"
        case let .name(name): return "'\(name)'"
        case let .string(value): return "the string \(JinjaValue.pythonQuoted(value))"
        case let .integer(value): return "\(value)"
        case let .float(value): return "\(value)"
        case let .symbol(symbol): return "'\(symbol)'"
        case .end: return "the end of the template"
        }
    }

    /// Nodes up to a block tag whose keyword is one of `stops` (consumed: the keyword is returned,
    /// the tag's `%}` is left for the caller), or to the end of the template (nil).
    private mutating func nodes(until stops: Set<String>) throws -> ([JinjaNode], String?) {
        try enter()
        defer { nesting -= 1 }
        var nodes: [JinjaNode] = []
        while true {
            let token = current
            switch token.kind {
            case .end:
                if !stops.isEmpty { throw failure("the template ends before \(stops.sorted().map { "'\($0)'" }.joined(separator: " or "))") }
                return (nodes, nil)
            case let .text(text):
                _ = next()
                nodes.append(.text(text))
            case .variableStart:
                _ = next()
                nodes.append(.output(try expression()))
                guard current.kind == .variableEnd else { throw failure("expected '}}', found \(describe(current.kind))") }
                _ = next()
            case .blockStart:
                _ = next()
                let keywordToken = current
                let keyword = try identifier()
                if stops.contains(keyword) { return (nodes, keyword) }
                nodes.append(try statement(keyword, at: keywordToken))
            default:
                throw failure("unexpected \(describe(token.kind))")
            }
        }
    }

    private mutating func statement(_ keyword: String, at token: JinjaLexer.Token) throws -> JinjaNode {
        switch keyword {
        case "if":
            var branches: [(JinjaExpression, [JinjaNode])] = []
            var condition = try expression()
            var otherwise: [JinjaNode] = []
            while true {
                try expectBlockEnd()
                let (body, stop) = try nodes(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                if stop == "elif" { condition = try expression(); continue }
                if stop == "else" {
                    try expectBlockEnd()
                    (otherwise, _) = try nodes(until: ["endif"])
                }
                try expectBlockEnd()
                return .conditional(branches: branches, otherwise: otherwise)
            }
        case "for":
            var targets = [try identifier()]
            while isSymbol(",") { _ = next(); targets.append(try identifier()) }
            try expectName("in")
            let iterable = try expression(allowConditional: false)
            var filter: JinjaExpression?
            if isName("if") { _ = next(); filter = try expression() }
            if isName("recursive") { throw failure("recursive loops are not supported", at: current) }
            try expectBlockEnd()
            var (body, stop) = try nodes(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            if stop == "else" {
                try expectBlockEnd()
                (otherwise, stop) = try nodes(until: ["endfor"])
            }
            try expectBlockEnd()
            return .loop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
        case "set":
            let name = try identifier()
            if isSymbol(".") {
                _ = next()
                let attribute = try identifier()
                try expect("=")
                let value = try expression()
                try expectBlockEnd()
                return .assign(targets: [name], attribute: attribute, value: value)
            }
            var targets = [name]
            while isSymbol(",") { _ = next(); targets.append(try identifier()) }
            if current.kind == .blockEnd {
                guard targets.count == 1 else { throw failure("a block set takes one name") }
                _ = next()
                let (body, _) = try nodes(until: ["endset"])
                try expectBlockEnd()
                return .assignBlock(name: name, body: body)
            }
            try expect("=")
            let value = try tupleOrExpression()
            try expectBlockEnd()
            return .assign(targets: targets, attribute: nil, value: value)
        case "macro":
            let name = try identifier()
            try expect("(")
            var parameters: [(String, JinjaExpression?)] = []
            while !isSymbol(")") {
                let parameter = try identifier()
                var defaultValue: JinjaExpression?
                if isSymbol("=") { _ = next(); defaultValue = try expression() }
                parameters.append((parameter, defaultValue))
                if !isSymbol(")") { try expect(",") }
            }
            _ = next()
            try expectBlockEnd()
            let (body, _) = try nodes(until: ["endmacro"])
            try expectBlockEnd()
            return .macro(name: name, parameters: parameters, body: body)
        case "call":
            if isSymbol("(") { throw failure("call blocks with caller arguments are not supported", at: current) }
            let callee = try expression()
            try expectBlockEnd()
            let (body, _) = try nodes(until: ["endcall"])
            try expectBlockEnd()
            return .call(callee: callee, body: body)
        case "filter":
            let name = try identifier()
            var arguments: [JinjaExpression] = []
            if isSymbol("(") { (arguments, _) = try callArguments() }
            try expectBlockEnd()
            let (body, _) = try nodes(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(name: name, arguments: arguments, body: body)
        case "generation":
            // transformers' assistant-mask extension: the body renders as written.
            try expectBlockEnd()
            let (body, _) = try nodes(until: ["endgeneration"])
            try expectBlockEnd()
            return .conditional(branches: [(.literal(.bool(true)), body)], otherwise: [])
        case "break", "continue":
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop : .continueLoop
        default:
            throw failure("unknown statement '\(keyword)'", at: token)
        }
    }

    /// `a, b` (a tuple, as a list) or one expression.
    private mutating func tupleOrExpression() throws -> JinjaExpression {
        let first = try expression()
        guard isSymbol(",") else { return first }
        var items = [first]
        while isSymbol(",") {
            _ = next()
            if current.kind == .blockEnd || current.kind == .variableEnd || isSymbol(")") { break }
            items.append(try expression())
        }
        return .list(items)
    }

    mutating func expression(allowConditional: Bool = true) throws -> JinjaExpression {
        try enter()
        defer { nesting -= 1 }
        let value = try orExpression()
        guard allowConditional, isName("if") else { return value }
        _ = next()
        let condition = try orExpression()
        var otherwise: JinjaExpression?
        if isName("else") { _ = next(); otherwise = try expression() }
        return .conditional(condition: condition, then: value, otherwise: otherwise)
    }

    private mutating func orExpression() throws -> JinjaExpression {
        var left = try andExpression()
        while isName("or") { _ = next(); left = .or(left, try andExpression()) }
        return left
    }

    private mutating func andExpression() throws -> JinjaExpression {
        var left = try notExpression()
        while isName("and") { _ = next(); left = .and(left, try notExpression()) }
        return left
    }

    private mutating func notExpression() throws -> JinjaExpression {
        try enter()
        defer { nesting -= 1 }
        if isName("not") { _ = next(); return .not(try notExpression()) }
        return try comparison()
    }

    private mutating func comparison() throws -> JinjaExpression {
        let left = try concatenation()
        var operations: [(String, JinjaExpression)] = []
        while true {
            if case let .symbol(symbol) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(symbol) {
                _ = next()
                operations.append((symbol, try concatenation()))
            } else if isName("in") {
                _ = next()
                operations.append(("in", try concatenation()))
            } else if isName("not"), position + 1 < tokens.count, tokens[position + 1].kind == .name("in") {
                _ = next(); _ = next()
                operations.append(("not in", try concatenation()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations)
    }

    private mutating func concatenation() throws -> JinjaExpression {
        var left = try additive()
        while isSymbol("~") { _ = next(); left = .binary("~", left, try additive()) }
        return left
    }

    private mutating func additive() throws -> JinjaExpression {
        var left = try multiplicative()
        while case let .symbol(symbol) = current.kind, symbol == "+" || symbol == "-" {
            _ = next()
            left = .binary(symbol, left, try multiplicative())
        }
        return left
    }

    private mutating func multiplicative() throws -> JinjaExpression {
        var left = try multiplicativeOperand()
        while case let .symbol(symbol) = current.kind, ["*", "/", "//", "%"].contains(symbol) {
            _ = next()
            left = .binary(symbol, left, try multiplicativeOperand())
        }
        return left
    }

    private mutating func multiplicativeOperand() throws -> JinjaExpression {
        let base = try unary()
        if isSymbol("**") { _ = next(); return .binary("**", base, try unary()) }
        return base
    }

    /// A value with its filters; a sign applies before them, as jinja2 reads `-1|abs`.
    private mutating func unary() throws -> JinjaExpression {
        if isSymbol("-") || isSymbol("+") { return try filtered(try signed()) }
        return try filtered(try postfix(try primary()))
    }

    private mutating func signed() throws -> JinjaExpression {
        try enter()
        defer { nesting -= 1 }
        if isSymbol("-") { _ = next(); return .negate(try signed()) }
        if isSymbol("+") { _ = next(); return try signed() }
        return try postfix(try primary())
    }

    /// Filters (`| name(args)`) and tests (`is [not] name args`) after a value.
    private mutating func filtered(_ value: JinjaExpression) throws -> JinjaExpression {
        var value = value
        while true {
            if isSymbol("|") {
                _ = next()
                var name = try identifier()
                while isSymbol(".") { _ = next(); name += "." + (try identifier()) }
                var arguments: [JinjaExpression] = [], keywords: [(String, JinjaExpression)] = []
                if isSymbol("(") { (arguments, keywords) = try callArguments() }
                value = .filter(value, name: name, arguments: arguments, keywords: keywords)
            } else if isName("is") {
                _ = next()
                var negated = false
                if isName("not") { _ = next(); negated = true }
                let name = try identifier()
                var arguments: [JinjaExpression] = []
                if isSymbol("(") {
                    (arguments, _) = try callArguments()
                } else if startsOperand() {
                    arguments = [try postfix(try primary())]
                }
                value = .test(value, name: name, arguments: arguments, negated: negated)
            } else {
                return value
            }
        }
    }

    /// Whether the current token can start a test's single argument (`is divisibleby 3`).
    private func startsOperand() -> Bool {
        switch current.kind {
        case .string, .integer, .float: return true
        case let .name(name): return !["and", "or", "not", "if", "else", "in", "is", "recursive"].contains(name)
        case let .symbol(symbol): return symbol == "(" || symbol == "[" || symbol == "{"
        default: return false
        }
    }

    private mutating func postfix(_ value: JinjaExpression) throws -> JinjaExpression {
        var value = value
        while true {
            if isSymbol(".") {
                _ = next()
                if case let .integer(index) = current.kind { _ = next(); value = .item(value, .literal(.int(index))); continue }
                value = .attribute(value, try identifier())
            } else if isSymbol("[") {
                _ = next()
                var parts: [JinjaExpression?] = [nil]
                var isSlice = false
                while !isSymbol("]") {
                    if isSymbol(":") {
                        _ = next()
                        isSlice = true
                        parts.append(nil)
                    } else {
                        guard parts[parts.count - 1] == nil else { throw failure("expected ']' or ':'") }
                        parts[parts.count - 1] = try expression()
                    }
                }
                _ = next()
                if isSlice {
                    guard parts.count <= 3 else { throw failure("a slice takes at most three parts") }
                    value = .slice(value, start: parts[0], stop: parts.count > 1 ? parts[1] : nil, step: parts.count > 2 ? parts[2] : nil)
                } else {
                    guard let index = parts[0] else { throw failure("an empty subscript") }
                    value = .item(value, index)
                }
            } else if isSymbol("(") {
                let (arguments, keywords) = try callArguments()
                value = .call(value, arguments: arguments, keywords: keywords)
            } else {
                return value
            }
        }
    }

    private mutating func callArguments() throws -> ([JinjaExpression], [(String, JinjaExpression)]) {
        try expect("(")
        var arguments: [JinjaExpression] = [], keywords: [(String, JinjaExpression)] = []
        while !isSymbol(")") {
            if case let .name(name) = current.kind, position + 1 < tokens.count, tokens[position + 1].kind == .symbol("=") {
                _ = next(); _ = next()
                keywords.append((name, try expression()))
            } else {
                guard keywords.isEmpty else { throw failure("a positional argument after keyword arguments") }
                arguments.append(try expression())
            }
            if !isSymbol(")") { try expect(",") }
        }
        _ = next()
        return (arguments, keywords)
    }

    private mutating func primary() throws -> JinjaExpression {
        let token = next()
        switch token.kind {
        case let .name(name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name)
            }
        case let .string(value):
            // Adjacent strings join, as in Python.
            var text = value
            while case let .string(more) = current.kind { _ = next(); text += more }
            return .literal(.string(text))
        case let .integer(value): return .literal(.int(value))
        case let .float(value): return .literal(.double(value))
        case .symbol("("):
            if isSymbol(")") { _ = next(); return .list([]) }
            let first = try expression()
            if isSymbol(")") { _ = next(); return first }
            var items = [first]
            while isSymbol(",") {
                _ = next()
                if isSymbol(")") { break }
                items.append(try expression())
            }
            try expect(")")
            return .list(items)
        case .symbol("["):
            var items: [JinjaExpression] = []
            while !isSymbol("]") {
                items.append(try expression())
                if !isSymbol("]") { try expect(",") }
            }
            _ = next()
            return .list(items)
        case .symbol("{"):
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !isSymbol("}") {
                let key = try expression()
                try expect(":")
                pairs.append((key, try expression()))
                if !isSymbol("}") { try expect(",") }
            }
            _ = next()
            return .dictionary(pairs)
        default:
            throw failure("unexpected \(describe(token.kind))", at: token)
        }
    }
}
