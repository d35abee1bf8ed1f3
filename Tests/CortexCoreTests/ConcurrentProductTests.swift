import CortexCore
import Foundation
import Synchronization
import Testing

/// A product's bits never depend on what other threads compute meanwhile: on CPUs without
/// AVX-512, switching OpenBLAS's process-wide thread count for batched products once changed
/// how other threads' products were summed (the attention-map test saw 6000 of 7200 logits
/// differ in the last bits while the Llama test ran beside it).
@Suite struct ConcurrentProductTests {
    @Test func productsKeepTheirBitsWhileOtherThreadsMultiply() throws {
        let generator = RandomGenerator(seed: 7)
        let cases = [
            (try Tensor.randn([2, 12, 64], generator: generator), try Tensor.randn([64, 192], generator: generator)),
            (try Tensor.randn([300, 96], generator: generator), try Tensor.randn([96, 40], generator: generator).mT.contiguous().mT),
            (try Tensor.randn([4, 8, 12, 16], generator: generator), try Tensor.randn([4, 8, 16, 12], generator: generator)),
            (try Tensor.randn([1, 512], generator: generator), try Tensor.randn([512, 700], generator: generator)),
        ]
        let expected = try cases.map { try $0.0.matmul($0.1).toFloatArray() }
        let stop = Atomic<Bool>(false)
        let finished = Atomic<Bool>(false)
        let other = Thread {
            defer { finished.store(true, ordering: .releasing) }
            // Small batched products (one per worker) and a large one, over and over.
            guard let small = try? Tensor.randn([16, 24, 32]), let weight = try? Tensor.randn([16, 32, 24]),
                  let large = try? Tensor.randn([256, 256]) else { return }
            while !stop.load(ordering: .relaxed) {
                _ = try? small.matmul(weight)
                _ = try? large.matmul(large)
            }
        }
        other.start()
        defer {
            stop.store(true, ordering: .relaxed)
            while !finished.load(ordering: .acquiring) { usleep(1000) }
        }
        for round in 0..<100 {
            for (index, (left, right)) in cases.enumerated() {
                let got = try left.matmul(right).toFloatArray()
                let differing = zip(got, expected[index]).filter { $0 != $1 }.count
                try #require(differing == 0, "round \(round), product \(index) \(left.shape) x \(right.shape): \(differing) elements changed")
            }
        }
    }
}
