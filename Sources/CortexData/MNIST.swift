import CortexCore
import Foundation

/// MNIST and Fashion-MNIST from their four IDX files (plain or `.gz`): images as float32
/// (N, 1, 28, 28) in [0, 1], labels as int64 (N).
///
/// ```swift
/// let directory = try DataDirectory.locate("mnist")
/// let train = try MNIST.load(directory: directory, split: .train)
/// ```
public enum MNIST {
    public enum Split: String, Sendable { case train, test }

    public static func load(directory: String, split: Split) throws -> TensorDataset {
        let prefix = split == .train ? "train" : "t10k"
        let images = try IDX.read(try file(directory, "\(prefix)-images-idx3-ubyte"))
        let labels = try IDX.read(try file(directory, "\(prefix)-labels-idx1-ubyte"), asLabels: true)
        guard images.rank == 3, labels.rank == 1, images.shape[0] == labels.shape[0] else {
            throw CortexError.invalidFile(path: directory, reason: "images \(images.shape) and labels \(labels.shape) do not describe the same examples")
        }
        return try TensorDataset(inputs: images.unsqueeze(1), targets: labels)
    }

    /// Whether `directory` holds MNIST-format training images (plain or gzipped IDX).
    public static func holdsFiles(_ directory: String) -> Bool {
        (try? file(directory, "train-images-idx3-ubyte")) != nil
    }

    /// `name` or `name.gz` in `directory`.
    static func file(_ directory: String, _ name: String) throws -> String {
        for candidate in [name, name + ".gz"] {
            let path = (directory as NSString).appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        throw CortexError.io(path: (directory as NSString).appendingPathComponent(name), reason: "missing (looked for \(name) and \(name).gz)")
    }
}

/// Where datasets live: an explicit directory, else `$CORTEX_DATA_DIR/<name>`, else
/// `data/<name>` (where `cortex download` puts it) or `../shared/data/<name>` under the
/// working directory, else a system location.
public enum DataDirectory {
    public static func locate(_ name: String, explicit: String? = nil, systemLocations: [String] = []) throws -> String {
        var isDirectory: ObjCBool = false
        if let explicit {
            // An explicit directory is authoritative: no silent fallback to another dataset copy.
            guard FileManager.default.fileExists(atPath: explicit, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CortexError.io(path: explicit, reason: "data directory does not exist")
            }
            return (explicit as NSString).standardizingPath
        }
        var candidates: [String] = []
        if let root = ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] { candidates.append((root as NSString).appendingPathComponent(name)) }
        let workingDirectory = FileManager.default.currentDirectoryPath as NSString
        for root in ["data", "../shared/data"] {
            candidates.append((workingDirectory.appendingPathComponent(root) as NSString).appendingPathComponent(name))
        }
        candidates += systemLocations
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) && isDirectory.boolValue {
            return (candidate as NSString).standardizingPath
        }
        throw CortexError.io(path: name, reason: "data directory not found (tried \(candidates.joined(separator: ", ")))")
    }

    /// Fashion-MNIST as Debian's dataset-fashion-mnist package installs it.
    public static let debianFashionMNIST = "/usr/share/datasets/fashion-mnist"
}
