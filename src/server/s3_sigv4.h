/*
 * s3_sigv4.h - AWS Signature Version 4 as a server checks it (private to
 * src/server/).
 *
 * No C library verifies SigV4 on the server side (the AWS C SDK and
 * libcurl only sign), so this is written by hand on OpenSSL's HMAC-SHA256
 * and SHA-256, after AWS's description of the algorithm:
 *
 *   gv_s3_auth_parse      the request's credential, date, scope, signed
 *                         headers, signature and payload mode, from the
 *                         Authorization header or a presigned query
 *   gv_s3_auth_verify     the signature recomputed with the key's secret
 *                         (canonical request, string to sign, signing key),
 *                         compared in constant time; the clock skew (header
 *                         form) or expiry (presigned form) checked
 *   gv_s3_chunked_*       an aws-chunked body (STREAMING-AWS4-HMAC-SHA256-
 *                         PAYLOAD) decoded while it streams, each chunk's
 *                         signature checked against the previous one
 *
 * Every field parsed out of a request is bounded; nothing grows with the
 * input but the canonical request (bounded by what the HTTP server accepts
 * as a request line and headers).
 */
#ifndef GV_SERVER_S3_SIGV4_H
#define GV_SERVER_S3_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GV_S3_AK_MAX 128
#define GV_S3_SIGNED_MAX 1024
#define GV_S3_SKEW_S (15 * 60)
#define GV_S3_PRESIGN_MAX_S (7 * 24 * 3600)

/* The S3 error a check ends with (s3_errors in s3.c gives code and status). */
typedef enum gv_s3_err {
	S3_OK = 0,
	S3_ACCESS_DENIED,
	S3_INVALID_ACCESS_KEY,
	S3_SIGNATURE_MISMATCH,
	S3_AUTH_MALFORMED,          /* AuthorizationHeaderMalformed */
	S3_AUTH_QUERY_MALFORMED,    /* AuthorizationQueryParametersError */
	S3_SKEWED,                  /* RequestTimeTooSkewed */
	S3_EXPIRED,                 /* AccessDenied: Request has expired */
	S3_CONTENT_SHA_MISMATCH,    /* XAmzContentSHA256Mismatch */
	S3_BAD_DIGEST,              /* BadDigest (Content-MD5) */
	S3_INVALID_DIGEST,          /* InvalidDigest */
	S3_INCOMPLETE_BODY,         /* IncompleteBody */
	S3_INVALID_REQUEST,
	S3_INVALID_ARGUMENT,
	S3_NOT_IMPLEMENTED,
	S3_ERR_COUNT
} gv_s3_err;

/* A growable text with a bound (max bytes; 0: none); bad once it could
 * not grow (canonical requests, XML documents). */
typedef struct s3buf {
	char *p;
	size_t n, cap, max;
	int bad;
} s3buf;

void s3buf_init(s3buf *b, size_t max);
void s3buf_add(s3buf *b, const char *s, size_t n);
void s3buf_puts(s3buf *b, const char *s);

typedef struct gv_s3_hdr {
	const char *name;
	const char *value;
} gv_s3_hdr;

enum gv_s3_payload { S3_PAYLOAD_UNSIGNED, S3_PAYLOAD_HEX, S3_PAYLOAD_STREAMING };

typedef struct gv_s3_auth {
	int presigned;
	char access_key[GV_S3_AK_MAX];
	char date[17];                 /* yyyymmddThhmmssZ */
	char scope[160];               /* yyyymmdd/region/s3/aws4_request */
	char region[64];
	char signed_headers[GV_S3_SIGNED_MAX];
	char signature[65];
	long long expires;             /* presigned: X-Amz-Expires */
	enum gv_s3_payload payload;
	char payload_hash[65];         /* S3_PAYLOAD_HEX: the digest the body must have */
	uint8_t signing_key[32];       /* set by gv_s3_auth_verify */
} gv_s3_auth;

/*
 * Parse the authentication of a request: `raw_path` and `raw_query` as
 * sent (percent-encoded; query without '?', "" when none), h the headers.
 * S3_OK, S3_ACCESS_DENIED when the request carries none (anonymous), or
 * the malformation; msg says what (bounded).
 */
gv_s3_err gv_s3_auth_parse(gv_s3_auth *out, const char *raw_query, const gv_s3_hdr *h, size_t nh,
                           char *msg, size_t cap);

/*
 * Check the signature with `secret`, and the date against `now`: within
 * GV_S3_SKEW_S (header form), or not before the date minus the skew and
 * not past date + X-Amz-Expires (presigned).  region: the server's.
 */
gv_s3_err gv_s3_auth_verify(gv_s3_auth *a, const char *method, const char *raw_path,
                            const char *raw_query, const gv_s3_hdr *h, size_t nh,
                            const char *secret, const char *region, time_t now, char *msg,
                            size_t cap);

/* The canonical request (malloc'd; NULL when out of memory or a signed
 * header is missing), for the tests and the signature. */
char *gv_s3_canonical_request(const char *method, const char *raw_path, const char *raw_query,
                              int presigned, const gv_s3_hdr *h, size_t nh,
                              const char *signed_headers, const char *payload_hash);

/* The signing key of secret, date (yyyymmdd), region and service ("s3"). */
void gv_s3_signing_key(uint8_t out[32], const char *secret, const char *day, const char *region,
                       const char *service);

/* Lower-case hex of n bytes into out (2n + 1). */
void gv_s3_hex(char *out, const uint8_t *b, size_t n);

/* Percent-decode s[0..n) into out (cap): its length, or -1 (malformed or too
 * long).  plus_space: '+' is a space (query strings). */
long gv_s3_unescape(char *out, size_t cap, const char *s, size_t n, int plus_space);

/* The decoded value of query parameter `name` of raw query q into out
 * (cap): 1 found ("" for a bare name), 0 absent, -1 malformed or too long. */
int gv_s3_query_get(const char *q, const char *name, char *out, size_t cap);

/* ---- aws-chunked bodies ---------------------------------------------- */

#define GV_S3_CHUNK_LINE_MAX 4096

typedef struct gv_s3_chunked gv_s3_chunked;

/* A decoder for a request authenticated by a (verified: its signing key is
 * set) auth whose payload is S3_PAYLOAD_STREAMING; decoded: the
 * x-amz-decoded-content-length.  NULL when out of memory. */
gv_s3_chunked *gv_s3_chunked_new(const gv_s3_auth *a, uint64_t decoded);
/*
 * Feed n bytes of the body; decoded payload bytes are handed to out() as
 * they arrive (before their chunk's signature is checked: the caller must
 * discard them all unless gv_s3_chunked_finish succeeds).  S3_OK or the
 * error (msg set); after an error every call fails.
 */
gv_s3_err gv_s3_chunked_feed(gv_s3_chunked *d, const char *buf, size_t n,
                             int (*out)(void *payload, const char *buf, size_t n), void *payload,
                             char *msg, size_t cap);
/* The body ended: S3_OK only after the final (empty, signed) chunk and
 * exactly the announced decoded length. */
gv_s3_err gv_s3_chunked_finish(gv_s3_chunked *d, char *msg, size_t cap);
void gv_s3_chunked_free(gv_s3_chunked *d);

#endif
