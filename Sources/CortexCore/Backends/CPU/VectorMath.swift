/// Vectorised transcendental functions on 16 floats at a time.
///
/// Written with SIMD types and bit tricks only (no per-lane libm calls, no float<->int
/// conversions that baseline x86-64 lacks), so a default `-c release` build turns each into a
/// handful of SSE instructions per lane group. Polynomials follow Cephes (S. Moshier).
typealias FloatVector = SIMD16<Float>
typealias IntVector = SIMD16<Int32>

enum VectorMath {
    static let magicRound: Float = 12_582_912 // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
    static let magicRoundBits: Int32 = 0x4B40_0000

    /// e^x, relative error about 2 ulp on [-87, 88]; 0 below, +inf above; NaN propagates.
    @inline(__always)
    static func exp(_ x: FloatVector) -> FloatVector {
        let lower = FloatVector(repeating: -87.33654)
        let upper = FloatVector(repeating: 88.72284)
        let clampedInput = x.replacing(with: lower, where: x .< lower).replacing(with: upper, where: x .> upper)
        let shifted = clampedInput * 1.442_695_04 + magicRound
        let n = shifted - magicRound
        var r = clampedInput - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = FloatVector(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let polynomial = p * r * r + r + 1
        let exponent = unsafeBitCast(shifted, to: IntVector.self) &- magicRoundBits
        // Split 2^n in two factors so n = 128 (x near 88.7) does not overflow the exponent field.
        let half = exponent &>> 1
        let scaleA = unsafeBitCast((half &+ 127) &<< 23, to: FloatVector.self)
        let scaleB = unsafeBitCast((exponent &- half &+ 127) &<< 23, to: FloatVector.self)
        var result = polynomial * scaleA * scaleB
        result = result.replacing(with: 0, where: x .< lower)
        result = result.replacing(with: .infinity, where: x .> upper)
        return result
    }

    /// Natural logarithm; -inf at 0, NaN below 0.
    @inline(__always)
    static func log(_ input: FloatVector) -> FloatVector {
        // Treat denormals as the smallest normal; they are far below float32 training ranges.
        let smallest = FloatVector(repeating: Float.leastNormalMagnitude)
        let x = input.replacing(with: smallest, where: input .< smallest)
        let bits = unsafeBitCast(x, to: IntVector.self)
        var exponent = (bits &>> 23) &- 126
        var mantissa = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: FloatVector.self) // [0.5, 1)
        let small = mantissa .< 0.707_106_781
        exponent = exponent.replacing(with: exponent &- 1, where: unsafeBitCast(small, to: SIMDMask<IntVector>.self))
        mantissa = mantissa.replacing(with: mantissa + mantissa, where: small) - 1
        let e = unsafeBitCast(exponent &+ magicRoundBits, to: FloatVector.self) - magicRound
        let z = mantissa * mantissa
        var p = FloatVector(repeating: 7.037_683_629_2e-2)
        p = p * mantissa - 1.151_461_031_0e-1
        p = p * mantissa + 1.167_699_874_0e-1
        p = p * mantissa - 1.242_014_084_6e-1
        p = p * mantissa + 1.424_932_278_7e-1
        p = p * mantissa - 1.666_805_766_5e-1
        p = p * mantissa + 2.000_071_476_5e-1
        p = p * mantissa - 2.499_999_399_3e-1
        p = p * mantissa + 3.333_333_117_4e-1
        var y = p * mantissa * z
        y = y + e * -2.121_944_40e-4
        y = y - 0.5 * z
        var result = mantissa + y + e * 0.693_359_375
        result = result.replacing(with: -.infinity, where: input .== 0)
        result = result.replacing(with: .nan, where: input .< 0)
        result = result.replacing(with: .infinity, where: input .== .infinity)
        result = result.replacing(with: input, where: input .!= input)
        return result
    }

    @inline(__always)
    static func sigmoid(_ x: FloatVector) -> FloatVector {
        1 / (1 + exp(-x))
    }

