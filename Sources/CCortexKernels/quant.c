// Block-quantised weights in ggml's formats (the layouts GGUF files store): dequantisation of
// whole blocks, and matrix-vector products computed straight from the blocks.
//
// Each format packs a row of n values into n / block_size blocks of type_size bytes:
//   Q8_0 (32 values, 34 bytes): float16 d, 32 int8 q              x = d * q
//   Q4_0 (32, 18): float16 d, 16 bytes of nibbles                 x = d * (q - 8)
//   Q4_1 (32, 20): float16 d, float16 m, 16 bytes of nibbles      x = d * q + m
//   (value j < 16 is byte j's low nibble, value j + 16 its high nibble)
//   Q4_K (256, 144): float16 d, dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of
//       32, 128 bytes of nibbles                                  x = d * sc * q - dmin * m
//   Q6_K (256, 210): 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales,
//       float16 d                                                 x = d * sc * (q - 32)
// The arithmetic follows ggml's reference dequantisation (and gguf-py's), so a product here
// equals the dense product with the dequantised weights up to summation order.
#include "cortex_kernels_internal.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) { mantissa <<= 1; exponent--; }
            bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float value;
    memcpy(&value, &bits, 4);
    return value;
}


long cortex_quant_block_size(int type) {
    switch (type) {
    case CORTEX_QUANT_F32: case CORTEX_QUANT_F16: case CORTEX_QUANT_BF16: return 1;
    case CORTEX_QUANT_Q8_0: case CORTEX_QUANT_Q4_0: case CORTEX_QUANT_Q4_1: case CORTEX_QUANT_Q5_0: case CORTEX_QUANT_Q5_1: return 32;
    case CORTEX_QUANT_Q2_K: case CORTEX_QUANT_Q3_K: case CORTEX_QUANT_Q4_K: case CORTEX_QUANT_Q5_K: case CORTEX_QUANT_Q6_K: return 256;
    default: return 0;
    }
}

long cortex_quant_type_size(int type) {
    switch (type) {
    case CORTEX_QUANT_F32: return 4;
    case CORTEX_QUANT_F16: case CORTEX_QUANT_BF16: return 2;
    case CORTEX_QUANT_Q8_0: return 34;
    case CORTEX_QUANT_Q4_0: return 18;
    case CORTEX_QUANT_Q4_1: return 20;
    case CORTEX_QUANT_Q5_0: return 22;
    case CORTEX_QUANT_Q5_1: return 24;
    case CORTEX_QUANT_Q2_K: return 84;
    case CORTEX_QUANT_Q3_K: return 110;
    case CORTEX_QUANT_Q4_K: return 144;
    case CORTEX_QUANT_Q5_K: return 176;
    case CORTEX_QUANT_Q6_K: return 210;
    default: return 0;
    }
}

