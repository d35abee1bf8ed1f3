// Integer matrix-vector products over ggml's block formats, as llama.cpp computes them: the
// activations are quantised once per product to 8 bits in blocks of 32 (scale d = max|x| / 127,
// q = round(x / d)), and each weight block meets an activation block in one AVX512-VNNI
// `vpdpbusd` (unsigned 8-bit weights times signed 8-bit activations, summed in 32 bits),
// scaled by the two blocks' scales in float.
//
// Formats whose weights are offset (Q4_0's q - 8, Q4_1's + m, Q4_K's - dmin * m, Q6_K's q - 32)
// multiply the unsigned codes and correct with the activation blocks' sums, which the
// quantiser stores beside the codes (per 32 values and per 16). Q8_0's signed codes take the
// sign trick instead: |w| times x with w's sign.
//
// A tile of up to 4 weight rows meets up to 4 activation vectors: each weight block is unpacked
// once per tile and each activation block loaded once per row, with 16 independent
// accumulators in flight.
#include "cortex_kernels_internal.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>


// Layout of the activations buffer for m vectors of n values (n a multiple of 32): the codes
// (m * n bytes), then per vector its block scales (n / 32 floats), the blocks' sums d * Σq
// (n / 32), and the sums of each 16 values (n / 16).
typedef struct {
    const int8_t *codes;
    const float *scales, *sums32, *sums16;
} activation_block_view;

// How far ahead of each weight row's current block the kernels prefetch: far enough that
// four rows' streams keep enough lines in flight (measured on Zen 4, one core: Q4_1 at 13.5
// GB/s with 1 KiB, 21.8 with 4 KiB, 25.5 with 8 KiB).
#ifndef PREFETCH_DISTANCE
#define PREFETCH_DISTANCE 8192
#endif

static long round_up64(long bytes) { return (bytes + 63) & ~63L; }

long cortex_q8_activation_bytes(long n, long m) {
    return round_up64(m * n) + m * (n / 32) * 8 + m * (n / 16) * 4 + 64;
}

static activation_block_view activation_view(const void *buffer, long n, long m, long vector) {
    const uint8_t *base = (const uint8_t *)(((uintptr_t)buffer + 63) & ~(uintptr_t)63);
    const float *scales = (const float *)(base + round_up64(m * n));
    const float *sums32 = scales + m * (n / 32);
    const float *sums16 = sums32 + m * (n / 32);
    activation_block_view view = {(const int8_t *)base + vector * n, scales + vector * (n / 32), sums32 + vector * (n / 32),
                                  sums16 + vector * (n / 16)};
    return view;
}

int cortex_has_avx512_vnni(void) {
    static int available = -1;
    if (available < 0)
        available = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
    // Not switched off by cortex_allow_avx512, which selects among float kernels: the
    // integer path has no portable twin to compare with.
    return available;
}

int cortex_quant_has_integer_path(int type, long n) {
    if (!cortex_has_avx512_vnni()) return 0;
    switch (type) {
    case CORTEX_QUANT_Q8_0: case CORTEX_QUANT_Q4_0: case CORTEX_QUANT_Q4_1: return n % 32 == 0;
    case CORTEX_QUANT_Q4_K: case CORTEX_QUANT_Q6_K: return n % 256 == 0;
    default: return 0;
    }
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c"))), apply_to = function)

// One vector of n values into a view's codes, scales and sums. Rounding is to nearest even,
// as ggml's vector quantisers round.
static void quantize_vector(const float *v, long n, activation_block_view view) {
    int8_t *codes = (int8_t *)view.codes;
    float *scales = (float *)view.scales, *sums32 = (float *)view.sums32, *sums16 = (float *)view.sums16;
    for (long b = 0; b < n / 32; b++, v += 32) {
        __m512 low = _mm512_loadu_ps(v), high = _mm512_loadu_ps(v + 16);
        float largest = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(low), _mm512_abs_ps(high)));
        float d = largest / 127.0f, inverse = largest > 0 ? 127.0f / largest : 0.0f;
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(low, _mm512_set1_ps(inverse)));
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(high, _mm512_set1_ps(inverse)));
        _mm_storeu_si128((__m128i *)(codes + 32 * b), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(codes + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
        int s0 = _mm512_reduce_add_epi32(q0), s1 = _mm512_reduce_add_epi32(q1);
        scales[b] = d;
        sums16[2 * b] = d * (float)s0;
        sums16[2 * b + 1] = d * (float)s1;
        sums32[b] = d * (float)(s0 + s1);
    }
}

