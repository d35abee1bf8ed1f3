import ArgumentParser
import CortexCore
import CortexDistributed
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one of the built-in recipes.",
        discussion: """
            Recipes: \(Recipes.names.joined(separator: ", ")). Data is found with --data-dir, CORTEX_DATA_DIR or ../shared/data.

            Started by mpirun (`mpirun -np 2 cortex train mnist-cnn`), the recipe trains data-parallel across the ranks with \
            no extra flag: --batch-size stays the global batch, each rank trains on its share, and rank 0 alone prints and \
            writes the checkpoint.
            """)

    @Argument(help: "The recipe to train (or none, with --config).") var recipe: String?
    @Option(help: "A model described in YAML or JSON (layers, optimizer, schedule, epochs, batch size, metrics) to train on --data instead of a recipe.")
    var config: String?
    @Option(help: "--config: the data, an image folder (class subfolders, or train/ and test/ folders of them), a directory of MNIST-format IDX files (or a dataset name such as mnist), or a CSV file.")
    var data: String?
    @Option(name: .customLong("test-data"), help: "--config: the held-out test data (an image folder or a CSV); default: DATA/test, the IDX test files, or 20% of a CSV.")
    var testData: String?
    @Option(help: "--config with a CSV: the column to predict (or target: in the description).") var target: String?
    @Option(help: "Epochs to train, in total when resuming (the recipe's default when omitted).") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Examples per batch (default 64; 32 windows for char-gpt; 1024 for mnist-dp, the expected size of its Poisson batches).") var batchSize: Int?
    @Option(name: .customLong("lr"), help: "Learning rate (the recipe's default when omitted).") var learningRate: Float?
    @Option(help: "sgd (with momentum 0.9), adam, adamw, rmsprop or adagrad (the recipe's default when omitted: adam for the CNNs and lstm-lm, adamw for char-gpt and gpt2-finetune, sgd otherwise).")
    var optimizer: String?
    @Option(help: "Seed for initialisation, shuffling, dropout and the validation split (default 0, or the description's seed).") var seed: UInt64?
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Option(name: .customLong("out"), help: "Directory for the checkpoint and training curves.") var output: String?
    @Option(help: "Checkpoint directory to continue training from (any number of ranks may resume it).") var resume: String?
    @Option(name: .customLong("max-steps"), help: "Image recipes: stop after this many optimizer steps.") var maximumSteps: Int?
    @Option(name: .customLong("limit-train-batches"), help: "Image recipes: at most this many (global) batches per epoch.") var batchesPerEpoch: Int?
    @Flag(help: "Print one JSON object with the final metrics as the last line.") var json = false
    @Option(help: "f32, or bf16: matrix products (Linear, attention, convolution) round their operands to bfloat16 and accumulate in float32, forward and backward, while weights, gradients and optimizer state stay float32 (PyTorch's autocast). AVX512_BF16 CPUs run them at twice the float32 rate; others emulate them.")
    var precision: String = "f32"
    @Option(name: .customLong("dp-epsilon"), help: "Image recipes: train with DP-SGD and stop at this ε budget (σ is chosen to spend it in --epochs unless --noise-multiplier is given). mnist-dp: default 3.")
    var dpEpsilon: Double?
    @Option(name: .customLong("dp-delta"), help: "DP-SGD: the δ of (ε, δ) (default 1e-5).") var dpDelta: Double?
    @Option(name: .customLong("max-grad-norm"), help: "DP-SGD: the per-example clipping bound C (default 1).") var maxGradNorm: Double?
    @Option(name: .customLong("noise-multiplier"), help: "DP-SGD: the noise multiplier σ (noise σ·C); without --dp-epsilon, ε is only reported.")
    var noiseMultiplier: Double?
    @OptionGroup(title: "Validation, monitoring, clipping, accumulation, schedules and step logs (image recipes; --validation-split for every recipe)") var controls: TrainingControlOptions
    @OptionGroup(title: "Language models (char-gpt)") var language: LanguageModelOptions

    /// The DP-SGD settings the flags ask for (mnist-dp's defaults under them), or nil.
    var privacyOptions: PrivacyOptions? {
        let recipe = self.recipe ?? ""
        let asked = dpEpsilon != nil || dpDelta != nil || maxGradNorm != nil || noiseMultiplier != nil
        guard asked || recipe == "mnist-dp" else { return nil }
        var options = PrivacyOptions()
        if recipe != "mnist-dp" || noiseMultiplier != nil { options.targetEpsilon = nil }
        if let dpEpsilon { options.targetEpsilon = dpEpsilon }
        if let dpDelta { options.delta = dpDelta }
        if let maxGradNorm { options.maxGradNorm = maxGradNorm }
        options.noiseMultiplier = noiseMultiplier
        return options
    }

    func validate() throws {
        if config != nil {
            guard recipe == nil else { throw ValidationError("give a recipe or --config, not both") }
            guard data != nil else { throw ValidationError("--config needs --data DIR|file.csv") }
        } else if data != nil || testData != nil || target != nil {
            throw ValidationError("--data, --test-data and --target go with --config")
        }
        guard let recipe = recipe ?? (config != nil ? "mnist-cnn" : nil) else {
            throw ValidationError("name a recipe (\(Recipes.names.joined(separator: ", "))) or give --config model.yaml --data DIR")
        }
        guard Recipes.names.contains(recipe) else {
            throw ValidationError("unknown recipe \"\(recipe)\" (known: \(Recipes.names.joined(separator: ", ")))")
        }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
        do { _ = try Autocast.Precision(parsing: precision) } catch let error as CortexError { throw ValidationError(error.description) }
        try language.validate()
        if let batchSize, batchSize <= 0 { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if ["char-gpt", "lstm-lm", "gpt2-finetune"].contains(recipe), controls.validationSplit == 0 {
            throw ValidationError("\(recipe) reports its validation loss: --validation-split must be above 0 (it holds out the end of the text)")
        }
        if let maximumSteps, maximumSteps <= 0 { throw ValidationError("--max-steps must be positive, got \(maximumSteps)") }
        if let batchesPerEpoch, batchesPerEpoch <= 0 { throw ValidationError("--limit-train-batches must be positive, got \(batchesPerEpoch)") }
        if let privacy = privacyOptions {
            do { try privacy.validate() } catch let error as CortexError { throw ValidationError(error.description) }
            let imageRecipes: Set = ["mnist-mlp", "lenet-300-100", "mnist-cnn", "mnist-dp", "fashion-cnn", "cifar-cnn"]
            guard imageRecipes.contains(recipe) else {
                throw ValidationError("differentially private training (--dp-epsilon, --noise-multiplier) is for the image recipes (\(imageRecipes.sorted().joined(separator: ", "))), not \(recipe)")
            }
        }
    }

    func run() throws {
        let group = try ProcessGroups.fromEnvironment()
        let recipe = self.recipe ?? "configured"
        var options = RecipeOptions(epochs: epochs ?? Recipes.defaultEpochs(recipe), batchSize: batchSize ?? (recipe == "char-gpt" ? 32 : recipe == "mnist-dp" ? PrivacyOptions.mnistBatchSize : 64),
                                    learningRate: learningRate,
                                    optimizer: optimizer ?? Recipes.defaultOptimizer(recipe), seed: seed ?? 0,
                                    dataDirectory: dataDirectory, output: output, resume: resume, json: json)
        options.maximumSteps = maximumSteps
        options.batchesPerEpoch = batchesPerEpoch
        options.parallel = DataParallelRun(group: group)
        options.privacy = privacyOptions
        options.controls = try controls.controls()
        do {
            let result: RecipeResult
            // FLOPs, CPU time, MFU and energy of the whole run (data loading on its own
            // threads aside), in the summary, the JSON line and the run directory.
            let meter = ComputeMeter(unit: "samples")
            let precision = try Autocast.Precision(parsing: self.precision)
            if precision == .bfloat16 && group.rank == 0 && !json {
                print("precision bf16: bfloat16 matrix products with float32 accumulation and float32 weights"
                      + (Autocast.hasBFloat16Kernel ? " (AVX512_BF16)" : " (emulated: this CPU has no AVX512_BF16)"))
            }
            result = try Autocast.run(precision) {
                switch recipe {
                case "configured":
                    let overrides = ConfiguredModel.Overrides(epochs: epochs, batchSize: batchSize, optimizer: optimizer, learningRate: learningRate, seed: seed,
                                                              validationSplit: controls.validationSplit, schedule: controls.schedule)
                    return try ConfiguredModel.train(configurationPath: config!, data: data!, testData: testData, target: target, overrides: overrides, options: options)
                case "char-gpt": return try CharGPTRecipe.run(options, language.charGPT)
                case "gpt2-finetune": return try GPT2FineTuneRecipe.run(options, language)
                default: return try Recipes.run(recipe, options)
                }
            }
            let compute = meter.finish(examples: 0)
            guard group.rank == 0 else { return }
            var fields = result.fields + compute.fields
            if precision != .float32 { fields.append(("precision", precision.description)) }
            // Recipes that train through the Trainer have written their own (samples counted);
            // the others get the whole run's.
            if let output, FileManager.default.fileExists(atPath: output), !FileManager.default.fileExists(atPath: output + "/compute.json") {
                try compute.write(to: output + "/compute.json")
            }
            if !json { print(compute.summary) }
            if group.size > 1 { fields.append(("ranks", group.size)) }
            let printed = RecipeResult(fields: fields)
            if json { print(printed.json) } else { print(printed.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) }
        } catch let failure as CollectiveFailure {
            guard group.size > 1 else { throw failure.error }
            // Every rank met it: each says so, and the job ends without anyone waiting.
            Train.report("rank \(group.rank) of \(group.size): error: \(failure.error.description)")
            (group as? MPIProcessGroup)?.finalize()
            Foundation.exit(1)
        } catch {
            guard group.size > 1 else { throw error }
            let message = (error as? CortexError)?.description ?? "\(error)"
            // Only this rank may have seen it: end every rank now rather than leave them waiting.
            Train.report("rank \(group.rank) of \(group.size): error: \(message); aborting all ranks")
            group.abort(code: 1)
        }
    }

    static func report(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a saved image-classifier checkpoint on its test set.")

    @Argument(help: "mnist-mlp, mnist-cnn or fashion-cnn; none for a checkpoint of `cortex train --config`.") var recipe: String?
    @Option(help: "--config checkpoints: other test data than the run's (an image folder, IDX directory or CSV).") var data: String?
    @Option(help: "Checkpoint directory written by `cortex train --out`; its best epoch (DIR/best, chosen on validation) is evaluated where the run kept one.") var checkpoint: String
    @Flag(help: "Evaluate the directory's last-epoch checkpoint, not its best.") var last = false
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Option(help: "Quantise the float checkpoint to int8 first: dynamic (activations per row) or static (calibrated on training images).")
    var int8: String?
    @Option(name: .customLong("calibration-batches"), help: "--int8 static: batches of 100 training images to calibrate on.")
    var calibrationBatches = 10
    @Option(help: "f32, or bf16: the float matrix products (Linear, convolution) in bfloat16 with float32 accumulation (autocast inference).")
    var precision: String = "f32"
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if let int8, Evaluation.Int8Mode(rawValue: int8) == nil { throw ValidationError("--int8 must be dynamic or static, got \(int8)") }
        guard calibrationBatches > 0 else { throw ValidationError("--calibration-batches must be positive, got \(calibrationBatches)") }
        do { _ = try Autocast.Precision(parsing: precision) } catch let error as CortexError { throw ValidationError(error.description) }
    }

    func run() throws {
        let result: RecipeResult = try Autocast.run(try Autocast.Precision(parsing: precision)) {
            if recipe == nil || ConfiguredModel.isConfigured(checkpoint) {
                return try Evaluation.runConfigured(checkpoint: checkpoint, data: data, last: last)
            }
            guard let recipe else { throw ValidationError("name the recipe of the checkpoint, or give a checkpoint of `cortex train --config`") }
            return try Evaluation.run(recipe: recipe, checkpoint: checkpoint, dataDirectory: dataDirectory,
                                      int8: int8.flatMap(Evaluation.Int8Mode.init), calibrationBatches: calibrationBatches, last: last)
        }
        if json { print(result.json) } else { print(result.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) }
    }
}

