import CortexCore
import Foundation

/// Extraction of tar archives (POSIX ustar, GNU long names, pax path records), plain or
/// gzipped, as datasets such as CIFAR-10 ship them. Regular files and directories are
/// extracted; links and devices are skipped. Entry paths that are absolute or climb out of
/// the destination with `..` are refused.
///
/// ```swift
/// let files = try TarArchive.extract("cifar-10-binary.tar.gz", into: "data")
/// ```
public enum TarArchive {
    /// Extracts `archive` under `directory` (created when missing) and returns the relative
    /// paths of the files written, in archive order. Each file is written atomically.
    @discardableResult
    public static func extract(_ archive: String, into directory: String) throws -> [String] {
        let bytes = try DataFiles.read(archive)
        let entries = try parse(bytes, path: archive)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for entry in entries {
            let target = (directory as NSString).appendingPathComponent(entry.name)
            if entry.isDirectory {
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                continue
            }
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try AtomicFile.write(to: target) { handle in
                try bytes.withUnsafeBytes { try handle.write(UnsafeRawBufferPointer(rebasing: $0[entry.range])) }
            }
            written.append(entry.name)
        }
        return written
    }

    /// One member: its path inside the archive and where its contents lie in the tar bytes.
    public struct Entry: Equatable, Sendable {
        public var name: String
        public var isDirectory: Bool
        public var range: Range<Int>
    }

    /// The extractable members of an (uncompressed) tar image, validated.
    public static func parse(_ bytes: [UInt8], path: String) throws -> [Entry] {
        var entries: [Entry] = []
        var offset = 0
        var longName: String?
        while offset + 512 <= bytes.count {
            let header = Array(bytes[offset..<(offset + 512)])
            if header.allSatisfy({ $0 == 0 }) { return entries }  // end-of-archive marker
            guard let checksum = octal(header[148..<156]) else {
                throw CortexError.invalidFile(path: path, reason: "tar header at byte \(offset) has an unreadable checksum")
            }
            let computed = header.enumerated().reduce(0) { $0 + (148..<156 ~= $1.offset ? 32 : Int($1.element)) }
            guard checksum == computed else {
                throw CortexError.invalidFile(path: path, reason: "tar header at byte \(offset) fails its checksum (\(checksum) stored, \(computed) computed)")
            }
            guard let size = octal(header[124..<136]) else {
                throw CortexError.invalidFile(path: path, reason: "tar header at byte \(offset) has an unreadable size")
            }
            let dataStart = offset + 512
            guard size <= bytes.count - dataStart else {
                throw CortexError.invalidFile(path: path, reason: "tar member at byte \(offset) claims \(size) bytes but the archive ends \(bytes.count - dataStart) bytes later (truncated)")
            }
            let data = dataStart..<(dataStart + size)
            offset = dataStart + (size + 511) / 512 * 512
            var name = longName ?? joinedName(header)
            longName = nil
            switch header[156] {
            case UInt8(ascii: "L"):  // GNU: the next member's name
                longName = text(bytes[data])
                continue
            case UInt8(ascii: "x"):  // pax extended header: may carry the next member's path
                if let pathRecord = paxPath(bytes[data]) { longName = pathRecord }
                continue
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"), UInt8(ascii: "5"):
                break
            default:
                continue  // links, devices, global pax headers
            }
            let isDirectory = header[156] == UInt8(ascii: "5") || name.hasSuffix("/")
            while name.hasSuffix("/") { name.removeLast() }
            if name.hasPrefix("./") { name.removeFirst(2) }
            if name.isEmpty || name == "." { continue }
            let components = name.split(separator: "/")
            guard !name.hasPrefix("/"), !components.contains("..") else {
                throw CortexError.invalidFile(path: path, reason: "tar member \"\(name)\" would be written outside the destination")
            }
            entries.append(Entry(name: name, isDirectory: isDirectory, range: data))
        }
        throw CortexError.invalidFile(path: path, reason: "tar archive is truncated (no end-of-archive marker after \(bytes.count) bytes)")
    }

    private static func text<C: Collection<UInt8>>(_ field: C) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// ustar's name, with its prefix field when the header is ustar.
    private static func joinedName(_ header: [UInt8]) -> String {
        let name = text(header[0..<100])
        guard text(header[257..<262]) == "ustar" else { return name }
        let prefix = text(header[345..<500])
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// An octal number field (NUL/space padded), or nil.
    private static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        let digits = field.drop { $0 == 0x20 }.prefix { $0 != 0 && $0 != 0x20 }
        guard !digits.isEmpty, digits.count <= 12 else { return digits.isEmpty ? 0 : nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }

    /// The `path` record of a pax extended header ("<length> path=<value>\n" lines).
    private static func paxPath(_ records: ArraySlice<UInt8>) -> String? {
        for line in text(records).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let record = line[line.index(after: space)...]
            if record.hasPrefix("path=") { return String(record.dropFirst(5)) }
        }
        return nil
    }
}
