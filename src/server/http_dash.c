/*
 * http_dash.c - the dashboard: its page (static files compiled into the
 * binary from dashboard/, see cmake/embed.cmake), GET /v1/dashboard, and
 * the sampler thread that keeps what the document needs in memory, so a
 * request never scans the index (docs/dashboard.md).
 *
 *   sampler    every DASH_TICK_MS: the sectors (with the oldest
 *              verification of each: one indexed lookup per sector), the
 *              store's repair and scrub counters and the head of the repair
 *              queue; every history interval a sample of the request and
 *              repair rates into a ring of an hour; the cluster's figures
 *              (gv_status, a scan of the index) at that interval too, or
 *              less often when the scan is slow (at most 5% of the time)
 *   events     the last DASH_EVENTS things that happened: jobs started and
 *              ended, sectors changing health or state
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "server/http_int.h"

/* Written by cmake/embed.cmake from dashboard/. */
typedef struct dash_asset {
	const char *path;
	const char *type;
	const unsigned char *data;
	size_t len;
} dash_asset;
extern const dash_asset gv_dash_assets[];
extern const size_t gv_dash_nassets;

#define DASH_TICK_MS 2000
#define DASH_QUEUE_HEAD 20

int gv_http_dash_asset(const char *url)
{
	size_t i;

	for (i = 0; i < gv_dash_nassets; i++)
		if (strcmp(url, gv_dash_assets[i].path) == 0)
			return (int)i;
	return -1;
}

enum MHD_Result gv_http_dash_asset_get(struct MHD_Connection *c, req *r, int head)
{
	const dash_asset *a = &gv_dash_assets[r->asset];
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		head ? 0 : a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", a->type);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	/* The page may reach this server only. */
	MHD_add_response_header(resp, "Content-Security-Policy",
	                        "default-src 'none'; script-src 'self'; style-src 'self'; "
	                        "connect-src 'self'; img-src 'self' data:; "
	                        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
	r->status = MHD_HTTP_OK;
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* ---- events ----------------------------------------------------------------- */

void gv_http_dash_event(gv_server *srv, const char *level, const char *fmt, ...)
{
	gv_wire_event *e;
	va_list ap;

	pthread_mutex_lock(&srv->mu);
	e = &srv->dash.ev[srv->dash.ehead];
	srv->dash.ehead = (srv->dash.ehead + 1) % DASH_EVENTS;
	if (srv->dash.en < DASH_EVENTS)
		srv->dash.en++;
	e->t_ms = gv_http_wall_ms();
	snprintf(e->level, sizeof(e->level), "%s", level);
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&srv->mu);
}

/* Events for sectors whose health or state changed since the last look. */
static void sector_changes(gv_server *srv, const gv_sector_info *s, size_t n)
{
	dash_state *d = &srv->dash;
	size_t i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < d->nseen; k++)
			if (strcmp(d->seen[k].id, s[i].id) == 0)
				break;
		if (k == d->nseen) {
			if (d->nseen == DASH_SECTORS_SEEN)
				continue;
			d->nseen++;
			snprintf(d->seen[k].id, sizeof(d->seen[k].id), "%s", s[i].id);
			if (d->seen_once)
				gv_http_dash_event(srv, "info", "sector %s added (%s)", s[i].id,
				                   gv_sector_state_name(s[i].state));
		} else if (d->seen[k].healthy != s[i].healthy) {
			if (s[i].healthy)
				gv_http_dash_event(srv, "info", "sector %s healthy again", s[i].id);
			else
				gv_http_dash_event(srv, "warn", "sector %s unhealthy%s%s", s[i].id,
				                   s[i].reason[0] ? ": " : "", s[i].reason);
		} else if (d->seen[k].state != s[i].state) {
			gv_http_dash_event(srv, "info", "sector %s now %s", s[i].id,
			                   gv_sector_state_name(s[i].state));
		}
		d->seen[k].healthy = s[i].healthy;
		d->seen[k].state = s[i].state;
	}
	d->seen_once = 1;
}

/* ---- the sampler ------------------------------------------------------------ */

