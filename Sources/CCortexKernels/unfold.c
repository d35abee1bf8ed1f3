// im2col and col2im for one (image, channel) plane: the whole window loop in C, so rows as
// short as a 14-pixel feature map cost no per-row call (Swift only plans planes and threads).
// The loops must stay inline: as memset/memcpy calls, a one-pixel padding edge or a 14-pixel
// row costs more in the call than in the copy.
#define NO_LIBRARY_CALLS __attribute__((no_builtin("memset", "memcpy")))
#include "cortex_kernels_internal.h"

// First and one-past-last output column whose input column ox * stride - padding + offset
// lies in [0, size).
static inline void valid_columns(long count, long size, long stride, long padding, long offset, long *first, long *last) {
    long low = padding - offset, high = size + padding - offset;
    long lower = low > 0 ? (low + stride - 1) / stride : 0;
    long upper = high > 0 ? (high + stride - 1) / stride : 0;
    if (upper > count) upper = count;
    if (upper < lower) upper = lower;
    *first = lower;
    *last = upper;
}

CLONES NO_LIBRARY_CALLS void cortex_im2col_plane(const float *restrict image, long h, long w, long kh, long kw, long sh, long sw, long ph,
                                long pw, long dh, long dw, long oh, long ow, float *restrict columns, long row_stride) {
    for (long a = 0; a < kh; a++) {
        for (long b = 0; b < kw; b++) {
            float *destination = columns + (a * kw + b) * row_stride;
            long first, last;
            valid_columns(ow, w, sw, pw, b * dw, &first, &last);
            for (long i = 0; i < oh; i++) {
                float *line = destination + i * ow;
                long row = i * sh - ph + a * dh;
                if (row < 0 || row >= h || first >= last) {
                    for (long j = 0; j < ow; j++) line[j] = 0.0f;
                    continue;
                }
                const float *source = image + row * w - pw + b * dw;
                for (long j = 0; j < first; j++) line[j] = 0.0f;
                if (sw == 1) {
                    for (long j = first; j < last; j++) line[j] = source[j];
                } else {
                    for (long j = first; j < last; j++) line[j] = source[j * sw];
                }
                for (long j = last; j < ow; j++) line[j] = 0.0f;
            }
        }
    }
}

CLONES NO_LIBRARY_CALLS void cortex_col2im_plane(const float *restrict columns, long row_stride, long h, long w, long kh, long kw, long sh,
                                long sw, long ph, long pw, long dh, long dw, long oh, long ow, float *restrict image) {
    for (long i = 0; i < h * w; i++) image[i] = 0.0f;
    for (long a = 0; a < kh; a++) {
        for (long b = 0; b < kw; b++) {
            const float *source = columns + (a * kw + b) * row_stride;
            long first, last;
            valid_columns(ow, w, sw, pw, b * dw, &first, &last);
            if (first >= last) continue;
            for (long i = 0; i < oh; i++) {
                long row = i * sh - ph + a * dh;
                if (row < 0 || row >= h) continue;
                float *target = image + row * w - pw + b * dw;
                const float *values = source + i * ow;
                if (sw == 1) {
                    for (long j = first; j < last; j++) target[j] += values[j];
                } else {
                    for (long j = first; j < last; j++) target[j * sw] += values[j];
                }
            }
        }
    }
}
