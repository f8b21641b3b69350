/*
 * client.c - the HTTP client of `graviton --server URL`, on libcurl's
 * easy API.
 *
 * Map:
 *   cli_client_check_url()   strict base URL syntax
 *   setup(), report_*()      options every request shares (timeouts,
 *                            token, user agent) and the mapping of
 *                            transport failures and HTTP errors to
 *                            messages and exit codes
 *   cli_client_json()        small requests, answers buffered up to
 *                            CLI_CLIENT_JSON_MAX
 *   cli_client_put()         upload from a file descriptor, hashed on
 *                            the way so the server's key can be checked
 *   cli_client_get_blob()    download to a sink, resumed with Range when
 *                            the server cuts a body short, a full read
 *                            checked against the key
 *   cli_client_run_job()     POST a job, poll it to its end
 *
 * Timeouts: 10 s to connect; no limit on a whole transfer (blobs may be
 * large) but a transfer that moves less than a byte a second for
 * LOW_SPEED_TIME seconds is abandoned, so a dead server is noticed.
 * One easy handle per client keeps its connection alive between requests.
 */
#include <stdatomic.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cli/client.h"
#include "graviton/wire.h"

#define CONNECT_TIMEOUT_S 10L
#define LOW_SPEED_TIME_S 60L
#define ERROR_BODY_MAX (64u * 1024)
#define RESUME_MAX 3
#define DOWNLOAD_BUFSZ (256L * 1024)   /* fewer, larger pieces for the sink */
#define POLL_MIN_MS 100
#define POLL_MAX_MS 1000

struct cli_client {
	CURL *h;
	char base[CLI_CLIENT_URL_MAX];     /* no trailing '/' */
	char auth[CLI_CLIENT_TOKEN_MAX + 32];
	int has_token;
	char cmd[64];
	char errbuf[CURL_ERROR_SIZE];
	cli_progress *prog;                /* NULL: no bar */
};

void cli_client_set_progress(cli_client *c, cli_progress *p)
{
	c->prog = p;
}

/* The bar of an upload or a download, by libcurl's byte counts. */
static int xfer_cb(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
	cli_client *c = p;

	if (ultotal > 0 || ulnow > 0)
		cli_progress_update(c->prog, (uint64_t)ulnow, (uint64_t)ultotal, 0, 0);
	else if (dlnow > 0)
		cli_progress_update(c->prog, (uint64_t)dlnow, (uint64_t)dltotal, 0, 0);
	return 0;
}

static void xfer_progress(cli_client *c)
{
	if (!c->prog)
		return;
	curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
	curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, c);
	curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, 0L);
}

/* ---- bounded buffer ------------------------------------------------------ */

typedef struct buf {
	char *p;
	size_t len, cap, max;
	int too_big;
} buf;

