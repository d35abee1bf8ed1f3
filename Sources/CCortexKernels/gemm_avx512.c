// Single-precision matrix product for CPUs with AVX-512, in the BLIS layout: C is computed
// in 12 x 32 tiles held in 24 zmm accumulators; A is packed into 12-row panels and B into
// 32-column panels (zero-padded), blocked so an A block stays in L2 and a B panel in L1.
//
// Why Cortex carries its own: Debian 12's OpenBLAS 0.3.21 does not recognise recent Xeons
// (this project's machine is family 6 model 207) and falls back to its Prescott SSE kernels,
// about 32 GFLOP/s per core; the project may not override that with OPENBLAS_CORETYPE.
// On CPUs without AVX-512 Cortex keeps calling OpenBLAS.
#include "cortex_kernels_internal.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

// KC is the deepest k block; a product's k is cut into equal blocks no deeper than that, so
// k = 288 (a 3 x 3 convolution over 32 channels) is one block, not 256 + 32.
enum { MR = CORTEX_TILE_ROWS, NR = CORTEX_TILE_COLUMNS, KC = 320, MC = 144, NC = 3072 };

#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)

// C[0..<MR][0..<NR] (row stride ldc) = (or +=) packed A (k x MR) times packed B (k x NR).
// Every loop over the tile's rows is fully unrolled so the accumulators live in registers from
// the start (a rolled zeroing loop became a memset of a stack copy on every call).
__attribute__((no_builtin("memset")))
static void micro_kernel(long k, const void *packed_a, const void *packed_b, float *restrict c, long ldc, int accumulate) {
    const float *restrict a = packed_a, *restrict b = packed_b;
    __m512 acc[MR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (long p = 0; p < k; p++) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512 ar = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
        }
        a += MR;
        b += NR;
    }
    cortex_store_tile(acc, c, ldc, accumulate);
}

// Loads `lines` (<= 16) runs of `count` (<= 16) contiguous floats, run i at source + i * stride,
// transposes them and stores element j of every run as `width` floats (zeros past `lines`)
// at target + j * step.
static inline void transpose_runs(const float *source, long stride, int lines, int count, int width, float *target, long step) {
    __m512 r[16];
    __mmask16 load = (__mmask16)((1u << count) - 1), store = (__mmask16)((1u << width) - 1);
    for (int i = 0; i < 16; i++) r[i] = i < lines ? _mm512_maskz_loadu_ps(load, source + i * stride) : _mm512_setzero_ps();
    cortex_transpose16(r);
    for (int j = 0; j < count; j++) _mm512_mask_storeu_ps(target + j * step, store, r[j]);
}

// Packs rows [0, m) x columns [0, k) of a matrix with element strides (rs, cs) into MR-row panels
// (zero rows pad the last panel).
static void pack_a(long m, long k, const float *a, long rs, long cs, float *restrict packed) {
    for (long panel = 0; panel < m; panel += MR) {
        int rows = m - panel < MR ? (int)(m - panel) : MR;
        const float *origin = a + panel * rs;
        if (cs == 1) {
            // Row-major rows: 16-column runs transposed in registers.
            for (long p = 0; p < k; p += 16) {
                int count = k - p < 16 ? (int)(k - p) : 16;
                transpose_runs(origin + p, rs, rows, count, MR, packed + p * MR, MR);
            }
        } else if (rs == 1) {
            // Column-major (a transposed view): each column's rows are contiguous already.
            __mmask16 mask = (__mmask16)((1u << rows) - 1);
            for (long p = 0; p < k; p++) _mm512_mask_storeu_ps(packed + p * MR, 0x0FFF, _mm512_maskz_loadu_ps(mask, origin + p * cs));
        } else {
            for (long p = 0; p < k; p++) {
                int r = 0;
                for (; r < rows; r++) packed[p * MR + r] = origin[p * cs + r * rs];
                for (; r < MR; r++) packed[p * MR + r] = 0.0f;
            }
        }
        packed += k * MR;
    }
}

