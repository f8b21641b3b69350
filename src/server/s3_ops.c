/*
 * s3_ops.c - the S3 operations over the namespace (graviton/namespace.h).
 *
 *   buckets      ListBuckets (the key's buckets only), CreateBucket,
 *                HeadBucket, DeleteBucket (empty only), GetBucketLocation,
 *                GetBucketVersioning (never enabled)
 *   objects      PutObject (streamed into a put; ETag = MD5), GetObject and
 *                HeadObject (Range, If-Match, If-None-Match,
 *                If-Modified-Since, If-Unmodified-Since; verified reads),
 *                DeleteObject, DeleteObjects (XML), CopyObject (a new
 *                reference to the same blob, no bytes copied)
 *   listings     ListObjectsV2 and ListObjects: prefix, delimiter (common
 *                prefixes skipped in one step each), max-keys (at most
 *                1000), continuation token / marker, encoding-type=url
 *   multipart    Create, UploadPart (each part its own blob),
 *                UploadPartCopy, Complete (order, ETags and the 5 MiB
 *                minimum checked first), Abort, ListParts,
 *                ListMultipartUploads
 *
 * XML bodies are parsed with libexpat, bounded by S3_XML_BODY_MAX, at
 * most 1000 keys or 10000 parts.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <expat.h>
#include <jansson.h>

#include "core/log.h"
#include "server/http_int.h"
#include "server/s3_int.h"

#define XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define LIST_MAX 1000
#define DELETE_MAX 1000

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- metadata ------------------------------------------------------------ */

/* x-amz-meta-* headers as a JSON object (names lower-case, without the
 * prefix), NULL when there are none; *err set when over S3_META_MAX. */
static char *meta_of(const s3req *r, int *err)
{
	json_t *o = NULL;
	size_t i, total = 0;
	char *out = NULL;

	*err = 0;
	for (i = 0; i < r->nh; i++) {
		char name[256];
		size_t j, nl;

		if (strncasecmp(r->h[i].name, "x-amz-meta-", 11) != 0)
			continue;
		nl = strlen(r->h[i].name + 11);
		total += nl + strlen(r->h[i].value);
		if (total > S3_META_MAX || nl >= sizeof(name) || nl == 0) {
			*err = 1;
			json_decref(o);
			return NULL;
		}
		for (j = 0; j <= nl; j++)
			name[j] = (char)tolower((unsigned char)r->h[i].name[11 + j]);
		if (!o && !(o = json_object()))
			return NULL;
		json_object_set_new(o, name, json_string(r->h[i].value));
	}
	if (o) {
		out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
	}
	return out;
}

static void meta_headers(struct MHD_Response *resp, const char *meta)
{
	json_t *o, *v;
	const char *k;

	if (!meta || !(o = json_loads(meta, 0, NULL)))
		return;
	json_object_foreach(o, k, v) {
		char name[300];

		if (!json_is_string(v))
			continue;
		snprintf(name, sizeof(name), "x-amz-meta-%s", k);
		MHD_add_response_header(resp, name, json_string_value(v));
	}
	json_decref(o);
}

static void content_type_of(const s3req *r, char out[256])
{
	const char *ct = gv_s3_hdr_get(r, "Content-Type");

	snprintf(out, 256, "%s", ct && *ct ? ct : "binary/octet-stream");
}

/* ---- uploads (PutObject, UploadPart) --------------------------------------- */

