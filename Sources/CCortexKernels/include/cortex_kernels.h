// Contiguous float32 row kernels for Cortex's CPU backend.
//
// Each entry point is compiled three times (AVX-512, AVX2+FMA, baseline x86-64) with
// target_clones and picked at load time for the running CPU, as PyTorch's CPU capability
// dispatch does; the scalar loops below are vectorised by the compiler for each target.
// Swift plans the iteration (strides, broadcasting, threads) and calls these on rows.
#ifndef CORTEX_KERNELS_H
#define CORTEX_KERNELS_H
#include <stdint.h>

typedef enum {
    CORTEX_NEGATE, CORTEX_EXP, CORTEX_LOG, CORTEX_SQRT, CORTEX_RSQRT, CORTEX_ABS, CORTEX_SIGN,
    CORTEX_RECIPROCAL, CORTEX_SQUARE, CORTEX_SIN, CORTEX_COS, CORTEX_RELU, CORTEX_SIGMOID,
    CORTEX_TANH, CORTEX_GELU, CORTEX_GELU_TANH, CORTEX_SILU,
    CORTEX_SOFTPLUS,      // p0 = beta, p1 = threshold
    CORTEX_LEAKY_RELU,    // p0 = slope
    CORTEX_POWER_SCALAR,  // p0 = exponent
    CORTEX_CLAMP,         // p0 = minimum, p1 = maximum
    CORTEX_AFFINE,        // p0 * x + p1
    CORTEX_SHIFTED_EXP,   // exp(x - p0)
} cortex_unary_op;

typedef enum {
    CORTEX_ADD, CORTEX_SUBTRACT, CORTEX_MULTIPLY, CORTEX_DIVIDE, CORTEX_POWER, CORTEX_MAXIMUM, CORTEX_MINIMUM,
    // Gradients: a is the activation's input (or output where named), b the upstream gradient.
    CORTEX_RELU_BACKWARD, CORTEX_SIGMOID_BACKWARD_FROM_OUTPUT, CORTEX_TANH_BACKWARD_FROM_OUTPUT,
    CORTEX_GELU_BACKWARD, CORTEX_GELU_TANH_BACKWARD, CORTEX_SILU_BACKWARD,
    CORTEX_SOFTPLUS_BACKWARD,    // p0 = beta, p1 = threshold
    CORTEX_LEAKY_RELU_BACKWARD,  // p0 = slope
    CORTEX_CLAMP_BACKWARD,       // p0 = minimum, p1 = maximum
    CORTEX_LOG_SOFTMAX_BACKWARD, // b - exp(a) * p0 (a = log-softmax output, p0 = sum of b)
    CORTEX_SOFTMAX_BACKWARD,     // a * (b - p0)     (a = softmax output, p0 = sum of a * b)
} cortex_binary_op;

typedef enum { CORTEX_SUM, CORTEX_MAX, CORTEX_MIN } cortex_reduce_op;

/// y[i] = op(x[i]) for i < n.
void cortex_unary(int op, const float *x, float *y, long n, float p0, float p1);

/// y[i] = op(a[i * a_stride], b[i * b_stride]); strides are 0 (broadcast) or 1.
void cortex_binary(int op, const float *a, long a_stride, const float *b, long b_stride, float *y, long n,
                   float p0, float p1);

/// y[i] = x[i]: a plain vectorised load/store loop (the benchmarks' bandwidth yardstick;
/// bulk copies inside Cortex use memcpy).
void cortex_copy(const float *x, float *y, long n);

/// Transposing copy of 4-byte elements: y[r * n + c] = x[c * ld + r] for r < m, c < n
/// (y is m x n row-major, x is n rows of leading dimension ld), in cache-sized tiles.
void cortex_transpose32(const unsigned int *x, long ld, unsigned int *y, long m, long n);

