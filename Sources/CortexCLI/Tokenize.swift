import ArgumentParser
import CortexCore
import CortexText
import Foundation

/// `cortex tokenize`: token ids of a file or of standard input with a byte-level BPE tokenizer.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text with a GPT-2-style BPE tokenizer.",
        discussion: "The tokenizer directory holds tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe.")

    @Option(help: "Tokenizer directory.") var tokenizer: String
    @Flag(help: "Print one JSON array instead of space-separated ids.") var json = false
    @Argument(help: "Text file to tokenize (standard input when omitted).") var file: String?

    func run() throws {
        let text = try input()
        let ids = try ByteLevelBPETokenizer.load(directory: tokenizer).encode(text)
        let numbers = ids.map(String.init)
        print(json ? "[" + numbers.joined(separator: ", ") + "]" : numbers.joined(separator: " "))
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
