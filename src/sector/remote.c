/*
 * remote.c - the `remote` sector kind: a sector lent by another node over
 * the sector protocol (docs/sector-protocol.md), on libcurl.
 *
 * Locator: "<url>/v1/node/sectors/<remote sector id>" (gv_sector_remote_locator).
 *
 *   requests   one easy handle per request, taken from a per-sector pool
 *              (so connections to the node are reused); connect and
 *              request timeouts and the node token are process settings
 *              (gv_sector_remote_configure).  Idempotent requests (GET,
 *              HEAD, PUT of a whole blob or of a partial at an offset) are
 *              retried with exponential backoff on connection errors and
 *              503; answers map to the port's codes (404 not found, 422
 *              corrupt, 507 full, 409 busy, unreachable: GV_EIO/ETIMEOUT).
 *   writers    without RESUME: the first CHUNK bytes in memory; a blob
 *              that fits is sent at commit in one PUT under its key.  A
 *              larger one starts an upload on the node (its key is often
 *              known only at the end) and streams there while the put
 *              runs: a thread per writer runs one chunked PUT whose body
 *              it reads from the writer's buffer, used as a ring (the
 *              writer waits while it is full); sync ends that request and
 *              asks the node to make the upload durable; commit ends it
 *              and asks the node to commit the upload under the key, which
 *              it does only when size and digest match.  With RESUME (key
 *              known): chunks of CHUNK bytes are appended to the node's
 *              kept partial at their offset; commit sends the last one with
 *              commit=1.
 *   readers    Range GETs of CHUNK bytes, one at a time.
 *
 * Limits: bytes of an upload do not count against the node's capacity
 * until commit; two RESUME writers of one key are refused
 * (GV_EBUSY) within this process only.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#include "graviton/sys/sector.h"
#include "core/clock.h"
#include "sector/curlpool.h"

#define CHUNK (4u << 20)
#define ANSWER_MAX (1u << 20) /* a listing page at most (1000 keys of ~110 bytes) */
#define DOC_MAX 4096          /* any other JSON answer */
#define USAGE_TTL_MS 1000     /* placement asks for usage on every put */
#define LIST_PAGE 1000
#define BUSY_MAX 256
#define LOCATOR_MID "/v1/node/sectors/"
#define UPLOAD_ID_MAX 64
#define STREAM_BUFSIZE (512L * 1024) /* curl's upload buffer for a stream */

/* ---- process settings ------------------------------------------------------- */

static pthread_mutex_t cfg_mu = PTHREAD_MUTEX_INITIALIZER;
static char cfg_token[256];             /* cfg_mu */
static long cfg_connect_ms = 5000;      /* cfg_mu */
static long cfg_request_ms = 60000;     /* cfg_mu */
static unsigned cfg_retries = 3;        /* cfg_mu */

int gv_sector_remote_configure(const gv_sector_remote_opts *o)
{
	if (!o || o->version != 1)
		return gv_error_set(GV_EINVAL, "remote sector settings: version 1 expected");
	if (o->token && strlen(o->token) >= sizeof(cfg_token))
		return gv_error_set(GV_EINVAL, "node token over %zu bytes", sizeof(cfg_token) - 1);
	pthread_mutex_lock(&cfg_mu);
	snprintf(cfg_token, sizeof(cfg_token), "%s", o->token ? o->token : "");
	cfg_connect_ms = o->connect_timeout_ms ? (long)o->connect_timeout_ms : 5000;
	cfg_request_ms = o->request_timeout_ms ? (long)o->request_timeout_ms : 60000;
	cfg_retries = o->retries;
	pthread_mutex_unlock(&cfg_mu);
	return 0;
}

int gv_sector_remote_locator(char *out, size_t cap, const char *url, const char *sid)
{
	size_t ul;
	int n;

	if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return gv_error_set(GV_EINVAL, "remote sector: the url must start with http:// or "
		                    "https://");
	if (strpbrk(url, " \t\r\n#?"))
		return gv_error_set(GV_EINVAL, "remote sector: the url must be http://HOST:PORT");
	if (gv_id_validate("remote sector id", sid) < 0)
		return GV_EINVAL;
	ul = strlen(url);
	while (ul > 0 && url[ul - 1] == '/')
		ul--;
	n = snprintf(out, cap, "%.*s" LOCATOR_MID "%s", (int)ul, url, sid);
	if (n < 0 || (size_t)n >= cap)
		return gv_error_set(GV_EINVAL, "remote sector: url too long");
	return 0;
}

int gv_sector_remote_split(const char *locator, char *url, size_t url_cap, char *sid,
                           size_t sid_cap)
{
	const char *m = locator ? strstr(locator, LOCATOR_MID) : NULL;
	size_t ul;

	if (!m)
		return gv_error_set(GV_EINVAL, "'%.64s' is not a remote sector locator",
		                    locator ? locator : "");
	ul = (size_t)(m - locator);
	if (ul >= url_cap || strlen(m + strlen(LOCATOR_MID)) >= sid_cap)
		return gv_error_set(GV_EINVAL, "remote sector locator too long");
	memcpy(url, locator, ul);
	url[ul] = '\0';
	snprintf(sid, sid_cap, "%s", m + strlen(LOCATOR_MID));
	return 0;
}

