import CortexCore

/// What a ``Parameter`` or ``Buffer`` property may hold: a tensor, or an optional one
/// (`bias` when a layer is built without it).
public protocol TensorSlotValue {
    var slotTensor: Tensor? { get }
    init(slotTensor: Tensor?)
}

extension Tensor: TensorSlotValue {
    public var slotTensor: Tensor? { self }
    public init(slotTensor: Tensor?) { self = slotTensor! }
}

extension Optional: TensorSlotValue where Wrapped == Tensor {
    public var slotTensor: Tensor? { self }
    public init(slotTensor: Tensor?) { self = slotTensor }
}

/// A module property found by reflection: parameters are trained, buffers (BatchNorm's running
/// statistics) are saved and loaded but not trained.
protocol TensorSlot: AnyObject {
    var tensor: Tensor? { get set }
    var key: String? { get }
    var isBuffer: Bool { get }
}

/// A trainable tensor of a ``Module``; it always requires gradients (unless frozen).
/// Its checkpoint key is the property name in snake_case (PyTorch's spelling) unless `key` says otherwise.
///
/// ```swift
/// final class Scale: Module, Layer {
///     @Parameter var factor = try! Tensor.ones([1])
///     func forward(_ x: Tensor) throws -> Tensor { try x * factor }
/// }
/// ```
@propertyWrapper
public final class Parameter<Value: TensorSlotValue>: TensorSlot, @unchecked Sendable {
    private var value: Value
    let key: String?
    var isBuffer: Bool { false }

    public init(wrappedValue: Value, key: String? = nil) {
        var tensor = wrappedValue.slotTensor
        tensor?.requiresGrad = true
        self.value = Value(slotTensor: tensor)
        self.key = key
    }

    public var wrappedValue: Value {
        get { value }
        set {
            var tensor = newValue.slotTensor
            tensor?.requiresGrad = true
            value = Value(slotTensor: tensor)
        }
    }

    var tensor: Tensor? {
        get { value.slotTensor }
        set { wrappedValue = Value(slotTensor: newValue) }
    }
}

/// A non-trainable tensor of a ``Module`` that belongs in its state dict (running statistics).
@propertyWrapper
public final class Buffer<Value: TensorSlotValue>: TensorSlot, @unchecked Sendable {
    public var wrappedValue: Value
    let key: String?
    var isBuffer: Bool { true }

    public init(wrappedValue: Value, key: String? = nil) {
        self.wrappedValue = wrappedValue
        self.key = key
    }

    var tensor: Tensor? {
        get { wrappedValue.slotTensor }
        set { wrappedValue = Value(slotTensor: newValue) }
    }
}
