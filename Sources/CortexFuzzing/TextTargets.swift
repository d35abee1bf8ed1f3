import CortexCore
import CortexText
import Foundation

extension FuzzTarget {
    static let textTargets: [FuzzTarget] = [tokenizerJSON, vocabularyAndMerges, encoderAndVocabBPE, vocabularyText, chatTemplate]

    /// What a loaded tokenizer is asked to encode: ASCII, accents, CJK, emoji, digits, special
    /// tokens of the common families, and odd whitespace.
    static let sampleText = "Hello, world! Ça va? 東京 123 4½ 🙂 <|endoftext|> [CLS] <s> </s>\t\r\n  x"

    /// Encodes and decodes through a loaded tokenizer, and decodes ids it never gave.
    static func exercise(_ tokenizer: any Tokenizer) throws {
        let ids = try tokenizer.encode(sampleText)
        _ = try tokenizer.decode(ids)
        try attempt { _ = try tokenizer.decode([0, tokenizer.vocabularySize - 1, tokenizer.vocabularySize, -1]) }
    }

    static let tokenizerJSON = FuzzTarget("tokenizer-json", "Hugging Face tokenizer.json (BPE, Unigram and WordPiece models)", seeds: { sources in
        var seeds: [[UInt8]] = []
        if let bytes = sources.fixture("CortexTextTests/Fixtures/gpt2_tokenizer.json") { seeds.append(bytes) }
        // The SentencePiece-style BPE and Unigram tokenizer.json files inside their fixtures.
        for (fixture, key) in [("character-bpe.json", "tokenizers"), ("unigram.json", "trained_tokenizer")] {
            guard let bytes = sources.fixture("CortexTextTests/Fixtures/" + fixture),
                  let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { continue }
            var document = object[key]
            if key == "tokenizers" { document = (document as? [String: Any])?["llama2"] }
            if let document, let data = try? JSONSerialization.data(withJSONObject: document) { seeds.append(Array(data)) }
        }
        if let bytes = sources.bytes(sources.miniLM + "/tokenizer.json"), let trimmed = trimmedTokenizerJSON(bytes, keeping: 1200) {
            seeds.append(trimmed)
        }
        return seeds
    }, body: { workspace, bytes in
        let path = try workspace.file("tokenizer.json", bytes)
        try attempt { try exercise(try ByteLevelBPETokenizer.load(tokenizerJSON: path)) }
        try attempt { try exercise(try WordPieceTokenizer.load(tokenizerJSON: path)) }
        try attempt { try exercise(try TokenizerFiles.load(tokenizerJSON: path)) }
        try attempt { try exercise(try CharacterBPETokenizer.load(tokenizerJSON: path)) }
        try attempt { try exercise(try UnigramTokenizer.load(tokenizerJSON: path)) }
    })

    static let vocabularyAndMerges = bpeFiles("vocab-merges", "vocab.json + merges.txt (Hugging Face's byte-level BPE files)",
                                              vocabulary: "vocab.json", merges: "merges.txt")
    static let encoderAndVocabBPE = bpeFiles("encoder-bpe", "encoder.json + vocab.bpe (OpenAI's GPT-2 files)",
                                             vocabulary: "encoder.json", merges: "vocab.bpe")

    /// A byte-level BPE vocabulary and merges file under the given names, seeded from the real
    /// GPT-2 files of that name, and loaded as a directory (the way users load them).
    static func bpeFiles(_ name: String, _ summary: String, vocabulary: String, merges: String) -> FuzzTarget {
        FuzzTarget(name, summary, seeds: { sources in
            guard let vocabularyBytes = sources.data("gpt2-tokenizer/" + vocabulary), let mergesBytes = sources.data("gpt2-tokenizer/" + merges),
                  let trimmed = trimmedBPE(vocabularyBytes, mergesBytes, keeping: 600) else { return [] }
            return [joined([trimmed.vocabulary, trimmed.merges])]
        }, body: { workspace, bytes in
            let files = parts(bytes, count: 2)
            let directory = try workspace.emptyDirectory(name)
            try workspace.file(vocabulary, files[0], in: name)
            try workspace.file(merges, files[1], in: name)
            try exercise(try ByteLevelBPETokenizer.load(directory: directory))
        })
    }

