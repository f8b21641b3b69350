/*
 * http_node.c - the sector protocol: a node lends its local sectors to
 * other nodes under /v1/node/ (docs/sector-protocol.md).
 *
 *   GET    /v1/node/sectors                         the local sectors' ids
 *   GET    /v1/node/sectors/{SID}                   identity and usage
 *   GET    /v1/node/sectors/{SID}/blobs?after&limit a page of keys, sorted
 *   PUT    /v1/node/sectors/{SID}/blobs/{KEY}       streamed, hashed, committed
 *                                                   only if the digest matches
 *   GET    .../blobs/{KEY} (Range), HEAD, DELETE
 *   PUT    .../blobs/{KEY}/partial?offset=N[&commit=1]  append to a kept partial
 *   GET    .../blobs/{KEY}/partial                  its durable length
 *   DELETE .../blobs/{KEY}/partial                  drop it
 *   POST   /v1/node/sectors/{SID}/uploads           start an upload (key unknown)
 *   PUT    .../uploads/{ID}?offset=N                append to it, hashed on arrival
 *   POST   .../uploads/{ID}/sync                    make it durable
 *   POST   .../uploads/{ID}/commit?key=K            commit it if size and digest match
 *   DELETE .../uploads/{ID}                         drop it
 *   POST   /v1/node/sectors/{SID}/sweep[?dry_run=1] remove dead temporary files
 *
 * Requests carry the node token (graviton.node.token), never the client
 * token; without a node token every path here is 404.  Sector ids and keys
 * are parsed strictly before they name anything, so no path leaves a
 * sector.  Uploads go straight into the sector's writer as they arrive;
 * memory per request is bounded by MHD's buffers.
 *
 * Uploads: a keyless sector writer (a temporary file in the sector) and a
 * hasher, kept in a process table between requests under a random id; one
 * request at a time holds an upload (`busy`).  A PUT cut off drops it (the
 * writer lost track of what arrived); uploads idle longer than
 * UPLOAD_IDLE_MS are dropped by the sector's sweep and when a new one
 * starts; the server's stop drops the rest.
 */
#include <stdatomic.h>
#include <errno.h>
#include <sys/random.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_int.h"
#include "graviton/sys/sector.h"

#define LIST_LIMIT_MAX 10000
#define LIST_LIMIT_DEFAULT 1000
#define UPLOADS_MAX 1024
#define UPLOAD_IDLE_MS (10LL * 60 * 1000)
#define UPLOAD_ID_LEN 32

enum node_op {
	N_SECTORS, N_SECTOR, N_LIST, N_BLOB, N_PARTIAL, N_SWEEP,
	N_UPLOADS, N_UPLOAD, N_UPLOAD_SYNC, N_UPLOAD_COMMIT
};

typedef struct upload {
	char id[UPLOAD_ID_LEN + 1];
	gv_server *srv;
	gv_sector *s;
	gv_sector_writer *w;   /* keyless: a temporary file in the sector */
	gv_key_hasher *h;      /* of the bytes written so far */
	uint64_t len;
	int busy;              /* up_mu: a request holds it */
	long long last_ms;     /* up_mu: when a request last let it go */
} upload;

static pthread_mutex_t up_mu = PTHREAD_MUTEX_INITIALIZER;
static upload *uploads[UPLOADS_MAX]; /* up_mu */

typedef struct node_req {
	enum node_op op;
	gv_sector *s;
	char sid[GV_ID_MAX];
	gv_key key;
	/* uploads */
	gv_sector_writer *w;
	gv_key_hasher *h;      /* one-shot PUT: the digest of what arrived */
	int resume;            /* w is a RESUME writer (kept partial) */
	int commit;            /* partial: commit once the body is in */
	uint64_t received;
	int failed;            /* a refusal is queued (r->refusal) */
	char upload_id[UPLOAD_ID_LEN + 1];
	upload *up;            /* held (busy) by this request */
} node_req;

static void up_drop(upload *u);

void gv_http_node_free(node_req *n)
{
	if (!n)
		return;
	/* A partial keeps what arrived (it is what a resumed write expects);
	 * a one-shot upload leaves nothing, and an upload whose PUT was cut
	 * off is dropped (its sender cannot know what arrived). */
	if (n->w)
		gv_sector_writer_abort(n->w, n->resume);
	if (n->up)
		up_drop(n->up);
	gv_key_hasher_free(n->h);
	free(n);
}

static int node_authorized(gv_server *srv, struct MHD_Connection *c, int *off)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	int ok;

	pthread_mutex_lock(&srv->mu);
	*off = srv->node_token == NULL;
	ok = !*off && gv_http_bearer_ok(h, srv->node_token);
	pthread_mutex_unlock(&srv->mu);
	return ok;
}

