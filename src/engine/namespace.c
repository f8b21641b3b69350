/*
 * namespace.c - buckets and named objects over the content-addressed store,
 * references and garbage collection (graviton/namespace.h,
 * docs/namespace.md).
 *
 * The index keeps the rows and the reference rules (each op one
 * transaction, sys/index.h); this module checks names, builds multipart
 * manifests, reads objects through gv_get (every byte verified) and runs
 * the collector.  The collector decides each key under the key's lock, the
 * lock a put holds from its "what exists?" to its decision, and removes a
 * blob's rows in the transaction that finds it unreferenced; the bytes go
 * after, through the delete path (gv_store_drop_bytes), so a crash at any
 * point leaves either the blob whole and referenced or unreferenced bytes
 * that reclaim removes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "graviton/namespace.h"
#include "core/digest.h"
#include "core/log.h"
#include "engine/limiter.h"
#include "engine/store.h"

#define NS_PARTS_MAX 10000        /* S3's limit of parts per upload */
#define NS_MANIFEST_MAGIC "graviton-manifest 1\n"
#define NS_GC_BATCH 256

void gv_object_clear(gv_object *o)
{
	if (o) {
		free(o->meta);
		o->meta = NULL;
	}
}

void gv_object_list_free(gv_object *v, size_t n)
{
	gv_ns_objects_free(v, n);
}

/* ---- names --------------------------------------------------------------- */

/* S3's bucket rules: 3..63 of [a-z0-9.-], starting and ending with a
 * letter or digit, no "..", not an IPv4 address. */
static int bucket_check(const char *b)
{
	size_t n, i, dots = 0, digits = 0;

	if (!b)
		return gv_error_set(GV_EINVAL, "no bucket name");
	n = strlen(b);
	if (n < 3 || n >= GV_BUCKET_MAX)
		return gv_error_set(GV_EINVAL, "bucket name '%.80s' must be 3 to %d characters", b,
		                    GV_BUCKET_MAX - 1);
	for (i = 0; i < n; i++) {
		char c = b[i];

		if (c == '.')
			dots++;
		else if (c >= '0' && c <= '9')
			digits++;
		else if (!((c >= 'a' && c <= 'z') || c == '-'))
			return gv_error_set(GV_EINVAL,
			                    "bucket name '%.80s': only a-z, 0-9, '.' and '-' are allowed",
			                    b);
	}
	if (!((b[0] >= 'a' && b[0] <= 'z') || (b[0] >= '0' && b[0] <= '9')) ||
	    !((b[n - 1] >= 'a' && b[n - 1] <= 'z') || (b[n - 1] >= '0' && b[n - 1] <= '9')))
		return gv_error_set(GV_EINVAL,
		                    "bucket name '%s' must start and end with a letter or digit", b);
	if (strstr(b, "..") || (dots == 3 && digits + dots == n))
		return gv_error_set(GV_EINVAL, "bucket name '%s' is not allowed", b);
	return 0;
}

