import CortexCore
import CortexData
import CortexNN
import CortexTrain
import Foundation
import Synchronization

extension FuzzTarget {
    static let trainingTargets: [FuzzTarget] = [trainerState, optimizerState]

    static let trainerState = FuzzTarget("trainer-state", "a checkpoint's trainer.json (history, RNG, schedule, privacy), resumed", seeds: { _ in
        let directory = try TrainingFixture.checkpoint()
        return [try TrainingFixture.saved(directory + "/trainer.json")]
    }, body: { workspace, bytes in
        let directory = try TrainingFixture.checkpoint()
        try workspace.file("trainer.json", bytes, in: TrainingFixture.folder)
        // A stranger's checkpoint can carry a manifest that matches: the resume itself must cope.
        try CheckpointManifest.write(directory: directory, files: ["model.safetensors", "optimizer.safetensors", "trainer.json"])
        let trainer = TrainingFixture.trainer()
        try trainer.loadCheckpoint(from: directory)
        _ = trainer.history.last?.trainLoss
        _ = trainer.optimizer.learningRates
    })

    static let optimizerState = FuzzTarget("optimizer-state", "an optimizer.safetensors (SGD, Adam, AdamW state), loaded then stepped", seeds: { _ in
        try TrainingFixture.optimizers().map { optimizer, _ in
            let (tensors, metadata) = try optimizer.stateDict()
            let path = try FuzzWorkspace.shared.file("seed-optimizer.safetensors", [])
            try Safetensors.save(tensors, metadata: metadata, to: path)
            return try TrainingFixture.saved(path)
        }
    }, body: { workspace, bytes in
        let file = try Safetensors.load(try workspace.file("optimizer.safetensors", bytes))
        for (optimizer, model) in try TrainingFixture.optimizers(steps: 0) {
            try attempt {
                try optimizer.loadStateDict(tensors: file.tensors, metadata: file.metadata)
                // A state accepted must also be one the next step can use.
                try TrainingFixture.step(optimizer, model)
            }
        }
    })
}

/// The small model, data and checkpoint the training targets load states into.
enum TrainingFixture {
    static let folder = "checkpoint"
    private static let made = Mutex<String?>(nil)

    static func model() -> Sequential {
        Sequential(Linear(4, 6, generator: RandomGenerator(seed: 1)), ReLU(), Linear(6, 3, generator: RandomGenerator(seed: 2)))
    }

    static func data() throws -> TensorDataset {
        let generator = RandomGenerator(seed: 3)
        let inputs = try Tensor.randn([24, 4], generator: generator)
        return try TensorDataset(inputs: inputs, targets: Tensor(integers: (0..<24).map { $0 % 3 }))
    }

    static func trainer() -> Trainer {
        let model = model()
        let optimizer = AdamW(model.parameters(), learningRate: 0.01)
        let trainer = Trainer(model: model, optimizer: optimizer, loss: { try Loss.crossEntropy($0, targets: $1) },
                              scheduler: try? CosineAnnealing(optimizer, maximumSteps: 4, minimumLearningRate: 0))
        trainer.progress = ProgressReporter(enabled: false)
        trainer.generators = [RandomGenerator(seed: 4)]
        return trainer
    }

    /// A real checkpoint of two epochs, made once per process in the workspace.
    static func checkpoint() throws -> String {
        try made.withLock { path in
            if let path { return path }
            let directory = FuzzWorkspace.shared.directory + "/" + folder
            let trainer = trainer()
            try trainer.fit(train: DataLoader(try data(), batchSize: 8, shuffle: true, seed: 5), epochs: 2)
            try trainer.saveCheckpoint(to: directory)
            path = directory
            return directory
        }
    }

    /// SGD with momentum, Adam and AdamW, each over a model of its own, after `steps` steps.
    static func optimizers(steps: Int = 2) throws -> [(Optimizer, Sequential)] {
        let made: [(Sequential) -> Optimizer] = [
            { SGD($0.parameters(), learningRate: 0.1, momentum: 0.9) }, { Adam($0.parameters(), learningRate: 0.01) },
            { AdamW($0.parameters(), learningRate: 0.01) },
        ]
        return try made.map { make in
            let model = model()
            let optimizer = make(model)
            for _ in 0..<steps { try step(optimizer, model) }
            return (optimizer, model)
        }
    }

    /// The gradients of a small classification loss, then one step.
    static func step(_ optimizer: Optimizer, _ model: Sequential) throws {
        optimizer.zeroGrad()
        let batch = try data()
        try Loss.crossEntropy(try model(batch.inputs), targets: batch.targets).backward()
        try optimizer.step()
    }

    static func saved(_ path: String) throws -> [UInt8] {
        guard let bytes = SeedSources.bytes(path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        return bytes
    }
}
