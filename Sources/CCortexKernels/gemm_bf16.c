// bfloat16 matrix product with float32 accumulation, for CPUs with AVX512_BF16 (Intel since
// Cooper Lake, AMD Zen 4): `vdpbf16ps` multiplies 16 pairs of bfloat16 and adds each pair's
// two products into a float32 lane, twice the multiply-adds of a float32 FMA per instruction.
//
// The layout is the float32 GEMM's (gemm_avx512.c) with k taken two at a time: A packed into
// 12-row panels of (a[r][2p], a[r][2p+1]) pairs, B into 32-column panels of (b[2p][j],
// b[2p+1][j]) pairs (an odd k padded with a zero row), C in 12 x 32 tiles of 24 float32
// accumulators.
#include "cortex_kernels_internal.h"
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { BR = CORTEX_TILE_ROWS, BC = CORTEX_TILE_COLUMNS, KP = 256, MB = 144, NB = 3072 };  // KP: k pairs per block

int cortex_has_avx512_bf16(void) {
    static int available = -1;
    if (available < 0) available = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
    return available && cortex_has_avx512();
}

// bfloat16 of a float32, rounded to nearest even as vcvtneps2bf16 rounds, for the packers' strided
// fallback: NaNs stay quiet NaNs, and subnormal inputs become signed zeros as the instruction
// makes them (cortex_float_to_bfloat, the dtype conversion, keeps them as PyTorch does).
static inline uint32_t rounded_bf16(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (bits >> 16) | 0x40u;
    if ((bits & 0x7F800000u) == 0) return (bits >> 16) & 0x8000u;
    return (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512bf16"))), apply_to = function)

// C tile (BR x BC, row stride ldc) = (or +=) packed A (pairs x BR) times packed B (pairs x BC).
__attribute__((no_builtin("memset")))
static void bf16_micro_kernel(long pairs, const void *packed_a, const void *packed_b, float *restrict c, long ldc, int accumulate) {
    const uint32_t *restrict a = packed_a, *restrict b = packed_b;
    __m512 acc[BR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < BR; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (long p = 0; p < pairs; p++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)b), b1 = (__m512bh)_mm512_load_si512((const void *)(b + 16));
#pragma clang loop unroll(full)
        for (int r = 0; r < BR; r++) {
            __m512bh ar = (__m512bh)_mm512_set1_epi32((int)a[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], ar, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], ar, b1);
        }
        a += BR;
        b += BC;
    }
    cortex_store_tile(acc, c, ldc, accumulate);
}

// Element (i, p) of a strided bfloat16 matrix, zero past k.
static inline uint32_t element(const uint16_t *m, long i, long p, long k, long rs, long cs) {
    return p < k ? m[i * rs + p * cs] : 0;
}

// Rows [0, m) x k-pairs [first, first + pairs) of A into BR-row panels of pairs.
static void pack_a_bf16(long m, long first, long pairs, long k, const uint16_t *a, long rs, long cs, uint32_t *restrict packed) {
    if (cs == 1 && rs % 2 == 0 && ((uintptr_t)a & 3) == 0 && 2 * (first + pairs) <= k) {
        // Row-major rows whose pairs are aligned 32-bit words: the float32 packing (16 x 16
        // transposes in registers) moves them as they are.
        cortex_avx512_pack_a32(m, pairs, (const float *)(const void *)(a + 2 * first), rs / 2, 1, (float *)(void *)packed);
        return;
    }
    for (long panel = 0; panel < m; panel += BR) {
        int rows = m - panel < BR ? (int)(m - panel) : BR;
        for (int r = 0; r < BR; r++) {
            uint32_t *target = packed + r;
            if (r >= rows) {
                for (long p = 0; p < pairs; p++) target[p * BR] = 0;
                continue;
            }
            const long i = panel + r;
            for (long p = 0; p < pairs; p++) {
                const long kk = 2 * (first + p);
                target[p * BR] = element(a, i, kk, k, rs, cs) | element(a, i, kk + 1, k, rs, cs) << 16;
            }
        }
        packed += pairs * BR;
    }
}