static int buf_append(buf *b, const char *d, size_t n)
{
	if (n > b->max - b->len) {
		b->too_big = 1;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static size_t buf_write_cb(char *ptr, size_t size, size_t n, void *payload)
{
	buf *b = payload;

	return buf_append(b, ptr, size * n) == 0 ? size * n : 0;
}

/* ---- URL and token ------------------------------------------------------- */

static int is_alnum(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int is_hex(int ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int why_set(char *why, size_t cap, const char *msg)
{
	snprintf(why, cap, "%s", msg);
	return -1;
}

int cli_client_check_url(const char *url, char *why, size_t cap)
{
	const char *p, *end, *q;
	size_t n = strlen(url), i;

	if (n == 0)
		return why_set(why, cap, "empty");
	if (n >= CLI_CLIENT_URL_MAX) {
		snprintf(why, cap, "longer than %d characters", CLI_CLIENT_URL_MAX - 1);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return why_set(why, cap, "contains a space or a control character");
	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return why_set(why, cap, "expected http://HOST[:PORT] or https://HOST[:PORT]");
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)))
		return why_set(why, cap, "user info (user@host) is not supported; use --token");
	if (*p == '[') {
		q = memchr(p, ']', (size_t)(end - p));
		if (!q || q == p + 1)
			return why_set(why, cap, "bad [IPv6] address");
		for (p++; p < q; p++)
			if (!is_hex(*p) && *p != ':' && *p != '.')
				return why_set(why, cap, "bad [IPv6] address");
		p = q + 1;
	} else {
		q = p;
		while (p < end && (is_alnum(*p) || *p == '-' || *p == '.'))
			p++;
		if (p == q)
			return why_set(why, cap, "missing host");
	}
	if (p < end && *p == ':') {
		unsigned long port = 0;
		int digits = 0;

		for (p++; p < end && *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
			port = port * 10 + (unsigned long)(*p - '0');
		if (digits == 0 || digits > 5 || port == 0 || port > 65535 || p != end)
			return why_set(why, cap, "the port must be a number from 1 to 65535");
	}
	if (p != end) {
		snprintf(why, cap, "unexpected '%c' after the host", *p);
		return -1;
	}
	for (; *p; p++) {
		if (*p == '?' || *p == '#')
			return why_set(why, cap, "a query or fragment is not allowed");
		if (!is_alnum(*p) && !strchr("-._~/%!$&'()*+,;=:@", *p)) {
			snprintf(why, cap, "unexpected '%c' in the path", *p);
			return -1;
		}
	}
	return 0;
}

int cli_client_check_token(const char *token, char *why, size_t cap)
{
	size_t n = strlen(token), i;

	if (n > CLI_CLIENT_TOKEN_MAX) {
		snprintf(why, cap, "longer than %d characters", CLI_CLIENT_TOKEN_MAX);
		return -1;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)token[i] <= 0x20 || (unsigned char)token[i] >= 0x7f)
			return why_set(why, cap, "contains a space or a control character");
	return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

int cli_client_open(cli_client **out, const cli_globals *g, const char *cmd)
{
	char why[256];
	cli_client *c;
	size_t n;

	*out = NULL;
	if (!g->server || cli_client_check_url(g->server, why, sizeof(why)) < 0) {
		cli_err("%s: invalid server URL '%.200s': %s", cmd, g->server ? g->server : "",
		        g->server ? why : "none given");
		return EXIT_USAGE;
	}
	if (g->token && *g->token && cli_client_check_token(g->token, why, sizeof(why)) < 0) {
		cli_err("%s: invalid token: %s", cmd, why);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cli_err("%s: cannot initialise libcurl", cmd);
		return EXIT_SOFTWARE;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->h = curl_easy_init())) {
		free(c);
		curl_global_cleanup();
		cli_err("%s: out of memory", cmd);
		return EXIT_SOFTWARE;
	}
	snprintf(c->cmd, sizeof(c->cmd), "%s", cmd);
	snprintf(c->base, sizeof(c->base), "%s", g->server);
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (g->token && *g->token) {
		snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", g->token);
		c->has_token = 1;
	}
	*out = c;
	return 0;
}

void cli_client_free(cli_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->h);
	/* The token sat in this struct; do not leave it in freed memory. */
	memset(c->auth, 0, sizeof(c->auth));
	free(c);
	curl_global_cleanup();
}

const char *cli_client_cmd(const cli_client *c)
{
	return c->cmd;
}

/* ---- errors -------------------------------------------------------------- */

/* The table's row for an HTTP status: the first with that status. */
static const gv_wire_error *row_of_status(long status)
{
	size_t n, i;
	const gv_wire_error *t = gv_wire_errors(&n);

	for (i = 0; i < n; i++)
		if (t[i].http_status == status)
			return &t[i];
	return gv_wire_error_of(GV_ERROR);
}

int cli_client_exit_of_status(long status)
{
	if (status >= 200 && status < 300)
		return 0;
	return row_of_status(status)->exit_code;
}

int cli_client_exit_of_code(const char *code)
{
	const gv_wire_error *e = gv_wire_error_named(code);

	return e ? e->exit_code : EXIT_SOFTWARE;
}

/* Report msg under the client's command; under --json print row e's error
 * document as well.  Returns its exit code. */
static int client_error(cli_client *c, const gv_wire_error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int client_error(cli_client *c, const gv_wire_error *e, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_err("%s: %s", c->cmd, msg);
	return cli_error_doc(e, msg);
}

/* Copy text from the server for a terminal: printable ASCII only, bounded. */
static void clean_text(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < cap; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		if (ch < 0x20 || ch >= 0x7f)
			ch = '?';
		dst[o++] = (char)ch;
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

static int report_http_error(cli_client *c, long status, const char *body, size_t len)
{
	char msg[512], extra[160] = "";
	json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *m = json_object_get(doc, "message"), *e = json_object_get(doc, "error");
	json_t *job = json_object_get(doc, "job");
	const gv_wire_error *row = json_is_string(e) ? gv_wire_error_named(json_string_value(e)) : NULL;
	int rc;

	if (json_is_string(m) && *json_string_value(m))
		clean_text(msg, sizeof(msg), json_string_value(m), strlen(json_string_value(m)));
	else if (json_is_string(e))
		clean_text(msg, sizeof(msg), json_string_value(e), strlen(json_string_value(e)));
	else if (body && len && !doc)
		clean_text(msg, sizeof(msg), body, len < 200 ? len : 200);
	else
		msg[0] = '\0';
	if (!msg[0])
		snprintf(msg, sizeof(msg), "HTTP status %ld", status);
	if (status == 401 || status == 403)
		snprintf(extra, sizeof(extra), " (%s)",
		         c->has_token ? "the server did not accept the token given"
		                      : "no token given: pass --token TOKEN or set GRAVITON_TOKEN");
	else if (status == 409 && json_is_integer(job))
		snprintf(extra, sizeof(extra), " (job %lld)", (long long)json_integer_value(job));
	if (!row || row->http_status != status)
		row = row_of_status(status);
	rc = client_error(c, row, "%s%s", msg, extra);
	json_decref(doc);
	return rc;
}

static int report_curl_error(cli_client *c, CURLcode rc)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	const gv_wire_error *down = gv_wire_error_named("unreachable");
	char d[CURL_ERROR_SIZE];

	clean_text(d, sizeof(d), detail, strlen(detail));
	switch (rc) {
	case CURLE_OUT_OF_MEMORY:
		return client_error(c, gv_wire_error_of(GV_ENOMEM), "out of memory");
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return client_error(c, down, "cannot connect to the server at %s: %s", c->base, d);
	case CURLE_OPERATION_TIMEDOUT:
		return client_error(c, down, "the server at %s stopped responding: %s", c->base, d);
	default:
		return client_error(c, down, "request to %s failed: %s", c->base, d);
	}
}

/* ---- requests ------------------------------------------------------------ */

static int make_url(cli_client *c, char *url, size_t cap, const char *path)
{
	if (snprintf(url, cap, "%s%s", c->base, path) >= (int)cap) {
		cli_err("%s: URL too long", c->cmd);
		return EXIT_USAGE;
	}
	return 0;
}

/* Common options; *hdrs gains the token.  Returns 0, or -1 when out of
 * memory (*hdrs still to be freed by the caller). */
static int setup(cli_client *c, const char *url, struct curl_slist **hdrs)
{
	CURL *h = c->h;
	struct curl_slist *t;

	if (c->has_token) {
		if (!(t = curl_slist_append(*hdrs, c->auth)))
			return -1;
		*hdrs = t;
	}
	curl_easy_reset(h);
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "graviton/" GV_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	return 0;
}

static struct curl_slist *header(struct curl_slist *l, const char *h, int *oom)
{
	struct curl_slist *t = curl_slist_append(l, h);

	if (!t) {
		*oom = 1;
		return l;
	}
	return t;
}

static int parse_doc(cli_client *c, const buf *b, json_t **out)
{
	json_error_t je;

	*out = json_loadb(b->p ? b->p : "", b->len, 0, &je);
	if (!*out)
		return client_error(c, gv_wire_error_named("bad_answer"),
		                    "the server's answer is not JSON: %s", je.text);
	return 0;
}

/* A small request with an optional JSON body; its 2xx answer is parsed
 * into *out, or with out NULL handed over as text (*text, *tlen). */
static int request(cli_client *c, const char *method, const char *path, const char *body,
                   json_t **out, char **text, size_t *tlen, long *status_out)
{
	struct curl_slist *hdrs = NULL;
	char url[CLI_CLIENT_URL_MAX + 512];
	buf b = { NULL, 0, 0, CLI_CLIENT_JSON_MAX, 0 };
	long status = 0;
	CURLcode rc;
	int ret, oom = 0;

	if (out)
		*out = NULL;
	if ((ret = make_url(c, url, sizeof(url), path)) != 0)
		return ret;
	hdrs = header(hdrs, out ? "Accept: application/json" : "Accept: text/plain", &oom);
	if (body)
		hdrs = header(hdrs, "Content-Type: application/json", &oom);
	if (oom || setup(c, url, &hdrs) < 0) {
		curl_slist_free_all(hdrs);
		cli_err("%s: out of memory", c->cmd);
		return EXIT_SOFTWARE;
	}
	if (strcmp(method, "POST") == 0 || body) {
		curl_easy_setopt(c->h, CURLOPT_POST, 1L);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, buf_write_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c->h);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	if (b.too_big) {
		cli_err("%s: the server's answer is larger than %u MiB", c->cmd,
		        CLI_CLIENT_JSON_MAX >> 20);
		ret = EXIT_SOFTWARE;
	} else if (rc == CURLE_WRITE_ERROR) {
		cli_err("%s: out of memory", c->cmd);
		ret = EXIT_SOFTWARE;
	} else if (rc != CURLE_OK) {
		ret = report_curl_error(c, rc);
	} else if (status < 200 || status >= 300) {
		ret = report_http_error(c, status, b.p, b.len);
	} else if (out) {
		ret = parse_doc(c, &b, out);
	} else {
		*text = b.p ? b.p : strdup("");
		*tlen = b.len;
		b.p = NULL;
		ret = *text ? 0 : client_error(c, gv_wire_error_of(GV_ENOMEM), "out of memory");
	}
	if (status_out)
		*status_out = status;
	free(b.p);
	return ret;
}

int cli_client_json(cli_client *c, const char *method, const char *path, json_t **out,
                    long *status_out)
{
	return request(c, method, path, NULL, out, NULL, NULL, status_out);
}

int cli_client_send(cli_client *c, const char *method, const char *path, const json_t *body,
                    json_t **out, long *status_out)
{
	char *text = json_dumps(body, JSON_COMPACT);
	int rc;

	*out = NULL;
	if (!text) {
		cli_err("%s: out of memory", c->cmd);
		return EXIT_SOFTWARE;
	}
	rc = request(c, method, path, text, out, NULL, NULL, status_out);
	free(text);
	return rc;
}

int cli_client_text(cli_client *c, const char *path, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	return request(c, "GET", path, NULL, NULL, out, len, NULL);
}

/* ---- upload -------------------------------------------------------------- */

typedef struct upload {
	int fd;
	gv_key_hasher *md;
	uint64_t sent;
	int err;               /* errno of a failed read */
} upload;

static size_t upload_read_cb(char *ptr, size_t size, size_t n, void *payload)
{
	upload *u = payload;
	ssize_t r;

	do
		r = read(u->fd, ptr, size * n);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		u->err = errno;
		return CURL_READFUNC_ABORT;
	}
	if (r > 0 && gv_key_hasher_update(u->md, ptr, (size_t)r) < 0) {
		u->err = ENOMEM;
		return CURL_READFUNC_ABORT;
	}
	u->sent += (uint64_t)r;
	return (size_t)r;
}

int cli_client_put(cli_client *c, int fd, int64_t size, json_t **out)
{
	struct curl_slist *hdrs = NULL;
	char url[CLI_CLIENT_URL_MAX + 64];
	buf b = { NULL, 0, 0, CLI_CLIENT_JSON_MAX, 0 };
	upload u = { fd, NULL, 0, 0 };
	long status = 0;
	CURLcode rc;
	int ret, oom = 0;

	*out = NULL;
	if ((ret = make_url(c, url, sizeof(url), "/v1/blobs")) != 0)
		return ret;
	if (gv_key_hasher_new(&u.md) < 0) {
		cli_err("%s: cannot set up SHA-256", c->cmd);
		return EXIT_SOFTWARE;
	}
	hdrs = header(hdrs, "Accept: application/json", &oom);
	hdrs = header(hdrs, "Content-Type: application/octet-stream", &oom);
	if (oom || setup(c, url, &hdrs) < 0) {
		curl_slist_free_all(hdrs);
		gv_key_hasher_free(u.md);
		cli_err("%s: out of memory", c->cmd);
		return EXIT_SOFTWARE;
	}
	curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->h, CURLOPT_READFUNCTION, upload_read_cb);
	curl_easy_setopt(c->h, CURLOPT_READDATA, &u);
	if (size >= 0)
		curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, buf_write_cb);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &b);
	xfer_progress(c);
	rc = curl_easy_perform(c->h);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	if (u.err) {
		cli_err("%s: cannot read the input: %s", c->cmd, strerror(u.err));
		ret = EXIT_IOERR;
	} else if (b.too_big) {
		cli_err("%s: the server's answer is larger than %u MiB", c->cmd,
		        CLI_CLIENT_JSON_MAX >> 20);
		ret = EXIT_SOFTWARE;
	} else if (rc != CURLE_OK && status >= 400) {
		/* The server answered early (auth, size limit) and stopped
		 * reading: its answer explains better than the broken send. */
		ret = report_http_error(c, status, b.p, b.len);
	} else if (rc == CURLE_SEND_ERROR && status == 0 && u.sent > 0) {
		/* The server hung up mid-body without an answer we could read;
		 * it does that to a chunked body over its max-body-size. */
		cli_err("%s: the server closed the connection after %llu bytes of the upload "
		        "(is the input over its max-body-size?): %s", c->cmd,
		        (unsigned long long)u.sent, c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		ret = EXIT_UNAVAILABLE;
	} else if (rc != CURLE_OK) {
		ret = report_curl_error(c, rc);
	} else if (status < 200 || status >= 300) {
		ret = report_http_error(c, status, b.p, b.len);
	} else if ((ret = parse_doc(c, &b, out)) == 0) {
		json_t *k = json_object_get(*out, "key");
		char want[GV_KEY_BUFSIZE], got[GV_KEY_BUFSIZE];
		gv_key sent, answered;

		if (gv_key_hasher_final(u.md, &sent) < 0) {
			cli_err("%s: cannot compute SHA-256", c->cmd);
			ret = EXIT_SOFTWARE;
		} else if (!json_is_string(k) || gv_key_parse(&answered, json_string_value(k)) < 0) {
			cli_err("%s: the server's answer has no valid 'key'", c->cmd);
			ret = EXIT_SOFTWARE;
		} else if (gv_key_cmp(&sent, &answered) != 0) {
			cli_err("%s: the server stored %s but the bytes sent are %s", c->cmd,
			        gv_key_format(got, &answered), gv_key_format(want, &sent));
			ret = EXIT_DATAERR;
		}
		if (ret != 0) {
			json_decref(*out);
			*out = NULL;
		}
	}
	gv_key_hasher_free(u.md);
	free(b.p);
	return ret;
}

