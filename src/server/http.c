/*
 * http.c - the HTTP API on libmicrohttpd.
 *
 * Map:
 *   on_request()     routing, authentication, upload handling (the body
 *                    arrives in pieces and is pushed into a gv_put; JSON
 *                    bodies are gathered up to BODY_MAX)
 *   blob_get()       streaming reads: MHD pulls from gv_get_read; blobs up
 *                    to VERIFY_FIRST_MAX are verified whole before the
 *                    first byte, for full and Range reads alike (a bad
 *                    replica is then skipped invisibly), larger ones while
 *                    streaming (a bad replica aborts the connection, so the
 *                    client sees a short body, never wrong bytes past the
 *                    Content-Length it was promised); Ranges of larger
 *                    blobs are not verified (no per-block checksums yet)
 *   jobs             POST /v1/repair|scrub|rebalance run in a thread each;
 *                    GET /v1/jobs/{id} reports them
 *   request metrics  counters and latency histograms per route, appended
 *                    to the store's metrics on GET /metrics
 *
 *   connections      a watchdog closes connections whose request headers
 *                    are not complete within header_timeout of their
 *                    opening or of their previous response (slow-header
 *                    floods); MHD caps connections per client address
 *
 * Threads: MHD runs a thread per connection (each waits with poll(), so
 * descriptors past FD_SETSIZE work), so a handler may block (a put waits
 * for its quorum).  `mu` guards the token, the jobs list and the request
 * metrics; `cmu` the list of connections the watchdog scans.
 */
#include <stdatomic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "graviton/server.h"

#define BODY_MAX (64 * 1024)
#define VERIFY_FIRST_MAX GV_GET_RANGE_VERIFY_MAX
#define MAX_JOBS 64
#define JOB_EVENTS_MAX 1000
/* What a refused upload may still send (read and discarded, so that the
 * error can be answered); past this the connection is closed. */
#define DISCARD_MAX (64ull << 20)

/* ---- request metrics ----------------------------------------------------- */

enum route {
	R_UNKNOWN, R_HEALTHZ, R_READYZ, R_METRICS, R_STATUS, R_BLOBS, R_BLOB, R_REPLICAS,
	R_SECTORS, R_SECTOR, R_REPAIR, R_SCRUB, R_REBALANCE, R_JOB, R_COUNT
};

static const char *const route_names[R_COUNT] = {
	"unknown", "/healthz", "/readyz", "/metrics", "/v1/status", "/v1/blobs",
	"/v1/blobs/{key}", "/v1/blobs/{key}/replicas", "/v1/sectors", "/v1/sectors/{id}",
	"/v1/repair", "/v1/scrub", "/v1/rebalance", "/v1/jobs/{id}",
};

static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                          0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef struct route_stats {
	uint64_t by_class[6];          /* 1xx..5xx by status / 100; [0] unused */
	uint64_t hist[NBUCKETS + 1];   /* cumulative at render time */
	double sum;
	uint64_t count;
	uint64_t bytes_in, bytes_out;
} route_stats;

/* ---- jobs ---------------------------------------------------------------- */

typedef struct job {
	unsigned id;
	char kind[16];
	int dry_run;
	int state;              /* 0 running, 1 done, 2 failed */
	char *result;           /* JSON summary when finished */
	json_t *events;         /* planned or failed items, bounded */
	pthread_t tid;
	int running_thread;     /* tid is joinable */
	struct gv_server *srv;
	char sector[GV_ID_MAX]; /* drain */
} job;

/* A connection as the watchdog sees it (MHD's socket context). */
typedef struct conn {
	struct conn *prev, *next;  /* under cmu */
	int fd;
	int cut;                   /* shut down by the watchdog (under cmu) */
	atomic_int waiting;        /* its request headers are incomplete */
	atomic_llong since_ms;     /* opened, or its last response ended */
} conn;

struct gv_server {
	gv_store *st;
	struct MHD_Daemon *d;
	unsigned port;
	uint64_t max_body;
	atomic_int stopping;

	/* Settings the jobs start from (the daemon's configuration). */
	gv_repair_opts repair;
	gv_scrub_opts scrub;
	gv_rebalance_opts rebalance;

	pthread_mutex_t mu;
	char *token;
	job *jobs[MAX_JOBS];
	unsigned next_job;
	route_stats rs[R_COUNT];

	atomic_int inflight;       /* requests between headers and completion */
	uint64_t grace_ms;
	long long header_timeout_ms;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	conn *conns;
	int wd_stop;               /* under cmu */
	int wd_running;
	pthread_t wd;
	uint64_t header_timeouts;  /* under cmu */
};

/* Per-request state, kept in MHD's con_cls. */
typedef struct req {
	enum route route;
	double t0;
	int status;
	int started;
	gv_put *put;
	uint64_t received;
	int put_failed;
	char *body;
	size_t body_len;
	char *refusal;          /* JSON error to answer once the body is consumed */
	int refusal_status;
	uint64_t discarded;
	char arg[GV_KEY_BUFSIZE + 16]; /* key or id from the path */
} req;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- responses ----------------------------------------------------------- */

static enum MHD_Result send_buf(struct MHD_Connection *c, req *r, int status, const char *type,
                                char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"graviton\"");
	r->status = status;
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, req *r, int status, char *json)
{
	size_t len;
	char *body;

	if (!json)
		return MHD_NO;
	len = strlen(json);
	body = malloc(len + 2);
	if (!body) {
		free(json);
		return MHD_NO;
	}
	memcpy(body, json, len);
	body[len] = '\n';
	body[len + 1] = '\0';
	free(json);
	return send_buf(c, r, status, "application/json", body, len + 1);
}

static enum MHD_Result send_jsonv(struct MHD_Connection *c, req *r, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(o);
	return send_json(c, r, status, s);
}

