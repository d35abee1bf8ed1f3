import CortexCore
import CortexData
import Testing

/// Poisson batches for differential privacy (Opacus's DPDataLoader): q = 1 / batchCount, each
/// example in each batch with probability q independently, reproducible per (seed, epoch).
@Suite struct PoissonSamplingTests {
    let dataset = try! TensorDataset(inputs: Tensor.arange(0, 1000).reshape([1000, 1]), targets: Tensor.zeros([1000]))

    @Test func batchesHaveTheExpectedSizeAndNoRepeats() throws {
        let loader = DataLoader(dataset, batchSize: 50, seed: 3, poisson: true)
        #expect(loader.poissonSampleRate == 1.0 / 20)
        var sizes: [Int] = []
        for epoch in 0..<20 {
            let batches = loader.poissonBatches(epoch: epoch)
            #expect(batches.count == 20)
            for batch in batches {
                #expect(Set(batch).count == batch.count && batch == batch.sorted() && batch.allSatisfy { (0..<1000).contains($0) })
                sizes.append(batch.count)
            }
        }
        // 400 batches of Binomial(1000, 0.05): mean 50, standard deviation 6.9.
        let mean = Double(sizes.reduce(0, +)) / Double(sizes.count)
        let variance = sizes.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(sizes.count - 1)
        #expect(abs(mean - 50) < 1.5 && abs(variance - 47.5) < 12, "mean \(mean), variance \(variance)")
        #expect(loader.poissonBatches(epoch: 4) == DataLoader(dataset, batchSize: 50, seed: 3, poisson: true).poissonBatches(epoch: 4))
        #expect(loader.poissonBatches(epoch: 4) != loader.poissonBatches(epoch: 5))
    }

    @Test func anEmptyBatchArrivesWithNoRows() throws {
        // q = 1/2 over 2 examples: a quarter of the batches are empty (the draws are seeded).
        let tiny = try TensorDataset(inputs: Tensor.ones([2, 3]), targets: Tensor.zeros([2]))
        let loader = DataLoader(tiny, batchSize: 1, seed: 1, poisson: true)
        var (empty, total) = (0, 0)
        for epoch in 0..<10 {
            try loader.epoch(epoch).forEachBatch { batch in
                #expect(Array(batch.inputs.shape.dropFirst()) == [3] && batch.targets.shape == [batch.count])
                if batch.count == 0 { empty += 1 }
                total += 1
            }
        }
        #expect(total == 20 && empty > 0)
    }
}