// k-pairs [first, first + pairs) x columns [0, n) of B into BC-column panels of pairs.
static void pack_b_bf16(long first, long pairs, long n, long k, const uint16_t *b, long rs, long cs, uint32_t *restrict packed) {
    const __m512i low_order = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), high_order = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for (long panel = 0; panel < n; panel += BC) {
        long columns = n - panel < BC ? n - panel : BC;
        for (long p = 0; p < pairs; p++, packed += BC) {
            const long kk = 2 * (first + p);
            if (cs == 1 && columns == BC && kk + 1 < k) {
                // Two row-major rows of 32: interleaved in registers.
                __m512i r0 = _mm512_loadu_si512((const void *)(b + kk * rs + panel));
                __m512i r1 = _mm512_loadu_si512((const void *)(b + (kk + 1) * rs + panel));
                __m512i low = _mm512_unpacklo_epi16(r0, r1), high = _mm512_unpackhi_epi16(r0, r1);
                _mm512_store_si512((void *)packed, _mm512_permutex2var_epi64(low, low_order, high));
                _mm512_store_si512((void *)(packed + 16), _mm512_permutex2var_epi64(low, high_order, high));
                continue;
            }
            for (long j = 0; j < BC; j++) {
                packed[j] = j < columns ? (element(b, panel + j, kk, k, cs, rs) | element(b, panel + j, kk + 1, k, cs, rs) << 16) : 0;
            }
        }
    }
}

// The pair word (a[i][p], a[i][p + 1]) of a strided float32 matrix, zero past k.
static inline uint32_t rounded_pair(const float *m, long i, long p, long k, long rs, long cs) {
    return (p < k ? rounded_bf16(m[i * rs + p * cs]) : 0) | (p + 1 < k ? rounded_bf16(m[i * rs + (p + 1) * cs]) : 0) << 16;
}

// 32 consecutive float32 (k order, `count` of them valid, zeros after) as 16 pair words in k order.
static inline __m512 rounded_run(const float *source, long count) {
    __mmask16 low = (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1);
    __mmask16 high = (__mmask16)(count >= 32 ? 0xFFFF : count > 16 ? (1u << (count - 16)) - 1 : 0);
    return (__m512)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(high, source + 16), _mm512_maskz_loadu_ps(low, source));
}

// 16 pair words from two vectors of float32: the low halves from `first`, the high from
// `second`. Both are rounded into one vector (first's 16 below second's), then interleaved.
static inline __m512i rounded_pairs(__m512 first, __m512 second) {
    static const uint16_t order[32] __attribute__((aligned(64))) = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                                   8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    return _mm512_permutexvar_epi16(_mm512_load_si512((const void *)order), (__m512i)_mm512_cvtne2ps_pbh(second, first));
}

// pack_a_bf16 from float32 (autocast): each element rounded to bfloat16 on its way into the panel.
static void pack_a_rounding(long m, long first, long pairs, long k, const float *a, long rs, long cs, uint32_t *restrict packed) {
    for (long panel = 0; panel < m; panel += BR) {
        int rows = m - panel < BR ? (int)(m - panel) : BR;
        const float *origin = a + panel * rs;
        if (cs == 1) {
            // Row-major rows: 16 pairs of each row rounded in registers, then transposed.
            for (long p = 0; p < pairs; p += 16) {
                int count = pairs - p < 16 ? (int)(pairs - p) : 16;
                long kk = 2 * (first + p);
                __m512 r[16];
                for (int i = 0; i < 16; i++) r[i] = i < rows ? rounded_run(origin + i * rs + kk, k - kk) : _mm512_setzero_ps();
                cortex_transpose16(r);
                for (int j = 0; j < count; j++) _mm512_mask_storeu_ps((float *)(packed + (p + j) * BR), 0x0FFF, r[j]);
            }
        } else if (rs == 1) {
            // Column-major (a transposed view): the panel's rows are contiguous for each k.
            __mmask16 mask = (__mmask16)((1u << rows) - 1);
            for (long p = 0; p < pairs; p++) {
                long kk = 2 * (first + p);
                __m512 even = _mm512_maskz_loadu_ps(mask, origin + kk * cs);
                __m512 odd = kk + 1 < k ? _mm512_maskz_loadu_ps(mask, origin + (kk + 1) * cs) : _mm512_setzero_ps();
                _mm512_mask_storeu_epi32(packed + p * BR, 0x0FFF, rounded_pairs(even, odd));
            }
        } else {
            for (int r = 0; r < BR; r++)
                for (long p = 0; p < pairs; p++) packed[p * BR + r] = r < rows ? rounded_pair(origin, r, 2 * (first + p), k, rs, cs) : 0;
        }
        packed += pairs * BR;
    }
}

