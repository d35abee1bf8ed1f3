import CortexCore
import CortexData
import CortexNN
import CortexTrain
import Foundation

/// `cortex train --config model.yaml --data DIR|file.csv`: a model described in YAML or JSON
/// (``ModelConfiguration``) trained on the user's own data, through the same honest loop as the
/// image recipes. Every checkpoint carries ``fileName``: the description, the class names and
/// the fitted preprocessing, so `cortex evaluate` and `cortex predict` need only the directory.
enum ConfiguredModel {
    static let fileName = "model-config.json"

    /// What a checkpoint of a configured model carries.
    struct Carried: Codable {
        /// The description as JSON text.
        var configuration: String
        var classes: [String]
        var data: DataDescription
    }

    /// How examples are read and prepared.
    struct DataDescription: Codable {
        enum Kind: String, Codable { case images, idx, csv }
        var kind: Kind
        /// The test data the run was evaluated on (an image folder, IDX directory or CSV file),
        /// and for a CSV without one, the rows held out of the file.
        var test: String?
        var testRows: [Int]?
        /// CSV: the target column and the encoder fitted on the training rows.
        var target: String?
        var encoder: TabularEncoder?
    }

    /// The datasets of a run: training, validation (held out here where preprocessing must be
    /// fitted without it), test; the class names; and the description to carry.
    struct Prepared {
        var train: any Dataset
        var validation: (any Dataset)?
        var test: any Dataset
        var classes: [String]
        var description: DataDescription
    }

    /// What the command line sets over the description (nil: the description's value).
    struct Overrides {
        var epochs: Int?, batchSize: Int?, optimizer: String?, learningRate: Float?, seed: UInt64?
        var validationSplit: Double?, schedule: TrainingControls.Schedule?
    }

    static func train(configurationPath: String, data: String, testData: String?, target: String?, overrides: Overrides,
                      options base: RecipeOptions) throws -> RecipeResult {
        let configuration = try ModelConfiguration.load(configurationPath)
        var options = base
        options.seed = overrides.seed ?? configuration.seed
        options.epochs = overrides.epochs ?? configuration.epochs
        options.batchSize = overrides.batchSize ?? configuration.batchSize
        options.optimizer = overrides.optimizer ?? configuration.optimizer
        options.learningRate = overrides.learningRate ?? configuration.learningRate
        options.weightDecay = configuration.weightDecay
        options.controls.validationSplit = overrides.validationSplit ?? configuration.validationSplit
        options.controls.schedule = overrides.schedule ?? TrainingControls.Schedule(rawValue: configuration.schedule)!
        options.testMetrics = configuration.metrics.filter { $0 != "accuracy" && $0 != "loss" }
        let prepared = try prepare(configuration, data: data, testData: testData, target: target ?? configuration.target, options: options)
        options.classCount = prepared.classes.count
        RandomGenerator.manualSeed(options.seed)
        let (model, output) = try configuration.buildWithShape()
        guard output == [prepared.classes.count] else {
            throw CortexError.invalidFile(path: configuration.path, reason: "the last layer gives shape \(output), but the data has \(prepared.classes.count) classes (\(prepared.classes.prefix(12).joined(separator: ", ")))")
        }
        let carried = Carried(configuration: String(decoding: configuration.json, as: UTF8.self), classes: prepared.classes, data: prepared.description)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if options.reports {
            print("\(configuration.name ?? "model") from \(configurationPath): \(model.parameterCount()) parameters, \(prepared.classes.count) classes, "
                  + "\(prepared.train.count) training examples"
                  + (prepared.validation.map { ", \($0.count) validation" }
                     ?? (options.controls.validationSplit > 0 ? String(format: " (%g%% held out for validation)", options.controls.validationSplit * 100) : ""))
                  + ", \(prepared.test.count) test")
        }
        var result = try Recipes.trainClassifier(options, data: (prepared.train, prepared.test), validation: prepared.validation, model: model,
                                                 transform: try configuration.augmentation(), attachments: [fileName: try encoder.encode(carried)])
        result.fields.insert(("model", configuration.name ?? (configurationPath as NSString).lastPathComponent), at: 0)
        return result
    }

