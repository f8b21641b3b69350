/*
 * wire.c - the JSON documents of the HTTP API and of `graviton X --json`,
 * and the error table: one encoder per document, so the server's answers
 * and the command-line tool's output cannot drift apart.  The encoders
 * build jansson values (wire_json.h, the server's); the public functions
 * at the end give the same documents as text (graviton/wire.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/wire_json.h"
#include "graviton/sys/sector.h"

/* sysexits.h */
#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_NOINPUT 66
#define EX_UNAVAILABLE 69
#define EX_SOFTWARE 70
#define EX_CANTCREAT 73
#define EX_IOERR 74
#define EX_TEMPFAIL 75
#define EX_NOPERM 77

/* The first row of a gv_error is its row; rows with code 0 are the
 * protocol's own.  Keep names stable: clients match on them. */
static const gv_wire_error errors[] = {
	{ GV_ERROR, "internal", 500, EX_SOFTWARE },
	{ GV_EINVAL, "invalid", 400, EX_DATAERR },
	{ GV_ENOTFOUND, "not_found", 404, EX_NOINPUT },
	{ GV_EEXISTS, "exists", 409, EX_CANTCREAT },
	{ GV_EIO, "io_error", 500, EX_IOERR },
	{ GV_ENOSPACE, "no_space", 507, EX_IOERR },
	{ GV_ECORRUPT, "corrupt", 400, EX_DATAERR },
	{ GV_EQUORUM, "quorum_not_met", 503, EX_UNAVAILABLE },
	{ GV_EINSUFFICIENT_SECTORS, "insufficient_sectors", 503, EX_UNAVAILABLE },
	{ GV_EINSUFFICIENT_RACKS, "insufficient_rack_diversity", 503, EX_UNAVAILABLE },
	{ GV_EINSUFFICIENT_ZONES, "insufficient_zone_diversity", 503, EX_UNAVAILABLE },
	{ GV_EALL_REPLICAS_FAILED, "all_replicas_failed", 503, EX_UNAVAILABLE },
	{ GV_ENO_HEALTHY_SOURCE, "no_healthy_source", 503, EX_UNAVAILABLE },
	{ GV_ETIMEOUT, "timeout", 503, EX_TEMPFAIL },
	{ GV_EBUSY, "busy", 409, EX_TEMPFAIL },
	{ GV_ENOMEM, "out_of_memory", 500, EX_SOFTWARE },
	{ GV_ELOST, "lost", 503, EX_UNAVAILABLE },
	{ GV_ECANCELED, "canceled", 503, EX_TEMPFAIL },
	{ GV_EUNAVAILABLE, "unavailable", 503, EX_UNAVAILABLE },
	{ GV_ENOTEMPTY, "not_empty", 409, EX_CANTCREAT },
	{ 0, "invalid_key", 400, EX_DATAERR },
	{ 0, "invalid_range", 400, EX_DATAERR },
	{ 0, "range_not_satisfiable", 416, EX_DATAERR },
	{ 0, "too_large", 413, EX_DATAERR },
	{ 0, "unauthorized", 401, EX_NOPERM },
	{ 0, "forbidden", 403, EX_NOPERM },
	{ 0, "method_not_allowed", 405, EX_USAGE },
	{ 0, "not_ready", 503, EX_UNAVAILABLE },
	/* The node protocol's (docs/sector-protocol.md). */
	{ 0, "digest_mismatch", 422, EX_DATAERR },
	{ 0, "offset_mismatch", 409, EX_TEMPFAIL },
	/* The command-line client's own: no server answer to go by; a bad
	 * command line (an unknown flag, a missing argument). */
	{ 0, "unreachable", 503, EX_UNAVAILABLE },
	{ 0, "bad_answer", 502, EX_SOFTWARE },
	{ 0, "usage", 400, EX_USAGE },
};

#define NERRORS (sizeof(errors) / sizeof(errors[0]))

const gv_wire_error *gv_wire_error_of(int code)
{
	size_t i;

	for (i = 0; i < NERRORS; i++)
		if (errors[i].code == code && code != 0)
			return &errors[i];
	return &errors[0];
}