static int part_number(const s3req *r, uint32_t *out)
{
	char v[16], *end;
	unsigned long n;

	if (gv_s3_qget(r, "partNumber", v, sizeof(v)) != 1)
		return -1;
	n = strtoul(v, &end, 10);
	if (!v[0] || *end || n < 1 || n > S3_PARTS_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* The request's upload: ENOTFOUND unless id is an upload of its bucket and key. */
static int upload_check(gv_store *st, const s3req *r, const char *id)
{
	gv_ns_upload u;
	int err = gv_ns_upload_get(st, id, &u);

	if (err == GV_EINVAL ||
	    (err == 0 && (strcmp(u.bucket, r->bucket) != 0 || strcmp(u.name, r->key) != 0)))
		return gv_error_set(GV_ENOTFOUND, "no such upload");
	return err;
}

enum MHD_Result gv_s3_begin_upload(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	gv_put_opts po = GV_PUT_OPTS_INIT;
	gv_bucket_info bi;
	char id[GV_UPLOAD_ID_MAX];
	uint64_t n = 0;
	uint32_t pn;
	int err, big;
	char *meta;

	if (r->op == OP_PUT_OBJECT) {
		if ((err = gv_ns_bucket_get(srv->st, r->bucket, &bi)) < 0)
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
		meta = meta_of(r, &big);
		free(meta);
		if (big)
			return gv_s3_send_error(srv, c, r, E_META_TOO_LARGE,
			                        "Your metadata headers exceed the maximum allowed "
			                        "metadata size");
	} else {
		if (part_number(r, &pn) < 0)
			return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT,
			                        "Part number must be an integer between 1 and 10000");
		if (gv_s3_qget(r, "uploadId", id, sizeof(id)) != 1 ||
		    (err = upload_check(srv->st, r, id)) == GV_ENOTFOUND)
			return gv_s3_send_gv(srv, c, r, GV_ENOTFOUND, E_NO_SUCH_UPLOAD);
		if (err < 0)
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
	}
	if (!r->chunked && !gv_http_content_length(c, &n))
		return gv_s3_send_error(srv, c, r, E_MISSING_LENGTH,
		                        "You must provide the Content-Length HTTP header.");
	if (!r->chunked && n > S3_OBJECT_MAX)
		return gv_s3_send_error(srv, c, r, E_ENTITY_TOO_LARGE,
		                        "Your proposed upload exceeds the maximum allowed size");
	po.size_hint = n;
	if ((err = gv_put_open(&r->put, srv->st, &po)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	return MHD_YES;
}

static enum MHD_Result reply_etag(struct MHD_Connection *c, s3req *r, const char *etag)
{
	char q[GV_ETAG_MAX + 2];

	snprintf(q, sizeof(q), "\"%s\"", etag);
	return gv_s3_send_empty(c, r, 200, "ETag", q);
}

static enum MHD_Result put_finish(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	gv_put_result res;
	char md5[33], id[GV_UPLOAD_ID_MAX];
	uint32_t pn = 0;
	int err, big;
	gv_object o;

	err = gv_put_commit(r->put, &res);
	r->put = NULL;
	if (err < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	gv_s3_hex(md5, r->md5sum, 16);
	if (r->op == OP_UPLOAD_PART) {
		part_number(r, &pn);
		gv_s3_qget(r, "uploadId", id, sizeof(id));
		if ((err = gv_ns_upload_part(srv->st, id, pn, &res.key, md5)) < 0)
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
		return reply_etag(c, r, md5);
	}
	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "%s", r->bucket);
	snprintf(o.name, sizeof(o.name), "%s", r->key);
	o.key = res.key;
	o.size = res.key.size;
	memcpy(o.etag, md5, 33);
	content_type_of(r, o.content_type);
	o.meta = meta_of(r, &big);
	o.mtime_ms = now_ms();
	err = gv_ns_object_put(srv->st, &o);
	free(o.meta);
	if (err < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	return reply_etag(c, r, md5);
}

/* ---- buckets ---------------------------------------------------------------- */

static enum MHD_Result list_buckets(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	gv_bucket_info *v = NULL;
	size_t n = 0, i;
	s3buf b;
	int err;

	if ((err = gv_ns_bucket_list(srv->st, &v, &n)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<ListAllMyBucketsResult xmlns=\"" XMLNS "\"><Owner><ID>graviton</ID>"
	               "<DisplayName>graviton</DisplayName></Owner><Buckets>");
	for (i = 0; i < n; i++) {
		if (!gv_s3_bucket_allowed(r, v[i].name))
			continue;
		s3buf_puts(&b, "<Bucket>");
		s3buf_elem(&b, "Name", v[i].name, 0);
		s3buf_time(&b, "CreationDate", v[i].created_ms);
		s3buf_puts(&b, "</Bucket>");
	}
	s3buf_puts(&b, "</Buckets></ListAllMyBucketsResult>");
	free(v);
	return gv_s3_send_xml(c, r, 200, &b);
}

static enum MHD_Result bucket_op(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	gv_bucket_info bi;
	char loc[80];
	s3buf b;
	int err;

	switch (r->op) {
	case OP_CREATE_BUCKET:
		if ((err = gv_ns_bucket_create(srv->st, r->bucket)) < 0)
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
		snprintf(loc, sizeof(loc), "/%s", r->bucket);
		return gv_s3_send_empty(c, r, 200, "Location", loc);
	case OP_DELETE_BUCKET:
		if ((err = gv_ns_bucket_delete(srv->st, r->bucket)) < 0)
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
		return gv_s3_send_empty(c, r, 204, NULL, NULL);
	default:
		break;
	}
	if ((err = gv_ns_bucket_get(srv->st, r->bucket, &bi)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	if (r->op == OP_HEAD_BUCKET)
		return gv_s3_send_empty(c, r, 200, "x-amz-bucket-region", srv->region);
	s3buf_init(&b, 0);
	if (r->op == OP_LOCATION) {
		s3buf_puts(&b, XML_HEAD "<LocationConstraint xmlns=\"" XMLNS "\">");
		if (strcmp(srv->region, "us-east-1") != 0)
			s3buf_xml(&b, srv->region, 0);
		s3buf_puts(&b, "</LocationConstraint>");
	} else {
		s3buf_puts(&b, XML_HEAD "<VersioningConfiguration xmlns=\"" XMLNS "\"/>");
	}
	return gv_s3_send_xml(c, r, 200, &b);
}

/* ---- listings ---------------------------------------------------------------- */

static void hex_of(char *out, const char *s)
{
	gv_s3_hex(out, (const uint8_t *)s, strlen(s));
}

/* Hex text back into bytes (cap incl. NUL): 0, or -1. */
static int unhex(char *out, size_t cap, const char *s)
{
	size_t n = strlen(s), i;

	if (n % 2 || n / 2 >= cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)s[2 * i + 1]))
			return -1;
		out[i] = (char)v;
	}
	out[n / 2] = '\0';
	return strlen(out) == n / 2 ? 0 : -1;
}

#define AFTER_MAX (GV_OBJECT_NAME_MAX + 8)

static void object_xml(s3buf *b, const gv_object *o, int url, int owner)
{
	s3buf_puts(b, "<Contents>");
	s3buf_elem(b, "Key", o->name, url);
	s3buf_time(b, "LastModified", o->mtime_ms);
	s3buf_puts(b, "<ETag>&quot;");
	s3buf_xml(b, o->etag, 0);
	s3buf_printf(b, "&quot;</ETag><Size>%llu</Size>", (unsigned long long)o->size);
	if (owner)
		s3buf_puts(b, "<Owner><ID>graviton</ID><DisplayName>graviton</DisplayName></Owner>");
	s3buf_puts(b, "<StorageClass>STANDARD</StorageClass></Contents>");
}

static enum MHD_Result list_objects(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, int v2)
{
	char prefix[GV_OBJECT_NAME_MAX + 1] = "", delim[64] = "", mk[16], enc[8];
	char after[AFTER_MAX] = "", token[2 * AFTER_MAX + 1] = "", start[GV_OBJECT_NAME_MAX + 1] = "";
	char last[AFTER_MAX] = "", cp[GV_OBJECT_NAME_MAX + 1], lastcp[GV_OBJECT_NAME_MAX + 1] = "";
	size_t plen, dlen, count = 0, nkeys = 0;
	long max_keys = LIST_MAX;
	int url = 0, truncated = 0, done = 0, err;
	s3buf b, cps;
	char *end;

	if (gv_s3_qget(r, "prefix", prefix, sizeof(prefix)) < 0 ||
	    gv_s3_qget(r, "delimiter", delim, sizeof(delim)) < 0)
		return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT, "prefix or delimiter too long");
	if (gv_s3_qget(r, "max-keys", mk, sizeof(mk)) == 1) {
		max_keys = strtol(mk, &end, 10);
		if (!mk[0] || *end || max_keys < 0)
			return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT,
			                        "max-keys must be a non-negative integer");
		if (max_keys > LIST_MAX)
			max_keys = LIST_MAX;
	}
	if (gv_s3_qget(r, "encoding-type", enc, sizeof(enc)) == 1) {
		if (strcmp(enc, "url") != 0)
			return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT,
			                        "Invalid Encoding Method specified in Request");
		url = 1;
	}
	if (v2) {
		if (gv_s3_qget(r, "continuation-token", token, sizeof(token)) == 1) {
			if (unhex(after, sizeof(after), token) < 0)
				return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT,
				                        "The continuation token provided is incorrect");
		} else if (gv_s3_qget(r, "start-after", start, sizeof(start)) == 1) {
			snprintf(after, sizeof(after), "%s", start);
		}
	} else if (gv_s3_qget(r, "marker", start, sizeof(start)) == 1) {
		snprintf(after, sizeof(after), "%s", start);
	}
	plen = strlen(prefix);
	dlen = strlen(delim);
	/* A marker that is a common prefix (ListObjects' NextMarker) skips
	 * every name under it, as the token of v2 does. */
	if (!v2 && dlen && strlen(after) >= dlen &&
	    strcmp(after + strlen(after) - dlen, delim) == 0 && strlen(after) + 1 < sizeof(after))
		strcat(after, "\xff");
	s3buf_init(&b, 0);
	s3buf_init(&cps, 0);
	/* Pages of names; a common prefix ends a page: the next starts past
	 * every name under it. */
	while (!done && !truncated && max_keys > 0) {
		gv_object *v = NULL;
		size_t n = 0, i;
		int more = 0;

		err = gv_ns_object_list(srv->st, r->bucket, prefix, after[0] ? after : NULL,
		                        (size_t)(max_keys - (long)count) + 1, &v, &n, &more);
		/* an empty first page: is there a bucket at all? */
		if (err == 0 && n == 0 && count == 0) {
			gv_bucket_info bi;

			err = gv_ns_bucket_get(srv->st, r->bucket, &bi);
		}
		if (err < 0) {
			gv_object_list_free(v, n);
			free(b.p);
			free(cps.p);
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
		}
		for (i = 0; i < n; i++) {
			const char *rest = v[i].name + plen, *d = dlen ? strstr(rest, delim) : NULL;

			if ((long)count == max_keys) {
				truncated = 1;
				break;
			}
			if (d) {
				size_t cl = (size_t)(d - v[i].name) + dlen;

				memcpy(cp, v[i].name, cl);
				cp[cl] = '\0';
				count++;
				if (strcmp(cp, lastcp) != 0) {
					s3buf_puts(&cps, "<CommonPrefixes>");
					s3buf_elem(&cps, "Prefix", cp, url);
					s3buf_puts(&cps, "</CommonPrefixes>");
					memcpy(lastcp, cp, cl + 1);
				}
				/* every name under cp sorts before cp + 0xff (UTF-8
				 * has no 0xff byte) */
				snprintf(after, sizeof(after), "%s\xff", cp);
				memcpy(last, after, strlen(after) + 1);
				break;
			}
			object_xml(&b, &v[i], url, !v2);
			count++;
			nkeys++;
			snprintf(after, sizeof(after), "%s", v[i].name);
			memcpy(last, after, strlen(after) + 1);
		}
		if (i == n && !more)
			done = 1;
		if ((long)count == max_keys && i == n && more)
			truncated = 1;
		gv_object_list_free(v, n);
	}
	{
		s3buf h;

		s3buf_init(&h, 0);
		s3buf_puts(&h, XML_HEAD "<ListBucketResult xmlns=\"" XMLNS "\">");
		s3buf_elem(&h, "Name", r->bucket, 0);
		s3buf_elem(&h, "Prefix", prefix, url);
		if (dlen)
			s3buf_elem(&h, "Delimiter", delim, url);
		s3buf_printf(&h, "<MaxKeys>%ld</MaxKeys>", max_keys);
		if (url)
			s3buf_puts(&h, "<EncodingType>url</EncodingType>");
		s3buf_printf(&h, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
		if (v2) {
			s3buf_printf(&h, "<KeyCount>%zu</KeyCount>", count);
			if (token[0])
				s3buf_elem(&h, "ContinuationToken", token, 0);
			if (start[0])
				s3buf_elem(&h, "StartAfter", start, url);
			if (truncated) {
				char *t = malloc(2 * strlen(last) + 1);

				if (t) {
					hex_of(t, last);
					s3buf_elem(&h, "NextContinuationToken", t, 0);
					free(t);
				} else {
					h.bad = 1;
				}
			}
		} else {
			s3buf_elem(&h, "Marker", start, url);
			if (truncated) {
				/* a common prefix's marker is the prefix itself */
				size_t ll = strlen(last);

				if (ll && (unsigned char)last[ll - 1] == 0xff)
					last[ll - 1] = '\0';
				s3buf_elem(&h, "NextMarker", last, url);
			}
		}
		s3buf_add(&h, b.p ? b.p : "", b.n);
		s3buf_add(&h, cps.p ? cps.p : "", cps.n);
		s3buf_puts(&h, "</ListBucketResult>");
		h.bad |= b.bad | cps.bad;
		free(b.p);
		free(cps.p);
		(void)nkeys;
		return gv_s3_send_xml(c, r, 200, &h);
	}
}

/* ---- XML bodies ----------------------------------------------------------------- */

/* Leaves of <Root><Item><Field>text</Field></Item>...</Root> (and
 * <Root><Field>text</Field>): each reported with its item index (-1 for
 * fields of the root). */
typedef struct xwalk {
	const char *root, *item;
	int depth, bad, items, max_items;
	char field[32];
	s3buf text;
	void (*leaf)(struct xwalk *w, int item, const char *field, const char *text);
	void *arg;
} xwalk;

static void x_start(void *p, const XML_Char *name, const XML_Char **attrs)
{
	xwalk *w = p;

	(void)attrs;
	w->depth++;
	if (w->depth == 1 && strcmp(name, w->root) != 0)
		w->bad = 1;
	if (w->depth == 2 && strcmp(name, w->item) == 0 && ++w->items > w->max_items)
		w->bad = 1;
	if (w->depth == 2 || w->depth == 3) {
		snprintf(w->field, sizeof(w->field), "%s", name);
		w->text.n = 0;
		if (w->text.p)
			w->text.p[0] = '\0';
	}
}

static void x_end(void *p, const XML_Char *name)
{
	xwalk *w = p;

	(void)name;
	if (w->depth == 3 || (w->depth == 2 && strcmp(w->field, w->item) != 0))
		w->leaf(w, w->depth == 3 ? w->items - 1 : -1, w->field, w->text.p ? w->text.p : "");
	w->depth--;
}

static void x_text(void *p, const XML_Char *s, int len)
{
	xwalk *w = p;

	if (w->depth >= 2)
		s3buf_add(&w->text, s, (size_t)len);
	if (w->text.bad)
		w->bad = 1;
}

static int xml_walk(xwalk *w, const char *body, size_t len)
{
	XML_Parser p = XML_ParserCreate("UTF-8");
	int ok;

	if (!p)
		return -1;
	s3buf_init(&w->text, 4 * GV_OBJECT_NAME_MAX);
	XML_SetUserData(p, w);
	XML_SetElementHandler(p, x_start, x_end);
	XML_SetCharacterDataHandler(p, x_text);
	ok = XML_Parse(p, body ? body : "", (int)len, 1) == XML_STATUS_OK;
	XML_ParserFree(p);
	free(w->text.p);
	return ok && !w->bad ? 0 : -1;
}

typedef struct delreq {
	char **keys;
	int quiet;
	int bad;
} delreq;

static void del_leaf(xwalk *w, int item, const char *field, const char *text)
{
	delreq *d = w->arg;

	if (item < 0 && strcmp(field, "Quiet") == 0)
		d->quiet = strcmp(text, "true") == 0;
	if (item >= 0 && strcmp(field, "Key") == 0 && !d->keys[item]) {
		if (strlen(text) > GV_OBJECT_NAME_MAX || !(d->keys[item] = strdup(text)))
			d->bad = 1;
	}
}

static enum MHD_Result delete_objects(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	delreq d = { calloc(DELETE_MAX + 1, sizeof(char *)), 0, 0 };
	xwalk w = { "Delete", "Object", 0, 0, 0, DELETE_MAX, "", { 0 }, del_leaf, &d };
	s3buf b;
	int i, err;

	if (!d.keys)
		return MHD_NO;
	if (xml_walk(&w, r->xml, r->xml_len) < 0 || d.bad) {
		for (i = 0; i <= DELETE_MAX; i++)
			free(d.keys[i]);
		free(d.keys);
		return gv_s3_send_error(srv, c, r, E_MALFORMED_XML,
		                        "The XML you provided was not well-formed or did not validate "
		                        "against our published schema");
	}
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<DeleteResult xmlns=\"" XMLNS "\">");
	for (i = 0; i < w.items; i++) {
		if (!d.keys[i])
			continue;
		err = gv_ns_object_delete(srv->st, r->bucket, d.keys[i]);
		if (err < 0 && err != GV_ENOTFOUND) {
			s3buf_puts(&b, "<Error>");
			s3buf_elem(&b, "Key", d.keys[i], 0);
			s3buf_elem(&b, "Code", "InternalError", 0);
			s3buf_elem(&b, "Message", gv_error_last(), 0);
			s3buf_puts(&b, "</Error>");
		} else if (!d.quiet) {
			s3buf_puts(&b, "<Deleted>");
			s3buf_elem(&b, "Key", d.keys[i], 0);
			s3buf_puts(&b, "</Deleted>");
		}
	}
	s3buf_puts(&b, "</DeleteResult>");
	for (i = 0; i <= DELETE_MAX; i++)
		free(d.keys[i]);
	free(d.keys);
	return gv_s3_send_xml(c, r, 200, &b);
}

