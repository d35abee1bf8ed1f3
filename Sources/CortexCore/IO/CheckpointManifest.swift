import Foundation

/// The last file of a checkpoint directory: it names every other file with its size and
/// SHA-256, so a reader can tell a whole checkpoint from a mixed or partial one.
///
/// A writer removes the old manifest first, writes its files (each atomically), and writes the
/// manifest last. A process killed at any moment then leaves either a directory whose manifest
/// matches every file, or one with no manifest, which ``verify(directory:requiring:)`` refuses.
///
/// ```swift
/// try CheckpointManifest.remove(from: "runs/mnist")
/// try model.save(to: "runs/mnist/model.safetensors")
/// try CheckpointManifest.write(directory: "runs/mnist", files: ["model.safetensors"], epoch: 3)
/// let manifest = try CheckpointManifest.verify(directory: "runs/mnist", requiring: ["model.safetensors"])
/// ```
public struct CheckpointManifest: Codable, Sendable, Equatable {
    public static let fileName = "checkpoint.json"
    public static let formatName = "cortex-checkpoint"

    public struct Entry: Codable, Sendable, Equatable {
        public var bytes: Int
        public var sha256: String
    }

    public var format: String
    public var version: Int
    /// The number of epochs the checkpoint has trained, where it is a training run's.
    public var epoch: Int?
    public var files: [String: Entry]

    /// Hashes `files` (names inside `directory`) and writes the manifest atomically.
    @discardableResult
    public static func write(directory: String, files: [String], epoch: Int? = nil) throws -> CheckpointManifest {
        var entries: [String: Entry] = [:]
        for name in files {
            let path = directory + "/" + name
            entries[name] = Entry(bytes: try size(of: path), sha256: try SHA256.hash(file: path).hex)
        }
        let manifest = CheckpointManifest(format: formatName, version: 1, epoch: epoch, files: entries)
        try AtomicFile.writeJSON(manifest, to: directory + "/" + fileName)
        return manifest
    }

    /// Removes the manifest, first thing when a checkpoint is rewritten in place: from then until
    /// the new one is written, the directory reads as partial.
    public static func remove(from directory: String) throws {
        let path = directory + "/" + fileName
        guard unlink(path) == 0 || errno == ENOENT else {
            throw CortexError.io(path: path, reason: "cannot remove the old manifest: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads the manifest and checks every file it names (size, then SHA-256), and that it names
    /// each of `required`. Throws `CortexError.invalidFile` naming the first file that differs.
    @discardableResult
    public static func verify(directory: String, requiring required: [String] = []) throws -> CheckpointManifest {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CortexError.invalidFile(path: directory, reason: "has no \(fileName): the checkpoint is partial (its save was interrupted) or was written by a Cortex that kept no manifest, so it cannot be trusted as one unit")
        }
        let manifest: CheckpointManifest
        do { manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data) } catch {
            throw CortexError.invalidFile(path: path, reason: "is not a checkpoint manifest: \(error)")
        }
        guard manifest.format == formatName, manifest.version == 1 else {
            throw CortexError.invalidFile(path: path, reason: "is format \(manifest.format.debugDescription) version \(manifest.version), not \(formatName) version 1")
        }
        for name in required where manifest.files[name] == nil {
            throw CortexError.invalidFile(path: path, reason: "does not name \(name), which a checkpoint needs")
        }
        for (name, entry) in manifest.files.sorted(by: { $0.key < $1.key }) {
            guard !name.contains("/"), name != fileName, !name.hasPrefix(".") else {
                throw CortexError.invalidFile(path: path, reason: "names \(name.debugDescription), which is not a file of this directory")
            }
            let file = directory + "/" + name
            guard FileManager.default.fileExists(atPath: file) else {
                throw CortexError.invalidFile(path: directory, reason: "is a mixed or partial checkpoint: \(name) is missing")
            }
            let bytes = try size(of: file)
            guard bytes == entry.bytes, try SHA256.hash(file: file).hex == entry.sha256 else {
                throw CortexError.invalidFile(path: directory, reason: "is a mixed or partial checkpoint: \(name) (\(bytes) bytes) is not the file its manifest names (\(entry.bytes) bytes, SHA-256 \(entry.sha256.prefix(16))…)")
            }
        }
        return manifest
    }

    /// Whether `directory` holds a manifest at all.
    public static func exists(in directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/" + fileName)
    }

    private static func size(of path: String) throws -> Int {
        var status = stat()
        guard stat(path, &status) == 0 else { throw CortexError.io(path: path, reason: String(cString: strerror(errno))) }
        return Int(status.st_size)
    }
}
