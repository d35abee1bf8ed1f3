import CortexCore
import CortexData
import CortexNN
import CortexTestSupport
import CortexTrain
import Foundation
import Testing

/// Distillation in the trainer: the teacher stays frozen and in evaluation mode, the student
/// learns its outputs, memoised logits equal computed ones, and mismatched outputs are refused.
@Suite struct DistillationTests {
    static func teacher() throws -> Sequential {
        let model = Sequential(Linear(8, 32, generator: RandomGenerator(seed: 11)), ReLU(), Dropout(0.5, generator: RandomGenerator(seed: 4)),
                               Linear(32, 3, generator: RandomGenerator(seed: 12)))
        let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), learningRate: 0.01), loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: false)
        try trainer.fit(train: DataLoader(TrainerTests.syntheticData(seed: 5), batchSize: 32, shuffle: true, seed: 1), epochs: 6)
        return model
    }

    @Test func studentLearnsFromAFrozenTeacher() throws {
        let teacher = try Self.teacher()
        let before = try teacher.parameters().map { try $0.toFloatArray() }
        let student = Sequential(Linear(8, 16, generator: RandomGenerator(seed: 21)), ReLU(), Linear(16, 3, generator: RandomGenerator(seed: 22)))
        let trainer = Trainer(model: student, optimizer: Adam(student.parameters(), learningRate: 0.01), loss: { try Loss.crossEntropy($0, targets: $1) })
        trainer.progress = ProgressReporter(enabled: false)
        trainer.distillation = try Distillation(teacher: teacher, temperature: 4, alpha: 0.9, memoizesTeacher: true)
        try trainer.fit(train: DataLoader(TrainerTests.syntheticData(seed: 5), batchSize: 32, shuffle: true, seed: 2),
                        validation: DataLoader(TrainerTests.syntheticData(seed: 6), batchSize: 100), epochs: 6)
        #expect(try #require(trainer.history.last?.validationAccuracy) > 0.85)
        #expect(!teacher.isTraining)
        #expect(teacher.parameters().allSatisfy { !$0.requiresGrad })
        #expect(try teacher.parameters().map { try $0.toFloatArray() } == before)
    }

    @Test func memoisedLogitsEqualComputedOnes() throws {
        let teacher = try Self.teacher()
        let memoising = try Distillation(teacher: teacher, temperature: 2, alpha: 0.5, memoizesTeacher: true)
        let plain = try Distillation(teacher: teacher, temperature: 2, alpha: 0.5)
        let inputs = try Tensor.randn([10, 8], generator: RandomGenerator(seed: 8))
        let first = try memoising.teacherLogits(inputs).toFloatArray()
        let reordered = try inputs.indexSelect(axis: 0, indices: Tensor(integers: [3, 1, 4, 1, 5, 9, 2, 6]))
        #expect(try memoising.teacherLogits(reordered).toFloatArray() == plain.teacherLogits(reordered).toFloatArray())
        #expect(try plain.teacherLogits(inputs).toFloatArray() == first)
        // A batch of seen and unseen examples: only the new ones go through the teacher (as a
        // smaller batch, so up to the summation order of its products), in their places.
        let mixed = try Tensor.cat([inputs.slice(axis: 0, start: 2, end: 5), Tensor.randn([4, 8], generator: RandomGenerator(seed: 12)),
                                    inputs.slice(axis: 0, start: 0, end: 1)], axis: 0)
        let expected = try plain.teacherLogits(mixed).toFloatArray()
        for _ in 0..<2 {
            let memoised = try memoising.teacherLogits(mixed).toFloatArray()
            #expect(zip(memoised, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        }
    }

    @Test func hardLabelsAloneAtAlphaZeroSkipTheTeacher() throws {
        let teacher = try Self.teacher()
        let distillation = try Distillation(teacher: teacher, temperature: 4, alpha: 0, memoizesTeacher: true)
        let inputs = try Tensor.randn([6, 8], generator: RandomGenerator(seed: 9))
        let output = try Tensor.randn([6, 3], generator: RandomGenerator(seed: 10)), targets = try Tensor(integers: [0, 1, 2, 2, 1, 0])
        let expected = try Loss.distillation(student: output, teacher: teacher(inputs), targets: targets, temperature: 4, alpha: 0).item()
        #expect(abs(try distillation.loss(studentOutput: output, inputs: inputs, targets: targets).item() - expected) <= 1e-6 * abs(expected))
        // The teacher was not run: nothing was memoised, and a teacher of another width goes unread.
        let other = try Distillation(teacher: Linear(8, 5), temperature: 4, alpha: 0)
        #expect(try other.loss(studentOutput: output, inputs: inputs, targets: targets).item() == distillation.loss(studentOutput: output, inputs: inputs, targets: targets).item())
    }

    @Test func mismatchedOutputsAreRefused() throws {
        let distillation = try Distillation(teacher: Self.teacher(), temperature: 2, alpha: 0.5)
        expectCortexError(["teacher gives 3 outputs", "student 4"]) {
            _ = try distillation.loss(studentOutput: Tensor.zeros([2, 4]), inputs: Tensor.zeros([2, 8]), targets: Tensor(integers: [0, 1]))
        }
        expectCortexError(["temperature -1.0"]) { _ = try Distillation(teacher: Linear(2, 2), temperature: -1, alpha: 0.5) }
    }
}
