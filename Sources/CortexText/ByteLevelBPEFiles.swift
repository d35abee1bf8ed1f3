import CortexCore
import Foundation

/// Reading and writing byte-level BPE tokenizers in the three common file forms: Hugging Face's
/// `tokenizer.json`, Hugging Face's `vocab.json` + `merges.txt`, and OpenAI's `encoder.json` +
/// `vocab.bpe` (the same contents under other names).
extension ByteLevelBPETokenizer {
    /// Loads from a directory holding `tokenizer.json`, `vocab.json` + `merges.txt` or
    /// `encoder.json` + `vocab.bpe` (looked for in that order).
    public static func load(directory: String) throws -> ByteLevelBPETokenizer {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let files = FileManager.default
        if files.fileExists(atPath: path("tokenizer.json")) { return try load(tokenizerJSON: path("tokenizer.json")) }
        for (vocabulary, merges) in [("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")]
        where files.fileExists(atPath: path(vocabulary)) && files.fileExists(atPath: path(merges)) {
            return try load(vocabulary: path(vocabulary), merges: path(merges))
        }
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CortexError.io(path: directory, reason: "tokenizer directory does not exist")
        }
        throw CortexError.io(path: directory, reason: "holds none of tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe")
    }

    /// Loads a JSON vocabulary (`{"token": id, ...}`) and a merges file (one "left right" pair
    /// per line after an optional `#version` line).
    public static func load(vocabulary vocabularyPath: String, merges mergesPath: String) throws -> ByteLevelBPETokenizer {
        let vocabulary = try readVocabulary(try TokenizerFiles.readJSON(vocabularyPath), path: vocabularyPath)
        guard let data = FileManager.default.contents(atPath: mergesPath) else { throw CortexError.io(path: mergesPath, reason: "cannot be read") }
        var merges: [(String, String)] = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.hasSuffix("\r") ? line.dropLast() : line
            if text.isEmpty || (number == 0 && text.hasPrefix("#version")) { continue }
            guard let rule = mergeRule(text), !rule.0.isEmpty, !rule.1.isEmpty else {
                throw CortexError.invalidFile(path: mergesPath, reason: "line \(number + 1) is not two tokens separated by one space: \(String(text).debugDescription)")
            }
            merges.append(rule)
        }
        return try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: merges, source: mergesPath)
    }

    /// Loads Hugging Face's `tokenizer.json` (a BPE model; merges as "a b" strings or [a, b]
    /// pairs; added tokens become special tokens).
    public static func load(tokenizerJSON path: String) throws -> ByteLevelBPETokenizer {
        guard let root = try TokenizerFiles.readJSON(path) as? [String: Any] else { throw CortexError.invalidFile(path: path, reason: "no \"model\" object") }
        return try load(tokenizerJSON: root, path: path)
    }

    /// A parsed tokenizer.json's byte-level BPE (`path` names it in errors).
    static func load(tokenizerJSON root: [String: Any], path: String) throws -> ByteLevelBPETokenizer {
        guard let model = root["model"] as? [String: Any] else {
            throw CortexError.invalidFile(path: path, reason: "no \"model\" object")
        }
        if let type = model["type"] as? String, type != "BPE" {
            throw CortexError.invalidFile(path: path, reason: "model type \(type) is not BPE")
        }
        let vocabulary = try readVocabulary(model["vocab"] as Any, path: path)
        guard let rawMerges = model["merges"] as? [Any] else { throw CortexError.invalidFile(path: path, reason: "model has no \"merges\" array") }
        let merges = try readMerges(rawMerges, path: path)
        var specials: [String: Int] = [:]
        for case let token as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            if let content = token["content"] as? String, let id = token["id"] as? Int { specials[content] = id }
        }
        return try ByteLevelBPETokenizer(vocabulary: vocabulary, merges: merges, specialTokens: specials,
                                         preTokenization: try declaredPreTokenization(root["pre_tokenizer"], path: path),
                                         ignoresMerges: (root["model"] as? [String: Any])?["ignore_merges"] as? Bool ?? false, source: path)
    }

    /// The pre-tokenization a tokenizer.json declares: Punctuation(contiguous) and Digits,
    /// Split patterns (isolated; GPT-2's and Llama 3's run by the hand-written scanners, any
    /// other by ``RegexSplitter``) and ByteLevel (GPT-2's pattern when `use_regex`), then
    /// Digits and Split `[0-9][0-9][0-9]` after ByteLevel (Falcon's). Anything else is refused
    /// by name.
    static func declaredPreTokenization(_ object: Any?, path: String) throws -> PreTokenization {
        guard let object = object as? [String: Any] else { return .gpt2 }
        var result = PreTokenization.gpt2
        let parts = TokenizerFiles.steps(object, listedUnder: "pretokenizers")
        var afterByteLevel = false
        var patterns: [String] = []
        for part in parts {
            switch part["type"] as? String {
            case "ByteLevel" where !afterByteLevel:
                afterByteLevel = true
                if part["use_regex"] as? Bool ?? true { patterns.append(GPT2PreTokenizer.pattern) }
            case "Punctuation" where !afterByteLevel:
                guard (part["behavior"] as? String ?? "Isolated").lowercased() == "contiguous" else {
                    throw CortexError.invalidFile(path: path, reason: "Punctuation pre-tokenizer behavior \(part["behavior"] ?? "?") is not supported (contiguous is)")
                }
                result.isolatePunctuationRuns = true
            case "Digits":
                let individually = part["individual_digits"] as? Bool ?? false
                if !afterByteLevel {
                    if individually { result.isolateDigits = true } else { result.isolateDigitRuns = true }
                } else if !individually {
                    result.isolateMappedDigitRuns = true
                } else {
                    throw CortexError.invalidFile(path: path, reason: "Digits(individual_digits: true) after ByteLevel is not supported")
                }
            case "Split":
                let pattern = (part["pattern"] as? [String: Any]).flatMap { $0["Regex"] as? String ?? ($0["String"] as? String).map(NSRegularExpression.escapedPattern) }
                guard let pattern else { throw CortexError.invalidFile(path: path, reason: "Split pre-tokenizer without a Regex or String pattern") }
                let behavior = part["behavior"] as? String ?? "Isolated"
                guard behavior.lowercased() == "isolated", part["invert"] as? Bool ?? false == false else {
                    throw CortexError.invalidFile(path: path, reason: "Split pre-tokenizer behavior \(behavior)\(part["invert"] as? Bool == true ? " inverted" : "") is not supported (isolated is)")
                }
                if afterByteLevel && pattern == "[0-9][0-9][0-9]" { result.isolateDigitTriples = true } else if !afterByteLevel { patterns.append(pattern) } else {
                    throw CortexError.invalidFile(path: path, reason: "Split pattern \(pattern.debugDescription) after ByteLevel is not supported")
                }
            case let other:
                throw CortexError.invalidFile(path: path, reason: "pre-tokenizer \(other ?? "?")\(afterByteLevel ? " after ByteLevel" : "") is not supported "
                                              + "(ByteLevel, Split, Digits and Punctuation are)")
            }
        }
        switch patterns {
        case [GPT2PreTokenizer.pattern]: result.pattern = .gpt2
        case [Llama3PreTokenizer.pattern]: result.pattern = .llama3
        default:
            do { result.pattern = .regexes(try patterns.map(RegexSplitter.init)) } catch {
                throw CortexError.invalidFile(path: path, reason: "\(error)")
            }
        }
        return result
    }

    /// tokenizer.json's merges: "a b" strings or [a, b] pairs.
    static func readMerges(_ entries: [Any], path: String) throws -> [(String, String)] {
        try entries.enumerated().map { index, entry -> (String, String) in
            if let text = entry as? String {
                if let rule = mergeRule(Substring(text)) { return rule }
            } else if let pair = entry as? [String], pair.count == 2 {
                return (pair[0], pair[1])
            }
            throw CortexError.invalidFile(path: path, reason: "merge \(index + 1) is neither \"a b\" nor [a, b]: \(entry)")
        }
    }

    /// A merge rule written "left right" (merges.txt, tokenizer.json, GGUF metadata), or nil
    /// unless the text is exactly two parts around one space.
    static func mergeRule(_ text: Substring) -> (String, String)? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
    }

    /// Writes `vocab.json` and `merges.txt` (Hugging Face's form) into `directory`, atomically.
    public func save(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var entries = vocabulary
        for (token, id) in specialTokens { entries[token] = id }
        let json = try JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys])
        try AtomicFile.write(to: (directory as NSString).appendingPathComponent("vocab.json")) { handle in
            try json.withUnsafeBytes { try handle.write($0) }
        }
        let text = "#version: 0.2\n" + merges.map { "\($0.0) \($0.1)\n" }.joined()
        try AtomicFile.write(to: (directory as NSString).appendingPathComponent("merges.txt")) { handle in
            try Array(text.utf8).withUnsafeBytes { try handle.write($0) }
        }
    }

    private static func readVocabulary(_ object: Any, path: String) throws -> [String: Int] {
        guard let entries = object as? [String: Any] else { throw CortexError.invalidFile(path: path, reason: "the vocabulary is not a JSON object of token ids") }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(entries.count)
        for (token, value) in entries {
            guard let id = value as? Int else { throw CortexError.invalidFile(path: path, reason: "token \(token.debugDescription) has id \(value), not an integer") }
            vocabulary[token] = id
        }
        return vocabulary
    }
}
