import CortexCore
import CortexData
import CortexExplain
import CortexModels
import CortexNN
import Foundation
import Testing

/// Adebayo et al. 2018's model-parameter randomisation test on mnist-cnn: once the last layers
/// (the second convolution and both fully connected layers, Sequential 3, 7 and 10) are
/// re-initialised, saliency and GradCAM maps (on the ReLU after the second convolution) must change (Spearman rank correlation with the
/// trained model's maps at most 0.3), or the method explains the input, not the model. The
/// model trains for 150 steps of Adam (about 95% test accuracy); skipped without MNIST.
@Suite struct SanityCheckTests {
    static func trainedCNN(_ train: TensorDataset) throws -> Sequential {
        let model = Classifiers.mnistCNN(generator: RandomGenerator(seed: 0))
        let optimizer = Adam(model.parameters(), learningRate: 2e-3)
        let loader = DataLoader(train, batchSize: 64, shuffle: true, seed: 0)
        try loader.epoch(0).prefix(150).forEachBatch { batch in
            optimizer.zeroGrad()
            try Loss.crossEntropy(model(batch.inputs), targets: batch.targets).backward()
            try optimizer.step()
        }
        model.eval()
        return model
    }

    /// mnist-cnn with the layers named in `layers` drawn afresh.
    static func randomized(_ trained: Sequential, layers: [String] = ["3", "7", "10"]) throws -> Sequential {
        let copy = Classifiers.mnistCNN(generator: RandomGenerator(seed: 99))
        let fresh = copy.stateDict()
        try copy.loadStateDict(trained.stateDict().merging(fresh.filter { key, _ in layers.contains { key.hasPrefix($0 + ".") } }) { _, new in new })
        copy.eval()
        return copy
    }

    @Test func mapsChangeWhenTheLastLayersAreRandomised() throws {
        guard let location = try? DataDirectory.locate("mnist") else {
            print("skipping the saliency sanity check: no MNIST directory (set CORTEX_DATA_DIR or provide ../shared/data/mnist)")
            return
        }
        let train = try MNIST.load(directory: location, split: .train), test = try MNIST.load(directory: location, split: .test)
        let trained = try Self.trainedCNN(train)
        let random = try Self.randomized(trained)
        let batch = try test.batch(Array(0..<20))
        let accuracy = try withNoGrad { try trained(batch.inputs) }.argmax(axis: 1).toIntArray()
        let labels = try batch.targets.toIntArray()
        #expect(zip(accuracy, labels).filter { $0 == $1 }.count >= 16, "the trained model should classify most of the images")
        let target = AttributionTarget.each(labels)
        func maps(_ model: Sequential) throws -> (saliency: Tensor, gradCam: Tensor) {
            (try Saliency(model).attribute(batch.inputs, target: target),
             try LayerGradCam(model, layer: model.submodule(named: "4")).attribute(batch.inputs, target: target, reluAttributions: true))
        }
        let (before, after) = (try maps(trained), try maps(random))
        for (name, a, b) in [("saliency", before.saliency, after.saliency), ("GradCAM", before.gradCam, after.gradCam)] {
            let correlations = try (0..<20).map { index in
                try Statistics.spearman(a.select(axis: 0, index: index).toFloatArray().map(Double.init),
                                        b.select(axis: 0, index: index).toFloatArray().map(Double.init))
            }
            let mean = correlations.filter { !$0.isNaN }.reduce(0, +) / Double(correlations.filter { !$0.isNaN }.count)
            print("sanity check: \(name) rank correlation trained vs randomised: mean \(String(format: "%.3f", mean))")
            #expect(mean <= 0.3, "\(name) maps barely change when the last layers are randomised: Spearman \(mean)")
        }
    }

    @Test func spearmanMatchesScipy() throws {
        // scipy.stats.spearmanr([1, 2, 2, 4, 5], [5, 6, 7, 8, 7]).statistic = 0.7631578947368421
        #expect(abs(try Statistics.spearman([1, 2, 2, 4, 5], [5, 6, 7, 8, 7]) - 0.7631578947368421) < 1e-12)
        #expect(try Statistics.spearman([1, 2, 3], [3, 2, 1]) == -1)
        #expect(try Statistics.spearman([1, 1, 1], [1, 2, 3]).isNaN)
    }
}