/* 1..GV_OBJECT_NAME_MAX bytes of valid UTF-8 without control characters. */
static int name_check(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	if (!s || !*s)
		return gv_error_set(GV_EINVAL, "empty object name");
	n = strlen(s);
	if (n > GV_OBJECT_NAME_MAX)
		return gv_error_set(GV_EINVAL, "object name longer than %d bytes", GV_OBJECT_NAME_MAX);
	while (*p) {
		size_t len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
		           : (*p & 0xf8) == 0xf0 ? 4 : 0;
		size_t i;

		if (len == 0)
			return gv_error_set(GV_EINVAL, "object name is not valid UTF-8");
		if (len == 1 && (*p < 0x20 || *p == 0x7f))
			return gv_error_set(GV_EINVAL, "object name holds a control character");
		for (i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				return gv_error_set(GV_EINVAL, "object name is not valid UTF-8");
		p += len;
	}
	return 0;
}

static int object_check(const gv_object *o)
{
	int err;

	if ((err = bucket_check(o->bucket)) < 0 || (err = name_check(o->name)) < 0)
		return err;
	if (strnlen(o->content_type, sizeof(o->content_type)) == sizeof(o->content_type) ||
	    strnlen(o->etag, sizeof(o->etag)) == sizeof(o->etag))
		return gv_error_set(GV_EINVAL, "content type or ETag too long");
	if (o->meta && strlen(o->meta) > GV_META_MAX)
		return gv_error_set(GV_EINVAL, "user metadata longer than %d bytes", GV_META_MAX);
	return 0;
}

/* ---- buckets ------------------------------------------------------------- */

int gv_ns_bucket_create(gv_store *s, const char *bucket)
{
	gv_bucket_info b;
	int err;

	if ((err = bucket_check(bucket)) < 0)
		return err;
	memset(&b, 0, sizeof(b));
	snprintf(b.name, sizeof(b.name), "%s", bucket);
	b.created_ms = gv_now_ms();
	return gv_index_ns_bucket_put(s->ix, &b);
}

int gv_ns_bucket_delete(gv_store *s, const char *bucket)
{
	int err;

	if ((err = bucket_check(bucket)) < 0)
		return err;
	return gv_index_ns_bucket_remove(s->ix, bucket);
}

int gv_ns_bucket_get(gv_store *s, const char *bucket, gv_bucket_info *out)
{
	gv_bucket_info *v;
	size_t n;
	int err;

	if ((err = bucket_check(bucket)) < 0)
		return err;
	if ((err = gv_index_ns_buckets(s->ix, bucket, &v, &n)) < 0)
		return err;
	*out = v[0];
	free(v);
	return 0;
}

int gv_ns_bucket_list(gv_store *s, gv_bucket_info **out, size_t *n)
{
	return gv_index_ns_buckets(s->ix, NULL, out, n);
}

/* ---- objects ------------------------------------------------------------- */

int gv_ns_object_put(gv_store *s, const gv_object *o)
{
	gv_object b;
	int err;

	if ((err = object_check(o)) < 0)
		return err;
	b = *o;
	if (b.mtime_ms == 0)
		b.mtime_ms = gv_now_ms();
	return gv_index_ns_object_put(s->ix, &b, gv_now_ms());
}

int gv_ns_object_put_fd(gv_store *s, int fd, const char *bucket, const char *name,
                        const char *content_type, const char *meta, gv_object *out)
{
	gv_put_opts po = GV_PUT_OPTS_INIT;
	gv_put_result res;
	gv_put *put = NULL;
	gv_md5 *md5 = NULL;
	uint8_t d[16];
	gv_object o;
	char *buf = NULL;
	ssize_t n;
	int i, err;

	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "%s", bucket ? bucket : "");
	snprintf(o.name, sizeof(o.name), "%s", name ? name : "");
	snprintf(o.content_type, sizeof(o.content_type), "%s",
	         content_type ? content_type : "application/octet-stream");
	o.meta = (char *)meta;
	if ((err = object_check(&o)) < 0)
		return err;
	if ((err = gv_md5_new(&md5)) < 0)
		return err;
	if (!(buf = malloc(1u << 20))) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = gv_put_open(&put, s, &po)) < 0)
		goto out;
	while ((n = read(fd, buf, 1u << 20)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = gv_error_set_errno(GV_EIO, errno, "read failed");
			break;
		}
		if ((err = gv_md5_update(md5, buf, (size_t)n)) < 0 ||
		    (err = gv_put_write(put, buf, (size_t)n)) < 0)
			break;
	}
	if (err < 0) {
		gv_put_abort(put);
		goto out;
	}
	if ((err = gv_put_commit(put, &res)) < 0 || (err = gv_md5_final(md5, d)) < 0)
		goto out;
	for (i = 0; i < 16; i++)
		snprintf(o.etag + 2 * i, 3, "%02x", d[i]);
	o.key = res.key;
	o.size = res.key.size;
	o.mtime_ms = gv_now_ms();
	if ((err = gv_index_ns_object_put(s->ix, &o, gv_now_ms())) < 0)
		goto out;
	if (out) {
		*out = o;
		out->meta = NULL;
		if (meta && !(out->meta = strdup(meta)))
			err = gv_error_set(GV_ENOMEM, "out of memory");
	}
out:
	free(buf);
	gv_md5_free(md5);
	return err;
}

int gv_ns_object_get(gv_store *s, const char *bucket, const char *name, gv_object *out)
{
	int err;

	if ((err = bucket_check(bucket)) < 0 || (err = name_check(name)) < 0)
		return err;
	return gv_index_ns_object_get(s->ix, bucket, name, out);
}

int gv_ns_object_delete(gv_store *s, const char *bucket, const char *name)
{
	int err;

	if ((err = bucket_check(bucket)) < 0 || (err = name_check(name)) < 0)
		return err;
	return gv_index_ns_object_remove(s->ix, bucket, name, gv_now_ms());
}

