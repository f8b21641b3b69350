/*
 * wire_json.h - the documents of graviton/wire.h as jansson values, for
 * the server's own use (private to src/server/).  Each encoder returns a
 * new value the caller owns, NULL when out of memory; graviton/wire.h
 * offers the same documents as text, so the public API does not depend
 * on jansson.
 */
#ifndef GV_SERVER_WIRE_JSON_H
#define GV_SERVER_WIRE_JSON_H

#include <jansson.h>
#include "graviton/wire.h"

json_t *gv_wire_json_error_doc(const gv_wire_error *e, const char *message);
json_t *gv_wire_json_put_result(const gv_put_result *res);
json_t *gv_wire_json_key_page(const gv_key *keys, size_t n, int more);
json_t *gv_wire_json_blob_deleted(const gv_key *key, int deleted);
json_t *gv_wire_json_buckets(const gv_bucket_info *b, size_t n);
json_t *gv_wire_json_object(const gv_object *o);
json_t *gv_wire_json_objects(const char *bucket, const char *prefix, const gv_object *v,
                             size_t n, int more);
json_t *gv_wire_json_gc_summary(const gv_gc_summary *s, int dry_run, int64_t grace_ms);
json_t *gv_wire_json_forgotten(const gv_key *key);
json_t *gv_wire_json_blob_status(const gv_blob_status *bs, const gv_placement_opts *p);
json_t *gv_wire_json_store_stats(const gv_store_stats *s, const gv_placement_opts *p);
json_t *gv_wire_json_sector(const gv_sector_info *s);
json_t *gv_wire_json_sectors(const gv_sector_info *s, size_t n);
json_t *gv_wire_json_sector_removed(const char *id);
/* GV_EINVAL when o is not a sector document. */
int gv_wire_json_sector_decode(gv_sector_info *out, json_t *o);
json_t *gv_wire_json_repair_summary(const gv_repair_summary *s);
json_t *gv_wire_json_scrub_summary(const gv_scrub_summary *s);
json_t *gv_wire_json_repair_queue(const gv_repairq_entry *e, size_t n, uint64_t queued,
                                  uint64_t dead);
int gv_wire_json_repair_queue_load(gv_store *st, size_t limit, json_t **out);
json_t *gv_wire_json_presence_summary(const gv_presence_summary *s);
json_t *gv_wire_json_rebalance_summary(const gv_rebalance_summary *s);
json_t *gv_wire_json_repair_event(const gv_repair_event *ev);
json_t *gv_wire_json_scrub_event(const gv_scrub_event *ev);
json_t *gv_wire_json_move_event(const gv_move_event *ev);
/* summary and events are taken (NULL: null and []). */
json_t *gv_wire_json_job(unsigned id, const char *kind, int dry_run, const char *state,
                         json_t *summary, json_t *events);

/* A running job's progress: {bytes_done, bytes_total, items_done,
 * items_total, fraction, rate_bytes_per_second, eta_seconds (null until
 * known), elapsed_seconds}. */
typedef struct gv_wire_progress {
	uint64_t bytes_done, bytes_total, items_done, items_total;
	double elapsed_s;
} gv_wire_progress;
json_t *gv_wire_json_job_progress(const gv_wire_progress *p);
/* An entry of GET /v1/jobs: {job, kind, dry_run, state, started_ms,
 * finished_ms (null while running), progress (while running)}; takes
 * progress (NULL: none). */
json_t *gv_wire_json_job_brief(unsigned id, const char *kind, int dry_run, const char *state,
                               int64_t started_ms, int64_t finished_ms, json_t *progress);

/* GET /v1/jobs: {jobs: [brief, ...]} newest first; takes briefs. */
json_t *gv_wire_json_jobs(json_t *briefs);

/* The dashboard's document (GET /v1/dashboard, docs/dashboard.md):
 * {now_ms, read_only, cluster, sectors, queue, jobs, events, history}.
 * Each part has its encoder; gv_wire_json_dashboard takes its arguments,
 * cached being {cluster, sectors}. */
typedef struct gv_wire_sample {
	int64_t t_ms;                  /* end of the interval */
	double requests, errors, puts, gets, repair_bytes; /* per second over it */
} gv_wire_sample;
typedef struct gv_wire_event {
	int64_t t_ms;
	char level[8];                 /* "info", "warn" */
	char text[240];
} gv_wire_event;
json_t *gv_wire_json_dash_sectors(const gv_sector_info *s, const int64_t *oldest_ms,
                                  const int *has, size_t n);
json_t *gv_wire_json_dash_cluster(const gv_store_stats *s, const gv_placement_opts *p,
                                  const gv_repair_counters *rc, const gv_scrub_counters *sc,
                                  int64_t refreshed_ms, double scan_ms);
json_t *gv_wire_json_dash_history(const gv_wire_sample *h, size_t n, unsigned interval_s);
json_t *gv_wire_json_dash_events(const gv_wire_event *e, size_t n);
json_t *gv_wire_json_dashboard(json_t *cached, json_t *queue, json_t *jobs, json_t *events,
                               json_t *history, int read_only, int64_t now_ms);

/* v as text, compact or indented (pretty), no newline; takes v.  malloc'd,
 * NULL when out of memory (or v is NULL). */
char *gv_wire_dump(json_t *v, int pretty);

#endif
