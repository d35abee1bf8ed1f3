import CortexCore
import CortexModels
import CortexNN
import CortexText
import Foundation

/// `cortex train gpt2-finetune --model DIR --text FILE`: continues training a pretrained GPT-2
/// checkpoint on a text file (90% training, 10% validation windows), optionally with the
/// embeddings or the first N blocks frozen, and writes a Hugging Face-compatible checkpoint
/// (model.safetensors, config.json, vocab.json + merges.txt) to --out.
enum GPT2FineTuneRecipe {
    static func run(_ options: RecipeOptions, _ language: LanguageModelOptions) throws -> RecipeResult {
        guard let modelName = language.model, let textPath = language.text else {
            throw CortexError.invalidArgument(operation: "cortex train gpt2-finetune", reason: "--model and --text are required")
        }
        let directory = try GPT.checkpointDirectory(modelName)
        let model = try GPT.load(directory: directory)
        let tokenizer = try ByteLevelBPETokenizer.load(directory: language.tokenizer ?? directory)
        guard let text = try? String(contentsOfFile: textPath, encoding: .utf8) else {
            throw CortexError.io(path: textPath, reason: "cannot be read as UTF-8 text")
        }
        let ids = try tokenizer.encode(text)
        if let outside = ids.first(where: { $0 >= model.configuration.vocabularySize }) {
            throw CortexError.invalidArgument(operation: "cortex train gpt2-finetune",
                                              reason: "token \(outside) of the tokenizer is outside the model's vocabulary of \(model.configuration.vocabularySize)")
        }
        let length = min(language.context, model.configuration.contextLength)
        let (train, validation) = TokenSequence(ids).split(trainingFraction: 1 - options.controls.validationSplit)
        guard validation.count > length + 1 else {
            throw CortexError.invalidArgument(operation: "cortex train gpt2-finetune",
                                              reason: "\(textPath) gives \(ids.count) tokens: too few for windows of \(length)")
        }
        if language.freezeEmbeddings { model.transformer.wte.freeze(); model.transformer.wpe.freeze() }
        for block in model.transformer.h.prefix(language.freezeBlocks) { block.freeze() }
        let trainable = model.parameters().filter(\.requiresGrad)
        let rate = options.learningRate ?? 1e-4
        let optimizer = AdamW(trainable, learningRate: rate, weightDecay: 0.01)
        let parallel = options.parallel
        let dataParallel = try parallel.wrap(model, globalBatch: options.batchSize)
        let generator = RandomGenerator(seed: options.seed)
        func validationLoss() throws -> Float {
            try model.evaluationLoss(on: validation, batches: 8, batchSize: options.batchSize, length: length, seed: 99)
        }
        let before = try validationLoss()
        if options.reports {
            print("gpt2-finetune: \(model.parameterCount()) parameters (\(model.parameterCount(trainableOnly: true)) trainable), "
                  + "\(train.count) training tokens, windows of \(length), validation loss \(String(format: "%.4f", before))")
        }
        let start = Date()
        var step = 0
        while try step < language.iterations && !parallel.any(Date().timeIntervalSince(start) >= language.minutes * 60) {
            let (x, y) = try parallel.randomBatch(train, global: options.batchSize, length: length, generator: generator)
            optimizer.zeroGrad()
            let loss = try model.loss(x, targets: y)
            try loss.backward()
            try GradientClipping.clipNorm(trainable, maxNorm: 1)
            try optimizer.step()
            step += 1
            if step % language.evaluationInterval == 0 {
                let (train, validation) = (try parallel.mean(Double(try loss.item())), try validationLoss())
                if options.reports { print(String(format: "step %d  train loss %.4f  validation loss %.4f", step, train, validation)) }
                fflush(nil)
            }
        }
        let after = try validationLoss()
        if options.reports, let summary = parallel.communicationSummary(dataParallel, seconds: Date().timeIntervalSince(start)) { print(summary) }
        if let output = options.output, parallel.isLeader {
            try model.saveCheckpoint(directory: output)
            try tokenizer.save(directory: output)
            if options.reports { print("fine-tuned checkpoint (Hugging Face layout) written to \(output)") }
        }
        return RecipeResult(fields: [("validation_loss_before", Double(before)), ("validation_loss", Double(after)), ("steps", step),
                                     ("seconds", Date().timeIntervalSince(start))])
    }
}
