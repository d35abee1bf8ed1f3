// Thread placement for Cortex's worker pool.
#define _GNU_SOURCE
#include "cortex_kernels_internal.h"
#include <sched.h>

int cortex_current_cpu(void) { return sched_getcpu(); }

int cortex_pin_current_thread(int ordinal, int avoided) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
    if (avoided >= 0 && avoided < CPU_SETSIZE && CPU_ISSET(avoided, &allowed) && CPU_COUNT(&allowed) > 1) CPU_CLR(avoided, &allowed);
    int count = CPU_COUNT(&allowed);
    if (count < 1) return -1;
    int wanted = ordinal % count, seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (seen++ != wanted) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return sched_setaffinity(0, sizeof(one), &one) == 0 ? cpu : -1;
    }
    return -1;
}

int cortex_allowed_cpu_count(void) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
    return CPU_COUNT(&allowed);
}