/// The options of the language-model recipes.
struct LanguageModelOptions: ParsableArguments {
    @Option(help: "Transformer layers.") var layers = CharGPTOptions().layers
    @Option(help: "Attention heads.") var heads = CharGPTOptions().heads
    @Option(help: "Embedding width.") var width = CharGPTOptions().width
    @Option(help: "Context length in tokens.") var context = CharGPTOptions().context
    @Option(help: "Dropout probability.") var dropout = CharGPTOptions().dropout
    @Option(help: "Training steps at most.") var iterations = CharGPTOptions().iterations
    @Option(help: "Wall-clock minutes at most.") var minutes = CharGPTOptions().minutes
    @Option(name: .customLong("eval-interval"), help: "Steps between validation losses.") var evaluationInterval = CharGPTOptions().evaluationInterval
    @Option(help: "gpt2-finetune: the pretrained checkpoint directory or Hugging Face model name.") var model: String?
    @Option(help: "gpt2-finetune: tokenizer directory (default: the model's).") var tokenizer: String?
    @Option(help: "gpt2-finetune: the text file to train on.") var text: String?
    @Flag(name: .customLong("freeze-embeddings"), help: "gpt2-finetune: keep the token and position embeddings fixed.") var freezeEmbeddings = false
    @Option(name: .customLong("freeze-blocks"), help: "gpt2-finetune: keep the first N transformer blocks fixed.") var freezeBlocks = 0

    func validate() throws {
        for (name, value) in [("--layers", layers), ("--heads", heads), ("--width", width), ("--context", context),
                              ("--iterations", iterations), ("--eval-interval", evaluationInterval)] where value <= 0 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
        guard dropout >= 0 && dropout < 1 else { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
        guard minutes > 0 else { throw ValidationError("--minutes must be positive, got \(minutes)") }
        guard freezeBlocks >= 0 else { throw ValidationError("--freeze-blocks must be 0 or more, got \(freezeBlocks)") }
    }

    var charGPT: CharGPTOptions {
        var options = CharGPTOptions()
        (options.layers, options.heads, options.width, options.context, options.dropout) = (layers, heads, width, context, dropout)
        (options.iterations, options.minutes, options.evaluationInterval) = (iterations, minutes, evaluationInterval)
        return options
    }
}
