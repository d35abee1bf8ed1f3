// dlopen/dlsym loaders for the tables declared in cortex_cuda.h.
#include "cortex_cuda.h"
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// A symbol's name, or alternatives separated by '|' (newest first: CUDA 13 renamed some).
typedef struct { const char *name; size_t offset; } symbol;

static void *resolve(void *library, const char *names) {
    char name[128];
    while (*names) {
        size_t length = strcspn(names, "|");
        if (length >= sizeof name) return NULL;
        memcpy(name, names, length);
        name[length] = 0;
        void *address = dlsym(library, name);
        if (address) return address;
        names += length + (names[length] == '|');
    }
    return NULL;
}

// Opens the first candidate that has every symbol; fills `table` (an array of function pointers).
static int load(const char *const *candidates, const symbol *symbols, size_t count, void *table, int flags, char *error,
                size_t error_size) {
    size_t used = 0;
    if (error_size) error[0] = 0;
    for (const char *const *candidate = candidates; *candidate; candidate++) {
        void *library = dlopen(*candidate, flags);
        if (!library) {
            const char *reason = dlerror();
            used += (size_t)snprintf(error + used, used < error_size ? error_size - used : 0, "%s%s", used ? "; " : "",
                                     reason ? reason : *candidate);
            if (used >= error_size) used = error_size ? error_size - 1 : 0;
            continue;
        }
        size_t i = 0;
        for (; i < count; i++) {
            void *address = resolve(library, symbols[i].name);
            if (!address) break;
            memcpy((char *)table + symbols[i].offset, &address, sizeof(void *));
        }
        if (i == count) return 0;
        used += (size_t)snprintf(error + used, used < error_size ? error_size - used : 0, "%s%s lacks %s", used ? "; " : "",
                                 *candidate, symbols[i].name);
        if (used >= error_size) used = error_size ? error_size - 1 : 0;
        dlclose(library);
    }
    return -1;
}

#define ENTRY(type, field, name) {name, offsetof(type, field)}

