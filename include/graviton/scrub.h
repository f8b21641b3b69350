/*
 * graviton/scrub.h - checksum verification of every replica.
 *
 * A scrub re-reads replicas, oldest verification first (so an interrupted
 * scrub resumes where it matters), checks each one's size and SHA-256
 * against its key, and records either the verification time or the reason
 * it is bad ("missing", "size mismatch", "checksum mismatch", "io error:
 * ...").  A replica that turns bad queues its key for repair at once.
 * Scrub never writes replica bytes.
 */
#ifndef GRAVITON_SCRUB_H
#define GRAVITON_SCRUB_H

#include <stdatomic.h>
#include <stdint.h>
#include "common.h"
#include "key.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_store gv_store;

typedef struct gv_scrub_event {
	gv_key key;
	char sector[GV_ID_MAX];
	int was_healthy;       /* 1: newly unhealthy; 0: was already marked */
	const char *reason;    /* borrowed for the call */
} gv_scrub_event;

typedef void (*gv_scrub_event_fn)(const gv_scrub_event *ev, void *payload);
typedef void (*gv_scrub_progress_fn)(uint64_t bytes_done, uint64_t bytes_total,
                                     uint64_t replicas_done, uint64_t replicas_total,
                                     void *payload);

#define GV_SCRUB_OPTS_VERSION 1

typedef struct gv_scrub_opts {
	unsigned version;
	unsigned parallel_reads;        /* 0: 8, at most 4 per core */
	unsigned batch_size;            /* 0: 100 */
	uint64_t max_bytes_per_second;  /* 0: unlimited */
	const char *sector;             /* only this sector (NULL: all) */
	/* Skip replicas verified less than this long ago (the scheduled form;
	 * 0 checks everything). */
	uint64_t skip_verified_within_ms;
	/* Clock for "now" in unix ms (NULL: the wall clock), for tests. */
	int64_t (*clock_ms)(void *payload);
	gv_scrub_event_fn on_bad;       /* every bad replica found */
	gv_scrub_progress_fn on_progress;
	void *payload;
	atomic_int *cancel;
	/* Replicas in sectors of a metered kind (GV_SECTOR_KIND_METERED: an
	 * s3 bucket, where reads cost money) are read at this rate instead of
	 * max_bytes_per_second; 0: unlimited. */
	uint64_t metered_max_bytes_per_second;
} gv_scrub_opts;

#define GV_SCRUB_OPTS_INIT \
	{ GV_SCRUB_OPTS_VERSION, 0, 0, 0, NULL, 0, NULL, NULL, NULL, NULL, NULL }

typedef struct gv_scrub_summary {
	uint64_t checked;          /* replicas read */
	uint64_t bytes;
	uint64_t healthy;          /* verified good */
	uint64_t newly_unhealthy;  /* good before, bad now */
	uint64_t still_unhealthy;  /* already marked, still bad */
	uint64_t restored;         /* marked bad before, verified good now */
	uint64_t skipped;          /* incomplete copies (a copy under way) */
	int64_t duration_ms;
} gv_scrub_summary;

/* One scrub run.  0, GV_ECANCELED, or an error that stopped the run. */
GV_API int gv_scrub_run(gv_store *st, const gv_scrub_opts *opts, gv_scrub_summary *out);

/* Counters for metrics. */
typedef struct gv_scrub_counters {
	uint64_t replicas_checked;
	uint64_t bytes;
	uint64_t unhealthy_found;
	uint64_t runs;
	int64_t last_run_ms;
	int64_t last_success_ms; /* the last run that went through the whole
	                          * store or sector; 0: none since the open */
} gv_scrub_counters;

GV_API void gv_scrub_counters_get(gv_store *st, gv_scrub_counters *out);

/* Scrub coverage: the oldest last verification (unix ms, 0 never) of
 * sector's replicas, *has 0 when it holds none.  One indexed lookup, no
 * scan. */
GV_API int gv_scrub_oldest(gv_store *st, const char *sector, int64_t *oldest_ms, int *has);

/*
 * The schedule: a scrub that skips replicas verified within `interval_ms`,
 * repeated every `interval_ms` (checked each minute, so a long interval
 * still catches replicas as they age) until *stop.
 */
GV_API void gv_scrub_daemon(gv_store *st, const gv_scrub_opts *opts, uint64_t interval_ms,
                     atomic_int *stop);

/*
 * The presence audit: a cheap pass between full scrubs.  Each healthy
 * sector's listing (names and sizes, no reads of content) is compared
 * with the index's replica rows for it.  A healthy, complete row whose
 * file is missing or of another size than its key is marked unhealthy
 * ("missing", "size mismatch") and its key queued for repair, as scrub
 * does; the decision is re-checked under the key's lock, so a put or copy
 * that recorded its row after the listing is never flagged.  A file with
 * no row is only counted and logged: reclaim and `sector sweep` decide it.
 *
 * Memory: one sector's listing at a time, about 56 bytes per file.
 */
#define GV_PRESENCE_OPTS_VERSION 1

typedef struct gv_presence_opts {
	unsigned version;
	const char *sector;             /* only this sector (NULL: all) */
	gv_scrub_event_fn on_bad;       /* every replica flagged */
	/* Called after a sector's listing and before its rows are walked
	 * (tests: something done between the two). */
	void (*on_listed)(const char *sector, void *payload);
	void *payload;
	atomic_int *cancel;
} gv_presence_opts;

#define GV_PRESENCE_OPTS_INIT { GV_PRESENCE_OPTS_VERSION, NULL, NULL, NULL, NULL, NULL }

typedef struct gv_presence_summary {
	uint64_t sectors;          /* sectors listed */
	uint64_t rows_checked;     /* replica rows compared with a listing */
	uint64_t missing;          /* healthy rows whose file is gone: now unhealthy */
	uint64_t wrong_size;       /* healthy rows whose file has another size */
	uint64_t unrecorded;       /* files no row counts on (left to reclaim) */
	int64_t duration_ms;
} gv_presence_summary;

/* One presence pass.  0, GV_ECANCELED, or an error that stopped the run
 * (GV_ENOTFOUND: no such sector).  A sector that cannot be listed is
 * logged and skipped. */
GV_API int gv_presence_run(gv_store *st, const gv_presence_opts *opts,
                           gv_presence_summary *out);

/* Counters for metrics. */
typedef struct gv_presence_counters {
	uint64_t rows_checked;
	uint64_t missing;
	uint64_t wrong_size;
	uint64_t unrecorded;
	uint64_t runs;
	int64_t last_run_ms;
} gv_presence_counters;

GV_API void gv_presence_counters_get(gv_store *st, gv_presence_counters *out);

/* A presence pass every `interval_ms` until *stop. */
GV_API void gv_presence_daemon(gv_store *st, const gv_presence_opts *opts, uint64_t interval_ms,
                               atomic_int *stop);

#ifdef __cplusplus
}
#endif
#endif
