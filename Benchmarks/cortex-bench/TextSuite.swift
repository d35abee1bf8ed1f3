import ArgumentParser
import CortexCore
import CortexText
import Foundation

/// Tokenizer throughput over all of tiny Shakespeare (1.1 MB) as one string on one thread, in
/// megabytes of UTF-8 per second, beside Hugging Face's Rust tokenizers: GPT-2's byte-level BPE
/// from its vocab.json and merges.txt, and the Llama 3 (byte-level BPE, Llama 3's pattern),
/// Qwen 2 (the same with single digits) and Llama 2 (SentencePiece) vocabularies of llama.cpp's
/// tokenizer suite, which transformers turns into Hugging Face tokenizers from the same GGUF files.
struct TextSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "text", abstract: "Tokenizer encoding speed (GPT-2, Llama 3, Qwen 2, SentencePiece).")

    @OptionGroup var options: BenchmarkOptions

    /// The suite vocabularies measured: row name and llama.cpp's vocabulary name.
    static let suiteVocabularies = [("llama3_encode_shakespeare", "llama-bpe"), ("qwen2_encode_shakespeare", "qwen2"),
                                    ("sentencepiece_encode_shakespeare", "llama-spm")]

    func run() throws {
        let data = ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] ?? "../shared/data"
        let corpusPath = data + "/tinyshakespeare/input.txt"
        guard let corpus = try? String(contentsOfFile: corpusPath, encoding: .utf8) else {
            throw ValidationError("no corpus at \(corpusPath) (set CORTEX_DATA_DIR)")
        }
        let reference = PyTorchReference.run(suite: "text", repetitions: options.repetitions)
        let megabytes = Double(corpus.utf8.count) / 1e6
        var rows: [BenchmarkRow] = []
        var notes = [reference.note]
        /// One encoding's throughput, with a fresh tokenizer per run: the piece cache starts
        /// empty each time, as for a new text (loading is not timed); the median after one warm-up.
        func row(_ name: String, load: () throws -> any Tokenizer) throws {
            var times: [Double] = []
            for _ in 0...max(options.repetitions / 3, 3) {
                let tokenizer = try load()
                times.append(try elapsedSeconds { _ = try tokenizer.encode(corpus) })
            }
            times.removeFirst()
            times.sort()
            rows.append(BenchmarkRow(name: name, cortex: megabytes / times[times.count / 2], reference: reference.figures[name], unit: "MB/s"))
        }
        if options.includes("gpt2_encode_shakespeare") {
            try row("gpt2_encode_shakespeare") { try ByteLevelBPETokenizer.load(directory: data + "/gpt2-tokenizer") }
        }
        let suite = (PretrainedDirectory.root as NSString).appendingPathComponent("llama-cpp-suite/models")
        for (name, vocabulary) in Self.suiteVocabularies where options.includes(name) {
            let path = (suite as NSString).appendingPathComponent("ggml-vocab-\(vocabulary).gguf")
            guard FileManager.default.fileExists(atPath: path) else {
                notes.append("\(name): skipped, \(path) is missing (bash Tools/fetch-pretrained.sh fetches llama.cpp's suite)")
                continue
            }
            let file = try GGUF.load(path)
            try row(name) { try GGUFTokenizer.load(gguf: file) }
        }
        notes.append("One thread, one string; loading the tokenizer files is not counted. The Llama 3, Qwen 2 and SentencePiece rows use llama.cpp's suite vocabularies.")
        BenchmarkReport.print(rows, json: options.json, notes: notes, peer: "hf tokenizers")
    }
}