/* ---- the sector ----------------------------------------------------------------- */

typedef struct remote {
	gv_sector base;
	char base_url[GV_PATH_MAX];  /* the locator: .../v1/node/sectors/SID */
	pthread_mutex_t mu;
	gv_curl_pool pool;           /* idle handles, their connections open */
	gv_key busy[BUSY_MAX];       /* mu: keys of open RESUME writers */
	size_t nbusy;                /* mu */
	gv_sector_usage usage;       /* mu: the last usage answer, */
	long long usage_at_ms;       /* mu: when (0: none; a commit or delete
	                              * of this process clears it) */
	int usage_err;               /* mu: that answer was this failure */
	int usage_busy;              /* mu: a thread is asking the node */
} remote;

static void usage_stale(remote *rm);

struct rwriter;

/* What a request sends: buf, or (ring set) a writer's stream, of a length
 * not known up front (chunked). */
typedef struct body {
	const unsigned char *buf;
	size_t len;
	size_t pos;
	struct rwriter *ring;
} body;

/* Where an answer goes: into `out` (bounded by cap) or, when sink is set,
 * into sink (a reader's chunk buffer of cap bytes). */
typedef struct answer {
	char *out;
	size_t len, cap;
	int64_t written_at;
	int overflow;
	/* An error answer goes here instead (its start: for the message). */
	CURL *h;
	char err[256];
	size_t err_len;
} answer;

typedef struct call {
	const char *method;   /* GET HEAD PUT DELETE POST */
	const char *path;     /* appended to the base url */
	const char *range;    /* "bytes=a-b" or NULL */
	body *in;             /* NULL: no body */
	answer *ans;          /* NULL: discarded */
	int idempotent;
	long status;
	uint64_t content_length;
	long timeout_ms;      /* 0: the request timeout; -1: none (a stream,
	                       * which its writer stops) */
} call;

static size_t on_body(char *p, size_t sz, size_t nm, void *u)
{
	answer *a = u;
	size_t n = sz * nm;
	long status = 0;

	curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300) {
		size_t k = sizeof(a->err) - 1 - a->err_len;

		k = n < k ? n : k;
		memcpy(a->err + a->err_len, p, k);
		a->err_len += k;
		return n;
	}
	if (a->len + n > a->cap) {
		a->overflow = 1;
		return 0;
	}
	memcpy(a->out + a->len, p, n);
	a->len += n;
	return n;
}

static size_t discard(char *p, size_t sz, size_t nm, void *u)
{
	(void)p;
	(void)u;
	return sz * nm;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u)
{
	answer *a = u;
	size_t n = sz * nm;
	static const char h[] = "X-Graviton-Written-At:";

	if (n > sizeof(h) && strncasecmp(p, h, sizeof(h) - 1) == 0)
		a->written_at = strtoll(p + sizeof(h) - 1, NULL, 10);
	return n;
}

static size_t on_send(char *p, size_t sz, size_t nm, void *u)
{
	body *b = u;
	size_t cap = sz * nm, n = b->len - b->pos < cap ? b->len - b->pos : cap;

	memcpy(p, b->buf + b->pos, n);
	b->pos += n;
	return n;
}

static size_t ring_send(char *p, size_t sz, size_t nm, void *u);
static int ring_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un);

/* The port's code for a node's answer; the answer's text in the message. */
static int status_error(remote *rm, const call *cl)
{
	const char *text = cl->ans ? cl->ans->err : "";
	int len = cl->ans ? (int)cl->ans->err_len : 0;
	int code;

	switch (cl->status) {
	case 400: code = GV_EINVAL; break;
	case 401: code = GV_ERROR; break;
	case 404: code = GV_ENOTFOUND; break;
	case 409: code = GV_EBUSY; break;
	case 416: code = GV_EINVAL; break;
	case 422: code = GV_ECORRUPT; break;
	case 507: code = GV_ENOSPACE; break;
	case 503: code = GV_EIO; break;
	default: code = GV_EIO; break;
	}
	return gv_error_set(code, "sector %s: %s %s: node answered %ld%s %.*s", rm->base.id,
	                    cl->method, cl->path[0] ? cl->path : "/", cl->status,
	                    cl->status == 401 ? " (wrong graviton.node.token)" : "", len, text);
}