// m vectors x (row i at x + i * x_stride) into the buffer's codes, scales and sums.
void cortex_q8_quantize(const float *x, long x_stride, long n, long m, void *buffer) {
    for (long i = 0; i < m; i++) quantize_vector(x + i * x_stride, n, activation_view(buffer, n, m, i));
}

// As cortex_q8_quantize, into 2m vectors: vector 2i holds the codes of x_i, vector 2i + 1 the
// codes of what they leave out (x_i minus its rounded blocks, quantised the same way), so
// products with the two sum to the product with x_i within about 1/32,000 of each block's
// largest value instead of 1/254.
void cortex_q8_quantize_refined(const float *x, long x_stride, long n, long m, void *buffer) {
    float residual[4096];
    for (long i = 0; i < m; i++) {
        const float *v = x + i * x_stride;
        // Quantise x_i into vector 2i, block by block, then its residual into vector 2i + 1.
        activation_block_view view = activation_view(buffer, n, 2 * m, 2 * i);
        quantize_vector(v, n, view);
        for (long start = 0; start < n; start += 4096) {
            long count = n - start < 4096 ? n - start : 4096;
            for (long k = 0; k < count; k++) {
                float rounded = (float)view.codes[start + k] * view.scales[(start + k) / 32];
                residual[k] = v[start + k] - rounded;
            }
            activation_block_view rest = activation_view(buffer, n, 2 * m, 2 * i + 1);
            rest.codes += start;
            rest.scales += start / 32;
            rest.sums32 += start / 32;
            rest.sums16 += start / 16;
            quantize_vector(residual, count, rest);
        }
    }
}

static inline float horizontal_sum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Q4_0 / Q4_1: 32 nibbles in value order (low nibbles are values 0-15, high ones 16-31).
static inline __m256i unpack_nibbles32(const uint8_t *bytes) {
    __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)bytes));
    return _mm256_and_si256(_mm256_srlv_epi64(raw, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

static inline __m256 dot_u8_s8(__m256i weights, __m256i codes) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), weights, codes));
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *scale, uint8_t *minimum) {
    if (j < 4) {
        *scale = q[j] & 63;
        *minimum = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *minimum = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// One group of `count` (at most 8) Q4_0 / Q4_1 blocks of R rows (w at the group's first block,
// rows row_bytes apart) against V vectors, block k's contribution added to lane k of acc[r][v].
static inline __attribute__((always_inline)) void q4_group(int type, const uint8_t *w, long row_bytes, long bytes, const int R,
                                                         const activation_block_view *x, long g, const int V, const int count, __m256 acc[4][4]) {
    const __mmask8 mask = (__mmask8)((1u << count) - 1);
    const __m256i block_offsets = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)bytes));
    for (int r = 0; r < R; r++) {
        const uint8_t *p = w + r * row_bytes;
        _mm_prefetch((const char *)(p + PREFETCH_DISTANCE), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + PREFETCH_DISTANCE + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + PREFETCH_DISTANCE + 128), _MM_HINT_T0);
        // The group's (d, m) float16 pairs: d in the low half of each 32-bit word.
        const __m256i pairs = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), mask, block_offsets, p, 1);
        const __m256 d = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(pairs));
        const __m256 offset = type == CORTEX_QUANT_Q4_1 ? _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(pairs, 16)))
                                                        : _mm256_mul_ps(d, _mm256_set1_ps(-8.0f));
        __m256i weights[8];
        for (int k = 0; k < 8; k++) weights[k] = k < count ? unpack_nibbles32(p + k * bytes + bytes - 16) : _mm256_setzero_si256();
        for (int v = 0; v < V; v++) {
            const int8_t *codes = x[v].codes + 32 * g;
            #define DOT(k) (k < count ? _mm256_dpbusd_epi32(_mm256_setzero_si256(), weights[k], _mm256_loadu_si256((const __m256i *)(codes + 32 * k))) \
                                      : _mm256_setzero_si256())
            // Lane sums of the eight dot vectors, block k in lane k.
            const __m256i quads0 = _mm256_hadd_epi32(_mm256_hadd_epi32(DOT(0), DOT(1)), _mm256_hadd_epi32(DOT(2), DOT(3)));
            const __m256i quads1 = _mm256_hadd_epi32(_mm256_hadd_epi32(DOT(4), DOT(5)), _mm256_hadd_epi32(DOT(6), DOT(7)));
            #undef DOT
            const __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(quads0, quads1, 0x20), _mm256_permute2x128_si256(quads0, quads1, 0x31));
            const __m256 x_scales = _mm256_maskz_loadu_ps(mask, x[v].scales + g), x_sums = _mm256_maskz_loadu_ps(mask, x[v].sums32 + g);
            acc[r][v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(d, x_scales), acc[r][v]);
            acc[r][v] = _mm256_fmadd_ps(offset, x_sums, acc[r][v]);
        }
    }
}