/* The request and repair counters, cumulative. */
static void counters(gv_server *srv, uint64_t *c)
{
	gv_repair_counters rc;
	size_t i;

	gv_repair_counters_get(srv->st, &rc);
	memset(c, 0, 5 * sizeof(*c));
	pthread_mutex_lock(&srv->mu);
	for (i = 1; i < R_COUNT; i++) {
		c[0] += srv->rs[i].count;
		c[1] += srv->rs[i].by_class[5];
	}
	c[2] = srv->rs[R_BLOBS].count;
	c[3] = srv->rs[R_BLOB].count;
	pthread_mutex_unlock(&srv->mu);
	c[4] = rc.bytes_copied;
}

static void sample_history(gv_server *srv, long long now_mono)
{
	dash_state *d = &srv->dash;
	uint64_t c[5];
	double dt;
	gv_wire_sample *h;

	counters(srv, c);
	dt = (double)(now_mono - d->prev_mono) / 1000.0;
	if (d->prev_mono && dt > 0) {
		pthread_mutex_lock(&srv->mu);
		h = &d->hist[d->hhead];
		d->hhead = (d->hhead + 1) % DASH_HISTORY;
		if (d->hn < DASH_HISTORY)
			d->hn++;
		h->t_ms = gv_http_wall_ms();
		h->requests = (double)(c[0] - d->prev[0]) / dt;
		h->errors = (double)(c[1] - d->prev[1]) / dt;
		h->puts = (double)(c[2] - d->prev[2]) / dt;
		h->gets = (double)(c[3] - d->prev[3]) / dt;
		h->repair_bytes = (double)(c[4] - d->prev[4]) / dt;
		pthread_mutex_unlock(&srv->mu);
	}
	memcpy(d->prev, c, sizeof(d->prev));
	d->prev_mono = now_mono;
}

/* Sectors, counters and the queue's head (cheap), and the cluster's
 * figures when `scan`; the result replaces the cached parts. */
static void refresh(gv_server *srv, int scan)
{
	dash_state *d = &srv->dash;
	gv_sector_info *s = NULL;
	gv_repair_counters rc;
	gv_scrub_counters sc;
	gv_placement_opts p;
	json_t *cached, *queue = NULL;
	int64_t *oldest = NULL;
	int *has = NULL;
	size_t n = 0, i;
	char *text, *qtext = NULL;

	if (scan) {
		long long t0 = gv_mono_ms();
		gv_store_stats st;

		if (gv_status(srv->st, &st) == 0) {
			d->stats = st;
			d->have_stats = 1;
			d->stats_ms = gv_http_wall_ms();
			d->scan_ms = (double)(gv_mono_ms() - t0);
		}
	}
	/* Remote sectors are not asked for their space: the sampler would
	 * add its own requests to every node's load (and its answers to the
	 * usage cache placement reads). */
	if (gv_store_sector_list_local(srv->st, &s, &n) < 0)
		return;
	oldest = calloc(n ? n : 1, sizeof(*oldest));
	has = calloc(n ? n : 1, sizeof(*has));
	if (!oldest || !has)
		goto out;
	for (i = 0; i < n; i++)
		if (gv_scrub_oldest(srv->st, s[i].id, &oldest[i], &has[i]) < 0)
			has[i] = 0;
	sector_changes(srv, s, n);
	gv_repair_counters_get(srv->st, &rc);
	gv_scrub_counters_get(srv->st, &sc);
	p = gv_store_placement(srv->st);
	cached = json_pack("{s:o, s:o}", "cluster",
	                   d->have_stats ? gv_wire_json_dash_cluster(&d->stats, &p, &rc, &sc,
	                                                             d->stats_ms, d->scan_ms)
	                                 : json_null(),
	                   "sectors", gv_wire_json_dash_sectors(s, oldest, has, n));
	text = gv_wire_dump(cached, 0);
	if (gv_wire_json_repair_queue_load(srv->st, DASH_QUEUE_HEAD, &queue) == 0)
		qtext = gv_wire_dump(queue, 0);
	pthread_mutex_lock(&srv->mu);
	if (text) {
		free(d->cached);
		d->cached = text;
	}
	if (qtext) {
		free(d->queue);
		d->queue = qtext;
	}
	pthread_mutex_unlock(&srv->mu);
out:
	free(oldest);
	free(has);
	free(s);
}

