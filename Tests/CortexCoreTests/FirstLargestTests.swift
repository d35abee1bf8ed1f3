import CCortexKernels
import Testing
@testable import CortexCore

/// cortex_first_largest (the server's greedy choice) against the loop it replaces: the first
/// index of a strictly larger value, so ties keep the earliest, NaNs never win and a NaN first
/// value keeps index 0; lengths below, at and past blocks of sixteen.
@Suite struct FirstLargestTests {
    static func reference(_ row: [Float]) -> Int {
        var best = 0
        for index in row.indices.dropFirst() where row[index] > row[best] { best = index }
        return best
    }

    @Test(arguments: [1, 2, 15, 16, 17, 47, 49_152])
    func matchesTheFirstStrictlyLargerLoop(_ count: Int) throws {
        let generator = RandomGenerator(seed: UInt64(count))
        var rows = [try Tensor.randn([count], generator: generator).toFloatArray()]
        // Ties: the largest value again, later.
        var tied = rows[0].map { ($0 * 4).rounded() }
        if count > 2 { tied[count - 1] = tied.max()! }
        rows.append(tied)
        // NaNs in the middle, a NaN first, all equal, all -infinity.
        var holes = rows[0]
        for index in stride(from: count / 3, to: count, by: 7) { holes[index] = .nan }
        rows.append(holes)
        var nanFirst = rows[0]
        nanFirst[0] = .nan
        rows.append(nanFirst)
        rows.append([Float](repeating: 0.5, count: count))
        rows.append([Float](repeating: -.infinity, count: count))
        for row in rows {
            #expect(cortex_first_largest(row, count) == Self.reference(row), "\(count) values")
        }
    }
}