int gv_ns_object_copy(gv_store *s, const char *sb, const char *sn, const char *db, const char *dn,
                      const char *content_type, const char *meta, gv_object *out)
{
	gv_object src, dst;
	char *meta_copy = NULL;
	int err;

	if ((err = bucket_check(db)) < 0 || (err = name_check(dn)) < 0)
		return err;
	if ((err = gv_ns_object_get(s, sb, sn, &src)) < 0)
		return err;
	dst = src;
	dst.meta = src.meta;
	snprintf(dst.bucket, sizeof(dst.bucket), "%s", db);
	snprintf(dst.name, sizeof(dst.name), "%s", dn);
	if (content_type)
		snprintf(dst.content_type, sizeof(dst.content_type), "%s", content_type);
	if (meta)
		dst.meta = (char *)meta;
	dst.mtime_ms = gv_now_ms();
	/* The source's blob is referenced by the source's name, or gone with
	 * it: the put below finds it in its transaction or fails. */
	if ((err = gv_ns_object_put(s, &dst)) < 0)
		goto out;
	if (out) {
		if (dst.meta && !(meta_copy = strdup(dst.meta))) {
			err = gv_error_set(GV_ENOMEM, "out of memory");
			goto out;
		}
		*out = dst;
		out->meta = meta_copy;
	}
out:
	gv_object_clear(&src);
	return err;
}

int gv_ns_object_list(gv_store *s, const char *bucket, const char *prefix, const char *after,
                      size_t limit, gv_object **out, size_t *n, int *more)
{
	size_t ask = limit + 1 > limit ? limit + 1 : limit;
	int err;

	*out = NULL;
	*n = 0;
	if (more)
		*more = 0;
	if ((err = bucket_check(bucket)) < 0)
		return err;
	if (limit == 0)
		ask = 1; /* only to learn whether names remain */
	if ((err = gv_index_ns_objects_next(s->ix, bucket, prefix, after, ask, out, n)) < 0)
		return err;
	if (*n == 0) {
		gv_bucket_info b;

		return gv_ns_bucket_get(s, bucket, &b); /* none: is there such a bucket? */
	}
	if (*n > limit) {
		free((*out)[limit].meta);
		*n = limit;
		if (more)
			*more = 1;
	}
	return 0;
}

void gv_ns_prefixes_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * The `after` that skips every name starting with group: group followed by
 * U+10FFFF (the largest code point) as often as a name could go on, so no
 * valid name with that start sorts after it.  NULL when out of memory.
 */
static char *past_group(const char *group)
{
	size_t n = strlen(group), i, reps = (GV_OBJECT_NAME_MAX + 4 - n % 4) / 4 + 1;
	char *s = malloc(n + 4 * reps + 1);

	if (!s)
		return NULL;
	memcpy(s, group, n);
	for (i = 0; i < reps; i++)
		memcpy(s + n + 4 * i, "\xf4\x8f\xbf\xbf", 4);
	s[n + 4 * reps] = '\0';
	return s;
}

/* The `after` to continue from: `after` itself, or past its group when it
 * falls within one (a common prefix handed out, or a name under one). */
static char *delim_after(const char *prefix, const char *delim, const char *after)
{
	size_t plen = strlen(prefix);
	const char *d;
	char *group, *s;

	if (!after || !*after)
		return strdup("");
	if (!*delim || strncmp(after, prefix, plen) != 0 ||
	    !(d = strstr(after + plen, delim)))
		return strdup(after);
	if (!(group = strndup(after, (size_t)(d - after) + strlen(delim))))
		return NULL;
	s = past_group(group);
	free(group);
	return s;
}

