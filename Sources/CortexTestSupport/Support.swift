import CortexCore
import Foundation

/// A new, empty directory under the system's temporary directory, named `<prefix>-<UUID>`.
public func temporaryDirectory(_ prefix: String) -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
