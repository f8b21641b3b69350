/*
 * graviton/s3.h - the S3-compatible front door over a store's namespace
 * (graviton/namespace.h), on a listener of its own (docs/s3.md).
 *
 * Requests are authenticated with AWS Signature Version 4 (Authorization
 * header or presigned query; payloads unsigned, hashed or aws-chunked);
 * anonymous requests are refused.  Buckets are addressed path-style
 * (http://HOST/BUCKET/KEY) or virtual-host-style (http://BUCKET.DOMAIN/KEY).
 */
#ifndef GRAVITON_S3_H
#define GRAVITON_S3_H

#include <stddef.h>
#include <stdint.h>
#include "graviton.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_s3_server gv_s3_server;

/* An access key.  buckets: the names the key may use ("*": every one). */
typedef struct gv_s3_key {
	const char *access_key;
	const char *secret_key;
	const char *const *buckets;
	size_t nbuckets;
	int read_only;            /* reads and listings only */
} gv_s3_key;

#define GV_S3_OPTS_VERSION 1

typedef struct gv_s3_opts {
	unsigned version;
	const char *host;         /* NULL: 127.0.0.1 */
	unsigned port;            /* 0: any free port (gv_s3_port) */
	const char *region;       /* NULL: "us-east-1" */
	/* Virtual-host-style requests name a bucket as BUCKET.DOMAIN in Host;
	 * NULL: "localhost". */
	const char *domain;
	const gv_s3_key *keys;    /* copied */
	size_t nkeys;
	unsigned max_connections; /* 0: 1024 */
	uint64_t idle_timeout_ms; /* 0: 60 s */
} gv_s3_opts;

#define GV_S3_OPTS_INIT { GV_S3_OPTS_VERSION, NULL, 0, NULL, NULL, NULL, 0, 0, 0 }

/* Start serving (store borrowed: it must outlive the server).  GV_EINVAL
 * for a bad address, GV_EIO when the address cannot be bound. */
GV_API int gv_s3_start(gv_s3_server **out, gv_store *store, const gv_s3_opts *opts);
/* The port actually bound. */
GV_API unsigned gv_s3_port(const gv_s3_server *srv);
/* Replace the access keys (a reload); requests already authenticated keep going. */
GV_API int gv_s3_set_keys(gv_s3_server *srv, const gv_s3_key *keys, size_t nkeys);
/* Stop accepting, close connections, free (NULL ok).  Uploads that did
 * not complete record nothing. */
GV_API void gv_s3_stop(gv_s3_server *srv);

#ifdef __cplusplus
}
#endif
#endif
