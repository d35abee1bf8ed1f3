import ArgumentParser
import CortexCore
import CortexText
import Foundation

/// `cortex tokenize`: token ids of a file or of standard input with a model's tokenizer.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text with a model's tokenizer.",
        discussion: """
            TOKENIZER is a directory (tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe or vocab.txt), \
            a tokenizer.json file (byte-level BPE, SentencePiece-style BPE, Unigram or WordPiece), or a GGUF file (a model or a \
            vocabulary-only file: byte-level BPE, SentencePiece, WordPiece, Unigram \
            or Gemma 4's character-level BPE).
            """)

    @Option(help: "Tokenizer directory, tokenizer.json or GGUF file.") var tokenizer: String
    @Flag(help: "Print one JSON array instead of space-separated ids.") var json = false
    @Argument(help: "Text file to tokenize (standard input when omitted).") var file: String?

    func run() throws {
        // The tokenizer first, so a bad one is reported before standard input is read.
        let loaded = try Self.load(tokenizer)
        let ids = try loaded.encode(try input())
        let numbers = ids.map(String.init)
        print(json ? "[" + numbers.joined(separator: ", ") + "]" : numbers.joined(separator: " "))
    }

    /// The tokenizer at `path`: a GGUF file's, a tokenizer.json's, or a directory's files'.
    static func load(_ path: String) throws -> any Tokenizer {
        try TokenizerFiles.load(path)
    }

    func input() throws -> String {
        let data: Data
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else { throw CortexError.io(path: file, reason: "cannot be read") }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CortexError.invalidFile(path: file ?? "standard input", reason: "is not valid UTF-8")
        }
        return text
    }
}