/* The error document of the table's row `name` (graviton/wire.h), with
 * that row's status. */
static enum MHD_Result send_error(struct MHD_Connection *c, req *r, const char *name,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum MHD_Result send_error(struct MHD_Connection *c, req *r, const char *name,
                                  const char *fmt, ...)
{
	const gv_wire_error *e = gv_wire_error_named(name);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!e)
		e = gv_wire_error_of(GV_ERROR);
	return send_jsonv(c, r, e->http_status, gv_wire_error_doc(e, msg));
}

/* Engine errors as HTTP answers, through the one error table. */
static enum MHD_Result send_gv_error(struct MHD_Connection *c, req *r, int err)
{
	const gv_wire_error *e = gv_wire_error_of(err);

	return send_jsonv(c, r, e->http_status, gv_wire_error_doc(e, gv_error_last()));
}

/* An error document with one extra header (Allow, Content-Range). */
static enum MHD_Result send_error_headers(struct MHD_Connection *c, req *r,
                                          const gv_wire_error *e, const char *msg,
                                          const char *header, const char *value)
{
	char *body = gv_wire_dump(gv_wire_error_doc(e, msg), 0), *nl;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;

	if (!body)
		return MHD_NO;
	len = strlen(body);
	if (!(nl = realloc(body, len + 2))) {
		free(body);
		return MHD_NO;
	}
	body = nl;
	memcpy(body + len, "\n", 2);
	resp = MHD_create_response_from_buffer(len + 1, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, header, value);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	r->status = e->http_status;
	ret = MHD_queue_response(c, (unsigned)e->http_status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Refuse a request whose body is still arriving.  MHD queues a response
 * only once the body is consumed, so the error is kept, the rest of the
 * body read and discarded (up to DISCARD_MAX, then the connection is
 * closed), and the error answered at the end (see on_request).
 */
static void refuse_upload(req *r, const gv_wire_error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void refuse_upload(req *r, const gv_wire_error *e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(r->refusal);
	r->refusal = gv_wire_dump(gv_wire_error_doc(e, msg), 0);
	r->refusal_status = e->http_status;
}

static void refuse_upload_gv(req *r, int err)
{
	refuse_upload(r, gv_wire_error_of(err), "%s", gv_error_last());
}

/* ---- routing ------------------------------------------------------------- */

/* Match "/prefix/{arg}[/suffix]"; copies arg (bounded) and returns 1. */
static int match_arg(const char *url, const char *prefix, const char *suffix, char *arg,
                     size_t cap)
{
	size_t pl = strlen(prefix), al;
	const char *a, *end;

	if (strncmp(url, prefix, pl) != 0)
		return 0;
	a = url + pl;
	end = strchr(a, '/');
	if (suffix) {
		if (!end || strcmp(end, suffix) != 0)
			return 0;
	} else if (end) {
		return 0;
	}
	al = end ? (size_t)(end - a) : strlen(a);
	if (al == 0 || al >= cap)
		return al >= cap ? (arg[0] = '\0', 1) : 0;
	memcpy(arg, a, al);
	arg[al] = '\0';
	return 1;
}

static enum route route_of(const char *url, char *arg, size_t cap)
{
	arg[0] = '\0';
	if (strcmp(url, "/healthz") == 0)
		return R_HEALTHZ;
	if (strcmp(url, "/readyz") == 0)
		return R_READYZ;
	if (strcmp(url, "/metrics") == 0)
		return R_METRICS;
	if (strcmp(url, "/v1/status") == 0)
		return R_STATUS;
	if (strcmp(url, "/v1/blobs") == 0 || strcmp(url, "/v1/blobs/") == 0)
		return R_BLOBS;
	if (match_arg(url, "/v1/blobs/", "/replicas", arg, cap))
		return R_REPLICAS;
	if (match_arg(url, "/v1/blobs/", NULL, arg, cap))
		return R_BLOB;
	if (strcmp(url, "/v1/sectors") == 0)
		return R_SECTORS;
	if (match_arg(url, "/v1/sectors/", NULL, arg, cap))
		return R_SECTOR;
	if (strcmp(url, "/v1/repair") == 0)
		return R_REPAIR;
	if (strcmp(url, "/v1/scrub") == 0)
		return R_SCRUB;
	if (strcmp(url, "/v1/rebalance") == 0)
		return R_REBALANCE;
	if (match_arg(url, "/v1/jobs/", NULL, arg, cap))
		return R_JOB;
	return R_UNKNOWN;
}

static int authorized(gv_server *srv, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	size_t tl, hl;
	int ok;

	pthread_mutex_lock(&srv->mu);
	if (!srv->token) {
		pthread_mutex_unlock(&srv->mu);
		return 1;
	}
	ok = 0;
	/* The scheme is case-insensitive (RFC 9110 11.1). */
	if (h && strncasecmp(h, "Bearer", 6) == 0 && (h[6] == ' ' || h[6] == '\t')) {
		for (h += 6; *h == ' ' || *h == '\t'; h++)
			;
		tl = strlen(srv->token);
		hl = strlen(h);
		/* Constant time over the token's length. */
		ok = hl == tl && CRYPTO_memcmp(h, srv->token, tl) == 0;
	}
	pthread_mutex_unlock(&srv->mu);
	return ok;
}

static int query_flag(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || *v == '\0');
}

/* ---- blobs --------------------------------------------------------------- */

typedef struct stream {
	gv_get *get;
	uint64_t len;
	gv_server *srv;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream *s = cls;
	ssize_t n;

	(void)pos;
	if (!s->get)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = gv_get_read(s->get, buf, max);
	if (n > 0)
		return n;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* A replica failed after bytes went out: they cannot be taken back,
	 * so the connection is cut short of its Content-Length. */
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	stream *s = cls;

	gv_get_close(s->get);
	free(s);
}

/* Decimal digits at *p: their value in *v (UINT64_MAX and *big set when it
 * does not fit); returns how many digits. */
static int range_digits(const char **p, uint64_t *v, int *big)
{
	int n = 0;

	*v = 0;
	*big = 0;
	for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
		unsigned d = (unsigned)(**p - '0');

		if (*big || *v > (UINT64_MAX - d) / 10) {
			*big = 1;
			*v = UINT64_MAX;
		} else {
			*v = *v * 10 + d;
		}
	}
	return n;
}

/*
 * Parse a Range header (RFC 9110 14.1.2) for a blob of `size` bytes into
 * [start, end): 0 ok, 1 ignore (several ranges: the whole blob), -1
 * malformed, -2 unsatisfiable.  The unit is case-insensitive; a last
 * position past the end, of any length, is clamped to the end; "-N" is the
 * last N bytes (the whole blob when N >= size).
 */
static int parse_range_header(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
	uint64_t a, b;
	int na, nb, abig, bbig;

	if (strncasecmp(h, "bytes", 5) != 0)
		return -1;
	for (h += 5; *h == ' ' || *h == '\t'; h++)
		;
	if (*h++ != '=')
		return -1;
	while (*h == ' ' || *h == '\t')
		h++;
	if (strchr(h, ','))
		return 1;
	na = range_digits(&h, &a, &abig);
	if (*h++ != '-')
		return -1;
	nb = range_digits(&h, &b, &bbig);
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h || (!na && !nb))
		return -1;
	if (!na) {
		if (b == 0 || size == 0)
			return -2;
		*start = b >= size ? 0 : size - b;
		*end = size;
		return 0;
	}
	/* first > last is malformed; two numbers past 64 bits are both past
	 * the end, so unsatisfiable whatever their order */
	if (nb && !(abig && bbig) && (abig || a > b))
		return -1;
	if (a >= size)
		return -2;
	*start = a;
	*end = !nb || b >= size - 1 ? size : b + 1;
	return 0;
}

