import CortexCore
import CortexExplain
import CortexNN
import CortexTestSupport
import CZlib
import Foundation
import Testing

@Suite struct ForwardHookTests {
    @Test func hooksSeeReplaceAndRemove() throws {
        let model = Sequential(Linear(3, 4, generator: RandomGenerator(seed: 1)), ReLU(), Linear(4, 2, generator: RandomGenerator(seed: 2)))
        let x = try Tensor.randn([5, 3], generator: RandomGenerator(seed: 3))
        let plain = try model(x)
        var seen: [Int] = []
        let handle = model.layers[1].registerForwardHook { _, input, output in
            seen = output.shape
            #expect(input.shape == [5, 4])
            return try output * 0
        }
        // The output of ReLU replaced by zeros: only the last bias is left.
        let zeroed = try model(x)
        #expect(seen == [5, 4])
        let bias = try (model.layers[2] as! Linear).bias!.expand([5, 2])
        #expect(try closenessFailure(zeroed, bias) == nil)
        handle.remove()
        #expect(!model.layers[1].hasForwardHooks)
        #expect(try closenessFailure(model(x), plain) == nil)
        let pre = model.layers[0].registerForwardPreHook { _, input in try input * 2 }
        #expect(try closenessFailure(model(x), model.layers[2](model.layers[1](model.layers[0].forward(x * 2)))) == nil)
        pre.remove()
    }

    @Test func submoduleNames() throws {
        let model = Sequential(Linear(3, 4), ReLU())
        #expect(try model.submodule(named: "1") is ReLU)
        expectCortexError(["no layer named \"conv9\"", "the layers are 0, 1"]) { _ = try model.submodule(named: "conv9") }
    }
}

@Suite struct AttributionBehaviourTests {
    static func model() -> Sequential {
        Sequential(Conv2d(1, 3, kernelSize: 3, padding: 1, generator: RandomGenerator(seed: 4)), ReLU(), Flatten(),
                   Linear(3 * 6 * 6, 4, generator: RandomGenerator(seed: 5)))
    }

    @Test func integratedGradientsCompleteness() throws {
        let model = Self.model()
        model.eval()
        let x = try Tensor.randn([3, 1, 6, 6], generator: RandomGenerator(seed: 6))
        let result = try IntegratedGradients(model).attribute(x, target: [0, 1, 3], steps: 64)
        for (delta, change) in zip(result.delta, result.scoreChange) { #expect(abs(delta) <= 0.01 * abs(change) + 1e-6) }
    }

    @Test func noiseTunnelWithoutNoiseIsTheMethod() throws {
        let model = Self.model()
        let x = try Tensor.randn([2, 1, 6, 6], generator: RandomGenerator(seed: 7))
        let plain = try Saliency(model).attribute(x, target: 2)
        let smooth = try NoiseTunnel(Saliency(model)).attribute(x, target: 2, samples: 3, standardDeviation: 0)
        #expect(try closenessFailure(smooth, plain, rtol: 1e-5) == nil)
        let variance = try NoiseTunnel(Saliency(model)).attribute(x, target: 2, type: .varGrad, samples: 3, standardDeviation: 0)
        #expect(try variance.abs().max().item() < 1e-6)
    }

    @Test func badInputIsNamed() throws {
        let model = Self.model()
        let x = try Tensor.randn([2, 1, 6, 6])
        expectCortexError(["Saliency target", "index 7"]) { _ = try Saliency(model).attribute(x, target: 7) }
        expectCortexError(["3 targets for 2 inputs"]) { _ = try Saliency(model).attribute(x, target: [0, 1, 2]) }
        expectCortexError(["several scores per input: name a target"]) { _ = try Saliency(model).attribute(x) }
        expectCortexError(["window [1, 9, 9] does not fit"]) { _ = try Occlusion(model).attribute(x, slidingWindow: [1, 9, 9], target: 0) }
        expectCortexError(["1 steps for riemann_trapezoid"]) { _ = try IntegratedGradients(model).attribute(x, target: 0, steps: 1, method: .riemannTrapezoid) }
        expectCortexError(["did not run in the forward pass"]) {
            _ = try LayerGradCam(model, layer: Linear(2, 2)).attribute(x, target: 0)
        }
    }
}

@Suite struct PictureTests {
    /// The PNG's pixels, decoded with zlib: signature, IHDR, filter bytes and the RGB rows.
    @Test func pngRoundTrip() throws {
        var image = RGBImage(width: 3, height: 2, fill: RGB(10, 20, 30))
        image[2, 1] = RGB(255, 0, 128)
        let bytes = try image.pngData()
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(Array(bytes[12..<16]) == Array("IHDR".utf8))
        #expect(Array(bytes[16..<24]) == [0, 0, 0, 3, 0, 0, 0, 2])
        let idatLength = Int(bytes[33]) << 24 | Int(bytes[34]) << 16 | Int(bytes[35]) << 8 | Int(bytes[36])
        #expect(Array(bytes[37..<41]) == Array("IDAT".utf8))
        let compressed = Array(bytes[41..<(41 + idatLength)])
        var raw = [UInt8](repeating: 0, count: 2 * (1 + 9))
        var length = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in compressed.withUnsafeBufferPointer { uncompress(out.baseAddress, &length, $0.baseAddress, uLong(compressed.count)) } }
        #expect(status == Z_OK && length == 20)
        #expect(raw == [0, 10, 20, 30, 10, 20, 30, 10, 20, 30, 0, 10, 20, 30, 10, 20, 30, 255, 0, 128])
        #expect(Array(bytes.suffix(8).prefix(4)) == Array("IEND".utf8))
    }

