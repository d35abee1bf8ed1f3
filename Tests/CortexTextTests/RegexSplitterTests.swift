import CortexCore
import CortexTestSupport
import Foundation
import Testing
@testable import CortexText

/// The regular-expression pre-tokenizer against Hugging Face's Split (Oniguruma), on the
/// tokenizer.json patterns behind llama.cpp's pre-tokenizer names
/// (Fixtures/regex-pretokenizers.json, from Tools/make_pretokenizer_fixtures.py).
@Suite struct RegexSplitterTests {
    struct Fixture: Decodable {
        let texts: [String]
        let patterns: [String: String]
        let pieces: [String: [[String]]]
        let sequences: [String: [String]]
        let sequence_pieces: [String: [[String]]]
    }

    static func fixture() throws -> Fixture {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("regex-pretokenizers.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test func splitsAsHuggingFaceDoes() throws {
        let fixture = try Self.fixture()
        for (name, pattern) in fixture.patterns.sorted(by: { $0.key < $1.key }) {
            let splitter = try RegexSplitter(pattern)
            for (text, expected) in zip(fixture.texts, fixture.pieces[name] ?? []) {
                #expect(splitter.split(text) == expected, "\(name): \(text.debugDescription)")
            }
        }
    }

    /// The GGUF pre-tokenizer names run as sequences of Splits (DeepSeek V3's, Tiny Aya's,
    /// SuperBPE's) split as Hugging Face's Sequence of those Splits does.
    @Test func ggufSequencesSplitAsHuggingFaceDoes() throws {
        let fixture = try Self.fixture()
        for name in fixture.sequences.keys.sorted() {
            let (preTokenization, _) = try #require(try GGUFPreTokenizers.named(name), "\(name)")
            for (text, expected) in zip(fixture.texts, fixture.sequence_pieces[name] ?? []) {
                #expect(preTokenization.split(text) == expected, "\(name): \(text.debugDescription)")
            }
        }
    }

    /// The hand-written scanners give what their patterns give as regular expressions.
    @Test func scannersMatchTheirPatterns() throws {
        let fixture = try Self.fixture()
        let gpt2 = try RegexSplitter(GPT2PreTokenizer.pattern), llama3 = try RegexSplitter(Llama3PreTokenizer.pattern)
        for text in fixture.texts {
            #expect(GPT2PreTokenizer.split(text).map(String.init) == gpt2.split(text), "\(text.debugDescription)")
            #expect(Llama3PreTokenizer.split(text).map(String.init) == llama3.split(text), "\(text.debugDescription)")
        }
    }

    @Test func regexSequencesSplitEachPieceFurther() throws {
        let sequence = PreTokenization(pattern: .regexes([try RegexSplitter(#"\p{N}{1,3}"#), try RegexSplitter(#" ?\p{L}+|\s+"#)]))
        #expect(sequence.split("abc 12345 de") == ["abc", " ", "123", "45", " de"])
    }

    @Test func aPatternThatDoesNotCompileIsATypedError() {
        expectCortexError(["pre-tokenizer pattern", "(unclosed"]) { _ = try RegexSplitter("(unclosed") }
    }
}