static void scale_min_k4(int j, const uint8_t *q, uint8_t *scale, uint8_t *minimum) {
    if (j < 4) {
        *scale = q[j] & 63;
        *minimum = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *minimum = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// n values (a whole number of blocks) from src into y.
CLONES void cortex_quant_dequantize(int type, const void *source, float *y, long n) {
    const uint8_t *src = source;
    switch (type) {
    case CORTEX_QUANT_F32:
        memcpy(y, src, (size_t)n * 4);
        return;
    case CORTEX_QUANT_F16:
        for (long i = 0; i < n; i++) y[i] = half_to_float(cortex_load_u16(src + 2 * i));
        return;
    case CORTEX_QUANT_BF16:
        for (long i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)cortex_load_u16(src + 2 * i) << 16;
            memcpy(y + i, &bits, 4);
        }
        return;
    case CORTEX_QUANT_Q8_0:
        for (long b = 0; b < n / 32; b++, src += 34, y += 32) {
            float d = half_to_float(cortex_load_u16(src));
            const int8_t *q = (const int8_t *)(src + 2);
            for (int j = 0; j < 32; j++) y[j] = d * (float)q[j];
        }
        return;
    case CORTEX_QUANT_Q4_0:
        for (long b = 0; b < n / 32; b++, src += 18, y += 32) {
            float d = half_to_float(cortex_load_u16(src));
            const uint8_t *q = src + 2;
            for (int j = 0; j < 16; j++) {
                y[j] = d * (float)((q[j] & 0xF) - 8);
                y[j + 16] = d * (float)((q[j] >> 4) - 8);
            }
        }
        return;
    case CORTEX_QUANT_Q4_1:
        for (long b = 0; b < n / 32; b++, src += 20, y += 32) {
            float d = half_to_float(cortex_load_u16(src)), m = half_to_float(cortex_load_u16(src + 2));
            const uint8_t *q = src + 4;
            for (int j = 0; j < 16; j++) {
                y[j] = d * (float)(q[j] & 0xF) + m;
                y[j + 16] = d * (float)(q[j] >> 4) + m;
            }
        }
        return;
    case CORTEX_QUANT_Q4_K:
        for (long b = 0; b < n / 256; b++, src += 144) {
            float d = half_to_float(cortex_load_u16(src)), dmin = half_to_float(cortex_load_u16(src + 2));
            const uint8_t *scales = src + 4, *q = src + 16;
            for (int j = 0; j < 8; j += 2, q += 32) {
                uint8_t scale, minimum;
                scale_min_k4(j, scales, &scale, &minimum);
                float d1 = d * scale, m1 = dmin * minimum;
                scale_min_k4(j + 1, scales, &scale, &minimum);
                float d2 = d * scale, m2 = dmin * minimum;
                for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
            }
        }
        return;
    // Q5_0 / Q5_1: 16 bytes of low nibbles, the fifth bits of the 32 values in a 32-bit mask.
    case CORTEX_QUANT_Q5_0:
    case CORTEX_QUANT_Q5_1: {
        int offset = type == CORTEX_QUANT_Q5_1;
        long bytes = cortex_quant_type_size(type);
        for (long b = 0; b < n / 32; b++, src += bytes, y += 32) {
            float d = half_to_float(cortex_load_u16(src)), m = offset ? half_to_float(cortex_load_u16(src + 2)) : 0;
            uint32_t high;
            memcpy(&high, src + 2 + 2 * offset, 4);
            const uint8_t *q = src + 6 + 2 * offset;
            int bias = offset ? 0 : 16;
            for (int j = 0; j < 16; j++) {
                int low = (q[j] & 0xF) | (((high >> j) << 4) & 0x10), upper = (q[j] >> 4) | ((high >> (j + 12)) & 0x10);
                y[j] = (float)(low - bias) * d + m;
                y[j + 16] = (float)(upper - bias) * d + m;
            }
        }
        return;
    }
    // Q2_K: 16 sub-blocks of 16, each a 4-bit scale and 4-bit minimum; 2-bit codes.
    case CORTEX_QUANT_Q2_K:
        for (long b = 0; b < n / 256; b++, src += 84) {
            const uint8_t *scales = src, *q = src + 16;
            float d = half_to_float(cortex_load_u16(src + 80)), dmin = half_to_float(cortex_load_u16(src + 82));
            int is = 0;
            for (int half = 0; half < 2; half++, q += 32)
                for (int shift = 0; shift < 8; shift += 2)
                    for (int part = 0; part < 2; part++) {
                        uint8_t sc = scales[is++];
                        float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                        for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16 * part] >> shift) & 3) - ml;
                    }
        }
        return;
    // Q3_K: 2-bit codes plus a high-bit mask (set: +0, clear: -4), 16 signed 6-bit scales.
    case CORTEX_QUANT_Q3_K:
        for (long b = 0; b < n / 256; b++, src += 110) {
            const uint8_t *mask = src, *q = src + 32;
            float d = half_to_float(cortex_load_u16(src + 108));
            uint32_t aux[4];
            memcpy(aux, src + 96, 12);
            uint32_t tmp = aux[2];
            aux[2] = ((aux[0] >> 4) & 0x0f0f0f0f) | (((tmp >> 4) & 0x03030303) << 4);
            aux[3] = ((aux[1] >> 4) & 0x0f0f0f0f) | (((tmp >> 6) & 0x03030303) << 4);
            aux[0] = (aux[0] & 0x0f0f0f0f) | (((tmp >> 0) & 0x03030303) << 4);
            aux[1] = (aux[1] & 0x0f0f0f0f) | (((tmp >> 2) & 0x03030303) << 4);
            const int8_t *scales = (const int8_t *)aux;
            int is = 0;
            uint8_t bit = 1;
            for (int half = 0; half < 2; half++, q += 32)
                for (int shift = 0; shift < 8; shift += 2, bit <<= 1)
                    for (int part = 0; part < 2; part++) {
                        float dl = d * (float)(scales[is++] - 32);
                        for (int l = 0; l < 16; l++) {
                            int k = l + 16 * part;
                            *y++ = dl * (float)(((q[k] >> shift) & 3) - ((mask[k] & bit) ? 0 : 4));
                        }
                    }
        }
        return;
    // Q5_K: Q4_K's scales and minimums with a fifth bit per value in qh.
    case CORTEX_QUANT_Q5_K:
        for (long b = 0; b < n / 256; b++, src += 176) {
            float d = half_to_float(cortex_load_u16(src)), dmin = half_to_float(cortex_load_u16(src + 2));
            const uint8_t *scales = src + 4, *high = src + 16, *q = src + 48;
            uint8_t u1 = 1, u2 = 2;
            for (int j = 0; j < 8; j += 2, q += 32, u1 <<= 2, u2 <<= 2) {
                uint8_t scale, minimum;
                scale_min_k4(j, scales, &scale, &minimum);
                float d1 = d * scale, m1 = dmin * minimum;
                scale_min_k4(j + 1, scales, &scale, &minimum);
                float d2 = d * scale, m2 = dmin * minimum;
                for (int l = 0; l < 32; l++) *y++ = d1 * (float)((q[l] & 0xF) + (high[l] & u1 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; l++) *y++ = d2 * (float)((q[l] >> 4) + (high[l] & u2 ? 16 : 0)) - m2;
            }
        }
        return;
    case CORTEX_QUANT_Q6_K:
        for (long b = 0; b < n / 256; b++, src += 210) {
            const uint8_t *ql = src, *qh = src + 128;
            const int8_t *scales = (const int8_t *)(src + 192);
            float d = half_to_float(cortex_load_u16(src + 208));
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, scales += 8, y += 128) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = (d * scales[is]) * (float)q1;
                    y[l + 32] = (d * scales[is + 2]) * (float)q2;
                    y[l + 64] = (d * scales[is + 4]) * (float)q3;
                    y[l + 96] = (d * scales[is + 6]) * (float)q4;
                }
            }
        }
        return;
    default:
        return;
    }
}

