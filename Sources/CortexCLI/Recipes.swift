import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexTrain
import Foundation

/// Options shared by the training recipes.
struct RecipeOptions {
    var epochs: Int
    var batchSize: Int
    var learningRate: Float?
    var optimizer: String
    var seed: UInt64
    var dataDirectory: String?
    var output: String?
    var resume: String?
    var json: Bool
    /// Stop after this many optimizer steps (image recipes; nil: run every epoch).
    var maximumSteps: Int? = nil
    /// Image recipes: at most this many batches per epoch (Lightning's `limit_train_batches`).
    var batchesPerEpoch: Int? = nil
    /// Weight decay (L2; decoupled for AdamW); nil: the optimizer's default (0, AdamW's 0.01).
    var weightDecay: Float? = nil
    /// The ranks sharing the run (one without mpirun).
    var parallel: DataParallelRun = .single
    /// Differentially private training (DP-SGD) for the image recipes; nil: ordinary training.
    var privacy: PrivacyOptions? = nil
    /// Image recipes: validation split, monitor, clipping, accumulation, schedule, step logs.
    var controls = TrainingControls()
    /// Classification metrics reported on the test set beside accuracy and loss (f1_macro,
    /// precision_macro, recall_macro), over this many classes.
    var testMetrics: [String] = []
    var classCount = 10

    /// Whether this rank prints progress (rank 0, without --json).
    var reports: Bool { !json && parallel.isLeader }
}

/// What a recipe reports at the end (printed as one JSON object with `--json`).
struct RecipeResult {
    var fields: [(String, Any)]

    var json: String {
        func encode(_ value: Any) -> String {
            switch value {
            case let number as Double: return number.isFinite ? String(format: "%.6g", number) : "null"
            case let number as Float: return encode(Double(number))
            case let number as Int: return String(number)
            case let text as String: return "\"\(text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\""
            case let list as [Double]: return "[" + list.map(encode).joined(separator: ", ") + "]"
            default: return "null"
            }
        }
        return "{" + fields.map { "\"\($0.0)\": \(encode($0.1))" }.joined(separator: ", ") + "}"
    }
}

enum Recipes {
    static let names = ["xor", "arrests-mlp", "linear-regression", "mnist-mlp", "lenet-300-100", "mnist-cnn", "mnist-dp", "fashion-cnn", "cifar-cnn", "transformer-classifier",
                        "lstm-lm", "char-gpt", "gpt2-finetune"]

    static func defaultEpochs(_ recipe: String) -> Int {
        switch recipe {
        case "linear-regression": 10
        case "arrests-mlp": 30
        case "mnist-dp": PrivacyOptions.mnistEpochs
        default: 3
        }
    }
    static func defaultOptimizer(_ recipe: String) -> String {
        if recipe == "char-gpt" || recipe == "gpt2-finetune" { return "adamw" }
        return recipe.hasSuffix("-cnn") || recipe == "transformer-classifier" || recipe == "lstm-lm" ? "adam" : "sgd"
    }

    static func run(_ name: String, _ options: RecipeOptions) throws -> RecipeResult {
        RandomGenerator.manualSeed(options.seed)
        switch name {
        case "xor": return try xor(options)
        case "linear-regression": return try linearRegression(options)
        case "mnist-mlp": return try trainClassifier(options, data: mnist(options, "mnist"), model: Classifiers.mnistMLP())
        case "mnist-cnn": return try trainClassifier(options, data: mnist(options, "mnist"), model: Classifiers.mnistCNN())
        case "mnist-dp":
            // Private by construction: DP-SGD at the recipe's budget unless the flags say otherwise.
            var options = options
            options.privacy = options.privacy ?? PrivacyOptions()
            return try trainClassifier(options, data: mnist(options, "mnist"), model: Classifiers.privateMNIST(generator: RandomGenerator(seed: options.seed)))
        case "lenet-300-100": return try trainClassifier(options, data: mnist(options, "mnist"), model: Classifiers.lenet300100())
        case "fashion-cnn":
            return try trainClassifier(options, data: mnist(options, "fashion-mnist", systemLocations: [DataDirectory.debianFashionMNIST]),
                                       model: Classifiers.mnistCNN(dropout: 0.25))
        case "cifar-cnn":
            let directory = try DataDirectory.locate("cifar-10-batches-bin", explicit: options.dataDirectory)
            let data = (try CIFAR10.load(directory: directory, train: true), try CIFAR10.load(directory: directory, train: false))
            let augment = Transforms.compose([Transforms.randomCrop(size: 32, padding: 4), Transforms.horizontalFlip()])
            return try trainClassifier(options, data: data, model: Classifiers.cifarCNN(), transform: augment)
        case "transformer-classifier":
            // Sequential MNIST: each image read as a sequence of 28 rows of 28 pixels.
            return try trainClassifier(options, data: mnist(options, "mnist"),
                                       model: TransformerClassifier(features: 28, classes: 10, generator: RandomGenerator(seed: options.seed)))
        case "lstm-lm": return try LSTMLanguageModelRecipe.run(options)
        case "arrests-mlp": return try ArrestsRecipe.run(options)
        default:
            throw CortexError.invalidArgument(operation: "cortex train", reason: "unknown recipe \"\(name)\" (known: \(names.joined(separator: ", ")))")
        }
    }

