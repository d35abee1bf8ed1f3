import Foundation

/// Where Tools/fetch-pretrained.sh unpacks the PyPI wheels Cortex uses (pretrained models,
/// NVIDIA's runtime compiler): CORTEX_PRETRAINED_DIR, else ~/.cache/cortex/pretrained.
public enum PretrainedDirectory {
    public static var root: String {
        let environment = ProcessInfo.processInfo.environment
        if let root = environment["CORTEX_PRETRAINED_DIR"], !root.isEmpty { return root }
        return ((environment["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".cache/cortex/pretrained")
    }
}
