import ArgumentParser
import CortexCore
import CortexData
import CortexNN
import CortexTrain
import Foundation

/// How the image recipes train beyond the model and the optimizer: the validation split, what
/// to monitor, clipping, accumulation, the learning-rate schedule, early stopping and step logs.
struct TrainingControls {
    /// The fraction of the training set held out for validation (stratified, seeded); 0: none.
    var validationSplit = 0.1
    var monitor = Monitor.validationLoss
    var earlyStoppingPatience: Int?
    var clipping: Trainer.GradientClip?
    var accumulation = 1
    var schedule = Schedule.cosine
    var scheduleInterval = Trainer.ScheduleInterval.epoch
    var plateauPatience = 2
    var plateauFactor: Float = 0.1
    var logEveryNSteps = 50

    enum Schedule: String, CaseIterable, ExpressibleByArgument {
        /// Cosine decay from the learning rate to 0 over the run.
        case cosine
        /// The learning rate throughout.
        case constant
        /// ReduceLROnPlateau on the monitored metric.
        case plateau
    }

    /// Sets `trainer` up for a run of `epochs` epochs of `batchesPerEpoch` batches.
    func configure(_ trainer: Trainer, epochs: Int, batchesPerEpoch: Int, hasValidation: Bool) throws {
        trainer.gradientClipping = clipping
        trainer.accumulationSteps = accumulation
        trainer.monitor = monitor
        trainer.logEveryNSteps = logEveryNSteps
        trainer.schedulerInterval = scheduleInterval
        switch schedule {
        case .cosine:
            let stepsPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation
            let steps = scheduleInterval == .epoch ? epochs : max(epochs * stepsPerEpoch, 1)
            trainer.scheduler = try CosineAnnealing(trainer.optimizer, maximumSteps: steps, minimumLearningRate: 0)
        case .constant: trainer.scheduler = nil
        case .plateau:
            trainer.scheduler = nil
            trainer.plateau = try ReduceOnPlateau(trainer.optimizer, mode: monitor.plateauMode, factor: plateauFactor, patience: plateauPatience)
        }
        if monitor.needsValidation && !hasValidation && (schedule == .plateau || earlyStoppingPatience != nil) {
            throw CortexError.invalidArgument(operation: "cortex train", reason: "--monitor \(monitor.metric) needs a validation split; --validation-split is 0")
        }
        if let earlyStoppingPatience { trainer.callbacks.append(EarlyStopping(monitor: monitor, patience: earlyStoppingPatience)) }
    }
}

/// The flags that fill ``TrainingControls`` (`cortex train`, `cortex distill`).
struct TrainingControlOptions: ParsableArguments {
    @Option(name: .customLong("validation-split"), help: "The fraction of the training data held out for validation (default 0.1): for image recipes stratified by class and seeded (0: none; the test set is still read only at the end), for the language models the end of the text, for linear-regression a seeded share.")
    var validationSplit: Double?
    @Option(help: "The epoch metric to monitor for early stopping, the best checkpoint (OUT/best) and --lr-schedule plateau: val_loss, val_accuracy, train_loss or train_accuracy.")
    var monitor = "val_loss"
    @Option(help: "Whether the monitored metric should fall (min) or rise (max); auto: max for accuracies.") var mode = "auto"
    @Option(name: .customLong("early-stopping"), help: "Stop after this many epochs without improvement of the monitored metric.")
    var earlyStopping: Int?
    @Option(name: .customLong("clip-grad-norm"), help: "Scale the gradients so their global 2-norm is at most this (clip_grad_norm_).")
    var clipGradientNorm: Float?
    @Option(name: .customLong("clip-grad-value"), help: "Clamp every gradient element to [-v, v] (clip_grad_value_).")
    var clipGradientValue: Float?
    @Option(name: .customLong("accumulate-grad-batches"), help: "Batches whose gradients make one optimizer step.")
    var accumulateGradientBatches = 1
    @Option(name: .customLong("lr-schedule"), help: "cosine (to 0 over the run; the default), constant, or plateau (ReduceLROnPlateau on --monitor).")
    var schedule: TrainingControls.Schedule?
    @Option(name: .customLong("schedule-interval"), help: "Step the schedule after every epoch or every optimizer step.")
    var scheduleInterval = "epoch"
    @Option(name: .customLong("plateau-patience"), help: "--lr-schedule plateau: epochs without improvement before the rate is cut.")
    var plateauPatience = 2
    @Option(name: .customLong("plateau-factor"), help: "--lr-schedule plateau: the factor the rate is multiplied by.")
    var plateauFactor: Float = 0.1
    @Option(name: .customLong("log-every-n-steps"), help: "Optimizer steps between step logs (OUT/steps.jsonl and a TensorBoard event file in OUT).")
    var logEveryNSteps = 50

    func validate() throws { _ = try controls() }

    func controls() throws -> TrainingControls {
        let validationSplit = self.validationSplit ?? 0.1
        guard validationSplit >= 0 && validationSplit < 1 else { throw ValidationError("--validation-split must be in [0, 1), got \(validationSplit)") }
        guard Monitor.metrics.contains(monitor) else {
            throw ValidationError("--monitor must be one of \(Monitor.metrics.joined(separator: ", ")), got \(monitor)")
        }
        guard mode == "auto" || Monitor.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be auto, min or max, got \(mode)") }
        guard let interval = Trainer.ScheduleInterval(rawValue: scheduleInterval) else {
            throw ValidationError("--schedule-interval must be epoch or step, got \(scheduleInterval)")
        }
        if let earlyStopping, earlyStopping <= 0 { throw ValidationError("--early-stopping must be positive, got \(earlyStopping)") }
        if clipGradientNorm != nil && clipGradientValue != nil { throw ValidationError("give --clip-grad-norm or --clip-grad-value, not both") }
        if let clipGradientNorm, !(clipGradientNorm > 0) { throw ValidationError("--clip-grad-norm must be positive, got \(clipGradientNorm)") }
        if let clipGradientValue, !(clipGradientValue > 0) { throw ValidationError("--clip-grad-value must be positive, got \(clipGradientValue)") }
        guard accumulateGradientBatches >= 1 else { throw ValidationError("--accumulate-grad-batches must be at least 1, got \(accumulateGradientBatches)") }
        guard plateauPatience >= 0 else { throw ValidationError("--plateau-patience must be 0 or more, got \(plateauPatience)") }
        guard plateauFactor > 0 && plateauFactor < 1 else { throw ValidationError("--plateau-factor must be in (0, 1), got \(plateauFactor)") }
        guard logEveryNSteps >= 1 else { throw ValidationError("--log-every-n-steps must be at least 1, got \(logEveryNSteps)") }
        var controls = TrainingControls()
        controls.validationSplit = validationSplit
        controls.monitor = try Monitor(monitor, mode: Monitor.Mode(rawValue: mode))
        controls.earlyStoppingPatience = earlyStopping
        controls.clipping = clipGradientNorm.map { .norm($0) } ?? clipGradientValue.map { .value($0) }
        controls.accumulation = accumulateGradientBatches
        (controls.schedule, controls.scheduleInterval) = (schedule ?? .cosine, interval)
        (controls.plateauPatience, controls.plateauFactor, controls.logEveryNSteps) = (plateauPatience, plateauFactor, logEveryNSteps)
        return controls
    }
}
