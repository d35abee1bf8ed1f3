import CortexCore
import CortexData
import CortexDistributed
import CortexNN
import CortexPrivacy
import Foundation

/// What one epoch of training measured.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double?
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var samplesPerSecond: Double
    public var learningRate: Double
    /// With differentially private training: ε spent by the end of the epoch (for the run's δ).
    public var epsilon: Double?
    /// Optimizer steps taken in total when the epoch ended (the x of its figures in step logs).
    public var step: Int?
}

/// Loss and accuracy of a model over a loader, with every prediction.
public struct Evaluation: Sendable {
    public var loss: Double
    public var accuracy: Double?
    public var predictions: [Int]
    public var targets: [Int]
}

/// Called after every epoch; return `false` to stop training early.
public protocol TrainingCallback: AnyObject {
    func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool
}

/// Runs the training loop of a model: batches from a ``DataLoader``, the loss, backward, the
/// optimizer and schedule, validation each epoch, callbacks, progress, checkpoints.
///
/// ```swift
/// let trainer = Trainer(model: model, optimizer: Adam(model.parameters()), loss: { try Loss.crossEntropy($0, targets: $1) })
/// try trainer.fit(train: trainLoader, validation: testLoader, epochs: 3)
/// try trainer.saveCheckpoint(to: "runs/mnist")
/// ```
public final class Trainer: @unchecked Sendable {
    public let model: Module & Layer
    public let optimizer: Optimizer
    public let lossFunction: (Tensor, Tensor) throws -> Tensor
    public var scheduler: LearningRateScheduler?
    public var callbacks: [TrainingCallback] = []
    /// Called after every optimizer step with the number of steps taken (``GradualPruning``).
    public var stepCallbacks: [TrainingStepCallback] = []
    /// Whether targets are class indices (accuracy is reported) or values (regression).
    public var classification = true
    public private(set) var history: [EpochRecord] = []
    /// Where progress goes; by default a bar on a terminal, lines otherwise.
    public var progress: ProgressReporter = ProgressReporter()
    /// Generators whose state a checkpoint saves and restores (dropout's, augmentation's),
    /// so a resumed run draws the same numbers as an uninterrupted one.
    public var generators: [RandomGenerator] = [.default]
    /// The ranks training together. With more than one, set ``dataParallel`` and give `fit`
    /// loaders with a ``DistributedSampler``: loss and accuracy are then summed over all ranks
    /// (every rank reports global figures), and only rank 0 prints progress and writes
    /// checkpoints.
    public var processGroup: any ProcessGroup = SingleProcessGroup()
    /// The data-parallel wrapper whose forward pass (buffer broadcast) and gradient averaging
    /// the training steps use.
    public var dataParallel: DistributedDataParallel? {
        didSet { if let dataParallel { processGroup = dataParallel.group } }
    }
    /// A teacher to distil from: the training loss becomes the distillation loss against its
    /// logits (validation and ``evaluate(_:)`` keep the plain loss).
    public var distillation: Distillation?
    /// Differentially private training (DP-SGD): each step's gradient is clipped per example,
    /// noised and accounted for by this engine. `fit` then needs a Poisson-sampled loader
    /// (`DataLoader(poisson: true)`) whose sample rate is the engine's, and stops before a step
    /// that would pass the engine's target ε.
    public var privacy: PrivateTraining?
    /// Compute and energy of the training loop so far in this process (FLOPs counted by the
    /// ops, samples/s, CPU time, MFU, energy), updated each epoch and saved as compute.json.
    public private(set) var compute: ComputeReport?
    /// Whether the last `fit` stopped because the privacy budget was spent.
    public private(set) var privacyBudgetReached = false
    /// Stops an epoch after this many optimizer steps in total (nil: no limit); for short runs
    /// and equivalence checks.
    public var maximumSteps: Int?
    /// At most this many batches per epoch (nil: all), as Lightning's `limit_train_batches`.
    public var batchesPerEpoch: Int?
    /// Optimizer steps taken so far in this process.
    public private(set) var stepsTaken = 0
    /// Stop with an error as soon as the training loss is not finite (Keras's
    /// `TerminateOnNaN`), instead of training on for the remaining epochs with NaN weights.
    /// In one process it is checked after every batch; across ranks on the epoch's global
    /// loss, which every rank holds, so they stop together.
    public var stopsOnNonFiniteLoss = false
    /// Clips the gradients after backward (after the last accumulated batch) and before the
    /// optimizer step, as `clip_grad_norm_` or `clip_grad_value_` on the model's parameters.
    public var gradientClipping: GradientClip?
    /// Batches whose gradients are summed into one optimizer step (Lightning's
    /// `accumulate_grad_batches`). Each batch's loss is divided by the batches in its window, so
    /// 4 batches of 16 step as one batch of 64 would; the last window of an epoch may be
    /// shorter. Across ranks, only the window's last backward averages gradients (`noSync`).
    public var accumulationSteps = 1
    /// Mixed precision (Lightning's `precision="bf16-mixed"`): `.bfloat16` runs the training and
    /// evaluation passes under ``Autocast`` (bfloat16 matrix products, float32 weights,
    /// gradients and optimizer). nil keeps the precision of the task that calls ``fit``.
    public var precision: Autocast.Precision?
    /// Whether ``scheduler`` steps after every epoch or after every optimizer step.
    public var schedulerInterval: ScheduleInterval = .epoch
    /// Lowers the learning rate when ``monitor`` stops improving (stepped after each epoch's
    /// validation); not together with ``scheduler``.
    public var plateau: ReduceOnPlateau?
    /// The epoch metric ``plateau`` watches (callbacks take their own).
    public var monitor: Monitor = .validationLoss
    /// Per-step logs (JSON lines, TensorBoard), written by rank 0 every ``logEveryNSteps``
    /// optimizer steps and after every epoch.
    public var loggers: [TrainingLogger] = []
    /// Optimizer steps between step logs (Lightning's `log_every_n_steps`).
    public var logEveryNSteps = 50
    /// Every step log of the run so far, resumed runs included (drawn as `loss-by-step.svg`).
    public private(set) var stepHistory: [StepRecord] = []
    /// Files every checkpoint carries beside the model (name: contents), such as the
    /// description a configured model is rebuilt from; listed in the manifest with the rest.
    public var checkpointAttachments: [String: Data] = [:]
    /// Optimizer steps of the whole run, resumed runs included (Lightning's `global_step`).
    public private(set) var globalStep = 0
    /// Whether this rank prints and writes files (rank 0).
    public var isLeader: Bool { processGroup.rank == 0 }