static int perform(remote *rm, call *cl)
{
	char url[GV_PATH_MAX + GV_KEY_BUFSIZE + 128], auth[300];
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE];
	unsigned attempt, retries;
	long connect_ms, request_ms;
	int err = 0;

	pthread_mutex_lock(&cfg_mu);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg_token);
	connect_ms = cfg_connect_ms;
	request_ms = cl->timeout_ms < 0 ? 0 : cl->timeout_ms ? cl->timeout_ms : cfg_request_ms;
	retries = cl->idempotent && !cl->timeout_ms ? cfg_retries : 0;
	pthread_mutex_unlock(&cfg_mu);
	if ((size_t)snprintf(url, sizeof(url), "%s%s", rm->base_url, cl->path) >= sizeof(url))
		return gv_error_set(GV_EINVAL, "sector %s: url too long", rm->base.id);
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (!hdrs)
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (attempt = 0;; attempt++) {
		CURL *h = gv_curl_pool_get(&rm->pool);
		CURLcode rc;
		curl_off_t clen = -1;

		if (!h) {
			err = gv_error_set(GV_ENOMEM, "sector %s: cannot create a curl handle",
			                   rm->base.id);
			break;
		}
		errbuf[0] = '\0';
		if (cl->ans) {
			cl->ans->len = 0;
			cl->ans->overflow = 0;
			cl->ans->err_len = 0;
			cl->ans->h = h;
		}
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, request_ms);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cl->method);
		if (strcmp(cl->method, "HEAD") == 0)
			curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		if (cl->range)
			curl_easy_setopt(h, CURLOPT_RANGE, cl->range);
		if (cl->in && cl->in->ring) {
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cl->method);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, ring_send);
			curl_easy_setopt(h, CURLOPT_READDATA, cl->in->ring);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)-1);
			curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, STREAM_BUFSIZE);
			curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, ring_progress);
			curl_easy_setopt(h, CURLOPT_XFERINFODATA, cl->in->ring);
		} else if (cl->in) {
			cl->in->pos = 0;
			curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, cl->method);
			curl_easy_setopt(h, CURLOPT_READFUNCTION, on_send);
			curl_easy_setopt(h, CURLOPT_READDATA, cl->in);
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)cl->in->len);
		} else if (strcmp(cl->method, "POST") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		}
		if (cl->ans) {
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, cl->ans);
			curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
			curl_easy_setopt(h, CURLOPT_HEADERDATA, cl->ans);
		} else {
			curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		}
		rc = curl_easy_perform(h);
		cl->status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &cl->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
		cl->content_length = clen < 0 ? 0 : (uint64_t)clen;
		if (rc == CURLE_OK) {
			gv_curl_pool_put(&rm->pool, h);
			if (cl->status == 503 && attempt < retries)
				goto retry;
			err = cl->status >= 200 && cl->status < 300 ? 0 : status_error(rm, cl);
			break;
		}
		curl_easy_cleanup(h);
		if (cl->ans && cl->ans->overflow) {
			err = gv_error_set(GV_EIO, "sector %s: %s %s: answer over %zu bytes",
			                   rm->base.id, cl->method, cl->path, cl->ans->cap);
			break;
		}
		err = gv_error_set(rc == CURLE_OPERATION_TIMEDOUT ? GV_ETIMEOUT : GV_EIO,
		                   "sector %s: node %s unreachable: %s", rm->base.id, rm->base_url,
		                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
		if (attempt >= retries)
			break;
retry:
		{
			struct timespec ts = { 0, (long)(50000000L << (attempt < 4 ? attempt : 4)) };

			nanosleep(&ts, NULL);
		}
	}
	curl_slist_free_all(hdrs);
	return err;
}

static int key_path(char *out, size_t cap, const gv_key *key, const char *suffix)
{
	char kb[GV_KEY_BUFSIZE];

	snprintf(out, cap, "/blobs/%s%s", gv_key_format(kb, key), suffix);
	return 0;
}

/* ---- writers ------------------------------------------------------------------ */

typedef struct rwriter {
	gv_sector_writer base;
	remote *rm;
	gv_key key;
	int has_key, resume;
	unsigned char *buf;   /* CHUNK bytes; a ring from `rpos` once streaming */
	size_t blen;          /* mu while a stream runs */
	uint64_t sent;        /* resume: bytes the node's partial holds;
	                       * upload: bytes the node's upload held when the
	                       * current request started */
	int cut;              /* resume: the partial must be cut back to `sent` */
	/* without RESUME, once the blob is over CHUNK bytes: */
	char upload[UPLOAD_ID_MAX]; /* the node's upload ("": none yet) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t rpos;          /* mu: where the ring's bytes start */
	uint64_t fed;         /* mu: bytes handed to the current request */
	int closed;           /* mu: the current request's body ends */
	int stop;             /* mu: abandon the current request */
	int done;             /* mu: the current request is over, */
	int serr;             /* mu: with this outcome */
	char smsg[256];       /* mu: and message */
	int running;          /* a thread runs the current request */
	pthread_t tid;
} rwriter;

static void busy_drop(remote *rm, const gv_key *key)
{
	size_t i;

	pthread_mutex_lock(&rm->mu);
	for (i = 0; i < rm->nbusy; i++)
		if (gv_key_cmp(&rm->busy[i], key) == 0) {
			rm->busy[i] = rm->busy[--rm->nbusy];
			break;
		}
	pthread_mutex_unlock(&rm->mu);
}

static void writer_free(rwriter *w)
{
	if (w->resume)
		busy_drop(w->rm, &w->key);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w->buf);
	free(w);
}

static int parse_offset(const answer *a, uint64_t *out)
{
	json_t *doc = json_loadb(a->out, a->len, 0, NULL);
	json_t *o = doc ? json_object_get(doc, "offset") : NULL;
	int err = 0;

	if (!json_is_integer(o) || json_integer_value(o) < 0)
		err = gv_error_set(GV_EIO, "node answer without an offset");
	else
		*out = (uint64_t)json_integer_value(o);
	json_decref(doc);
	return err;
}

