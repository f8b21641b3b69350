/*
 * http_int.h - what the files of the HTTP server share (private to
 * src/server/): the server and request structs and the helpers each file
 * offers the others.
 *
 *   http.c           routing, authentication, the request handler,
 *                    connections (the header watchdog), lifecycle
 *   http_reply.c     responses: JSON documents and errors (graviton/wire.h)
 *   http_blobs.c     PUT, GET, HEAD, DELETE of blobs (streaming, Range),
 *                    GET /v1/blobs/{key}/replicas
 *   http_jobs.c      repair, scrub, rebalance, drain and gc jobs
 *   http_sectors.c   GET, POST /v1/sectors, PATCH, DELETE /v1/sectors/{id}
 *   http_metrics.c   status, readiness, request metrics and GET /metrics
 *   http_node.c      the sector protocol under /v1/node/ (docs/sector-protocol.md)
 *   http_dash.c      the dashboard: its page, GET /v1/dashboard, the sampler
 *
 * Threads: MHD runs a thread per connection, so a handler may block.
 * `mu` guards the tokens, the jobs list and the request metrics; `cmu` the
 * list of connections the watchdog scans.
 */
#ifndef GV_SERVER_HTTP_INT_H
#define GV_SERVER_HTTP_INT_H

#include <stdatomic.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>
#include <microhttpd.h>

#include "graviton/server.h"
#include "server/wire_json.h"

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
	R_SECTORS, R_SECTOR, R_REPAIR, R_REPAIR_QUEUE, R_SCRUB, R_PRESENCE, R_REBALANCE, R_GC, R_JOB, R_NODE,
	R_JOBS, R_DASHBOARD, R_ASSET,
	R_COUNT
};

/* Latency histogram buckets (seconds), in http_metrics.c. */
#define NBUCKETS 14

/* Request methods counted apart (the rest are M_OTHER). */
enum method { M_OTHER, M_GET, M_HEAD, M_PUT, M_POST, M_DELETE, M_PATCH, M_COUNT };

enum method gv_http_method_of(const char *method);

/* (method, status) pairs counted per route; a route answers a handful.
 * Pairs beyond the table count in its last entry as method OTHER, code 0. */
#define NCODES 32

typedef struct route_stats {
	uint64_t by_class[6];          /* 1xx..5xx by status / 100; [0] unused */
	struct {
		uint8_t method;        /* enum method */
		uint16_t code;         /* the status sent; 0: the overflow */
		uint64_t n;
	} codes[NCODES];
	size_t ncodes;
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
	/* Progress (under srv->mu): bytes and items done of the totals the
	 * job's survey found, from its start (monotonic seconds). */
	uint64_t bytes_done, bytes_total, items_done, items_total;
	double t0;
	int64_t started_ms, finished_ms; /* wall clock; finished 0 while running */
} job;

/* ---- the dashboard (http_dash.c) -------------------------------------------- */

#define DASH_HISTORY 360        /* an hour of 10 s samples */
#define DASH_EVENTS 100
#define DASH_SECTORS_SEEN 1024

typedef struct dash_state {
	pthread_t tid;
	int inited, running;
	pthread_mutex_t mu;         /* guards stop, rescan; the sampler's wake-ups */
	pthread_cond_t cv;
	int stop, rescan;
	uint64_t interval_ms;       /* history samples and cluster scans */
	/* The sampler's own (no lock). */
	gv_store_stats stats;
	int have_stats;
	int64_t stats_ms;
	double scan_ms;
	uint64_t prev[5];
	long long prev_mono;
	struct { char id[GV_ID_MAX]; int healthy; gv_sector_state state; } seen[DASH_SECTORS_SEEN];
	size_t nseen;
	int seen_once;
	/* Under the server's mu. */
	char *cached;               /* {cluster, sectors} */
	char *queue;                /* the repair queue's head */
	gv_wire_sample hist[DASH_HISTORY];
	size_t hn, hhead;
	gv_wire_event ev[DASH_EVENTS];
	size_t en, ehead;
} dash_state;

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
	gv_gc_opts gc;

	pthread_mutex_t mu;
	char *token;
	char *ro_token;          /* NULL: no read-only token */
	char *node_token;        /* NULL: the node protocol is off */
	int readyz_auth;         /* /readyz needs a token */
	int tls;                 /* the listener speaks HTTPS */
	char *tls_cert, *tls_key; /* PEM, for MHD (kept while it runs) */
	dash_state dash;
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
	enum method method;
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
	struct node_req *node;  /* a node protocol request (http_node.c) */
	int read_only;          /* authenticated with the read-only token */
	int asset;              /* R_ASSET: which of the dashboard's files */
} req;

/* ---- clocks (http.c) ------------------------------------------------------ */

double gv_http_now_s(void);
long long gv_http_now_ms(void);
/* The wall clock in unix milliseconds. */
int64_t gv_http_wall_ms(void);

/* ---- responses (http_reply.c) --------------------------------------------- */

enum MHD_Result gv_http_send_buf(struct MHD_Connection *c, req *r, int status, const char *type,
                                char *body, size_t len);
