// Returning freed heap memory to the system.
#include "cortex_kernels.h"
#include <malloc.h>

void cortex_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