const gv_wire_error *gv_wire_error_named(const char *name)
{
	size_t i;

	for (i = 0; name && i < NERRORS; i++)
		if (strcmp(errors[i].name, name) == 0)
			return &errors[i];
	return NULL;
}

const gv_wire_error *gv_wire_errors(size_t *n)
{
	*n = NERRORS;
	return errors;
}

json_t *gv_wire_json_error_doc(const gv_wire_error *e, const char *message)
{
	return json_pack("{s:s, s:s, s:i, s:i}", "error", e->name, "message",
	                 message ? message : "", "status", e->http_status, "exit_code",
	                 e->exit_code);
}

char *gv_wire_dump(json_t *v, int pretty)
{
	char *s;

	if (!v)
		return NULL;
	s = json_dumps(v, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
	json_decref(v);
	return s;
}

static const char *iso_time(char *buf, size_t cap, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static json_t *ids(const char (*id)[GV_ID_MAX], int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(id[i]));
	return a;
}

json_t *gv_wire_json_put_result(const gv_put_result *res)
{
	char kbuf[GV_KEY_BUFSIZE];
	int n = res->replicas < 8 ? res->replicas : 8;

	return json_pack("{s:s, s:I, s:o, s:i, s:b, s:b}", "key", gv_key_format(kbuf, &res->key),
	                 "size", (json_int_t)res->key.size, "replicas",
	                 ids((const char(*)[GV_ID_MAX])res->sectors, n), "replica_count",
	                 res->replicas, "quorum_met", res->quorum_met, "existed", res->existed);
}

/* ---- the namespace (docs/namespace.md) ---- */

json_t *gv_wire_json_key_page(const gv_key *keys, size_t n, int more)
{
	char kbuf[GV_KEY_BUFSIZE];
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(gv_key_format(kbuf, &keys[i])));
	return json_pack("{s:o, s:o}", "keys", a ? a : json_null(), "next",
	                 more && n ? json_string(gv_key_format(kbuf, &keys[n - 1])) : json_null());
}

json_t *gv_wire_json_blob_deleted(const gv_key *key, int deleted)
{
	char kbuf[GV_KEY_BUFSIZE];

	return json_pack("{s:s, s:b}", "key", gv_key_format(kbuf, key), "deleted", deleted);
}

json_t *gv_wire_json_buckets(const gv_bucket_info *b, size_t n)
{
	char tbuf[32];
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "name", b[i].name, "created",
		                                   iso_time(tbuf, sizeof(tbuf), b[i].created_ms)));
	return json_pack("{s:o}", "buckets", a ? a : json_null());
}

json_t *gv_wire_json_object(const gv_object *o)
{
	char kbuf[GV_KEY_BUFSIZE], tbuf[32];
	json_t *meta = o->meta ? json_loads(o->meta, 0, NULL) : NULL;

	return json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:s, s:o, s:s}", "bucket", o->bucket,
	                 "name", o->name, "key", gv_key_format(kbuf, &o->key), "size",
	                 (json_int_t)o->size, "parts", (int)o->parts, "etag", o->etag,
	                 "content_type", o->content_type, "meta", meta ? meta : json_null(),
	                 "mtime", iso_time(tbuf, sizeof(tbuf), o->mtime_ms));
}

json_t *gv_wire_json_objects(const char *bucket, const char *prefix, const gv_object *v,
                             size_t n, int more)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, gv_wire_json_object(&v[i]));
	return json_pack("{s:s, s:s, s:o, s:o}", "bucket", bucket, "prefix", prefix ? prefix : "",
	                 "objects", a ? a : json_null(), "next",
	                 more && n ? json_string(v[n - 1].name) : json_null());
}

