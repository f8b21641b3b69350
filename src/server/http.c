/*
 * http.c - the HTTP API on libmicrohttpd: routing, authentication, the
 * request handler, connections and lifecycle.  The handlers live in
 * http_blobs.c, http_jobs.c, http_sectors.c and http_metrics.c, the
 * responses in http_reply.c (map and locks: http_int.h).
 *
 *   on_request()     a request's life: request_begin (authentication,
 *                    refusals before the body, opening a blob's upload),
 *                    request_body (pieces pushed into the upload, or JSON
 *                    bodies gathered up to BODY_MAX), request_refused,
 *                    dispatch (the route's handler for the method)
 *   connections      a watchdog closes connections whose request headers
 *                    are not complete within header_timeout of their
 *                    opening or of their previous response (slow-header
 *                    floods); MHD caps connections per client address
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
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server/http_int.h"

double gv_http_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long gv_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gv_http_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	if (strcmp(url, "/v1/repair/queue") == 0)
		return R_REPAIR_QUEUE;
	if (strcmp(url, "/v1/scrub") == 0)
		return R_SCRUB;
	if (strcmp(url, "/v1/scrub/presence") == 0)
		return R_PRESENCE;
	if (strcmp(url, "/v1/rebalance") == 0)
		return R_REBALANCE;
	if (strcmp(url, "/v1/gc") == 0)
		return R_GC;
	if (match_arg(url, "/v1/jobs/", NULL, arg, cap))
		return R_JOB;
	if (strcmp(url, "/v1/jobs") == 0)
		return R_JOBS;
	if (strcmp(url, "/v1/dashboard") == 0)
		return R_DASHBOARD;
	if (strncmp(url, "/v1/node/", 9) == 0)
		return R_NODE;
	return R_UNKNOWN;
}

int gv_http_bearer_ok(const char *h, const char *token)
{
	size_t tl, hl;

	/* The scheme is case-insensitive (RFC 9110 11.1). */
	if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return 0;
	for (h += 6; *h == ' ' || *h == '\t'; h++)
		;
	tl = strlen(token);
	hl = strlen(h);
	/* Constant time over the token's length. */
	return hl == tl && CRYPTO_memcmp(h, token, tl) == 0;
}

/* 1: the admin token (or none is needed), 2: the read-only token, 0:
 * neither.  Both are compared, so the time says nothing of which. */
static int authorized(gv_server *srv, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	int admin, ro;

	pthread_mutex_lock(&srv->mu);
	admin = !srv->token || gv_http_bearer_ok(h, srv->token);
	ro = srv->ro_token && gv_http_bearer_ok(h, srv->ro_token);
	pthread_mutex_unlock(&srv->mu);
	return admin ? 1 : ro ? 2 : 0;
}

int gv_http_query_flag(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || *v == '\0');
}

/* ---- connections ------------------------------------------------------------ */

static conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The request's headers are in: the header deadline no longer applies. */
void gv_http_conn_headers_done(struct MHD_Connection *c)
{
	conn *cn = conn_of(c);

	if (cn)
		atomic_store(&cn->waiting, 0);
}

