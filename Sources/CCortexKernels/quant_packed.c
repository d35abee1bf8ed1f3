// Q4_0, Q4_1 and Q8_0 weights repacked sixteen rows at a time, for integer products with
// several activation vectors (a continuous batch of decoding streams) and with one.
//
// The row-major kernels (quant_int8.c) meet each weight block with one `vpdpbusd` per
// activation vector and then sum the eight lanes of each block's dot product, so that the
// block's two scales apply once: at eight vectors those lane sums cost more than the products.
// Here the sixteen lanes of a 512-bit register are sixteen weight rows instead. Each lane holds
// four consecutive codes of its row, and the activation vector's matching four codes are
// broadcast to every lane, so one `vpdpbusd` adds four products to each of sixteen rows' sums
// and no lane is ever summed across. A block's eight such products (32 codes) accumulate in 32
// bits; the block's sixteen row scales then apply in one multiply-add per vector.
//
// Layout (the same bytes as the rows it comes from): for each group of sixteen rows, block
// after block, the sixteen rows' float16 scales d (32 bytes), for Q4_1 the sixteen minimums m
// (32 bytes), then four runs of 64 bytes. Run L holds, for row r, bytes 4L...4L+3 of the row's
// 16 bytes of nibbles at 4r: their low nibbles are the row's values 4L...4L+3 and their high
// nibbles its values 16+4L...16+4L+3 (ggml's order within a block). Q8_0 has no minimums and
// eight runs of 64 bytes: run j holds the row's values 4j...4j+3 at 4r, each code q stored as
// q + 128 (unsigned, as vpdpbusd's first operand must be; the offset is taken out with the
// activation block's sum, as Q4_0's 8 is).
#include "cortex_kernels_internal.h"
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The activations buffer as quant_int8.c lays it out: the codes (m * n bytes, rounded up to 64),
// then per vector its block scales and the blocks' sums d * Σq.
static long round_up64(long bytes) { return (bytes + 63) & ~63L; }

// The same activations regrouped for this kernel: per group of eight vectors, per block of 32,
// one run of 320 bytes: the eight vectors' four codes for values 4j...4j+3 at 32j + 4v (256
// bytes), the eight scales (32 bytes), then the eight sums (32 bytes). One pointer walks a
// block's every operand at fixed offsets, so eight vectors need no eight pointers each.
enum { INTERLEAVED_BLOCK_BYTES = 320 };

long cortex_q8_interleaved_bytes(long n, long m) { return (m + 7) / 8 * (n / 32) * INTERLEAVED_BLOCK_BYTES + 64; }

void cortex_q8_interleave(const void *activations, long n, long m, void *out) { cortex_q8_interleave_selected(activations, n, m, NULL, m, out); }

void cortex_q8_interleave_selected(const void *activations, long n, long m, const long *order, long count, void *out) {
    const uint8_t *base = (const uint8_t *)(((uintptr_t)activations + 63) & ~(uintptr_t)63);
    const int8_t *codes = (const int8_t *)base;
    const float *scales = (const float *)(base + round_up64(m * n)), *sums32 = scales + m * (n / 32);
    uint8_t *target = (uint8_t *)(((uintptr_t)out + 63) & ~(uintptr_t)63);
    const long blocks = n / 32;
    memset(target, 0, (size_t)((count + 7) / 8 * blocks * INTERLEAVED_BLOCK_BYTES));
    for (long place = 0; place < count; place++) {
        const long v = order ? order[place] : place, group = place / 8, slot = place % 8;
        for (long b = 0; b < blocks; b++) {
            uint8_t *run = target + (group * blocks + b) * INTERLEAVED_BLOCK_BYTES;
            for (int j = 0; j < 8; j++) memcpy(run + 32 * j + 4 * slot, codes + v * n + 32 * b + 4 * j, 4);
            memcpy(run + 256 + 4 * slot, scales + v * blocks + b, 4);
            memcpy(run + 288 + 4 * slot, sums32 + v * blocks + b, 4);
        }
    }
}

