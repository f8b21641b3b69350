/*
 * graviton/server.h - the HTTP API over a store (its JSON documents and
 * error table are in graviton/wire.h; docs/http-api.md lists them).
 *
 * Endpoints (JSON errors {error, message, status, exit_code}):
 *   PUT    /v1/blobs                  body = bytes -> 201 {key, size, replicas, replica_count, quorum_met, existed}
 *   GET    /v1/blobs/{key}            bytes; Range: bytes=... -> 206 / 416
 *   HEAD   /v1/blobs/{key}
 *   DELETE /v1/blobs/{key}            removes every replica
 *   GET    /v1/blobs/{key}/replicas   replication status (as `stat --json`)
 *   GET    /v1/sectors, POST /v1/sectors, PATCH /v1/sectors/{id}
 *   POST   /v1/repair|scrub|rebalance[?dry_run=1] -> 202 {job}; GET /v1/jobs/{id}
 *   POST   /v1/scrub/presence         the presence audit, as a job of kind "presence"
 *   GET    /v1/jobs                   the recent jobs, newest first
 *   GET    /v1/status, /healthz, /readyz, /metrics
 *   GET    /v1/dashboard              the dashboard's document (docs/dashboard.md)
 *   GET    / and /dashboard/FILE      the dashboard's page (no token needed)
 * With an auth token set, every request but /healthz, /metrics, /readyz
 * (unless readyz_auth) and the page's files needs
 * "Authorization: Bearer <token>" (compared in constant time); the
 * read-only token opens GET and HEAD only.
 */
#ifndef GRAVITON_SERVER_H
#define GRAVITON_SERVER_H

#include <stdint.h>
#include "graviton.h"
#include "namespace.h"
#include "wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_server gv_server;

#define GV_SERVER_OPTS_VERSION 1

typedef struct gv_server_opts {
	unsigned version;
	const char *host;          /* NULL: 127.0.0.1 */
	unsigned port;             /* 0: any free port (see gv_server_port) */
	const char *auth_token;    /* NULL or "": no authentication */
	uint64_t max_body_size;    /* 0: 10 GiB */
	unsigned max_connections;  /* 0: 1024 */
	uint64_t idle_timeout_ms;  /* 0: 60 s */
	/* What POST /v1/repair|scrub|rebalance jobs start from (NULL: the
	 * library defaults); callbacks and cancel are the server's own. */
	const gv_repair_opts *repair;
	const gv_scrub_opts *scrub;
	const gv_rebalance_opts *rebalance;
	/* Connections from one client address at most (0: 128); more are
	 * closed at accept. */
	unsigned max_connections_per_address;
	/* A connection must deliver a request's complete headers within this
	 * time of opening or of the end of its previous response, else it is
	 * closed (0: 10 s).  So an idle keep-alive connection lasts this long. */
	uint64_t header_timeout_ms;
	/* gv_server_stop waits this long for requests in flight (0: 10 s). */
	uint64_t shutdown_grace_ms;
	/* The node token: requests under /v1/node/ (the sector protocol,
	 * docs/sector-protocol.md) need it, and it opens nothing else; NULL
	 * or "": the node protocol is off (404). */
	const char *node_token;
	/* What POST /v1/gc jobs run with (NULL: GV_GC_OPTS_INIT). */
	const gv_gc_opts *gc;
	/* A second token that may read everything (GET, HEAD) and change
	 * nothing: other methods answer 403 "forbidden".  NULL or "": none. */
	const char *read_only_token;
	/* 1: /readyz needs a token like the API; 0: open for probes. */
	int readyz_auth;
	/* HTTPS: PEM certificate (chain) and private key files; both NULL or
	 * "" for plain HTTP.  Unreadable, malformed or mismatched files fail
	 * the start with the file and the reason. */
	const char *tls_cert;
	const char *tls_key;
	/* The dashboard's history samples and cluster figures (0: 10 s). */
	uint64_t dashboard_interval_ms;
} gv_server_opts;

#define GV_SERVER_OPTS_INIT \
	{ GV_SERVER_OPTS_VERSION, NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0, 0, NULL, \
	  NULL, NULL, 0, NULL, NULL, 0 }

/* Start serving `store` (borrowed: it must outlive the server). */
GV_API int gv_server_start(gv_server **out, gv_store *store, const gv_server_opts *opts);

/* The port actually bound. */
GV_API unsigned gv_server_port(const gv_server *srv);

/* Replace the auth token (SIGHUP reload); NULL or "" turns auth off. */
GV_API int gv_server_set_token(gv_server *srv, const char *token);
/* Replace the read-only token; NULL or "" removes it. */
GV_API int gv_server_set_read_only_token(gv_server *srv, const char *token);
/* Replace the node token; NULL or "" turns the node protocol off. */
GV_API int gv_server_set_node_token(gv_server *srv, const char *token);

/*
 * Stop: stop accepting, let requests in flight finish (for at most
 * shutdown_grace_ms; then their connections are closed, and uploads not yet
 * committed are aborted, recording nothing), wait for running jobs to reach
 * a safe point, free the server.  NULL ok.
 */
GV_API void gv_server_stop(gv_server *srv);

#ifdef __cplusplus
}
#endif
#endif