/* Next path segment of *p (after a '/') into buf; 0 when there is none,
 * -1 when it does not fit. */
static int segment(const char **p, char *buf, size_t cap)
{
	const char *a = *p, *e;
	size_t n;

	if (*a != '/')
		return 0;
	a++;
	e = strchr(a, '/');
	n = e ? (size_t)(e - a) : strlen(a);
	if (n == 0)
		return 0;
	if (n >= cap)
		return -1;
	memcpy(buf, a, n);
	buf[n] = '\0';
	*p = a + n;
	return 1;
}

static const char *qarg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static int qflag(struct MHD_Connection *c, const char *name)
{
	const char *v = qarg(c, name);

	return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || *v == '\0');
}

/* A decimal query argument: 1 found, 0 absent, -1 malformed. */
static int qu64(struct MHD_Connection *c, const char *name, uint64_t *out)
{
	const char *v = qarg(c, name);
	char *end;

	if (!v)
		return 0;
	if (*v < '0' || *v > '9')
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return *end || errno ? -1 : 1;
}

static enum MHD_Result send_err(struct MHD_Connection *c, req *r, const char *name,
                                const char *msg)
{
	r->started = 1;
	return gv_http_send_error(c, r, name, "%s", msg);
}

/* A port error as the node protocol answers it: bytes that do not match
 * their key are 422 here (the client API says 400), so that a remote
 * sector can tell them from a malformed request. */
static enum MHD_Result node_gv_error(struct MHD_Connection *c, req *r, int err)
{
	if (err == GV_ECORRUPT)
		return gv_http_send_error(c, r, "digest_mismatch", "%s", gv_error_last());
	return gv_http_send_gv_error(c, r, err);
}

static enum MHD_Result send_gv(struct MHD_Connection *c, req *r, int err)
{
	r->started = 1;
	return node_gv_error(c, r, err);
}

/* ---- uploads ------------------------------------------------------------------ */

static void up_free(upload *u)
{
	if (!u)
		return;
	gv_sector_writer_abort(u->w, 0);
	gv_key_hasher_free(u->h);
	free(u);
}

/* Take the upload `id` of sector s for one request: NULL with the error
 * answered when it is unknown (404) or held by another request (409). */
static upload *up_take(gv_server *srv, gv_sector *s, const char *id, struct MHD_Connection *c,
                       req *r)
{
	upload *u = NULL;
	int busy = 0;

	pthread_mutex_lock(&up_mu);
	for (size_t i = 0; i < UPLOADS_MAX && !u; i++)
		if (uploads[i] && uploads[i]->srv == srv && uploads[i]->s == s &&
		    strcmp(uploads[i]->id, id) == 0)
			u = uploads[i];
	if (u && u->busy) {
		busy = 1;
		u = NULL;
	} else if (u) {
		u->busy = 1;
	}
	pthread_mutex_unlock(&up_mu);
	if (!u) {
		r->started = 1;
		if (busy)
			gv_http_send_error(c, r, "busy", "upload %s: another request holds it", id);
		else
			gv_http_send_error(c, r, "not_found", "no upload %s in this sector", id);
	}
	return u;
}

static void up_release(upload *u)
{
	pthread_mutex_lock(&up_mu);
	u->busy = 0;
	u->last_ms = gv_http_now_ms();
	pthread_mutex_unlock(&up_mu);
}

/* Remove a taken upload from the table and drop it (its file goes). */
static void up_drop(upload *u)
{
	pthread_mutex_lock(&up_mu);
	for (size_t i = 0; i < UPLOADS_MAX; i++)
		if (uploads[i] == u)
			uploads[i] = NULL;
	pthread_mutex_unlock(&up_mu);
	up_free(u);
}

/* Drop the uploads of srv (of sector s when not NULL) idle for idle_ms or
 * more (all of them when idle_ms < 0); counted only when dry_run. */
static void up_expire(gv_server *srv, gv_sector *s, long long idle_ms, int dry_run,
                      uint64_t *files, uint64_t *bytes)
{
	upload *gone[UPLOADS_MAX];
	size_t n = 0;
	long long now = gv_http_now_ms();

	pthread_mutex_lock(&up_mu);
	for (size_t i = 0; i < UPLOADS_MAX; i++) {
		upload *u = uploads[i];

		if (!u || u->srv != srv || (s && u->s != s) || u->busy ||
		    (idle_ms >= 0 && now - u->last_ms < idle_ms))
			continue;
		if (files)
			++*files;
		if (bytes)
			*bytes += u->len;
		if (!dry_run) {
			gone[n++] = u;
			uploads[i] = NULL;
		}
	}
	pthread_mutex_unlock(&up_mu);
	while (n)
		up_free(gone[--n]);
}