/* ---- objects -------------------------------------------------------------------- */

/* The object of bucket/name, or an answer already queued (*sent). */
static int object_get(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, const char *bucket,
                      const char *name, gv_object *o, enum MHD_Result *sent)
{
	gv_bucket_info bi;
	int err = gv_ns_object_get(srv->st, bucket, name, o);

	if (err == GV_ENOTFOUND && gv_ns_bucket_get(srv->st, bucket, &bi) == GV_ENOTFOUND)
		*sent = gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	else if (err < 0)
		*sent = gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_KEY);
	return err;
}

/* An ETag list header ("a", "b" or *) names etag. */
static int etag_matches(const char *h, const char *etag)
{
	size_t el = strlen(etag);

	while (*h) {
		const char *s, *e;

		while (*h == ' ' || *h == ',')
			h++;
		if (*h == '*')
			return 1;
		if (strncmp(h, "W/", 2) == 0)
			h += 2;
		s = h;
		e = strchr(h, ',');
		e = e ? e : h + strlen(h);
		h = e;
		while (e > s && e[-1] == ' ')
			e--;
		if (e - s >= 2 && *s == '"' && e[-1] == '"') {
			s++;
			e--;
		}
		if ((size_t)(e - s) == el && strncmp(s, etag, el) == 0)
			return 1;
	}
	return 0;
}

