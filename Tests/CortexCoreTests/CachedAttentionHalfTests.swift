import CCortexKernels
import Testing
@testable import CortexCore
import CortexTestSupport

/// The fused decoding attention over a float16 cache against the float32 kernel given the same
/// float16 values widened: equal up to float32 rounding (rtol 1e-6), for head sizes 64 and 128
/// (the AVX-512 forms) and 16 (the portable loop), key counts below, at and past a block of
/// sixteen, one and several query rows, and groups of one to eight heads sharing a key/value
/// head. Against the float32 cache itself, float16's rounding moves outputs by under 2e-3.
@Suite struct CachedAttentionHalfTests {
    /// Rows of random keys or values, as float16 bits and as the same values in float32.
    static func held(_ count: Int, generator: RandomGenerator) throws -> (halves: [UInt16], widened: [Float], exact: [Float]) {
        let exact = try Tensor.randn([count], generator: generator).toFloatArray()
        var halves = [UInt16](repeating: 0, count: count)
        var widened = [Float](repeating: 0, count: count)
        cortex_float_to_half(exact, &halves, count)
        cortex_half_to_float(halves, &widened, count)
        return (halves, widened, exact)
    }

    @Test(arguments: [(64, 1), (64, 15), (64, 16), (64, 41), (128, 33), (16, 20)])
    func halfCacheEqualsTheWidenedValues(_ shape: (Int, Int)) throws {
        let (d, seen) = shape
        let generator = RandomGenerator(seed: UInt64(d * 100 + seen))
        let (keys, values) = (try Self.held(seen * d, generator: generator), try Self.held(seen * d, generator: generator))
        let scale = 1 / Float(d).squareRoot()
        // Several query rows at the end of the cache (a prompt chunk), then groups of heads.
        let rows = min(seen, 3)
        let queries = try Tensor.randn([8 * d], generator: generator).toFloatArray()
        var fromHalves = [Float](repeating: 0, count: rows * d), fromFloats = fromHalves, fromExact = fromHalves
        cortex_cached_attention_half(queries, d, keys.halves, values.halves, d, &fromHalves, d, rows, seen - rows, d, scale)
        cortex_cached_attention(queries, d, keys.widened, values.widened, d, &fromFloats, d, rows, seen - rows, d, scale)
        cortex_cached_attention(queries, d, keys.exact, values.exact, d, &fromExact, d, rows, seen - rows, d, scale)
        #expect(zip(fromHalves, fromFloats).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(shape)")
        #expect(zip(fromHalves, fromExact).map { abs($0 - $1) }.max()! < 2e-3, "\(shape)")
        for group in 1...8 {
            var groupHalves = [Float](repeating: 0, count: group * d), groupFloats = groupHalves
            cortex_cached_attention_group_half(queries, d, group, keys.halves, values.halves, d, &groupHalves, d, seen - 1, d, scale)
            cortex_cached_attention_group(queries, d, group, keys.widened, values.widened, d, &groupFloats, d, seen - 1, d, scale)
            #expect(zip(groupHalves, groupFloats).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(shape), group \(group)")
        }
    }
}
