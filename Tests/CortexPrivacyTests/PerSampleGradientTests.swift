import CortexCore
import CortexModels
import CortexNN
import CortexPrivacy
import CortexTestSupport
import Testing

/// Per-sample gradients, computed in one vectorised backward pass, against each example's
/// gradient computed alone (a batch of one), for every layer with a per-sample rule.
@Suite struct PerSampleGradientTests {
    /// Uses one square Linear twice: its per-sample gradient sums both calls.
    final class TiedTwice: Module, Layer, @unchecked Sendable {
        let layer = Linear(4, 4, generator: RandomGenerator(seed: 5))
        func forward(_ input: Tensor) throws -> Tensor { try layer(layer(input).tanh()) }
    }

    /// A model whose output projection reuses the embedding table outside the Embedding layer
    /// (GPT-2's tied head): per-sample gradients cannot see that use.
    final class TiedHead: Module, Layer, @unchecked Sendable {
        let embedding = Embedding(7, 4, generator: RandomGenerator(seed: 6))
        func forward(_ input: Tensor) throws -> Tensor { try embedding(input).matmul(embedding.weight.mT) }
    }

    /// A module that is not a Layer (a Transformer encoder layer, a recurrent layer) as one.
    final class Encoder: Module, Layer, @unchecked Sendable {
        let inner: Module
        init(_ inner: Module) { self.inner = inner; super.init() }
        func forward(_ input: Tensor) throws -> Tensor {
            if let encoder = inner as? TransformerEncoderLayer { return try encoder(input) }
            return try (inner as! GRU)(input).output
        }
    }

    /// Per-example loss: a fixed weighted sum of squares of the outputs; the batch loss is its mean.
    static func loss(_ output: Tensor) throws -> Tensor {
        let weights = try Tensor.linspace(0.5, 1.5, count: output.count / output.shape[0]).reshape(Array(output.shape.dropFirst()))
        return try (output * weights).square().sum() / Float(output.shape[0])
    }

    static func check(_ model: Module & Layer, _ input: Tensor, _ what: String) throws {
        let perSample = try PerSampleGradients(model)
        try loss(model(input)).backward()
        let gradients = perSample.gradients
        let trainable = model.namedParameters()
        #expect(Set(gradients.keys) == Set(trainable.map(\.0)), "\(what): \(gradients.keys.sorted()) vs \(trainable.map(\.0))")
        perSample.remove()
        for example in 0..<input.shape[0] {
            for (_, parameter) in trainable { parameter.setGrad(nil) }
            try loss(model(input.slice(axis: 0, start: example, end: example + 1))).backward()
            for (name, parameter) in trainable {
                let alone = try #require(parameter.grad)
                let vectorised = try #require(gradients[name]).slice(axis: 0, start: example, end: example + 1).reshape(parameter.shape)
                if let failure = try closenessFailure(vectorised, alone, rtol: 1e-4, atol: 1e-5) {
                    Issue.record("\(what), \(name), example \(example): \(failure)")
                }
            }
        }
    }

    @Test func linearOnVectorsAndSequences() throws {
        let generator = RandomGenerator(seed: 1)
        try PerSampleGradientTests.check(Sequential(Linear(5, 4, generator: generator), Tanh(), Linear(4, 3, generator: generator)),
                                         Tensor.randn([4, 5], generator: generator), "MLP")
        try PerSampleGradientTests.check(Linear(5, 3, generator: generator), Tensor.randn([4, 6, 5], generator: generator), "Linear over (B, T, C)")
        try PerSampleGradientTests.check(TiedTwice(), Tensor.randn([3, 4], generator: generator), "one Linear called twice")
    }

    @Test func convolutionsAndGroupNorm() throws {
        let generator = RandomGenerator(seed: 2)
        let model = Sequential(Conv2d(2, 4, kernelSize: 3, stride: 2, padding: 1, generator: generator), GroupNorm(groups: 2, channels: 4),
                               Tanh(), Conv2d(4, 4, kernelSize: 2, dilation: 2, groups: 2, generator: generator))
        try PerSampleGradientTests.check(model, Tensor.randn([3, 2, 7, 7], generator: generator), "Conv2d, GroupNorm, grouped dilated Conv2d")
        let sequence = Sequential(Conv1d(3, 4, kernelSize: 3, padding: 1, generator: generator), LayerNorm([4, 8]))
        try PerSampleGradientTests.check(sequence, Tensor.randn([3, 3, 8], generator: generator), "Conv1d and a 2-D LayerNorm")
    }

    @Test func embeddingsNormsAndGPT2Projections() throws {
        let generator = RandomGenerator(seed: 3)
        let model = Sequential(Embedding(10, 6, generator: generator), LayerNorm(6), RMSNorm(6),
                               TransposedLinear(6, 5, generator: generator))
        // Ids repeat within an example, so rows of the embedding gather several positions.
        let ids = try Tensor(integers: [1, 3, 3, 7, 1, 0, 9, 9, 9, 2, 4, 5, 6, 7, 4], shape: [3, 5])
        try PerSampleGradientTests.check(model, ids, "Embedding, LayerNorm, RMSNorm, GPT-2 Conv1D")
    }

