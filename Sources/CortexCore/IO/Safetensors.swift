import Foundation

/// Reading and writing the safetensors format (Hugging Face): an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes.
///
/// Reading memory-maps the file (copy-on-write, so in-place ops never touch the file) and
/// checks every header field against the file before any tensor is made. Writing goes to a
/// temporary file that is renamed over the target, so a reader never sees half a file.
///
/// ```swift
/// try Safetensors.save(["weight": w, "bias": b], to: "model.safetensors")
/// let file = try Safetensors.load("model.safetensors")
/// let weight = try file.tensor("weight")
/// ```
public enum Safetensors {
    /// Largest header accepted (the reference implementation's limit).
    public static let maximumHeaderBytes = 100_000_000

    /// The tensors of one file, in file order, and its `__metadata__`.
    public struct File: Sendable {
        public let path: String
        public let names: [String]
        public let tensors: [String: Tensor]
        public let metadata: [String: String]

        /// The tensor called `name`, or an error listing what the file holds.
        public func tensor(_ name: String) throws -> Tensor {
            guard let tensor = tensors[name] else {
                throw CortexError.invalidFile(path: path, reason: "no tensor named \"\(name)\" (has \(names.prefix(20).joined(separator: ", "))\(names.count > 20 ? ", ..." : ""))")
            }
            return tensor
        }
    }

    /// Maps a file into memory and makes a tensor view for each entry (no copies).
    public static func load(_ path: String) throws -> File {
        let mapping = try MappedFile(path: path)
        return try parse(mapping: mapping, path: path)
    }

    static func parse(mapping: MappedFile, path: String) throws -> File {
        func invalid(_ reason: String) -> CortexError { .invalidFile(path: path, reason: reason) }
        let size = mapping.byteCount
        guard size >= 8 else { throw invalid("truncated: \(size) bytes, but the header length alone needs 8") }
        let headerLength = mapping.pointer.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(maximumHeaderBytes) else {
            throw invalid("header length \(headerLength) exceeds the \(maximumHeaderBytes)-byte limit")
        }
        guard headerLength <= UInt64(size - 8) else {
            throw invalid("header length \(headerLength) runs past the end of the file (\(size) bytes)")
        }
        let headerBytes = Data(bytes: mapping.pointer + 8, count: Int(headerLength))
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw invalid("header is not valid JSON: \(error.localizedDescription)")
        }
        guard let entries = json as? [String: Any] else { throw invalid("header is not a JSON object") }
        let dataStart = 8 + Int(headerLength)
        let dataSize = size - dataStart

        var metadata: [String: String] = [:]
        struct Entry { let name: String; let dtype: DType; let shape: [Int]; let begin: Int; let end: Int }
        var parsed: [Entry] = []
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let dictionary = value as? [String: Any] else { throw invalid("__metadata__ is not an object") }
                for (key, item) in dictionary {
                    guard let text = item as? String else { throw invalid("__metadata__ value for \"\(key)\" is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw invalid("entry \"\(name)\" is not an object") }
            guard let dtypeName = info["dtype"] as? String else { throw invalid("tensor \"\(name)\" has no dtype") }
            guard let dtype = DType(safetensorsName: dtypeName) else {
                throw invalid("tensor \"\(name)\" has unknown dtype \"\(dtypeName)\" (supported: F32, F16, BF16, I32, I64, BOOL)")
            }
            guard let shape = integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw invalid("tensor \"\(name)\" has an invalid shape \(info["shape"].map { "\($0)" } ?? "(missing)")")
            }
            guard let offsets = integers(info["data_offsets"]), offsets.count == 2 else {
                throw invalid("tensor \"\(name)\" has invalid data_offsets \(info["data_offsets"].map { "\($0)" } ?? "(missing)")")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else { throw invalid("tensor \"\(name)\" has data_offsets [\(begin), \(end)] out of order") }
            guard end <= dataSize else {
                throw invalid("tensor \"\(name)\" has data_offsets [\(begin), \(end)] past the end of the data (\(dataSize) bytes)")
            }
            let (elements, overflow) = shape.reduce((1, false)) { partial, size in
                let (product, flag) = partial.0.multipliedReportingOverflow(by: size)
                return (product, partial.1 || flag)
            }
            guard !overflow, elements.multipliedReportingOverflow(by: dtype.byteCount).partialValue == end - begin,
                  !elements.multipliedReportingOverflow(by: dtype.byteCount).overflow else {
                throw invalid("tensor \"\(name)\" of shape \(shape) and dtype \(dtypeName) needs \(elements * dtype.byteCount) bytes but data_offsets [\(begin), \(end)] give \(end - begin)")
            }
            parsed.append(Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        parsed.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        for (previous, next) in zip(parsed, parsed.dropFirst()) where next.begin < previous.end && next.end > next.begin {
            throw invalid("tensors \"\(previous.name)\" [\(previous.begin), \(previous.end)] and \"\(next.name)\" [\(next.begin), \(next.end)] overlap")
        }
        var tensors: [String: Tensor] = [:]
        for entry in parsed {
            let elements = entry.shape.reduce(1, *)
            let address = mapping.pointer + dataStart + entry.begin
            let storage: Storage
            if Int(bitPattern: address) % entry.dtype.byteCount == 0 {
                storage = Storage.host(dtype: entry.dtype, count: elements, borrowing: address, owner: mapping)
            } else {
                // Misaligned elements cannot be addressed in place; copy them.
                storage = Storage.host(dtype: entry.dtype, count: elements)
                storage.pointer.copyMemory(from: address, byteCount: entry.end - entry.begin)
            }
            tensors[entry.name] = Tensor(storage: storage, layout: Layout(contiguous: entry.shape))
        }
        return File(path: path, names: parsed.map(\.name), tensors: tensors, metadata: metadata)
    }

    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in array {
            // Linux Foundation bridges 0 and 1 to Bool too; a JSON true or false has objCType "c".
            guard let number = item as? NSNumber, String(cString: number.objCType) != "c",
                  let integer = item as? Int else { return nil }
            result.append(integer)
        }
        return result
    }

    /// Writes `tensors` (any dtypes, any devices, any layouts) atomically to `path`.
    public static func save(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        let names = tensors.keys.sorted()
        var header: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(JSONText.quoted($0)):\(JSONText.quoted(metadata[$0]!))" }
            header.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.count * tensor.dtype.byteCount
            header.append("\(JSONText.quoted(name)):{\"dtype\":\"\(tensor.dtype.safetensorsName)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var headerText = Array("{\(header.joined(separator: ","))}".utf8)
        while headerText.count % 8 != 0 { headerText.append(UInt8(ascii: " ")) }

        try AtomicFile.write(to: path) { handle in
            var length = UInt64(headerText.count).littleEndian
            try withUnsafeBytes(of: &length) { try handle.write($0) }
            try headerText.withUnsafeBytes { try handle.write($0) }
            for name in names {
                try tensors[name]!.withHostBytes { try handle.write($0) }
            }
        }
    }
}
