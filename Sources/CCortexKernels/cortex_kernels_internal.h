// Declarations shared by the kernel files; not part of the module's public header.
#ifndef CORTEX_KERNELS_INTERNAL_H
#define CORTEX_KERNELS_INTERNAL_H
#include "cortex_kernels.h"
#include <math.h>

// ThreadSanitizer instruments the resolvers that target_clones generates, and the dynamic
// loader runs those resolvers before the sanitizer's runtime is up (the process dies in
// __tsan_func_entry before main). Under it the clones give way to the baseline build.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORTEX_WITHOUT_CLONES 1
#endif
#endif
#ifdef CORTEX_WITHOUT_CLONES
#define CLONES
#else
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif

/// The float32 GEMM's packing of rows [0, m) x columns [0, k) of A (element strides rs, cs)
/// into 12-row panels; the bfloat16 GEMM packs its pairs (32 bits each) with it.
void cortex_avx512_pack_a32(long m, long k, const float *a, long rs, long cs, float *packed);

/// AVX-512 row kernels; call only when cortex_has_avx512().
void cortex_avx512_exp(const float *x, float *y, long n, float shift);
void cortex_avx512_gelu(const float *x, float *y, long n);
float cortex_avx512_sum(const float *x, long n);
void cortex_avx512_softmax_row(const float *x, float *y, long n, int logarithm);
// Key and value rows below are float32, or float16 where `half` is 1 (strides in elements).
// The row `index` elements after `base`, in such storage.
static inline __attribute__((always_inline)) const void *cortex_held_row(const void *base, long index, int half) {
    return half ? (const void *)((const unsigned short *)base + index) : (const void *)((const float *)base + index);
}
// scores[j] = q · k_j · scale for head sizes 64 and 128, the largest in *maximum (returns 0,
// writing nothing, for others).
int cortex_avx512_attention_scores(const float *q, const void *k, long stride, long seen, long d, float scale, float *scores, float *maximum,
                                   int half);
// One query row of each of `group` (at most 8) heads sharing a key/value head, rows q_head_stride
// apart, attending to `seen` keys, for head sizes 64 and 128 (returns 0, writing nothing,
// for others); scores holds group * seen floats.
int cortex_avx512_grouped_attention(const float *q, long q_head_stride, long group, const void *k, const void *v, long stride, long seen,
                                    long d, float scale, float *scores, float *out, long out_head_stride, int half);
// Σ_j weights[j] · v[j] · scale for head sizes 64 and 128 (returns 0, writing nothing, for others).
int cortex_avx512_attend_values(const float *weights, const void *v, long stride, long seen, long d, float scale, float *result, int half);
// The dot product of n floats in sixteen independent partial sums: a loop the compiler
// vectorises in each clone that inlines it (one running sum would be a chain of dependent
// adds it may not reorder).
static inline __attribute__((always_inline)) float cortex_dot_lanes(const float *a, const float *b, long n) {
    float partial[16] = {0};
    long k = 0;
    for (; k + 16 <= n; k += 16)
        for (int lane = 0; lane < 16; lane++) partial[lane] += a[k + lane] * b[k + lane];
    float sum = 0;
    for (; k < n; k++) sum += a[k] * b[k];
    for (int lane = 0; lane < 16; lane++) sum += partial[lane];
    return sum;
}

// The little-endian 16 bits at p, and the float16 there. (Not _cvtsh_ss, which clang lowers
// to an insert into a live register: a dependency from one block's arithmetic into the next
// block's scale load, measured as half the speed of a quantised matrix-vector product.)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
static inline uint16_t cortex_load_u16(const uint8_t *p) {
    uint16_t value;
    memcpy(&value, p, 2);
    return value;
}
static inline __attribute__((always_inline, target("f16c"))) float cortex_half_at(const uint8_t *p) {
    __m128i bits = _mm_cvtsi32_si128(cortex_load_u16(p));
    // An empty asm the register must be whole for: otherwise clang inserts the 16 bits into
    // whatever register is at hand (vpinsrw), often a loop's accumulator.
    __asm__("" : "+x"(bits));
    return _mm_cvtss_f32(_mm_cvtph_ps(bits));
}