void gv_http_node_stop(gv_server *srv)
{
	up_expire(srv, NULL, -1, 0, NULL, NULL);
}

static enum MHD_Result upload_start(gv_server *srv, struct MHD_Connection *c, req *r,
                                    node_req *n)
{
	unsigned char rnd[UPLOAD_ID_LEN / 2];
	upload *u;
	size_t i;
	int err;

	up_expire(srv, NULL, UPLOAD_IDLE_MS, 0, NULL, NULL);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return gv_http_send_error(c, r, "internal", "no random bytes for an upload id");
	if (!(u = calloc(1, sizeof(*u))))
		return MHD_NO;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(u->id + 2 * i, 3, "%02x", rnd[i]);
	u->srv = srv;
	u->s = n->s;
	u->busy = 1;
	if ((err = gv_key_hasher_new(&u->h)) < 0 ||
	    (err = gv_sector_writer_open(&u->w, n->s, NULL, 0)) < 0) {
		up_free(u);
		return node_gv_error(c, r, err);
	}
	pthread_mutex_lock(&up_mu);
	for (i = 0; i < UPLOADS_MAX && uploads[i]; i++)
		;
	if (i < UPLOADS_MAX)
		uploads[i] = u;
	pthread_mutex_unlock(&up_mu);
	if (i == UPLOADS_MAX) {
		up_free(u);
		return gv_http_send_error(c, r, "unavailable", "%d uploads open: try again later",
		                          UPLOADS_MAX);
	}
	up_release(u);
	return gv_http_send_jsonv(c, r, MHD_HTTP_CREATED, json_pack("{s:s}", "upload", u->id));
}

/* Commit a taken upload under ?key= when its size and digest are the
 * key's; it is gone afterwards either way. */
static enum MHD_Result upload_commit(struct MHD_Connection *c, req *r, upload *u)
{
	const char *ks = qarg(c, "key");
	char a[GV_KEY_BUFSIZE], b[GV_KEY_BUFSIZE];
	gv_key key, got;
	gv_sector_writer *w;
	int err;

	if (!ks || gv_key_parse(&key, ks) < 0) {
		up_release(u);
		return gv_http_send_error(c, r, "invalid_key", "?key=: %s",
		                          ks ? gv_error_last() : "required");
	}
	if ((err = gv_key_hasher_final(u->h, &got)) < 0) {
		up_drop(u);
		return node_gv_error(c, r, err);
	}
	if (gv_key_cmp(&got, &key) != 0) {
		up_drop(u);
		return gv_http_send_error(c, r, "digest_mismatch",
		                          "the upload is %s, not %s: nothing committed, upload dropped",
		                          gv_key_format(a, &got), gv_key_format(b, &key));
	}
	w = u->w;
	u->w = NULL;
	err = gv_sector_writer_commit(w, &key);
	up_drop(u);
	if (err < 0)
		return node_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_CREATED,
	                          json_pack("{s:s, s:I}", "key", gv_key_format(a, &key), "size",
	                                    (json_int_t)key.size));
}

/* The rest of a path after ".../uploads": "", "/{ID}", "/{ID}/sync" or
 * "/{ID}/commit"; an id is UPLOAD_ID_LEN lowercase hex digits. */
static enum MHD_Result parse_upload_path(struct MHD_Connection *c, req *r, node_req *n,
                                         const char *p)
{
	int got;

	if (*p == '\0') {
		n->op = N_UPLOADS;
		return MHD_YES;
	}
	got = segment(&p, n->upload_id, sizeof(n->upload_id));
	if (got <= 0 || strlen(n->upload_id) != UPLOAD_ID_LEN ||
	    strspn(n->upload_id, "0123456789abcdef") != UPLOAD_ID_LEN)
		return send_err(c, r, "invalid", "malformed upload id");
	if (*p == '\0')
		n->op = N_UPLOAD;
	else if (strcmp(p, "/sync") == 0)
		n->op = N_UPLOAD_SYNC;
	else if (strcmp(p, "/commit") == 0)
		n->op = N_UPLOAD_COMMIT;
	else
		return send_err(c, r, "not_found", "no such endpoint");
	return MHD_YES;
}