// Bytes of one 32-value chunk of a Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/F16/F32 row.
static inline long chunk32_bytes(int type) {
    switch (type) {
    case CORTEX_QUANT_Q5_1: return 24;
    case CORTEX_QUANT_Q5_0: return 22;
    case CORTEX_QUANT_Q4_1: return 20;
    case CORTEX_QUANT_Q4_0: return 18;
    case CORTEX_QUANT_Q8_0: return 34;
    case CORTEX_QUANT_F16: return 64;
    default: return 128;
    }
}

// The drivers of an instruction set's shared_dot_group (GROUP), defined once and expanded in
// each set's target region. NAME: every row against one vector, the format a constant in
// each case, so the per-row call and the format's switch per chunk are gone from a decoding
// step's largest product.
#define ONE_VECTOR_ROWS(GROUP, TYPE)                                                                      \
    case TYPE:                                                                                            \
        for (long r = 0; r < rows; r++) GROUP(TYPE, w + r * row_bytes, n, x, 0, 1, y + r);              \
        return;
#define ROWS_ONE_VECTOR(NAME, GROUP)                                                                      \
    static void NAME(int type, const uint8_t *w, long row_bytes, long rows, long n, const float *x, float *y) { \
        switch (type) {                                                                                   \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_Q8_0)                                                     \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_Q4_0)                                                     \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_Q4_1)                                                     \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_Q5_0)                                                     \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_Q5_1)                                                     \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_F16)                                                      \
            ONE_VECTOR_ROWS(GROUP, CORTEX_QUANT_F32)                                                      \
        }                                                                                                 \
    }
