import CCortexKernels
import Foundation

/// Writing GGUF files (version 3, as llama.cpp's gguf-py writes them): metadata in the order it
/// was set, tensor descriptions, then each tensor's blocks at a 32-byte-aligned offset. The
/// file is written atomically (a temporary file renamed over the target), and never over a
/// file the tensors were read from.
///
/// ```swift
/// var writer = GGUFWriter()
/// writer.set("general.architecture", .string("llama"))
/// try writer.add("blk.0.attn_q.weight", tensor: weight, as: .q8_0)   // quantised as ggml does
/// try writer.write(to: "model.Q8_0.gguf", protecting: [source])
/// ```
public struct GGUFWriter: Sendable {
    public struct Entry: Sendable {
        public let name: String
        /// PyTorch order (rows first); the file stores the fastest dimension first.
        public let shape: [Int]
        public let format: QuantizationFormat
        public let data: Data
    }

    public let alignment: Int
    public private(set) var keys: [String] = []
    public private(set) var metadata: [String: GGUF.Value] = [:]
    public private(set) var tensors: [Entry] = []

    /// `alignment`: a power of two; other than 32 it is recorded as general.alignment.
    public init(alignment: Int = 32) {
        self.alignment = alignment
        if alignment != 32 { set("general.alignment", .uint32(UInt32(alignment))) }
    }

    /// Sets `key`, keeping its first position when it was set before.
    public mutating func set(_ key: String, _ value: GGUF.Value) {
        if metadata.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    /// Sets every key of `file` whose name starts with one of `prefixes` (a tokenizer's
    /// `tokenizer.` keys, say), in the file's order.
    public mutating func copy(from file: GGUF.File, prefixes: [String]) {
        for key in file.keys where prefixes.contains(where: key.hasPrefix) { set(key, file.metadata[key]!) }
    }

    /// Adds a tensor whose bytes are already in `format`'s blocks.
    public mutating func add(_ name: String, shape: [Int], format: QuantizationFormat, data: Data) throws {
        guard !tensors.contains(where: { $0.name == name }) else {
            throw CortexError.invalidArgument(operation: "GGUFWriter", reason: "tensor \"\(name)\" is added twice")
        }
        guard (1...GGUF.maximumDimensions).contains(shape.count), shape.allSatisfy({ $0 > 0 }) else {
            throw CortexError.invalidArgument(operation: "GGUFWriter", reason: "tensor \"\(name)\" has shape \(shape) (1 to 4 positive dimensions)")
        }
        let columns = shape.last!, rows = shape.dropLast().reduce(1, *)
        guard columns % format.blockSize == 0 else { throw Self.blockMismatch(name, columns: columns, format: format) }
        let expected = rows * (columns / format.blockSize) * format.blockBytes
        guard data.count == expected else {
            throw CortexError.invalidArgument(operation: "GGUFWriter", reason: "tensor \"\(name)\" has \(data.count) bytes; \(shape) in \(format) takes \(expected)")
        }
        tensors.append(Entry(name: name, shape: shape, format: format, data: data))
    }

    /// Adds float32 values (any shape; rows are the last dimension) quantised into `format`
    /// with ggml's reference quantisers.
    public mutating func add(_ name: String, tensor: Tensor, as format: QuantizationFormat) throws {
        try add(name, shape: tensor.shape, format: format, data: try Self.quantize(tensor, as: format, name: name))
    }

    /// Adds a quantised matrix as `format`: its blocks copied when they are in `format`
    /// already, else dequantised and quantised again (llama-quantize's --allow-requantize).
    public mutating func add(_ name: String, matrix: QuantizedMatrix, shape: [Int]? = nil, as format: QuantizationFormat) throws {
        let shape = shape ?? matrix.shape
        if matrix.format == format {
            try add(name, shape: shape, format: format, data: Data(bytes: matrix.bytes, count: matrix.byteCount))
        } else {
            try add(name, tensor: try matrix.dequantized().reshape(shape), as: format)
        }
    }

    /// The error for a tensor whose rows are not whole blocks of `format`.
    public static func blockMismatch(_ name: String, columns: Int, format: QuantizationFormat) -> CortexError {
        .invalidArgument(operation: "GGUFWriter",
                         reason: "tensor \"\(name)\" has rows of \(columns) values, not a whole number of \(format)'s \(format.blockSize)-value blocks")
    }

    /// `tensor`'s values (float32 or convertible) in `format`'s blocks.
    public static func quantize(_ tensor: Tensor, as format: QuantizationFormat, name: String = "tensor") throws -> Data {
        let values = try tensor.to(.float32).contiguous()
        let columns = values.shape.last ?? 1, rows = values.count / max(columns, 1)
        let source = values.storage.pointer.assumingMemoryBound(to: Float.self) + values.layout.offset
        if format == .bf16 {
            var data = Data(count: 2 * values.count)
            data.withUnsafeMutableBytes { cortex_float_to_bfloat(source, $0.baseAddress!.assumingMemoryBound(to: UInt16.self), values.count) }
            return data
        }
        let rowBytes = cortex_quantize_row_bytes(format.rawValue, columns)
        guard rowBytes >= 0 else {
            if cortex_quantize_row_bytes(format.rawValue, format.blockSize) < 0 {
                throw CortexError.invalidArgument(operation: "GGUFWriter", reason: "Cortex has no quantiser for \(format) (it writes \(quantizable.map(\.description).joined(separator: ", ")))")
            }
            throw blockMismatch(name, columns: columns, format: format)
        }
        var data = Data(count: rows * rowBytes)
        // Rows split among the workers: the K-quant search costs about 100 operations a value.
        data.withUnsafeMutableBytes { buffer in
            let target = UncheckedSendable(buffer.baseAddress!), input = UncheckedSendable(UnsafePointer(source))
            CPUParallelism.forEachRange(rows, grain: max(1, 65_536 / max(columns, 1))) { range in
                _ = cortex_quantize_rows(format.rawValue, input.value + range.lowerBound * columns, range.count, columns,
                                         target.value + range.lowerBound * rowBytes)
            }
        }
        withExtendedLifetime(values) {}
        return data
    }

    /// The formats Cortex quantises into.
    public static let quantizable: [QuantizationFormat] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q4K, .q6K]