/// Max pooling of one (H, W) plane into (oh, ow) values and flat argmax positions (-1 for a
/// window wholly in padding); window (i, j) covers rows i*sh - ph + a*dh and columns
/// j*sw - pw + b*dw for a < kh, b < kw. A larger value or a NaN takes over, as PyTorch.
void cortex_max_pool2d_plane(const float *x, long h, long w, long kh, long kw, long sh, long sw, long ph, long pw,
                             long dh, long dw, long oh, long ow, float *values, long long *indices);

/// im2col of one (H, W) plane into kh * kw rows of oh * ow values, row r at columns + r * row_stride:
/// row a * kw + b, entry (i, j) is x[i * sh - ph + a * dh][j * sw - pw + b * dw], or 0 in padding.
void cortex_im2col_plane(const float *image, long h, long w, long kh, long kw, long sh, long sw, long ph, long pw,
                         long dh, long dw, long oh, long ow, float *columns, long row_stride);

/// The adjoint of cortex_im2col_plane: the plane (overwritten) is the sum of every column entry
/// at the pixel it was read from.
void cortex_col2im_plane(const float *columns, long row_stride, long h, long w, long kh, long kw, long sh, long sw,
                         long ph, long pw, long dh, long dw, long oh, long ow, float *image);

/// The sum, max or min of x[0..<n] (max/min propagate NaN).
float cortex_reduce(int op, const float *x, long n);

/// accumulator[i] = op(accumulator[i], x[i]).
void cortex_reduce_into(int op, float *accumulator, const float *x, long n);

/// Softmax or log-softmax of one row.
void cortex_softmax_row(const float *x, float *y, long n, int logarithm);

/// Gradient of softmax or log-softmax of one row given its output y and upstream gradient g.
void cortex_softmax_backward_row(const float *y, const float *g, float *out, long n, int logarithm);

/// Contiguous conversions between float32 and the 16-bit storage types, rounding to nearest
/// even (F16C instructions where the CPU has them).
void cortex_float_to_half(const float *x, unsigned short *y, long n);
void cortex_half_to_float(const unsigned short *x, float *y, long n);
void cortex_float_to_bfloat(const float *x, unsigned short *y, long n);
void cortex_bfloat_to_float(const unsigned short *x, float *y, long n);

/// One fused SGD step over n parameters (torch.optim.SGD's arithmetic, in place):
/// d = (maximize ? -g : g) + weight_decay * p; with momentum, buffer = d on the first step,
/// else momentum * buffer + (1 - dampening) * d, and d = nesterov ? d + momentum * buffer :
/// buffer; then p -= learning_rate * d. buffer may be NULL when momentum is 0.
void cortex_sgd_step(float *p, const float *g, float *buffer, long n, float learning_rate, float momentum,
                     float dampening, float weight_decay, int nesterov, int maximize, int first_step);

/// One fused Adam/AdamW step over n parameters (torch.optim.Adam's arithmetic, in place):
/// weight decay (L2 into the gradient, or decoupled: p *= 1 - learning_rate * weight_decay),
/// m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2, with amsgrad v_max = max(v_max, v),
/// p -= step_size * m / (sqrt(v or v_max) * inverse_root_correction + epsilon).
/// step_size = learning_rate / (1 - beta1^t); inverse_root_correction = 1 / sqrt(1 - beta2^t).
void cortex_adam_step(float *p, const float *g, float *m, float *v, float *v_max, long n, float learning_rate,
                      float beta1, float beta2, float epsilon, float weight_decay, int decoupled,
                      float step_size, float inverse_root_correction);

/// Pins the calling thread to the ordinal-th CPU (modulo their count) of those it may run on,
/// leaving out `avoided` (a CPU number, or -1) where others remain. Returns the CPU number, or
/// -1 where the system refuses.
int cortex_pin_current_thread(int ordinal, int avoided);

/// The CPU the calling thread is running on (sched_getcpu), or -1.
int cortex_current_cpu(void);

/// How many CPUs the calling thread may run on (its affinity mask), or -1.
int cortex_allowed_cpu_count(void);