static enum MHD_Result blob_get(gv_server *srv, struct MHD_Connection *c, req *r, int head)
{
	gv_get_opts go = GV_GET_OPTS_INIT;
	struct MHD_Response *resp;
	const char *rh;
	char hex[GV_HEX_BUFSIZE], etag[GV_HEX_BUFSIZE + 2], cr[96];
	enum MHD_Result ret;
	int status = MHD_HTTP_OK, err;
	stream *s;
	gv_key key;

	if (gv_key_parse(&key, r->arg) < 0)
		return send_error(c, r, "invalid_key", "%s", gv_error_last());
	rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	if (rh) {
		int pr = parse_range_header(rh, key.size, &go.start, &go.end);

		if (pr == -1)
			return send_error(c, r, "invalid_range",
			                  "malformed Range header '%.64s'", rh);
		if (pr == -2) {
			char msg[96];

			snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)key.size);
			snprintf(msg, sizeof(msg), "range not satisfiable: the blob has %llu bytes",
			         (unsigned long long)key.size);
			return send_error_headers(c, r, gv_wire_error_named("range_not_satisfiable"),
			                          msg, "Content-Range", cr);
		}
		if (pr == 0 && !(go.start == 0 && go.end == key.size)) {
			go.has_range = 1;
			status = MHD_HTTP_PARTIAL_CONTENT;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return MHD_NO;
	s->srv = srv;
	/* HEAD opens the read as GET does, so it answers the same status and
	 * headers (503 when no replica can serve); MHD sends no body. */
	go.verify_first = key.size <= VERIFY_FIRST_MAX;
	err = gv_get_open(&s->get, srv->st, &key, &go);
	if (err == 0)
		s->len = gv_get_length(s->get);
	if (err < 0) {
		free(s);
		return send_gv_error(c, r, err);
	}
	/* MHD allocates a buffer of the block size for every response: no
	 * bigger than the body, so small reads stay cheap. */
	resp = MHD_create_response_from_callback(
		s->len, s->len < 256 * 1024 ? (size_t)(s->len ? s->len : 1) : 256 * 1024,
		stream_read, s, stream_free);
	if (!resp) {
		stream_free(s);
		return MHD_NO;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", gv_key_hex(hex, &key));
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	MHD_add_response_header(resp, "ETag", etag);
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)go.start,
		         (unsigned long long)(go.end - 1), (unsigned long long)key.size);
		MHD_add_response_header(resp, "Content-Range", cr);
	}
	r->status = status;
	pthread_mutex_lock(&srv->mu);
	srv->rs[r->route].bytes_out += head ? 0 : s->len;
	pthread_mutex_unlock(&srv->mu);
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result blob_put_finish(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_put_result res;
	int err;

	(void)srv;
	err = gv_put_commit(r->put, &res);
	r->put = NULL;
	if (err < 0)
		return send_gv_error(c, r, err);
	return send_jsonv(c, r, MHD_HTTP_CREATED, gv_wire_put_result(&res));
}

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
	job_event(payload, gv_wire_repair_event(ev));
}

static void on_scrub_bad(const gv_scrub_event *ev, void *payload)
{
	job_event(payload, gv_wire_scrub_event(ev));
}

