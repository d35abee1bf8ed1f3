import CortexCore
import CortexData
import CortexExplain
import CortexNN
import Foundation

/// The Toronto arrests table (R's carData, via scikit-lego's wheel; Tools/fetch-pretrained.sh
/// unpacks it): will an arrestee be released with a summons? 5,226 rows of released, colour,
/// year, age, sex, employed, citizen and checks. Split once, seeded and stratified by the
/// label: 70% training, 15% validation (model selection and fitting mitigations), 15% test.
struct ArrestsData {
    static let target = "released", positive = "Yes"
    static let features = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
    static let fileName = "arrests.csv"

    let table: TabularTable
    let labels: [Int]
    let train: [Int], validation: [Int], test: [Int]

    init(dataDirectory: String?, seed: UInt64) throws {
        let directory = try DataDirectory.locate("arrests", explicit: dataDirectory, systemLocations: [PretrainedDirectory.root + "/arrests"])
        table = try TabularTable.load(directory + "/" + ArrestsData.fileName)
        labels = try table.binaryColumn(ArrestsData.target, positive: ArrestsData.positive)
        let parts = try Splits.stratified(labels: labels, fractions: [0.7, 0.15], seed: seed)
        (train, validation, test) = (parts[0], parts[1], parts[2])
    }

    func inputs(_ rows: [Int], _ encoder: TabularEncoder) throws -> Tensor { try encoder.transform(table.subset(rows)) }
    func labels(_ rows: [Int]) -> [Int] { rows.map { labels[$0] } }
    func groups(_ column: String, _ rows: [Int]) throws -> [String] {
        let values = try table.column(column)
        return rows.map { values[$0] }
    }
}

/// `cortex train arrests-mlp`: a 2-layer perceptron over the one-hot and standardised columns,
/// trained with Adam on cross-entropy (optionally reweighed by a sensitive column, Kamiran &
/// Calders), the epoch with the best validation accuracy kept.
enum ArrestsRecipe {
    static let hidden = 32
    static let configurationFile = "arrests.json"

    struct Configuration: Codable {
        var encoder: TabularEncoder
        var seed: UInt64
        var hidden: Int
        var reweighedBy: String?
        var epochs: Int
        var validationAccuracy: Double
        var testAccuracy: Double
    }

    static func model(features: Int, hidden: Int, generator: RandomGenerator) -> Sequential {
        Sequential(Linear(features, hidden, generator: generator), ReLU(), Linear(hidden, 2, generator: generator))
    }

    static func run(_ options: RecipeOptions, reweighBy: String? = nil) throws -> RecipeResult {
        let data = try ArrestsData(dataDirectory: options.dataDirectory, seed: options.seed)
        let (model, configuration) = try train(data, options, reweighBy: reweighBy)
        if let output = options.output, options.parallel.isLeader {
            try AtomicDirectory.write(to: output, owning: ["model.safetensors", configurationFile]) { staging in
                try model.save(to: staging + "/model.safetensors")
                try writeText(String(decoding: JSONEncoder.pretty.encode(configuration), as: UTF8.self), to: staging + "/" + configurationFile)
            }
            if options.reports { print("checkpoint written to \(output)") }
        }
        return RecipeResult(fields: [("validation_accuracy", configuration.validationAccuracy), ("test_accuracy", configuration.testAccuracy),
                                     ("epochs", configuration.epochs), ("features", configuration.encoder.featureNames.count)])
    }

    /// Trains on the training rows and returns the model of the best validation epoch.
    static func train(_ data: ArrestsData, _ options: RecipeOptions, reweighBy: String?) throws -> (Sequential, Configuration) {
        let trainTable = data.table.subset(data.train)
        let encoder = try TabularEncoder.fit(trainTable, features: ArrestsData.features, categorical: ["year"])
        let x = try encoder.transform(trainTable), y = data.labels(data.train)
        let weights = try reweighBy.map { try Reweighing.weights(labels: y, groups: data.groups($0, data.train)) } ?? Array(repeating: 1, count: y.count)
        let validationX = try data.inputs(data.validation, encoder), validationY = data.labels(data.validation)
        let generator = RandomGenerator(seed: options.seed)
        let model = model(features: encoder.featureNames.count, hidden: hidden, generator: generator)
        let optimizer = try Recipes.makeOptimizer(options, model.parameters(), defaultRate: options.optimizer == "sgd" ? 0.05 : 1e-3)
        var best: (accuracy: Double, epoch: Int, state: [String: Tensor])? = nil
        for epoch in 0..<options.epochs {
            model.train()
            let order = Splits.permutation(y.count, generator: generator)
            var start = 0, total = 0.0
            while start < order.count {
                let rows = Array(order[start..<min(order.count, start + options.batchSize)])
                start += rows.count
                optimizer.zeroGrad()
                let batch = try x.indexSelect(axis: 0, indices: Tensor(integers: rows))
                let perSample = try Loss.crossEntropy(model(batch), targets: Tensor(integers: rows.map { y[$0] }), reduction: .none)
                let batchWeights = rows.map { Float(weights[$0]) }
                let loss = try (perSample * Tensor(batchWeights)).sum() * (1 / batchWeights.reduce(0, +))
                try loss.backward()
                try optimizer.step()
                total += Double(try loss.item()) * Double(rows.count)
            }
            model.eval()
            let accuracy = try self.accuracy(model, validationX, validationY)
            if options.reports {
                print(String(format: "epoch %d: train loss %.4f, validation accuracy %.4f", epoch + 1, total / Double(y.count), accuracy))
            }
            if best == nil || accuracy > best!.accuracy {
                best = (accuracy, epoch + 1, model.stateDict().mapValues { (try? $0.clone()) ?? $0 })
            }
        }
        if let best { try model.loadStateDict(best.state) }
        model.eval()
        let testAccuracy = try accuracy(model, data.inputs(data.test, encoder), data.labels(data.test))
        return (model, Configuration(encoder: encoder, seed: options.seed, hidden: hidden, reweighedBy: reweighBy, epochs: best?.epoch ?? 0,
                                     validationAccuracy: best?.accuracy ?? .nan, testAccuracy: testAccuracy))
    }

    /// P(released) for each row of `inputs`.
    static func scores(_ model: Sequential, _ inputs: Tensor) throws -> [Double] {
        try withNoGrad { try model(inputs).softmax(axis: 1).select(axis: 1, index: 1).contiguous().toFloatArray() }.map(Double.init)
    }

    static func accuracy(_ model: Sequential, _ inputs: Tensor, _ labels: [Int]) throws -> Double {
        let predicted = try scores(model, inputs).map { $0 >= 0.5 ? 1 : 0 }
        return Double(zip(predicted, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// The checkpoint's model and configuration, in evaluation mode.
    static func load(_ checkpoint: String) throws -> (Sequential, Configuration) {
        let path = checkpoint + "/" + configurationFile
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CortexError.io(path: path, reason: "missing: not an arrests-mlp checkpoint (cortex train arrests-mlp --out DIR writes one)")
        }
        let configuration: Configuration
        do { configuration = try JSONDecoder().decode(Configuration.self, from: data) } catch {
            throw CortexError.invalidFile(path: path, reason: "not an arrests-mlp configuration: \(error)")
        }
        let model = model(features: configuration.encoder.featureNames.count, hidden: configuration.hidden, generator: .default)
        try model.loadStateDict(from: checkpoint + "/model.safetensors")
        model.eval()
        return (model, configuration)
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
