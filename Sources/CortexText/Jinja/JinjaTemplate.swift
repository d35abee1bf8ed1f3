import Foundation

/// A Jinja template, parsed once and rendered in a sandbox: no file, process or attribute
/// access beyond the values it is given, and bounds on loop iterations, output size and macro
/// depth, so a template from a model file cannot hang or exhaust the process. Whitespace is
/// handled as transformers configures jinja2 for chat templates (`trim_blocks` and
/// `lstrip_blocks` on), with the loop controls `break` and `continue`.
///
/// ```swift
/// let template = try JinjaTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}{% endfor %}")
/// let prompt = try template.render(["messages": try JinjaValue.parseJSON(#"[{"role": "user", "content": " Hi "}]"#)])
/// // "<user>Hi"
/// ```
public struct JinjaTemplate: Sendable {
    /// Bounds a render stops at, with ``JinjaError/limit(_:)``.
    public struct Limits: Sendable {
        public var loopIterations = 1_000_000
        public var outputCharacters = 4 << 20
        public var macroDepth = 64
        /// Nesting of statements and expressions a render follows (a template of thousands of
        /// nested blocks or a chain of thousands of operators would otherwise exhaust the stack).
        public var nesting = 256
        public init() {}
    }

    nonisolated(unsafe) let nodes: [JinjaNode]
    public let source: String

    public init(_ source: String, trimBlocks: Bool = true, lstripBlocks: Bool = true) throws {
        self.source = source
        nodes = try JinjaParser.parse(source, trimBlocks: trimBlocks, lstripBlocks: lstripBlocks)
    }

    /// The template rendered with `context` (names to values), `now` serving `strftime_now`.
    public func render(_ context: [String: JinjaValue], now: Date = Date(), limits: Limits = Limits()) throws -> String {
        let renderer = JinjaRenderer(limits: limits, now: now)
        var root: [String: JinjaValue] = [:]
        for (name, value) in context { root[name] = value }
        renderer.scopes = [root]
        try renderer.run(nodes)
        return renderer.output
    }
}

/// Loop control, thrown through a loop's body.
private enum LoopSignal: Error { case breakLoop, continueLoop }

/// One render: the scopes, the output and the bounds' counters.
final class JinjaRenderer {
    let limits: JinjaTemplate.Limits
    let now: Date
    var scopes: [[String: JinjaValue]] = []
    var output = ""
    private var outputCount = 0
    private var iterations = 0
    private var depth = 0
    private var nesting = 0

    private func enter() throws {
        nesting += 1
        guard nesting <= limits.nesting else { throw JinjaError.limit("statements and expressions nested past \(limits.nesting) levels") }
    }

    init(limits: JinjaTemplate.Limits, now: Date) {
        self.limits = limits
        self.now = now
    }

