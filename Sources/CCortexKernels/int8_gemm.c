// Post-training int8 matrix products, as PyTorch's dynamically quantised Linear computes them
// (fbgemm): weights int8, symmetric, one scale per output channel; activations uint8 with a
// scale and zero point per row; products summed exactly in int32, then
//
//     y[i][j] = a_scale[i] * w_scale[j] * (acc[i][j] - a_zero[i] * Σ_k w[j][k]) + bias[j].
//
// The weights are packed once into panels of 16 output channels by groups of 4 inputs (64
// bytes: channel c's 4 codes at 4c), the layout of AVX512-VNNI's `vpdpbusd`, which multiplies
// 4 unsigned activation bytes by 4 signed weight bytes per 32-bit lane and adds the sum into
// it. A tile of up to 4 rows by 4 panels (64 channels) keeps 16 accumulators in registers; each
// group of 4 inputs costs 4 weight loads, 4 broadcasts and 16 `vpdpbusd`. Unlike the
// `vpmaddubsw` sequence older fbgemm kernels use, `vpdpbusd` never saturates, so activations
// take all 8 bits (no reduce_range) and the sums are exact.
//
// Elsewhere (no VNNI, or cortex_allow_avx512(0)) a portable kernel reads the same packing and
// gives the same integers.
#include "cortex_kernels_internal.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

enum { PANEL = 16, GROUP = 4, PANEL_GROUP_BYTES = PANEL * GROUP };

long cortex_int8_padded_inputs(long k) { return (k + GROUP - 1) / GROUP * GROUP; }

long cortex_int8_packed_bytes(long n, long k) {
    return (n + PANEL - 1) / PANEL * cortex_int8_padded_inputs(k) * PANEL;
}

void cortex_int8_pack_weights(const int8_t *w, long n, long k, int8_t *packed, int32_t *sums) {
    long groups = cortex_int8_padded_inputs(k) / GROUP, panels = (n + PANEL - 1) / PANEL;
    memset(packed, 0, (size_t)cortex_int8_packed_bytes(n, k));
    for (long p = 0; p < panels; p++)
        for (long c = 0; c < PANEL && p * PANEL + c < n; c++) {
            const int8_t *row = w + (p * PANEL + c) * k;
            int32_t sum = 0;
            for (long i = 0; i < k; i++) {
                packed[p * groups * PANEL_GROUP_BYTES + (i / GROUP) * PANEL_GROUP_BYTES + c * GROUP + i % GROUP] = row[i];
                sum += row[i];
            }
            sums[p * PANEL + c] = sum;
        }
}

void cortex_int8_quantize_weights(const float *w, long n, long k, int8_t *codes, float *scales) {
    for (long j = 0; j < n; j++) {
        const float *row = w + j * k;
        float largest = 0;
        for (long i = 0; i < k; i++) largest = fmaxf(largest, fabsf(row[i]));
        // PyTorch's per_channel_symmetric qint8 (PerChannelMinMaxObserver): scale
        // max |row| / 127.5 (at least float32's epsilon), zero point 0, codes rounded to
        // nearest even and clamped to [-128, 127].
        float scale = fmaxf(largest / 127.5f, 1.1920928955078125e-07f);
        float inverse = 1.0f / scale;
        scales[j] = scale;
        for (long i = 0; i < k; i++) {
            float q = nearbyintf(row[i] * inverse);
            codes[j * k + i] = (int8_t)(q > 127 ? 127 : q < -128 ? -128 : q);
        }
    }
}

// PyTorch's choose_qparams for quint8 over [min(x, 0), max(x, 0)] (fbgemm's
// ChooseQuantizationParams without reduce_range or sparsity preservation).
void cortex_int8_choose_parameters(float low, float high, float *scale, int32_t *zero_point) {
    low = fminf(low, 0), high = fmaxf(high, 0);
    double s = ((double)high - low) / 255.0;
    if ((float)s == 0 || isinf(1.0f / (float)s)) s = 0.1;
    // Scales below 6.1e-5 (float16's smallest normal) are raised to it, the range scaled to match.
    const float smallest = 6.1e-5f;
    if ((float)s < smallest) {
        float original = (float)s;
        s = smallest;
        if (low == 0) high = smallest * 255;
        else if (high == 0) low = -smallest * 255;
        else low *= smallest / original, high *= smallest / original;
    }
    double from_low = 0 - low / s, from_high = 255 - high / s;
    double error_low = 0 - fabs(low / s), error_high = 255 - fabs(high / s);
    double initial = error_low < error_high ? from_low : from_high;
    int32_t zero = initial < 0 ? 0 : initial > 255 ? 255 : (int32_t)nearbyint(initial);
    *scale = (float)s;
    *zero_point = zero;
}

