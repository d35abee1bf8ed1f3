// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over addresses of
// its predefined objects, which Swift cannot import; these static-inline functions expose them.
#ifndef CORTEX_CMPI_SHIM_H
#define CORTEX_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm cortex_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cortex_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cortex_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cortex_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cortex_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Op cortex_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cortex_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op cortex_mpi_min(void) { return MPI_MIN; }
static inline void *cortex_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler cortex_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int cortex_mpi_success(void) { return MPI_SUCCESS; }
static inline int cortex_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cortex_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cortex_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }

#endif