int cortex_quant_packable(int type, long rows, long n) {
    return (type == CORTEX_QUANT_Q4_0 || type == CORTEX_QUANT_Q4_1 || type == CORTEX_QUANT_Q8_0) && rows > 0 && rows % 16 == 0 && n > 0
        && n % 32 == 0;
}

// How far ahead of the current block the kernel prefetches its group's stream (measured on
// Zen 4, SmolLM2 Q4_1 at 8 streams: 1 KiB 360-404 tokens/s, 4 KiB 485-503, 8 KiB 434-460).
#ifndef PACKED_PREFETCH_DISTANCE
#define PACKED_PREFETCH_DISTANCE 4096
#endif

static long packed_block_bytes(int type) { return type == CORTEX_QUANT_Q4_1 ? 20 : type == CORTEX_QUANT_Q8_0 ? 34 : 18; }

// One row's block between its row-major bytes (`block`) and its place in a packed chunk (lane
// r of the chunk of its group's sixteen blocks): into the chunk when `packing`, else out of it.
static inline __attribute__((always_inline)) void move_block(int type, uint8_t *chunk, int r, uint8_t *block, int packing) {
    const long bytes = packed_block_bytes(type), codes = type == CORTEX_QUANT_Q8_0 ? 32 : 16, header = bytes - codes;
    #define MOVE(PACKED, ROW_MAJOR, COUNT) (packing ? memcpy(PACKED, ROW_MAJOR, COUNT) : memcpy(ROW_MAJOR, PACKED, COUNT))
    MOVE(chunk + 2 * r, block, 2);                                            // d
    if (type == CORTEX_QUANT_Q4_1) MOVE(chunk + 32 + 2 * r, block + 2, 2);    // m
    for (int run = 0; run < codes / 4; run++) {
        uint8_t *quad = chunk + 16 * header + 64 * run + 4 * r, *row = block + header + 4 * run;
        MOVE(quad, row, 4);
        // Q8_0's signed codes are packed as unsigned ones, q + 128, for vpdpbusd.
        if (type == CORTEX_QUANT_Q8_0) for (int i = 0; i < 4; i++) (packing ? quad : row)[i] ^= 0x80;
    }
    #undef MOVE
}

int cortex_quant_pack16(int type, const void *weights, long row_bytes, long rows, long n, void *packed) {
    if (!cortex_quant_packable(type, rows, n)) return -1;
    const long bytes = packed_block_bytes(type), blocks = n / 32;
    for (long group = 0; group < rows / 16; group++)
        for (long b = 0; b < blocks; b++)
            for (int r = 0; r < 16; r++)
                move_block(type, (uint8_t *)packed + (group * blocks + b) * 16 * bytes, r,
                           (uint8_t *)weights + (group * 16 + r) * row_bytes + b * bytes, 1);
    return 0;
}

