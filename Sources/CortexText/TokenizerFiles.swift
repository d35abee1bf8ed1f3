import CortexCore
import Foundation

extension CharacterBPETokenizer {
    /// Loads Hugging Face's `tokenizer.json` for a BPE model over characters (Llama 2, Mistral,
    /// TinyLlama, Gemma): `byte_fallback` with `<0xNN>` byte tokens, spaces as "▁" by the
    /// normalizer (Prepend("▁") + Replace(" ", "▁")) or by the Metaspace pre-tokenizer
    /// (prepend_scheme "always", "first" or "never"; split or not). Added tokens are matched
    /// whole; the unknown token stands for what bytes cannot cover.
    public static func load(tokenizerJSON path: String) throws -> CharacterBPETokenizer {
        try load(tokenizerJSON: try TokenizerFiles.readObject(path), path: path)
    }

    /// A parsed tokenizer.json's character-level BPE (`path` names it in errors).
    static func load(tokenizerJSON root: [String: Any], path: String) throws -> CharacterBPETokenizer {
        guard let model = root["model"] as? [String: Any], model["type"] as? String ?? "BPE" == "BPE",
              let rawVocabulary = model["vocab"] as? [String: Any] else {
            throw CortexError.invalidFile(path: path, reason: "not a tokenizer.json with a BPE model and its vocabulary")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key] as? String, !affix.isEmpty {
                throw CortexError.invalidFile(path: path, reason: "BPE \(key) \(affix.debugDescription) is not supported")
            }
        }
        var tokens: [String] = []
        for (token, value) in rawVocabulary {
            guard let id = value as? Int, id >= 0 else { throw CortexError.invalidFile(path: path, reason: "token \(token.debugDescription) has id \(value), not a non-negative integer") }
            if id >= tokens.count { tokens += Array(repeating: "", count: id + 1 - tokens.count) }
            tokens[id] = token
        }
        // Added tokens: control ones ("special") and user-defined ones, both matched whole.
        var types = [Int](repeating: 1, count: tokens.count)
        for case let added as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let content = added["content"] as? String, let id = added["id"] as? Int, id >= 0 else { continue }
            if id >= tokens.count {
                tokens += Array(repeating: "", count: id + 1 - tokens.count)
                types += Array(repeating: 1, count: id + 1 - types.count)
            }
            tokens[id] = content
            types[id] = added["special"] as? Bool ?? true ? 3 : 4
        }
        for (id, token) in tokens.enumerated() where types[id] == 1 && SpaceMarking.byteValue(ofToken: token) != nil { types[id] = 6 }
        if model["byte_fallback"] as? Bool != true { for id in types.indices where types[id] == 6 { types[id] = 1 } }
        let merges = try ByteLevelBPETokenizer.readMerges(model["merges"] as? [Any] ?? [], path: path)
        let (prefix, split) = try spaceHandling(root, path: path)
        let unknown = (model["unk_token"] as? String).flatMap { token in tokens.firstIndex(of: token) }
        return try CharacterBPETokenizer(tokens: tokens, types: types, merges: merges, spacePrefix: prefix, splitsBeforeSpaces: split,
                                         unknownId: unknown, source: path)
    }

    /// How a tokenizer.json makes spaces "▁": the prefix and whether the text is cut before them.
    static func spaceHandling(_ root: [String: Any], path: String) throws -> (SpacePrefix, Bool) {
        var prefix = SpacePrefix.none, replaces = false, split = false
        let normalizers = TokenizerFiles.steps(root["normalizer"], listedUnder: "normalizers")
        for normalizer in normalizers {
            switch normalizer["type"] as? String {
            case "Prepend" where normalizer["prepend"] as? String == "▁": prefix = .unconditional
            case "Replace" where (normalizer["pattern"] as? [String: Any])?["String"] as? String == " " && normalizer["content"] as? String == "▁": replaces = true
            case let other:
                throw CortexError.invalidFile(path: path, reason: "normalizer \(other ?? "?") is not supported for character-level BPE (Prepend(\"▁\") and Replace(\" \", \"▁\") are)")
            }
        }
        if let pre = root["pre_tokenizer"] as? [String: Any] {
            guard pre["type"] as? String == "Metaspace", pre["replacement"] as? String ?? "▁" == "▁" else {
                throw CortexError.invalidFile(path: path, reason: "pre-tokenizer \(pre["type"] ?? "?") is not supported for character-level BPE (Metaspace is)")
            }
            replaces = true
            split = pre["split"] as? Bool ?? true
            switch pre["prepend_scheme"] as? String ?? ((pre["add_prefix_space"] as? Bool ?? true) ? "always" : "never") {
            case "always": prefix = .always
            case "first": prefix = .first
            case "never": break
            case let other: throw CortexError.invalidFile(path: path, reason: "Metaspace prepend_scheme \(other.debugDescription) is not always, first or never")
            }
        }
        guard replaces else { throw CortexError.invalidFile(path: path, reason: "character-level BPE without spaces made \"▁\" (no Replace normalizer or Metaspace)") }
        return (prefix, split)
    }
}