/* Parse the path after "/v1/node" into r->node. */
static enum MHD_Result parse_path(gv_server *srv, struct MHD_Connection *c, req *r,
                                  const char *p, const char *method)
{
	node_req *n;
	char seg[GV_KEY_BUFSIZE + 16];
	int got;

	if (strncmp(p, "/sectors", 8) != 0 || (p[8] != '\0' && p[8] != '/'))
		return send_err(c, r, "not_found", "no such endpoint");
	if (!(n = calloc(1, sizeof(*n))))
		return MHD_NO;
	r->node = n;
	p += 8;
	if ((got = segment(&p, n->sid, sizeof(n->sid))) == 0) {
		n->op = N_SECTORS;
		return *p == '\0' || strcmp(p, "/") == 0 ? MHD_YES
		                                          : send_err(c, r, "not_found", "no such endpoint");
	}
	if (got < 0 || gv_id_validate("sector id", n->sid) < 0)
		return send_err(c, r, "invalid", got < 0 ? "sector id too long" : gv_error_last());
	if ((n->s = gv_store_sector_local(srv->st, n->sid)) == NULL)
		return send_err(c, r, "not_found", gv_error_last());
	if (*p == '\0') {
		n->op = N_SECTOR;
		return MHD_YES;
	}
	if ((got = segment(&p, seg, sizeof(seg))) <= 0)
		return send_err(c, r, "not_found", "no such endpoint");
	if (strcmp(seg, "sweep") == 0 && *p == '\0') {
		n->op = N_SWEEP;
		return MHD_YES;
	}
	if (strcmp(seg, "uploads") == 0)
		return parse_upload_path(c, r, n, p);
	if (strcmp(seg, "blobs") != 0)
		return send_err(c, r, "not_found", "no such endpoint");
	if (*p == '\0') {
		n->op = N_LIST;
		return MHD_YES;
	}
	if ((got = segment(&p, seg, sizeof(seg))) < 0)
		return send_err(c, r, "invalid_key", "key too long");
	if (got == 0 || gv_key_parse(&n->key, seg) < 0)
		return send_err(c, r, "invalid_key", got ? gv_error_last() : "no key");
	n->op = N_BLOB;
	if (*p == '\0')
		return MHD_YES;
	if (strcmp(p, "/partial") == 0) {
		n->op = N_PARTIAL;
		return MHD_YES;
	}
	(void)method;
	return send_err(c, r, "not_found", "no such endpoint");
}

/* A body's length must be announced and end where the key says (one-shot)
 * or anywhere up to it (partial): else it cannot be checked. */
static enum MHD_Result open_upload(struct MHD_Connection *c, req *r, node_req *n)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	uint64_t len = 0, off = 0;
	char *end;
	int err;

	if (cl) {
		len = strtoull(cl, &end, 10);
		if (*end)
			return send_err(c, r, "invalid", "malformed Content-Length");
	}
	if (n->op == N_BLOB) {
		if (cl && len != n->key.size) {
			char msg[128];

			snprintf(msg, sizeof(msg), "body of %" PRIu64 " bytes for a key of %" PRIu64,
			         len, n->key.size);
			return send_err(c, r, "invalid", msg);
		}
		if ((err = gv_key_hasher_new(&n->h)) < 0 ||
		    (err = gv_sector_writer_open(&n->w, n->s, &n->key, 0)) < 0)
			return send_gv(c, r, err);
		return MHD_YES;
	}
	/* partial */
	if (qu64(c, "offset", &off) != 1)
		return send_err(c, r, "invalid", "?offset=N is required");
	n->commit = qflag(c, "commit");
	if (off > n->key.size || (cl && len > n->key.size - off))
		return send_err(c, r, "invalid", "offset and body go past the key's size");
	if ((err = gv_sector_writer_open(&n->w, n->s, &n->key, GV_WRITE_RESUME)) < 0)
		return send_gv(c, r, err);
	n->resume = 1;
	if (n->w->offset < off) {
		char msg[160];

		snprintf(msg, sizeof(msg), "the partial holds %" PRIu64 " bytes, not %" PRIu64,
		         n->w->offset, off);
		gv_sector_writer_abort(n->w, 1);
		n->w = NULL;
		return send_err(c, r, "offset_mismatch", msg);
	}
	if (n->w->offset > off && (err = gv_sector_writer_truncate(n->w, off)) < 0)
		return send_gv(c, r, err);
	return MHD_YES;
}

/* PUT .../uploads/{ID}?offset=N: take the upload for the body, which must
 * start where the upload ends. */
static enum MHD_Result upload_append_open(gv_server *srv, struct MHD_Connection *c, req *r,
                                          node_req *n)
{
	uint64_t off;
	upload *u;

	if (qu64(c, "offset", &off) != 1)
		return send_err(c, r, "invalid", "?offset=N is required");
	if (!(u = up_take(srv, n->s, n->upload_id, c, r)))
		return MHD_YES;
	if (off != u->len) {
		char msg[160];

		snprintf(msg, sizeof(msg), "the upload holds %" PRIu64 " bytes, not %" PRIu64,
		         u->len, off);
		up_release(u);
		return send_err(c, r, "offset_mismatch", msg);
	}
	n->up = u;
	return MHD_YES;
}