/// Atomically swaps two existing paths (renameat2 with RENAME_EXCHANGE). Returns 0, or -1 with
/// errno set (EINVAL or ENOSYS where the file system or kernel cannot exchange).
int cortex_exchange_paths(const char *first, const char *second);

/// True where Cortex's own AVX-512 kernels run (checked once; see cortex_allow_avx512).
int cortex_has_avx512(void);

/// The pieces of cortex_avx512_sgemm, for workers that share one packed B panel: k is cut into
/// blocks of cortex_avx512_sgemm_depth(k) and n into panels of cortex_avx512_sgemm_panel_width()
/// columns; cortex_avx512_sgemm_pack_b packs a kc x nc piece of B (NR-column panels, zero
/// padded: a worker may pack whole 32-column panels of it at their offset panel * 32 * kc),
/// and cortex_avx512_sgemm_rows computes m rows of C's nc columns from it (C = A B, or C += A B
/// with accumulate). The packed buffer holds depth x panel_width floats, 64-byte aligned.
long cortex_avx512_sgemm_depth(long k);
long cortex_avx512_sgemm_panel_width(void);
void cortex_avx512_sgemm_pack_b(long kc, long nc, const float *b, long b_row_stride, long b_column_stride, float *packed);
void cortex_avx512_sgemm_rows(long m, long nc, long kc, const float *a, long a_row_stride, long a_column_stride,
                              const float *packed_b, float *c, long ldc, int accumulate);

/// C = A B for m <= 4 without packing (one-token decoding): A's rows contiguous (row stride
/// a_row_stride), B row-major (b_column_stride 1) or column-major (b_row_stride 1).
void cortex_avx512_sgemm_small_m(long m, long n, long k, const float *a, long a_row_stride, const float *b, long b_row_stride,
                                 long b_column_stride, float *c, long ldc);

/// C (m x n, row stride ldc) = A (m x k) times B (k x n), each operand given by element strides
/// so transposed and strided views need no copies. Single-threaded; only where
/// cortex_has_avx512() (the CPU backend calls OpenBLAS elsewhere).
void cortex_avx512_sgemm(long m, long n, long k, const float *a, long a_row_stride, long a_column_stride,
                         const float *b, long b_row_stride, long b_column_stride, float *c, long ldc);

/// C (m x n, row stride ldc, float32) = A (m x k) times B (k x n) for bfloat16 operands given
/// by element strides, accumulated in float32 with AVX512_BF16's vdpbf16ps. Single-threaded;
/// only where cortex_has_avx512_bf16().
int cortex_has_avx512_bf16(void);
void cortex_bf16_gemm(long m, long n, long k, const uint16_t *a, long a_row_stride, long a_column_stride, const uint16_t *b,
                      long b_row_stride, long b_column_stride, float *c, long ldc);
/// The same product from float32 operands, each element rounded to bfloat16 (nearest even) as it
/// is packed: autocast's matrix products, with float32 accumulation and a float32 C.
void cortex_bf16_sgemm(long m, long n, long k, const float *a, long a_row_stride, long a_column_stride, const float *b,
                       long b_row_stride, long b_column_stride, float *c, long ldc);
/// Its pieces for workers sharing one packed B panel, as cortex_avx512_sgemm's: k in (even)
/// blocks of cortex_bf16_sgemm_depth(k) values, B packed into (kc + 1) / 2 x 32 pair panels of
/// 32-bit words (a worker may pack whole 32-column panels at offset panel * 32 * pairs).
long cortex_bf16_sgemm_depth(long k);
long cortex_bf16_sgemm_panel_width(void);
void cortex_bf16_sgemm_pack_b(long kc, long nc, const float *b, long b_row_stride, long b_column_stride, uint32_t *packed);
void cortex_bf16_sgemm_rows(long m, long nc, long kc, const float *a, long a_row_stride, long a_column_stride, const uint32_t *packed_b,
                            float *c, long ldc, int accumulate);