static int partial_call(rwriter *w, const char *method, const char *query, body *in,
                        uint64_t *out_offset)
{
	char path[GV_KEY_BUFSIZE + 96], txt[256];
	answer a = { txt, 0, sizeof(txt) - 1, 0, 0 };
	call cl = { method, path, NULL, in, &a, 1, 0, 0 };
	int err;

	snprintf(path, sizeof(path), "/blobs/%s/partial%s", gv_key_format(txt, &w->key), query);
	if ((err = perform(w->rm, &cl)) < 0)
		return err;
	txt[a.len] = '\0';
	return out_offset ? parse_offset(&a, out_offset) : 0;
}

static int resume_flush(rwriter *w, int commit)
{
	char q[64];
	body in = { w->buf, w->blen, 0, NULL };
	uint64_t off = 0;
	int err;

	if (!w->blen && !w->cut && !commit)
		return 0;
	snprintf(q, sizeof(q), "?offset=%" PRIu64 "%s", w->sent, commit ? "&commit=1" : "");
	if ((err = partial_call(w, "PUT", q, &in, commit ? NULL : &off)) < 0)
		return err;
	if (!commit && off != w->sent + w->blen)
		return gv_error_set(GV_EIO, "sector %s: the node's partial holds %" PRIu64
		                    " bytes, %" PRIu64 " expected", w->rm->base.id, off,
		                    w->sent + w->blen);
	w->sent += w->blen;
	w->blen = 0;
	w->cut = 0;
	return 0;
}

static int get_json(remote *rm, const char *method, const char *path, size_t cap, json_t **out);

/* ---- streams: a keyless writer's bytes on their way to the node's upload ---- */

static long request_timeout_ms(void)
{
	long ms;

	pthread_mutex_lock(&cfg_mu);
	ms = cfg_request_ms;
	pthread_mutex_unlock(&cfg_mu);
	return ms;
}


/* curl's read callback: the ring's next bytes; blocks while it is empty
 * and the body goes on; 0 ends the body. */
static size_t ring_send(char *p, size_t sz, size_t nm, void *u)
{
	rwriter *w = u;
	size_t cap = sz * nm, n;

	pthread_mutex_lock(&w->mu);
	while (!w->blen && !w->closed && !w->stop)
		pthread_cond_wait(&w->cv, &w->mu);
	if (w->stop) {
		pthread_mutex_unlock(&w->mu);
		return CURL_READFUNC_ABORT;
	}
	n = w->blen < cap ? w->blen : cap;
	if (n > CHUNK - w->rpos)
		n = CHUNK - w->rpos;
	pthread_mutex_unlock(&w->mu);
	/* The writer fills only the free part of the ring. */
	memcpy(p, w->buf + w->rpos, n);
	pthread_mutex_lock(&w->mu);
	w->rpos = (w->rpos + n) % CHUNK;
	w->blen -= n;
	w->fed += n;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* curl's progress callback: ends a request its writer stopped (a node
 * that takes nothing leaves curl waiting on the socket, not in ring_send). */
static int ring_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	rwriter *w = u;
	int stop;

	(void)dt, (void)dn, (void)ut, (void)un;
	pthread_mutex_lock(&w->mu);
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

static void *stream_main(void *p)
{
	rwriter *w = p;
	char path[UPLOAD_ID_MAX + 64], txt[256];
	answer a = { txt, 0, sizeof(txt) - 1, 0, 0 };
	body in = { NULL, 0, 0, w };
	call cl = { "PUT", path, NULL, &in, &a, 0, 0, 0, -1 };
	uint64_t off = 0;
	int err;

	snprintf(path, sizeof(path), "/uploads/%s?offset=%" PRIu64, w->upload, w->sent);
	if ((err = perform(w->rm, &cl)) == 0 && (err = parse_offset(&a, &off)) == 0 &&
	    off != w->sent + w->fed)
		err = gv_error_set(GV_EIO, "sector %s: the node's upload holds %" PRIu64
		                   " bytes, %" PRIu64 " sent", w->rm->base.id, off, w->sent + w->fed);
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->serr = err;
	snprintf(w->smsg, sizeof(w->smsg), "%s", err ? gv_error_last() : "");
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Start the upload on the node when there is none, then a request that
 * sends the ring's bytes and whatever follows. */
static int stream_start(rwriter *w)
{
	int err;

	if (!w->upload[0]) {
		json_t *doc;
		const char *id;

		if ((err = get_json(w->rm, "POST", "/uploads", DOC_MAX, &doc)) < 0)
			return err;
		id = json_string_value(json_object_get(doc, "upload"));
		if (!id || !*id || strlen(id) >= sizeof(w->upload) || strpbrk(id, "/?#%")) {
			json_decref(doc);
			return gv_error_set(GV_EIO, "sector %s: the node named no upload",
			                    w->rm->base.id);
		}
		snprintf(w->upload, sizeof(w->upload), "%s", id);
		json_decref(doc);
	}
	w->fed = 0;
	w->closed = w->stop = w->done = w->serr = 0;
	if (pthread_create(&w->tid, NULL, stream_main, w) != 0)
		return gv_error_set(GV_ERROR, "sector %s: cannot start a stream", w->rm->base.id);
	w->running = 1;
	return 0;
}

/* End the current request: its body ends (or, stop, it is abandoned).
 * A node that takes nothing for the request timeout gets it abandoned. */
static int stream_end(rwriter *w, int stop)
{
	long ms = request_timeout_ms();
	struct timespec dl;
	size_t left;
	int err;

	if (!w->running)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->closed = 1;
	w->stop |= stop;
	pthread_cond_broadcast(&w->cv);
	gv_deadline_in(&dl, ms);
	left = w->blen;
	while (!w->done) {
		if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT) {
			if (w->blen == left || w->blen == 0) {
				w->stop = 1;
				pthread_cond_broadcast(&w->cv);
				while (!w->done)
					pthread_cond_wait(&w->cv, &w->mu);
				break;
			}
			left = w->blen;
			gv_deadline_in(&dl, ms);
		}
	}
	err = w->serr;
	if (err < 0)
		gv_error_set(err, "%s", w->smsg);
	w->sent += w->fed;
	w->fed = 0;
	w->done = 0;
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	w->running = 0;
	return err;
}