static void on_move(const gv_move_event *ev, void *payload)
{
	job_event(payload, gv_wire_move_event(ev));
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
		sum = gv_wire_repair_summary(&s);
	} else if (strcmp(j->kind, "scrub") == 0) {
		gv_scrub_opts o = srv->scrub;
		gv_scrub_summary s;

		o.on_bad = on_scrub_bad;
		o.payload = j;
		o.cancel = &srv->stopping;
		err = gv_scrub_run(srv->st, &o, &s);
		sum = gv_wire_scrub_summary(&s);
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
		sum = gv_wire_rebalance_summary(&s);
		gv_rebalance_summary_free(&s);
	}
	if (err < 0)
		json_object_set_new(sum, "error",
		                    gv_wire_error_doc(gv_wire_error_of(err), gv_error_last()));
	pthread_mutex_lock(&srv->mu);
	j->result = json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER);
	j->state = err < 0 ? 2 : 1;
	pthread_mutex_unlock(&srv->mu);
	json_decref(sum);
	return NULL;
}

static void job_free(job *j)
{
	if (!j)
		return;
	free(j->result);
	json_decref(j->events);
	free(j);
}

static enum MHD_Result start_job(gv_server *srv, struct MHD_Connection *c, req *r,
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
			job_free(j);
			json_t *doc = gv_wire_error_doc(gv_wire_error_named("busy"),
			                                "a job of this kind is running");

			json_object_set_new(doc, "job", json_integer(id));
			return send_jsonv(c, r, MHD_HTTP_CONFLICT, doc);
		}
	}
	j->id = ++srv->next_job;
	slot = j->id % MAX_JOBS;
	old = srv->jobs[slot];
	if (old && old->state == 0) {
		pthread_mutex_unlock(&srv->mu);
		job_free(j);
		return send_error(c, r, "busy", "too many jobs running");
	}
	srv->jobs[slot] = j;
	pthread_mutex_unlock(&srv->mu);
	if (old) {
		if (old->running_thread)
			pthread_join(old->tid, NULL);
		job_free(old);
	}
	if (pthread_create(&j->tid, NULL, job_main, j) == 0) {
		j->running_thread = 1;
	} else {
		pthread_mutex_lock(&srv->mu);
		j->state = 2;
		j->result = gv_wire_dump(json_pack("{s:o}", "error",
		                                   gv_wire_error_doc(gv_wire_error_of(GV_ERROR),
		                                                     "cannot start a thread")), 0);
		pthread_mutex_unlock(&srv->mu);
		return send_error(c, r, "internal",
		                  "cannot start the job");
	}
	{
		char url[32];

		snprintf(url, sizeof(url), "/v1/jobs/%u", j->id);
		return send_jsonv(c, r, MHD_HTTP_ACCEPTED,
		                  json_pack("{s:i, s:s, s:b, s:s}", "job", j->id, "kind", kind,
		                            "dry_run", dry_run, "status_url", url));
	}
}

static enum MHD_Result job_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	char *end;
	unsigned long id = strtoul(r->arg, &end, 10);
	json_t *o;
	job *j;

	if (!r->arg[0] || *end)
		return send_error(c, r, "invalid", "bad job id");
	pthread_mutex_lock(&srv->mu);
	j = srv->jobs[id % MAX_JOBS];
	if (!j || j->id != id) {
		pthread_mutex_unlock(&srv->mu);
		return send_error(c, r, "not_found", "no job %lu", id);
	}
	/* A copy of the events: the job thread keeps appending (and
	 * reallocating) the array after the lock is released. */
	o = gv_wire_job(j->id, j->kind, j->dry_run,
	                j->state == 0 ? "running" : j->state == 1 ? "done" : "failed",
	                j->result ? json_loads(j->result, 0, NULL) : NULL,
	                json_deep_copy(j->events));
	pthread_mutex_unlock(&srv->mu);
	return send_jsonv(c, r, MHD_HTTP_OK, o);
}

/* ---- sectors ------------------------------------------------------------- */

static enum MHD_Result sectors_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info *s = NULL;
	size_t n = 0;
	int err = gv_store_sector_list(srv->st, &s, &n);
	char *js;

	if (err < 0)
		return send_gv_error(c, r, err);
	js = gv_wire_dump(gv_wire_sectors(s, n), 0);
	free(s);
	return send_json(c, r, MHD_HTTP_OK, js);
}

static const char *str_field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum MHD_Result sectors_post(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info info;
	json_error_t je;
	json_t *o, *cap, *fv;
	const char *v, *field;
	int err;

	o = json_loadb(r->body ? r->body : "", r->body_len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return send_error(c, r, "invalid",
		                  "body must be a JSON object {id, path, capacity, rack, zone}: %s",
		                  je.text);
	}
	/* The whole body is checked before anything changes. */
	json_object_foreach(o, field, fv) {
		if (strcmp(field, "id") != 0 && strcmp(field, "path") != 0 &&
		    strcmp(field, "capacity") != 0 && strcmp(field, "rack") != 0 &&
		    strcmp(field, "zone") != 0) {
			enum MHD_Result ret = send_error(c, r, "invalid",
			                                 "unknown field '%.64s' (expected id, path, "
			                                 "capacity, rack, zone)", field);

			json_decref(o);
			return ret;
		}
	}
	memset(&info, 0, sizeof(info));
	snprintf(info.kind, sizeof(info.kind), "fs");
	if (!(v = str_field(o, "id")) || strlen(v) >= sizeof(info.id)) {
		json_decref(o);
		return send_error(c, r, "invalid", "'id' (a string) is required");
	}
	snprintf(info.id, sizeof(info.id), "%s", v);
	if (!(v = str_field(o, "path")) || strlen(v) >= sizeof(info.path)) {
		json_decref(o);
		return send_error(c, r, "invalid", "'path' (a string) is required");
	}
	snprintf(info.path, sizeof(info.path), "%s", v);
	if ((v = str_field(o, "rack")) && strlen(v) < sizeof(info.rack))
		snprintf(info.rack, sizeof(info.rack), "%s", v);
	if ((v = str_field(o, "zone")) && strlen(v) < sizeof(info.zone))
		snprintf(info.zone, sizeof(info.zone), "%s", v);
	cap = json_object_get(o, "capacity");
	if (json_is_integer(cap) && json_integer_value(cap) >= 0) {
		info.capacity = (uint64_t)json_integer_value(cap);
	} else if (json_is_string(cap)) {
		if (gv_size_parse(&info.capacity, json_string_value(cap)) < 0) {
			json_decref(o);
			return send_gv_error(c, r, GV_EINVAL);
		}
	} else if (cap) {
		json_decref(o);
		return send_error(c, r, "invalid",
		                  "'capacity' must be bytes or a size string");
	}
	json_decref(o);
	if ((err = gv_store_sector_add(srv->st, &info, GV_SECTOR_ADD_CREATE)) < 0)
		return send_gv_error(c, r, err);
	if ((err = gv_store_sector_get(srv->st, info.id, &info)) < 0)
		return send_gv_error(c, r, err);
	return send_jsonv(c, r, MHD_HTTP_CREATED, gv_wire_sector(&info));
}

