#include "cortex_kernels_internal.h"
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#define INLINE static inline __attribute__((always_inline))

INLINE float from_bits(int32_t bits) { float value; memcpy(&value, &bits, 4); return value; }
INLINE int32_t to_bits(float value) { int32_t bits; memcpy(&bits, &value, 4); return bits; }

// Polynomials follow Cephes (S. Moshier). Branch-free so they vectorise.

// e^c for c already within [-87.3, 88.7]: Cephes' reduction by ln 2 and degree-5 polynomial.
INLINE float exp_core(float c) {
    float shifted = c * 1.44269504f + 12582912.0f; // adding 1.5 * 2^23 rounds to an integer
    float n = shifted - 12582912.0f;
    float r = c - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float polynomial = p * r * r + r + 1.0f;
    int32_t exponent = to_bits(shifted) - 0x4B400000;
    int32_t half = exponent >> 1; // two factors keep 2^128 (c near 88.7) representable
    return polynomial * from_bits((half + 127) << 23) * from_bits((exponent - half + 127) << 23);
}

// e^x, about 2 ulp on [-87.3, 88.7]; 0 below, +inf above. NaN propagates through the
// clamps (comparisons with NaN are false) and the arithmetic.
INLINE float exp_f(float x) {
    const float lower = -87.33654f, upper = 88.72284f;
    float c = x < lower ? lower : x;
    c = c > upper ? upper : c;
    float result = exp_core(c);
    result = x < lower ? 0.0f : result;
    return x > upper ? INFINITY : result;
}

// e^x for x <= 0 (no overflow to handle): the inner exponential of erf and gelu's derivative.
INLINE float exp_nonpositive_f(float x) {
    const float lower = -87.33654f;
    float result = exp_core(x < lower ? lower : x);
    return x < lower ? 0.0f : result;
}

// Natural logarithm: -inf at 0, NaN below 0; denormals are treated as the smallest normal.
INLINE float log_f(float input) {
    float x = input < 1.17549435e-38f ? 1.17549435e-38f : input;
    int32_t bits = to_bits(x);
    int32_t exponent = (bits >> 23) - 126;
    float mantissa = from_bits((bits & 0x007FFFFF) | 0x3F000000); // [0.5, 1)
    int small = mantissa < 0.707106781f;
    exponent = small ? exponent - 1 : exponent;
    mantissa = (small ? mantissa + mantissa : mantissa) - 1.0f;
    float e = (float)exponent;
    float z = mantissa * mantissa;
    float p = 7.0376836292e-2f;
    p = p * mantissa - 1.1514610310e-1f;
    p = p * mantissa + 1.1676998740e-1f;
    p = p * mantissa - 1.2420140846e-1f;
    p = p * mantissa + 1.4249322787e-1f;
    p = p * mantissa - 1.6668057665e-1f;
    p = p * mantissa + 2.0000714765e-1f;
    p = p * mantissa - 2.4999993993e-1f;
    p = p * mantissa + 3.3333331174e-1f;
    float y = p * mantissa * z;
    y = y + e * -2.12194440e-4f;
    y = y - 0.5f * z;
    float result = mantissa + y + e * 0.693359375f;
    result = input == 0.0f ? -INFINITY : result;
    result = input < 0.0f ? NAN : result;
    result = input == INFINITY ? INFINITY : result;
    return input != input ? input : result;
}

INLINE float abs_f(float x) { return from_bits(to_bits(x) & 0x7FFFFFFF); }

INLINE float sigmoid_f(float x) { return 1.0f / (1.0f + exp_f(-x)); }

// tanh: odd polynomial near 0 (keeps relative precision), 1 - 2 / (e^2|x| + 1) elsewhere.
INLINE float tanh_f(float x) {
    float magnitude = abs_f(x);
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float near = p * z * x + x;
    float far = 1.0f - 2.0f / (exp_f(magnitude + magnitude) + 1.0f);
    far = x < 0.0f ? -far : far;
    return magnitude >= 0.625f ? far : near;
}

