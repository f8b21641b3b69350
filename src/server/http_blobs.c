/*
 * http_blobs.c - blobs over HTTP.
 *
 * Uploads stream into a gv_put as they arrive (blob_put_open when the
 * headers are in, blob_put_write for each piece http.c is handed,
 * blob_put_finish commits, then pins the blob); DELETE (drops the pin, and
 * the blob when no name references it), the key listing and GET
 * .../replicas are here too.
 * Reads: MHD pulls from gv_get_read, which hands out verified bytes only:
 * a blob with a block table block by block, a bad block read from another
 * replica (only when no replica holds a block intact is the connection
 * cut, short of the Content-Length it was promised, never with a wrong
 * byte); a blob without one as before: up to VERIFY_FIRST_MAX verified
 * whole before the first byte, for full and Range reads alike, larger full
 * reads while streaming (a bad replica aborts the connection), larger
 * Ranges verified whole first as well.
 */
#include <stdatomic.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/http_int.h"

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
int gv_http_parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
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

enum MHD_Result gv_http_blob_get(gv_server *srv, struct MHD_Connection *c, req *r, int head)
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
		return gv_http_send_error(c, r, "invalid_key", "%s", gv_error_last());
	rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	if (rh) {
		int pr = gv_http_parse_range(rh, key.size, &go.start, &go.end);

		if (pr == -1)
			return gv_http_send_error(c, r, "invalid_range",
			                  "malformed Range header '%.64s'", rh);
		if (pr == -2) {
			char msg[96];

			snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)key.size);
			snprintf(msg, sizeof(msg), "range not satisfiable: the blob has %llu bytes",
			         (unsigned long long)key.size);
			return gv_http_send_error_headers(c, r, gv_wire_error_named("range_not_satisfiable"),
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
		return gv_http_send_gv_error(c, r, err);
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

enum MHD_Result gv_http_blob_put_finish(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_put_result res;
	int err;

	err = gv_put_commit(r->put, &res);
	r->put = NULL;
	/* A raw blob is kept until DELETE /v1/blobs/{key} (docs/namespace.md). */
	if (err == 0)
		err = gv_ns_pin(srv->st, &res.key);
	if (err < 0)
		return gv_http_send_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_CREATED, gv_wire_json_put_result(&res));
}

/* Content-Length of the request, when given as a plain number: 1 and *out. */
int gv_http_content_length(struct MHD_Connection *c, uint64_t *out)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	unsigned long long n;
	char *end;

	if (!cl || !*cl)
		return 0;
	n = strtoull(cl, &end, 10);
	if (*end != '\0')
		return 0;
	*out = n;
	return 1;
}

enum MHD_Result gv_http_blob_put_open(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_put_opts po = GV_PUT_OPTS_INIT;
	uint64_t n;
	int err;

	if (gv_http_content_length(c, &n)) {
		if (n > srv->max_body) {
			r->started = 1;
			return gv_http_send_error(c, r, "too_large",
			                          "body of %llu bytes exceeds max-body-size %llu",
			                          (unsigned long long)n,
			                          (unsigned long long)srv->max_body);
		}
		po.size_hint = n;
	}
	if ((err = gv_put_open(&r->put, srv->st, &po)) < 0) {
		r->started = 1;
		return gv_http_send_gv_error(c, r, err);
	}
	return MHD_YES;
}

void gv_http_blob_put_write(gv_server *srv, req *r, const char *data, size_t n)
{
	int err;

	r->received += n;
	if (r->received > srv->max_body) {
		gv_put_abort(r->put);
		r->put = NULL;
		gv_http_refuse_upload(r, gv_wire_error_named("too_large"),
		                      "body exceeds max-body-size %llu",
		                      (unsigned long long)srv->max_body);
		return;
	}
	if ((err = gv_put_write(r->put, data, n)) < 0) {
		gv_http_refuse_upload_gv(r, err);
		gv_put_abort(r->put);
		r->put = NULL;
	}
}

enum MHD_Result gv_http_blob_delete(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_key key;
	int err, deleted = 0;

	if (gv_key_parse(&key, r->arg) < 0)
		return gv_http_send_error(c, r, "invalid_key", "%s", gv_error_last());
	/* The pin goes; the blob too unless a name still references it. */
	if ((err = gv_ns_blob_delete(srv->st, &key, &deleted)) < 0)
		return gv_http_send_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, gv_wire_json_blob_deleted(&key, deleted));
}

#define BLOB_PAGE_MAX 10000
#define BLOB_PAGE_DEFAULT 1000

/* GET /v1/blobs?after=KEY&limit=N: a page of stored keys in key order. */
enum MHD_Result gv_http_blobs_list(gv_server *srv, struct MHD_Connection *c, req *r)
{
	const char *after = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
	const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
	unsigned long long limit = BLOB_PAGE_DEFAULT;
	gv_key akey, *keys = NULL;
	size_t n = 0;
	char *end;
	int err, more = 0;

	if (after && *after && gv_key_parse(&akey, after) < 0)
		return gv_http_send_error(c, r, "invalid_key", "after: %s", gv_error_last());
	if (lim) {
		limit = strtoull(lim, &end, 10);
		if (!*lim || *end || limit == 0 || limit > BLOB_PAGE_MAX)
			return gv_http_send_error(c, r, "invalid", "limit must be 1 to %d",
			                          BLOB_PAGE_MAX);
	}
	if ((err = gv_ns_blob_list(srv->st, after && *after ? &akey : NULL, (size_t)limit, &keys, &n,
	                           &more)) < 0)
		return gv_http_send_gv_error(c, r, err);
	err = gv_http_send_jsonv(c, r, MHD_HTTP_OK, gv_wire_json_key_page(keys, n, more));
	free(keys);
	return err;
}

enum MHD_Result gv_http_replicas_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_blob_status *bs = NULL;
	gv_placement_opts p;
	json_t *doc;
	gv_key key;
	int err;

	if (!r->arg[0] || gv_key_parse(&key, r->arg) < 0)
		return gv_http_send_error(c, r, "invalid_key", "%s", gv_error_last());
	if ((err = gv_stat(&bs, srv->st, &key)) < 0)
		return gv_http_send_gv_error(c, r, err);
	p = gv_store_placement(srv->st);
	doc = gv_wire_json_blob_status(bs, &p);
	gv_blob_status_free(bs);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, doc);
}