/* Bytes into the ring; a full ring starts the stream (when it is not
 * running yet) or waits for the node to take some, for at most the
 * request timeout without progress. */
static int ring_put(rwriter *w, const unsigned char *p, size_t len)
{
	long ms = request_timeout_ms();
	struct timespec dl;
	int err;

	while (len) {
		size_t wpos, n;

		/* blen is read unlocked only while no stream thread runs
		 * (stream_end joined it). */
		if (!w->running && w->blen == CHUNK && (err = stream_start(w)) < 0)
			return err;
		pthread_mutex_lock(&w->mu);
		gv_deadline_in(&dl, ms);
		while (w->blen == CHUNK && !w->done)
			if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT)
				break;
		if (w->blen == CHUNK || w->done) {
			int timeout = !w->done;

			pthread_mutex_unlock(&w->mu);
			err = stream_end(w, 1);
			if (timeout)
				return gv_error_set(GV_ETIMEOUT, "sector %s: the node took nothing for "
				                    "%ld ms", w->rm->base.id, ms);
			return err < 0 ? err : gv_error_set(GV_EIO, "sector %s: the node ended the "
			                                    "upload early", w->rm->base.id);
		}
		wpos = (w->rpos + w->blen) % CHUNK;
		n = CHUNK - w->blen;
		pthread_mutex_unlock(&w->mu);
		if (n > CHUNK - wpos)
			n = CHUNK - wpos;
		if (n > len)
			n = len;
		memcpy(w->buf + wpos, p, n);
		pthread_mutex_lock(&w->mu);
		w->blen += n;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		p += n;
		len -= n;
	}
	return 0;
}

/* A POST on the writer's upload ("/sync", "/commit?key=…", or a DELETE
 * with path ""), after the stream ended. */
static int upload_call(rwriter *w, const char *method, const char *suffix, long timeout_ms)
{
	char path[UPLOAD_ID_MAX + GV_KEY_BUFSIZE + 32], txt[512];
	answer a = { txt, 0, sizeof(txt) - 1, 0, 0 };
	call cl = { method, path, NULL, NULL, &a, 0, 0, 0, timeout_ms };

	snprintf(path, sizeof(path), "/uploads/%s%s", w->upload, suffix);
	return perform(w->rm, &cl);
}

/* Drop the writer's upload on the node, if any; waits at most the connect
 * timeout (a node that does not answer drops it by age). */
static void upload_drop(rwriter *w)
{
	long ms;

	if (!w->upload[0])
		return;
	pthread_mutex_lock(&cfg_mu);
	ms = cfg_connect_ms;
	pthread_mutex_unlock(&cfg_mu);
	upload_call(w, "DELETE", "", ms);
	w->upload[0] = '\0';
}