// The standard normal CDF, 0.5 (1 + erf(x / sqrt 2)), with erf by Abramowitz & Stegun 7.1.26
// (absolute error < 1.5e-7, as PyTorch's vectorised CPU path). It uses the erfc term directly,
// so the left tail keeps its relative precision instead of cancelling in 1 + erf.
INLINE float normal_cdf_f(float x) {
    float z = abs_f(x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    float half_erfc = 0.5f * p * t * exp_nonpositive_f(-z * z);
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

INLINE float gelu_f(float x) { return x * normal_cdf_f(x); }

INLINE float gelu_tanh_f(float x) {
    return 0.5f * x * (1.0f + tanh_f(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

INLINE float gelu_backward_f(float x, float g) {
    float cdf = normal_cdf_f(x);
    float pdf = exp_nonpositive_f(-0.5f * x * x) * 0.39894228040143268f;
    return g * (cdf + x * pdf);
}

INLINE float gelu_tanh_backward_f(float x, float g) {
    const float k = 0.79788456080286536f;
    float t = tanh_f(k * (x + 0.044715f * x * x * x));
    float inner_derivative = k * (1.0f + 3.0f * 0.044715f * x * x);
    return g * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * inner_derivative);
}

// softplus(x) = log(1 + e^(beta x)) / beta = (max(s, 0) + log(1 + e^-|s|)) / beta, linear above threshold.
INLINE float softplus_f(float x, float beta, float threshold) {
    float s = x * beta;
    float smooth = ((s > 0.0f ? s : 0.0f) + log_f(1.0f + exp_f(-abs_f(s)))) / beta;
    return s > threshold ? x : smooth;
}

// pow following C's powf for negative bases with integral exponents.
INLINE float power_f(float x, float y) {
    float magnitude = exp_f(y * log_f(abs_f(x)));
    float half = y * 0.5f;
    float half_rounded = (half + 12582912.0f) - 12582912.0f;
    float y_rounded = (y + 12582912.0f) - 12582912.0f;
    int integral = (y_rounded == y) | (abs_f(y) >= 8388608.0f);
    int odd = integral & (half_rounded != half);
    float result = (x < 0.0f && odd) ? -magnitude : magnitude;
    result = (x < 0.0f && !integral) ? NAN : result;
    return y == 0.0f ? 1.0f : result;
}

INLINE float power_scalar_f(float x, float exponent) {
    return power_f(x, exponent);
}

#define MAP(expression) for (long i = 0; i < n; i++) { float v = x[i]; y[i] = (expression); }

CLONES void cortex_unary(int op, const float *restrict x, float *restrict y, long n, float p0, float p1) {
    if (cortex_has_avx512()) {
        if (op == CORTEX_EXP) { cortex_avx512_exp(x, y, n, 0.0f); return; }
        if (op == CORTEX_SHIFTED_EXP) { cortex_avx512_exp(x, y, n, p0); return; }
        if (op == CORTEX_GELU) { cortex_avx512_gelu(x, y, n); return; }
    }
    switch (op) {
    case CORTEX_NEGATE: MAP(-v) break;
    case CORTEX_EXP: MAP(exp_f(v)) break;
    case CORTEX_LOG: MAP(log_f(v)) break;
    case CORTEX_SQRT: MAP(sqrtf(v)) break;
    case CORTEX_RSQRT: MAP(1.0f / sqrtf(v)) break;
    case CORTEX_ABS: MAP(abs_f(v)) break;
    case CORTEX_SIGN: MAP(v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f)) break;
    case CORTEX_RECIPROCAL: MAP(1.0f / v) break;
    case CORTEX_SQUARE: MAP(v * v) break;
    case CORTEX_SIN: MAP(sinf(v)) break;
    case CORTEX_COS: MAP(cosf(v)) break;
    case CORTEX_RELU: MAP(v < 0.0f ? 0.0f : v) break;
    case CORTEX_SIGMOID: MAP(sigmoid_f(v)) break;
    case CORTEX_TANH: MAP(tanh_f(v)) break;
    case CORTEX_GELU: MAP(gelu_f(v)) break;
    case CORTEX_GELU_TANH: MAP(gelu_tanh_f(v)) break;
    case CORTEX_SILU: MAP(v * sigmoid_f(v)) break;
    case CORTEX_SOFTPLUS: MAP(softplus_f(v, p0, p1)) break;
    case CORTEX_LEAKY_RELU: MAP(v < 0.0f ? v * p0 : v) break;
    case CORTEX_POWER_SCALAR:
        if (p0 == 2.0f) { MAP(v * v) } else if (p0 == 3.0f) { MAP(v * v * v) } else if (p0 == 1.0f) { MAP(v) }
        else if (p0 == 0.5f) { MAP(sqrtf(v)) } else if (p0 == -1.0f) { MAP(1.0f / v) } else if (p0 == 0.0f) { MAP(1.0f) }
        else { MAP(power_scalar_f(v, p0)) }
        break;
    case CORTEX_CLAMP: MAP(v < p0 ? p0 : (v > p1 ? p1 : v)) break;
    case CORTEX_AFFINE: MAP(v * p0 + p1) break;
    case CORTEX_SHIFTED_EXP: MAP(exp_f(v - p0)) break;
    }
}

INLINE float binary_f(int op, float a, float b, float p0, float p1) {
    switch (op) {
    case CORTEX_ADD: return a + b;
    case CORTEX_SUBTRACT: return a - b;
    case CORTEX_MULTIPLY: return a * b;
    case CORTEX_DIVIDE: return a / b;
    case CORTEX_POWER: return power_f(a, b);
    case CORTEX_MAXIMUM: return (b > a || b != b) ? b : a;
    case CORTEX_MINIMUM: return (b < a || b != b) ? b : a;
    case CORTEX_RELU_BACKWARD: return a <= 0.0f ? 0.0f : b;
    case CORTEX_SIGMOID_BACKWARD_FROM_OUTPUT: return b * a * (1.0f - a);
    case CORTEX_TANH_BACKWARD_FROM_OUTPUT: return b * (1.0f - a * a);
    case CORTEX_GELU_BACKWARD: return gelu_backward_f(a, b);
    case CORTEX_GELU_TANH_BACKWARD: return gelu_tanh_backward_f(a, b);
    case CORTEX_SILU_BACKWARD: { float s = sigmoid_f(a); return b * s * (1.0f + a * (1.0f - s)); }
    case CORTEX_SOFTPLUS_BACKWARD: return a * p0 > p1 ? b : b * sigmoid_f(a * p0);
    case CORTEX_LEAKY_RELU_BACKWARD: return a <= 0.0f ? b * p0 : b;
    case CORTEX_CLAMP_BACKWARD: return (a < p0 || a > p1) ? 0.0f : b;
    case CORTEX_LOG_SOFTMAX_BACKWARD: return b - exp_f(a) * p0;
    case CORTEX_SOFTMAX_BACKWARD: return a * (b - p0);
    default: return 0.0f;
    }
}

// One loop per stride pattern so the compiler sees unit-stride or invariant operands.
#define ZIP(OP) \
    case OP: \
        if (a_stride == 1 && b_stride == 1) { for (long i = 0; i < n; i++) y[i] = binary_f(OP, a[i], b[i], p0, p1); } \
        else if (a_stride == 1) { float s = b[0]; for (long i = 0; i < n; i++) y[i] = binary_f(OP, a[i], s, p0, p1); } \
        else if (b_stride == 1) { float s = a[0]; for (long i = 0; i < n; i++) y[i] = binary_f(OP, s, b[i], p0, p1); } \
        else { float s = binary_f(OP, a[0], b[0], p0, p1); for (long i = 0; i < n; i++) y[i] = s; } \
        break;

CLONES void cortex_binary(int op, const float *a, long a_stride, const float *b, long b_stride, float *y, long n,
                          float p0, float p1) {
    switch (op) {
    ZIP(CORTEX_ADD) ZIP(CORTEX_SUBTRACT) ZIP(CORTEX_MULTIPLY) ZIP(CORTEX_DIVIDE) ZIP(CORTEX_POWER)
    ZIP(CORTEX_MAXIMUM) ZIP(CORTEX_MINIMUM) ZIP(CORTEX_RELU_BACKWARD) ZIP(CORTEX_SIGMOID_BACKWARD_FROM_OUTPUT)
    ZIP(CORTEX_TANH_BACKWARD_FROM_OUTPUT) ZIP(CORTEX_GELU_BACKWARD) ZIP(CORTEX_GELU_TANH_BACKWARD)
    ZIP(CORTEX_SILU_BACKWARD) ZIP(CORTEX_SOFTPLUS_BACKWARD) ZIP(CORTEX_LEAKY_RELU_BACKWARD)
    ZIP(CORTEX_CLAMP_BACKWARD) ZIP(CORTEX_LOG_SOFTMAX_BACKWARD) ZIP(CORTEX_SOFTMAX_BACKWARD)
    }
}

// no_builtin keeps the compiler from turning the loop into a memcpy call.
CLONES __attribute__((no_builtin("memcpy"))) void cortex_copy(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) y[i] = x[i];
}

CLONES void cortex_transpose32(const unsigned int *restrict x, long ld, unsigned int *restrict y, long m, long n) {
    enum { TILE = 32 };
    for (long r0 = 0; r0 < m; r0 += TILE) {
        long r1 = r0 + TILE < m ? r0 + TILE : m;
        for (long c0 = 0; c0 < n; c0 += TILE) {
            long c1 = c0 + TILE < n ? c0 + TILE : n;
            for (long r = r0; r < r1; r++)
                for (long c = c0; c < c1; c++) y[r * n + c] = x[c * ld + r];
        }
    }
}

// The common 2 x 2, stride 2, unpadded window: every window lies inside the plane, so each
// output is the running maximum of four values in PyTorch's visiting order (a later NaN or
// larger value takes over), written branch-free so it vectorises.
static inline void max_pool2d_2x2_plane(const float *restrict x, long w, long oh, long ow, float *restrict values,
                                        long long *restrict indices) {
    for (long i = 0; i < oh; i++) {
        const float *top = x + 2 * i * w, *bottom = top + w;
        float *best = values + i * ow;
        long long *where = indices + i * ow;
        long long base = 2 * i * w;
        for (long j = 0; j < ow; j++) {
            float value = top[2 * j];
            long long position = base + 2 * j;
            float candidate = top[2 * j + 1];
            int take = candidate > value || candidate != candidate;
            value = take ? candidate : value;
            position = take ? base + 2 * j + 1 : position;
            candidate = bottom[2 * j];
            take = candidate > value || candidate != candidate;
            value = take ? candidate : value;
            position = take ? base + w + 2 * j : position;
            candidate = bottom[2 * j + 1];
            take = candidate > value || candidate != candidate;
            value = take ? candidate : value;
            position = take ? base + w + 2 * j + 1 : position;
            best[j] = value;
            where[j] = position;
        }
    }
}

CLONES void cortex_max_pool2d_plane(const float *restrict x, long h, long w, long kh, long kw, long sh, long sw, long ph,
                                    long pw, long dh, long dw, long oh, long ow, float *restrict values, long long *restrict indices) {
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1 && 2 * oh <= h && 2 * ow <= w) {
        max_pool2d_2x2_plane(x, w, oh, ow, values, indices);
        return;
    }
    for (long i = 0; i < oh * ow; i++) { values[i] = -INFINITY; indices[i] = -1; }
    for (long i = 0; i < oh; i++) {
        float *best = values + i * ow;
        long long *where = indices + i * ow;
        for (long a = 0; a < kh; a++) {
            long row = i * sh - ph + a * dh;
            if (row < 0 || row >= h) continue;
            const float *line = x + row * w;
            for (long b = 0; b < kw; b++) {
                // Output columns whose window column lies inside the image.
                long offset = b * dw - pw;
                long first = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
                long last = (w - 1 - offset) < 0 ? -1 : (w - 1 - offset) / sw;
                if (last >= ow) last = ow - 1;
                for (long j = first; j <= last; j++) {
                    long column = j * sw + offset;
                    float value = line[column];
                    int take = value > best[j] || value != value || where[j] < 0;
                    best[j] = take ? value : best[j];
                    where[j] = take ? row * w + column : where[j];
                }
            }
        }
    }
}

INLINE float combine_f(int op, float a, float b) {
    if (op == CORTEX_SUM) return a + b;
    if (op == CORTEX_MAX) return (b > a || b != b) ? b : a;
    return (b < a || b != b) ? b : a;
}

// 64 independent lanes: vectorisable without reassociating one serial sum, and more accurate.
#define LANES 64
CLONES float cortex_reduce(int op, const float *x, long n) {
    if (op == CORTEX_SUM && n >= 4096 && cortex_has_avx512()) return cortex_avx512_sum(x, n);
    float identity = op == CORTEX_SUM ? 0.0f : (op == CORTEX_MAX ? -INFINITY : INFINITY);
    float lanes[LANES];
    for (int lane = 0; lane < LANES; lane++) lanes[lane] = identity;
    long i = 0;
    if (op == CORTEX_SUM) {
        for (; i + LANES <= n; i += LANES) for (int lane = 0; lane < LANES; lane++) lanes[lane] += x[i + lane];
    } else if (op == CORTEX_MAX) {
        for (; i + LANES <= n; i += LANES) for (int lane = 0; lane < LANES; lane++) lanes[lane] = combine_f(CORTEX_MAX, lanes[lane], x[i + lane]);
    } else {
        for (; i + LANES <= n; i += LANES) for (int lane = 0; lane < LANES; lane++) lanes[lane] = combine_f(CORTEX_MIN, lanes[lane], x[i + lane]);
    }
    for (int width = LANES / 2; width >= 1; width /= 2)
        for (int lane = 0; lane < width; lane++) lanes[lane] = combine_f(op, lanes[lane], lanes[lane + width]);
    float result = lanes[0];
    for (; i < n; i++) result = combine_f(op, result, x[i]);
    return result;
}

CLONES void cortex_reduce_into(int op, float *restrict accumulator, const float *restrict x, long n) {
    if (op == CORTEX_SUM) { for (long i = 0; i < n; i++) accumulator[i] += x[i]; }
    else if (op == CORTEX_MAX) { for (long i = 0; i < n; i++) accumulator[i] = combine_f(CORTEX_MAX, accumulator[i], x[i]); }
    else { for (long i = 0; i < n; i++) accumulator[i] = combine_f(CORTEX_MIN, accumulator[i], x[i]); }
}

CLONES void cortex_softmax_row(const float *restrict x, float *restrict y, long n, int logarithm) {
    if (cortex_has_avx512()) { cortex_avx512_softmax_row(x, y, n, logarithm); return; }
    float maximum = cortex_reduce(CORTEX_MAX, x, n);
    if (logarithm) {
        float lanes[LANES] = {0};
        long i = 0;
        for (; i + LANES <= n; i += LANES) for (int lane = 0; lane < LANES; lane++) lanes[lane] += exp_nonpositive_f(x[i + lane] - maximum);
        float sum = 0.0f;
        for (int lane = 0; lane < LANES; lane++) sum += lanes[lane];
        for (; i < n; i++) sum += exp_nonpositive_f(x[i] - maximum);
        float shift = maximum + logf(sum);
        for (long j = 0; j < n; j++) y[j] = x[j] - shift;
    } else {
        // Exponentials and their sum in one pass (x - maximum <= 0, so no overflow).
        float lanes[LANES] = {0};
        long i = 0;
        for (; i + LANES <= n; i += LANES) {
            for (int lane = 0; lane < LANES; lane++) {
                float e = exp_nonpositive_f(x[i + lane] - maximum);
                y[i + lane] = e;
                lanes[lane] += e;
            }
        }
        float sum = 0.0f;
        for (int lane = 0; lane < LANES; lane++) sum += lanes[lane];
        for (; i < n; i++) { y[i] = exp_nonpositive_f(x[i] - maximum); sum += y[i]; }
        float scale = 1.0f / sum;
        for (long j = 0; j < n; j++) y[j] *= scale;
    }
}

CLONES void cortex_softmax_backward_row(const float *restrict y, const float *restrict g, float *restrict out, long n, int logarithm) {
    if (logarithm) {
        float total = cortex_reduce(CORTEX_SUM, g, n);
        for (long i = 0; i < n; i++) out[i] = g[i] - exp_f(y[i]) * total;
    } else {
        for (long i = 0; i < n; i++) out[i] = y[i] * g[i];
        float dot = cortex_reduce(CORTEX_SUM, out, n);
        for (long i = 0; i < n; i++) out[i] = y[i] * (g[i] - dot);
    }
}

CLONES void cortex_float_to_half(const float *restrict x, unsigned short *restrict y, long n) {
    _Float16 *out = (_Float16 *)y;
    for (long i = 0; i < n; i++) out[i] = (_Float16)x[i];
}

CLONES void cortex_half_to_float(const unsigned short *restrict x, float *restrict y, long n) {
    const _Float16 *in = (const _Float16 *)x;
    for (long i = 0; i < n; i++) y[i] = (float)in[i];
}

// bfloat16 is the top half of a float32, rounded to nearest even; NaNs stay quiet NaNs.
CLONES void cortex_float_to_bfloat(const float *restrict x, unsigned short *restrict y, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)to_bits(x[i]);
        uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
        uint32_t quiet = (bits >> 16) | 0x40u;
        y[i] = (unsigned short)(x[i] != x[i] ? quiet : rounded);
    }
}

