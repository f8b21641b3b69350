/*
 * s3.c - the `s3` sector kind: a bucket (and a prefix in it) of any
 * S3-compatible store, on libcurl with its SigV4 signing
 * (CURLOPT_AWS_SIGV4).  docs/s3-sectors.md is the operator's view.
 *
 * Locator: "s3://BUCKET[/PREFIX]?endpoint=URL[&region=R][&style=path|virtual]"
 * (gv_sector_s3_locator).  Under the prefix:
 *
 *   GRAVITON-SECTOR          identity (the fs identity's key=value text),
 *                            written by `sector add`, checked at open
 *   <hex>-<size>             committed blobs, one object each, beside
 *                            the identity (no "directory" of their own:
 *                            stores that keep objects as files may remove
 *                            one that empties while a put goes in)
 *
 *   requests   one easy handle per request from a per-sector pool;
 *              signed with the sector's credentials (gv_sector_s3_credentials)
 *              or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 *              AWS_SESSION_TOKEN; the payload is sent UNSIGNED-PAYLOAD
 *              (the blob's key checks it end to end).  Every request is
 *              idempotent and retried on connection errors, timeouts, 5xx
 *              and SlowDown with exponential backoff (longer for
 *              SlowDown).  404 is not found (NoSuchBucket says so), 403 a
 *              permission error naming the sector, 5xx and timeouts
 *              unavailable (GV_EIO / GV_ETIMEOUT, so reads go to the next
 *              replica without marking this one).
 *   writers    bytes are spooled (memory up to SPOOL_MEM, then an unlinked
 *              file in the staging directory), because a put learns its
 *              key only at the end and an object is named by it; commit
 *              sends one PUT with the Content-Length known, or, above the
 *              multipart threshold, a multipart upload whose parts are
 *              read from the spool (each retried on its own, several in
 *              flight) and which is aborted when it fails.  A resumable
 *              writer of a blob over the threshold (a repair's copy)
 *              sends its parts as they fill, and a sync sends what it
 *              holds, into an upload the next writer of the key finds
 *              (ListMultipartUploads, ListParts) and goes on with; the
 *              copy path trusts the smaller of what the writer and the
 *              index say is durable.  Below the threshold it keeps
 *              nothing across processes (offset 0 at open).
 *   readers    one streaming Range GET, pulled through curl's multi
 *              interface (paused while the caller holds the buffer); a
 *              connection that breaks is resumed at the next byte.
 *   usage      capacity is the configured quota (a bucket has no size):
 *              `used` 0 and `avail` UINT64_MAX tell the engine to take the
 *              bytes the index records.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "graviton/sys/sector.h"
#include "core/clock.h"
#include "core/log.h"
#include "sector/curlpool.h"

#define PARK_MAX 8
#define SPOOL_MEM (8u << 20)      /* spooled in memory up to this */
#define READ_BUF (1u << 20)       /* a reader's buffer */
#define CURL_BUF (512L * 1024)    /* curl's receive and upload buffers */
#define ANSWER_MAX (4u << 20)     /* a listing page or any other answer */
#define ERR_MAX 512
#define IDENT_NAME "GRAVITON-SECTOR"
#define MAX_PARTS 10000
#define PART_MIN (5ull << 20)
#define PART_THREADS 4
#define UPLOADS_MAX 16         /* unfinished uploads of one object looked at */
#define UNLIMITED (1ull << 50)    /* a quota of 0: 1 PiB */
#define CREDS_MAX 64

/* ---- process settings ---------------------------------------------------------- */

typedef struct cred {
	char id[GV_ID_MAX];
	char access[128];
	char secret[256];
	char token[2048];
} cred;

static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cfg_threshold = 64ull << 20;   /* cfg_mu */
static uint64_t cfg_part = 16ull << 20;        /* cfg_mu */
static long cfg_connect_ms = 5000;             /* cfg_mu */
static long cfg_request_ms = 60000;            /* cfg_mu */
static unsigned cfg_retries = 5;               /* cfg_mu */
static long cfg_backoff_ms = 100;              /* cfg_mu */
static char cfg_staging[GV_PATH_MAX];          /* cfg_mu */
static cred cfg_creds[CREDS_MAX];              /* cfg_mu */
static size_t cfg_ncreds;                      /* cfg_mu */

int gv_sector_s3_configure(const gv_sector_s3_opts *o)
{
	if (!o || o->version != 1)
		return gv_error_set(GV_EINVAL, "s3 sector settings: version 1 expected");
	if (o->part_size && (o->part_size < PART_MIN || o->part_size > (5ull << 30)))
		return gv_error_set(GV_EINVAL, "s3 part size must be 5 MiB to 5 GiB");
	if (o->multipart_threshold && o->multipart_threshold > (5ull << 30))
		return gv_error_set(GV_EINVAL, "s3 multipart threshold must be at most 5 GiB");
	if (o->staging_dir && strlen(o->staging_dir) >= sizeof(cfg_staging))
		return gv_error_set(GV_EINVAL, "s3 staging directory path too long");
	pthread_mutex_lock(&cfg_mu);
	cfg_threshold = o->multipart_threshold ? o->multipart_threshold : 64ull << 20;
	cfg_part = o->part_size ? o->part_size : 16ull << 20;
	cfg_connect_ms = o->connect_timeout_ms ? (long)o->connect_timeout_ms : 5000;
	cfg_request_ms = o->request_timeout_ms ? (long)o->request_timeout_ms : 60000;
	cfg_retries = o->retries;
	cfg_backoff_ms = o->backoff_ms ? (long)o->backoff_ms : 100;
	snprintf(cfg_staging, sizeof(cfg_staging), "%s", o->staging_dir ? o->staging_dir : "");
	pthread_mutex_unlock(&cfg_mu);
	return 0;
}

int gv_sector_s3_credentials(const char *id, const char *access, const char *secret,
                             const char *token)
{
	size_t i;
	cred *c = NULL;

	if (!id || gv_id_validate("sector id", id) < 0)
		return GV_EINVAL;
	if ((access && strlen(access) >= sizeof(c->access)) ||
	    (secret && strlen(secret) >= sizeof(c->secret)) ||
	    (token && strlen(token) >= sizeof(c->token)))
		return gv_error_set(GV_EINVAL, "sector %s: s3 credentials too long", id);
	pthread_mutex_lock(&cfg_mu);
	for (i = 0; i < cfg_ncreds && !c; i++)
		if (strcmp(cfg_creds[i].id, id) == 0)
			c = &cfg_creds[i];
	if (!c && cfg_ncreds < CREDS_MAX)
		c = &cfg_creds[cfg_ncreds++];
	if (c) {
		snprintf(c->id, sizeof(c->id), "%s", id);
		snprintf(c->access, sizeof(c->access), "%s", access ? access : "");
		snprintf(c->secret, sizeof(c->secret), "%s", secret ? secret : "");
		snprintf(c->token, sizeof(c->token), "%s", token ? token : "");
	}
	pthread_mutex_unlock(&cfg_mu);
	return c ? 0 : gv_error_set(GV_ENOSPACE, "credentials of at most %d s3 sectors", CREDS_MAX);
}

/* The sector's credentials, else the environment's; GV_EINVAL naming the
 * sector when there are none. */
static int creds_of(const char *id, cred *out)
{
	const char *a, *s, *t;
	size_t i;
	int found = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cfg_mu);
	for (i = 0; i < cfg_ncreds; i++)
		if (strcmp(cfg_creds[i].id, id) == 0 && cfg_creds[i].access[0]) {
			*out = cfg_creds[i];
			found = 1;
		}
	pthread_mutex_unlock(&cfg_mu);
	if (!found) {
		a = getenv("AWS_ACCESS_KEY_ID");
		s = getenv("AWS_SECRET_ACCESS_KEY");
		t = getenv("AWS_SESSION_TOKEN");
		if (a && *a && s && *s && strlen(a) < sizeof(out->access) &&
		    strlen(s) < sizeof(out->secret) && (!t || strlen(t) < sizeof(out->token))) {
			snprintf(out->access, sizeof(out->access), "%s", a);
			snprintf(out->secret, sizeof(out->secret), "%s", s);
			snprintf(out->token, sizeof(out->token), "%s", t ? t : "");
			found = 1;
		}
	}
	if (!found)
		return gv_error_set(GV_EINVAL, "sector %s: no S3 credentials (access-key and "
		                    "secret-key in its configuration, or AWS_ACCESS_KEY_ID and "
		                    "AWS_SECRET_ACCESS_KEY)", id);
	return 0;
}

/* ---- locators -------------------------------------------------------------------- */

typedef struct loc {
	char bucket[64];
	char prefix[512];      /* "" or "a/b/" (with its slash) */
	char endpoint[512];    /* scheme://host[:port] without a trailing slash */
	char region[64];
	int virtual_host;
} loc;

static int bucket_ok(const char *b)
{
	size_t n = strlen(b), i;

	if (n < 3 || n > 63 || b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		      b[i] == '-'))
			return 0;
	return 1;
}