// NAME: one row against m vectors, in groups of WIDEST (the most GROUP's accumulators hold),
// then 4, 2 and 1.
#define SHARED_DOT_ROW(NAME, GROUP, WIDEST)                                                               \
    static void NAME(int type, const uint8_t *w, long n, const float *x, long x_stride, long m, float *out) { \
        long i = 0;                                                                                       \
        for (; i + WIDEST <= m; i += WIDEST) GROUP(type, w, n, x + i * x_stride, x_stride, WIDEST, out + i); \
        if (WIDEST > 4 && i + 4 <= m) { GROUP(type, w, n, x + i * x_stride, x_stride, 4, out + i); i += 4; } \
        if (i + 2 <= m) { GROUP(type, w, n, x + i * x_stride, x_stride, 2, out + i); i += 2; }          \
        if (i < m) GROUP(type, w, n, x + i * x_stride, x_stride, 1, out + i);                             \
    }

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,f16c"))), apply_to = function)


// Dot products of one Q4_0/Q4_1/Q8_0/F16/F32 row with m vectors, 16 lanes at a time, each
// weight dequantised as the reference does and then multiplied (no integer shortcuts).
static void avx512_dot_row(int type, const uint8_t *w, long n, const float *x, long x_stride, long m, float *out) {
    const __m512 levels = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 centred_levels = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    const long block_bytes = type == CORTEX_QUANT_Q4_1 ? 20 : 18;
    for (long i = 0; i < m; i++) {
        const float *v = x + i * x_stride;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        const uint8_t *p = w;
        switch (type) {
        case CORTEX_QUANT_Q4_1:
        case CORTEX_QUANT_Q4_0:
            // The 16 values a block's nibbles can stand for (d * q + m, or d * (q - 8)), made once
            // per block as the reference dequantises them, then looked up per weight.
            for (long b = 0; b < n / 32; b++, p += block_bytes, v += 32) {
                __m512 d = _mm512_set1_ps(cortex_half_at(p));
                __m512 table = type == CORTEX_QUANT_Q4_1 ? _mm512_add_ps(_mm512_mul_ps(d, levels), _mm512_set1_ps(cortex_half_at(p + 2)))
                                                         : _mm512_mul_ps(d, centred_levels);
                __m128i bytes = _mm_loadu_si128((const __m128i *)(p + block_bytes - 16));
                __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F)), high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
                acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(low), table), _mm512_loadu_ps(v), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(high), table), _mm512_loadu_ps(v + 16), acc1);
            }
            break;
        case CORTEX_QUANT_Q8_0:
            for (long b = 0; b < n / 32; b++, p += 34, v += 32) {
                __m512 d = _mm512_set1_ps(cortex_half_at(p));
                __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2))));
                __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18))));
                acc0 = _mm512_fmadd_ps(_mm512_mul_ps(d, q0), _mm512_loadu_ps(v), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_mul_ps(d, q1), _mm512_loadu_ps(v + 16), acc1);
            }
            break;
        case CORTEX_QUANT_Q4_K:
            // Per 256-value block: 8 sub-blocks of 32 with 6-bit scales and minimums; sub-block
            // 2j takes the low nibbles of 32 bytes, 2j + 1 their high nibbles. Each sub-block's
            // 16 levels (d * sc * q - dmin * m) are made once and looked up.
            for (long b = 0; b < n / 256; b++, p += 144, v += 256) {
                const float d = cortex_half_at(p), dmin = cortex_half_at(p + 2);
                const uint8_t *q = p + 16;
                for (int j = 0; j < 8; j += 2, q += 32) {
                    uint8_t scale, minimum;
                    scale_min_k4(j, p + 4, &scale, &minimum);
                    __m512 low_table = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(d * scale), levels), _mm512_set1_ps(dmin * minimum));
                    scale_min_k4(j + 1, p + 4, &scale, &minimum);
                    __m512 high_table = _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(d * scale), levels), _mm512_set1_ps(dmin * minimum));
                    for (int half = 0; half < 2; half++) {
                        __m128i bytes = _mm_loadu_si128((const __m128i *)(q + 16 * half));
                        __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F)), high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
                        const float *lanes = v + 32 * j + 16 * half;
                        acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(low), low_table), _mm512_loadu_ps(lanes), acc0);
                        acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(high), high_table), _mm512_loadu_ps(lanes + 32), acc1);
                    }
                }
            }
            break;
        case CORTEX_QUANT_Q6_K:
            // Per 256-value block, two halves of 128: 6-bit values from a low nibble (ql) and two
            // high bits (qh), minus 32, times d * the int8 scale of each 16 values.
            for (long b = 0; b < n / 256; b++, p += 210, v += 256) {
                const float d = cortex_half_at(p + 208);
                const int8_t *scales = (const int8_t *)(p + 192);
                for (int half = 0; half < 2; half++) {
                    const uint8_t *ql = p + 64 * half, *qh = p + 128 + 32 * half;
                    const float *base = v + 128 * half;
                    for (int l = 0; l < 32; l += 16) {
                        const int8_t *sc = scales + 8 * half + l / 16;
                        __m128i low_a = _mm_loadu_si128((const __m128i *)(ql + l)), low_b = _mm_loadu_si128((const __m128i *)(ql + l + 32));
                        __m128i high = _mm_loadu_si128((const __m128i *)(qh + l)), nibble = _mm_set1_epi8(0x0F), pair = _mm_set1_epi8(0x03);
                        __m128i values[4] = {
                            _mm_or_si128(_mm_and_si128(low_a, nibble), _mm_slli_epi16(_mm_and_si128(high, pair), 4)),
                            _mm_or_si128(_mm_and_si128(low_b, nibble), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(high, 2), pair), 4)),
                            _mm_or_si128(_mm_and_si128(_mm_srli_epi16(low_a, 4), nibble), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(high, 4), pair), 4)),
                            _mm_or_si128(_mm_and_si128(_mm_srli_epi16(low_b, 4), nibble), _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(high, 6), pair), 4)),
                        };
                        for (int part = 0; part < 4; part++) {
                            __m512 q = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(values[part]), _mm512_set1_epi32(32)));
                            __m512 weights = _mm512_mul_ps(_mm512_set1_ps(d * sc[2 * part]), q);
                            if (part % 2 == 0) acc0 = _mm512_fmadd_ps(weights, _mm512_loadu_ps(base + l + 32 * part), acc0);
                            else acc1 = _mm512_fmadd_ps(weights, _mm512_loadu_ps(base + l + 32 * part), acc1);
                        }
                    }
                }
            }
            break;
        case CORTEX_QUANT_F16:
            for (long k = 0; k < n / 32; k++, p += 64, v += 32) {
                acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)), _mm512_loadu_ps(v), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32))), _mm512_loadu_ps(v + 16), acc1);
            }
            break;
        case CORTEX_QUANT_F32:
            for (long k = 0; k < n / 32; k++, p += 128, v += 32) {
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)p), _mm512_loadu_ps(v), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_loadu_ps((const float *)(p + 64)), _mm512_loadu_ps(v + 16), acc1);
            }
            break;
        }
        out[i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    }
}