// R rows (at w, row_bytes apart) against V vectors; out[v * R + r]. R and V are constants
// where this is inlined.
static inline __attribute__((always_inline)) void integer_tile(int type, const uint8_t *w, long row_bytes, const int R, long n,
                                                             const activation_block_view *x, const int V, float *out) {
    __m256 acc[4][4];
    __m512 correction[4][4];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) { acc[r][v] = _mm256_setzero_ps(); correction[r][v] = _mm512_setzero_ps(); }
    switch (type) {
    case CORTEX_QUANT_Q4_0:
    case CORTEX_QUANT_Q4_1: {
        // Eight blocks at a time, one block per lane: each block's integer dot products are
        // summed across their lanes (exactly, in 32 bits), so its two scales and its offset
        // term are applied once per eight blocks in vectors instead of once per block in
        // scalars. acc[r][v] lane k collects block k of every group. A last group of fewer
        // than eight blocks takes the same arithmetic with the missing blocks zero.
        const long bytes = type == CORTEX_QUANT_Q4_1 ? 20 : 18, blocks = n / 32;
        for (long g = 0; g < blocks; g += 8) {
            if (blocks - g >= 8) q4_group(type, w + g * bytes, row_bytes, bytes, R, x, g, V, 8, acc);
            else q4_group(type, w + g * bytes, row_bytes, bytes, R, x, g, V, (int)(blocks - g), acc);
        }
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++) out[v * R + r] = horizontal_sum256(acc[r][v]);
        return;
    }
    case CORTEX_QUANT_Q8_0:
        for (long b = 0; b < n / 32; b++) {
            __m256i codes[4];
            for (int v = 0; v < V; v++) codes[v] = _mm256_loadu_si256((const __m256i *)(x[v].codes + 32 * b));
            for (int r = 0; r < R; r++) {
                const uint8_t *p = w + r * row_bytes + b * 34;
                _mm_prefetch((const char *)(p + PREFETCH_DISTANCE), _MM_HINT_T0);
                const float d = _mm_cvtss_f32(cortex_half_pair_at(p));
                __m256i weights = _mm256_loadu_si256((const __m256i *)(p + 2));
                __m256i magnitudes = _mm256_abs_epi8(weights);
                for (int v = 0; v < V; v++)
                    acc[r][v] = _mm256_fmadd_ps(dot_u8_s8(magnitudes, _mm256_sign_epi8(codes[v], weights)), _mm256_set1_ps(d * x[v].scales[b]),
                                                acc[r][v]);
            }
        }
        break;
    case CORTEX_QUANT_Q4_K:
        // Sub-block j of 32 values: d * sc_j * q - dmin * m_j, q the low nibbles of bytes
        // 32 (j / 2) ... for even j and their high nibbles for odd j.
        for (long b = 0; b < n / 256; b++) {
            for (int r = 0; r < R; r++) {
                const uint8_t *p = w + r * row_bytes + b * 144;
                const float d = cortex_half_at(p), dmin = cortex_half_at(p + 2);
                float scale[8], minimum[8];
                for (int j = 0; j < 8; j++) {
                    uint8_t s, m;
                    scale_min_k4(j, p + 4, &s, &m);
                    scale[j] = d * s;
                    minimum[j] = -dmin * m;
                }
                const __m256 minimums = _mm256_loadu_ps(minimum);
                for (int pair = 0; pair < 4; pair++) {
                    __m256i raw = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * pair));
                    __m256i low = _mm256_and_si256(raw, _mm256_set1_epi8(0x0F));
                    __m256i high = _mm256_and_si256(_mm256_srli_epi16(raw, 4), _mm256_set1_epi8(0x0F));
                    for (int v = 0; v < V; v++) {
                        const long block = 8 * b + 2 * pair;
                        __m256i c0 = _mm256_loadu_si256((const __m256i *)(x[v].codes + 32 * block));
                        __m256i c1 = _mm256_loadu_si256((const __m256i *)(x[v].codes + 32 * block + 32));
                        acc[r][v] = _mm256_fmadd_ps(dot_u8_s8(low, c0), _mm256_set1_ps(scale[2 * pair] * x[v].scales[block]), acc[r][v]);
                        acc[r][v] = _mm256_fmadd_ps(dot_u8_s8(high, c1), _mm256_set1_ps(scale[2 * pair + 1] * x[v].scales[block + 1]), acc[r][v]);
                    }
                }
                for (int v = 0; v < V; v++)
                    correction[r][v] = _mm512_add_ps(correction[r][v], _mm512_zextps256_ps512(_mm256_mul_ps(minimums, _mm256_loadu_ps(x[v].sums32 + 8 * b))));
            }
        }
        break;
    case CORTEX_QUANT_Q6_K:
        // Two halves of 128 values, each four parts of 32 (6-bit codes from a nibble of ql and
        // two bits of qh), each part's two runs of 16 scaled by their own int8 scale; x = d *
        // scale * (q - 32).
        for (long b = 0; b < n / 256; b++) {
            for (int r = 0; r < R; r++) {
                const uint8_t *p = w + r * row_bytes + b * 210;
                const float d = cortex_half_at(p + 208);
                const __m512 scales = _mm512_mul_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 192)))));
                for (int half = 0; half < 2; half++) {
                    const uint8_t *ql = p + 64 * half, *qh = p + 128 + 32 * half;
                    __m256i low_a = _mm256_loadu_si256((const __m256i *)ql), low_b = _mm256_loadu_si256((const __m256i *)(ql + 32));
                    __m256i high = _mm256_loadu_si256((const __m256i *)qh);
                    const __m256i nibble = _mm256_set1_epi8(0x0F), bits = _mm256_set1_epi8(0x03);
                    __m256i parts[4] = {
                        _mm256_or_si256(_mm256_and_si256(low_a, nibble), _mm256_slli_epi16(_mm256_and_si256(high, bits), 4)),
                        _mm256_or_si256(_mm256_and_si256(low_b, nibble), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2), bits), 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low_a, 4), nibble),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 4), bits), 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(low_b, 4), nibble),
                                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 6), bits), 4)),
                    };
                    for (int part = 0; part < 4; part++) {
                        const int first = 8 * half + 2 * part;
                        const __m256i pick = _mm256_setr_epi32(first, first, first, first, first + 1, first + 1, first + 1, first + 1);
                        const __m256 lane_scales = _mm512_castps512_ps256(_mm512_permutexvar_ps(_mm512_castsi256_si512(pick), scales));
                        const long block = 8 * b + 4 * half + part;
                        for (int v = 0; v < V; v++) {
                            __m256i codes = _mm256_loadu_si256((const __m256i *)(x[v].codes + 32 * block));
                            acc[r][v] = _mm256_fmadd_ps(dot_u8_s8(parts[part], codes), _mm256_mul_ps(lane_scales, _mm256_set1_ps(x[v].scales[block])),
                                                        acc[r][v]);
                        }
                    }
                }
                const __m512 offsets = _mm512_mul_ps(scales, _mm512_set1_ps(-32.0f));
                for (int v = 0; v < V; v++) correction[r][v] = _mm512_fmadd_ps(offsets, _mm512_loadu_ps(x[v].sums16 + 16 * b), correction[r][v]);
            }
        }
        break;
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) out[v * R + r] = horizontal_sum256(acc[r][v]) + _mm512_reduce_add_ps(correction[r][v]);
}