extension UnigramTokenizer {
    /// Loads Hugging Face's `tokenizer.json` for a Unigram model (T5, ALBERT, XLM-RoBERTa):
    /// `[piece, score]` pairs, `unk_id` and `byte_fallback`; the normalizer's Precompiled
    /// charsmap (base64) and Replace(" {2,}", " "); the Metaspace pre-tokenizer, alone or after
    /// WhitespaceSplit (T5's). Added tokens are
    /// matched whole. Other normalizers and pre-tokenizers are refused by name.
    public static func load(tokenizerJSON path: String) throws -> UnigramTokenizer {
        try load(tokenizerJSON: try TokenizerFiles.readObject(path), path: path)
    }

    /// A parsed tokenizer.json's Unigram (`path` names it in errors).
    static func load(tokenizerJSON root: [String: Any], path: String) throws -> UnigramTokenizer {
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "Unigram", let vocabulary = model["vocab"] as? [Any] else {
            throw CortexError.invalidFile(path: path, reason: "not a tokenizer.json with a Unigram model and its vocabulary")
        }
        var pieces: [String] = [], scores: [Double] = []
        for (index, entry) in vocabulary.enumerated() {
            guard let pair = entry as? [Any], pair.count == 2, let piece = pair[0] as? String, let score = (pair[1] as? NSNumber)?.doubleValue else {
                throw CortexError.invalidFile(path: path, reason: "vocabulary entry \(index) is not [piece, score]: \(entry)")
            }
            pieces.append(piece)
            scores.append(score)
        }
        var types = [Int](repeating: 1, count: pieces.count)
        for case let added as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let content = added["content"] as? String, let id = added["id"] as? Int, pieces.indices.contains(id), pieces[id] == content else { continue }
            types[id] = added["special"] as? Bool ?? true ? 3 : 4
        }
        var charsmap: PrecompiledCharsmap?, collapses = false
        let normalizers = TokenizerFiles.steps(root["normalizer"], listedUnder: "normalizers")
        for normalizer in normalizers {
            switch normalizer["type"] as? String {
            case "Precompiled":
                guard let encoded = normalizer["precompiled_charsmap"] as? String, let blob = Data(base64Encoded: encoded) else {
                    throw CortexError.invalidFile(path: path, reason: "Precompiled normalizer without a base64 precompiled_charsmap")
                }
                if !blob.isEmpty { charsmap = try PrecompiledCharsmap(Array(blob), source: path) }
            case "Replace" where (normalizer["pattern"] as? [String: Any])?["Regex"] as? String == " {2,}" && normalizer["content"] as? String == " ":
                collapses = true
            case let other:
                throw CortexError.invalidFile(path: path, reason: "normalizer \(other ?? "?") is not supported for Unigram (Precompiled and Replace(\" {2,}\", \" \") are)")
            }
        }
        var prefix = CharacterBPETokenizer.SpacePrefix.always, split = true, words = false
        if var pre = root["pre_tokenizer"] as? [String: Any] {
            // T5's: WhitespaceSplit, then Metaspace.
            if pre["type"] as? String == "Sequence", let parts = pre["pretokenizers"] as? [[String: Any]], parts.count == 2,
               parts[0]["type"] as? String == "WhitespaceSplit" {
                words = true
                pre = parts[1]
            }
            guard pre["type"] as? String == "Metaspace" else {
                throw CortexError.invalidFile(path: path, reason: "pre-tokenizer \(pre["type"] ?? "?") is not supported for Unigram (Metaspace, after WhitespaceSplit or alone, is)")
            }
            (prefix, split) = try CharacterBPETokenizer.spaceHandling(["pre_tokenizer": pre], path: path)
        }
        return try UnigramTokenizer(pieces: pieces, scores: scores, types: types, unknownId: model["unk_id"] as? Int ?? 0,
                                    byteFallback: model["byte_fallback"] as? Bool ?? false, charsmap: charsmap, collapsesSpaces: collapses,
                                    spacePrefix: prefix, splitsBeforeSpaces: split, splitsOnWhitespace: words, source: path)
    }
}