// One 32-value chunk of a Q4_0/Q4_1/Q8_0/F16/F32 row dequantised into two vectors of 16, with
// the same arithmetic as avx512_dot_row (so either path gives the same bits for a vector).
static inline __attribute__((always_inline)) void dequantize_chunk32(int type, const uint8_t *p, __m512 *w0, __m512 *w1) {
    switch (type) {
    case CORTEX_QUANT_Q4_1:
    case CORTEX_QUANT_Q4_0: {
        const __m512 levels = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m512 centred_levels = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
        const long block_bytes = type == CORTEX_QUANT_Q4_1 ? 20 : 18;
        __m512 d = _mm512_set1_ps(cortex_half_at(p));
        __m512 table = type == CORTEX_QUANT_Q4_1 ? _mm512_add_ps(_mm512_mul_ps(d, levels), _mm512_set1_ps(cortex_half_at(p + 2)))
                                                 : _mm512_mul_ps(d, centred_levels);
        __m128i bytes = _mm_loadu_si128((const __m128i *)(p + block_bytes - 16));
        __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F)), high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
        *w0 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(low), table);
        *w1 = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(high), table);
        return;
    }
    // Q5_0 / Q5_1: the nibbles, plus 16 where the block's 32-bit mask has the value's bit;
    // (q - 16) * d, or q * d + m, as the reference dequantises.
    case CORTEX_QUANT_Q5_0:
    case CORTEX_QUANT_Q5_1: {
        const int offset = type == CORTEX_QUANT_Q5_1 ? 2 : 0;
        uint32_t mask;
        memcpy(&mask, p + 2 + offset, 4);
        __m128i bytes = _mm_loadu_si128((const __m128i *)(p + 6 + offset));
        __m512i q0 = _mm512_cvtepu8_epi32(_mm_and_si128(bytes, _mm_set1_epi8(0x0F)));
        __m512i q1 = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F)));
        const __m512i sixteen = _mm512_set1_epi32(16);
        q0 = _mm512_mask_add_epi32(q0, (__mmask16)(mask & 0xFFFF), q0, sixteen);
        q1 = _mm512_mask_add_epi32(q1, (__mmask16)(mask >> 16), q1, sixteen);
        __m512 d = _mm512_set1_ps(cortex_half_at(p));
        if (offset) {
            __m512 m = _mm512_set1_ps(cortex_half_at(p + 2));
            *w0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q0), d), m);
            *w1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(q1), d), m);
        } else {
            *w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q0, sixteen)), d);
            *w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q1, sixteen)), d);
        }
        return;
    }
    case CORTEX_QUANT_Q8_0: {
        __m512 d = _mm512_set1_ps(cortex_half_at(p));
        *w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))));
        *w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))));
        return;
    }
    case CORTEX_QUANT_F16:
        *w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        *w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
        return;
    default:
        *w0 = _mm512_loadu_ps((const float *)p);
        *w1 = _mm512_loadu_ps((const float *)(p + 64));
        return;
    }
}