// `rows` rows (a multiple of R) of R-row tiles against V vectors, written to y (vector v's
// row r at y[v * y_stride + r]): one call per product for a decoding step, so the tile's
// set-up is paid once, not per tile.
static inline __attribute__((always_inline)) void integer_rows(int type, const uint8_t *w, long row_bytes, const int R, long rows, long n,
                                                             const activation_block_view *x, const int V, float *y, long y_stride) {
    float out[16];
    for (long r = 0; r < rows; r += R) {
        integer_tile(type, w + r * row_bytes, row_bytes, R, n, x, V, out);
        for (int v = 0; v < V; v++)
            for (int i = 0; i < R; i++) y[v * y_stride + r + i] = out[v * R + i];
    }
}

#define ROWS_CASES(TYPE)                                                                                     \
    case TYPE:                                                                                               \
        if (R == 4 && V == 4) integer_rows(TYPE, w, row_bytes, 4, rows, n, x, 4, y, y_stride);               \
        else if (R == 4 && V == 2) integer_rows(TYPE, w, row_bytes, 4, rows, n, x, 2, y, y_stride);          \
        else if (R == 4) integer_rows(TYPE, w, row_bytes, 4, rows, n, x, 1, y, y_stride);                    \
        else if (V == 4) integer_rows(TYPE, w, row_bytes, 1, rows, n, x, 4, y, y_stride);                    \
        else if (V == 2) integer_rows(TYPE, w, row_bytes, 1, rows, n, x, 2, y, y_stride);                    \
        else integer_rows(TYPE, w, row_bytes, 1, rows, n, x, 1, y, y_stride);                                \
        return;

