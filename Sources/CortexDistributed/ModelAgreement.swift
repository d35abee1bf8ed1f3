import CortexCore
import CortexNN
import Foundation

/// Checks, before any gradient is exchanged, that every rank built the same model: the same
/// parameter and buffer names, shapes, dtypes and trainable flags. Ranks compare a SHA-256 of
/// that description; on a mismatch they exchange the descriptions and every rank throws the
/// same error naming the differences, so no rank is left waiting in a collective.
public enum ModelAgreement {
    /// One line per parameter and buffer: `name [shape] dtype parameter|frozen|buffer`.
    public static func description(of module: Module) -> [String] {
        let parameters = module.namedParameters().map { "\($0.0) \($0.1.shape) \($0.1.dtype.rawValue) \($0.1.requiresGrad ? "parameter" : "frozen")" }
        let buffers = module.namedBuffers().map { "\($0.0) \($0.1.shape) \($0.1.dtype.rawValue) buffer" }
        return parameters + buffers
    }

    public static func verify(_ module: Module, group: any ProcessGroup) throws {
        let lines = description(of: module)
        let text = lines.joined(separator: "\n")
        var hasher = SHA256()
        hasher.update(Array(text.utf8))
        let digests = try group.allGather(bytes: hasher.finalize().bytes)
        guard Set(digests).count > 1 else { return }
        let descriptions = try group.allGather(bytes: Array(text.utf8)).map { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) }
        throw CortexError.invalidArgument(operation: "DistributedDataParallel", reason: differences(descriptions))
    }

    /// Each rank that differs from rank 0, with its counts and first differing entry.
    static func differences(_ descriptions: [[String]]) -> String {
        func elements(_ lines: [String]) -> Int {
            lines.reduce(0) { total, line in
                guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else { return total }
                let dimensions = line[line.index(after: open)..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                return total + dimensions.reduce(1, *)
            }
        }
        let reference = descriptions[0]
        var parts: [String] = []
        for (rank, lines) in descriptions.enumerated().dropFirst() where lines != reference {
            var part = "rank \(rank) has \(lines.count) parameters and buffers (\(elements(lines)) elements), rank 0 has \(reference.count) (\(elements(reference)))"
            let common = min(reference.count, lines.count)
            if let index = (0..<common).first(where: { reference[$0] != lines[$0] }) ?? (reference.count != lines.count ? common : nil) {
                let mine = index < lines.count ? lines[index] : "nothing"
                let theirs = index < reference.count ? reference[index] : "nothing"
                part += "; first difference at entry \(index): rank 0 has \(theirs), rank \(rank) has \(mine)"
            }
            parts.append(part)
        }
        return "the ranks' models differ: " + parts.joined(separator: "; ")
    }
}
