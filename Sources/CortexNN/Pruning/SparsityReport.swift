import CortexCore
import Foundation

/// How many entries of each prunable layer's parameters are zero, as the layer computes with
/// them (masks applied), layer by layer and over the weights in total.
public struct SparsityReport: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var name: String
        public var shape: [Int]
        public var count: Int
        public var zeros: Int
        public var sparsity: Double { count == 0 ? 0 : Double(zeros) / Double(count) }
    }

    public var rows: [Row]

    /// Totals over the `weight` rows (the matrices and kernels pruning is measured on).
    public var weightCount: Int { rows.filter { $0.name.hasSuffix("weight") }.reduce(0) { $0 + $1.count } }
    public var weightZeros: Int { rows.filter { $0.name.hasSuffix("weight") }.reduce(0) { $0 + $1.zeros } }
    /// The fraction of the weights that is zero.
    public var weightSparsity: Double { weightCount == 0 ? 0 : Double(weightZeros) / Double(weightCount) }
    /// The fraction of the weights left (Han et al.'s "weights %").
    public var weightsRemaining: Double { 1 - weightSparsity }

    /// A printable table: one row per parameter, then the weights' total.
    public var table: String {
        let width = max(rows.map(\.name.count).max() ?? 0, 9)
        func line(_ name: String, _ shape: String, _ count: Int, _ zeros: Int, _ sparsity: Double) -> String {
            name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + shape.padding(toLength: 18, withPad: " ", startingAt: 0)
                + String(format: "%10d %10d %8.2f%%", count, zeros, sparsity * 100)
        }
        func right(_ text: String, _ length: Int) -> String { String(repeating: " ", count: max(length - text.count, 0)) + text }
        var lines = ["parameter".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + "shape".padding(toLength: 18, withPad: " ", startingAt: 0)
                     + right("entries", 10) + " " + right("zeros", 10) + " " + right("sparsity", 9)]
        lines += rows.map { line($0.name, "\($0.shape)", $0.count, $0.zeros, $0.sparsity) }
        lines.append(line("weights", "", weightCount, weightZeros, weightSparsity))
        return lines.joined(separator: "\n")
    }
}

extension Pruning {
    /// The sparsity of every parameter of every prunable layer below `model`.
    public static func sparsity(of model: Module) throws -> SparsityReport {
        var rows: [SparsityReport.Row] = []
        for (path, module) in model.namedModules() where module is Prunable {
            for (name, slot) in module.declaredSlots() where !slot.isBuffer {
                guard let parameter = slot.tensor else { continue }
                let values = try withNoGrad { try module.masked(name, parameter) }.detach().to(.float32).contiguous().toFloatArray()
                rows.append(.init(name: path.isEmpty ? name : path + "." + name, shape: parameter.shape, count: values.count,
                                  zeros: values.filter { $0 == 0 }.count))
            }
        }
        return SparsityReport(rows: rows)
    }
}
