// Quantisers into ggml's block formats, the same arithmetic as ggml's reference quantisers
// (ggml-quants.c: quantize_row_q8_0_ref, q4_0_ref, q4_1_ref, q4_K_ref, q6_K_ref), so a tensor Cortex
// writes holds the bytes llama.cpp's own converter would write for it. Every product and
// quotient is rounded as C's scalar float operations round (no fused multiply-adds: ggml's
// base library is built for baseline x86-64), and halves are rounded to nearest even.
#include "cortex_kernels.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

static inline uint16_t half_of(float x) {
    _Float16 h = (_Float16)x;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

static inline float float_of_half(uint16_t bits) {
    _Float16 h;
    memcpy(&h, &bits, 2);
    return (float)h;
}

static inline void store_half(uint8_t *target, float x) {
    uint16_t bits = half_of(x);
    memcpy(target, &bits, 2);
}

// ggml's nearest_int: round to nearest even through the float adder.
static inline int nearest_int(float value) {
    float shifted = value + 12582912.f;
    int bits;
    memcpy(&bits, &shifted, sizeof(int));
    return (bits & 0x007fffff) - 0x00400000;
}

static inline int minimum(int a, int b) { return a < b ? a : b; }
static inline int maximum(int a, int b) { return a > b ? a : b; }

// Q8_0: 32 codes scaled by amax / 127 (2 + 32 bytes).
static void quantize_q8_0(const float *x, uint8_t *y, long blocks) {
    for (long i = 0; i < blocks; i++, x += 32, y += 34) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        store_half(y, d);
        for (int j = 0; j < 32; j++) y[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

// The signed value of largest magnitude (the first, on ties), as q4_0 takes it.
static inline float signed_extreme(const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

// Q4_0: 4-bit codes around 8, scale max / -8 (2 + 16 bytes); value j in the low nibble of byte
// j, value j + 16 in its high nibble.
static void quantize_q4_0(const float *x, uint8_t *y, long blocks) {
    for (long i = 0; i < blocks; i++, x += 32, y += 18) {
        const float d = signed_extreme(x) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        store_half(y, d);
        for (int j = 0; j < 16; j++) {
            const uint8_t low = (uint8_t)minimum(15, (int8_t)(x[j] * id + 8.5f));
            const uint8_t high = (uint8_t)minimum(15, (int8_t)(x[j + 16] * id + 8.5f));
            y[2 + j] = (uint8_t)(low | (high << 4));
        }
    }
}

static inline void block_range(const float *x, float *low, float *high) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *low = min;
    *high = max;
}

// Q4_1: 4-bit codes over [min, max] (2 + 2 + 16 bytes).
static void quantize_q4_1(const float *x, uint8_t *y, long blocks) {
    for (long i = 0; i < blocks; i++, x += 32, y += 20) {
        float min, max;
        block_range(x, &min, &max);
        const float d = (max - min) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        store_half(y, d);
        store_half(y + 2, min);
        for (int j = 0; j < 16; j++) {
            const uint8_t low = (uint8_t)minimum(15, (int8_t)((x[j] - min) * id + 0.5f));
            const uint8_t high = (uint8_t)minimum(15, (int8_t)((x[j + 16] - min) * id + 0.5f));
            y[4 + j] = (uint8_t)(low | (high << 4));
        }
    }
}

// ggml's make_qkx2_quants: codes 0...nmax for n weighted values with a scale and a (negated)
// minimum, the first guess refined over nstep + 1 trial scales by weighted least squares.
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min, uint8_t *Laux,
                              float rmin, float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)maximum(0, minimum(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = maximum(0, minimum(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// Q4_K: super-blocks of 256 values (2 + 2 + 12 + 128 bytes): eight 32-value sub-blocks, each
// with a 6-bit scale and minimum relative to the super-block's half-precision d and dmin.
static void quantize_q4_k(const float *x, uint8_t *y, long blocks) {
    uint8_t L[256], Laux[32];
    float weights[32], mins[8], scales[8];
    for (long i = 0; i < blocks; i++, x += 256, y += 144) {
        uint8_t *block_scales = y + 4, *q = y + 16;
        memset(block_scales, 0, 12);
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; ++j) {
            uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
            ls = ls < 63 ? ls : 63;
            lm = lm < 63 ? lm : 63;
            if (j < 4) {
                block_scales[j] = ls;
                block_scales[j + 4] = lm;
            } else {
                block_scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                block_scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                block_scales[j - 0] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        store_half(y, max_scale / 63.f);
        store_half(y + 2, max_min / 63.f);
        uint16_t d_bits, dmin_bits;
        memcpy(&d_bits, y, 2);
        memcpy(&dmin_bits, y + 2, 2);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            scale_min_k4(j, block_scales, &sc, &m);
            const float d = float_of_half(d_bits) * sc;
            if (!d) continue;
            const float dm = float_of_half(dmin_bits) * m;
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearest_int((x[32 * j + ii] + dm) / d);
                L[32 * j + ii] = (uint8_t)maximum(0, minimum(15, l));
            }
        }
        for (int j = 0; j < 256; j += 64) {
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

// ggml's make_qx_quants with rmse_type 1 (weights x², no early return): signed codes
// -nmax...nmax-1 stored offset by nmax, the scale fitted by least squares and the best of 19
// trial scales kept.
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = maximum(-nmax, minimum(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = maximum(-nmax, minimum(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + maximum(-nmax, minimum(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q6_K: super-blocks of 256 values (128 + 64 + 16 + 2 bytes): 6-bit codes (a low nibble in ql,
// two high bits in qh) around 32, an int8 scale per 16 values, one half-precision d.
static void quantize_q6_k(const float *x, uint8_t *y, long blocks) {
    int8_t L[256];
    float scales[16];
    for (long i = 0; i < blocks; i++, x += 256, y += 210) {
        uint8_t *ql = y, *qh = y + 128;
        int8_t *block_scales = (int8_t *)(y + 192);
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < 1e-15f) {
            memset(y, 0, 210);
            continue;
        }
        float iscale = -128.f / max_scale;
        store_half(y + 208, 1 / iscale);
        for (int ib = 0; ib < 16; ++ib) block_scales[ib] = (int8_t)minimum(127, nearest_int(iscale * scales[ib]));
        uint16_t d_bits;
        memcpy(&d_bits, y + 208, 2);
        for (int j = 0; j < 16; ++j) {
            float d = float_of_half(d_bits) * block_scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(maximum(-32, minimum(31, l)) + 32);
            }
        }
        for (int j = 0; j < 256; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

long cortex_quantize_row_bytes(int type, long n) {
    switch (type) {
    case CORTEX_QUANT_F32: return 4 * n;
    case CORTEX_QUANT_F16: return 2 * n;
    case CORTEX_QUANT_Q8_0: return n % 32 ? -1 : n / 32 * 34;
    case CORTEX_QUANT_Q4_0: return n % 32 ? -1 : n / 32 * 18;
    case CORTEX_QUANT_Q4_1: return n % 32 ? -1 : n / 32 * 20;
    case CORTEX_QUANT_Q4_K: return n % 256 ? -1 : n / 256 * 144;
    case CORTEX_QUANT_Q6_K: return n % 256 ? -1 : n / 256 * 210;
    default: return -1;
    }
}

int cortex_quantize_rows(int type, const float *x, long rows, long n, void *out) {
    const long row_bytes = cortex_quantize_row_bytes(type, n);
    if (row_bytes < 0) return -1;
    uint8_t *y = out;
    for (long r = 0; r < rows; r++, x += n, y += row_bytes) {
        switch (type) {
        case CORTEX_QUANT_F32: memcpy(y, x, (size_t)n * 4); break;
        case CORTEX_QUANT_F16: for (long j = 0; j < n; j++) store_half(y + 2 * j, x[j]); break;
        case CORTEX_QUANT_Q8_0: quantize_q8_0(x, y, n / 32); break;
        case CORTEX_QUANT_Q4_0: quantize_q4_0(x, y, n / 32); break;
        case CORTEX_QUANT_Q4_1: quantize_q4_1(x, y, n / 32); break;
        case CORTEX_QUANT_Q4_K: quantize_q4_k(x, y, n / 256); break;
        case CORTEX_QUANT_Q6_K: quantize_q6_k(x, y, n / 256); break;
        default: return -1;
        }
    }
    return 0;
}