enum MHD_Result gv_http_node_begin(gv_server *srv, struct MHD_Connection *c, req *r,
                                  const char *url, const char *method)
{
	int off = 0;
	enum MHD_Result ret;

	if (!node_authorized(srv, c, &off)) {
		r->started = 1;
		if (off)
			return gv_http_send_error(c, r, "not_found",
			                  "the node protocol is off (no graviton.node.token)");
		return gv_http_send_error(c, r, "unauthorized",
		                  "a valid 'Authorization: Bearer <node token>' header is required");
	}
	if ((ret = parse_path(srv, c, r, url + strlen("/v1/node"), method)) != MHD_YES || r->started)
		return ret;
	if (strcmp(method, "PUT") == 0 && (r->node->op == N_BLOB || r->node->op == N_PARTIAL))
		return open_upload(c, r, r->node);
	if (strcmp(method, "PUT") == 0 && r->node->op == N_UPLOAD)
		return upload_append_open(srv, c, r, r->node);
	return MHD_YES;
}

void gv_http_node_write(req *r, const char *data, size_t n)
{
	node_req *nr = r->node;
	int err;

	if (nr->failed || r->refusal)
		return;
	if (nr->up) {
		if ((err = gv_sector_writer_write(nr->up->w, data, n)) < 0 ||
		    (err = gv_key_hasher_update(nr->up->h, data, n)) < 0) {
			gv_http_refuse_upload_gv(r, err);
			up_drop(nr->up);
			nr->up = NULL;
			nr->failed = 1;
			return;
		}
		nr->up->len += n;
		return;
	}
	if (!nr->w) {
		gv_http_refuse_upload(r, gv_wire_error_named("invalid"), "this request takes no body");
		nr->failed = 1;
		return;
	}
	nr->received += n;
	if ((err = gv_sector_writer_write(nr->w, data, n)) < 0 ||
	    (nr->h && (err = gv_key_hasher_update(nr->h, data, n)) < 0)) {
		gv_http_refuse_upload_gv(r, err);
		gv_sector_writer_abort(nr->w, nr->resume);
		nr->w = NULL;
		nr->failed = 1;
	}
}

/* ---- answers ---------------------------------------------------------------- */

static json_t *sector_doc(gv_server *srv, const char *id, gv_sector *s)
{
	gv_sector_info info;
	gv_sector_usage u;
	json_t *o;

	memset(&info, 0, sizeof(info));
	memset(&u, 0, sizeof(u));
	if (gv_store_sector_get(srv->st, id, &info) < 0 || gv_sector_usage_get(s, &u) < 0)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b}", "id", id, "rack", info.rack,
	              "zone", info.zone, "capacity", (json_int_t)u.capacity, "used",
	              (json_int_t)u.used, "avail", (json_int_t)u.avail, "healthy",
	              info.healthy && gv_sector_check(s) == 0);
	return o;
}

/* The `limit` smallest keys after `after`: a max-heap by key of at most
 * limit entries (the port lists in no order; O(blobs · log limit)). */
typedef struct page {
	gv_key *keys;
	uint64_t *sizes;
	size_t n, cap;
	int has_after;
	gv_key after;
	int more; /* a key past the page exists */
} page;

static void heap_swap(page *pg, size_t a, size_t b)
{
	gv_key k = pg->keys[a];
	uint64_t z = pg->sizes[a];

	pg->keys[a] = pg->keys[b];
	pg->sizes[a] = pg->sizes[b];
	pg->keys[b] = k;
	pg->sizes[b] = z;
}

static void sift_down(page *pg, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < pg->n && gv_key_cmp(&pg->keys[l], &pg->keys[m]) > 0)
			m = l;
		if (l + 1 < pg->n && gv_key_cmp(&pg->keys[l + 1], &pg->keys[m]) > 0)
			m = l + 1;
		if (m == i)
			return;
		heap_swap(pg, i, m);
		i = m;
	}
}

