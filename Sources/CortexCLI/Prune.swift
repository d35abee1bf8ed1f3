import ArgumentParser
import CortexCore
import CortexData
import CortexModels
import CortexNN
import CortexTrain
import Foundation

/// `cortex prune`: prunes a trained image classifier, optionally in rounds each followed by
/// fine-tuning (Han et al. 2015: prune, retrain at a tenth of the learning rate, repeat), and
/// reports the sparsity of every layer and the test accuracy before and after.
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a trained image classifier (magnitude, global, random or structured), with fine-tuning rounds.",
        discussion: """
            --method l1 prunes each layer's weights by magnitude, global ranks all layers' weights together, random prunes at \
            random, structured removes whole output channels (of every Conv2d, or of every hidden Linear in a perceptron) and the \
            matching inputs of the next layer, so the model really shrinks. --amount is the fraction removed in the end; with \
            --iterations K it is reached in K rounds (--schedule iterative: the same fraction of what is left each round; \
            polynomial: Zhu & Gupta 2017's cubic ramp), each followed by --fine-tune-epochs of training from --lr (default a tenth \
            of the recipe's rate) down to 0 (cosine). --out gets model.safetensors (pruned weights as weight_orig and weight_mask, as PyTorch writes \
            them), sparse.safetensors (bitmask and values) and pruning.json.
            """)

    @Argument(help: "The recipe the checkpoint was trained with (\(ClassifierCheckpoint.description)).") var recipe: String
    @Option(help: "Checkpoint directory written by `cortex train --out`.") var checkpoint: String
    @Option(help: "l1, global, random or structured.") var method: String = "l1"
    @Option(help: "Fraction of the weights (structured: of the channels) to remove in the end, in [0, 1].") var amount: Double
    @Option(help: "Pruning rounds.") var iterations = 1
    @Option(name: .customLong("fine-tune-epochs"), help: "Epochs of fine-tuning after each round.") var fineTuneEpochs = 0
    @Option(help: "iterative or polynomial: how the rounds approach --amount.") var schedule = "iterative"
    @Option(help: "structured: the norm ranking the channels (1, 2, ... or inf).") var norm = "1"
    @Option(name: .customLong("lr"), help: "Fine-tuning learning rate (default: a tenth of the recipe's).") var learningRate: Float?
    @Option(help: "Fine-tuning optimizer (default: the recipe's).") var optimizer: String?
    @Option(name: .customLong("weight-decay"), help: "Fine-tuning weight decay (L2), as Han et al. retrain with.") var weightDecay: Float?
    @Option(name: .customLong("batch-size"), help: "Fine-tuning batch size.") var batchSize = 64
    @Option(help: "Seed for shuffling and random pruning.") var seed: UInt64 = 0
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Option(name: .customLong("out"), help: "Directory for the pruned checkpoint.") var output: String?
    @Flag(help: "Print one JSON object as the last line.") var json = false

    static let methods = ["l1", "global", "random", "structured"]

    func validate() throws {
        guard Self.methods.contains(method) else { throw ValidationError("--method must be one of \(Self.methods.joined(separator: ", ")), got \(method)") }
        guard amount >= 0 && amount <= 1 else { throw ValidationError("--amount must be in [0, 1], got \(amount)") }
        guard iterations > 0 else { throw ValidationError("--iterations must be positive, got \(iterations)") }
        guard fineTuneEpochs >= 0 else { throw ValidationError("--fine-tune-epochs must be 0 or more, got \(fineTuneEpochs)") }
        guard ["iterative", "polynomial"].contains(schedule) else { throw ValidationError("--schedule must be iterative or polynomial, got \(schedule)") }
        guard PruneRun.norm(norm) != nil else { throw ValidationError("--norm must be a number of at least 0 or inf, got \(norm)") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        if let output, URL(fileURLWithPath: output).standardizedFileURL == URL(fileURLWithPath: checkpoint).standardizedFileURL {
            throw ValidationError("--out \(output) is the checkpoint directory itself; write the pruned model beside it")
        }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be 0 or more, got \(weightDecay)") }
    }

    func run() throws {
        let result = try PruneRun(command: self).run()
        if json { print(result.json) } else { print(result.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) }
    }
}

/// One `cortex prune` run.
struct PruneRun {
    let command: Prune