json_t *gv_wire_json_gc_summary(const gv_gc_summary *s, int dry_run, int64_t grace_ms)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "dry_run", dry_run,
	                 "grace_ms", (json_int_t)grace_ms, "candidates", (json_int_t)s->candidates,
	                 "collected", (json_int_t)s->collected, "bytes", (json_int_t)s->bytes,
	                 "referenced", (json_int_t)s->referenced, "uploads_expired",
	                 (json_int_t)s->uploads_expired, "failed", (json_int_t)s->failed);
}

json_t *gv_wire_json_forgotten(const gv_key *key)
{
	char kbuf[GV_KEY_BUFSIZE];

	return json_pack("{s:s, s:b}", "key", gv_key_format(kbuf, key), "forgotten", 1);
}

json_t *gv_wire_json_blob_status(const gv_blob_status *bs, const gv_placement_opts *p)
{
	char kbuf[GV_KEY_BUFSIZE], tbuf[32];
	json_t *o = json_object(), *arr = json_array();
	size_t i;

	json_object_set_new(o, "key", json_string(gv_key_format(kbuf, &bs->key)));
	json_object_set_new(o, "size", json_integer((json_int_t)bs->key.size));
	json_object_set_new(o, "created", bs->created_ms > 0
	                                          ? json_string(iso_time(tbuf, sizeof(tbuf), bs->created_ms))
	                                          : json_null());
	json_object_set_new(o, "target_replicas", json_integer(bs->target_replicas));
	json_object_set_new(o, "healthy_replicas", json_integer(bs->healthy_replicas));
	for (i = 0; i < bs->nreplicas; i++) {
		const gv_replica *r = &bs->replicas[i];
		gv_rangeset gaps = GV_RANGESET_INIT;
		char *ranges = gv_rangeset_format(&r->ranges), *missing = NULL;
		json_t *ro = json_object();

		/* What the replica lacks of [0, size): "" when whole. */
		if (gv_rangeset_complement(&gaps, &r->ranges, bs->key.size) == 0)
			missing = gv_rangeset_format(&gaps);
		gv_rangeset_free(&gaps);

		json_object_set_new(ro, "sector", json_string(r->sector));
		json_object_set_new(ro, "rack", json_string(bs->racks[i]));
		json_object_set_new(ro, "zone", json_string(bs->zones[i]));
		json_object_set_new(ro, "healthy", json_boolean(r->healthy));
		json_object_set_new(ro, "ranges", json_string(ranges ? ranges : ""));
		json_object_set_new(ro, "missing_ranges", json_string(missing ? missing : ""));
		json_object_set_new(ro, "last_verified",
		                    r->last_verified > 0
		                            ? json_string(iso_time(tbuf, sizeof(tbuf), r->last_verified))
		                            : json_null());
		json_object_set_new(ro, "last_verified_ms", json_integer(r->last_verified));
		json_object_set_new(ro, "reason", r->reason[0] ? json_string(r->reason) : json_null());
		json_array_append_new(arr, ro);
		free(ranges);
		free(missing);
	}
	json_object_set_new(o, "replicas", arr);
	json_object_set_new(o, "placement",
	                    json_pack("{s:s, s:i, s:i, s:i, s:i, s:b, s:s}", "strategy",
	                              gv_strategy_name(p->strategy), "min_racks", p->min_racks,
	                              "min_zones", p->min_zones, "racks", bs->placement.racks,
	                              "zones", bs->placement.zones, "constraints_met",
	                              bs->placement_error == 0, "problem",
	                              bs->placement_error ? gv_error_name(bs->placement_error) : ""));
	return o;
}

json_t *gv_wire_json_store_stats(const gv_store_stats *s, const gv_placement_opts *p)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:i, s:i, s:s, s:I, s:I}",
	                 "blobs", (json_int_t)s->blobs, "replicas", (json_int_t)s->replicas,
	                 "healthy_replicas", (json_int_t)s->healthy_replicas,
	                 "unhealthy_replicas", (json_int_t)s->unhealthy_replicas,
	                 "under_replicated", (json_int_t)s->under_replicated,
	                 "over_replicated", (json_int_t)s->over_replicated, "lost",
	                 (json_int_t)s->lost, "bytes", (json_int_t)s->bytes, "avg_factor",
	                 s->avg_factor, "factor", s->factor, "min_replicas", p->min_replicas,
	                 "strategy", gv_strategy_name(p->strategy), "sectors",
	                 (json_int_t)s->sectors, "healthy_sectors", (json_int_t)s->healthy_sectors);
}