    func write(_ text: String) throws {
        outputCount += text.count
        guard outputCount <= limits.outputCharacters else { throw JinjaError.limit("the output passed \(limits.outputCharacters) characters") }
        output += text
    }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let value = scope[name] { return value } }
        return JinjaBuiltins.global(name, renderer: self) ?? .undefined(name)
    }

    func assign(_ name: String, _ value: JinjaValue) { scopes[scopes.count - 1][name] = value }

    func run(_ nodes: [JinjaNode]) throws {
        for node in nodes { try run(node) }
    }

    private func run(_ node: JinjaNode) throws {
        try enter()
        defer { nesting -= 1 }
        switch node {
        case let .text(text): try write(text)
        case let .output(expression): try write(try evaluate(expression).text)
        case let .conditional(branches, otherwise):
            for branch in branches where try evaluate(branch.condition).isTruthy { return try run(branch.body) }
            try run(otherwise)
        case let .loop(targets, iterable, filter, body, otherwise):
            try loop(targets: targets, over: try evaluate(iterable), filter: filter, body: body, otherwise: otherwise)
        case let .assign(targets, attribute, value):
            let result = try evaluate(value)
            if let attribute {
                guard case let .namespace(namespace) = lookup(targets[0]) else {
                    throw JinjaError.render("'\(targets[0]).\(attribute)' can be set only on a namespace")
                }
                namespace.attributes[attribute] = result
            } else if targets.count == 1 {
                assign(targets[0], result)
            } else {
                let items = try JinjaBuiltins.items(of: result, for: "set")
                guard items.count == targets.count else { throw JinjaError.render("set unpacks \(items.count) values into \(targets.count) names") }
                for (target, item) in zip(targets, items) { assign(target, item) }
            }
        case let .assignBlock(name, body): assign(name, .string(try capture(body)))
        case let .macro(name, parameters, body):
            assign(name, .macro(JinjaMacro(name: name, parameters: parameters, body: body)))
        case let .call(callee, body):
            guard case let .call(target, arguments, keywords) = callee, case let .macro(macro) = try evaluate(target) else {
                throw JinjaError.render("a call block needs a macro call")
            }
            let caller = JinjaFunction("caller") { [unowned self] _, _ in .string(try self.capture(body)) }
            try write(try invoke(macro, arguments: try arguments.map(evaluate), keywords: try keywordValues(keywords), caller: caller).text)
        case let .filterBlock(name, arguments, body):
            let text = JinjaValue.string(try capture(body))
            try write(try JinjaBuiltins.filter(name, text, arguments: try arguments.map(evaluate), keywords: JinjaObject(), renderer: self).text)
        case .breakLoop: throw LoopSignal.breakLoop
        case .continueLoop: throw LoopSignal.continueLoop
        }
    }

    /// What `body` writes, in a scope of its own.
    func capture(_ body: [JinjaNode]) throws -> String {
        let saved = output
        output = ""
        scopes.append([:])
        defer {
            scopes.removeLast()
            output = saved
        }
        try run(body)
        return output
    }

    private func loop(targets: [String], over sequence: JinjaValue, filter: JinjaExpression?, body: [JinjaNode], otherwise: [JinjaNode]) throws {
        var items = try JinjaBuiltins.items(of: sequence, for: "for")
        if let filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append(try bind(targets, to: item))
                defer { scopes.removeLast() }
                if try evaluate(filter).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try run(otherwise) }
        for (index, item) in items.enumerated() {
            iterations += 1
            guard iterations <= limits.loopIterations else { throw JinjaError.limit("loops ran past \(limits.loopIterations) iterations") }
            var scope = try bind(targets, to: item)
            var loop = JinjaObject()
            loop["index"] = .int(index + 1)
            loop["index0"] = .int(index)
            loop["revindex"] = .int(items.count - index)
            loop["revindex0"] = .int(items.count - index - 1)
            loop["first"] = .bool(index == 0)
            loop["last"] = .bool(index == items.count - 1)
            loop["length"] = .int(items.count)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            loop["previtem"] = index > 0 ? items[index - 1] : .undefined("loop.previtem")
            loop["nextitem"] = index + 1 < items.count ? items[index + 1] : .undefined("loop.nextitem")
            loop["cycle"] = .function(JinjaFunction("loop.cycle") { arguments, _ in
                arguments.isEmpty ? .undefined("loop.cycle") : arguments[index % arguments.count]
            })
            scope["loop"] = .object(loop)
            scopes.append(scope)
            defer { scopes.removeLast() }
            do {
                try run(body)
            } catch LoopSignal.breakLoop {
                break
            } catch LoopSignal.continueLoop {
                continue
            }
        }
    }

    private func bind(_ targets: [String], to item: JinjaValue) throws -> [String: JinjaValue] {
        if targets.count == 1 { return [targets[0]: item] }
        let parts = try JinjaBuiltins.items(of: item, for: "for")
        guard parts.count == targets.count else { throw JinjaError.render("for unpacks \(parts.count) values into \(targets.count) names") }
        return Dictionary(zip(targets, parts), uniquingKeysWith: { _, last in last })
    }

    func keywordValues(_ keywords: [(String, JinjaExpression)]) throws -> JinjaObject {
        var object = JinjaObject()
        for (name, expression) in keywords { object[name] = try evaluate(expression) }
        return object
    }

    func invoke(_ macro: JinjaMacro, arguments: [JinjaValue], keywords: JinjaObject, caller: JinjaFunction? = nil) throws -> JinjaValue {
        depth += 1
        defer { depth -= 1 }
        guard depth <= limits.macroDepth else { throw JinjaError.limit("macros nested past \(limits.macroDepth) calls") }
        var scope: [String: JinjaValue] = [:]
        var extraKeywords = keywords
        for (index, parameter) in macro.parameters.enumerated() {
            if index < arguments.count {
                scope[parameter.name] = arguments[index]
            } else if let value = keywords[parameter.name] {
                scope[parameter.name] = value
                extraKeywords[parameter.name] = nil
            } else if let defaultValue = parameter.defaultValue {
                scope[parameter.name] = try evaluate(defaultValue)
            } else {
                scope[parameter.name] = .undefined(parameter.name)
            }
        }
        scope["varargs"] = .array(Array(arguments.dropFirst(macro.parameters.count)))
        scope["kwargs"] = .object(extraKeywords)
        if let caller { scope["caller"] = .function(caller) }
        // A macro sees the template's top-level names and its own, not its caller's.
        let saved = scopes
        scopes = [scopes[0], scope]
        defer { scopes = saved }
        let savedOutput = output
        output = ""
        defer { output = savedOutput }
        try run(macro.body)
        return .string(output)
    }

    func call(_ callee: JinjaValue, arguments: [JinjaValue], keywords: JinjaObject, name: String) throws -> JinjaValue {
        switch callee {
        case let .macro(macro): return try invoke(macro, arguments: arguments, keywords: keywords)
        case let .function(function): return try function.call(arguments, keywords)
        case let .undefined(missing): throw JinjaError.render("'\(missing)' is undefined, so it cannot be called")
        default: throw JinjaError.render("'\(name)' is a \(callee.typeName), not a function")
        }
    }

    func evaluate(_ expression: JinjaExpression) throws -> JinjaValue {
        try enter()
        defer { nesting -= 1 }
        switch expression {
        case let .literal(value): return value
        case let .name(name): return lookup(name)
        case let .attribute(base, name): return try JinjaBuiltins.attribute(name, of: try evaluate(base), renderer: self)
        case let .item(base, index):
            let container = try evaluate(base), key = try evaluate(index)
            if case let .string(name) = key, case .object = container {
                return try JinjaBuiltins.item(key, of: container, orAttribute: name, renderer: self)
            }
            return try JinjaBuiltins.item(key, of: container, orAttribute: nil, renderer: self)
        case let .slice(base, start, stop, step):
            return try JinjaBuiltins.slice(try evaluate(base), start: try start.map(evaluate), stop: try stop.map(evaluate), step: try step.map(evaluate))
        case let .call(callee, arguments, keywords):
            let function = try evaluate(callee)
            return try call(function, arguments: try arguments.map(evaluate), keywords: try keywordValues(keywords), name: Self.name(of: callee))
        case let .filter(base, name, arguments, keywords):
            return try JinjaBuiltins.filter(name, try evaluate(base), arguments: try arguments.map(evaluate), keywords: try keywordValues(keywords),
                                            renderer: self)
        case let .test(base, name, arguments, negated):
            let result = try JinjaBuiltins.test(name, try evaluate(base), arguments: try arguments.map(evaluate), renderer: self)
            return .bool(result != negated)
        case let .not(operand): return .bool(!(try evaluate(operand).isTruthy))
        case let .negate(operand):
            switch try evaluate(operand) {
            case let .int(value): return .int(-value)
            case let .double(value): return .double(-value)
            case let .bool(value): return .int(value ? -1 : 0)
            case let other: throw JinjaError.render("cannot negate a \(other.typeName)")
            }
        case let .and(left, right):
            let first = try evaluate(left)
            return first.isTruthy ? try evaluate(right) : first
        case let .or(left, right):
            let first = try evaluate(left)
            return first.isTruthy ? first : try evaluate(right)
        case let .binary(operation, left, right):
            return try JinjaBuiltins.arithmetic(operation, try evaluate(left), try evaluate(right))
        case let .compare(first, operations):
            var left = try evaluate(first)
            for (operation, operand) in operations {
                let right = try evaluate(operand)
                guard try JinjaBuiltins.compare(operation, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case let .conditional(condition, then, otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined("conditional")
        case let .list(items): return .array(try items.map(evaluate))
        case let .dictionary(pairs):
            var object = JinjaObject()
            for (key, value) in pairs {
                let keyValue = try evaluate(key)
                guard let stored = JinjaObject.storedKey(keyValue) else {
                    throw JinjaError.render("a dictionary key must be a string or an integer, not a \(keyValue.typeName)")
                }
                object[stored] = try evaluate(value)
            }
            return .object(object)
        }
    }

    static func name(of expression: JinjaExpression) -> String {
        switch expression {
        case let .name(name): return name
        case let .attribute(base, attribute): return Self.name(of: base) + "." + attribute
        default: return "expression"
        }
    }
}