static int page_add(const gv_key *key, uint64_t bytes, void *payload)
{
	page *pg = payload;
	size_t i;

	if (pg->has_after && gv_key_cmp(key, &pg->after) <= 0)
		return 0;
	if (pg->n == pg->cap) {
		pg->more = 1;
		if (pg->cap == 0 || gv_key_cmp(key, &pg->keys[0]) >= 0)
			return 0;
		pg->keys[0] = *key;
		pg->sizes[0] = bytes;
		sift_down(pg, 0);
		return 0;
	}
	i = pg->n++;
	pg->keys[i] = *key;
	pg->sizes[i] = bytes;
	while (i > 0 && gv_key_cmp(&pg->keys[(i - 1) / 2], &pg->keys[i]) < 0) {
		heap_swap(pg, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	return 0;
}

static enum MHD_Result list_page(struct MHD_Connection *c, req *r, node_req *n)
{
	page pg;
	uint64_t limit = LIST_LIMIT_DEFAULT;
	const char *after = qarg(c, "after");
	json_t *arr, *doc;
	char kb[GV_KEY_BUFSIZE];
	size_t i;
	int err, q;

	memset(&pg, 0, sizeof(pg));
	if ((q = qu64(c, "limit", &limit)) < 0 || (q == 1 && (limit == 0 || limit > LIST_LIMIT_MAX)))
		return gv_http_send_error(c, r, "invalid", "limit must be 1 to %d", LIST_LIMIT_MAX);
	if (after && *after) {
		if (gv_key_parse(&pg.after, after) < 0)
			return gv_http_send_error(c, r, "invalid_key", "after: %s", gv_error_last());
		pg.has_after = 1;
	}
	pg.cap = (size_t)limit;
	pg.keys = malloc(pg.cap * sizeof(*pg.keys));
	pg.sizes = malloc(pg.cap * sizeof(*pg.sizes));
	if (!pg.keys || !pg.sizes) {
		free(pg.keys);
		free(pg.sizes);
		return MHD_NO;
	}
	if ((err = gv_sector_list(n->s, page_add, &pg)) < 0) {
		free(pg.keys);
		free(pg.sizes);
		return node_gv_error(c, r, err);
	}
	/* heap sort, ascending */
	for (i = pg.n; i > 1; i--) {
		size_t keep = pg.n;

		heap_swap(&pg, 0, i - 1);
		pg.n = i - 1;
		sift_down(&pg, 0);
		pg.n = keep;
	}
	arr = json_array();
	for (i = 0; i < pg.n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I}", "key", gv_key_format(kb, &pg.keys[i]),
		                                     "size", (json_int_t)pg.sizes[i]));
	doc = json_pack("{s:o, s:o}", "blobs", arr, "next",
	                pg.more && pg.n ? json_string(gv_key_format(kb, &pg.keys[pg.n - 1]))
	                                : json_null());
	free(pg.keys);
	free(pg.sizes);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, doc);
}

typedef struct node_stream {
	gv_sector_reader *rd;
} node_stream;

static ssize_t node_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	node_stream *ns = cls;
	ssize_t n;

	(void)pos;
	n = gv_sector_reader_read(ns->rd, buf, max);
	if (n > 0)
		return n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void node_stream_free(void *cls)
{
	node_stream *ns = cls;

	gv_sector_reader_close(ns->rd);
	free(ns);
}

static enum MHD_Result blob_get(struct MHD_Connection *c, req *r, node_req *n, int head)
{
	const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
	uint64_t start = 0, end = n->key.size;
	struct MHD_Response *resp;
	node_stream *ns;
	int64_t wat = 0;
	char cr[96], wa[32];
	int status = MHD_HTTP_OK, err;
	enum MHD_Result ret;

	if (rh) {
		int pr = gv_http_parse_range(rh, n->key.size, &start, &end);

		if (pr == -1)
			return gv_http_send_error(c, r, "invalid_range", "malformed Range '%.64s'", rh);
		if (pr == -2)
			return gv_http_send_error(c, r, "range_not_satisfiable",
			                  "range not satisfiable: the blob has %" PRIu64 " bytes",
			                  n->key.size);
		if (pr == 0)
			status = MHD_HTTP_PARTIAL_CONTENT;
		else
			start = 0, end = n->key.size;
	}
	if (!(ns = calloc(1, sizeof(*ns))))
		return MHD_NO;
	if ((err = gv_sector_reader_open(&ns->rd, n->s, &n->key, start, end - start)) < 0 ||
	    (err = gv_sector_written_at(n->s, &n->key, &wat)) < 0) {
		gv_sector_reader_close(ns->rd);
		free(ns);
		return node_gv_error(c, r, err);
	}
	resp = MHD_create_response_from_callback(end - start,
	                                         end - start < 256 * 1024 ? (size_t)(end - start + 1)
	                                                                  : 256 * 1024,
	                                         node_stream_read, ns, node_stream_free);
	if (!resp) {
		node_stream_free(ns);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	snprintf(wa, sizeof(wa), "%" PRId64, wat);
	MHD_add_response_header(resp, "X-Graviton-Written-At", wa);
	if (status == MHD_HTTP_PARTIAL_CONTENT) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
		         end - 1, n->key.size);
		MHD_add_response_header(resp, "Content-Range", cr);
	}
	(void)head; /* MHD sends no body for HEAD */
	r->status = status;
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result put_finish(struct MHD_Connection *c, req *r, node_req *n)
{
	gv_key got;
	char a[GV_KEY_BUFSIZE], b[GV_KEY_BUFSIZE];
	gv_sector_writer *w = n->w;
	int err;

	n->w = NULL;
	if (n->received != n->key.size) {
		gv_sector_writer_abort(w, 0);
		return gv_http_send_error(c, r, "invalid",
		                  "truncated body: %" PRIu64 " of %" PRIu64 " bytes, nothing committed",
		                  n->received, n->key.size);
	}
	if ((err = gv_key_hasher_final(n->h, &got)) < 0) {
		gv_sector_writer_abort(w, 0);
		return node_gv_error(c, r, err);
	}
	if (gv_key_cmp(&got, &n->key) != 0) {
		gv_sector_writer_abort(w, 0);
		return gv_http_send_error(c, r, "digest_mismatch",
		                  "the body is %s, not %s: nothing committed",
		                  gv_key_format(a, &got), gv_key_format(b, &n->key));
	}
	if ((err = gv_sector_writer_commit(w, &n->key)) < 0)
		return node_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_CREATED,
	                          json_pack("{s:s, s:I}", "key", gv_key_format(a, &n->key), "size",
	                                    (json_int_t)n->key.size));
}