// The two float16 at p and p + 2 as lanes 0 and 1 (one 32-bit load, one conversion): a
// block's scale and minimum (Q4_1), or its scale and whatever follows (Q4_0, Q8_0).
static inline __attribute__((always_inline, target("f16c"))) __m128 cortex_half_pair_at(const uint8_t *p) {
    uint32_t word;
    memcpy(&word, p, 4);
    __m128i bits = _mm_cvtsi32_si128((int)word);
    __asm__("" : "+x"(bits));
    return _mm_cvtph_ps(bits);
}

// The float32 and bfloat16 GEMMs' shared 12 x 32 tiles: a micro-kernel's 24 accumulators
// stored into C (added to it when `accumulate`), and a partial tile (rows x columns of a full
// one computed into `tile`, row stride 32) merged into C.
enum { CORTEX_TILE_ROWS = 12, CORTEX_TILE_COLUMNS = 32 };

static inline __attribute__((always_inline, target("avx512f"))) void cortex_store_tile(__m512 acc[CORTEX_TILE_ROWS][2], float *c, long ldc,
                                                                                      int accumulate) {
#pragma clang loop unroll(full)
    for (int r = 0; r < CORTEX_TILE_ROWS; r++) {
        float *row = c + r * ldc;
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(row));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(row + 16));
        }
        _mm512_storeu_ps(row, acc[r][0]);
        _mm512_storeu_ps(row + 16, acc[r][1]);
    }
}

// Transposes a 16 x 16 block of 32-bit elements held in 16 registers (rows in, columns out):
// the float32 GEMM packs with it, and the bfloat16 GEMM packs pairs of bfloat16 with it.
static inline __attribute__((always_inline, target("avx512f"))) void cortex_transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // r[4g + j] now holds, in 128-bit lane L, column 4L + j of rows 4g..4g+3; gather the lanes.
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

static inline void cortex_merge_partial_tile(const float *tile, float *target, long ldc, long rows, long columns, int accumulate) {
    for (long r = 0; r < rows; r++)
        for (long j = 0; j < columns; j++)
            target[r * ldc + j] = accumulate ? target[r * ldc + j] + tile[r * CORTEX_TILE_COLUMNS + j] : tile[r * CORTEX_TILE_COLUMNS + j];
}

// The tile loop of the float32 and bfloat16 GEMMs: every 12 x 32 tile of an mc x nc block of C
// from packed A (12-row panels) and packed B (32-column panels), `depth` steps deep with
// `element_bytes` per panel row and step (a float32, or a pair of bfloat16). `kernel` computes
// one whole tile; partial tiles go through a scratch tile merged into C.
typedef void (*cortex_tile_kernel)(long depth, const void *a, const void *b, float *c, long ldc, int accumulate);

static inline __attribute__((always_inline)) void cortex_sweep_tiles(long mc, long nc, long depth, const void *packed_a, const void *packed_b,
                                                                     long element_bytes, float *c, long ldc, int accumulate,
                                                                     cortex_tile_kernel kernel) {
    float tile[CORTEX_TILE_ROWS * CORTEX_TILE_COLUMNS] __attribute__((aligned(64)));
    for (long jr = 0; jr < nc; jr += CORTEX_TILE_COLUMNS) {
        long columns = nc - jr < CORTEX_TILE_COLUMNS ? nc - jr : CORTEX_TILE_COLUMNS;
        for (long ir = 0; ir < mc; ir += CORTEX_TILE_ROWS) {
            long rows = mc - ir < CORTEX_TILE_ROWS ? mc - ir : CORTEX_TILE_ROWS;
            float *target = c + ir * ldc + jr;
            const char *panel_a = (const char *)packed_a + ir * depth * element_bytes;
            const char *panel_b = (const char *)packed_b + jr * depth * element_bytes;
            if (rows == CORTEX_TILE_ROWS && columns == CORTEX_TILE_COLUMNS) {
                kernel(depth, panel_a, panel_b, target, ldc, accumulate);
            } else {
                kernel(depth, panel_a, panel_b, tile, CORTEX_TILE_COLUMNS, 0);
                cortex_merge_partial_tile(tile, target, ldc, rows, columns, accumulate);
            }
        }
    }
}

#endif