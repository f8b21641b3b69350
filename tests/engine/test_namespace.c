/*
 * test_namespace.c - buckets, names, multipart manifests, references and
 * garbage collection (src/engine/namespace.c over the SQLite index).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/namespace.h"
#include "core/digest.h"
#include "engine/store.h"
#include "index/fault.h"

#define MiB (1024u * 1024u)

typedef struct fx {
	char dir[128];
	gv_store *st;
} fx;

static void add_mem(gv_store *st, const char *id)
{
	gv_sector_info si;

	memset(&si, 0, sizeof(si));
	snprintf(si.id, sizeof(si.id), "%s", id);
	snprintf(si.kind, sizeof(si.kind), "mem");
	snprintf(si.rack, sizeof(si.rack), "r-%s", id);
	snprintf(si.zone, sizeof(si.zone), "z1");
	si.capacity = 256 * MiB;
	assert_int_equal(gv_store_sector_add(st, &si, GV_SECTOR_ADD_CREATE), 0);
}

static int setup(void **state)
{
	gv_store_opts o = GV_STORE_OPTS_INIT;
	fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gv-ns-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	o.data_dir = f->dir;
	o.create = 1;
	o.placement_set = 1;
	o.placement = (gv_placement_opts)GV_PLACEMENT_OPTS_INIT;
	o.placement.strategy = GV_STRATEGY_SIMPLE;
	o.placement.factor = 2;
	o.placement.min_replicas = 2;
	if (gv_store_open(&f->st, &o) < 0)
		return -1;
	add_mem(f->st, "a");
	add_mem(f->st, "b");
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	fx *f = *state;

	gv_store_free(f->st);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Deterministic bytes: seed picks the stream. */
static unsigned char *bytes(size_t n, uint64_t seed)
{
	unsigned char *b = malloc(n ? n : 1);
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t i;

	assert_non_null(b);
	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (unsigned char)(x >> 24);
	}
	return b;
}

static gv_key put_bytes(gv_store *st, const void *b, size_t n)
{
	gv_put_result res;
	gv_put *put = NULL;

	assert_int_equal(gv_put_open(&put, st, NULL), 0);
	assert_int_equal(gv_put_write(put, b, n), 0);
	assert_int_equal(gv_put_commit(put, &res), 0);
	return res.key;
}

static void md5_hex(char out[33], const void *b, size_t n)
{
	uint8_t d[16];
	int i;

	assert_int_equal(gv_md5_buf(d, b, n), 0);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Bind bucket/name to bytes b[0..n). */
static gv_key name_bytes(gv_store *st, const char *bucket, const char *name, const void *b, size_t n)
{
	gv_object o;

	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "%s", bucket);
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.key = put_bytes(st, b, n);
	o.size = n;
	md5_hex(o.etag, b, n);
	snprintf(o.content_type, sizeof(o.content_type), "application/octet-stream");
	o.meta = "{\"color\":\"blue\"}";
	assert_int_equal(gv_ns_object_put(st, &o), 0);
	return o.key;
}

/* Read o (or its range) whole and compare with want[0..n). */
static void read_equals(gv_store *st, const gv_object *o, int has_range, uint64_t start,
                        uint64_t end, const unsigned char *want, size_t n)
{
	gv_ns_reader *r = NULL;
	unsigned char *got = malloc(n + 1);
	size_t have = 0;
	ssize_t k;

	assert_non_null(got);
	assert_int_equal(gv_ns_open(&r, st, o, has_range, start, end), 0);
	while ((k = gv_ns_read(r, got + have, 7777)) > 0)
		have += (size_t)k;
	assert_int_equal(k, 0);
	gv_ns_close(r);
	assert_int_equal(have, n);
	assert_memory_equal(got, want, n);
	free(got);
}

static int blob_stored(gv_store *st, const gv_key *k)
{
	gv_get *g = NULL;
	int err = gv_get_open(&g, st, k, NULL);

	if (err == 0)
		gv_get_close(g);
	return err == 0;
}