    static let vocabularyText = FuzzTarget("vocab-txt", "WordPiece vocab.txt + tokenizer_config.json (BERT)", seeds: { sources in
        let config = sources.bytes(sources.miniLM + "/tokenizer_config.json") ?? Array(#"{"do_lower_case": true}"#.utf8)
        guard let vocabulary = sources.bytes(sources.miniLM + "/vocab.txt") else {
            return [joined([Array("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\nworld\n,\n!\n".utf8), config])]
        }
        // The special tokens, the unused slots and the first single characters and words.
        return [joined([SeedSources.lines(vocabulary, 1400), config])]
    }, body: { workspace, bytes in
        let files = parts(bytes, count: 2)
        let directory = try workspace.emptyDirectory("vocab-txt")
        try workspace.file("vocab.txt", files[0], in: "vocab-txt")
        if !files[1].isEmpty { try workspace.file("tokenizer_config.json", files[1], in: "vocab-txt") }
        try exercise(try WordPieceTokenizer.load(directory: directory))
    })

    static let chatTemplate = FuzzTarget("chat-template", "a Jinja chat template, parsed and rendered", seeds: { sources in
        var seeds: [[UInt8]] = []
        if let file = try? GGUF.load(sources.smolLM2), let template = try? file.string("tokenizer.chat_template") {
            seeds.append(Array(template.utf8))
        }
        seeds.append(Array("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}".utf8))
        seeds.append(Array("{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}".utf8))
        return seeds
    }, body: { _, bytes in
        // The engine's typed errors (syntax with line and column, the template's own
        // raise_exception, a bound reached) are its refusals.
        do {
            let template = try ChatTemplate(jinja: String(decoding: bytes, as: UTF8.self))
            _ = try template.render([.init(role: "system", content: "Be brief."), .init(role: "user", content: FuzzTarget.sampleText)])
            _ = try template.render([.init(role: "user", content: "")], addGenerationPrompt: false)
        } catch let error as JinjaError {
            throw CortexError.invalidArgument(operation: "chat template", reason: error.description)
        }
    })

    /// A tokenizer.json cut to the tokens with ids below `keeping` (and the merges among them).
    static func trimmedTokenizerJSON(_ bytes: [UInt8], keeping: Int) -> [UInt8]? {
        guard var root = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
              var model = root["model"] as? [String: Any], let vocabulary = model["vocab"] as? [String: Int] else { return nil }
        let kept = vocabulary.filter { $0.value < keeping }
        model["vocab"] = kept
        if let merges = model["merges"] as? [String] {
            model["merges"] = merges.filter { rule in rule.split(separator: " ").allSatisfy { kept[String($0)] != nil } }
        }
        root["model"] = model
        if let added = root["added_tokens"] as? [[String: Any]] {
            root["added_tokens"] = added.filter { ($0["id"] as? Int ?? .max) < keeping }
        }
        return (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])).map { [UInt8]($0) }
    }

    /// A BPE vocabulary JSON and merges file cut to ids below `keeping` and the merges whose
    /// parts and result are all kept.
    static func trimmedBPE(_ vocabularyBytes: [UInt8], _ mergesBytes: [UInt8], keeping: Int) -> (vocabulary: [UInt8], merges: [UInt8])? {
        guard let vocabulary = (try? JSONSerialization.jsonObject(with: Data(vocabularyBytes))) as? [String: Int] else { return nil }
        let kept = vocabulary.filter { $0.value < keeping }
        var merges = "#version: 0.2\n"
        for line in String(decoding: mergesBytes, as: UTF8.self).split(separator: "\n").dropFirst() {
            let pair = line.split(separator: " ")
            if pair.count == 2, kept[String(pair[0])] != nil, kept[String(pair[1])] != nil, kept[String(pair[0] + pair[1])] != nil {
                merges += line + "\n"
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]) else { return nil }
        return ([UInt8](data), Array(merges.utf8))
    }
}
