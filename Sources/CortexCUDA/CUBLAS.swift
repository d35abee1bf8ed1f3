import CCUDA
import CortexCore

/// cuBLAS, loaded with dlopen after cuBLASLt (libcublasLt.so.13/.12 with RTLD_GLOBAL, then
/// libcublas.so.13/.12, or CORTEX_CUBLAS_LT / CORTEX_CUBLAS): the strided-batched GEMM the CUDA
/// matmul is built on. Row-major products map to cuBLAS's column-major ones as C^T = B^T A^T.
public final class CUBLAS: @unchecked Sendable {
    let table: cortex_cublas

    public static var candidates: (lt: [String], blas: [String]) {
        (RuntimeLibrary.candidates(["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"], environment: "CORTEX_CUBLAS_LT"),
         RuntimeLibrary.candidates(["libcublas.so.13", "libcublas.so.12", "libcublas.so"], environment: "CORTEX_CUBLAS"))
    }

    private static let loaded = LoadedOnce<CUBLAS>(device: "cublas")

    /// The process's cuBLAS, loaded once; the failure is remembered too.
    public static func shared() throws -> CUBLAS { try loaded.get { try CUBLAS(lt: candidates.lt, candidates: candidates.blas) } }

    public init(lt: [String], candidates: [String]) throws {
        var table = cortex_cublas()
        try withCStrings(lt) { ltNames in
            try RuntimeLibrary.load(&table, candidates: candidates, device: "cublas", what: "cuBLAS") { names, table, error, size in
                cortex_cuda_load_cublas(ltNames, names, table, error, size)
            }
        }
        self.table = table
    }

    /// The arguments of cublasGemmStridedBatchedEx computing row-major C (m x n) = A (m x k)
    /// B (k x n) for `batch` products, each operand given as row-major (`transposed` false,
    /// leading dimension = its columns) or as the transpose of a row-major matrix: cuBLAS sees
    /// C^T = B^T A^T, so B comes first and the sizes swap.
    public struct GemmArguments: Equatable, Sendable {
        public var transposeFirst: Int32, transposeSecond: Int32
        public var m: Int32, n: Int32, k: Int32
        public var leadingFirst: Int32, leadingSecond: Int32, leadingOutput: Int32
    }

    public static func rowMajorGemm(m: Int, n: Int, k: Int, aTransposed: Bool, bTransposed: Bool) -> GemmArguments {
        GemmArguments(transposeFirst: Int32(bTransposed ? CORTEX_CUBLAS_OP_T : CORTEX_CUBLAS_OP_N),
                      transposeSecond: Int32(aTransposed ? CORTEX_CUBLAS_OP_T : CORTEX_CUBLAS_OP_N),
                      m: Int32(n), n: Int32(m), k: Int32(k),
                      leadingFirst: Int32(bTransposed ? k : n), leadingSecond: Int32(aTransposed ? m : k), leadingOutput: Int32(n))
    }
}
