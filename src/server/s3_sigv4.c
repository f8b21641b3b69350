/*
 * s3_sigv4.c - AWS Signature Version 4, checked on the server side.
 *
 * Written by hand on OpenSSL (HMAC-SHA256, SHA-256): no C library offers
 * the server side of SigV4.  The steps are AWS's: a canonical request
 * (method, URI, sorted query, signed headers with their values, payload
 * hash), a string to sign (algorithm, date, scope, digest of the canonical
 * request), a signing key derived from the secret through the date,
 * region and service, and the signature as the HMAC of the string to sign.
 * Signatures are compared with CRYPTO_memcmp.  aws-chunked bodies chain a
 * signature per chunk from the request's (the "seed").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/digest.h"
#include "server/s3_sigv4.h"

#define ALGO "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define QUERY_PARAMS_MAX 256

static void setmsg(char *msg, size_t cap, const char *fmt, const char *a)
{
	if (msg && cap)
		snprintf(msg, cap, fmt, a ? a : "");
}

void gv_s3_hex(char *out, const uint8_t *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[b[i] >> 4];
		out[2 * i + 1] = hx[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void hmac(uint8_t out[32], const void *key, size_t klen, const char *data, size_t n)
{
	unsigned int ol = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, n, out, &ol);
}

void gv_s3_signing_key(uint8_t out[32], const char *secret, const char *day, const char *region,
                       const char *service)
{
	char k0[4 + 256];
	uint8_t a[32], b[32];
	int n = snprintf(k0, sizeof(k0), "AWS4%s", secret);

	if (n < 0 || (size_t)n >= sizeof(k0))
		n = (int)sizeof(k0) - 1;
	hmac(a, k0, (size_t)n, day, strlen(day));
	hmac(b, a, 32, region, strlen(region));
	hmac(a, b, 32, service, strlen(service));
	hmac(out, a, 32, "aws4_request", 12);
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long gv_s3_unescape(char *out, size_t cap, const char *s, size_t n, int plus_space)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= n)
				return -1;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = h * 16 + l;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

#define SBUF_MAX (1u << 20)

void s3buf_init(s3buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void s3buf_add(s3buf *b, const char *s, size_t n)
{
	if (b->bad)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 1024;
		char *np;

		while (nc < b->n + n + 1)
			nc *= 2;
		if ((b->max && b->n + n + 1 > b->max) || !(np = realloc(b->p, nc))) {
			b->bad = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void s3buf_puts(s3buf *b, const char *s)
{
	s3buf_add(b, s, strlen(s));
}

/* AWS's URI encoding: unreserved characters kept, '/' kept when keep_slash. */
static void sb_encode(s3buf *b, const char *s, size_t n, int keep_slash)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (c == '/' && keep_slash)) {
			s3buf_add(b, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hx[c >> 4], hx[c & 15] };

			s3buf_add(b, e, 3);
		}
	}
}

typedef struct qparam {
	char *name;  /* encoded */
	char *value; /* encoded */
} qparam;

