// Hand-vectorised AVX-512 exp and softmax rows. The portable kernels in kernels.c compute the
// same functions with the same polynomial; these add what the compiler cannot derive from
// portable C: vroundscaleps for the reduction and vscalefps for 2^n (overflow to inf and
// gradual underflow handled by the instruction, no integer exponent arithmetic). Measured
// on this project's Xeon: exp 2.97 -> 3.64 and softmax 2.19 -> 2.52 Gelem/s per core in L1.
// (gelu with vrcp14ps in place of its division measured no faster, so it stays portable.)
// Chosen at run time only on CPUs with AVX-512F/DQ.
#include "cortex_kernels_internal.h"
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx512f,avx512dq"))), apply_to = function)

// e^c for c in [-104, 89]: Cephes' reduction and polynomial, 2^n by vscalefps.
static inline __m512 exp512_core(__m512 c) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), c);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 polynomial = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(polynomial, n);
}

static inline __m512 exp512(__m512 x) {
    // Outside [-104, 89] the result is 0 or inf; clamping keeps the reduction exact there.
    __m512 result = exp512_core(_mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f)));
    // min/max drop NaN; put it back.
    return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

// exp for arguments known to be at most 0 and not NaN (x minus a finite row maximum): no upper
// clamp and no NaN repair.
static inline __m512 exp512_nonpositive(__m512 x) { return exp512_core(_mm512_max_ps(x, _mm512_set1_ps(-104.0f))); }

// Applies `FUNCTION` (an __m512 -> __m512 expression of v) to x[0..<n], tail by masks.
#define MAP512(FUNCTION)                                                              \
    long i = 0;                                                                       \
    for (; i + 16 <= n; i += 16) {                                                    \
        __m512 v = _mm512_loadu_ps(x + i);                                            \
        _mm512_storeu_ps(y + i, FUNCTION);                                            \
    }                                                                                 \
    if (i < n) {                                                                      \
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);                            \
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);                                \
        _mm512_mask_storeu_ps(y + i, mask, FUNCTION);                                 \
    }

// gelu(x) = x * Phi(x) with kernels.c's formula (Abramowitz & Stegun 7.1.26 for erfc), its
// division by a reciprocal estimate and one Newton step (relative error ~1e-8) and its
// exponential by exp512_nonpositive. |x| / sqrt 2 is capped at 1e4, where Phi is exactly 0
// or 1, so infinities never meet the reciprocal; NaN stays NaN through x itself.
static inline __m512 gelu512(__m512 x) {
    __m512 magnitude = _mm512_abs_ps(x);
    __m512 z = _mm512_min_ps(_mm512_mul_ps(magnitude, _mm512_set1_ps(0.70710678118654752f)), _mm512_set1_ps(1e4f));
    __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
    __m512 t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
    __m512 e = exp512_nonpositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z));
    __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), p), t), e);
    __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 cdf = _mm512_mask_mov_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), half_erfc), negative, half_erfc);
    return _mm512_mul_ps(x, cdf);
}

void cortex_avx512_gelu(const float *x, float *y, long n) {
    MAP512(gelu512(v))
}

void cortex_avx512_exp(const float *x, float *y, long n, float shift) {
    __m512 s = _mm512_set1_ps(shift);
    MAP512(exp512(_mm512_sub_ps(v, s)))
}

// The maximum of a row, NaN if any element is NaN (as torch.max): four independent vmaxps
// chains, with NaNs noted by an unordered compare rather than by the max itself.
static inline float row_maximum(const float *x, long n) {
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    __mmask16 nan = 0;
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
        nan |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v2, v3, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, v0);
        m1 = _mm512_max_ps(m1, v1);
        m2 = _mm512_max_ps(m2, v2);
        m3 = _mm512_max_ps(m3, v3);
    }
    for (; i < n; i += 16) {
        __mmask16 mask = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), mask, x + i);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        m0 = _mm512_max_ps(m0, v);
    }
    if (nan) return NAN;
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