static int64_t http_time(const char *h)
{
	struct tm tm;
	const char *e;

	memset(&tm, 0, sizeof(tm));
	e = strptime(h, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!e || *e)
		return -1;
	return (int64_t)timegm(&tm);
}

typedef struct ostream {
	gv_ns_reader *rd;
} ostream;

static ssize_t ostream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	ostream *s = cls;
	ssize_t n;

	(void)pos;
	if (!s->rd)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = gv_ns_read(s->rd, buf, max);
	if (n > 0)
		return n;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* a failed read after bytes went out: the connection is cut short */
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void ostream_free(void *cls)
{
	ostream *s = cls;

	gv_ns_close(s->rd);
	free(s);
}

static enum MHD_Result get_object(gv_s3_server *srv, struct MHD_Connection *c, s3req *r, int head)
{
	const char *im = gv_s3_hdr_get(r, "If-Match"), *inm = gv_s3_hdr_get(r, "If-None-Match");
	const char *ims = gv_s3_hdr_get(r, "If-Modified-Since");
	const char *ius = gv_s3_hdr_get(r, "If-Unmodified-Since");
	const char *rh = gv_s3_hdr_get(r, "Range");
	char etag[GV_ETAG_MAX + 2], lm[40], cr[96];
	uint64_t start = 0, end = 0, len;
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;
	int status = 200, ranged = 0, err;
	int64_t mtime_s;
	ostream *s;
	gv_object o;