int gv_ns_object_list_delim(gv_store *s, const char *bucket, const char *prefix,
                            const char *delimiter, const char *after, size_t limit,
                            gv_object **objs, size_t *nobjs, char ***prefixes,
                            size_t *nprefixes, int *more, char *last)
{
	const char *delim = delimiter ? delimiter : "";
	size_t plen, count = 0, ocap = 0, pcap = 0, n = 0, i;
	gv_object *batch = NULL;
	char *eff = NULL;
	int err = 0, restart;

	*objs = NULL;
	*prefixes = NULL;
	*nobjs = *nprefixes = 0;
	if (more)
		*more = 0;
	if (last)
		*last = '\0';
	prefix = prefix ? prefix : "";
	plen = strlen(prefix);
	if ((err = bucket_check(bucket)) < 0)
		return err;
	if (!(eff = delim_after(prefix, delim, after)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (;;) {
		size_t want = limit - count + 1;

		if ((err = gv_index_ns_objects_next(s->ix, bucket, prefix, eff, want, &batch, &n)) < 0)
			break;
		if (n == 0 && count == 0 && !*eff) {
			gv_bucket_info b;

			err = gv_ns_bucket_get(s, bucket, &b); /* none: is there such a bucket? */
			break;
		}
		restart = 0;
		for (i = 0; i < n && !restart; i++) {
			const char *d = *delim ? strstr(batch[i].name + plen, delim) : NULL;
			const char *entry;

			if (count == limit) {
				if (more)
					*more = 1;
				break;
			}
			if (d) {
				char *cp = strndup(batch[i].name, (size_t)(d - batch[i].name) + strlen(delim));
				char **pv = *prefixes;

				if (!cp || (*nprefixes == pcap &&
				            !(pv = realloc(*prefixes, (pcap = pcap ? 2 * pcap : 16) *
				                                          sizeof(char *))))) {
					free(cp);
					err = gv_error_set(GV_ENOMEM, "out of memory");
					break;
				}
				*prefixes = pv;
				(*prefixes)[(*nprefixes)++] = cp;
				entry = cp;
				free(eff);
				if (!(eff = past_group(cp))) {
					err = gv_error_set(GV_ENOMEM, "out of memory");
					break;
				}
				restart = 1; /* the rest of the batch is in the group */
			} else {
				gv_object *ov = *objs;

				if (*nobjs == ocap &&
				    !(ov = realloc(*objs, (ocap = ocap ? 2 * ocap : 16) * sizeof(*ov)))) {
					err = gv_error_set(GV_ENOMEM, "out of memory");
					break;
				}
				*objs = ov;
				(*objs)[(*nobjs)++] = batch[i];
				batch[i].meta = NULL; /* moved */
				entry = batch[i].name;
				free(eff);
				if (!(eff = strdup(entry))) {
					err = gv_error_set(GV_ENOMEM, "out of memory");
					break;
				}
			}
			count++;
			if (last)
				snprintf(last, GV_OBJECT_NAME_MAX + 1, "%s", entry);
		}
		gv_ns_objects_free(batch, n);
		batch = NULL;
		if (err < 0 || (i < n && !restart) || (!restart && n < want) || count > limit)
			break;
		if (count == limit) {
			/* Anything left? One more name decides. */
			gv_object *peek = NULL;
			size_t np = 0;

			if ((err = gv_index_ns_objects_next(s->ix, bucket, prefix, eff, 1, &peek,
			                                    &np)) == 0 && np && more)
				*more = 1;
			gv_ns_objects_free(peek, np);
			break;
		}
	}
	free(eff);
	if (err < 0) {
		gv_object_list_free(*objs, *nobjs);
		gv_ns_prefixes_free(*prefixes, *nprefixes);
		*objs = NULL;
		*prefixes = NULL;
		*nobjs = *nprefixes = 0;
	}
	return err;
}

/* ---- reading ------------------------------------------------------------- */

struct gv_ns_reader {
	gv_store *st;
	gv_key *parts;
	size_t nparts;
	size_t idx;         /* part being read */
	uint64_t part_off;  /* object offset of parts[idx] */
	uint64_t pos, end;  /* next object offset to hand out, end of the read */
	gv_get *get;
};

int gv_ns_open(gv_ns_reader **out, gv_store *s, const gv_object *o, int has_range,
               uint64_t start, uint64_t end)
{
	gv_ns_reader *r;
	uint64_t total = 0;
	size_t i;
	int err;

	*out = NULL;
	if (!has_range) {
		start = 0;
		end = o->size;
	}
	if (start > end || end > o->size)
		return gv_error_set(GV_EINVAL, "range [%llu, %llu) outside an object of %llu bytes",
		                    (unsigned long long)start, (unsigned long long)end,
		                    (unsigned long long)o->size);
	if (!(r = calloc(1, sizeof(*r))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	r->st = s;
	if (o->parts == 0) {
		if (!(r->parts = malloc(sizeof(gv_key)))) {
			free(r);
			return gv_error_set(GV_ENOMEM, "out of memory");
		}
		r->parts[0] = o->key;
		r->nparts = 1;
	} else if ((err = gv_index_ns_manifest_get(s->ix, &o->key, &r->parts, &r->nparts)) < 0) {
		free(r);
		return err;
	}
	for (i = 0; i < r->nparts; i++)
		total += r->parts[i].size;
	if (total != o->size) {
		gv_ns_close(r);
		return gv_error_set(GV_ECORRUPT, "object %s/%s: its parts hold %llu bytes, not %llu",
		                    o->bucket, o->name, (unsigned long long)total,
		                    (unsigned long long)o->size);
	}
	r->pos = start;
	r->end = end;
	*out = r;
	return 0;
}

/* Open the part holding r->pos, for the bytes of it the read wants. */
static int reader_next(gv_ns_reader *r)
{
	gv_get_opts go = GV_GET_OPTS_INIT;
	uint64_t psize, from, to;

	while (r->idx < r->nparts && r->pos >= r->part_off + r->parts[r->idx].size) {
		r->part_off += r->parts[r->idx].size;
		r->idx++;
	}
	if (r->idx == r->nparts)
		return gv_error_set(GV_ECORRUPT, "object read past its last part");
	psize = r->parts[r->idx].size;
	from = r->pos - r->part_off;
	to = r->end - r->part_off < psize ? r->end - r->part_off : psize;
	if (from != 0 || to != psize) {
		go.has_range = 1;
		go.start = from;
		go.end = to;
	}
	/* The caller cannot take bytes back: a blob without a block table is
	 * verified whole before its first byte goes out. */
	go.verify_first = psize <= GV_GET_RANGE_VERIFY_MAX;
	return gv_get_open(&r->get, r->st, &r->parts[r->idx], &go);
}

ssize_t gv_ns_read(gv_ns_reader *r, void *buf, size_t cap)
{
	ssize_t n;
	int err;

	for (;;) {
		if (r->pos >= r->end || cap == 0)
			return 0;
		if (!r->get && (err = reader_next(r)) < 0)
			return err;
		if (cap > r->end - r->pos)
			cap = (size_t)(r->end - r->pos);
		n = gv_get_read(r->get, buf, cap);
		if (n < 0)
			return n;
		if (n > 0) {
			r->pos += (uint64_t)n;
			return n;
		}
		gv_get_close(r->get);
		r->get = NULL;
		if (r->pos < r->end && r->pos < r->part_off + r->parts[r->idx].size)
			return gv_error_set(GV_ECORRUPT, "part %zu of the object ended early", r->idx);
	}
}

void gv_ns_close(gv_ns_reader *r)
{
	if (!r)
		return;
	if (r->get)
		gv_get_close(r->get);
	free(r->parts);
	free(r);
}

/* ---- multipart uploads ----------------------------------------------------- */

static int upload_id_check(const char *id)
{
	size_t i, n = id ? strlen(id) : 0;

	if (n == 0 || n >= GV_UPLOAD_ID_MAX)
		return gv_error_set(GV_ENOTFOUND, "no such upload");
	for (i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return gv_error_set(GV_ENOTFOUND, "no such upload: %.80s", id);
	return 0;
}

int gv_ns_upload_create(gv_store *s, const char *bucket, const char *name,
                        const char *content_type, const char *meta, char id[GV_UPLOAD_ID_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[16];
	gv_object o;
	size_t i;
	int err;

	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "%s", bucket ? bucket : "");
	snprintf(o.name, sizeof(o.name), "%s", name ? name : "");
	snprintf(o.content_type, sizeof(o.content_type), "%s", content_type ? content_type : "");
	o.meta = (char *)meta;
	o.mtime_ms = gv_now_ms();
	if ((err = object_check(&o)) < 0)
		return err;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return gv_error_set(GV_EIO, "no random bytes for an upload id");
	for (i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 15];
	}
	id[2 * sizeof(rnd)] = '\0';
	return gv_index_ns_upload_put(s->ix, id, &o);
}

int gv_ns_upload_part(gv_store *s, const char *id, uint32_t part_no, const gv_key *key,
                      const char md5_hex[33])
{
	gv_ns_part p;
	int err;

	if ((err = upload_id_check(id)) < 0)
		return err;
	if (part_no < 1 || part_no > NS_PARTS_MAX)
		return gv_error_set(GV_EINVAL, "part number %u is not in 1..%d", part_no, NS_PARTS_MAX);
	memset(&p, 0, sizeof(p));
	p.part_no = part_no;
	p.key = *key;
	snprintf(p.etag, sizeof(p.etag), "%.32s", md5_hex ? md5_hex : "");
	p.mtime_ms = gv_now_ms();
	return gv_index_ns_upload_part_put(s->ix, id, &p, gv_now_ms());
}

int gv_ns_upload_parts(gv_store *s, const char *id, uint32_t after, size_t limit,
                       gv_ns_part **out, size_t *n, int *more)
{
	gv_object u;
	size_t ask = limit + 1 > limit ? limit + 1 : limit;
	int err;

	*out = NULL;
	*n = 0;
	if (more)
		*more = 0;
	if ((err = upload_id_check(id)) < 0 || (err = gv_index_ns_upload_get(s->ix, id, &u)) < 0)
		return err;
	gv_object_clear(&u);
	if ((err = gv_index_ns_upload_parts_next(s->ix, id, after, ask, out, n)) < 0)
		return err;
	if (*n > limit) {
		*n = limit;
		if (more)
			*more = 1;
	}
	return 0;
}

/* An ETag as a client sends it back: quotes dropped, case ignored. */
static int etag_equal(const char *recorded, const char *given)
{
	size_t n = strlen(given);

	if (n >= 2 && given[0] == '"' && given[n - 1] == '"') {
		given++;
		n -= 2;
	}
	return strlen(recorded) == n && strncasecmp(recorded, given, n) == 0;
}

static int hex_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The manifest blob: its magic line, then one part key a line. */
static int manifest_store(gv_store *s, const gv_key *keys, size_t n, gv_key *out)
{
	gv_put_opts po = GV_PUT_OPTS_INIT;
	gv_put_result res;
	gv_put *put;
	char line[GV_KEY_BUFSIZE + 1];
	size_t i;
	int err;

	if ((err = gv_put_open(&put, s, &po)) < 0)
		return err;
	err = gv_put_write(put, NS_MANIFEST_MAGIC, strlen(NS_MANIFEST_MAGIC));
	for (i = 0; i < n && err == 0; i++) {
		gv_key_format(line, &keys[i]);
		strcat(line, "\n");
		err = gv_put_write(put, line, strlen(line));
	}
	if (err < 0) {
		gv_put_abort(put);
		return err;
	}
	if ((err = gv_put_commit(put, &res)) < 0)
		return err;
	*out = res.key;
	return 0;
}

int gv_ns_upload_complete(gv_store *s, const char *id, const gv_ns_part *parts, size_t n,
                          gv_object *out)
{
	gv_ns_part *rec = NULL;
	gv_key *keys = NULL;
	uint8_t *md5s = NULL, digest[16];
	gv_object o;
	size_t nrec = 0, i, j = 0;
	uint64_t size = 0;
	int err, more = 0;

	memset(&o, 0, sizeof(o));
	if ((err = upload_id_check(id)) < 0)
		return err;
	if (n == 0 || n > NS_PARTS_MAX)
		return gv_error_set(GV_EINVAL, "a multipart upload completes with 1 to %d parts",
		                    NS_PARTS_MAX);
	if ((err = gv_index_ns_upload_get(s->ix, id, &o)) < 0)
		return err;
	if ((err = gv_ns_upload_parts(s, id, 0, NS_PARTS_MAX, &rec, &nrec, &more)) < 0)
		goto out;
	keys = calloc(n, sizeof(*keys));
	md5s = calloc(n, 16);
	if (!keys || !md5s) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t k;

		if (i > 0 && parts[i].part_no <= parts[i - 1].part_no) {
			err = gv_error_set(GV_EINVAL, "part %u: part numbers must ascend",
			                   parts[i].part_no);
			goto out;
		}
		while (j < nrec && rec[j].part_no < parts[i].part_no)
			j++;
		if (j == nrec || rec[j].part_no != parts[i].part_no ||
		    !etag_equal(rec[j].etag, parts[i].etag)) {
			err = gv_error_set(GV_EINVAL, "part %u: no such part with ETag %.48s",
			                   parts[i].part_no, parts[i].etag);
			goto out;
		}
		keys[i] = rec[j].key;
		size += rec[j].key.size;
		for (k = 0; k < 16; k++) {
			int hi = hex_value(rec[j].etag[2 * k]), lo = hi < 0 ? -1
			                                                     : hex_value(rec[j].etag[2 * k + 1]);

			if (lo < 0) {
				err = gv_error_set(GV_EINVAL, "part %u: its ETag is not an MD5",
				                   parts[i].part_no);
				goto out;
			}
			md5s[16 * i + k] = (uint8_t)(hi << 4 | lo);
		}
	}
	if ((err = gv_md5_buf(digest, md5s, 16 * n)) < 0)
		goto out;
	for (i = 0; i < 16; i++)
		snprintf(o.etag + 2 * i, 3, "%02x", digest[i]);
	snprintf(o.etag + 32, sizeof(o.etag) - 32, "-%zu", n);
	if ((err = manifest_store(s, keys, n, &o.key)) < 0)
		goto out;
	o.size = size;
	o.parts = (uint32_t)n;
	o.mtime_ms = gv_now_ms();
	if ((err = gv_index_ns_upload_complete(s->ix, id, &o, keys, n, gv_now_ms())) < 0)
		goto out;
	if (out) {
		*out = o;
		o.meta = NULL;
	}
out:
	gv_object_clear(&o);
	free(rec);
	free(keys);
	free(md5s);
	return err;
}

int gv_ns_upload_abort(gv_store *s, const char *id)
{
	int err;

	if ((err = upload_id_check(id)) < 0)
		return err;
	return gv_index_ns_upload_remove(s->ix, id, gv_now_ms());
}

int gv_ns_upload_list(gv_store *s, const char *bucket, const char *prefix, size_t limit,
                      gv_ns_upload **out, size_t *n)
{
	int err;

	if ((err = bucket_check(bucket)) < 0)
		return err;
	return gv_index_ns_uploads_next(s->ix, bucket, prefix, INT64_MAX, limit, out, n);
}

int gv_ns_upload_get(gv_store *s, const char *id, gv_ns_upload *out)
{
	gv_object u;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = upload_id_check(id)) < 0 || (err = gv_index_ns_upload_get(s->ix, id, &u)) < 0)
		return err;
	snprintf(out->id, sizeof(out->id), "%s", id);
	memcpy(out->bucket, u.bucket, sizeof(out->bucket));
	memcpy(out->name, u.name, sizeof(out->name));
	out->created_ms = u.mtime_ms;
	gv_object_clear(&u);
	return 0;
}

/* ---- raw blobs --------------------------------------------------------------- */

int gv_ns_pin(gv_store *s, const gv_key *key)
{
	return gv_index_ns_pin(s->ix, key, 1, gv_now_ms());
}

/*
 * Decide one candidate under the key's lock: the index removes its rows
 * when nothing references it and it is due (1), and the bytes of the
 * replicas it had go after.  0: kept.
 */
static int collect(gv_store *s, const gv_key *key, int64_t before_ms, int dry_run)
{
	gv_replica *reps = NULL;
	size_t n = 0;
	int err, r;

	if ((err = gv_key_lock(s, key)) < 0)
		return err;
	err = gv_index_replicas_find(s->ix, key, &reps, &n);
	if (err == GV_ENOTFOUND)
		err = 0; /* its rows are gone already: the candidate row goes */
	if (err < 0)
		goto out;
	if ((r = err = gv_index_ns_collect(s->ix, key, before_ms, dry_run)) < 0)
		goto out;
	if (r == 1 && !dry_run)
		gv_store_drop_bytes(s, key, reps, n);
out:
	gv_key_unlock(s, key);
	gv_replicas_free(reps, n);
	return err;
}

int gv_ns_blob_delete(gv_store *s, const gv_key *key, int *deleted)
{
	char kbuf[GV_KEY_BUFSIZE];
	int64_t now;
	int err;

	if (deleted)
		*deleted = 0;
	if ((err = gv_index_blob_exists(s->ix, key, NULL)) < 0)
		return err;
	if (err == 0)
		return gv_error_set(GV_ENOTFOUND, "no such blob: %s", gv_key_format(kbuf, key));
	now = gv_now_ms();
	if ((err = gv_index_ns_pin(s->ix, key, 0, now)) < 0)
		return err;
	/* A put of the same bytes after the unpin restarts the clock past
	 * `now`, so the blob it is about to name stays. */
	if ((err = collect(s, key, now, 0)) < 0)
		return err;
	if (deleted)
		*deleted = err == 1;
	return 0;
}

int gv_ns_blob_list(gv_store *s, const gv_key *after, size_t limit, gv_key **out, size_t *n,
                    int *more)
{
	size_t ask = limit + 1 > limit ? limit + 1 : limit;
	gv_key *v;
	int err;

	*out = NULL;
	*n = 0;
	if (more)
		*more = 0;
	if (limit == 0)
		return 0;
	if (!(v = calloc(ask, sizeof(*v))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = gv_index_keys_next(s->ix, after, ask, v, n)) < 0) {
		free(v);
		return err;
	}
	if (*n > limit) {
		*n = limit;
		if (more)
			*more = 1;
	}
	*out = v;
	return 0;
}

int gv_ns_forget(gv_store *s, const gv_key *key)
{
	gv_blob_status *bs = NULL;
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	gv_key_format(kbuf, key);
	if ((err = gv_key_lock(s, key)) < 0)
		return err;
	if ((err = gv_stat(&bs, s, key)) < 0)
		goto out;
	if (bs->healthy_replicas > 0) {
		err = gv_error_set(GV_EEXISTS, "%s has %d healthy replica(s): it is not lost", kbuf,
		                   bs->healthy_replicas);
		goto out;
	}
	if ((err = gv_index_ns_forget(s->ix, key, gv_now_ms())) < 0)
		goto out;
	if (gv_repairq_done(&s->repairq, s->ix, key) < 0)
		gv_errlog("event=index_error op=repair_queue key=%s error=\"%s\"", kbuf,
		          gv_error_last());
	gv_warn("event=key_forgotten key=%s replicas=%zu audit=\"accepted as lost\"", kbuf,
	        bs->nreplicas);
out:
	gv_blob_status_free(bs);
	gv_key_unlock(s, key);
	return err;
}

/* ---- garbage collection ------------------------------------------------------ */

int gv_ns_gc(gv_store *s, const gv_gc_opts *opts, gv_gc_summary *out)
{
	gv_gc_opts o = GV_GC_OPTS_INIT;
	gv_key keys[NS_GC_BATCH], after;
	gv_ns_upload *ups = NULL;
	char kbuf[GV_KEY_BUFSIZE];
	int64_t now = gv_now_ms(), before;
	size_t n, i;
	int err = 0, r, started = 0;

	if (opts)
		o = *opts;
	memset(out, 0, sizeof(*out));
	before = now - (o.grace_ms < 0 ? GV_GC_GRACE_DEFAULT_MS : o.grace_ms);

	/* Abandoned uploads first: their parts become candidates. */
	while (o.upload_expiry_ms > 0) {
		if ((err = gv_index_ns_uploads_next(s->ix, NULL, "", now - o.upload_expiry_ms,
		                                    NS_GC_BATCH, &ups, &n)) < 0)
			return err;
		for (i = 0; i < n; i++) {
			if (!o.dry_run && gv_index_ns_upload_remove(s->ix, ups[i].id, now) < 0) {
				gv_warn("event=gc_upload_expire_failed upload=%s error=\"%s\"",
				        ups[i].id, gv_error_last());
				out->failed++;
				continue;
			}
			out->uploads_expired++;
			gv_info("event=upload_expired upload=%s bucket=%s dry_run=%d", ups[i].id,
			        ups[i].bucket, o.dry_run);
		}
		free(ups);
		ups = NULL;
		if (n < NS_GC_BATCH || o.dry_run || out->failed)
			break;
	}

	for (;;) {
		size_t want = NS_GC_BATCH;

		if (o.limit && o.limit - out->candidates < want)
			want = (size_t)(o.limit - out->candidates);
		if (want == 0)
			break;
		if ((err = gv_index_ns_garbage_next(s->ix, before, started ? &after : NULL, want, keys,
		                                    &n)) < 0)
			return err;
		for (i = 0; i < n; i++) {
			out->candidates++;
			r = collect(s, &keys[i], before, o.dry_run);
			if (r < 0) {
				gv_warn("event=gc_failed key=%s error=\"%s\"",
				        gv_key_format(kbuf, &keys[i]), gv_error_last());
				out->failed++;
			} else if (r == 1) {
				out->collected++;
				out->bytes += keys[i].size;
				gv_info("event=gc_collected key=%s dry_run=%d",
				        gv_key_format(kbuf, &keys[i]), o.dry_run);
			} else {
				out->referenced++;
			}
		}
		if (n < want)
			break;
		after = keys[n - 1];
		started = 1;
	}
	return 0;
}

void gv_ns_gc_daemon(gv_store *s, const gv_gc_opts *opts, uint64_t interval_ms, atomic_int *stop)
{
	while (!*stop) {
		gv_gc_summary sum;

		if (gv_ns_gc(s, opts, &sum) == 0)
			gv_log(sum.collected || sum.uploads_expired || sum.failed ? GV_LOG_INFO
			                                                          : GV_LOG_DEBUG,
			       "event=gc candidates=%llu collected=%llu bytes=%llu referenced=%llu "
			       "uploads_expired=%llu failed=%llu",
			       (unsigned long long)sum.candidates, (unsigned long long)sum.collected,
			       (unsigned long long)sum.bytes, (unsigned long long)sum.referenced,
			       (unsigned long long)sum.uploads_expired, (unsigned long long)sum.failed);
		else
			gv_errlog("event=gc result=failed error=\"%s\"", gv_error_last());
		gv_pause_ms(interval_ms, stop);
	}
}