// pack_b_bf16 from float32 (autocast): each element rounded to bfloat16 on its way into the panel.
static void pack_b_rounding(long first, long pairs, long n, long k, const float *b, long rs, long cs, uint32_t *restrict packed) {
    for (long panel = 0; panel < n; panel += BC) {
        long columns = n - panel < BC ? n - panel : BC;
        if (cs == 1) {
            // Row-major rows: rows 2p and 2p + 1 rounded and interleaved, 16 columns at a time.
            for (long p = 0; p < pairs; p++, packed += BC) {
                long kk = 2 * (first + p);
                const float *even = b + kk * rs + panel, *odd = even + rs;
                for (long half = 0; half < BC; half += 16) {
                    long valid = columns - half;
                    __mmask16 mask = (__mmask16)(valid >= 16 ? 0xFFFF : valid <= 0 ? 0 : (1u << valid) - 1);
                    __m512 x0 = _mm512_maskz_loadu_ps(mask, even + half);
                    __m512 x1 = kk + 1 < k ? _mm512_maskz_loadu_ps(mask, odd + half) : _mm512_setzero_ps();
                    _mm512_store_si512((void *)(packed + half), rounded_pairs(x0, x1));
                }
            }
            continue;
        }
        if (rs == 1) {
            // Column-major columns (a transposed view such as a Linear weight): each column's
            // pairs are adjacent; 16 columns x 16 pairs rounded, then transposed in registers.
            for (long half = 0; half < BC; half += 16) {
                int lines = columns - half <= 0 ? 0 : columns - half >= 16 ? 16 : (int)(columns - half);
                for (long p = 0; p < pairs; p += 16) {
                    int count = pairs - p < 16 ? (int)(pairs - p) : 16;
                    long kk = 2 * (first + p);
                    __m512 r[16];
                    for (int i = 0; i < 16; i++) r[i] = i < lines ? rounded_run(b + (panel + half + i) * cs + kk, k - kk) : _mm512_setzero_ps();
                    cortex_transpose16(r);
                    for (int j = 0; j < count; j++) _mm512_store_ps((float *)(packed + (p + j) * BC + half), r[j]);
                }
            }
            packed += pairs * BC;
            continue;
        }
        for (long p = 0; p < pairs; p++, packed += BC)
            for (long j = 0; j < BC; j++) packed[j] = j < columns ? rounded_pair(b, panel + j, 2 * (first + p), k, cs, rs) : 0;
    }
}

// Rows [0, m) of C's nc columns from pairs [first, first + pairs) of A's k (k values in all):
// packs A block by block (bfloat16, or float32 rounded when `rounding`) and runs the
// micro-kernels against the packed B panel.
static void multiply_pairs(long m, long nc, long first, long pairs, long k, const void *a, long a_row_stride, long a_column_stride,
                           const uint32_t *packed_b, float *c, long ldc, int accumulate, int rounding) {
    static __thread uint32_t *packed_a = NULL;
    if (!packed_a) packed_a = aligned_alloc(64, sizeof(uint32_t) * MB * KP);
    if (!packed_a) return;
    const size_t width = rounding ? sizeof(float) : sizeof(uint16_t);
    for (long ic = 0; ic < m; ic += MB) {
        long mc = m - ic < MB ? m - ic : MB;
        const char *a_block = (const char *)a + (size_t)(ic * a_row_stride) * width;
        if (rounding) pack_a_rounding(mc, first, pairs, k, (const float *)a_block, a_row_stride, a_column_stride, packed_a);
        else pack_a_bf16(mc, first, pairs, k, (const uint16_t *)a_block, a_row_stride, a_column_stride, packed_a);
        cortex_sweep_tiles(mc, nc, pairs, packed_a, packed_b, sizeof(uint32_t), c + ic * ldc, ldc, accumulate, bf16_micro_kernel);
    }
}