	memset(&o, 0, sizeof(o));
	if (object_get(srv, c, r, r->bucket, r->key, &o, &ret) < 0)
		return ret;
	mtime_s = o.mtime_ms / 1000;
	snprintf(etag, sizeof(etag), "\"%s\"", o.etag);
	s3_http_date(lm, o.mtime_ms);
	/* RFC 9110 13.2.2's order */
	if ((im && !etag_matches(im, o.etag)) ||
	    (!im && ius && http_time(ius) >= 0 && mtime_s > http_time(ius))) {
		gv_object_clear(&o);
		return gv_s3_send_error(srv, c, r, E_PRECONDITION,
		                        "At least one of the pre-conditions you specified did not hold");
	}
	if ((inm && etag_matches(inm, o.etag)) ||
	    (!inm && ims && http_time(ims) >= 0 && mtime_s <= http_time(ims))) {
		gv_object_clear(&o);
		return gv_s3_send_empty(c, r, 304, "ETag", etag);
	}
	if (rh) {
		int pr = gv_http_parse_range(rh, o.size, &start, &end);

		if (pr == -2) {
			gv_object_clear(&o);
			return gv_s3_send_error(srv, c, r, E_INVALID_RANGE,
			                        "The requested range is not satisfiable");
		}
		if (pr == 0 && !(start == 0 && end == o.size)) {
			ranged = 1;
			status = 206;
		}
	}
	len = ranged ? end - start : o.size;
	if (!(s = calloc(1, sizeof(*s)))) {
		gv_object_clear(&o);
		return MHD_NO;
	}
	if (!head && (err = gv_ns_open(&s->rd, srv->st, &o, ranged, start, end)) < 0) {
		free(s);
		gv_object_clear(&o);
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_KEY);
	}
	resp = MHD_create_response_from_callback(len, len < 256 * 1024 ? (size_t)(len ? len : 1)
	                                                               : 256 * 1024,
	                                         ostream_read, s, ostream_free);
	if (!resp) {
		ostream_free(s);
		gv_object_clear(&o);
		return MHD_NO;
	}
	r->started = 1;
	gv_s3_common_headers(resp, r);
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Last-Modified", lm);
	MHD_add_response_header(resp, "Content-Type",
	                        o.content_type[0] ? o.content_type : "binary/octet-stream");
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (ranged) {
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)start,
		         (unsigned long long)(end - 1), (unsigned long long)o.size);
		MHD_add_response_header(resp, "Content-Range", cr);
	}
	if (o.parts) {
		snprintf(cr, sizeof(cr), "%u", o.parts);
		MHD_add_response_header(resp, "x-amz-mp-parts-count", cr);
	}
	meta_headers(resp, o.meta);
	gv_object_clear(&o);
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result delete_object(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	gv_bucket_info bi;
	int err = gv_ns_object_delete(srv->st, r->bucket, r->key);

	if (err == GV_ENOTFOUND && (err = gv_ns_bucket_get(srv->st, r->bucket, &bi)) == 0)
		err = 0; /* S3 answers 204 for a name that is not there */
	if (err < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	return gv_s3_send_empty(c, r, 204, NULL, NULL);
}

/* x-amz-copy-source: [/]bucket/key[?versionId=...], percent-encoded. */
static int copy_source(const s3req *r, char bucket[GV_BUCKET_MAX], char **key)
{
	const char *src = gv_s3_hdr_get(r, "x-amz-copy-source"), *slash, *q;
	size_t sl;
	long n;

	*key = NULL;
	if (!src)
		return -1;
	if (*src == '/')
		src++;
	slash = strchr(src, '/');
	if (!slash || (size_t)(slash - src) >= GV_BUCKET_MAX ||
	    gv_s3_unescape(bucket, GV_BUCKET_MAX, src, (size_t)(slash - src), 0) < 0)
		return -1;
	q = strchr(slash + 1, '?');
	sl = q ? (size_t)(q - slash - 1) : strlen(slash + 1);
	if (!(*key = malloc(sl + 1)))
		return -1;
	n = gv_s3_unescape(*key, sl + 1, slash + 1, sl, 0);
	if (n <= 0 || n > GV_OBJECT_NAME_MAX || (size_t)n != strlen(*key)) {
		free(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

static enum MHD_Result copy_object(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	const char *dir = gv_s3_hdr_get(r, "x-amz-metadata-directive");
	char sb[GV_BUCKET_MAX], ct[256], *sk, *meta = NULL;
	enum MHD_Result ret = MHD_NO;
	int replace = dir && strcasecmp(dir, "REPLACE") == 0, big = 0, err;
	gv_object src, o;
	s3buf b;

	if (copy_source(r, sb, &sk) < 0)
		return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT,
		                        "Copy Source must mention the source bucket and key: "
		                        "sourcebucket/sourcekey");
	if (!gv_s3_bucket_allowed(r, sb)) {
		free(sk);
		return gv_s3_send_error(srv, c, r, S3_ACCESS_DENIED,
		                        "this access key may not use bucket %s", sb);
	}
	memset(&src, 0, sizeof(src));
	if (object_get(srv, c, r, sb, sk, &src, &ret) < 0) {
		free(sk);
		return ret;
	}
	gv_object_clear(&src);
	if (replace) {
		content_type_of(r, ct);
		meta = meta_of(r, &big);
		if (big) {
			free(sk);
			return gv_s3_send_error(srv, c, r, E_META_TOO_LARGE,
			                        "Your metadata headers exceed the maximum allowed size");
		}
	} else if (strcmp(sb, r->bucket) == 0 && strcmp(sk, r->key) == 0) {
		free(sk);
		return gv_s3_send_error(srv, c, r, S3_INVALID_REQUEST,
		                        "This copy request is illegal because it is trying to copy an "
		                        "object to itself without changing the object's metadata");
	}
	memset(&o, 0, sizeof(o));
	err = gv_ns_object_copy(srv->st, sb, sk, r->bucket, r->key, replace ? ct : NULL,
	                        replace ? (meta ? meta : "{}") : NULL, &o);
	free(meta);
	free(sk);
	if (err < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_KEY);
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<CopyObjectResult xmlns=\"" XMLNS "\">");
	s3buf_time(&b, "LastModified", o.mtime_ms);
	s3buf_puts(&b, "<ETag>&quot;");
	s3buf_xml(&b, o.etag, 0);
	s3buf_puts(&b, "&quot;</ETag></CopyObjectResult>");
	gv_object_clear(&o);
	return gv_s3_send_xml(c, r, 200, &b);
}

/* ---- multipart ------------------------------------------------------------------- */

static enum MHD_Result create_upload(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	char id[GV_UPLOAD_ID_MAX], ct[256], *meta;
	gv_bucket_info bi;
	int big, err;
	s3buf b;

	if ((err = gv_ns_bucket_get(srv->st, r->bucket, &bi)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	meta = meta_of(r, &big);
	if (big)
		return gv_s3_send_error(srv, c, r, E_META_TOO_LARGE,
		                        "Your metadata headers exceed the maximum allowed size");
	content_type_of(r, ct);
	err = gv_ns_upload_create(srv->st, r->bucket, r->key, ct, meta, id);
	free(meta);
	if (err < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" XMLNS "\">");
	s3buf_elem(&b, "Bucket", r->bucket, 0);
	s3buf_elem(&b, "Key", r->key, 0);
	s3buf_elem(&b, "UploadId", id, 0);
	s3buf_puts(&b, "</InitiateMultipartUploadResult>");
	return gv_s3_send_xml(c, r, 200, &b);
}

/* Every part an upload has recorded (ascending), pages gathered. */
static int all_parts(gv_store *st, const char *id, gv_ns_part **out, size_t *n)
{
	gv_ns_part *all = NULL;
	size_t total = 0;
	uint32_t after = 0;
	int more = 1, err;

	*out = NULL;
	*n = 0;
	while (more) {
		gv_ns_part *v = NULL, *na;
		size_t k = 0;

		if ((err = gv_ns_upload_parts(st, id, after, LIST_MAX, &v, &k, &more)) < 0) {
			free(all);
			return err;
		}
		if (k && !(na = realloc(all, (total + k) * sizeof(*all)))) {
			free(v);
			free(all);
			return gv_error_set(GV_ENOMEM, "out of memory");
		}
		if (k) {
			all = na;
			memcpy(all + total, v, k * sizeof(*v));
			total += k;
			after = v[k - 1].part_no;
		}
		free(v);
		if (!k)
			break;
	}
	*out = all;
	*n = total;
	return 0;
}

typedef struct compreq {
	gv_ns_part *parts;
	int bad;
} compreq;

static void comp_leaf(xwalk *w, int item, const char *field, const char *text)
{
	compreq *q = w->arg;
	char *end;

	if (item < 0)
		return;
	if (strcmp(field, "PartNumber") == 0) {
		unsigned long v = strtoul(text, &end, 10);

		if (!*text || *end || v < 1 || v > S3_PARTS_MAX)
			q->bad = 1;
		q->parts[item].part_no = (uint32_t)v;
	} else if (strcmp(field, "ETag") == 0) {
		size_t l = strlen(text);

		if (l >= 2 && text[0] == '"' && text[l - 1] == '"') {
			text++;
			l -= 2;
		}
		if (l >= GV_ETAG_MAX)
			q->bad = 1;
		else
			snprintf(q->parts[item].etag, sizeof(q->parts[item].etag), "%.*s", (int)l, text);
	}
}

static enum MHD_Result complete_upload(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	compreq q = { calloc(S3_PARTS_MAX + 1, sizeof(gv_ns_part)), 0 };
	xwalk w = { "CompleteMultipartUpload", "Part", 0, 0, 0, S3_PARTS_MAX, "", { 0 }, comp_leaf, &q };
	char id[GV_UPLOAD_ID_MAX];
	gv_ns_part *have = NULL;
	size_t nhave = 0, i, j = 0;
	enum MHD_Result ret;
	gv_object o;
	s3buf b;
	int err;

	if (!q.parts)
		return MHD_NO;
	if (gv_s3_qget(r, "uploadId", id, sizeof(id)) != 1) {
		ret = gv_s3_send_gv(srv, c, r, GV_ENOTFOUND, E_NO_SUCH_UPLOAD);
		goto out;
	}
	if (xml_walk(&w, r->xml, r->xml_len) < 0 || q.bad || w.items == 0) {
		ret = gv_s3_send_error(srv, c, r, E_MALFORMED_XML,
		                       "The XML you provided was not well-formed or did not validate "
		                       "against our published schema");
		goto out;
	}
	if ((err = upload_check(srv->st, r, id)) < 0 ||
	    (err = all_parts(srv->st, id, &have, &nhave)) < 0) {
		ret = gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
		goto out;
	}
	for (i = 0; i < (size_t)w.items; i++) {
		if (i && q.parts[i].part_no <= q.parts[i - 1].part_no) {
			ret = gv_s3_send_error(srv, c, r, E_INVALID_PART_ORDER,
			                       "The list of parts was not in ascending order");
			goto out;
		}
		while (j < nhave && have[j].part_no < q.parts[i].part_no)
			j++;
		if (j == nhave || have[j].part_no != q.parts[i].part_no ||
		    strcmp(have[j].etag, q.parts[i].etag) != 0) {
			ret = gv_s3_send_error(srv, c, r, E_INVALID_PART,
			                       "One or more of the specified parts could not be found or "
			                       "its entity tag did not match (part %u)",
			                       q.parts[i].part_no);
			goto out;
		}
		if (i + 1 < (size_t)w.items && have[j].key.size < S3_PART_MIN) {
			ret = gv_s3_send_error(srv, c, r, E_ENTITY_TOO_SMALL,
			                       "Your proposed upload is smaller than the minimum allowed "
			                       "size (part %u)", q.parts[i].part_no);
			goto out;
		}
		q.parts[i].key = have[j].key;
	}
	memset(&o, 0, sizeof(o));
	if ((err = gv_ns_upload_complete(srv->st, id, q.parts, (size_t)w.items, &o)) < 0) {
		ret = gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
		goto out;
	}
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" XMLNS "\">");
	s3buf_puts(&b, "<Location>/");
	s3buf_xml(&b, r->bucket, 0);
	s3buf_puts(&b, "/");
	s3buf_xml(&b, r->key, 0);
	s3buf_puts(&b, "</Location>");
	s3buf_elem(&b, "Bucket", r->bucket, 0);
	s3buf_elem(&b, "Key", r->key, 0);
	s3buf_puts(&b, "<ETag>&quot;");
	s3buf_xml(&b, o.etag, 0);
	s3buf_puts(&b, "&quot;</ETag></CompleteMultipartUploadResult>");
	gv_object_clear(&o);
	ret = gv_s3_send_xml(c, r, 200, &b);
out:
	free(have);
	free(q.parts);
	return ret;
}

static enum MHD_Result list_parts(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	char id[GV_UPLOAD_ID_MAX], v[16], *end;
	unsigned long marker = 0, max = LIST_MAX;
	gv_ns_part *p = NULL;
	size_t n = 0, i;
	int more = 0, err;
	s3buf b;

	if (gv_s3_qget(r, "uploadId", id, sizeof(id)) != 1)
		return gv_s3_send_gv(srv, c, r, GV_ENOTFOUND, E_NO_SUCH_UPLOAD);
	if (gv_s3_qget(r, "part-number-marker", v, sizeof(v)) == 1) {
		marker = strtoul(v, &end, 10);
		if (*end || marker > S3_PARTS_MAX)
			return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT, "bad part-number-marker");
	}
	if (gv_s3_qget(r, "max-parts", v, sizeof(v)) == 1) {
		max = strtoul(v, &end, 10);
		if (*end)
			return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT, "bad max-parts");
		if (max > LIST_MAX)
			max = LIST_MAX;
	}
	if ((err = upload_check(srv->st, r, id)) < 0 ||
	    (err = gv_ns_upload_parts(srv->st, id, (uint32_t)marker, max, &p, &n, &more)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<ListPartsResult xmlns=\"" XMLNS "\">");
	s3buf_elem(&b, "Bucket", r->bucket, 0);
	s3buf_elem(&b, "Key", r->key, 0);
	s3buf_elem(&b, "UploadId", id, 0);
	s3buf_printf(&b, "<PartNumberMarker>%lu</PartNumberMarker>", marker);
	if (n)
		s3buf_printf(&b, "<NextPartNumberMarker>%u</NextPartNumberMarker>", p[n - 1].part_no);
	s3buf_printf(&b, "<MaxParts>%lu</MaxParts><IsTruncated>%s</IsTruncated>"
	             "<StorageClass>STANDARD</StorageClass>", max, more ? "true" : "false");
	for (i = 0; i < n; i++) {
		s3buf_printf(&b, "<Part><PartNumber>%u</PartNumber>", p[i].part_no);
		s3buf_time(&b, "LastModified", p[i].mtime_ms);
		s3buf_puts(&b, "<ETag>&quot;");
		s3buf_xml(&b, p[i].etag, 0);
		s3buf_printf(&b, "&quot;</ETag><Size>%llu</Size></Part>",
		             (unsigned long long)p[i].key.size);
	}
	s3buf_puts(&b, "</ListPartsResult>");
	free(p);
	return gv_s3_send_xml(c, r, 200, &b);
}

static enum MHD_Result list_uploads(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	char prefix[GV_OBJECT_NAME_MAX + 1] = "";
	gv_ns_upload *u = NULL;
	gv_bucket_info bi;
	size_t n = 0, i;
	s3buf b;
	int err;

	gv_s3_qget(r, "prefix", prefix, sizeof(prefix));
	if ((err = gv_ns_bucket_get(srv->st, r->bucket, &bi)) < 0 ||
	    (err = gv_ns_upload_list(srv->st, r->bucket, prefix, LIST_MAX, &u, &n)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_BUCKET);
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<ListMultipartUploadsResult xmlns=\"" XMLNS "\">");
	s3buf_elem(&b, "Bucket", r->bucket, 0);
	s3buf_elem(&b, "Prefix", prefix, 0);
	s3buf_printf(&b, "<MaxUploads>%d</MaxUploads><IsTruncated>false</IsTruncated>", LIST_MAX);
	for (i = 0; i < n; i++) {
		s3buf_puts(&b, "<Upload>");
		s3buf_elem(&b, "Key", u[i].name, 0);
		s3buf_elem(&b, "UploadId", u[i].id, 0);
		s3buf_puts(&b, "<Initiator><ID>graviton</ID></Initiator><Owner><ID>graviton</ID></Owner>"
		               "<StorageClass>STANDARD</StorageClass>");
		s3buf_time(&b, "Initiated", u[i].created_ms);
		s3buf_puts(&b, "</Upload>");
	}
	s3buf_puts(&b, "</ListMultipartUploadsResult>");
	free(u);
	return gv_s3_send_xml(c, r, 200, &b);
}

static enum MHD_Result abort_upload(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	char id[GV_UPLOAD_ID_MAX];
	int err;

	if (gv_s3_qget(r, "uploadId", id, sizeof(id)) != 1)
		return gv_s3_send_gv(srv, c, r, GV_ENOTFOUND, E_NO_SUCH_UPLOAD);
	if ((err = upload_check(srv->st, r, id)) < 0 || (err = gv_ns_upload_abort(srv->st, id)) < 0)
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
	return gv_s3_send_empty(c, r, 204, NULL, NULL);
}

/*
 * UploadPartCopy: the source's bytes (whole or x-amz-copy-source-range)
 * read verified and put as the part's own blob, so the part is stored
 * once whatever object it came from.
 */
static enum MHD_Result upload_part_copy(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	const char *rng = gv_s3_hdr_get(r, "x-amz-copy-source-range");
	char sb[GV_BUCKET_MAX], id[GV_UPLOAD_ID_MAX], md5[33], *sk;
	enum MHD_Result ret = MHD_NO;
	gv_put_opts po = GV_PUT_OPTS_INIT;
	uint64_t start = 0, end = 0;
	gv_ns_reader *rd = NULL;
	gv_put_result res;
	unsigned int ml = 16;
	uint8_t dg[16];
	EVP_MD_CTX *m;
	gv_object src;
	gv_put *put = NULL;
	uint32_t pn;
	char *buf;
	ssize_t n;
	s3buf b;
	int err;

	if (part_number(r, &pn) < 0)
		return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT,
		                        "Part number must be an integer between 1 and 10000");
	if (gv_s3_qget(r, "uploadId", id, sizeof(id)) != 1)
		return gv_s3_send_gv(srv, c, r, GV_ENOTFOUND, E_NO_SUCH_UPLOAD);
	if (copy_source(r, sb, &sk) < 0)
		return gv_s3_send_error(srv, c, r, S3_INVALID_ARGUMENT, "bad x-amz-copy-source");
	if (!gv_s3_bucket_allowed(r, sb)) {
		free(sk);
		return gv_s3_send_error(srv, c, r, S3_ACCESS_DENIED, "this access key may not use bucket %s",
		                        sb);
	}
	memset(&src, 0, sizeof(src));
	err = object_get(srv, c, r, sb, sk, &src, &ret);
	free(sk);
	if (err < 0)
		return ret;
	end = src.size;
	if (rng) {
		unsigned long long a, z;
		int used = 0;

		if (sscanf(rng, "bytes=%llu-%llu%n", &a, &z, &used) != 2 || rng[used] || a > z ||
		    z >= src.size) {
			gv_object_clear(&src);
			return gv_s3_send_error(srv, c, r, E_INVALID_RANGE,
			                        "The x-amz-copy-source-range is not satisfiable");
		}
		start = a;
		end = z + 1;
	}
	if ((err = upload_check(srv->st, r, id)) < 0) {
		gv_object_clear(&src);
		return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
	}
	if (!rng && !src.parts && strlen(src.etag) == 32) {
		/* the whole of a one-blob object: that blob is the part */
		memcpy(md5, src.etag, 33);
		if ((err = gv_ns_upload_part(srv->st, id, pn, &src.key, md5)) < 0) {
			gv_object_clear(&src);
			return gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
		}
		gv_object_clear(&src);
		s3buf_init(&b, 0);
		s3buf_puts(&b, XML_HEAD "<CopyPartResult xmlns=\"" XMLNS "\">");
		s3buf_time(&b, "LastModified", now_ms());
		s3buf_printf(&b, "<ETag>&quot;%s&quot;</ETag></CopyPartResult>", md5);
		return gv_s3_send_xml(c, r, 200, &b);
	}
	m = EVP_MD_CTX_new();
	buf = malloc(1 << 20);
	po.size_hint = end - start;
	if (!m || !buf || EVP_DigestInit_ex(m, EVP_md5(), NULL) != 1 ||
	    (err = gv_ns_open(&rd, srv->st, &src, rng != NULL, start, end)) < 0 ||
	    (err = gv_put_open(&put, srv->st, &po)) < 0) {
		ret = gv_s3_send_gv(srv, c, r, m && buf ? err : GV_ENOMEM, E_NO_SUCH_KEY);
		goto out;
	}
	while ((n = gv_ns_read(rd, buf, 1 << 20)) > 0) {
		EVP_DigestUpdate(m, buf, (size_t)n);
		if ((err = gv_put_write(put, buf, (size_t)n)) < 0)
			break;
	}
	if (n < 0 || err < 0) {
		ret = gv_s3_send_gv(srv, c, r, n < 0 ? (int)n : err, E_NO_SUCH_KEY);
		goto out;
	}
	err = gv_put_commit(put, &res);
	put = NULL;
	if (err < 0) {
		ret = gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_KEY);
		goto out;
	}
	EVP_DigestFinal_ex(m, dg, &ml);
	gv_s3_hex(md5, dg, 16);
	if ((err = gv_ns_upload_part(srv->st, id, pn, &res.key, md5)) < 0) {
		ret = gv_s3_send_gv(srv, c, r, err, E_NO_SUCH_UPLOAD);
		goto out;
	}
	s3buf_init(&b, 0);
	s3buf_puts(&b, XML_HEAD "<CopyPartResult xmlns=\"" XMLNS "\">");
	s3buf_time(&b, "LastModified", now_ms());
	s3buf_printf(&b, "<ETag>&quot;%s&quot;</ETag></CopyPartResult>", md5);
	ret = gv_s3_send_xml(c, r, 200, &b);
out:
	gv_put_abort(put);
	gv_ns_close(rd);
	EVP_MD_CTX_free(m);
	free(buf);
	gv_object_clear(&src);
	return ret;
}

