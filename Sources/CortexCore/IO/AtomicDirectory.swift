import CCortexKernels
import Foundation

/// Replaces a whole directory at once: its new contents are written into a staging directory
/// beside it, which is then exchanged with the old one in one step (renameat2's
/// RENAME_EXCHANGE), so a process killed at any moment leaves either the old directory or the
/// complete new one, never a mixture. Where the file system cannot exchange, the old directory
/// is renamed aside first and restored by ``recover(_:)`` if the process dies in between.
///
/// A directory that already holds anything outside `owning` (a user's own files beside a
/// checkpoint, say) is never replaced: `body` then writes into it directly, each file atomically.
///
/// ```swift
/// try AtomicDirectory.write(to: "runs/mnist", owning: ["model.safetensors"]) { staging in
///     try model.save(to: staging + "/model.safetensors")
/// }
/// ```
public enum AtomicDirectory {
    /// Fills a new directory through `body` and swaps it in for `directory`. With `owning`, only
    /// a directory holding nothing but those names (or nothing) is replaced.
    public static func write(to directory: String, owning names: Set<String>? = nil, _ body: (_ staging: String) throws -> Void) throws {
        let manager = FileManager.default
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        let parent = URL(fileURLWithPath: target).deletingLastPathComponent().path
        try manager.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try recover(target)
        if let names, let existing = try? manager.contentsOfDirectory(atPath: target), !Set(existing).isSubset(of: names) {
            try body(target)
            return
        }
        let name = URL(fileURLWithPath: target).lastPathComponent
        let staging = parent + "/." + name + ".staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try manager.createDirectory(atPath: staging, withIntermediateDirectories: false)
            try body(staging)
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: target, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw CortexError.io(path: target, reason: "exists and is not a directory") }
                if cortex_exchange_paths(staging, target) != 0 {
                    guard errno == EINVAL || errno == ENOSYS || errno == ENOTSUP else {
                        throw CortexError.io(path: target, reason: "cannot swap in the new directory: \(String(cString: strerror(errno)))")
                    }
                    // No exchange here: move the old one aside, the new one in, then drop the old.
                    let aside = previous(target)
                    try? manager.removeItem(atPath: aside)
                    try rename(target, aside)
                    try rename(staging, target)
                    try? manager.removeItem(atPath: aside)
                    return
                }
                // `staging` now holds the old directory.
                try? manager.removeItem(atPath: staging)
            } else {
                try rename(staging, target)
            }
        } catch {
            try? manager.removeItem(atPath: staging)
            throw error
        }
    }

    /// Puts back a directory that a process killed between the two renames of the fallback
    /// left aside, and removes the staging directories of writers that died while filling them.
    public static func recover(_ directory: String) throws {
        let aside = previous(directory)
        let manager = FileManager.default
        if manager.fileExists(atPath: aside) && !manager.fileExists(atPath: directory) { try rename(aside, directory) }
        let url = URL(fileURLWithPath: directory)
        let parent = url.deletingLastPathComponent().path, prefix = "." + url.lastPathComponent + ".staging-"
        for entry in (try? manager.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            // ".NAME.staging-PID-RANDOM": only a writer that is gone (no such process) is cleaned up after.
            guard let pid = entry.dropFirst(prefix.count).split(separator: "-").first.flatMap({ pid_t($0) }), pid > 0,
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? manager.removeItem(atPath: parent + "/" + entry)
        }
    }

    static func previous(_ directory: String) -> String {
        let url = URL(fileURLWithPath: directory)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".previous"
    }

    private static func rename(_ source: String, _ destination: String) throws {
        guard Foundation.rename(source, destination) == 0 else {
            throw CortexError.io(path: destination, reason: "cannot rename \(source) here: \(String(cString: strerror(errno)))")
        }
    }
}