static void *sampler_main(void *p)
{
	gv_server *srv = p;
	dash_state *d = &srv->dash;
	long long next_scan = 0, next_sample = 0;
	struct timespec ts;

	pthread_mutex_lock(&d->mu);
	while (!d->stop) {
		long long now = gv_mono_ms();
		int scan = now >= next_scan || d->rescan;

		d->rescan = 0;
		pthread_mutex_unlock(&d->mu);
		if (now >= next_sample) {
			sample_history(srv, now);
			next_sample = now + (long long)d->interval_ms;
		}
		refresh(srv, scan);
		if (scan) {
			/* A slow scan runs at most 5% of the time. */
			long long gap = (long long)(d->scan_ms * 20);

			next_scan = gv_mono_ms() + (gap > (long long)d->interval_ms
			                                ? gap : (long long)d->interval_ms);
		}
		pthread_mutex_lock(&d->mu);
		if (d->stop)
			break;
		gv_deadline_in(&ts, DASH_TICK_MS);
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int gv_http_dash_start(gv_server *srv, uint64_t interval_ms)
{
	dash_state *d = &srv->dash;
	pthread_condattr_t ca;

	d->interval_ms = interval_ms ? interval_ms : 10000;
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cv, &ca);
	pthread_condattr_destroy(&ca);
	d->inited = 1;
	if (pthread_create(&d->tid, NULL, sampler_main, srv) != 0)
		return gv_error_set(GV_ERROR, "cannot start the dashboard's sampler");
	d->running = 1;
	return 0;
}

/* Ask for the cluster's figures at the next tick (a change was made). */
void gv_http_dash_poke(gv_server *srv)
{
	dash_state *d = &srv->dash;

	if (!d->inited)
		return;
	pthread_mutex_lock(&d->mu);
	d->rescan = 1;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void gv_http_dash_stop(gv_server *srv)
{
	dash_state *d = &srv->dash;

	if (!d->inited)
		return;
	if (d->running) {
		pthread_mutex_lock(&d->mu);
		d->stop = 1;
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->tid, NULL);
	}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d->cached);
	free(d->queue);
}

/* ---- GET /v1/dashboard ---------------------------------------------------- */

enum MHD_Result gv_http_dashboard_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	dash_state *d = &srv->dash;
	gv_wire_sample hist[DASH_HISTORY];
	gv_wire_event *ev;
	char *cached, *queue;
	size_t hn, en, i;

	ev = malloc(sizeof(*ev) * DASH_EVENTS);
	if (!ev)
		return MHD_NO;
	pthread_mutex_lock(&srv->mu);
	cached = d->cached ? strdup(d->cached) : NULL;
	queue = d->queue ? strdup(d->queue) : NULL;
	/* Oldest first. */
	hn = d->hn;
	for (i = 0; i < hn; i++)
		hist[i] = d->hist[(d->hhead + DASH_HISTORY - hn + i) % DASH_HISTORY];
	/* Newest first. */
	en = d->en;
	for (i = 0; i < en; i++)
		ev[i] = d->ev[(d->ehead + DASH_EVENTS - 1 - i) % DASH_EVENTS];
	pthread_mutex_unlock(&srv->mu);
	json_t *doc = gv_wire_json_dashboard(
		cached ? json_loads(cached, 0, NULL) : json_pack("{s:n, s:[]}", "cluster", "sectors"),
		queue ? json_loads(queue, 0, NULL) : NULL, gv_http_jobs_brief(srv),
		gv_wire_json_dash_events(ev, en),
		gv_wire_json_dash_history(hist, hn, (unsigned)(d->interval_ms / 1000)), r->read_only,
		gv_http_wall_ms());

	free(cached);
	free(queue);
	free(ev);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, doc);
}