CLONES void cortex_bfloat_to_float(const unsigned short *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) y[i] = from_bits((int32_t)((uint32_t)x[i] << 16));
}

// Value i of a key or value row held as float32 (half = 0) or float16 (half = 1).
static inline float held_value(const void *row, long i, int half) {
    return half ? (float)((const _Float16 *)row)[i] : ((const float *)row)[i];
}

// Causal attention of `rows` query rows of one head against the keys held in a cache: query
// row t sits at position offset + t and sees keys 0...offset + t. Rows of q, k, v and out are
// d values apart by their strides (in elements); scores are exp(q.k * scale - max), normalised,
// and the output is their weighted sum of values, as softmax(q K^T * scale) V. Keys and values
// are float32, or float16 where `half` is 1.
static void cached_attention(const float *q, long q_stride, const void *k, const void *v, long kv_stride, float *out, long out_stride,
                             long rows, long offset, long d, float scale, int half) {
    long keys = offset + rows;
    float stack_scores[2048];
    float *scores = keys <= 2048 ? stack_scores : malloc(sizeof(float) * (size_t)keys);
    if (!scores) return;
    for (long t = 0; t < rows; t++) {
        const float *query = q + t * q_stride;
        long seen = offset + t + 1;
        float maximum = -INFINITY;
        if (!(cortex_has_avx512() && cortex_avx512_attention_scores(query, k, kv_stride, seen, d, scale, scores, &maximum, half))) {
            for (long j = 0; j < seen; j++) {
                const void *key = cortex_held_row(k, j * kv_stride, half);
                if (half) {
                    float total = 0;
                    for (long i = 0; i < d; i++) total += query[i] * held_value(key, i, 1);
                    scores[j] = total * scale;
                } else {
                    scores[j] = cortex_dot_lanes(query, key, d) * scale;
                }
                if (scores[j] > maximum) maximum = scores[j];
            }
        }
        float total = 0;
        if (cortex_has_avx512()) {
            // The exponentials 16 at a time (the scalar expf per key was a tenth of decoding).
            cortex_avx512_exp(scores, scores, seen, maximum);
            total = cortex_avx512_sum(scores, seen);
        } else {
            for (long j = 0; j < seen; j++) {
                scores[j] = expf(scores[j] - maximum);
                total += scores[j];
            }
        }
        float *result = out + t * out_stride;
        if (cortex_has_avx512() && cortex_avx512_attend_values(scores, v, kv_stride, seen, d, 1.0f / total, result, half)) continue;
        for (long i = 0; i < d; i++) result[i] = 0;
        for (long j = 0; j < seen; j++) {
            const void *value = cortex_held_row(v, j * kv_stride, half);
            float weight = scores[j] / total;
            for (long i = 0; i < d; i++) result[i] += weight * held_value(value, i, half);
        }
    }
    if (scores != stack_scores) free(scores);
}