/* A prefix of [A-Za-z0-9._-] segments joined by '/', none "." or "..". */
static int prefix_ok(const char *p)
{
	const char *seg = p;

	for (;; p++) {
		if (*p == '/' || *p == '\0') {
			size_t n = (size_t)(p - seg);

			if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return 0;
			if (*p == '\0')
				return 1;
			seg = p + 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return 0;
	}
}

static int endpoint_ok(const char *e)
{
	const char *host;

	if (strncmp(e, "http://", 7) == 0)
		host = e + 7;
	else if (strncmp(e, "https://", 8) == 0)
		host = e + 8;
	else
		return 0;
	return *host && !strpbrk(host, "/?#&@ \t\r\n%");
}

static int loc_parse(loc *l, const char *s)
{
	char tmp[GV_PATH_MAX], *q, *slash, *p, *save = NULL;

	memset(l, 0, sizeof(*l));
	snprintf(l->region, sizeof(l->region), "us-east-1");
	if (!s || strncmp(s, "s3://", 5) != 0 || strlen(s) >= sizeof(tmp))
		return gv_error_set(GV_EINVAL, "'%.64s' is not an s3 sector locator "
		                    "(s3://BUCKET[/PREFIX]?endpoint=URL)", s ? s : "");
	snprintf(tmp, sizeof(tmp), "%s", s + 5);
	if ((q = strchr(tmp, '?')))
		*q++ = '\0';
	if ((slash = strchr(tmp, '/')))
		*slash++ = '\0';
	if (!bucket_ok(tmp))
		return gv_error_set(GV_EINVAL, "s3 bucket '%.64s': 3 to 63 characters of a-z, 0-9, "
		                    "'.' and '-'", tmp);
	snprintf(l->bucket, sizeof(l->bucket), "%.63s", tmp);
	if (slash) {
		size_t n = strlen(slash);

		while (n && slash[n - 1] == '/')
			slash[--n] = '\0';
		if (n && (!prefix_ok(slash) || n + 2 > sizeof(l->prefix)))
			return gv_error_set(GV_EINVAL, "s3 prefix '%.64s': segments of A-Z, a-z, 0-9, "
			                    "'.', '_' and '-' joined by '/'", slash);
		if (n)
			snprintf(l->prefix, sizeof(l->prefix), "%.510s/", slash);
	}
	for (p = q ? strtok_r(q, "&", &save) : NULL; p; p = strtok_r(NULL, "&", &save)) {
		char *v = strchr(p, '=');

		if (!v)
			return gv_error_set(GV_EINVAL, "s3 locator: '%.32s' is not name=value", p);
		*v++ = '\0';
		if (strcmp(p, "endpoint") == 0) {
			size_t n = strlen(v);

			while (n && v[n - 1] == '/')
				v[--n] = '\0';
			if (!endpoint_ok(v) || n >= sizeof(l->endpoint))
				return gv_error_set(GV_EINVAL, "s3 endpoint '%.64s': expected http://HOST[:PORT] "
				                    "or https://HOST[:PORT]", v);
			snprintf(l->endpoint, sizeof(l->endpoint), "%.511s", v);
		} else if (strcmp(p, "region") == 0) {
			if (gv_id_validate("s3 region", v) < 0)
				return GV_EINVAL;
			snprintf(l->region, sizeof(l->region), "%.63s", v);
		} else if (strcmp(p, "style") == 0) {
			if (strcmp(v, "path") == 0)
				l->virtual_host = 0;
			else if (strcmp(v, "virtual") == 0)
				l->virtual_host = 1;
			else
				return gv_error_set(GV_EINVAL, "s3 style '%.16s': path or virtual", v);
		} else {
			return gv_error_set(GV_EINVAL, "s3 locator: unknown setting '%.32s' (endpoint, "
			                    "region, style)", p);
		}
	}
	if (!l->endpoint[0])
		return gv_error_set(GV_EINVAL, "s3 locator: endpoint=URL is required");
	if (l->virtual_host && strchr(l->bucket, '.') && strncmp(l->endpoint, "https://", 8) == 0)
		return gv_error_set(GV_EINVAL, "s3 bucket %s: a dotted bucket cannot be reached "
		                    "virtual-host style over https (use style=path)", l->bucket);
	return 0;
}

static int loc_format(char *out, size_t cap, const loc *l)
{
	size_t pn = strlen(l->prefix);
	int n = snprintf(out, cap, "s3://%s%s%.*s?endpoint=%s&region=%s&style=%s", l->bucket,
	                 pn ? "/" : "", (int)(pn ? pn - 1 : 0), l->prefix, l->endpoint, l->region,
	                 l->virtual_host ? "virtual" : "path");

	if (n < 0 || (size_t)n >= cap)
		return gv_error_set(GV_EINVAL, "s3 locator too long");
	return 0;
}

int gv_sector_s3_locator(char *out, size_t cap, const char *url, const char *endpoint,
                         const char *region, const char *style)
{
	char tmp[GV_PATH_MAX * 2];
	loc l;
	int n;

	if (!url || strncmp(url, "s3://", 5) != 0 || strchr(url, '?'))
		return gv_error_set(GV_EINVAL, "'%.64s' is not an s3://BUCKET[/PREFIX] url",
		                    url ? url : "");
	n = snprintf(tmp, sizeof(tmp), "%s?endpoint=%s%s%s%s%s", url, endpoint ? endpoint : "",
	             region && *region ? "&region=" : "", region ? region : "",
	             style && *style ? "&style=" : "", style ? style : "");
	if (n < 0 || (size_t)n >= sizeof(tmp) || (endpoint && strpbrk(endpoint, "&?")) ||
	    (region && strpbrk(region, "&?")) || (style && strpbrk(style, "&?")))
		return gv_error_set(GV_EINVAL, "s3 sector: invalid endpoint, region or style");
	if (loc_parse(&l, tmp) < 0)
		return GV_EINVAL;
	return loc_format(out, cap, &l);
}

int gv_sector_s3_split(const char *locator, gv_sector_s3_where *out)
{
	size_t pn;
	loc l;

	memset(out, 0, sizeof(*out));
	if (loc_parse(&l, locator) < 0)
		return GV_EINVAL;
	pn = strlen(l.prefix);
	snprintf(out->url, sizeof(out->url), "s3://%s%s%.*s", l.bucket, pn ? "/" : "",
	         (int)(pn ? pn - 1 : 0), l.prefix);
	snprintf(out->endpoint, sizeof(out->endpoint), "%s", l.endpoint);
	snprintf(out->region, sizeof(out->region), "%s", l.region);
	snprintf(out->style, sizeof(out->style), "%s", l.virtual_host ? "virtual" : "path");
	return 0;
}

typedef struct s3reader s3reader;

/* ---- the sector ------------------------------------------------------------------------ */

typedef struct s3 {
	gv_sector base;
	loc l;
	uint64_t quota;
	pthread_mutex_t mu;
	gv_curl_pool pool;    /* idle handles */
	/* Connections (and DNS answers) shared by every request of the
	 * sector, readers' included: a block read is a Range GET of its own. */
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	/* mu: readers closed before the end of their object, their GET still
	 * open: a read that starts where one stopped (the next block of a
	 * block-verified read) takes it over instead of a new request. */
	struct s3reader *parked[PARK_MAX];
	size_t nparked;
} s3;

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u)
{
	(void)h, (void)a;
	pthread_mutex_lock(&((s3 *)u)->share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *u)
{
	(void)h;
	pthread_mutex_unlock(&((s3 *)u)->share_mu[d]);
}

/* The url of object `name` under the prefix (NULL: the bucket itself),
 * with the canonical (sorted, encoded) query q. */
static int url_of(const s3 *s, char *out, size_t cap, const char *name, const char *q)
{
	const loc *l = &s->l;
	const char *host = l->endpoint + (strncmp(l->endpoint, "https://", 8) == 0 ? 8 : 7);
	int scheme_len = (int)(host - l->endpoint), n;

	if (l->virtual_host)
		n = snprintf(out, cap, "%.*s%s.%s/%s%s%s%s", scheme_len, l->endpoint, l->bucket, host,
		             name ? l->prefix : "", name ? name : "", q ? "?" : "", q ? q : "");
	else
		n = snprintf(out, cap, "%s/%s%s%s%s%s%s", l->endpoint, l->bucket, name ? "/" : "",
		             name ? l->prefix : "", name ? name : "", q ? "?" : "", q ? q : "");
	if (n < 0 || (size_t)n >= cap)
		return gv_error_set(GV_EINVAL, "sector %s: url too long", s->base.id);
	return 0;
}

/* A query value, percent-encoded as SigV4 wants it. */
static void qenc(char *out, size_t cap, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *v && o + 4 < cap; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void obj_name(char *out, size_t cap, const gv_key *key)
{
	char kb[GV_KEY_BUFSIZE], *hex, *size;

	gv_key_format(kb, key);
	hex = strchr(kb, ':') + 1;
	size = strchr(hex, ':');
	*size++ = '\0';
	snprintf(out, cap, "%s-%s", hex, size);
}

/* A request.  The body comes from buf or from fd at [foff, foff+flen);
 * the answer goes to out (cap bytes; an error answer's start to err). */
typedef struct req {
	const char *method;
	const char *name;     /* under the prefix; NULL: the bucket */
	const char *query;    /* canonical query or NULL */
	const unsigned char *buf;
	size_t len;
	int fd;               /* >= 0: the body is in this file */
	uint64_t foff, flen;
	int has_body;
	char *out;
	size_t cap, olen;
	int overflow;
	/* results */
	long status;
	uint64_t clen;
	int64_t mtime_ms;
	char etag[128];
	char err[ERR_MAX];
	size_t elen;
	/* internal */
	uint64_t pos;
	CURL *h;
} req;

/* An error answer's start, kept for the message; all of it is taken. */
static size_t err_keep(char *err, size_t *elen, const char *p, size_t n)
{
	size_t k = ERR_MAX - 1 - *elen;

	k = n < k ? n : k;
	memcpy(err + *elen, p, k);
	*elen += k;
	err[*elen] = '\0';
	return n;
}

static size_t req_body(char *p, size_t sz, size_t nm, void *u)
{
	req *r = u;
	size_t cap = sz * nm;
	uint64_t total = r->fd >= 0 ? r->flen : r->len, left = total - r->pos;
	size_t n = left < cap ? (size_t)left : cap;

	if (!n)
		return 0;
	if (r->fd >= 0) {
		ssize_t k = pread(r->fd, p, n, (off_t)(r->foff + r->pos));

		if (k <= 0)
			return CURL_READFUNC_ABORT;
		n = (size_t)k;
	} else {
		memcpy(p, r->buf + r->pos, n);
	}
	r->pos += n;
	return n;
}

static size_t req_answer(char *p, size_t sz, size_t nm, void *u)
{
	req *r = u;
	size_t n = sz * nm;
	long status = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300)
		return err_keep(r->err, &r->elen, p, n);
	if (!r->out)
		return n;
	if (r->olen + n > r->cap) {
		r->overflow = 1;
		return 0;
	}
	memcpy(r->out + r->olen, p, n);
	r->olen += n;
	return n;
}

static size_t req_header(char *p, size_t sz, size_t nm, void *u)
{
	req *r = u;
	size_t n = sz * nm, k;

	if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		const char *v = p + 5;

		while (*v == ' ')
			v++;
		k = (size_t)(p + n - v);
		while (k && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' '))
			k--;
		if (k < sizeof(r->etag)) {
			memcpy(r->etag, v, k);
			r->etag[k] = '\0';
		}
	}
	return n;
}

