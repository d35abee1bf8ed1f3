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
