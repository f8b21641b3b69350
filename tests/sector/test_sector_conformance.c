/*
 * test_sector_conformance.c - the sector port's contract, run against every
 * backend.  Each backend is a small factory (open a fresh sector, reopen
 * the same storage, destroy, count leftovers); the test functions are the
 * same for all of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <ftw.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graviton/sys/sector.h"
#include "core/digest.h"

#define MiB (1024u * 1024u)

struct fixture;

typedef struct backend {
	const char *name;
	/* open a fresh, empty sector into fx->s */
	int (*open)(struct fixture *fx, uint64_t capacity);
	/* close fx->s and open the same storage again (state that must
	 * survive a restart survives this) */
	int (*reopen)(struct fixture *fx);
	/* close fx->s and remove its storage */
	void (*destroy)(struct fixture *fx);
	/* files left behind by unfinished writes (-1: not applicable) */
	int (*leftovers)(struct fixture *fx);
	/* commit checks the bytes against the key (GV_ECORRUPT) instead of
	 * storing whatever it is given */
	int checks_digests;
	/* bytes of an open writer stay with the writer until commit, so they
	 * do not count against the sector's capacity yet */
	int holds_unsent;
	/* no writing into a committed blob (the patch ops): repair then
	 * copies whole blobs to it */
	int no_patch;
	/* a resumable writer keeps nothing once closed: it opens at offset
	 * 0 (the copy path then trusts what the index recorded only up to
	 * that), and two of one key do not exclude each other */
	int no_partials;
	/* capacity is a quota the engine keeps from the index: usage says
	 * used 0 and the backend refuses nothing for room */
	int quota_by_engine;
	/* the storage behind it (the S3 test server) rewrites an object in
	 * place: a read during a replacement of the same key may see part of
	 * it, so reads do not overlap replacements */
	int overwrite_in_place;
} backend;

typedef struct fixture {
	const backend *be;
	char base[512];        /* per-group scratch directory */
	char root[600];        /* per-test sector root */
	unsigned seq;
	uint64_t capacity;
	gv_sector *s;
} fixture;

/* ---- data helpers -------------------------------------------------------- */

static void fill(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static unsigned char *make(size_t len, uint64_t seed, gv_key *key)
{
	unsigned char *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	fill(buf, len, seed);
	assert_int_equal(gv_key_of_buf(key, buf, len), 0);
	return buf;
}

static unsigned char *put(gv_sector *s, size_t len, uint64_t seed, gv_key *key)
{
	unsigned char *buf = make(len, seed, key);

	assert_int_equal(gv_sector_put_buf(s, key, buf, len), 0);
	return buf;
}

/* Read [off, off+len) (len may be UINT64_MAX) in chunks of `chunk`. */
static size_t read_range(gv_sector *s, const gv_key *key, uint64_t off, uint64_t len,
                         unsigned char *out, size_t out_cap, size_t chunk)
{
	gv_sector_reader *r;
	size_t got = 0;
	uint64_t expect_total;
	ssize_t n;

	if (gv_sector_reader_open(&r, s, key, off, len) < 0)
		fail_msg("open %" PRIu64 "+%" PRIu64 ": %s", off, len, gv_error_last());
	expect_total = r->remaining;
	assert_true(expect_total <= out_cap);
	for (;;) {
		size_t want = chunk;

		if (want > out_cap - got)
			want = out_cap - got;
		n = gv_sector_reader_read(r, out + got, want);
		if (n < 0)
			fail_msg("read %" PRIu64 "+%" PRIu64 " at %zu: %s", off, len, got, gv_error_last());
		if (n == 0)
			break;
		got += (size_t)n;
		assert_int_equal(r->remaining, expect_total - got);
		if (got == out_cap)
			break;
	}
	assert_int_equal(gv_sector_reader_read(r, out, 1), 0);
	assert_int_equal(got, expect_total);
	gv_sector_reader_close(r);
	return got;
}

static void assert_whole(gv_sector *s, const gv_key *key, const unsigned char *data)
{
	size_t len = (size_t)key->size;
	unsigned char *out = malloc(len ? len : 1);
	uint64_t size = 12345;

	assert_non_null(out);
	assert_int_equal(gv_sector_stat(s, key, &size), 0);
	assert_int_equal(size, key->size);
	assert_int_equal(read_range(s, key, 0, UINT64_MAX, out, len, 65536), len);
	assert_memory_equal(out, data, len);
	free(out);
}

static void assert_absent(gv_sector *s, const gv_key *key)
{
	gv_sector_reader *r = (gv_sector_reader *)1;
	uint64_t size;

	assert_int_equal(gv_sector_stat(s, key, &size), GV_ENOTFOUND);
	assert_int_equal(gv_sector_reader_open(&r, s, key, 0, UINT64_MAX), GV_ENOTFOUND);
	assert_null(r);
}

struct seen {
	gv_key keys[256];
	uint64_t bytes[256];
	size_t n;
	int stop_after; /* return 7 after this many calls; 0 = never */
};

static int collect(const gv_key *key, uint64_t bytes, void *payload)
{
	struct seen *sn = payload;

	assert_true(sn->n < 256);
	sn->keys[sn->n] = *key;
	sn->bytes[sn->n] = bytes;
	sn->n++;
	if (sn->stop_after && (int)sn->n >= sn->stop_after)
		return 7;
	return 0;
}

static int seen_find(const struct seen *sn, const gv_key *key)
{
	size_t i;
	int found = -1;

	for (i = 0; i < sn->n; i++) {
		if (gv_key_cmp(&sn->keys[i], key) == 0) {
			assert_int_equal(found, -1); /* listed once */
			found = (int)i;
		}
	}
	return found;
}

static size_t count_blobs(gv_sector *s)
{
	struct seen *sn = calloc(1, sizeof(*sn));
	size_t n;

	assert_non_null(sn);
	assert_int_equal(gv_sector_list(s, collect, sn), 0);
	n = sn->n;
	free(sn);
	return n;
}

static uint64_t used_of(gv_sector *s)
{
	gv_sector_usage u;

	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	return u.used;
}

/* The backend's own count of committed bytes, where it keeps one. */
static void assert_used(fixture *fx, uint64_t want)
{
	uint64_t used = used_of(fx->s);

	if (!fx->be->quota_by_engine)
		assert_int_equal(used, want);
}

static void assert_no_leftovers(fixture *fx)
{
	int n = fx->be->leftovers(fx);

	assert_true(n <= 0);
}

/* ---- backends ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fs_be_open(fixture *fx, uint64_t capacity)
{
	gv_sector_identity ident;

	memset(&ident, 0, sizeof(ident));
	snprintf(ident.id, sizeof(ident.id), "fs-%u", fx->seq);
	snprintf(ident.rack, sizeof(ident.rack), "rack-1");
	snprintf(ident.zone, sizeof(ident.zone), "zone-a");
	ident.capacity = capacity;
	snprintf(fx->root, sizeof(fx->root), "%s/s%u", fx->base, fx->seq++);
	fx->capacity = capacity;
	return gv_sector_fs_open(&fx->s, fx->root, &ident, GV_FS_CREATE);
}

static int fs_be_reopen(fixture *fx)
{
	gv_sector_identity ident;

	gv_sector_close(fx->s);
	fx->s = NULL;
	assert_int_equal(gv_sector_fs_read_identity(&ident, fx->root), 0);
	return gv_sector_fs_open(&fx->s, fx->root, &ident, 0);
}

static void fs_be_destroy(fixture *fx)
{
	gv_sector_close(fx->s);
	fx->s = NULL;
	rm_rf(fx->root);
}

static int fs_be_leftovers(fixture *fx)
{
	char path[PATH_MAX + 16];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/tmp", fx->root);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int mem_be_open(fixture *fx, uint64_t capacity)
{
	char id[32];

	snprintf(id, sizeof(id), "mem-%u", fx->seq++);
	fx->capacity = capacity;
	return gv_sector_mem_open(&fx->s, id, capacity);
}

static int mem_be_reopen(fixture *fx)
{
	(void)fx;
	return 0; /* memory does not survive a close; the handle stays */
}

