/// What goes wrong with a template: where its syntax breaks (line and column), what a render
/// could not do (the construct named), a template's own `raise_exception`, or a bound hit.
public enum JinjaError: Error, Equatable, CustomStringConvertible, Sendable {
    case syntax(line: Int, column: Int, message: String)
    case render(String)
    case raised(String)
    case limit(String)
    case json(String)

    public var description: String {
        switch self {
        case let .syntax(line, column, message): return "template syntax error at line \(line), column \(column): \(message)"
        case let .render(message): return "template error: \(message)"
        case let .raised(message): return "the template raised: \(message)"
        case let .limit(message): return "template stopped: \(message)"
        case let .json(message): return "invalid JSON: \(message)"
        }
    }
}

/// A template's statements, as parsed.
indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpression)
    case conditional(branches: [(condition: JinjaExpression, body: [JinjaNode])], otherwise: [JinjaNode])
    case loop(targets: [String], iterable: JinjaExpression, filter: JinjaExpression?, body: [JinjaNode], otherwise: [JinjaNode])
    case assign(targets: [String], attribute: String?, value: JinjaExpression)
    case assignBlock(name: String, body: [JinjaNode])
    case macro(name: String, parameters: [(name: String, defaultValue: JinjaExpression?)], body: [JinjaNode])
    case call(callee: JinjaExpression, body: [JinjaNode])
    case filterBlock(name: String, arguments: [JinjaExpression], body: [JinjaNode])
    case breakLoop
    case continueLoop
}

/// An expression inside `{{ }}` or a statement.
indirect enum JinjaExpression {
    case literal(JinjaValue)
    case name(String)
    case attribute(JinjaExpression, String)
    case item(JinjaExpression, JinjaExpression)
    case slice(JinjaExpression, start: JinjaExpression?, stop: JinjaExpression?, step: JinjaExpression?)
    case call(JinjaExpression, arguments: [JinjaExpression], keywords: [(String, JinjaExpression)])
    case filter(JinjaExpression, name: String, arguments: [JinjaExpression], keywords: [(String, JinjaExpression)])
    case test(JinjaExpression, name: String, arguments: [JinjaExpression], negated: Bool)
    case not(JinjaExpression)
    case negate(JinjaExpression)
    case and(JinjaExpression, JinjaExpression)
    case or(JinjaExpression, JinjaExpression)
    case binary(String, JinjaExpression, JinjaExpression)
    case compare(JinjaExpression, [(String, JinjaExpression)])
    case conditional(condition: JinjaExpression, then: JinjaExpression, otherwise: JinjaExpression?)
    case list([JinjaExpression])
    case dictionary([(JinjaExpression, JinjaExpression)])
}

/// The template's text cut into text, tags and the tokens inside tags, with jinja2's
/// whitespace control: `{%-`/`-%}` (and the same on `{{ }}` and `{# #}`) strip the whitespace
/// beside a tag; `trimBlocks` drops the first newline after a block or comment tag;
/// `lstripBlocks` drops the spaces and tabs before one at the start of a line (`{%+` keeps them).
struct JinjaLexer {
    enum Kind: Equatable {
        case text(String)
        case blockStart, blockEnd, variableStart, variableEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case symbol(String)
        case end
    }

    struct Token {
        let kind: Kind
        let line: Int
        let column: Int
    }

    let source: [Character]
    let trimBlocks: Bool
    let lstripBlocks: Bool
    private(set) var tokens: [Token] = []
    private var position = 0
    private var line = 1
    private var column = 1