/// Block formats of quantised weights, numbered as ggml's types (GGUF's tensor type ids).
typedef enum {
    CORTEX_QUANT_F32 = 0, CORTEX_QUANT_F16 = 1, CORTEX_QUANT_Q4_0 = 2, CORTEX_QUANT_Q4_1 = 3, CORTEX_QUANT_Q5_0 = 6,
    CORTEX_QUANT_Q5_1 = 7, CORTEX_QUANT_Q8_0 = 8, CORTEX_QUANT_Q2_K = 10, CORTEX_QUANT_Q3_K = 11, CORTEX_QUANT_Q4_K = 12,
    CORTEX_QUANT_Q5_K = 13, CORTEX_QUANT_Q6_K = 14, CORTEX_QUANT_BF16 = 30,
} cortex_quant_type;

/// Values per block and bytes per block of a format (0 for formats not supported).
long cortex_quant_block_size(int type);
long cortex_quant_type_size(int type);

/// Quantisation into the block formats with ggml's reference quantisers (bit for bit the
/// blocks llama.cpp's converter writes): F32, F16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K. `rows`
/// rows of n floats each, contiguous, into cortex_quantize_row_bytes(type, n) bytes per row.
/// Both give -1 for a format without a quantiser, or an n that is not a whole number of its
/// blocks.
long cortex_quantize_row_bytes(int type, long n);
int cortex_quantize_rows(int type, const float *x, long rows, long n, void *out);

/// Dequantises n values (a whole number of blocks) starting at `source` into y.
void cortex_quant_dequantize(int type, const void *source, float *y, long n);

/// y[i * y_stride + r] = sum over k < n of W[r][k] * x[i * x_stride + k], for r < rows and
/// i < m: W's rows are n values each, row_bytes apart, in `type` blocks (n a whole number of
/// blocks). Single-threaded; callers split the rows.
void cortex_quant_matvec(int type, const void *weights, long row_bytes, long rows, long n, const float *x, long x_stride,
                         long m, float *y, long y_stride);

/// The integer path (llama.cpp's): activations quantised to 8 bits in blocks of 32 once per
/// product, weight blocks multiplied with AVX512-VNNI. cortex_quant_has_integer_path says
/// whether it serves a format with rows of n values on this CPU; a buffer of
/// cortex_q8_activation_bytes(n, m) bytes holds m quantised vectors, which cortex_q8_quantize
/// writes (vector i from x + i * x_stride) and cortex_quant_matvec_integer reads, giving the
/// same y as cortex_quant_matvec up to the activations' rounding. Single-threaded.
int cortex_has_avx512_vnni(void);
int cortex_quant_has_integer_path(int type, long n);
long cortex_q8_activation_bytes(long n, long m);
void cortex_q8_quantize(const float *x, long x_stride, long n, long m, void *buffer);
/// Two vectors of codes per input vector (its codes, then those of their rounding error), in a
/// buffer of cortex_q8_activation_bytes(n, 2 m): the sum of the two products is within about
/// 1/32,000 of each block's largest value of the float product.
void cortex_q8_quantize_refined(const float *x, long x_stride, long n, long m, void *buffer);
void cortex_quant_matvec_integer(int type, const void *weights, long row_bytes, long rows, long n, const void *activations, long m,
                                 float *y, long y_stride);
