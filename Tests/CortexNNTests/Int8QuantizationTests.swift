import CortexCore
import CortexNN
import CortexTestSupport
import Foundation
import Testing

/// Post-training int8 quantisation of whole models: Linear and Conv2d layers switched in place,
/// close to their float outputs, calibrated or dynamic, saved and loaded back exactly.
@Suite struct Int8QuantizationTests {
    static func cnn(seed: UInt64) -> Sequential {
        let generator = RandomGenerator(seed: seed)
        return Sequential(Conv2d(3, 8, kernelSize: 3, padding: 1, generator: generator), ReLU(), MaxPool2d(2),
                          Conv2d(8, 16, kernelSize: (3, 2), stride: (1, 2), generator: generator), ReLU(),
                          Flatten(), Linear(16 * 2 * 2, 10, generator: generator))
    }

    static func relativeError(_ got: Tensor, _ want: Tensor) throws -> Float {
        let (a, b) = (try got.toFloatArray(), try want.toFloatArray())
        return sqrt(zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / max(b.map { $0 * $0 }.reduce(0, +), 1e-30))
    }

    @Test func dynamicQuantizationStaysCloseToFloat() throws {
        let model = Self.cnn(seed: 1)
        model.eval()
        let images = try Tensor.randn([4, 3, 8, 8], generator: RandomGenerator(seed: 2))
        let float = try model(images)
        let report = try Int8Quantization.quantize(model)
        #expect(report.quantized == ["0", "3", "6"])
        #expect(report.floatBytes == (8 * 27 + 16 * 48 + 10 * 64) * 4)
        #expect(report.int8Bytes == 8 * 27 + 16 * 48 + 10 * 64 + (8 + 16 + 10) * 4)
        let int8 = try model(images)
        #expect(int8.shape == float.shape)
        #expect(try Self.relativeError(int8, float) < 0.03)
        Int8Quantization.dequantize(model)
        #expect(try model(images).toFloatArray() == float.toFloatArray())
    }

    /// A quantised Conv2d is its im2col rows through the same int8 matrix, exactly.
    @Test func convolutionIsIm2colRowsThroughTheInt8Matrix() throws {
        let convolution = Conv2d(3, 5, kernelSize: 3, stride: 2, padding: 1, generator: RandomGenerator(seed: 3))
        let input = try Tensor.randn([2, 3, 7, 9], generator: RandomGenerator(seed: 4))
        try Int8Quantization.quantize(convolution)
        let matrix = try #require(Int8Quantization.state(of: convolution)?.matrix)
        let columns = try input.im2col(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        let rows = try columns.permute([0, 2, 1]).reshape([-1, 27])
        let want = try matrix.product(rows, bias: convolution.bias).reshape([2, 4, 5, 5]).permute([0, 3, 1, 2]).contiguous()
        #expect(try convolution(input).toFloatArray() == want.toFloatArray())
    }

    @Test func calibrationFixesEachLayersInputRange() throws {
        let model = Self.cnn(seed: 5)
        model.eval()
        let batches = try (0..<3).map { try Tensor.randn([4, 3, 8, 8], generator: RandomGenerator(seed: 10 + UInt64($0))) }
        let float = try model(batches[0])
        try Int8Quantization.quantize(model, calibration: { for batch in batches { _ = try model(batch) } })
        for index in [0, 3, 6] {
            guard case let .calibrated(scale, zeroPoint)? = Int8Quantization.state(of: model.layers[index])?.activations else {
                Issue.record("layer \(index) is not calibrated"); continue
            }
            #expect(scale > 0 && (0...255).contains(zeroPoint))
            // After a ReLU the inputs are never negative: zero point 0.
            if index > 0 { #expect(zeroPoint == 0) }
        }
        #expect(try Self.relativeError(model(batches[0]), float) < 0.05)
        // A layer the calibration never reaches is an error that names it.
        let unused = Sequential(Linear(4, 4), Linear(4, 4))
        expectCortexError(["layer 1", "calibration"]) {
            try Int8Quantization.quantize(unused, calibration: { _ = try unused.layers[0](Tensor.ones([1, 4])) })
        }
        #expect(Int8Quantization.state(of: unused.layers[0]) == nil, "a failed calibration leaves the model in float")
    }

    @Test func savedCheckpointsLoadBackExactly() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("int8-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let images = try Tensor.randn([2, 3, 8, 8], generator: RandomGenerator(seed: 6))
        for calibrated in [false, true] {
            let model = Self.cnn(seed: 7)
            model.eval()
            try Int8Quantization.quantize(model, calibration: calibrated ? { _ = try model(images) } : nil)
            let path = directory + "/model-\(calibrated).safetensors"
            try Int8Quantization.save(model, to: path)
            #expect(Int8Quantization.isInt8Checkpoint(path))
            let file = try Safetensors.load(path)
            #expect(file.tensors["0.weight"]?.dtype == .int8)
            #expect(file.tensors["0.weight_scale"]?.shape == [8])
            #expect((file.tensors["6.input_scale"] != nil) == calibrated)
            let loaded = Self.cnn(seed: 99)
            loaded.eval()
            try Int8Quantization.load(loaded, from: path)
            #expect(try loaded(images).toFloatArray() == model(images).toFloatArray())
        }
    }

    @Test func groupedConvolutionsStayInFloat() throws {
        let model = Sequential(Conv2d(4, 4, kernelSize: 1, groups: 2), Flatten(), Linear(4, 2))
        let report = try Int8Quantization.quantize(model)
        #expect(report.quantized == ["2"])
        #expect(report.skipped["0"]?.contains("groups 2") == true)
    }
}