// Packs rows [0, k) x columns [0, n) of a matrix with strides (rs, cs) into NR-column panels
// (zero columns pad the last panel).
static void pack_b(long k, long n, const float *b, long rs, long cs, float *restrict packed) {
    for (long panel = 0; panel < n; panel += NR) {
        long columns = n - panel < NR ? n - panel : NR;
        if (cs == 1) {
            // Row-major rows: two (masked, zero-filling) vector copies per row, no library calls.
            __mmask16 low = (__mmask16)(columns >= 16 ? 0xFFFF : (1u << columns) - 1);
            __mmask16 high = (__mmask16)(columns <= 16 ? 0 : columns >= 32 ? 0xFFFF : (1u << (columns - 16)) - 1);
            const float *row = b + panel;
            for (long p = 0; p < k; p++, row += rs, packed += NR) {
                _mm512_store_ps(packed, _mm512_maskz_loadu_ps(low, row));
                _mm512_store_ps(packed + 16, _mm512_maskz_loadu_ps(high, row + 16));
            }
            continue;
        }
        if (rs == 1) {
            // Column-major columns (a transposed view such as a Linear weight): 16 x 16 blocks
            // transposed in registers.
            for (long half = 0; half < NR; half += 16) {
                int lines = columns - half <= 0 ? 0 : columns - half >= 16 ? 16 : (int)(columns - half);
                for (long p = 0; p < k; p += 16) {
                    int count = k - p < 16 ? (int)(k - p) : 16;
                    transpose_runs(b + (panel + half) * cs + p, cs, lines, count, 16, packed + p * NR + half, NR);
                }
            }
            packed += k * NR;
            continue;
        }
        for (long p = 0; p < k; p++) {
            const float *row = b + p * rs + panel * cs;
            long j = 0;
            for (; j < columns; j++) packed[j] = row[j * cs];
            for (; j < NR; j++) packed[j] = 0.0f;
            packed += NR;
        }
    }
}

// Rows [0, m) of C's columns [jc, jc + nc) from k-block [pc, pc + kc): packs A block by block
// and runs the micro-kernels against the already packed B panel.
static void multiply_block(long m, long nc, long kc, const float *a, long a_row_stride, long a_column_stride,
                           const float *packed_b, float *c, long ldc, int accumulate) {
    static __thread float *packed_a = NULL;
    if (!packed_a) packed_a = aligned_alloc(64, sizeof(float) * MC * KC);
    for (long ic = 0; ic < m; ic += MC) {
        long mc = m - ic < MC ? m - ic : MC;
        pack_a(mc, kc, a + ic * a_row_stride, a_row_stride, a_column_stride, packed_a);
        cortex_sweep_tiles(mc, nc, kc, packed_a, packed_b, sizeof(float), c + ic * ldc, ldc, accumulate, micro_kernel);
    }
}

void cortex_avx512_pack_a32(long m, long k, const float *a, long rs, long cs, float *packed) { pack_a(m, k, a, rs, cs, packed); }

long cortex_avx512_sgemm_depth(long k) { return (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC); }
long cortex_avx512_sgemm_panel_width(void) { return NC; }

void cortex_avx512_sgemm_pack_b(long kc, long nc, const float *b, long b_row_stride, long b_column_stride, float *packed) {
    pack_b(kc, nc, b, b_row_stride, b_column_stride, packed);
}

void cortex_avx512_sgemm_rows(long m, long nc, long kc, const float *a, long a_row_stride, long a_column_stride,
                              const float *packed_b, float *c, long ldc, int accumulate) {
    multiply_block(m, nc, kc, a, a_row_stride, a_column_stride, packed_b, c, ldc, accumulate);
}

void cortex_avx512_sgemm(long m, long n, long k, const float *a, long a_row_stride, long a_column_stride,
                         const float *b, long b_row_stride, long b_column_stride, float *c, long ldc) {
    static __thread float *packed_b = NULL;
    if (!packed_b) packed_b = aligned_alloc(64, sizeof(float) * KC * NC);
    if (k == 0) {
        for (long i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    long depth = cortex_avx512_sgemm_depth(k);
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += depth) {
            long kc = k - pc < depth ? k - pc : depth;
            pack_b(kc, nc, b + pc * b_row_stride + jc * b_column_stride, b_row_stride, b_column_stride, packed_b);
            multiply_block(m, nc, kc, a + pc * a_column_stride, a_row_stride, a_column_stride, packed_b, c + jc, ldc, pc > 0);
        }
    }
}

