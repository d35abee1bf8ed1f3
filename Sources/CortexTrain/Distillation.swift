import CortexCore
import CortexNN

/// A teacher for knowledge distillation in ``Trainer``: the trainer's model (the student) then
/// trains on ``Loss/distillation(student:teacher:targets:temperature:alpha:)`` against the
/// teacher's logits for the same batch. The teacher is frozen and stays in evaluation mode, and
/// its forward pass records no gradients.
///
/// ```swift
/// let trainer = Trainer(model: student, optimizer: SGD(student.parameters(), learningRate: 0.05),
///                       loss: { try Loss.crossEntropy($0, targets: $1) })
/// trainer.distillation = try Distillation(teacher: teacher, temperature: 20, alpha: 0.9)
/// try trainer.fit(train: loader, validation: validationLoader, epochs: 10)
/// ```
public final class Distillation: @unchecked Sendable {
    public let teacher: Module & Layer
    public let temperature: Float
    public let alpha: Float
    /// Whether the teacher's logits are kept per example (by a 64-bit hash of its input's
    /// values) and reused when the same example comes again, as it does every epoch without
    /// augmentation: the teacher then runs over the training set once, and in a batch only the
    /// examples it has not seen go through it. Off by default.
    public let memoizesTeacher: Bool
    /// Memoised logits: each example's row in `memoRows`, rows of `memoClasses` logits side by side.
    private var memo: [Int: Int] = [:]
    private var memoRows: [Float] = []
    private var memoClasses = 0

    public init(teacher: Module & Layer, temperature: Float, alpha: Float, memoizesTeacher: Bool = false) throws {
        guard temperature > 0, temperature.isFinite else {
            throw CortexError.invalidArgument(operation: "Distillation", reason: "temperature \(temperature) must be a positive number")
        }
        guard alpha >= 0, alpha <= 1 else { throw CortexError.invalidArgument(operation: "Distillation", reason: "alpha \(alpha) must be in [0, 1]") }
        self.teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
        self.memoizesTeacher = memoizesTeacher
        teacher.eval()
        teacher.freeze()
    }

    /// The teacher's logits for `inputs`, in evaluation mode and without gradients.
    public func teacherLogits(_ inputs: Tensor) throws -> Tensor {
        if teacher.isTraining { teacher.eval() }
        guard memoizesTeacher, inputs.rank >= 1, inputs.shape[0] > 0 else { return try withNoGrad { try teacher(inputs) } }
        let batch = inputs.shape[0]
        let values = try inputs.detach().to(.float32).contiguous().toFloatArray()
        let width = values.count / batch
        let keys = values.withUnsafeBytes { bytes in
            (0..<batch).map { row in
                var hasher = Hasher()
                hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes[row * width * 4..<(row + 1) * width * 4]))
                return hasher.finalize()
            }
        }
        // Only the examples not seen before go through the teacher.
        let missing = keys.indices.filter { memo[keys[$0]] == nil }
        if !missing.isEmpty {
            // The unseen examples go as a batch of the next power of two (the last one
            // repeated): a handful of shapes, so the allocator's cached blocks serve them all.
            let paddedCount = min(batch, 1 << (Int.bitWidth - (missing.count - 1).leadingZeroBitCount))
            let padded = missing + Array(repeating: missing[missing.count - 1], count: paddedCount - missing.count)
            let unseen = missing.count == batch ? inputs
                : try inputs.detach().indexSelect(axis: 0, indices: Tensor(integers: padded, shape: [padded.count]))
            let logits = try withNoGrad { try teacher(unseen) }
            guard logits.rank == 2 else { return missing.count == batch ? logits : try withNoGrad { try teacher(inputs) } }
            let flat = try logits.contiguous().toFloatArray(), classes = logits.shape[1]
            memoClasses = classes
            for (row, index) in missing.enumerated() where memo[keys[index]] == nil {
                memo[keys[index]] = memoRows.count / classes
                memoRows += flat[row * classes..<(row + 1) * classes]
            }
            if missing.count == batch { return logits }
        }
        let classes = memoClasses
        var rows = [Float]()
        rows.reserveCapacity(batch * classes)
        for key in keys {
            let first = memo[key]! * classes
            rows += memoRows[first..<(first + classes)]
        }
        return try Tensor(rows, shape: [batch, classes])
    }

    /// The distillation loss of the student's `output` for `inputs` with hard `targets`. With
    /// α = 0 it is the hard labels' cross-entropy alone, and the teacher is not run.
    public func loss(studentOutput output: Tensor, inputs: Tensor, targets: Tensor) throws -> Tensor {
        if alpha == 0, output.rank >= 2, let classes = output.shape.last {
            return try Loss.crossEntropy(output.reshape([-1, classes]), targets: targets.reshape([-1]))
        }
        let logits = try teacherLogits(inputs)
        guard logits.shape == output.shape else {
            throw CortexError.shapeMismatch(operation: "Distillation", shapes: [logits.shape, output.shape],
                                            reason: "(the teacher gives \(logits.shape.last ?? 0) outputs per example, the student \(output.shape.last ?? 0))")
        }
        return try Loss.distillation(student: output, teacher: logits, targets: targets, temperature: temperature, alpha: alpha)
    }
}
