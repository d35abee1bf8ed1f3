import Foundation

/// Reading GGUF files (llama.cpp's model format, versions 2 and 3): a header, typed metadata
/// (`general.architecture`, `llama.block_count`, the tokenizer's vocabulary, ...), tensor
/// descriptions, then the tensors' blocks at an aligned offset.
///
/// The file is memory-mapped; every count, length, dimension and offset is checked against the
/// file before it is used, so a truncated or corrupt file gives a `CortexError.invalidFile`
/// naming what is wrong, never a crash. Quantised tensors stay in their blocks
/// (`QuantizedMatrix`); products compute from them directly.
///
/// ```swift
/// let file = try GGUF.load("SmolLM2-135M-Instruct.Q4_1.gguf")
/// let layers = try file.integer("llama.block_count")          // 30
/// let query = try file.matrix("blk.0.attn_q.weight")          // 576 x 576, Q4_1 blocks
/// let norm = try file.tensor("blk.0.attn_norm.weight")        // dequantised float32 Tensor
/// ```
public enum GGUF {
    /// Nesting depth of arrays accepted (the format allows any; real files use 1).
    public static let maximumArrayDepth = 8
    /// Dimensions a tensor may have (ggml's GGML_MAX_DIMS).
    public static let maximumDimensions = 4

