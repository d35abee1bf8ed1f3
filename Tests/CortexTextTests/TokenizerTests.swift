import Foundation
import Testing
import CortexTestSupport
import CortexCore
@testable import CortexText

/// Where the shared data lives: $CORTEX_DATA_DIR, else ../shared/data beside the package.
func sharedData(_ name: String) -> String? {
    var roots: [String] = []
    if let root = ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] { roots.append(root) }
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    roots.append(package.deletingLastPathComponent().appendingPathComponent("shared/data").path)
    return roots.map { ($0 as NSString).appendingPathComponent(name) }.first { FileManager.default.fileExists(atPath: $0) }
}

/// The reference ids written by Tools/make_text_fixtures.py (Hugging Face's GPT-2 tokenizers).
struct GPT2Fixture: Decodable {
    struct Sample: Decodable { var text: String; var ids: [Int] }
    struct Corpus: Decodable { var count: Int; var first: [Int]; var last: [Int]; var sha256_int32_le: String }
    var tinyshakespeare: Corpus
    var samples: [Sample]

    static let shared: GPT2Fixture = {
        let url = Bundle.module.url(forResource: "gpt2_tokenizer", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(GPT2Fixture.self, from: Data(contentsOf: url))
    }()
}

@Suite struct GPT2TokenizerTests {
    static let directory = sharedData("gpt2-tokenizer")
    static let tokenizer: ByteLevelBPETokenizer? = directory.flatMap { try? ByteLevelBPETokenizer.load(directory: $0) }

    @Test func preTokenizerSplitsAsGPT2sPattern() {
        #expect(GPT2PreTokenizer.split("I'm here  now\n\n ok").map { String($0) } == ["I", "'m", " here", " ", " now", "\n\n", " ok"])
        #expect(GPT2PreTokenizer.split("a 'b it's 12ab !? \t x   ").map { String($0) } == ["a", " '", "b", " it", "'s", " 12", "ab", " !?", " \t", " x", "   "])
    }

    @Test func awkwardTextsGiveTheReferenceIds() throws {
        guard let tokenizer = GPT2TokenizerTests.tokenizer else {
            print("skipping: no gpt2-tokenizer directory (set CORTEX_DATA_DIR or provide ../shared/data/gpt2-tokenizer)")
            return
        }
        for sample in GPT2Fixture.shared.samples {
            let ids = try tokenizer.encode(sample.text)
            #expect(ids == sample.ids, "\(sample.text.debugDescription)")
            #expect(try tokenizer.decode(ids) == sample.text)
        }
    }

    @Test func wholeOfTinyShakespeareGivesTheReferenceIds() throws {
        guard let tokenizer = GPT2TokenizerTests.tokenizer, let corpus = sharedData("tinyshakespeare/input.txt") else {
            print("skipping: no gpt2-tokenizer or tinyshakespeare in the shared data")
            return
        }
        let text = try String(contentsOfFile: corpus, encoding: .utf8)
        let ids = try tokenizer.encode(text)
        let reference = GPT2Fixture.shared.tinyshakespeare
        #expect(ids.count == reference.count)
        #expect(Array(ids.prefix(64)) == reference.first && Array(ids.suffix(64)) == reference.last)
        var hash = SHA256()
        ids.map { Int32($0).littleEndian }.withUnsafeBytes { hash.update($0) }
        #expect(hash.finalize().hex == reference.sha256_int32_le)
        #expect(try tokenizer.decode(ids) == text)
    }

    @Test func allThreeFileFormsAgree() throws {
        guard let directory = GPT2TokenizerTests.directory, let tokenizer = GPT2TokenizerTests.tokenizer else { return }
        let openAI = try ByteLevelBPETokenizer.load(vocabulary: directory + "/encoder.json", merges: directory + "/vocab.bpe")
        // tokenizer.json in Hugging Face's layout, built from the same vocabulary and merges.
        let vocabulary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/vocab.json")))
        let merges = tokenizer.merges.prefix(20_000).map { [$0.0, $0.1] } + tokenizer.merges.dropFirst(20_000).map { ["\($0.0) \($0.1)"] }
        let root: [String: Any] = [
            "version": "1.0",
            "added_tokens": [["id": 50256, "content": "<|endoftext|>", "special": true]],
            "model": ["type": "BPE", "vocab": vocabulary, "merges": merges.map { $0.count == 2 ? $0 as Any : $0[0] as Any }],
        ]
        let folder = temporaryDirectory("cortex-tokenizer")
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        let huggingFace = try ByteLevelBPETokenizer.load(directory: folder)
        for sample in GPT2Fixture.shared.samples {
            #expect(try openAI.encode(sample.text) == sample.ids)
            #expect(try huggingFace.encode(sample.text) == sample.ids)
        }
    }