/// A tokenizer from whichever files hold it: a GGUF file's metadata, a tokenizer.json (byte-level
/// BPE, character-level BPE, Unigram or WordPiece, told apart by its model and pre-tokenizer), or a
/// directory with tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe or vocab.txt.
///
/// ```swift
/// let tokenizer = try TokenizerFiles.load("TinyLlama-1.1B-Chat-v1.0")   // its tokenizer.json
/// ```
public enum TokenizerFiles {
    public static func load(_ path: String) throws -> any Tokenizer {
        if path.hasSuffix(".gguf") { return try GGUFTokenizer.load(gguf: GGUF.load(path)) }
        if path.hasSuffix(".json") { return try load(tokenizerJSON: path) }
        let json = (path as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) { return try load(tokenizerJSON: json) }
        if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("vocab.txt")) { return try WordPieceTokenizer.load(directory: path) }
        return try ByteLevelBPETokenizer.load(directory: path)
    }

    /// A tokenizer.json's tokenizer (the file read once): WordPiece for a WordPiece model,
    /// Unigram for a Unigram model; byte-level BPE where the pre-tokenizer or decoder is (or
    /// holds) ByteLevel; character-level BPE otherwise.
    public static func load(tokenizerJSON path: String) throws -> any Tokenizer {
        let root = try readObject(path)
        let model = root["model"] as? [String: Any] ?? [:]
        switch model["type"] as? String ?? "BPE" {
        case "WordPiece": return try WordPieceTokenizer.load(tokenizerJSON: root, path: path)
        case "Unigram": return try UnigramTokenizer.load(tokenizerJSON: root, path: path)
        case "BPE":
            if holdsByteLevel(root["pre_tokenizer"]) || holdsByteLevel(root["decoder"]) { return try ByteLevelBPETokenizer.load(tokenizerJSON: root, path: path) }
            return try CharacterBPETokenizer.load(tokenizerJSON: root, path: path)
        case let other: throw CortexError.invalidFile(path: path, reason: "model type \(other) is not supported (BPE, Unigram and WordPiece are)")
        }
    }

    /// The steps of a normalizer or pre-tokenizer: a Sequence's list (under `key`), the one
    /// step itself, or none.
    static func steps(_ component: Any?, listedUnder key: String) -> [[String: Any]] {
        guard let component = component as? [String: Any] else { return [] }
        return component["type"] as? String == "Sequence" ? component[key] as? [[String: Any]] ?? [] : [component]
    }

    /// Whether a pre-tokenizer or decoder is ByteLevel, or a Sequence holding one.
    static func holdsByteLevel(_ component: Any?) -> Bool {
        guard let component = component as? [String: Any] else { return false }
        if component["type"] as? String == "ByteLevel" { return true }
        let parts = (component["pretokenizers"] as? [Any] ?? []) + (component["decoders"] as? [Any] ?? [])
        return parts.contains(where: holdsByteLevel)
    }

    /// A JSON file's contents.
    static func readJSON(_ path: String) throws -> Any {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        do { return try JSONSerialization.jsonObject(with: data) } catch {
            throw CortexError.invalidFile(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
    }

    /// A JSON file whose contents are an object.
    static func readObject(_ path: String) throws -> [String: Any] {
        guard let object = try readJSON(path) as? [String: Any] else { throw CortexError.invalidFile(path: path, reason: "not a JSON object") }
        return object
    }
}
