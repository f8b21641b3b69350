/*
 * s3.c - the S3 front door: its listener and a request's life (map of the
 * files: s3_int.h).
 *
 *   uri_log()         MHD hands over the URI as sent, before any decoding:
 *                     SigV4 signs the raw path and query
 *   request_begin()   headers in: addressing (path- or virtual-host-style),
 *                     the operation, authentication (s3_sigv4.c), the
 *                     key's permissions, then the body's set-up
 *   request_body()    pieces of the body: the signed hash and MD5 updated,
 *                     aws-chunked decoded and its chunks checked, payload
 *                     streamed into the put or gathered (bounded) as XML
 *   request_end()     the body's checks (hash, Content-MD5, chunks), then
 *                     the operation (s3_ops.c)
 *
 * A refusal found before the body is queued at once; one found while the
 * body streams (a bad chunk, a body too large) aborts the put and is
 * answered once the body is read (up to S3_DISCARD_MAX, then the
 * connection is closed).  Errors are S3's XML documents with a request id.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "server/http_int.h"
#include "server/s3_int.h"

/* ---- errors ------------------------------------------------------------- */

static const struct { const char *code; int status; } s3_errors[E_COUNT] = {
	[S3_OK] = { "OK", 200 },
	[S3_ACCESS_DENIED] = { "AccessDenied", 403 },
	[S3_INVALID_ACCESS_KEY] = { "InvalidAccessKeyId", 403 },
	[S3_SIGNATURE_MISMATCH] = { "SignatureDoesNotMatch", 403 },
	[S3_AUTH_MALFORMED] = { "AuthorizationHeaderMalformed", 400 },
	[S3_AUTH_QUERY_MALFORMED] = { "AuthorizationQueryParametersError", 400 },
	[S3_SKEWED] = { "RequestTimeTooSkewed", 403 },
	[S3_EXPIRED] = { "AccessDenied", 403 },
	[S3_CONTENT_SHA_MISMATCH] = { "XAmzContentSHA256Mismatch", 400 },
	[S3_BAD_DIGEST] = { "BadDigest", 400 },
	[S3_INVALID_DIGEST] = { "InvalidDigest", 400 },
	[S3_INCOMPLETE_BODY] = { "IncompleteBody", 400 },
	[S3_INVALID_REQUEST] = { "InvalidRequest", 400 },
	[S3_INVALID_ARGUMENT] = { "InvalidArgument", 400 },
	[S3_NOT_IMPLEMENTED] = { "NotImplemented", 501 },
	[E_NO_SUCH_BUCKET] = { "NoSuchBucket", 404 },
	[E_NO_SUCH_KEY] = { "NoSuchKey", 404 },
	[E_NO_SUCH_UPLOAD] = { "NoSuchUpload", 404 },
	[E_BUCKET_NOT_EMPTY] = { "BucketNotEmpty", 409 },
	[E_BUCKET_OWNED] = { "BucketAlreadyOwnedByYou", 409 },
	[E_INVALID_BUCKET_NAME] = { "InvalidBucketName", 400 },
	[E_INVALID_RANGE] = { "InvalidRange", 416 },
	[E_PRECONDITION] = { "PreconditionFailed", 412 },
	[E_ENTITY_TOO_SMALL] = { "EntityTooSmall", 400 },
	[E_ENTITY_TOO_LARGE] = { "EntityTooLarge", 400 },
	[E_INVALID_PART] = { "InvalidPart", 400 },
	[E_INVALID_PART_ORDER] = { "InvalidPartOrder", 400 },
	[E_MALFORMED_XML] = { "MalformedXML", 400 },
	[E_METHOD_NOT_ALLOWED] = { "MethodNotAllowed", 405 },
	[E_MISSING_LENGTH] = { "MissingContentLength", 411 },
	[E_KEY_TOO_LONG] = { "KeyTooLongError", 400 },
	[E_META_TOO_LARGE] = { "MetadataTooLarge", 400 },
	[E_MAX_MESSAGE] = { "MaxMessageLengthExceeded", 400 },
	[E_UNAVAILABLE] = { "ServiceUnavailable", 503 },
	[E_INTERNAL] = { "InternalError", 500 },
};