    @Test func damagedFilesAreTypedErrors() throws {
        let folder = temporaryDirectory("cortex-tokenizer")
        func expectError(_ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
            expectCortexError([fragment], sourceLocation: sourceLocation, body)
        }
        let byteTokens = (0..<256).map { String(ByteLevelBPETokenizer.byteToScalar[$0]) }
        var vocabulary = Dictionary(uniqueKeysWithValues: byteTokens.enumerated().map { ($1, $0) })
        vocabulary["ab"] = 256
        try JSONSerialization.data(withJSONObject: vocabulary).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
        try "#version: 0.2\na b\nq zz\n".write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
        expectError("merge 2 \"q zz\"") { _ = try ByteLevelBPETokenizer.load(directory: folder) }
        try "#version: 0.2\na b c\n".write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
        expectError("line 2") { _ = try ByteLevelBPETokenizer.load(directory: folder) }
        try "{not json".write(toFile: folder + "/vocab.json", atomically: true, encoding: .utf8)
        expectError("not valid JSON") { _ = try ByteLevelBPETokenizer.load(directory: folder) }
        expectError("holds none") { _ = try ByteLevelBPETokenizer.load(directory: NSTemporaryDirectory()) }
        expectError("does not exist") { _ = try ByteLevelBPETokenizer.load(directory: folder + "/absent") }
        // A byte without a token is dropped after merging (Hugging Face's BPE without an
        // unknown token): "a" missing leaves "b" of "ab" and stops "a b" merging across it.
        vocabulary["a"] = nil
        try JSONSerialization.data(withJSONObject: vocabulary).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
        try "#version: 0.2\n".write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
        #expect(try ByteLevelBPETokenizer.load(directory: folder).encode("bab") == [Int(UInt8(ascii: "b")), Int(UInt8(ascii: "b"))])
        try JSONSerialization.data(withJSONObject: ["ab": 0]).write(to: URL(fileURLWithPath: folder + "/vocab.json"))
        expectError("no byte tokens") { _ = try ByteLevelBPETokenizer.load(directory: folder) }
    }
}

@Suite struct TrainedTokenizerTests {
    static let corpus = """
        First Citizen:
        Before we proceed any further, hear me speak.

        All:
        Speak, speak.

        First Citizen:
        You are all resolved rather to die than to famish?

        All:
        Resolved. resolved.

        First Citizen:
        First, you know Caius Marcius is chief enemy to the people.
        """

    @Test func trainingLearnsMergesThatRoundTrip() throws {
        let tokenizer = try BPETrainer.train(corpus: TrainedTokenizerTests.corpus, vocabularySize: 300, specialTokens: ["<|endoftext|>"])
        #expect(tokenizer.vocabularySize <= 300)
        #expect(tokenizer.merges.count > 10)
        let text = "First Citizen: resolved to speak<|endoftext|>Zebra? ünïcödé 😀"
        let ids = try tokenizer.encode(text)
        #expect(try tokenizer.decode(ids) == text)
        #expect(ids.contains(tokenizer.specialTokens["<|endoftext|>"]!))
        #expect(try tokenizer.encode("First Citizen").count < "First Citizen".utf8.count)
        // Deterministic, and saved files load back to the same tokenizer.
        let again = try BPETrainer.train(corpus: TrainedTokenizerTests.corpus, vocabularySize: 300, specialTokens: ["<|endoftext|>"])
        #expect(again.merges.map { $0.0 + " " + $0.1 } == tokenizer.merges.map { $0.0 + " " + $0.1 })
        let folder = NSTemporaryDirectory() + "cortex-trained-\(UUID().uuidString)"
        try tokenizer.save(directory: folder)
        let loaded = try ByteLevelBPETokenizer.load(directory: folder)
        #expect(try loaded.encode(text) == ids)
        #expect(throws: CortexError.self) { try BPETrainer.train(corpus: "x", vocabularySize: 100) }
    }