static void dispatch_rows(int type, const uint8_t *w, long row_bytes, int R, long rows, long n, const activation_block_view *x, int V,
                          float *y, long y_stride) {
    switch (type) {
        ROWS_CASES(CORTEX_QUANT_Q4_0)
        ROWS_CASES(CORTEX_QUANT_Q4_1)
        ROWS_CASES(CORTEX_QUANT_Q8_0)
        ROWS_CASES(CORTEX_QUANT_Q4_K)
        ROWS_CASES(CORTEX_QUANT_Q6_K)
    }
}

#pragma clang attribute pop

// y[i * y_stride + r] = row r of the weights · vector i, for `rows` rows and m vectors whose
// codes cortex_q8_quantize wrote into `activations`. Call only where
// cortex_quant_has_integer_path.
void cortex_quant_matvec_integer(int type, const void *weights, long row_bytes, long rows, long n, const void *activations, long m,
                                 float *y, long y_stride) {
    const uint8_t *w = weights;
    // Q8_0 streams best a row at a time (measured); the other formats take 4-row tiles.
    const int R = type == CORTEX_QUANT_Q8_0 ? 1 : 4;
    const long tiled = rows / R * R;
    if (m <= 4) {
        // One group of vectors (decoding): each run of rows in one call.
        const int V = m == 4 ? 4 : m >= 2 ? 2 : 1;
        for (long start = 0; start < m; start += V) {
            const int count = m - start >= V ? V : 1;
            activation_block_view views[4];
            for (int v = 0; v < count; v++) views[v] = activation_view(activations, n, m, start + v);
            float *target = y + start * y_stride;
            if (tiled > 0) dispatch_rows(type, w, row_bytes, R, tiled, n, views, count, target, y_stride);
            if (rows > tiled) dispatch_rows(type, w + tiled * row_bytes, row_bytes, 1, rows - tiled, n, views, count, target + tiled, y_stride);
        }
        return;
    }
    // A batch: every tile of rows meets each group of vectors while its blocks are in cache.
    for (long r = 0; r < rows;) {
        const int tile = r < tiled ? R : 1;
        for (long start = 0; start < m;) {
            const int V = m - start >= 4 ? 4 : m - start >= 2 ? 2 : 1;
            activation_block_view views[4];
            for (int v = 0; v < V; v++) views[v] = activation_view(activations, n, m, start + v);
            dispatch_rows(type, w + r * row_bytes, row_bytes, tile, tile, n, views, V, y + start * y_stride + r, y_stride);
            start += V;
        }
        r += tile;
    }
}
