/*
 * http_jobs.c - POST /v1/repair|scrub|scrub/presence|rebalance|gc (and a drain from PATCH
 * /v1/sectors/{id}) run in a thread each; GET /v1/jobs/{id} reports them
 * as the job document of graviton/wire.h (with its progress while it
 * runs), GET /v1/jobs the recent ones; ids and finished jobs are kept in
 * the index (the job log below).
 */
#include <stdatomic.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "server/http_int.h"

/* ---- jobs ---------------------------------------------------------------- */

/* The first JOB_EVENTS_MAX events; past them failures only, up to as many
 * again, so a long run's failures are not crowded out by its successes. */
static void job_event(job *j, json_t *ev)
{
	const char *phase = json_string_value(json_object_get(ev, "phase"));
	size_t n;

	pthread_mutex_lock(&j->srv->mu);
	n = json_array_size(j->events);
	if (ev && (n < JOB_EVENTS_MAX ||
	           (n < 2 * JOB_EVENTS_MAX && phase && strcmp(phase, "failed") == 0)))
		json_array_append(j->events, ev);
	pthread_mutex_unlock(&j->srv->mu);
	json_decref(ev);
}

static void on_repair_event(const gv_repair_event *ev, void *payload)
{
	job_event(payload, gv_wire_json_repair_event(ev));
}

static void on_scrub_bad(const gv_scrub_event *ev, void *payload)
{
	job_event(payload, gv_wire_json_scrub_event(ev));
}

static void on_move(const gv_move_event *ev, void *payload)
{
	job_event(payload, gv_wire_json_move_event(ev));
}

static void job_progress(uint64_t bytes_done, uint64_t bytes_total, uint64_t items_done,
                         uint64_t items_total, void *payload)
{
	job *j = payload;

	pthread_mutex_lock(&j->srv->mu);
	j->bytes_done = bytes_done;
	j->bytes_total = bytes_total;
	j->items_done = items_done;
	j->items_total = items_total;
	pthread_mutex_unlock(&j->srv->mu);
}

static const char *job_state(const job *j)
{
	return j->state == 0 ? "running" : j->state == 1 ? "done" : "failed";
}

/* ---- the job log ------------------------------------------------------------
 * Job ids and the last MAX_JOBS jobs' documents (without their events)
 * are kept as notes in the index (app.server.job.next, app.server.job.N
 * for slot N), so ids go on after a restart and GET /v1/jobs/{id} still
 * answers for the jobs before it.  A job the restart interrupted is
 * reported failed.  Errors are logged: the log is a convenience. */

#define JOB_NOTE_MAX (256 * 1024)

static void job_log_write(gv_server *srv, const job *j)
{
	char name[48], *doc;
	json_t *o;

	pthread_mutex_lock(&srv->mu);
	o = gv_wire_json_job_brief(j->id, j->kind, j->dry_run, job_state(j), j->started_ms,
	                           j->finished_ms, NULL);
	if (o && j->result)
		json_object_set_new(o, "summary", json_loads(j->result, 0, NULL));
	pthread_mutex_unlock(&srv->mu);
	if (!o || !(doc = gv_wire_dump(o, 0)))
		return;
	snprintf(name, sizeof(name), "app.server.job.%u", j->id % MAX_JOBS);
	if (strlen(doc) >= JOB_NOTE_MAX || gv_store_note_set(srv->st, name, doc) < 0)
		gv_warn("event=job_log_error job=%u error=\"%s\"", j->id,
		        strlen(doc) >= JOB_NOTE_MAX ? "document too large" : gv_error_last());
	free(doc);
}

void gv_http_jobs_load(gv_server *srv)
{
	char *buf = malloc(JOB_NOTE_MAX), name[48];
	unsigned i;

	if (!buf)
		return;
	if (gv_store_note_get(srv->st, "app.server.job.next", buf, JOB_NOTE_MAX) == 0)
		srv->next_job = (unsigned)strtoul(buf, NULL, 10);
	for (i = 0; i < MAX_JOBS; i++) {
		const char *kind, *state;
		json_t *o, *sum;
		job *j;

		snprintf(name, sizeof(name), "app.server.job.%u", i);
		if (gv_store_note_get(srv->st, name, buf, JOB_NOTE_MAX) < 0)
			continue;
		o = json_loads(buf, 0, NULL);
		if (!json_is_object(o) || !(j = calloc(1, sizeof(*j)))) {
			json_decref(o);
			continue;
		}
		kind = json_string_value(json_object_get(o, "kind"));
		state = json_string_value(json_object_get(o, "state"));
		j->id = (unsigned)json_integer_value(json_object_get(o, "job"));
		snprintf(j->kind, sizeof(j->kind), "%s", kind ? kind : "?");
		j->dry_run = json_is_true(json_object_get(o, "dry_run"));
		j->started_ms = json_integer_value(json_object_get(o, "started_ms"));
		j->finished_ms = json_integer_value(json_object_get(o, "finished_ms"));
		j->srv = srv;
		j->events = json_array();
		j->state = state && strcmp(state, "done") == 0 ? 1 : 2;
		sum = json_object_get(o, "summary");
		if (json_is_object(sum)) {
			j->result = json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER);
		} else {
			/* Running when the server stopped. */
			j->result = gv_wire_dump(json_pack(
				"{s:o}", "error", gv_wire_json_error_doc(gv_wire_error_of(GV_ECANCELED),
				                                        "interrupted: the server stopped")), 0);
			if (!j->finished_ms)
				j->finished_ms = j->started_ms;
		}
		json_decref(o);
		if (j->id == 0 || j->id % MAX_JOBS != i || srv->jobs[i]) {
			gv_http_job_free(j);
			continue;
		}
		if (j->id > srv->next_job)
			srv->next_job = j->id;
		srv->jobs[i] = j;
	}
	free(buf);
}

