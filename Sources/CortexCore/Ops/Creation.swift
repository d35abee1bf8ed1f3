/// Tensor creation: constants, ranges, identity, Swift arrays and seeded random draws.
extension Tensor {
    /// A tensor of `shape` filled with `value`.
    ///
    /// ```swift
    /// let sevens = try Tensor.full([2, 2], value: 7)
    /// ```
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try Shapes.validate(shape, operation: "full")
        let tensor = try empty(shape, dtype: dtype, device: device)
        try tensor.backend.fill(tensor.storage, tensor.layout, with: value)
        return tensor
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try full(shape, value: 0, dtype: dtype, device: device)
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try full(shape, value: 1, dtype: dtype, device: device)
    }

    /// A scalar (rank-0) tensor.
    public static func scalar(_ value: Float, device: Device = .cpu) throws -> Tensor {
        try full([], value: Double(value), device: device)
    }

    /// Zeros shaped like `other`.
    public static func zeros(like other: Tensor) throws -> Tensor {
        try zeros(other.shape, dtype: other.dtype, device: other.device)
    }

    /// Values from `start` up to (not including) `end` in steps of `step`, as `torch.arange`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32,
                              device: Device = .cpu) throws -> Tensor {
        guard step != 0, step.isFinite, start.isFinite, end.isFinite else {
            throw CortexError.invalidArgument(operation: "arange", reason: "step \(step) with start \(start) and end \(end)")
        }
        let count = Swift.max(Int(((end - start) / step).rounded(.up)), 0)
        let values = (0..<count).map { start + Double($0) * step }
        return try fromDoubles(values, shape: [count], dtype: dtype, device: device)
    }

    /// `count` evenly spaced values from `start` to `end` inclusive, as `torch.linspace`.
    public static func linspace(_ start: Double, _ end: Double, count: Int, device: Device = .cpu) throws -> Tensor {
        guard count >= 0 else { throw CortexError.invalidArgument(operation: "linspace", reason: "negative count \(count)") }
        let step = count > 1 ? (end - start) / Double(count - 1) : 0
        // Like PyTorch, fill the second half from the end so the last value is exactly `end`.
        let values = (0..<count).map { index in
            index < count / 2 ? start + step * Double(index) : end - step * Double(count - 1 - index)
        }
        return try fromDoubles(values, shape: [count], dtype: .float32, device: device)
    }

    /// The `rows x columns` identity matrix.
    public static func eye(_ rows: Int, _ columns: Int? = nil, dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        let columns = columns ?? rows
        try Shapes.validate([rows, columns], operation: "eye")
        var values = [Double](repeating: 0, count: rows * columns)
        for index in 0..<Swift.min(rows, columns) { values[index * columns + index] = 1 }
        return try fromDoubles(values, shape: [rows, columns], dtype: dtype, device: device)
    }

    static func fromDoubles(_ values: [Double], shape: [Int], dtype: DType, device: Device) throws -> Tensor {
        if dtype.isFloatingPoint {
            return try Tensor(values.map { Float($0) }, shape: shape, device: device).to(dtype)
        }
        return try Tensor(integers: values.map { Int($0) }, shape: shape, dtype: dtype == .bool ? .int64 : dtype, device: device).to(dtype)
    }

    /// A float32 tensor holding `values` in row-major order.
    ///
    /// ```swift
    /// let x = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    /// ```
    public init(_ values: [Float], shape: [Int]? = nil, device: Device = .cpu) throws {
        let shape = shape ?? [values.count]
        try Shapes.validate(shape, operation: "Tensor(_:shape:)")
        guard shape.reduce(1, *) == values.count else {
            throw CortexError.shapeMismatch(operation: "Tensor(_:shape:)", shapes: [shape, [values.count]],
                                            reason: "(shape and number of values) disagree")
        }
        let backend = try Backends.backend(for: device)
        let storage = try values.withUnsafeBytes { try backend.upload($0, dtype: .float32, count: values.count) }
        self.init(storage: storage, layout: Layout(contiguous: shape))
    }

    /// A float32 matrix from rows of equal length.
    public init(_ rows: [[Float]], device: Device = .cpu) throws {
        let columns = rows.first?.count ?? 0
        for (index, row) in rows.enumerated() where row.count != columns {
            throw CortexError.shapeMismatch(operation: "Tensor(rows)", shapes: [[columns], [row.count]],
                                            reason: "(row 0 and row \(index) lengths) differ")
        }
        try self.init(rows.flatMap { $0 }, shape: [rows.count, columns], device: device)
    }

    /// An integer tensor (int64 by default; int32 for compact indices).
    public init(integers values: [Int], shape: [Int]? = nil, dtype: DType = .int64, device: Device = .cpu) throws {
        let shape = shape ?? [values.count]
        try Shapes.validate(shape, operation: "Tensor(integers:shape:)")
        guard dtype.isInteger else {
            throw CortexError.dtypeMismatch(operation: "Tensor(integers:)", expected: "int32 or int64", got: dtype.rawValue)
        }
        guard shape.reduce(1, *) == values.count else {
            throw CortexError.shapeMismatch(operation: "Tensor(integers:)", shapes: [shape, [values.count]],
                                            reason: "(shape and number of values) disagree")
        }
        let backend = try Backends.backend(for: device)
        let storage: Storage
        if dtype == .int64 {
            let converted = values.map { Int64($0) }
            storage = try converted.withUnsafeBytes { try backend.upload($0, dtype: .int64, count: values.count) }
        } else {
            let converted = values.map { Int32(truncatingIfNeeded: $0) }
            storage = try converted.withUnsafeBytes { try backend.upload($0, dtype: .int32, count: values.count) }
        }
        self.init(storage: storage, layout: Layout(contiguous: shape))
    }

    /// A bool mask.
    public init(booleans values: [Bool], shape: [Int]? = nil, device: Device = .cpu) throws {
        let shape = shape ?? [values.count]
        try Shapes.validate(shape, operation: "Tensor(booleans:shape:)")
        guard shape.reduce(1, *) == values.count else {
            throw CortexError.shapeMismatch(operation: "Tensor(booleans:)", shapes: [shape, [values.count]],
                                            reason: "(shape and number of values) disagree")
        }
        let bytes = values.map { UInt8($0 ? 1 : 0) }
        let backend = try Backends.backend(for: device)
        let storage = try bytes.withUnsafeBytes { try backend.upload($0, dtype: .bool, count: values.count) }
        self.init(storage: storage, layout: Layout(contiguous: shape))
    }

    /// Uniform samples in [0, 1), as `torch.rand`.
    public static func rand(_ shape: [Int], generator: RandomGenerator = .default, device: Device = .cpu) throws -> Tensor {
        try Shapes.validate(shape, operation: "rand")
        return try Tensor(generator.uniformFloats(shape.reduce(1, *)), shape: shape, device: device)
    }

    /// Uniform samples in [low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, generator: RandomGenerator = .default,
                               device: Device = .cpu) throws -> Tensor {
        guard low <= high else { throw CortexError.invalidArgument(operation: "uniform", reason: "low \(low) > high \(high)") }
        try Shapes.validate(shape, operation: "uniform")
        let values = generator.uniformFloats(shape.reduce(1, *)).map { low + (high - low) * $0 }
        return try Tensor(values, shape: shape, device: device)
    }

    /// Standard normal samples, as `torch.randn`; `mean` and `standardDeviation` shift and scale them.
    public static func randn(_ shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
                             generator: RandomGenerator = .default, device: Device = .cpu) throws -> Tensor {
        try Shapes.validate(shape, operation: "randn")
        let host = try Tensor.empty(shape)
        generator.fillNormal(host.storage.floats(), count: host.count, mean: mean, standardDeviation: standardDeviation)
        return device == .cpu ? host : try host.to(device)
    }

    /// 1 with probability `probability`, else 0 (float32), as `torch.bernoulli`.
    public static func bernoulli(_ shape: [Int], probability: Float, generator: RandomGenerator = .default,
                                 device: Device = .cpu) throws -> Tensor {
        guard probability >= 0, probability <= 1 else {
            throw CortexError.invalidArgument(operation: "bernoulli", reason: "probability \(probability) is outside [0, 1]")
        }
        try Shapes.validate(shape, operation: "bernoulli")
        let values = generator.uniformFloats(shape.reduce(1, *)).map { $0 < probability ? Float(1) : 0 }
        return try Tensor(values, shape: shape, device: device)
    }
}
