import CortexCore
import CortexData
import CortexTestSupport
import Foundation
import Testing

@Suite struct TabularDataTests {
    @Test func oneHotAndStandardised() throws {
        let path = temporaryDirectory("cortex-tabular") + "/t.csv"
        try "name,colour,age\n\"Smith, J\",Black,20\nLee,White,30\n\"O\"\"Neil\",Black,40\n".write(toFile: path, atomically: true, encoding: .utf8)
        let table = try TabularTable.load(path)
        #expect(table.header == ["name", "colour", "age"] && table.count == 3)
        #expect(try table.column("name") == ["Smith, J", "Lee", "O\"Neil"])
        let encoder = try TabularEncoder.fit(table, features: ["colour", "age"])
        #expect(encoder.featureNames == ["colour=Black", "colour=White", "age"])
        let x = try encoder.transform(table).toFloatArray()
        let scale = Float((200.0 / 3).squareRoot())   // population deviation of 20, 30, 40
        #expect(zip(x, [1, 0, -10 / scale, 0, 1, 0, 1, 0, 10 / scale] as [Float]).allSatisfy { abs($0 - $1) < 1e-5 })
        expectCortexError(["no column \"race\"", "name, colour, age"]) { _ = try table.column("race") }
        let other = TabularTable(header: table.header, rows: [["x", "Green", "1"]], source: "new.csv")
        expectCortexError(["category \"Green\" was not seen in training"]) { _ = try encoder.transform(other) }
        expectCortexError(["never holds \"Yes\""]) { _ = try table.binaryColumn("colour", positive: "Yes") }
    }

    @Test func stratifiedSplitsKeepTheBalance() throws {
        let labels = (0..<1000).map { $0 % 5 == 0 ? 1 : 0 }
        let parts = try Splits.stratified(labels: labels, fractions: [0.7, 0.15], seed: 3)
        #expect(parts.map(\.count) == [700, 150, 150])
        #expect(Set(parts.joined()).count == 1000)
        for part in parts { #expect(part.filter { labels[$0] == 1 }.count * 5 == part.count) }
        #expect(try Splits.stratified(labels: labels, fractions: [0.7, 0.15], seed: 3) == parts)
    }
}