/// Q4_0 and Q4_1 rows repacked sixteen at a time (quant_packed.c), for integer products that
/// need no sums across lanes: cortex_quant_packable says whether `rows` rows of n values can be
/// (rows a multiple of 16); cortex_quant_pack16 writes the rows' rows * row_bytes bytes into
/// `packed` (-1 where not packable). cortex_q8_interleave regroups m vectors that
/// cortex_q8_quantize wrote into a buffer of cortex_q8_interleaved_bytes(n, m) bytes, and
/// cortex_quant_matvec_packed then gives from them what cortex_quant_matvec_integer gives from
/// the rows, up to float summation order. Single-threaded; callers split the rows in multiples
/// of 16, `packed` advanced by row_bytes per row.
int cortex_quant_packable(int type, long rows, long n);
int cortex_quant_pack16(int type, const void *weights, long row_bytes, long rows, long n, void *packed);
/// Rows [first, first + count) of packed rows of n values, dequantised as cortex_quant_dequantize
/// dequantises the row-major blocks.
void cortex_quant_dequantize_packed(int type, const void *packed, long n, long first, long count, float *y);
long cortex_q8_interleaved_bytes(long n, long m);
void cortex_q8_interleave(const void *activations, long n, long m, void *interleaved);
/// The vectors order[0], ..., order[count - 1] of the m in `activations`, regrouped as
/// cortex_q8_interleave regroups all m in order (a buffer of cortex_q8_interleaved_bytes(n, count)).
void cortex_q8_interleave_selected(const void *activations, long n, long m, const long *order, long count, void *interleaved);
/// The first largest of first[r] + second[r] over `rows` packed rows of n values, second[r]
/// being row r's product with the one vector in `interleaved`, whose block scales are
/// `scales`: only the 16-row groups that could hold it are multiplied. group_norms holds, block
/// by block, each group's largest sum of absolute dequantised values of that block among its
/// rows ((n / 32) x groups); bound is scratch for one float per group.
long cortex_quant_refined_choice(int type, const void *packed, long rows, long n, const void *interleaved, const float *first,
                                 const float *group_norms, const float *scales, float *bound);
void cortex_quant_matvec_packed(int type, const void *packed, long rows, long n, const void *interleaved, long m, float *y,
                                long y_stride);

/// Fused inference forms of RMSNorm (`rows` rows of n) and of a rotary embedding (x
/// (batch, heads, steps, d) with element strides sb, sh, st and contiguous rows, into
/// contiguous y; cosine and sine rows of d / 2 per step, batch b's at b * angle_batch_stride).
void cortex_rms_norm(const float *x, const float *weight, float *y, long rows, long n, float epsilon);
/* Sum of squares of each of `rows` contiguous rows of n floats. */
void cortex_row_sum_squares(const float *x, long rows, long n, float *out);
/// LayerNorm over rows of n, fused for inference (weight and bias may be NULL).
void cortex_layer_norm(const float *x, const float *weight, const float *bias, float *y, long rows, long n, float epsilon);
/// silu(gate) * up over n floats (SwiGLU's middle, fused for inference).
void cortex_silu_multiply(const float *gate, const float *up, float *y, long n);
void cortex_rotary_embedding(const float *x, long batch, long heads, long steps, long d, long sb, long sh, long st,
                             const float *cosine, const float *sine, long angle_batch_stride, int interleaved, float *y);

/// Causal attention of `rows` query rows of one head against a cache's keys and values:
/// query row t (at position offset + t) attends to keys 0...offset + t, scores scaled by
/// `scale`; rows of q, k, v and out are d floats each, their strides apart. Single-threaded.
void cortex_cached_attention(const float *q, long q_stride, const float *k, const float *v, long kv_stride, float *out,
                             long out_stride, long rows, long offset, long d, float scale);
/// One query row (at position `offset`) of each of `group` heads sharing one key/value head
/// (grouped-query attention), rows q_head_stride apart, against keys 0...offset; head g's output
/// at out + g * out_head_stride. Each key and value row is read once for the group.
/// Single-threaded.
void cortex_cached_attention_group(const float *q, long q_head_stride, long group, const float *k, const float *v, long kv_stride,
                                   float *out, long out_head_stride, long offset, long d, float scale);
/// The two above over a float16 cache (keys and values as IEEE half floats, the query and the
/// output float32), each value widened as it is read.
void cortex_cached_attention_half(const float *q, long q_stride, const unsigned short *k, const unsigned short *v, long kv_stride,
                                  float *out, long out_stride, long rows, long offset, long d, float scale);
