import CortexCore
import CortexModels
import CortexTestSupport
import Foundation
import Testing

/// Every llama.cpp quantisation preset, on files other people's tools made: SmolLM2 re-quantised
/// by llama.cpp's llama-quantize, one file per preset, against transformers reading the same
/// file (it dequantises the blocks through gguf-py). Made by Tools/make_preset_references.py
/// into CORTEX_PRESET_DIR; skipped with a message where that is unset or empty.
@Suite struct PresetParityTests {
    struct Case: Decodable { let prompt: String; let ids: [Int]; let greedy: [Int] }
    struct Preset: Decodable { let file: String; let bytes: Int; let cases: [Case] }

    static func references() throws -> (String, [String: Preset])? {
        guard let directory = ProcessInfo.processInfo.environment["CORTEX_PRESET_DIR"],
              let data = FileManager.default.contents(atPath: directory + "/references.json") else {
            print("skipping the llama-quantize preset checks: set CORTEX_PRESET_DIR to the files of Tools/make_preset_references.py")
            return nil
        }
        return (directory, try JSONDecoder().decode([String: Preset].self, from: data))
    }

    /// The largest difference of any last-position logit, over the largest logit: both sides
    /// compute in float32 from identical dequantised weights (DequantizerTests), so what remains
    /// is the order of float32 sums through 30 layers: measured at 1.6e-6 to 3.3e-6 of the logits' scale
    /// on Zen 4 (AVX-512), bounded here at 2e-5 for other CPUs' kernels.
    static let logitTolerance: Float = 2e-5

    @Test func everyPresetMatchesTransformers() throws {
        guard let (directory, presets) = try Self.references() else { return }
        #expect(presets.count >= 14, "presets: \(presets.keys.sorted())")
        var report: [String] = []
        for (name, preset) in presets.sorted(by: { $0.key < $1.key }) {
            let generator = try TextGenerator.load(gguf: directory + "/" + preset.file)
            let want = try Safetensors.load(directory + "/" + preset.file.replacingOccurrences(of: ".gguf", with: ".logits.safetensors")).tensor("logits")
            var worst: Float = 0, identical = 0
            try QuantizedMatrix.$activations.withValue(.float) {
                for (index, item) in preset.cases.enumerated() {
                    #expect(try generator.tokenizer.encode(item.prompt) == item.ids, "\(name): \(item.prompt)")
                    let logits = try withNoGrad { try generator.model(Tensor(integers: item.ids, shape: [1, item.ids.count])) }
                    let got = try logits.select(axis: 1, index: item.ids.count - 1).reshape([-1]).toFloatArray()
                    let expected = try want.select(axis: 0, index: index).toFloatArray()
                    let scale = expected.map(abs).max() ?? 1
                    worst = max(worst, zip(got, expected).map { abs($0 - $1) }.max()! / scale)
                    // No stop tokens: end-of-sequence is argmax'd as any other token, as the reference did.
                    let greedy = try generator.model.generate(prompt: item.ids, maxNewTokens: 32, sampling: SamplingOptions(temperature: 0))
                    let tokens = Array(greedy.suffix(32))
                    if tokens == item.greedy { identical += 1 } else {
                        let first = zip(tokens, item.greedy).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1
                        print("\(name) \"\(item.prompt)\": first differs at \(first): cortex \(tokens) transformers \(item.greedy)")
                    }
                }
            }
            report.append("\(name): logits within \(worst) of the largest, greedy identical on \(identical)/\(preset.cases.count)")
            #expect(worst <= Self.logitTolerance, "\(name): logits differ by \(worst) of the largest")
            #expect(identical == preset.cases.count, "\(name): greedy tokens identical on \(identical) of \(preset.cases.count) prompts")
        }
        print(report.joined(separator: "\n"))
    }
}