static void *job_main(void *p)
{
	job *j = p;
	gv_server *srv = j->srv;
	json_t *sum = NULL;
	int err = 0;

	if (strcmp(j->kind, "repair") == 0) {
		gv_repair_opts o = srv->repair;
		gv_repair_summary s;

		o.dry_run = j->dry_run;
		o.on_event = on_repair_event;
		o.on_progress = job_progress;
		o.payload = j;
		o.cancel = &srv->stopping;
		err = gv_repair_run(srv->st, &o, &s);
		sum = gv_wire_json_repair_summary(&s);
	} else if (strcmp(j->kind, "scrub") == 0) {
		gv_scrub_opts o = srv->scrub;
		gv_scrub_summary s;

		o.on_bad = on_scrub_bad;
		o.on_progress = job_progress;
		o.payload = j;
		o.cancel = &srv->stopping;
		err = gv_scrub_run(srv->st, &o, &s);
		sum = gv_wire_json_scrub_summary(&s);
	} else if (strcmp(j->kind, "gc") == 0) {
		gv_gc_opts o = srv->gc;
		gv_gc_summary s;

		o.dry_run = j->dry_run;
		err = gv_ns_gc(srv->st, &o, &s);
		sum = gv_wire_json_gc_summary(&s, o.dry_run, o.grace_ms);
	} else if (strcmp(j->kind, "presence") == 0) {
		gv_presence_opts o = GV_PRESENCE_OPTS_INIT;
		gv_presence_summary s;

		o.on_bad = on_scrub_bad;
		o.payload = j;
		o.cancel = &srv->stopping;
		err = gv_presence_run(srv->st, &o, &s);
		sum = gv_wire_json_presence_summary(&s);
	} else {
		gv_rebalance_opts o = srv->rebalance;
		gv_rebalance_summary s;

		o.dry_run = j->dry_run;
		o.on_move = on_move;
		o.on_progress = job_progress;
		o.payload = j;
		o.cancel = &srv->stopping;
		if (strcmp(j->kind, "drain") == 0)
			err = gv_sector_drain(srv->st, j->sector, &o, &s);
		else
			err = gv_rebalance_run(srv->st, &o, &s);
		sum = gv_wire_json_rebalance_summary(&s);
		gv_rebalance_summary_free(&s);
	}
	if (err < 0)
		json_object_set_new(sum, "error",
		                    gv_wire_json_error_doc(gv_wire_error_of(err), gv_error_last()));
	pthread_mutex_lock(&srv->mu);
	j->result = json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER);
	j->state = err < 0 ? 2 : 1;
	j->finished_ms = gv_http_wall_ms();
	pthread_mutex_unlock(&srv->mu);
	json_decref(sum);
	job_log_write(srv, j);
	gv_http_dash_event(srv, err < 0 ? "warn" : "info", "job %u (%s%s) %s", j->id, j->kind,
	                   j->dry_run ? ", dry run" : "", err < 0 ? "failed" : "done");
	return NULL;
}

void gv_http_job_free(job *j)
{
	if (!j)
		return;
	free(j->result);
	json_decref(j->events);
	free(j);
}

