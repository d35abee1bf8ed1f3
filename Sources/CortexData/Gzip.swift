import CZlib
import CortexCore
import Foundation

/// Reading whole files, transparently gunzipping `.gz` ones (by magic bytes, not name).
public enum DataFiles {
    /// The bytes of `path`, decompressed when the file is gzip.
    public static func read(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CortexError.io(path: path, reason: "no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CortexError.io(path: path, reason: "cannot be read")
        }
        let bytes = [UInt8](data)
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            return try gunzip(bytes, path: path)
        }
        return bytes
    }

    /// Decompresses a gzip stream (all members), reporting corruption with the file's path.
    public static func gunzip(_ compressed: [UInt8], path: String) throws -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 32: accept gzip (and zlib) headers.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CortexError.io(path: path, reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(compressed.count * 4)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        try compressed.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if status == Z_STREAM_END {
                    if stream.avail_in == 0 { return }
                    // Another gzip member follows.
                    guard inflateReset(&stream) == Z_OK else { throw CortexError.invalidFile(path: path, reason: "corrupt gzip member") }
                    continue
                }
                guard status == Z_OK || (status == Z_BUF_ERROR && stream.avail_out == 0) else {
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    throw CortexError.invalidFile(path: path, reason: stream.avail_in == 0 && status == Z_BUF_ERROR
                                                  ? "gzip stream is truncated" : "corrupt gzip data: \(message)")
                }
                if stream.avail_in == 0 && stream.avail_out != 0 {
                    throw CortexError.invalidFile(path: path, reason: "gzip stream is truncated")
                }
            }
        }
        return output
    }
}
