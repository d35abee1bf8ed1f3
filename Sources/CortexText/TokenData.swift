import CortexCore
import Foundation

/// A sequence of token ids, in memory or memory-mapped from a token file, from which language
/// models draw (B, T) training windows: inputs and the same windows shifted by one as targets.
///
/// Token files are raw little-endian int32 ids (nanoGPT's `train.bin` idea), so corpora larger
/// than memory are read through the page cache.
///
/// ```swift
/// let tokens = TokenSequence(try tokenizer.encode(text))
/// let (train, validation) = tokens.split(trainingFraction: 0.9)
/// let (x, y) = try train.randomBatch(batchSize: 32, length: 128, generator: generator)
/// ```
public struct TokenSequence: Sendable {
    private let storage: TokenStorage
    private let range: Range<Int>

    public init(_ ids: [Int]) {
        storage = .memory(ids.map { Int32(truncatingIfNeeded: $0) })
        range = 0..<ids.count
    }

    private init(storage: TokenStorage, range: Range<Int>) {
        self.storage = storage
        self.range = range
    }

    public var count: Int { range.count }

    public subscript(index: Int) -> Int { Int(storage.value(at: range.lowerBound + index)) }

    /// The first `trainingFraction` of the tokens and the rest.
    public func split(trainingFraction: Double) -> (training: TokenSequence, validation: TokenSequence) {
        let cut = range.lowerBound + Int(Double(count) * trainingFraction)
        return (TokenSequence(storage: storage, range: range.lowerBound..<cut), TokenSequence(storage: storage, range: cut..<range.upperBound))
    }

    /// `batchSize` windows of `length` tokens at random offsets (int64 (B, T)) and their targets.
    public func randomBatch(batchSize: Int, length: Int, generator: RandomGenerator) throws -> (inputs: Tensor, targets: Tensor) {
        try batch(offsets: randomOffsets(batchSize, length: length, generator: generator), length: length)
    }

    /// The start offsets ``randomBatch(batchSize:length:generator:)`` draws: `count` windows of
    /// `length` + 1 tokens.
    public func randomOffsets(_ count: Int, length: Int, generator: RandomGenerator) throws -> [Int] {
        guard self.count > length else {
            throw CortexError.invalidArgument(operation: "TokenSequence.randomBatch", reason: "\(self.count) tokens cannot give windows of \(length) + 1")
        }
        return (0..<count).map { _ in generator.integer(below: self.count - length) }
    }

    /// The windows starting at `offsets`.
    public func batch(offsets: [Int], length: Int) throws -> (inputs: Tensor, targets: Tensor) {
        var inputs = [Int](), targets = [Int]()
        inputs.reserveCapacity(offsets.count * length)
        targets.reserveCapacity(offsets.count * length)
        for offset in offsets {
            guard offset >= 0, offset + length < count else {
                throw CortexError.indexOutOfRange(operation: "TokenSequence.batch", index: offset, bound: count - length)
            }
            for position in offset..<(offset + length) {
                inputs.append(self[position])
                targets.append(self[position + 1])
            }
        }
        return (try Tensor(integers: inputs, shape: [offsets.count, length]), try Tensor(integers: targets, shape: [offsets.count, length]))
    }

    // MARK: Token files

    /// Writes `ids` as little-endian int32, atomically.
    public static func write(_ ids: [Int], to path: String) throws {
        let values = ids.map { Int32(truncatingIfNeeded: $0).littleEndian }
        try AtomicFile.write(to: path) { handle in try values.withUnsafeBytes { try handle.write($0) } }
    }

    /// Maps a token file written by ``write(_:to:)``.
    public static func map(_ path: String) throws -> TokenSequence {
        let file = try MappedFile(path: path)
        guard file.byteCount % 4 == 0 else {
            throw CortexError.invalidFile(path: path, reason: "\(file.byteCount) bytes is not a whole number of int32 tokens")
        }
        return TokenSequence(storage: .mapped(file), range: 0..<(file.byteCount / 4))
    }
}

private enum TokenStorage: @unchecked Sendable {
    case memory([Int32])
    case mapped(MappedFile)

    func value(at index: Int) -> Int32 {
        switch self {
        case .memory(let values): return values[index]
        case .mapped(let file): return Int32(littleEndian: file.pointer.loadUnaligned(fromByteOffset: index * 4, as: Int32.self))
        }
    }
}
