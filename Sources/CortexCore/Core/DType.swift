/// The element type of a tensor's storage.
///
/// `float32` is the compute type: arithmetic runs in it. `float16` and `bfloat16` are storage
/// types (checkpoints, memory) converted with ``Tensor/to(_:)-(DType)``; `int32`/`int64` hold
/// indices, `bool` holds masks and `int8` holds quantised codes (``Int8Matrix``).
///
/// ```swift
/// let half = try Tensor([1.5, 2.25]).to(.float16)
/// let back = try half.to(.float32)   // [1.5, 2.25]
/// ```
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float16, bfloat16, int32, int64, bool, int8

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int64: return 8
        case .bool, .int8: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float16 || self == .bfloat16 }
    public var isInteger: Bool { self == .int32 || self == .int64 }

    /// The safetensors spelling (`F32`, `F16`, `BF16`, `I32`, `I64`, `BOOL`, `I8`).
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int32: return "I32"
        case .int64: return "I64"
        case .bool: return "BOOL"
        case .int8: return "I8"
        }
    }

    public init?(safetensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = match
    }

    public var description: String { rawValue }
}

/// bfloat16 conversions: the upper 16 bits of an IEEE float32, rounded to nearest even.
enum BFloat16Bits {
    @inline(__always)
    static func fromFloat(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
        let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
    }

    @inline(__always)
    static func toFloat(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }
}