static void test_buckets(void **state)
{
	fx *f = *state;
	gv_bucket_info *v = NULL, b;
	size_t n = 0;
	unsigned char *x = bytes(100, 1);

	assert_int_equal(gv_ns_bucket_create(f->st, "Bad_Name"), GV_EINVAL);
	assert_int_equal(gv_ns_bucket_create(f->st, "ab"), GV_EINVAL);
	assert_int_equal(gv_ns_bucket_create(f->st, "192.168.1.1"), GV_EINVAL);
	assert_int_equal(gv_ns_bucket_create(f->st, "photos"), 0);
	assert_int_equal(gv_ns_bucket_create(f->st, "photos"), GV_EEXISTS);
	assert_int_equal(gv_ns_bucket_create(f->st, "alpha.1"), 0);
	assert_int_equal(gv_ns_bucket_list(f->st, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "alpha.1");
	assert_string_equal(v[1].name, "photos");
	free(v);
	assert_int_equal(gv_ns_bucket_get(f->st, "photos", &b), 0);
	assert_true(b.created_ms > 0);
	assert_int_equal(gv_ns_bucket_get(f->st, "nothere", &b), GV_ENOTFOUND);
	name_bytes(f->st, "photos", "a.jpg", x, 100);
	assert_int_equal(gv_ns_bucket_delete(f->st, "photos"), GV_ENOTEMPTY);
	assert_int_equal(gv_ns_object_delete(f->st, "photos", "a.jpg"), 0);
	assert_int_equal(gv_ns_bucket_delete(f->st, "photos"), 0);
	assert_int_equal(gv_ns_bucket_delete(f->st, "photos"), GV_ENOTFOUND);
	free(x);
}

static void test_objects_and_listing(void **state)
{
	fx *f = *state;
	gv_object o, *v = NULL;
	size_t n = 0;
	int more = 0;
	unsigned char *x = bytes(5000, 2);
	const char *names[] = { "a/1", "a/2", "a/3", "b", "a0" };
	size_t i;

	assert_int_equal(gv_ns_bucket_create(f->st, "docs"), 0);
	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "nobucket");
	snprintf(o.name, sizeof(o.name), "x");
	o.key = put_bytes(f->st, x, 10);
	o.size = 10;
	assert_int_equal(gv_ns_object_put(f->st, &o), GV_ENOTFOUND); /* no such bucket */
	snprintf(o.bucket, sizeof(o.bucket), "docs");
	snprintf(o.name, sizeof(o.name), "bad\001name");
	assert_int_equal(gv_ns_object_put(f->st, &o), GV_EINVAL);
	for (i = 0; i < 5; i++)
		name_bytes(f->st, "docs", names[i], x, 100 * (i + 1));

	assert_int_equal(gv_ns_object_get(f->st, "docs", "a/2", &o), 0);
	assert_int_equal(o.size, 200);
	assert_string_equal(o.meta, "{\"color\":\"blue\"}");
	read_equals(f->st, &o, 0, 0, 0, x, 200);
	read_equals(f->st, &o, 1, 50, 120, x + 50, 70);
	gv_object_clear(&o);

	/* prefix "a/", two at a time */
	assert_int_equal(gv_ns_object_list(f->st, "docs", "a/", NULL, 2, &v, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(v[0].name, "a/1");
	assert_string_equal(v[1].name, "a/2");
	gv_object_list_free(v, n);
	assert_int_equal(gv_ns_object_list(f->st, "docs", "a/", "a/2", 2, &v, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].name, "a/3");
	gv_object_list_free(v, n);
	assert_int_equal(gv_ns_object_list(f->st, "docs", "", NULL, 100, &v, &n, &more), 0);
	assert_int_equal(n, 5);
	assert_string_equal(v[3].name, "a0"); /* byte order: '/' < '0' */
	assert_string_equal(v[4].name, "b");
	gv_object_list_free(v, n);
	assert_int_equal(gv_ns_object_list(f->st, "nobucket", "", NULL, 0, &v, &n, &more),
	                 GV_ENOTFOUND);

	/* with a delimiter: a/ is one common prefix, skipped as a whole */
	{
		char **pv = NULL, last[GV_OBJECT_NAME_MAX + 1];
		size_t np = 0;

		assert_int_equal(gv_ns_object_list_delim(f->st, "docs", "", "/", NULL, 2, &v, &n, &pv,
		                                         &np, &more, last), 0);
		assert_int_equal(np, 1);
		assert_string_equal(pv[0], "a/");
		assert_int_equal(n, 1);
		assert_string_equal(v[0].name, "a0");
		assert_true(more);
		assert_string_equal(last, "a0");
		gv_object_list_free(v, n);
		gv_ns_prefixes_free(pv, np);
		assert_int_equal(gv_ns_object_list_delim(f->st, "docs", "", "/", "a/", 10, &v, &n, &pv,
		                                         &np, &more, last), 0);
		assert_int_equal(np, 0);
		assert_int_equal(n, 2); /* a0, b: past the whole group a/ */
		assert_string_equal(v[0].name, "a0");
		assert_false(more);
		gv_object_list_free(v, n);
		gv_ns_prefixes_free(pv, np);
		assert_int_equal(gv_ns_object_list_delim(f->st, "docs", "", "/", NULL, 3, &v, &n, &pv,
		                                         &np, &more, last), 0);
		assert_int_equal(np + n, 3);
		assert_false(more); /* exactly the last entry */
		gv_object_list_free(v, n);
		gv_ns_prefixes_free(pv, np);
		assert_int_equal(gv_ns_object_list_delim(f->st, "docs", "a/", "/", NULL, 10, &v, &n, &pv,
		                                         &np, &more, last), 0);
		assert_int_equal(np, 0);
		assert_int_equal(n, 3);
		gv_object_list_free(v, n);
		gv_ns_prefixes_free(pv, np);
		assert_int_equal(gv_ns_object_list_delim(f->st, "nobucket", "", "/", NULL, 10, &v, &n,
		                                         &pv, &np, &more, last), GV_ENOTFOUND);
	}

	/* copy: a new name for the same blob, with its own metadata */
	assert_int_equal(gv_ns_object_copy(f->st, "docs", "a/3", "docs", "c", "text/plain", NULL, &o),
	                 0);
	assert_string_equal(o.content_type, "text/plain");
	assert_string_equal(o.meta, "{\"color\":\"blue\"}");
	gv_object_clear(&o);
	assert_int_equal(gv_ns_object_get(f->st, "docs", "c", &o), 0);
	read_equals(f->st, &o, 0, 0, 0, x, 300);
	gv_object_clear(&o);
	assert_int_equal(gv_ns_object_copy(f->st, "docs", "nope", "docs", "d", NULL, NULL, NULL),
	                 GV_ENOTFOUND);
	free(x);
}

/* The same bytes under several names are one blob; it goes only with the
 * last name, after the grace, every replica. */
static void test_dedupe_and_gc(void **state)
{
	fx *f = *state;
	gv_gc_opts go = GV_GC_OPTS_INIT;
	gv_gc_summary sum;
	gv_blob_status *bs = NULL;
	unsigned char *x = bytes(3 * MiB + 5, 3);
	char name[16];
	gv_key k = { { 0 }, 0 };
	int i;

	assert_int_equal(gv_ns_bucket_create(f->st, "dedupe"), 0);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "copy-%d", i);
		k = name_bytes(f->st, "dedupe", name, x, 3 * MiB + 5);
	}
	assert_int_equal(gv_stat(&bs, f->st, &k), 0);
	assert_int_equal(bs->nreplicas, 2);
	gv_blob_status_free(bs);
	for (i = 0; i < 9; i++) {
		snprintf(name, sizeof(name), "copy-%d", i);
		assert_int_equal(gv_ns_object_delete(f->st, "dedupe", name), 0);
	}
	go.grace_ms = 0;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 0);
	assert_true(blob_stored(f->st, &k));

	assert_int_equal(gv_ns_object_delete(f->st, "dedupe", "copy-9"), 0);
	/* within the grace: kept */
	go.grace_ms = 3600 * 1000;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 0);
	assert_true(blob_stored(f->st, &k));
	/* a dry run changes nothing */
	go.grace_ms = 0;
	go.dry_run = 1;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 1);
	assert_true(blob_stored(f->st, &k));
	go.dry_run = 0;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 1);
	assert_int_equal(sum.bytes, 3 * MiB + 5);
	assert_false(blob_stored(f->st, &k));
	assert_int_equal(gv_stat(&bs, f->st, &k), GV_ENOTFOUND);
	free(x);
}

