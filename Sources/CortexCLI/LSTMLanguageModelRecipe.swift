import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexText
import Foundation

/// `cortex train lstm-lm`: a word-level LSTM language model (vocabulary 10,000, embedding 128,
/// hidden 256) on tiny Shakespeare (90% training, 10% validation), trained on windows of 35
/// words with Adam, gradient clipping at 1 and a cosine-decayed learning rate, reporting
/// validation perplexity. --epochs counts passes over the training tokens (default 3).
enum LSTMLanguageModelRecipe {
    static let window = 35

    static func run(_ options: RecipeOptions) throws -> RecipeResult {
        let directory = try DataDirectory.locate("tinyshakespeare", explicit: options.dataDirectory)
        let path = (directory as NSString).appendingPathComponent("input.txt")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CortexError.io(path: path, reason: "cannot be read as UTF-8 text") }
        let words = WordTokenizer(corpus: text, vocabularySize: 10_000)
        let (train, validation) = TokenSequence(try words.encode(text)).split(trainingFraction: 1 - options.controls.validationSplit)
        let generator = RandomGenerator(seed: options.seed)
        let model = LSTMLanguageModel(vocabularySize: words.vocabularySize, embeddingSize: 128, hiddenSize: 256, generator: generator)
        let optimizer = try Recipes.makeOptimizer(options, model.parameters(), defaultRate: options.optimizer == "sgd" ? 1 : 3e-3)
        let parallel = options.parallel
        let dataParallel = try parallel.wrap(model, globalBatch: options.batchSize)
        let stepsPerEpoch = max(train.count / (options.batchSize * window), 1)
        let steps = stepsPerEpoch * options.epochs
        let rate = optimizer.learningRates[0]
        func perplexity(_ sequence: TokenSequence) throws -> (loss: Float, perplexity: Double) {
            model.eval()
            defer { model.train() }
            // Consecutive windows over the whole sequence.
            let offsets = Array(stride(from: 0, to: sequence.count - window - 1, by: window))
            var total: Double = 0, windows = 0
            try withNoGrad {
                for start in stride(from: 0, to: offsets.count, by: 64) {
                    let batchOffsets = Array(offsets[start..<min(start + 64, offsets.count)])
                    let (x, y) = try sequence.batch(offsets: batchOffsets, length: window)
                    total += Double(try model.loss(x, targets: y).item()) * Double(batchOffsets.count)
                    windows += batchOffsets.count
                }
            }
            let loss = Float(total / Double(max(windows, 1)))
            return (loss, Foundation.exp(Double(loss)))
        }
        if options.reports {
            print("lstm-lm: vocabulary \(words.vocabularySize), \(model.parameterCount()) parameters, \(train.count) training words, "
                  + "\(steps) steps of \(options.batchSize) x \(window)" + (parallel.isDistributed ? " on \(parallel.size) ranks" : ""))
        }
        let start = Date()
        var runningLoss: Float = 0, runningCount = 0
        var last: (loss: Float, perplexity: Double) = (.nan, .nan)
        for step in 0..<steps {
            optimizer.learningRates = [rate * Float(0.5 * (1 + Foundation.cos(Double.pi * Double(step) / Double(steps))))]
            let (x, y) = try parallel.randomBatch(train, global: options.batchSize, length: window, generator: generator)
            optimizer.zeroGrad()
            let loss = try model.loss(x, targets: y)
            try loss.backward()
            try GradientClipping.clipNorm(model.parameters(), maxNorm: 1)
            try optimizer.step()
            runningLoss += try loss.item()
            runningCount += 1
            if (step + 1) % stepsPerEpoch == 0 || step + 1 == steps {
                last = try perplexity(validation)
                runningLoss = Float(try parallel.mean(Double(runningLoss)))
                if options.reports {
                    print(String(format: "epoch %d  %6.1fs  train loss %.4f  validation loss %.4f  perplexity %.1f",
                                 (step + 1) / stepsPerEpoch, Date().timeIntervalSince(start), runningLoss / Float(runningCount), last.loss, last.perplexity))
                    fflush(nil)
                }
                runningLoss = 0
                runningCount = 0
            }
        }
        if options.reports, let summary = parallel.communicationSummary(dataParallel, seconds: Date().timeIntervalSince(start)) { print(summary) }
        if let output = options.output, parallel.isLeader {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            try model.save(to: output + "/model.safetensors")
            let vocabulary = try JSONSerialization.data(withJSONObject: words.words)
            try AtomicFile.write(to: output + "/words.json") { handle in try vocabulary.withUnsafeBytes { try handle.write($0) } }
        }
        let seconds = Date().timeIntervalSince(start)
        return RecipeResult(fields: [("validation_perplexity", last.perplexity), ("validation_loss", Double(last.loss)), ("steps", steps),
                                     ("seconds", seconds), ("words_per_sec", Double(steps * options.batchSize * window) / seconds)])
    }
}
