import CortexCore

/// Keys and values of past positions for incremental decoding: per layer a preallocated
/// (B, heads, capacity, head size) buffer, written in place, read as a view of its first
/// `length` positions (no copy per step). It also keeps each sequence's position ids and
/// which held positions are left padding, so any causal model can decode batches with it.
public final class KeyValueCache: @unchecked Sendable {
    public let batch: Int
    /// Positions the buffers hold at most.
    public let capacity: Int
    /// Positions held.
    public private(set) var length = 0
    /// Which held positions are padding, per sequence, and each sequence's next position id.
    private(set) var padding: [[Bool]]
    private(set) var nextPosition: [Int]
    var hasPadding: Bool { padding.contains { $0.contains(true) } }
    private let keys: [Tensor], values: [Tensor]

    public init(layers: Int, batch: Int, heads: Int, length: Int, headSize: Int) throws {
        self.batch = batch
        capacity = length
        padding = Array(repeating: [], count: batch)
        nextPosition = Array(repeating: 0, count: batch)
        // Unwritten until used: only positions below `length` are ever read, and pages never
        // touched cost no memory.
        keys = try (0..<layers).map { _ in try Tensor.empty([batch, heads, length, headSize]) }
        values = try (0..<layers).map { _ in try Tensor.empty([batch, heads, length, headSize]) }
    }

    /// Registers the positions of `ids` (B, steps) for every sequence, `padding` (B × steps, true for
    /// padding) marking left-padded ones: they take no position and no query attends to them,
    /// now or later. Returns the new positions' ids, (steps) shared by all sequences or (B,
    /// steps), and, where padding is held, the mask (B, 1, steps, length + steps) of keys each
    /// query may attend to (causal rule included); nil means plain causal attention.
    /// Call `commit(steps:)` once every layer has appended its keys and values.
    func advance(ids: Tensor, padding newPadding: [[Bool]]?) throws -> (positions: Tensor, allowed: Tensor?) {
        guard ids.rank == 2, ids.shape[0] == batch, ids.shape[1] >= 1 else {
            throw CortexError.shapeMismatch(operation: "KeyValueCache", shapes: [ids.shape],
                                            reason: "(ids must be (B, T) with T ≥ 1 and B the \(batch) sequences the cache holds)")
        }
        let steps = ids.shape[1]
        guard length + steps <= capacity else {
            throw CortexError.invalidArgument(operation: "KeyValueCache",
                                              reason: "\(length) cached + \(steps) new positions exceed the context length \(capacity)")
        }
        if let newPadding, newPadding.count != batch || newPadding.contains(where: { $0.count != steps }) {
            throw CortexError.invalidArgument(operation: "KeyValueCache", reason: "padding must mark every one of the \(batch) × \(steps) new ids")
        }
        guard newPadding != nil || hasPadding else {
            let positions = try Tensor.arange(Double(length), Double(length + steps), dtype: .int64)
            for sequence in 0..<batch { nextPosition[sequence] += steps }
            padding = padding.map { $0 + Array(repeating: false, count: steps) }
            return (positions, nil)
        }
        let marks = newPadding ?? Array(repeating: Array(repeating: false, count: steps), count: batch)
        var positionIds: [Int] = []
        for sequence in 0..<batch {
            for step in 0..<steps {
                positionIds.append(marks[sequence][step] ? 0 : nextPosition[sequence])
                if !marks[sequence][step] { nextPosition[sequence] += 1 }
            }
        }
        padding = zip(padding, marks).map { $0 + $1 }
        let keys = length + steps
        var allowed: [Bool] = []
        allowed.reserveCapacity(batch * steps * keys)
        for sequence in 0..<batch {
            for query in 0..<steps {
                // A padding query sees itself only, so no row of the softmax is empty (its
                // output is never used).
                let isPadding = marks[sequence][query]
                for key in 0..<keys {
                    allowed.append(isPadding ? key == length + query : key <= length + query && !padding[sequence][key])
                }
            }
        }
        return (try Tensor(integers: positionIds, shape: [batch, steps]), try Tensor(booleans: allowed, shape: [batch, 1, steps, keys]))
    }

    /// Marks the positions registered by `advance` as held.
    func commit(steps: Int) { length += steps }

    /// Writes the new positions' keys and values (B, heads, T, d) after the held ones and
    /// returns all of them.
    func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor) throws -> (keys: Tensor, values: Tensor) {
        let end = length + newKeys.shape[2]
        try withNoGrad {
            try keys[layer].slice(axis: 2, start: length, end: end).copy(from: newKeys.detach())
            try values[layer].slice(axis: 2, start: length, end: end).copy(from: newValues.detach())
        }
        return (try keys[layer].slice(axis: 2, start: 0, end: end), try values[layer].slice(axis: 2, start: 0, end: end))
    }
}
