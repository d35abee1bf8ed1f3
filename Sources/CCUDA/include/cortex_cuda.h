// The parts of the CUDA driver API, NVRTC and cuBLAS that Cortex calls, declared here as
// function-pointer tables filled with dlopen/dlsym at run time: nothing of CUDA is needed to
// build, and a machine without a driver gets an error message instead of a link failure.
// Types and enum values follow cuda.h, nvrtc.h and cublas_api.h (CUDA 12/13); see
// ../shared/notes/cuda.md for the versioned symbol names checked on the GPU machine.
#ifndef CORTEX_CUDA_H
#define CORTEX_CUDA_H
#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;

enum {
    CORTEX_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CORTEX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CORTEX_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
};

typedef struct {
    CUresult (*cuInit)(unsigned int flags);
    CUresult (*cuDriverGetVersion)(int *version);
    CUresult (*cuDeviceGetCount)(int *count);
    CUresult (*cuDeviceGet)(CUdevice *device, int ordinal);
    CUresult (*cuDeviceGetName)(char *name, int length, CUdevice device);
    CUresult (*cuDeviceTotalMem)(size_t *bytes, CUdevice device);                    // cuDeviceTotalMem_v2
    CUresult (*cuDeviceGetAttribute)(int *value, int attribute, CUdevice device);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *context, CUdevice device);
    CUresult (*cuCtxSetCurrent)(CUcontext context);
    CUresult (*cuCtxSynchronize)(void);
    CUresult (*cuMemAlloc)(CUdeviceptr *pointer, size_t bytes);                      // cuMemAlloc_v2
    CUresult (*cuMemFree)(CUdeviceptr pointer);                                      // cuMemFree_v2
    CUresult (*cuMemcpyHtoD)(CUdeviceptr destination, const void *source, size_t bytes);   // _v2
    CUresult (*cuMemcpyDtoH)(void *destination, CUdeviceptr source, size_t bytes);         // _v2
    CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr destination, CUdeviceptr source, size_t bytes, CUstream stream);  // _v2
    CUresult (*cuMemsetD32Async)(CUdeviceptr destination, unsigned int value, size_t count, CUstream stream);
    CUresult (*cuStreamCreate)(CUstream *stream, unsigned int flags);
    CUresult (*cuStreamDestroy)(CUstream stream);                                    // cuStreamDestroy_v2
    CUresult (*cuStreamSynchronize)(CUstream stream);
    CUresult (*cuEventCreate)(CUevent *event, unsigned int flags);
    CUresult (*cuEventRecord)(CUevent event, CUstream stream);
    CUresult (*cuEventSynchronize)(CUevent event);
    CUresult (*cuEventElapsedTime)(float *milliseconds, CUevent start, CUevent end); // _v2 on CUDA 13
    CUresult (*cuModuleLoadData)(CUmodule *module, const void *image);
    CUresult (*cuModuleGetFunction)(CUfunction *function, CUmodule module, const char *name);
    CUresult (*cuLaunchKernel)(CUfunction function, unsigned int gridX, unsigned int gridY, unsigned int gridZ,
                               unsigned int blockX, unsigned int blockY, unsigned int blockZ, unsigned int sharedBytes,
                               CUstream stream, void **parameters, void **extra);
    CUresult (*cuGetErrorName)(CUresult error, const char **name);
    CUresult (*cuGetErrorString)(CUresult error, const char **text);
} cortex_cuda_driver;

typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

typedef struct {
    nvrtcResult (*nvrtcVersion)(int *major, int *minor);
    nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram *program, const char *source, const char *name, int headerCount,
                                      const char *const *headers, const char *const *includeNames);
    nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram program, int optionCount, const char *const *options);
    nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram program, size_t *size);
    nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram program, char *log);
    nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram program, size_t *size);
    nvrtcResult (*nvrtcGetPTX)(nvrtcProgram program, char *ptx);
    nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram program, size_t *size);
    nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram program, char *cubin);
    nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram *program);
    const char *(*nvrtcGetErrorString)(nvrtcResult result);
} cortex_nvrtc;

typedef int cublasStatus_t;
typedef struct cublasContext *cublasHandle_t;
enum { CORTEX_CUBLAS_OP_N = 0, CORTEX_CUBLAS_OP_T = 1 };
enum { CORTEX_CUDA_R_32F = 0, CORTEX_CUDA_R_16F = 2, CORTEX_CUDA_R_16BF = 14 };
enum { CORTEX_CUBLAS_COMPUTE_32F = 68, CORTEX_CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };

typedef struct {
    cublasStatus_t (*cublasCreate)(cublasHandle_t *handle);                          // cublasCreate_v2
    cublasStatus_t (*cublasDestroy)(cublasHandle_t handle);                          // cublasDestroy_v2
    cublasStatus_t (*cublasSetStream)(cublasHandle_t handle, CUstream stream);      // cublasSetStream_v2
    cublasStatus_t (*cublasGemmStridedBatchedEx)(cublasHandle_t handle, int transa, int transb, int m, int n, int k,
                                                 const void *alpha, const void *a, int aType, int lda, long long strideA,
                                                 const void *b, int bType, int ldb, long long strideB, const void *beta,
                                                 void *c, int cType, int ldc, long long strideC, int batchCount,
                                                 int computeType, int algorithm);
} cortex_cublas;

/// Each loader dlopens the first of `candidates` (a NULL-terminated list of names or paths)
/// that loads and resolves every symbol of its table. On failure it returns -1 and writes why
/// (each candidate's dlerror, or the missing symbol) into `error`.
int cortex_cuda_load_driver(const char *const *candidates, cortex_cuda_driver *driver, char *error, size_t error_size);
int cortex_cuda_load_nvrtc(const char *const *candidates, cortex_nvrtc *nvrtc, char *error, size_t error_size);
/// cuBLAS needs cuBLASLt loaded first with RTLD_GLOBAL: `lt_candidates` are tried for that.
int cortex_cuda_load_cublas(const char *const *lt_candidates, const char *const *candidates, cortex_cublas *cublas, char *error,
                            size_t error_size);

/// Launches `function` with `count` parameter addresses (Swift cannot form a void ** of
/// differently typed values by itself).
CUresult cortex_cuda_launch(const cortex_cuda_driver *driver, CUfunction function, unsigned int grid_x, unsigned int grid_y,
                            unsigned int block_x, unsigned int shared_bytes, CUstream stream, void **parameters);
#endif