    static func makeOptimizer(_ options: RecipeOptions, _ parameters: [Tensor], defaultRate: Float) throws -> Optimizer {
        let rate = options.learningRate ?? defaultRate
        guard rate > 0, rate.isFinite else {
            throw CortexError.invalidArgument(operation: "cortex train", reason: "--lr \(rate) must be a positive number")
        }
        let decay = options.weightDecay ?? 0
        switch options.optimizer {
        case "sgd": return SGD(parameters, learningRate: rate, momentum: 0.9, weightDecay: decay)
        case "adam": return Adam(parameters, learningRate: rate, weightDecay: decay)
        case "adamw": return AdamW(parameters, learningRate: rate, weightDecay: options.weightDecay ?? 0.01)
        case "rmsprop": return RMSprop(parameters, learningRate: rate, weightDecay: decay)
        case "adagrad": return Adagrad(parameters, learningRate: rate, weightDecay: decay)
        default:
            throw CortexError.invalidArgument(operation: "cortex train", reason: "unknown optimizer \"\(options.optimizer)\" (sgd, adam, adamw, rmsprop, adagrad)")
        }
    }

    static func xor(_ options: RecipeOptions) throws -> RecipeResult {
        let model = Sequential(Linear(2, 2), Sigmoid(), Linear(2, 1), Sigmoid())
        let optimizer = try makeOptimizer(options, model.parameters(), defaultRate: 2)
        let x = try Tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), y = try Tensor([[0], [1], [1], [0]])
        var loss = Float.nan
        for _ in 0..<max(options.epochs, 1) * 500 {
            optimizer.zeroGrad()
            let value = try Loss.binaryCrossEntropy(model(x), y)
            try value.backward()
            try optimizer.step()
            loss = try value.item()
        }
        let outputs = try withNoGrad { try model(x) }.toFloatArray()
        let correct = zip(outputs, [0, 1, 1, 0] as [Float]).filter { ($0 > 0.5 ? 1 : 0) == $1 }.count
        if options.reports {
            for (input, output) in zip([[0, 0], [0, 1], [1, 0], [1, 1]], outputs) { print("xor\(input) = \(String(format: "%.4f", output))") }
        }
        try save(model, options)
        return RecipeResult(fields: [("final_loss", loss), ("accuracy", Double(correct) / 4)])
    }

    static func linearRegression(_ options: RecipeOptions) throws -> RecipeResult {
        let truth: [Float] = [2, -3.5, 0.75], intercept: Float = 1.25
        let generator = RandomGenerator(seed: options.seed)
        let x = try Tensor.randn([1000, 3], generator: generator)
        let noise = try Tensor.randn([1000, 1], standardDeviation: 0.01, generator: generator)
        let y = try x.matmul(Tensor(truth, shape: [3, 1])) + intercept + noise
        let model = Linear(3, 1)
        let optimizer = try makeOptimizer(options, model.parameters(), defaultRate: options.optimizer == "sgd" ? 0.02 : 0.01)
        let data = try TensorDataset(inputs: x, targets: y)
        var (train, validation): (any Dataset, (any Dataset)?) = (data, nil)
        if options.controls.validationSplit > 0 {
            let parts = try Splits.holdOut(data, fraction: options.controls.validationSplit, seed: options.seed)
            (train, validation) = (parts.train, parts.validation)
        }
        let loader = DataLoader(train, batchSize: options.batchSize, shuffle: true, seed: options.seed)
        let trainer = Trainer(model: model, optimizer: optimizer, loss: { try Loss.mse($0, $1) })
        trainer.classification = false
        trainer.progress = ProgressReporter(enabled: options.reports)
        try trainer.fit(train: loader, validation: validation.map { DataLoader($0, batchSize: 1000) }, epochs: options.epochs)
        let learned = try model.weight.toFloatArray() + model.bias!.toFloatArray()
        let errors = zip(learned, truth + [intercept]).map { Swift.abs($0 - $1) }
        if options.reports { print("learned \(learned), true \(truth + [intercept])") }
        try save(model, options)
        return RecipeResult(fields: [("coefficients", learned.map(Double.init)), ("max_error", Double(errors.max() ?? 0)),
                                     ("final_loss", trainer.history.last?.trainLoss ?? .nan), ("validation_loss", trainer.history.last?.validationLoss ?? .nan)])
    }

    static func mnist(_ options: RecipeOptions, _ dataset: String, systemLocations: [String] = []) throws -> (TensorDataset, TensorDataset) {
        let directory = try DataDirectory.locate(dataset, explicit: options.dataDirectory, systemLocations: systemLocations)
        return (try MNIST.load(directory: directory, split: .train), try MNIST.load(directory: directory, split: .test))
    }

    /// Trains a classifier (the image recipes, distilled students, configured models) honestly:
    /// a stratified, seeded share of the training set (`controls.validationSplit`) is held out
    /// and validated each epoch; early stopping, the best checkpoint (OUT/best) and
    /// ReduceLROnPlateau watch it. The test set is read once,
    /// after training has ended, and reported under its own name.
    /// `validation` given: it is the validation set (already held out by the caller) and
    /// nothing more is split off. `attachments` ride along in every checkpoint.
    static func trainClassifier(_ options: RecipeOptions, data: (train: any Dataset, test: any Dataset), validation heldOut: (any Dataset)? = nil,
                                model: Module & Layer, transform: Transforms.Transform? = nil, distillation: Distillation? = nil,
                                attachments: [String: Data] = [:]) throws -> RecipeResult {
        let controls = options.controls
        // Across ranks: the global batch must divide, and the data must go round, before anything is split.
        let parallel = options.parallel
        let localBatch = try parallel.localBatchSize(options.batchSize)
        _ = try parallel.trainingSampler(count: data.train.count, seed: options.seed)
        var (train, validation): (any Dataset, (any Dataset)?) = (data.train, heldOut)
        if heldOut == nil && controls.validationSplit > 0 {
            let labels = try (data.train as? ClassLabelled)?.classLabels()
            let parts = try parallel.onEveryRank { try Splits.holdOut(data.train, fraction: controls.validationSplit, labels: labels, seed: options.seed) }
            (train, validation) = (parts.train, parts.validation)
        }
        let defaultRate: Float = options.privacy != nil && options.optimizer == "sgd" ? PrivacyOptions.sgdLearningRate
            : options.optimizer == "sgd" ? 0.05 : model is TransformerClassifier ? 1e-3 : 2e-3
        let optimizer = try makeOptimizer(options, model.parameters(), defaultRate: defaultRate)
        let trainer = Trainer(model: model, optimizer: optimizer, loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: options.reports)
        trainer.maximumSteps = options.maximumSteps
        trainer.batchesPerEpoch = options.batchesPerEpoch
        trainer.distillation = distillation
        trainer.stopsOnNonFiniteLoss = true
        trainer.checkpointAttachments = attachments
        // Across ranks: the same model on every rank (checked, then broadcast from rank 0), each
        // rank a strided share of every epoch's shuffle and of the validation set.
        let trainSampler = try parallel.trainingSampler(count: train.count, seed: options.seed)
        trainer.dataParallel = try parallel.wrap(model)   // sets the trainer's process group
        var trainLoader = DataLoader(train, batchSize: localBatch, shuffle: true, seed: options.seed, sampler: trainSampler, transform: transform)
        if let privacy = options.privacy {
            guard parallel.size == 1 else {
                throw CortexError.invalidArgument(operation: "cortex train", reason: "differentially private training runs in one process, not \(parallel.size) ranks")
            }
            trainLoader = DataLoader(train, batchSize: localBatch, seed: options.seed, poisson: true, transform: transform)
            trainer.privacy = try privacy.engine(model: model, loader: trainLoader, epochs: options.epochs, seed: options.seed, resume: options.resume)
            if options.reports, let engine = trainer.privacy { print(privacy.describe(engine, epochs: options.epochs)) }
        }
        let batchesPerEpoch = min(trainLoader.batchCount, options.batchesPerEpoch ?? .max)
        try controls.configure(trainer, epochs: options.epochs, batchesPerEpoch: batchesPerEpoch, hasValidation: validation != nil)
        let validationLoader = try validation.map { DataLoader($0, batchSize: 1000, sampler: try parallel.evaluationSampler(count: $0.count)) }
        if let resume = options.resume { try trainer.loadCheckpoint(from: resume) }
        var best: BestCheckpoint?
        if let output = options.output {
            if parallel.isLeader {
                let resumesHere = options.resume.map { URL(fileURLWithPath: $0).standardized == URL(fileURLWithPath: output).standardized } ?? false
                trainer.loggers = [try JSONLinesLogger(path: output + "/steps.jsonl", append: resumesHere), try TensorBoardLogger(directory: output)]
            }
            // The best epoch by the monitored metric, for `cortex evaluate`; then a checkpoint
            // after every epoch, so a run that dies can resume from the last one.
            if validation != nil || !controls.monitor.needsValidation {
                best = BestCheckpoint(directory: output + "/best", monitor: controls.monitor)
                trainer.callbacks.insert(best!, at: 0)
            }
            trainer.callbacks.append(EpochCheckpoint(directory: output))
        }
        try trainer.fit(train: trainLoader, validation: validationLoader, epochs: options.epochs)
        if let output = options.output {
            try trainer.saveCheckpoint(to: output)
            if options.reports { print("checkpoint, step logs (steps.jsonl, TensorBoard) and training curves written to \(output)") }
        }
        // Training has ended: only now is the test set read, once.
        let testLoader = DataLoader(data.test, batchSize: 1000, sampler: try parallel.evaluationSampler(count: data.test.count))
        let test = try trainer.evaluate(testLoader)
        let last = trainer.history.last
        if options.reports {
            var line = String(format: "test accuracy %.4f, test loss %.4f", test.accuracy ?? .nan, test.loss)
            if let accuracy = last?.validationAccuracy, let loss = last?.validationLoss {
                line += String(format: " (validation accuracy %.4f, validation loss %.4f)", accuracy, loss)
            }
            print(line)
        }
        var fields: [(String, Any)] = [("test_accuracy", test.accuracy ?? .nan), ("test_loss", test.loss),
                                       ("validation_accuracy", last?.validationAccuracy ?? .nan), ("validation_loss", last?.validationLoss ?? .nan),
                                       ("train_loss", last?.trainLoss ?? .nan), ("samples_per_sec", last?.samplesPerSecond ?? .nan),
                                       ("epochs", trainer.history.count), ("optimizer_steps", trainer.globalStep)]
        if let bestEpoch = best?.bestEpoch { fields.append(("best_epoch", bestEpoch)) }
        if !options.testMetrics.isEmpty && parallel.size == 1 {
            let report = try Metrics.ClassificationReport(predictions: test.predictions, targets: test.targets, classes: options.classCount)
            let named = [("f1_macro", report.f1Macro), ("precision_macro", report.precisionMacro), ("recall_macro", report.recallMacro)]
            fields += named.filter { options.testMetrics.contains($0.0) }.map { ("test_" + $0.0, $0.1) }
        }
        if let engine = trainer.privacy {
            fields += [("epsilon", try engine.epsilon()), ("delta", engine.delta), ("noise_multiplier", engine.noiseMultiplier),
                       ("max_grad_norm", engine.maxGradNorm), ("sample_rate", engine.sampleRate), ("steps", engine.accountant.steps),
                       ("budget_reached", trainer.privacyBudgetReached ? "yes" : "no")]
        }
        return RecipeResult(fields: fields)
    }

    static func save(_ model: Module, _ options: RecipeOptions) throws {
        guard let output = options.output, options.parallel.isLeader else { return }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try model.save(to: output + "/model.safetensors")
    }
}