/* A put's intent keeps its blob through the grace; binding after the
 * collector took it fails instead of naming nothing. */
static void test_put_intent(void **state)
{
	fx *f = *state;
	gv_gc_opts go = GV_GC_OPTS_INIT;
	gv_gc_summary sum;
	gv_object o;
	unsigned char *x = bytes(1000, 4);

	assert_int_equal(gv_ns_bucket_create(f->st, "intent"), 0);
	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "intent");
	snprintf(o.name, sizeof(o.name), "late");
	o.key = put_bytes(f->st, x, 1000);
	o.size = 1000;
	go.grace_ms = 3600 * 1000;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 0);
	assert_true(blob_stored(f->st, &o.key));
	/* never bound, past the grace: garbage */
	go.grace_ms = 0;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 1);
	assert_int_equal(gv_ns_object_put(f->st, &o), GV_ENOTFOUND);
	assert_int_equal(gv_ns_object_get(f->st, "intent", "late", &o), GV_ENOTFOUND);
	/* the same bytes put again: stored again, bound */
	o.key = put_bytes(f->st, x, 1000);
	assert_int_equal(gv_ns_object_put(f->st, &o), 0);
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 0);
	assert_true(blob_stored(f->st, &o.key));

	/* A put that finds the blob already there, unreferenced and due: its
	 * intent restarts the clock, so a collection before the bind keeps it. */
	/* (the name removed long ago: the index op takes the time) */
	assert_int_equal(gv_index_ns_object_remove(f->st->ix, "intent", "late", 1000), 0);
	o.key = put_bytes(f->st, x, 1000);
	go.grace_ms = 3600 * 1000;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 0);
	assert_true(blob_stored(f->st, &o.key));
	assert_int_equal(gv_ns_object_put(f->st, &o), 0);
	free(x);
}