void cortex_avx512_softmax_row(const float *x, float *y, long n, int logarithm) {
    float maximum = row_maximum(x, n);
    // A finite maximum (the usual case) allows the lean exp; inf and NaN rows take the careful
    // one, which gives PyTorch's NaNs.
    int finite = maximum > -INFINITY && maximum < INFINITY;
    __m512 shift = _mm512_set1_ps(maximum);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0;
    long i = 0;
    for (; finite && i + 32 <= n; i += 32) {
        __m512 e0 = exp512_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(x + i), shift));
        __m512 e1 = exp512_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), shift));
        if (!logarithm) { _mm512_storeu_ps(y + i, e0); _mm512_storeu_ps(y + i + 16, e1); }
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
    }
    for (; i + 32 <= n; i += 32) {
        __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), shift));
        __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), shift));
        if (!logarithm) { _mm512_storeu_ps(y + i, e0); _mm512_storeu_ps(y + i + 16, e1); }
        sum0 = _mm512_add_ps(sum0, e0);
        sum1 = _mm512_add_ps(sum1, e1);
    }
    for (; i < n; i += 16) {
        __mmask16 mask = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 e = _mm512_maskz_mov_ps(mask, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + i), shift)));
        if (!logarithm) _mm512_mask_storeu_ps(y + i, mask, e);
        sum0 = _mm512_add_ps(sum0, e);
    }
    float total = _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1));
    if (logarithm) {
        cortex_unary(CORTEX_AFFINE, x, y, n, 1.0f, -(maximum + logf(total)));
        return;
    }
    __m512 scale = _mm512_set1_ps(1.0f / total);
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), scale));
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, y + i), scale));
    }
}

// Sum of a long row: four accumulators and software prefetch 4 KiB ahead, which measured
// about 5% faster than the hardware prefetcher alone on 64 MiB (L3-sized) inputs.
float cortex_avx512_sum(const float *x, long n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int line = 0; line < 4; line++) _mm_prefetch((const char *)(x + i + 1024 + 16 * line), _MM_HINT_T0);
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    float total = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < n; i++) total += x[i];
    return total;
}

// Key and value rows are float32 (half = 0) or float16 (half = 1, a float16 cache): sixteen
// of a row's values from `index` on, as floats. `half` is a constant in every caller, so
// each form compiles to its own loop.
static inline __attribute__((always_inline)) __m512 load_sixteen(const void *row, long index, const int half) {
    return half ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const unsigned short *)row + index)))
                : _mm512_loadu_ps((const float *)row + index);
}

// Σ_j weights[j] · v[j] (rows `stride` apart) times `scale`, into result, for rows of
// 16 × chunks floats: the accumulators stay in registers across the keys, two sets for even
// and odd keys so the adds to each are not one chain.
static inline __attribute__((always_inline)) void attend_values(const float *weights, const void *v, long stride, long seen, const int chunks,
                                                                float scale, float *result, const int half) {
    __m512 even[8], odd[8];
    for (int c = 0; c < chunks; c++) even[c] = odd[c] = _mm512_setzero_ps();
    long j = 0;
    for (; j + 2 <= seen; j += 2) {
        const __m512 first = _mm512_set1_ps(weights[j]), second = _mm512_set1_ps(weights[j + 1]);
        const void *a = cortex_held_row(v, j * stride, half), *b = cortex_held_row(a, stride, half);
        for (int c = 0; c < chunks; c++) {
            even[c] = _mm512_fmadd_ps(first, load_sixteen(a, 16 * c, half), even[c]);
            odd[c] = _mm512_fmadd_ps(second, load_sixteen(b, 16 * c, half), odd[c]);
        }
    }
    if (j < seen) {
        const __m512 last = _mm512_set1_ps(weights[j]);
        for (int c = 0; c < chunks; c++) even[c] = _mm512_fmadd_ps(last, load_sixteen(v, j * stride + 16 * c, half), even[c]);
    }
    for (int c = 0; c < chunks; c++) _mm512_storeu_ps(result + 16 * c, _mm512_mul_ps(_mm512_add_ps(even[c], odd[c]), _mm512_set1_ps(scale)));
}

