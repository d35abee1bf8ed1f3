import Foundation
import Testing
import CortexCore
import CortexText

@Suite struct TextDataTests {
    @Test func windowsSplitsAndMappedTokenFiles() throws {
        let ids = Array(0..<100)
        let sequence = TokenSequence(ids)
        let (train, validation) = sequence.split(trainingFraction: 0.9)
        #expect(train.count == 90 && validation.count == 10 && validation[0] == 90)
        let (x, y) = try train.batch(offsets: [0, 5], length: 4)
        #expect(try x.toIntArray() == [0, 1, 2, 3, 5, 6, 7, 8] && y.toIntArray() == [1, 2, 3, 4, 6, 7, 8, 9])
        let generator = RandomGenerator(seed: 1)
        let (inputs, targets) = try train.randomBatch(batchSize: 3, length: 8, generator: generator)
        #expect(inputs.shape == [3, 8])
        #expect(try zip(inputs.toIntArray(), targets.toIntArray()).allSatisfy { $1 == $0 + 1 })
        #expect(throws: CortexError.self) { try validation.randomBatch(batchSize: 1, length: 10, generator: generator) }
        #expect(throws: CortexError.self) { try train.batch(offsets: [86], length: 4) }
        // A token file maps back to the same tokens (and larger-than-memory corpora are read lazily).
        let path = NSTemporaryDirectory() + "cortex-tokens-\(UUID().uuidString).bin"
        try TokenSequence.write(ids.map { $0 * 1000 }, to: path)
        let mapped = try TokenSequence.map(path)
        #expect(mapped.count == 100 && mapped[99] == 99_000)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: CortexError.self) { try TokenSequence.map(path) }
    }

    @Test func wordTokenizer() throws {
        let words = WordTokenizer(corpus: "To be, or not to be:\nthat is the question.\n", vocabularySize: 12)
        #expect(words.words.prefix(5) == ["<unk>", "<eos>", "be", "to", ","])
        let ids = try words.encode("To be or not\nto be")
        #expect(try words.decode(ids) == "to be or not\nto be")
        #expect(try words.encode("ghost the") == [0, 0])
        #expect(WordTokenizer.split("Hark! 'tis so.") == ["hark", "!", "'tis", "so", "."])
    }
}