    @Test func transformerEncoderWithMultiheadAttention() throws {
        let generator = RandomGenerator(seed: 7)
        let layer = TransformerEncoderLayer(8, heads: 2, feedforward: 16, dropout: 0, batchFirst: true, generator: generator)
        try PerSampleGradientTests.check(Encoder(layer), Tensor.randn([3, 5, 8], generator: generator), "TransformerEncoderLayer (attention projections)")
    }

    @Test func frozenParametersGetNone() throws {
        let generator = RandomGenerator(seed: 4)
        let first = Linear(3, 3, generator: generator), second = Linear(3, 2, generator: generator)
        first.freeze()
        let perSample = try PerSampleGradients(Sequential(first, second))
        try PerSampleGradientTests.loss(Sequential(first, second)(Tensor.randn([2, 3], generator: generator))).backward()
        #expect(Set(perSample.gradients.keys) == ["1.weight", "1.bias"])
    }

    @Test func unsupportedModelsAreRefused() throws {
        expectCortexError(["\"1\" is a BatchNorm1d", "mixes the examples", "replace it with GroupNorm"]) {
            _ = try PerSampleGradients(Sequential(Linear(3, 3), BatchNorm1d(3)))
        }
        expectCortexError(["MultiheadAttention with batchFirst false", "batchFirst: true"]) {
            _ = try PerSampleGradients(TransformerEncoderLayer(4, heads: 2, feedforward: 8, dropout: 0))
        }
        expectCortexError(["\"inner\" (GRU)", "no per-sample gradient rule"]) {
            _ = try PerSampleGradients(Encoder(GRU(3, 4)))
        }
        // A parameter used outside its layer is caught by the first private step.
        let model = TiedHead()
        let privacy = try PrivateTraining(model: model, sampleRate: 0.5, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5, expectedBatchSize: 2)
        try PerSampleGradientTests.loss(model(Tensor(integers: [1, 2, 3, 4], shape: [2, 2]))).backward()
        expectCortexError(["\"embedding.weight\"", "used outside the layer that holds it"]) { try privacy.privatizeGradients() }
    }
}

/// Counted FLOPs against the formulas: a GPT's training step per token against PaLM's
/// 6N + 12·L·H·Q·T (within 2%), and a CNN's layers against the convolution and linear formulas.
@Suite struct CountedFLOPsTests {
    @Test func gptTrainingStepMatchesPaLMsFormula() throws {
        let (tokens, vocabulary) = (128, 512)
        let model = GPT(GPTConfiguration(vocabularySize: vocabulary, contextLength: tokens, embeddingSize: 256, layers: 2, heads: 4, dropout: 0),
                        generator: RandomGenerator(seed: 1))
        let ids = try Tensor(integers: (0..<tokens).map { ($0 * 31) % vocabulary }, shape: [1, tokens])
        let targets = try Tensor(integers: (0..<tokens).map { ($0 * 17 + 3) % vocabulary })
        let (_, counted) = try FLOPCounter.counting {
            try Loss.crossEntropy(model(ids).reshape([tokens, vocabulary]), targets: targets).backward()
        }
        let ratio = counted.total / Double(tokens) / model.analyticTrainingFLOPsPerToken(sequenceLength: tokens)
        print("GPT (2 layers, width 256, 128 tokens): counted FLOPs per token / (6N + 12·L·H·Q·T) = \(ratio)")
        #expect(abs(ratio - 1) < 0.02)
    }

    @Test func cnnLayersMatchTheirFormulas() throws {
        let batch = 3
        let model = Sequential(Conv2d(1, 8, kernelSize: 3, padding: 1), ReLU(), MaxPool2d(2), Conv2d(8, 6, kernelSize: 3, stride: 2, groups: 2),
                               Flatten(), Linear(6 * 6 * 6, 10))
        let (layers, total) = try model.flopsPerLayer(input: Tensor.zeros([batch, 1, 28, 28]))
        #expect(layers.map(\.name) == ["0", "1", "2", "3", "4", "5"])
        let conv1 = 2.0 * Double(batch * 8 * 1 * 9 * 28 * 28) + Double(batch * 8 * 28 * 28)
        #expect(layers[0].count.total == conv1)
        #expect(layers[1].count.total == Double(batch * 8 * 28 * 28))
        #expect(layers[2].count[.pooling] == Double(batch * 8 * 14 * 14 * 4))
        // Grouped and strided: (14 - 3) / 2 + 1 = 6 wide, 4 inputs per group.
        #expect(layers[3].count.total == 2.0 * Double(batch * 6 * 4 * 9 * 6 * 6) + Double(batch * 6 * 6 * 6))
        #expect(layers[5].count.total == Double(batch * (2 * 216 * 10 + 10)))
        #expect(total.total == layers.map(\.count.total).reduce(0, +))
    }
}