/* ---- XML output ---------------------------------------------------------- */

void s3buf_printf(s3buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->bad = 1;
		return;
	}
	s3buf_add(b, tmp, (size_t)n);
}

void s3buf_xml(s3buf *b, const char *s, int url)
{
	static const char hx[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];

		if (url) {
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
				s3buf_add(b, (const char *)&c, 1);
			} else {
				e[0] = '%';
				e[1] = hx[c >> 4];
				e[2] = hx[c & 15];
				s3buf_add(b, e, 3);
			}
			continue;
		}
		switch (c) {
		case '&': s3buf_puts(b, "&amp;"); break;
		case '<': s3buf_puts(b, "&lt;"); break;
		case '>': s3buf_puts(b, "&gt;"); break;
		case '"': s3buf_puts(b, "&quot;"); break;
		case '\'': s3buf_puts(b, "&apos;"); break;
		default:
			if (c < 0x20) {
				snprintf(e, sizeof(e), "&#x%X;", c);
				s3buf_puts(b, e);
			} else {
				s3buf_add(b, (const char *)&c, 1);
			}
		}
	}
}

void s3buf_elem(s3buf *b, const char *tag, const char *s, int url)
{
	s3buf_printf(b, "<%s>", tag);
	s3buf_xml(b, s, url);
	s3buf_printf(b, "</%s>", tag);
}

void s3buf_time(s3buf *b, const char *tag, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char ts[40];

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	s3buf_printf(b, "<%s>%s.%03dZ</%s>", tag, ts, (int)(ms % 1000), tag);
}

