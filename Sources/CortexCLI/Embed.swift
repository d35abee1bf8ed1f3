import ArgumentParser
import CortexCore
import CortexModels
import Foundation

/// Options shared by `cortex embed` and `cortex similarity`: the model and the sentences
/// (arguments, or one per line of standard input).
struct EmbeddingOptions: ParsableArguments {
    @Option(help: "Sentence-transformers or BERT directory (config.json, model.safetensors, vocab.txt or tokenizer.json), or all-minilm-l6-v2.")
    var model: String
    @Option(name: .customLong("batch-size"), help: "Sentences per forward pass.") var batchSize = 32
    @Argument(help: "Sentences (one per line of standard input when none is given).") var sentences: [String] = []

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
    }

    func embed() throws -> (sentences: [String], embeddings: [[Float]]) {
        var texts = sentences
        if texts.isEmpty {
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            texts = input.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            if texts.last == "" { texts.removeLast() }
        }
        let directory = PretrainedModels.path(named: model) ?? model
        let embedder = try SentenceEmbedder.load(directory: directory)
        let matrix = try embedder.embed(texts, batchSize: batchSize)
        let values = try matrix.toFloatArray()
        return (texts, (0..<texts.count).map { Array(values[($0 * embedder.dimension)..<(($0 + 1) * embedder.dimension)]) })
    }
}

/// `cortex embed`: one sentence embedding per line.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print sentence embeddings (mean-pooled, normalised BERT states, as sentence-transformers), one per line.")

    @OptionGroup var options: EmbeddingOptions
    @Flag(help: "Print each embedding as a JSON array.") var json = false

    func run() throws {
        for embedding in try options.embed().embeddings {
            print(json ? "[" + embedding.map { "\($0)" }.joined(separator: ",") + "]" : embedding.map { "\($0)" }.joined(separator: " "))
        }
    }
}

/// `cortex similarity`: cosine similarities of sentence embeddings.
struct Similarity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print cosine similarities between sentences: one number for two, else a matrix (row i: sentence i against each).")

    @OptionGroup var options: EmbeddingOptions
    @Flag(help: "Print a JSON array of rows.") var json = false

    func run() throws {
        let (sentences, embeddings) = try options.embed()
        guard sentences.count >= 2 else { throw ValidationError("similarity needs at least two sentences, got \(sentences.count)") }
        let dimension = embeddings[0].count
        let matrix = try Tensor(embeddings.flatMap { $0 }, shape: [sentences.count, dimension])
        let similarities = try SentenceEmbedder.cosineSimilarity(matrix, matrix).toFloatArray()
        let rows = (0..<sentences.count).map { Array(similarities[($0 * sentences.count)..<(($0 + 1) * sentences.count)]) }
        if json {
            print("[" + rows.map { "[" + $0.map { String(format: "%.6f", $0) }.joined(separator: ",") + "]" }.joined(separator: ",") + "]")
        } else if sentences.count == 2 {
            print(String(format: "%.6f", rows[0][1]))
        } else {
            for row in rows { print(row.map { String(format: "%.4f", $0) }.joined(separator: " ")) }
        }
    }
}
