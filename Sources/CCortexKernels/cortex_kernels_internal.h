// Declarations shared by the kernel files; not part of the module's public header.
#ifndef CORTEX_KERNELS_INTERNAL_H
#define CORTEX_KERNELS_INTERNAL_H
#include "cortex_kernels.h"
#include <math.h>

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

/// AVX-512 row kernels; call only when cortex_has_avx512().
void cortex_avx512_exp(const float *x, float *y, long n, float shift);
void cortex_avx512_gelu(const float *x, float *y, long n);
float cortex_avx512_sum(const float *x, long n);
void cortex_avx512_softmax_row(const float *x, float *y, long n, int logarithm);
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

#endif