/* ---- dispatch ----------------------------------------------------------------------- */

enum MHD_Result gv_s3_dispatch(gv_s3_server *srv, struct MHD_Connection *c, s3req *r)
{
	r->started = 1;
	switch (r->op) {
	case OP_LIST_BUCKETS:
		return list_buckets(srv, c, r);
	case OP_CREATE_BUCKET:
	case OP_HEAD_BUCKET:
	case OP_DELETE_BUCKET:
	case OP_LOCATION:
	case OP_VERSIONING:
		return bucket_op(srv, c, r);
	case OP_LIST_V1:
	case OP_LIST_V2:
		return list_objects(srv, c, r, r->op == OP_LIST_V2);
	case OP_LIST_UPLOADS:
		return list_uploads(srv, c, r);
	case OP_DELETE_OBJECTS:
		return delete_objects(srv, c, r);
	case OP_PUT_OBJECT:
	case OP_UPLOAD_PART:
		return put_finish(srv, c, r);
	case OP_COPY_OBJECT:
		return copy_object(srv, c, r);
	case OP_GET_OBJECT:
	case OP_HEAD_OBJECT:
		return get_object(srv, c, r, r->op == OP_HEAD_OBJECT);
	case OP_DELETE_OBJECT:
		return delete_object(srv, c, r);
	case OP_CREATE_UPLOAD:
		return create_upload(srv, c, r);
	case OP_UPLOAD_PART_COPY:
		return upload_part_copy(srv, c, r);
	case OP_COMPLETE:
		return complete_upload(srv, c, r);
	case OP_ABORT:
		return abort_upload(srv, c, r);
	case OP_LIST_PARTS:
		return list_parts(srv, c, r);
	default:
		return gv_s3_send_error(srv, c, r, S3_NOT_IMPLEMENTED, "not supported");
	}
}