// Rows [first, first + count) of a packed matrix of rows of n values, dequantised into y (n
// floats per row): each row's blocks are put back in row-major order and dequantised by
// cortex_quant_dequantize itself, so the values are bit for bit those of the rows it came from.
void cortex_quant_dequantize_packed(int type, const void *packed, long n, long first, long count, float *y) {
    const long bytes = packed_block_bytes(type), blocks = n / 32;
    uint8_t *row = malloc((size_t)(blocks * bytes));
    if (!row) return;
    for (long r = first; r < first + count; r++, y += n) {
        for (long b = 0; b < blocks; b++)
            move_block(type, (uint8_t *)packed + (r / 16 * blocks + b) * 16 * bytes, (int)(r % 16), row + b * bytes, 0);
        cortex_quant_dequantize(type, row, y, n);
    }
    free(row);
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,f16c"))), apply_to = function)

static inline __m512i broadcast_quad(const int8_t *codes) {
    int32_t quad;
    memcpy(&quad, codes, 4);
    return _mm512_set1_epi32(quad);
}

// One group of sixteen rows (`chunks` at its first block) against V vectors (a group of the
// interleaved activations): y[v * y_stride + r]. Up to four vectors keep two running sums each
// (low and high nibbles), so that even one vector has two chains of products in flight; more
// keep one.
static inline __attribute__((always_inline)) void packed_group(int type, const uint8_t *chunks, long blocks, const uint8_t *x, const int V,
                                                             float *y, long y_stride) {
    const long bytes = packed_block_bytes(type), header = 16 * (bytes - (type == CORTEX_QUANT_Q8_0 ? 32 : 16));
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512 acc[8];
    for (int v = 0; v < V; v++) acc[v] = _mm512_setzero_ps();
    for (long b = 0; b < blocks; b++, chunks += 16 * bytes, x += INTERLEAVED_BLOCK_BYTES) {
        for (long line = 0; line < 16 * bytes; line += 64) _mm_prefetch((const char *)(chunks + PACKED_PREFETCH_DISTANCE + line), _MM_HINT_T0);
        __m512i low_sum[8], high_sum[8];
        for (int v = 0; v < V; v++) { low_sum[v] = _mm512_setzero_si512(); high_sum[v] = _mm512_setzero_si512(); }
        if (type == CORTEX_QUANT_Q8_0) {
            // Eight runs of one quad each, unsigned codes q + 128: alternate runs in the two sums.
            for (int run = 0; run < 8; run++) {
                const __m512i quad = _mm512_loadu_si512((const void *)(chunks + header + 64 * run));
                for (int v = 0; v < V; v++) {
                    const __m512i codes = broadcast_quad((const int8_t *)x + 32 * run + 4 * v);
                    if (V <= 4 && (run & 1)) high_sum[v] = _mm512_dpbusd_epi32(high_sum[v], quad, codes);
                    else low_sum[v] = _mm512_dpbusd_epi32(low_sum[v], quad, codes);
                }
            }
        } else for (int run = 0; run < 4; run++) {
            const __m512i raw = _mm512_loadu_si512((const void *)(chunks + header + 64 * run));
            const __m512i low = _mm512_and_si512(raw, nibble), high = _mm512_and_si512(_mm512_srli_epi16(raw, 4), nibble);
            for (int v = 0; v < V; v++) {
                const __m512i low_codes = broadcast_quad((const int8_t *)x + 32 * run + 4 * v);
                const __m512i high_codes = broadcast_quad((const int8_t *)x + 32 * (run + 4) + 4 * v);
                if (V <= 4) {
                    low_sum[v] = _mm512_dpbusd_epi32(low_sum[v], low, low_codes);
                    high_sum[v] = _mm512_dpbusd_epi32(high_sum[v], high, high_codes);
                } else {
                    low_sum[v] = _mm512_dpbusd_epi32(low_sum[v], low, low_codes);
                    low_sum[v] = _mm512_dpbusd_epi32(low_sum[v], high, high_codes);
                }
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)chunks));
        // The codes' offsets, times each activation block's sum: Q4_1's minimum m; Q4_0's
        // codes are q - 8, Q8_0's packed ones q + 128.
        const __m512 offset = type == CORTEX_QUANT_Q4_1 ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(chunks + 32)))
                                                        : _mm512_mul_ps(d, _mm512_set1_ps(type == CORTEX_QUANT_Q8_0 ? -128.0f : -8.0f));
        const float *scales = (const float *)(x + 256), *sums = (const float *)(x + 288);
        for (int v = 0; v < V; v++) {
            const __m512i sum = V <= 4 ? _mm512_add_epi32(low_sum[v], high_sum[v]) : low_sum[v];
            acc[v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(d, _mm512_set1_ps(scales[v])), acc[v]);
            acc[v] = _mm512_fmadd_ps(offset, _mm512_set1_ps(sums[v]), acc[v]);
        }
    }
    for (int v = 0; v < V; v++) _mm512_storeu_ps(y + v * y_stride, acc[v]);
}