static void test_multipart(void **state)
{
	fx *f = *state;
	gv_gc_opts go = GV_GC_OPTS_INIT;
	gv_gc_summary sum;
	enum { P = 1 * MiB + 17 };
	unsigned char *x = bytes(3 * P, 5);
	char id[GV_UPLOAD_ID_MAX], id2[GV_UPLOAD_ID_MAX], etag[33];
	gv_ns_part want[3], *got = NULL;
	gv_ns_upload *ups = NULL;
	gv_key keys[3] = { { { 0 }, 0 } };
	gv_object o, o2;
	size_t n = 0;
	int i, more = 0;

	assert_int_equal(gv_ns_bucket_create(f->st, "multi"), 0);
	assert_int_equal(gv_ns_upload_create(f->st, "multi", "big", "video/mp4", "{\"a\":\"1\"}", id),
	                 0);
	assert_int_equal(gv_ns_upload_part(f->st, "ffff", 1, &keys[0], NULL), GV_ENOTFOUND);
	for (i = 0; i < 3; i++) {
		keys[i] = put_bytes(f->st, x + (size_t)i * P, P);
		md5_hex(etag, x + (size_t)i * P, P);
		assert_int_equal(gv_ns_upload_part(f->st, id, (uint32_t)(i + 1), &keys[i], etag), 0);
		memset(&want[i], 0, sizeof(want[i]));
		want[i].part_no = (uint32_t)(i + 1);
		snprintf(want[i].etag, sizeof(want[i].etag), "\"%s\"", etag);
	}
	assert_int_equal(gv_ns_upload_parts(f->st, id, 1, 10, &got, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].part_no, 2);
	free(got);
	assert_int_equal(gv_ns_upload_list(f->st, "multi", "", 10, &ups, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ups[0].id, id);
	free(ups);

	/* a wrong ETag names the part and changes nothing */
	want[1].etag[3] ^= 1;
	assert_int_equal(gv_ns_upload_complete(f->st, id, want, 3, &o), GV_EINVAL);
	want[1].etag[3] ^= 1;
	assert_int_equal(gv_ns_upload_complete(f->st, id, want, 3, &o), 0);
	assert_int_equal(o.parts, 3);
	assert_int_equal(o.size, 3 * P);
	assert_int_equal(strlen(o.etag), 34);
	assert_string_equal(o.etag + 32, "-3");
	gv_object_clear(&o);
	assert_int_equal(gv_ns_upload_abort(f->st, id), GV_ENOTFOUND); /* completed */
	assert_int_equal(gv_ns_object_get(f->st, "multi", "big", &o), 0);
	assert_string_equal(o.content_type, "video/mp4");
	read_equals(f->st, &o, 0, 0, 0, x, 3 * P);
	read_equals(f->st, &o, 1, P - 10, 2 * P + 10, x + P - 10, P + 20); /* across parts */
	read_equals(f->st, &o, 1, 5, 5, x, 0);

	/* A second object sharing part 1 only: its other part is new.  The
	 * shared part is stored once. */
	assert_int_equal(gv_ns_upload_create(f->st, "multi", "small", NULL, NULL, id2), 0);
	md5_hex(etag, x, P);
	assert_int_equal(gv_ns_upload_part(f->st, id2, 1, &keys[0], etag), 0);
	assert_int_equal(gv_ns_upload_complete(f->st, id2, want, 1, &o2), 0);
	gv_object_clear(&o2);

	/* Deleting the first: the manifest goes, then its parts, but the
	 * shared one stays. */
	assert_int_equal(gv_ns_object_delete(f->st, "multi", "big"), 0);
	go.grace_ms = 0;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0); /* parts made candidates by the first */
	assert_false(blob_stored(f->st, &o.key));
	assert_true(blob_stored(f->st, &keys[0]));
	assert_false(blob_stored(f->st, &keys[1]));
	assert_false(blob_stored(f->st, &keys[2]));
	assert_int_equal(gv_ns_object_get(f->st, "multi", "small", &o2), 0);
	read_equals(f->st, &o2, 0, 0, 0, x, P);
	gv_object_clear(&o2);
	gv_object_clear(&o);
	free(x);
}

