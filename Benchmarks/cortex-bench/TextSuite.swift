import ArgumentParser
import CortexText
import Foundation

/// Tokenizer throughput: GPT-2's byte-level BPE over all of tiny Shakespeare (1.1 MB) as one
/// string on one thread, in megabytes of UTF-8 per second, beside Hugging Face's Rust tokenizer.
struct TextSuite: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "text", abstract: "GPT-2 tokenizer encoding speed.")

    @OptionGroup var options: BenchmarkOptions

    func run() throws {
        let data = ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] ?? "../shared/data"
        let corpusPath = data + "/tinyshakespeare/input.txt"
        guard let corpus = try? String(contentsOfFile: corpusPath, encoding: .utf8) else {
            throw ValidationError("no corpus at \(corpusPath) (set CORTEX_DATA_DIR)")
        }
        let reference = PyTorchReference.run(suite: "text", repetitions: options.repetitions)
        let megabytes = Double(corpus.utf8.count) / 1e6
        var rows: [BenchmarkRow] = []
        if options.includes("gpt2_encode_shakespeare") {
            // A fresh tokenizer per run: the piece cache starts empty each time, as for a new text.
            let directory = data + "/gpt2-tokenizer"
            let seconds = try medianSeconds(repetitions: max(options.repetitions / 3, 3)) {
                _ = try ByteLevelBPETokenizer.load(directory: directory).encode(corpus)
            }
            let loading = try medianSeconds(repetitions: 3) { _ = try ByteLevelBPETokenizer.load(directory: directory) }
            rows.append(BenchmarkRow(name: "gpt2_encode_shakespeare", cortex: megabytes / (seconds - loading),
                                     reference: reference.figures["gpt2_encode_shakespeare"], unit: "MB/s"))
        }
        BenchmarkReport.print(rows, json: options.json, notes: [reference.note, "One thread; loading the tokenizer files is not counted."])
    }
}