CLONES void cortex_cached_attention(const float *q, long q_stride, const float *k, const float *v, long kv_stride, float *out,
                                    long out_stride, long rows, long offset, long d, float scale) {
    cached_attention(q, q_stride, k, v, kv_stride, out, out_stride, rows, offset, d, scale, 0);
}

CLONES void cortex_cached_attention_half(const float *q, long q_stride, const unsigned short *k, const unsigned short *v, long kv_stride,
                                         float *out, long out_stride, long rows, long offset, long d, float scale) {
    cached_attention(q, q_stride, k, v, kv_stride, out, out_stride, rows, offset, d, scale, 1);
}

// One query row (at position `offset`) of each of `group` heads that share one key/value head,
// their rows q_head_stride apart, attending to keys 0...offset; head g's output at
// out + g * out_head_stride. Each key and value row is read once for the group. As
// cached_attention gives each head, up to summation order.
static void cached_attention_group(const float *q, long q_head_stride, long group, const void *k, const void *v, long kv_stride,
                                   float *out, long out_head_stride, long offset, long d, float scale, int half) {
    const long seen = offset + 1;
    if (cortex_has_avx512() && group <= 8 && (d == 64 || d == 128)) {
        float stack_scores[4096];
        float *scores = group * seen <= 4096 ? stack_scores : malloc(sizeof(float) * (size_t)(group * seen));
        if (scores && cortex_avx512_grouped_attention(q, q_head_stride, group, k, v, kv_stride, seen, d, scale, scores, out, out_head_stride, half)) {
            if (scores != stack_scores) free(scores);
            return;
        }
        if (scores != stack_scores) free(scores);
    }
    for (long g = 0; g < group; g++)
        cached_attention(q + g * q_head_stride, d, k, v, kv_stride, out + g * out_head_stride, d, 1, offset, d, scale, half);
}

