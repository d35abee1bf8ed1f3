// Fused optimizer updates: one pass over the parameter, its gradient and its state instead
// of one pass (and one temporary) per arithmetic operation. The arithmetic follows
// torch.optim's single-tensor implementations term by term; the loops are branch-free so
// they vectorise (a zero weight decay adds p * 0, a one-factor multiplies by 1: both exact
// for finite parameters).
#include "cortex_kernels_internal.h"

CLONES void cortex_sgd_step(float *restrict p, const float *restrict g, float *restrict buffer, long n, float learning_rate,
                            float momentum, float dampening, float weight_decay, int nesterov, int maximize, int first_step) {
    const float sign = maximize ? -1.0f : 1.0f, keep = 1.0f - dampening;
    if (momentum == 0.0f) {
        for (long i = 0; i < n; i++) {
            float d = sign * g[i] + p[i] * weight_decay;
            p[i] = p[i] - d * learning_rate;
        }
    } else {
        // nesterov: d + momentum * b; otherwise b (selected by exact factors 1 and 0).
        const float on_buffer = nesterov ? momentum : 1.0f, on_direction = nesterov ? 1.0f : 0.0f;
        if (first_step) {
            for (long i = 0; i < n; i++) {
                float d = sign * g[i] + p[i] * weight_decay;
                buffer[i] = d;
                p[i] = p[i] - (d * on_direction + d * on_buffer) * learning_rate;
            }
        } else {
            for (long i = 0; i < n; i++) {
                float d = sign * g[i] + p[i] * weight_decay;
                float b = buffer[i] * momentum + d * keep;
                buffer[i] = b;
                p[i] = p[i] - (d * on_direction + b * on_buffer) * learning_rate;
            }
        }
    }
}

#define ADAM_BODY(DENOMINATOR_MOMENT)                                                   \
    for (long i = 0; i < n; i++) {                                                      \
        float parameter = p[i] * shrink;                                                \
        float gradient = g[i] + p[i] * coupled_decay;                                   \
        float first = m[i] * beta1 + gradient * keep1;                                  \
        float second = v[i] * beta2 + gradient * gradient * keep2;                      \
        m[i] = first;                                                                   \
        v[i] = second;                                                                  \
        float denominator = sqrtf(DENOMINATOR_MOMENT) * inverse_root_correction + epsilon; \
        p[i] = parameter - first / denominator * step_size;                             \
    }

CLONES void cortex_adam_step(float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
                             float *restrict v_max, long n, float learning_rate, float beta1, float beta2, float epsilon,
                             float weight_decay, int decoupled, float step_size, float inverse_root_correction) {
    const float shrink = decoupled ? 1.0f - learning_rate * weight_decay : 1.0f;
    const float coupled_decay = decoupled ? 0.0f : weight_decay;
    const float keep1 = 1.0f - beta1, keep2 = 1.0f - beta2;
    if (v_max) {
        ADAM_BODY((v_max[i] = v_max[i] > second ? v_max[i] : second))
    } else {
        ADAM_BODY(second)
    }
}
