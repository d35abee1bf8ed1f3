import CortexCore
import Foundation

/// Numeric CSV tables: a header row (optional), comma-separated numbers, one target column.
public enum CSVTable {
    /// Reads `path` into (features, target) tensors; `targetColumn` names (with a header) or
    /// indexes the column used as target, and `classification` makes targets int64 labels.
    public static func load(_ path: String, targetColumn: String, hasHeader: Bool = true, classification: Bool = false) throws -> TensorDataset {
        let bytes = try DataFiles.read(path)
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw CortexError.invalidFile(path: path, reason: "not UTF-8 text") }
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw CortexError.invalidFile(path: path, reason: "empty table") }
        var header: [String] = []
        if hasHeader { header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        let columns = hasHeader ? header.count : lines.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).count } ?? 0
        let target: Int
        if let index = header.firstIndex(of: targetColumn) {
            target = index
        } else if let index = Int(targetColumn), index >= 0, index < columns {
            target = index
        } else {
            throw CortexError.invalidArgument(operation: "CSVTable.load", reason: "target column \"\(targetColumn)\" is not in \(path) (columns: \(header.isEmpty ? "\(columns)" : header.joined(separator: ", ")))")
        }
        guard !lines.isEmpty else { throw CortexError.invalidFile(path: path, reason: "no data rows") }
        var features: [Float] = [], targets: [Float] = []
        for (number, line) in lines.enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            let row = number + (hasHeader ? 2 : 1)
            guard cells.count == columns else {
                throw CortexError.invalidFile(path: path, reason: "line \(row) has \(cells.count) cells, expected \(columns)")
            }
            for (column, cell) in cells.enumerated() {
                guard let value = Float(cell.trimmingCharacters(in: .whitespaces)) else {
                    throw CortexError.invalidFile(path: path, reason: "line \(row), column \(column + 1): \"\(cell)\" is not a number")
                }
                if column == target { targets.append(value) } else { features.append(value) }
            }
        }
        let inputs = try Tensor(features, shape: [lines.count, columns - 1])
        if classification, let row = targets.firstIndex(where: { !($0 >= 0 && $0 < 16_777_216 && $0.rounded() == $0) }) {
            throw CortexError.invalidFile(path: path, reason: "line \(row + (hasHeader ? 2 : 1)): class label \(targets[row]) is not a whole number from 0 to 16777215")
        }
        let labels = classification ? try Tensor(integers: targets.map { Int($0) }) : try Tensor(targets, shape: [lines.count, 1])
        return try TensorDataset(inputs: inputs, targets: labels)
    }
}
