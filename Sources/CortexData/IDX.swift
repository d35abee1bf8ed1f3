import CortexCore

/// The IDX format of MNIST and Fashion-MNIST (plain or gzip): two zero bytes, a type code, the
/// number of dimensions, big-endian 32-bit sizes, then the data in row-major order.
public enum IDX {
    /// Reads an IDX file of unsigned bytes as a uint8-valued tensor: float32 scaled to [0, 1]
    /// for images (`normalize`), int64 for labels.
    public static func read(_ path: String, asLabels: Bool = false, normalize: Bool = true) throws -> Tensor {
        let bytes = try DataFiles.read(path)
        func invalid(_ reason: String) -> CortexError { .invalidFile(path: path, reason: reason) }
        guard bytes.count >= 4 else { throw invalid("truncated: \(bytes.count) bytes, an IDX header needs at least 4") }
        guard bytes[0] == 0, bytes[1] == 0 else { throw invalid("bad magic \(bytes[0]) \(bytes[1]) (IDX files start with two zero bytes)") }
        guard bytes[2] == 0x08 else {
            throw invalid("element type 0x\(String(bytes[2], radix: 16)) is not unsigned byte (0x08), the type MNIST uses")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, rank <= 4 else { throw invalid("\(rank) dimensions (expected 1 to 4)") }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else { throw invalid("truncated header: \(bytes.count) bytes, need \(headerSize)") }
        var shape: [Int] = []
        for axis in 0..<rank {
            let offset = 4 + 4 * axis
            shape.append(Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3]))
        }
        // Four 32-bit sizes can multiply past Int: such a header promises more than any file holds.
        let (count, overflow) = shape.reduce((1, false)) { product, size in
            let next = product.0.multipliedReportingOverflow(by: size)
            return (next.partialValue, product.1 || next.overflow)
        }
        guard !overflow, bytes.count - headerSize == count else {
            throw invalid("header promises shape \(shape) (\(overflow ? "more than \(Int.max)" : "\(count)") bytes of data) but the file holds \(bytes.count - headerSize)")
        }
        let payload = bytes[headerSize...]
        if asLabels {
            return try Tensor(integers: payload.map { Int($0) }, shape: shape)
        }
        let scale: Float = normalize ? 1 / 255 : 1
        return try Tensor(payload.map { Float($0) * scale }, shape: shape)
    }
}
