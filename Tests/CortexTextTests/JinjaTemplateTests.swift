import Foundation
import Testing
@testable import CortexText

/// The Jinja engine against jinja2 as transformers configures it: every chat template that
/// llama.cpp ships (models/templates, from Tools/make_chat_template_fixtures.py) rendered on six
/// conversations (system + user, multi-turn, assistant last with and without a generation
/// prompt, non-ASCII, and a tool call with its result for templates that take tools) must give
/// jinja2's text byte for byte, or fail where jinja2 failed (the template's own
/// raise_exception with jinja2's message).
@Suite struct JinjaTemplateTests {
    static let fixtures: JinjaValue = {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("chat-templates.json")
        return try! JinjaValue.parseJSON(String(contentsOf: url, encoding: .utf8))
    }()
    /// strftime_now's clock in the fixtures: 2024-07-26 09:30:00.
    static let now = Date(timeIntervalSince1970: 1_721_986_200)

    static func field(_ value: JinjaValue, _ name: String) -> JinjaValue? {
        if case let .object(object) = value { return object[name] }
        return nil
    }

    @Test func llamaCppTemplatesRenderAsJinja2() throws {
        guard case let .array(templates)? = Self.field(Self.fixtures, "templates") else { Issue.record("fixture has no templates"); return }
        var failures: [String] = []
        var passed = 0
        for entry in templates {
            guard case let .string(name)? = Self.field(entry, "name"), case let .string(source)? = Self.field(entry, "template"),
                  case let .array(cases)? = Self.field(entry, "cases") else { continue }
            let template: JinjaTemplate
            do { template = try JinjaTemplate(source) } catch {
                failures.append("\(name): \(error)")
                continue
            }
            for item in cases {
                guard case let .object(variables)? = Self.field(item, "variables"), case let .string(title)? = Self.field(item, "title") else { continue }
                var context: [String: JinjaValue] = [:]
                for key in variables.keys { context[key] = variables[key] }
                let result = Result { try template.render(context, now: Self.now) }
                switch (Self.field(item, "expected"), Self.field(item, "raised"), result) {
                case let (.string(expected)?, _, .success(text)) where text == expected: passed += 1
                case let (.string(expected)?, _, .success(text)):
                    let common = zip(text, expected).prefix { $0 == $1 }.count
                    failures.append("\(name) [\(title)]: differs at character \(common): got \(text.dropFirst(common).prefix(60).debugDescription), "
                                    + "expected \(expected.dropFirst(common).prefix(60).debugDescription)")
                case let (.string?, _, .failure(error)): failures.append("\(name) [\(title)]: \(error)")
                case let (nil, .string(message)?, .failure(JinjaError.raised(got))) where got == message: passed += 1
                case (nil, nil, .failure): passed += 1
                case let (_, _, outcome): failures.append("\(name) [\(title)]: jinja2 failed, Cortex gave \(outcome)")
                }
            }
        }
        print("chat templates: \(passed) conversations as jinja2, \(failures.count) not")
        for failure in failures { print("  " + failure) }
        #expect(failures.isEmpty)
    }
}

/// The engine's own rules: jinja2's whitespace control, scoping, loops, filters and tests on
/// small templates (outputs as jinja2 3.1 gives them), and typed errors for bad templates and
/// runaway ones.
@Suite struct JinjaEngineTests {
    static func render(_ source: String, _ context: [String: JinjaValue] = [:]) throws -> String {
        try JinjaTemplate(source).render(context)
    }

    @Test func whitespaceScopesAndLoops() throws {
        // trim_blocks drops the newline after a block tag; lstrip_blocks the indentation before one.
        #expect(try Self.render("{% if true %}\n    a\n    {% endif %}\nb") == "    a\nb")
        #expect(try Self.render("x  {{- ' y ' -}}  z") == "x y z")
        // A loop's sets stay in the iteration; a namespace carries them out.
        #expect(try Self.render("{% set x = 1 %}{% for i in range(2) %}{% set x = x + 1 %}[{{ x }}]{% endfor %}{{ x }}") == "[2][2]1")
        #expect(try Self.render("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] if i > 1 %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}") == "5")
        #expect(try Self.render("{% for a, b in {'x': 1, 2: 'y'}.items() %}{{ a }}={{ b }}{% if not loop.last %},{% endif %}{% endfor %}") == "x=1,2=y")
        #expect(try Self.render("{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}") == "02")
        #expect(try Self.render("{% for i in [] %}x{% else %}empty{% endfor %}") == "empty")
        #expect(try Self.render("{% macro tag(name, close=false) %}<{{ '/' if close }}{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('a', close=true) }}") == "<a></a>")
    }