/* Read a committed blob back through the sector and compare it with its
 * key: a partial grew over several requests, so no single one saw all of
 * its bytes. */
static int verify_committed(gv_sector *s, const gv_key *key)
{
	gv_sector_reader *rd;
	gv_key_hasher *h = NULL;
	gv_key got;
	char buf[65536];
	ssize_t n;
	int err;

	if ((err = gv_sector_reader_open(&rd, s, key, 0, UINT64_MAX)) < 0)
		return err;
	if ((err = gv_key_hasher_new(&h)) < 0)
		goto out;
	while ((n = gv_sector_reader_read(rd, buf, sizeof(buf))) > 0)
		if ((err = gv_key_hasher_update(h, buf, (size_t)n)) < 0)
			goto out;
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	if ((err = gv_key_hasher_final(h, &got)) == 0 && gv_key_cmp(&got, key) != 0)
		err = gv_error_set(GV_ECORRUPT, "the partial's bytes do not match the key");
out:
	gv_key_hasher_free(h);
	gv_sector_reader_close(rd);
	return err;
}

static enum MHD_Result partial_finish(struct MHD_Connection *c, req *r, node_req *n)
{
	gv_sector_writer *w = n->w;
	uint64_t off;
	char kb[GV_KEY_BUFSIZE];
	int err;

	n->w = NULL;
	if (!n->commit) {
		off = w->offset;
		if ((err = gv_sector_writer_sync(w)) < 0) {
			gv_sector_writer_abort(w, 1);
			return node_gv_error(c, r, err);
		}
		gv_sector_writer_abort(w, 1);
		return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:I}", "offset",
		                                                       (json_int_t)off));
	}
	if (w->offset != n->key.size) {
		off = w->offset;
		gv_sector_writer_abort(w, 1);
		return gv_http_send_error(c, r, "invalid",
		                  "the partial holds %" PRIu64 " of %" PRIu64 " bytes: not committed",
		                  off, n->key.size);
	}
	if ((err = gv_sector_writer_commit(w, &n->key)) < 0)
		return node_gv_error(c, r, err);
	if ((err = verify_committed(n->s, &n->key)) < 0) {
		gv_sector_del(n->s, &n->key);
		if (err == GV_ECORRUPT)
			return gv_http_send_error(c, r, "digest_mismatch",
			                  "the partial's bytes do not match %s: removed",
			                  gv_key_format(kb, &n->key));
		return node_gv_error(c, r, err);
	}
	return gv_http_send_jsonv(c, r, MHD_HTTP_CREATED,
	                          json_pack("{s:s, s:I}", "key", gv_key_format(kb, &n->key), "size",
	                                    (json_int_t)n->key.size));
}

static enum MHD_Result sectors_list(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info *all = NULL;
	size_t n = 0, i;
	json_t *arr;
	int err;

	if ((err = gv_store_sector_list(srv->st, &all, &n)) < 0)
		return node_gv_error(c, r, err);
	arr = json_array();
	for (i = 0; i < n; i++) {
		const gv_sector_kind *k = gv_sector_kind_find(all[i].kind);

		if (k && (k->flags & GV_SECTOR_KIND_LOCAL))
			json_array_append_new(arr, json_string(all[i].id));
	}
	gv_error_clear();
	free(all);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:o}", "sectors", arr));
}

static int is(const char *m, const char *want)
{
	return strcmp(m, want) == 0;
}

/* The end of a request on one upload: an append's answer, sync, commit,
 * delete. */