json_t *gv_wire_json_sector(const gv_sector_info *s)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s, s:s}", "id", s->id, "kind",
	                      s->kind, "path", s->path, "capacity", (json_int_t)s->capacity, "used",
	                      (json_int_t)s->used, "healthy", s->healthy, "rack", s->rack, "zone",
	                      s->zone, "state", gv_sector_state_name(s->state));

	if (o && !s->healthy && s->reason[0])
		json_object_set_new(o, "reason", json_string(s->reason));
	if (o && s->free_known)
		json_object_set_new(o, "free", json_integer((json_int_t)s->free));
	if (o && s->device[0])
		json_object_set_new(o, "device", json_string(s->device));
	if (o && strcmp(s->kind, "remote") == 0) {
		char url[GV_PATH_MAX], sid[GV_ID_MAX];

		if (gv_sector_remote_split(s->path, url, sizeof(url), sid, sizeof(sid)) == 0) {
			json_object_set_new(o, "url", json_string(url));
			json_object_set_new(o, "remote_sector", json_string(sid));
		}
	}
	if (o && strcmp(s->kind, "s3") == 0) {
		/* The bucket url and where it is; credentials are never in a
		 * record. */
		gv_sector_s3_where wh;

		if (gv_sector_s3_split(s->path, &wh) == 0) {
			json_object_set_new(o, "url", json_string(wh.url));
			json_object_set_new(o, "endpoint", json_string(wh.endpoint));
			json_object_set_new(o, "region", json_string(wh.region));
		}
	}
	return o;
}

json_t *gv_wire_json_sectors(const gv_sector_info *s, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, gv_wire_json_sector(&s[i]));
	return arr;
}

json_t *gv_wire_json_sector_removed(const char *id)
{
	return json_pack("{s:s, s:b}", "id", id, "removed", 1);
}

json_t *gv_wire_json_repair_summary(const gv_repair_summary *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "keys_scanned",
	                 (json_int_t)s->keys_scanned, "keys_needing_repair",
	                 (json_int_t)s->keys_needing_repair, "keys_repaired",
	                 (json_int_t)s->keys_repaired, "replicas_written",
	                 (json_int_t)s->replicas_written, "replicas_removed",
	                 (json_int_t)s->replicas_removed, "bytes_copied",
	                 (json_int_t)s->bytes_copied, "lost", (json_int_t)s->lost, "failed",
	                 (json_int_t)s->failed, "duration_ms", (json_int_t)s->duration_ms);
}

json_t *gv_wire_json_repair_queue(const gv_repairq_entry *e, size_t n, uint64_t queued,
                             uint64_t dead)
{
	json_t *arr = json_array(), *o;
	char kbuf[GV_KEY_BUFSIZE];
	size_t i;

	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:b}", "key",
		                                     gv_key_format(kbuf, &e[i].key), "reason",
		                                     e[i].reason, "attempts",
		                                     (json_int_t)e[i].attempts, "last_error",
		                                     e[i].last_error, "next_attempt_ms",
		                                     (json_int_t)e[i].next_attempt_ms, "enqueued_ms",
		                                     (json_int_t)e[i].enqueued_ms, "dead",
		                                     e[i].dead));
	o = json_pack("{s:o*, s:I, s:I}", "entries", arr, "queued", (json_int_t)queued, "dead",
	              (json_int_t)dead);
	return o;
}

int gv_wire_json_repair_queue_load(gv_store *st, size_t limit, json_t **out)
{
	gv_repairq_entry *e;
	uint64_t queued, dead;
	size_t n = 0;
	int err;

	*out = NULL;
	e = calloc(limit ? limit : 1, sizeof(*e));
	if (!e)
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = gv_repair_queue_count(st, &queued, &dead)) == 0 &&
	    (err = gv_repair_queue_list(st, NULL, limit, e, &n)) == 0 &&
	    !(*out = gv_wire_json_repair_queue(e, n, queued, dead)))
		err = gv_error_set(GV_ENOMEM, "out of memory");
	free(e);
	return err;
}

