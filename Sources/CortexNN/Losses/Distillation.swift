import CortexCore

extension Loss {
    /// Knowledge distillation's loss (Hinton, Vinyals & Dean 2015):
    /// α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE(z_s, y), the KL term as
    /// `F.kl_div(log_softmax(z_s/T), softmax(z_t/T), reduction="batchmean")` and the T² keeping
    /// its gradients' scale independent of T. Logits are (N, classes), or (B, L, vocabulary) for
    /// a language model, whose every position is one example (targets then (B, L)). With α = 1
    /// the targets are not needed.
    ///
    /// ```swift
    /// let teacherLogits = try withNoGrad { try teacher(images) }
    /// let loss = try Loss.distillation(student: student(images), teacher: teacherLogits, targets: labels,
    ///                                  temperature: 20, alpha: 0.9)
    /// ```
    public static func distillation(student: Tensor, teacher: Tensor, targets: Tensor?, temperature: Float, alpha: Float) throws -> Tensor {
        guard student.shape == teacher.shape, student.rank >= 2 else {
            throw CortexError.shapeMismatch(operation: "Loss.distillation", shapes: [teacher.shape, student.shape],
                                            reason: "(the teacher's output \(teacher.shape) must have the student's shape \(student.shape), classes last)")
        }
        guard temperature > 0, temperature.isFinite else {
            throw CortexError.invalidArgument(operation: "Loss.distillation", reason: "temperature \(temperature) must be a positive number")
        }
        guard alpha >= 0, alpha <= 1 else {
            throw CortexError.invalidArgument(operation: "Loss.distillation", reason: "alpha \(alpha) must be in [0, 1]")
        }
        let classes = student.shape.last!
        let studentRows = try student.reshape([-1, classes]), teacherRows = try teacher.detach().reshape([-1, classes])
        var loss = try klDivergence((studentRows / temperature).logSoftmax(axis: -1), (teacherRows / temperature).softmax(axis: -1),
                                    reduction: .batchMean) * (alpha * temperature * temperature)
        if alpha < 1 {
            guard let targets else {
                throw CortexError.invalidArgument(operation: "Loss.distillation", reason: "alpha \(alpha) < 1 needs the hard targets")
            }
            loss = try loss + crossEntropy(studentRows, targets: targets.reshape([-1])) * (1 - alpha)
        }
        return loss
    }
}