static void mem_be_destroy(fixture *fx)
{
	gv_sector_close(fx->s);
	fx->s = NULL;
}

static int mem_be_leftovers(fixture *fx)
{
	(void)fx;
	return -1;
}

/* The fault wrapper with no plan must be indistinguishable from its inner. */
static int fault_be_open(fixture *fx, uint64_t capacity)
{
	gv_sector *inner;
	int rc = mem_be_open(fx, capacity);

	if (rc < 0)
		return rc;
	inner = fx->s;
	rc = gv_sector_fault_wrap(&fx->s, inner, NULL);
	if (rc < 0)
		gv_sector_close(inner);
	return rc;
}

/*
 * remote: a sector another node lends over the sector protocol.  Runs when
 * GV_TEST_NODE_URL names a node (tests/e2e/test_node_conformance.sh starts
 * one) with GV_TEST_NODE_TOKEN, an empty sector GV_TEST_NODE_SECTOR and an
 * empty sector of capacity 10000 GV_TEST_NODE_CAP_SECTOR.  A fresh sector
 * is the same remote one emptied by destroy.
 */
static int remote_be_open(fixture *fx, uint64_t capacity)
{
	gv_sector_remote_opts o = GV_SECTOR_REMOTE_OPTS_INIT;
	char loc[512];
	const char *sid = getenv(capacity ? "GV_TEST_NODE_CAP_SECTOR" : "GV_TEST_NODE_SECTOR");

	assert_true(capacity == 0 || capacity == 10000);
	o.token = getenv("GV_TEST_NODE_TOKEN");
	o.connect_timeout_ms = 2000;
	o.request_timeout_ms = 30000;
	assert_int_equal(gv_sector_remote_configure(&o), 0);
	assert_int_equal(gv_sector_remote_locator(loc, sizeof(loc), getenv("GV_TEST_NODE_URL"),
	                                          sid ? sid : ""), 0);
	snprintf(fx->root, sizeof(fx->root), "%s", loc);
	fx->capacity = capacity;
	fx->seq++;
	return gv_sector_remote_open(&fx->s, "remote-1", fx->root);
}

static int remote_be_reopen(fixture *fx)
{
	gv_sector_close(fx->s);
	fx->s = NULL;
	return gv_sector_remote_open(&fx->s, "remote-1", fx->root);
}

