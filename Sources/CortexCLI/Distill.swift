import ArgumentParser
import CortexCore
import CortexData
import CortexDistributed
import CortexModels
import CortexNN
import CortexTrain
import Foundation

/// `cortex distill`: trains a student on a frozen teacher's softened outputs (Hinton, Vinyals &
/// Dean 2015), for image classifiers and for char-gpt language models.
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small student model from a trained teacher by knowledge distillation.",
        discussion: """
            The student trains on alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross-entropy. \
            --alpha 0 trains the same student on the hard labels alone (the baseline to compare with). \
            Image classifiers: --teacher is a checkpoint of mnist-mlp, mnist-cnn, fashion-cnn, lenet-300-100 or a perceptron \
            (its architecture is read from its weights); --student is one of those recipes or a perceptron's widths such as \
            784-800-800-10; the student trains --epochs on the training set with the recipe's optimizer and schedule, and its test \
            accuracy is reported. Language models: --teacher is a `cortex train char-gpt` checkpoint and --student char-gpt, \
            shaped by --layers, --heads, --width, trained for --iterations steps (or --minutes).
            """)

    @Option(help: "The teacher's checkpoint directory.") var teacher: String
    @Option(help: "The student: a recipe, a perceptron's widths (784-800-800-10), or char-gpt.") var student: String
    @Option(help: "Softmax temperature T.") var temperature: Float = 4
    @Option(help: "Weight of the distillation term, in [0, 1].") var alpha: Float = 0.9
    @Option(help: "Image students: epochs to train.") var epochs = 3
    @Option(name: .customLong("batch-size"), help: "Examples per batch (default 64; 32 windows for char-gpt).") var batchSize: Int?
    @Option(name: .customLong("lr"), help: "Learning rate (the recipe's default when omitted).") var learningRate: Float?
    @Option(help: "Optimizer (the recipe's default when omitted).") var optimizer: String?
    @Option(help: "Seed for initialisation, shuffling and dropout.") var seed: UInt64 = 0
    @Option(help: "Image students: mnist or fashion-mnist.") var dataset = "mnist"
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Option(name: .customLong("random-shift"), help: "Image students: shift each training image by up to this many pixels, a fresh draw every epoch (0: none).")
    var randomShift = 0
    @Option(name: .customLong("random-rotation"), help: "Image students: rotate each training image by up to this many degrees, a fresh draw every epoch (0: none).")
    var randomRotation: Float = 0
    @Option(name: .customLong("out"), help: "Directory for the student's checkpoint.") var output: String?
    @Flag(help: "Print one JSON object with the final metrics as the last line.") var json = false
    @OptionGroup(title: "Validation, monitoring, clipping, accumulation, schedules and step logs (classifier students)") var controls: TrainingControlOptions
    @OptionGroup(title: "Language-model students (char-gpt)") var language: LanguageModelOptions

    func validate() throws {
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be positive, got \(temperature)") }
        guard alpha >= 0 && alpha <= 1 else { throw ValidationError("--alpha must be in [0, 1], got \(alpha)") }
        guard epochs > 0 else { throw ValidationError("--epochs must be positive, got \(epochs)") }
        if let batchSize, batchSize <= 0 { throw ValidationError("--batch-size must be positive, got \(batchSize)") }
        guard ["mnist", "fashion-mnist"].contains(dataset) else { throw ValidationError("--dataset must be mnist or fashion-mnist, got \(dataset)") }
        guard randomShift >= 0 && randomShift < 14 else { throw ValidationError("--random-shift must be in 0...13 pixels, got \(randomShift)") }
        guard randomRotation >= 0 && randomRotation <= 180 else { throw ValidationError("--random-rotation must be in [0, 180] degrees, got \(randomRotation)") }
        if student == "char-gpt" && (randomShift > 0 || randomRotation > 0) {
            throw ValidationError("--random-shift and --random-rotation are for image students, not char-gpt")
        }
        try language.validate()
        if let output, URL(fileURLWithPath: output).standardizedFileURL == URL(fileURLWithPath: teacher).standardizedFileURL {
            throw ValidationError("--out \(output) is the teacher's directory; write the student elsewhere")
        }
    }

    func run() throws {
        let recipe = student == "char-gpt" ? "char-gpt" : (ClassifierCheckpoint.recipes.contains(student) ? student : "mnist-mlp")
        var options = RecipeOptions(epochs: epochs, batchSize: batchSize ?? (student == "char-gpt" ? 32 : 64), learningRate: learningRate,
                                    optimizer: optimizer ?? Recipes.defaultOptimizer(recipe), seed: seed, dataDirectory: dataDirectory,
                                    output: output, resume: nil, json: json)
        options.controls = try controls.controls()
        let result = try student == "char-gpt"
            ? CharGPTRecipe.run(options, language.charGPT, teacher: (teacher, temperature, alpha))
            : distillClassifier(options)
        if json { print(result.json) } else { print(result.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ")) }
    }

    /// The training images' augmentation: a random rotation, then a random shift (pad and crop
    /// back to 28 x 28); nil when neither is asked for.
    var augmentation: Transforms.Transform? {
        var transforms: [Transforms.Transform] = []
        if randomRotation > 0 { transforms.append(Transforms.randomRotation(degrees: randomRotation)) }
        if randomShift > 0 { transforms.append(Transforms.randomCrop(size: 28, padding: randomShift)) }
        return transforms.isEmpty ? nil : Transforms.compose(transforms)
    }

    func distillClassifier(_ options: RecipeOptions) throws -> RecipeResult {
        let operation = "cortex distill"
        let teacherRecipe = try ClassifierCheckpoint.inferredRecipe(teacher, operation: operation)
        let (teacherModel, _) = try ClassifierCheckpoint.load(teacherRecipe, checkpoint: teacher, operation: operation, dataset: dataset)
        RandomGenerator.manualSeed(options.seed)
        let (studentModel, _) = try ClassifierCheckpoint.model(student, operation: operation, dataset: dataset)
        // The teacher labels the very image the student sees. Its logits are kept per image
        // (by the image's values) where images repeat: every epoch without augmentation, and
        // among the (2s + 1)² placements of each image when it is only shifted. Rotated images
        // are new every time, so the teacher labels each afresh.
        let augmentation = self.augmentation
        let distillation = try Distillation(teacher: teacherModel, temperature: temperature, alpha: alpha, memoizesTeacher: randomRotation == 0)
        let data = try Recipes.mnist(options, dataset, systemLocations: [DataDirectory.debianFashionMNIST])
        // The output sizes must agree before training starts.
        let probe = try data.0.batch([0])
        let (teacherOutputs, studentOutputs) = try withNoGrad { (try teacherModel(probe.inputs).shape.last ?? 0, try studentModel(probe.inputs).shape.last ?? 0) }
        guard teacherOutputs == studentOutputs else {
            throw CortexError.invalidArgument(operation: operation, reason: "the teacher (\(teacherRecipe)) has \(teacherOutputs) outputs but the student (\(student)) has \(studentOutputs)")
        }
        if !json {
            print("distilling \(teacherRecipe) (\(teacherModel.parameterCount()) parameters) into \(student) (\(studentModel.parameterCount()) parameters), T = \(temperature), alpha = \(alpha)"
                  + (augmentation == nil ? "" : ", images shifted by up to \(randomShift) pixels and rotated by up to \(randomRotation) degrees"))
        }
        var result = try Recipes.trainClassifier(options, data: data, model: studentModel, transform: augmentation, distillation: distillation)
        let accuracy = result.fields.first { $0.0 == "test_accuracy" }?.1 as? Double ?? .nan
        let errors = accuracy.isFinite ? Int(((1 - accuracy) * Double(data.1.count)).rounded()) : -1
        result.fields.append(("test_errors", errors))
        return result
    }
}
