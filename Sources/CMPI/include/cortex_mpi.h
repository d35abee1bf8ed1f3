// Open MPI, loaded at run time: libmpi is opened with dlopen (RTLD_GLOBAL, as Open MPI's own
// plug-ins need) the first time a process group is made, so Cortex's binaries build against
// mpi.h but start, and train in one process, on machines without Open MPI. Open MPI's handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over the addresses of its predefined
// objects, which Swift cannot import; the functions below return them, looked up by name.
#ifndef CORTEX_MPI_H
#define CORTEX_MPI_H

#if __has_include(<mpi.h>)
#include <mpi.h>
#else
#include <mpi/mpi.h>
#endif

/// Opens libmpi and resolves every function and handle Cortex uses. Returns 0, or -1 with the
/// reason (the libraries tried, or the missing symbol) in `reason`.
int cortex_mpi_load(char *reason, int reason_length);

MPI_Comm cortex_mpi_comm_world(void);
MPI_Datatype cortex_mpi_float(void);
MPI_Datatype cortex_mpi_double(void);
MPI_Datatype cortex_mpi_byte(void);
MPI_Datatype cortex_mpi_int32(void);
MPI_Op cortex_mpi_sum(void);
MPI_Op cortex_mpi_max(void);
MPI_Op cortex_mpi_min(void);
MPI_Errhandler cortex_mpi_errors_return(void);
void *cortex_mpi_in_place(void);
int cortex_mpi_success(void);
int cortex_mpi_thread_serialized(void);
int cortex_mpi_max_error_string(void);
int cortex_mpi_max_processor_name(void);

int cortex_mpi_init_thread(int required, int *provided);
int cortex_mpi_finalize(void);
int cortex_mpi_abort(MPI_Comm communicator, int code);
int cortex_mpi_comm_set_errhandler(MPI_Comm communicator, MPI_Errhandler handler);
int cortex_mpi_comm_rank(MPI_Comm communicator, int *rank);
int cortex_mpi_comm_size(MPI_Comm communicator, int *size);
int cortex_mpi_get_processor_name(char *name, int *length);
int cortex_mpi_error_string(int code, char *text, int *length);
int cortex_mpi_allreduce(const void *send, void *receive, int count, MPI_Datatype type, MPI_Op operation, MPI_Comm communicator);
int cortex_mpi_bcast(void *buffer, int count, MPI_Datatype type, int root, MPI_Comm communicator);
int cortex_mpi_allgather(const void *send, int send_count, MPI_Datatype send_type, void *receive, int receive_count,
                         MPI_Datatype receive_type, MPI_Comm communicator);
int cortex_mpi_allgatherv(const void *send, int send_count, MPI_Datatype send_type, void *receive, const int *receive_counts,
                          const int *displacements, MPI_Datatype receive_type, MPI_Comm communicator);
int cortex_mpi_reduce_scatter_block(const void *send, void *receive, int count, MPI_Datatype type, MPI_Op operation, MPI_Comm communicator);
int cortex_mpi_barrier(MPI_Comm communicator);

#endif