    /// Reads the data a description is trained on: an image folder (class subfolders, or
    /// `train/` and `test/` folders of them), a directory of MNIST-format IDX files, or a CSV.
    static func prepare(_ configuration: ModelConfiguration, data: String, testData: String?, target: String?, options: RecipeOptions) throws -> Prepared {
        if data.lowercased().hasSuffix(".csv") {
            return try prepareTable(configuration, data: data, testData: testData, target: target, options: options)
        }
        let location = FileManager.default.fileExists(atPath: data) ? data
            : try DataDirectory.locate(data, explicit: nil, systemLocations: [DataDirectory.debianFashionMNIST])
        if MNIST.holdsFiles(location) {
            guard configuration.input == [1, 28, 28] else {
                throw CortexError.invalidFile(path: configuration.path, reason: "input \(configuration.input) does not match \(location)'s 28x28 gray images ([1, 28, 28])")
            }
            let test = try testData.map { try MNIST.load(directory: $0, split: .test) } ?? MNIST.load(directory: location, split: .test)
            return Prepared(train: try MNIST.load(directory: location, split: .train), validation: nil, test: test, classes: (0..<10).map(String.init),
                            description: DataDescription(kind: .idx, test: absolute(testData ?? location)))
        }
        guard configuration.input.count == 3, [1, 3].contains(configuration.input[0]) else {
            throw CortexError.invalidFile(path: configuration.path, reason: "input \(configuration.input) is not images: give [1 or 3 channels, height, width] for an image folder")
        }
        let (channels, size) = (configuration.input[0], (height: configuration.input[1], width: configuration.input[2]))
        var trainRoot = location, testRoot = testData
        if testData == nil, isDirectory(location + "/train"), isDirectory(location + "/test") { (trainRoot, testRoot) = (location + "/train", location + "/test") }
        let train = try ImageFolder(root: trainRoot, channels: channels, size: size)
        guard let testRoot else {
            throw CortexError.invalidArgument(operation: "cortex train --config", reason: "\(location) has no train/ and test/ folders; give the held-out images with --test-data DIR")
        }
        let test = try ImageFolder(root: testRoot, channels: channels, size: size, classes: train.classes)
        return Prepared(train: train, validation: nil, test: test, classes: train.classes,
                        description: DataDescription(kind: .images, test: absolute(testRoot)))
    }

    /// A CSV: the target column's values are the classes; the other columns are features,
    /// one-hot where categorical and standardised where numeric, fitted on the training rows
    /// only (not the validation or test rows). Without --test-data, 20% of the rows (stratified,
    /// seeded) are the test set.
    static func prepareTable(_ configuration: ModelConfiguration, data: String, testData: String?, target: String?, options: RecipeOptions) throws -> Prepared {
        guard let target else {
            throw CortexError.invalidArgument(operation: "cortex train --config", reason: "a CSV needs the column to predict: --target COLUMN or target: in \(configuration.path)")
        }
        let table = try TabularTable.load(data)
        let labelsText = try table.column(target)
        let classes = Set(labelsText).sorted()
        guard classes.count >= 2 else { throw CortexError.invalidFile(path: data, reason: "column \(target) holds \(classes.count) class; a classifier needs at least 2") }
        let labels = labelsText.map { classes.firstIndex(of: $0)! }
        for column in configuration.categorical { _ = try table.index(of: column) }
        let features = table.header.filter { $0 != target }
        var rows = Array(0..<table.count), testTable: TabularTable, testRows: [Int]? = nil
        if let testData {
            testTable = try TabularTable.load(testData)
        } else {
            let parts = try Splits.stratified(labels: labels, fractions: [0.2], seed: options.seed)
            (testRows, rows) = (parts[0], parts[1])
            testTable = table.subset(parts[0])
        }
        var validationRows: [Int] = []
        if options.controls.validationSplit > 0 {
            let parts = try Splits.stratified(labels: rows.map { labels[$0] }, fractions: [options.controls.validationSplit], seed: options.seed)
            (validationRows, rows) = (parts[0].map { rows[$0] }, parts[1].map { rows[$0] })
        }
        let encoder = try TabularEncoder.fit(table.subset(rows), features: features, categorical: Set(configuration.categorical))
        guard configuration.input == [encoder.featureNames.count] else {
            throw CortexError.invalidFile(path: configuration.path, reason: "input \(configuration.input) does not match the \(encoder.featureNames.count) encoded features of \(data) ([\(encoder.featureNames.count)]: \(encoder.featureNames.prefix(8).joined(separator: ", "))\(encoder.featureNames.count > 8 ? ", ..." : ""))")
        }
        func dataset(_ part: TabularTable, _ labels: [Int]) throws -> TensorDataset {
            try TensorDataset(inputs: encoder.transform(part), targets: Tensor(integers: labels))
        }
        return Prepared(train: try dataset(table.subset(rows), rows.map { labels[$0] }),
                        validation: validationRows.isEmpty ? nil : try dataset(table.subset(validationRows), validationRows.map { labels[$0] }),
                        test: try dataset(testTable, classIndices(testTable, target: target, classes: classes)), classes: classes,
                        description: DataDescription(kind: .csv, test: absolute(testData ?? data), testRows: testRows, target: target, encoder: encoder))
    }

