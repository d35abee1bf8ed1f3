import Foundation
import Testing
import CortexTestSupport
@testable import CortexCore

@Suite struct SafetensorsTests {
    let directory: String = temporaryDirectory("cortex-safetensors")

    /// Writes a file from a JSON header and a data section.
    func file(_ name: String, header: String, data: [UInt8] = [], headerLength: UInt64? = nil) throws -> String {
        let path = directory + "/" + name
        var bytes = [UInt8]()
        let headerBytes = Array(header.utf8)
        withUnsafeBytes(of: (headerLength ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += headerBytes + data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func expectInvalid(_ path: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        expectCortexError(fragments + [path], sourceLocation: sourceLocation) { _ = try Safetensors.load(path) }
    }

    @Test func roundTripsEveryDType() throws {
        let base = try Tensor([1.5, -2.25, 3, 0.125, 7, -8], shape: [2, 3])
        let tensors: [String: Tensor] = [
            "f32": base,
            "f32_transposed": try base.mT,                  // non-contiguous: written in row-major order
            "f16": try base.to(.float16),
            "bf16": try base.to(.bfloat16),
            "i32": try Tensor(integers: [1, -2, 3], dtype: .int32),
            "i64": try Tensor(integers: [Int(Int32.max) + 5, -7]),
            "bool": try Tensor(booleans: [true, false, true]),
            "scalar": try Tensor.scalar(4),
            "empty": try Tensor.zeros([0, 3]),
        ]
        let path = directory + "/all.safetensors"
        try Safetensors.save(tensors, metadata: ["format": "pt"], to: path)
        let file = try Safetensors.load(path)
        #expect(file.metadata == ["format": "pt"])
        #expect(Set(file.names) == Set(tensors.keys))
        for (name, tensor) in tensors {
            let loaded = try file.tensor(name)
            #expect(loaded.dtype == tensor.dtype && loaded.shape == tensor.shape, "\(name)")
            #expect(try loaded.toFloatArray() == tensor.toFloatArray(), "\(name)")
        }
        #expect(try file.tensor("i64").toIntArray() == [Int(Int32.max) + 5, -7])
        #expect(try file.tensor("f32_transposed").toFloatArray() == [1.5, 0.125, -2.25, 7, 3, -8])
        // No temporary files are left beside the target.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["all.safetensors"])
    }

    @Test func loadedTensorsAreCopyOnWriteViewsOfTheFile() throws {
        let path = directory + "/weights.safetensors"
        try Safetensors.save(["w": Tensor.ones([4])], to: path)
        let weight = try Safetensors.load(path).tensor("w")
        try weight.fill(with: 5)
        #expect(try weight.toFloatArray() == [5, 5, 5, 5])
        #expect(try Safetensors.load(path).tensor("w").toFloatArray() == [1, 1, 1, 1])
    }

    @Test func failedWriteLeavesNoFile() throws {
        let path = directory + "/missing/dir/x.safetensors"
        #expect(throws: CortexError.self) { try Safetensors.save(["x": Tensor.ones([1])], to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
        // A failed save never replaces an existing file.
        let existing = directory + "/keep.safetensors"
        try Safetensors.save(["x": Tensor.ones([2])], to: existing)
        #expect(try Safetensors.load(existing).tensor("x").toFloatArray() == [1, 1])
    }

    @Test func missingTensorNamesWhatExists() throws {
        let path = directory + "/one.safetensors"
        try Safetensors.save(["present": Tensor.ones([1])], to: path)
        #expect(throws: CortexError.self) { try Safetensors.load(path).tensor("absent") }
        do { _ = try Safetensors.load(path).tensor("absent") } catch {
            #expect("\(error)".contains("absent") && "\(error)".contains("present"))
        }
    }

    @Test func rejectsMalformedFiles() throws {
        let truncated = directory + "/truncated.safetensors"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: truncated))
        expectInvalid(truncated, ["truncated", "3 bytes"])

        expectInvalid(try file("past_end.safetensors", header: "{}", headerLength: 1000), ["header length 1000", "past the end"])
        expectInvalid(try file("huge_header.safetensors", header: "{}", headerLength: UInt64.max), ["exceeds"])
        expectInvalid(try file("not_json.safetensors", header: "{oops"), ["not valid JSON"])
        expectInvalid(try file("not_object.safetensors", header: "[1, 2]"), ["not a JSON object"])

        let eight = [UInt8](repeating: 0, count: 8)
        expectInvalid(try file("out_of_bounds.safetensors",
                               header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: eight),
                      ["\"a\"", "[0, 16]", "past the end", "8 bytes"])
        expectInvalid(try file("overlap.safetensors",
                               header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                               data: eight),
                      ["\"a\"", "\"b\"", "overlap"])
        expectInvalid(try file("unknown_dtype.safetensors",
                               header: #"{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}"#, data: eight),
                      ["\"a\"", "unknown dtype \"F8_E4M3\""])
        expectInvalid(try file("shape_bytes.safetensors",
                               header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight),
                      ["\"a\"", "[3]", "needs 12 bytes", "give 8"])
        expectInvalid(try file("reversed.safetensors",
                               header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: eight),
                      ["\"a\"", "out of order"])
        expectInvalid(try file("negative_shape.safetensors",
                               header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight),
                      ["\"a\"", "invalid shape"])
        expectInvalid(try file("missing_offsets.safetensors", header: #"{"a":{"dtype":"F32","shape":[2]}}"#, data: eight),
                      ["\"a\"", "data_offsets"])
        do {
            _ = try Safetensors.load(directory + "/does-not-exist.safetensors")
            Issue.record("expected a missing file to throw")
        } catch let error as CortexError {
            #expect(error.description.contains("does-not-exist.safetensors"))
        }
    }

    /// Random corruptions of a valid file either load or throw a CortexError; none crashes.
    @Test func corruptedFilesNeverCrash() throws {
        let path = directory + "/valid.safetensors"
        try Safetensors.save(["a": Tensor.ones([3, 2]), "b": Tensor(integers: [1, 2, 3]), "c": Tensor.ones([2]).to(.bfloat16)],
                             metadata: ["k": "v"], to: path)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let generator = RandomGenerator(seed: 99)
        var rejected = 0
        for trial in 0..<400 {
            var bytes = original
            switch trial % 4 {
            case 0: bytes[generator.integer(below: bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
            case 1: bytes.removeLast(generator.integer(below: bytes.count))
            case 2:
                // Digits in the header are the dangerous part: offsets and shapes.
                let headerEnd = 8 + Int(bytes[0])
                let position = 8 + generator.integer(below: headerEnd - 8)
                if (48...57).contains(bytes[position]) { bytes[position] = UInt8(48 + generator.integer(below: 10)) }
            default:
                for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
            }
            let corrupted = directory + "/corrupted-\(trial).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: corrupted))
            do {
                let file = try Safetensors.load(corrupted)
                for name in file.names { _ = try file.tensor(name).toFloatArray() }
            } catch is CortexError {
                rejected += 1
            }
        }
        #expect(rejected > 100)
    }

    /// Seeded mutations (MutationFuzzer) of a valid file either parse, and then every tensor
    /// reads back, or throw a CortexError. CORTEX_FUZZ_SECONDS makes it a long run.
    @Test func mutatedFilesNeverCrash() throws {
        let path = directory + "/fuzz-seed.safetensors"
        try Safetensors.save(["a": Tensor.ones([3, 2]), "b": Tensor(integers: [1, 2, 3]), "c": Tensor.ones([2]).to(.bfloat16),
                              "d": Tensor.zeros([0, 4]), "e": Tensor.ones([2, 2]).to(.float16)],
                             metadata: ["format": "pt"], to: path)
        let valid = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let outcome = try MutationFuzzer(original: valid, seed: 2027).run(trials: 3000) { bytes in
            let file = try Safetensors.parse(mapping: MappedFile(copying: bytes), path: "mutant.safetensors")
            for name in file.names { _ = try file.tensor(name).toFloatArray() }
        }
        #expect(outcome.rejected > outcome.trials / 4)
        #expect(outcome.accepted > 0)
    }
}