// The blocked product behind both entry points: operands are bfloat16, or float32 rounded to
// bfloat16 while packing (`rounding`).
static void bf16_product(long m, long n, long k, const void *a, long a_row_stride, long a_column_stride, const void *b,
                         long b_row_stride, long b_column_stride, float *c, long ldc, int rounding) {
    static __thread uint32_t *packed_b = NULL;
    if (!packed_b) packed_b = aligned_alloc(64, sizeof(uint32_t) * KP * NB);
    if (!packed_b) return;
    const long total_pairs = (k + 1) / 2;
    if (total_pairs == 0) {
        for (long i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    const size_t width = rounding ? sizeof(float) : sizeof(uint16_t);
    for (long jc = 0; jc < n; jc += NB) {
        long nc = n - jc < NB ? n - jc : NB;
        const char *b_panel = (const char *)b + (size_t)(jc * b_column_stride) * width;
        for (long pc = 0; pc < total_pairs; pc += KP) {
            long pairs = total_pairs - pc < KP ? total_pairs - pc : KP;
            if (rounding) pack_b_rounding(pc, pairs, nc, k, (const float *)b_panel, b_row_stride, b_column_stride, packed_b);
            else pack_b_bf16(pc, pairs, nc, k, (const uint16_t *)b_panel, b_row_stride, b_column_stride, packed_b);
            multiply_pairs(m, nc, pc, pairs, k, a, a_row_stride, a_column_stride, packed_b, c + jc, ldc, pc > 0, rounding);
        }
    }
}

// The pieces of cortex_bf16_sgemm for workers that share one packed B panel, as the float32
// GEMM's: k cut into even blocks of at most 2 * KP, B packed as pair panels of 32 columns.
long cortex_bf16_sgemm_depth(long k) {
    long blocks = (k + 2 * KP - 1) / (2 * KP);
    long depth = (k + blocks - 1) / blocks;
    return depth + (depth & 1);
}

long cortex_bf16_sgemm_panel_width(void) { return NB; }

void cortex_bf16_sgemm_pack_b(long kc, long nc, const float *b, long b_row_stride, long b_column_stride, uint32_t *packed) {
    pack_b_rounding(0, (kc + 1) / 2, nc, kc, b, b_row_stride, b_column_stride, packed);
}

void cortex_bf16_sgemm_rows(long m, long nc, long kc, const float *a, long a_row_stride, long a_column_stride, const uint32_t *packed_b,
                            float *c, long ldc, int accumulate) {
    multiply_pairs(m, nc, 0, (kc + 1) / 2, kc, a, a_row_stride, a_column_stride, packed_b, c, ldc, accumulate, 1);
}

void cortex_bf16_gemm(long m, long n, long k, const uint16_t *a, long a_row_stride, long a_column_stride, const uint16_t *b,
                      long b_row_stride, long b_column_stride, float *c, long ldc) {
    bf16_product(m, n, k, a, a_row_stride, a_column_stride, b, b_row_stride, b_column_stride, c, ldc, 0);
}

void cortex_bf16_sgemm(long m, long n, long k, const float *a, long a_row_stride, long a_column_stride, const float *b,
                       long b_row_stride, long b_column_stride, float *c, long ldc) {
    bf16_product(m, n, k, a, a_row_stride, a_column_stride, b, b_row_stride, b_column_stride, c, ldc, 1);
}

#pragma clang attribute pop