static enum MHD_Result sector_patch(gv_server *srv, struct MHD_Connection *c, req *r)
{
	json_error_t je;
	json_t *o, *h, *sv;
	const char *state = NULL, *field;
	char id[GV_ID_MAX];
	gv_sector_info info;
	int err;

	if (gv_id_validate("sector id", r->arg) < 0)
		return send_gv_error(c, r, GV_EINVAL);
	snprintf(id, sizeof(id), "%.63s", r->arg);
	o = json_loadb(r->body ? r->body : "", r->body_len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return send_error(c, r, "invalid",
		                  "body must be a JSON object {healthy: bool} or {state: \"draining\"}");
	}
	/* The whole body is checked before anything changes. */
	json_object_foreach(o, field, sv) {
		if (strcmp(field, "healthy") != 0 && strcmp(field, "state") != 0) {
			err = send_error(c, r, "invalid",
			                 "unknown field '%.64s' (expected healthy, state)", field);
			json_decref(o);
			return err;
		}
	}
	h = json_object_get(o, "healthy");
	sv = json_object_get(o, "state");
	if (h && !json_is_boolean(h)) {
		json_decref(o);
		return send_error(c, r, "invalid", "'healthy' must be a boolean");
	}
	if (sv) {
		state = json_string_value(sv);
		if (!state || (strcmp(state, "draining") != 0 && strcmp(state, "active") != 0)) {
			json_decref(o);
			return send_error(c, r, "invalid",
			                  "'state' may be \"draining\" or \"active\"");
		}
	}
	if (!h && !sv) {
		json_decref(o);
		return send_error(c, r, "invalid",
		                  "nothing to change: give 'healthy' or 'state'");
	}
	if ((err = gv_store_sector_get(srv->st, id, &info)) < 0) {
		json_decref(o);
		return send_gv_error(c, r, err);
	}
	if (h && (err = gv_store_sector_set_health(srv->st, id, json_is_true(h))) < 0) {
		json_decref(o);
		return send_gv_error(c, r, err);
	}
	if (state && strcmp(state, "draining") == 0) {
		json_decref(o);
		return start_job(srv, c, r, "drain", 0, id);
	}
	if (state && (err = gv_store_sector_set_state(srv->st, id, GV_SECTOR_ACTIVE)) < 0) {
		json_decref(o);
		return send_gv_error(c, r, err);
	}
	json_decref(o);
	if ((err = gv_store_sector_get(srv->st, id, &info)) < 0)
		return send_gv_error(c, r, err);
	return send_jsonv(c, r, MHD_HTTP_OK, gv_wire_sector(&info));
}

/* ---- status, health, metrics ---------------------------------------------- */

static enum MHD_Result status_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_store_stats s;
	int err = gv_status(srv->st, &s);

	if (err < 0)
		return send_gv_error(c, r, err);
	gv_placement_opts p = gv_store_placement(srv->st);

	return send_jsonv(c, r, MHD_HTTP_OK, gv_wire_store_stats(&s, &p));
}

static enum MHD_Result readyz(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info *s = NULL;
	size_t n = 0, i, healthy = 0;
	int need = gv_store_placement(srv->st).min_replicas;

	if (gv_store_sector_list(srv->st, &s, &n) < 0)
		return send_error(c, r, "not_ready",
		                  "index unavailable: %s", gv_error_last());
	for (i = 0; i < n; i++)
		if (s[i].healthy && s[i].state == GV_SECTOR_ACTIVE)
			healthy++;
	free(s);
	if ((int)healthy < need)
		return send_error(c, r, "not_ready",
		                  "%zu healthy sectors, min-replicas needs %d", healthy, need);
	return send_jsonv(c, r, MHD_HTTP_OK,
	                  json_pack("{s:s, s:I}", "status", "ready", "healthy_sectors",
	                            (json_int_t)healthy));
}

