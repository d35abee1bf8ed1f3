import CCortexKernels
import CortexCore
import CortexTestSupport
import Foundation
import Testing

/// The GGUF writer and its quantisers: blocks identical to ggml's reference quantisers
/// (fixtures from Tools/make_quantizer_fixtures.py: gguf-py's numpy quantisers for Q8_0, Q4_0,
/// Q4_1, F16 and BF16, ggml's C quantize_row_q4_K_ref for Q4_K), files the reader reads back
/// exactly, and typed errors for what cannot be written.
@Suite struct GGUFWriterTests {
    struct Fixture: Decodable {
        let rows: Int, columns: Int
        let input: [Float]
        let expected: [String: String]
    }

    static let fixture: Fixture = {
        let path = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path + "/quantizers.json"
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }()

    static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: ["Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K", "F16", "BF16"])
    func quantizersMatchGGML(_ name: String) throws {
        let fixture = Self.fixture
        let format = try #require(QuantizationFormat(name: name))
        let input = try Tensor(fixture.input, shape: [fixture.rows, fixture.columns])
        let got = Self.hex(try GGUFWriter.quantize(input, as: format))
        let want = try #require(fixture.expected[name])
        #expect(got.count == want.count)
        if got != want {
            let first = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }!.offset / 2
            Issue.record("\(name): first differing byte \(first) of \(want.count / 2)")
        }
    }

    /// Every metadata type, and tensors in every format Cortex writes, read back unchanged.
    @Test func filesReadBackExactly() throws {
        let directory = temporaryDirectory("gguf-writer")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var writer = GGUFWriter()
        let values: [(String, GGUF.Value)] = [
            ("general.architecture", .string("test")), ("a.u8", .uint8(200)), ("a.i8", .int8(-5)), ("a.u16", .uint16(60000)),
            ("a.i16", .int16(-300)), ("a.u32", .uint32(4_000_000_000)), ("a.i32", .int32(-7)), ("a.f32", .float32(0.25)),
            ("a.bool", .bool(true)), ("a.u64", .uint64(1 << 40)), ("a.i64", .int64(-(1 << 40))), ("a.f64", .float64(1e-300)),
            ("a.strings", .array([.string("é"), .string("")])), ("a.nested", .array([.array([.int32(1)]), .array([])])),
        ]
        for (key, value) in values { writer.set(key, value) }
        let input = try Tensor(Self.fixture.input, shape: [Self.fixture.rows, Self.fixture.columns])
        for format in GGUFWriter.quantizable { try writer.add("t.\(format)", tensor: input, as: format) }
        try writer.add("t.vector", tensor: Tensor([1, 2, 3], shape: [3]), as: .f32)
        try writer.add("t.cube", tensor: Tensor.arange(0, 64).reshape([2, 1, 32]), as: .q8_0)
        let path = directory + "/all.gguf"
        try writer.write(to: path)
        let file = try GGUF.load(path)
        #expect(file.keys == values.map(\.0))
        for (key, value) in values { #expect(file.metadata[key] == value, "\(key)") }
        #expect(file.tensors.map(\.name) == writer.tensors.map(\.name))
        for entry in writer.tensors {
            let info = try file.info(entry.name)
            #expect(info.shape == entry.shape)
            #expect(info.offset % 32 == 0)
            #expect(info.byteCount == entry.data.count)
            #expect(info.format == entry.format)
        }
        for format in GGUFWriter.quantizable {
            let direct = try QuantizedMatrix(quantizing: input, as: format).dequantized().toFloatArray()
            #expect(try file.tensor("t.\(format)").toFloatArray() == direct, "\(format)")
        }
        #expect(try file.tensor("t.vector").toFloatArray() == [1, 2, 3])
        #expect(try file.tensor("t.cube").shape == [2, 1, 32])
        // F32 is exact; every format is near the input.
        #expect(try file.tensor("t.F32").toFloatArray() == Self.fixture.input)
        let reference = Self.fixture.input
        for (format, bound) in [(QuantizationFormat.f16, Float(0.02)), (.bf16, 0.2), (.q8_0, 0.2), (.q4_0, 3), (.q4_1, 3), (.q4K, 3), (.q6K, 1)] {
            let largest = zip(try file.tensor("t.\(format)").toFloatArray(), reference).map { abs($0 - $1) }.max()!
            #expect(largest < bound, "\(format): \(largest)")
        }
    }

    @Test func badInputGetsTypedErrors() throws {
        let directory = temporaryDirectory("gguf-writer-errors")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var writer = GGUFWriter()
        #expect(QuantizationFormat(name: "iq2_xxs") == nil)
        // Read and computed, but not written: Cortex has no quantiser for Q3_K.
        #expect(try QuantizationFormat(name: "q3_k").map { GGUFWriter.quantizable.contains($0) } == false)
        func reason(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch let error as CortexError { return error.description } catch { return "\(error)" }
        }
        // A row length that does not divide into blocks names the tensor and the block size.
        let ragged = reason { try writer.add("blk.0.ffn_up.weight", tensor: Tensor.zeros([4, 576]), as: .q4K) }
        #expect(ragged.contains("blk.0.ffn_up.weight") && ragged.contains("576") && ragged.contains("256"), "\(ragged)")
        try writer.add("x", tensor: Tensor.zeros([2, 32]), as: .q8_0)
        #expect(reason { try writer.add("x", tensor: Tensor.zeros([2, 32]), as: .q8_0) }.contains("added twice"))
        #expect(reason { try writer.add("y", shape: [2, 32], format: .q8_0, data: Data(count: 5)) }.contains("5 bytes"))
        // Never over an input, even through another spelling of its path.
        let source = directory + "/model.gguf"
        try writer.write(to: source)
        let before = try Data(contentsOf: URL(fileURLWithPath: source))
        #expect(reason { try writer.write(to: directory + "/./model.gguf", protecting: [source]) }.contains("refusing to write over the input file"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: source)) == before)
        #expect(reason { try writer.write(to: directory + "/missing/out.gguf") }.contains("does not exist"))
    }
}