    @Test func characterTokenizer() throws {
        let tokenizer = CharacterTokenizer(corpus: "hello world")
        #expect(tokenizer.vocabularySize == 8)
        let ids = try tokenizer.encode("low hell")
        #expect(try tokenizer.decode(ids) == "low hell")
        #expect(throws: CortexError.self) { try tokenizer.encode("hex") }
        #expect(throws: CortexError.self) { try tokenizer.decode([8]) }
        let path = NSTemporaryDirectory() + "cortex-characters-\(UUID().uuidString).json"
        try tokenizer.save(to: path)
        #expect(try CharacterTokenizer.load(from: path) == tokenizer)
    }
}

/// Pre-tokenizers against Hugging Face tokenizers (Tools/make_pretokenizer_fixtures.py):
/// Llama 3's pattern, and GPT-2's after isolating digits (SmolLM's tokenizer.json).
@Suite struct PreTokenizerTests {
    struct Case: Decodable { let text: String; let llama3: [String]; let digits_gpt2: [String] }

    @Test func piecesMatchHuggingFace() throws {
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("pretokenizers.json")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
        for item in cases {
            #expect(PreTokenization.llama3.split(item.text) == item.llama3, "\(item.text.debugDescription)")
            #expect(PreTokenization(pattern: .gpt2, isolateDigits: true).split(item.text) == item.digits_gpt2, "\(item.text.debugDescription)")
            #expect(Llama3PreTokenizer.split(item.text).map(String.init).joined() == item.text)
        }
    }

    /// A vocabulary whose merges name tokens it does not have is refused, naming the merge.
    @Test func mergesOutsideTheVocabularyAreRefused() {
        expectCortexError(["merge 2", "\"a z\"", "outside the vocabulary"]) {
            _ = try ByteLevelBPETokenizer(vocabulary: ["a": 0, "b": 1, "ab": 2], merges: [("a", "b"), ("a", "z")])
        }
    }

    @Test func tokenizerJSONDeclaresItsPreTokenization() throws {
        func parse(_ json: String) throws -> PreTokenization {
            try ByteLevelBPETokenizer.declaredPreTokenization(try JSONSerialization.jsonObject(with: Data(json.utf8)), path: "tokenizer.json")
        }
        #expect(try parse(#"{"type": "ByteLevel", "use_regex": true}"#) == .gpt2)
        #expect(try parse(#"{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel"}]}"#)
                == PreTokenization(pattern: .gpt2, isolateDigits: true))
        let llama3 = try JSONSerialization.data(withJSONObject: ["type": "Sequence", "pretokenizers": [
            ["type": "Split", "pattern": ["Regex": Llama3PreTokenizer.pattern], "behavior": "Isolated"], ["type": "ByteLevel", "use_regex": false]]])
        #expect(try parse(String(decoding: llama3, as: UTF8.self)) == .llama3)
        #expect(try parse(#"{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": false}, {"type": "ByteLevel"}]}"#)
                == PreTokenization(pattern: .gpt2, isolateDigitRuns: true))
        // Falcon's tokenizer.json.
        #expect(try parse(#"{"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "Contiguous"}, {"type": "ByteLevel", "use_regex": true}, "#
                          + #"{"type": "Digits", "individual_digits": false}, {"type": "Split", "pattern": {"Regex": "[0-9][0-9][0-9]"}, "behavior": "Isolated"}]}"#)
                == .falcon)
        // Any other Split pattern runs as a regular expression; other behaviors are refused by name.
        #expect(try parse(#"{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}"#) == PreTokenization(pattern: .regexes([try RegexSplitter(#"\w+"#)])))
        expectCortexError(["behavior Removed"]) { _ = try parse(#"{"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed"}"#) }
        expectCortexError(["does not compile"]) { _ = try parse(#"{"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}"#) }
        #expect(throws: CortexError.self) { try parse(#"{"type": "Metaspace"}"#) }
    }
}
