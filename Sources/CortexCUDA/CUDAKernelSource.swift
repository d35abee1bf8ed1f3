import CortexCore

/// CUDA C for Cortex's element-wise, reduction and fused kernels, generated per operation so
/// that each compiles (NVRTC) to one small specialised kernel. Every expression follows
/// PyTorch's float32 semantics: NaN propagates through maximum and minimum, GELU is the erf
/// form unless the tanh approximation is asked for, softplus reverts to the identity past its
/// threshold.
///
/// Launch conventions: element-wise kernels take `n` (64-bit) and run a grid-stride loop over
/// 256-thread blocks; strided kernels take a `cortex_strides` struct by value (up to 8 axes);
/// row kernels take one block of 256 threads per row.
///
/// ```swift
/// let kernel = CUDAKernelSource.unary(.gelu)       // kernel.name == "cortex_unary_gelu"
/// ```
public struct CUDAKernelSource: Sendable, Hashable {
    public let name: String
    public let source: String

    /// Axes a strided kernel handles.
    public static let maximumRank = 8

    static let prelude = """
        #define CORTEX_INFINITY __int_as_float(0x7f800000)
        // i over [0, n), each thread of the grid taking every (grid size)-th element.
        #define CORTEX_GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
        struct cortex_strides {
            long long shape[8];
            long long a[8];
            long long b[8];
            int rank;
        };
        __device__ __forceinline__ void cortex_offsets(const cortex_strides &s, long long index, long long &a, long long &b) {
            a = 0; b = 0;
            for (int axis = s.rank - 1; axis >= 0; axis--) {
                long long size = s.shape[axis], coordinate = index % size;
                index /= size;
                a += coordinate * s.a[axis];
                b += coordinate * s.b[axis];
            }
        }
        __device__ __forceinline__ float cortex_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
        __device__ __forceinline__ float cortex_gelu_tanh(float x) {
            return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
        }

        """

    // MARK: Element-wise

    /// y[i] = op(x[i]) for i < n; `p0`, `p1` carry the operation's parameters.
    public static func unary(_ operation: UnaryOperation) -> CUDAKernelSource {
        let (name, expression) = unaryExpression(operation)
        let kernel = "cortex_unary_\(name)"
        return CUDAKernelSource(name: kernel, source: prelude + """
            extern "C" __global__ void \(kernel)(const float *__restrict__ input, float *__restrict__ output, long long n, float p0, float p1) {
                CORTEX_GRID_STRIDE(i, n) {
                    const float x = input[i];
                    output[i] = \(expression);
                }
            }
            """)
    }

    static func unaryExpression(_ operation: UnaryOperation) -> (name: String, expression: String) {
        switch operation {
        case .negate: ("negate", "-x")
        case .exp: ("exp", "expf(x)")
        case .log: ("log", "logf(x)")
        case .sqrt: ("sqrt", "sqrtf(x)")
        case .rsqrt: ("rsqrt", "rsqrtf(x)")
        case .abs: ("abs", "fabsf(x)")
        case .sign: ("sign", "(x > 0.0f) ? 1.0f : (x < 0.0f) ? -1.0f : x")
        case .reciprocal: ("reciprocal", "1.0f / x")
        case .square: ("square", "x * x")
        case .sin: ("sin", "sinf(x)")
        case .cos: ("cos", "cosf(x)")
        case .relu: ("relu", "(x > 0.0f || x != x) ? x : 0.0f")
        case .sigmoid: ("sigmoid", "1.0f / (1.0f + expf(-x))")
        case .tanh: ("tanh", "tanhf(x)")
        case .gelu: ("gelu", "cortex_gelu(x)")
        case .geluTanh: ("gelu_tanh", "cortex_gelu_tanh(x)")
        case .silu: ("silu", "x / (1.0f + expf(-x))")
        case .softplus: ("softplus", "(x * p0 > p1) ? x : log1pf(expf(x * p0)) / p0")
        case .leakyRelu: ("leaky_relu", "(x > 0.0f) ? x : x * p0")
        case .power: ("power", "powf(x, p0)")
        case .clamp: ("clamp", "(x != x) ? x : fminf(fmaxf(x, p0), p1)")
        case .affine: ("affine", "p0 * x + p1")
        }
    }