static void packed_group_of(int type, const uint8_t *chunks, long blocks, const uint8_t *x, int V, float *y, long y_stride) {
    #define GROUP_CASE(COUNT) \
        if (type == CORTEX_QUANT_Q4_1) packed_group(CORTEX_QUANT_Q4_1, chunks, blocks, x, COUNT, y, y_stride); \
        else if (type == CORTEX_QUANT_Q8_0) packed_group(CORTEX_QUANT_Q8_0, chunks, blocks, x, COUNT, y, y_stride); \
        else packed_group(CORTEX_QUANT_Q4_0, chunks, blocks, x, COUNT, y, y_stride);
    switch (V) {
    case 1: GROUP_CASE(1) break;
    case 2: GROUP_CASE(2) break;
    case 3: GROUP_CASE(3) break;
    case 4: GROUP_CASE(4) break;
    case 5: GROUP_CASE(5) break;
    case 6: GROUP_CASE(6) break;
    case 7: GROUP_CASE(7) break;
    default: GROUP_CASE(8) break;
    }
    #undef GROUP_CASE
}

// The first largest of first[r] + second[r] over the packed rows, second being their product
// with the one vector in `interleaved` (block scales `scales`). 128 |s_b| caps the block's
// codes times their scale, so group g's second products are at most the sum over blocks of
// group_norms[b * groups + g] (the largest sum of absolute weights of block b among the
// group's rows) times 128 |s_b|; with 1% and 1e-5 of room for float rounding, that bound
// decides which groups are multiplied: starting from the group of the largest first product,
// those where some first[r] plus the bound reaches the best sum so far. Ties go to the lower
// index, as cortex_first_largest's do.
long cortex_quant_refined_choice(int type, const void *packed, long rows, long n, const void *interleaved, const float *first,
                                 const float *group_norms, const float *scales, float *bound) {
    const long blocks = n / 32, group_bytes = 16 * packed_block_bytes(type) * blocks, groups = (rows + 15) / 16;
    for (long g = 0; g < groups; g++) bound[g] = 1e-5f;
    for (long b = 0; b < blocks; b++) {
        const float error = 128.0f * 1.01f * fabsf(scales[b]), *column = group_norms + b * groups;
        for (long g = 0; g < groups; g++) bound[g] += column[g] * error;
    }
    const uint8_t *x = (const uint8_t *)(((uintptr_t)interleaved + 63) & ~(uintptr_t)63);
    float second[16];
    long best = -1;
    float best_value = -INFINITY;
    const long start = cortex_first_largest(first, rows) / 16;
    for (long step = 0; step < groups; step++) {
        const long g = step == 0 ? start : (step <= start ? step - 1 : step);
        const long end = (g + 1) * 16 < rows ? (g + 1) * 16 : rows;
        if (step > 0) {
            int reaches = 0;
            for (long r = g * 16; r < end; r++) reaches |= !(first[r] + bound[g] < best_value);
            if (!reaches) continue;
        }
        packed_group_of(type, (const uint8_t *)packed + g * group_bytes, blocks, x, 1, second, 16);
        for (long r = g * 16; r < end; r++) {
            const float value = first[r] + second[r - g * 16];
            if (best < 0 || value > best_value || (value == best_value && r < best)) { best = r; best_value = value; }
        }
    }
    return best;
}

#pragma clang attribute pop

// y[i * y_stride + r] for r < rows (a multiple of 16) and the m vectors that
// cortex_q8_interleave regrouped into `interleaved`, from rows packed by cortex_quant_pack16
// (`packed` at the first row's group). Single-threaded; callers split the rows in groups of
// 16. Call only where cortex_quant_has_integer_path.
void cortex_quant_matvec_packed(int type, const void *packed, long rows, long n, const void *interleaved, long m, float *y,
                                long y_stride) {
    // Each group of rows meets up to eight vectors at a time; a batch of more takes the group
    // again for the next eight, its blocks still in cache.
    const long blocks = n / 32, group_bytes = 16 * packed_block_bytes(type) * blocks;
    const uint8_t *x = (const uint8_t *)(((uintptr_t)interleaved + 63) & ~(uintptr_t)63);
    for (long g = 0; g < rows / 16; g++) {
        for (long start = 0; start < m; start += 8) {
            const int V = m - start >= 8 ? 8 : (int)(m - start);
            packed_group_of(type, (const uint8_t *)packed + g * group_bytes, blocks, x + start / 8 * blocks * INTERLEAVED_BLOCK_BYTES, V,
                            y + start * y_stride + 16 * g, y_stride);
        }
    }
}