static int rw_open(gv_sector_writer **out, gv_sector *s, const gv_key *key, unsigned flags)
{
	remote *rm = (remote *)s;
	rwriter *w;
	int err = 0;

	*out = NULL;
	if (flags & ~GV_WRITE_RESUME)
		return gv_error_set(GV_EINVAL, "unknown writer flags 0x%x", flags);
	if ((flags & GV_WRITE_RESUME) && !key)
		return gv_error_set(GV_EINVAL, "a resumable write needs its key");
	if (!(w = calloc(1, sizeof(*w))) || !(w->buf = malloc(CHUNK))) {
		if (w)
			free(w);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	w->base.sector = s;
	w->rm = rm;
	pthread_mutex_init(&w->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (key) {
		w->key = *key;
		w->has_key = 1;
	}
	if (flags & GV_WRITE_RESUME) {
		pthread_mutex_lock(&rm->mu);
		for (size_t i = 0; i < rm->nbusy; i++)
			if (gv_key_cmp(&rm->busy[i], key) == 0)
				err = GV_EBUSY;
		if (err != GV_EBUSY && rm->nbusy == BUSY_MAX)
			err = GV_EBUSY;
		if (err != GV_EBUSY)
			rm->busy[rm->nbusy++] = *key;
		pthread_mutex_unlock(&rm->mu);
		if (err == GV_EBUSY) {
			writer_free(w);
			return gv_error_set(GV_EBUSY, "sector %s: a resumable write of this key is "
			                    "open already", rm->base.id);
		}
		w->resume = 1;
		if ((err = partial_call(w, "GET", "", NULL, &w->sent)) < 0) {
			writer_free(w);
			return err;
		}
		w->base.offset = w->sent;
	}
	*out = &w->base;
	return 0;
}

static int rw_write(gv_sector_writer *gw, const void *buf, size_t len)
{
	rwriter *w = (rwriter *)gw;
	const unsigned char *p = buf;
	int err;

	if (w->has_key && len > w->key.size - w->base.offset)
		return gv_error_set(GV_EINVAL, "sector %s: write past the key's %" PRIu64 " bytes",
		                    w->rm->base.id, w->key.size);
	if (!w->resume) {
		if ((err = ring_put(w, p, len)) < 0)
			return err;
		w->base.offset += len;
		return 0;
	}
	while (len) {
		size_t n = CHUNK - w->blen < len ? CHUNK - w->blen : len;

		memcpy(w->buf + w->blen, p, n);
		w->blen += n;
		w->base.offset += n;
		p += n;
		len -= n;
		if (w->blen == CHUNK && (err = resume_flush(w, 0)) < 0)
			return err;
	}
	return 0;
}

static int rw_sync(gv_sector_writer *gw)
{
	rwriter *w = (rwriter *)gw;

	int err;

	if (w->resume)
		return resume_flush(w, 0);
	/* Without RESUME the bytes go to the node's upload, made durable
	 * there. */
	if (!w->base.offset)
		return 0;
	if (!w->running && (err = stream_start(w)) < 0)
		return err;
	if ((err = stream_end(w, 0)) < 0)
		return err;
	return upload_call(w, "POST", "/sync", 0);
}

static int rw_truncate(gv_sector_writer *gw, uint64_t len)
{
	rwriter *w = (rwriter *)gw;

	if (!w->resume)
		return gv_error_set(GV_ERROR, "sector %s: only a resumable write can be cut back",
		                    w->rm->base.id);
	if (len >= w->sent) {
		w->blen = (size_t)(len - w->sent);
	} else {
		w->sent = len;
		w->blen = 0;
		w->cut = 1;
	}
	w->base.offset = len;
	return 0;
}

static int rw_commit(gv_sector_writer *gw, const gv_key *key)
{
	rwriter *w = (rwriter *)gw;
	char path[GV_KEY_BUFSIZE + 32], txt[512];
	answer a = { txt, 0, sizeof(txt) - 1, 0, 0 };
	body in = { w->buf, 0, 0, NULL };
	call cl = { "PUT", path, NULL, &in, &a, 1, 0, 0 };
	int err;

	if (!key)
		err = gv_error_set(GV_EINVAL, "commit needs a key");
	else if (w->has_key && gv_key_cmp(key, &w->key) != 0)
		err = gv_error_set(GV_EINVAL, "commit under another key than the writer's");
	else if (w->base.offset != key->size)
		err = gv_error_set(GV_EINVAL, "commit of %" PRIu64 " bytes under a key of %" PRIu64,
		                   w->base.offset, key->size);
	else if (w->resume)
		err = resume_flush(w, 1);
	else if (!w->upload[0]) {
		/* It fits in the buffer (which is linear then): one PUT.  No
		 * stream thread ever ran, so blen is this thread's. */
		in.len = w->blen;
		key_path(path, sizeof(path), key, "");
		err = perform(w->rm, &cl);
	} else {
		char q[GV_KEY_BUFSIZE + 16], kb[GV_KEY_BUFSIZE];

		snprintf(q, sizeof(q), "/commit?key=%s", gv_key_format(kb, key));
		if ((!w->running && w->blen && (err = stream_start(w)) < 0) ||
		    (err = stream_end(w, 0)) < 0) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", gv_error_last());
			upload_drop(w);
			gv_error_set(err, "%s", msg);
		} else
			err = upload_call(w, "POST", q, 0);
	}
	usage_stale(w->rm);
	writer_free(w);
	return err;
}

static void rw_abort(gv_sector_writer *gw, int keep_partial)
{
	rwriter *w = (rwriter *)gw;

	if (!w)
		return;
	if (w->resume) {
		if (keep_partial)
			resume_flush(w, 0);
		else
			partial_call(w, "DELETE", "", NULL, NULL);
	} else {
		stream_end(w, 1);
		upload_drop(w);
	}
	writer_free(w);
}

/* ---- readers -------------------------------------------------------------------- */

typedef struct rreader {
	gv_sector_reader base;
	remote *rm;
	gv_key key;
	uint64_t next;        /* offset of the next chunk to fetch */
	unsigned char *buf;   /* bcap bytes: a chunk, or the whole range when smaller */
	size_t blen, bpos, bcap;
} rreader;

static int fetch(rreader *r)
{
	char path[GV_KEY_BUFSIZE + 32], range[64];
	uint64_t want = r->base.remaining - (r->blen - r->bpos);
	answer a;
	call cl = { "GET", path, range, NULL, &a, 1, 0, 0 };
	int err;

	if (want > r->bcap)
		want = r->bcap;
	a = (answer){ (char *)r->buf, 0, r->bcap, 0, 0 };
	key_path(path, sizeof(path), &r->key, "");
	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, r->next, r->next + want - 1);
	if ((err = perform(r->rm, &cl)) < 0)
		return err;
	if (a.len != want)
		return gv_error_set(GV_EIO, "sector %s: asked %" PRIu64 " bytes, got %zu",
		                    r->rm->base.id, want, a.len);
	r->blen = a.len;
	r->bpos = 0;
	r->next += a.len;
	return 0;
}