    /// The index among `classes` (the training data's) of each row's `target` value; a value
    /// outside them is an error naming the row.
    static func classIndices(_ table: TabularTable, target: String, classes: [String]) throws -> [Int] {
        try table.column(target).enumerated().map { row, value in
            guard let label = classes.firstIndex(of: value) else {
                throw CortexError.invalidFile(path: table.source, reason: "row \(row + 2), column \(target): class \"\(value)\" is not in the training data (\(classes.joined(separator: ", ")))")
            }
            return label
        }
    }

    // MARK: Checkpoints

    /// Whether `directory` holds a configured model's checkpoint.
    static func isConfigured(_ directory: String) -> Bool { FileManager.default.fileExists(atPath: directory + "/" + fileName) }

    /// The checkpoint's model (weights loaded, in evaluation mode) and what it carries.
    static func load(_ directory: String) throws -> (model: Sequential, carried: Carried, configuration: ModelConfiguration) {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { throw CortexError.io(path: path, reason: "cannot be read") }
        let carried: Carried
        do { carried = try JSONDecoder().decode(Carried.self, from: data) } catch {
            throw CortexError.invalidFile(path: path, reason: "is not a configured model's description: \(error)")
        }
        let configuration = try ModelConfiguration.fromCheckpoint(json: Data(carried.configuration.utf8), path: path)
        let model = try configuration.build(generator: RandomGenerator(seed: 0))
        let weights = ClassifierCheckpoint.weightsPath(directory)
        do { try model.loadStateDict(from: weights) } catch let CortexError.invalidArgument(operation, reason) {
            throw CortexError.invalidFile(path: weights, reason: "\(operation): \(reason)")
        }
        model.eval()
        return (model, carried, configuration)
    }

    /// The test set a checkpoint was evaluated on, or `data` instead.
    static func testSet(_ carried: Carried, _ configuration: ModelConfiguration, data: String?) throws -> any Dataset {
        let description = carried.data
        guard let location = data ?? description.test else {
            throw CortexError.invalidArgument(operation: "cortex evaluate", reason: "the checkpoint names no test data; give --data")
        }
        switch description.kind {
        case .idx: return try MNIST.load(directory: location, split: .test)
        case .images:
            return try ImageFolder(root: location, channels: configuration.input[0], size: (configuration.input[1], configuration.input[2]), classes: carried.classes)
        case .csv:
            guard let encoder = description.encoder, let target = description.target else {
                throw CortexError.invalidFile(path: fileName, reason: "a CSV model's description lacks its encoder or target")
            }
            var table = try TabularTable.load(location)
            if data == nil, let rows = description.testRows { table = table.subset(rows) }
            return try TensorDataset(inputs: encoder.transform(table), targets: Tensor(integers: classIndices(table, target: target, classes: carried.classes)))
        }
    }

    /// The inputs of image files or CSV rows, as the model takes them.
    static func inputs(_ carried: Carried, _ configuration: ModelConfiguration, images: [String], table: String?) throws -> (Tensor, [String]) {
        if let table {
            guard let encoder = carried.data.encoder else {
                throw CortexError.invalidArgument(operation: "cortex predict", reason: "--csv is for models trained on a CSV; this one reads \(carried.data.kind.rawValue)")
            }
            let rows = try TabularTable.load(table)
            return (try encoder.transform(rows), (0..<rows.count).map { "row \($0 + 2)" })
        }
        guard configuration.input.count == 3 else {
            throw CortexError.invalidArgument(operation: "cortex predict", reason: "this model reads table rows ([\(configuration.input[0])] features); give --csv FILE")
        }
        var values: [Float] = []
        for path in images {
            var image = try Image.read(path).converted(channels: configuration.input[0])
            image = try image.resized(height: configuration.input[1], width: configuration.input[2])
            values += image.channelsFirst
        }
        return (try Tensor(values, shape: [images.count] + configuration.input), images)
    }

    private static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    private static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }
}