enum MHD_Result gv_http_start_job(gv_server *srv, struct MHD_Connection *c, req *r,
                                 const char *kind, int dry_run, const char *sector)
{
	job *j = calloc(1, sizeof(*j)), *old = NULL;
	unsigned slot;
	size_t i;

	if (!j)
		return MHD_NO;
	snprintf(j->kind, sizeof(j->kind), "%s", kind);
	if (sector)
		snprintf(j->sector, sizeof(j->sector), "%s", sector);
	j->dry_run = dry_run;
	j->srv = srv;
	j->events = json_array();
	pthread_mutex_lock(&srv->mu);
	for (i = 0; i < MAX_JOBS; i++) {
		job *o = srv->jobs[i];

		if (o && o->state == 0 && strcmp(o->kind, kind) == 0) {
			unsigned id = o->id;

			pthread_mutex_unlock(&srv->mu);
			gv_http_job_free(j);
			json_t *doc = gv_wire_json_error_doc(gv_wire_error_named("busy"),
			                                     "a job of this kind is running");

			json_object_set_new(doc, "job", json_integer(id));
			return gv_http_send_jsonv(c, r, MHD_HTTP_CONFLICT, doc);
		}
	}
	j->id = ++srv->next_job;
	j->t0 = gv_http_now_s();
	j->started_ms = gv_http_wall_ms();
	slot = j->id % MAX_JOBS;
	old = srv->jobs[slot];
	if (old && old->state == 0) {
		pthread_mutex_unlock(&srv->mu);
		gv_http_job_free(j);
		return gv_http_send_error(c, r, "busy", "too many jobs running");
	}
	srv->jobs[slot] = j;
	pthread_mutex_unlock(&srv->mu);
	if (old) {
		if (old->running_thread)
			pthread_join(old->tid, NULL);
		gv_http_job_free(old);
	}
	{
		char next[24];

		snprintf(next, sizeof(next), "%u", j->id);
		if (gv_store_note_set(srv->st, "app.server.job.next", next) < 0)
			gv_warn("event=job_log_error job=%u error=\"%s\"", j->id, gv_error_last());
	}
	job_log_write(srv, j);
	gv_http_dash_event(srv, "info", "job %u (%s%s%s%s) started", j->id, kind,
	                   dry_run ? ", dry run" : "", sector ? " of " : "", sector ? sector : "");
	if (pthread_create(&j->tid, NULL, job_main, j) == 0) {
		j->running_thread = 1;
	} else {
		pthread_mutex_lock(&srv->mu);
		j->state = 2;
		j->result = gv_wire_dump(
			json_pack("{s:o}", "error",
			          gv_wire_json_error_doc(gv_wire_error_of(GV_ERROR),
			                                 "cannot start a thread")), 0);
		pthread_mutex_unlock(&srv->mu);
		return gv_http_send_error(c, r, "internal",
		                  "cannot start the job");
	}
	{
		char url[32];

		snprintf(url, sizeof(url), "/v1/jobs/%u", j->id);
		return gv_http_send_jsonv(c, r, MHD_HTTP_ACCEPTED,
		                  json_pack("{s:i, s:s, s:b, s:s}", "job", j->id, "kind", kind,
		                            "dry_run", dry_run, "status_url", url));
	}
}

enum MHD_Result gv_http_job_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	char *end;
	unsigned long id = strtoul(r->arg, &end, 10);
	json_t *o;
	job *j;

	if (!r->arg[0] || *end)
		return gv_http_send_error(c, r, "invalid", "bad job id");
	pthread_mutex_lock(&srv->mu);
	j = srv->jobs[id % MAX_JOBS];
	if (!j || j->id != id) {
		pthread_mutex_unlock(&srv->mu);
		return gv_http_send_error(c, r, "not_found", "no job %lu", id);
	}
	/* A copy of the events: the job thread keeps appending (and
	 * reallocating) the array after the lock is released. */
	o = gv_wire_json_job(j->id, j->kind, j->dry_run, job_state(j),
	                     j->result ? json_loads(j->result, 0, NULL) : NULL,
	                     json_deep_copy(j->events));
	if (o && j->state == 0)
		json_object_set_new(o, "progress", gv_http_job_progress(j));
	pthread_mutex_unlock(&srv->mu);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, o);
}

json_t *gv_http_job_progress(const job *j)
{
	gv_wire_progress p = { j->bytes_done, j->bytes_total, j->items_done, j->items_total,
		               gv_http_now_s() - j->t0 };

	return gv_wire_json_job_progress(&p);
}

json_t *gv_http_jobs_brief(gv_server *srv)
{
	json_t *a = json_array();
	unsigned id, first;

	pthread_mutex_lock(&srv->mu);
	/* Newest first. */
	first = srv->next_job > MAX_JOBS ? srv->next_job - MAX_JOBS + 1 : 1;
	for (id = srv->next_job; a && id >= first && id > 0; id--) {
		job *j = srv->jobs[id % MAX_JOBS];

		if (j && j->id == id)
			json_array_append_new(a, gv_wire_json_job_brief(
				j->id, j->kind, j->dry_run, job_state(j), j->started_ms,
				j->finished_ms, j->state == 0 ? gv_http_job_progress(j) : NULL));
	}
	pthread_mutex_unlock(&srv->mu);
	return a;
}

enum MHD_Result gv_http_jobs_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, gv_wire_json_jobs(gv_http_jobs_brief(srv)));
}