// Products with at most 4 rows (decoding one token at a time): no packing, since every element
// of B is used m times at most and packing would read it twice. Rows of A must be contiguous.
// B row-major (b_column_stride 1): C rows accumulate a[r][p] * B[p][0..<n] in 64-column blocks.
// B column-major (b_row_stride 1): C[r][j] is the dot product of A's row r with B's column j.
void cortex_avx512_sgemm_small_m(long m, long n, long k, const float *a, long a_row_stride, const float *b, long b_row_stride,
                                 long b_column_stride, float *c, long ldc) {
    if (b_column_stride == 1 && m == 1) {
        // One row: 256-column blocks (1 KiB of each row of B per step) keep the memory streams long.
        for (long j = 0; j < n; j += 256) {
            long width = n - j < 256 ? n - j : 256;
            __mmask16 masks[16];
            __m512 acc[16];
            for (int q = 0; q < 16; q++) {
                long lanes = width - 16 * q;
                masks[q] = lanes >= 16 ? 0xFFFF : lanes <= 0 ? 0 : (__mmask16)((1u << lanes) - 1);
                acc[q] = _mm512_setzero_ps();
            }
            const float *row = b + j;
            for (long p = 0; p < k; p++, row += b_row_stride) {
                // Rows lie a whole matrix width apart, on other pages: the hardware prefetcher
                // does not follow, so fetch the row 6 ahead (kept within the matrix).
                if (p + 6 < k) {
                    const char *ahead = (const char *)(row + 6 * b_row_stride);
                    for (long line = 0; line < width * 4; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
                }
                __m512 scalar = _mm512_set1_ps(a[p]);
#pragma clang loop unroll(full)
                for (int q = 0; q < 16; q++) acc[q] = _mm512_fmadd_ps(scalar, _mm512_maskz_loadu_ps(masks[q], row + 16 * q), acc[q]);
            }
            for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(c + j + 16 * q, masks[q], acc[q]);
        }
        return;
    }
    if (b_column_stride == 1) {
        for (long j = 0; j < n; j += 64) {
            long width = n - j < 64 ? n - j : 64;
            __mmask16 masks[4];
            for (int q = 0; q < 4; q++) {
                long lanes = width - 16 * q;
                masks[q] = lanes >= 16 ? 0xFFFF : lanes <= 0 ? 0 : (__mmask16)((1u << lanes) - 1);
            }
            __m512 acc[4][4];
            for (int r = 0; r < 4; r++) for (int q = 0; q < 4; q++) acc[r][q] = _mm512_setzero_ps();
            const float *row = b + j;
            for (long p = 0; p < k; p++, row += b_row_stride) {
                __m512 b0 = _mm512_maskz_loadu_ps(masks[0], row), b1 = _mm512_maskz_loadu_ps(masks[1], row + 16);
                __m512 b2 = _mm512_maskz_loadu_ps(masks[2], row + 32), b3 = _mm512_maskz_loadu_ps(masks[3], row + 48);
                for (int r = 0; r < 4; r++) {
                    if (r >= m) break;
                    __m512 scalar = _mm512_set1_ps(a[r * a_row_stride + p]);
                    acc[r][0] = _mm512_fmadd_ps(scalar, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(scalar, b1, acc[r][1]);
                    acc[r][2] = _mm512_fmadd_ps(scalar, b2, acc[r][2]);
                    acc[r][3] = _mm512_fmadd_ps(scalar, b3, acc[r][3]);
                }
            }
            for (long r = 0; r < m; r++)
                for (int q = 0; q < 4; q++) _mm512_mask_storeu_ps(c + r * ldc + j + 16 * q, masks[q], acc[r][q]);
        }
        return;
    }
    // Column-major B: one column at a time, its chunks shared by the (up to 4) rows of A.
    for (long j = 0; j < n; j++) {
        const float *column = b + j * b_column_stride;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        long p = 0;
        for (; p + 16 <= k; p += 16) {
            __m512 v = _mm512_loadu_ps(column + p);
            for (int r = 0; r < 4; r++) {
                if (r >= m) break;
                acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(a + r * a_row_stride + p), v, acc[r]);
            }
        }
        if (p < k) {
            __mmask16 mask = (__mmask16)((1u << (k - p)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(mask, column + p);
            for (int r = 0; r < 4; r++) {
                if (r >= m) break;
                acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + r * a_row_stride + p), v, acc[r]);
            }
        }
        for (long r = 0; r < m; r++) c[r * ldc + j] = _mm512_reduce_add_ps(acc[r]);
    }
}

#pragma clang attribute pop