json_t *gv_wire_json_scrub_summary(const gv_scrub_summary *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "checked",
	                 (json_int_t)s->checked, "bytes", (json_int_t)s->bytes, "healthy",
	                 (json_int_t)s->healthy, "newly_unhealthy", (json_int_t)s->newly_unhealthy,
	                 "still_unhealthy", (json_int_t)s->still_unhealthy, "restored",
	                 (json_int_t)s->restored, "skipped", (json_int_t)s->skipped,
	                 "duration_ms", (json_int_t)s->duration_ms);
}

json_t *gv_wire_json_presence_summary(const gv_presence_summary *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "sectors", (json_int_t)s->sectors,
	                 "rows_checked", (json_int_t)s->rows_checked, "missing",
	                 (json_int_t)s->missing, "wrong_size", (json_int_t)s->wrong_size,
	                 "unrecorded", (json_int_t)s->unrecorded, "duration_ms",
	                 (json_int_t)s->duration_ms);
}

json_t *gv_wire_json_rebalance_summary(const gv_rebalance_summary *s)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < s->nsectors; i++) {
		const gv_sector_util *u = &s->sectors[i];
		double cap = u->capacity ? (double)u->capacity : 1;

		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:f}", "id", u->id,
		                                     "state", gv_sector_state_name(u->state),
		                                     "capacity", (json_int_t)u->capacity,
		                                     "used_before", (json_int_t)u->used_before,
		                                     "used_after", (json_int_t)u->used_after,
		                                     "utilisation_before", (double)u->used_before / cap,
		                                     "utilisation_after", (double)u->used_after / cap));
	}
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:f, s:f, s:o, s:I}", "nothing_to_do",
	                 s->nothing_to_do, "planned", (json_int_t)s->planned, "moved",
	                 (json_int_t)s->moved, "failed", (json_int_t)s->failed, "bytes",
	                 (json_int_t)s->bytes, "spread_before", s->spread_before, "spread_after",
	                 s->spread_after, "sectors", arr, "duration_ms", (json_int_t)s->duration_ms);
}

static const char *phase_name(int planned, int done)
{
	return planned ? "planned" : done ? "done" : "failed";
}

json_t *gv_wire_json_repair_event(const gv_repair_event *ev)
{
	char kbuf[GV_KEY_BUFSIZE];
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:I, s:I}", "action",
		gv_repair_action_name(ev->action), "phase",
		phase_name(ev->phase == GV_REPAIR_PLANNED, ev->phase == GV_REPAIR_DONE), "key",
		gv_key_format(kbuf, &ev->key), "healthy", ev->healthy, "target", ev->target, "source",
		ev->source[0] ? json_string(ev->source) : json_null(), "targets",
		ids((const char(*)[GV_ID_MAX])ev->targets, ev->ntargets), "removed",
		ids((const char(*)[GV_ID_MAX])ev->removed, ev->nremoved), "bytes",
		(json_int_t)ev->bytes, "resumed_bytes", (json_int_t)ev->resumed_bytes);

	if (o && ev->phase == GV_REPAIR_FAILED)
		json_object_set_new(o, "error", gv_wire_json_error_doc(gv_wire_error_of(ev->error),
		                                                       ev->message));
	return o;
}

json_t *gv_wire_json_scrub_event(const gv_scrub_event *ev)
{
	char kbuf[GV_KEY_BUFSIZE];

	return json_pack("{s:s, s:s, s:s, s:b}", "key", gv_key_format(kbuf, &ev->key), "sector",
	                 ev->sector, "reason", ev->reason ? ev->reason : "", "newly_unhealthy",
	                 ev->was_healthy);
}

