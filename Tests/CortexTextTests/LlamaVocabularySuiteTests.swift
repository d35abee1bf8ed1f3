import CortexCore
import CortexTestSupport
import Foundation
import Testing
@testable import CortexText

/// llama.cpp's tokenizer suite (models/ggml-vocab-NAME.gguf with .inp and .out: inputs split by
/// `__ggml_vocab_test__` lines, and the ids Hugging Face's tokenizers give), fetched by
/// Tools/fetch-pretrained.sh from the llama_cpp_python sdist. The vocabularies listed in
/// `exact` (all fifteen vocabularies with inputs) must give every input's ids exactly; any other
/// vocabulary's count is printed.
@Suite struct LlamaVocabularySuiteTests {
    static let directory = (PretrainedDirectory.root as NSString).appendingPathComponent("llama-cpp-suite/models")
    static let exact: Set<String> = ["bert-bge", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gemma-4", "gpt-2", "llama-bpe", "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"]

    /// The suite's inputs and expected ids for one vocabulary.
    static func cases(_ name: String) throws -> [(input: String, ids: [Int])] {
        let base = (directory as NSString).appendingPathComponent("ggml-vocab-\(name).gguf")
        let inputs = try String(contentsOfFile: base + ".inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
        var outputs = try String(contentsOfFile: base + ".out", encoding: .utf8).components(separatedBy: "\n")
        if outputs.last == "" { outputs.removeLast() }
        // The input file ends with a separator line, leaving an empty last piece.
        let texts = inputs.last?.isEmpty == true || inputs.last == "__ggml_vocab_test__\n" ? Array(inputs.dropLast()) : inputs
        return zip(texts, outputs).map { text, line in (text, line.split(separator: " ").compactMap { Int($0) }) }
    }

    @Test func vocabulariesGiveHuggingFacesIds() throws {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: Self.directory)
            .filter({ $0.hasSuffix(".gguf.out") }).map({ String($0.dropFirst("ggml-vocab-".count).dropLast(".gguf.out".count)) }).sorted(),
              !names.isEmpty else {
            print("skipping llama.cpp's tokenizer suite: \(Self.directory) is missing (bash Tools/fetch-pretrained.sh fetches it)")
            return
        }
        for name in names {
            let cases = try Self.cases(name)
            let tokenizer: any Tokenizer
            do {
                tokenizer = try GGUFTokenizer.load(gguf: GGUF.load((Self.directory as NSString).appendingPathComponent("ggml-vocab-\(name).gguf")))
            } catch {
                print("tokenizer suite \(name): refused (\(error))")
                #expect(!Self.exact.contains(name), "\(name): \(error)")
                continue
            }
            var matched = 0
            for (input, ids) in cases {
                // WordPiece's encode wraps the pieces in [CLS] ... [SEP]; the suite has none.
                let got = try (tokenizer as? WordPieceTokenizer)?.pieceIds(input) ?? tokenizer.encode(input)
                if tokenizer is SentencePieceTokenizer || tokenizer is CharacterBPETokenizer, got == ids {
                    // SentencePiece and character-level BPE decode back to the text (spaces, byte fallback and all).
                    #expect(try tokenizer.decode(got) == input, "\(name): \(input.debugDescription) decodes back")
                }
                if got != ids && ProcessInfo.processInfo.environment["CORTEX_SUITE_VERBOSE"] != nil { print("  \(name): \(input.debugDescription) gave \(got), expected \(ids)") }
                if got == ids { matched += 1 } else if Self.exact.contains(name) {
                    Issue.record("\(name): \(input.debugDescription) gave \(got), Hugging Face \(ids)")
                }
            }
            print("tokenizer suite \(name): \(matched)/\(cases.count)")
        }
        // A pre-tokenizer Cortex does not implement is refused by name, not guessed.
        var writer = GGUFWriter()
        writer.copy(from: try GGUF.load((Self.directory as NSString).appendingPathComponent("ggml-vocab-gpt-2.gguf")), prefixes: ["tokenizer."])
        writer.set("tokenizer.ggml.pre", .string("no-such-pre"))
        let unknown = FileManager.default.temporaryDirectory.appendingPathComponent("cortex-unknown-pre-\(UUID().uuidString).gguf").path
        try writer.write(to: unknown)
        defer { try? FileManager.default.removeItem(atPath: unknown) }
        expectCortexError(["tokenizer.ggml.pre \"no-such-pre\"", "does not implement"]) { _ = try GGUFTokenizer.load(gguf: GGUF.load(unknown)) }
    }
}