static void append_request_metrics(gv_server *srv, FILE *f)
{
	size_t i, b;

	fprintf(f, "# HELP graviton_http_requests_total HTTP requests by route and status class.\n"
	           "# TYPE graviton_http_requests_total counter\n");
	pthread_mutex_lock(&srv->mu);
	for (i = 1; i < R_COUNT; i++)
		for (b = 1; b < 6; b++)
			if (srv->rs[i].by_class[b])
				fprintf(f, "graviton_http_requests_total{route=\"%s\",code=\"%zuxx\"} %llu\n",
				        route_names[i], b, (unsigned long long)srv->rs[i].by_class[b]);
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

static enum MHD_Result metrics_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	char *text = NULL, *all = NULL;
	size_t len = 0, alen = 0;
	FILE *f;
	int err = gv_metrics_text(srv->st, &text, &len);

	if (err < 0)
		return send_gv_error(c, r, err);
	f = open_memstream(&all, &alen);
	if (!f) {
		free(text);
		return MHD_NO;
	}
	fwrite(text, 1, len, f);
	free(text);
	append_request_metrics(srv, f);
	fclose(f);
	return send_buf(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", all, alen);
}

/* ---- connections ------------------------------------------------------------ */

static conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The request's headers are in: the header deadline no longer applies. */
static void conn_headers_done(struct MHD_Connection *c)
{
	conn *cn = conn_of(c);

	if (cn)
		atomic_store(&cn->waiting, 0);
}

/* A response ended: the next request's headers are due within the deadline. */
static void conn_idle(struct MHD_Connection *c)
{
	conn *cn = conn_of(c);

	if (cn) {
		atomic_store(&cn->since_ms, now_ms());
		atomic_store(&cn->waiting, 1);
	}
}

/*
 * MHD reports a connection STARTED before its first read and CLOSED before
 * it closes the socket; the watchdog shuts a socket down only under `cmu`,
 * which CLOSED takes too, so it never touches a descriptor reused by
 * another connection.
 */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	gv_server *srv = cls;
	conn *cn;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

		*socket_context = NULL;
		if (!ci || !(cn = calloc(1, sizeof(*cn))))
			return; /* untracked: only the idle timeout applies */
		cn->fd = ci->connect_fd;
		atomic_init(&cn->waiting, 1);
		atomic_init(&cn->since_ms, now_ms());
		pthread_mutex_lock(&srv->cmu);
		cn->next = srv->conns;
		if (cn->next)
			cn->next->prev = cn;
		srv->conns = cn;
		pthread_mutex_unlock(&srv->cmu);
		*socket_context = cn;
		return;
	}
	cn = *socket_context;
	if (!cn)
		return;
	pthread_mutex_lock(&srv->cmu);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		srv->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	pthread_mutex_unlock(&srv->cmu);
	free(cn);
	*socket_context = NULL;
}

/*
 * The header deadline: MHD's connection timeout counts idle time only, so
 * a client trickling a header byte now and then would hold its connection
 * (and thread) for ever.  Scans a few times per deadline; shutting the
 * socket down wakes the connection's thread, which closes it.
 */
static void *watchdog_main(void *p)
{
	gv_server *srv = p;
	long long tick = srv->header_timeout_ms / 4;
	struct timespec ts;
	conn *cn;

	if (tick < 50)
		tick = 50;
	if (tick > 1000)
		tick = 1000;
	pthread_mutex_lock(&srv->cmu);
	while (!srv->wd_stop) {
		long long now = now_ms();

		for (cn = srv->conns; cn; cn = cn->next) {
			if (cn->cut || !atomic_load(&cn->waiting) ||
			    now - atomic_load(&cn->since_ms) < srv->header_timeout_ms)
				continue;
			shutdown(cn->fd, SHUT_RDWR);
			cn->cut = 1;
			srv->header_timeouts++;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += tick / 1000;
		ts.tv_nsec += (tick % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&srv->ccv, &srv->cmu, &ts);
	}
	pthread_mutex_unlock(&srv->cmu);
	return NULL;
}

typedef struct cl_scan {
	const char *first;
	int conflict;
} cl_scan;

static enum MHD_Result cl_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	cl_scan *sc = cls;

	(void)kind;
	if (strcasecmp(key, "Content-Length") != 0 || !value)
		return MHD_YES;
	if (!sc->first)
		sc->first = value;
	else if (strcmp(sc->first, value) != 0)
		sc->conflict = 1;
	return MHD_YES;
}

/* Two different Content-Length headers make the body's end ambiguous
 * (request smuggling): RFC 9112 6.3 says reject. */
static int content_length_conflict(struct MHD_Connection *c)
{
	cl_scan sc = { NULL, 0 };

	MHD_get_connection_values(c, MHD_HEADER_KIND, cl_header, &sc);
	return sc.conflict;
}

/* ---- the request handler --------------------------------------------------- */

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, req *r, const char *allow)
{
	return send_error_headers(c, r, gv_wire_error_named("method_not_allowed"),
	                          "method not allowed", "Allow", allow);
}

