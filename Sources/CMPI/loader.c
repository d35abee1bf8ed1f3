#include "cortex_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static struct {
    int loaded;
    void *comm_world, *type_float, *type_double, *type_byte, *type_int32, *op_sum, *op_max, *op_min, *errors_return;
    int (*init_thread)(int *, char ***, int, int *);
    int (*finalize)(void);
    int (*abort)(MPI_Comm, int);
    int (*comm_set_errhandler)(MPI_Comm, MPI_Errhandler);
    int (*comm_rank)(MPI_Comm, int *);
    int (*comm_size)(MPI_Comm, int *);
    int (*get_processor_name)(char *, int *);
    int (*error_string)(int, char *, int *);
    int (*allreduce)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
    int (*bcast)(void *, int, MPI_Datatype, int, MPI_Comm);
    int (*allgather)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
    int (*allgatherv)(const void *, int, MPI_Datatype, void *, const int *, const int *, MPI_Datatype, MPI_Comm);
    int (*reduce_scatter_block)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
    int (*barrier)(MPI_Comm);
} mpi;

int cortex_mpi_load(char *reason, int reason_length) {
    if (mpi.loaded) return 0;
    static const char *names[] = {"libmpi.so.40", "libmpi.so"};
    void *library = NULL;
    for (unsigned index = 0; index < sizeof(names) / sizeof(names[0]) && !library; index++) {
        library = dlopen(names[index], RTLD_NOW | RTLD_GLOBAL);
    }
    if (!library) {
        snprintf(reason, (size_t)reason_length, "Open MPI is not installed here (tried libmpi.so.40 and libmpi.so: %s); "
                 "bash Tools/setup-debian.sh installs openmpi-bin and libopenmpi-dev", dlerror());
        return -1;
    }
#define RESOLVE(field, symbol)                                                                       \
    do {                                                                                             \
        *(void **)(&mpi.field) = dlsym(library, symbol);                                             \
        if (!mpi.field) {                                                                            \
            snprintf(reason, (size_t)reason_length, "libmpi has no symbol %s: Cortex needs Open MPI 4", symbol); \
            return -1;                                                                               \
        }                                                                                            \
    } while (0)
    RESOLVE(comm_world, "ompi_mpi_comm_world");
    RESOLVE(type_float, "ompi_mpi_float");
    RESOLVE(type_double, "ompi_mpi_double");
    RESOLVE(type_byte, "ompi_mpi_byte");
    RESOLVE(type_int32, "ompi_mpi_int32_t");
    RESOLVE(op_sum, "ompi_mpi_op_sum");
    RESOLVE(op_max, "ompi_mpi_op_max");
    RESOLVE(op_min, "ompi_mpi_op_min");
    RESOLVE(errors_return, "ompi_mpi_errors_return");
    RESOLVE(init_thread, "MPI_Init_thread");
    RESOLVE(finalize, "MPI_Finalize");
    RESOLVE(abort, "MPI_Abort");
    RESOLVE(comm_set_errhandler, "MPI_Comm_set_errhandler");
    RESOLVE(comm_rank, "MPI_Comm_rank");
    RESOLVE(comm_size, "MPI_Comm_size");
    RESOLVE(get_processor_name, "MPI_Get_processor_name");
    RESOLVE(error_string, "MPI_Error_string");
    RESOLVE(allreduce, "MPI_Allreduce");
    RESOLVE(bcast, "MPI_Bcast");
    RESOLVE(allgather, "MPI_Allgather");
    RESOLVE(allgatherv, "MPI_Allgatherv");
    RESOLVE(reduce_scatter_block, "MPI_Reduce_scatter_block");
    RESOLVE(barrier, "MPI_Barrier");
#undef RESOLVE
    mpi.loaded = 1;
    return 0;
}

MPI_Comm cortex_mpi_comm_world(void) { return (MPI_Comm)mpi.comm_world; }
MPI_Datatype cortex_mpi_float(void) { return (MPI_Datatype)mpi.type_float; }
MPI_Datatype cortex_mpi_double(void) { return (MPI_Datatype)mpi.type_double; }
MPI_Datatype cortex_mpi_byte(void) { return (MPI_Datatype)mpi.type_byte; }
MPI_Datatype cortex_mpi_int32(void) { return (MPI_Datatype)mpi.type_int32; }
MPI_Op cortex_mpi_sum(void) { return (MPI_Op)mpi.op_sum; }
MPI_Op cortex_mpi_max(void) { return (MPI_Op)mpi.op_max; }
MPI_Op cortex_mpi_min(void) { return (MPI_Op)mpi.op_min; }
MPI_Errhandler cortex_mpi_errors_return(void) { return (MPI_Errhandler)mpi.errors_return; }
void *cortex_mpi_in_place(void) { return MPI_IN_PLACE; }
int cortex_mpi_success(void) { return MPI_SUCCESS; }
int cortex_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
int cortex_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
int cortex_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }

// Every call fails with MPI_ERR_OTHER until cortex_mpi_load has succeeded.
#define CALL(field, ...) (mpi.loaded ? mpi.field(__VA_ARGS__) : MPI_ERR_OTHER)

int cortex_mpi_init_thread(int required, int *provided) { return CALL(init_thread, NULL, NULL, required, provided); }
int cortex_mpi_finalize(void) { return mpi.loaded ? mpi.finalize() : MPI_ERR_OTHER; }
int cortex_mpi_abort(MPI_Comm communicator, int code) { return CALL(abort, communicator, code); }
int cortex_mpi_comm_set_errhandler(MPI_Comm communicator, MPI_Errhandler handler) { return CALL(comm_set_errhandler, communicator, handler); }
int cortex_mpi_comm_rank(MPI_Comm communicator, int *rank) { return CALL(comm_rank, communicator, rank); }
int cortex_mpi_comm_size(MPI_Comm communicator, int *size) { return CALL(comm_size, communicator, size); }
int cortex_mpi_get_processor_name(char *name, int *length) { return CALL(get_processor_name, name, length); }
int cortex_mpi_error_string(int code, char *text, int *length) { return CALL(error_string, code, text, length); }
int cortex_mpi_allreduce(const void *send, void *receive, int count, MPI_Datatype type, MPI_Op operation, MPI_Comm communicator) {
    return CALL(allreduce, send, receive, count, type, operation, communicator);
}
int cortex_mpi_bcast(void *buffer, int count, MPI_Datatype type, int root, MPI_Comm communicator) {
    return CALL(bcast, buffer, count, type, root, communicator);
}
int cortex_mpi_allgather(const void *send, int send_count, MPI_Datatype send_type, void *receive, int receive_count,
                         MPI_Datatype receive_type, MPI_Comm communicator) {
    return CALL(allgather, send, send_count, send_type, receive, receive_count, receive_type, communicator);
}
int cortex_mpi_allgatherv(const void *send, int send_count, MPI_Datatype send_type, void *receive, const int *receive_counts,
                          const int *displacements, MPI_Datatype receive_type, MPI_Comm communicator) {
    return CALL(allgatherv, send, send_count, send_type, receive, receive_counts, displacements, receive_type, communicator);
}
int cortex_mpi_reduce_scatter_block(const void *send, void *receive, int count, MPI_Datatype type, MPI_Op operation, MPI_Comm communicator) {
    return CALL(reduce_scatter_block, send, receive, count, type, operation, communicator);
}
int cortex_mpi_barrier(MPI_Comm communicator) { return CALL(barrier, communicator); }