static int del_each(const gv_key *key, uint64_t bytes, void *payload)
{
	(void)bytes;
	return gv_sector_del(payload, key) < 0;
}

static void remote_be_destroy(fixture *fx)
{
	assert_int_equal(gv_sector_list(fx->s, del_each, fx->s), 0);
	gv_sector_close(fx->s);
	fx->s = NULL;
}

/* The node's temporary files of writers that are gone. */
static int remote_be_leftovers(fixture *fx)
{
	uint64_t files = 0, bytes = 0;

	assert_int_equal(gv_sector_sweep(fx->s, 1, &files, &bytes), 0);
	return (int)files;
}

static const backend remote_backend = {
	"remote", remote_be_open, remote_be_reopen, remote_be_destroy, remote_be_leftovers,
	1, 1, 1,
};

/*
 * s3: a bucket of an S3-compatible server.  Runs when GV_TEST_S3_ENDPOINT
 * names one (tests/s3_run.sh starts it) with bucket GV_TEST_S3_BUCKET and
 * credentials in AWS_*.  A fresh sector is a new prefix in the bucket.
 */
static int s3_be_open(fixture *fx, uint64_t capacity)
{
	gv_sector_s3_opts o = GV_SECTOR_S3_OPTS_INIT;
	gv_sector_identity ident;
	char url[256];

	o.multipart_threshold = 6 * MiB; /* small blobs of the suite go in parts too */
	o.part_size = 5 * MiB;
	o.backoff_ms = 20;
	assert_int_equal(gv_sector_s3_configure(&o), 0);
	fx->seq++;
	snprintf(url, sizeof(url), "s3://%s/conf-%ld/%u", getenv("GV_TEST_S3_BUCKET"),
	         (long)getpid(), fx->seq);
	assert_int_equal(gv_sector_s3_locator(fx->root, sizeof(fx->root), url,
	                                      getenv("GV_TEST_S3_ENDPOINT"), NULL, NULL), 0);
	memset(&ident, 0, sizeof(ident));
	snprintf(ident.id, sizeof(ident.id), "s3-1");
	ident.capacity = capacity;
	fx->capacity = capacity;
	return gv_sector_s3_open(&fx->s, &ident, fx->root, GV_FS_CREATE);
}

static int s3_be_reopen(fixture *fx)
{
	gv_sector_identity ident;

	gv_sector_close(fx->s);
	fx->s = NULL;
	memset(&ident, 0, sizeof(ident));
	snprintf(ident.id, sizeof(ident.id), "s3-1");
	ident.capacity = fx->capacity;
	return gv_sector_s3_open(&fx->s, &ident, fx->root, 0);
}

/* Spools are unlinked files: nothing is left behind to count. */
static int s3_be_leftovers(fixture *fx)
{
	(void)fx;
	return -1;
}

static const backend s3_backend = {
	"s3", s3_be_open, s3_be_reopen, remote_be_destroy, s3_be_leftovers,
	0, 1, 1, 1, 1, 1,
};

static const backend fs_backend = {
	"fs", fs_be_open, fs_be_reopen, fs_be_destroy, fs_be_leftovers,
};
static const backend mem_backend = {
	"mem", mem_be_open, mem_be_reopen, mem_be_destroy, mem_be_leftovers,
};
static const backend fault_backend = {
	"fault(mem)", fault_be_open, mem_be_reopen, mem_be_destroy, mem_be_leftovers,
};

static int group_setup_with(void **state, const backend *be)
{
	fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->be = be;
	snprintf(fx->base, sizeof(fx->base), "%s/gv-sector-conf-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(fx->base) == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int group_setup_fs(void **state) { return group_setup_with(state, &fs_backend); }
static int group_setup_mem(void **state) { return group_setup_with(state, &mem_backend); }
static int group_setup_fault(void **state) { return group_setup_with(state, &fault_backend); }
static int group_setup_remote(void **state) { return group_setup_with(state, &remote_backend); }
static int group_setup_s3(void **state) { return group_setup_with(state, &s3_backend); }

static int group_teardown(void **state)
{
	fixture *fx = *state;

	rm_rf(fx->base);
	free(fx);
	return 0;
}

static int setup(void **state)
{
	fixture *fx = *state;

	if (fx->be->open(fx, 0) < 0) {
		fprintf(stderr, "open %s sector: %s\n", fx->be->name, gv_error_last());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;

	if (fx->s != NULL)
		fx->be->destroy(fx);
	return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void test_put_get_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 7, 4096, 65537, 3 * MiB + 123 };
	fixture *fx = *state;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		gv_key key;
		unsigned char *data = put(fx->s, sizes[i], i + 1, &key);
		unsigned char *out = malloc(sizes[i] + 1);

		assert_whole(fx->s, &key, data);
		/* reading with a cap bigger than the blob and with tiny caps */
		assert_int_equal(read_range(fx->s, &key, 0, UINT64_MAX, out, sizes[i], 4 * MiB),
		                 sizes[i]);
		assert_memory_equal(out, data, sizes[i]);
		if (sizes[i] < 100000) {
			assert_int_equal(read_range(fx->s, &key, 0, UINT64_MAX, out, sizes[i], 3),
			                 sizes[i]);
			assert_memory_equal(out, data, sizes[i]);
		}
		free(out);
		free(data);
	}
	assert_int_equal(count_blobs(fx->s), 6);
}

static void test_ranges(void **state)
{
	fixture *fx = *state;
	const size_t size = 3 * MiB + 123;
	struct { uint64_t off, len; } cases[] = {
		{ 0, 1 }, { 0, 100 }, { 1000, 5000 }, { size / 2, MiB }, { size - 1, 1 },
		{ size - 100, UINT64_MAX }, { size, UINT64_MAX }, { size, 0 }, { 0, UINT64_MAX },
		{ 5, 0 }, { MiB - 1, MiB + 2 },
	};
	gv_key key;
	gv_sector_reader *r;
	unsigned char *data = put(fx->s, size, 42, &key);
	unsigned char *out = malloc(size);
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t want = cases[i].len == UINT64_MAX ? size - cases[i].off : cases[i].len;

		assert_int_equal(read_range(fx->s, &key, cases[i].off, cases[i].len, out, size,
		                            i % 2 ? 4096 : 1000000),
		                 want);
		assert_memory_equal(out, data + cases[i].off, (size_t)want);
	}
	r = (gv_sector_reader *)1;
	assert_int_equal(gv_sector_reader_open(&r, fx->s, &key, size + 1, 0), GV_EINVAL);
	assert_null(r);
	assert_int_equal(gv_sector_reader_open(&r, fx->s, &key, size - 10, 11), GV_EINVAL);
	assert_int_equal(gv_sector_reader_open(&r, fx->s, &key, 1, UINT64_MAX - 1), GV_EINVAL);
	assert_null(r);
	free(out);
	free(data);
}