json_t *gv_wire_json_move_event(const gv_move_event *ev)
{
	char kbuf[GV_KEY_BUFSIZE];
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "phase",
	                      phase_name(ev->phase == GV_MOVE_PLANNED, ev->phase == GV_MOVE_DONE),
	                      "key", gv_key_format(kbuf, &ev->key), "from", ev->from, "to", ev->to,
	                      "bytes", (json_int_t)ev->bytes);

	if (o && ev->phase == GV_MOVE_FAILED)
		json_object_set_new(o, "error", gv_wire_json_error_doc(gv_wire_error_of(ev->error),
		                                                       ev->message));
	return o;
}

json_t *gv_wire_json_job(unsigned id, const char *kind, int dry_run, const char *state,
                         json_t *summary, json_t *events)
{
	return json_pack("{s:i, s:s, s:b, s:s, s:o, s:o}", "job", (int)id, "kind", kind, "dry_run",
	                 dry_run, "state", state, "summary", summary ? summary : json_null(),
	                 "events", events ? events : json_array());
}

json_t *gv_wire_json_job_progress(const gv_wire_progress *p)
{
	/* The rate over the job's life so far; the ETA from the bytes left at
	 * that rate (items when no byte total is known), null until known. */
	double rate = p->elapsed_s > 0 ? (double)p->bytes_done / p->elapsed_s : 0;
	double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total
	              : p->items_total ? (double)p->items_done / (double)p->items_total : 0;
	json_t *eta = json_null();

	if (frac >= 1)
		eta = json_integer(0);
	else if (frac > 0 && p->elapsed_s > 0)
		eta = json_integer((json_int_t)(p->elapsed_s / frac - p->elapsed_s + 0.5));
	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:I, s:o, s:f}",
	                 "bytes_done", (json_int_t)p->bytes_done,
	                 "bytes_total", (json_int_t)p->bytes_total,
	                 "items_done", (json_int_t)p->items_done,
	                 "items_total", (json_int_t)p->items_total,
	                 "fraction", frac > 1 ? 1.0 : frac,
	                 "rate_bytes_per_second", (json_int_t)rate, "eta_seconds", eta,
	                 "elapsed_seconds", p->elapsed_s);
}

/* ---- the dashboard (GET /v1/dashboard, docs/dashboard.md) ---------------- */

json_t *gv_wire_json_dash_sectors(const gv_sector_info *s, const int64_t *oldest_ms,
                                  const int *has, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++) {
		json_t *o = gv_wire_json_sector(&s[i]);

		if (o)
			json_object_set_new(o, "oldest_verified_ms",
			                    has[i] ? json_integer(oldest_ms[i]) : json_null());
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *gv_wire_json_dash_cluster(const gv_store_stats *s, const gv_placement_opts *p,
                                  const gv_repair_counters *rc, const gv_scrub_counters *sc,
                                  int64_t refreshed_ms, double scan_ms)
{
	return json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:f, s:I, s:I}, s:{s:I, s:I, s:I, s:I, "
	                 "s:I}, s:I, s:f}",
	                 "status", gv_wire_json_store_stats(s, p),
	                 "repair", "jobs_completed", (json_int_t)rc->jobs_completed, "jobs_failed",
	                 (json_int_t)rc->jobs_failed, "running", (json_int_t)rc->queue_size,
	                 "bytes_copied", (json_int_t)rc->bytes_copied, "rate", rc->rate, "runs",
	                 (json_int_t)rc->runs, "last_run_ms", (json_int_t)rc->last_run_ms,
	                 "scrub", "replicas_checked", (json_int_t)sc->replicas_checked, "bytes",
	                 (json_int_t)sc->bytes, "unhealthy_found", (json_int_t)sc->unhealthy_found,
	                 "runs", (json_int_t)sc->runs, "last_run_ms", (json_int_t)sc->last_run_ms,
	                 "refreshed_ms", (json_int_t)refreshed_ms, "scan_ms", scan_ms);
}