/* The text of <tag>...</tag> in xml (from *from on) into out; the end of
 * the match in *from.  0 when found. */
static int xml_get(const char *xml, size_t len, const char *tag, char *out, size_t cap,
                   size_t *from)
{
	char open[64], close[64];
	const char *a, *b, *end = xml + len;
	size_t start = from ? *from : 0, o = 0;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	if (start >= len || !(a = memmem(xml + start, len - start, open, strlen(open))))
		return -1;
	a += strlen(open);
	if (!(b = memmem(a, (size_t)(end - a), close, strlen(close))))
		return -1;
	if (from)
		*from = (size_t)(b - xml) + strlen(close);
	while (a < b && o + 1 < cap) {
		static const struct { const char *e; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
			{ "&apos;", '\'' }, { "&#34;", '"' }, { "&#39;", '\'' },
		};
		size_t i, hit = 0;

		for (i = 0; *a == '&' && i < sizeof(ents) / sizeof(ents[0]); i++)
			if ((size_t)(b - a) >= strlen(ents[i].e) &&
			    strncmp(a, ents[i].e, strlen(ents[i].e)) == 0) {
				out[o++] = ents[i].c;
				a += strlen(ents[i].e);
				hit = 1;
				break;
			}
		if (!hit)
			out[o++] = *a++;
	}
	out[o] = '\0';
	return 0;
}

/* The port's code for an S3 error answer; the sector and the server's
 * code and message in the error text. */
static int status_error(s3 *s, const req *r)
{
	char code[64] = "", msg[256] = "";
	int err;

	xml_get(r->err, r->elen, "Code", code, sizeof(code), NULL);
	xml_get(r->err, r->elen, "Message", msg, sizeof(msg), NULL);
	if (r->status == 404 && strcmp(code, "NoSuchBucket") == 0)
		return gv_error_set(GV_ENOTFOUND, "sector %s: bucket missing: %s does not exist at %s",
		                    s->base.id, s->l.bucket, s->l.endpoint);
	switch (r->status) {
	case 400: err = GV_EINVAL; break;
	case 404: err = GV_ENOTFOUND; break;
	case 401:
	case 403:
		return gv_error_set(GV_EIO, "sector %s: permission denied by %s (%ld %s%s%s): check "
		                    "the sector's S3 credentials and their rights on bucket %s",
		                    s->base.id, s->l.endpoint, r->status, code[0] ? code : "Forbidden",
		                    msg[0] ? ": " : "", msg, s->l.bucket);
	case 416: err = GV_EINVAL; break;
	default: err = GV_EIO; break;
	}
	return gv_error_set(err, "sector %s: %s %s%s: %ld %s%s%s", s->base.id, r->method,
	                    s->l.prefix, r->name ? r->name : "", r->status, code,
	                    msg[0] ? ": " : "", msg);
}

/* Whether an answer is worth another try, and the backoff's base. */
static int retryable(const req *r, long *base)
{
	*base = cfg_backoff_ms;
	if (r->status == 503 && strstr(r->err, "SlowDown")) {
		*base = cfg_backoff_ms * 5;
		return 1;
	}
	return r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504 ||
	       (r->status == 400 && strstr(r->err, "RequestTimeout"));
}

static void backoff(long base_ms, unsigned attempt)
{
	long ms = base_ms << (attempt < 6 ? attempt : 6);
	struct timespec ts;

	if (ms > 5000)
		ms = 5000;
	ms = ms / 2 + (ms > 1 ? rand() % (ms / 2) : 0); /* jitter */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static struct curl_slist *sign_headers(const cred *c, const char *range)
{
	struct curl_slist *h = NULL, *t;
	char line[2200];

	/* No "Expect:" to suppress 100-continue: curl 7.88 signs the empty
	 * header, which servers do not see. */
	h = curl_slist_append(h, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (h && c->token[0]) {
		snprintf(line, sizeof(line), "x-amz-security-token: %s", c->token);
		if ((t = curl_slist_append(h, line)))
			h = t;
	}
	if (h && range) {
		snprintf(line, sizeof(line), "Range: %s", range);
		if ((t = curl_slist_append(h, line)))
			h = t;
	}
	return h;
}

/* Set up h for a signed request to url (the common part of every request). */
static void setup(CURL *h, s3 *s, const cred *c, const char *url, struct curl_slist *hdrs,
                  char *errbuf, long connect_ms)
{
	char sig[128];

	snprintf(sig, sizeof(sig), "aws:amz:%s:s3", s->l.region);
	if (s->share)
		curl_easy_setopt(h, CURLOPT_SHARE, s->share);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sig);
	curl_easy_setopt(h, CURLOPT_USERNAME, c->access);
	curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, CURL_BUF);
}