void s3_http_date(char out[40], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* ---- responses ----------------------------------------------------------- */

void gv_s3_common_headers(struct MHD_Response *resp, const s3req *r)
{
	MHD_add_response_header(resp, "x-amz-request-id", r->reqid);
	MHD_add_response_header(resp, "x-amz-id-2", r->reqid);
	MHD_add_response_header(resp, "Server", "Graviton");
}

enum MHD_Result gv_s3_send_xml(struct MHD_Connection *c, s3req *r, int status, s3buf *b)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (b->bad) {
		free(b->p);
		return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(b->n, b->p ? b->p : (char *)"",
	                                       b->p ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(b->p);
		return MHD_NO;
	}
	r->started = 1;
	MHD_add_response_header(resp, "Content-Type", "application/xml");
	gv_s3_common_headers(resp, r);
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result gv_s3_send_empty(struct MHD_Connection *c, s3req *r, int status,
                                 const char *h1, const char *v1)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (char *)"",
	                                                            MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	r->started = 1;
	gv_s3_common_headers(resp, r);
	if (h1)
		MHD_add_response_header(resp, h1, v1);
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void error_doc(s3buf *b, const s3req *r, int err, const char *msg)
{
	s3buf_init(b, 0);
	s3buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
	s3buf_elem(b, "Code", s3_errors[err].code, 0);
	s3buf_elem(b, "Message", msg, 0);
	if (r->bucket[0]) {
		s3buf_elem(b, "BucketName", r->bucket, 0);
		s3buf_puts(b, "<Resource>/");
		s3buf_xml(b, r->bucket, 0);
		if (r->key && r->key[0]) {
			s3buf_puts(b, "/");
			s3buf_xml(b, r->key, 0);
		}
		s3buf_puts(b, "</Resource>");
	}
	s3buf_elem(b, "RequestId", r->reqid, 0);
	s3buf_puts(b, "</Error>");
}

enum MHD_Result gv_s3_send_error(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, int err,
                                 const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	s3buf b;

	(void)srv;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err <= 0 || err >= E_COUNT)
		err = E_INTERNAL;
	error_doc(&b, r, err, msg);
	gv_debug("event=s3_refused request_id=%s code=%s message=\"%s\"", r->reqid,
	         s3_errors[err].code, msg);
	return gv_s3_send_xml(c, r, s3_errors[err].status, &b);
}

enum MHD_Result gv_s3_send_gv(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, int gverr,
                              int notfound)
{
	int e;

	switch (gverr) {
	case GV_ENOTFOUND:
		e = notfound;
		break;
	case GV_EEXISTS:
		e = E_BUCKET_OWNED;
		break;
	case GV_ENOTEMPTY:
		e = E_BUCKET_NOT_EMPTY;
		break;
	case GV_EINVAL:
		e = notfound == E_NO_SUCH_BUCKET && r->op == OP_CREATE_BUCKET ? E_INVALID_BUCKET_NAME
		                                                               : S3_INVALID_ARGUMENT;
		break;
	case GV_EQUORUM:
	case GV_ENOSPACE:
	case GV_EUNAVAILABLE:
	case GV_EALL_REPLICAS_FAILED:
	case GV_EBUSY:
		e = E_UNAVAILABLE;
		break;
	default:
		e = E_INTERNAL;
	}
	if (e == E_INTERNAL)
		gv_errlog("event=s3_error request_id=%s error=\"%s\"", r->reqid, gv_error_last());
	return gv_s3_send_error(srv, c, r, e, "%s",
	                        e == notfound ? (e == E_NO_SUCH_BUCKET ? "The specified bucket does not exist"
	                                         : e == E_NO_SUCH_UPLOAD ? "The specified upload does not exist"
	                                                                 : "The specified key does not exist")
	                                      : gv_error_last());
}

/* ---- request helpers ---------------------------------------------------- */

const char *gv_s3_hdr_get(const s3req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

int gv_s3_qget(const s3req *r, const char *name, char *out, size_t cap)
{
	return gv_s3_query_get(r->query, name, out, cap);
}

int gv_s3_bucket_allowed(const s3req *r, const char *bucket)
{
	size_t i;

	for (i = 0; i < r->nallowed; i++)
		if (strcmp(r->allowed[i], "*") == 0 || strcmp(r->allowed[i], bucket) == 0)
			return 1;
	return 0;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
	s3req *r = cls;

	(void)kind;
	if (r->nh == S3_HEADERS_MAX)
		return MHD_NO;
	r->h[r->nh].name = key;
	r->h[r->nh].value = value ? value : "";
	r->nh++;
	return MHD_YES;
}

/* ---- addressing and operations ---------------------------------------- */

/* Subresources of S3 this store has no notion of. */
static int unsupported_subresource(const s3req *r)
{
	static const char *const names[] = {
		"acl", "policy", "lifecycle", "cors", "tagging", "versions", "encryption",
		"object-lock", "retention", "legal-hold", "website", "logging", "notification",
		"replication", "accelerate", "requestPayment", "ownershipControls",
		"publicAccessBlock", "torrent", "restore", "select", "analytics", "inventory",
		"metrics", "intelligent-tiering", "attributes", "policyStatus", "versionId",
	};
	char v[8];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (gv_s3_qget(r, names[i], v, sizeof(v)) != 0)
			return 1;
	return 0;
}

static int has(const s3req *r, const char *name)
{
	char v[8];

	return gv_s3_qget(r, name, v, sizeof(v)) != 0;
}

static enum s3op op_of(const s3req *r, const char *m)
{
	int get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0, head = strcmp(m, "HEAD") == 0,
	    del = strcmp(m, "DELETE") == 0, post = strcmp(m, "POST") == 0;
	char lt[8];

	if (!r->bucket[0])
		return get ? OP_LIST_BUCKETS : OP_NONE;
	if (!r->key[0]) {
		if (get && has(r, "location"))
			return OP_LOCATION;
		if (get && has(r, "versioning"))
			return OP_VERSIONING;
		if (unsupported_subresource(r))
			return OP_NONE;
		if (put)
			return OP_CREATE_BUCKET;
		if (head)
			return OP_HEAD_BUCKET;
		if (del)
			return OP_DELETE_BUCKET;
		if (post && has(r, "delete"))
			return OP_DELETE_OBJECTS;
		if (get && has(r, "uploads"))
			return OP_LIST_UPLOADS;
		if (get)
			return gv_s3_qget(r, "list-type", lt, sizeof(lt)) == 1 && strcmp(lt, "2") == 0
			               ? OP_LIST_V2 : OP_LIST_V1;
		return OP_NONE;
	}
	if (unsupported_subresource(r))
		return OP_NONE;
	if (put && has(r, "uploadId"))
		return gv_s3_hdr_get(r, "x-amz-copy-source") ? OP_UPLOAD_PART_COPY : OP_UPLOAD_PART;
	if (put)
		return gv_s3_hdr_get(r, "x-amz-copy-source") ? OP_COPY_OBJECT : OP_PUT_OBJECT;
	if (get && has(r, "uploadId"))
		return OP_LIST_PARTS;
	if ((get || head) && has(r, "partNumber"))
		return OP_NONE; /* reading one part of a multipart object */
	if (get)
		return OP_GET_OBJECT;
	if (head)
		return OP_HEAD_OBJECT;
	if (del)
		return has(r, "uploadId") ? OP_ABORT : OP_DELETE_OBJECT;
	if (post && has(r, "uploads"))
		return OP_CREATE_UPLOAD;
	if (post && has(r, "uploadId"))
		return OP_COMPLETE;
	return OP_NONE;
}

static int op_writes(enum s3op op)
{
	switch (op) {
	case OP_CREATE_BUCKET: case OP_DELETE_BUCKET: case OP_DELETE_OBJECTS: case OP_PUT_OBJECT:
	case OP_COPY_OBJECT: case OP_DELETE_OBJECT: case OP_CREATE_UPLOAD: case OP_UPLOAD_PART:
	case OP_UPLOAD_PART_COPY: case OP_COMPLETE: case OP_ABORT:
		return 1;
	default:
		return 0;
	}
}

/*
 * Bucket and key of the request: BUCKET.DOMAIN in Host is virtual-host
 * style (the whole path is the key), else /BUCKET/KEY.  The key is the
 * percent-decoded path.  0, or the S3 error.
 */
static int address(gv_s3_server *srv, s3req *r)
{
	const char *host = gv_s3_hdr_get(r, "Host"), *p = r->path, *slash;
	size_t dl = strlen(srv->domain), hl = 0, bl;
	long n;

	if (host) {
		const char *colon = strrchr(host, ':');

		hl = colon && !strchr(host, ']') ? (size_t)(colon - host) : strlen(host);
	}
	if (*p != '/')
		return S3_INVALID_REQUEST;
	p++;
	if (host && hl > dl + 1 && host[hl - dl - 1] == '.' &&
	    strncasecmp(host + hl - dl, srv->domain, dl) == 0) {
		bl = hl - dl - 1;
		if (bl >= sizeof(r->bucket))
			return E_INVALID_BUCKET_NAME;
		memcpy(r->bucket, host, bl);
		r->bucket[bl] = '\0';
	} else {
		slash = strchr(p, '/');
		bl = slash ? (size_t)(slash - p) : strlen(p);
		if (bl >= sizeof(r->bucket))
			return E_INVALID_BUCKET_NAME;
		if (gv_s3_unescape(r->bucket, sizeof(r->bucket), p, bl, 0) < 0)
			return E_INVALID_BUCKET_NAME;
		p += bl + (slash ? 1 : 0);
	}
	if (!(r->key = malloc(strlen(p) + 1)))
		return E_INTERNAL;
	n = gv_s3_unescape(r->key, strlen(p) + 1, p, strlen(p), 0);
	if (n < 0)
		return S3_INVALID_REQUEST;
	if ((size_t)n != strlen(r->key))
		return S3_INVALID_ARGUMENT; /* a NUL in the name */
	if (n > GV_OBJECT_NAME_MAX)
		return E_KEY_TOO_LONG;
	return 0;
}

/* Verify the signature with the key it names; copy the key's rights. */
static int authenticate(gv_s3_server *srv, s3req *r, const char *method, char *msg, size_t cap)
{
	gv_s3_err e = gv_s3_auth_parse(&r->auth, r->query, r->h, r->nh, msg, cap);
	const s3key *k = NULL;
	size_t i;

	if (e != S3_OK)
		return e;
	pthread_mutex_lock(&srv->mu);
	for (i = 0; i < srv->nkeys && !k; i++)
		if (strcmp(srv->keys[i].access_key, r->auth.access_key) == 0)
			k = &srv->keys[i];
	if (!k) {
		pthread_mutex_unlock(&srv->mu);
		snprintf(msg, cap, "The AWS access key id you provided does not exist in our records");
		return S3_INVALID_ACCESS_KEY;
	}
	e = gv_s3_auth_verify(&r->auth, method, r->path, r->query, r->h, r->nh, k->secret_key,
	                      srv->region, time(NULL), msg, cap);
	if (e == S3_OK) {
		r->nallowed = k->nbuckets;
		memcpy(r->allowed, k->buckets, k->nbuckets * sizeof(k->buckets[0]));
		r->read_only = k->read_only;
	}
	pthread_mutex_unlock(&srv->mu);
	return e;
}

/* ---- the body ------------------------------------------------------------ */

struct s3digester {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *buf;          /* the piece to digest, under mu */
	size_t n;
	int busy, quit;
	EVP_MD_CTX *md5;          /* the request's */
	gv_sha256 *sha;           /* the request's raw-body digest, or NULL */
};

static void *digester_main(void *p)
{
	s3digester *g = p;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->busy && !g->quit)
			pthread_cond_wait(&g->cv, &g->mu);
		if (!g->busy)
			break;
		pthread_mutex_unlock(&g->mu);
		EVP_DigestUpdate(g->md5, g->buf, g->n);
		if (g->sha)
			gv_sha256_update(g->sha, g->buf, g->n);
		pthread_mutex_lock(&g->mu);
		g->busy = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* A digester for r's body, or NULL (then digests are computed inline). */
static s3digester *digester_start(s3req *r)
{
	s3digester *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->md5 = r->md5;
	g->sha = r->chunked ? NULL : r->sha; /* aws-chunked: no raw digest */
	if (pthread_create(&g->tid, NULL, digester_main, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return NULL;
	}
	return g;
}

static void digester_stop(s3digester *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->quit = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->tid, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* Write a piece into the put while the digester digests it; both are
 * done with buf when this returns. */
static int write_digesting(s3req *r, const char *buf, size_t n)
{
	s3digester *g = r->dg;
	int err;

	pthread_mutex_lock(&g->mu);
	g->buf = buf;
	g->n = n;
	g->busy = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	err = gv_put_write(r->put, buf, n);
	pthread_mutex_lock(&g->mu);
	while (g->busy)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return err < 0 ? -1 : 0;
}

/* Decoded payload bytes: MD5, then the put or the XML buffer. */
static int sink(void *p, const char *buf, size_t n)
{
	s3req *r = p;

	r->decoded += n;
	if (r->decoded > r->limit)
		return -1;
	if (r->put && r->dg)
		return write_digesting(r, buf, n);
	EVP_DigestUpdate(r->md5, buf, n);
	if (r->put)
		return gv_put_write(r->put, buf, n) < 0 ? -1 : 0;
	{
		char *nx = realloc(r->xml, r->xml_len + n + 1);

		if (!nx)
			return -1;
		r->xml = nx;
		memcpy(r->xml + r->xml_len, buf, n);
		r->xml_len += n;
		r->xml[r->xml_len] = '\0';
	}
	return 0;
}

static int refuse(s3req *r, int err, const char *msg)
{
	r->refused = err;
	snprintf(r->refusal, sizeof(r->refusal), "%s", msg);
	gv_put_abort(r->put);
	r->put = NULL;
	return 0;
}

static void body_piece(s3req *r, const char *data, size_t n)
{
	char msg[256];

	if (r->sha && !r->dg) /* with a digester: digested there (never aws-chunked) */
		gv_sha256_update(r->sha, data, n);
	if (r->chunked) {
		gv_s3_err e = gv_s3_chunked_feed(r->chunked, data, n, sink, r, msg, sizeof(msg));

		if (e != S3_OK)
			refuse(r, r->decoded > r->limit ? E_ENTITY_TOO_LARGE : (int)e, msg);
		return;
	}
	if (sink(r, data, n) < 0)
		refuse(r, r->decoded > r->limit ? (r->put ? E_ENTITY_TOO_LARGE : E_MAX_MESSAGE)
		                                : E_INTERNAL,
		       r->decoded > r->limit ? "Your request body is too large" : gv_error_last());
}

static int b64_decode16(uint8_t out[16], const char *s)
{
	unsigned char tmp[24];
	int n;

	if (strlen(s) != 24)
		return -1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, 24);
	if (n != 18) /* 16 bytes and two '=' of padding */
		return -1;
	memcpy(out, tmp, 16);
	return 0;
}

/* The body is all in: its checks.  0, or refused. */
static int body_end(s3req *r)
{
	char msg[256], hx[65];
	const char *cmd5;
	unsigned int ml = 16;
	uint8_t d[32], want[16];

	if (!r->md5)
		return 0;
	if (r->chunked && gv_s3_chunked_finish(r->chunked, msg, sizeof(msg)) != S3_OK)
		return refuse(r, S3_INCOMPLETE_BODY, msg), -1;
	if (r->sha) {
		gv_sha256_final(r->sha, d);
		gv_s3_hex(hx, d, 32);
		if (CRYPTO_memcmp(hx, r->auth.payload_hash, 64) != 0)
			return refuse(r, S3_CONTENT_SHA_MISMATCH,
			              "The provided 'x-amz-content-sha256' header does not match what was computed."),
			       -1;
	}
	EVP_DigestFinal_ex(r->md5, r->md5sum, &ml);
	cmd5 = gv_s3_hdr_get(r, "Content-MD5");
	if (cmd5) {
		if (b64_decode16(want, cmd5) < 0)
			return refuse(r, S3_INVALID_DIGEST, "The Content-MD5 you specified was invalid."), -1;
		if (CRYPTO_memcmp(want, r->md5sum, 16) != 0)
			return refuse(r, S3_BAD_DIGEST,
			              "The Content-MD5 you specified did not match what we received."),
			       -1;
	}
	return 0;
}

/* Set up the body of a request that has one: digests, aws-chunked, limits. */
static int body_begin(s3req *r, uint64_t limit, char *msg, size_t cap)
{
	const char *dl;

	r->limit = limit;
	if (!(r->md5 = EVP_MD_CTX_new()) || EVP_DigestInit_ex(r->md5, EVP_md5(), NULL) != 1) {
		snprintf(msg, cap, "out of memory");
		return E_INTERNAL;
	}
	if (r->auth.payload == S3_PAYLOAD_HEX && gv_sha256_new(&r->sha) < 0) {
		snprintf(msg, cap, "out of memory");
		return E_INTERNAL;
	}
	if (r->auth.payload == S3_PAYLOAD_STREAMING) {
		unsigned long long v;
		char *end;

		dl = gv_s3_hdr_get(r, "x-amz-decoded-content-length");
		if (!dl || !*dl || (v = strtoull(dl, &end, 10), *end)) {
			snprintf(msg, cap, "an aws-chunked body needs x-amz-decoded-content-length");
			return E_MISSING_LENGTH;
		}
		if (v > limit) {
			snprintf(msg, cap, "Your proposed upload exceeds the maximum allowed size");
			return r->op == OP_PUT_OBJECT || r->op == OP_UPLOAD_PART ? E_ENTITY_TOO_LARGE
			                                                          : E_MAX_MESSAGE;
		}
		if (!(r->chunked = gv_s3_chunked_new(&r->auth, v))) {
			snprintf(msg, cap, "out of memory");
			return E_INTERNAL;
		}
	}
	r->want_body = 1;
	return 0;
}

/* ---- a request's life ---------------------------------------------------- */

static int big_body(struct MHD_Connection *c, const s3req *r)
{
	const char *dl = gv_s3_hdr_get(r, "x-amz-decoded-content-length");
	uint64_t n = 0;

	if (r->chunked && dl)
		n = strtoull(dl, NULL, 10);
	else
		gv_http_content_length(c, &n);
	return n >= S3_DIGEST_THREAD_MIN;
}

static enum MHD_Result request_begin(gv_s3_server *srv, struct MHD_Connection *c, s3req *r,
                                     const char *method)
{
	char msg[512];
	char *q;
	int e;

	snprintf(r->reqid, sizeof(r->reqid), "%016llX",
	         srv->idbase + atomic_fetch_add(&srv->reqno, 1));
	if (!r->uri)
		return gv_s3_send_error(srv, c, r, E_INTERNAL, "no request URI");
	if (!(r->path = strdup(r->uri)))
		return MHD_NO;
	q = strchr(r->path, '?');
	if (q)
		*q++ = '\0';
	r->query = q ? q : "";
	if (gv_http_content_length_conflict(c))
		return gv_s3_send_error(srv, c, r, S3_INVALID_REQUEST, "conflicting Content-Length headers");
	MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, r);
	if (r->nh == S3_HEADERS_MAX)
		return gv_s3_send_error(srv, c, r, S3_INVALID_REQUEST, "too many headers");
	if ((e = address(srv, r)) != 0)
		return gv_s3_send_error(srv, c, r, e, "the bucket or key in the request is malformed");
	if ((e = authenticate(srv, r, method, msg, sizeof(msg))) != S3_OK)
		return gv_s3_send_error(srv, c, r, e, "%s", msg);
	r->op = op_of(r, method);
	if (r->op == OP_NONE)
		return gv_s3_send_error(srv, c, r, S3_NOT_IMPLEMENTED,
		                        "this operation is not supported (docs/s3.md)");
	if (r->bucket[0] && !gv_s3_bucket_allowed(r, r->bucket))
		return gv_s3_send_error(srv, c, r, S3_ACCESS_DENIED,
		                        "this access key may not use bucket %s", r->bucket);
	if (r->read_only && op_writes(r->op))
		return gv_s3_send_error(srv, c, r, S3_ACCESS_DENIED, "this access key is read-only");
	switch (r->op) {
	case OP_PUT_OBJECT:
	case OP_UPLOAD_PART:
		e = body_begin(r, S3_OBJECT_MAX, msg, sizeof(msg));
		if (e)
			return gv_s3_send_error(srv, c, r, e, "%s", msg);
		/* a large body's digests run beside its writes (NULL: inline) */
		if (big_body(c, r))
			r->dg = digester_start(r);
		return gv_s3_begin_upload(srv, c, r);
	case OP_DELETE_OBJECTS:
	case OP_COMPLETE:
		e = body_begin(r, S3_XML_BODY_MAX, msg, sizeof(msg));
		break;
	default:
		e = body_begin(r, S3_SMALL_BODY_MAX, msg, sizeof(msg));
	}
	if (e)
		return gv_s3_send_error(srv, c, r, e, "%s", msg);
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	gv_s3_server *srv = cls;
	s3req *r = *con_cls;

	(void)url;
	(void)version;
	if (!r)
		return MHD_NO; /* uri_log allocates it */
	if (!r->begun) {
		r->begun = 1;
		return request_begin(srv, c, r, method);
	}
	if (r->started) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->refused) {
			r->discarded += n;
			return r->discarded > S3_DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		body_piece(r, upload_data, n);
		return MHD_YES;
	}
	if (!r->refused)
		body_end(r);
	if (r->refused)
		return gv_s3_send_error(srv, c, r, r->refused, "%s", r->refusal);
	return gv_s3_dispatch(srv, c, r);
}

/* The URI exactly as sent: SigV4 signs it before any decoding. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	s3req *r = calloc(1, sizeof(*r));

	(void)cls;
	(void)c;
	if (r && !(r->uri = strdup(uri))) {
		free(r);
		r = NULL;
	}
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	s3req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	gv_put_abort(r->put);
	digester_stop(r->dg);
	EVP_MD_CTX_free(r->md5);
	gv_sha256_free(r->sha);
	gv_s3_chunked_free(r->chunked);
	OPENSSL_cleanse(r->auth.signing_key, sizeof(r->auth.signing_key));
	free(r->xml);
	free(r->key);
	free(r->path);
	free(r->uri);
	free(r);
	*con_cls = NULL;
}

/* ---- keys and lifecycle ------------------------------------------------- */

static void keys_free(s3key *k, size_t n)
{
	size_t i;

	for (i = 0; k && i < n; i++) {
		if (k[i].secret_key)
			OPENSSL_cleanse(k[i].secret_key, strlen(k[i].secret_key));
		free(k[i].access_key);
		free(k[i].secret_key);
		free(k[i].buckets);
	}
	free(k);
}

int gv_s3_set_keys(gv_s3_server *srv, const gv_s3_key *keys, size_t nkeys)
{
	s3key *k = nkeys ? calloc(nkeys, sizeof(*k)) : NULL, *old;
	size_t i, j, oldn;

	if (nkeys && !k)
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (i = 0; i < nkeys; i++) {
		if (!keys[i].access_key || !keys[i].secret_key ||
		    strlen(keys[i].secret_key) >= 256 || keys[i].nbuckets > S3_KEY_BUCKETS_MAX) {
			keys_free(k, nkeys);
			return gv_error_set(GV_EINVAL, "S3 key %zu: access key, secret (under 256 bytes) "
			                    "and at most %d buckets needed", i, S3_KEY_BUCKETS_MAX);
		}
		k[i].access_key = strdup(keys[i].access_key);
		k[i].secret_key = strdup(keys[i].secret_key);
		k[i].buckets = calloc(keys[i].nbuckets ? keys[i].nbuckets : 1, sizeof(*k[i].buckets));
		k[i].nbuckets = keys[i].nbuckets;
		k[i].read_only = keys[i].read_only;
		if (!k[i].access_key || !k[i].secret_key || !k[i].buckets) {
			keys_free(k, nkeys);
			return gv_error_set(GV_ENOMEM, "out of memory");
		}
		for (j = 0; j < keys[i].nbuckets; j++)
			snprintf(k[i].buckets[j], sizeof(k[i].buckets[j]), "%s", keys[i].buckets[j]);
	}
	pthread_mutex_lock(&srv->mu);
	old = srv->keys;
	oldn = srv->nkeys;
	srv->keys = k;
	srv->nkeys = nkeys;
	pthread_mutex_unlock(&srv->mu);
	keys_free(old, oldn);
	return 0;
}

unsigned gv_s3_port(const gv_s3_server *srv)
{
	return srv->port;
}

int gv_s3_start(gv_s3_server **out, gv_store *st, const gv_s3_opts *o)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	const char *host = o && o->host && *o->host ? o->host : "127.0.0.1";
	unsigned idle_s = (unsigned)((o && o->idle_timeout_ms ? o->idle_timeout_ms : 60000) / 1000);
	gv_s3_server *srv;
	int v6, err = GV_EIO;

	*out = NULL;
	if (!(srv = calloc(1, sizeof(*srv))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_init(&srv->mu, NULL);
	srv->st = st;
	snprintf(srv->region, sizeof(srv->region), "%s", o && o->region ? o->region : "us-east-1");
	snprintf(srv->domain, sizeof(srv->domain), "%s", o && o->domain ? o->domain : "localhost");
	if (RAND_bytes((unsigned char *)&srv->idbase, sizeof(srv->idbase)) != 1)
		srv->idbase = (unsigned long long)time(NULL) << 20;
	if (o && (err = gv_s3_set_keys(srv, o->keys, o->nkeys)) < 0)
		goto fail;
	if ((err = gv_http_resolve(&ss, &v6, host, o ? o->port : 0)) < 0)
		goto fail;
	srv->d = MHD_start_daemon(
		MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC |
			MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, gv_http_mhd_log, "s3_daemon_error",
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_URI_LOG_CALLBACK, uri_log, srv,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o && o->max_connections ? o->max_connections : 1024),
		MHD_OPTION_CONNECTION_TIMEOUT, idle_s ? idle_s : 1,
		/* Bounds what a client's request line and headers may take. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
		MHD_OPTION_END);
	if (!srv->d) {
		err = gv_error_set_errno(GV_EIO, errno, "cannot listen on %s:%u (S3)", host,
		                         o ? o->port : 0);
		goto fail;
	}
	info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : (o ? o->port : 0);
	*out = srv;
	return 0;
fail:
	keys_free(srv->keys, srv->nkeys);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
	return err;
}

void gv_s3_stop(gv_s3_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->d);
	keys_free(srv->keys, srv->nkeys);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}
