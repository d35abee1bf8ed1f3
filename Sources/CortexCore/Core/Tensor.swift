/// An n-dimensional array: a cheap, `Sendable` handle over shared, reference-counted
/// ``Storage`` plus a ``Layout``. Copying a `Tensor` copies the handle; views (reshape of a
/// contiguous tensor, transpose, slicing, expand) share storage. Storage changes only through
/// the explicit in-place methods (``copy(from:)``, ``fill(with:)``, ``addInPlace(_:)``, ...).
///
/// Operations record themselves for reverse-mode autograd when an input requires gradients:
///
/// ```swift
/// let w = try Tensor.randn([3, 2], generator: RandomGenerator(seed: 0)).requiringGrad()
/// let x = try Tensor([[1, 2, 3]])
/// let loss = try (x.matmul(w)).relu().sum()
/// try loss.backward()
/// print(w.grad!.shape)   // [3, 2]
/// ```
public struct Tensor: Sendable {
    public let storage: Storage
    public let layout: Layout
    var autograd: AutogradMeta?

    public init(storage: Storage, layout: Layout) {
        self.storage = storage
        self.layout = layout
        self.autograd = nil
    }

    init(storage: Storage, layout: Layout, autograd: AutogradMeta?) {
        self.storage = storage
        self.layout = layout
        self.autograd = autograd
    }

    public var shape: [Int] { layout.shape }
    public var strides: [Int] { layout.strides }
    public var rank: Int { layout.rank }
    public var count: Int { layout.count }
    public var dtype: DType { storage.dtype }
    public var device: Device { storage.device }
    public var isContiguous: Bool { layout.isContiguous }

    /// The size of one axis (negative axes count from the end).
    public func size(_ axis: Int) throws -> Int {
        shape[try Shapes.normalize(axis: axis, rank: rank, operation: "size")]
    }

    var backend: any Backend {
        // Storage only exists for devices whose backend was available when it was made.
        (try? Backends.backend(for: device)) ?? CPUBackend.shared
    }

    /// A new, uninitialised contiguous tensor.
    /// A tensor whose elements are not initialised (as `torch.empty`): for buffers that are
    /// about to be overwritten. Large blocks cost no memory until written.
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws -> Tensor {
        try Shapes.validate(shape, operation: "empty")
        let backend = try Backends.backend(for: device)
        let storage = try backend.allocate(dtype: dtype, count: shape.reduce(1, *))
        return Tensor(storage: storage, layout: Layout(contiguous: shape))
    }

    func requireFloat32(_ operation: String) throws {
        if dtype != .float32 {
            throw CortexError.dtypeMismatch(operation: operation, expected: "float32", got: dtype.rawValue)
        }
    }

    func requireSameDevice(_ other: Tensor, _ operation: String) throws {
        if device != other.device {
            throw CortexError.deviceMismatch(operation: operation, devices: [device.description, other.device.description])
        }
    }

    /// A tensor sharing this one's storage with another layout (a view).
    func view(_ layout: Layout) -> Tensor {
        Tensor(storage: storage, layout: layout)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let values: String
        if count > 64 {
            values = "[\(count) elements]"
        } else if dtype.isInteger, let array = try? toIntArray() {
            values = "\(array)"
        } else if dtype == .bool, let array = try? toBoolArray() {
            values = "\(array)"
        } else {
            values = (try? toFloatArray()).map { "\($0)" } ?? "[unreadable]"
        }
        let gradient = requiresGrad ? ", requiresGrad" : ""
        return "Tensor(shape: \(shape), dtype: \(dtype), device: \(device)\(gradient), \(values))"
    }
}