enum MHD_Result gv_http_send_json(struct MHD_Connection *c, req *r, int status, char *json);
enum MHD_Result gv_http_send_jsonv(struct MHD_Connection *c, req *r, int status, json_t *o);
enum MHD_Result gv_http_send_error(struct MHD_Connection *c, req *r, const char *name,
                                  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
enum MHD_Result gv_http_send_gv_error(struct MHD_Connection *c, req *r, int err);
enum MHD_Result gv_http_send_error_headers(struct MHD_Connection *c, req *r,
                                          const gv_wire_error *e, const char *msg,
                                          const char *header, const char *value);
void gv_http_refuse_upload(req *r, const gv_wire_error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void gv_http_refuse_upload_gv(req *r, int err);

/* ---- handlers --------------------------------------------------------------- */

enum MHD_Result gv_http_blob_get(gv_server *srv, struct MHD_Connection *c, req *r, int head);
/* PUT /v1/blobs: open the put when the headers are in (refusing an
 * announced body over max-body-size), write each piece of the body
 * (refusing the upload, see gv_http_refuse_upload, when it fails), commit. */
enum MHD_Result gv_http_blob_put_open(gv_server *srv, struct MHD_Connection *c, req *r);
void gv_http_blob_put_write(gv_server *srv, req *r, const char *data, size_t n);
enum MHD_Result gv_http_blob_put_finish(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_blobs_list(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_blob_delete(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_replicas_get(gv_server *srv, struct MHD_Connection *c, req *r);
/* The request's Content-Length when it is a plain number: 1 and *out. */
int gv_http_content_length(struct MHD_Connection *c, uint64_t *out);
/* Two different Content-Length headers (request smuggling): 1 (http.c). */
int gv_http_content_length_conflict(struct MHD_Connection *c);
enum MHD_Result gv_http_start_job(gv_server *srv, struct MHD_Connection *c, req *r,
                                 const char *kind, int dry_run, const char *sector);
enum MHD_Result gv_http_job_get(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_jobs_get(gv_server *srv, struct MHD_Connection *c, req *r);
/* The recent jobs, newest first (GET /v1/jobs entries); a running job's
 * progress (under mu). */
json_t *gv_http_jobs_brief(gv_server *srv);
json_t *gv_http_job_progress(const job *j);
/* The job log: ids and finished jobs from an earlier run (at start). */
void gv_http_jobs_load(gv_server *srv);

/* The dashboard (http_dash.c): the index of a file of the page for a URL
 * (-1: none); send it; the sampler; an event for the page's list; a
 * request for fresh figures; GET /v1/dashboard. */
int gv_http_dash_asset(const char *url);
enum MHD_Result gv_http_dash_asset_get(struct MHD_Connection *c, req *r, int head);
int gv_http_dash_start(gv_server *srv, uint64_t interval_ms);
void gv_http_dash_stop(gv_server *srv);
void gv_http_dash_event(gv_server *srv, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void gv_http_dash_poke(gv_server *srv);
enum MHD_Result gv_http_dashboard_get(gv_server *srv, struct MHD_Connection *c, req *r);
void gv_http_job_free(job *j);
enum MHD_Result gv_http_sectors_get(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_sectors_post(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_sector_patch(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_sector_delete(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_status_get(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_repair_queue_get(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_readyz(gv_server *srv, struct MHD_Connection *c, req *r);
enum MHD_Result gv_http_metrics_get(gv_server *srv, struct MHD_Connection *c, req *r);

/* Range header for a blob of `size` bytes into [start, end): 0 ok, 1
 * ignore (the whole blob), -1 malformed, -2 unsatisfiable (http_blobs.c). */
int gv_http_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end);

/* The node protocol (http_node.c).  begin runs on the request's headers
 * (authentication, path, opening an upload) and may answer at once;
 * write takes body pieces; finish answers; free (NULL ok) drops what an
 * unfinished request holds, committing nothing. */
enum MHD_Result gv_http_node_begin(gv_server *srv, struct MHD_Connection *c, req *r,
                                  const char *url, const char *method);
void gv_http_node_write(req *r, const char *data, size_t n);
enum MHD_Result gv_http_node_finish(gv_server *srv, struct MHD_Connection *c, req *r,
                                   const char *method);
void gv_http_node_free(struct node_req *n);
/* Drop the uploads the server's node protocol still keeps (at its stop). */
void gv_http_node_stop(gv_server *srv);

/* Count a finished request: its status class and latency (http_metrics.c). */
void gv_http_record(gv_server *srv, const req *r, double seconds);

/* A query flag (?name, ?name=1, ?name=true) is set (http.c). */
int gv_http_query_flag(struct MHD_Connection *c, const char *name);

/* An Authorization header carries "Bearer <token>" (constant time over the
 * token's length; http.c). */
int gv_http_bearer_ok(const char *header, const char *token);

/* MHD's error lines as warnings of event cls (a string) (http.c). */
void gv_http_mhd_log(void *cls, const char *fmt, va_list ap);
struct sockaddr_storage;
/* A listen address (host, port) for MHD_OPTION_SOCK_ADDR; *v6 when IPv6.
 * GV_EINVAL when it cannot be resolved. */
int gv_http_resolve(struct sockaddr_storage *ss, int *v6, const char *host, unsigned port);

/* ---- connections (http.c) ----------------------------------------------------- */

void gv_http_conn_headers_done(struct MHD_Connection *c);
void gv_http_conn_idle(struct MHD_Connection *c);

#endif