    /// The parameters `unary(operation)`'s kernel takes as p0 and p1.
    public static func unaryParameters(_ operation: UnaryOperation) -> (Float, Float) {
        switch operation {
        case let .softplus(beta, threshold): (beta, threshold)
        case let .leakyRelu(slope): (slope, 0)
        case let .power(exponent): (exponent, 0)
        case let .clamp(minimum, maximum): (minimum, maximum)
        case let .affine(scale, shift): (scale, shift)
        default: (0, 0)
        }
    }

    /// y[i] = op(a[offset_a(i)], b[offset_b(i)]) with broadcasting through `cortex_strides`.
    public static func binary(_ operation: BinaryOperation) -> CUDAKernelSource {
        let (name, expression) = binaryExpression(operation)
        let kernel = "cortex_binary_\(name)"
        return CUDAKernelSource(name: kernel, source: prelude + """
            extern "C" __global__ void \(kernel)(const float *__restrict__ left, const float *__restrict__ right, float *__restrict__ output,
                                                 long long n, cortex_strides strides, float p0, float p1) {
                CORTEX_GRID_STRIDE(i, n) {
                    long long ia, ib;
                    cortex_offsets(strides, i, ia, ib);
                    const float a = left[ia], b = right[ib];
                    output[i] = \(expression);
                }
            }
            """)
    }

    static func binaryExpression(_ operation: BinaryOperation) -> (name: String, expression: String) {
        switch operation {
        case .add: ("add", "a + b")
        case .subtract: ("subtract", "a - b")
        case .multiply: ("multiply", "a * b")
        case .divide: ("divide", "a / b")
        case .power: ("power", "powf(a, b)")
        case .maximum: ("maximum", "(a != a || a > b) ? a : b")
        case .minimum: ("minimum", "(a != a || a < b) ? a : b")
        case .reluBackward: ("relu_backward", "(a > 0.0f) ? b : 0.0f")
        case .sigmoidBackwardFromOutput: ("sigmoid_backward", "b * a * (1.0f - a)")
        case .tanhBackwardFromOutput: ("tanh_backward", "b * (1.0f - a * a)")
        case .geluBackward:
            ("gelu_backward", "b * (0.5f * (1.0f + erff(a * 0.70710678118654752f)) + a * 0.39894228040143268f * expf(-0.5f * a * a))")
        case .geluTanhBackward:
            ("gelu_tanh_backward", """
                b * (0.5f * (1.0f + tanhf(0.79788456080286536f * (a + 0.044715f * a * a * a))) \
                + 0.5f * a * (1.0f - tanhf(0.79788456080286536f * (a + 0.044715f * a * a * a)) * tanhf(0.79788456080286536f * (a + 0.044715f * a * a * a))) \
                * 0.79788456080286536f * (1.0f + 3.0f * 0.044715f * a * a))
                """)
        case .siluBackward: ("silu_backward", "b * (1.0f / (1.0f + expf(-a))) * (1.0f + a * (1.0f - 1.0f / (1.0f + expf(-a))))")
        case .softplusBackward: ("softplus_backward", "(a * p0 > p1) ? b : b / (1.0f + expf(-a * p0))")
        case .leakyReluBackward: ("leaky_relu_backward", "(a > 0.0f) ? b : b * p0")
        case .clampBackward: ("clamp_backward", "(a >= p0 && a <= p1) ? b : 0.0f")
        }
    }

    /// The parameters `binary(operation)`'s kernel takes as p0 and p1.
    public static func binaryParameters(_ operation: BinaryOperation) -> (Float, Float) {
        switch operation {
        case let .softplusBackward(beta, threshold): (beta, threshold)
        case let .leakyReluBackward(slope): (slope, 0)
        case let .clampBackward(minimum, maximum): (minimum, maximum)
        default: (0, 0)
        }
    }

