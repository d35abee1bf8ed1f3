import CortexCore
import Foundation

/// A CSV table of named columns kept as text (RFC 4180: quoted fields may hold commas,
/// quotes doubled inside them), for tabular data with categorical columns: the arrests data's
/// `colour` and `sex` beside numeric `age` and `checks`.
///
/// ```swift
/// let table = try TabularTable.load("arrests.csv")
/// let encoder = try TabularEncoder.fit(table, features: ["colour", "year", "age", "sex", "employed", "citizen", "checks"])
/// let x = try encoder.transform(table)                 // one-hot categories, standardised numbers
/// let y = try table.binaryColumn("released", positive: "Yes")
/// ```
public struct TabularTable: Sendable {
    public let header: [String]
    public let rows: [[String]]
    public let source: String

    public init(header: [String], rows: [[String]], source: String = "table") {
        self.header = header
        self.rows = rows
        self.source = source
    }

    public static func load(_ path: String) throws -> TabularTable {
        let bytes = try DataFiles.read(path)
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw CortexError.invalidFile(path: path, reason: "not UTF-8 text") }
        let records = try parse(text, path: path)
        guard let header = records.first else { throw CortexError.invalidFile(path: path, reason: "empty table") }
        guard Set(header).count == header.count else {
            throw CortexError.invalidFile(path: path, reason: "repeated column names in the header \(header)")
        }
        let rows = Array(records.dropFirst())
        guard !rows.isEmpty else { throw CortexError.invalidFile(path: path, reason: "no data rows") }
        for (number, row) in rows.enumerated() where row.count != header.count {
            throw CortexError.invalidFile(path: path, reason: "row \(number + 2) has \(row.count) cells, the header \(header.count)")
        }
        return TabularTable(header: header, rows: rows, source: path)
    }

    /// Records of cells; blank lines skipped, a trailing carriage return dropped.
    static func parse(_ text: String, path: String) throws -> [[String]] {
        var records: [[String]] = [], record: [String] = [], cell = ""
        var quoted = false, afterQuote = false, line = 1
        var characters = text.makeIterator()
        func endRecord() {
            record.append(cell)
            if !(record.count == 1 && record[0].isEmpty) { records.append(record) }
            record = []
            cell = ""
        }
        while let character = characters.next() {
            if quoted {
                if character == "\"" { quoted = false; afterQuote = true } else { cell.append(character); if character == "\n" { line += 1 } }
                continue
            }
            switch character {
            case "\"":
                if afterQuote { cell.append("\""); quoted = true; afterQuote = false }
                else if cell.isEmpty { quoted = true }
                else { throw CortexError.invalidFile(path: path, reason: "line \(line): a quote inside an unquoted cell \"\(cell)\"") }
            case ",": record.append(cell); cell = ""; afterQuote = false
            case "\n", "\r\n": endRecord(); afterQuote = false; line += 1
            case "\r": continue
            default:
                if afterQuote { throw CortexError.invalidFile(path: path, reason: "line \(line): text after a closing quote") }
                cell.append(character)
            }
        }
        if quoted { throw CortexError.invalidFile(path: path, reason: "line \(line): a quoted cell is never closed") }
        if !cell.isEmpty || !record.isEmpty { endRecord() }
        return records
    }

    public var count: Int { rows.count }

    /// The column's index, or a typed error naming it and the columns there are.
    public func index(of column: String) throws -> Int {
        guard let index = header.firstIndex(of: column) else {
            throw CortexError.invalidArgument(operation: "TabularTable", reason: "no column \"\(column)\" in \(source) (columns: \(header.joined(separator: ", ")))")
        }
        return index
    }

    public func column(_ name: String) throws -> [String] {
        let index = try index(of: name)
        return rows.map { $0[index] }
    }

    /// The column as 0/1 labels: 1 where it equals `positive`.
    public func binaryColumn(_ name: String, positive: String) throws -> [Int] {
        let values = try column(name)
        guard values.contains(positive) else {
            throw CortexError.invalidArgument(operation: "TabularTable", reason: "column \"\(name)\" never holds \"\(positive)\" (values: \(Set(values).sorted().prefix(10).joined(separator: ", ")))")
        }
        return values.map { $0 == positive ? 1 : 0 }
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> TabularTable {
        TabularTable(header: header, rows: indices.map { rows[$0] }, source: source)
    }
}