    /// How gradients are clipped before each optimizer step.
    public enum GradientClip: Sendable, Equatable {
        /// Scale all gradients together so their `type`-norm is at most the maximum (`clip_grad_norm_`).
        case norm(Float, type: Float = 2)
        /// Clamp every gradient element to [-value, value] (`clip_grad_value_`).
        case value(Float)
    }

    /// When a learning-rate schedule steps.
    public enum ScheduleInterval: String, Sendable, CaseIterable { case epoch, step }

    public init(model: Module & Layer, optimizer: Optimizer, loss: @escaping (Tensor, Tensor) throws -> Tensor,
                scheduler: LearningRateScheduler? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.lossFunction = loss
        self.scheduler = scheduler
    }

    /// Trains until `epochs` epochs are complete in total (so after resuming from a checkpoint
    /// at epoch k it runs epochs k+1 ... `epochs`). Returns the records of the epochs it ran.
    @discardableResult
    public func fit(train: DataLoader, validation: DataLoader? = nil, epochs: Int) throws -> [EpochRecord] {
        var ran: [EpochRecord] = []
        privacyBudgetReached = false
        try checkSettings(validation: validation)
        if let privacy { try checkPrivateLoader(train, privacy) }
        let meter = ComputeMeter(unit: "samples")
        var trainedExamples = 0
        defer { compute = meter.finish(examples: trainedExamples) }
        let parameters = model.parameters()
        var logStarted = Date(), loggedExamples = 0
        while history.count < epochs {
            let epoch = history.count
            model.train()
            let started = Date()
            var lossSum = 0.0, correct = 0, seen = 0, step = 0, batchIndex = 0
            var windowLoss = 0.0, windowExamples = 0
            var batches = try train.epoch(epoch)
            if let batchesPerEpoch { batches = batches.prefix(batchesPerEpoch) }
            var stopped = false
            if let maximumSteps, batches.count >= (maximumSteps - stepsTaken) * accumulationSteps {
                batches = batches.prefix((maximumSteps - stepsTaken) * accumulationSteps)
                stopped = true
            }
            let batchCount = batches.count
            var budgetReached = false
            try batches.forEachBatch { batch in
                guard !budgetReached else { return }
                // The accumulation window this batch belongs to: where it starts, how many batches it has.
                let windowStart = batchIndex - batchIndex % accumulationSteps
                let windowSize = min(accumulationSteps, batchCount - windowStart)
                let endsWindow = batchIndex - windowStart == windowSize - 1
                if batchIndex == windowStart {
                    if let privacy, try privacy.wouldExceedBudget() {
                        budgetReached = true
                        return
                    }
                    optimizer.zeroGrad()
                    privacy?.perSample.reset()
                    (windowLoss, windowExamples) = (0, 0)
                }
                batchIndex += 1
                if batch.count > 0 || privacy == nil {
                    let forwardBackward = { () throws -> (Tensor, Tensor) in
                        try self.withPrecision {
                            let output = try self.dataParallel.map { try $0(batch.inputs) } ?? self.model(batch.inputs)
                            let loss = try self.distillation.map { try $0.loss(studentOutput: output, inputs: batch.inputs, targets: batch.targets) }
                                ?? self.lossFunction(output, batch.targets)
                            try (windowSize > 1 ? loss * (1 / Float(windowSize)) : loss).backward()
                            return (output, loss)
                        }
                    }
                    // Across ranks, gradients are averaged once per window, by its last backward.
                    let (output, loss) = try endsWindow ? forwardBackward() : (dataParallel.map { try $0.noSync(forwardBackward) } ?? forwardBackward())
                    let batchLoss = Double(try loss.item())
                    if stopsOnNonFiniteLoss && processGroup.size == 1 && !batchLoss.isFinite {
                        throw diverged(batchLoss, epoch: epoch + 1, step: step + 1)
                    }
                    lossSum += batchLoss * Double(batch.count)
                    (windowLoss, windowExamples) = (windowLoss + batchLoss * Double(batch.count), windowExamples + batch.count)
                    if classification { correct += try correctCount(output, batch.targets) }
                }
                seen += batch.count
                trainedExamples += batch.count
                loggedExamples += batch.count
                meter.tick()
                guard endsWindow else { return }
                let logs = isLeader && !loggers.isEmpty && (globalStep + 1) % logEveryNSteps == 0
                var gradientNorm: Float?
                switch gradientClipping {
                case .norm(let maximum, let type): gradientNorm = try GradientClipping.clipNorm(parameters, maxNorm: maximum, normType: type)
                case .value(let value):
                    if logs { gradientNorm = try GradientClipping.norm(parameters) }
                    try GradientClipping.clipValue(parameters, value: value)
                case nil: if logs { gradientNorm = try GradientClipping.norm(parameters) }
                }
                if let privacy { try privacy.privatizeGradients() }
                let learningRate = Double(optimizer.learningRates.first ?? 0)
                try optimizer.step()
                privacy?.recordStep()
                step += 1
                stepsTaken += 1
                globalStep += 1
                if schedulerInterval == .step { scheduler?.step() }
                for callback in stepCallbacks { try callback.stepEnded(stepsTaken, trainer: self) }
                if logs {
                    let now = Date()
                    let record = StepRecord(step: globalStep, epoch: epoch + 1, loss: windowLoss / Double(max(windowExamples, 1)),
                                            learningRate: learningRate, gradientNorm: gradientNorm.map(Double.init),
                                            samplesPerSecond: Double(loggedExamples) / max(now.timeIntervalSince(logStarted), 1e-9))
                    stepHistory.append(record)
                    for logger in loggers { try logger.stepLogged(record) }
                    (logStarted, loggedExamples) = (now, 0)
                }
                if isLeader { progress.step(epoch: epoch + 1, of: epochs, step: batchIndex, of: batchCount, loss: lossSum / Double(max(seen, 1)),
                              accuracy: classification ? Double(correct) / Double(max(seen, 1)) : nil,
                              seen: seen, elapsed: Date().timeIntervalSince(started)) }
            }
            let seconds = max(Date().timeIntervalSince(started), 1e-9)
            (lossSum, correct, seen) = try overAllRanks(lossSum, correct, seen)
            if stopsOnNonFiniteLoss && !lossSum.isFinite { throw diverged(lossSum, epoch: epoch + 1, step: nil) }
            var record = EpochRecord(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)),
                                     trainAccuracy: classification ? Double(correct) / Double(max(seen, 1)) : nil,
                                     samplesPerSecond: Double(seen) / seconds, learningRate: Double(optimizer.learningRates.first ?? 0))
            record.step = globalStep
            if let validation {
                let evaluation = try evaluate(validation)
                record.validationLoss = evaluation.loss
                record.validationAccuracy = evaluation.accuracy
            }
            record.epsilon = try privacy?.epsilon()
            compute = meter.report(examples: trainedExamples)
            if budgetReached {
                privacyBudgetReached = true
                stopped = true
            }
            if stopped && seen == 0 && step == 0 { break }
            if schedulerInterval == .epoch { scheduler?.step() }
            if let plateau { plateau.step(metric: Float(try monitor.value(in: record))) }
            history.append(record)
            ran.append(record)
            if isLeader {
                progress.epochEnded(record)
                for logger in loggers { try logger.epochLogged(record, step: globalStep) }
            }
            var keepGoing = true
            for callback in callbacks { keepGoing = try callback.epochEnded(record, trainer: self) && keepGoing }
            if !keepGoing || stopped { break }
        }
        return ran
    }

    /// Refuses settings that cannot work together, before any training.
    private func checkSettings(validation: DataLoader?) throws {
        guard accumulationSteps >= 1 else {
            throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "accumulationSteps \(accumulationSteps) must be at least 1")
        }
        guard logEveryNSteps >= 1 else {
            throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "logEveryNSteps \(logEveryNSteps) must be at least 1")
        }
        switch gradientClipping {
        case .norm(let maximum, let type):
            guard maximum > 0, maximum.isFinite, type > 0 else {
                throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "clipping by norm needs a positive maximum and norm type, got \(maximum) and \(type)")
            }
        case .value(let value):
            guard value > 0, value.isFinite else {
                throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "clipping by value needs a positive value, got \(value)")
            }
        case nil: break
        }
        if privacy != nil && (gradientClipping != nil || accumulationSteps > 1) {
            throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "differentially private training clips per example and steps per Poisson batch; it takes neither gradient clipping nor accumulation")
        }
        if plateau != nil {
            guard scheduler == nil else {
                throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "ReduceLROnPlateau and a learning-rate schedule would both set the rate; use one")
            }
            if monitor.needsValidation && validation == nil {
                throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "ReduceLROnPlateau watches \(monitor.metric), but there is no validation set")
            }
        }
        for case let callback as MonitoringCallback in callbacks where callback.monitor.needsValidation && validation == nil {
            throw CortexError.invalidArgument(operation: "Trainer.fit", reason: "\(type(of: callback)) watches \(callback.monitor.metric), but there is no validation set")
        }
    }

    private func diverged(_ loss: Double, epoch: Int, step: Int?) -> CortexError {
        let rate = optimizer.learningRates.first.map { " (learning rate \($0))" } ?? ""
        return .invalidArgument(operation: "Trainer.fit", reason: "the training loss became \(loss) at epoch \(epoch)"
                                + (step.map { ", step \($0)" } ?? "") + ": training diverged; lower the learning rate\(rate) or clip the gradients")
    }

    /// Mean loss (and accuracy for classification) over `loader`, in evaluation mode without
    /// gradients. Across several ranks, each evaluates its share (a loader with an unpadded
    /// ``DistributedSampler``) and the loss and accuracy are over all shares; `predictions` and
    /// `targets` then hold this rank's share.
    /// `body` under ``precision`` where one is set.
    func withPrecision<Result>(_ body: () throws -> Result) rethrows -> Result {
        guard let precision else { return try body() }
        return try Autocast.run(precision, body)
    }

    public func evaluate(_ loader: DataLoader) throws -> Evaluation {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var lossSum = 0.0, seen = 0
        var predictions: [Int] = [], targets: [Int] = []
        try withNoGrad {
            try loader.epoch(0).forEachBatch { batch in
                let output = try withPrecision { try model(batch.inputs) }
                lossSum += Double(try lossFunction(output, batch.targets).item()) * Double(batch.count)
                seen += batch.count
                if classification {
                    predictions += try output.argmax(axis: -1).toIntArray()
                    targets += try batch.targets.toIntArray()
                }
            }
        }
        var correct = zip(predictions, targets).filter { $0 == $1 }.count
        (lossSum, correct, seen) = try overAllRanks(lossSum, correct, seen)
        return Evaluation(loss: lossSum / Double(max(seen, 1)), accuracy: classification ? Double(correct) / Double(max(seen, 1)) : nil,
                          predictions: predictions, targets: targets)
    }

    /// A private run needs Poisson batches at the engine's sample rate.
    private func checkPrivateLoader(_ train: DataLoader, _ privacy: PrivateTraining) throws {
        guard let rate = train.poissonSampleRate else {
            throw CortexError.invalidArgument(operation: "private training",
                                              reason: "the training loader must sample Poisson batches (DataLoader(..., poisson: true)) for the privacy accounting to hold")
        }
        guard abs(rate - privacy.sampleRate) <= 1e-12 * max(rate, 1) else {
            throw CortexError.invalidArgument(operation: "private training",
                                              reason: "the loader's sample rate \(rate) differs from the one accounted for, \(privacy.sampleRate)")
        }
        guard processGroup.size == 1 else {
            throw CortexError.invalidArgument(operation: "private training", reason: "is single-process; it cannot run on \(processGroup.size) ranks")
        }
    }

    /// A loss sum, a count of correct predictions and a count of examples, summed over the ranks.
    private func overAllRanks(_ lossSum: Double, _ correct: Int, _ seen: Int) throws -> (Double, Int, Int) {
        guard processGroup.size > 1 else { return (lossSum, correct, seen) }
        let totals = try processGroup.allReduce([lossSum, Double(correct), Double(seen)], operation: .sum)
        return (totals[0], Int(totals[1].rounded()), Int(totals[2].rounded()))
    }

    private func correctCount(_ output: Tensor, _ targets: Tensor) throws -> Int {
        let predicted = try output.detach().argmax(axis: -1).toIntArray()
        return zip(predicted, try targets.toIntArray()).filter { $0 == $1 }.count
    }

    // MARK: Checkpoints

    /// The number of epochs a checkpoint in `directory` has trained (nil when it has no readable trainer.json).
    public static func checkpointEpoch(_ directory: String) -> Int? {
        let path = directory + "/trainer.json"
        return FileManager.default.contents(atPath: path).flatMap { try? readState($0, path: path) }?.history.count
    }

    /// Decodes a trainer.json (what ``loadCheckpoint(from:)`` reads before it changes anything).
    static func readState(_ data: Data, path: String) throws -> TrainerState {
        do { return try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw CortexError.invalidFile(path: path, reason: "not a trainer state: \(error)")
        }
    }

    struct TrainerState: Codable {
        var history: [EpochRecord]
        var randomStates: [[UInt64]]
        var schedulerState: [String: String]?
        /// A private run's accountant and noise generator, so a resumed run counts on.
        var privacy: PrivacyState?
        var plateauState: [String: String]?
        var stepHistory: [StepRecord]?
        var globalStep: Int?
    }

    struct PrivacyState: Codable {
        var accountant: RDPAccountant
        var noiseGenerator: [UInt64]
        var noiseMultiplier: Double, maxGradNorm: Double, sampleRate: Double, delta: Double
        var epsilon: Double
    }

    /// The files a checkpoint directory holds.
    public static let checkpointFiles: Set<String> = ["model.safetensors", "optimizer.safetensors", "trainer.json", "loss.svg", "accuracy.svg", TrainingCurves.stepChartName,
                                                       "compute.json", CheckpointManifest.fileName]
    /// The files without which a checkpoint cannot resume.
    static let requiredCheckpointFiles = ["model.safetensors", "optimizer.safetensors", "trainer.json"]

    /// Writes model, optimizer, schedule, RNG state and history into `directory`, plus loss and
    /// accuracy curves as SVG files beside them, and last a ``CheckpointManifest`` naming them
    /// all with their hashes. A directory that is new, empty or holds only a checkpoint is
    /// replaced at once (written beside it, then swapped in): a process killed while saving
    /// leaves the previous checkpoint whole. One that holds other files too keeps them; its old
    /// manifest is removed first and each file written atomically, so a kill there leaves a
    /// checkpoint that ``loadCheckpoint(from:)`` refuses as partial. Only rank 0 writes; the
    /// other ranks return at once.
    public func saveCheckpoint(to directory: String) throws {
        guard isLeader else { return }
        try AtomicDirectory.write(to: directory, owning: Trainer.checkpointFiles.union(checkpointAttachments.keys)) { staging in
            try CheckpointManifest.remove(from: staging)
            try model.save(to: staging + "/model.safetensors")
            let (tensors, metadata) = try optimizer.stateDict()
            try Safetensors.save(tensors, metadata: metadata, to: staging + "/optimizer.safetensors")
            let privacyState = try privacy.map {
                PrivacyState(accountant: $0.accountant, noiseGenerator: $0.generator.stateWords, noiseMultiplier: $0.noiseMultiplier,
                             maxGradNorm: $0.maxGradNorm, sampleRate: $0.sampleRate, delta: $0.delta, epsilon: try $0.epsilon())
            }
            let state = TrainerState(history: history, randomStates: generators.map(\.stateWords), schedulerState: scheduler?.state,
                                     privacy: privacyState, plateauState: plateau?.state, stepHistory: stepHistory, globalStep: globalStep)
            try AtomicFile.writeJSON(state, to: staging + "/trainer.json")
            try TrainingCurves.write(history: history, steps: stepHistory, to: staging)
            try compute?.write(to: staging + "/compute.json")
            for (name, contents) in checkpointAttachments.sorted(by: { $0.key < $1.key }) {
                try AtomicFile.write(to: staging + "/" + name) { handle in try contents.withUnsafeBytes { try handle.write($0) } }
            }
            // What this save wrote (a file left by an earlier save in a shared directory is not named).
            let written = Trainer.requiredCheckpointFiles + (compute == nil ? [] : ["compute.json"]) + checkpointAttachments.keys.sorted()
                + ["loss.svg", "accuracy.svg", TrainingCurves.stepChartName].filter { FileManager.default.fileExists(atPath: staging + "/" + $0) }
            try CheckpointManifest.write(directory: staging, files: written, epoch: history.count)
        }
    }

    /// Restores a checkpoint written by ``saveCheckpoint(to:)``; training then continues exactly
    /// where it stopped. A checkpoint whose files do not all match its manifest (a save that was
    /// interrupted, files copied in from another run) is refused, naming the file.
    public func loadCheckpoint(from directory: String) throws {
        try? AtomicDirectory.recover(directory)
        let trainerPath = directory + "/trainer.json"
        guard FileManager.default.fileExists(atPath: trainerPath) || CheckpointManifest.exists(in: directory) else {
            throw CortexError.io(path: trainerPath, reason: "no checkpoint here")
        }
        let manifest = try CheckpointManifest.verify(directory: directory, requiring: Trainer.requiredCheckpointFiles)
        guard let data = FileManager.default.contents(atPath: trainerPath) else {
            throw CortexError.io(path: trainerPath, reason: "cannot be read")
        }
        let state = try Trainer.readState(data, path: trainerPath)
        if let epoch = manifest.epoch, epoch != state.history.count {
            throw CortexError.invalidFile(path: directory, reason: "is a mixed checkpoint: its manifest is of epoch \(epoch), trainer.json of epoch \(state.history.count)")
        }
        try model.loadStateDict(from: directory + "/model.safetensors")
        let optimizerFile = try Safetensors.load(directory + "/optimizer.safetensors")
        try optimizer.loadStateDict(tensors: optimizerFile.tensors, metadata: optimizerFile.metadata)
        if let scheduler, let schedulerState = state.schedulerState { try scheduler.load(state: schedulerState) }
        if let plateau, let plateauState = state.plateauState { try plateau.load(state: plateauState) }
        guard state.randomStates.count == generators.count, state.randomStates.allSatisfy({ $0.count == 4 }) else {
            throw CortexError.invalidFile(path: trainerPath, reason: "holds \(state.randomStates.count) generator states of 4 words, the trainer has \(generators.count) generators")
        }
        for (generator, words) in zip(generators, state.randomStates) { generator.stateWords = words }
        if let privacy {
            guard let saved = state.privacy else {
                throw CortexError.invalidFile(path: trainerPath, reason: "is the checkpoint of a run without differential privacy; a private run cannot resume it (its privacy spent is unknown)")
            }
            privacy.accountant = saved.accountant
            if saved.noiseGenerator.count == 4 { privacy.generator.stateWords = saved.noiseGenerator }
        }
        history = state.history
        stepHistory = state.stepHistory ?? []
        globalStep = state.globalStep ?? history.compactMap(\.step).last ?? 0
    }
}
