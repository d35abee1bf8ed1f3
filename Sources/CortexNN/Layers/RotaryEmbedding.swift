import CCortexKernels
import CortexCore
import Foundation

/// Rotary position embeddings (RoFormer; Llama): each pair of a head's features is rotated
/// by position × frequency, with frequencies 1 / theta^(2i/d), optionally rescaled for longer
/// contexts.
///
/// Two pairings exist in the wild: Hugging Face's Llama pairs feature i with i + d/2
/// (`halves`); llama.cpp and GGUF files, whose query and key rows are permuted to match, pair
/// neighbours 2i and 2i + 1 (`interleaved`). Both give the same attention.
///
/// ```swift
/// let rope = try RotaryEmbedding(dimension: 64, maximumPositions: 2048, theta: 10_000)
/// let rotated = try rope(queries, positions: Tensor.arange(0, 7, dtype: .int64))   // (B, heads, 7, 64)
/// ```
public struct RotaryEmbedding: Sendable {
    public enum Pairing: Sendable { case halves, interleaved }

    /// Frequency rescaling for contexts longer than training's.
    public enum Scaling: Sendable, Equatable {
        /// Positions divided by `factor` (all frequencies divided).
        case linear(factor: Double)
        /// Llama 3's: low frequencies divided by `factor`, high ones kept, a smooth ramp between.
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContextLength: Int)
    }

    public let dimension: Int
    public let pairing: Pairing
    public let inverseFrequencies: [Float]
    public let maximumPositions: Int
    let table: Table

    /// cos and sin of position × frequency, (positions, dimension / 2), made for the positions
    /// used so far (doubling), not for the whole context: an 8,192-position model decoding 100
    /// tokens keeps 2% of the table.
    final class Table: @unchecked Sendable {
        let frequencies: [Float], limit: Int
        private var built: (cosines: Tensor, sines: Tensor)?
        private let lock = NSLock()

        init(frequencies: [Float], limit: Int) {
            self.frequencies = frequencies
            self.limit = limit
        }

        func rows(covering positions: Int) throws -> (cosines: Tensor, sines: Tensor) {
            lock.lock()
            defer { lock.unlock() }
            if let built, built.cosines.shape[0] >= positions { return built }
            let count = min(limit, max(positions, 2 * (built?.cosines.shape[0] ?? 128)))
            var cosines = [Float](), sines = [Float]()
            cosines.reserveCapacity(count * frequencies.count)
            sines.reserveCapacity(count * frequencies.count)
            for position in 0..<count {
                for frequency in frequencies {
                    // float32 angles, as transformers computes them.
                    let angle = Double(Float(position) * frequency)
                    cosines.append(Float(Foundation.cos(angle)))
                    sines.append(Float(Foundation.sin(angle)))
                }
            }
            let table = (try Tensor(cosines, shape: [count, frequencies.count]), try Tensor(sines, shape: [count, frequencies.count]))
            built = table
            return table
        }
    }

    /// `frequencyFactors` (llama.cpp's `rope_freqs`) divide the frequencies one by one.
    public init(dimension: Int, maximumPositions: Int, theta: Double, scaling: Scaling? = nil, frequencyFactors: [Float]? = nil,
                pairing: Pairing = .halves) throws {
        guard dimension > 0, dimension % 2 == 0, maximumPositions > 0, theta > 0 else {
            throw CortexError.invalidArgument(operation: "RotaryEmbedding",
                                              reason: "dimension \(dimension) must be even and positive, positions \(maximumPositions) and theta \(theta) positive")
        }
        if let frequencyFactors, frequencyFactors.count != dimension / 2 {
            throw CortexError.invalidArgument(operation: "RotaryEmbedding", reason: "\(frequencyFactors.count) frequency factors for \(dimension / 2) frequencies")
        }
        self.dimension = dimension
        self.pairing = pairing
        // float32 arithmetic, as transformers computes them.
        var frequencies = stride(from: 0, to: dimension, by: 2).map { 1 / Float(Foundation.pow(Float(theta), Float($0) / Float(dimension))) }
        switch scaling {
        case let .linear(factor)?:
            frequencies = frequencies.map { $0 / Float(factor) }
        case let .llama3(factor, low, high, original)?:
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            frequencies = frequencies.map { frequency in
                let wavelength = 2 * Double.pi / Double(frequency)
                if wavelength < highWavelength { return frequency }
                if wavelength > lowWavelength { return frequency / Float(factor) }
                let smooth = Float((Double(original) / wavelength - low) / (high - low))
                return (1 - smooth) * frequency / Float(factor) + smooth * frequency
            }
        case nil:
            break
        }
        if let frequencyFactors { frequencies = zip(frequencies, frequencyFactors).map { $0 / $1 } }
        inverseFrequencies = frequencies
        self.maximumPositions = maximumPositions
        table = Table(frequencies: frequencies, limit: maximumPositions)
    }

    /// The cos and sin of every position's angles, shaped to broadcast against (B, heads, T,
    /// dimension / 2): made once per forward pass and applied to the queries and keys of
    /// every layer.
    public struct Angles: Sendable {
        public let cosine: Tensor, sine: Tensor
        /// Positions per sequence.
        public var steps: Int { cosine.shape[cosine.rank - 2] }
    }

    /// The angles of `positions`, (T) shared by the batch or (B, T).
    public func angles(_ positions: Tensor) throws -> Angles {
        guard positions.rank == 1 || positions.rank == 2 else {
            throw CortexError.shapeMismatch(operation: "RotaryEmbedding", shapes: [positions.shape], reason: "(positions must be (T) or (B, T))")
        }
        let flat = try positions.reshape([-1])
        let largest = try flat.toIntArray().max() ?? 0
        guard largest < maximumPositions else {
            throw CortexError.indexOutOfRange(operation: "RotaryEmbedding", index: largest, bound: maximumPositions)
        }
        let (cosines, sines) = try table.rows(covering: largest + 1)
        var tableShape = positions.shape + [dimension / 2]
        if positions.rank == 2 { tableShape.insert(1, at: 1) }
        return Angles(cosine: try cosines.indexSelect(axis: 0, indices: flat).reshape(tableShape),
                      sine: try sines.indexSelect(axis: 0, indices: flat).reshape(tableShape))
    }

    /// `x` (B, heads, T, dimension) rotated for `positions`, (T) shared by the batch or (B, T).
    public func callAsFunction(_ x: Tensor, positions: Tensor) throws -> Tensor {
        try self(x, angles: angles(positions))
    }

    /// `x` (B, heads, T, dimension) rotated by angles made with `angles(_:)`.
    public func callAsFunction(_ x: Tensor, angles: Angles) throws -> Tensor {
        let (cosine, sine) = (angles.cosine, angles.sine)
        guard x.rank == 4, x.shape[3] == dimension, x.shape[2] == angles.steps, cosine.rank == 2 || cosine.shape[0] == x.shape[0] else {
            throw CortexError.shapeMismatch(operation: "RotaryEmbedding", shapes: [x.shape, cosine.shape],
                                            reason: "(x must be (B, heads, T, \(dimension)) with T and B those of the positions)")
        }
        if let fused = try fusedInference(x, cosine: cosine, sine: sine) { return fused }
        let half = dimension / 2
        switch pairing {
        case .halves:
            let first = try x.slice(axis: 3, start: 0, end: half), second = try x.slice(axis: 3, start: half, end: dimension)
            return try Tensor.cat([first * cosine - second * sine, second * cosine + first * sine], axis: 3)
        case .interleaved:
            let pairs = try x.reshape(Array(x.shape.dropLast()) + [half, 2])
            let first = try pairs.select(axis: 4, index: 0), second = try pairs.select(axis: 4, index: 1)
            return try Tensor.cat([(first * cosine - second * sine).unsqueeze(4), (first * sine + second * cosine).unsqueeze(4)], axis: 4)
                .reshape(x.shape)
        }
    }

    /// Inference (nothing needs a gradient): one fused pass instead of nine ops, for rows with
    /// contiguous elements. Nil where the composite form must run.
    private func fusedInference(_ x: Tensor, cosine: Tensor, sine: Tensor) throws -> Tensor? {
        guard fusedInferenceApplies(to: [x]), x.layout.strides[3] == 1 || x.shape[3] == 1 else {
            return nil
        }
        let (cosines, sines) = (try cosine.contiguous(), try sine.contiguous())
        let angleBatchStride = cosines.rank == 4 && cosines.shape[0] > 1 ? cosines.shape[2] * cosines.shape[3] : 0
        let output = try Tensor.empty(x.shape)
        let strides = x.layout.strides
        cortex_rotary_embedding(x.storage.pointer.assumingMemoryBound(to: Float.self) + x.layout.offset, x.shape[0], x.shape[1], x.shape[2],
                                x.shape[3], strides[0], strides[1], strides[2],
                                cosines.storage.pointer.assumingMemoryBound(to: Float.self) + cosines.layout.offset,
                                sines.storage.pointer.assumingMemoryBound(to: Float.self) + sines.layout.offset, angleBatchStride,
                                pairing == .interleaved ? 1 : 0, output.storage.pointer.assumingMemoryBound(to: Float.self))
        return withExtendedLifetime((x, cosines, sines)) { output }
    }
}
