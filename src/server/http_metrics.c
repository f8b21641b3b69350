/*
 * http_metrics.c - GET /v1/status, /readyz, and /metrics: the store's
 * metrics followed by the server's own (requests by method, route and
 * status code, latency histograms, body bytes, header timeouts).
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

static const char *const route_names[R_COUNT] = {
	"unknown", "/healthz", "/readyz", "/metrics", "/v1/status", "/v1/blobs",
	"/v1/blobs/{key}", "/v1/blobs/{key}/replicas", "/v1/sectors", "/v1/sectors/{id}",
	"/v1/repair", "/v1/repair/queue", "/v1/scrub", "/v1/scrub/presence", "/v1/rebalance",
	"/v1/jobs/{id}", "/v1/node/", "/v1/jobs", "/v1/dashboard", "/ (dashboard)",
};

static const double buckets[NBUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                                   0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static const char *const method_names[M_COUNT] = {
	"OTHER", "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH",
};

enum method gv_http_method_of(const char *method)
{
	int m;

	for (m = M_GET; m < M_COUNT; m++)
		if (strcmp(method, method_names[m]) == 0)
			return (enum method)m;
	return M_OTHER;
}

/* Count one (method, status) of a route; srv->mu held. */
static void count_code(route_stats *rs, enum method method, int status)
{
	size_t i;

	for (i = 0; i < rs->ncodes; i++)
		if (rs->codes[i].method == method && rs->codes[i].code == status)
			break;
	if (i == rs->ncodes) {
		if (i >= NCODES - 1) {
			i = NCODES - 1;
			method = M_OTHER;
			status = 0;
		}
		rs->ncodes = i + 1;
		rs->codes[i].method = (uint8_t)method;
		rs->codes[i].code = (uint16_t)status;
	}
	rs->codes[i].n++;
}

void gv_http_record(gv_server *srv, const req *r, double seconds)
{
	route_stats *rs = &srv->rs[r->route];
	size_t b;

	pthread_mutex_lock(&srv->mu);
	if (r->status >= 100 && r->status < 600) {
		rs->by_class[r->status / 100]++;
		count_code(rs, r->method, r->status);
	}
	for (b = 0; b < NBUCKETS && seconds > buckets[b]; b++)
		;
	rs->hist[b]++;
	rs->sum += seconds;
	rs->count++;
	pthread_mutex_unlock(&srv->mu);
}

/* ---- status, health, metrics ---------------------------------------------- */

enum MHD_Result gv_http_status_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_store_stats s;
	int err = gv_status(srv->st, &s);

	if (err < 0)
		return gv_http_send_gv_error(c, r, err);
	gv_placement_opts p = gv_store_placement(srv->st);

	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, gv_wire_json_store_stats(&s, &p));
}

/* Entries listed by GET /v1/repair/queue without ?limit, and at most. */
#define QUEUE_LIMIT_DEFAULT 1000
#define QUEUE_LIMIT_MAX 100000

enum MHD_Result gv_http_repair_queue_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	unsigned long long limit = QUEUE_LIMIT_DEFAULT;
	json_t *doc = NULL;
	char *end;
	int err;

	if (v) {
		limit = strtoull(v, &end, 10);
		if (!*v || *end || *v == '-' || limit > QUEUE_LIMIT_MAX)
			return gv_http_send_error(c, r, "invalid", "limit must be 0 to %d",
			                          QUEUE_LIMIT_MAX);
	}
	if ((err = gv_wire_json_repair_queue_load(srv->st, (size_t)limit, &doc)) < 0)
		return gv_http_send_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, doc);
}

enum MHD_Result gv_http_readyz(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info *s = NULL;
	size_t n = 0, i, healthy = 0;
	int need = gv_store_placement(srv->st).min_replicas;

	if (gv_store_sector_list(srv->st, &s, &n) < 0)
		return gv_http_send_error(c, r, "not_ready",
		                  "index unavailable: %s", gv_error_last());
	for (i = 0; i < n; i++)
		if (s[i].healthy && s[i].state == GV_SECTOR_ACTIVE)
			healthy++;
	free(s);
	if ((int)healthy < need)
		return gv_http_send_error(c, r, "not_ready",
		                  "%zu healthy sectors, min-replicas needs %d", healthy, need);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK,
	                  json_pack("{s:s, s:I}", "status", "ready", "healthy_sectors",
	                            (json_int_t)healthy));
}