static void test_empty_blob(void **state)
{
	fixture *fx = *state;
	gv_sector_reader *r;
	struct seen sn = { .n = 0 };
	unsigned char b;
	uint64_t size = 99;
	gv_key key;
	unsigned char *data = put(fx->s, 0, 3, &key);

	assert_int_equal(gv_sector_stat(fx->s, &key, &size), 0);
	assert_int_equal(size, 0);
	assert_int_equal(gv_sector_reader_open(&r, fx->s, &key, 0, UINT64_MAX), 0);
	assert_int_equal(r->remaining, 0);
	assert_int_equal(gv_sector_reader_read(r, &b, 1), 0);
	gv_sector_reader_close(r);
	assert_int_equal(gv_sector_list(fx->s, collect, &sn), 0);
	assert_int_equal(sn.n, 1);
	assert_int_equal(sn.bytes[0], 0);
	assert_int_equal(gv_sector_del(fx->s, &key), 0);
	assert_absent(fx->s, &key);
	free(data);
}

static void test_missing(void **state)
{
	fixture *fx = *state;
	gv_key key;
	unsigned char *data = make(100, 5, &key);

	assert_absent(fx->s, &key);
	assert_int_equal(gv_sector_del(fx->s, &key), GV_ENOTFOUND);
	assert_true(strlen(gv_error_last()) > 0);
	assert_int_equal(count_blobs(fx->s), 0);
	free(data);
}

static void test_del(void **state)
{
	fixture *fx = *state;
	gv_key a, b;
	unsigned char *da = put(fx->s, 1000, 1, &a);
	unsigned char *db = put(fx->s, 2000, 2, &b);

	assert_used(fx, 3000);
	assert_int_equal(gv_sector_del(fx->s, &a), 0);
	assert_absent(fx->s, &a);
	assert_whole(fx->s, &b, db);
	assert_int_equal(gv_sector_del(fx->s, &a), GV_ENOTFOUND);
	assert_used(fx, 2000);
	assert_int_equal(count_blobs(fx->s), 1);
	free(da);
	free(db);
}