static CLONES void row_range(const float *x, long k, float *low, float *high) {
    float lows[16], highs[16];
    for (int lane = 0; lane < 16; lane++) lows[lane] = highs[lane] = 0;
    long i = 0;
    for (; i + 16 <= k; i += 16)
        for (int lane = 0; lane < 16; lane++) {
            float v = x[i + lane];
            lows[lane] = v < lows[lane] ? v : lows[lane];
            highs[lane] = v > highs[lane] ? v : highs[lane];
        }
    float lo = 0, hi = 0;
    for (; i < k; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
    for (int lane = 0; lane < 16; lane++) lo = lows[lane] < lo ? lows[lane] : lo, hi = highs[lane] > hi ? highs[lane] : hi;
    *low = lo, *high = hi;
}

static CLONES void quantize_row(const float *x, long k, float scale, int32_t zero, uint8_t *codes) {
    float inverse = 1.0f / scale, zero_value = (float)zero;
    for (long i = 0; i < k; i++) {
        float q = nearbyintf(x[i] * inverse) + zero_value;
        codes[i] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
}

void cortex_int8_range(const float *x, long x_stride, long m, long k, float *low, float *high) {
    for (long r = 0; r < m; r++) {
        float lo, hi;
        row_range(x + r * x_stride, k, &lo, &hi);
        *low = r == 0 || lo < *low ? lo : *low;
        *high = r == 0 || hi > *high ? hi : *high;
    }
}

void cortex_int8_quantize_rows(const float *x, long x_stride, long m, long k, uint8_t *codes, long code_stride, float *scales,
                               int32_t *zero_points, float fixed_scale, int32_t fixed_zero_point) {
    for (long r = 0; r < m; r++) {
        const float *row = x + r * x_stride;
        float scale = fixed_scale;
        int32_t zero = fixed_zero_point;
        if (!(fixed_scale > 0)) {
            float lo, hi;
            row_range(row, k, &lo, &hi);
            cortex_int8_choose_parameters(lo, hi, &scale, &zero);
        }
        scales[r] = scale, zero_points[r] = zero;
        quantize_row(row, k, scale, zero, codes + r * code_stride);
        memset(codes + r * code_stride + k, 0, (size_t)(code_stride - k));
    }
}

// What a product writes: int32 sums (c, with c_stride), or floats through the dequantising
// epilogue (y, with y_stride).
typedef struct {
    int32_t *c;
    long c_stride;
    const float *row_scales, *column_scales, *bias;
    const int32_t *row_zero_points, *column_sums;
    float *y;
    long y_stride;
    long n;
} int8_output;

// Compiled for each CPU level (target clones), so the compiler vectorises its 16 x 4 inner loop.
static CLONES void portable_tile(const uint8_t *a, long a_stride, long rows, const int8_t *panel, long groups, long panel_index,
                          const int8_output *out, long first_row) {
    for (long r = 0; r < rows; r++) {
        int32_t acc[PANEL] = {0};
        const uint8_t *row = a + r * a_stride;
        for (long g = 0; g < groups; g++)
            for (int c = 0; c < PANEL; c++)
                for (int b = 0; b < GROUP; b++)
                    acc[c] += (int32_t)row[g * GROUP + b] * (int32_t)panel[g * PANEL_GROUP_BYTES + c * GROUP + b];
        long i = first_row + r;
        for (int c = 0; c < PANEL; c++) {
            long j = panel_index * PANEL + c;
            if (j >= out->n) break;
            if (out->c) {
                out->c[i * out->c_stride + j] = acc[c];
            } else {
                float value = out->row_scales[i] * out->column_scales[j]
                    * (float)(acc[c] - out->row_zero_points[i] * out->column_sums[j]);
                out->y[i * out->y_stride + j] = value + (out->bias ? out->bias[j] : 0);
            }
        }
    }
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"))), apply_to = function)

static inline __attribute__((always_inline)) void vnni_tile(const uint8_t *a, long a_stride, const int8_t *panels, long panel_bytes,
                                                            long groups, const int rows, const int count, long first_panel,
                                                            const int8_output *out, long first_row) {
    __m512i acc[4][4];
    for (int r = 0; r < rows; r++)
        for (int p = 0; p < count; p++) acc[r][p] = _mm512_setzero_si512();
    for (long g = 0; g < groups; g++) {
        __m512i w[4];
        for (int p = 0; p < count; p++) w[p] = _mm512_loadu_si512((const void *)(panels + p * panel_bytes + g * PANEL_GROUP_BYTES));
        for (int r = 0; r < rows; r++) {
            int32_t four;
            memcpy(&four, a + r * a_stride + g * GROUP, 4);
            __m512i x = _mm512_set1_epi32(four);
            for (int p = 0; p < count; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], x, w[p]);
        }
    }
    for (int p = 0; p < count; p++) {
        long j = (first_panel + p) * PANEL;
        long left = out->n - j;
        __mmask16 mask = left >= PANEL ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        if (out->c) {
            for (int r = 0; r < rows; r++) _mm512_mask_storeu_epi32(out->c + (first_row + r) * out->c_stride + j, mask, acc[r][p]);
            continue;
        }
        __m512 column_scales = _mm512_maskz_loadu_ps(mask, out->column_scales + j);
        __m512i sums = _mm512_maskz_loadu_epi32(mask, out->column_sums + j);
        __m512 bias = out->bias ? _mm512_maskz_loadu_ps(mask, out->bias + j) : _mm512_setzero_ps();
        for (int r = 0; r < rows; r++) {
            long i = first_row + r;
            __m512i corrected = _mm512_sub_epi32(acc[r][p], _mm512_mullo_epi32(_mm512_set1_epi32(out->row_zero_points[i]), sums));
            __m512 scale = _mm512_mul_ps(_mm512_set1_ps(out->row_scales[i]), column_scales);
            __m512 value = _mm512_add_ps(_mm512_mul_ps(scale, _mm512_cvtepi32_ps(corrected)), bias);
            _mm512_mask_storeu_ps(out->y + i * out->y_stride + j, mask, value);
        }
    }
}

// The tile with its row and panel counts as constants, so its loops unroll into registers.
#define VNNI_TILE(ROWS, COUNT) \
    case (ROWS) * 8 + (COUNT): \
        vnni_tile(a, a_stride, panels, panel_bytes, groups, ROWS, COUNT, first_panel, out, first_row); \
        return;

static void vnni_tile_any(const uint8_t *a, long a_stride, int rows, const int8_t *panels, long panel_bytes, long groups, int count,
                          long first_panel, const int8_output *out, long first_row) {
    switch (rows * 8 + count) {
        VNNI_TILE(4, 4) VNNI_TILE(4, 3) VNNI_TILE(4, 2) VNNI_TILE(4, 1)
        VNNI_TILE(3, 4) VNNI_TILE(3, 3) VNNI_TILE(3, 2) VNNI_TILE(3, 1)
        VNNI_TILE(2, 4) VNNI_TILE(2, 3) VNNI_TILE(2, 2) VNNI_TILE(2, 1)
        VNNI_TILE(1, 4) VNNI_TILE(1, 3) VNNI_TILE(1, 2) VNNI_TILE(1, 1)
    default: return;
    }
}

#pragma clang attribute pop

// Rows [first_row, end_row) of A (uint8, a_stride bytes apart, each padded with zeros to the
// packing's inputs) times panels [first_panel, end_panel) of the packed weights.
static void product(const uint8_t *a, long a_stride, long first_row, long end_row, const int8_t *packed, long k, long first_panel,
                    long end_panel, const int8_output *out) {
    long groups = cortex_int8_padded_inputs(k) / GROUP, panel_bytes = groups * PANEL_GROUP_BYTES;
    int vnni = cortex_has_avx512_vnni() && cortex_avx512_allowed() == 1;
    for (long p = first_panel; p < end_panel; p += 4) {
        int count = end_panel - p < 4 ? (int)(end_panel - p) : 4;
        for (long i = first_row; i < end_row; i += 4) {
            int rows = end_row - i < 4 ? (int)(end_row - i) : 4;
            const uint8_t *tile = a + i * a_stride;
            if (vnni) {
                vnni_tile_any(tile, a_stride, rows, packed + p * panel_bytes, panel_bytes, groups, count, p, out, i);
            } else {
                for (int q = 0; q < count; q++) portable_tile(tile, a_stride, rows, packed + (p + q) * panel_bytes, groups, p + q, out, i);
            }
        }
    }
}

void cortex_int8_gemm_s32(const uint8_t *a, long a_stride, long first_row, long end_row, const int8_t *packed, long n, long k,
                          long first_panel, long end_panel, int32_t *c, long c_stride) {
    int8_output out = {.c = c, .c_stride = c_stride, .n = n};
    product(a, a_stride, first_row, end_row, packed, k, first_panel, end_panel, &out);
}

void cortex_int8_linear(const uint8_t *a, long a_stride, const float *row_scales, const int32_t *row_zero_points, long first_row,
                        long end_row, const int8_t *packed, const float *column_scales, const int32_t *column_sums, const float *bias,
                        long n, long k, long first_panel, long end_panel, float *y, long y_stride) {
    int8_output out = {.row_scales = row_scales, .column_scales = column_scales, .bias = bias, .row_zero_points = row_zero_points,
                       .column_sums = column_sums, .y = y, .y_stride = y_stride, .n = n};
    product(a, a_stride, first_row, end_row, packed, k, first_panel, end_panel, &out);
}
