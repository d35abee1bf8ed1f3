import ArgumentParser
import CortexCore
import CortexData
import Foundation

/// `cortex download`: fetches a dataset, verifies each file's SHA-256 and unpacks archives.
struct Download: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a dataset and verify its SHA-256 checksums.",
        discussion: "Datasets: \(RemoteDataset.known.map(\.name).joined(separator: ", ")). Files go to <data-dir>/<dataset>, where the recipes find them.")

    @Argument(help: "The dataset to fetch.") var dataset: String
    @Option(name: .customLong("data-dir"), help: "Root directory for datasets (default: $CORTEX_DATA_DIR, else ./data).")
    var dataDirectory: String?
    @Option(help: "Base URL of a mirror holding the same file names (http(s):// or file://).") var mirror: String?

    func run() throws {
        let remote = try RemoteDataset.named(dataset)
        let root = dataDirectory ?? ProcessInfo.processInfo.environment["CORTEX_DATA_DIR"] ?? "data"
        let directory = try Downloader(mirror: mirror, log: { print($0) }).fetch(remote, into: root)
        print("\(remote.name) is in \((directory as NSString).standardizingPath)")
    }
}
