import ArgumentParser
import CortexCore
import CortexData
import CortexExplain
import CortexModels
import CortexNN
import CortexText
import Foundation

/// `cortex explain`: attributions for an image classifier's test images (PNG panels), or
/// attention maps and token attributions for a language model or BERT (SVG and HTML).
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain predictions: attribution heatmaps for image classifiers, attention maps and token attributions for text models.",
        discussion: """
            Image classifiers (\(ClassifierCheckpoint.description)):
              cortex explain mnist-cnn --checkpoint DIR --indices 0,1,2 --method integrated-gradients --out DIR
            writes <index>-<method>.png (input | attribution | attribution over the input), attributions.safetensors and \
            explain.json. Methods: saliency, input-x-gradient, integrated-gradients, smoothgrad, occlusion, gradcam.

            Text models (GPT-2 or Llama checkpoints and GGUF files, BERT sentence encoders):
              cortex explain --model smollm2 --prompt "The capital of France is" --method attention --out DIR
            writes an SVG heatmap per layer (heads averaged, or every head of --layer) and attention.safetensors; \
            --method integrated-gradients writes tokens.html, the prompt coloured by each token's attribution to the \
            predicted next token (or, for BERT, to the similarity with --compare).
            """)

    @Argument(help: "An image-classifier recipe (with --checkpoint).") var recipe: String?
    @Option(help: "Checkpoint directory of `cortex train --out`.") var checkpoint: String?
    @Option(help: "Test-set indices: 0,1,2 or ranges such as 0-99.") var indices: String = "0"
    @Option(help: "saliency, input-x-gradient, integrated-gradients, smoothgrad, occlusion, gradcam; attention for text models.")
    var method: String = "integrated-gradients"
    @Option(help: "The class explained: predicted (default) or label.") var target: String = "predicted"
    @Option(help: "Integrated gradients: steps.") var steps: Int = 64
    @Option(help: "Integrated gradients: gausslegendre, riemann_left, riemann_right, riemann_middle or riemann_trapezoid.")
    var integration: String = "gausslegendre"
    @Option(help: "SmoothGrad: noisy samples per image.") var samples: Int = 25
    @Option(help: "SmoothGrad: noise standard deviation, as a fraction of the input's range.") var noise: Float = 0.15
    @Option(help: "Occlusion: the square window's side in pixels.") var window: Int = 4
    @Option(help: "Occlusion: the window's stride in pixels.") var stride: Int = 2
    @Option(help: "GradCAM: the layer (dotted name, as in the state dict; default the ReLU after the last convolution). Text models: the layer whose attention to draw.")
    var layer: String?
    @Option(help: "Text models: a language model or BERT (directory, GGUF file or short name).") var model: String?
    @Option(help: "Text models: the text to explain.") var prompt: String?
    @Option(help: "BERT integrated gradients: the sentence whose similarity is explained.") var compare: String?
    @Option(name: .customLong("data-dir"), help: "Directory holding the dataset's files.") var dataDirectory: String?
    @Option(name: .customLong("out"), help: "Directory for the pictures and figures.") var output: String
    @Flag(help: "Print one JSON object with the summary.") var json = false

    static let imageMethods = ["saliency", "input-x-gradient", "integrated-gradients", "smoothgrad", "occlusion", "gradcam"]

    func validate() throws {
        if model == nil {
            guard recipe != nil, checkpoint != nil else { throw ValidationError("give a recipe and --checkpoint, or --model and --prompt") }
            guard Explain.imageMethods.contains(method) else {
                throw ValidationError("--method must be one of \(Explain.imageMethods.joined(separator: ", ")) for image classifiers, got \(method)")
            }
        } else {
            guard prompt != nil else { throw ValidationError("--model needs --prompt") }
            guard ["attention", "integrated-gradients"].contains(method) else {
                throw ValidationError("--method must be attention or integrated-gradients for text models, got \(method)")
            }
        }
        guard IntegrationMethod(rawValue: integration) != nil else {
            throw ValidationError("--integration must be one of \(IntegrationMethod.allCases.map(\.rawValue).joined(separator: ", ")), got \(integration)")
        }
        guard ["predicted", "label"].contains(target) else { throw ValidationError("--target must be predicted or label, got \(target)") }
        for (name, value) in [("--steps", steps), ("--samples", samples), ("--window", window), ("--stride", stride)] where value <= 0 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
    }

    func run() throws {
        let summary = model == nil ? try explainImages() : try explainText()
        try writeText(jsonText(summary), to: output + "/explain.json")
        if json { print(try jsonText(summary).replacingOccurrences(of: "\n", with: " ")) }
    }

    /// "0,1,5-9" as [0, 1, 5, 6, 7, 8, 9].
    static func parseIndices(_ text: String) throws -> [Int] {
        var result: [Int] = []
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            if bounds.count == 1, let index = bounds[0] { result.append(index); continue }
            if bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high { result += Array(low...high); continue }
            throw CortexError.invalidArgument(operation: "cortex explain", reason: "index \"\(part)\" is neither a number nor a range such as 0-99")
        }
        guard !result.isEmpty else { throw CortexError.invalidArgument(operation: "cortex explain", reason: "no indices in \"\(text)\"") }
        return result
    }

    // MARK: Images

    func explainImages() throws -> [String: Any] {
        let (classifier, dataset) = try ClassifierCheckpoint.load(recipe!, checkpoint: checkpoint!, operation: "cortex explain")
        let test = try ClassifierCheckpoint.split(dataset, .test, dataDirectory: dataDirectory)
        let chosen = try Explain.parseIndices(indices)
        if let outside = chosen.first(where: { $0 < 0 || $0 >= test.count }) {
            throw CortexError.indexOutOfRange(operation: "cortex explain --indices (the \(dataset) test set)", index: outside, bound: test.count)
        }
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var records: [[String: Any]] = []
        var maps: [String: Tensor] = [:]
        var relativeDeltas: [Double] = []
        for start in Swift.stride(from: 0, to: chosen.count, by: 50) {
            let group = Array(chosen[start..<min(chosen.count, start + 50)])
            let batch = try test.batch(group)
            let images = batch.inputs
            let labels = try batch.targets.toIntArray()
            let logits = try withNoGrad { try classifier(images) }
            let predicted = try logits.argmax(axis: 1).toIntArray()
            let probabilities = try logits.softmax(axis: 1).toFloatArray()
            let classes = logits.shape[1]
            let targets = target == "label" ? labels : predicted
            let (attributions, deltas, changes, colormap) = try attribute(classifier, images, targets)
            for (offset, index) in group.enumerated() {
                let image = try images.select(axis: 0, index: offset), map = try attributions.select(axis: 0, index: offset)
                let file = "\(index)-\(method).png"
                try Heatmap.panel(image: image, attribution: map, colormap: colormap, scale: 8).writePNG(to: output + "/" + file)
                maps["\(index)"] = map
                var record: [String: Any] = ["index": index, "label": labels[offset], "predicted": predicted[offset], "target": targets[offset],
                                             "probability": Double(probabilities[offset * classes + targets[offset]]), "picture": file]
                if let deltas, let changes {
                    let relative = Double(Swift.abs(deltas[offset])) / Swift.max(Double(Swift.abs(changes[offset])), 1e-12)
                    record["delta"] = Double(deltas[offset])
                    record["score_change"] = Double(changes[offset])
                    record["relative_delta"] = relative
                    relativeDeltas.append(relative)
                }
                records.append(record)
            }
        }
        try Safetensors.save(maps, metadata: ["method": method, "recipe": recipe!], to: output + "/attributions.safetensors")
        var summary: [String: Any] = ["recipe": recipe!, "method": method, "images": records.count, "records": records, "target": target]
        if !relativeDeltas.isEmpty {
            let sorted = relativeDeltas.sorted()
            summary["integration"] = integration
            summary["steps"] = steps
            summary["max_relative_delta"] = sorted.last!
            summary["median_relative_delta"] = sorted[sorted.count / 2]
            summary["within_1_percent"] = relativeDeltas.filter { $0 <= 0.01 }.count
        }
        if !json {
            print("\(records.count) \(method) maps written to \(output)")
            if let worst = summary["max_relative_delta"] as? Double {
                print(String(format: "completeness: |delta| / |F(x) - F(baseline)| at most %.3g%% (median %.3g%%), %d of %d within 1%%",
                             100 * worst, 100 * (summary["median_relative_delta"] as! Double), summary["within_1_percent"] as! Int, records.count))
            }
        }
        return summary
    }

    /// The method's maps for `images`, with the convergence deltas of integrated gradients.
    func attribute(_ classifier: Sequential, _ images: Tensor, _ targets: [Int]) throws
        -> (Tensor, [Float]?, [Float]?, Colormap) {
        let target = AttributionTarget.each(targets)
        switch method {
        case "saliency": return (try Saliency(classifier).attribute(images, target: target), nil, nil, .inferno)
        case "input-x-gradient": return (try InputXGradient(classifier).attribute(images, target: target), nil, nil, .diverging)
        case "integrated-gradients":
            let result = try IntegratedGradients(classifier).attribute(images, target: target, steps: steps, method: IntegrationMethod(rawValue: integration)!,
                                                                      internalBatchSize: 512)
            return (result.attributions, result.delta, result.scoreChange, .diverging)
        case "smoothgrad":
            let range = try Double(images.max().item() - images.min().item())
            let maps = try NoiseTunnel(Saliency(classifier)).attribute(images, target: target, samples: samples,
                                                                       standardDeviation: noise * Float(range), generator: RandomGenerator(seed: 0))
            return (maps, nil, nil, .inferno)
        case "occlusion":
            let channels = images.shape[1]
            let maps = try Occlusion(classifier).attribute(images, slidingWindow: [channels, window, window], strides: [channels, stride, stride],
                                                           target: target, perturbationsPerEvaluation: 32)
            return (maps, nil, nil, .diverging)
        default:
            let layerName = try layer ?? Explain.gradCamLayer(classifier)
            let cam = try LayerGradCam(classifier, layer: classifier.submodule(named: layerName)).attribute(images, target: target, reluAttributions: true)
            return (try LayerAttribution.interpolate(cam, to: Array(images.shape.suffix(2)), mode: .bilinear), nil, nil, .inferno)
        }
    }

    /// GradCAM's default layer: the rectified feature maps of the last convolution (the ReLU
    /// after the last Conv2d, as Selvaraju et al. use them), or the convolution itself.
    static func gradCamLayer(_ model: Module) throws -> String {
        let modules = model.namedModules()
        guard let position = modules.lastIndex(where: { $0.1 is Conv2d }) else {
            throw CortexError.invalidArgument(operation: "cortex explain --method gradcam", reason: "the model has no Conv2d layer; name one with --layer")
        }
        if position + 1 < modules.count, modules[position + 1].1 is ReLU { return modules[position + 1].0 }
        return modules[position].0
    }

    // MARK: Text

    func explainText() throws -> [String: Any] {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let text = prompt!
        if let encoder = try? SentenceEmbedder.load(directory: model!) {
            return try explainSentence(encoder, text)
        }
        let generator = try TextGenerator.load(model!)
        let ids = try generator.tokenizer.encode(text)
        guard !ids.isEmpty else { throw CortexError.invalidArgument(operation: "cortex explain", reason: "the prompt has no tokens") }
        let tokens = try ids.map { try generator.tokenizer.decode([$0]) }
        let languageModel = generator.model
        languageModel.eval()
        let input = try Tensor(integers: ids, shape: [1, ids.count])
        if method == "attention" {
            let (_, weights) = try Attention.recordingWeights { try withNoGrad { try languageModel(input) } }
            return try drawAttention(weights, tokens: tokens, model: model!)
        }
        let lastLogits = { (x: Tensor) throws -> Tensor in try languageModel(x).select(axis: 1, index: x.shape[1] - 1) }
        let next = try withNoGrad { try lastLogits(input) }.argmax(axis: 1).toIntArray()[0]
        let nextText = try generator.tokenizer.decode([next])
        let baselineId = generator.stopTokens.min() ?? 0
        return try tokenAttribution(ExplainedFunction(languageModel, lastLogits), of: languageModel, input: input,
                                    baseline: Array(repeating: baselineId, count: ids.count), target: .all(next), tokens: tokens,
                                    title: "Integrated gradients for the next token \(nextText.debugDescription)",
                                    describing: "Each prompt token's attribution to the logit of \(nextText.debugDescription), through the token embedding (\(steps) \(integration) steps, baseline token \(baselineId))",
                                    change: "logit change", summary: ["next_token": nextText])
    }

    func explainSentence(_ encoder: SentenceEmbedder, _ text: String) throws -> [String: Any] {
        let ids = encoder.tokenizer.encode(text, maxLength: encoder.maximumLength)
        let tokens = try ids.map { try encoder.tokenizer.decode([$0]) }.enumerated().map { $1.isEmpty ? (ids[$0] == ids.first ? "[CLS]" : "[SEP]") : $1 }
        let input = try Tensor(integers: ids, shape: [1, ids.count])
        encoder.model.eval()
        if method == "attention" {
            let (_, weights) = try Attention.recordingWeights { try withNoGrad { try encoder.model(input) } }
            return try drawAttention(weights, tokens: tokens, model: model!)
        }
        guard let compare else {
            throw CortexError.invalidArgument(operation: "cortex explain", reason: "integrated gradients on a sentence encoder explain a similarity: give --compare TEXT")
        }
        let reference = try encoder.embed([compare])
        let row = Array(repeating: true, count: ids.count)
        let function = ExplainedFunction(encoder.model) { x in
            let embedded = try encoder.pool(encoder.model(x), mask: Array(repeating: row, count: x.shape[0]))
            return try (embedded * reference).sum(axes: [1])
        }
        // The baseline keeps [CLS] and [SEP] and pads the words.
        let baseline = ids.enumerated().map { $0.offset == 0 || $0.offset == ids.count - 1 ? $0.element : encoder.tokenizer.paddingId }
        return try tokenAttribution(function, of: encoder.model, input: input, baseline: baseline, target: .none, tokens: tokens,
                                    title: "Integrated gradients for the similarity to \(compare.debugDescription)",
                                    describing: "Each token's attribution to the cosine similarity of the sentence embeddings, through the word embeddings (baseline: [PAD] words)",
                                    change: "similarity change", summary: ["compare": compare])
    }

    /// Layer integrated gradients of `function` through `model`'s token embedding, written as
    /// tokens.html; the summary holds the tokens, their attributions and the convergence delta.
    func tokenAttribution(_ function: ExplainedFunction, of model: Module, input: Tensor, baseline: [Int], target: AttributionTarget,
                          tokens: [String], title: String, describing: String, change: String, summary: [String: Any]) throws -> [String: Any] {
        let result = try LayerIntegratedGradients(function, layer: Explain.tokenEmbedding(of: model))
            .attribute(input, baselines: Tensor(integers: baseline, shape: [1, baseline.count]), target: target, steps: steps,
                       method: IntegrationMethod(rawValue: integration)!, internalBatchSize: 16)
        let scores = try LayerIntegratedGradients.perToken(result.attributions).toFloatArray()
        let (delta, scoreChange) = (result.delta[0], result.scoreChange[0])
        let caption = "\(describing); convergence delta \(String(format: "%.4g", delta)) of a \(change) \(String(format: "%.4g", scoreChange))."
        try writeText(TokenPictures.attributionHTML(tokens: tokens, scores: scores, title: title, caption: caption), to: output + "/tokens.html")
        if !json { print("\(title): tokens.html written to \(output) (delta \(delta) of \(scoreChange))") }
        return summary.merging(["model": self.model!, "method": method, "tokens": tokens, "attributions": scores.map(Double.init),
                                "delta": Double(delta), "score_change": Double(scoreChange)]) { own, _ in own }
    }

    /// SVG heatmaps: every layer with its heads averaged, or each head of `--layer`.
    func drawAttention(_ weights: [Tensor], tokens: [String], model: String) throws -> [String: Any] {
        var files: [String] = []
        var raw: [String: Tensor] = [:]
        if let layer {
            guard let index = Int(layer), weights.indices.contains(index) else {
                throw CortexError.invalidArgument(operation: "cortex explain --layer", reason: "layer \"\(layer)\" does not exist: the model has layers 0 to \(weights.count - 1)")
            }
            let map = try weights[index].select(axis: 0, index: 0)
            for head in 0..<map.shape[0] {
                let file = "attention-layer\(index)-head\(head).svg"
                try writeText(TokenPictures.attentionSVG(weights: map.select(axis: 0, index: head), tokens: tokens, title: "layer \(index), head \(head)"), to: output + "/" + file)
                files.append(file)
            }
        } else {
            for (index, map) in weights.enumerated() {
                let file = "attention-layer\(index).svg"
                try writeText(TokenPictures.attentionSVG(weights: map.select(axis: 0, index: 0).mean(axes: [0]), tokens: tokens,
                                                         title: "layer \(index), \(map.shape[1]) heads averaged"), to: output + "/" + file)
                files.append(file)
            }
        }
        for (index, map) in weights.enumerated() { raw["layer\(index)"] = map }
        try Safetensors.save(raw, metadata: ["model": model], to: output + "/attention.safetensors")
        if !json { print("\(files.count) attention maps (\(weights.count) layers) written to \(output)") }
        return ["model": model, "method": "attention", "tokens": tokens, "layers": weights.count, "pictures": files]
    }

    /// The token-embedding layer of GPT-2, Llama or BERT.
    static func tokenEmbedding(of model: Module) throws -> Module {
        let modules = model.namedModules()
        for name in ["transformer.wte", "model.embed_tokens", "embeddings.word_embeddings"] {
            if let found = modules.first(where: { $0.0 == name }) { return found.1 }
        }
        guard let first = modules.first(where: { $0.1 is Embedding || $0.1 is QuantizedEmbedding }) else {
            throw CortexError.invalidArgument(operation: "cortex explain", reason: "the model has no token embedding layer")
        }
        return first.1
    }
}