static void test_upload_expiry(void **state)
{
	fx *f = *state;
	gv_gc_opts go = GV_GC_OPTS_INIT;
	gv_gc_summary sum;
	unsigned char *x = bytes(4096, 6);
	char id[GV_UPLOAD_ID_MAX];
	gv_key k;

	assert_int_equal(gv_ns_bucket_create(f->st, "expire"), 0);
	assert_int_equal(gv_ns_upload_create(f->st, "expire", "abandoned", NULL, NULL, id), 0);
	k = put_bytes(f->st, x, 4096);
	assert_int_equal(gv_ns_upload_part(f->st, id, 1, &k, "0123456789abcdef0123456789abcdef"), 0);
	go.grace_ms = 0;
	go.upload_expiry_ms = 3600 * 1000;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.uploads_expired, 0);
	assert_true(blob_stored(f->st, &k)); /* the upload's part references it */
	assert_int_equal(gv_ns_bucket_delete(f->st, "expire"), GV_ENOTEMPTY);
	go.upload_expiry_ms = 1;
	{
		struct timespec ts = { 0, 5 * 1000000L };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.uploads_expired, 1);
	assert_int_equal(sum.collected, 1);
	assert_false(blob_stored(f->st, &k));
	assert_int_equal(gv_ns_bucket_delete(f->st, "expire"), 0);
	free(x);
}