static void test_del_while_reading(void **state)
{
	fixture *fx = *state;
	gv_sector_reader *r;
	unsigned char out[5000];
	gv_key key;
	unsigned char *data = put(fx->s, sizeof(out), 8, &key);
	size_t got = 0;

	assert_int_equal(gv_sector_reader_open(&r, fx->s, &key, 0, UINT64_MAX), 0);
	assert_int_equal(gv_sector_del(fx->s, &key), 0);
	while (got < sizeof(out)) {
		ssize_t n = gv_sector_reader_read(r, out + got, sizeof(out) - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	gv_sector_reader_close(r);
	assert_memory_equal(out, data, sizeof(out));
	assert_absent(fx->s, &key);
	free(data);
}

static void test_list(void **state)
{
	fixture *fx = *state;
	struct seen *sn = calloc(1, sizeof(*sn));
	gv_key keys[40];
	size_t i;

	assert_non_null(sn);
	for (i = 0; i < 40; i++)
		free(put(fx->s, i * 37, 100 + i, &keys[i]));
	assert_int_equal(gv_sector_list(fx->s, collect, sn), 0);
	assert_int_equal(sn->n, 40);
	for (i = 0; i < 40; i++) {
		int at = seen_find(sn, &keys[i]);

		assert_true(at >= 0);
		assert_int_equal(sn->bytes[at], i * 37);
	}
	memset(sn, 0, sizeof(*sn));
	sn->stop_after = 3;
	assert_int_equal(gv_sector_list(fx->s, collect, sn), 7);
	assert_int_equal(sn->n, 3);
	free(sn);
}

static void test_usage(void **state)
{
	fixture *fx = *state;
	gv_sector_usage u;
	gv_key a, b;
	unsigned char *da, *db;

	assert_int_equal(gv_sector_usage_get(fx->s, &u), 0);
	assert_int_equal(u.used, 0);
	assert_true(u.capacity > 0);
	assert_true(u.avail > 0);
	da = put(fx->s, 1000, 1, &a);
	db = put(fx->s, 2000, 2, &b);
	if (fx->be->quota_by_engine) {
		/* a medium without a size of its own: the index counts */
		assert_used(fx, 0);
		assert_int_equal(gv_sector_usage_get(fx->s, &u), 0);
		assert_int_equal(u.avail, UINT64_MAX);
		assert_int_equal(u.device, 0);
		free(da);
		free(db);
		return;
	}
	assert_used(fx, 3000);
	assert_int_equal(gv_sector_put_buf(fx->s, &a, da, 1000), 0); /* replace */
	assert_used(fx, 3000);
	assert_int_equal(gv_sector_del(fx->s, &a), 0);
	assert_used(fx, 2000);
	assert_int_equal(fx->be->reopen(fx), 0);
	assert_used(fx, 2000);
	free(da);
	free(db);
}

static void test_capacity(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w;
	gv_sector_usage u;
	gv_key a, b, c;
	unsigned char *da, *db, *dc;

	fx->be->destroy(fx);
	assert_int_equal(fx->be->open(fx, 10000), 0);
	da = put(fx->s, 6000, 1, &a);
	db = make(6000, 2, &b);
	if (fx->be->quota_by_engine) {
		/* the quota is reported; placement keeps to it */
		assert_int_equal(gv_sector_usage_get(fx->s, &u), 0);
		assert_int_equal(u.capacity, 10000);
		assert_int_equal(gv_sector_put_buf(fx->s, &b, db, 6000), 0);
		assert_whole(fx->s, &b, db);
		free(da);
		free(db);
		return;
	}
	assert_int_equal(gv_sector_put_buf(fx->s, &b, db, 6000), GV_ENOSPACE);
	assert_absent(fx->s, &b);
	assert_no_leftovers(fx);
	assert_int_equal(gv_sector_usage_get(fx->s, &u), 0);
	assert_int_equal(u.used, 6000);
	assert_int_equal(u.capacity, 10000);

	/* bytes of an open writer count against the capacity too */
	dc = make(3000, 3, &c);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, dc, 3000), 0);
	if (!fx->be->holds_unsent)
		assert_int_equal(gv_sector_put_buf(fx->s, &c, dc, 3000), GV_ENOSPACE);
	gv_sector_writer_abort(w, 0);
	assert_int_equal(gv_sector_put_buf(fx->s, &c, dc, 3000), 0);

	assert_int_equal(gv_sector_del(fx->s, &a), 0);
	assert_int_equal(gv_sector_put_buf(fx->s, &b, db, 6000), 0);
	assert_whole(fx->s, &b, db);
	free(da);
	free(db);
	free(dc);
}

static void test_commit_wrong_size(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w;
	gv_key key, other;
	unsigned char *data = make(11, 9, &key);
	unsigned char *odata = make(11, 10, &other);

	/* key unknown at open: 10 bytes committed as an 11-byte key */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 10), 0);
	assert_int_equal(w->offset, 10);
	assert_int_equal(gv_sector_writer_commit(w, &key), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "10"));
	assert_absent(fx->s, &key);

	/* too many bytes */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 11), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 1), 0);
	assert_int_equal(gv_sector_writer_commit(w, &key), GV_EINVAL);
	assert_absent(fx->s, &key);

	/* key known at open: writing past its size is refused early */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 11), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 1), GV_EINVAL);
	assert_int_equal(w->offset, 11);
	/* and committing it under another key is refused */
	assert_int_equal(gv_sector_writer_commit(w, &other), GV_EINVAL);
	assert_absent(fx->s, &key);
	assert_absent(fx->s, &other);

	/* no key at commit */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_commit(w, NULL), GV_EINVAL);

	assert_int_equal(count_blobs(fx->s), 0);
	assert_used(fx, 0);
	assert_no_leftovers(fx);
	free(data);
	free(odata);
}

static void test_abort_leaves_nothing(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(300000, 11, &key);

	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 100000), 0);
	assert_int_equal(gv_sector_writer_write(w, data + 100000, 200000), 0);
	assert_int_equal(gv_sector_writer_sync(w), 0);
	gv_sector_writer_abort(w, 0);

	/* keep_partial means nothing without RESUME */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 300000), 0);
	gv_sector_writer_abort(w, 1);
	gv_sector_writer_abort(NULL, 0);

	assert_absent(fx->s, &key);
	assert_int_equal(count_blobs(fx->s), 0);
	assert_used(fx, 0);
	assert_no_leftovers(fx);
	/* nor does it survive a restart */
	assert_int_equal(fx->be->reopen(fx), 0);
	assert_absent(fx->s, &key);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 0);
	gv_sector_writer_abort(w, 0);
	free(data);
}