// The sums of sixteen vectors' lanes, sum i in lane i: pairs within 128-bit lanes, then
// quads, then across the 128-bit lanes (45 shuffles and adds for sixteen sums, where sixteen
// horizontal sums take sixteen chains of dependent adds).
static inline __m512 sixteen_sums(__m512 a[16]) {
    __m512 pairs[8], quads[4];
    for (int i = 0; i < 8; i++)
        pairs[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    // pairs[i] per 128-bit lane: [a0 + a2, b0 + b2, a1 + a3, b1 + b3] of a = a[2i], b = a[2i + 1].
    for (int i = 0; i < 4; i++)
        quads[i] = _mm512_add_ps(_mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], 0x44), _mm512_shuffle_ps(pairs[2 * i], pairs[2 * i + 1], 0xEE));
    // quads[i] per 128-bit lane: the lane's sums of vectors 4i ... 4i + 3.
    const __m512 low = _mm512_add_ps(_mm512_shuffle_f32x4(quads[0], quads[1], 0x88), _mm512_shuffle_f32x4(quads[0], quads[1], 0xDD));
    const __m512 high = _mm512_add_ps(_mm512_shuffle_f32x4(quads[2], quads[3], 0x88), _mm512_shuffle_f32x4(quads[2], quads[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(low, high, 0x88), _mm512_shuffle_f32x4(low, high, 0xDD));
}

// q · row for a row of 16 × chunks values, in the lanes of one vector (summed across them by
// the caller): the chunks' products in two chains, even and odd.
static inline __attribute__((always_inline)) __m512 key_products(const float *q, const void *row, const int chunks, const int half) {
    __m512 even = _mm512_mul_ps(_mm512_loadu_ps(q), load_sixteen(row, 0, half));
    __m512 odd = _mm512_mul_ps(_mm512_loadu_ps(q + 16), load_sixteen(row, 16, half));
    #pragma clang loop unroll(full)
    for (int c = 2; c < chunks; c += 2) {
        even = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16 * c), load_sixteen(row, 16 * c, half), even);
        odd = _mm512_fmadd_ps(_mm512_loadu_ps(q + 16 * c + 16), load_sixteen(row, 16 * c + 16, half), odd);
    }
    return _mm512_add_ps(even, odd);
}

// The scores q · k_j × scale of sixteen keys (rows `stride` apart from k), key i in lane i: the
// sixteen unrolled so that their products stay in registers.
static inline __attribute__((always_inline)) __m512 sixteen_scores(const float *q, const void *k, long stride, const int chunks, float scale,
                                                                   const int half) {
    __m512 dots[16];
    #pragma clang loop unroll(full)
    for (int key = 0; key < 16; key++) dots[key] = key_products(q, cortex_held_row(k, key * stride, half), chunks, half);
    return _mm512_mul_ps(sixteen_sums(dots), _mm512_set1_ps(scale));
}

// One key's score q · row × scale.
static inline __attribute__((always_inline)) float one_score(const float *q, const void *row, const int chunks, float scale, const int half) {
    return _mm512_reduce_add_ps(key_products(q, row, chunks, half)) * scale;
}

// scores[j] = q · k_j × scale for `seen` keys (rows `stride` apart) of 16 × chunks values,
// sixteen keys at a time; returns the largest score.
static inline __attribute__((always_inline)) float attention_scores(const float *q, const void *k, long stride, long seen, const int chunks,
                                                                    float scale, float *scores, const int half) {
    __m512 largest = _mm512_set1_ps(-INFINITY);
    long j = 0;
    for (; j + 16 <= seen; j += 16) {
        const __m512 sums = sixteen_scores(q, cortex_held_row(k, j * stride, half), stride, chunks, scale, half);
        _mm512_storeu_ps(scores + j, sums);
        largest = _mm512_max_ps(largest, sums);
    }
    float maximum = _mm512_reduce_max_ps(largest);
    for (; j < seen; j++) {
        scores[j] = one_score(q, cortex_held_row(k, j * stride, half), chunks, scale, half);
        if (scores[j] > maximum) maximum = scores[j];
    }
    return maximum;
}

int cortex_avx512_attention_scores(const float *q, const void *k, long stride, long seen, long d, float scale, float *scores, float *maximum,
                                   int half) {
    if (d != 64 && d != 128) return 0;
    if (half) *maximum = d == 64 ? attention_scores(q, k, stride, seen, 4, scale, scores, 1) : attention_scores(q, k, stride, seen, 8, scale, scores, 1);
    else *maximum = d == 64 ? attention_scores(q, k, stride, seen, 4, scale, scores, 0) : attention_scores(q, k, stride, seen, 8, scale, scores, 0);
    return 1;
}

