/*
 * hedge.h - hedged opens: a slow or hung replica does not stall a read.
 *
 * gv_hedge_run runs an attempt (open a reader, or read a small blob whole)
 * on a first replica; when it has not answered within the hedge delay of
 * that replica's sector, the same attempt starts on a second replica and
 * the first to succeed wins.  The loser runs on in its thread and drops
 * what it produces (it cannot be interrupted: a hung request ends at its
 * own timeout).  The delay is graviton.read.hedge-after, else the p95 of
 * the sector's recent first-byte latencies (at least HEDGE_MIN_MS).
 */
#ifndef GV_ENGINE_HEDGE_H
#define GV_ENGINE_HEDGE_H

#include "engine/store.h"

/* One attempt on one replica. */
typedef struct gv_hedge_try {
	size_t ci;                     /* the caller's candidate index */
	gv_sector *s;
	char sector[GV_ID_MAX];
	void *out;                     /* what the attempt produced */
	int err;                       /* its failure (0: none or not run) */
	char reason[GV_REASON_MAX];    /* the replica's failure reason */
} gv_hedge_try;

/* The attempt: fill t->out, or return the error with t->reason set.
 * `ctx` is the caller's context, copied (it may outlive the caller). */
typedef int (*gv_hedge_fn)(gv_hedge_try *t, const void *ctx);
/* Drop what a losing attempt produced. */
typedef void (*gv_hedge_drop_fn)(void *out);

/*
 * Run fn on `first`, and on `alt` too (NULL: never) once `first` is late.
 * 0 with *won set to first or alt (its out is the caller's); otherwise
 * the error of `first` (alt's, when it ran, is in alt).  first->err is
 * set when first failed, even when alt won.
 */
int gv_hedge_run(gv_store *st, const void *ctx, size_t ctx_len, gv_hedge_fn fn,
                 gv_hedge_drop_fn drop, gv_hedge_try *first, gv_hedge_try *alt,
                 gv_hedge_try **won);

/* Note a first-byte latency of sector `id` (microseconds). */
void gv_hedge_note(gv_store *st, const char *id, uint64_t us);
/* The hedge delay of sector `id` now, in milliseconds. */
uint64_t gv_hedge_after_ms(gv_store *st, const char *id);

#endif