static void test_replace(void **state)
{
	fixture *fx = *state;
	gv_key key;
	unsigned char *a = make(70000, 1, &key);
	unsigned char *b = malloc(70000);

	/* the store does not check digests: a second commit under the same
	 * key must replace the first one whole (one that checks them refuses
	 * the other bytes and keeps the first) */
	fill(b, 70000, 2);
	assert_int_equal(gv_sector_put_buf(fx->s, &key, a, 70000), 0);
	assert_whole(fx->s, &key, a);
	if (fx->be->checks_digests) {
		assert_int_equal(gv_sector_put_buf(fx->s, &key, b, 70000), GV_ECORRUPT);
		assert_whole(fx->s, &key, a);
		assert_int_equal(gv_sector_put_buf(fx->s, &key, a, 70000), 0);
		assert_whole(fx->s, &key, a);
		memcpy(b, a, 70000);
	}
	assert_int_equal(gv_sector_put_buf(fx->s, &key, b, 70000), 0);
	assert_whole(fx->s, &key, b);
	assert_int_equal(count_blobs(fx->s), 1);
	assert_used(fx, 70000);
	assert_no_leftovers(fx);
	free(a);
	free(b);
}

static void test_streaming_writes(void **state)
{
	fixture *fx = *state;
	const size_t size = 5 * MiB + 777;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(size, 77, &key);
	size_t off = 0, step = 1;

	/* pieces from 1 byte to 2 MiB, crossing every buffering path */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, 0), 0);
	while (off < size) {
		size_t n = step < size - off ? step : size - off;

		assert_int_equal(gv_sector_writer_write(w, data + off, n), 0);
		off += n;
		assert_int_equal(w->offset, off);
		step = step >= 2 * MiB ? 3 : step * 5 + 1;
		if (off > size / 2 && off - n <= size / 2)
			assert_int_equal(gv_sector_writer_sync(w), 0);
	}
	assert_int_equal(gv_sector_writer_write(w, data, 0), 0);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	assert_whole(fx->s, &key, data);
	assert_no_leftovers(fx);
	free(data);
}

static void test_resume(void **state)
{
	fixture *fx = *state;
	const size_t size = 2 * MiB + 5, half = MiB + 3;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(size, 21, &key);
	size_t off;

	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 0);
	for (off = 0; off < half; off += 1000)
		assert_int_equal(gv_sector_writer_write(w, data + off,
		                                        half - off < 1000 ? half - off : 1000), 0);
	assert_int_equal(w->offset, half);
	assert_int_equal(gv_sector_writer_sync(w), 0);
	gv_sector_writer_abort(w, 1);

	/* a partial is not a blob */
	assert_absent(fx->s, &key);
	assert_int_equal(count_blobs(fx->s), 0);
	assert_used(fx, 0);

	assert_int_equal(fx->be->reopen(fx), 0);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	if (fx->be->no_partials) {
		/* nothing kept: the copy starts over */
		assert_int_equal(w->offset, 0);
		assert_int_equal(gv_sector_writer_write(w, data, half), 0);
	}
	assert_int_equal(w->offset, half);
	assert_int_equal(gv_sector_writer_write(w, data + half, size - half), 0);
	assert_int_equal(w->offset, size);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	assert_whole(fx->s, &key, data);
	assert_used(fx, size);

	/* the partial became the blob: a new resumable write starts at 0 */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 0);
	gv_sector_writer_abort(w, 0);
	assert_whole(fx->s, &key, data);
	assert_no_leftovers(fx);
	free(data);
}

static void test_resume_unsynced_keep(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(10000, 22, &key);

	/* abort with keep_partial makes what was written durable by itself */
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 3333), 0);
	gv_sector_writer_abort(w, 1);
	assert_int_equal(fx->be->reopen(fx), 0);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	if (fx->be->no_partials) {
		assert_int_equal(w->offset, 0);
		assert_int_equal(gv_sector_writer_write(w, data, 3333), 0);
	}
	assert_int_equal(w->offset, 3333);
	assert_int_equal(gv_sector_writer_write(w, data + 3333, 10000 - 3333), 0);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	assert_whole(fx->s, &key, data);
	free(data);
}

static void test_resume_discard(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(5000, 23, &key);

	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 1000), 0);
	gv_sector_writer_abort(w, 0);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 0);
	gv_sector_writer_abort(w, 0);
	assert_absent(fx->s, &key);
	free(data);
}

static void test_resume_busy(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w, *w2 = (gv_sector_writer *)1;
	gv_key key;
	unsigned char *data = make(5000, 24, &key);

	if (fx->be->no_partials) {
		/* nothing to share: a second writer of the key is its own */
		assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
		assert_int_equal(gv_sector_writer_open(&w2, fx->s, &key, GV_WRITE_RESUME), 0);
		assert_int_equal(gv_sector_writer_write(w, data, 5000), 0);
		assert_int_equal(gv_sector_writer_write(w2, data, 5000), 0);
		assert_int_equal(gv_sector_writer_commit(w, &key), 0);
		assert_int_equal(gv_sector_writer_commit(w2, &key), 0);
		assert_whole(fx->s, &key, data);
		free(data);
		return;
	}
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 1200), 0);
	assert_int_equal(gv_sector_writer_open(&w2, fx->s, &key, GV_WRITE_RESUME), GV_EBUSY);
	assert_null(w2);
	/* a delete leaves a partial that is being written alone */
	assert_int_equal(gv_sector_del(fx->s, &key), GV_ENOTFOUND);
	gv_sector_writer_abort(w, 1);
	assert_int_equal(gv_sector_writer_open(&w2, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w2->offset, 1200);
	gv_sector_writer_abort(w2, 1);
	free(data);
}