static enum MHD_Result upload_finish(gv_server *srv, struct MHD_Connection *c, req *r,
                                     node_req *n, const char *method)
{
	upload *u = n->up;
	uint64_t len;
	int err;

	n->up = NULL;
	if (n->op == N_UPLOAD && is(method, "PUT")) {
		len = u->len;
		up_release(u);
		return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:I}", "offset",
		                                                       (json_int_t)len));
	}
	if (n->op == N_UPLOAD && !is(method, "DELETE"))
		return gv_http_send_error_headers(c, r, gv_wire_error_named("method_not_allowed"),
		                          "method not allowed", "Allow", "PUT, DELETE");
	if (!(u = up_take(srv, n->s, n->upload_id, c, r)))
		return MHD_YES;
	if (n->op == N_UPLOAD_COMMIT)
		return upload_commit(c, r, u);
	if (n->op == N_UPLOAD) {
		up_drop(u);
		return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:b}", "deleted", 1));
	}
	err = gv_sector_writer_sync(u->w);
	len = u->len;
	if (err < 0) {
		up_drop(u);
		return node_gv_error(c, r, err);
	}
	up_release(u);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:I}", "offset", (json_int_t)len));
}

enum MHD_Result gv_http_node_finish(gv_server *srv, struct MHD_Connection *c, req *r,
                                   const char *method)
{
	node_req *n = r->node;
	int err;

	switch (n->op) {
	case N_SECTORS:
		if (!is(method, "GET"))
			break;
		return sectors_list(srv, c, r);
	case N_SECTOR: {
		json_t *doc;

		if (!is(method, "GET"))
			break;
		if (!(doc = sector_doc(srv, n->sid, n->s)))
			return gv_http_send_gv_error(c, r, GV_EIO);
		return gv_http_send_jsonv(c, r, MHD_HTTP_OK, doc);
	}
	case N_LIST:
		if (!is(method, "GET"))
			break;
		return list_page(c, r, n);
	case N_SWEEP: {
		uint64_t files = 0, bytes = 0, idle = 0;

		if (!is(method, "POST"))
			break;
		if ((err = gv_sector_sweep(n->s, qflag(c, "dry_run"), &files, &bytes)) < 0)
			return node_gv_error(c, r, err);
		up_expire(srv, n->s, qu64(c, "upload_idle_ms", &idle) == 1 ? (long long)idle
		                                                            : UPLOAD_IDLE_MS,
		          qflag(c, "dry_run"), &files, &bytes);
		return gv_http_send_jsonv(c, r, MHD_HTTP_OK,
		                          json_pack("{s:I, s:I}", "files", (json_int_t)files,
		                                    "bytes", (json_int_t)bytes));
	}
	case N_BLOB:
		if (is(method, "GET") || is(method, "HEAD"))
			return blob_get(c, r, n, is(method, "HEAD"));
		if (is(method, "PUT"))
			return put_finish(c, r, n);
		if (is(method, "DELETE")) {
			if ((err = gv_sector_del(n->s, &n->key)) < 0)
				return node_gv_error(c, r, err);
			return gv_http_send_jsonv(c, r, MHD_HTTP_OK, json_pack("{s:b}", "deleted", 1));
		}
		return gv_http_send_error_headers(c, r, gv_wire_error_named("method_not_allowed"),
		                          "method not allowed", "Allow", "GET, HEAD, PUT, DELETE");
	case N_PARTIAL:
		if (is(method, "PUT"))
			return partial_finish(c, r, n);
		if (is(method, "GET") || is(method, "DELETE")) {
			gv_sector_writer *w;
			uint64_t off;

			if ((err = gv_sector_writer_open(&w, n->s, &n->key, GV_WRITE_RESUME)) < 0)
				return node_gv_error(c, r, err);
			off = w->offset;
			gv_sector_writer_abort(w, is(method, "GET"));
			return gv_http_send_jsonv(c, r, MHD_HTTP_OK,
			                          json_pack("{s:I}", "offset",
			                                    (json_int_t)(is(method, "GET") ? off : 0)));
		}
		return gv_http_send_error_headers(c, r, gv_wire_error_named("method_not_allowed"),
		                          "method not allowed", "Allow", "GET, PUT, DELETE");
	case N_UPLOADS:
		if (!is(method, "POST"))
			break;
		return upload_start(srv, c, r, n);
	case N_UPLOAD:
		return upload_finish(srv, c, r, n, method);
	case N_UPLOAD_SYNC:
	case N_UPLOAD_COMMIT:
		if (!is(method, "POST"))
			break;
		return upload_finish(srv, c, r, n, method);
	}
	return gv_http_send_error(c, r, "method_not_allowed", "method not allowed");
}
