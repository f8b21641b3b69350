/*
 * graviton/repair.h - gap detection and repair.
 *
 * A run walks the index in batches (never loading every key) and restores
 * each key to `factor` healthy replicas that meet the strategy's
 * constraints:
 *
 *   survey   one pass: counts the work, reports lost keys (no healthy
 *            replica: reported, never "repaired" from nothing)
 *   copy     one pass per healthy count, fewest healthy first (1 before 2),
 *            each batch ordered by the oldest verification first; copies
 *            stream from the best healthy source (falling back to the next
 *            on failure), are verified against the key, resume from the
 *            ranges a crashed run recorded, and then drop the unhealthy
 *            replicas of the key (index row first, bytes after)
 *   tidy     over-replicated keys lose their surplus (what stays keeps the
 *            best diversity); keys that break their constraint get a copy
 *            in a new failure domain, then lose the crowded one
 *
 * Errors are reported per key and never stop the run.
 */
#ifndef GRAVITON_REPAIR_H
#define GRAVITON_REPAIR_H

#include <stdatomic.h>
#include <stdint.h>
#include "common.h"
#include "key.h"
#include "types.h"
#include "sys/index.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_store gv_store;

#define GV_REPAIR_MAX_TARGETS GV_MAX_REPLICAS

typedef enum gv_repair_action {
	GV_REPAIR_COPY = 0,    /* add replicas to reach the factor */
	GV_REPAIR_TRIM = 1,    /* drop surplus replicas */
	GV_REPAIR_MOVE = 2,    /* restore a broken rack/zone constraint */
	GV_REPAIR_CLEANUP = 3, /* drop unhealthy replicas of a key at factor */
	GV_REPAIR_LOST = 4,    /* no healthy replica: nothing can be done */
} gv_repair_action;

GV_API const char *gv_repair_action_name(gv_repair_action a);

typedef enum gv_repair_phase {
	GV_REPAIR_PLANNED = 0, /* dry run: what would be done */
	GV_REPAIR_DONE = 1,
	GV_REPAIR_FAILED = 2,
} gv_repair_phase;

typedef struct gv_repair_event {
	gv_repair_action action;
	gv_repair_phase phase;
	gv_key key;
	int healthy;                 /* healthy replicas before the job */
	int target;                  /* the factor */
	char source[GV_ID_MAX];      /* "" when nothing is copied */
	char targets[GV_REPAIR_MAX_TARGETS][GV_ID_MAX];
	int ntargets;
	char removed[GV_REPAIR_MAX_TARGETS][GV_ID_MAX];
	int nremoved;
	uint64_t bytes;              /* bytes copied (or to copy) */
	uint64_t resumed_bytes;      /* of which an earlier run had copied */
	int error;                   /* with FAILED: the gv_error */
	const char *message;         /* with FAILED: why (borrowed) */
} gv_repair_event;

/* Called for every job, from worker threads but never concurrently. */
typedef void (*gv_repair_event_fn)(const gv_repair_event *ev, void *payload);

/* Progress: bytes and jobs done of those the survey found. */
typedef void (*gv_repair_progress_fn)(uint64_t bytes_done, uint64_t bytes_total,
                                      uint64_t jobs_done, uint64_t jobs_total,
                                      void *payload);

#define GV_REPAIR_OPTS_VERSION 1

typedef struct gv_repair_opts {
	unsigned version;
	int dry_run;                    /* plan only: change nothing */
	unsigned parallel_jobs;         /* 0: 4 */
	unsigned batch_size;            /* 0: 100 */
	uint64_t max_bytes_per_second;  /* 0: unlimited */
	gv_repair_event_fn on_event;
	gv_repair_progress_fn on_progress;
	void *payload;
	/* Set to non-zero (from any thread) to stop early; jobs under way
	 * finish or leave a resumable partial. */
	atomic_int *cancel;
	/* The durable repair queue's policy (0: the default in brackets): a
	 * key whose repair failed waits backoff_base_ms * 2^(attempts - 1),
	 * at most backoff_max_ms [1 s, 1 h]; after max_attempts failures
	 * [8] it is a dead letter. */
	unsigned max_attempts;
	uint64_t backoff_base_ms;
	uint64_t backoff_max_ms;
} gv_repair_opts;

#define GV_REPAIR_OPTS_INIT { GV_REPAIR_OPTS_VERSION, 0, 0, 0, 0, NULL, NULL, NULL, NULL }

typedef struct gv_repair_summary {
	uint64_t keys_scanned;
	uint64_t keys_needing_repair;  /* under-replicated, over-replicated,
	                                  misplaced or carrying bad copies */
	uint64_t keys_repaired;
	uint64_t replicas_written;
	uint64_t replicas_removed;
	uint64_t bytes_copied;
	uint64_t lost;
	uint64_t failed;
	int64_t duration_ms;
} gv_repair_summary;

/*
 * One repair run.  Returns 0 when the run completed (lost or failed keys
 * are counted in the summary, not returned), GV_ECANCELED when cancelled,
 * or an error that stopped the run (the index could not be read).
 */
GV_API int gv_repair_run(gv_store *st, const gv_repair_opts *opts, gv_repair_summary *out);

/* Counters for metrics, kept by the store across runs. */
typedef struct gv_repair_counters {
	uint64_t jobs_completed;
	uint64_t jobs_failed;
	uint64_t queue_size;     /* jobs queued or running now */
	uint64_t bytes_copied;
	double rate;             /* bytes/s of the last run (or the current one) */
	uint64_t runs;
	int64_t last_run_ms;     /* wall clock when the last run ended */
	int64_t last_success_ms; /* ... the last full run that completed with no
	                          * failed job ended; 0: none since the open */
} gv_repair_counters;

GV_API void gv_repair_counters_get(gv_store *st, gv_repair_counters *out);

/*
 * The repair daemon: a full run every `interval_ms` (0: no full runs, the
 * queue only), and between them runs over the durable repair queue
 * whenever a key is queued or a queued key's backoff ends (looked at
 * every second), until *stop is non-zero (checked at least every 100 ms
 * while sleeping) or gv_repair_wake() asks for an early full run.
 * Errors are logged, never fatal.
 */
GV_API void gv_repair_daemon(gv_store *st, const gv_repair_opts *opts, uint64_t interval_ms,
                      atomic_int *stop);

/* Ask a sleeping daemon to run now. */
GV_API void gv_repair_wake(gv_store *st);

/*
 * Queue one key for repair in the durable repair queue (kept in the
 * index) for `reason` (e.g. "read: replica on s1: checksum mismatch") and
 * wake the daemon.  A key already queued keeps its entry and backoff; a
 * dead letter is revived when queued for another reason.  An index error
 * is logged: the next full scan finds the key anyway.
 */
GV_API void gv_repair_enqueue(gv_store *st, const gv_key *key, const char *reason);

/* Repair the queued keys that are due now (what the daemon does on a
 * wake-up): each success leaves the queue, each failure backs off or
 * becomes a dead letter after opts->max_attempts. */
GV_API int gv_repair_run_queued(gv_store *st, const gv_repair_opts *opts, gv_repair_summary *out);

/* The queue, for display: up to `limit` entries after `after` (NULL:
 * from the start) in key order, dead letters included. */
GV_API int gv_repair_queue_list(gv_store *st, const gv_key *after, size_t limit,
                                gv_repairq_entry *out, size_t *out_n);
/* Entries waiting (not dead), and dead letters. */
GV_API int gv_repair_queue_count(gv_store *st, uint64_t *queued, uint64_t *dead);

#ifdef __cplusplus
}
#endif
#endif