static int perform(s3 *s, req *r)
{
	char url[GV_PATH_MAX * 2], errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	unsigned attempt, retries;
	long connect_ms, request_ms, base;
	cred c;
	int err = 0;

	if ((err = creds_of(s->base.id, &c)) < 0)
		return err;
	if ((err = url_of(s, url, sizeof(url), r->name, r->query)) < 0)
		return err;
	pthread_mutex_lock(&cfg_mu);
	connect_ms = cfg_connect_ms;
	request_ms = cfg_request_ms;
	retries = cfg_retries;
	pthread_mutex_unlock(&cfg_mu);
	if (!(hdrs = sign_headers(&c, NULL)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (attempt = 0;; attempt++) {
		CURL *h = gv_curl_pool_get(&s->pool);
		CURLcode rc;
		curl_off_t clen = -1;
		long ft = -1;
		uint64_t total = r->fd >= 0 ? r->flen : r->len;

		if (!h) {
			err = gv_error_set(GV_ENOMEM, "sector %s: cannot create a curl handle", s->base.id);
			break;
		}
		r->h = h;
		r->pos = 0;
		r->olen = 0;
		r->overflow = 0;
		r->elen = 0;
		r->err[0] = '\0';
		r->etag[0] = '\0';
		errbuf[0] = '\0';
		setup(h, s, &c, url, hdrs, errbuf, connect_ms);
		/* A stall, not a slow big transfer, is what times out. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (request_ms + 999) / 1000);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
		if (strcmp(r->method, "HEAD") == 0)
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		if (r->has_body) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, req_body);
			curl_easy_setopt(h, CURLOPT_READDATA, r);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)total);
			curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, CURL_BUF);
		} else if (strcmp(r->method, "POST") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		}
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, req_answer);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, req_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
		rc = curl_easy_perform(h);
		r->status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
		curl_easy_getinfo(h, CURLINFO_FILETIME, &ft);
		r->clen = clen < 0 ? 0 : (uint64_t)clen;
		r->mtime_ms = ft < 0 ? 0 : (int64_t)ft * 1000;
		if (rc == CURLE_OK) {
			gv_curl_pool_put(&s->pool, h);
			if (r->status >= 200 && r->status < 300) {
				err = 0;
				break;
			}
			err = status_error(s, r);
			pthread_mutex_lock(&cfg_mu);
			if (!retryable(r, &base) || attempt >= retries) {
				pthread_mutex_unlock(&cfg_mu);
				break;
			}
			pthread_mutex_unlock(&cfg_mu);
			gv_warn("event=s3_retry sector=%s status=%ld attempt=%u error=\"%s\"", s->base.id,
			        r->status, attempt + 1, gv_error_last());
			backoff(base, attempt);
			continue;
		}
		curl_easy_cleanup(h);
		if (r->overflow) {
			err = gv_error_set(GV_EIO, "sector %s: %s: answer over %zu bytes", s->base.id,
			                   r->method, r->cap);
			break;
		}
		err = gv_error_set(rc == CURLE_OPERATION_TIMEDOUT ? GV_ETIMEOUT : GV_EIO,
		                   "sector %s: S3 endpoint %s unreachable: %s", s->base.id, s->l.endpoint,
		                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
		if (attempt >= retries)
			break;
		pthread_mutex_lock(&cfg_mu);
		base = cfg_backoff_ms;
		pthread_mutex_unlock(&cfg_mu);
		backoff(base, attempt);
	}
	curl_slist_free_all(hdrs);
	return err;
}

static void req_init(req *r, const char *method, const char *name, const char *query)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->name = name;
	r->query = query;
	r->fd = -1;
}

/* ---- identity ------------------------------------------------------------------------ */

static int ident_text(char *out, size_t cap, const gv_sector_identity *id)
{
	int n = snprintf(out, cap, "format=%d\nid=%s\nrack=%s\nzone=%s\ncapacity=%" PRIu64 "\n%s%s%s",
	                 id->format ? id->format : 1, id->id, id->rack, id->zone, id->capacity,
	                 id->cluster[0] ? "cluster=" : "", id->cluster, id->cluster[0] ? "\n" : "");

	return n < 0 || (size_t)n >= cap ? gv_error_set(GV_EINVAL, "identity too long") : n;
}

static int ident_parse(gv_sector_identity *out, char *text, const char *where)
{
	char *line, *save = NULL;
	int have_id = 0;

	memset(out, 0, sizeof(*out));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, '=');

		if (line[0] == '#' || !v)
			continue;
		*v++ = '\0';
		if (strcmp(line, "format") == 0)
			out->format = atoi(v);
		else if (strcmp(line, "id") == 0 && strlen(v) < sizeof(out->id))
			snprintf(out->id, sizeof(out->id), "%s", v), have_id = 1;
		else if (strcmp(line, "rack") == 0 && strlen(v) < sizeof(out->rack))
			snprintf(out->rack, sizeof(out->rack), "%s", v);
		else if (strcmp(line, "zone") == 0 && strlen(v) < sizeof(out->zone))
			snprintf(out->zone, sizeof(out->zone), "%s", v);
		else if (strcmp(line, "capacity") == 0)
			out->capacity = strtoull(v, NULL, 10);
		else if (strcmp(line, "cluster") == 0 && strlen(v) < sizeof(out->cluster))
			snprintf(out->cluster, sizeof(out->cluster), "%s", v);
	}
	if (out->format != 1 || !have_id)
		return gv_error_set(GV_EINVAL, "%s: not a graviton sector identity (format 1 and "
		                    "an id expected)", where);
	return 0;
}

static int ident_get(s3 *s, gv_sector_identity *out)
{
	char text[2048], where[GV_PATH_MAX];
	req r;
	int err;

	req_init(&r, "GET", IDENT_NAME, NULL);
	r.out = text;
	r.cap = sizeof(text) - 1;
	if ((err = perform(s, &r)) < 0)
		return err;
	text[r.olen] = '\0';
	snprintf(where, sizeof(where), "s3://%s/%s" IDENT_NAME, s->l.bucket, s->l.prefix);
	return ident_parse(out, text, where);
}

static int ident_put(s3 *s, const gv_sector_identity *id)
{
	char text[2048];
	req r;
	int n;

	if ((n = ident_text(text, sizeof(text), id)) < 0)
		return n;
	req_init(&r, "PUT", IDENT_NAME, NULL);
	r.buf = (const unsigned char *)text;
	r.len = (size_t)n;
	r.has_body = 1;
	return perform(s, &r);
}

/* ---- writers ------------------------------------------------------------------------ */

/* One part of a multipart upload. */
typedef struct upart {
	char etag[128];
	uint64_t size;
} upart;

typedef struct s3writer {
	gv_sector_writer base;
	s3 *s;
	gv_key key;
	int has_key;
	unsigned char *mem; /* the first SPOOL_MEM bytes, until fd opens */
	int fd;             /* >= 0: every byte is in this unlinked file */
	/* A resumable write of a blob over the multipart threshold sends its
	 * parts as they fill, into an upload that a later writer of the key
	 * finds again (mp_find): parts 1..nparts hold [0, durable), pbuf
	 * [durable, offset), prev the last part this writer sent (prevlen
	 * bytes; 0: none), which a sync holding under PART_MIN sends again
	 * with them (both buffers hold part + PART_MIN bytes).
	 * [durable, offset). */
	int mp;
	char name[GV_KEY_BUFSIZE + 16];
	char upload[512];   /* encoded upload id; "" before the first part */
	uint64_t part, durable;
	upart *parts;
	unsigned nparts, cap;
	unsigned char *pbuf, *prev;
	uint64_t prevlen;
} s3writer;

static int spool_open(s3writer *w)
{
	char dir[GV_PATH_MAX];
	const char *env = getenv("TMPDIR");
	ssize_t k;

	pthread_mutex_lock(&cfg_mu);
	snprintf(dir, sizeof(dir), "%s", cfg_staging[0] ? cfg_staging : env && *env ? env : "/var/tmp");
	pthread_mutex_unlock(&cfg_mu);
	w->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		char tmpl[GV_PATH_MAX + 32];

		snprintf(tmpl, sizeof(tmpl), "%s/graviton-s3-XXXXXX", dir);
		if ((w->fd = mkostemp(tmpl, O_CLOEXEC)) >= 0)
			unlink(tmpl);
	}
	if (w->fd < 0)
		return gv_error_set_errno(GV_EIO, errno, "sector %s: cannot spool in %s", w->s->base.id,
		                          dir);
	k = pwrite(w->fd, w->mem, (size_t)w->base.offset, 0);
	if (k != (ssize_t)w->base.offset)
		return gv_error_set_errno(GV_EIO, errno, "sector %s: cannot spool in %s",
		                          w->s->base.id, dir);
	free(w->mem);
	w->mem = NULL;
	return 0;
}

/* ---- multipart uploads ---- */

/* The part size for an object of `size` bytes (at most MAX_PARTS parts). */
static uint64_t part_size(uint64_t size)
{
	uint64_t part;

	pthread_mutex_lock(&cfg_mu);
	part = cfg_part;
	pthread_mutex_unlock(&cfg_mu);
	while ((size + part - 1) / part > MAX_PARTS)
		part *= 2;
	return part;
}

/* Start an upload of object `name`; its encoded id into upload. */
static int upload_start(s3 *s, const char *name, char *upload, size_t cap)
{
	char ans[4096], id[400];
	req r;
	int err;

	req_init(&r, "POST", name, "uploads=");
	r.out = ans;
	r.cap = sizeof(ans) - 1;
	if ((err = perform(s, &r)) < 0)
		return err;
	if (xml_get(ans, r.olen, "UploadId", id, sizeof(id), NULL) < 0 || !id[0])
		return gv_error_set(GV_EIO, "sector %s: the server named no upload", s->base.id);
	qenc(upload, cap, id);
	return 0;
}

/* Send part n of an upload from body (the caller's req with its body
 * set); its ETag into p. */
static int upload_part(s3 *s, const char *name, const char *upload, unsigned n, req *r, upart *p)
{
	char q[640];
	int err;

	snprintf(q, sizeof(q), "partNumber=%u&uploadId=%s", n, upload);
	r->method = "PUT";
	r->name = name;
	r->query = q;
	if ((err = perform(s, r)) == 0 && !r->etag[0])
		err = gv_error_set(GV_EIO, "sector %s: part %u answered without an ETag", s->base.id, n);
	if (err == 0)
		snprintf(p->etag, sizeof(p->etag), "%s", r->etag);
	return err;
}

/* Complete an upload of parts 1..n. */
static int upload_complete(s3 *s, const char *name, const char *upload, const upart *parts,
                           unsigned n)
{
	char ans[4096], q[640], *xml;
	size_t xl, i;
	req r;
	int err;

	if (!(xml = malloc((size_t)n * 200 + 128)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	xl = (size_t)sprintf(xml, "<CompleteMultipartUpload>");
	for (i = 0; i < n; i++)
		xl += (size_t)sprintf(xml + xl, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
		                      i + 1, parts[i].etag);
	xl += (size_t)sprintf(xml + xl, "</CompleteMultipartUpload>");
	snprintf(q, sizeof(q), "uploadId=%s", upload);
	req_init(&r, "POST", name, q);
	r.buf = (const unsigned char *)xml;
	r.len = xl;
	r.has_body = 1;
	r.out = ans;
	r.cap = sizeof(ans) - 1;
	err = perform(s, &r);
	/* A complete can fail after its 200 (the error is in the body). */
	if (err == 0 && memmem(ans, r.olen, "<Error>", 7)) {
		char code[64] = "";

		xml_get(ans, r.olen, "Code", code, sizeof(code), NULL);
		err = gv_error_set(GV_EIO, "sector %s: completing the upload of %s failed: %s",
		                   s->base.id, name, code);
	}
	free(xml);
	return err;
}

/* Abort an upload (DELETE ?uploadId); err < 0: keep the caller's error. */
static void upload_abort(s3 *s, const char *name, const char *upload, int err)
{
	char msg[512], q[640];
	req r;

	snprintf(msg, sizeof(msg), "%s", gv_error_last());
	snprintf(q, sizeof(q), "uploadId=%s", upload);
	req_init(&r, "DELETE", name, q);
	if (perform(s, &r) < 0)
		gv_warn("event=s3_upload_abort_failed sector=%s object=%s error=\"%s\"", s->base.id,
		        name, gv_error_last());
	if (err < 0)
		gv_error_set(err, "%s", msg);
}

typedef struct mpu {
	s3writer *w;
	const char *name;
	char upload[512];     /* encoded upload id */
	uint64_t part, size;
	unsigned nparts;
	upart *parts;
	pthread_mutex_t mu;
	unsigned next;        /* mu: the next part to send (1-based) */
	int err;              /* mu: the first failure */
	char msg[512];        /* mu: its message */
} mpu;

static void body_of(const s3writer *w, req *r, uint64_t off, uint64_t len)
{
	r->has_body = 1;
	if (w->fd >= 0) {
		r->fd = w->fd;
		r->foff = off;
		r->flen = len;
	} else {
		r->buf = w->mem + off;
		r->len = (size_t)len;
	}
}

static void *part_main(void *p)
{
	mpu *m = p;

	for (;;) {
		unsigned n;
		uint64_t off, len;
		upart got;
		req r;
		int err;

		pthread_mutex_lock(&m->mu);
		n = m->err ? 0 : m->next <= m->nparts ? m->next++ : 0;
		pthread_mutex_unlock(&m->mu);
		if (!n)
			return NULL;
		off = (uint64_t)(n - 1) * m->part;
		len = m->size - off < m->part ? m->size - off : m->part;
		req_init(&r, "PUT", m->name, NULL);
		body_of(m->w, &r, off, len);
		err = upload_part(m->w->s, m->name, m->upload, n, &r, &got);
		pthread_mutex_lock(&m->mu);
		if (err < 0 && !m->err) {
			m->err = err;
			snprintf(m->msg, sizeof(m->msg), "%s", gv_error_last());
		} else if (err == 0) {
			m->parts[n - 1] = got;
		}
		pthread_mutex_unlock(&m->mu);
	}
}

/* The spool as one multipart upload, PART_THREADS parts in flight. */
static int multipart(s3writer *w, const char *name, uint64_t size)
{
	mpu m;
	pthread_t tid[PART_THREADS];
	size_t nt = 0, i;
	int err;

	memset(&m, 0, sizeof(m));
	m.w = w;
	m.name = name;
	m.size = size;
	m.part = part_size(size);
	m.nparts = (unsigned)((size + m.part - 1) / m.part);
	m.next = 1;
	if ((err = upload_start(w->s, name, m.upload, sizeof(m.upload))) < 0)
		return err;
	if (!(m.parts = calloc(m.nparts, sizeof(*m.parts)))) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto abort;
	}
	pthread_mutex_init(&m.mu, NULL);
	for (i = 0; i < PART_THREADS && i < m.nparts; i++)
		if (pthread_create(&tid[nt], NULL, part_main, &m) == 0)
			nt++;
	if (nt == 0)
		part_main(&m);
	for (i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&m.mu);
	if ((err = m.err) < 0) {
		gv_error_set(err, "%s", m.msg);
		goto abort;
	}
	if ((err = upload_complete(w->s, name, m.upload, m.parts, m.nparts)) == 0)
		goto out;
abort:
	upload_abort(w->s, name, m.upload, err);
out:
	free(m.parts);
	return err;
}

/* ---- resumable uploads ---- */

static int parts_room(s3writer *w, unsigned n)
{
	upart *p;
	unsigned cap = w->cap ? w->cap : 64;

	while (cap < n)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	if (!(p = realloc(w->parts, (size_t)cap * sizeof(*p))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	w->parts = p;
	w->cap = cap;
	return 0;
}

/* Whether a failed request means the server lacks the operation. */
static int unsupported(const req *r)
{
	return r->status == 501 || r->status == 405 ||
	       (r->status == 400 && strstr(r->err, "NotImplemented"));
}

/*
 * The parts of w's upload that a resumed write keeps: 1..n, numbered
 * without a gap, each of PART_MIN or more (a shorter one can only be the
 * last, and what follows it is sent again).
 */
static int mp_parts(s3writer *w, char *ans)
{
	unsigned marker = 0;
	int more = 1, stop = 0;

	while (more && !stop) {
		char q[700], block[1024], v[64];
		size_t from = 0;
		req r;
		int err;

		snprintf(q, sizeof(q), "part-number-marker=%u&uploadId=%s", marker, w->upload);
		req_init(&r, "GET", w->name, q);
		r.out = ans;
		r.cap = ANSWER_MAX - 1;
		if ((err = perform(w->s, &r)) < 0)
			return r.status == 404 ? (w->upload[0] = '\0', 0) : err;
		more = xml_get(ans, r.olen, "IsTruncated", v, sizeof(v), NULL) == 0 &&
		       strcmp(v, "true") == 0;
		while (!stop && xml_get(ans, r.olen, "Part", block, sizeof(block), &from) == 0) {
			char etag[128] = "";
			unsigned long n = 0;
			uint64_t size = 0;

			if (xml_get(block, strlen(block), "PartNumber", v, sizeof(v), NULL) == 0)
				n = strtoul(v, NULL, 10);
			if (xml_get(block, strlen(block), "Size", v, sizeof(v), NULL) == 0)
				size = strtoull(v, NULL, 10);
			xml_get(block, strlen(block), "ETag", etag, sizeof(etag), NULL);
			marker = (unsigned)n;
			if (n != w->nparts + 1u || size < PART_MIN || !etag[0] ||
			    size > w->key.size - w->durable) {
				stop = 1;
				break;
			}
			if ((err = parts_room(w, w->nparts + 1)) < 0)
				return err;
			snprintf(w->parts[w->nparts].etag, sizeof(w->parts[0].etag), "%s", etag);
			w->parts[w->nparts++].size = size;
			w->durable += size;
		}
	}
	/* Everything sent: the last part goes again at commit. */
	if (w->durable == w->key.size && w->nparts)
		w->durable -= w->parts[--w->nparts].size;
	return 0;
}

/* Start over on `upload` (NULL: none): no part kept. */
static void mp_reset(s3writer *w, const char *upload)
{
	snprintf(w->upload, sizeof(w->upload), "%s", upload ? upload : "");
	w->nparts = 0;
	w->durable = 0;
}

/*
 * A resumable write's upload: of the unfinished uploads of its object,
 * the one with the most parts to keep (the others, stale attempts, are
 * aborted), and those parts.  A server without ListMultipartUploads
 * resumes nothing.
 */
static int mp_find(s3writer *w)
{
	char full[GV_PATH_MAX + GV_KEY_BUFSIZE], enc[3 * sizeof(full)], *q, *ans;
	char (*ids)[512] = NULL;
	uint64_t best_bytes = 0;
	size_t from = 0, n = 0, i, best = 0;
	req r;
	int err;

	snprintf(full, sizeof(full), "%s%s", w->s->l.prefix, w->name);
	qenc(enc, sizeof(enc), full);
	ans = malloc(ANSWER_MAX);
	q = malloc(sizeof(enc) + 32);
	ids = calloc(UPLOADS_MAX, sizeof(*ids));
	if (!ans || !q || !ids) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(q, sizeof(enc) + 32, "prefix=%s&uploads=", enc);
	req_init(&r, "GET", NULL, q);
	r.out = ans;
	r.cap = ANSWER_MAX - 1;
	if ((err = perform(w->s, &r)) < 0) {
		err = unsupported(&r) ? 0 : err;
		goto out;
	}
	while (n < UPLOADS_MAX) {
		char block[2048], key[sizeof(full)], id[400];

		if (xml_get(ans, r.olen, "Upload", block, sizeof(block), &from) < 0)
			break;
		if (xml_get(block, strlen(block), "Key", key, sizeof(key), NULL) == 0 &&
		    strcmp(key, full) == 0 &&
		    xml_get(block, strlen(block), "UploadId", id, sizeof(id), NULL) == 0 && id[0])
			qenc(ids[n++], sizeof(ids[0]), id);
	}
	for (i = 0; i < n; i++) {
		mp_reset(w, ids[i]);
		if ((err = mp_parts(w, ans)) < 0)
			goto out;
		if (i == 0 || w->durable > best_bytes) {
			best = i;
			best_bytes = w->durable;
		}
	}
	for (i = 0; i < n; i++)
		if (i != best)
			upload_abort(w->s, w->name, ids[i], 0);
	mp_reset(w, n ? ids[best] : NULL);
	if (n && (err = mp_parts(w, ans)) < 0)
		goto out;
	w->base.offset = w->durable;
	if (w->upload[0])
		gv_info("event=s3_upload_resumed sector=%s object=%s parts=%u bytes=%" PRIu64
		        " stale_aborted=%zu", w->s->base.id, w->name, w->nparts, w->durable, n - 1);
out:
	free(ids);
	free(q);
	free(ans);
	return err;
}

/* Send buf[0, len) as part n (1-based), starting the upload if need be. */
static int mp_put(s3writer *w, const unsigned char *buf, uint64_t len, unsigned n)
{
	req r;
	int err;

	if (!w->upload[0] && (err = upload_start(w->s, w->name, w->upload, sizeof(w->upload))) < 0)
		return err;
	if ((err = parts_room(w, n)) < 0)
		return err;
	req_init(&r, "PUT", w->name, NULL);
	r.buf = buf;
	r.len = (size_t)len;
	r.has_body = 1;
	if ((err = upload_part(w->s, w->name, w->upload, n, &r, &w->parts[n - 1])) < 0)
		return err;
	w->parts[n - 1].size = len;
	return 0;
}

/* Send pbuf's first len bytes as the next part, then keep them as prev;
 * `open`: a short part that a later send of the same number replaces. */
static int mp_send(s3writer *w, uint64_t len, int open)
{
	unsigned char *t;
	int err;

	if ((err = mp_put(w, w->pbuf, len, w->nparts + 1)) < 0 || open)
		return err;
	w->nparts++;
	w->durable += len;
	t = w->prev;
	w->prev = w->pbuf;
	w->pbuf = t;
	w->prevlen = len;
	return 0;
}

static int mp_open(s3writer *w)
{
	uint64_t threshold;

	pthread_mutex_lock(&cfg_mu);
	threshold = cfg_threshold;
	pthread_mutex_unlock(&cfg_mu);
	if (w->key.size <= threshold || w->key.size < PART_MIN)
		return 0;
	w->mp = 1;
	w->part = part_size(w->key.size);
	obj_name(w->name, sizeof(w->name), &w->key);
	free(w->mem);
	w->mem = NULL;
	if (!(w->pbuf = malloc(w->part + PART_MIN)) || !(w->prev = malloc(w->part + PART_MIN)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	return mp_find(w);
}

/* ---- the port ---- */

static void writer_free(s3writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->mem);
	free(w->pbuf);
	free(w->prev);
	free(w->parts);
	free(w);
}

static int sw_open(gv_sector_writer **out, gv_sector *gs, const gv_key *key, unsigned flags)
{
	s3writer *w;
	int err;

	*out = NULL;
	if (flags & ~GV_WRITE_RESUME)
		return gv_error_set(GV_EINVAL, "unknown writer flags 0x%x", flags);
	if ((flags & GV_WRITE_RESUME) && !key)
		return gv_error_set(GV_EINVAL, "a resumable write needs its key");
	if (!(w = calloc(1, sizeof(*w))) || !(w->mem = malloc(SPOOL_MEM))) {
		free(w);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	w->base.sector = gs;
	w->s = (s3 *)gs;
	w->fd = -1;
	if (key) {
		w->key = *key;
		w->has_key = 1;
	}
	if ((flags & GV_WRITE_RESUME) && (err = mp_open(w)) < 0) {
		writer_free(w);
		return err;
	}
	*out = &w->base;
	return 0;
}

static int sw_write(gv_sector_writer *gw, const void *buf, size_t len)
{
	s3writer *w = (s3writer *)gw;
	const char *p = buf;
	int err;

	if (w->has_key && len > w->key.size - w->base.offset)
		return gv_error_set(GV_EINVAL, "sector %s: write past the key's %" PRIu64 " bytes",
		                    w->s->base.id, w->key.size);
	while (w->mp && len) {
		uint64_t have = w->base.offset - w->durable;
		size_t k = len < w->part - have ? len : (size_t)(w->part - have);

		memcpy(w->pbuf + have, p, k);
		w->base.offset += k;
		p += k;
		len -= k;
		if (have + k == w->part && (err = mp_send(w, w->part, 0)) < 0)
			return err;
	}
	if (w->mp)
		return 0;
	if (w->fd < 0 && w->base.offset + len > SPOOL_MEM && (err = spool_open(w)) < 0)
		return err;
	if (w->fd < 0) {
		memcpy(w->mem + w->base.offset, buf, len);
	} else {
		uint64_t off = w->base.offset;
		size_t left = len;

		while (left) {
			ssize_t k = pwrite(w->fd, p, left, (off_t)off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return gv_error_set_errno(GV_EIO, errno, "sector %s: spool write failed",
				                          w->s->base.id);
			p += k;
			off += (uint64_t)k;
			left -= (size_t)k;
		}
	}
	w->base.offset += len;
	return 0;
}

/*
 * A resumable write over the multipart threshold sends what it holds as a
 * part, so that the durable prefix ends between two parts; under PART_MIN
 * (too short for a part that others follow) it sends the last part again
 * with them, or, without one of its own, as a short part that the next
 * send replaces.  Otherwise nothing is durable in the bucket before
 * commit: a resumed copy starts over (the copy path trusts only what both
 * sides hold).
 */
static int sw_sync(gv_sector_writer *gw)
{
	s3writer *w = (s3writer *)gw;
	uint64_t have = w->base.offset - w->durable;
	int err;

	if (!w->mp || !have ||
	    w->nparts + 2 + (w->key.size - w->base.offset) / w->part > MAX_PARTS)
		return 0;
	if (have >= PART_MIN || !w->prevlen || w->prevlen + have > w->part + PART_MIN)
		return mp_send(w, have, have < PART_MIN);
	memcpy(w->prev + w->prevlen, w->pbuf, have);
	if ((err = mp_put(w, w->prev, w->prevlen + have, w->nparts)) < 0)
		return err;
	w->prevlen += have;
	w->durable += have;
	return 0;
}

static int sw_truncate(gv_sector_writer *gw, uint64_t len)
{
	s3writer *w = (s3writer *)gw;
	uint64_t sum = 0;
	unsigned j = 0;

	if (len > w->base.offset)
		return gv_error_set(GV_EINVAL, "cannot cut a write forward");
	if (w->mp && len < w->durable) {
		while (j < w->nparts && sum < len)
			sum += w->parts[j++].size;
		if (sum != len)
			return gv_error_set(GV_EINVAL, "sector %s: an upload is cut only between its "
			                    "parts", w->s->base.id);
		w->nparts = j;
		w->durable = len;
		w->prevlen = 0;
	}
	if (w->fd >= 0 && ftruncate(w->fd, (off_t)len) < 0)
		return gv_error_set_errno(GV_EIO, errno, "sector %s: spool truncate failed",
		                          w->s->base.id);
	w->base.offset = len;
	return 0;
}

static int sw_commit(gv_sector_writer *gw, const gv_key *key)
{
	s3writer *w = (s3writer *)gw;
	char name[GV_KEY_BUFSIZE + 16];
	uint64_t threshold;
	req r;
	int err;

	pthread_mutex_lock(&cfg_mu);
	threshold = cfg_threshold;
	pthread_mutex_unlock(&cfg_mu);
	if (!key)
		err = gv_error_set(GV_EINVAL, "commit needs a key");
	else if (w->has_key && gv_key_cmp(key, &w->key) != 0)
		err = gv_error_set(GV_EINVAL, "commit under another key than the writer's");
	else if (w->base.offset != key->size)
		err = gv_error_set(GV_EINVAL, "commit of %" PRIu64 " bytes under a key of %" PRIu64,
		                   w->base.offset, key->size);
	else if (w->mp) {
		if ((w->base.offset > w->durable &&
		     (err = mp_send(w, w->base.offset - w->durable, 0)) < 0) ||
		    (err = upload_complete(w->s, w->name, w->upload, w->parts, w->nparts)) < 0) {
			if (w->upload[0])
				upload_abort(w->s, w->name, w->upload, err);
		}
	} else {
		obj_name(name, sizeof(name), key);
		if (key->size > threshold && key->size >= PART_MIN) {
			err = multipart(w, name, key->size);
		} else {
			req_init(&r, "PUT", name, NULL);
			body_of(w, &r, 0, key->size);
			err = perform(w->s, &r);
		}
	}
	writer_free(w);
	return err;
}

/* keep_partial keeps a resumable write's upload for the next writer. */
static void sw_abort(gv_sector_writer *gw, int keep_partial)
{
	s3writer *w = (s3writer *)gw;

	if (!w)
		return;
	if (w->mp && w->upload[0] && !keep_partial)
		upload_abort(w->s, w->name, w->upload, 0);
	writer_free(w);
}

/* ---- readers: one streaming Range GET, pulled ------------------------------------------ */

struct s3reader {
	gv_sector_reader base;
	s3 *s;
	gv_key key;
	char name[GV_KEY_BUFSIZE + 16];
	uint64_t next;        /* object offset of the next byte to arrive */
	uint64_t end;         /* past the range */
	CURLM *m;
	CURL *h;
	struct curl_slist *hdrs;
	char url[GV_PATH_MAX * 2];
	char errbuf[CURL_ERROR_SIZE];
	unsigned char *buf;
	size_t len, pos;
	int paused, running, done;
	CURLcode rc;
	long status;
	uint64_t total;       /* from Content-Range; 0 unknown */
	uint64_t at;          /* object offset of the response's next byte
	                       * (UINT64_MAX: no byte of it yet) */
	char err[ERR_MAX];
	size_t elen;
	unsigned attempts;
};

static size_t rd_header(char *p, size_t sz, size_t nm, void *u)
{
	s3reader *r = u;
	size_t n = sz * nm;

	if (n > 14 && strncasecmp(p, "Content-Range:", 14) == 0) {
		const char *slash = memchr(p, '/', n);

		if (slash && slash[1] != '*')
			r->total = strtoull(slash + 1, NULL, 10);
	}
	return n;
}

static size_t rd_body(char *p, size_t sz, size_t nm, void *u)
{
	s3reader *r = u;
	size_t n = sz * nm;
	long status = 0;

	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300)
		return err_keep(r->err, &r->elen, p, n);
	if (r->at == UINT64_MAX) {
		/* A server may answer a range with the whole object (200): its
		 * bytes before the range are skipped. */
		curl_off_t cl = -1;

		r->at = status == 206 ? r->next : 0;
		curl_easy_getinfo(r->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		if (status == 200 && cl >= 0)
			r->total = (uint64_t)cl;
	}
	if (r->at < r->next) {
		size_t skip = r->next - r->at < n ? (size_t)(r->next - r->at) : n;

		r->at += skip;
		return skip + (skip < n ? rd_body(p + skip, 1, n - skip, u) : 0);
	}
	if (r->pos == r->len)
		r->pos = r->len = 0;
	if (READ_BUF - r->len < n && r->pos) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (READ_BUF - r->len < n) {
		r->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (n > r->end - r->next)
		n = (size_t)(r->end - r->next); /* past the object: the transfer stops here */
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->next += n;
	r->at += n;
	return n;
}

static void rd_stop(s3reader *r)
{
	if (r->h) {
		curl_multi_remove_handle(r->m, r->h);
		curl_easy_cleanup(r->h);
		r->h = NULL;
	}
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
}

static int rd_start(s3reader *r)
{
	char range[64];
	long connect_ms, request_ms;
	cred c;
	int err;

	rd_stop(r);
	if ((err = creds_of(r->s->base.id, &c)) < 0)
		return err;
	pthread_mutex_lock(&cfg_mu);
	connect_ms = cfg_connect_ms;
	request_ms = cfg_request_ms;
	pthread_mutex_unlock(&cfg_mu);
	snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, r->next, r->end - 1);
	if (!(r->hdrs = sign_headers(&c, range)) || !(r->h = curl_easy_init()))
		return gv_error_set(GV_ENOMEM, "out of memory");
	r->errbuf[0] = '\0';
	r->elen = 0;
	r->err[0] = '\0';
	r->done = r->paused = 0;
	r->status = 0;
	r->at = UINT64_MAX;
	setup(r->h, r->s, &c, r->url, r->hdrs, r->errbuf, connect_ms);
	curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->h, CURLOPT_LOW_SPEED_TIME, (request_ms + 999) / 1000);
	curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, rd_body);
	curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->h, CURLOPT_HEADERFUNCTION, rd_header);
	curl_easy_setopt(r->h, CURLOPT_HEADERDATA, r);
	if (curl_multi_add_handle(r->m, r->h) != CURLM_OK)
		return gv_error_set(GV_ENOMEM, "out of memory");
	return 0;
}

/* Drive the transfer until bytes are buffered or it is over. */
static int rd_pump(s3reader *r)
{
	unsigned retries;
	long base;

	pthread_mutex_lock(&cfg_mu);
	retries = cfg_retries;
	base = cfg_backoff_ms;
	pthread_mutex_unlock(&cfg_mu);
	while (r->pos == r->len && r->next < r->end) {
		CURLMsg *msg;
		int left, err;

		if (r->done) {
			req fake;

			memset(&fake, 0, sizeof(fake));
			fake.method = "GET";
			fake.name = r->name;
			fake.status = r->status;
			memcpy(fake.err, r->err, sizeof(fake.err));
			fake.elen = r->elen;
			if (r->rc == CURLE_OK && r->status >= 200 && r->status < 300)
				err = gv_error_set(GV_EIO, "sector %s: %s ended %" PRIu64 " bytes early",
				                   r->s->base.id, r->name, r->end - r->next);
			else if (r->rc == CURLE_OK)
				err = status_error(r->s, &fake);
			else
				err = gv_error_set(r->rc == CURLE_OPERATION_TIMEDOUT ? GV_ETIMEOUT : GV_EIO,
				                   "sector %s: S3 endpoint %s unreachable: %s", r->s->base.id,
				                   r->s->l.endpoint,
				                   r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->rc));
			if (r->rc == CURLE_OK && !(r->status >= 200 && r->status < 300)) {
				pthread_mutex_lock(&cfg_mu);
				left = retryable(&fake, &base);
				pthread_mutex_unlock(&cfg_mu);
				if (!left)
					return err;
			}
			if (r->attempts++ >= retries)
				return err;
			backoff(base, r->attempts - 1);
			if ((err = rd_start(r)) < 0)
				return err;
		}
		if (r->paused) {
			r->paused = 0;
			curl_easy_pause(r->h, CURLPAUSE_CONT);
			if (r->pos < r->len)
				break;
		}
		curl_multi_perform(r->m, &r->running);
		while ((msg = curl_multi_info_read(r->m, &left)))
			if (msg->msg == CURLMSG_DONE) {
				r->done = 1;
				r->rc = msg->data.result;
				curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &r->status);
			}
		if (r->pos == r->len && !r->done && !r->paused)
			curl_multi_poll(r->m, NULL, 0, 1000, NULL);
	}
	if (r->total && r->total != r->key.size)
		return gv_error_set(GV_ECORRUPT, "sector %s: %s holds %" PRIu64 " bytes, not %" PRIu64,
		                    r->s->base.id, r->name, r->total, r->key.size);
	return 0;
}

static void reader_free(s3reader *r)
{
	rd_stop(r);
	if (r->m)
		curl_multi_cleanup(r->m);
	free(r->buf);
	free(r);
}

/* The object offset of a reader's next unread byte. */
static uint64_t rd_at(const s3reader *r)
{
	return r->next - (r->len - r->pos);
}

/* A reader whose GET is still good and has bytes left is parked for the
 * read that goes on from where it stopped (the oldest parked one makes
 * room); any other is freed. */
static void sr_close(gv_sector_reader *gr)
{
	s3reader *r = (s3reader *)gr, *evict = NULL;
	s3 *s;

	if (!r)
		return;
	s = r->s;
	if (!r->m || !r->h || rd_at(r) >= r->key.size ||
	    (r->done && (r->rc != CURLE_OK || r->status >= 300))) {
		reader_free(r);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (s->nparked == PARK_MAX) {
		evict = s->parked[0];
		memmove(s->parked, s->parked + 1, (PARK_MAX - 1) * sizeof(s->parked[0]));
		s->nparked--;
	}
	s->parked[s->nparked++] = r;
	pthread_mutex_unlock(&s->mu);
	if (evict)
		reader_free(evict);
}

/* The parked reader of key at off, taken out; NULL when there is none. */
static s3reader *unpark(s3 *s, const gv_key *key, uint64_t off)
{
	s3reader *r = NULL;
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nparked && !r; i++)
		if (gv_key_cmp(&s->parked[i]->key, key) == 0 && rd_at(s->parked[i]) == off) {
			r = s->parked[i];
			memmove(s->parked + i, s->parked + i + 1,
			        (s->nparked - i - 1) * sizeof(s->parked[0]));
			s->nparked--;
		}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int head(s3 *s, const char *name, uint64_t *size, int64_t *mtime)
{
	req r;
	int err;

	req_init(&r, "HEAD", name, NULL);
	if ((err = perform(s, &r)) < 0)
		return err;
	if (size)
		*size = r.clen;
	if (mtime)
		*mtime = r.mtime_ms;
	return 0;
}

static int sr_open(gv_sector_reader **out, gv_sector *gs, const gv_key *key, uint64_t off,
                   uint64_t len)
{
	s3 *s = (s3 *)gs;
	s3reader *r;
	uint64_t size;
	int err;

	*out = NULL;
	if (len == UINT64_MAX)
		len = key->size - off;
	if (len && (r = unpark(s, key, off))) {
		r->base.remaining = len;
		r->attempts = 0;
		if ((err = rd_pump(r)) < 0) {
			reader_free(r);
			return err;
		}
		*out = &r->base;
		return 0;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	r->base.sector = gs;
	r->base.remaining = len;
	r->s = s;
	r->key = *key;
	r->next = off;
	r->end = key->size; /* the GET runs on: the next block's read may take it over */
	obj_name(r->name, sizeof(r->name), key);
	if (len == 0) {
		/* Nothing to stream: the object must still be there, whole. */
		if ((err = head(s, r->name, &size, NULL)) == 0 && size != key->size)
			err = gv_error_set(GV_ECORRUPT, "sector %s: %s holds %" PRIu64 " bytes, not %"
			                   PRIu64, s->base.id, r->name, size, key->size);
	} else if (!(r->buf = malloc(READ_BUF)) || !(r->m = curl_multi_init())) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
	} else if ((err = url_of(s, r->url, sizeof(r->url), r->name, NULL)) == 0 &&
	           (err = rd_start(r)) == 0) {
		/* The first bytes now: a missing object is reported by open. */
		err = rd_pump(r);
	}
	if (err < 0) {
		reader_free(r);
		return err;
	}
	*out = &r->base;
	return 0;
}

static ssize_t sr_read(gv_sector_reader *gr, void *buf, size_t cap)
{
	s3reader *r = (s3reader *)gr;
	size_t n;
	int err;

	if (!r->base.remaining || !cap)
		return 0;
	if (r->pos == r->len && (err = rd_pump(r)) < 0)
		return err;
	n = r->len - r->pos;
	if (n > cap)
		n = cap;
	if (n > r->base.remaining)
		n = (size_t)r->base.remaining;
	memcpy(buf, r->buf + r->pos, n);
	r->pos += n;
	r->base.remaining -= n;
	return (ssize_t)n;
}

/* ---- the rest of the port ------------------------------------------------------------------ */

static int s_del(gv_sector *gs, const gv_key *key)
{
	char name[GV_KEY_BUFSIZE + 16];
	req r;
	int err;

	obj_name(name, sizeof(name), key);
	/* S3 deletes what is absent without a word: the port says so. */
	if ((err = head((s3 *)gs, name, NULL, NULL)) < 0)
		return err;
	req_init(&r, "DELETE", name, NULL);
	return perform((s3 *)gs, &r);
}

static int s_stat(gv_sector *gs, const gv_key *key, uint64_t *out_size)
{
	char name[GV_KEY_BUFSIZE + 16];

	obj_name(name, sizeof(name), key);
	return head((s3 *)gs, name, out_size, NULL);
}

static int s_written_at(gv_sector *gs, const gv_key *key, int64_t *out_ms)
{
	char name[GV_KEY_BUFSIZE + 16];

	obj_name(name, sizeof(name), key);
	return head((s3 *)gs, name, NULL, out_ms);
}

/* "<hex>-<size>" back into a key; -1 for any other name. */
static int name_key(gv_key *key, const char *name)
{
	char txt[GV_KEY_BUFSIZE + 16];
	const char *dash;

	if (!(dash = strchr(name, '-')) || dash - name != 64 || strlen(dash + 1) > 20)
		return -1;
	snprintf(txt, sizeof(txt), "sha256:%.64s:%s", name, dash + 1);
	if (gv_key_parse(key, txt) < 0) {
		gv_error_clear();
		return -1;
	}
	return 0;
}

static int s_list(gv_sector *gs, gv_sector_list_cb cb, void *payload)
{
	s3 *s = (s3 *)gs;
	char *page = malloc(ANSWER_MAX + 1), token[1024] = "", q[8192], pfx[1600], tok[3100];
	int err = 0, stop = 0;

	if (!page)
		return gv_error_set(GV_ENOMEM, "out of memory");
	snprintf(pfx, sizeof(pfx), "%s", s->l.prefix);
	qenc(tok, sizeof(tok), pfx);
	snprintf(pfx, sizeof(pfx), "%.1599s", tok);
	for (;;) {
		char key_txt[1100], trunc[16] = "";
		size_t at = 0, plen = strlen(s->l.prefix);
		req r;

		qenc(tok, sizeof(tok), token);
		snprintf(q, sizeof(q), "%s%s%slist-type=2&max-keys=1000&prefix=%s",
		         token[0] ? "continuation-token=" : "", token[0] ? tok : "", token[0] ? "&" : "",
		         pfx);
		req_init(&r, "GET", NULL, q);
		r.out = page;
		r.cap = ANSWER_MAX;
		if ((err = perform(s, &r)) < 0)
			break;
		while (!stop && xml_get(page, r.olen, "Key", key_txt, sizeof(key_txt), &at) == 0) {
			gv_key key;

			if (strncmp(key_txt, s->l.prefix, plen) != 0 || name_key(&key, key_txt + plen) < 0)
				continue; /* not a blob of this sector */
			stop = cb(&key, key.size, payload);
		}
		if (stop)
			break;
		xml_get(page, r.olen, "IsTruncated", trunc, sizeof(trunc), NULL);
		if (strcmp(trunc, "true") != 0 ||
		    xml_get(page, r.olen, "NextContinuationToken", token, sizeof(token), NULL) < 0 ||
		    !token[0])
			break;
	}
	free(page);
	return err < 0 ? err : stop;
}

static int s_usage(gv_sector *gs, gv_sector_usage *out)
{
	s3 *s = (s3 *)gs;

	memset(out, 0, sizeof(*out));
	out->capacity = s->quota ? s->quota : UNLIMITED;
	out->used = 0;             /* the index's count: the engine takes it */
	out->avail = UINT64_MAX;   /* a bucket has no size of its own */
	out->device = 0;
	return 0;
}

/* The bucket still answers for this sector: its identity is there. */
static int s_check(gv_sector *gs)
{
	return head((s3 *)gs, IDENT_NAME, NULL, NULL);
}

static void s_close(gv_sector *gs)
{
	s3 *s = (s3 *)gs;

	if (!s)
		return;
	while (s->nparked)
		reader_free(s->parked[--s->nparked]);
	gv_curl_pool_destroy(&s->pool);
	if (s->share)
		curl_share_cleanup(s->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_mu[i]);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static const struct gv_sector_ops s3_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "s3",
	.writer_open = sw_open,
	.writer_write = sw_write,
	.writer_sync = sw_sync,
	.writer_commit = sw_commit,
	.writer_abort = sw_abort,
	.reader_open = sr_open,
	.reader_read = sr_read,
	.reader_close = sr_close,
	.del = s_del,
	.stat = s_stat,
	.list = s_list,
	.usage = s_usage,
	.close = s_close,
	.writer_truncate = sw_truncate,
	.written_at = s_written_at,
	.check = s_check,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int s3_new(s3 **out, const char *id, const char *locator, uint64_t quota)
{
	s3 *s;
	int err;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = loc_parse(&s->l, locator)) < 0) {
		free(s);
		return gv_error_set(err, "sector %s: %s", id, gv_error_last());
	}
	pthread_once(&curl_once, curl_start);
	s->base.ops = &s3_ops;
	snprintf(s->base.id, sizeof(s->base.id), "%s", id);
	s->quota = quota;
	pthread_mutex_init(&s->mu, NULL);
	gv_curl_pool_init(&s->pool);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_mu[i], NULL);
	if ((s->share = curl_share_init())) {
		curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
		curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
		curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
		curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
		curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	}
	*out = s;
	return 0;
}

int gv_sector_s3_open(gv_sector **out, const gv_sector_identity *ident, const char *locator,
                      unsigned flags)
{
	gv_sector_identity have, want = *ident;
	s3 *s;
	int err;

	*out = NULL;
	if ((err = s3_new(&s, ident->id, locator, ident->capacity)) < 0)
		return err;
	want.format = 1;
	err = ident_get(s, &have);
	if (err == GV_ENOTFOUND && strstr(gv_error_last(), "bucket missing")) {
		/* the bucket is missing: said as it is */
	} else if (err == GV_ENOTFOUND && (flags & GV_FS_CREATE)) {
		err = ident_put(s, &want);
	} else if (err == GV_ENOTFOUND) {
		err = gv_error_set(GV_ENOTFOUND, "sector %s: s3://%s/%s holds no " IDENT_NAME
		                   " (not a graviton sector, or its objects were removed)",
		                   ident->id, s->l.bucket, s->l.prefix);
	} else if (err == 0 && (strcmp(have.id, want.id) != 0 ||
	                        (want.cluster[0] && have.cluster[0] &&
	                         strcmp(have.cluster, want.cluster) != 0))) {
		if (flags & GV_FS_ADOPT)
			err = ident_put(s, &want);
		else if (strcmp(have.id, want.id) != 0)
			err = gv_error_set(GV_EEXISTS, "sector %s: s3://%s/%s is sector %s, not %s "
			                   "(wrong bucket or prefix?)", ident->id, s->l.bucket, s->l.prefix,
			                   have.id, want.id);
		else
			err = gv_error_set(GV_EEXISTS, "sector %s: s3://%s/%s belongs to another cluster "
			                   "(%s, not %s)", ident->id, s->l.bucket, s->l.prefix,
			                   have.cluster, want.cluster);
	} else if (err == 0 && want.cluster[0] && !have.cluster[0]) {
		have.format = 1;
		memcpy(have.cluster, want.cluster, sizeof(have.cluster));
		err = ident_put(s, &have);
	}
	if (err < 0) {
		s_close(&s->base);
		return err;
	}
	*out = &s->base;
	return 0;
}

int gv_sector_s3_read_identity(gv_sector_identity *out, const char *locator)
{
	s3 *s;
	int err;

	if ((err = s3_new(&s, "rebuild", locator, 0)) < 0)
		return err;
	err = ident_get(s, out);
	s_close(&s->base);
	return err;
}