/* ---- download ------------------------------------------------------------ */

typedef struct download {
	cli_client *c;
	long status;
	int checked;               /* status read */
	buf err;                   /* body of an error answer */
	cli_client_sink sink;
	void *payload;
	int sink_rc;               /* the sink's exit code, or ours */
	uint64_t got;              /* body bytes of this attempt */
	uint64_t want;             /* bytes this attempt asked for */
	uint64_t from;             /* first byte asked for */
	int cr_seen;               /* Content-Range header seen */
	uint64_t cr_start;
	gv_key_hasher *md;         /* full reads only */
} download;

static size_t download_header_cb(char *ptr, size_t size, size_t n, void *payload)
{
	download *d = payload;
	size_t len = size * n;
	char line[256];
	unsigned long long a, b;

	if (len >= 14 && len < sizeof(line) && strncasecmp(ptr, "Content-Range:", 14) == 0) {
		memcpy(line, ptr, len);
		line[len] = '\0';
		if (sscanf(line + 14, " bytes %llu-%llu/", &a, &b) == 2) {
			d->cr_seen = 1;
			d->cr_start = a;
		}
	}
	return len;
}

static size_t download_write_cb(char *ptr, size_t size, size_t n, void *payload)
{
	download *d = payload;
	size_t len = size * n;

	if (!d->checked) {
		d->checked = 1;
		curl_easy_getinfo(d->c->h, CURLINFO_RESPONSE_CODE, &d->status);
		if (d->status == 206 && (!d->cr_seen || d->cr_start != d->from)) {
			cli_err("%s: the server answered a different range than asked for",
			        d->c->cmd);
			d->sink_rc = EXIT_SOFTWARE;
			return 0;
		}
		if (d->status == 200 && d->from != 0) {
			cli_err("%s: the server ignored the Range header", d->c->cmd);
			d->sink_rc = EXIT_SOFTWARE;
			return 0;
		}
	}
	if (d->status < 200 || d->status >= 300) {
		buf_append(&d->err, ptr, len); /* the rest is dropped when full */
		return len;
	}
	if (len > d->want - d->got) {
		cli_err("%s: the server sent more bytes than asked for", d->c->cmd);
		d->sink_rc = EXIT_SOFTWARE;
		return 0;
	}
	if (d->md && gv_key_hasher_update(d->md, ptr, len) < 0) {
		cli_err("%s: cannot compute SHA-256", d->c->cmd);
		d->sink_rc = EXIT_SOFTWARE;
		return 0;
	}
	if ((d->sink_rc = d->sink(ptr, len, d->payload)) != 0)
		return 0;
	d->got += len;
	return len;
}