static int head(remote *rm, const gv_key *key, uint64_t *size, int64_t *written_at)
{
	char path[GV_KEY_BUFSIZE + 32], txt[256];
	answer a = { txt, 0, sizeof(txt), 0, 0 };
	call cl = { "HEAD", path, NULL, NULL, &a, 1, 0, 0 };
	int err;

	key_path(path, sizeof(path), key, "");
	if ((err = perform(rm, &cl)) < 0)
		return err;
	if (size)
		*size = cl.content_length;
	if (written_at)
		*written_at = a.written_at;
	return 0;
}

static int rr_open(gv_sector_reader **out, gv_sector *s, const gv_key *key, uint64_t off,
                   uint64_t len)
{
	remote *rm = (remote *)s;
	rreader *r;
	int err;

	*out = NULL;
	if (len == UINT64_MAX)
		len = key->size - off;
	if (!(r = calloc(1, sizeof(*r))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	r->bcap = len < CHUNK ? (size_t)len + 1 : CHUNK;
	if (!(r->buf = malloc(r->bcap))) {
		free(r);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	r->base.sector = s;
	r->base.remaining = len;
	r->rm = rm;
	r->key = *key;
	r->next = off;
	/* The first chunk now: a missing blob is reported by open. */
	err = len ? fetch(r) : head(rm, key, NULL, NULL);
	if (err < 0) {
		free(r->buf);
		free(r);
		return err;
	}
	*out = &r->base;
	return 0;
}

static ssize_t rr_read(gv_sector_reader *gr, void *buf, size_t cap)
{
	rreader *r = (rreader *)gr;
	size_t n;
	int err;

	if (!r->base.remaining || !cap)
		return 0;
	if (r->bpos == r->blen && (err = fetch(r)) < 0)
		return err;
	n = r->blen - r->bpos;
	if (n > cap)
		n = cap;
	memcpy(buf, r->buf + r->bpos, n);
	r->bpos += n;
	r->base.remaining -= n;
	return (ssize_t)n;
}

static void rr_close(gv_sector_reader *gr)
{
	rreader *r = (rreader *)gr;

	if (!r)
		return;
	free(r->buf);
	free(r);
}

/* ---- the rest of the port ---------------------------------------------------------- */

static int r_del(gv_sector *s, const gv_key *key)
{
	char path[GV_KEY_BUFSIZE + 32], txt[512];
	answer a = { txt, 0, sizeof(txt) - 1, 0, 0 };
	call cl = { "DELETE", path, NULL, NULL, &a, 0, 0, 0 };

	key_path(path, sizeof(path), key, "");
	usage_stale((remote *)s);
	return perform((remote *)s, &cl);
}

static int r_stat(gv_sector *s, const gv_key *key, uint64_t *out_size)
{
	return head((remote *)s, key, out_size, NULL);
}

static int r_written_at(gv_sector *s, const gv_key *key, int64_t *out_ms)
{
	return head((remote *)s, key, NULL, out_ms);
}

static int get_json(remote *rm, const char *method, const char *path, size_t cap, json_t **out)
{
	char *txt = malloc(cap);
	answer a = { txt, 0, cap, 0, 0 };
	call cl = { method, path, NULL, NULL, &a, strcmp(method, "GET") == 0, 0, 0 };
	json_error_t je;
	int err;

	*out = NULL;
	if (!txt)
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = perform(rm, &cl)) == 0 && !(*out = json_loadb(txt, a.len, 0, &je)))
		err = gv_error_set(GV_EIO, "sector %s: unreadable answer to %s %s: %s", rm->base.id,
		                   method, path, je.text);
	free(txt);
	return err;
}

static int r_list(gv_sector *s, gv_sector_list_cb cb, void *payload)
{
	remote *rm = (remote *)s;
	char path[GV_KEY_BUFSIZE + 64], after[GV_KEY_BUFSIZE] = "";
	int err = 0, stop = 0;

	for (;;) {
		json_t *doc, *blobs, *next, *it;
		size_t i;

		snprintf(path, sizeof(path), "/blobs?limit=%d%s%s", LIST_PAGE, after[0] ? "&after=" : "",
		         after);
		if ((err = get_json(rm, "GET", path, ANSWER_MAX, &doc)) < 0)
			return err;
		blobs = json_object_get(doc, "blobs");
		next = json_object_get(doc, "next");
		json_array_foreach(blobs, i, it) {
			const char *ks = json_string_value(json_object_get(it, "key"));
			gv_key key;

			if (!ks || gv_key_parse(&key, ks) < 0) {
				err = gv_error_set(GV_EIO, "sector %s: a listing names a bad key",
				                   rm->base.id);
				break;
			}
			if ((stop = cb(&key, key.size, payload)) != 0)
				break;
		}
		if (!err && !stop && json_is_string(next))
			snprintf(after, sizeof(after), "%s", json_string_value(next));
		else
			after[0] = '\0';
		json_decref(doc);
		if (err || stop)
			return err ? err : stop;
		if (!after[0])
			return 0;
	}
}


static void usage_stale(remote *rm)
{
	pthread_mutex_lock(&rm->mu);
	rm->usage_at_ms = 0;
	pthread_mutex_unlock(&rm->mu);
}

/*
 * Placement asks every sector's usage on every put: the answer is kept
 * USAGE_TTL_MS, failures too, and while one thread asks the node the
 * others take the last answer, so a node that hangs (stopped, overloaded)
 * costs one request of at most the connect timeout per second, not one
 * request timeout per put.
 */
static int r_usage(gv_sector *s, gv_sector_usage *out)
{
	remote *rm = (remote *)s;
	char path[1] = "", txt[DOC_MAX];
	answer a = { txt, 0, sizeof(txt), 0, 0 };
	call cl = { "GET", path, NULL, NULL, &a, 0, 0, 0, 0 };
	long long now = gv_mono_ms();
	json_t *doc = NULL;
	int err, fresh;

	pthread_mutex_lock(&rm->mu);
	fresh = rm->usage_at_ms && (now - rm->usage_at_ms < USAGE_TTL_MS || rm->usage_busy);
	if (fresh) {
		*out = rm->usage;
		err = rm->usage_err;
	} else {
		rm->usage_busy = 1;
	}
	pthread_mutex_unlock(&rm->mu);
	if (fresh)
		return err ? gv_error_set(err, "sector %s: the node did not answer for its usage",
		                          rm->base.id) : 0;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cfg_mu);
	cl.timeout_ms = cfg_connect_ms;
	pthread_mutex_unlock(&cfg_mu);
	if ((err = perform(rm, &cl)) == 0 && !(doc = json_loadb(txt, a.len, 0, NULL)))
		err = gv_error_set(GV_EIO, "sector %s: unreadable usage answer", rm->base.id);
	if (err == 0) {
		out->used = (uint64_t)json_integer_value(json_object_get(doc, "used"));
		out->capacity = (uint64_t)json_integer_value(json_object_get(doc, "capacity"));
		out->avail = (uint64_t)json_integer_value(json_object_get(doc, "avail"));
	}
	json_decref(doc);
	pthread_mutex_lock(&rm->mu);
	rm->usage = *out;
	rm->usage_err = err;
	rm->usage_at_ms = now;
	rm->usage_busy = 0;
	pthread_mutex_unlock(&rm->mu);
	return err;
}

