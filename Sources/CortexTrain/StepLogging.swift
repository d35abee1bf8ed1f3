import CortexCore
import Foundation

/// What the trainer measured over the optimizer steps since the previous log.
public struct StepRecord: Codable, Sendable, Equatable {
    /// Optimizer steps taken so far (in this run and the runs it resumed).
    public var step: Int
    public var epoch: Int
    /// The training loss of the last optimizer step (the mean over its accumulated batches).
    public var loss: Double
    public var learningRate: Double
    /// The gradients' global 2-norm before clipping, as `clip_grad_norm_` returns it.
    public var gradientNorm: Double?
    /// Training examples per second since the previous log.
    public var samplesPerSecond: Double

    /// The record as TensorBoard scalars.
    public var scalars: [(tag: String, value: Float)] {
        var scalars: [(tag: String, value: Float)] = [("train/loss", Float(loss)), ("train/learning_rate", Float(learningRate))]
        if let gradientNorm { scalars.append(("train/gradient_norm", Float(gradientNorm))) }
        scalars.append(("train/samples_per_second", Float(samplesPerSecond)))
        return scalars
    }
}

extension EpochRecord {
    /// The epoch's figures as TensorBoard scalars (`epoch/train_loss`, `epoch/val_loss`, ...).
    public var scalars: [(tag: String, value: Float)] {
        let named: [(String, Double?)] = [("epoch/train_loss", trainLoss), ("epoch/train_accuracy", trainAccuracy),
                                          ("epoch/val_loss", validationLoss), ("epoch/val_accuracy", validationAccuracy),
                                          ("epoch/learning_rate", learningRate), ("epoch/samples_per_second", samplesPerSecond),
                                          ("epoch/epsilon", epsilon)]
        return named.compactMap { tag, value in value.map { (tag, Float($0)) } }
    }
}

/// Receives the trainer's per-step logs (every ``Trainer/logEveryNSteps`` optimizer steps)
/// and its epoch records. Only rank 0 logs.
public protocol TrainingLogger: AnyObject {
    func stepLogged(_ record: StepRecord) throws
    func epochLogged(_ record: EpochRecord, step: Int) throws
}

/// Writes each log as one JSON object per line: `step`, `epoch`, `wall_time` and the same
/// scalar names a ``TensorBoardLogger`` writes (`train/loss`, `epoch/val_loss`, ...), with
/// the float32 values TensorBoard stores.
public final class JSONLinesLogger: TrainingLogger {
    public let path: String
    private let handle: FileHandle

    /// Starts `path` afresh, or appends to it with `append` (a resumed run).
    public init(path: String, append: Bool = false) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CortexError.io(path: path, reason: "cannot create the log") }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CortexError.io(path: path, reason: "cannot open the log") }
        handle.seekToEndOfFile()
        self.path = path
        self.handle = handle
    }

    deinit { try? handle.close() }

    public func stepLogged(_ record: StepRecord) throws {
        try write(step: record.step, epoch: record.epoch, scalars: record.scalars)
    }

    public func epochLogged(_ record: EpochRecord, step: Int) throws {
        try write(step: step, epoch: record.epoch, scalars: record.scalars)
    }

    private func write(step: Int, epoch: Int, scalars: [(tag: String, value: Float)]) throws {
        var fields = ["\"step\": \(step)", "\"epoch\": \(epoch)", String(format: "\"wall_time\": %.3f", Date().timeIntervalSince1970)]
        for (tag, value) in scalars {
            fields.append("\"\(tag)\": " + (value.isFinite ? String(format: "%.9g", Double(value)) : "null"))
        }
        do { try handle.write(contentsOf: Data(("{" + fields.joined(separator: ", ") + "}\n").utf8)) } catch {
            throw CortexError.io(path: path, reason: "cannot append a log line: \(error.localizedDescription)")
        }
    }

    /// The lines of a log written by this class, as dictionaries.
    public static func read(_ path: String) throws -> [[String: Double]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        return try data.split(separator: UInt8(ascii: "\n")).enumerated().map { index, line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw CortexError.invalidFile(path: path, reason: "line \(index + 1) is not a JSON object")
            }
            return object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }
}

/// Writes the logs as a TensorBoard event file in `directory`, so `tensorboard --logdir` shows
/// the run (steps on the x axis; epoch figures at the step each epoch ended).
public final class TensorBoardLogger: TrainingLogger {
    public let writer: TensorBoardWriter

    public init(directory: String) throws { writer = try TensorBoardWriter(directory: directory) }

    public func stepLogged(_ record: StepRecord) throws { try writer.add(scalars: record.scalars, step: record.step) }

    public func epochLogged(_ record: EpochRecord, step: Int) throws { try writer.add(scalars: record.scalars, step: step) }
}
