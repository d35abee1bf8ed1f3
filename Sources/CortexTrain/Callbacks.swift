import CortexCore
import Foundation

/// A callback that watches an epoch metric; the trainer refuses to start when it names a
/// validation metric and there is no validation set.
public protocol MonitoringCallback: TrainingCallback {
    var monitor: Monitor { get }
}

/// Stops training when the monitored metric (the validation loss by default) has not
/// improved by more than `minimumDelta` for `patience` epochs (Keras's `EarlyStopping`). A
/// validation metric with no validation set is an error, never a silent switch to the
/// training loss.
public final class EarlyStopping: MonitoringCallback {
    public let monitor: Monitor
    public let patience: Int, minimumDelta: Double
    public private(set) var best: Double?
    private var waited = 0

    public init(monitor: Monitor = .validationLoss, patience: Int = 3, minimumDelta: Double = 0) {
        self.monitor = monitor
        self.patience = patience
        self.minimumDelta = minimumDelta
    }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        if best == nil {
            // A resumed run: replay the epochs before this one, so patience counts on.
            for earlier in trainer.history.dropLast() { if let value = try? monitor.value(in: earlier) { observe(value) } }
        }
        observe(try monitor.value(in: record))
        return waited < patience
    }

    private func observe(_ value: Double) {
        if monitor.improves(value, on: best, minimumDelta: minimumDelta) { (best, waited) = (value, 0) } else { waited += 1 }
    }
}

/// Saves a checkpoint into `directory` whenever the monitored metric (the validation loss by
/// default) improves, as Keras's `ModelCheckpoint(save_best_only=True)`.
public final class BestCheckpoint: MonitoringCallback {
    public let directory: String
    public let monitor: Monitor
    public private(set) var best: Double?
    /// The epoch whose model the directory holds.
    public private(set) var bestEpoch: Int?

    public init(directory: String, monitor: Monitor = .validationLoss) {
        self.directory = directory
        self.monitor = monitor
    }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        let value = try monitor.value(in: record)
        if best == nil {
            // A resumed run: the best of the epochs before this one, so a worse epoch never replaces it.
            for earlier in trainer.history.dropLast() {
                if let earlierValue = try? monitor.value(in: earlier), monitor.improves(earlierValue, on: best) { (best, bestEpoch) = (earlierValue, earlier.epoch) }
            }
        }
        if monitor.improves(value, on: best) {
            (best, bestEpoch) = (value, record.epoch)
            try trainer.saveCheckpoint(to: directory)
        }
        return true
    }
}

/// Saves a checkpoint into `directory` after every epoch (the whole directory replaced at once),
/// so a run that dies loses at most the epoch in progress and `--resume` continues from it.
public final class EpochCheckpoint: TrainingCallback {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        try trainer.saveCheckpoint(to: directory)
        return true
    }
}

/// Writes every epoch record as a CSV row (rewritten atomically each epoch).
public final class CSVLogger: TrainingCallback {
    public let path: String

    public init(path: String) { self.path = path }

    public func epochEnded(_ record: EpochRecord, trainer: Trainer) throws -> Bool {
        guard trainer.isLeader else { return true }
        func cell(_ value: Double?) -> String { value.map { String(format: "%.6g", $0) } ?? "" }
        var lines = ["epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,samples_per_second,learning_rate"]
        for row in trainer.history {
            lines.append([String(row.epoch), cell(row.trainLoss), cell(row.trainAccuracy), cell(row.validationLoss),
                          cell(row.validationAccuracy), cell(row.samplesPerSecond), cell(row.learningRate)].joined(separator: ","))
        }
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        try AtomicFile.write(to: path) { handle in try text.withUnsafeBytes { try handle.write($0) } }
        return true
    }
}

/// Training progress: a live bar when standard output is a terminal, log lines otherwise.
public struct ProgressReporter: Sendable {
    public var enabled = true
    let interactive = isatty(STDOUT_FILENO) != 0

    public init(enabled: Bool = true) { self.enabled = enabled }

    func step(epoch: Int, of epochs: Int, step: Int, of steps: Int, loss: Double, accuracy: Double?, seen: Int, elapsed: Double) {
        guard enabled, interactive, step > 0 else { return }
        let width = 24
        let filled = steps > 0 ? width * step / steps : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let remaining = elapsed / Double(step) * Double(steps - step)
        let accuracyText = accuracy.map { String(format: " acc %.4f", $0) } ?? ""
        print(String(format: "\repoch %d/%d [%@] %d/%d loss %.4f%@ %.0f samples/s ETA %.0fs", epoch, epochs, bar, step, steps, loss,
                     accuracyText, Double(seen) / max(elapsed, 1e-9), remaining), terminator: "")
        fflush(nil)
    }

    func epochEnded(_ record: EpochRecord) {
        guard enabled else { return }
        var parts = [String(format: "epoch %d: train loss %.4f", record.epoch, record.trainLoss)]
        if let accuracy = record.trainAccuracy { parts.append(String(format: "train accuracy %.4f", accuracy)) }
        if let loss = record.validationLoss { parts.append(String(format: "validation loss %.4f", loss)) }
        if let accuracy = record.validationAccuracy { parts.append(String(format: "validation accuracy %.4f", accuracy)) }
        parts.append(String(format: "%.0f samples/s", record.samplesPerSecond))
        print((interactive ? "\r" : "") + parts.joined(separator: ", "))
    }
}