json_t *gv_wire_json_dash_history(const gv_wire_sample *h, size_t n, unsigned interval_s)
{
	json_t *t = json_array(), *req = json_array(), *err = json_array(), *put = json_array(),
	       *get = json_array(), *rep = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_array_append_new(t, json_integer(h[i].t_ms));
		json_array_append_new(req, json_real(h[i].requests));
		json_array_append_new(err, json_real(h[i].errors));
		json_array_append_new(put, json_real(h[i].puts));
		json_array_append_new(get, json_real(h[i].gets));
		json_array_append_new(rep, json_real(h[i].repair_bytes));
	}
	return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "interval_seconds", (int)interval_s,
	                 "t_ms", t, "requests_per_second", req, "errors_per_second", err,
	                 "puts_per_second", put, "gets_per_second", get,
	                 "repair_bytes_per_second", rep);
}

json_t *gv_wire_json_dash_events(const gv_wire_event *e, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "t_ms", (json_int_t)e[i].t_ms,
		                                     "level", e[i].level, "message", e[i].text));
	return arr;
}

json_t *gv_wire_json_dashboard(json_t *cached, json_t *queue, json_t *jobs, json_t *events,
                               json_t *history, int read_only, int64_t now_ms)
{
	json_t *o = json_pack("{s:I, s:b, s:o, s:o, s:o, s:o}", "now_ms", (json_int_t)now_ms,
	                      "read_only", read_only, "queue", queue ? queue : json_null(),
	                      "jobs", jobs ? jobs : json_array(), "events",
	                      events ? events : json_array(), "history",
	                      history ? history : json_null());

	/* cached: {cluster, sectors} as the sampler last built them. */
	if (o && json_is_object(cached))
		json_object_update(o, cached);
	json_decref(cached);
	return o;
}

json_t *gv_wire_json_jobs(json_t *briefs)
{
	return json_pack("{s:o}", "jobs", briefs ? briefs : json_array());
}

json_t *gv_wire_json_job_brief(unsigned id, const char *kind, int dry_run, const char *state,
                               int64_t started_ms, int64_t finished_ms, json_t *progress)
{
	json_t *o = json_pack("{s:i, s:s, s:b, s:s, s:I, s:o}", "job", (int)id, "kind", kind,
	                      "dry_run", dry_run, "state", state, "started_ms",
	                      (json_int_t)started_ms, "finished_ms",
	                      finished_ms ? json_integer(finished_ms) : json_null());

	if (o && progress)
		json_object_set_new(o, "progress", progress);
	else
		json_decref(progress);
	return o;
}

static void copy_str(char *dst, size_t cap, json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	snprintf(dst, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static uint64_t u64_field(json_t *o, const char *name, int *present)
{
	json_t *v = json_object_get(o, name);

	if (present)
		*present = json_is_integer(v);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
	                                                        : 0;
}

int gv_wire_json_sector_decode(gv_sector_info *out, json_t *o)
{
	json_t *state = json_object_get(o, "state");

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o) || !json_is_string(json_object_get(o, "id")))
		return gv_error_set(GV_EINVAL, "a sector document needs an 'id'");
	copy_str(out->id, sizeof(out->id), o, "id");
	copy_str(out->kind, sizeof(out->kind), o, "kind");
	copy_str(out->path, sizeof(out->path), o, "path");
	copy_str(out->rack, sizeof(out->rack), o, "rack");
	copy_str(out->zone, sizeof(out->zone), o, "zone");
	copy_str(out->reason, sizeof(out->reason), o, "reason");
	copy_str(out->device, sizeof(out->device), o, "device");
	out->capacity = u64_field(o, "capacity", NULL);
	out->used = u64_field(o, "used", NULL);
	out->free = u64_field(o, "free", &out->free_known);
	out->healthy = json_is_true(json_object_get(o, "healthy"));
	if (json_is_string(state) && gv_sector_state_parse(&out->state, json_string_value(state)) < 0)
		return GV_EINVAL;
	return 0;
}

/* ---- the public API: documents as text ------------------------------------ */

