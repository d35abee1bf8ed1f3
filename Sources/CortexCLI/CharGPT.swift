import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexText
import CortexTrain
import Foundation

/// `cortex train char-gpt`: a GPT decoder trained from scratch on tiny Shakespeare, one token
/// per character (nanoGPT's shakespeare_char), with AdamW, linear warm-up then cosine decay,
/// gradient clipping at 1 and a validation loss every `evaluationInterval` steps. Stops after
/// `iterations` steps or `minutes`, whichever comes first, and writes model.safetensors
/// (GPT-2 names), config.json, characters.json and loss.csv to `--out`.
struct CharGPTOptions {
    var layers = 4, heads = 4, width = 192, context = 128, dropout: Float = 0
    var iterations = 6000, minutes: Double = 20
    var learningRate: Float = 2e-3, warmup = 100
    var evaluationInterval = 250, evaluationBatches = 20
}

enum CharGPTRecipe {
    /// With a `teacher` (a char-gpt checkpoint over the same characters), the model trains on
    /// the distillation loss against the teacher's logits at every position; validation stays
    /// plain cross-entropy.
    static func run(_ options: RecipeOptions, _ gpt: CharGPTOptions, teacher: (directory: String, temperature: Float, alpha: Float)? = nil) throws -> RecipeResult {
        let directory = try DataDirectory.locate("tinyshakespeare", explicit: options.dataDirectory)
        let path = (directory as NSString).appendingPathComponent("input.txt")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CortexError.io(path: path, reason: "cannot be read as UTF-8 text") }
        let tokenizer = CharacterTokenizer(corpus: text)
        let (train, validation) = TokenSequence(try tokenizer.encode(text)).split(trainingFraction: 1 - options.controls.validationSplit)
        guard gpt.width % gpt.heads == 0 else {
            throw CortexError.invalidArgument(operation: "cortex train char-gpt", reason: "--width \(gpt.width) must be divisible by --heads \(gpt.heads)")
        }
        let configuration = GPTConfiguration(vocabularySize: tokenizer.vocabularySize, contextLength: gpt.context, embeddingSize: gpt.width,
                                             layers: gpt.layers, heads: gpt.heads, dropout: gpt.dropout)
        let generator = RandomGenerator(seed: options.seed)
        let model = GPT(configuration, generator: generator)
        let distillation = try teacher.map { teacher in
            try CharGPTRecipe.teacher(teacher.directory, tokenizer: tokenizer, temperature: teacher.temperature, alpha: teacher.alpha)
        }
        let parallel = options.parallel
        let dataParallel = try parallel.wrap(model, globalBatch: options.batchSize)
        // Weight decay on matrices only, as nanoGPT.
        let parameters = model.parameters()
        let rate = options.learningRate ?? gpt.learningRate
        let optimizer: Optimizer = options.optimizer == "adamw"
            ? AdamW(groups: [
                ParameterGroup(parameters.filter { $0.rank >= 2 }, AdamW.options(learningRate: rate, beta2: 0.99, weightDecay: 0.1)),
                ParameterGroup(parameters.filter { $0.rank < 2 }, AdamW.options(learningRate: rate, beta2: 0.99, weightDecay: 0)),
            ])
            : try Recipes.makeOptimizer(options, parameters, defaultRate: rate)
        // The schedule spans `steps`: --iterations, or fewer when the first steps show that
        // --minutes will not fit them (so the learning rate has decayed when time runs out).
        var steps = gpt.iterations
        func learningRate(_ step: Int) -> Float {
            if step < gpt.warmup { return rate * Float(step + 1) / Float(gpt.warmup) }
            let progress = Double(step - gpt.warmup) / Double(max(steps - gpt.warmup, 1))
            return rate / 10 + (rate - rate / 10) * Float(0.5 * (1 + Foundation.cos(Double.pi * min(progress, 1))))
        }
        func validationLoss() throws -> Float {
            try model.evaluationLoss(on: validation, batches: gpt.evaluationBatches, batchSize: options.batchSize, length: gpt.context)
        }
        if options.reports, let teacher, let distillation {
            print("distilling from \(teacher.directory) (\(distillation.teacher.parameterCount()) parameters) at temperature \(teacher.temperature), alpha \(teacher.alpha)")
        }
        if options.reports {
            print("char-gpt: \(gpt.layers) layers, \(gpt.heads) heads, width \(gpt.width), context \(gpt.context), "
                  + "\(model.parameterCount()) parameters, vocabulary \(tokenizer.vocabularySize); batch \(options.batchSize), "
                  + "up to \(steps) steps or \(gpt.minutes) minutes" + (parallel.isDistributed ? " on \(parallel.size) ranks" : ""))
        }
        var curve: [(step: Int, seconds: Double, train: Float, validation: Float)] = []
        let start = Date()
        var runningLoss: Float = 0, runningCount = 0, step = 0
        // The ranks stop together: any rank's clock running out stops all.
        while try step < steps && !parallel.any(Date().timeIntervalSince(start) >= gpt.minutes * 60) {
            optimizer.learningRates = optimizer.learningRates.map { _ in learningRate(step) }
            let (x, y) = try parallel.randomBatch(train, global: options.batchSize, length: gpt.context, generator: generator)
            optimizer.zeroGrad()
            let loss = try distillation.map { try $0.loss(studentOutput: model(x), inputs: x, targets: y) } ?? model.loss(x, targets: y)
            try loss.backward()
            try GradientClipping.clipNorm(parameters, maxNorm: 1)
            try optimizer.step()
            runningLoss += try loss.item()
            runningCount += 1
            step += 1
            if step == 20 {
                let perStep = try parallel.maximum(Date().timeIntervalSince(start) / 20)
                let evaluations = Double(steps / gpt.evaluationInterval) * Double(gpt.evaluationBatches) * perStep / 3
                let affordable = Int((gpt.minutes * 60 - evaluations) / perStep * 0.97)
                if affordable < steps {
                    steps = max(affordable, 21)
                    if options.reports { print(String(format: "%.3f s per step: the schedule spans %d steps to fit %.1f minutes", perStep, steps, gpt.minutes)) }
                }
            }
            if step % gpt.evaluationInterval == 0 || step == steps {
                let point = (step, Date().timeIntervalSince(start), Float(try parallel.mean(Double(runningLoss / Float(runningCount)))), try validationLoss())
                curve.append(point)
                runningLoss = 0
                runningCount = 0
                if options.reports {
                    print(String(format: "step %5d  %6.1fs  train %.4f  validation %.4f  lr %.2e", point.0, point.1, point.2, point.3,
                                 learningRate(step)))
                    fflush(nil)
                }
            }
        }
        if curve.last?.step != step {
            let train = Float(try parallel.mean(Double(runningCount > 0 ? runningLoss / Float(runningCount) : .nan)))
            curve.append((step, Date().timeIntervalSince(start), train, try validationLoss()))
        }
        let seconds = Date().timeIntervalSince(start)
        if options.reports, let summary = parallel.communicationSummary(dataParallel, seconds: seconds) { print(summary) }
        // The sample and the files come from rank 0 (every rank holds the same model).
        let sample = parallel.isLeader ? try tokenizer.decode(model.generate(prompt: tokenizer.encode("\n"), maxNewTokens: 300,
                                                                             sampling: SamplingOptions(temperature: 0.8, topK: 40), generator: RandomGenerator(seed: options.seed))) : ""
        if options.reports { print("sample:\n\(sample)") }
        if let output = options.output, parallel.isLeader {
            try model.saveCheckpoint(directory: output)  // Hugging Face GPT-2 form: model.safetensors + config.json
            try tokenizer.save(to: output + "/characters.json")
            let csv = "step,seconds,train_loss,validation_loss\n" + curve.map { "\($0.step),\(String(format: "%.1f", $0.seconds)),\($0.train),\($0.validation)\n" }.joined()
            try AtomicFile.write(to: output + "/loss.csv") { handle in try Array(csv.utf8).withUnsafeBytes { try handle.write($0) } }
            if options.reports { print("checkpoint, config, characters and loss curve written to \(output)") }
        }
        let tokensPerSecond = Double(step * options.batchSize * gpt.context) / seconds
        return RecipeResult(fields: [("validation_loss", Double(curve.last?.validation ?? .nan)), ("train_loss", Double(curve.last?.train ?? .nan)),
                                     ("steps", step), ("seconds", seconds), ("tokens_per_sec", tokensPerSecond),
                                     ("parameters", model.parameterCount()), ("sample", sample)])
    }

    /// A char-gpt checkpoint as a frozen teacher, checked to share the student's characters.
    static func teacher(_ directory: String, tokenizer: CharacterTokenizer, temperature: Float, alpha: Float) throws -> Distillation {
        let characters = try CharacterTokenizer.load(from: directory + "/characters.json")
        guard characters == tokenizer else {
            throw CortexError.invalidArgument(operation: "cortex distill",
                                              reason: "the teacher's \(characters.vocabularySize) characters (\(directory)/characters.json) differ from the student's \(tokenizer.vocabularySize): teacher and student must share a tokenizer")
        }
        return try Distillation(teacher: GPT.load(directory: directory), temperature: temperature, alpha: alpha)
    }
}