    static func norm(_ text: String) -> Double? {
        if text == "inf" { return .infinity }
        return Double(text).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil }
    }

    /// The fraction removed after round `round` of `rounds`.
    static func sparsity(after round: Int, of rounds: Int, final amount: Double, schedule: String) -> Double {
        let progress = Double(round) / Double(rounds)
        if schedule == "polynomial" { return amount * (1 - Foundation.pow(1 - progress, 3)) }
        return 1 - Foundation.pow(1 - amount, progress)
    }

    func run() throws -> RecipeResult {
        let operation = "cortex prune"
        var (model, dataset) = try ClassifierCheckpoint.load(command.recipe, checkpoint: command.checkpoint, operation: operation)
        let train = try ClassifierCheckpoint.split(dataset, .train, dataDirectory: command.dataDirectory)
        let test = DataLoader(try ClassifierCheckpoint.split(dataset, .test, dataDirectory: command.dataDirectory), batchSize: 1000)
        func accuracy() throws -> Double {
            try Trainer(model: model, optimizer: SGD([], learningRate: 0), loss: { try Loss.crossEntropy($0, targets: $1) }).evaluate(test).accuracy ?? .nan
        }
        let reports = !command.json
        let before = try accuracy()
        let parametersBefore = model.parameterCount()
        if reports { print(String(format: "%@: test accuracy %.4f before pruning, %d parameters", command.recipe, before, parametersBefore)) }
        let recipeOptimizer = command.optimizer ?? Recipes.defaultOptimizer(ClassifierCheckpoint.recipes.contains(command.recipe) ? command.recipe : "mnist-mlp")
        let rate = command.learningRate ?? (recipeOptimizer == "sgd" ? 0.05 : 2e-3) / 10
        let originalChannels = Dictionary(uniqueKeysWithValues: ChannelShrinking.defaultTargets(model).map { ($0, Self.outputs(model.layers[$0])) })
        var rounds: [(sparsity: Double, pruned: Double, tuned: Double?)] = []
        var changes: [ChannelShrinking.Change] = []
        let generator = RandomGenerator(seed: command.seed)
        for round in 1...command.iterations {
            let target = Self.sparsity(after: round, of: command.iterations, final: command.amount, schedule: command.schedule)
            if command.method == "structured" {
                var amounts: [Int: PruningAmount] = [:]
                for (index, channels) in originalChannels {
                    let remove = Self.outputs(model.layers[index]) - (channels - Int((target * Double(channels)).rounded(.toNearestOrEven)))
                    if remove > 0 { amounts[index] = .count(remove) }
                }
                let (shrunk, change) = try ChannelShrinking.shrink(model, amounts: amounts, n: Self.norm(command.norm)!)
                model = shrunk
                changes.append(contentsOf: change)
            } else {
                try Pruning.prune(Pruning.weights(of: model), toSparsity: target, method: Pruning.SparsityMethod(rawValue: command.method)!,
                                  generator: generator)
            }
            let pruned = try accuracy()
            var tuned: Double?
            if command.fineTuneEpochs > 0 {
                try fineTune(model, train: train, optimizer: recipeOptimizer, rate: rate, round: round)
                tuned = try accuracy()
            }
            let report = try Pruning.sparsity(of: model)
            let removed = command.method == "structured" ? 1 - Double(model.parameterCount()) / Double(parametersBefore) : report.weightSparsity
            rounds.append((removed, pruned, tuned))
            if reports {
                print(String(format: "round %d/%d: %.2f%% removed, test accuracy %.4f after pruning", round, command.iterations, removed * 100, pruned)
                      + (tuned.map { String(format: ", %.4f after %d epochs of fine-tuning", $0, command.fineTuneEpochs) } ?? ""))
            }
        }
        let report = try Pruning.sparsity(of: model)
        if reports { print(report.table) }
        if reports && !changes.isEmpty {
            let final = Dictionary(changes.map { ($0.layer, $0.after) }, uniquingKeysWith: { _, last in last })
            print("channels: " + originalChannels.sorted { $0.key < $1.key }.map { "layer \($0.key) \($0.value) -> \(final[$0.key] ?? $0.value)" }.joined(separator: ", "))
        }
        let after = rounds.last.map { $0.tuned ?? $0.pruned } ?? before
        var fields: [(String, Any)] = [("accuracy_before", before), ("accuracy_after", after), ("method", command.method),
                                       ("weights_remaining", report.weightsRemaining), ("parameters_before", parametersBefore),
                                       ("parameters_after", model.parameterCount())]
        if let output = command.output {
            var sizes: (dense: Int, sparse: Int) = (0, 0)
            try AtomicDirectory.write(to: output, owning: ["model.safetensors", "sparse.safetensors", "pruning.json"]) { staging in
                try model.save(to: staging + "/model.safetensors")
                sizes.dense = ModelQuantization.fileBytes(staging + "/model.safetensors")
                sizes.sparse = try SparseCheckpoint.save(model, to: staging + "/sparse.safetensors")
                let summary = PruningSummary(recipe: command.recipe, method: command.method, amount: command.amount, accuracyBefore: before,
                                             accuracyAfter: after, sparsity: report, channels: changes)
                try AtomicFile.writeJSON(summary, to: staging + "/pruning.json")
            }
            fields += [("model_bytes", sizes.dense), ("sparse_bytes", sizes.sparse)]
            if reports { print("pruned checkpoint written to \(output): model.safetensors \(sizes.dense) bytes, sparse.safetensors \(sizes.sparse) bytes") }
        }
        return RecipeResult(fields: fields)
    }

    static func outputs(_ layer: Module & Layer) -> Int {
        (layer as? Conv2d)?.outChannels ?? (layer as? Linear)?.outFeatures ?? 0
    }

    func fineTune(_ model: Sequential, train: TensorDataset, optimizer name: String, rate: Float, round: Int) throws {
        var options = RecipeOptions(epochs: command.fineTuneEpochs, batchSize: command.batchSize, learningRate: rate, optimizer: name,
                                    seed: command.seed, dataDirectory: nil, output: nil, resume: nil, json: command.json)
        options.weightDecay = command.weightDecay
        let optimizer = try Recipes.makeOptimizer(options, model.parameters(), defaultRate: rate)
        // Each round's fine-tuning decays from --lr to 0 (cosine, per epoch), as the recipes train.
        let trainer = Trainer(model: model, optimizer: optimizer, loss: { try Loss.crossEntropy($0, targets: $1) },
                              scheduler: try CosineAnnealing(optimizer, maximumSteps: command.fineTuneEpochs, minimumLearningRate: 0))
        trainer.progress = ProgressReporter(enabled: !command.json)
        try trainer.fit(train: DataLoader(train, batchSize: command.batchSize, shuffle: true, seed: command.seed &+ UInt64(round)),
                        epochs: command.fineTuneEpochs)
        model.eval()
    }
}

/// What `cortex prune` writes to pruning.json.
struct PruningSummary: Codable {
    var recipe: String
    var method: String
    var amount: Double
    var accuracyBefore: Double
    var accuracyAfter: Double
    var sparsity: SparsityReport
    var channels: [ChannelShrinking.Change]
}