    @Test func heatmapPanelAndTokenPictures() throws {
        let image = try Tensor.rand([1, 4, 4]), map = try Tensor.randn([1, 4, 4])
        let panel = try Heatmap.panel(image: image, attribution: map, colormap: .diverging, scale: 2)
        #expect(panel.width == 3 * 8 + 2 * 4 && panel.height == 8)
        #expect(Colormap.diverging.color(0) == RGB(255, 255, 255))
        let html = TokenPictures.attributionHTML(tokens: ["<b>", " cat"], scores: [1, -0.5], title: "t & u")
        #expect(html.contains("&lt;b&gt;") && html.contains("t &amp; u") && html.contains("background:#b2182b"))
        let svg = try TokenPictures.attentionSVG(weights: Tensor([[1, 0], [0.25, 0.75]]), tokens: ["a", "b"])
        #expect(svg.hasPrefix("<svg") && svg.components(separatedBy: "<rect x=").count - 1 == 4)
        expectCortexError(["one (queries, keys) matrix"]) { _ = try TokenPictures.attentionSVG(weights: Tensor([1, 2]), tokens: ["a"]) }
    }
}

@Suite struct MitigationTests {
    /// Scores where group b's are shifted down: thresholds at 0.5 select b far less often.
    static func data() -> (scores: [Double], labels: [Int], groups: [String]) {
        let generator = RandomGenerator(seed: 8)
        var scores: [Double] = [], labels: [Int] = [], groups: [String] = []
        for index in 0..<2000 {
            let group = index % 3 == 0 ? "b" : "a"
            let label = generator.integer(below: 2)
            let noise = Double(generator.integer(below: 1000)) / 1000
            scores.append(min(1, max(0, 0.3 * Double(label) + 0.7 * noise - (group == "b" ? 0.25 : 0))))
            labels.append(label)
            groups.append(group)
        }
        return (scores, labels, groups)
    }

    @Test func demographicParityEqualisesSelectionRates() throws {
        let (scores, labels, groups) = Self.data()
        let before = try Fairness.demographicParityDifference(truth: labels, predictions: scores.map { $0 >= 0.5 ? 1 : 0 }, sensitiveFeatures: groups)
        let optimizer = try ThresholdOptimizer(constraint: .demographicParity, scores: scores, labels: labels, groups: groups)
        let expected = try optimizer.probabilities(scores: scores, groups: groups)
        let rates = ["a", "b"].map { group in zip(expected, groups).filter { $0.1 == group }.map(\.0).reduce(0, +) / Double(groups.filter { $0 == group }.count) }
        #expect(abs(rates[0] - rates[1]) < 0.01, "expected selection rates \(rates)")
        let after = try Fairness.demographicParityDifference(truth: labels, predictions: optimizer.predict(scores: scores, groups: groups, seed: 1),
                                                              sensitiveFeatures: groups)
        #expect(before > 0.2 && after < 0.05, "demographic parity difference \(before) -> \(after)")
    }

    @Test func equalizedOddsEqualisesBothRates() throws {
        let (scores, labels, groups) = Self.data()
        let optimizer = try ThresholdOptimizer(constraint: .equalizedOdds, scores: scores, labels: labels, groups: groups)
        let p = try optimizer.probabilities(scores: scores, groups: groups)
        func rate(_ group: String, _ label: Int) -> Double {
            let members = groups.indices.filter { groups[$0] == group && labels[$0] == label }
            return members.map { p[$0] }.reduce(0, +) / Double(members.count)
        }
        #expect(abs(rate("a", 1) - rate("b", 1)) < 0.02 && abs(rate("a", 0) - rate("b", 0)) < 0.02)
        expectCortexError(["group \"c\" had no samples when the thresholds were fitted"]) {
            _ = try optimizer.predict(scores: [0.5], groups: ["c"])
        }
    }

    @Test func reweighingDecouplesLabelAndGroup() throws {
        let labels = [1, 1, 1, 0, 1, 0, 0, 0], groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
        let weights = try Reweighing.weights(labels: labels, groups: groups)
        // Weighted P(y = 1 | a) = P(y = 1 | b) = P(y = 1) = 0.5.
        for group in ["a", "b"] {
            let members = groups.indices.filter { groups[$0] == group }
            let positive = members.filter { labels[$0] == 1 }.map { weights[$0] }.reduce(0, +)
            #expect(abs(positive / members.map { weights[$0] }.reduce(0, +) - 0.5) < 1e-12)
        }
        #expect(abs(weights[0] - 2.0 / 3) < 1e-12 && abs(weights[3] - 2) < 1e-12)
    }
}