/// Turns a table's feature columns into numbers: categorical columns one-hot (categories sorted,
/// as `pandas.get_dummies` and scikit-learn's `OneHotEncoder`), numeric columns standardised
/// to mean 0 and standard deviation 1 (population deviation, as `StandardScaler`). Fitted on
/// training rows and saved with a model, so the same encoding applies to new rows.
public struct TabularEncoder: Codable, Sendable, Equatable {
    public enum Column: Codable, Sendable, Equatable {
        case numeric(name: String, mean: Double, standardDeviation: Double)
        case categorical(name: String, categories: [String])

        public var name: String {
            switch self { case .numeric(let name, _, _), .categorical(let name, _): return name }
        }
    }

    public let columns: [Column]

    /// Learns the encoding of `features` from `table`: a column whose every cell is a number is
    /// numeric, unless it is named in `categorical`.
    public static func fit(_ table: TabularTable, features: [String], categorical: Set<String> = []) throws -> TabularEncoder {
        guard !features.isEmpty else { throw CortexError.invalidArgument(operation: "TabularEncoder", reason: "no feature columns") }
        return TabularEncoder(columns: try features.map { name in
            let values = try table.column(name)
            let numbers = values.compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            if numbers.count == values.count && !categorical.contains(name) {
                let mean = numbers.reduce(0, +) / Double(numbers.count)
                let variance = numbers.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(numbers.count)
                return .numeric(name: name, mean: mean, standardDeviation: variance > 0 ? variance.squareRoot() : 1)
            }
            return .categorical(name: name, categories: Set(values).sorted())
        })
    }

    public init(columns: [Column]) { self.columns = columns }

    /// The names of the encoded features: `age`, `colour=Black`, `colour=White`, ...
    public var featureNames: [String] {
        columns.flatMap { column -> [String] in
            switch column {
            case .numeric(let name, _, _): return [name]
            case .categorical(let name, let categories): return categories.map { "\(name)=\($0)" }
            }
        }
    }

    /// (rows, features) float32. A category not seen when fitting, or a numeric cell that is not
    /// a number, is an error naming the row and the value.
    public func transform(_ table: TabularTable) throws -> Tensor {
        let indices = try columns.map { try table.index(of: $0.name) }
        var values: [Float] = []
        values.reserveCapacity(table.count * featureNames.count)
        for (number, row) in table.rows.enumerated() {
            for (column, index) in zip(columns, indices) {
                let cell = row[index]
                switch column {
                case .numeric(let name, let mean, let deviation):
                    guard let value = Double(cell.trimmingCharacters(in: .whitespaces)) else {
                        throw CortexError.invalidFile(path: table.source, reason: "row \(number + 2), column \(name): \"\(cell)\" is not a number")
                    }
                    values.append(Float((value - mean) / deviation))
                case .categorical(let name, let categories):
                    guard let position = categories.firstIndex(of: cell) else {
                        throw CortexError.invalidFile(path: table.source,
                                                      reason: "row \(number + 2), column \(name): category \"\(cell)\" was not seen in training (\(categories.joined(separator: ", ")))")
                    }
                    values += categories.indices.map { $0 == position ? 1 : 0 }
                }
            }
        }
        return try Tensor(values, shape: [table.count, featureNames.count])
    }
}

extension Splits {
    /// Row indices cut into parts of the given fractions (the last part takes the rest), each
    /// label's rows shuffled with `seed` and split separately, so every part keeps the label
    /// balance (scikit-learn's stratified `train_test_split`).
    public static func stratified(labels: [Int], fractions: [Double], seed: UInt64) throws -> [[Int]] {
        guard !fractions.isEmpty, fractions.allSatisfy({ $0 > 0 }), fractions.reduce(0, +) <= 1 + 1e-9 else {
            throw CortexError.invalidArgument(operation: "Splits.stratified", reason: "fractions \(fractions) must be positive and add up to at most 1")
        }
        let generator = RandomGenerator(seed: seed)
        var parts = Array(repeating: [Int](), count: fractions.count + 1)
        for label in Set(labels).sorted() {
            let members = labels.indices.filter { labels[$0] == label }
            let shuffled = permutation(members.count, generator: generator).map { members[$0] }
            var start = 0
            for (part, fraction) in fractions.enumerated() {
                let end = min(shuffled.count, start + Int((Double(shuffled.count) * fraction).rounded()))
                parts[part] += shuffled[start..<end]
                start = end
            }
            parts[fractions.count] += shuffled[start...]
        }
        return parts.map { $0.sorted() }
    }
}
