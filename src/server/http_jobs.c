/*
 * http_jobs.c - POST /v1/repair|scrub|scrub/presence|rebalance|gc (and a drain from PATCH
 * /v1/sectors/{id}) run in a thread each; GET /v1/jobs/{id} reports them
 * as the job document of graviton/wire.h.
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
		o.payload = j;
		o.cancel = &srv->stopping;
		err = gv_repair_run(srv->st, &o, &s);
		sum = gv_wire_json_repair_summary(&s);
	} else if (strcmp(j->kind, "scrub") == 0) {
		gv_scrub_opts o = srv->scrub;
		gv_scrub_summary s;

		o.on_bad = on_scrub_bad;
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
	pthread_mutex_unlock(&srv->mu);
	json_decref(sum);
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
	o = gv_wire_json_job(j->id, j->kind, j->dry_run,
	                     j->state == 0 ? "running" : j->state == 1 ? "done" : "failed",
	                     j->result ? json_loads(j->result, 0, NULL) : NULL,
	                     json_deep_copy(j->events));
	pthread_mutex_unlock(&srv->mu);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, o);
}