/* Transfer errors after which asking for the rest may succeed. */
static int resumable(CURLcode rc)
{
	return rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_OPERATION_TIMEDOUT;
}

int cli_client_get_blob(cli_client *c, const gv_key *key, int has_range, uint64_t start,
                        uint64_t end, cli_client_sink sink, void *payload)
{
	char kbuf[GV_KEY_BUFSIZE], url[CLI_CLIENT_URL_MAX + 128], rh[96];
	uint64_t s0 = has_range ? start : 0, e0 = has_range ? end : key->size, done = 0;
	int verify = s0 == 0 && e0 == key->size, ret = 0, attempt;
	download d;
	char path[16 + GV_KEY_BUFSIZE];

	if (s0 > e0 || e0 > key->size) {
		cli_err("%s: range outside the blob", c->cmd);
		return EXIT_DATAERR;
	}
	snprintf(path, sizeof(path), "/v1/blobs/%s", gv_key_format(kbuf, key));
	if ((ret = make_url(c, url, sizeof(url), path)) != 0)
		return ret;
	memset(&d, 0, sizeof(d));
	d.c = c;
	d.sink = sink;
	d.payload = payload;
	d.err.max = ERROR_BODY_MAX;
	if (verify) {
		if (gv_key_hasher_new(&d.md) < 0) {
			cli_err("%s: cannot set up SHA-256", c->cmd);
			return EXIT_SOFTWARE;
		}
	}
	for (attempt = 0;; attempt++) {
		struct curl_slist *hdrs = NULL;
		CURLcode rc;
		int oom = 0;

		d.from = s0 + done;
		d.want = e0 - d.from;
		d.got = 0;
		d.checked = 0;
		d.status = 0;
		d.cr_seen = 0;
		d.err.len = 0;
		d.err.too_big = 0;
		if (d.from != 0 || e0 != key->size) {
			if (d.want == 0) {
				/* An empty range needs no request. */
				break;
			}
			snprintf(rh, sizeof(rh), "Range: bytes=%llu-%llu", (unsigned long long)d.from,
			         (unsigned long long)(e0 - 1));
			hdrs = header(hdrs, rh, &oom);
		}
		if (oom || setup(c, url, &hdrs) < 0) {
			curl_slist_free_all(hdrs);
			cli_err("%s: out of memory", c->cmd);
			ret = EXIT_SOFTWARE;
			break;
		}
		curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, download_header_cb);
		curl_easy_setopt(c->h, CURLOPT_HEADERDATA, &d);
		curl_easy_setopt(c->h, CURLOPT_BUFFERSIZE, DOWNLOAD_BUFSZ);
		curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, download_write_cb);
		xfer_progress(c);
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &d);
		rc = curl_easy_perform(c->h);
		if (!d.checked)
			curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &d.status);
		curl_slist_free_all(hdrs);
		done += d.got;
		if (d.sink_rc) {
			ret = d.sink_rc;
			break;
		}
		if (rc == CURLE_OK && (d.status < 200 || d.status >= 300)) {
			ret = report_http_error(c, d.status, d.err.p, d.err.len);
			break;
		}
		if (rc == CURLE_OK && done == e0 - s0)
			break;
		if (rc == CURLE_OK) {
			/* A clean end short of the length: resume like a cut. */
			rc = CURLE_PARTIAL_FILE;
		}
		if (d.status >= 200 && d.status < 300 && resumable(rc) && d.got > 0 &&
		    attempt < RESUME_MAX) {
			char line[160];

			snprintf(line, sizeof(line),
			         "%s: the server cut the transfer short at byte %llu of %llu; resuming",
			         c->cmd, (unsigned long long)(s0 + done), (unsigned long long)e0);
			cli_log_line(GV_LOG_WARN, line);
			continue;
		}
		if (d.status >= 200 && d.status < 300 && resumable(rc)) {
			cli_err("%s: the server cut the transfer short after %llu of %llu bytes: %s",
			        c->cmd, (unsigned long long)done, (unsigned long long)(e0 - s0),
			        c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
			ret = EXIT_UNAVAILABLE;
			break;
		}
		ret = report_curl_error(c, rc);
		break;
	}
	if (ret == 0 && verify) {
		gv_key got;
		char gbuf[GV_KEY_BUFSIZE];

		if (gv_key_hasher_final(d.md, &got) < 0) {
			cli_err("%s: cannot compute SHA-256", c->cmd);
			ret = EXIT_SOFTWARE;
		} else if (gv_key_cmp(&got, key) != 0) {
			cli_err("%s: the bytes received are %s, not the key asked for", c->cmd,
			        gv_key_format(gbuf, &got));
			ret = EXIT_DATAERR;
		}
	}
	gv_key_hasher_free(d.md);
	free(d.err.p);
	return ret;
}