/* A response ended: the next request's headers are due within the deadline. */
void gv_http_conn_idle(struct MHD_Connection *c)
{
	conn *cn = conn_of(c);

	if (cn) {
		atomic_store(&cn->since_ms, gv_http_now_ms());
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
		atomic_init(&cn->since_ms, gv_http_now_ms());
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
		long long now = gv_http_now_ms();

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
int gv_http_content_length_conflict(struct MHD_Connection *c)
{
	cl_scan sc = { NULL, 0 };

	MHD_get_connection_values(c, MHD_HEADER_KIND, cl_header, &sc);
	return sc.conflict;
}

/* ---- the request handler --------------------------------------------------- */

static enum MHD_Result method_not_allowed(struct MHD_Connection *c, req *r, const char *allow)
{
	return gv_http_send_error_headers(c, r, gv_wire_error_named("method_not_allowed"),
	                          "method not allowed", "Allow", allow);
}

static int is(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/*
 * The request's headers are in: refuse what can be refused before its
 * body (conflicting lengths, no token, an announced body too large) and
 * open the upload of a blob.  A refusal is queued now, while MHD can still
 * send it.
 */
static enum MHD_Result request_begin(gv_server *srv, struct MHD_Connection *c, req *r,
                                     const char *url, const char *method)
{
	uint64_t n;

	if (gv_http_content_length_conflict(c)) {
		r->started = 1;
		return gv_http_send_error(c, r, "invalid", "conflicting Content-Length headers");
	}
	/* The node protocol has its own token and bodies. */
	if (r->route == R_NODE)
		return gv_http_node_begin(srv, c, r, url, method);
	if (r->route != R_HEALTHZ && r->route != R_METRICS && r->route != R_ASSET &&
	    (r->route != R_READYZ || srv->readyz_auth)) {
		int who = authorized(srv, c);

		if (!who) {
			r->started = 1;
			return gv_http_send_error(
				c, r, "unauthorized",
				"a valid 'Authorization: Bearer <token>' header is required");
		}
		r->read_only = who == 2;
		/* The read-only token reads; anything else would change state. */
		if (r->read_only && !is(method, "GET") && !is(method, "HEAD")) {
			r->started = 1;
			return gv_http_send_error(c, r, "forbidden",
			                          "the read-only token cannot %s %s", method, url);
		}
	}
	if (r->route == R_BLOBS && (is(method, "PUT") || is(method, "POST")))
		return gv_http_blob_put_open(srv, c, r);
	/* JSON bodies: MHD cannot queue a response in the middle of an
	 * upload (it closes the connection), so an oversize one is refused
	 * now. */
	if (gv_http_content_length(c, &n) && n > BODY_MAX) {
		r->started = 1;
		return gv_http_send_error(c, r, "too_large", "request body over %d bytes", BODY_MAX);
	}
	return MHD_YES;
}

/* A piece of the body: into the blob's upload, or gathered (up to
 * BODY_MAX) as a JSON body.  MHD_NO only when out of memory. */
static enum MHD_Result request_body(gv_server *srv, req *r, const char *data, size_t n)
{
	char *nb;

	pthread_mutex_lock(&srv->mu);
	srv->rs[r->route].bytes_in += n;
	pthread_mutex_unlock(&srv->mu);
	if (r->put) {
		gv_http_blob_put_write(srv, r, data, n);
		return MHD_YES;
	}
	if (r->node) {
		gv_http_node_write(r, data, n);
		return MHD_YES;
	}
	if (r->body_len + n > BODY_MAX) {
		gv_http_refuse_upload(r, gv_wire_error_named("too_large"),
		                      "request body over %d bytes", BODY_MAX);
		return MHD_YES;
	}
	if (!(nb = realloc(r->body, r->body_len + n + 1)))
		return MHD_NO;
	r->body = nb;
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return MHD_YES;
}

/* A refused upload: read and drop the rest of its body (up to DISCARD_MAX),
 * then answer the refusal. */
static enum MHD_Result request_refused(struct MHD_Connection *c, req *r,
                                       size_t *upload_data_size)
{
	char *js;

	if (*upload_data_size > 0) {
		r->discarded += *upload_data_size;
		*upload_data_size = 0;
		return r->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	r->started = 1;
	js = r->refusal;
	r->refusal = NULL;
	return gv_http_send_json(c, r, r->refusal_status, js);
}

/* The whole request is in: the route's handler for its method. */
static enum MHD_Result dispatch(gv_server *srv, struct MHD_Connection *c, req *r,
                                const char *method)
{
	int get = is(method, "GET"), head = is(method, "HEAD");

	switch (r->route) {
	case R_HEALTHZ:
		if (!get && !head)
			return method_not_allowed(c, r, "GET, HEAD");
		return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
	case R_READYZ:
		return gv_http_readyz(srv, c, r);
	case R_METRICS:
		if (!get && !head)
			return method_not_allowed(c, r, "GET, HEAD");
		return gv_http_metrics_get(srv, c, r);
	case R_STATUS:
		return get ? gv_http_status_get(srv, c, r) : method_not_allowed(c, r, "GET");
	case R_BLOBS:
		if (r->put)
			return gv_http_blob_put_finish(srv, c, r);
		if (get)
			return gv_http_blobs_list(srv, c, r);
		return method_not_allowed(c, r, "GET, PUT, POST");
	case R_BLOB:
		if (!r->arg[0])
			return gv_http_send_error(c, r, "invalid_key", "key too long");
		if (get || head)
			return gv_http_blob_get(srv, c, r, head);
		if (is(method, "DELETE"))
			return gv_http_blob_delete(srv, c, r);
		return method_not_allowed(c, r, "GET, HEAD, DELETE");
	case R_REPLICAS:
		return get ? gv_http_replicas_get(srv, c, r) : method_not_allowed(c, r, "GET");
	case R_SECTORS:
		if (get)
			return gv_http_sectors_get(srv, c, r);
		if (is(method, "POST"))
			return gv_http_sectors_post(srv, c, r);
		return method_not_allowed(c, r, "GET, POST");
	case R_SECTOR:
		if (is(method, "PATCH"))
			return gv_http_sector_patch(srv, c, r);
		if (is(method, "DELETE"))
			return gv_http_sector_delete(srv, c, r);
		return method_not_allowed(c, r, "PATCH, DELETE");
	case R_REPAIR_QUEUE:
		if (!is(method, "GET"))
			return method_not_allowed(c, r, "GET");
		return gv_http_repair_queue_get(srv, c, r);
	case R_REPAIR:
	case R_SCRUB:
	case R_PRESENCE:
	case R_REBALANCE:
	case R_GC:
		if (!is(method, "POST"))
			return method_not_allowed(c, r, "POST");
		return gv_http_start_job(srv, c, r, r->route == R_REPAIR ? "repair"
		                            : r->route == R_SCRUB ? "scrub"
		                            : r->route == R_PRESENCE ? "presence"
		                            : r->route == R_GC ? "gc" : "rebalance",
		                 r->route == R_PRESENCE ? 0 : gv_http_query_flag(c, "dry_run"), NULL);
	case R_JOB:
		return get ? gv_http_job_get(srv, c, r) : method_not_allowed(c, r, "GET");
	case R_JOBS:
		return get ? gv_http_jobs_get(srv, c, r) : method_not_allowed(c, r, "GET");
	case R_DASHBOARD:
		return get ? gv_http_dashboard_get(srv, c, r) : method_not_allowed(c, r, "GET");
	case R_ASSET:
		if (!get && !head)
			return method_not_allowed(c, r, "GET, HEAD");
		return gv_http_dash_asset_get(c, r, head);
	case R_NODE:
		return gv_http_node_finish(srv, c, r, method);
	default:
		return gv_http_send_error(c, r, "not_found", "no such endpoint");
	}
}

/*
 * MHD calls this once when the headers are in, then with each piece of
 * the body, then once more with none: the request is complete.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	gv_server *srv = cls;
	req *r = *con_cls;
	size_t n;

	(void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		r->t0 = gv_http_now_s();
		*con_cls = r;
		atomic_fetch_add(&srv->inflight, 1);
		gv_http_conn_headers_done(c);
		r->route = route_of(url, r->arg, sizeof(r->arg));
		r->method = gv_http_method_of(method);
		if (r->route == R_UNKNOWN && (r->asset = gv_http_dash_asset(url)) >= 0)
			r->route = R_ASSET;
		return request_begin(srv, c, r, url, method);
	}
	if (r->started) {
		/* A response is queued already; drop the rest of the body. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->refusal)
		return request_refused(c, r, upload_data_size);
	if (*upload_data_size > 0) {
		n = *upload_data_size;
		*upload_data_size = 0;
		return request_body(srv, r, upload_data, n);
	}
	r->started = 1;
	return dispatch(srv, c, r, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	gv_server *srv = cls;
	req *r = *con_cls;

	(void)c;
	(void)toe;
	if (!r)
		return;
	/* An upload that never reached its commit records nothing. */
	gv_put_abort(r->put);
	gv_http_node_free(r->node);
	free(r->refusal);
	gv_http_conn_idle(c);
	atomic_fetch_sub(&srv->inflight, 1);
	/* A sector changed: fresh figures for the dashboard. */
	if (r->route == R_SECTOR && r->status / 100 == 2)
		gv_http_dash_poke(srv);
	gv_http_record(srv, r, gv_http_now_s() - r->t0);
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------ */

/* Tokens and the TLS key are wiped before they are freed. */
static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static int set_secret(gv_server *srv, char **slot, const char *token)
{
	char *t = NULL;

	if (token && *token && !(t = strdup(token)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_lock(&srv->mu);
	free_secret(*slot);
	*slot = t;
	pthread_mutex_unlock(&srv->mu);
	return 0;
}

int gv_server_set_token(gv_server *srv, const char *token)
{
	return set_secret(srv, &srv->token, token);
}

int gv_server_set_read_only_token(gv_server *srv, const char *token)
{
	return set_secret(srv, &srv->ro_token, token);
}

int gv_server_set_node_token(gv_server *srv, const char *token)
{
	return set_secret(srv, &srv->node_token, token);
}

unsigned gv_server_port(const gv_server *srv)
{
	return srv->port;
}

/* libmicrohttpd's own error lines go to the log, never to raw stderr;
 * cls: the event's name. */
void gv_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512], line[600];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	snprintf(line, sizeof(line), "event=%s message=\"%s\"", (const char *)cls, msg);
	gv_log_message(GV_LOG_WARN, line);
}

/* ---- TLS ---------------------------------------------------------------------- */

/* A whole PEM file into *out (malloc'd, NUL-terminated). */
static int read_pem(const char *what, const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	*out = NULL;
	if (!f)
		return gv_error_set_errno(GV_EINVAL, errno, "TLS %s %s", what, path);
	do {
		char *nb;

		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > (1u << 20) || !(nb = realloc(buf, cap))) {
				free(buf);
				fclose(f);
				return gv_error_set(GV_EINVAL, "TLS %s %s: over 1 MiB, not a PEM file",
				                    what, path);
			}
			buf = nb;
		}
		got = fread(buf + n, 1, 4096, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	return 0;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "no PEM block found";
}

/* Load and check the certificate and key: each parses, and they belong
 * together, so a bad file is named at start rather than by MHD's
 * handshake failures later. */
static int tls_load(gv_server *srv, const char *cert, const char *key)
{
	BIO *b;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	int err;

	if (!cert || !*cert || !key || !*key)
		return gv_error_set(GV_EINVAL, "TLS needs both a certificate and a key "
		                    "(graviton.server.tls.cert and .key)");
	if ((err = read_pem("certificate", cert, &srv->tls_cert)) < 0 ||
	    (err = read_pem("key", key, &srv->tls_key)) < 0)
		return err;
	ERR_clear_error();
	if ((b = BIO_new_mem_buf(srv->tls_cert, -1)))
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!x)
		return gv_error_set(GV_EINVAL, "TLS certificate %s: not a PEM certificate (%s)",
		                    cert, ssl_reason());
	if ((b = BIO_new_mem_buf(srv->tls_key, -1)))
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!k) {
		X509_free(x);
		return gv_error_set(GV_EINVAL, "TLS key %s: not an unencrypted PEM private key (%s)",
		                    key, ssl_reason());
	}
	err = X509_check_private_key(x, k) == 1 ? 0
	      : gv_error_set(GV_EINVAL, "TLS key %s does not match the certificate %s", key, cert);
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(k);
	if (err == 0 && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		err = gv_error_set(GV_EINVAL, "TLS: this libmicrohttpd was built without it");
	srv->tls = err == 0;
	return err;
}

int gv_http_resolve(struct sockaddr_storage *ss, int *v6, const char *host, unsigned port)
{
	struct addrinfo hints, *ai = NULL;
	char portstr[16];
	int rc;

	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0 || !ai) {
		if (ai)
			freeaddrinfo(ai);
		return gv_error_set(GV_EINVAL, "cannot resolve listen address %s: %s", host,
		                    gai_strerror(rc));
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

/* The MHD daemon listening on o's address (127.0.0.1 by default).  0, or
 * GV_EINVAL / GV_EIO with the reason set. */
static int server_listen(gv_server *srv, const gv_server_opts *o)
{
	struct sockaddr_storage ss;
	const char *host = o && o->host && *o->host ? o->host : "127.0.0.1";
	unsigned idle_s = (unsigned)((o && o->idle_timeout_ms ? o->idle_timeout_ms : 60000) / 1000);
	int v6, rc;

	if ((rc = gv_http_resolve(&ss, &v6, host, o ? o->port : 0)) < 0)
		return rc;
	/* poll(), not select(): descriptors past FD_SETSIZE (1024) work.  ITC
	 * lets gv_server_stop quiesce the listening thread. */
	srv->d = MHD_start_daemon(
		MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (srv->tls ? MHD_USE_TLS : 0),
		0, NULL, NULL, on_request, srv,
		/* First, so that MHD reports through it from the start. */
		MHD_OPTION_EXTERNAL_LOGGER, gv_http_mhd_log, "http_daemon_error",
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o && o->max_connections ? o->max_connections : 1024),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)(o && o->max_connections_per_address ? o->max_connections_per_address : 128),
		MHD_OPTION_CONNECTION_TIMEOUT, idle_s ? idle_s : 1,
		/* Bounds what a client's headers may take (header floods). */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		/* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it adds SO_REUSEPORT,
		 * letting a second server bind the same port and silently take
		 * half the connections.  MHD's default SO_REUSEADDR is enough
		 * for a quick restart. */
		/* Last: with TLS its certificate and key; without, the list
		 * ends here. */
		srv->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
		MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key,
		MHD_OPTION_END);
	if (!srv->d)
		return gv_error_set_errno(GV_EIO, errno, "cannot listen on %s:%u", host,
		                          o ? o->port : 0);
	return 0;
}

static void server_free_secrets(gv_server *srv)
{
	free_secret(srv->token);
	free_secret(srv->ro_token);
	free_secret(srv->node_token);
	free_secret(srv->tls_key);
	free(srv->tls_cert);
}

int gv_server_start(gv_server **out, gv_store *st, const gv_server_opts *o)
{
	gv_server *srv;
	const union MHD_DaemonInfo *info;
	int err;

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
	srv->gc = o && o->gc ? *o->gc : (gv_gc_opts)GV_GC_OPTS_INIT;
	/* Jobs report through their own callbacks and stop with the server. */
	srv->repair.on_progress = NULL;
	srv->scrub.on_progress = NULL;
	srv->scrub.skip_verified_within_ms = 0;
	srv->readyz_auth = o && o->readyz_auth;
	if ((o && o->auth_token && *o->auth_token && gv_server_set_token(srv, o->auth_token) < 0) ||
	    (o && o->read_only_token && *o->read_only_token &&
	     gv_server_set_read_only_token(srv, o->read_only_token) < 0) ||
	    (o && o->node_token && *o->node_token &&
	     gv_server_set_node_token(srv, o->node_token) < 0)) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto fail;
	}
	if (o && ((o->tls_cert && *o->tls_cert) || (o->tls_key && *o->tls_key)) &&
	    (err = tls_load(srv, o->tls_cert, o->tls_key)) < 0)
		goto fail;
	gv_http_jobs_load(srv);
	if ((err = gv_http_dash_start(srv, o ? o->dashboard_interval_ms : 0)) < 0 ||
	    (err = server_listen(srv, o)) < 0)
		goto fail;
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : (o ? o->port : 0);
	if (pthread_create(&srv->wd, NULL, watchdog_main, srv) != 0) {
		MHD_stop_daemon(srv->d);
		err = gv_error_set(GV_ERROR, "cannot start the connection watchdog");
		goto fail;
	}
	srv->wd_running = 1;
	*out = srv;
	return 0;

fail:
	gv_http_dash_stop(srv);
	for (size_t i = 0; i < MAX_JOBS; i++)
		gv_http_job_free(srv->jobs[i]);
	server_free_secrets(srv);
	pthread_cond_destroy(&srv->ccv);
	pthread_mutex_destroy(&srv->cmu);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	return err;
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
	deadline = gv_http_now_ms() + (long long)srv->grace_ms;
	while (atomic_load(&srv->inflight) > 0 && gv_http_now_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(srv->d);
	gv_http_node_stop(srv);
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
			gv_http_job_free(srv->jobs[i]);
		}
	}
	gv_http_dash_stop(srv);
	server_free_secrets(srv);
	pthread_cond_destroy(&srv->ccv);
	pthread_mutex_destroy(&srv->cmu);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}
