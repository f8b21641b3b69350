/*
 * graviton/rebalance.h - move replicas off full sectors and off sectors
 * being retired, without ever lowering protection.
 *
 * A move is: copy (verified against the key) -> record the new replica ->
 * drop the old replica from the index -> delete its bytes.  A crash at any
 * step leaves the key with at least as many healthy replicas as before;
 * repair trims any surplus.  Destinations are chosen by the placement
 * module: never a sector already holding the key, never one that breaks
 * the rack/zone constraint, never one that would end up fuller than the
 * source; underloaded sectors (below low_water) first.  Utilisation is
 * replica bytes over room: replica bytes plus the free space measured on
 * the sector's filesystem (shared fairly between sectors on one
 * filesystem), at most the configured capacity.
 */
#ifndef GRAVITON_REBALANCE_H
#define GRAVITON_REBALANCE_H

#include <stdatomic.h>
#include <stdint.h>
#include "common.h"
#include "key.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_store gv_store;

typedef enum gv_move_phase {
	GV_MOVE_PLANNED = 0,
	GV_MOVE_DONE = 1,
	GV_MOVE_FAILED = 2,
} gv_move_phase;

typedef struct gv_move_event {
	gv_move_phase phase;
	gv_key key;
	char from[GV_ID_MAX];
	char to[GV_ID_MAX];
	uint64_t bytes;
	int error;               /* with FAILED */
	const char *message;     /* with FAILED (borrowed) */
} gv_move_event;

typedef void (*gv_move_event_fn)(const gv_move_event *ev, void *payload);

/* Progress: bytes and moves done (done or failed) of those planned; a
 * drain: bytes of the keys handled of what the sector held, keys handled
 * (moves_total 0: not known ahead). */
typedef void (*gv_rebalance_progress_fn)(uint64_t bytes_done, uint64_t bytes_total,
                                         uint64_t moves_done, uint64_t moves_total,
                                         void *payload);

/* One sector's utilisation before and after (planned or done):
 * used / capacity. */
typedef struct gv_sector_util {
	char id[GV_ID_MAX];
	gv_sector_state state;
	uint64_t capacity;       /* its room: replica bytes plus measured free
	                          * space, at most the configured capacity */
	uint64_t used_before;
	uint64_t used_after;
} gv_sector_util;

#define GV_REBALANCE_OPTS_VERSION 1

typedef struct gv_rebalance_opts {
	unsigned version;
	int dry_run;             /* plan only: change nothing */
	int force;               /* run even while keys are under-replicated */
	double threshold;        /* 0: 0.1 - max-min utilisation spread allowed */
	double high_water;       /* 0: 0.9 - a sector above it is overloaded */
	double low_water;        /* a sector below it is underloaded and receives
	                          * moves first; 0: none is (the configuration's
	                          * default is 0.5) */
	unsigned max_moves;      /* 0: 100 */
	uint64_t max_bytes;      /* 0: no byte budget */
	gv_move_event_fn on_move;
	void *payload;
	atomic_int *cancel;
	gv_rebalance_progress_fn on_progress; /* NULL: none */
} gv_rebalance_opts;

#define GV_REBALANCE_OPTS_INIT \
	{ GV_REBALANCE_OPTS_VERSION, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }

typedef struct gv_rebalance_summary {
	uint64_t planned;
	uint64_t moved;
	uint64_t failed;
	uint64_t bytes;
	double spread_before;    /* max - min utilisation of active sectors */
	double spread_after;
	int nothing_to_do;       /* already within the threshold */
	gv_sector_util *sectors; /* owned; free with gv_rebalance_summary_free */
	size_t nsectors;
	int64_t duration_ms;
} gv_rebalance_summary;

GV_API void gv_rebalance_summary_free(gv_rebalance_summary *s);

/*
 * One rebalance run: plan up to max_moves moves, biggest gain first, from
 * the fullest sectors toward the mean, then carry them out (unless
 * dry_run).  GV_EBUSY (with a message saying why) while keys are
 * under-replicated, unless force.
 */
GV_API int gv_rebalance_run(gv_store *st, const gv_rebalance_opts *opts, gv_rebalance_summary *out);

/*
 * Drain a sector: mark it draining (no new placements; reads keep working),
 * move every replica off it under the same rules, then mark it retired.
 * Resumable: running it again on a draining sector carries on.  Keys that
 * cannot move are reported and leave the sector draining.
 */
GV_API int gv_sector_drain(gv_store *st, const char *id, const gv_rebalance_opts *opts,
                    gv_rebalance_summary *out);

/* Forget a sector: only a retired one, or one holding no replica. */
GV_API int gv_store_sector_remove(gv_store *st, const char *id);

/*
 * The rebalancer's schedule: a run every interval_ms until *stop, quietly
 * skipped while keys are under-replicated.
 */
GV_API void gv_rebalance_daemon(gv_store *st, const gv_rebalance_opts *opts, uint64_t interval_ms,
                         atomic_int *stop);

#ifdef __cplusplus
}
#endif
#endif