/* ---- jobs ---------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int cli_client_run_job(cli_client *c, const char *kind, int dry_run, atomic_int *stop,
                       json_t **out)
{
	char path[128];
	json_t *doc = NULL;
	int ret;

	*out = NULL;
	/* The presence audit is a kind of scrub: its route sits under it. */
	snprintf(path, sizeof(path), "/v1/%s%s",
	         strcmp(kind, "presence") == 0 ? "scrub/presence" : kind,
	         dry_run ? "?dry_run=1" : "");
	if ((ret = cli_client_json(c, "POST", path, &doc, NULL)) != 0)
		return ret;
	return cli_client_await_job(c, doc, stop, out);
}

int cli_client_await_job(cli_client *c, json_t *doc, atomic_int *stop, json_t **out)
{
	char path[128];
	json_t *id;
	json_int_t job;
	unsigned delay = POLL_MIN_MS, waited;
	int ret;

	*out = NULL;
	id = json_object_get(doc, "job");
	if (!json_is_integer(id)) {
		json_decref(doc);
		cli_err("%s: the server's answer names no job", c->cmd);
		return EXIT_SOFTWARE;
	}
	job = json_integer_value(id);
	json_decref(doc);
	snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)job);
	for (;;) {
		json_t *state;

		for (waited = 0; waited < delay && !(stop && *stop); waited += 50)
			sleep_ms(50);
		if (stop && *stop) {
			cli_err("%s: interrupted; job %lld goes on on the server (GET %s)", c->cmd,
			        (long long)job, path);
			return EXIT_TEMPFAIL;
		}
		if ((ret = cli_client_json(c, "GET", path, &doc, NULL)) != 0)
			return ret;
		state = json_object_get(doc, "state");
		if (!json_is_string(state)) {
			json_decref(doc);
			cli_err("%s: the server's job document has no 'state'", c->cmd);
			return EXIT_SOFTWARE;
		}
		if (strcmp(json_string_value(state), "running") != 0) {
			*out = doc;
			return 0;
		}
		/* The server's progress drives the same bar as a local run. */
		if (c->prog && json_is_object(json_object_get(doc, "progress"))) {
			json_t *p = json_object_get(doc, "progress");

			cli_progress_update(c->prog, cli_client_u64(p, "bytes_done"),
			                    cli_client_u64(p, "bytes_total"),
			                    cli_client_u64(p, "items_done"),
			                    cli_client_u64(p, "items_total"));
		}
		json_decref(doc);
		delay = delay * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : delay * 3 / 2;
	}
}

