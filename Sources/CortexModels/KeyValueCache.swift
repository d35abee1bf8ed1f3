import CCortexKernels
import CortexCore

/// Keys and values of past positions for incremental decoding: per layer a (B, heads, room,
/// head size) buffer, written in place and read as a view of its first `length` positions (no
/// copy per step). The room doubles when it runs out, up to `capacity`, so a model with a long
/// context costs memory for the positions used, not for all it could hold. The cache also
/// keeps each sequence's position ids and which held positions are left padding, so any causal
/// model can decode batches with it.
///
/// The buffers hold float32, or float16 (`dtype: .float16`, llama.cpp's default cache type):
/// half the memory and half the bytes each decoding step reads, the values rounded to
/// float16 as they are written and widened again as attention reads them.
///
/// ```swift
/// let cache = try model.makeCache(batch: 1, dtype: .float16)
/// ```
public final class KeyValueCache: @unchecked Sendable {
    public let batch: Int
    /// Positions the buffers hold at most.
    public let capacity: Int
    /// What the buffers hold: float32 or float16.
    public let dtype: DType
    /// Positions held.
    public private(set) var length = 0
    /// Which held positions are padding, per sequence, and each sequence's next position id.
    private(set) var padding: [[Bool]]
    private(set) var nextPosition: [Int]
    var hasPadding: Bool { padding.contains { $0.contains(true) } }
    private var keys: [Tensor?], values: [Tensor?]
    private let heads: Int, headSize: Int
    /// Positions the buffers are first made for (`reserve`), 256 unless told.
    private var plannedRoom = 256

    public init(layers: Int, batch: Int, heads: Int, length: Int, headSize: Int, dtype: DType = .float32) throws {
        guard dtype == .float32 || dtype == .float16 else {
            throw CortexError.invalidArgument(operation: "KeyValueCache", reason: "a cache holds float32 or float16, not \(dtype)")
        }
        self.dtype = dtype
        self.batch = batch
        capacity = length
        self.heads = heads
        self.headSize = headSize
        padding = Array(repeating: [], count: batch)
        nextPosition = Array(repeating: 0, count: batch)
        // Buffers are made at the first append, unwritten until used.
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    /// Plans room for `positions` positions (a generation's prompt and new tokens), so the
    /// buffers are made that size once instead of growing.
    public func reserve(_ positions: Int) { plannedRoom = max(1, min(positions, capacity)) }

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

    /// Registers `steps` new positions of a single-sequence cache whose tokens take part in a
    /// step shared with other sequences (each its own cache and length), and returns the
    /// first one's position id. Call `commit(steps:)` once every layer has appended.
    func advanceAlone(steps: Int) throws -> Int {
        guard batch == 1 else {
            throw CortexError.invalidArgument(operation: "KeyValueCache", reason: "a shared step needs one cache per sequence, not one of \(batch)")
        }
        guard steps >= 1, length + steps <= capacity else {
            throw CortexError.invalidArgument(operation: "KeyValueCache", reason: "\(length) cached + \(steps) new positions exceed the context length \(capacity)")
        }
        let position = nextPosition[0]
        nextPosition[0] += steps
        padding[0] += Array(repeating: false, count: steps)
        return position
    }

    /// Marks the positions registered by `advance` as held.
    func commit(steps: Int) { length += steps }

    /// Copies float32 `source` (B, heads, T, d), whatever its strides where each row of d is
    /// contiguous, into the contiguous float32 or float16 buffer `destination` at position
    /// `start`, one memcpy (or one conversion) per row: a decoding step's few rows cost the
    /// generic strided copy more than their bytes (measured: 3% of a serving step at eight
    /// streams). False, copying nothing, for other layouts or types.
    private static func copyRows(_ source: Tensor, into destination: Tensor, at start: Int) -> Bool {
        let (shape, strides) = (source.shape, source.layout.strides)
        guard source.dtype == .float32, destination.dtype == .float32 || destination.dtype == .float16, shape.count == 4,
              destination.shape.count == 4, strides[3] == 1 || shape[3] == 1,
              destination.layout.strides == Layout(contiguous: destination.shape).strides,
              shape[0] == destination.shape[0], shape[1] == destination.shape[1], shape[3] == destination.shape[3],
              start + shape[2] <= destination.shape[2] else { return false }
        let from = source.storage.pointer.assumingMemoryBound(to: Float.self) + source.layout.offset
        let (room, size) = (destination.shape[2], shape[3])
        func forEachRow(_ body: (_ from: UnsafePointer<Float>, _ row: Int) -> Void) {
            for b in 0..<shape[0] {
                for h in 0..<shape[1] {
                    for t in 0..<shape[2] {
                        body(from + b * strides[0] + h * strides[1] + t * strides[2], ((b * shape[1] + h) * room + start + t) * size)
                    }
                }
            }
        }
        if destination.dtype == .float16 {
            let to = destination.storage.pointer.assumingMemoryBound(to: UInt16.self) + destination.layout.offset
            forEachRow { cortex_float_to_half($0, to + $1, size) }
        } else {
            let to = destination.storage.pointer.assumingMemoryBound(to: Float.self) + destination.layout.offset
            forEachRow { (to + $1).update(from: $0, count: size) }
        }
        return true
    }

    /// Writes the new positions' keys and values (B, heads, T, d) after the held ones and
    /// returns all of them, as held (`dtype`): for the fused attention kernels, which read
    /// either type.
    func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor) throws -> (keys: Tensor, values: Tensor) {
        let end = length + newKeys.shape[2]
        let room = keys[layer]?.shape[2] ?? 0
        if end > room {
            // Out of room: move the held positions into a buffer twice as large (or the capacity).
            let shape = [batch, heads, min(capacity, max(end, room == 0 ? plannedRoom : 2 * room)), headSize]
            let (grownKeys, grownValues) = (try Tensor.empty(shape, dtype: dtype), try Tensor.empty(shape, dtype: dtype))
            if let oldKeys = keys[layer], let oldValues = values[layer], length > 0 {
                try withNoGrad {
                    try grownKeys.slice(axis: 2, start: 0, end: length).copy(from: oldKeys.slice(axis: 2, start: 0, end: length))
                    try grownValues.slice(axis: 2, start: 0, end: length).copy(from: oldValues.slice(axis: 2, start: 0, end: length))
                }
            }
            (keys[layer], values[layer]) = (grownKeys, grownValues)
        }
        let (layerKeys, layerValues) = (keys[layer]!, values[layer]!)
        if !(KeyValueCache.copyRows(newKeys, into: layerKeys, at: length) && KeyValueCache.copyRows(newValues, into: layerValues, at: length)) {
            try withNoGrad {
                try layerKeys.slice(axis: 2, start: length, end: end).copy(from: newKeys.detach().to(dtype))
                try layerValues.slice(axis: 2, start: length, end: end).copy(from: newValues.detach().to(dtype))
            }
        }
        return (try layerKeys.slice(axis: 2, start: 0, end: end), try layerValues.slice(axis: 2, start: 0, end: end))
    }