// `count` vectors (a constant where it is inlined) against one row: each 32-value chunk is
// dequantised once and multiplied into every vector's two accumulators, so a batch of decode
// positions shares the dequantisation as it shares the row's bytes.
static inline __attribute__((always_inline)) void shared_dot_group(int type, const uint8_t *w, long n, const float *x, long x_stride,
                                                                   const int count, float *out) {
    __m512 acc0[8], acc1[8];
    for (int i = 0; i < count; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
    const long bytes = chunk32_bytes(type);
    const uint8_t *p = w;
    for (long b = 0; b < n / 32; b++, p += bytes) {
        // Far ahead, as the integer kernels prefetch (quant_int8.c): the row streams of a
        // decoding step outrun the hardware prefetcher. Into L2, whose misses in flight are
        // many more than L1's: one row stream of F16 from memory went from 10.7 to 22.1 GB/s
        // on Zen 4 (F32 17.0 to 19.9), where into L1 the prefetches waited on L1's few buffers.
        _mm_prefetch((const char *)(p + 8192), _MM_HINT_T1);
        if (bytes > 64) _mm_prefetch((const char *)(p + 8192 + 64), _MM_HINT_T1);
        __m512 w0, w1;
        dequantize_chunk32(type, p, &w0, &w1);
        for (int i = 0; i < count; i++) {
            const float *v = x + i * x_stride + 32 * b;
            acc0[i] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v), acc0[i]);
            acc1[i] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v + 16), acc1[i]);
        }
    }
    for (int i = 0; i < count; i++) out[i] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i]));
}

ROWS_ONE_VECTOR(avx512_rows_one_vector, shared_dot_group)
SHARED_DOT_ROW(avx512_shared_dot_row, shared_dot_group, 8)

#pragma clang attribute pop