static int qcmp(const void *a, const void *b)
{
	const qparam *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

/* Decode then re-encode one query component (malloc'd), NULL if malformed. */
static char *requote(const char *s, size_t n)
{
	char *dec = malloc(n + 1);
	s3buf b;
	long dl;

	if (!dec)
		return NULL;
	s3buf_init(&b, SBUF_MAX);
	dl = gv_s3_unescape(dec, n + 1, s, n, 1);
	if (dl >= 0)
		sb_encode(&b, dec, (size_t)dl, 0);
	free(dec);
	if (dl < 0 || b.bad) {
		free(b.p);
		return NULL;
	}
	if (!b.p)
		b.p = strdup("");
	return b.p;
}

static int canonical_query(s3buf *out, const char *q, int presigned)
{
	qparam ps[QUERY_PARAMS_MAX];
	size_t np = 0, i;
	int rc = 0;

	while (q && *q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t len = amp ? (size_t)(amp - q) : strlen(q);

		if (len) {
			if (np == QUERY_PARAMS_MAX) {
				rc = -1;
				break;
			}
			eq = memchr(q, '=', len);
			ps[np].name = requote(q, eq ? (size_t)(eq - q) : len);
			ps[np].value = eq ? requote(eq + 1, len - (size_t)(eq + 1 - q)) : strdup("");
			if (!ps[np].name || !ps[np].value) {
				free(ps[np].name);
				free(ps[np].value);
				rc = -1;
				break;
			}
			if (presigned && strcmp(ps[np].name, "X-Amz-Signature") == 0) {
				free(ps[np].name);
				free(ps[np].value);
			} else {
				np++;
			}
		}
		q = amp ? amp + 1 : q + len;
	}
	if (rc == 0) {
		qsort(ps, np, sizeof(ps[0]), qcmp);
		for (i = 0; i < np; i++) {
			if (i)
				s3buf_puts(out, "&");
			s3buf_puts(out, ps[i].name);
			s3buf_puts(out, "=");
			s3buf_puts(out, ps[i].value);
		}
	}
	for (i = 0; i < np; i++) {
		free(ps[i].name);
		free(ps[i].value);
	}
	return rc;
}

/* A header value trimmed, inner runs of spaces as one. */
static void sb_header_value(s3buf *b, const char *v)
{
	int space = 0, any = 0;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			space = any;
			continue;
		}
		if (space)
			s3buf_add(b, " ", 1);
		space = 0;
		any = 1;
		s3buf_add(b, v, 1);
	}
}

