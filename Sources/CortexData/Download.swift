import CortexCore
import Foundation

/// A file published at a URL with its SHA-256 checksum.
public struct RemoteFile: Sendable, Equatable {
    public var url: String
    public var sha256: String
    /// A tar archive (plain or gzipped) to unpack after verification.
    public var isArchive: Bool

    public init(url: String, sha256: String, isArchive: Bool = false) {
        self.url = url
        self.sha256 = sha256.lowercased()
        self.isArchive = isArchive
    }

    /// The last path component of the URL.
    public var fileName: String { URL(string: url)?.lastPathComponent ?? (url as NSString).lastPathComponent }
}

/// A dataset as published: its files and the directory name the readers look for.
///
/// Plain files land in `<root>/<directory>`; archives land in `<root>` and are unpacked
/// there (CIFAR-10's archive holds its own `cifar-10-batches-bin` directory).
public struct RemoteDataset: Sendable {
    public var name: String
    public var directory: String
    public var files: [RemoteFile]

    public init(name: String, directory: String, files: [RemoteFile]) {
        self.name = name
        self.directory = directory
        self.files = files
    }

    /// MNIST from PyTorch's mirror of Yann LeCun's files.
    public static let mnist = RemoteDataset(name: "mnist", directory: "mnist", files: [
        RemoteFile(url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
                   sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        RemoteFile(url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
                   sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        RemoteFile(url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
                   sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        RemoteFile(url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
                   sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ])

    /// Fashion-MNIST from Zalando Research's bucket.
    public static let fashionMNIST = RemoteDataset(name: "fashion-mnist", directory: "fashion-mnist", files: [
        RemoteFile(url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
                   sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        RemoteFile(url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
                   sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        RemoteFile(url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
                   sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        RemoteFile(url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
                   sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ])

    /// CIFAR-10's binary version from the University of Toronto.
    public static let cifar10 = RemoteDataset(name: "cifar10", directory: "cifar-10-batches-bin", files: [
        RemoteFile(url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                   sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", isArchive: true),
    ])

    public static let known: [RemoteDataset] = [mnist, fashionMNIST, cifar10]

    public static func named(_ name: String) throws -> RemoteDataset {
        guard let dataset = known.first(where: { $0.name == name }) else {
            throw CortexError.invalidArgument(operation: "download", reason: "unknown dataset \"\(name)\" (known: \(known.map(\.name).joined(separator: ", ")))")
        }
        return dataset
    }
}

/// Fetches datasets, verifies every file's SHA-256 before it takes its final name, and
/// unpacks archives. Files already present with the right checksum are not fetched again.
///
/// ```swift
/// let directory = try Downloader().fetch(.mnist, into: "data")   // "data/mnist"
/// let train = try MNIST.load(directory: directory, split: .train)
/// ```
public struct Downloader: Sendable {
    /// Copies the resource at a URL to a local path.
    public typealias Transport = @Sendable (_ url: String, _ destination: String) throws -> Void

    public var transport: Transport
    /// A base URL that replaces each file's own directory (a local mirror, or `file:///...`).
    public var mirror: String?
    /// Called with a line of progress text per file.
    public var log: @Sendable (String) -> Void

    public init(mirror: String? = nil, transport: @escaping Transport = Downloader.systemTransport,
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.mirror = mirror
        self.transport = transport
        self.log = log
    }

    /// Fetches `dataset` under `root` and returns the directory its reader should load.
    @discardableResult
    public func fetch(_ dataset: RemoteDataset, into root: String) throws -> String {
        let datasetDirectory = (root as NSString).appendingPathComponent(dataset.directory)
        for file in dataset.files {
            let directory = file.isArchive ? root : datasetDirectory
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let target = (directory as NSString).appendingPathComponent(file.fileName)
            let source = mirror.map { ($0.hasSuffix("/") ? String($0.dropLast()) : $0) + "/" + file.fileName } ?? file.url
            var fetched = false
            if FileManager.default.fileExists(atPath: target), (try? SHA256.hash(file: target).hex) == file.sha256 {
                log("\(file.fileName): present, checksum verified")
            } else {
                log("\(file.fileName): downloading \(source)")
                try download(source, to: target, sha256: file.sha256)
                fetched = true
            }
            if file.isArchive && (fetched || !FileManager.default.fileExists(atPath: datasetDirectory)) {
                let members = try TarArchive.extract(target, into: root)
                log("\(file.fileName): unpacked \(members.count) files into \(root)")
            }
        }
        return datasetDirectory
    }

    /// Downloads `source` beside `target`, checks its SHA-256 and only then renames it to
    /// `target`; a mismatch deletes the download and throws, naming both checksums.
    public func download(_ source: String, to target: String, sha256 expected: String) throws {
        let temporary = target + ".download-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        try? FileManager.default.removeItem(atPath: temporary)
        try transport(source, temporary)
        try Downloader.verify(temporary, sha256: expected, source: source)
        guard rename(temporary, target) == 0 else {
            throw CortexError.io(path: target, reason: "rename failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Throws unless the file's SHA-256 is `expected`.
    public static func verify(_ path: String, sha256 expected: String, source: String? = nil) throws {
        let actual = try SHA256.hash(file: path).hex
        guard actual == expected.lowercased() else {
            throw CortexError.invalidFile(path: source ?? path, reason: "SHA-256 mismatch: expected \(expected.lowercased()), got \(actual)")
        }
    }

    /// `file://` URLs are copied; others are fetched with curl (or wget where curl is absent).
    public static let systemTransport: Transport = { url, destination in
        if let local = URL(string: url), local.isFileURL {
            do { try FileManager.default.copyItem(atPath: local.path, toPath: destination) } catch {
                throw CortexError.io(path: local.path, reason: "cannot be copied: \(error.localizedDescription)")
            }
            return
        }
        let tools: [(String, [String])] = [("/usr/bin/curl", ["-fsSL", "--retry", "3", "-o", destination, url]),
                                           ("/usr/bin/wget", ["-q", "-O", destination, url])]
        guard let (tool, arguments) = tools.first(where: { FileManager.default.isExecutableFile(atPath: $0.0) }) else {
            throw CortexError.io(path: url, reason: "cannot download: neither curl nor wget is installed (apt install curl)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        do { try process.run() } catch { throw CortexError.io(path: url, reason: "\(tool) could not start: \(error.localizedDescription)") }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CortexError.io(path: url, reason: "download failed (\((tool as NSString).lastPathComponent) exit status \(process.terminationStatus))")
        }
    }
}