void cortex_cached_attention_group_half(const float *q, long q_head_stride, long group, const unsigned short *k, const unsigned short *v,
                                        long kv_stride, float *out, long out_head_stride, long offset, long d, float scale);

/// The first index of the largest of n values (a greedy choice over logits); NaNs never win.
long cortex_first_largest(const float *x, long n);

/// Hands freed heap pages back to the system (glibc's malloc_trim), after a burst of small
/// allocations such as a parsed file's metadata.
void cortex_release_free_memory(void);

/// Post-training int8 products (int8_gemm.c), as PyTorch's dynamically quantised Linear:
/// weights int8 with one scale per output channel, activations uint8 with a scale and zero
/// point per row, exact int32 sums (AVX512-VNNI where present, else a portable kernel giving
/// the same integers).
///
/// cortex_int8_quantize_weights: n rows of k floats to codes in [-128, 127] and n scales
/// (max |row| / 127.5, PyTorch's per_channel_symmetric). cortex_int8_pack_weights: the codes into cortex_int8_packed_bytes(n, k)
/// bytes of 16-channel panels, with each channel's code sum. cortex_int8_quantize_rows: m rows
/// (x_stride apart) to uint8 codes (code_stride >= cortex_int8_padded_inputs(k) apart, padded
/// with zeros), a scale and a zero point per row, chosen per row from its range as PyTorch's
/// choose_qparams does, or fixed_scale and fixed_zero_point where fixed_scale > 0 (static
/// calibration). cortex_int8_range: the smallest and largest value of m rows.
long cortex_int8_padded_inputs(long k);
long cortex_int8_packed_bytes(long n, long k);
void cortex_int8_quantize_weights(const float *w, long n, long k, int8_t *codes, float *scales);
void cortex_int8_pack_weights(const int8_t *w, long n, long k, int8_t *packed, int32_t *sums);
void cortex_int8_choose_parameters(float low, float high, float *scale, int32_t *zero_point);
void cortex_int8_range(const float *x, long x_stride, long m, long k, float *low, float *high);
void cortex_int8_quantize_rows(const float *x, long x_stride, long m, long k, uint8_t *codes, long code_stride, float *scales,
                               int32_t *zero_points, float fixed_scale, int32_t fixed_zero_point);
/// Rows [first_row, end_row) of the codes times the 16-channel panels [first_panel, end_panel)
/// of n channels: the int32 sums into c (row i, channel j at i * c_stride + j), or through
/// y = row_scale * column_scale * (sum - row_zero_point * column_sum) + bias (bias may be NULL).
/// Single-threaded; callers split the rows or the panels.
void cortex_int8_gemm_s32(const uint8_t *a, long a_stride, long first_row, long end_row, const int8_t *packed, long n, long k,
                          long first_panel, long end_panel, int32_t *c, long c_stride);
void cortex_int8_linear(const uint8_t *a, long a_stride, const float *row_scales, const int32_t *row_zero_points, long first_row,
                        long end_row, const int8_t *packed, const float *column_scales, const int32_t *column_sums, const float *bias,
                        long n, long k, long first_panel, long end_panel, float *y, long y_stride);

/// Lets tests switch the hand-written AVX-512 rows off (1 = allowed, the default) so the
/// portable kernels can be compared with them on the same machine. The choice is the calling
/// thread's own (CPUParallelism hands it to the workers of each parallel region), so a test
/// that switches never changes the kernels another thread runs meanwhile. 2 switches off the
/// AVX-512 kernels but keeps the AVX2 ones, so tests on AVX-512 machines exercise those too.
void cortex_allow_avx512(int allowed);
/// The calling thread's choice (see cortex_allow_avx512).
int cortex_avx512_allowed(void);

/// A spin-wait hint (x86 `pause`) for busy-waiting worker threads.
static inline void cortex_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#endif