char *gv_s3_canonical_request(const char *method, const char *raw_path, const char *raw_query,
                              int presigned, const gv_s3_hdr *h, size_t nh,
                              const char *signed_headers, const char *payload_hash)
{
	s3buf b;
	const char *sh = signed_headers;
	size_t pl = strlen(raw_path), i;
	char *dec = malloc(pl + 1);
	long dl;

	if (!dec)
		return NULL;
	s3buf_init(&b, SBUF_MAX);
	s3buf_puts(&b, method);
	s3buf_puts(&b, "\n");
	dl = gv_s3_unescape(dec, pl + 1, raw_path, pl, 0);
	if (dl < 0) {
		free(dec);
		free(b.p);
		return NULL;
	}
	sb_encode(&b, dec, (size_t)dl, 1);
	free(dec);
	s3buf_puts(&b, "\n");
	if (canonical_query(&b, raw_query, presigned) < 0)
		b.bad = 1;
	s3buf_puts(&b, "\n");
	while (*sh) {
		const char *semi = strchr(sh, ';');
		size_t len = semi ? (size_t)(semi - sh) : strlen(sh);
		int found = 0;

		s3buf_add(&b, sh, len);
		s3buf_puts(&b, ":");
		for (i = 0; i < nh; i++) {
			if (strlen(h[i].name) != len || strncasecmp(h[i].name, sh, len) != 0)
				continue;
			if (found)
				s3buf_puts(&b, ",");
			sb_header_value(&b, h[i].value);
			found = 1;
		}
		if (!found)
			b.bad = 1;
		s3buf_puts(&b, "\n");
		sh += len + (semi ? 1 : 0);
	}
	s3buf_puts(&b, "\n");
	s3buf_puts(&b, signed_headers);
	s3buf_puts(&b, "\n");
	s3buf_puts(&b, payload_hash);
	if (b.bad) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static const char *hdr(const gv_s3_hdr *h, size_t nh, const char *name)
{
	size_t i;

	for (i = 0; i < nh; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

/* Copy [s, s+n) into a fixed field; -1 when it does not fit. */
static int field(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

/* "AK/yyyymmdd/region/s3/aws4_request" into a. */
static int parse_credential(gv_s3_auth *a, const char *cred)
{
	const char *slash = strchr(cred, '/'), *day, *reg, *svc, *term;

	if (!slash || field(a->access_key, sizeof(a->access_key), cred, (size_t)(slash - cred)) < 0 ||
	    !a->access_key[0])
		return -1;
	day = slash + 1;
	if (field(a->scope, sizeof(a->scope), day, strlen(day)) < 0)
		return -1;
	reg = strchr(day, '/');
	if (!reg || reg - day != 8)
		return -1;
	reg++;
	svc = strchr(reg, '/');
	if (!svc || field(a->region, sizeof(a->region), reg, (size_t)(svc - reg)) < 0)
		return -1;
	svc++;
	term = strchr(svc, '/');
	if (!term || (size_t)(term - svc) != 2 || strncmp(svc, "s3", 2) != 0 ||
	    strcmp(term + 1, "aws4_request") != 0)
		return -1;
	return 0;
}

static gv_s3_err set_payload(gv_s3_auth *a, const char *v, char *msg, size_t cap)
{
	if (!v || strcmp(v, "UNSIGNED-PAYLOAD") == 0) {
		a->payload = S3_PAYLOAD_UNSIGNED;
		snprintf(a->payload_hash, sizeof(a->payload_hash), "UNSIGNED-PAYLOAD");
		return S3_OK;
	}
	if (strcmp(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0) {
		a->payload = S3_PAYLOAD_STREAMING;
		a->payload_hash[0] = '\0';
		return S3_OK;
	}
	if (strlen(v) == 64 && is_hex64(v)) {
		a->payload = S3_PAYLOAD_HEX;
		memcpy(a->payload_hash, v, 65);
		return S3_OK;
	}
	setmsg(msg, cap, "x-amz-content-sha256 '%.80s' is not supported", v);
	return strncmp(v, "STREAMING-", 10) == 0 ? S3_NOT_IMPLEMENTED : S3_INVALID_ARGUMENT;
}

static gv_s3_err parse_header_form(gv_s3_auth *a, const char *auth, const gv_s3_hdr *h,
                                   size_t nh, char *msg, size_t cap)
{
	const char *p = auth + strlen(ALGO), *v;
	int have = 0;

	if (*p != ' ') {
		setmsg(msg, cap, "%s", "the authorization header is malformed");
		return S3_AUTH_MALFORMED;
	}
	while (*p) {
		const char *end, *eq;
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		while (len && p[len - 1] == ' ')
			len--;
		eq = memchr(p, '=', len);
		if (!eq)
			goto bad;
		v = eq + 1;
		if ((size_t)(eq - p) == 10 && strncmp(p, "Credential", 10) == 0) {
			char cred[GV_S3_AK_MAX + 160];

			if (field(cred, sizeof(cred), v, len - 11) < 0 || parse_credential(a, cred) < 0)
				goto bad;
			have |= 1;
		} else if ((size_t)(eq - p) == 13 && strncmp(p, "SignedHeaders", 13) == 0) {
			if (field(a->signed_headers, sizeof(a->signed_headers), v, len - 14) < 0)
				goto bad;
			have |= 2;
		} else if ((size_t)(eq - p) == 9 && strncmp(p, "Signature", 9) == 0) {
			if (field(a->signature, sizeof(a->signature), v, len - 10) < 0)
				goto bad;
			have |= 4;
		}
		p += len;
		while (*p && *p != ',')
			p++;
	}
	if (have != 7 || !is_hex64(a->signature) || !a->signed_headers[0])
		goto bad;
	v = hdr(h, nh, "x-amz-date");
	if (v) {
		if (field(a->date, sizeof(a->date), v, strlen(v)) < 0)
			goto bad;
	} else if ((v = hdr(h, nh, "date"))) {
		struct tm tm;
		const char *e;

		memset(&tm, 0, sizeof(tm));
		e = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (!e || *e)
			goto bad;
		strftime(a->date, sizeof(a->date), "%Y%m%dT%H%M%SZ", &tm);
	} else {
		setmsg(msg, cap, "%s", "the request has neither x-amz-date nor Date");
		return S3_ACCESS_DENIED;
	}
	v = hdr(h, nh, "x-amz-content-sha256");
	if (!v) {
		setmsg(msg, cap, "%s", "missing required header for this request: x-amz-content-sha256");
		return S3_INVALID_REQUEST;
	}
	return set_payload(a, v, msg, cap);
bad:
	setmsg(msg, cap, "%s", "the authorization header is malformed");
	return S3_AUTH_MALFORMED;
}

/* The decoded value of query parameter `name` into out; 1 found, 0 not, -1 bad. */
int gv_s3_query_get(const char *q, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);

		if (len > nl && q[nl] == '=' && strncmp(q, name, nl) == 0)
			return gv_s3_unescape(out, cap, q + nl + 1, len - nl - 1, 1) < 0 ? -1 : 1;
		if (len == nl && strncmp(q, name, nl) == 0) {
			out[0] = '\0';
			return 1;
		}
		q = amp ? amp + 1 : q + len;
	}
	return 0;
}

static gv_s3_err parse_query_form(gv_s3_auth *a, const char *q, char *msg, size_t cap)
{
	char algo[32], cred[GV_S3_AK_MAX + 160], exp[24];
	char *end;

	a->presigned = 1;
	if (gv_s3_query_get(q, "X-Amz-Algorithm", algo, sizeof(algo)) != 1 || strcmp(algo, ALGO) != 0 ||
	    gv_s3_query_get(q, "X-Amz-Credential", cred, sizeof(cred)) != 1 ||
	    parse_credential(a, cred) < 0 ||
	    gv_s3_query_get(q, "X-Amz-Date", a->date, sizeof(a->date)) != 1 ||
	    gv_s3_query_get(q, "X-Amz-Expires", exp, sizeof(exp)) != 1 ||
	    gv_s3_query_get(q, "X-Amz-SignedHeaders", a->signed_headers, sizeof(a->signed_headers)) != 1 ||
	    gv_s3_query_get(q, "X-Amz-Signature", a->signature, sizeof(a->signature)) != 1 ||
	    !is_hex64(a->signature) || !a->signed_headers[0]) {
		setmsg(msg, cap, "%s", "the presigned query parameters are malformed or incomplete");
		return S3_AUTH_QUERY_MALFORMED;
	}
	a->expires = strtoll(exp, &end, 10);
	if (!exp[0] || *end || a->expires < 1 || a->expires > GV_S3_PRESIGN_MAX_S) {
		setmsg(msg, cap, "%s", "X-Amz-Expires must be between 1 and 604800 seconds");
		return S3_AUTH_QUERY_MALFORMED;
	}
	return set_payload(a, NULL, msg, cap);
}

gv_s3_err gv_s3_auth_parse(gv_s3_auth *out, const char *raw_query, const gv_s3_hdr *h, size_t nh,
                           char *msg, size_t cap)
{
	const char *auth = hdr(h, nh, "authorization");
	char algo[32];

	memset(out, 0, sizeof(*out));
	if (auth && strncmp(auth, ALGO, strlen(ALGO)) == 0)
		return parse_header_form(out, auth, h, nh, msg, cap);
	if (auth) {
		setmsg(msg, cap, "%s", "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted");
		return S3_INVALID_ARGUMENT;
	}
	if (gv_s3_query_get(raw_query, "X-Amz-Algorithm", algo, sizeof(algo)) == 1)
		return parse_query_form(out, raw_query, msg, cap);
	setmsg(msg, cap, "%s", "anonymous requests are refused: sign with an access key");
	return S3_ACCESS_DENIED;
}

/* "yyyymmddThhmmssZ" as seconds since the epoch; -1 when malformed. */
static long long amz_time(const char *d)
{
	struct tm tm;
	const char *e;

	if (strlen(d) != 16)
		return -1;
	memset(&tm, 0, sizeof(tm));
	e = strptime(d, "%Y%m%dT%H%M%SZ", &tm);
	if (!e || *e)
		return -1;
	return (long long)timegm(&tm);
}

gv_s3_err gv_s3_auth_verify(gv_s3_auth *a, const char *method, const char *raw_path,
                            const char *raw_query, const gv_s3_hdr *h, size_t nh,
                            const char *secret, const char *region, time_t now, char *msg,
                            size_t cap)
{
	char sts[512], day[9], hx[65], sig[65];
	uint8_t d[32], s[32];
	long long t = amz_time(a->date);
	char *creq;
	int n;

	if (t < 0 || strncmp(a->date, a->scope, 8) != 0) {
		setmsg(msg, cap, "%s", "the request date is malformed or not the credential's day");
		return a->presigned ? S3_AUTH_QUERY_MALFORMED : S3_AUTH_MALFORMED;
	}
	if (strcmp(a->region, region) != 0) {
		setmsg(msg, cap, "the credential's region is wrong; expecting '%.60s'", region);
		return a->presigned ? S3_AUTH_QUERY_MALFORMED : S3_AUTH_MALFORMED;
	}
	if (a->presigned) {
		if ((long long)now + GV_S3_SKEW_S < t) {
			setmsg(msg, cap, "%s", "the presigned URL is not valid yet");
			return S3_ACCESS_DENIED;
		}
		if ((long long)now > t + a->expires) {
			setmsg(msg, cap, "%s", "Request has expired");
			return S3_EXPIRED;
		}
	} else if (t > (long long)now + GV_S3_SKEW_S || t < (long long)now - GV_S3_SKEW_S) {
		setmsg(msg, cap, "%s",
		       "the difference between the request time and the server's time is too large");
		return S3_SKEWED;
	}
	creq = gv_s3_canonical_request(method, raw_path, raw_query, a->presigned, h, nh,
	                               a->signed_headers,
	                               a->payload == S3_PAYLOAD_STREAMING
	                                       ? "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	                                       : a->payload_hash);
	if (!creq) {
		setmsg(msg, cap, "%s", "a signed header is missing or the request cannot be canonicalised");
		return S3_SIGNATURE_MISMATCH;
	}
	gv_sha256_buf(d, creq, strlen(creq));
	free(creq);
	gv_s3_hex(hx, d, 32);
	n = snprintf(sts, sizeof(sts), ALGO "\n%s\n%s\n%s", a->date, a->scope, hx);
	memcpy(day, a->date, 8);
	day[8] = '\0';
	gv_s3_signing_key(a->signing_key, secret, day, region, "s3");
	hmac(s, a->signing_key, 32, sts, (size_t)n);
	gv_s3_hex(sig, s, 32);
	if (CRYPTO_memcmp(sig, a->signature, 64) != 0) {
		setmsg(msg, cap, "%s",
		       "the request signature we calculated does not match the signature you provided");
		return S3_SIGNATURE_MISMATCH;
	}
	return S3_OK;
}

/* ---- aws-chunked ------------------------------------------------------ */

enum cstate { C_LINE, C_DATA, C_CR, C_LF, C_END_CR, C_END_LF, C_DONE, C_FAILED };

struct gv_s3_chunked {
	enum cstate st;
	char line[GV_S3_CHUNK_LINE_MAX];
	size_t linelen;
	uint64_t left;           /* of the current chunk's data */
	uint64_t chunk;          /* the current chunk's size */
	uint64_t total, decoded;
	char want[65];           /* the current chunk's signature */
	char prev[65];
	char date[17], scope[160];
	uint8_t key[32];
	gv_sha256 *h;
};

gv_s3_chunked *gv_s3_chunked_new(const gv_s3_auth *a, uint64_t decoded)
{
	gv_s3_chunked *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (gv_sha256_new(&d->h) < 0) {
		free(d);
		return NULL;
	}
	d->decoded = decoded;
	memcpy(d->prev, a->signature, sizeof(d->prev));
	memcpy(d->date, a->date, sizeof(d->date));
	memcpy(d->scope, a->scope, sizeof(d->scope));
	memcpy(d->key, a->signing_key, sizeof(d->key));
	return d;
}

void gv_s3_chunked_free(gv_s3_chunked *d)
{
	if (!d)
		return;
	gv_sha256_free(d->h);
	OPENSSL_cleanse(d->key, sizeof(d->key));
	free(d);
}

static gv_s3_err cfail(gv_s3_chunked *d, gv_s3_err e, char *msg, size_t cap, const char *m)
{
	d->st = C_FAILED;
	setmsg(msg, cap, "%s", m);
	return e;
}

/* The chunk just read (its data hashed) against its signature. */
static gv_s3_err chunk_check(gv_s3_chunked *d, char *msg, size_t cap)
{
	char sts[512], hx[65], sig[65];
	uint8_t dg[32], s[32];
	int n;

	gv_sha256_final(d->h, dg);
	gv_s3_hex(hx, dg, 32);
	n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256 "\n%s",
	             d->date, d->scope, d->prev, hx);
	hmac(s, d->key, 32, sts, (size_t)n);
	gv_s3_hex(sig, s, 32);
	if (CRYPTO_memcmp(sig, d->want, 64) != 0)
		return cfail(d, S3_SIGNATURE_MISMATCH, msg, cap,
		             "a chunk's signature does not match the signature you provided");
	memcpy(d->prev, sig, sizeof(d->prev));
	return S3_OK;
}

/* "hex;chunk-signature=<64 hex>" */
static gv_s3_err chunk_line(gv_s3_chunked *d, char *msg, size_t cap)
{
	static const char tag[] = ";chunk-signature=";
	const char *p = d->line;
	uint64_t v = 0;
	int digits = 0;

	for (; hexval(*p) >= 0; p++, digits++) {
		if (digits == 16)
			return cfail(d, S3_INCOMPLETE_BODY, msg, cap, "a chunk size is too large");
		v = v * 16 + (uint64_t)hexval(*p);
	}
	if (!digits || strncmp(p, tag, sizeof(tag) - 1) != 0 || !is_hex64(p + sizeof(tag) - 1))
		return cfail(d, S3_INCOMPLETE_BODY, msg, cap, "a chunk header is malformed");
	if (v > d->decoded - d->total)
		return cfail(d, S3_INCOMPLETE_BODY, msg, cap,
		             "the chunks hold more than x-amz-decoded-content-length");
	memcpy(d->want, p + sizeof(tag) - 1, 65);
	d->chunk = d->left = v;
	d->st = C_DATA;
	return S3_OK;
}

gv_s3_err gv_s3_chunked_feed(gv_s3_chunked *d, const char *buf, size_t n,
                             int (*out)(void *payload, const char *buf, size_t n), void *payload,
                             char *msg, size_t cap)
{
	gv_s3_err e;

	while (n > 0) {
		switch (d->st) {
		case C_FAILED:
			return cfail(d, S3_INCOMPLETE_BODY, msg, cap, "the chunked body was refused");
		case C_LINE:
			if (*buf == '\n') {
				if (d->linelen == 0 || d->line[d->linelen - 1] != '\r')
					return cfail(d, S3_INCOMPLETE_BODY, msg, cap,
					             "a chunk header is malformed");
				d->line[d->linelen - 1] = '\0';
				d->linelen = 0;
				if ((e = chunk_line(d, msg, cap)) != S3_OK)
					return e;
				if (d->chunk == 0) {
					if ((e = chunk_check(d, msg, cap)) != S3_OK)
						return e;
					d->st = C_END_CR;
				}
			} else {
				if (d->linelen + 1 >= sizeof(d->line))
					return cfail(d, S3_INCOMPLETE_BODY, msg, cap,
					             "a chunk header is too long");
				d->line[d->linelen++] = *buf;
			}
			buf++;
			n--;
			break;
		case C_DATA: {
			size_t take = n < d->left ? n : (size_t)d->left;

			gv_sha256_update(d->h, buf, take);
			if (out(payload, buf, take) < 0)
				return cfail(d, S3_INCOMPLETE_BODY, msg, cap, "the body could not be stored");
			d->left -= take;
			d->total += take;
			buf += take;
			n -= take;
			if (d->left == 0) {
				if ((e = chunk_check(d, msg, cap)) != S3_OK)
					return e;
				d->st = C_CR;
			}
			break;
		}
		case C_CR:
		case C_LF:
		case C_END_CR:
		case C_END_LF:
			/* Each chunk's data, the final (empty) one's too, ends in CRLF. */
			if (*buf != (d->st == C_CR || d->st == C_END_CR ? '\r' : '\n'))
				return cfail(d, S3_INCOMPLETE_BODY, msg, cap,
				             "a chunk is not followed by CRLF");
			d->st = d->st == C_CR ? C_LF : d->st == C_LF ? C_LINE
			        : d->st == C_END_CR ? C_END_LF : C_DONE;
			buf++;
			n--;
			break;
		case C_DONE:
			return cfail(d, S3_INCOMPLETE_BODY, msg, cap, "bytes follow the final chunk");
		}
	}
	return S3_OK;
}

gv_s3_err gv_s3_chunked_finish(gv_s3_chunked *d, char *msg, size_t cap)
{
	if (d->st != C_DONE)
		return cfail(d, S3_INCOMPLETE_BODY, msg, cap, "the chunked body ended before its final chunk");
	if (d->total != d->decoded)
		return cfail(d, S3_INCOMPLETE_BODY, msg, cap,
		             "the chunks do not hold x-amz-decoded-content-length bytes");
	return S3_OK;
}