    /// output[i] = input[offset(i)] (any strided view made contiguous; 4-byte elements).
    public static let stridedCopy = CUDAKernelSource(name: "cortex_strided_copy", source: prelude + """
        extern "C" __global__ void cortex_strided_copy(const unsigned int *__restrict__ input, unsigned int *__restrict__ output,
                                                       long long n, cortex_strides strides) {
            CORTEX_GRID_STRIDE(i, n) {
                long long ia, ib;
                cortex_offsets(strides, i, ia, ib);
                output[ib] = input[ia];
            }
        }
        """)

    /// output[i] = value.
    public static let fill = CUDAKernelSource(name: "cortex_fill", source: prelude + """
        extern "C" __global__ void cortex_fill(float *__restrict__ output, long long n, float value) {
            CORTEX_GRID_STRIDE(i, n) output[i] = value;
        }
        """)

    // MARK: Rows

    /// One block of 256 threads per contiguous row of `columns`: sum, maximum or minimum (NaN
    /// wins, as in PyTorch).
    public static func reduceRows(_ operation: ReduceOperation) -> CUDAKernelSource {
        let (name, identity, combine) = switch operation {
        case .sum: ("sum", "0.0f", "a + b")
        case .maximum: ("max", "-CORTEX_INFINITY", "(a != a || a > b) ? a : b")
        case .minimum: ("min", "CORTEX_INFINITY", "(a != a || a < b) ? a : b")
        }
        let kernel = "cortex_reduce_rows_\(name)"
        return CUDAKernelSource(name: kernel, source: prelude + """
            __device__ __forceinline__ float cortex_combine(float a, float b) { return \(combine); }
            extern "C" __global__ void \(kernel)(const float *__restrict__ input, float *__restrict__ output, long long columns) {
                __shared__ float partial[256];
                const float *row = input + blockIdx.x * columns;
                float value = \(identity);
                for (long long j = threadIdx.x; j < columns; j += blockDim.x) value = cortex_combine(value, row[j]);
                partial[threadIdx.x] = value;
                __syncthreads();
                for (int width = blockDim.x / 2; width > 0; width /= 2) {
                    if (threadIdx.x < width) partial[threadIdx.x] = cortex_combine(partial[threadIdx.x], partial[threadIdx.x + width]);
                    __syncthreads();
                }
                if (threadIdx.x == 0) output[blockIdx.x] = partial[0];
            }
            """)
    }

    /// Softmax (or log-softmax) of each contiguous row, one block per row, max-subtracted.
    public static func softmaxRows(logarithm: Bool) -> CUDAKernelSource {
        let kernel = logarithm ? "cortex_log_softmax_rows" : "cortex_softmax_rows"
        return CUDAKernelSource(name: kernel, source: prelude + """
            extern "C" __global__ void \(kernel)(const float *__restrict__ input, float *__restrict__ output, long long columns) {
                __shared__ float partial[256];
                const float *row = input + blockIdx.x * columns;
                float *out = output + blockIdx.x * columns;
                float maximum = -CORTEX_INFINITY;
                for (long long j = threadIdx.x; j < columns; j += blockDim.x) maximum = fmaxf(maximum, row[j]);
                partial[threadIdx.x] = maximum;
                __syncthreads();
                for (int width = blockDim.x / 2; width > 0; width /= 2) {
                    if (threadIdx.x < width) partial[threadIdx.x] = fmaxf(partial[threadIdx.x], partial[threadIdx.x + width]);
                    __syncthreads();
                }
                maximum = partial[0];
                __syncthreads();
                float total = 0.0f;
                for (long long j = threadIdx.x; j < columns; j += blockDim.x) total += expf(row[j] - maximum);
                partial[threadIdx.x] = total;
                __syncthreads();
                for (int width = blockDim.x / 2; width > 0; width /= 2) {
                    if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
                    __syncthreads();
                }
                total = partial[0];
                for (long long j = threadIdx.x; j < columns; j += blockDim.x) {
                    \(logarithm ? "out[j] = row[j] - maximum - logf(total);" : "out[j] = expf(row[j] - maximum) / total;")
                }
            }
            """)
    }