    /// ``append(layer:keys:values:)``, all of them returned as float32 (widened from a float16
    /// cache), for attention through tensor ops.
    func appendAsFloat(layer: Int, keys newKeys: Tensor, values newValues: Tensor) throws -> (keys: Tensor, values: Tensor) {
        let (keys, values) = try append(layer: layer, keys: newKeys, values: newValues)
        return dtype == .float32 ? (keys, values) : (try keys.to(.float32), try values.to(.float32))
    }
}

/// Where a cache's keys or values start in memory, and whether they are float16: what the
/// fused attention kernels read (the float32 and float16 forms of each).
struct HeldRows {
    let base: UnsafeRawPointer
    let isHalf: Bool

    init(_ tensor: Tensor) {
        isHalf = tensor.dtype == .float16
        base = UnsafeRawPointer(tensor.storage.pointer) + tensor.layout.offset * tensor.dtype.byteCount
    }

    private init(base: UnsafeRawPointer, isHalf: Bool) {
        self.base = base
        self.isHalf = isHalf
    }

    /// The rows `elements` elements further on.
    func advanced(by elements: Int) -> HeldRows { HeldRows(base: base + elements * (isHalf ? 2 : 4), isHalf: isHalf) }

    private var floats: UnsafePointer<Float> { base.assumingMemoryBound(to: Float.self) }
    private var halves: UnsafePointer<UInt16> { base.assumingMemoryBound(to: UInt16.self) }

    /// `cortex_cached_attention` over these keys and values.
    static func attend(query: UnsafePointer<Float>, queryStride: Int, keys: HeldRows, values: HeldRows, rowStride: Int,
                       output: UnsafeMutablePointer<Float>, outputStride: Int, rows: Int, offset: Int, size: Int, scale: Float) {
        if keys.isHalf {
            cortex_cached_attention_half(query, queryStride, keys.halves, values.halves, rowStride, output, outputStride, rows, offset, size, scale)
        } else {
            cortex_cached_attention(query, queryStride, keys.floats, values.floats, rowStride, output, outputStride, rows, offset, size, scale)
        }
    }

    /// `cortex_cached_attention_group` over these keys and values.
    static func attendGroup(query: UnsafePointer<Float>, queryHeadStride: Int, heads: Int, keys: HeldRows, values: HeldRows, rowStride: Int,
                            output: UnsafeMutablePointer<Float>, outputHeadStride: Int, offset: Int, size: Int, scale: Float) {
        if keys.isHalf {
            cortex_cached_attention_group_half(query, queryHeadStride, heads, keys.halves, values.halves, rowStride, output, outputHeadStride,
                                               offset, size, scale)
        } else {
            cortex_cached_attention_group(query, queryHeadStride, heads, keys.floats, values.floats, rowStride, output, outputHeadStride,
                                          offset, size, scale)
        }
    }
}