// CPUs with AVX2 and FMA but no AVX-512 (AMD Zen 3, older Xeons): the same shared-chunk
// kernels in 8-lane vectors, each 32-value chunk dequantised as the reference does (Q4_0:
// (q - 8) * d; Q4_1: q * d + m; Q8_0: q * d), so the products equal the portable kernel's up to
// summation order.
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

static inline __attribute__((always_inline)) void avx2_dequantize_chunk32(int type, const uint8_t *p, __m256 w[4]) {
    switch (type) {
    case CORTEX_QUANT_Q4_1:
    case CORTEX_QUANT_Q4_0: {
        const long block_bytes = type == CORTEX_QUANT_Q4_1 ? 20 : 18;
        const __m256 d = _mm256_set1_ps(cortex_half_at(p));
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(p + block_bytes - 16));
        const __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F)), high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
        const __m128i parts[4] = {low, _mm_srli_si128(low, 8), high, _mm_srli_si128(high, 8)};
        for (int k = 0; k < 4; k++) {
            __m256i q = _mm256_cvtepu8_epi32(parts[k]);
            if (type == CORTEX_QUANT_Q4_0) {
                w[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, _mm256_set1_epi32(8))), d);
            } else {
                w[k] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), d), _mm256_set1_ps(cortex_half_at(p + 2)));
            }
        }
        return;
    }
    case CORTEX_QUANT_Q5_0:
    case CORTEX_QUANT_Q5_1: {
        const int offset = type == CORTEX_QUANT_Q5_1 ? 2 : 0;
        uint32_t mask;
        memcpy(&mask, p + 2 + offset, 4);
        const __m256 d = _mm256_set1_ps(cortex_half_at(p));
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(p + 6 + offset));
        const __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F)), high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
        const __m128i parts[4] = {low, _mm_srli_si128(low, 8), high, _mm_srli_si128(high, 8)};
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for (int k = 0; k < 4; k++) {
            // Values 8k .. 8k + 7 take bits 8k .. 8k + 7 of the mask as their fifth bit.
            __m256i fifth = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)(mask >> (8 * k))), lanes), _mm256_set1_epi32(1));
            __m256i q = _mm256_or_si256(_mm256_cvtepu8_epi32(parts[k]), _mm256_slli_epi32(fifth, 4));
            if (offset) {
                w[k] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), d), _mm256_set1_ps(cortex_half_at(p + 2)));
            } else {
                w[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, _mm256_set1_epi32(16))), d);
            }
        }
        return;
    }
    case CORTEX_QUANT_Q8_0: {
        const __m256 d = _mm256_set1_ps(cortex_half_at(p));
        for (int k = 0; k < 4; k++) w[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 2 + 8 * k)))), d);
        return;
    }
    case CORTEX_QUANT_F16:
        for (int k = 0; k < 4; k++) w[k] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * k)));
        return;
    default:
        for (int k = 0; k < 4; k++) w[k] = _mm256_loadu_ps((const float *)p + 8 * k);
        return;
    }
}

static inline __attribute__((always_inline)) void avx2_shared_dot_group(int type, const uint8_t *w, long n, const float *x, long x_stride,
                                                                        const int count, float *out) {
    __m256 acc0[4], acc1[4];
    for (int i = 0; i < count; i++) acc0[i] = acc1[i] = _mm256_setzero_ps();
    const long bytes = chunk32_bytes(type);
    const uint8_t *p = w;
    for (long b = 0; b < n / 32; b++, p += bytes) {
        _mm_prefetch((const char *)(p + 8192), _MM_HINT_T0);
        if (bytes > 64) _mm_prefetch((const char *)(p + 8192 + 64), _MM_HINT_T0);
        __m256 weights[4];
        avx2_dequantize_chunk32(type, p, weights);
        for (int i = 0; i < count; i++) {
            const float *v = x + i * x_stride + 32 * b;
            acc0[i] = _mm256_fmadd_ps(weights[0], _mm256_loadu_ps(v), acc0[i]);
            acc1[i] = _mm256_fmadd_ps(weights[1], _mm256_loadu_ps(v + 8), acc1[i]);
            acc0[i] = _mm256_fmadd_ps(weights[2], _mm256_loadu_ps(v + 16), acc0[i]);
            acc1[i] = _mm256_fmadd_ps(weights[3], _mm256_loadu_ps(v + 24), acc1[i]);
        }
    }
    for (int i = 0; i < count; i++) {
        __m256 sum = _mm256_add_ps(acc0[i], acc1[i]);
        __m128 half = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
        half = _mm_add_ps(half, _mm_movehl_ps(half, half));
        out[i] = _mm_cvtss_f32(_mm_add_ss(half, _mm_movehdup_ps(half)));
    }
}