static void test_pins_and_listing(void **state)
{
	fx *f = *state;
	unsigned char *x = bytes(2000, 7);
	gv_key a, b, *v = NULL;
	size_t n = 0;
	int more = 0, deleted = -1;

	a = put_bytes(f->st, x, 1000);
	b = put_bytes(f->st, x + 1000, 1000);
	assert_int_equal(gv_ns_pin(f->st, &a), 0);
	assert_int_equal(gv_ns_pin(f->st, &b), 0);
	assert_int_equal(gv_ns_blob_list(f->st, NULL, 1, &v, &n, &more), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	{
		gv_key first = v[0];

		free(v);
		assert_int_equal(gv_ns_blob_list(f->st, &first, 5, &v, &n, &more), 0);
		assert_int_equal(n, 1);
		assert_false(more);
		assert_int_not_equal(gv_key_cmp(&first, &v[0]), 0);
	}
	free(v);
	assert_int_equal(gv_ns_blob_list(f->st, NULL, 5, &v, &n, &more), 0);
	assert_int_equal(n, 2);
	assert_false(more);
	free(v);

	/* a pinned blob also named stays when the pin goes */
	assert_int_equal(gv_ns_bucket_create(f->st, "pins"), 0);
	{
		gv_object o;

		memset(&o, 0, sizeof(o));
		snprintf(o.bucket, sizeof(o.bucket), "pins");
		snprintf(o.name, sizeof(o.name), "n");
		o.key = a;
		o.size = 1000;
		assert_int_equal(gv_ns_object_put(f->st, &o), 0);
	}
	assert_int_equal(gv_ns_blob_delete(f->st, &a, &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_true(blob_stored(f->st, &a));
	assert_int_equal(gv_ns_blob_delete(f->st, &b, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_false(blob_stored(f->st, &b));
	assert_int_equal(gv_ns_blob_delete(f->st, &b, &deleted), GV_ENOTFOUND);
	free(x);
}

static void test_forget(void **state)
{
	fx *f = *state;
	unsigned char *x = bytes(1000, 8);
	gv_blob_status *bs = NULL;
	gv_key k = put_bytes(f->st, x, 1000);

	assert_int_equal(gv_ns_forget(f->st, &k), GV_EEXISTS); /* healthy: not lost */
	assert_int_equal(gv_store_sector_set_health(f->st, "a", 0), 0);
	assert_int_equal(gv_store_sector_set_health(f->st, "b", 0), 0);
	assert_int_equal(gv_ns_forget(f->st, &k), 0);
	assert_int_equal(gv_stat(&bs, f->st, &k), GV_ENOTFOUND);
	assert_int_equal(gv_ns_forget(f->st, &k), GV_ENOTFOUND);
	free(x);
}

/* gv_ns_upload_get: an upload's bucket and name, NOTFOUND once it ends. */
static void test_upload_get(void **state)
{
	fx *f = *state;
	char id[GV_UPLOAD_ID_MAX];
	gv_ns_upload u;

	assert_int_equal(gv_ns_bucket_create(f->st, "ups"), 0);
	assert_int_equal(gv_ns_upload_create(f->st, "ups", "a/b", "text/plain", NULL, id), 0);
	assert_int_equal(gv_ns_upload_get(f->st, id, &u), 0);
	assert_string_equal(u.id, id);
	assert_string_equal(u.bucket, "ups");
	assert_string_equal(u.name, "a/b");
	assert_true(u.created_ms > 0);
	assert_int_equal(gv_ns_upload_get(f->st, "0123abcd", &u), GV_ENOTFOUND);
	assert_int_equal(gv_ns_upload_get(f->st, "../x", &u), GV_ENOTFOUND);
	assert_int_equal(gv_ns_upload_abort(f->st, id), 0);
	assert_int_equal(gv_ns_upload_get(f->st, id, &u), GV_ENOTFOUND);
}

/* A collection whose index transaction fails deletes nothing (the bytes
 * only go after the rows), and the next run takes the blob; a failed bind
 * leaves no name. */
static void test_gc_index_faults(void **state)
{
	fx *f = *state;
	gv_gc_opts go = GV_GC_OPTS_INIT;
	gv_gc_summary sum;
	gv_index_fault_plan p;
	gv_index *fi = NULL;
	gv_object o;
	unsigned char *x = bytes(2 * MiB, 9);
	gv_key k;

	assert_int_equal(gv_ns_bucket_create(f->st, "faults"), 0);
	k = name_bytes(f->st, "faults", "f", x, 2 * MiB);
	assert_int_equal(gv_index_fault_wrap(&fi, f->st->ix, NULL), 0);
	f->st->ix = fi;
	assert_int_equal(gv_ns_object_delete(f->st, "faults", "f"), 0);
	memset(&p, 0, sizeof(p));
	p.ops = GV_IXFAULT_NS_COLLECT;
	p.error = GV_EIO;
	gv_index_fault_set(fi, &p);
	go.grace_ms = 0;
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.failed, 1);
	assert_int_equal(sum.collected, 0);
	assert_true(blob_stored(f->st, &k));
	gv_index_fault_set(fi, NULL);
	assert_int_equal(gv_ns_gc(f->st, &go, &sum), 0);
	assert_int_equal(sum.collected, 1);
	assert_false(blob_stored(f->st, &k));

	/* a bind that fails records nothing */
	p.ops = GV_IXFAULT_NS_WRITE;
	gv_index_fault_set(fi, &p);
	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "faults");
	snprintf(o.name, sizeof(o.name), "g");
	gv_index_fault_set(fi, NULL);
	o.key = put_bytes(f->st, x, 1000);
	o.size = 1000;
	gv_index_fault_set(fi, &p);
	assert_int_equal(gv_ns_object_put(f->st, &o), GV_EIO);
	gv_index_fault_set(fi, NULL);
	assert_int_equal(gv_ns_object_get(f->st, "faults", "g", &o), GV_ENOTFOUND);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_objects_and_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dedupe_and_gc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_intent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins_and_listing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_index_faults, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