    /// The file's bytes up to the tensor data (header, metadata, tensor descriptions, padding).
    func header() throws -> Data {
        var out = Data()
        func integer<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ text: String) {
            let bytes = Array(text.utf8)
            integer(UInt64(bytes.count))
            out.append(contentsOf: bytes)
        }
        func encode(_ value: GGUF.Value, key: String) throws {
            switch value {
            case let .uint8(v): integer(v)
            case let .int8(v): integer(v)
            case let .uint16(v): integer(v)
            case let .int16(v): integer(v)
            case let .uint32(v): integer(v)
            case let .int32(v): integer(v)
            case let .float32(v): integer(v.bitPattern)
            case let .bool(v): integer(UInt8(v ? 1 : 0))
            case let .string(v): string(v)
            case let .uint64(v): integer(v)
            case let .int64(v): integer(v)
            case let .float64(v): integer(v.bitPattern)
            case let .array(items):
                let element = items.first?.typeId ?? 4
                guard items.allSatisfy({ $0.typeId == element }) else {
                    throw CortexError.invalidArgument(operation: "GGUFWriter", reason: "metadata \"\(key)\" mixes value types in one array")
                }
                integer(element)
                integer(UInt64(items.count))
                for item in items { try encode(item, key: key) }
            }
        }
        integer(UInt32(0x4655_4747))
        integer(UInt32(3))
        integer(UInt64(tensors.count))
        integer(UInt64(keys.count))
        for key in keys {
            let item = metadata[key]!
            string(key)
            integer(item.typeId)
            try encode(item, key: key)
        }
        var offset = 0
        for tensor in tensors {
            string(tensor.name)
            integer(UInt32(tensor.shape.count))
            for size in tensor.shape.reversed() { integer(UInt64(size)) }
            integer(UInt32(tensor.format.rawValue))
            integer(UInt64(offset))
            offset += (tensor.data.count + alignment - 1) / alignment * alignment
        }
        out.append(Data(count: (alignment - out.count % alignment) % alignment))
        return out
    }

    /// Writes the file atomically. `protecting` names files that must not be replaced (the
    /// model the tensors came from: a mapped source overwritten mid-write would corrupt both).
    public func write(to path: String, protecting inputs: [String] = []) throws {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
        for input in inputs where URL(fileURLWithPath: input).resolvingSymlinksInPath().standardizedFileURL.path == target {
            throw CortexError.invalidArgument(operation: "GGUFWriter", reason: "refusing to write over the input file \(input)")
        }
        let head = try header()
        try AtomicFile.write(to: path) { handle in
            try head.withUnsafeBytes { try handle.write($0) }
            for tensor in tensors {
                try tensor.data.withUnsafeBytes { try handle.write($0) }
                let padding = (alignment - tensor.data.count % alignment) % alignment
                if padding > 0 { try Data(count: padding).withUnsafeBytes { try handle.write($0) } }
            }
        }
    }
}

extension QuantizedMatrix {
    /// `weight` (rows, columns) quantised into `format` with ggml's reference quantisers, held
    /// in memory.
    ///
    /// ```swift
    /// let matrix = try QuantizedMatrix(quantizing: linear.weight, as: .q8_0)
    /// let y = try matrix.product(x)
    /// ```
    public init(quantizing weight: Tensor, as format: QuantizationFormat) throws {
        guard weight.rank == 2 else {
            throw CortexError.shapeMismatch(operation: "QuantizedMatrix", shapes: [weight.shape], reason: "(a matrix is (rows, columns))")
        }
        let owner = OwnedBytes(try GGUFWriter.quantize(weight, as: format))
        try self.init(format: format, rows: weight.shape[0], columns: weight.shape[1], bytes: UnsafeRawPointer(owner.pointer), owner: owner)
    }
}

/// Bytes copied out of a Data into memory that stays put for as long as the object lives.
final class OwnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ data: Data) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        data.withUnsafeBytes { if let base = $0.baseAddress { pointer.copyMemory(from: base, byteCount: data.count) } }
    }
    deinit { pointer.deallocate() }
}
