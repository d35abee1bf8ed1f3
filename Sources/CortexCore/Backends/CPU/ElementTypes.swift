/// Host representations of each dtype, so copies and conversions are written once, generically.
protocol HostElement {
    static var dtype: DType { get }
    init(floatValue: Float)
    init(integerValue: Int64)
    var floatValue: Float { get }
    var integerValue: Int64 { get }
}

extension Float: HostElement {
    static var dtype: DType { .float32 }
    init(floatValue: Float) { self = floatValue }
    init(integerValue: Int64) { self = Float(integerValue) }
    var floatValue: Float { self }
    var integerValue: Int64 { self.isFinite ? Int64(self) : 0 }
}

extension Float16: HostElement {
    static var dtype: DType { .float16 }
    init(floatValue: Float) { self = Float16(floatValue) }
    init(integerValue: Int64) { self = Float16(Float(integerValue)) }
    var floatValue: Float { Float(self) }
    var integerValue: Int64 { self.isFinite ? Int64(Float(self)) : 0 }
}

/// bfloat16 as stored: the top half of a float32.
struct BFloat16: HostElement {
    var bits: UInt16
    static var dtype: DType { .bfloat16 }
    init(floatValue: Float) { bits = BFloat16Bits.fromFloat(floatValue) }
    init(integerValue: Int64) { bits = BFloat16Bits.fromFloat(Float(integerValue)) }
    var floatValue: Float { BFloat16Bits.toFloat(bits) }
    var integerValue: Int64 { let value = floatValue; return value.isFinite ? Int64(value) : 0 }
}




/// The signed integer dtypes (int8, int32, int64): floats truncate toward zero, clamped to the
/// type's range (int64's conversion from Int64 is exact); integers wrap.
protocol SignedIntegerHostElement: HostElement, FixedWidthInteger, SignedInteger {}

extension SignedIntegerHostElement {
    init(floatValue: Float) { self = floatValue.isFinite ? Self(clamping: Int64(floatValue.rounded(.towardZero))) : 0 }
    init(integerValue: Int64) { self = Self(truncatingIfNeeded: integerValue) }
    var floatValue: Float { Float(self) }
    var integerValue: Int64 { Int64(self) }
}

extension Int8: SignedIntegerHostElement { static var dtype: DType { .int8 } }
extension Int32: SignedIntegerHostElement { static var dtype: DType { .int32 } }
extension Int64: SignedIntegerHostElement { static var dtype: DType { .int64 } }

/// bool as stored: one byte, 0 or 1.
struct BoolByte: HostElement {
    var byte: UInt8
    static var dtype: DType { .bool }
    init(floatValue: Float) { byte = floatValue != 0 ? 1 : 0 }
    init(integerValue: Int64) { byte = integerValue != 0 ? 1 : 0 }
    var floatValue: Float { byte != 0 ? 1 : 0 }
    var integerValue: Int64 { byte != 0 ? 1 : 0 }
}

/// Calls `body` with the host element type of `dtype`.
@inline(__always)
func withHostElementType<Result>(_ dtype: DType, _ body: (any HostElement.Type) throws -> Result) rethrows -> Result {
    switch dtype {
    case .float32: return try body(Float.self)
    case .float16: return try body(Float16.self)
    case .bfloat16: return try body(BFloat16.self)
    case .int32: return try body(Int32.self)
    case .int64: return try body(Int64.self)
    case .bool: return try body(BoolByte.self)
    case .int8: return try body(Int8.self)
    }
}

/// Reads integer indices of either index dtype.
@inline(__always)
func readIndex(_ storage: Storage, _ position: Int) -> Int {
    if storage.dtype == .int64 {
        return Int(storage.pointer.assumingMemoryBound(to: Int64.self)[position])
    }
    return Int(storage.pointer.assumingMemoryBound(to: Int32.self)[position])
}
