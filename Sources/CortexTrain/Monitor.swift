import CortexCore
import CortexNN

/// The epoch metric that early stopping, best checkpoints and ReduceLROnPlateau watch, and
/// whether lower or higher is better (Keras's `monitor` and `mode`).
///
/// ```swift
/// let monitor = try Monitor("val_accuracy")        // mode max, inferred from the name
/// trainer.callbacks.append(EarlyStopping(monitor: monitor, patience: 3))
/// ```
public struct Monitor: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Mode: String, Sendable, Codable, CaseIterable { case min, max }

    /// The metrics an ``EpochRecord`` holds.
    public static let metrics = ["val_loss", "val_accuracy", "train_loss", "train_accuracy"]

    public let metric: String
    public let mode: Mode

    /// `mode` nil is Keras's "auto": max for accuracies, min otherwise.
    public init(_ metric: String = "val_loss", mode: Mode? = nil) throws {
        guard Monitor.metrics.contains(metric) else {
            throw CortexError.invalidArgument(operation: "Monitor", reason: "unknown metric \"\(metric)\" (known: \(Monitor.metrics.joined(separator: ", ")))")
        }
        self.metric = metric
        self.mode = mode ?? (metric.hasSuffix("accuracy") ? .max : .min)
    }

    /// The validation loss, lower is better.
    public static let validationLoss = try! Monitor("val_loss")

    public var description: String { "\(metric) (\(mode.rawValue))" }

    /// Whether the metric is measured on the validation set.
    public var needsValidation: Bool { metric.hasPrefix("val_") }

    /// The metric's value in `record`; a typed error when the epoch did not measure it (a
    /// validation metric without a validation set, an accuracy in regression).
    public func value(in record: EpochRecord) throws -> Double {
        let value: Double? = switch metric {
        case "val_loss": record.validationLoss
        case "val_accuracy": record.validationAccuracy
        case "train_loss": record.trainLoss
        default: record.trainAccuracy
        }
        guard let value else {
            throw CortexError.invalidArgument(operation: "Monitor", reason: "epoch \(record.epoch) has no \(metric)"
                + (needsValidation ? ": training runs without a validation set (give one, or monitor train_loss)" : ""))
        }
        return value
    }

    /// Whether `value` beats `best` by more than `minimumDelta` (absolute, as Keras's `min_delta`).
    public func improves(_ value: Double, on best: Double?, minimumDelta: Double = 0) -> Bool {
        guard value.isFinite else { return false }
        guard let best else { return true }
        return mode == .min ? value < best - minimumDelta : value > best + minimumDelta
    }

    /// The matching mode of ``ReduceOnPlateau``.
    public var plateauMode: ReduceOnPlateau.Mode { mode == .min ? .minimize : .maximize }
}