    /// Layer norm of each contiguous row (biased variance) with optional weight and bias.
    public static let layerNormRows = CUDAKernelSource(name: "cortex_layer_norm_rows", source: """
        extern "C" __global__ void cortex_layer_norm_rows(const float *__restrict__ input, const float *__restrict__ weight,
                                                          const float *__restrict__ bias, float *__restrict__ output,
                                                          long long columns, float epsilon) {
            __shared__ float partial[256];
            const float *row = input + blockIdx.x * columns;
            float *out = output + blockIdx.x * columns;
            float total = 0.0f;
            for (long long j = threadIdx.x; j < columns; j += blockDim.x) total += row[j];
            partial[threadIdx.x] = total;
            __syncthreads();
            for (int width = blockDim.x / 2; width > 0; width /= 2) {
                if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
                __syncthreads();
            }
            const float mean = partial[0] / (float)columns;
            __syncthreads();
            float squares = 0.0f;
            for (long long j = threadIdx.x; j < columns; j += blockDim.x) { float d = row[j] - mean; squares += d * d; }
            partial[threadIdx.x] = squares;
            __syncthreads();
            for (int width = blockDim.x / 2; width > 0; width /= 2) {
                if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
                __syncthreads();
            }
            const float scale = rsqrtf(partial[0] / (float)columns + epsilon);
            for (long long j = threadIdx.x; j < columns; j += blockDim.x) {
                float value = (row[j] - mean) * scale;
                if (weight) value *= weight[j];
                if (bias) value += bias[j];
                out[j] = value;
            }
        }
        """)

    // MARK: Optimizers

    /// torch.optim.AdamW's step (decoupled weight decay, bias corrections passed in), one
    /// pass over parameter, gradient and both moments.
    public static let adamW = CUDAKernelSource(name: "cortex_adamw", source: prelude + """
        extern "C" __global__ void cortex_adamw(float *__restrict__ parameter, const float *__restrict__ gradient,
                                                float *__restrict__ first, float *__restrict__ second, long long n,
                                                float learning_rate, float beta1, float beta2, float epsilon, float weight_decay,
                                                float bias_correction1, float bias_correction2_sqrt) {
            CORTEX_GRID_STRIDE(i, n) {
                float p = parameter[i] * (1.0f - learning_rate * weight_decay);
                const float g = gradient[i];
                const float m = beta1 * first[i] + (1.0f - beta1) * g;
                const float v = beta2 * second[i] + (1.0f - beta2) * g * g;
                first[i] = m;
                second[i] = v;
                parameter[i] = p - (learning_rate / bias_correction1) * m / (sqrtf(v) / bias_correction2_sqrt + epsilon);
            }
        }
        """)

    /// Every kernel source this file can generate (for compile checks).
    public static var all: [CUDAKernelSource] {
        let unaries: [UnaryOperation] = [.negate, .exp, .log, .sqrt, .rsqrt, .abs, .sign, .reciprocal, .square, .sin, .cos, .relu, .sigmoid,
                                         .tanh, .gelu, .geluTanh, .silu, .softplus(beta: 1, threshold: 20), .leakyRelu(slope: 0.01),
                                         .power(2), .clamp(minimum: 0, maximum: 1), .affine(scale: 1, shift: 0)]
        let binaries: [BinaryOperation] = [.add, .subtract, .multiply, .divide, .power, .maximum, .minimum, .reluBackward,
                                           .sigmoidBackwardFromOutput, .tanhBackwardFromOutput, .geluBackward, .geluTanhBackward,
                                           .siluBackward, .softplusBackward(beta: 1, threshold: 20), .leakyReluBackward(slope: 0.01),
                                           .clampBackward(minimum: 0, maximum: 1)]
        return unaries.map(unary) + binaries.map(binary) + [stridedCopy, fill, layerNormRows, adamW, softmaxRows(logarithm: false),
                                                            softmaxRows(logarithm: true)]
            + [ReduceOperation.sum, .maximum, .minimum].map(reduceRows)
    }
}
