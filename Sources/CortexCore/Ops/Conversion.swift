/// Copies, dtype and device conversion, reading values back into Swift, and in-place updates.
extension Tensor {
    /// A contiguous tensor with the same values: `self` when already contiguous, else a copy.
    public func contiguous() throws -> Tensor {
        if isContiguous { return self }
        return try clone()
    }

    /// A contiguous copy with its own storage (differentiable: the gradient passes through).
    public func clone() throws -> Tensor {
        let output = try Tensor.empty(shape, dtype: dtype, device: device)
        try backend.copy(storage, layout, to: output.storage, output.layout)
        return output.recorded("clone", [self]) { gradient in [gradient] }
    }

    /// Converts elements to `dtype` (floats round to nearest even; floats to integers truncate).
    /// Between floating-point types the conversion is differentiable: the gradient comes back
    /// converted to the source's type (as autocast's casts in PyTorch).
    public func to(_ dtype: DType) throws -> Tensor {
        if dtype == self.dtype { return self }
        let output = try Tensor.empty(shape, dtype: dtype, device: device)
        try backend.copy(storage, layout, to: output.storage, output.layout)
        guard dtype.isFloatingPoint && self.dtype.isFloatingPoint else { return output }
        let source = self.dtype
        return output.recorded("to", [self]) { gradient in [try gradient.to(source)] }
    }

    /// Moves the tensor to `device` (no copy if it is already there).
    public func to(_ device: Device) throws -> Tensor {
        if device == self.device { return self }
        let target = try Backends.backend(for: device)
        let host = try contiguous()
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(host.count * dtype.byteCount, 1), alignment: 64)
        defer { bytes.deallocate() }
        try host.backend.download(host.storage, host.layout, into: bytes)
        let storage = try target.upload(UnsafeRawBufferPointer(start: bytes, count: host.count * dtype.byteCount),
                                        dtype: dtype, count: host.count)
        let moved = Tensor(storage: storage, layout: Layout(contiguous: shape))
        return moved.recorded("to(\(device))", [self]) { gradient in [try gradient.to(self.device)] }
    }

    /// Copies the viewed elements to host memory in row-major order, in this tensor's dtype.
    func withHostBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        let byteCount = count * dtype.byteCount
        if device == .cpu && isContiguous {
            return try body(UnsafeRawBufferPointer(start: storage.pointer + layout.offset * dtype.byteCount, count: byteCount))
        }
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(byteCount, 1), alignment: 64)
        defer { bytes.deallocate() }
        try backend.download(storage, layout, into: bytes)
        return try body(UnsafeRawBufferPointer(start: bytes, count: byteCount))
    }

    /// The values as Floats (any dtype converts).
    public func toFloatArray() throws -> [Float] {
        let values = try to(.float32)
        return try values.withHostBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The values as Ints (floats truncate).
    public func toIntArray() throws -> [Int] {
        let values = try to(.int64)
        return try values.withHostBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
    }

    /// The values as Bools (non-zero is true).
    public func toBoolArray() throws -> [Bool] {
        let values = try to(.bool)
        return try values.withHostBytes { $0.map { $0 != 0 } }
    }

    /// The single value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else {
            throw CortexError.invalidArgument(operation: "item", reason: "tensor of shape \(shape) has \(count) elements, not 1")
        }
        return try toFloatArray()[0]
    }

    // MARK: In-place updates (the only way a storage changes)

    func checkInPlace(_ operation: String) throws {
        if GradMode.isEnabled && requiresGrad {
            throw CortexError.autograd("\(operation) on a tensor that requires gradients; do it inside withNoGrad or on a detached tensor")
        }
    }

    /// Overwrites this tensor's elements with `source` (broadcast to this shape, dtype converted).
    public func copy(from source: Tensor) throws {
        try checkInPlace("copy(from:)")
        try requireSameDevice(source, "copy(from:)")
        let expanded = try source.expand(shape)
        try backend.copy(expanded.storage, expanded.layout, to: storage, layout)
    }

    /// Sets every element to `value`.
    public func fill(with value: Double) throws {
        try checkInPlace("fill(with:)")
        try backend.fill(storage, layout, with: value)
    }

    /// self += alpha * other (other broadcast to this shape).
    public func addInPlace(_ other: Tensor, alpha: Float = 1) throws {
        try checkInPlace("addInPlace")
        let increment = alpha == 1 ? other : try other * alpha
        try assignResult(withNoGrad { try self + increment })
    }

    /// self *= factor.
    public func multiplyInPlace(_ factor: Float) throws {
        try checkInPlace("multiplyInPlace")
        try assignResult(withNoGrad { try self * factor })
    }

    /// self = self * other (other broadcast to this shape).
    public func multiplyInPlace(_ other: Tensor) throws {
        try checkInPlace("multiplyInPlace")
        try assignResult(withNoGrad { try self * other })
    }

    private func assignResult(_ result: Tensor) throws {
        guard result.shape == shape else {
            throw CortexError.shapeMismatch(operation: "in-place update", shapes: [shape, result.shape],
                                            reason: "(the result would change this tensor's shape)")
        }
        try backend.copy(result.storage, result.layout, to: storage, layout)
    }
}