static int is(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	gv_server *srv = cls;
	req *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->t0 = now_s();
		*con_cls = r;
		atomic_fetch_add(&srv->inflight, 1);
		conn_headers_done(c);
		r->route = route_of(url, r->arg, sizeof(r->arg));
		if (content_length_conflict(c)) {
			r->started = 1;
			return send_error(c, r, "invalid",
			                  "conflicting Content-Length headers");
		}
		if (r->route != R_HEALTHZ && r->route != R_METRICS && !authorized(srv, c)) {
			r->started = 1;
			return send_error(c, r, "unauthorized",
			                  "a valid 'Authorization: Bearer <token>' header is required");
		}
		if (r->route == R_BLOBS && (is(method, "PUT") || is(method, "POST"))) {
			const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
			                                             "Content-Length");
			gv_put_opts po = GV_PUT_OPTS_INIT;
			int err;

			if (cl) {
				char *end;
				unsigned long long n = strtoull(cl, &end, 10);

				if (*end == '\0' && n > srv->max_body) {
					r->started = 1;
					return send_error(c, r, "too_large",
					                  "body of %llu bytes exceeds max-body-size %llu",
					                  n, (unsigned long long)srv->max_body);
				}
				if (*end == '\0')
					po.size_hint = n;
			}
			if ((err = gv_put_open(&r->put, srv->st, &po)) < 0) {
				r->started = 1;
				return send_gv_error(c, r, err);
			}
		} else {
			/* JSON bodies: refuse an announced oversize body now, while
			 * a response can still be sent (MHD cannot queue one in
			 * the middle of an upload; it closes the connection). */
			const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
			                                             "Content-Length");
			char *end;

			if (cl && strtoull(cl, &end, 10) > BODY_MAX && *end == '\0') {
				r->started = 1;
				return send_error(c, r, "too_large",
				                  "request body over %d bytes", BODY_MAX);
			}
		}
		return MHD_YES;
	}
	if (r->started) {
		/* A response is queued already; drop the rest of the body. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->refusal) {
		char *js;

		if (*upload_data_size > 0) {
			r->discarded += *upload_data_size;
			*upload_data_size = 0;
			return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		r->started = 1;
		js = r->refusal;
		r->refusal = NULL;
		return send_json(c, r, r->refusal_status, js);
	}

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		int err;

		*upload_data_size = 0;
		pthread_mutex_lock(&srv->mu);
		srv->rs[r->route].bytes_in += n;
		pthread_mutex_unlock(&srv->mu);
		if (r->put) {
			r->received += n;
			if (r->received > srv->max_body) {
				gv_put_abort(r->put);
				r->put = NULL;
				refuse_upload(r, gv_wire_error_named("too_large"),
				              "body exceeds max-body-size %llu",
				              (unsigned long long)srv->max_body);
				return MHD_YES;
			}
			if ((err = gv_put_write(r->put, upload_data, n)) < 0) {
				refuse_upload_gv(r, err);
				gv_put_abort(r->put);
				r->put = NULL;
			}
			return MHD_YES;
		}
		if (r->body_len + n > BODY_MAX) {
			refuse_upload(r, gv_wire_error_named("too_large"),
			              "request body over %d bytes", BODY_MAX);
			return MHD_YES;
		}
		{
			char *nb = realloc(r->body, r->body_len + n + 1);

			if (!nb)
				return MHD_NO;
			r->body = nb;
			memcpy(r->body + r->body_len, upload_data, n);
			r->body_len += n;
			r->body[r->body_len] = '\0';
		}
		return MHD_YES;
	}

	r->started = 1;
	switch (r->route) {
	case R_HEALTHZ:
		if (!is(method, "GET") && !is(method, "HEAD"))
			return method_not_allowed(c, r, "GET, HEAD");
		return send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	case R_READYZ:
		return readyz(srv, c, r);
	case R_METRICS:
		if (!is(method, "GET") && !is(method, "HEAD"))
			return method_not_allowed(c, r, "GET, HEAD");
		return metrics_get(srv, c, r);
	case R_STATUS:
		if (!is(method, "GET"))
			return method_not_allowed(c, r, "GET");
		return status_get(srv, c, r);
	case R_BLOBS:
		if (r->put)
			return blob_put_finish(srv, c, r);
		return method_not_allowed(c, r, "PUT, POST");
	case R_BLOB:
		if (!r->arg[0])
			return send_error(c, r, "invalid_key", "key too long");
		if (is(method, "GET") || is(method, "HEAD"))
			return blob_get(srv, c, r, is(method, "HEAD"));
		if (is(method, "DELETE")) {
			gv_key key;
			int err;

			if (gv_key_parse(&key, r->arg) < 0)
				return send_error(c, r, "invalid_key", "%s",
				                  gv_error_last());
			if ((err = gv_delete(srv->st, &key)) < 0)
				return send_gv_error(c, r, err);
			return send_jsonv(c, r, MHD_HTTP_OK,
			                  json_pack("{s:s, s:b}", "key", r->arg, "deleted", 1));
		}
		return method_not_allowed(c, r, "GET, HEAD, DELETE");
	case R_REPLICAS: {
		gv_blob_status *bs = NULL;
		gv_key key;
		int err;

		if (!is(method, "GET"))
			return method_not_allowed(c, r, "GET");
		if (!r->arg[0] || gv_key_parse(&key, r->arg) < 0)
			return send_error(c, r, "invalid_key", "%s",
			                  gv_error_last());
		if ((err = gv_stat(&bs, srv->st, &key)) < 0)
			return send_gv_error(c, r, err);
		{
			gv_placement_opts p = gv_store_placement(srv->st);
			json_t *doc = gv_wire_blob_status(bs, &p);

			gv_blob_status_free(bs);
			return send_jsonv(c, r, MHD_HTTP_OK, doc);
		}
	}
	case R_SECTORS:
		if (is(method, "GET"))
			return sectors_get(srv, c, r);
		if (is(method, "POST"))
			return sectors_post(srv, c, r);
		return method_not_allowed(c, r, "GET, POST");
	case R_SECTOR:
		if (is(method, "PATCH"))
			return sector_patch(srv, c, r);
		return method_not_allowed(c, r, "PATCH");
	case R_REPAIR:
	case R_SCRUB:
	case R_REBALANCE:
		if (!is(method, "POST"))
			return method_not_allowed(c, r, "POST");
		return start_job(srv, c, r, r->route == R_REPAIR ? "repair"
		                            : r->route == R_SCRUB ? "scrub" : "rebalance",
		                 query_flag(c, "dry_run"), NULL);
	case R_JOB:
		if (!is(method, "GET"))
			return method_not_allowed(c, r, "GET");
		return job_get(srv, c, r);
	default:
		return send_error(c, r, "not_found", "no such endpoint");
	}
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	gv_server *srv = cls;
	req *r = *con_cls;
	double dt;
	size_t b;

	(void)c;
	(void)toe;
	if (!r)
		return;
	/* An upload that never reached its commit records nothing. */
	gv_put_abort(r->put);
	free(r->refusal);
	conn_idle(c);
	atomic_fetch_sub(&srv->inflight, 1);
	dt = now_s() - r->t0;
	pthread_mutex_lock(&srv->mu);
	if (r->status >= 100 && r->status < 600)
		srv->rs[r->route].by_class[r->status / 100]++;
	for (b = 0; b < NBUCKETS && dt > buckets[b]; b++)
		;
	srv->rs[r->route].hist[b]++;
	srv->rs[r->route].sum += dt;
	srv->rs[r->route].count++;
	pthread_mutex_unlock(&srv->mu);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

int gv_server_set_token(gv_server *srv, const char *token)
{
	char *t = NULL;

	if (token && *token && !(t = strdup(token)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_lock(&srv->mu);
	free(srv->token);
	srv->token = t;
	pthread_mutex_unlock(&srv->mu);
	return 0;
}

unsigned gv_server_port(const gv_server *srv)
{
	return srv->port;
}

/* libmicrohttpd's own error lines go to the log, never to raw stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], line[600];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	snprintf(line, sizeof(line), "event=http_daemon_error message=\"%s\"", msg);
	gv_log_message(GV_LOG_WARN, line);
}

int gv_server_start(gv_server **out, gv_store *st, const gv_server_opts *o)
{
	struct sockaddr_storage ss;
	struct addrinfo hints, *ai = NULL;
	char portstr[16];
	const char *host;
	gv_server *srv;
	const union MHD_DaemonInfo *info;
	int rc;

	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->cmu, NULL);
	pthread_cond_init(&srv->ccv, NULL);
	srv->st = st;
	srv->grace_ms = o && o->shutdown_grace_ms ? o->shutdown_grace_ms : 10000;
	srv->header_timeout_ms =
		(long long)(o && o->header_timeout_ms ? o->header_timeout_ms : 10000);
	srv->max_body = o && o->max_body_size ? o->max_body_size : (10ull << 30);
	srv->repair = o && o->repair ? *o->repair : (gv_repair_opts)GV_REPAIR_OPTS_INIT;
	srv->scrub = o && o->scrub ? *o->scrub : (gv_scrub_opts)GV_SCRUB_OPTS_INIT;
	srv->rebalance = o && o->rebalance ? *o->rebalance : (gv_rebalance_opts)GV_REBALANCE_OPTS_INIT;
	/* Jobs report through their own callbacks and stop with the server. */
	srv->repair.on_progress = NULL;
	srv->scrub.on_progress = NULL;
	srv->scrub.skip_verified_within_ms = 0;
	if (o && o->auth_token && *o->auth_token && gv_server_set_token(srv, o->auth_token) < 0)
		goto fail_nomem;

	host = o && o->host && *o->host ? o->host : "127.0.0.1";
	snprintf(portstr, sizeof(portstr), "%u", o ? o->port : 0);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0 || !ai) {
		gv_error_set(GV_EINVAL, "cannot resolve listen address %s: %s", host, gai_strerror(rc));
		goto fail;
	}
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	/* poll(), not select(): descriptors past FD_SETSIZE (1024) work.  ITC
	 * lets gv_server_stop quiesce the listening thread. */
	srv->d = MHD_start_daemon(
		MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o && o->max_connections ? o->max_connections : 1024),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(o && o->max_connections_per_address ? o->max_connections_per_address : 128),
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)((o && o->idle_timeout_ms ? o->idle_timeout_ms : 60000) / 1000 ?
		                   (o && o->idle_timeout_ms ? o->idle_timeout_ms : 60000) / 1000 : 1),
		/* Bounds what a client's headers may take (header floods). */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		/* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it adds SO_REUSEPORT,
		 * letting a second server bind the same port and silently take
		 * half the connections.  MHD's default SO_REUSEADDR is enough
		 * for a quick restart. */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_END);
	freeaddrinfo(ai);
	ai = NULL;
	if (!srv->d) {
		gv_error_set_errno(GV_EIO, errno, "cannot listen on %s:%u", host, o ? o->port : 0);
		goto fail;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : (o ? o->port : 0);
	if (pthread_create(&srv->wd, NULL, watchdog_main, srv) != 0) {
		MHD_stop_daemon(srv->d);
		gv_error_set(GV_ERROR, "cannot start the connection watchdog");
		goto fail;
	}
	srv->wd_running = 1;
	*out = srv;
	return 0;

fail_nomem:
	gv_error_set(GV_ENOMEM, "out of memory");
fail:
	if (ai)
		freeaddrinfo(ai);
	free(srv->token);
	pthread_cond_destroy(&srv->ccv);
	pthread_mutex_destroy(&srv->cmu);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	return GV_EIO;
}

