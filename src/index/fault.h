/*
 * index/fault.h - an index that wraps another and fails on purpose (tests).
 *
 * Each call whose operation is in plan.ops is counted; the counted calls
 * from the nth on (1-based; 0 is the same as 1) fail with plan.error
 * (after sleeping plan.hang_ms, when set),
 * `count` of them (0: every one from the nth on), without reaching the
 * inner index.  Other calls pass through.  A full disk, say, is "every
 * write from the second on": GV_IXFAULT_WRITES, nth 2, count 0, GV_EIO.
 */
#ifndef GV_INDEX_FAULT_H
#define GV_INDEX_FAULT_H

#include "graviton/sys/index.h"

/* Operations that can be targeted (bit mask), one per gv_index_ops call. */
#define GV_IXFAULT_SECTOR_UPSERT        (1ul << 0)
#define GV_IXFAULT_SECTOR_GET           (1ul << 1)
#define GV_IXFAULT_SECTOR_LIST          (1ul << 2)
#define GV_IXFAULT_SECTOR_SET_HEALTH    (1ul << 3)
#define GV_IXFAULT_SECTOR_SET_STATE     (1ul << 4)
#define GV_IXFAULT_SECTOR_REMOVE        (1ul << 5)
#define GV_IXFAULT_REPLICA_PUT          (1ul << 6)
#define GV_IXFAULT_REPLICA_REMOVE       (1ul << 7)
#define GV_IXFAULT_REPLICA_SET_HEALTH   (1ul << 8)
#define GV_IXFAULT_REPLICA_SET_VERIFIED (1ul << 9)
#define GV_IXFAULT_REPLICA_SET_RANGES   (1ul << 10)
#define GV_IXFAULT_REPLICAS_FIND        (1ul << 11)
#define GV_IXFAULT_BLOB_EXISTS          (1ul << 12)
#define GV_IXFAULT_BLOB_REMOVE          (1ul << 13)
#define GV_IXFAULT_KEYS_NEXT            (1ul << 14)
#define GV_IXFAULT_SECTOR_KEYS_NEXT     (1ul << 15)
#define GV_IXFAULT_BLOBS_NEXT           (1ul << 16)
#define GV_IXFAULT_REPLICAS_NEXT        (1ul << 17)
#define GV_IXFAULT_STATS                (1ul << 18)
#define GV_IXFAULT_SETTING_GET          (1ul << 19)
#define GV_IXFAULT_SETTING_SET          (1ul << 20)
#define GV_IXFAULT_BLOCKS_PUT           (1ul << 21)
#define GV_IXFAULT_BLOCKS_GET           (1ul << 22)
#define GV_IXFAULT_REPAIRQ_PUT          (1ul << 23)
#define GV_IXFAULT_REPAIRQ_GET          (1ul << 24)
#define GV_IXFAULT_REPAIRQ_REMOVE       (1ul << 25)
#define GV_IXFAULT_REPAIRQ_DUE          (1ul << 26)
#define GV_IXFAULT_REPAIRQ_LIST         (1ul << 27)
#define GV_IXFAULT_REPAIRQ_COUNT        (1ul << 28)
#define GV_IXFAULT_NS_READ             (1ul << 29) /* namespace reads */
#define GV_IXFAULT_NS_WRITE            (1ul << 30) /* namespace writes but ns_collect */
#define GV_IXFAULT_NS_COLLECT          (1ul << 31)
#define GV_IXFAULT_KEY_LOCK             (1ul << 32)
/* claim and claim_release */
#define GV_IXFAULT_CLAIM                (1ul << 33)
/* Every repair queue call (not part of GV_IXFAULT_WRITES). */
#define GV_IXFAULT_REPAIRQ                                                       \
	(GV_IXFAULT_REPAIRQ_PUT | GV_IXFAULT_REPAIRQ_GET | GV_IXFAULT_REPAIRQ_REMOVE |  \
	 GV_IXFAULT_REPAIRQ_DUE | GV_IXFAULT_REPAIRQ_LIST | GV_IXFAULT_REPAIRQ_COUNT)
/* Every call that changes rows. */
#define GV_IXFAULT_WRITES                                                        \
	(GV_IXFAULT_SECTOR_UPSERT | GV_IXFAULT_SECTOR_SET_HEALTH |                   \
	 GV_IXFAULT_SECTOR_SET_STATE | GV_IXFAULT_SECTOR_REMOVE |                    \
	 GV_IXFAULT_REPLICA_PUT | GV_IXFAULT_REPLICA_REMOVE |                        \
	 GV_IXFAULT_REPLICA_SET_HEALTH | GV_IXFAULT_REPLICA_SET_VERIFIED |           \
	 GV_IXFAULT_REPLICA_SET_RANGES | GV_IXFAULT_BLOB_REMOVE | GV_IXFAULT_SETTING_SET | \
	 GV_IXFAULT_BLOCKS_PUT)

typedef struct gv_index_fault_plan {
	unsigned long ops;      /* which calls count (GV_IXFAULT_*) */
	unsigned long nth;      /* the first counted call that fails (1-based) */
	unsigned long count;    /* how many fail from there; 0: all */
	int error;              /* what they return (GV_EIO, GV_ENOSPACE, ...) */
	/* Picked calls first sleep this long (a hung index); then they fail
	 * with `error`, or, when error is 0, go ahead (a slow index). */
	unsigned hang_ms;
} gv_index_fault_plan;

/*
 * Wrap `inner` in a fault-injecting index; it takes `inner` over on
 * success (closing the wrapper closes it) and leaves it to the caller on
 * failure.  plan NULL: no faults until gv_index_fault_set.
 */
int gv_index_fault_wrap(gv_index **out, gv_index *inner, const gv_index_fault_plan *plan);

/* Replace the plan (NULL: no faults) and restart the call count. */
void gv_index_fault_set(gv_index *fault, const gv_index_fault_plan *plan);

/* Calls that matched the plan's ops so far, and how many of them failed
 * (either pointer may be NULL). */
void gv_index_fault_counts(gv_index *fault, unsigned long *calls, unsigned long *failed);

#endif