    @Test func valuesFiltersAndTests() throws {
        let messages = try JinjaValue.parseJSON(#"[{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Hi"}]"#)
        #expect(try Self.render("{{ messages[0].content | trim }}|{{ messages[-1]['role'] | upper }}|{{ messages | length }}", ["messages": messages])
                == "Be brief.|USER|2")
        #expect(try Self.render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(', ') }}", ["messages": messages]) == "Hi")
        #expect(try Self.render("{{ messages[1:] | list | length }} {{ 'abc'[::-1] }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 / 2 }} {{ 2 ** 10 }}", ["messages": messages])
                == "1 cba 3 -4 3.5 1024")
        #expect(try Self.render("{{ [1, 'a', none, true] }} {{ {'a': 1.0} }} {{ x is defined }} {{ none is none }} {{ 3 is odd }}") == "[1, 'a', None, True] {'a': 1.0} False True True")
        #expect(try Self.render(#"{{ {"b": [1, 2], "a": "é\n"} | tojson }} {{ {"b": 1} | tojson(indent=2) }}"#) == "{\"b\": [1, 2], \"a\": \"é\\n\"} {\n  \"b\": 1\n}")
        #expect(try Self.render("{{ ' a b  c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'Hello'.startswith(('x', 'He')) }}") == "['a', 'b', 'c'] ['a', 'b', '', 'c'] True")
        #expect(try Self.render("{{ '<b>'|safe + '<i>' }} {{ x | default('none') }} {{ '' | default('empty', true) }}") == "<b>&lt;i&gt; none empty")
        #expect(try Self.render("{{ strftime_now('%d %B %Y') }}", [:]).count >= 10)
    }

    @Test func badTemplatesAndRunawayOnesGetTypedErrors() throws {
        // Syntax errors name their line and column.
        #expect(throws: JinjaError.syntax(line: 2, column: 4, message: "unknown statement 'iff'")) { try JinjaTemplate("ok\n{% iff x %}") }
        #expect(throws: JinjaError.syntax(line: 1, column: 1, message: "'{{' is not closed by '}}'")) { try JinjaTemplate("{{ x ") }
        do {
            _ = try JinjaTemplate("{% for m in messages %}{{ m }}")
            Issue.record("an unclosed loop parsed")
        } catch let JinjaError.syntax(line, _, message) {
            #expect(line == 1 && message.contains("endfor"))
        }
        // The template's own raise_exception, with its message.
        #expect(throws: JinjaError.raised("roles must alternate")) { try Self.render("{{ raise_exception('roles must alternate') }}") }
        // Runaway templates stop at the bounds instead of hanging or exhausting memory.
        var limits = JinjaTemplate.Limits()
        limits.loopIterations = 10_000
        let loops = try JinjaTemplate("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
        #expect(throws: JinjaError.limit("loops ran past 10000 iterations")) { try loops.render([:], limits: limits) }
        limits.outputCharacters = 1_000
        let output = try JinjaTemplate("{% for i in range(5000) %}xx{% endfor %}")
        #expect(throws: JinjaError.limit("the output passed 1000 characters")) { try output.render([:], limits: limits) }
        let recursion = try JinjaTemplate("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        #expect(throws: JinjaError.limit("macros nested past 64 calls")) { try recursion.render([:]) }
        // Hostile templates (a model file is untrusted) meet a typed error, never a crash.
        #expect(try Self.render("{{ 10 ** 30 }} {{ 2 ** 10 }} {{ 1e30 | int }}") == "1e+30 1024 0")
        #expect(throws: JinjaError.self) { try Self.render("{{ 'x' * 100000000 }}") }
        #expect(throws: JinjaError.self) { try Self.render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}") }
        #expect(throws: JinjaError.self) { try Self.render("{{ range(1000000000000) | length }}") }
        #expect(throws: JinjaError.self) { try JinjaTemplate(String(repeating: "{% if true %}", count: 5_000)) }
        #expect(throws: JinjaError.self) { try JinjaTemplate("{{ " + String(repeating: "(", count: 5_000) + "1 }}") }
        #expect(throws: JinjaError.limit("statements and expressions nested past 256 levels")) {
            try Self.render("{{ " + String(repeating: "1 + ", count: 5_000) + "1 }}")
        }
        #expect(throws: JinjaError.self) { try JinjaValue.parseJSON(String(repeating: "[", count: 100_000)) }
        // Undefined values fail where Python would, naming the value.
        #expect(throws: JinjaError.render("'user' is undefined, so it has no attribute 'name'")) { try Self.render("{{ user.name }}") }
        #expect(throws: JinjaError.self) { try Self.render("{{ [1] | map('upper') | tojson }}") }
    }
}