// One query row of each of `group` heads that share one key/value head (grouped-query
// attention) against that head's `seen` keys: the key and value rows are read once for all
// the heads. Scores go sixteen keys at a time, every head taking the block while its rows are
// in L1; values accumulate every head's sum in registers as each value row passes.
static inline __attribute__((always_inline)) void grouped_attention(const float *q, long q_head_stride, const int group, const void *k,
                                                                    const void *v, long stride, long seen, const int chunks, float scale,
                                                                    float *scores, float *out, long out_head_stride, const int half) {
    float maximum[8];
    __m512 largest[8];
    for (int g = 0; g < group; g++) largest[g] = _mm512_set1_ps(-INFINITY);
    long j = 0;
    for (; j + 16 <= seen; j += 16) {
        for (int g = 0; g < group; g++) {
            const __m512 sums = sixteen_scores(q + g * q_head_stride, cortex_held_row(k, j * stride, half), stride, chunks, scale, half);
            _mm512_storeu_ps(scores + g * seen + j, sums);
            largest[g] = _mm512_max_ps(largest[g], sums);
        }
    }
    for (int g = 0; g < group; g++) maximum[g] = _mm512_reduce_max_ps(largest[g]);
    for (; j < seen; j++) {
        for (int g = 0; g < group; g++) {
            const float score = one_score(q + g * q_head_stride, cortex_held_row(k, j * stride, half), chunks, scale, half);
            scores[g * seen + j] = score;
            if (score > maximum[g]) maximum[g] = score;
        }
    }
    float inverse[8];
    for (int g = 0; g < group; g++) {
        cortex_avx512_exp(scores + g * seen, scores + g * seen, seen, maximum[g]);
        inverse[g] = 1.0f / cortex_avx512_sum(scores + g * seen, seen);
    }
    // Σ_j weights[g][j] · v_j for every head g, `width` chunks of 16 floats of the head size at
    // a time, as many as keep the group's sums in registers (four for up to three heads).
    const int width = group <= 3 ? 4 : 2;
    for (int c = 0; c < chunks; c += width) {
        __m512 sums[8][4];
        for (int g = 0; g < group; g++)
            for (int w = 0; w < width; w++) sums[g][w] = _mm512_setzero_ps();
        for (long key = 0; key < seen; key++) {
            __m512 row[4];
            for (int w = 0; w < width; w++) row[w] = load_sixteen(v, key * stride + 16 * (c + w), half);
            for (int g = 0; g < group; g++) {
                const __m512 weight = _mm512_set1_ps(scores[g * seen + key]);
                for (int w = 0; w < width; w++) sums[g][w] = _mm512_fmadd_ps(weight, row[w], sums[g][w]);
            }
        }
        for (int g = 0; g < group; g++)
            for (int w = 0; w < width; w++)
                _mm512_storeu_ps(out + g * out_head_stride + 16 * (c + w), _mm512_mul_ps(sums[g][w], _mm512_set1_ps(inverse[g])));
    }
}

int cortex_avx512_grouped_attention(const float *q, long q_head_stride, long group, const void *k, const void *v, long stride, long seen,
                                    long d, float scale, float *scores, float *out, long out_head_stride, int half) {
    if (group < 1 || group > 8 || (d != 64 && d != 128)) return 0;
    const int chunks = d == 64 ? 4 : 8;
    #define GROUP_FORM(G, C, H) grouped_attention(q, q_head_stride, G, k, v, stride, seen, C, scale, scores, out, out_head_stride, H)
    #define GROUP_CASE(G) \
        case G: \
            if (half) { if (chunks == 4) GROUP_FORM(G, 4, 1); else GROUP_FORM(G, 8, 1); } \
            else { if (chunks == 4) GROUP_FORM(G, 4, 0); else GROUP_FORM(G, 8, 0); } \
            return 1;
    switch (group) {
        GROUP_CASE(1) GROUP_CASE(2) GROUP_CASE(3) GROUP_CASE(4) GROUP_CASE(5) GROUP_CASE(6) GROUP_CASE(7) GROUP_CASE(8)
    }
    #undef GROUP_CASE
    #undef GROUP_FORM
    return 0;
}

int cortex_avx512_attend_values(const float *weights, const void *v, long stride, long seen, long d, float scale, float *result, int half) {
    if (d != 64 && d != 128) return 0;
    if (half) { if (d == 64) attend_values(weights, v, stride, seen, 4, scale, result, 1); else attend_values(weights, v, stride, seen, 8, scale, result, 1); }
    else { if (d == 64) attend_values(weights, v, stride, seen, 4, scale, result, 0); else attend_values(weights, v, stride, seen, 8, scale, result, 0); }
    return 1;
}

#pragma clang attribute pop

static _Thread_local int avx512_allowed = 1;

int cortex_has_avx512(void) {
    static int available = -1;
    if (available < 0) available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return available && avx512_allowed == 1;
}

void cortex_allow_avx512(int allowed) { avx512_allowed = allowed; }
int cortex_avx512_allowed(void) { return avx512_allowed; }