void gv_server_stop(gv_server *srv)
{
	long long deadline;
	MHD_socket lfd;
	size_t i;

	if (!srv)
		return;
	/* No new connections (the listening socket closes now); requests in
	 * flight get the grace to finish, responses included; running jobs
	 * see `stopping` at their next safe point; MHD_stop_daemon then closes
	 * what is left and waits for the connection threads, so every put
	 * either committed (quorum recorded) or aborted (nothing). */
	lfd = MHD_quiesce_daemon(srv->d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	srv->stopping = 1;
	deadline = now_ms() + (long long)srv->grace_ms;
	while (atomic_load(&srv->inflight) > 0 && now_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(srv->d);
	pthread_mutex_lock(&srv->cmu);
	srv->wd_stop = 1;
	pthread_cond_signal(&srv->ccv);
	pthread_mutex_unlock(&srv->cmu);
	if (srv->wd_running)
		pthread_join(srv->wd, NULL);
	for (i = 0; i < MAX_JOBS; i++) {
		if (srv->jobs[i]) {
			if (srv->jobs[i]->running_thread)
				pthread_join(srv->jobs[i]->tid, NULL);
			job_free(srv->jobs[i]);
		}
	}
	free(srv->token);
	pthread_cond_destroy(&srv->ccv);
	pthread_mutex_destroy(&srv->cmu);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}