    /// One metadata value.
    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32), float32(Float)
        case bool(Bool), string(String), array([Value]), uint64(UInt64), int64(Int64), float64(Double)

        /// The value as an integer, for any integer type that fits in Int.
        public var integer: Int? {
            switch self {
            case let .uint8(v): Int(v)
            case let .int8(v): Int(v)
            case let .uint16(v): Int(v)
            case let .int16(v): Int(v)
            case let .uint32(v): Int(v)
            case let .int32(v): Int(v)
            case let .uint64(v): Int(exactly: v)
            case let .int64(v): Int(v)
            default: nil
            }
        }

        /// The value as a Double, for any numeric type.
        public var number: Double? {
            switch self {
            case let .float32(v): Double(v)
            case let .float64(v): v
            default: integer.map(Double.init)
            }
        }

        /// GGUF's number for the value's type (what `Reader.value(type:)` reads).
        public var typeId: UInt32 {
            switch self {
            case .uint8: 0
            case .int8: 1
            case .uint16: 2
            case .int16: 3
            case .uint32: 4
            case .int32: 5
            case .float32: 6
            case .bool: 7
            case .string: 8
            case .array: 9
            case .uint64: 10
            case .int64: 11
            case .float64: 12
            }
        }

        public var string: String? { if case let .string(v) = self { v } else { nil } }
        public var bool: Bool? { if case let .bool(v) = self { v } else { nil } }
        public var array: [Value]? { if case let .array(v) = self { v } else { nil } }

        public var description: String {
            switch self {
            case let .string(v): "\"\(v)\""
            case let .array(v): "[\(v.prefix(8).map(\.description).joined(separator: ", "))\(v.count > 8 ? ", ... (\(v.count))" : "")]"
            case let .bool(v): "\(v)"
            default: number.map { "\($0)" } ?? "?"
            }
        }
    }

    /// A tensor's description: `shape` in PyTorch order (rows first; GGUF stores the
    /// fastest-varying dimension first), its block format, and where its bytes lie.
    public struct TensorInfo: Sendable {
        public let name: String
        public let shape: [Int]
        /// ggml's type id (`QuantizationFormat(rawValue:)` gives the supported ones).
        public let typeId: UInt32
        /// Byte offset from the start of the file, and byte count.
        public let offset: Int
        public let byteCount: Int

        public var format: QuantizationFormat? { QuantizationFormat(rawValue: Int32(typeId)) }
        /// Values per row (the last dimension), and rows (the product of the others).
        public var columns: Int { shape.last ?? 1 }
        public var rows: Int { shape.dropLast().reduce(1, *) }
    }

    public final class File: @unchecked Sendable {
        public let path: String
        public let version: Int
        /// Metadata in file order, and by key.
        public let keys: [String]
        public let metadata: [String: Value]
        public let tensors: [TensorInfo]
        public let alignment: Int
        let mapping: MappedFile
        private let index: [String: Int]

        init(path: String, version: Int, keys: [String], metadata: [String: Value], tensors: [TensorInfo], alignment: Int, mapping: MappedFile) {
            self.path = path
            self.version = version
            self.keys = keys
            self.metadata = metadata
            self.tensors = tensors
            self.alignment = alignment
            self.mapping = mapping
            index = Dictionary(tensors.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        }

        func invalid(_ reason: String) -> CortexError { .invalidFile(path: path, reason: reason) }

        /// The metadata value under `key`, or an error naming the key.
        public func value(_ key: String) throws -> Value {
            guard let value = metadata[key] else { throw invalid("no metadata key \"\(key)\"") }
            return value
        }

        public func integer(_ key: String) throws -> Int {
            guard let integer = try value(key).integer else { throw invalid("metadata \"\(key)\" is \(try value(key)), not an integer") }
            return integer
        }

        public func number(_ key: String) throws -> Double {
            guard let number = try value(key).number else { throw invalid("metadata \"\(key)\" is \(try value(key)), not a number") }
            return number
        }

        public func string(_ key: String) throws -> String {
            guard let string = try value(key).string else { throw invalid("metadata \"\(key)\" is \(try value(key)), not a string") }
            return string
        }

        public func strings(_ key: String) throws -> [String] {
            guard let items = try value(key).array, case let strings = items.compactMap(\.string), strings.count == items.count else {
                throw invalid("metadata \"\(key)\" is not an array of strings")
            }
            return strings
        }

        public func integers(_ key: String) throws -> [Int] {
            guard let items = try value(key).array, case let integers = items.compactMap(\.integer), integers.count == items.count else {
                throw invalid("metadata \"\(key)\" is not an array of integers")
            }
            return integers
        }

        public func info(_ name: String) throws -> TensorInfo {
            guard let position = index[name] else {
                throw invalid("no tensor named \"\(name)\" (has \(tensors.prefix(12).map(\.name).joined(separator: ", "))\(tensors.count > 12 ? ", ..." : ""))")
            }
            return tensors[position]
        }

        /// The tensor `name` kept in its blocks, as a (rows, columns) matrix viewing the file.
        public func matrix(_ name: String) throws -> QuantizedMatrix {
            let info = try info(name)
            guard let format = info.format else {
                throw invalid("tensor \"\(name)\" has ggml type \(info.typeId), which Cortex does not compute with (supported: \(QuantizationFormat.allNames))")
            }
            return try QuantizedMatrix(format: format, rows: info.rows, columns: info.columns,
                                       bytes: UnsafeRawPointer(mapping.pointer + info.offset), owner: mapping)
        }

        /// The tensor `name` dequantised to float32, in PyTorch's shape order.
        public func tensor(_ name: String) throws -> Tensor {
            let info = try info(name)
            return try matrix(name).dequantized().reshape(info.shape)
        }
    }

    /// Maps `path` and reads its header, metadata and tensor descriptions.
    public static func load(_ path: String) throws -> File {
        try parse(mapping: try MappedFile(path: path), path: path)
    }

    static func parse(mapping: MappedFile, path: String) throws -> File {
        var reader = Reader(base: UnsafeRawPointer(mapping.pointer), count: mapping.byteCount, path: path)
        let magic = try reader.read(UInt32.self, "the magic number")
        guard magic == 0x4655_4747 else {
            throw reader.invalid("bad magic 0x\(String(magic, radix: 16)) (a GGUF file starts with \"GGUF\")")
        }
        let version = try reader.read(UInt32.self, "the version")
        guard version == 2 || version == 3 else { throw reader.invalid("GGUF version \(version) is not supported (2 and 3 are)") }
        let tensorCount = try reader.count("the tensor count", minimumBytesEach: 24)
        let keyCount = try reader.count("the metadata count", minimumBytesEach: 13)

        var keys: [String] = [], metadata: [String: Value] = [:]
        for _ in 0..<keyCount {
            let key = try reader.string("a metadata key")
            let type = try reader.read(UInt32.self, "the type of \"\(key)\"")
            let value = try reader.value(type: type, depth: 0, key: key)
            guard metadata.updateValue(value, forKey: key) == nil else { throw reader.invalid("metadata key \"\(key)\" appears twice") }
            keys.append(key)
        }
        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard let integer = value.integer, integer > 0, integer <= 1 << 20, integer & (integer - 1) == 0 else {
                throw reader.invalid("general.alignment \(value) is not a power of two up to 2^20")
            }
            alignment = integer
        }

        struct Pending { let name: String; let shape: [Int]; let typeId: UInt32; let offset: UInt64 }
        var pending: [Pending] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try reader.string("a tensor name")
            guard names.insert(name).inserted else { throw reader.invalid("tensor \"\(name)\" appears twice") }
            let dimensions = try reader.read(UInt32.self, "the dimension count of \"\(name)\"")
            guard dimensions >= 1 && dimensions <= UInt32(maximumDimensions) else {
                throw reader.invalid("tensor \"\(name)\" has \(dimensions) dimensions (1 to \(maximumDimensions) allowed)")
            }
            var sizes: [Int] = []
            for _ in 0..<dimensions {
                let size = try reader.read(UInt64.self, "a dimension of \"\(name)\"")
                guard size <= UInt64(Int32.max) else { throw reader.invalid("tensor \"\(name)\" has an absurd dimension \(size)") }
                sizes.append(Int(size))
            }
            let typeId = try reader.read(UInt32.self, "the type of \"\(name)\"")
            let offset = try reader.read(UInt64.self, "the offset of \"\(name)\"")
            pending.append(Pending(name: name, shape: sizes.reversed(), typeId: typeId, offset: offset))
        }
        let dataStart = (reader.position + alignment - 1) / alignment * alignment
        // A file of no tensors (llama.cpp's vocabulary-only files) may end before the padding
        // that would lead to its empty data section, and llama.cpp reads it.
        guard dataStart <= mapping.byteCount || pending.isEmpty else {
            throw reader.invalid("truncated: the tensor data should start at byte \(dataStart) but the file has \(mapping.byteCount)")
        }
        let dataSize = max(mapping.byteCount - dataStart, 0)
        var tensors: [TensorInfo] = []
        for entry in pending {
            guard let (blockSize, blockBytes) = ggmlTypeSizes[entry.typeId] else {
                throw reader.invalid("tensor \"\(entry.name)\" has unknown ggml type \(entry.typeId)")
            }
            // Each partial product of the dimensions, not only the total (a zero would hide the rest).
            var (elements, overflow) = (1, false)
            for size in entry.shape {
                let (product, flag) = elements.multipliedReportingOverflow(by: max(size, 1))
                (elements, overflow) = (product, overflow || flag || product > 1 << 40)
            }
            if entry.shape.contains(0) { elements = 0 }
            guard !overflow else { throw reader.invalid("tensor \"\(entry.name)\" of shape \(entry.shape) is absurdly large") }
            guard entry.shape.last! % blockSize == 0 else {
                throw reader.invalid("tensor \"\(entry.name)\" has rows of \(entry.shape.last!) values, not a whole number of \(blockSize)-value blocks")
            }
            let byteCount = elements / blockSize * blockBytes
            guard entry.offset % UInt64(alignment) == 0 else {
                throw reader.invalid("tensor \"\(entry.name)\" at data offset \(entry.offset) is not aligned to \(alignment) bytes")
            }
            guard entry.offset <= UInt64(dataSize), byteCount <= dataSize - Int(entry.offset) else {
                throw reader.invalid("tensor \"\(entry.name)\" (\(byteCount) bytes at data offset \(entry.offset)) runs past the end of the file (\(dataSize) bytes of data)")
            }
            tensors.append(TensorInfo(name: entry.name, shape: entry.shape, typeId: entry.typeId, offset: dataStart + Int(entry.offset), byteCount: byteCount))
        }
        return File(path: path, version: Int(version), keys: keys, metadata: metadata, tensors: tensors, alignment: alignment, mapping: mapping)
    }

    /// (values per block, bytes per block) of every ggml type, so files holding formats Cortex
    /// does not compute with can still be read.
    static let ggmlTypeSizes: [UInt32: (Int, Int)] = [
        0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
        10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
        16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
        23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
        34: (256, 54), 35: (256, 66), 39: (32, 17),
    ]

    /// A bounds-checked little-endian cursor over the mapped bytes.
    struct Reader {
        let base: UnsafeRawPointer
        let count: Int
        let path: String
        var position = 0

        func invalid(_ reason: String) -> CortexError { .invalidFile(path: path, reason: reason) }

        mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
            guard count - position >= MemoryLayout<T>.size else {
                throw invalid("truncated at byte \(position) reading \(what) (the file has \(count) bytes)")
            }
            let value = T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
            position += MemoryLayout<T>.size
            return value
        }

        /// A 64-bit count that cannot exceed what the rest of the file could hold.
        mutating func count(_ what: String, minimumBytesEach: Int) throws -> Int {
            let value = try read(UInt64.self, what)
            guard value <= UInt64((count - position) / minimumBytesEach) else {
                throw invalid("\(what) \(value) is more than the remaining \(count - position) bytes could hold")
            }
            return Int(value)
        }

        mutating func string(_ what: String) throws -> String {
            let length = try read(UInt64.self, "the length of \(what)")
            guard length <= UInt64(count - position) else {
                throw invalid("\(what) at byte \(position) claims \(length) bytes; only \(count - position) remain")
            }
            let bytes = UnsafeRawBufferPointer(start: base + position, count: Int(length))
            position += Int(length)
            return String(decoding: bytes, as: UTF8.self)
        }

        mutating func value(type: UInt32, depth: Int, key: String) throws -> Value {
            switch type {
            case 0: return .uint8(try read(UInt8.self, "\"\(key)\""))
            case 1: return .int8(try read(Int8.self, "\"\(key)\""))
            case 2: return .uint16(try read(UInt16.self, "\"\(key)\""))
            case 3: return .int16(try read(Int16.self, "\"\(key)\""))
            case 4: return .uint32(try read(UInt32.self, "\"\(key)\""))
            case 5: return .int32(try read(Int32.self, "\"\(key)\""))
            case 6: return .float32(Float(bitPattern: try read(UInt32.self, "\"\(key)\"")))
            case 7:
                let byte = try read(UInt8.self, "\"\(key)\"")
                guard byte <= 1 else { throw invalid("metadata \"\(key)\" is a bool holding \(byte)") }
                return .bool(byte == 1)
            case 8: return .string(try string("\"\(key)\""))
            case 9:
                guard depth < GGUF.maximumArrayDepth else { throw invalid("metadata \"\(key)\" nests arrays deeper than \(GGUF.maximumArrayDepth)") }
                let elementType = try read(UInt32.self, "the element type of \"\(key)\"")
                let minimum = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8][elementType] ?? 1
                let length = try count("the length of array \"\(key)\"", minimumBytesEach: minimum)
                var items: [Value] = []
                items.reserveCapacity(length)
                for _ in 0..<length { items.append(try value(type: elementType, depth: depth + 1, key: key)) }
                return .array(items)
            case 10: return .uint64(try read(UInt64.self, "\"\(key)\""))
            case 11: return .int64(try read(Int64.self, "\"\(key)\""))
            case 12: return .float64(Double(bitPattern: try read(UInt64.self, "\"\(key)\"")))
            default: throw invalid("metadata \"\(key)\" has unknown value type \(type)")
            }
        }
    }
}
