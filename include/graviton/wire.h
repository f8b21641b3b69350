/*
 * graviton/wire.h - the JSON documents of the HTTP API and of the
 * command-line tool's --json output, and the one error table.
 *
 * Every document has one encoder here, used by the server for its answer
 * and by `graviton X --json` for its output, so a local command, the same
 * command with --server URL and the HTTP request print the same document
 * (docs/http-api.md lists them).  Documents are JSON text: this header
 * does not depend on a JSON library.
 *
 * Errors: each gv_error maps to one row {name, HTTP status, exit code};
 * protocol errors the server raises without a gv_error (unauthorized,
 * method_not_allowed, too_large, ...) have rows of their own.  The error
 * document is {error: name, message, status, exit_code}.
 */
#ifndef GRAVITON_WIRE_H
#define GRAVITON_WIRE_H

#include <stddef.h>
#include "graviton.h"
#include "namespace.h"
#include "rebalance.h"
#include "repair.h"
#include "scrub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_wire_error {
	int code;           /* the gv_error, 0 for protocol errors */
	const char *name;   /* "not_found": the document's "error" */
	int http_status;    /* what the server answers */
	int exit_code;      /* what the command-line tool exits with (sysexits) */
} gv_wire_error;

/* The row of a gv_error (GV_ERROR and unknown codes: "internal", 500, 70). */
GV_API const gv_wire_error *gv_wire_error_of(int code);

/* The row named `name`, NULL when none. */
GV_API const gv_wire_error *gv_wire_error_named(const char *name);

/* The whole table, for tests: *n rows. */
GV_API const gv_wire_error *gv_wire_errors(size_t *n);

/*
 * The documents, as compact JSON text: each returns a malloc'd,
 * NUL-terminated string the caller frees with free(), or NULL when out of
 * memory.
 */

/* {error, message, status, exit_code}. */
GV_API char *gv_wire_error_doc(const gv_wire_error *e, const char *message);

/* `put --json`, PUT /v1/blobs:
 * {key, size, replicas: [sector...], replica_count, quorum_met, existed}. */
GV_API char *gv_wire_put_result(const gv_put_result *res);

/* `ls --json` (no argument), GET /v1/blobs?after=KEY&limit=N: a page of
 * stored keys {keys: [key...], next: the last key when more follow, else
 * null}. */
GV_API char *gv_wire_key_page(const gv_key *keys, size_t n, int more);
/* `rm KEY --json`, DELETE /v1/blobs/{key}: {key, deleted}; deleted is
 * false when names still reference the blob (only its pin went). */
GV_API char *gv_wire_blob_deleted(const gv_key *key, int deleted);
/* `ls --buckets --json`: {buckets: [{name, created}]}. */
GV_API char *gv_wire_buckets(const gv_bucket_info *b, size_t n);
/* One object: {bucket, name, key, size, parts, etag, content_type, meta
 * (an object, or null), mtime}. */
GV_API char *gv_wire_object(const gv_object *o);
/* `ls BUCKET[/PREFIX] --json`: {bucket, prefix, objects: [object...], next:
 * the last name when more follow, else null}. */
GV_API char *gv_wire_objects(const char *bucket, const char *prefix, const gv_object *v,
                             size_t n, int more);
/* `gc --json`: {dry_run, grace_ms, candidates, collected, bytes, referenced,
 * uploads_expired, failed}. */
GV_API char *gv_wire_gc_summary(const gv_gc_summary *s, int dry_run, int64_t grace_ms);
/* `forget KEY --json`: {key, forgotten: true}. */
GV_API char *gv_wire_forgotten(const gv_key *key);

/* `stat --json`, GET /v1/blobs/{key}/replicas. */
GV_API char *gv_wire_blob_status(const gv_blob_status *bs, const gv_placement_opts *p);

/* `status --json`, GET /v1/status. */
GV_API char *gv_wire_store_stats(const gv_store_stats *s, const gv_placement_opts *p);

/* One sector (`sector add|set-health --json`, POST /v1/sectors, PATCH
 * /v1/sectors/{id}); a list of them is `sector list --json` and GET
 * /v1/sectors. */
GV_API char *gv_wire_sector(const gv_sector_info *s);
GV_API char *gv_wire_sectors(const gv_sector_info *s, size_t n);

/* A list of sector documents (GET /v1/sectors) back into *out (n of them,
 * malloc'd, the caller frees it with free()); GV_EINVAL when text is not
 * such a list, and then *out is NULL. */
GV_API int gv_wire_sectors_decode(gv_sector_info **out, size_t *n, const char *text);

/* `sector remove --json`, DELETE /v1/sectors/{id}: {id, removed: true}. */
GV_API char *gv_wire_sector_removed(const char *id);

/* Summaries and events of repair, scrub (and presence) and rebalance (or
 * drain) runs; a presence run's events are scrub events. */
GV_API char *gv_wire_repair_summary(const gv_repair_summary *s);
/* The repair queue: {entries: [{key, reason, attempts, last_error,
 * next_attempt_ms, enqueued_ms, dead}], queued, dead}. */
GV_API char *gv_wire_repair_queue(const gv_repairq_entry *e, size_t n, uint64_t queued,
                                  uint64_t dead);
/* Read up to `limit` entries and the counts of st's queue and encode them
 * (what `graviton repair queue --json` and GET /v1/repair/queue show) into
 * a malloc'd *out. */
GV_API int gv_wire_repair_queue_load(gv_store *st, size_t limit, char **out);
GV_API char *gv_wire_scrub_summary(const gv_scrub_summary *s);
GV_API char *gv_wire_presence_summary(const gv_presence_summary *s);
GV_API char *gv_wire_rebalance_summary(const gv_rebalance_summary *s);
GV_API char *gv_wire_repair_event(const gv_repair_event *ev);
GV_API char *gv_wire_scrub_event(const gv_scrub_event *ev);
GV_API char *gv_wire_move_event(const gv_move_event *ev);

/*
 * The job document of a repair, scrub, presence or rebalance run, `X --json` and
 * GET /v1/jobs/{id}: {job, kind, dry_run, state, summary, events}.  id is
 * the server's job number, 0 for a run in the command-line process; state
 * "running", "done" or "failed"; summary (JSON text of an object, NULL
 * while running) carries "error": {error, message, status, exit_code}
 * when the run failed; events is the JSON text of an array (NULL: none).
 * NULL also when summary or events is not such JSON.
 */
GV_API char *gv_wire_job(unsigned id, const char *kind, int dry_run, const char *state,
                         const char *summary, const char *events);

#ifdef __cplusplus
}
#endif
#endif