ROWS_ONE_VECTOR(avx2_rows_one_vector, avx2_shared_dot_group)
SHARED_DOT_ROW(avx2_shared_dot_row, avx2_shared_dot_group, 4)

#pragma clang attribute pop

static int has_avx2_fma(void) {
    static int available = -1;
    if (available < 0) available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return available;
}

// Any format: dequantise 256 values at a time into a small buffer, then dot.
CLONES static void generic_dot_row(int type, const uint8_t *w, long n, const float *x, long x_stride, long m, float *out) {
    float chunk[256];
    long block = cortex_quant_block_size(type), bytes = cortex_quant_type_size(type);
    long step = 256 / block * bytes;
    for (long i = 0; i < m; i++) out[i] = 0;
    for (long start = 0; start < n; start += 256, w += step) {
        long count = n - start < 256 ? n - start : 256;
        cortex_quant_dequantize(type, w, chunk, count);
        for (long i = 0; i < m; i++) {
            out[i] += cortex_dot_lanes(chunk, x + i * x_stride + start, count);
        }
    }
}

void cortex_quant_matvec(int type, const void *weights, long row_bytes, long rows, long n, const float *x, long x_stride,
                         long m, float *y, long y_stride) {
    const uint8_t *w = weights;
    int shared = type == CORTEX_QUANT_Q4_1 || type == CORTEX_QUANT_Q4_0 || type == CORTEX_QUANT_Q5_0 || type == CORTEX_QUANT_Q5_1
        || type == CORTEX_QUANT_Q8_0 || type == CORTEX_QUANT_F16 || type == CORTEX_QUANT_F32;
    int fast = cortex_has_avx512() && n % 32 == 0 && (shared || type == CORTEX_QUANT_Q4_K || type == CORTEX_QUANT_Q6_K);
    // The 32-value formats share each chunk's dequantisation among the vectors; the K formats
    // dequantise per vector.
    // Without AVX-512: the AVX2 kernels for the 32-value formats (switched off with the
    // AVX-512 ones by cortex_allow_avx512(0), so tests compare them with the portable kernel).
    // Other formats (BF16, Q2_K, Q3_K, Q5_K) take the generic kernel: blocks
    // dequantised 256 values at a time, dotted in the vectorised clone of the CPU.
    int avx2 = !fast && shared && n % 32 == 0 && cortex_avx512_allowed() && has_avx2_fma();
    if (fast && shared && m == 1) {
        avx512_rows_one_vector(type, w, row_bytes, rows, n, x, y);
        return;
    }
    if (avx2 && m == 1) {
        avx2_rows_one_vector(type, w, row_bytes, rows, n, x, y);
        return;
    }
    float out[16];
    for (long r = 0; r < rows; r++, w += row_bytes) {
        for (long start = 0; start < m; start += 16) {
            long count = m - start < 16 ? m - start : 16;
            if (fast && shared) avx512_shared_dot_row(type, w, n, x + start * x_stride, x_stride, count, out);
            else if (avx2) avx2_shared_dot_row(type, w, n, x + start * x_stride, x_stride, count, out);
            else if (fast) avx512_dot_row(type, w, n, x + start * x_stride, x_stride, count, out);
            else generic_dot_row(type, w, n, x + start * x_stride, x_stride, count, out);
            for (long i = 0; i < count; i++) y[(start + i) * y_stride + r] = out[i];
        }
    }
}
