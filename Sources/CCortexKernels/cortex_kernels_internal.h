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
#endif
