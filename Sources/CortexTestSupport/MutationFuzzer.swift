import CortexCore
import Foundation

/// Seeded mutation fuzzing of a file parser: each trial mutates a valid file (byte flips,
/// interesting values in 1-, 4- and 8-byte fields, truncation, deleted or repeated spans,
/// splices of two mutants) and hands it to `body`, which must either succeed or throw a
/// `CortexError`; any other error fails the run, and a crash ends the process, which the test
/// runner reports with the seed and trial in the last line printed.
///
/// The run lasts `CORTEX_FUZZ_SECONDS` seconds when that is set (the long runs), else
/// `trials` trials (what CI runs).
public struct MutationFuzzer {
    public let original: [UInt8]
    public let seed: UInt64

    public init(original: [UInt8], seed: UInt64) {
        self.original = original
        self.seed = seed
    }

    public struct Outcome: Sendable {
        public var trials = 0, accepted = 0, rejected = 0
    }

    static let interestingBytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xff]
    static let interestingWords: [UInt64] = [0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 16, 31, 32, 255, 256, 1 << 16, 1 << 31, (1 << 32) - 1, 1 << 32,
                                             1 << 40, 1 << 62, UInt64(Int64.max), UInt64.max, UInt64.max - 1]

    /// One mutant of `bytes`.
    public func mutate(_ bytes: [UInt8], _ generator: RandomGenerator) -> [UInt8] {
        var bytes = bytes
        guard !bytes.isEmpty else { return [UInt8(truncatingIfNeeded: generator.next())] }
        let position = generator.integer(below: bytes.count)
        switch generator.integer(below: 7) {
        case 0:
            bytes[position] ^= UInt8(1) << UInt8(generator.integer(below: 8))
        case 1:
            bytes[position] = Self.interestingBytes[generator.integer(below: Self.interestingBytes.count)]
        case 2, 3:
            // A little-endian 4- or 8-byte field (counts, lengths, dimensions, offsets, types).
            let width = generator.integer(below: 2) == 0 ? 4 : 8
            let value = Self.interestingWords[generator.integer(below: Self.interestingWords.count)]
            for index in 0..<width where position + index < bytes.count {
                bytes[position + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index)))
            }
        case 4:
            bytes.removeLast(generator.integer(below: bytes.count) + 1)
        case 5:
            let end = min(bytes.count, position + 1 + generator.integer(below: 64))
            bytes.removeSubrange(position..<end)
        default:
            let end = min(bytes.count, position + 1 + generator.integer(below: 64))
            bytes.insert(contentsOf: bytes[position..<end], at: position)
        }
        return bytes
    }

    /// Runs the trials; throws the first error that is not a `CortexError`.
    public func run(trials: Int, _ body: ([UInt8]) throws -> Void) throws -> Outcome {
        let seconds = ProcessInfo.processInfo.environment["CORTEX_FUZZ_SECONDS"].flatMap(Double.init)
        let deadline = seconds.map { Date().addingTimeInterval($0) }
        let generator = RandomGenerator(seed: seed)
        var outcome = Outcome()
        while deadline.map({ Date() < $0 }) ?? (outcome.trials < trials) {
            var mutant = mutate(original, generator)
            // Stack a few mutations now and then, so damage reaches past the first check.
            for _ in 0..<generator.integer(below: 4) where generator.integer(below: 2) == 0 { mutant = mutate(mutant, generator) }
            outcome.trials += 1
            do {
                try body(mutant)
                outcome.accepted += 1
            } catch is CortexError {
                outcome.rejected += 1
            }
        }
        if seconds != nil { print("fuzz seed \(seed): \(outcome.trials) trials, \(outcome.accepted) accepted, \(outcome.rejected) rejected") }
        return outcome
    }
}