CLONES void cortex_cached_attention_group(const float *q, long q_head_stride, long group, const float *k, const float *v, long kv_stride,
                                          float *out, long out_head_stride, long offset, long d, float scale) {
    cached_attention_group(q, q_head_stride, group, k, v, kv_stride, out, out_head_stride, offset, d, scale, 0);
}

CLONES void cortex_cached_attention_group_half(const float *q, long q_head_stride, long group, const unsigned short *k, const unsigned short *v,
                                               long kv_stride, float *out, long out_head_stride, long offset, long d, float scale) {
    cached_attention_group(q, q_head_stride, group, k, v, kv_stride, out, out_head_stride, offset, d, scale, 1);
}

// The first index of the largest of n values (what a loop keeping the first strictly larger
// value finds: NaNs never win, and a NaN first value keeps index 0), in two passes the
// compiler vectorises: the largest value in sixteen lanes, then the first block holding it.
CLONES long cortex_first_largest(const float *x, long n) {
    if (n <= 1 || x[0] != x[0]) return 0;
    float lanes[16];
    for (int k = 0; k < 16; k++) lanes[k] = x[0];
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) lanes[k] = x[i + k] > lanes[k] ? x[i + k] : lanes[k];
    float largest = x[0];
    for (int k = 0; k < 16; k++) largest = lanes[k] > largest ? lanes[k] : largest;
    for (; i < n; i++) largest = x[i] > largest ? x[i] : largest;
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        int found = 0;
        for (int k = 0; k < 16; k++) found |= x[j + k] == largest;
        if (found) break;
    }
    for (; j < n; j++)
        if (x[j] == largest) return j;
    return 0;
}

// silu(gate) * up, element by element, as the two ops compute it (a SwiGLU feed-forward's
// middle, fused for inference).
CLONES void cortex_silu_multiply(const float *gate, const float *up, float *y, long n) {
    for (long i = 0; i < n; i++) {
        float activated = gate[i] * sigmoid_f(gate[i]);
        y[i] = activated * up[i];
    }
}

/* out[r] = sum over the row's n values of x^2, for `rows` contiguous rows (per-example squared
   gradient norms for differential privacy): one pass, no squared temporary. Eight partial sums
   so the loop vectorises without reassociating one accumulator. */
CLONES void cortex_row_sum_squares(const float *restrict x, long rows, long n, float *restrict out) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * n;
        float partial[16] = {0};
        long i = 0;
        for (; i + 16 <= n; i += 16) {
            for (int k = 0; k < 16; k++) partial[k] += row[i + k] * row[i + k];
        }
        float total = 0;
        for (int k = 0; k < 16; k++) total += partial[k];
        for (; i < n; i++) total += row[i] * row[i];
        out[r] = total;
    }
}
