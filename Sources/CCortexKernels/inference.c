// Fused inference kernels for decoding, where each op's tensors are a few hundred floats and
// the composite forms (six ops for an RMS norm, nine for a rotary embedding) cost more in
// per-op overhead than in arithmetic. Each computes what the composite computes, operation by
// operation (no contraction into fused multiply-adds), except for the order of a norm's sum.
#include "cortex_kernels_internal.h"

// y = x / sqrt(mean(x²) + epsilon) * weight, for `rows` rows of n floats.
CLONES void cortex_rms_norm(const float *x, const float *weight, float *y, long rows, long n, float epsilon) {
    for (long r = 0; r < rows; r++, x += n, y += n) {
        float mean = cortex_dot_lanes(x, x, n) / (float)n;
        float scale = 1.0f / sqrtf(mean + epsilon);
        for (long i = 0; i < n; i++) {
            float normalised = x[i] * scale;
            y[i] = normalised * weight[i];
        }
    }
}

// y = (x - mean) / sqrt(variance + epsilon) * weight + bias over rows of n (weight and bias
// may be NULL), as LayerNorm's composite computes it: the mean, then the centred values,
// their mean square, and each value scaled.
CLONES void cortex_layer_norm(const float *x, const float *weight, const float *bias, float *y, long rows, long n, float epsilon) {
    for (long r = 0; r < rows; r++, x += n, y += n) {
        float partial[16] = {0};
        long i = 0;
        for (; i + 16 <= n; i += 16)
            for (int lane = 0; lane < 16; lane++) partial[lane] += x[i + lane];
        float total = 0;
        for (; i < n; i++) total += x[i];
        for (int lane = 0; lane < 16; lane++) total += partial[lane];
        const float mean = total / (float)n;
        for (i = 0; i < n; i++) y[i] = x[i] - mean;
        const float variance = cortex_dot_lanes(y, y, n) / (float)n;
        const float scale = 1.0f / sqrtf(variance + epsilon);
        for (i = 0; i < n; i++) {
            float value = y[i] * scale;
            if (weight) value = value * weight[i];
            if (bias) value = value + bias[i];
            y[i] = value;
        }
    }
}

// Rotary embedding of x (batch, heads, steps, d) with element strides (sb, sh, st) and
// contiguous rows, into contiguous y. Angles: cosine and sine rows of d / 2 for each step,
// batch b's at b * angle_batch_stride (0 when the batch shares them). `interleaved` pairs
// element 2i with 2i + 1 (GPT-J), otherwise i with i + d / 2 (GPT-NeoX, Llama).
CLONES void cortex_rotary_embedding(const float *x, long batch, long heads, long steps, long d, long sb, long sh, long st,
                                    const float *cosine, const float *sine, long angle_batch_stride, int interleaved, float *y) {
    const long half = d / 2;
    for (long b = 0; b < batch; b++)
        for (long h = 0; h < heads; h++)
            for (long t = 0; t < steps; t++) {
                const float *row = x + b * sb + h * sh + t * st;
                const float *c = cosine + b * angle_batch_stride + t * half, *s = sine + b * angle_batch_stride + t * half;
                float *out = y + ((b * heads + h) * steps + t) * d;
                for (long i = 0; i < half; i++) {
                    float first = interleaved ? row[2 * i] : row[i], second = interleaved ? row[2 * i + 1] : row[i + half];
                    float a = first * c[i], bs = second * s[i], bc = second * c[i], as = first * s[i];
                    if (interleaved) {
                        out[2 * i] = a - bs;
                        out[2 * i + 1] = as + bc;
                    } else {
                        out[i] = a - bs;
                        out[i + half] = bc + as;
                    }
                }
            }
}