json_t *cli_client_job_summary(const cli_client *c, json_t *job, int *rc)
{
	json_t *sum = json_object_get(job, "summary"), *state = json_object_get(job, "state");
	json_t *err = json_object_get(sum, "error");

	*rc = 0;
	if (!json_is_object(sum))
		sum = NULL;
	if (json_is_string(state) && strcmp(json_string_value(state), "failed") == 0) {
		const char *code = json_string_value(json_object_get(err, "error"));
		const char *msg = json_string_value(json_object_get(err, "message"));
		char m[512];

		if (!msg && json_is_string(err))
			msg = json_string_value(err);
		clean_text(m, sizeof(m), msg ? msg : "the job failed", strlen(msg ? msg : "the job failed"));
		cli_err("%s: %s", c->cmd, m);
		*rc = cli_client_exit_of_code(code);
	} else if (!sum) {
		cli_err("%s: the server's job document has no summary", c->cmd);
		*rc = EXIT_SOFTWARE;
	}
	return sum;
}

uint64_t cli_client_u64(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int cli_client_job(const cli_globals *g, const char *kind, int dry_run, int bar,
                   atomic_int *stop, json_t **job, json_t **sum)
{
	cli_client *c = NULL;
	cli_progress prog;
	int rc;

	*job = NULL;
	*sum = NULL;
	if ((rc = cli_client_open(&c, g, kind)) != 0)
		return rc;
	cli_progress_init(&prog, kind, g->quiet || !bar || dry_run);
	cli_client_set_progress(c, &prog);
	rc = cli_client_run_job(c, kind, dry_run, stop, job);
	cli_progress_done(&prog);
	if (rc == 0)
		*sum = cli_client_job_summary(c, *job, &rc);
	cli_client_free(c);
	return rc;
}
