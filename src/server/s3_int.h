/*
 * s3_int.h - what the files of the S3 front door share (private to
 * src/server/).
 *
 *   s3.c        the listener, a request's life (authentication, routing,
 *               permissions, the body streamed into a put or gathered as
 *               XML, checked against its signed hash, Content-MD5 and
 *               aws-chunked signatures), errors, XML output
 *   s3_ops.c    the operations: buckets, objects, listings, multipart
 *   s3_sigv4.c  Signature Version 4 (s3_sigv4.h)
 *
 * Threads: MHD runs a thread per connection.  `mu` guards the keys (a
 * reload replaces them); a request copies what it needs of its key.
 */
#ifndef GV_SERVER_S3_INT_H
#define GV_SERVER_S3_INT_H

#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include "core/digest.h"
#include "graviton/namespace.h"
#include "graviton/s3.h"
#include "server/s3_sigv4.h"

#define S3_XML_BODY_MAX (4u << 20)     /* DeleteObjects, CompleteMultipartUpload */
#define S3_SMALL_BODY_MAX (64u << 10)  /* any other body (CreateBucket's) */
#define S3_OBJECT_MAX (5ull << 30)     /* one PutObject or UploadPart */
#define S3_PART_MIN (5ull << 20)       /* parts but the last */
#define S3_PARTS_MAX 10000
#define S3_META_MAX 2048               /* x-amz-meta-* names and values */
#define S3_DISCARD_MAX (64ull << 20)   /* a refused body read on, then the connection closes */
#define S3_HEADERS_MAX 256
#define S3_KEY_BUCKETS_MAX 64         /* bucket names one key may name */
#define S3_DIGEST_THREAD_MIN (1u << 20) /* bodies this large digest beside the writes */

/* S3 errors past those SigV4 ends with (s3_sigv4.h). */
enum {
	E_NO_SUCH_BUCKET = S3_ERR_COUNT,
	E_NO_SUCH_KEY,
	E_NO_SUCH_UPLOAD,
	E_BUCKET_NOT_EMPTY,
	E_BUCKET_OWNED,
	E_INVALID_BUCKET_NAME,
	E_INVALID_RANGE,
	E_PRECONDITION,
	E_ENTITY_TOO_SMALL,
	E_ENTITY_TOO_LARGE,
	E_INVALID_PART,
	E_INVALID_PART_ORDER,
	E_MALFORMED_XML,
	E_METHOD_NOT_ALLOWED,
	E_MISSING_LENGTH,
	E_KEY_TOO_LONG,
	E_META_TOO_LARGE,
	E_MAX_MESSAGE,
	E_UNAVAILABLE,
	E_INTERNAL,
	E_COUNT
};

typedef struct s3key {
	char *access_key;
	char *secret_key;
	char (*buckets)[64];
	size_t nbuckets;
	int read_only;
} s3key;

struct gv_s3_server {
	gv_store *st;
	struct MHD_Daemon *d;
	unsigned port;
	char region[64];
	char domain[256];
	pthread_mutex_t mu;
	s3key *keys;              /* under mu */
	size_t nkeys;
	atomic_ullong reqno;
	unsigned long long idbase;
};

enum s3op {
	OP_NONE, OP_LIST_BUCKETS, OP_CREATE_BUCKET, OP_HEAD_BUCKET, OP_DELETE_BUCKET, OP_LOCATION,
	OP_VERSIONING, OP_LIST_V1, OP_LIST_V2, OP_LIST_UPLOADS, OP_DELETE_OBJECTS, OP_PUT_OBJECT,
	OP_COPY_OBJECT, OP_GET_OBJECT, OP_HEAD_OBJECT, OP_DELETE_OBJECT, OP_CREATE_UPLOAD,
	OP_UPLOAD_PART, OP_UPLOAD_PART_COPY, OP_COMPLETE, OP_ABORT, OP_LIST_PARTS
};

/* Digests of a large body (MD5; SHA-256 of a signed hex payload) on a
 * thread of their own: each piece is digested there while the
 * connection's thread writes it into the put (s3.c). */
typedef struct s3digester s3digester;

/* Per-request state (MHD's con_cls). */
typedef struct s3req {
	char *uri;                /* as sent */
	char *path;               /* raw path (percent-encoded) */
	const char *query;        /* raw query, "" when none */
	gv_s3_hdr h[S3_HEADERS_MAX];
	size_t nh;
	char bucket[GV_BUCKET_MAX];
	char *key;                /* decoded object name, "" for none */
	enum s3op op;
	char reqid[17];
	int begun;                /* request_begin ran */
	int started;              /* a response is queued */
	gv_s3_auth auth;
	char allowed[S3_KEY_BUCKETS_MAX][64];
	size_t nallowed;
	int read_only;

	/* the body */
	int want_body;            /* gathered into xml, or streamed into put */
	gv_put *put;
	EVP_MD_CTX *md5;
	gv_sha256 *sha;           /* the raw body, for a signed hex payload */
	gv_s3_chunked *chunked;
	s3digester *dg;           /* NULL: digests inline */
	uint64_t decoded;         /* payload bytes (after aws-chunked) */
	uint64_t limit;
	char *xml;
	size_t xml_len;
	uint8_t md5sum[16];

	/* a refusal answered once the body is read */
	int refused;
	char refusal[256];
	uint64_t discarded;
} s3req;

/* ---- s3.c ---------------------------------------------------------------- */

const char *gv_s3_hdr_get(const s3req *r, const char *name);
/* A decoded query parameter: 1 found (value in out), 0 not, -1 malformed. */
int gv_s3_qget(const s3req *r, const char *name, char *out, size_t cap);
int gv_s3_bucket_allowed(const s3req *r, const char *bucket);

void s3buf_printf(s3buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* XML text, escaped; url: percent-encoded as for encoding-type=url. */
void s3buf_xml(s3buf *b, const char *s, int url);
/* <tag>escaped text</tag> */
void s3buf_elem(s3buf *b, const char *tag, const char *s, int url);
void s3buf_time(s3buf *b, const char *tag, int64_t ms);
void s3_http_date(char out[40], int64_t ms);

enum MHD_Result gv_s3_send_error(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, int err,
                                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* An engine error as its S3 error; what names the resource (bucket or key) for NOTFOUND. */
enum MHD_Result gv_s3_send_gv(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, int gverr,
                              int notfound);
/* XML document (takes b). */
enum MHD_Result gv_s3_send_xml(struct MHD_Connection *c, s3req *r, int status, s3buf *b);
enum MHD_Result gv_s3_send_empty(struct MHD_Connection *c, s3req *r, int status,
                                 const char *h1, const char *v1);
void gv_s3_common_headers(struct MHD_Response *resp, const s3req *r);

/* ---- s3_ops.c ----------------------------------------------------------- */

/* Before the body: the checks a body depends on and opening the put. */
enum MHD_Result gv_s3_begin_upload(gv_s3_server *srv, struct MHD_Connection *c, s3req *r);
/* The request is complete: answer it. */
enum MHD_Result gv_s3_dispatch(gv_s3_server *srv, struct MHD_Connection *c, s3req *r);

#endif