    /// tanh: Cephes' odd polynomial near 0 (keeps relative precision), 1 - 2/(e^2x + 1) elsewhere.
    @inline(__always)
    static func tanh(_ x: FloatVector) -> FloatVector {
        let magnitude = abs(x)
        let z = x * x
        var p = FloatVector(repeating: -5.704_988_727_45e-3)
        p = p * z + 2.063_908_879_54e-2
        p = p * z - 5.373_971_555_31e-2
        p = p * z + 1.333_144_220_36e-1
        p = p * z - 3.333_328_194_22e-1
        let near = p * z * x + x
        let e = exp(magnitude + magnitude)
        var far = 1 - 2 / (e + 1)
        far = far.replacing(with: -far, where: x .< 0)
        return near.replacing(with: far, where: magnitude .>= 0.625)
    }

    /// erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7), as PyTorch's vectorised CPU path.
    @inline(__always)
    static func erf(_ x: FloatVector) -> FloatVector {
        let magnitude = abs(x)
        let t = 1 / (1 + 0.327_591_1 * magnitude)
        var p = FloatVector(repeating: 1.061_405_429)
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        let y = 1 - p * t * exp(-magnitude * magnitude)
        return y.replacing(with: -y, where: x .< 0)
    }

    @inline(__always)
    static func abs(_ x: FloatVector) -> FloatVector {
        unsafeBitCast(unsafeBitCast(x, to: IntVector.self) & 0x7FFF_FFFF, to: FloatVector.self)
    }

    @inline(__always)
    static func gelu(_ x: FloatVector) -> FloatVector {
        0.5 * x * (1 + erf(x * 0.707_106_781_186_547_5))
    }

    @inline(__always)
    static func geluTanh(_ x: FloatVector) -> FloatVector {
        0.5 * x * (1 + tanh(0.797_884_560_802_865_4 * (x + 0.044_715 * x * x * x)))
    }

    @inline(__always)
    static func geluBackward(_ x: FloatVector, _ gradient: FloatVector) -> FloatVector {
        let cdf = 0.5 * (1 + erf(x * 0.707_106_781_186_547_5))
        let pdf = exp(-0.5 * x * x) * 0.398_942_280_401_432_7
        return gradient * (cdf + x * pdf)
    }

    @inline(__always)
    static func geluTanhBackward(_ x: FloatVector, _ gradient: FloatVector) -> FloatVector {
        let k: Float = 0.797_884_560_802_865_4
        let inner = k * (x + 0.044_715 * x * x * x)
        let t = tanh(inner)
        let innerDerivative = k * (1 + 3 * 0.044_715 * x * x)
        return gradient * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * innerDerivative)
    }

    /// softplus(x) = log(1 + e^(beta x)) / beta, linear above `threshold` as in PyTorch.
    @inline(__always)
    static func softplus(_ x: FloatVector, beta: Float, threshold: Float) -> FloatVector {
        let scaled = x * beta
        // log1p(e^s) = max(s, 0) + log(1 + e^-|s|) stays accurate for large negative s.
        let positive = scaled.replacing(with: 0, where: scaled .< 0)
        let smooth = (positive + log(1 + exp(-abs(scaled)))) / beta
        return smooth.replacing(with: x, where: scaled .> threshold)
    }

    /// pow for a scalar exponent: repeated multiplication for small integers, exp(y log x) otherwise.
    @inline(__always)
    static func power(_ x: FloatVector, _ exponent: Float) -> FloatVector {
        switch exponent {
        case 0: return FloatVector(repeating: 1)
        case 1: return x
        case 2: return x * x
        case 3: return x * x * x
        case -1: return 1 / x
        case 0.5: return x.squareRoot()
        default: return power(x, FloatVector(repeating: exponent))
        }
    }

    /// pow with tensor exponents, following C's powf for negative bases with integral exponents.
    @inline(__always)
    static func power(_ x: FloatVector, _ y: FloatVector) -> FloatVector {
        let magnitude = exp(y * log(abs(x)))
        // Parity of an integral exponent decides the sign of a negative base.
        let half = y * 0.5
        let halfRounded = (half + magicRound) - magicRound
        let yRounded = (y + magicRound) - magicRound
        let integral = (yRounded .== y) .| (abs(y) .>= 8_388_608)
        let odd = integral .& (halfRounded .!= half)
        var result = magnitude.replacing(with: -magnitude, where: (x .< 0) .& odd)
        result = result.replacing(with: .nan, where: (x .< 0) .& .!integral)
        result = result.replacing(with: 1, where: y .== 0)
        return result
    }
}