    init(_ source: String, trimBlocks: Bool, lstripBlocks: Bool) {
        // Line ends as jinja2 normalises them.
        self.source = Array(source.replacingOccurrences(of: "\r\n", with: "\n"))
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    static func tokenize(_ source: String, trimBlocks: Bool, lstripBlocks: Bool) throws -> [Token] {
        var lexer = JinjaLexer(source, trimBlocks: trimBlocks, lstripBlocks: lstripBlocks)
        try lexer.run()
        return lexer.tokens
    }

    private func failure(_ message: String) -> JinjaError { .syntax(line: line, column: column, message: message) }

    private func peek(_ offset: Int = 0) -> Character? {
        position + offset < source.count ? source[position + offset] : nil
    }

    private mutating func advance(_ count: Int = 1) {
        for _ in 0..<count where position < source.count {
            if source[position] == "\n" { line += 1; column = 1 } else { column += 1 }
            position += 1
        }
    }

    private func starts(_ text: String) -> Bool {
        var offset = 0
        for character in text {
            guard peek(offset) == character else { return false }
            offset += 1
        }
        return true
    }

    private mutating func run() throws {
        var text = ""
        var textLine = line, textColumn = column
        // Whether the text being gathered began at the start of a line (for lstrip_blocks).
        var textAtLineStart = true
        var stripNext = false
        var trimNewline = false
        func flushText(_ value: String) {
            if !value.isEmpty { tokens.append(Token(kind: .text(value), line: textLine, column: textColumn)) }
        }
        while position < source.count {
            let opening = starts("{{") ? "{{" : starts("{%") ? "{%" : starts("{#") ? "{#" : nil
            guard let opening else {
                if stripNext, let character = peek(), character.isWhitespace { advance(); continue }
                stripNext = false
                if trimNewline, peek() == "\n" { advance(); trimNewline = false; continue }
                trimNewline = false
                if text.isEmpty {
                    (textLine, textColumn) = (line, column)
                    // In the source, not the output: a newline that trim_blocks dropped still
                    // starts the line.
                    textAtLineStart = position == 0 || source[position - 1] == "\n"
                }
                text.append(source[position])
                advance()
                continue
            }
            stripNext = false
            trimNewline = false
            let modifier = peek(2)
            let isBlock = opening != "{{"
            if modifier == "-" {
                while let last = text.last, last.isWhitespace { text.removeLast() }
            } else if isBlock && lstripBlocks && modifier != "+" {
                // Spaces and tabs between the line's start and the tag go.
                var index = text.endIndex
                while index > text.startIndex, text[text.index(before: index)] == " " || text[text.index(before: index)] == "\t" {
                    index = text.index(before: index)
                }
                if index == text.startIndex ? textAtLineStart : text[text.index(before: index)] == "\n" {
                    text.removeSubrange(index...)
                }
            }
            flushText(text)
            text = ""
            let tagLine = line, tagColumn = column
            advance(2)
            if modifier == "-" || modifier == "+" { advance() }
            if opening == "{#" {
                while position < source.count && !(starts("#}") || starts("-#}")) { advance() }
                guard position < source.count else { throw JinjaError.syntax(line: tagLine, column: tagColumn, message: "a comment is not closed") }
                if starts("-#}") { stripNext = true; advance(3) } else { advance(2); trimNewline = trimBlocks }
                continue
            }
            if opening == "{%", try rawBlock(tagLine: tagLine, tagColumn: tagColumn) { continue }
            tokens.append(Token(kind: isBlock ? .blockStart : .variableStart, line: tagLine, column: tagColumn))
            let closing = isBlock ? "%}" : "}}"
            // Brackets open inside the tag: a "}}" that closes a dictionary does not end it.
            var depth = 0
            while true {
                skipSpaces()
                guard position < source.count else {
                    throw JinjaError.syntax(line: tagLine, column: tagColumn, message: "'\(opening)' is not closed by '\(closing)'")
                }
                if depth == 0 && (starts("-" + closing) || starts(closing)) {
                    let strips = peek() == "-"
                    let endLine = line, endColumn = column
                    advance(strips ? 3 : 2)
                    tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, line: endLine, column: endColumn))
                    if strips { stripNext = true } else if isBlock { trimNewline = trimBlocks }
                    break
                }
                try expressionToken()
                if case let .symbol(symbol) = tokens[tokens.count - 1].kind {
                    if ["(", "[", "{"].contains(symbol) { depth += 1 } else if [")", "]", "}"].contains(symbol) { depth = max(0, depth - 1) }
                }
            }
        }
        flushText(text)
        tokens.append(Token(kind: .end, line: line, column: column))
    }

    /// `{% raw %}...{% endraw %}` becomes text as written.
    private mutating func rawBlock(tagLine: Int, tagColumn: Int) throws -> Bool {
        var offset = 0
        while let character = peek(offset), character == " " || character == "-" || character == "+" { offset += 1 }
        guard String(source[min(position + offset, source.count)..<min(position + offset + 3, source.count)]) == "raw" else { return false }
        var after = offset + 3
        while let character = peek(after), character == " " || character == "-" { after += 1 }
        guard peek(after) == "%", peek(after + 1) == "}" else { return false }
        advance(after + 2)
        var body = ""
        while position < source.count {
            if starts("{%") {
                var probe = 2
                while let character = peek(probe), character == " " || character == "-" { probe += 1 }
                if String(source[min(position + probe, source.count)..<min(position + probe + 6, source.count)]) == "endraw" {
                    probe += 6
                    while let character = peek(probe), character == " " || character == "-" { probe += 1 }
                    if peek(probe) == "%", peek(probe + 1) == "}" {
                        tokens.append(Token(kind: .text(body), line: tagLine, column: tagColumn))
                        advance(probe + 2)
                        return true
                    }
                }
            }
            body.append(source[position])
            advance()
        }
        throw JinjaError.syntax(line: tagLine, column: tagColumn, message: "'raw' is not closed by 'endraw'")
    }

    private mutating func skipSpaces() {
        while let character = peek(), character.isWhitespace { advance() }
    }

    private mutating func expressionToken() throws {
        let (startLine, startColumn) = (line, column)
        func add(_ kind: Kind) { tokens.append(Token(kind: kind, line: startLine, column: startColumn)) }
        guard let character = peek() else { return }
        if character.isLetter || character == "_" {
            var name = ""
            while let next = peek(), next.isLetter || next.isNumber || next == "_" { name.append(next); advance() }
            add(.name(name))
            return
        }
        if character.isNumber {
            var digits = ""
            var isFloat = false
            while let next = peek(), next.isNumber || next == "_" || (next == "." && !isFloat && peek(1)?.isNumber == true) {
                if next == "." { isFloat = true }
                if next != "_" { digits.append(next) }
                advance()
            }
            if let next = peek(), next == "e" || next == "E" {
                isFloat = true
                digits.append("e")
                advance()
                if let sign = peek(), sign == "+" || sign == "-" { digits.append(sign); advance() }
                while let next = peek(), next.isNumber { digits.append(next); advance() }
            }
            if isFloat, let value = Double(digits) { add(.float(value)) } else if let value = Int(digits) { add(.integer(value)) } else {
                throw failure("bad number \(digits)")
            }
            return
        }
        if character == "'" || character == "\"" {
            advance()
            var value = ""
            while true {
                guard let next = peek() else { throw JinjaError.syntax(line: startLine, column: startColumn, message: "a string is not closed") }
                advance()
                if next == character { break }
                if next == "\\", let escaped = peek() {
                    advance()
                    switch escaped {
                    case "n": value.append("\n")
                    case "t": value.append("\t")
                    case "r": value.append("\r")
                    case "\\": value.append("\\")
                    case "'": value.append("'")
                    case "\"": value.append("\"")
                    case "u", "x":
                        let width = escaped == "u" ? 4 : 2
                        var hex = ""
                        for _ in 0..<width { if let digit = peek() { hex.append(digit); advance() } }
                        guard let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else { throw failure("bad \\\(escaped) escape") }
                        value.unicodeScalars.append(scalar)
                    default: value.append("\\"); value.append(escaped)
                    }
                } else {
                    value.append(next)
                }
            }
            add(.string(value))
            return
        }
        for symbol in ["//", "**", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|", "~", "+", "-", "*", "/", "%", "<", ">", "="]
        where starts(symbol) {
            advance(symbol.count)
            add(.symbol(symbol))
            return
        }
        throw failure("unexpected character '\(character)'")
    }
}