static void append_request_metrics(gv_server *srv, FILE *f)
{
	size_t i, b;

	fprintf(f, "# HELP graviton_http_requests_total HTTP requests by method, route and the "
	           "status code sent.\n"
	           "# TYPE graviton_http_requests_total counter\n");
	pthread_mutex_lock(&srv->mu);
	for (i = 0; i < R_COUNT; i++) /* "unknown" too: the 404s of other paths */
		for (b = 0; b < srv->rs[i].ncodes; b++) {
			char code[8];

			if (srv->rs[i].codes[b].code)
				snprintf(code, sizeof(code), "%u", srv->rs[i].codes[b].code);
			else
				snprintf(code, sizeof(code), "other");
			fprintf(f, "graviton_http_requests_total{method=\"%s\",route=\"%s\","
			           "code=\"%s\"} %llu\n", method_names[srv->rs[i].codes[b].method],
			        route_names[i], code, (unsigned long long)srv->rs[i].codes[b].n);
		}
	fprintf(f, "# HELP graviton_http_request_duration_seconds Request latency by route.\n"
	           "# TYPE graviton_http_request_duration_seconds histogram\n");
	for (i = 1; i < R_COUNT; i++) {
		uint64_t cum = 0;

		if (!srv->rs[i].count)
			continue;
		for (b = 0; b < NBUCKETS; b++) {
			cum += srv->rs[i].hist[b];
			fprintf(f, "graviton_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
			        route_names[i], buckets[b], (unsigned long long)cum);
		}
		fprintf(f, "graviton_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
		        route_names[i], (unsigned long long)srv->rs[i].count);
		fprintf(f, "graviton_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n",
		        route_names[i], srv->rs[i].sum);
		fprintf(f, "graviton_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		        route_names[i], (unsigned long long)srv->rs[i].count);
	}
	pthread_mutex_unlock(&srv->mu);
	pthread_mutex_lock(&srv->cmu);
	fprintf(f, "# HELP graviton_http_header_timeouts_total Connections closed because a "
	           "request's headers did not arrive within header-timeout.\n"
	           "# TYPE graviton_http_header_timeouts_total counter\n"
	           "graviton_http_header_timeouts_total %llu\n",
	        (unsigned long long)srv->header_timeouts);
	pthread_mutex_unlock(&srv->cmu);
	pthread_mutex_lock(&srv->mu);
	fprintf(f, "# HELP graviton_http_bytes_total Body bytes by route and direction.\n"
	           "# TYPE graviton_http_bytes_total counter\n");
	for (i = 1; i < R_COUNT; i++) {
		if (srv->rs[i].bytes_in)
			fprintf(f, "graviton_http_bytes_total{route=\"%s\",direction=\"in\"} %llu\n",
			        route_names[i], (unsigned long long)srv->rs[i].bytes_in);
		if (srv->rs[i].bytes_out)
			fprintf(f, "graviton_http_bytes_total{route=\"%s\",direction=\"out\"} %llu\n",
			        route_names[i], (unsigned long long)srv->rs[i].bytes_out);
	}
	pthread_mutex_unlock(&srv->mu);
}

enum MHD_Result gv_http_metrics_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	char *text = NULL, *all = NULL;
	size_t len = 0, alen = 0;
	FILE *f;
	int err = gv_metrics_text(srv->st, &text, &len);

	if (err < 0)
		return gv_http_send_gv_error(c, r, err);
	f = open_memstream(&all, &alen);
	if (!f) {
		free(text);
		return MHD_NO;
	}
	fwrite(text, 1, len, f);
	free(text);
	append_request_metrics(srv, f);
	fclose(f);
	return gv_http_send_buf(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", all, alen);
}
