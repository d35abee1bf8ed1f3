import Foundation

/// A whole file mapped copy-on-write into memory; unmapped when the last tensor viewing it goes.
public final class MappedFile: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    private var allocated = false

    /// Bytes held in memory as if they were a mapped file (parsers' tests and fuzzing).
    public init(copying bytes: [UInt8]) {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { pointer.copyMemory(from: base, byteCount: bytes.count) } }
        self.pointer = pointer
        byteCount = bytes.count
        allocated = true
    }

    public init(path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CortexError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw CortexError.io(path: path, reason: String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw CortexError.io(path: path, reason: "not a regular file") }
        byteCount = Int(status.st_size)
        if byteCount == 0 {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            allocated = true
            return
        }
        guard let address = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0),
              address != MAP_FAILED else {
            throw CortexError.io(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        pointer = address
    }

    /// Drops the mapped file's whole pages within `count` bytes at `start` from this process's
    /// resident memory (madvise MADV_DONTNEED): they are read from the file again if touched.
    /// For bytes never written, such as quantised blocks that have been copied elsewhere; a
    /// file held in allocated memory keeps them.
    public func releasePages(_ start: UnsafeRawPointer, count: Int) {
        guard !allocated, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let base = Int(bitPattern: pointer), first = Int(bitPattern: start), end = first + count
        guard first >= base, end <= base + byteCount else { return }
        let alignedStart = (first + page - 1) / page * page, alignedEnd = end / page * page
        guard alignedEnd > alignedStart else { return }
        madvise(UnsafeMutableRawPointer(bitPattern: alignedStart), alignedEnd - alignedStart, MADV_DONTNEED)
    }

    deinit {
        if allocated { pointer.deallocate() } else { munmap(pointer, byteCount) }
    }
}

/// Writes a file by filling a temporary file beside it and renaming it over the target, so
/// the target is either the old file or the complete new one.
public enum AtomicFile {
    public final class Handle {
        fileprivate let descriptor: Int32
        fileprivate let path: String
        fileprivate init(descriptor: Int32, path: String) { self.descriptor = descriptor; self.path = path }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            var written = 0
            while written < bytes.count {
                let result = Foundation.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    throw CortexError.io(path: path, reason: "write failed: \(String(cString: strerror(errno)))")
                }
                written += result
            }
        }
    }

    /// `value` as JSON (pretty-printed, keys sorted, so files diff well), written atomically.
    public static func writeJSON<Value: Encodable>(_ value: Value, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(value)
        try write(to: path) { handle in try data.withUnsafeBytes { try handle.write($0) } }
    }

    public static func write(to path: String, _ body: (Handle) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CortexError.io(path: path, reason: "directory \(directory) does not exist")
        }
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else { throw CortexError.io(path: temporary, reason: String(cString: strerror(errno))) }
        var open = true
        do {
            try body(Handle(descriptor: descriptor, path: temporary))
            guard fsync(descriptor) == 0 else { throw CortexError.io(path: temporary, reason: "fsync failed: \(String(cString: strerror(errno)))") }
            close(descriptor)
            open = false
            guard rename(temporary, path) == 0 else { throw CortexError.io(path: path, reason: "rename failed: \(String(cString: strerror(errno)))") }
        } catch {
            if open { close(descriptor) }
            unlink(temporary)
            throw error
        }
    }
}