/* char *gv_wire_NAME PARAMS: the document of gv_wire_json_NAME ARGS as text. */
#define AS_TEXT(name, params, args) \
	char *gv_wire_##name params \
	{ \
		return gv_wire_dump(gv_wire_json_##name args, 0); \
	}

AS_TEXT(error_doc, (const gv_wire_error *e, const char *message), (e, message))
AS_TEXT(put_result, (const gv_put_result *res), (res))
AS_TEXT(key_page, (const gv_key *keys, size_t n, int more), (keys, n, more))
AS_TEXT(blob_deleted, (const gv_key *key, int deleted), (key, deleted))
AS_TEXT(buckets, (const gv_bucket_info *b, size_t n), (b, n))
AS_TEXT(object, (const gv_object *o), (o))
AS_TEXT(objects, (const char *bucket, const char *prefix, const gv_object *v, size_t n, int more),
        (bucket, prefix, v, n, more))
AS_TEXT(gc_summary, (const gv_gc_summary *s, int dry_run, int64_t grace_ms), (s, dry_run, grace_ms))
AS_TEXT(forgotten, (const gv_key *key), (key))
AS_TEXT(blob_status, (const gv_blob_status *bs, const gv_placement_opts *p), (bs, p))
AS_TEXT(store_stats, (const gv_store_stats *s, const gv_placement_opts *p), (s, p))
AS_TEXT(sector, (const gv_sector_info *s), (s))
AS_TEXT(sectors, (const gv_sector_info *s, size_t n), (s, n))
AS_TEXT(sector_removed, (const char *id), (id))
AS_TEXT(repair_summary, (const gv_repair_summary *s), (s))
AS_TEXT(scrub_summary, (const gv_scrub_summary *s), (s))
AS_TEXT(repair_queue, (const gv_repairq_entry *e, size_t n, uint64_t queued, uint64_t dead),
        (e, n, queued, dead))

int gv_wire_repair_queue_load(gv_store *st, size_t limit, char **out)
{
	json_t *doc = NULL;
	int err = gv_wire_json_repair_queue_load(st, limit, &doc);

	*out = NULL;
	if (err == 0 && !(*out = gv_wire_dump(doc, 0)))
		err = gv_error_set(GV_ENOMEM, "out of memory");
	return err;
}
AS_TEXT(presence_summary, (const gv_presence_summary *s), (s))
AS_TEXT(rebalance_summary, (const gv_rebalance_summary *s), (s))
AS_TEXT(repair_event, (const gv_repair_event *ev), (ev))
AS_TEXT(scrub_event, (const gv_scrub_event *ev), (ev))
AS_TEXT(move_event, (const gv_move_event *ev), (ev))

char *gv_wire_job(unsigned id, const char *kind, int dry_run, const char *state,
                  const char *summary, const char *events)
{
	json_t *sum = NULL, *evs = NULL;

	/* (json_is_* evaluate their argument twice: load first.) */
	if (summary && (sum = json_loads(summary, 0, NULL), !json_is_object(sum)))
		goto bad;
	if (events && (evs = json_loads(events, 0, NULL), !json_is_array(evs)))
		goto bad;
	return gv_wire_dump(gv_wire_json_job(id, kind, dry_run, state, sum, evs), 0);
bad:
	json_decref(sum);
	json_decref(evs);
	return NULL;
}

int gv_wire_sectors_decode(gv_sector_info **out, size_t *n, const char *text)
{
	json_t *doc = json_loads(text ? text : "", 0, NULL), *o;
	size_t i;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!json_is_array(doc)) {
		json_decref(doc);
		return gv_error_set(GV_EINVAL, "not a list of sectors");
	}
	if (!(*out = calloc(json_array_size(doc) + 1, sizeof(**out)))) {
		json_decref(doc);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	json_array_foreach(doc, i, o) {
		if ((err = gv_wire_json_sector_decode(&(*out)[i], o)) < 0)
			break;
	}
	if (err < 0) {
		free(*out);
		*out = NULL;
	} else {
		*n = json_array_size(doc);
	}
	json_decref(doc);
	return err;
}