int cortex_cuda_load_driver(const char *const *candidates, cortex_cuda_driver *driver, char *error, size_t error_size) {
    static const symbol symbols[] = {
        ENTRY(cortex_cuda_driver, cuInit, "cuInit"),
        ENTRY(cortex_cuda_driver, cuDriverGetVersion, "cuDriverGetVersion"),
        ENTRY(cortex_cuda_driver, cuDeviceGetCount, "cuDeviceGetCount"),
        ENTRY(cortex_cuda_driver, cuDeviceGet, "cuDeviceGet"),
        ENTRY(cortex_cuda_driver, cuDeviceGetName, "cuDeviceGetName"),
        ENTRY(cortex_cuda_driver, cuDeviceTotalMem, "cuDeviceTotalMem_v2"),
        ENTRY(cortex_cuda_driver, cuDeviceGetAttribute, "cuDeviceGetAttribute"),
        ENTRY(cortex_cuda_driver, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
        ENTRY(cortex_cuda_driver, cuCtxSetCurrent, "cuCtxSetCurrent"),
        ENTRY(cortex_cuda_driver, cuCtxSynchronize, "cuCtxSynchronize"),
        ENTRY(cortex_cuda_driver, cuMemAlloc, "cuMemAlloc_v2"),
        ENTRY(cortex_cuda_driver, cuMemFree, "cuMemFree_v2"),
        ENTRY(cortex_cuda_driver, cuMemcpyHtoD, "cuMemcpyHtoD_v2"),
        ENTRY(cortex_cuda_driver, cuMemcpyDtoH, "cuMemcpyDtoH_v2"),
        ENTRY(cortex_cuda_driver, cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
        ENTRY(cortex_cuda_driver, cuMemsetD32Async, "cuMemsetD32Async"),
        ENTRY(cortex_cuda_driver, cuStreamCreate, "cuStreamCreate"),
        ENTRY(cortex_cuda_driver, cuStreamDestroy, "cuStreamDestroy_v2"),
        ENTRY(cortex_cuda_driver, cuStreamSynchronize, "cuStreamSynchronize"),
        ENTRY(cortex_cuda_driver, cuEventCreate, "cuEventCreate"),
        ENTRY(cortex_cuda_driver, cuEventRecord, "cuEventRecord"),
        ENTRY(cortex_cuda_driver, cuEventSynchronize, "cuEventSynchronize"),
        ENTRY(cortex_cuda_driver, cuEventElapsedTime, "cuEventElapsedTime_v2|cuEventElapsedTime"),
        ENTRY(cortex_cuda_driver, cuModuleLoadData, "cuModuleLoadData"),
        ENTRY(cortex_cuda_driver, cuModuleGetFunction, "cuModuleGetFunction"),
        ENTRY(cortex_cuda_driver, cuLaunchKernel, "cuLaunchKernel"),
        ENTRY(cortex_cuda_driver, cuGetErrorName, "cuGetErrorName"),
        ENTRY(cortex_cuda_driver, cuGetErrorString, "cuGetErrorString"),
    };
    return load(candidates, symbols, sizeof symbols / sizeof *symbols, driver, RTLD_NOW | RTLD_LOCAL, error, error_size);
}

int cortex_cuda_load_nvrtc(const char *const *candidates, cortex_nvrtc *nvrtc, char *error, size_t error_size) {
    static const symbol symbols[] = {
        ENTRY(cortex_nvrtc, nvrtcVersion, "nvrtcVersion"),
        ENTRY(cortex_nvrtc, nvrtcCreateProgram, "nvrtcCreateProgram"),
        ENTRY(cortex_nvrtc, nvrtcCompileProgram, "nvrtcCompileProgram"),
        ENTRY(cortex_nvrtc, nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"),
        ENTRY(cortex_nvrtc, nvrtcGetProgramLog, "nvrtcGetProgramLog"),
        ENTRY(cortex_nvrtc, nvrtcGetPTXSize, "nvrtcGetPTXSize"),
        ENTRY(cortex_nvrtc, nvrtcGetPTX, "nvrtcGetPTX"),
        ENTRY(cortex_nvrtc, nvrtcGetCUBINSize, "nvrtcGetCUBINSize"),
        ENTRY(cortex_nvrtc, nvrtcGetCUBIN, "nvrtcGetCUBIN"),
        ENTRY(cortex_nvrtc, nvrtcDestroyProgram, "nvrtcDestroyProgram"),
        ENTRY(cortex_nvrtc, nvrtcGetErrorString, "nvrtcGetErrorString"),
    };
    return load(candidates, symbols, sizeof symbols / sizeof *symbols, nvrtc, RTLD_NOW | RTLD_LOCAL, error, error_size);
}

int cortex_cuda_load_cublas(const char *const *lt_candidates, const char *const *candidates, cortex_cublas *cublas, char *error,
                            size_t error_size) {
    static const symbol none[] = {{"cublasLtCreate", 0}};
    void *unused[1];
    if (load(lt_candidates, none, 1, unused, RTLD_NOW | RTLD_GLOBAL, error, error_size) != 0) return -1;
    static const symbol symbols[] = {
        ENTRY(cortex_cublas, cublasCreate, "cublasCreate_v2"),
        ENTRY(cortex_cublas, cublasDestroy, "cublasDestroy_v2"),
        ENTRY(cortex_cublas, cublasSetStream, "cublasSetStream_v2"),
        ENTRY(cortex_cublas, cublasGemmStridedBatchedEx, "cublasGemmStridedBatchedEx"),
    };
    return load(candidates, symbols, sizeof symbols / sizeof *symbols, cublas, RTLD_NOW | RTLD_LOCAL, error, error_size);
}

CUresult cortex_cuda_launch(const cortex_cuda_driver *driver, CUfunction function, unsigned int grid_x, unsigned int grid_y,
                            unsigned int block_x, unsigned int shared_bytes, CUstream stream, void **parameters) {
    return driver->cuLaunchKernel(function, grid_x, grid_y, 1, block_x, 1, 1, shared_bytes, stream, parameters, NULL);
}