static int r_check(gv_sector *s)
{
	json_t *doc;
	int err, healthy;

	if ((err = get_json((remote *)s, "GET", "", DOC_MAX, &doc)) < 0)
		return err;
	healthy = json_is_true(json_object_get(doc, "healthy"));
	json_decref(doc);
	return healthy ? 0 : gv_error_set(GV_EIO, "sector %s: the node reports it unhealthy",
	                                  s->id);
}

static int r_sweep(gv_sector *s, int dry_run, uint64_t *files, uint64_t *bytes)
{
	json_t *doc;
	int err;

	if ((err = get_json((remote *)s, "POST", dry_run ? "/sweep?dry_run=1" : "/sweep", DOC_MAX, &doc)) < 0)
		return err;
	*files = (uint64_t)json_integer_value(json_object_get(doc, "files"));
	*bytes = (uint64_t)json_integer_value(json_object_get(doc, "bytes"));
	json_decref(doc);
	return 0;
}

static void r_close(gv_sector *s)
{
	remote *rm = (remote *)s;

	if (!rm)
		return;
	gv_curl_pool_destroy(&rm->pool);
	pthread_mutex_destroy(&rm->mu);
	free(rm);
}

static const struct gv_sector_ops remote_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "remote",
	.writer_open = rw_open,
	.writer_write = rw_write,
	.writer_sync = rw_sync,
	.writer_commit = rw_commit,
	.writer_abort = rw_abort,
	.reader_open = rr_open,
	.reader_read = rr_read,
	.reader_close = rr_close,
	.del = r_del,
	.stat = r_stat,
	.list = r_list,
	.usage = r_usage,
	.close = r_close,
	.writer_truncate = rw_truncate,
	.sweep = r_sweep,
	.written_at = r_written_at,
	.check = r_check,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_start(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int gv_sector_remote_open(gv_sector **out, const char *id, const char *locator)
{
	char url[GV_PATH_MAX], sid[GV_ID_MAX];
	remote *rm;
	int err;

	*out = NULL;
	if ((err = gv_sector_remote_split(locator, url, sizeof(url), sid, sizeof(sid))) < 0)
		return err;
	if (strlen(locator) >= sizeof(rm->base_url))
		return gv_error_set(GV_EINVAL, "remote sector locator too long");
	pthread_once(&curl_once, curl_start);
	if (!(rm = calloc(1, sizeof(*rm))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	rm->base.ops = &remote_ops;
	snprintf(rm->base.id, sizeof(rm->base.id), "%s", id);
	snprintf(rm->base_url, sizeof(rm->base_url), "%s", locator);
	pthread_mutex_init(&rm->mu, NULL);
	gv_curl_pool_init(&rm->pool);
	*out = &rm->base;
	return 0;
}