static void test_resume_bad_args(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w = (gv_sector_writer *)1;
	gv_key key;
	unsigned char *data = make(10, 25, &key);

	assert_int_equal(gv_sector_writer_open(&w, fx->s, NULL, GV_WRITE_RESUME), GV_EINVAL);
	assert_null(w);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, 0x80), GV_EINVAL);
	assert_null(w);
	free(data);
}

static void test_del_drops_partial(void **state)
{
	fixture *fx = *state;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(4000, 26, &key);

	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 1000), 0);
	gv_sector_writer_abort(w, 1);
	assert_int_equal(gv_sector_put_buf(fx->s, &key, data, 4000), 0);
	assert_int_equal(gv_sector_del(fx->s, &key), 0);
	assert_int_equal(gv_sector_writer_open(&w, fx->s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 0);
	gv_sector_writer_abort(w, 0);
	free(data);
}

/* ---- concurrency --------------------------------------------------------- */

#define NTHREADS 6
#define PER_THREAD 12

struct worker {
	gv_sector *s;
	int id;
	int overwrite_in_place;
	int failures;
	gv_key kept[PER_THREAD];
	uint64_t kept_seed[PER_THREAD];
	size_t nkept;
};

static int check_blob(gv_sector *s, const gv_key *key, uint64_t seed)
{
	size_t len = (size_t)key->size;
	unsigned char *want = malloc(len + 1), *got = malloc(len + 1);
	gv_sector_reader *r;
	size_t off = 0;
	int bad = 0;

	fill(want, len, seed);
	if (gv_sector_reader_open(&r, s, key, 0, UINT64_MAX) < 0) {
		fprintf(stderr, "check_blob: open: %s\n", gv_error_last());
		bad = 1;
		goto out;
	}
	for (;;) {
		ssize_t n = gv_sector_reader_read(r, got + off, 8192);

		if (n < 0) {
			fprintf(stderr, "check_blob: read at %zu: %s\n", off, gv_error_last());
			bad = 1;
		}
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	gv_sector_reader_close(r);
	bad |= off != len || memcmp(want, got, len) != 0;
out:
	free(want);
	free(got);
	return bad;
}

static void *writer_thread(void *arg)
{
	struct worker *wk = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		uint64_t seed = i % 4 == 3 ? 9999 : (uint64_t)(wk->id * 1000 + i);
		size_t len = (size_t)(seed % 7) * 40000 + (size_t)i * 11;
		unsigned char *buf = malloc(len + 1);
		gv_sector_writer *w;
		gv_key key;
		size_t off;

		fill(buf, len, seed);
		gv_key_of_buf(&key, buf, len);
		if (gv_sector_writer_open(&w, wk->s, i % 2 ? &key : NULL, 0) < 0) {
			wk->failures++;
			free(buf);
			continue;
		}
		for (off = 0; off < len; off += 10007) {
			size_t n = len - off < 10007 ? len - off : 10007;

			if (gv_sector_writer_write(w, buf + off, n) < 0)
				wk->failures++;
		}
		if (gv_sector_writer_commit(w, &key) < 0) {
			fprintf(stderr, "writer: commit: %s\n", gv_error_last());
			wk->failures++;
		}
		if (seed != 9999 || !wk->overwrite_in_place)
			wk->failures += check_blob(wk->s, &key, seed);
		if (seed != 9999 && i % 3 == 0) {
			if (gv_sector_del(wk->s, &key) < 0)
				wk->failures++;
		} else if (seed != 9999) {
			wk->kept[wk->nkept] = key;
			wk->kept_seed[wk->nkept++] = seed;
		}
		free(buf);
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	fixture *fx = *state;
	struct worker wk[NTHREADS];
	pthread_t th[NTHREADS];
	size_t expect = 0, i, j;
	uint64_t used = 0;
	gv_key shared;
	unsigned char *sdata;

	memset(wk, 0, sizeof(wk));
	for (i = 0; i < NTHREADS; i++) {
		wk[i].s = fx->s;
		wk[i].id = (int)i + 1;
		wk[i].overwrite_in_place = fx->be->overwrite_in_place;
		assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &wk[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (i = 0; i < NTHREADS; i++) {
		assert_int_equal(wk[i].failures, 0);
		expect += wk[i].nkept;
		for (j = 0; j < wk[i].nkept; j++) {
			used += wk[i].kept[j].size;
			assert_int_equal(check_blob(fx->s, &wk[i].kept[j], wk[i].kept_seed[j]), 0);
		}
	}
	/* indexes 3, 7, 11 wrote the same content from every thread */
	for (i = 3; i < PER_THREAD; i += 4) {
		size_t len = (size_t)(9999 % 7) * 40000 + i * 11;

		sdata = make(len, 9999, &shared);
		assert_whole(fx->s, &shared, sdata);
		used += len;
		expect++;
		free(sdata);
	}
	assert_int_equal(count_blobs(fx->s), expect);
	assert_used(fx, used);
	assert_no_leftovers(fx);
}

struct reader_arg {
	gv_sector *s;
	gv_key key;
	int failures;
};

static void *reader_thread(void *arg)
{
	struct reader_arg *ra = arg;
	int i;

	for (i = 0; i < 20; i++)
		ra->failures += check_blob(ra->s, &ra->key, 31);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	fixture *fx = *state;
	struct reader_arg ra[4];
	pthread_t th[4];
	gv_key key;
	unsigned char *data = put(fx->s, 400000, 31, &key);
	int i;

	if (fx->be->overwrite_in_place)
		for (i = 0; i < 20; i++)
			assert_int_equal(gv_sector_put_buf(fx->s, &key, data, 400000), 0);
	for (i = 0; i < 4; i++) {
		ra[i].s = fx->s;
		ra[i].key = key;
		ra[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &ra[i]), 0);
	}
	/* replacing a blob never disturbs its readers */
	for (i = 0; i < 20 && !fx->be->overwrite_in_place; i++)
		assert_int_equal(gv_sector_put_buf(fx->s, &key, data, 400000), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(ra[i].failures, 0);
	}
	assert_int_equal(count_blobs(fx->s), 1);
	free(data);
}

/* Writing into a committed blob at an offset (range-level repair): the
 * bytes change there only, durably (they survive a reopen); a missing
 * blob is GV_ENOTFOUND, a write past the end GV_EINVAL. */
static void test_patch(void **state)
{
	fixture *fx = *state;
	gv_sector_patch *p = NULL;
	unsigned char fix[5000];
	gv_key key, other;
	unsigned char *data = put(fx->s, 3 * 65536 + 17, 21, &key);
	unsigned char *absent = make(100, 22, &other);

	if (fx->be->no_patch) {
		assert_false(gv_sector_can_patch(fx->s));
		assert_int_equal(gv_sector_patch_open(&p, fx->s, &key), GV_ERROR);
		assert_null(p);
		assert_whole(fx->s, &key, data);
		free(data);
		free(absent);
		return;
	}
	assert_true(gv_sector_can_patch(fx->s));
	assert_int_equal(gv_sector_patch_open(&p, fx->s, &other), GV_ENOTFOUND);
	assert_null(p);
	assert_int_equal(gv_sector_patch_open(&p, fx->s, &key), 0);
	fill(fix, sizeof(fix), 23);
	assert_int_equal(gv_sector_patch_write(p, 65536 + 3, fix, sizeof(fix)), 0);
	assert_int_equal(gv_sector_patch_write(p, key.size - 10, fix, 11), GV_EINVAL);
	assert_int_equal(gv_sector_patch_sync(p), 0);
	gv_sector_patch_close(p);
	memcpy(data + 65536 + 3, fix, sizeof(fix));
	assert_int_equal(fx->be->reopen(fx), 0);
	assert_whole(fx->s, &key, data);
	free(data);
	free(absent);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define CONFORMANCE_TESTS                                                        \
	{                                                                        \
		T(test_put_get_sizes), T(test_ranges), T(test_empty_blob),       \
		T(test_missing), T(test_del), T(test_del_while_reading),         \
		T(test_list), T(test_usage), T(test_capacity),                   \
		T(test_commit_wrong_size), T(test_abort_leaves_nothing),         \
		T(test_replace), T(test_streaming_writes), T(test_resume),       \
		T(test_resume_unsynced_keep), T(test_resume_discard),            \
		T(test_resume_busy), T(test_resume_bad_args),                    \
		T(test_del_drops_partial), T(test_concurrent_writers),           \
		T(test_concurrent_readers), T(test_patch),                       \
	}

int main(void)
{
	const struct CMUnitTest fs_tests[] = CONFORMANCE_TESTS;
	const struct CMUnitTest mem_tests[] = CONFORMANCE_TESTS;
	const struct CMUnitTest fault_tests[] = CONFORMANCE_TESTS;
	const struct CMUnitTest remote_tests[] = CONFORMANCE_TESTS;
	const struct CMUnitTest s3_tests[] = CONFORMANCE_TESTS;
	int failed = 0;

	/* Only the s3 kind, against the server tests/s3_run.sh started. */
	if (getenv("GV_TEST_S3_ENDPOINT"))
		return cmocka_run_group_tests_name("sector conformance: s3", s3_tests,
		                                   group_setup_s3, group_teardown);
	/* Only the remote kind, against the node a script started. */
	if (getenv("GV_TEST_NODE_URL"))
		return cmocka_run_group_tests_name("sector conformance: remote", remote_tests,
		                                   group_setup_remote, group_teardown);

	failed += cmocka_run_group_tests_name("sector conformance: fs", fs_tests,
	                                      group_setup_fs, group_teardown);
	failed += cmocka_run_group_tests_name("sector conformance: mem", mem_tests,
	                                      group_setup_mem, group_teardown);
	failed += cmocka_run_group_tests_name("sector conformance: fault(mem), no plan",
	                                      fault_tests, group_setup_fault, group_teardown);
	return failed;
}
