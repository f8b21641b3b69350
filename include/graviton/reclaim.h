/*
 * graviton/reclaim.h - reclaiming bytes no one counts on.
 *
 * Two kinds of leftovers take space in a sector without being part of any
 * blob: temporary files of writers that are gone (a killed put), and
 * committed blob files that no replica row counts on (a put killed between
 * its commit and its record, an undo that could not run).  A reclaim run
 * removes the first at once - a live writer's file is never touched - and
 * the second once it is older than a grace period, deciding per file under
 * the key's lock (no row for (key, sector), still older than the grace),
 * so an in-flight put, copy or move that is about to record the file keeps
 * it.  Resumable partials are left to repair.  A sector lent to another
 * node (gv_sector_lent: the node protocol has used it) keeps its committed
 * files whatever this store's index says: the borrowing node's index
 * counts them, and only that node reclaims there.
 */
#ifndef GRAVITON_RECLAIM_H
#define GRAVITON_RECLAIM_H

#include <stdatomic.h>
#include <stdint.h>
#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_store gv_store;

#define GV_RECLAIM_OPTS_VERSION 1
#define GV_RECLAIM_GRACE_DEFAULT_MS (3600 * 1000ULL)

typedef struct gv_reclaim_opts {
	unsigned version;
	uint64_t grace_ms;   /* unrecorded files younger than this are kept */
	int dry_run;         /* count, remove nothing */
	const char *sector;  /* only this sector (NULL: all) */
	atomic_int *cancel;
} gv_reclaim_opts;

#define GV_RECLAIM_OPTS_INIT \
	{ GV_RECLAIM_OPTS_VERSION, GV_RECLAIM_GRACE_DEFAULT_MS, 0, NULL, NULL }

typedef struct gv_reclaim_summary {
	uint64_t sectors;        /* sectors looked at */
	uint64_t tmp_files;      /* temporary files of writers that are gone */
	uint64_t tmp_bytes;
	uint64_t orphan_files;   /* committed files no row counts on */
	uint64_t orphan_bytes;
	uint64_t young;          /* unrecorded files kept: within the grace */
	uint64_t failed;         /* files or sectors that could not be handled */
	int64_t duration_ms;
} gv_reclaim_summary;

/* One run over every reachable sector (or opts->sector).  0, GV_ECANCELED,
 * or the error that stopped it; per-file failures are counted, logged and
 * skipped. */
GV_API int gv_reclaim_run(gv_store *st, const gv_reclaim_opts *opts, gv_reclaim_summary *out);

/* Run every interval_ms until *stop, logging what each run reclaimed. */
GV_API void gv_reclaim_daemon(gv_store *st, const gv_reclaim_opts *opts, uint64_t interval_ms,
                       atomic_int *stop);

#ifdef __cplusplus
}
#endif
#endif
