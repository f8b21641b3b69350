/*
 * test_engine.c - the store end to end over in-memory sectors: writes and
 * their quorum, verified reads and their fallback, repair, scrub,
 * rebalance and drain.
 *
 * Every test opens a fresh data directory (the SQLite index lives there)
 * and registers sectors of kind "mem", so blob bytes never touch the disk.
 * Faults come from the fault-injecting sector, attached in place of a
 * registered sector's backend; a small "slow" sector defined here delays
 * commits that then succeed, which the fault sector cannot do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/digest.h"
#include "engine/store.h"
#include "graviton/health.h"
#include "index/fault.h"

#define KiB (1024u)
#define MiB (1024u * 1024u)
#define TIMEOUT_MS 300

/* ---- fixture -------------------------------------------------------------- */

typedef struct fx {
	char dir[128];
	gv_store *st;
} fx;

/* Buffers a test owns: freed by the teardown if a failed assertion
 * skipped the test's own free. */
#define MAX_TRACKED 512
static void *tracked[MAX_TRACKED];

static void *talloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < MAX_TRACKED; i++)
		if (!tracked[i]) {
			tracked[i] = p;
			break;
		}
	return p;
}

static void tfree(void *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < MAX_TRACKED; i++)
		if (tracked[i] == p)
			tracked[i] = NULL;
	free(p);
}

static void log_to_stderr(gv_log_level level, const char *msg, void *payload)
{
	(void)payload;
	fprintf(stderr, "[%s] %s\n", gv_log_level_name(level), msg);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gv-engine-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	*state = f;
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
	size_t i;

	gv_store_free(f->st);
	for (i = 0; i < MAX_TRACKED; i++) {
		free(tracked[i]);
		tracked[i] = NULL;
	}
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static gv_placement_opts rack_aware(int min_racks)
{
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;

	p.strategy = GV_STRATEGY_RACK_AWARE;
	p.factor = 3;
	p.min_replicas = 2;
	p.min_racks = min_racks;
	return p;
}

static void open_store_timeout(fx *f, const gv_placement_opts *p, uint64_t timeout_ms)
{
	gv_store_opts o = GV_STORE_OPTS_INIT;

	o.data_dir = f->dir;
	o.create = 1;
	o.write_timeout_ms = timeout_ms;
	if (p) {
		o.placement_set = 1;
		o.placement = *p;
	}
	assert_int_equal(gv_store_open(&f->st, &o), 0);
	assert_non_null(f->st);
}

static void open_store(fx *f, const gv_placement_opts *p)
{
	open_store_timeout(f, p, TIMEOUT_MS);
}

static void add_mem(gv_store *st, const char *id, const char *rack, uint64_t cap)
{
	gv_sector_info si;

	memset(&si, 0, sizeof(si));
	snprintf(si.id, sizeof(si.id), "%s", id);
	snprintf(si.kind, sizeof(si.kind), "mem");
	snprintf(si.rack, sizeof(si.rack), "%s", rack);
	snprintf(si.zone, sizeof(si.zone), "z1");
	si.capacity = cap;
	assert_int_equal(gv_store_sector_add(st, &si, GV_SECTOR_ADD_CREATE), 0);
}

/* Replace sector id's backend with a fresh mem sector inside a fault
 * wrapper (no fault planned yet); the store owns it. */
static gv_sector *wrap_fault(gv_store *st, const char *id, uint64_t cap)
{
	gv_sector *m = NULL, *f = NULL;

	assert_int_equal(gv_sector_mem_open(&m, id, cap), 0);
	assert_int_equal(gv_sector_fault_wrap(&f, m, NULL), 0);
	assert_int_equal(gv_store_sector_attach(st, id, f), 0);
	assert_ptr_equal(gv_store_sector_handle(st, id, NULL, 0), f);
	return f;
}

static void plan(gv_sector *f, gv_fault_kind kind, unsigned ops, unsigned long nth,
                 unsigned hang_ms)
{
	gv_fault_plan p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.ops = ops;
	p.nth = nth;
	p.hang_ms = hang_ms;
	gv_sector_fault_set(f, &p);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What gv_store_free does first: wait for the background copies. */
static void wait_bg(gv_store *st)
{
	pthread_mutex_lock(&st->bg_lock);
	while (st->bg_active > 0)
		pthread_cond_wait(&st->bg_cond, &st->bg_lock);
	pthread_mutex_unlock(&st->bg_lock);
}

/* Keys waiting in the durable repair queue (dead letters not counted). */
static size_t queued(gv_store *st)
{
	uint64_t n = 0, dead = 0;

	assert_int_equal(gv_repair_queue_count(st, &n, &dead), 0);
	return (size_t)n;
}

/* The key's queue entry, or 0 when it is not queued. */
static int queue_entry(gv_store *st, const gv_key *key, gv_repairq_entry *e)
{
	int err = gv_index_repairq_get(gv_store_index(st), key, e);

	if (err == GV_ENOTFOUND)
		return 0;
	assert_int_equal(err, 0);
	return 1;
}

static int queue_has(gv_store *st, const gv_key *key)
{
	gv_repairq_entry e;

	return queue_entry(st, key, &e) && !e.dead;
}

/* ---- a sector whose commits take a while and then succeed ------------------ */

typedef struct slow_sector {
	gv_sector base;
	gv_sector *inner;
	unsigned delay_ms;
} slow_sector;

typedef struct slow_writer {
	gv_sector_writer base;
	gv_sector_writer *inner;
} slow_writer;

static int slow_writer_open(gv_sector_writer **out, gv_sector *s, const gv_key *key,
                            unsigned flags)
{
	slow_sector *ss = (slow_sector *)s;
	slow_writer *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return GV_ENOMEM;
	if ((rc = gv_sector_writer_open(&w->inner, ss->inner, key, flags)) < 0) {
		free(w);
		return rc;
	}
	w->base.sector = s;
	w->base.offset = w->inner->offset;
	*out = &w->base;
	return 0;
}

static int slow_writer_write(gv_sector_writer *base, const void *buf, size_t len)
{
	slow_writer *w = (slow_writer *)base;
	int rc = gv_sector_writer_write(w->inner, buf, len);

	base->offset = w->inner->offset;
	return rc;
}

static int slow_writer_sync(gv_sector_writer *base)
{
	return gv_sector_writer_sync(((slow_writer *)base)->inner);
}

static int slow_writer_truncate(gv_sector_writer *base, uint64_t len)
{
	slow_writer *w = (slow_writer *)base;
	int rc = gv_sector_writer_truncate(w->inner, len);

	base->offset = w->inner->offset;
	return rc;
}

static int slow_writer_commit(gv_sector_writer *base, const gv_key *key)
{
	slow_writer *w = (slow_writer *)base;
	gv_sector_writer *inner = w->inner;

	sleep_ms(((slow_sector *)base->sector)->delay_ms);
	free(w);
	return gv_sector_writer_commit(inner, key);
}

static void slow_writer_abort(gv_sector_writer *base, int keep)
{
	slow_writer *w = (slow_writer *)base;

	gv_sector_writer_abort(w->inner, keep);
	free(w);
}

/* Readers are the inner sector's own (their ->sector is the inner one). */
static int slow_reader_open(gv_sector_reader **out, gv_sector *s, const gv_key *key,
                            uint64_t off, uint64_t len)
{
	return gv_sector_reader_open(out, ((slow_sector *)s)->inner, key, off, len);
}

static ssize_t slow_reader_read(gv_sector_reader *r, void *buf, size_t cap)
{
	return r->sector->ops->reader_read(r, buf, cap);
}

static void slow_reader_close(gv_sector_reader *r)
{
	r->sector->ops->reader_close(r);
}

static int slow_del(gv_sector *s, const gv_key *key)
{
	return gv_sector_del(((slow_sector *)s)->inner, key);
}

static int slow_stat(gv_sector *s, const gv_key *key, uint64_t *out)
{
	return gv_sector_stat(((slow_sector *)s)->inner, key, out);
}

static int slow_list(gv_sector *s, gv_sector_list_cb cb, void *payload)
{
	return gv_sector_list(((slow_sector *)s)->inner, cb, payload);
}

static int slow_usage(gv_sector *s, gv_sector_usage *out)
{
	return gv_sector_usage_get(((slow_sector *)s)->inner, out);
}

static void slow_close(gv_sector *s)
{
	gv_sector_close(((slow_sector *)s)->inner);
	free(s);
}

static const struct gv_sector_ops slow_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "slow",
	.writer_open = slow_writer_open,
	.writer_write = slow_writer_write,
	.writer_sync = slow_writer_sync,
	.writer_commit = slow_writer_commit,
	.writer_abort = slow_writer_abort,
	.reader_open = slow_reader_open,
	.reader_read = slow_reader_read,
	.reader_close = slow_reader_close,
	.del = slow_del,
	.stat = slow_stat,
	.list = slow_list,
	.usage = slow_usage,
	.close = slow_close,
	.reader_fd = NULL,
	.writer_truncate = slow_writer_truncate,
};

static void attach_slow(gv_store *st, const char *id, uint64_t cap, unsigned delay_ms)
{
	slow_sector *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	assert_int_equal(gv_sector_mem_open(&s->inner, id, cap), 0);
	s->base.ops = &slow_ops;
	snprintf(s->base.id, sizeof(s->base.id), "%s", id);
	s->delay_ms = delay_ms;
	assert_int_equal(gv_store_sector_attach(st, id, &s->base), 0);
}

/* ---- data ------------------------------------------------------------------ */

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
	unsigned char *buf = talloc(len);

	fill(buf, len, seed);
	assert_int_equal(gv_key_of_buf(key, buf, len), 0);
	return buf;
}

/* Put buf in pieces of odd sizes; returns gv_put_commit's result. */
static int put_buf(gv_store *st, const void *buf, size_t len, gv_put_result *res)
{
	static const size_t pieces[] = { 1, 7, 4093, 65521, 3, 131071, 997 };
	gv_put *put = NULL;
	size_t off = 0, i = 0;
	int err;

	err = gv_put_open(&put, st, NULL);
	if (err < 0)
		return err;
	while (off < len) {
		size_t n = pieces[i++ % (sizeof(pieces) / sizeof(pieces[0]))];

		if (n > len - off)
			n = len - off;
		assert_int_equal(gv_put_write(put, (const unsigned char *)buf + off, n), 0);
		off += n;
	}
	return gv_put_commit(put, res);
}

/* Put a fresh blob that must succeed; returns its bytes (caller frees). */
static unsigned char *put_new(gv_store *st, size_t len, uint64_t seed, gv_key *key)
{
	gv_put_result res;
	unsigned char *buf = make(len, seed, key);

	assert_int_equal(put_buf(st, buf, len, &res), 0);
	assert_int_equal(gv_key_cmp(&res.key, key), 0);
	assert_int_equal(res.existed, 0);
	assert_int_equal(res.quorum_met, 1);
	return buf;
}

/*
 * Full (or ranged) read with the ERESTART protocol: discard and start over.
 * Returns 0 or the final error; *restarts counts ERESTARTs seen.
 */
static int read_blob(gv_store *st, const gv_key *key, const gv_get_opts *o, unsigned char **out,
                     size_t *out_len, int *restarts, char *sector, size_t cap)
{
	gv_get *g = NULL;
	unsigned char *buf;
	size_t len, have = 0;
	int err;

	*restarts = 0;
	*out = NULL;
	*out_len = 0;
	if ((err = gv_get_open(&g, st, key, o)) < 0)
		return err;
	len = (size_t)gv_get_length(g);
	buf = talloc(len + 1);
	for (;;) {
		ssize_t n = gv_get_read(g, buf + have, len + 1 - have < 40000 ? len + 1 - have : 40000);

		if (n == GV_ERESTART) {
			(*restarts)++;
			have = 0;
			continue;
		}
		if (n < 0) {
			tfree(buf);
			gv_get_close(g);
			return (int)n;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		assert_true(have <= len);
	}
	if (sector)
		snprintf(sector, cap, "%s", gv_get_sector(g));
	gv_get_close(g);
	*out = buf;
	*out_len = have;
	return 0;
}

static void assert_reads_back(gv_store *st, const gv_key *key, const unsigned char *want)
{
	unsigned char *got;
	size_t n;
	int restarts;

	assert_int_equal(read_blob(st, key, NULL, &got, &n, &restarts, NULL, 0), 0);
	assert_int_equal(restarts, 0);
	assert_int_equal(n, key->size);
	if (n)
		assert_memory_equal(got, want, n);
	tfree(got);
}

/* ---- index / sector inspection -------------------------------------------- */

static int sector_has(gv_store *st, const char *id, const gv_key *key)
{
	gv_sector *s = gv_store_sector_handle(st, id, NULL, 0);
	uint64_t sz = 0;

	assert_non_null(s);
	return gv_sector_stat(s, key, &sz) == 0;
}

static uint64_t sector_bytes(gv_store *st, const char *id)
{
	gv_sector *s = gv_store_sector_handle(st, id, NULL, 0);
	gv_sector_usage u;

	assert_non_null(s);
	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	return u.used;
}

/* The row of `sector` among a key's replica rows, or NULL. */
static gv_replica *row_of(gv_replica *reps, size_t n, const char *sector)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(reps[i].sector, sector) == 0)
			return &reps[i];
	return NULL;
}

/* The key's replica rows are exactly `ids`, each healthy and complete, and
 * exactly those sectors (of `all`) hold its bytes. */
static void assert_replicas_exactly(gv_store *st, const gv_key *key, const char *const *ids,
                                    size_t nids, const char *const *all, size_t nall)
{
	gv_index *ix = gv_store_index(st);
	gv_replica *reps = NULL;
	size_t n = 0, i, j;

	assert_int_equal(gv_index_replicas_find(ix, key, &reps, &n), 0);
	assert_int_equal(n, nids);
	for (i = 0; i < nids; i++) {
		gv_replica *r = row_of(reps, n, ids[i]);

		assert_non_null(r);
		assert_int_equal(r->healthy, 1);
		assert_true(gv_rangeset_is_full(&r->ranges, key->size));
	}
	gv_replicas_free(reps, n);
	for (i = 0; i < nall; i++) {
		int want = 0;

		for (j = 0; j < nids; j++)
			if (strcmp(all[i], ids[j]) == 0)
				want = 1;
		assert_int_equal(sector_has(st, all[i], key), want);
	}
}

/* The index knows nothing of key, and no sector of `all` holds it. */
static void assert_nothing_of(gv_store *st, const gv_key *key, const char *const *all, size_t nall)
{
	gv_index *ix = gv_store_index(st);
	gv_replica *reps = NULL;
	size_t n = 0, i;
	int64_t created;

	assert_int_equal(gv_index_blob_exists(ix, key, &created), 0);
	assert_int_equal(gv_index_replicas_find(ix, key, &reps, &n), GV_ENOTFOUND);
	gv_replicas_free(reps, n);
	for (i = 0; i < nall; i++)
		assert_int_equal(sector_has(st, all[i], key), 0);
}

/* A key's healthy replica count and distinct racks, from gv_stat. */
static void key_health(gv_store *st, const gv_key *key, int *healthy, int *racks)
{
	gv_blob_status *bs = NULL;

	assert_int_equal(gv_stat(&bs, st, key), 0);
	*healthy = bs->healthy_replicas;
	*racks = bs->placement.racks;
	gv_blob_status_free(bs);
}

static void assert_protected(gv_store *st, const gv_key *key)
{
	int h, r;

	key_health(st, key, &h, &r);
	assert_int_equal(h, 3);
	assert_int_equal(r, 3);
}

typedef struct listed {
	gv_key keys[512];
	size_t n;
} listed;

static int list_cb(const gv_key *key, uint64_t bytes, void *payload)
{
	listed *l = payload;

	(void)bytes;
	if (l->n < 512)
		l->keys[l->n++] = *key;
	return 0;
}

/*
 * Bytes and rows agree store-wide: every blob a sector holds has a row
 * there, every row's bytes are there with the right size, and each
 * sector's own byte count equals the index's `used`.
 */
static void assert_store_consistent(gv_store *st)
{
	gv_index *ix = gv_store_index(st);
	gv_sector_info *secs = NULL;
	size_t nsecs = 0, i, k;
	gv_blob_entry *e = NULL;
	gv_key after;
	int have_after = 0;

	assert_int_equal(gv_store_sector_list(st, &secs, &nsecs), 0);
	for (i = 0; i < nsecs; i++) {
		gv_sector *s = gv_store_sector_handle(st, secs[i].id, NULL, 0);
		listed *l = calloc(1, sizeof(*l));

		assert_non_null(l);
		assert_non_null(s);
		assert_int_equal(gv_sector_list(s, list_cb, l), 0);
		for (k = 0; k < l->n; k++) {
			gv_replica *reps = NULL;
			size_t n = 0;

			assert_int_equal(gv_index_replicas_find(ix, &l->keys[k], &reps, &n), 0);
			assert_non_null(row_of(reps, n, secs[i].id));
			gv_replicas_free(reps, n);
		}
		tfree(l);
		assert_int_equal(sector_bytes(st, secs[i].id), secs[i].used);
	}
	for (;;) {
		size_t n = 0;

		assert_int_equal(gv_index_blobs_next(ix, have_after ? &after : NULL, 64, &e, &n), 0);
		if (n == 0) {
			gv_blob_entries_free(e, n);
			break;
		}
		for (i = 0; i < n; i++) {
			for (k = 0; k < e[i].nreplicas; k++) {
				uint64_t sz = 0;
				gv_sector *s = gv_store_sector_handle(st, e[i].replicas[k].sector, NULL, 0);

				assert_non_null(s);
				assert_int_equal(gv_sector_stat(s, &e[i].key, &sz), 0);
				assert_int_equal(sz, e[i].key.size);
			}
		}
		after = e[n - 1].key;
		have_after = 1;
		gv_blob_entries_free(e, n);
	}
	tfree(secs);
}

static void index_stats(gv_store *st, gv_index_stats *out)
{
	gv_index *ix = gv_store_index(st);

	assert_int_equal(gv_index_stats_get(ix, 3, out), 0);
}

/* ---- 1. round trip --------------------------------------------------------- */

static const char *const ABC[] = { "a", "b", "c" };

static void three_sectors(fx *f, int faults, gv_sector *out[3])
{
	size_t i;

	open_store(f, NULL);
	add_mem(f->st, "a", "r1", 1ull << 30);
	add_mem(f->st, "b", "r2", 1ull << 30);
	add_mem(f->st, "c", "r3", 1ull << 30);
	for (i = 0; faults && i < 3; i++)
		out[i] = wrap_fault(f->st, ABC[i], 1ull << 30);
}

static void test_roundtrip(void **state)
{
	static const size_t sizes[] = { 0, 1, MiB };
	fx *f = *state;
	gv_sector *fs[3];
	size_t i;

	three_sectors(f, 1, fs);
	for (i = 0; i < 3; i++) {
		gv_key key;
		gv_put_result res;
		unsigned char *buf = make(sizes[i], 100 + i, &key), *got;
		size_t n;
		int restarts;

		assert_int_equal(put_buf(f->st, buf, sizes[i], &res), 0);
		assert_int_equal(gv_key_cmp(&res.key, &key), 0);
		assert_int_equal(res.existed, 0);
		assert_int_equal(res.quorum_met, 1);
		assert_in_range(res.replicas, 2, 3);
		wait_bg(f->st);
		assert_replicas_exactly(f->st, &key, ABC, 3, ABC, 3);

		assert_int_equal(read_blob(f->st, &key, NULL, &got, &n, &restarts, NULL, 0), 0);
		assert_int_equal(restarts, 0);
		assert_int_equal(n, sizes[i]);
		if (n)
			assert_memory_equal(got, buf, n);
		tfree(got);
		tfree(buf);
	}
	assert_store_consistent(f->st);
}

/* The largest factor the settings accept is written in full: every per-key
 * array of the write path holds GV_MAX_REPLICAS. */
static void test_put_max_replicas(void **state)
{
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;
	fx *f = *state;
	gv_put_result res;
	gv_index *ix;
	gv_replica *reps = NULL;
	size_t n = 0;
	gv_key key;
	unsigned char *buf, *got;
	char id[8];
	int i, restarts;

	p.strategy = GV_STRATEGY_SIMPLE;
	p.factor = GV_MAX_REPLICAS;
	p.min_replicas = GV_MAX_REPLICAS;
	open_store(f, &p);
	for (i = 0; i < GV_MAX_REPLICAS + 2; i++) {
		snprintf(id, sizeof(id), "m%02d", i);
		add_mem(f->st, id, id, 1ull << 30);
	}
	buf = make(20 * KiB, 77, &key);
	assert_int_equal(put_buf(f->st, buf, 20 * KiB, &res), 0);
	assert_int_equal(res.quorum_met, 1);
	assert_int_equal(res.replicas, GV_MAX_REPLICAS);
	wait_bg(f->st);
	ix = gv_store_index(f->st);
	assert_int_equal(gv_index_replicas_find(ix, &key, &reps, &n), 0);
	assert_int_equal(n, GV_MAX_REPLICAS);
	gv_replicas_free(reps, n);
	assert_int_equal(read_blob(f->st, &key, NULL, &got, &n, &restarts, NULL, 0), 0);
	assert_int_equal(n, 20 * KiB);
	assert_memory_equal(got, buf, n);
	tfree(got);
	tfree(buf);

	/* One more is refused by the settings, which stay as they were. */
	p.factor = GV_MAX_REPLICAS + 1;
	assert_int_equal(gv_store_set_placement(f->st, &p), GV_EINVAL);
	assert_int_equal(gv_store_placement(f->st).factor, GV_MAX_REPLICAS);
	assert_store_consistent(f->st);
}

static void test_range_reads(void **state)
{
	static const uint64_t ranges[][2] = {
		{ 0, 1 }, { 12345, 654321 }, { MiB - 1, MiB }, { 0, MiB - 1 }, { 1, MiB }, { 65520, 65536 + 3 },
	};
	fx *f = *state;
	gv_get_opts o = GV_GET_OPTS_INIT;
	gv_get *g = NULL;
	gv_key key, unknown;
	unsigned char *buf, *got, *other;
	size_t i, n;
	int restarts;

	three_sectors(f, 0, NULL);
	buf = put_new(f->st, MiB, 7, &key);
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		o.has_range = 1;
		o.start = ranges[i][0];
		o.end = ranges[i][1];
		assert_int_equal(read_blob(f->st, &key, &o, &got, &n, &restarts, NULL, 0), 0);
		assert_int_equal(restarts, 0);
		assert_int_equal(n, ranges[i][1] - ranges[i][0]);
		assert_memory_equal(got, buf + ranges[i][0], n);
		tfree(got);
	}
	/* Outside the blob, or empty. */
	o.start = 10;
	o.end = MiB + 1;
	assert_int_equal(gv_get_open(&g, f->st, &key, &o), GV_EINVAL);
	assert_null(g);
	o.start = 10;
	o.end = 10;
	assert_int_equal(gv_get_open(&g, f->st, &key, &o), GV_EINVAL);
	o.start = 11;
	o.end = 10;
	assert_int_equal(gv_get_open(&g, f->st, &key, &o), GV_EINVAL);
	/* Unknown key. */
	other = make(100, 999, &unknown);
	assert_int_equal(gv_get_open(&g, f->st, &unknown, NULL), GV_ENOTFOUND);
	tfree(other);
	tfree(buf);
}

static unsigned long calls_sum(gv_sector *fs[3])
{
	return gv_sector_fault_calls(fs[0]) + gv_sector_fault_calls(fs[1]) +
	       gv_sector_fault_calls(fs[2]);
}

static void test_reput_idempotent(void **state)
{
	fx *f = *state;
	gv_sector *fs[3];
	gv_put_result res;
	gv_key key;
	gv_index_stats before, after;
	uint64_t used[3];
	unsigned char *buf;
	size_t i;

	three_sectors(f, 1, fs);
	buf = put_new(f->st, 300 * KiB + 17, 11, &key);
	wait_bg(f->st);
	index_stats(f->st, &before);
	for (i = 0; i < 3; i++)
		used[i] = sector_bytes(f->st, ABC[i]);

	/* Nothing is committed anywhere by a re-put. */
	for (i = 0; i < 3; i++)
		plan(fs[i], GV_FAULT_NONE, GV_FAULT_OP_COMMIT, 0, 0);
	assert_int_equal(put_buf(f->st, buf, 300 * KiB + 17, &res), 0);
	assert_int_equal(res.existed, 1);
	assert_int_equal(res.quorum_met, 1);
	assert_int_equal(res.replicas, 3);
	assert_int_equal(gv_key_cmp(&res.key, &key), 0);
	wait_bg(f->st);
	assert_int_equal(calls_sum(fs), 0);

	/* No writer is opened beyond the streaming temporaries, one per
	 * target (the content is unknown until the last byte), and none for
	 * copies. */
	for (i = 0; i < 3; i++)
		plan(fs[i], GV_FAULT_NONE, GV_FAULT_OP_OPEN_WRITE, 0, 0);
	assert_int_equal(put_buf(f->st, buf, 300 * KiB + 17, &res), 0);
	assert_int_equal(res.existed, 1);
	wait_bg(f->st);
	assert_int_equal(calls_sum(fs), 3);

	index_stats(f->st, &after);
	assert_int_equal(after.blobs, before.blobs);
	assert_int_equal(after.replicas, before.replicas);
	assert_int_equal(after.healthy_replicas, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(sector_bytes(f->st, ABC[i]), used[i]);
	assert_replicas_exactly(f->st, &key, ABC, 3, ABC, 3);
	assert_store_consistent(f->st);
	tfree(buf);
}

static void test_put_expect_and_delete(void **state)
{
	fx *f = *state;
	gv_put_opts po = GV_PUT_OPTS_INIT;
	gv_put_result res;
	gv_put *put = NULL;
	gv_get *g = NULL;
	gv_key key, other;
	gv_index_stats is;
	unsigned char *buf, *obuf;

	three_sectors(f, 0, NULL);
	buf = make(10 * KiB, 81, &key);
	obuf = make(10 * KiB, 82, &other);

	/* Bytes that hash to another key: refused, nothing kept. */
	po.expect = &other;
	assert_int_equal(gv_put_open(&put, f->st, &po), 0);
	assert_int_equal(gv_put_write(put, buf, 10 * KiB), 0);
	assert_int_equal(gv_put_commit(put, &res), GV_ECORRUPT);
	/* More bytes than the expected size: refused at the write. */
	assert_int_equal(gv_put_open(&put, f->st, &po), 0);
	assert_int_equal(gv_put_write(put, obuf, 10 * KiB), 0);
	assert_int_equal(gv_put_write(put, obuf, 1), GV_ECORRUPT);
	gv_put_abort(put);
	/* An aborted put leaves nothing either. */
	assert_int_equal(gv_put_open(&put, f->st, NULL), 0);
	assert_int_equal(gv_put_write(put, buf, 10 * KiB), 0);
	gv_put_abort(put);
	wait_bg(f->st);
	assert_nothing_of(f->st, &key, ABC, 3);
	assert_nothing_of(f->st, &other, ABC, 3);
	index_stats(f->st, &is);
	assert_int_equal(is.blobs, 0);

	/* The expected key, matching. */
	po.expect = &key;
	assert_int_equal(gv_put_open(&put, f->st, &po), 0);
	assert_int_equal(gv_put_write(put, buf, 10 * KiB), 0);
	assert_int_equal(gv_put_commit(put, &res), 0);
	assert_int_equal(gv_key_cmp(&res.key, &key), 0);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &key, ABC, 3, ABC, 3);

	/* Delete: rows and bytes go. */
	assert_int_equal(gv_delete(f->st, &key), 0);
	assert_nothing_of(f->st, &key, ABC, 3);
	assert_int_equal(gv_get_open(&g, f->st, &key, NULL), GV_ENOTFOUND);
	assert_int_equal(gv_delete(f->st, &key), GV_ENOTFOUND);
	assert_store_consistent(f->st);
	tfree(buf);
	tfree(obuf);
}

static void test_reput_restores_lost_blob(void **state)
{
	fx *f = *state;
	gv_put_result res;
	gv_index *ix;
	gv_sector_writer *w = NULL;
	gv_key key;
	unsigned char *buf, *junk;
	gv_index_stats is;
	size_t i;

	three_sectors(f, 0, NULL);
	ix = gv_store_index(f->st);
	buf = put_new(f->st, 40 * KiB + 9, 83, &key);
	wait_bg(f->st);
	/* Every copy goes bad (bytes and rows). */
	junk = malloc(40 * KiB + 9);
	assert_non_null(junk);
	fill(junk, 40 * KiB + 9, 84);
	for (i = 0; i < 3; i++) {
		assert_int_equal(gv_sector_writer_open(&w, gv_store_sector_handle(f->st, ABC[i], NULL, 0),
		                                       &key, 0),
		                 0);
		assert_int_equal(gv_sector_writer_write(w, junk, 40 * KiB + 9), 0);
		assert_int_equal(gv_sector_writer_commit(w, &key), 0);
		assert_int_equal(gv_index_replica_set_health(ix, &key, ABC[i], 0, "checksum mismatch"),
		                 0);
	}
	tfree(junk);
	index_stats(f->st, &is);
	assert_int_equal(is.lost, 1);

	/* Putting the content again brings the blob back, over the bad copies. */
	assert_int_equal(put_buf(f->st, buf, 40 * KiB + 9, &res), 0);
	assert_int_equal(res.existed, 0);
	assert_int_equal(res.quorum_met, 1);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &key, ABC, 3, ABC, 3);
	index_stats(f->st, &is);
	assert_int_equal(is.lost, 0);
	assert_int_equal(is.healthy_replicas, 3);
	assert_reads_back(f->st, &key, buf);
	assert_store_consistent(f->st);
	tfree(buf);
}

/* ---- 2. quorum ------------------------------------------------------------- */

/*
 * "h" (rack r1) is huge, "f1" (r2) and "f2" (r3) are small: the primary is
 * chosen capacity-weighted, so it is "h" but for odds of about 2^-20, and
 * f1, f2 are the copy targets.
 */
static const char *const HFF[] = { "h", "f1", "f2" };

static void quorum_store(fx *f, gv_sector **f1, gv_sector **f2)
{
	open_store(f, NULL);
	add_mem(f->st, "h", "r1", 1ull << 50);
	add_mem(f->st, "f1", "r2", 1ull << 30);
	add_mem(f->st, "f2", "r3", 1ull << 30);
	*f1 = wrap_fault(f->st, "f1", 1ull << 30);
	*f2 = wrap_fault(f->st, "f2", 1ull << 30);
}

static void one_target_fails(fx *f, gv_sector *bad, const char *bad_id, const char *good_id,
                             unsigned op, uint64_t seed)
{
	gv_put_result res;
	gv_key key;
	const char *want[2] = { "h", good_id };
	unsigned char *buf = make(100 * KiB + 3, seed, &key);
	uint64_t bad_before = sector_bytes(f->st, bad_id);
	int i, seen_h = 0, seen_good = 0;

	plan(bad, GV_FAULT_EIO, op, 0, 0);
	assert_int_equal(put_buf(f->st, buf, 100 * KiB + 3, &res), 0);
	assert_int_equal(res.quorum_met, 1);
	assert_int_equal(res.existed, 0);
	assert_int_equal(res.replicas, 2);
	for (i = 0; i < 2; i++) {
		seen_h |= strcmp(res.sectors[i], "h") == 0;
		seen_good |= strcmp(res.sectors[i], good_id) == 0;
	}
	assert_true(seen_h && seen_good);
	wait_bg(f->st);
	assert_true(gv_sector_fault_calls(bad) >= 1);
	assert_replicas_exactly(f->st, &key, want, 2, HFF, 3);
	assert_int_equal(sector_bytes(f->st, bad_id), bad_before);
	assert_reads_back(f->st, &key, buf);
	plan(bad, GV_FAULT_NONE, 0, 0, 0);
	tfree(buf);
}

static void test_quorum_one_target_fails(void **state)
{
	fx *f = *state;
	gv_sector *f1, *f2;

	quorum_store(f, &f1, &f2);
	one_target_fails(f, f1, "f1", "f2", GV_FAULT_OP_COMMIT, 21);
	one_target_fails(f, f2, "f2", "f1", GV_FAULT_OP_OPEN_WRITE, 22);
	one_target_fails(f, f1, "f1", "f2", GV_FAULT_OP_WRITE, 23);
	assert_store_consistent(f->st);
}

static void test_quorum_two_targets_fail(void **state)
{
	fx *f = *state;
	gv_sector *f1, *f2;
	gv_put_result res;
	gv_key key;
	gv_index_stats is;
	unsigned char *buf;

	quorum_store(f, &f1, &f2);
	buf = make(64 * KiB, 31, &key);
	plan(f1, GV_FAULT_EIO, GV_FAULT_OP_COMMIT, 0, 0);
	plan(f2, GV_FAULT_EIO, GV_FAULT_OP_OPEN_WRITE, 0, 0);
	assert_int_equal(put_buf(f->st, buf, 64 * KiB, &res), GV_EQUORUM);
	assert_int_equal(res.quorum_met, 0);
	wait_bg(f->st);
	assert_int_equal(gv_sector_fault_calls(f1), 1);
	assert_int_equal(gv_sector_fault_calls(f2), 1);
	assert_nothing_of(f->st, &key, HFF, 3);
	index_stats(f->st, &is);
	assert_int_equal(is.blobs, 0);
	assert_int_equal(is.replicas, 0);
	assert_int_equal(sector_bytes(f->st, "h"), 0);
	tfree(buf);
}

static void test_quorum_hang_past_timeout(void **state)
{
	fx *f = *state;
	gv_sector *f1, *f2;
	gv_put_result res;
	gv_key key;
	unsigned char *buf;
	int64_t t0, dt;

	quorum_store(f, &f1, &f2);
	buf = make(50 * KiB, 41, &key);
	plan(f1, GV_FAULT_HANG, GV_FAULT_OP_COMMIT, 0, 900);
	plan(f2, GV_FAULT_HANG, GV_FAULT_OP_COMMIT, 0, 900);
	t0 = mono_ms();
	assert_int_equal(put_buf(f->st, buf, 50 * KiB, &res), GV_EQUORUM);
	dt = mono_ms() - t0;
	assert_in_range(dt, TIMEOUT_MS - 20, TIMEOUT_MS + 450);
	/* Decided: nothing recorded, the primary's bytes gone at once. */
	assert_nothing_of(f->st, &key, HFF, 1);
	wait_bg(f->st);
	assert_true(mono_ms() - t0 >= 850);
	assert_nothing_of(f->st, &key, HFF, 3);
	assert_int_equal(sector_bytes(f->st, "f1") + sector_bytes(f->st, "f2"), 0);
	tfree(buf);
}

/* gv_store_free waits for a late copy that finishes within the write
 * timeout, and the copy records itself first. */
static void test_quorum_hang_store_free_waits(void **state)
{
	fx *f = *state;
	gv_put_result res;
	gv_index_stats is;
	gv_key key;
	unsigned char *buf;
	int64_t t0;

	open_store_timeout(f, NULL, 20000);
	add_mem(f->st, "h", "r1", 1ull << 50);
	add_mem(f->st, "f1", "r2", 1ull << 30);
	add_mem(f->st, "f2", "r3", 1ull << 30);
	attach_slow(f->st, "f2", 1ull << 30, 800);
	buf = make(10 * KiB, 42, &key);
	t0 = mono_ms();
	assert_int_equal(put_buf(f->st, buf, 10 * KiB, &res), 0);
	assert_int_equal(res.replicas, 2);
	gv_store_free(f->st);
	f->st = NULL;
	assert_true(mono_ms() - t0 >= 750);

	/* The late copy recorded itself before the store closed. */
	open_store(f, NULL);
	index_stats(f->st, &is);
	assert_int_equal(is.blobs, 1);
	assert_int_equal(is.replicas, 3);
	tfree(buf);
}

/* A copy hung far longer than the write timeout does not hang
 * gv_store_free: it returns after the timeout and the copy keeps what it
 * uses (the sanitizer passes would see a use after free). */
static void test_store_free_bounded(void **state)
{
	fx *f = *state;
	gv_sector *f1, *f2;
	gv_put_result res;
	gv_index_stats is;
	gv_key key;
	unsigned char *buf;
	int64_t t0, dt;

	quorum_store(f, &f1, &f2);
	buf = make(10 * KiB, 43, &key);
	plan(f1, GV_FAULT_HANG, GV_FAULT_OP_OPEN_WRITE, 0, 60000);
	plan(f2, GV_FAULT_HANG, GV_FAULT_OP_OPEN_WRITE, 0, 60000);
	assert_int_equal(put_buf(f->st, buf, 10 * KiB, &res), GV_EQUORUM);
	t0 = mono_ms();
	gv_store_free(f->st);
	f->st = NULL;
	dt = mono_ms() - t0;
	assert_true(dt < 3 * TIMEOUT_MS + 2000);

	/* The store opens again beside the detached one; nothing recorded. */
	open_store(f, NULL);
	index_stats(f->st, &is);
	assert_int_equal(is.blobs, 0);
	assert_int_equal(is.replicas, 0);
	tfree(buf);
}

static void test_quorum_late_failure(void **state)
{
	fx *f = *state;
	gv_sector *f1, *f2;
	gv_put_result res;
	gv_key k1, k2;
	const char *want[2] = { "h", "f2" };
	unsigned char *b1, *b2;
	int64_t t0, dt;

	quorum_store(f, &f1, &f2);
	/* Both targets stall (shorter than the timeout), then fail: the put
	 * fails as soon as the last copy does, leaving nothing. */
	b1 = make(20 * KiB, 51, &k1);
	plan(f1, GV_FAULT_HANG, GV_FAULT_OP_COMMIT, 0, 120);
	plan(f2, GV_FAULT_HANG, GV_FAULT_OP_COMMIT, 0, 120);
	t0 = mono_ms();
	assert_int_equal(put_buf(f->st, b1, 20 * KiB, &res), GV_EQUORUM);
	dt = mono_ms() - t0;
	assert_in_range(dt, 100, TIMEOUT_MS - 20);
	wait_bg(f->st);
	assert_nothing_of(f->st, &k1, HFF, 3);

	/* One stalls and fails, the other succeeds. */
	b2 = make(20 * KiB, 52, &k2);
	plan(f2, GV_FAULT_NONE, 0, 0, 0);
	assert_int_equal(put_buf(f->st, b2, 20 * KiB, &res), 0);
	assert_int_equal(res.replicas, 2);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &k2, want, 2, HFF, 3);
	assert_int_equal(sector_bytes(f->st, "f1"), 0);
	assert_store_consistent(f->st);
	tfree(b1);
	tfree(b2);
}

static void test_quorum_late_success(void **state)
{
	fx *f = *state;
	gv_put_result res;
	gv_key k1, k2;
	unsigned char *b1, *b2;
	int64_t t0, dt;

	open_store(f, NULL);
	add_mem(f->st, "h", "r1", 1ull << 50);
	add_mem(f->st, "f1", "r2", 1ull << 30);
	add_mem(f->st, "f2", "r3", 1ull << 30);

	/* Both copies commit only after the write timeout: the put has failed
	 * by then, and the late copies must not leave their bytes. */
	attach_slow(f->st, "f1", 1ull << 30, 700);
	attach_slow(f->st, "f2", 1ull << 30, 700);
	b1 = make(30 * KiB, 61, &k1);
	t0 = mono_ms();
	assert_int_equal(put_buf(f->st, b1, 30 * KiB, &res), GV_EQUORUM);
	dt = mono_ms() - t0;
	assert_in_range(dt, TIMEOUT_MS - 20, TIMEOUT_MS + 350);
	wait_bg(f->st);
	assert_nothing_of(f->st, &k1, HFF, 3);
	assert_int_equal(sector_bytes(f->st, "f1") + sector_bytes(f->st, "f2"), 0);

	/* One copy is fast, one late: the put returns on the quorum, and the
	 * late copy records itself when it lands. */
	attach_slow(f->st, "f2", 1ull << 30, 0);
	b2 = make(30 * KiB, 62, &k2);
	t0 = mono_ms();
	assert_int_equal(put_buf(f->st, b2, 30 * KiB, &res), 0);
	dt = mono_ms() - t0;
	assert_true(dt < TIMEOUT_MS);
	assert_int_equal(res.replicas, 2);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &k2, HFF, 3, HFF, 3);
	assert_store_consistent(f->st);
	tfree(b1);
	tfree(b2);
}

static void test_quorum_too_few_sectors(void **state)
{
	fx *f = *state;
	gv_put *put = NULL;

	open_store(f, NULL);
	assert_int_equal(gv_put_open(&put, f->st, NULL), GV_EQUORUM);
	assert_null(put);
	add_mem(f->st, "a", "r1", 1ull << 30);
	assert_int_equal(gv_put_open(&put, f->st, NULL), GV_EQUORUM);
	assert_null(put);
	/* A sector that is unhealthy does not count. */
	add_mem(f->st, "b", "r2", 1ull << 30);
	assert_int_equal(gv_store_sector_set_health(f->st, "b", 0), 0);
	assert_int_equal(gv_put_open(&put, f->st, NULL), GV_EQUORUM);
	assert_int_equal(gv_store_sector_set_health(f->st, "b", 1), 0);
	assert_int_equal(gv_put_open(&put, f->st, NULL), 0);
	gv_put_abort(put);
}

/*
 * The primary's node hangs in its commit (kill -STOP of a storage node):
 * the put meets the quorum on the two others within the write timeout
 * instead of waiting for the hung commit, and the late copy records itself
 * once the commit goes ahead.
 */
static void test_quorum_primary_commit_hangs(void **state)
{
	fx *f = *state;
	gv_sector *bad;
	gv_put_result res;
	gv_key key;
	unsigned char *buf;
	const char *two[2] = { "a", "c" }, *three[3] = { "a", "b", "c" };
	int64_t t0, dt, end;

	open_store_timeout(f, NULL, TIMEOUT_MS);
	add_mem(f->st, "a", "r1", 1ull << 30);
	add_mem(f->st, "b", "r2", 1ull << 50); /* the primary but for ~2^-20 */
	add_mem(f->st, "c", "r3", 1ull << 30);
	bad = wrap_fault(f->st, "b", 1ull << 50);
	buf = make(200 * KiB, 93, &key);
	/* The commit sleeps until the next plan (far longer than the test's
	 * margin), then goes ahead. */
	plan(bad, GV_FAULT_DELAY, GV_FAULT_OP_COMMIT, 0, 60000);
	t0 = mono_ms();
	assert_int_equal(put_buf(f->st, buf, 200 * KiB, &res), 0);
	dt = mono_ms() - t0;
	assert_true(dt < TIMEOUT_MS + 20000);
	assert_int_equal(res.quorum_met, 1);
	assert_int_equal(res.replicas, 2);
	end = mono_ms() + 10000;
	while (gv_sector_fault_calls(bad) < 1 && mono_ms() < end)
		sleep_ms(2);
	assert_int_equal(gv_sector_fault_calls(bad), 1);
	assert_replicas_exactly(f->st, &key, two, 2, ABC, 3);
	assert_reads_back(f->st, &key, buf);
	/* The node wakes: its commit goes ahead and records itself. */
	plan(bad, GV_FAULT_NONE, 0, 0, 0);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &key, three, 3, ABC, 3);
	assert_store_consistent(f->st);
	tfree(buf);
}

/*
 * The primary is the sector that fails.  Its streaming write cannot be
 * moved once bytes were handed to it, so a failed write fails the put
 * (leaving nothing); a failed commit is one target's failure like any
 * other's, and a writer that cannot even be opened must not fail a put
 * that two healthy sectors can carry.
 */
static void test_quorum_primary_fails(void **state)
{
	fx *f = *state;
	gv_sector *bad;
	gv_put_result res;
	gv_put *put = NULL;
	gv_key key;
	unsigned char *buf;
	const char *want[2] = { "a", "c" };
	int err;

	open_store(f, NULL);
	add_mem(f->st, "a", "r1", 1ull << 30);
	add_mem(f->st, "b", "r2", 1ull << 50); /* the primary but for ~2^-20 */
	add_mem(f->st, "c", "r3", 1ull << 30);
	bad = wrap_fault(f->st, "b", 1ull << 50);
	buf = make(33 * KiB, 91, &key);

	/* Write fails mid-stream. */
	plan(bad, GV_FAULT_EIO, GV_FAULT_OP_WRITE, 2, 0);
	assert_int_equal(gv_put_open(&put, f->st, NULL), 0);
	assert_int_equal(gv_put_write(put, buf, 1000), 0);
	assert_int_equal(gv_put_write(put, buf + 1000, 1000), GV_EIO);
	gv_put_abort(put);
	/* Commit fails: it is one target among the others, which carry the
	 * quorum. */
	{
		unsigned char *b2;
		gv_key k2;

		b2 = make(33 * KiB, 92, &k2);
		plan(bad, GV_FAULT_EIO, GV_FAULT_OP_COMMIT, 0, 0);
		assert_int_equal(put_buf(f->st, b2, 33 * KiB, &res), 0);
		assert_int_equal(res.replicas, 2);
		assert_int_equal(gv_sector_fault_calls(bad), 1);
		wait_bg(f->st);
		assert_replicas_exactly(f->st, &k2, want, 2, ABC, 3);
		tfree(b2);
	}

	/* Writer open fails: the put goes to the healthy sectors. */
	plan(bad, GV_FAULT_EIO, GV_FAULT_OP_OPEN_WRITE, 0, 0);
	err = put_buf(f->st, buf, 33 * KiB, &res);
	assert_true(gv_sector_fault_calls(bad) >= 1);
	if (err != 0)
		fail_msg("put with a primary whose writer cannot open: %s (%s), expected success on "
		         "the two healthy sectors",
		         gv_error_name(err), gv_error_last());
	assert_int_equal(res.replicas, 2);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &key, want, 2, ABC, 3);
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

/*
 * The body streams into every target at once: the copies are committed in
 * place, no sector is read to copy it.  A target that fails mid-stream
 * leaves the fan-out and its share is copied after the commit, elsewhere.
 */
static void test_put_fanout(void **state)
{
	fx *f = *state;
	gv_sector *fs[3];
	gv_put_result res;
	gv_key key;
	unsigned char *buf;
	const char *ids[3] = { "a", "b", "c" };
	size_t i;

	open_store(f, NULL);
	add_mem(f->st, "a", "r1", 1ull << 30);
	add_mem(f->st, "b", "r2", 1ull << 30);
	add_mem(f->st, "c", "r3", 1ull << 30);
	for (i = 0; i < 3; i++) {
		fs[i] = wrap_fault(f->st, ids[i], 1ull << 30);
		plan(fs[i], GV_FAULT_NONE, GV_FAULT_OP_OPEN_READ, 0, 0);
	}
	buf = make(5 * MiB + 7, 95, &key);
	assert_int_equal(put_buf(f->st, buf, 5 * MiB + 7, &res), 0);
	assert_in_range(res.replicas, 2, 3);
	wait_bg(f->st);
	assert_int_equal(calls_sum(fs), 0);
	assert_replicas_exactly(f->st, &key, ids, 3, ids, 3);
	assert_int_equal(gv_delete(f->st, &key), 0);

	tfree(buf);
}

/* "h" is the primary but for odds of about 2^-20; every write into "f1"
 * fails.  Whenever f1 is a streamed target it leaves the fan-out and the
 * copy goes to the one sector left: three copies, none on f1. */
static void test_put_fanout_target_fails(void **state)
{
	fx *f = *state;
	gv_sector *bad;
	gv_put_result res;
	gv_put *put = NULL;
	gv_key key;
	unsigned char *buf;
	size_t i, at;

	open_store(f, NULL);
	add_mem(f->st, "h", "r1", 1ull << 50);
	add_mem(f->st, "f1", "r2", 1ull << 30);
	add_mem(f->st, "f2", "r3", 1ull << 30);
	add_mem(f->st, "f3", "r4", 1ull << 30);
	bad = wrap_fault(f->st, "f1", 1ull << 30);
	plan(bad, GV_FAULT_EIO, GV_FAULT_OP_WRITE, 0, 0);
	for (i = 0; i < 8; i++) {
		const char *all[4] = { "h", "f1", "f2", "f3" };
		const char *want[3] = { "h", "f2", "f3" };

		buf = make(300 * KiB + i, 96 + i, &key);
		assert_int_equal(gv_put_open(&put, f->st, NULL), 0);
		for (at = 0; at < 300 * KiB + i; at += 64 * KiB)
			assert_int_equal(gv_put_write(put, buf + at, 300 * KiB + i - at < 64 * KiB
			                                                 ? 300 * KiB + i - at : 64 * KiB),
			                 0);
		assert_int_equal(gv_put_commit(put, &res), 0);
		wait_bg(f->st);
		assert_replicas_exactly(f->st, &key, want, 3, all, 4);
		assert_reads_back(f->st, &key, buf);
		tfree(buf);
	}
	assert_true(gv_sector_fault_calls(bad) >= 1);
	assert_int_equal(sector_bytes(f->st, "f1"), 0);
	assert_store_consistent(f->st);
}

#define CONC_THREADS 6
#define CONC_PER 4

typedef struct conc_arg {
	gv_store *st;
	int id;
	gv_key keys[CONC_PER + 1];
	int errors;
} conc_arg;

static void *conc_main(void *p)
{
	conc_arg *a = p;
	int i;

	for (i = 0; i <= CONC_PER; i++) {
		/* The last blob is the same content in every thread. */
		uint64_t seed = i < CONC_PER ? 7000 + (uint64_t)a->id * 100 + (uint64_t)i : 6999;
		size_t len = i < CONC_PER ? 3000 + (size_t)a->id * 977 + (size_t)i * 131 : 12345;
		unsigned char *buf = malloc(len);
		gv_put_result res;
		gv_get *g = NULL;
		unsigned char *got = malloc(len);
		size_t have = 0;

		fill(buf, len, seed);
		gv_key_of_buf(&a->keys[i], buf, len);
		if (put_buf(a->st, buf, len, &res) != 0 || gv_key_cmp(&res.key, &a->keys[i]) != 0)
			a->errors++;
		if (gv_get_open(&g, a->st, &a->keys[i], NULL) != 0) {
			a->errors++;
		} else {
			for (;;) {
				ssize_t n = gv_get_read(g, got + have, len - have);

				if (n <= 0) {
					if (n < 0)
						a->errors++;
					break;
				}
				have += (size_t)n;
			}
			if (have != len || memcmp(got, buf, len) != 0)
				a->errors++;
			gv_get_close(g);
		}
		free(got);
		free(buf);
	}
	return NULL;
}

static void test_concurrent_puts(void **state)
{
	fx *f = *state;
	pthread_t tids[CONC_THREADS];
	conc_arg args[CONC_THREADS];
	gv_index_stats is;
	int i, j;

	three_sectors(f, 0, NULL);
	for (i = 0; i < CONC_THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].st = f->st;
		args[i].id = i;
		assert_int_equal(pthread_create(&tids[i], NULL, conc_main, &args[i]), 0);
	}
	for (i = 0; i < CONC_THREADS; i++)
		pthread_join(tids[i], NULL);
	wait_bg(f->st);
	for (i = 0; i < CONC_THREADS; i++) {
		assert_int_equal(args[i].errors, 0);
		for (j = 0; j <= CONC_PER; j++)
			assert_replicas_exactly(f->st, &args[i].keys[j], ABC, 3, ABC, 3);
	}
	index_stats(f->st, &is);
	assert_int_equal(is.blobs, CONC_THREADS * CONC_PER + 1);
	assert_int_equal(is.replicas, 3 * is.blobs);
	assert_int_equal(is.healthy_replicas, 3 * is.blobs);
	assert_store_consistent(f->st);
}

/* ---- 3. read fallback ------------------------------------------------------ */

/* Make sector id's replica of key the first one a read tries. */
static void read_first(gv_store *st, const gv_key *key, const char *id)
{
	gv_index *ix = gv_store_index(st);

	assert_int_equal(gv_index_replica_set_health(ix, key, id, 1, ""), 0);
	assert_int_equal(gv_index_replica_set_verified(ix, key, id, gv_now_ms() + 3600 * 1000,
	                                               key->digest),
	                 0);
}

static void assert_row_bad(gv_store *st, const gv_key *key, const char *id, const char *reason)
{
	gv_index *ix = gv_store_index(st);
	gv_replica *reps = NULL, *r;
	size_t n = 0;

	assert_int_equal(gv_index_replicas_find(ix, key, &reps, &n), 0);
	r = row_of(reps, n, id);
	assert_non_null(r);
	assert_int_equal(r->healthy, 0);
	if (strncmp(r->reason, reason, strlen(reason)) != 0)
		fail_msg("replica on %s: reason '%s', expected '%s...'", id, r->reason, reason);
	gv_replicas_free(reps, n);
}

static void assert_row_good(gv_store *st, const gv_key *key, const char *id)
{
	gv_index *ix = gv_store_index(st);
	gv_replica *reps = NULL, *r;
	size_t n = 0;

	assert_int_equal(gv_index_replicas_find(ix, key, &reps, &n), 0);
	r = row_of(reps, n, id);
	assert_non_null(r);
	assert_int_equal(r->healthy, 1);
	gv_replicas_free(reps, n);
}

/* ---- one key at a time: the key lock and the races it orders ------------- */

typedef struct lock_arg {
	gv_store *st;
	gv_key key;
	volatile int done;
} lock_arg;

static void *lock_main(void *p)
{
	lock_arg *a = p;

	if (gv_key_lock(a->st, &a->key) == 0) {
		__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
		gv_key_unlock(a->st, &a->key);
	} else {
		__atomic_store_n(&a->done, -1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Wait (bounded) until *flag is nonzero; its value. */
static int wait_flag(volatile int *flag, unsigned ms)
{
	int64_t end = mono_ms() + ms;

	while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST) && mono_ms() < end)
		sleep_ms(5);
	return __atomic_load_n(flag, __ATOMIC_SEQ_CST);
}

static void test_key_lock(void **state)
{
	fx *f = *state;
	lock_arg same, other;
	pthread_t t1, t2;
	gv_key k1;
	unsigned char *b;

	open_store(f, NULL);
	b = make(100, 1, &k1);
	memset(&same, 0, sizeof(same));
	memset(&other, 0, sizeof(other));
	same.st = other.st = f->st;
	same.key = k1;
	tfree(make(100, 2, &other.key));
	assert_int_equal(gv_key_lock(f->st, &k1), 0);
	assert_int_equal(pthread_create(&t1, NULL, lock_main, &same), 0);
	assert_int_equal(pthread_create(&t2, NULL, lock_main, &other), 0);
	/* Another key is free while k1 is held... */
	assert_int_equal(wait_flag(&other.done, 10000), 1);
	/* ...k1 is not, however long we wait. */
	sleep_ms(150);
	assert_int_equal(__atomic_load_n(&same.done, __ATOMIC_SEQ_CST), 0);
	gv_key_unlock(f->st, &k1);
	assert_int_equal(wait_flag(&same.done, 10000), 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	tfree(b);
}

typedef struct put_arg {
	gv_store *st;
	const unsigned char *buf;
	size_t len;
	gv_put_result res;
	int rc;
} put_arg;

static void *put_main(void *p)
{
	put_arg *a = p;

	a->rc = put_buf(a->st, a->buf, a->len, &a->res);
	return NULL;
}

/*
 * Two identical puts: the first misses its quorum (its copy to f2 hangs
 * past the write timeout), the second starts meanwhile and succeeds.  The
 * failing put's undo must not delete the bytes the successful one recorded.
 */
static void test_failed_put_keeps_identical_put(void **state)
{
	fx *f = *state;
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;
	gv_sector *f1, *f2;
	put_arg a;
	gv_put_result res;
	pthread_t t;
	gv_key key;
	unsigned char *buf;
	int64_t end;

	p.factor = 3;
	p.min_replicas = 3;
	open_store(f, &p);
	add_mem(f->st, "h", "r1", 1ull << 50);
	add_mem(f->st, "f1", "r2", 1ull << 30);
	add_mem(f->st, "f2", "r3", 1ull << 30);
	f1 = wrap_fault(f->st, "f1", 1ull << 30);
	f2 = wrap_fault(f->st, "f2", 1ull << 30);
	(void)f1;
	buf = make(40 * KiB, 81, &key);
	/* Only the first commit on f2 (the failing put's) hangs. */
	plan(f2, GV_FAULT_HANG, GV_FAULT_OP_COMMIT, 1, 3 * TIMEOUT_MS);
	memset(&a, 0, sizeof(a));
	a.st = f->st;
	a.buf = buf;
	a.len = 40 * KiB;
	assert_int_equal(pthread_create(&t, NULL, put_main, &a), 0);
	end = mono_ms() + 10000;
	while (gv_sector_fault_calls(f2) < 1 && mono_ms() < end)
		sleep_ms(2);
	assert_int_equal(gv_sector_fault_calls(f2), 1);
	assert_int_equal(put_buf(f->st, buf, 40 * KiB, &res), 0);
	assert_int_equal(res.quorum_met, 1);
	pthread_join(t, NULL);
	assert_int_equal(a.rc, GV_EQUORUM);
	wait_bg(f->st);
	/* The acknowledged put's rows all have their bytes. */
	assert_replicas_exactly(f->st, &key, HFF, 3, HFF, 3);
	assert_store_consistent(f->st);
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

/* DELETE answers before the put's last copy lands: the blob stays gone. */
static void test_delete_beats_late_copy(void **state)
{
	fx *f = *state;
	gv_put_result res;
	gv_blob_status *bs = NULL;
	gv_key key;
	unsigned char *buf;

	open_store(f, NULL);
	add_mem(f->st, "h", "r1", 1ull << 50);
	add_mem(f->st, "f1", "r2", 1ull << 30);
	add_mem(f->st, "f2", "r3", 1ull << 30);
	attach_slow(f->st, "f2", 1ull << 30, 3 * TIMEOUT_MS);
	buf = make(30 * KiB, 82, &key);
	assert_int_equal(put_buf(f->st, buf, 30 * KiB, &res), 0);
	assert_int_equal(res.replicas, 2);
	assert_int_equal(gv_delete(f->st, &key), 0);
	wait_bg(f->st);
	assert_int_equal(gv_stat(&bs, f->st, &key), GV_ENOTFOUND);
	assert_nothing_of(f->st, &key, HFF, 3);
	assert_store_consistent(f->st);
	tfree(buf);
}

/* A re-put of a blob whose files are gone stores the bytes again. */
static void test_reput_after_files_vanished(void **state)
{
	fx *f = *state;
	gv_put_result res;
	gv_blob_status *bs = NULL;
	gv_key key;
	unsigned char *buf;
	size_t i;

	open_store(f, NULL);
	for (i = 0; i < 3; i++)
		add_mem(f->st, ABC[i], ABC[i], 1ull << 30);
	buf = put_new(f->st, 20 * KiB, 83, &key);
	wait_bg(f->st);
	for (i = 0; i < 3; i++)
		assert_int_equal(gv_sector_del(gv_store_sector_handle(f->st, ABC[i], NULL, 0), &key),
		                 0);
	assert_int_equal(put_buf(f->st, buf, 20 * KiB, &res), 0);
	assert_int_equal(res.existed, 0);
	wait_bg(f->st);
	assert_reads_back(f->st, &key, buf);
	assert_int_equal(gv_stat(&bs, f->st, &key), 0);
	assert_int_equal(bs->healthy_replicas, 3);
	gv_blob_status_free(bs);
	assert_store_consistent(f->st);
	tfree(buf);
}

/*
 * A re-put that finds a quorum of copies on a blob recorded moments ago
 * writes nothing (the put that recorded it may still be copying the
 * rest: two puts of the same bytes at once would otherwise make a copy
 * too many); on an older blob it restores the missing copy.
 */
static void test_reput_while_settling(void **state)
{
	fx *f = *state;
	const char *const ids[] = { "a", "b", "c", "d", "e", "f" };
	gv_put_result res;
	gv_blob_status *bs = NULL;
	gv_replica *reps = NULL;
	size_t n = 0, i;
	gv_key key;
	unsigned char *buf;

	open_store(f, NULL);
	for (i = 0; i < 6; i++)
		add_mem(f->st, ids[i], ids[i], 1ull << 30);
	buf = put_new(f->st, 20 * KiB, 84, &key);
	wait_bg(f->st);
	assert_int_equal(gv_index_replicas_find(f->st->ix, &key, &reps, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(gv_sector_del(gv_store_sector_handle(f->st, reps[0].sector, NULL, 0), &key),
	                 0);
	gv_replicas_free(reps, n);
	/* Whichever sector each re-put streams to first (the two holders
	 * are two in six), none writes. */
	for (i = 0; i < 8; i++) {
		assert_int_equal(put_buf(f->st, buf, 20 * KiB, &res), 0);
		assert_int_equal(res.existed, 1);
		assert_int_equal(res.replicas, 2);
		wait_bg(f->st);
	}

	/* An hour old: a re-put not streaming to a holder restores it. */
	assert_int_equal(gv_index_blob_set_created(f->st->ix, &key, gv_now_ms() - 3600000), 0);
	for (i = 0; i < 50 && res.existed; i++) {
		assert_int_equal(put_buf(f->st, buf, 20 * KiB, &res), 0);
		wait_bg(f->st);
	}
	assert_int_equal(res.existed, 0);
	assert_int_equal(gv_stat(&bs, f->st, &key), 0);
	assert_int_equal(bs->healthy_replicas, 3);
	gv_blob_status_free(bs);
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

/* Wrap the store's index in a fault injector with no fault planned yet;
 * the store owns it. */
static gv_index *wrap_index(gv_store *st)
{
	gv_index *fi = NULL;

	assert_int_equal(gv_index_fault_wrap(&fi, st->ix, NULL), 0);
	st->ix = fi;
	return fi;
}

static void ixplan(gv_index *fi, unsigned long ops, unsigned long nth, unsigned long count,
                   int error)
{
	gv_index_fault_plan p;

	memset(&p, 0, sizeof(p));
	p.ops = ops;
	p.nth = nth;
	p.count = count;
	p.error = error;
	gv_index_fault_set(fi, &p);
}

/*
 * The index's disk fills up in the middle of a put: the first replica is
 * recorded, recording the second fails, and so does every removal the
 * cleanup tries.  The put is not acknowledged, and no replica row is left
 * without its bytes: the row that could not go keeps them.
 */
static void test_put_index_fails_midway(void **state)
{
	fx *f = *state;
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;
	gv_put_result res;
	gv_index *fi;
	gv_replica *reps = NULL;
	size_t n = 0;
	unsigned long failed = 0;
	gv_key key;
	unsigned char *buf;

	p.factor = 2;
	p.min_replicas = 2;
	open_store(f, &p);
	/* The quorum waits for the copy however loaded the machine is. */
	f->st->write_timeout_ms = 30000;
	add_mem(f->st, "a", "ra", 1ull << 30);
	add_mem(f->st, "b", "rb", 1ull << 30);
	fi = wrap_index(f->st);
	ixplan(fi, GV_IXFAULT_WRITES, 2, 0, GV_EIO);
	buf = make(50 * KiB, 84, &key);
	assert_int_equal(put_buf(f->st, buf, 50 * KiB, &res), GV_EIO);
	wait_bg(f->st);
	/* The second record failed, and at least the cleanup's removal. */
	gv_index_fault_counts(fi, NULL, &failed);
	assert_true(failed >= 2);
	gv_index_fault_set(fi, NULL);
	assert_store_consistent(f->st);
	assert_int_equal(gv_index_replicas_find(fi, &key, &reps, &n), 0);
	assert_int_equal(n, 1);
	gv_replicas_free(reps, n);
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

typedef struct repair_arg {
	gv_store *st;
	gv_repair_summary sum;
	int rc;
} repair_arg;

static void *repair_main(void *p)
{
	repair_arg *a = p;
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;

	a->rc = gv_repair_run(a->st, &o, &a->sum);
	return NULL;
}

/*
 * A resumable repair copy into sector t fails while an identical put
 * stores and records its own copy in t.  The failed copy's cleanup must
 * leave the put's row and bytes alone.
 */
static void test_repair_failed_copy_keeps_put(void **state)
{
	fx *f = *state;
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;
	const char *const at[] = { "a", "t" };
	gv_put_result res;
	repair_arg ra;
	gv_sector *t;
	pthread_t th;
	gv_key key;
	unsigned char *buf;
	int64_t end;

	p.strategy = GV_STRATEGY_SIMPLE;
	p.factor = 2;
	p.min_replicas = 1;
	open_store(f, &p);
	f->st->write_timeout_ms = 30000;
	add_mem(f->st, "a", "ra", 200ull * MiB);
	buf = put_new(f->st, 64 * MiB + 5, 85, &key);
	wait_bg(f->st);
	/* An old blob: a re-put within a write timeout of the first would
	 * take it for a put still settling and write nothing. */
	assert_int_equal(gv_index_blob_set_created(f->st->ix, &key, gv_now_ms() - 3600000), 0);
	/* t dwarfs a: the put's primary is t (a already holds a copy). */
	add_mem(f->st, "t", "rt", 1ull << 50);
	t = wrap_fault(f->st, "t", 1ull << 50);
	/* The repair's first write into t hangs, then fails. */
	plan(t, GV_FAULT_HANG, GV_FAULT_OP_WRITE, 1, 20 * TIMEOUT_MS);
	memset(&ra, 0, sizeof(ra));
	ra.st = f->st;
	assert_int_equal(pthread_create(&th, NULL, repair_main, &ra), 0);
	end = mono_ms() + 30000;
	while (gv_sector_fault_calls(t) < 1 && mono_ms() < end)
		sleep_ms(2);
	assert_int_equal(gv_sector_fault_calls(t), 1);
	assert_int_equal(put_buf(f->st, buf, 64 * MiB + 5, &res), 0);
	assert_int_equal(res.existed, 0);
	pthread_join(th, NULL);
	assert_int_equal(ra.rc, 0);
	assert_int_equal(ra.sum.failed, 1);
	wait_bg(f->st);
	assert_replicas_exactly(f->st, &key, at, 2, at, 2);
	assert_store_consistent(f->st);
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

static void test_read_corrupt_restarts_once(void **state)
{
	fx *f = *state;
	gv_sector *fs[3];
	gv_key key;
	unsigned char *buf, *got;
	char served[GV_ID_MAX];
	size_t n;
	int restarts;

	three_sectors(f, 1, fs);
	buf = put_new(f->st, 200 * KiB + 5, 71, &key);
	wait_bg(f->st);
	assert_int_equal(queued(f->st), 0);
	read_first(f->st, &key, "a");
	plan(fs[0], GV_FAULT_CORRUPT, GV_FAULT_OP_READ, 0, 0);

	assert_int_equal(read_blob(f->st, &key, NULL, &got, &n, &restarts, served, sizeof(served)),
	                 0);
	assert_int_equal(restarts, 1);
	assert_int_equal(n, key.size);
	assert_memory_equal(got, buf, n);
	assert_string_not_equal(served, "a");
	assert_true(gv_sector_fault_calls(fs[0]) >= 1);
	tfree(got);
	assert_row_bad(f->st, &key, "a", "checksum mismatch");
	assert_row_good(f->st, &key, "b");
	assert_row_good(f->st, &key, "c");
	assert_true(queue_has(f->st, &key));

	/* The bad replica now comes last: the next read is clean. */
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

static void test_read_verify_first(void **state)
{
	fx *f = *state;
	gv_get_opts o = GV_GET_OPTS_INIT;
	gv_sector *fs[3];
	gv_key key;
	unsigned char *buf, *got;
	char served[GV_ID_MAX];
	size_t n;
	int restarts;

	three_sectors(f, 1, fs);
	buf = put_new(f->st, 150 * KiB + 1, 72, &key);
	wait_bg(f->st);
	read_first(f->st, &key, "b");
	plan(fs[1], GV_FAULT_CORRUPT, GV_FAULT_OP_READ, 0, 0);
	o.verify_first = 1;
	assert_int_equal(read_blob(f->st, &key, &o, &got, &n, &restarts, served, sizeof(served)), 0);
	assert_int_equal(restarts, 0);
	assert_int_equal(n, key.size);
	assert_memory_equal(got, buf, n);
	assert_string_not_equal(served, "b");
	tfree(got);
	assert_row_bad(f->st, &key, "b", "checksum mismatch");
	assert_true(queue_has(f->st, &key));
	tfree(buf);
}

/* A small blob verified first is read once: the file that was checked is
 * the one served, not opened a second time (a second open that fails would
 * otherwise mark a good replica bad). */
static void test_read_verify_first_opens_once(void **state)
{
	fx *f = *state;
	gv_get_opts o = GV_GET_OPTS_INIT;
	gv_sector *fs[3];
	gv_key key;
	unsigned char *buf, *got;
	char served[GV_ID_MAX];
	size_t n;
	int restarts;

	three_sectors(f, 1, fs);
	buf = put_new(f->st, 4 * KiB, 75, &key);
	wait_bg(f->st);
	read_first(f->st, &key, "a");
	plan(fs[0], GV_FAULT_EIO, GV_FAULT_OP_OPEN_READ, 2, 0);
	o.verify_first = 1;
	assert_int_equal(read_blob(f->st, &key, &o, &got, &n, &restarts, served, sizeof(served)), 0);
	assert_int_equal(restarts, 0);
	assert_int_equal(n, key.size);
	assert_memory_equal(got, buf, n);
	assert_string_equal(served, "a");
	assert_int_equal(gv_sector_fault_calls(fs[0]), 1);
	assert_row_good(f->st, &key, "a");
	tfree(got);

	/* A range of it is served from the same single read. */
	plan(fs[0], GV_FAULT_EIO, GV_FAULT_OP_OPEN_READ, 2, 0);
	o.has_range = 1;
	o.start = 100;
	o.end = 1100;
	assert_int_equal(read_blob(f->st, &key, &o, &got, &n, &restarts, served, sizeof(served)), 0);
	assert_int_equal(n, 1000);
	assert_memory_equal(got, buf + 100, n);
	assert_string_equal(served, "a");
	assert_int_equal(gv_sector_fault_calls(fs[0]), 1);
	tfree(got);
	tfree(buf);
}

/* A replica whose first byte is late (a hung node) does not stall a read:
 * after the hedge delay the next replica is opened too and answers, for a
 * blob read whole (one block, no table), one read verified first, and a
 * blob read block by block.  Nothing is marked bad. */
static void test_read_hedged(void **state)
{
	static const size_t sizes[] = { 80 * KiB, 80 * KiB, 3 * MiB };
	fx *f = *state;
	gv_sector *fs[3];
	size_t i;

	three_sectors(f, 1, fs);
	for (i = 0; i < 3; i++) {
		gv_get_opts o = GV_GET_OPTS_INIT;
		unsigned char *buf, *got = NULL;
		char served[GV_ID_MAX];
		gv_key key;
		size_t n;
		int restarts, first;
		int64_t t0, dt;

		buf = put_new(f->st, sizes[i], 700 + i, &key);
		wait_bg(f->st);
		o.verify_first = i == 1;
		/* The replica a read tries first; its opens now answer after 20 s. */
		assert_int_equal(read_blob(f->st, &key, &o, &got, &n, &restarts, served,
		                           sizeof(served)), 0);
		tfree(got);
		got = NULL;
		for (first = 0; first < 3 && strcmp(served, ABC[first]) != 0; first++)
			;
		assert_true(first < 3);
		plan(fs[first], GV_FAULT_DELAY, GV_FAULT_OP_OPEN_READ, 0, 20000);
		t0 = mono_ms();
		assert_int_equal(read_blob(f->st, &key, &o, &got, &n, &restarts, served,
		                           sizeof(served)), 0);
		dt = mono_ms() - t0;
		assert_true(dt < 10000);
		assert_int_equal(n, sizes[i]);
		assert_memory_equal(got, buf, n);
		assert_int_equal(restarts, 0);
		assert_string_not_equal(served, ABC[first]);
		assert_true(gv_sector_fault_calls(fs[first]) >= 1);
		/* The late open ends (a new plan wakes it) and drops its reader. */
		plan(fs[first], GV_FAULT_NONE, 0, 0, 0);
		wait_bg(f->st);
		assert_row_good(f->st, &key, ABC[first]);
		tfree(got);
		tfree(buf);
	}
}

/* A replica whose sector cannot be reached (a node down: GV_EIO; hung:
 * GV_ETIMEOUT) is not a bad replica: the read goes on from the next one,
 * the row stays healthy and unqueued, so the copy counts again once the
 * node is back, and the failure detector hears of it.  Whole reads (one
 * block, no table) and block reads (3 MiB), failing at open or mid-read. */
static void test_read_unreachable_keeps_row(void **state)
{
	static const size_t sizes[] = { 80 * KiB, 3 * MiB };
	static const struct { gv_fault_kind kind; unsigned ops; } faults[] = {
		{ GV_FAULT_EIO, GV_FAULT_OP_READ },
		{ GV_FAULT_EIO, GV_FAULT_OP_OPEN_READ },
		{ GV_FAULT_HANG, GV_FAULT_OP_OPEN_READ },
	};
	fx *f = *state;
	gv_sector *fs[3];
	size_t i, j;

	three_sectors(f, 1, fs);
	for (i = 0; i < 2; i++) {
		unsigned char *buf, *got = NULL;
		gv_key key;

		buf = put_new(f->st, sizes[i], 760 + i, &key);
		wait_bg(f->st);
		for (j = 0; j < 3; j++) {
			char served[GV_ID_MAX];
			size_t n;
			int restarts;

			read_first(f->st, &key, "a");
			plan(fs[0], faults[j].kind, faults[j].ops, 0, 20);
			assert_int_equal(read_blob(f->st, &key, NULL, &got, &n, &restarts, served,
			                           sizeof(served)), 0);
			assert_int_equal(n, sizes[i]);
			assert_memory_equal(got, buf, n);
			assert_string_not_equal(served, "a");
			assert_true(gv_sector_fault_calls(fs[0]) >= 1);
			plan(fs[0], GV_FAULT_NONE, 0, 0, 0);
			wait_bg(f->st);
			assert_row_good(f->st, &key, "a");
			assert_false(queue_has(f->st, &key));
			assert_true(gv_health_failing(f->st, "a"));
			tfree(got);
			got = NULL;
		}
		tfree(buf);
	}
}

static void test_read_all_fail(void **state)
{
	fx *f = *state;
	gv_index *ix;
	gv_sector *fs[3];
	gv_get *g = NULL;
	gv_key key;
	unsigned char *buf, *got = NULL;
	size_t n, i;
	int restarts;

	three_sectors(f, 1, fs);
	ix = gv_store_index(f->st);
	buf = put_new(f->st, 80 * KiB, 73, &key);
	wait_bg(f->st);

	/* No replica opens: every sector is unreachable (GV_EIO), which says
	 * nothing of the replicas; their rows stay, the detector hears. */
	for (i = 0; i < 3; i++)
		plan(fs[i], GV_FAULT_EIO, GV_FAULT_OP_OPEN_READ, 0, 0);
	assert_int_equal(gv_get_open(&g, f->st, &key, NULL), GV_EALL_REPLICAS_FAILED);
	assert_null(g);
	for (i = 0; i < 3; i++) {
		assert_row_good(f->st, &key, ABC[i]);
		assert_true(gv_health_failing(f->st, ABC[i]));
	}

	/* Every replica reads corrupt: two restarts, then nothing is left. */
	for (i = 0; i < 3; i++) {
		plan(fs[i], GV_FAULT_CORRUPT, GV_FAULT_OP_READ, 0, 0);
		assert_int_equal(gv_index_replica_set_health(ix, &key, ABC[i], 1, ""), 0);
	}
	assert_int_equal(read_blob(f->st, &key, NULL, &got, &n, &restarts, NULL, 0),
	                 GV_EALL_REPLICAS_FAILED);
	assert_null(got);
	assert_int_equal(restarts, 2);
	for (i = 0; i < 3; i++)
		assert_row_bad(f->st, &key, ABC[i], "checksum mismatch");

	/* Range reads use healthy replicas only: none is left. */
	{
		gv_get_opts o = GV_GET_OPTS_INIT;

		o.has_range = 1;
		o.start = 1;
		o.end = 100;
		assert_int_equal(gv_get_open(&g, f->st, &key, &o), GV_EALL_REPLICAS_FAILED);
	}
	tfree(buf);
}

/* ---- 4. repair -------------------------------------------------------------- */

#define NKEYS 24
static const char *const SIX[] = { "s1", "s2", "s3", "s4", "s5", "s6" };
static const char *const SIX_RACKS[] = { "r1", "r1", "r2", "r2", "r3", "r3" };

typedef struct keyset {
	gv_key keys[NKEYS];
	unsigned char *bufs[NKEYS];
	size_t n;
} keyset;

static void six_sectors(fx *f, keyset *ks, size_t nkeys)
{
	gv_placement_opts p = rack_aware(3);
	size_t i;

	open_store(f, &p);
	for (i = 0; i < 6; i++)
		add_mem(f->st, SIX[i], SIX_RACKS[i], 1ull << 30);
	ks->n = nkeys;
	for (i = 0; i < nkeys; i++)
		ks->bufs[i] = put_new(f->st, 1 + (i * 7919) % (20 * KiB), 1000 + i, &ks->keys[i]);
	wait_bg(f->st);
	for (i = 0; i < nkeys; i++)
		assert_protected(f->st, &ks->keys[i]);
}

static void keyset_free(keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		tfree(ks->bufs[i]);
}

static int holds_row(gv_store *st, const gv_key *key, const char *id)
{
	gv_index *ix = gv_store_index(st);
	gv_replica *reps = NULL;
	size_t n = 0;
	int has;

	assert_int_equal(gv_index_replicas_find(ix, key, &reps, &n), 0);
	has = row_of(reps, n, id) != NULL;
	gv_replicas_free(reps, n);
	return has;
}

static void assert_stats_equal(const gv_index_stats *a, const gv_index_stats *b)
{
	assert_int_equal(a->blobs, b->blobs);
	assert_int_equal(a->replicas, b->replicas);
	assert_int_equal(a->healthy_replicas, b->healthy_replicas);
	assert_int_equal(a->unhealthy_replicas, b->unhealthy_replicas);
	assert_int_equal(a->under_replicated, b->under_replicated);
	assert_int_equal(a->over_replicated, b->over_replicated);
	assert_int_equal(a->lost, b->lost);
	assert_int_equal(a->bytes, b->bytes);
}

typedef struct evlog {
	int n, planned, done, failed, lost;
	int actions[5];
} evlog;

static void on_repair_event(const gv_repair_event *ev, void *payload)
{
	evlog *l = payload;

	l->n++;
	if (ev->phase == GV_REPAIR_PLANNED)
		l->planned++;
	else if (ev->phase == GV_REPAIR_DONE)
		l->done++;
	else
		l->failed++;
	if (ev->action == GV_REPAIR_LOST) {
		l->lost++;
		assert_int_equal(ev->error, GV_ELOST);
	}
	if ((int)ev->action >= 0 && ev->action <= GV_REPAIR_LOST)
		l->actions[ev->action]++;
}

static void test_repair_unhealthy_sector(void **state)
{
	fx *f = *state;
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;
	gv_repair_summary sum;
	gv_index_stats s0, s1;
	gv_sector_info *secs0 = NULL, *secs1 = NULL;
	size_t nsecs0 = 0, nsecs1 = 0, i;
	keyset ks;
	evlog ev;
	uint64_t affected = 0;

	six_sectors(f, &ks, NKEYS);
	for (i = 0; i < ks.n; i++)
		affected += holds_row(f->st, &ks.keys[i], "s3");
	assert_true(affected > 0);
	assert_int_equal(gv_store_sector_set_health(f->st, "s3", 0), 0);
	index_stats(f->st, &s0);
	assert_int_equal(s0.under_replicated, affected);

	/* Dry run: a plan, no change. */
	assert_int_equal(gv_store_sector_list(f->st, &secs0, &nsecs0), 0);
	memset(&ev, 0, sizeof(ev));
	o.dry_run = 1;
	o.on_event = on_repair_event;
	o.payload = &ev;
	assert_int_equal(gv_repair_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_scanned, ks.n);
	assert_int_equal(sum.keys_needing_repair, affected);
	assert_int_equal(sum.replicas_written, 0);
	assert_int_equal(sum.replicas_removed, 0);
	assert_int_equal(sum.lost, 0);
	assert_int_equal(ev.planned, (int)affected);
	assert_int_equal(ev.done + ev.failed, 0);
	index_stats(f->st, &s1);
	assert_stats_equal(&s0, &s1);
	assert_int_equal(gv_store_sector_list(f->st, &secs1, &nsecs1), 0);
	assert_int_equal(nsecs0, nsecs1);
	for (i = 0; i < nsecs0; i++)
		assert_int_equal(secs0[i].used, secs1[i].used);
	tfree(secs0);
	tfree(secs1);
	for (i = 0; i < ks.n; i++)
		if (holds_row(f->st, &ks.keys[i], "s3")) {
			int h, r;

			key_health(f->st, &ks.keys[i], &h, &r);
			assert_int_equal(h, 2);
		}

	/* The real run: each affected key gets a copy in s3's rack (s4), and
	 * its row on s3 is dropped with its bytes. */
	memset(&ev, 0, sizeof(ev));
	o.dry_run = 0;
	assert_int_equal(gv_repair_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_needing_repair, affected);
	assert_int_equal(sum.keys_repaired, affected);
	assert_int_equal(sum.replicas_written, affected);
	assert_int_equal(sum.replicas_removed, affected);
	assert_int_equal(sum.lost, 0);
	assert_int_equal(sum.failed, 0);
	assert_int_equal(ev.done, (int)affected);
	assert_int_equal(ev.failed, 0);
	for (i = 0; i < ks.n; i++) {
		assert_protected(f->st, &ks.keys[i]);
		assert_false(holds_row(f->st, &ks.keys[i], "s3"));
		assert_false(sector_has(f->st, "s3", &ks.keys[i]));
		assert_reads_back(f->st, &ks.keys[i], ks.bufs[i]);
	}
	index_stats(f->st, &s1);
	assert_int_equal(s1.blobs, ks.n);
	assert_int_equal(s1.replicas, 3 * ks.n);
	assert_int_equal(s1.healthy_replicas, 3 * ks.n);
	assert_int_equal(s1.under_replicated, 0);
	assert_int_equal(s1.over_replicated, 0);
	assert_int_equal(s1.lost, 0);
	assert_store_consistent(f->st);

	/* A second run finds nothing to do. */
	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_needing_repair, 0);
	assert_int_equal(sum.replicas_written + sum.replicas_removed, 0);
	keyset_free(&ks);
}

static void test_repair_lost_key(void **state)
{
	fx *f = *state;
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;
	gv_repair_summary sum;
	gv_index *ix;
	gv_replica *reps = NULL;
	size_t n = 0, i;
	keyset ks;
	evlog ev;

	six_sectors(f, &ks, 6);
	ix = gv_store_index(f->st);
	assert_int_equal(gv_index_replicas_find(ix, &ks.keys[2], &reps, &n), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_int_equal(gv_index_replica_set_health(ix, &ks.keys[2], reps[i].sector, 0,
		                                             "checksum mismatch"),
		                 0);
	memset(&ev, 0, sizeof(ev));
	o.on_event = on_repair_event;
	o.payload = &ev;
	assert_int_equal(gv_repair_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.lost, 1);
	assert_int_equal(sum.keys_repaired, 0);
	assert_int_equal(sum.replicas_written, 0);
	assert_int_equal(sum.replicas_removed, 0);
	assert_int_equal(ev.lost, 1);
	/* Nothing is invented, nothing is dropped. */
	for (i = 0; i < n; i++) {
		assert_row_bad(f->st, &ks.keys[2], reps[i].sector, "checksum mismatch");
		assert_true(sector_has(f->st, reps[i].sector, &ks.keys[2]));
	}
	gv_replicas_free(reps, n);
	for (i = 0; i < ks.n; i++)
		if (i != 2)
			assert_protected(f->st, &ks.keys[i]);
	keyset_free(&ks);
}

static void test_repair_trims_surplus(void **state)
{
	fx *f = *state;
	gv_repair_summary sum;
	gv_index_stats is;
	keyset ks;
	const gv_key *k;
	const char *extra = NULL, *sibling = NULL;
	size_t i;
	gv_sector *s;
	int h, r;

	six_sectors(f, &ks, 5);
	k = &ks.keys[1];
	/* A fourth copy, in a rack that already holds one. */
	for (i = 0; i < 6 && !extra; i++)
		if (!holds_row(f->st, k, SIX[i])) {
			extra = SIX[i];
			sibling = SIX[i ^ 1];
		}
	assert_non_null(extra);
	assert_true(holds_row(f->st, k, sibling));
	s = gv_store_sector_handle(f->st, extra, NULL, 0);
	assert_int_equal(gv_sector_put_buf(s, k, ks.bufs[1], (size_t)k->size), 0);
	assert_int_equal(gv_store_record_replica(f->st, k, extra), 0);
	key_health(f->st, k, &h, &r);
	assert_int_equal(h, 4);
	index_stats(f->st, &is);
	assert_int_equal(is.over_replicated, 1);

	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_needing_repair, 1);
	assert_int_equal(sum.keys_repaired, 1);
	assert_int_equal(sum.replicas_removed, 1);
	assert_int_equal(sum.replicas_written, 0);
	assert_protected(f->st, k);
	/* One of the two in that rack went, row and bytes. */
	assert_int_equal(holds_row(f->st, k, extra) + holds_row(f->st, k, sibling), 1);
	assert_int_equal(sector_has(f->st, extra, k) + sector_has(f->st, sibling, k), 1);
	index_stats(f->st, &is);
	assert_int_equal(is.over_replicated, 0);
	assert_int_equal(is.replicas, 3 * ks.n);
	assert_store_consistent(f->st);
	assert_reads_back(f->st, k, ks.bufs[1]);
	keyset_free(&ks);
}

/* Three healthy copies in two racks break min-racks 3: repair adds one in
 * the missing rack and drops one of the crowded pair. */
static void test_repair_moves_misplaced(void **state)
{
	fx *f = *state;
	gv_repair_summary sum;
	gv_index *ix;
	gv_replica *reps = NULL;
	keyset ks;
	const gv_key *k;
	char moved[GV_ID_MAX], to[GV_ID_MAX], crowd[GV_ID_MAX];
	size_t n = 0, i;
	int h, r;

	six_sectors(f, &ks, 4);
	ix = gv_store_index(f->st);
	k = &ks.keys[3];
	assert_int_equal(gv_index_replicas_find(ix, k, &reps, &n), 0);
	snprintf(moved, sizeof(moved), "%s", reps[0].sector);
	snprintf(crowd, sizeof(crowd), "%s", reps[1].sector);
	gv_replicas_free(reps, n);
	/* Move the copy on `moved` next to the one on `crowd`. */
	for (i = 0; i < 6; i++)
		if (strcmp(SIX[i], crowd) == 0)
			snprintf(to, sizeof(to), "%s", SIX[i ^ 1]);
	assert_int_equal(gv_sector_put_buf(gv_store_sector_handle(f->st, to, NULL, 0), k,
	                                   ks.bufs[3], (size_t)k->size),
	                 0);
	assert_int_equal(gv_store_record_replica(f->st, k, to), 0);
	assert_int_equal(gv_index_replica_remove(ix, k, moved), 0);
	assert_int_equal(gv_sector_del(gv_store_sector_handle(f->st, moved, NULL, 0), k), 0);
	key_health(f->st, k, &h, &r);
	assert_int_equal(h, 3);
	assert_int_equal(r, 2);

	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_needing_repair, 1);
	assert_int_equal(sum.keys_repaired, 1);
	assert_int_equal(sum.replicas_written, 1);
	assert_int_equal(sum.replicas_removed, 1);
	assert_protected(f->st, k);
	assert_int_equal(holds_row(f->st, k, to) + holds_row(f->st, k, crowd), 1);
	assert_store_consistent(f->st);
	for (i = 0; i < ks.n; i++)
		assert_protected(f->st, &ks.keys[i]);
	assert_reads_back(f->st, k, ks.bufs[3]);
	keyset_free(&ks);
}

/* A key queued for read-repair and deleted before the run is no failure. */
static void test_repair_queue_deleted_key(void **state)
{
	fx *f = *state;
	gv_repair_summary sum;
	gv_repair_counters c0, c1;
	keyset ks;

	six_sectors(f, &ks, 2);
	gv_repair_enqueue(f->st, &ks.keys[0], "test");
	assert_int_equal(gv_delete(f->st, &ks.keys[0]), 0);
	gv_repair_counters_get(f->st, &c0);
	assert_int_equal(gv_repair_run_queued(f->st, NULL, &sum), 0);
	gv_repair_counters_get(f->st, &c1);
	assert_int_equal(sum.failed, 0);
	assert_int_equal(sum.lost, 0);
	assert_int_equal(c1.jobs_failed, c0.jobs_failed);
	assert_protected(f->st, &ks.keys[1]);
	keyset_free(&ks);
}

static void test_repair_queue(void **state)
{
	fx *f = *state;
	gv_repair_summary sum;
	gv_index *ix;
	gv_replica *reps = NULL;
	size_t n = 0;
	char bad1[GV_ID_MAX], bad2[GV_ID_MAX];
	keyset ks;
	int h, r;

	six_sectors(f, &ks, 6);
	ix = gv_store_index(f->st);
	assert_int_equal(queued(f->st), 0);
	/* Two keys lose a copy (marked in the index directly: nothing queued). */
	assert_int_equal(gv_index_replicas_find(ix, &ks.keys[0], &reps, &n), 0);
	snprintf(bad1, sizeof(bad1), "%s", reps[0].sector);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_index_replicas_find(ix, &ks.keys[3], &reps, &n), 0);
	snprintf(bad2, sizeof(bad2), "%s", reps[1].sector);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_index_replica_set_health(ix, &ks.keys[0], bad1, 0, "missing"), 0);
	assert_int_equal(gv_index_replica_set_health(ix, &ks.keys[3], bad2, 0, "missing"), 0);
	assert_int_equal(queued(f->st), 0);

	gv_repair_enqueue(f->st, &ks.keys[0], "test");
	gv_repair_enqueue(f->st, &ks.keys[0], "test");
	assert_int_equal(queued(f->st), 1);
	assert_int_equal(gv_repair_run_queued(f->st, NULL, &sum), 0);
	assert_int_equal(queued(f->st), 0);
	assert_int_equal(sum.keys_scanned, 1);
	assert_int_equal(sum.keys_repaired, 1);
	assert_int_equal(sum.replicas_written, 1);
	assert_int_equal(sum.replicas_removed, 1);
	assert_protected(f->st, &ks.keys[0]);
	assert_false(holds_row(f->st, &ks.keys[0], bad1));
	assert_false(sector_has(f->st, bad1, &ks.keys[0]));
	/* The other key was left alone. */
	key_health(f->st, &ks.keys[3], &h, &r);
	assert_int_equal(h, 2);
	assert_row_bad(f->st, &ks.keys[3], bad2, "missing");

	/* Nothing queued: nothing done. */
	assert_int_equal(gv_repair_run_queued(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_scanned, 0);
	/* A full run catches the rest. */
	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_repaired, 1);
	assert_protected(f->st, &ks.keys[3]);
	assert_store_consistent(f->st);
	keyset_free(&ks);
}

/* Make a queued key due now (instead of waiting out its backoff). */
static void queue_make_due(gv_store *st, const gv_key *key)
{
	gv_repairq_entry e;

	assert_true(queue_entry(st, key, &e));
	e.next_attempt_ms = 0;
	assert_int_equal(gv_index_repairq_put(gv_store_index(st), &e), 0);
}

/* A key that cannot be repaired backs off, then becomes a dead letter that
 * stays listed and is not retried; queued for another reason it revives. */
static void test_repair_queue_backoff_dead(void **state)
{
	fx *f = *state;
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;
	gv_repair_summary sum;
	gv_repairq_entry e;
	gv_index *ix;
	gv_replica *reps = NULL;
	size_t n = 0, i;
	uint64_t nq, nd;
	int64_t t0;
	keyset ks;

	six_sectors(f, &ks, 2);
	ix = gv_store_index(f->st);
	o.max_attempts = 3;
	o.backoff_base_ms = 3600000;
	o.backoff_max_ms = 4 * 3600000;
	assert_int_equal(gv_repairq_backoff_ms(&o, 1), 3600000);
	assert_int_equal(gv_repairq_backoff_ms(&o, 2), 2 * 3600000);
	assert_int_equal(gv_repairq_backoff_ms(&o, 3), 4 * 3600000);
	assert_int_equal(gv_repairq_backoff_ms(&o, 4), 4 * 3600000);
	assert_int_equal(gv_repairq_backoff_ms(&o, 4000000000u), 4 * 3600000);

	/* Every copy of key 0 bad: nothing to repair it from. */
	assert_int_equal(gv_index_replicas_find(ix, &ks.keys[0], &reps, &n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(gv_index_replica_set_health(ix, &ks.keys[0], reps[i].sector, 0,
		                                             "missing"),
		                 0);
	gv_repair_enqueue(f->st, &ks.keys[0], "read: test");
	assert_true(queue_entry(f->st, &ks.keys[0], &e));
	assert_string_equal(e.reason, "read: test");
	assert_int_equal(e.attempts, 0);

	t0 = gv_now_ms();
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_scanned, 1);
	assert_int_equal(sum.lost, 1);
	assert_true(queue_entry(f->st, &ks.keys[0], &e));
	assert_int_equal(e.attempts, 1);
	assert_false(e.dead);
	assert_string_equal(e.last_error, "no healthy replica left");
	assert_true(e.next_attempt_ms >= t0 + 3600000);
	assert_true(e.next_attempt_ms <= gv_now_ms() + 3600000);
	/* Backing off: not due, not retried. */
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_scanned, 0);

	queue_make_due(f->st, &ks.keys[0]);
	t0 = gv_now_ms();
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_true(queue_entry(f->st, &ks.keys[0], &e));
	assert_int_equal(e.attempts, 2);
	assert_true(e.next_attempt_ms >= t0 + 2 * 3600000);
	assert_false(e.dead);

	queue_make_due(f->st, &ks.keys[0]);
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_true(queue_entry(f->st, &ks.keys[0], &e));
	assert_int_equal(e.attempts, 3);
	assert_true(e.dead);
	assert_int_equal(gv_repair_queue_count(f->st, &nq, &nd), 0);
	assert_int_equal(nq, 0);
	assert_int_equal(nd, 1);

	/* Dead: never retried, even when its time has come. */
	queue_make_due(f->st, &ks.keys[0]);
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_scanned, 0);
	/* The same cause again changes nothing; another revives it. */
	gv_repair_enqueue(f->st, &ks.keys[0], "read: test");
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_scanned, 0);
	assert_true(queue_entry(f->st, &ks.keys[0], &e));
	assert_true(e.dead);
	gv_repair_enqueue(f->st, &ks.keys[0], "scrub: test");
	assert_true(queue_entry(f->st, &ks.keys[0], &e));
	assert_false(e.dead);
	assert_int_equal(e.attempts, 0);
	assert_string_equal(e.last_error, "no healthy replica left");

	/* Healthy again: the next queued run finds nothing to do and the key
	 * leaves the queue. */
	for (i = 0; i < n; i++)
		assert_int_equal(gv_index_replica_set_health(ix, &ks.keys[0], reps[i].sector, 1, ""),
		                 0);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_repair_run_queued(f->st, &o, &sum), 0);
	assert_int_equal(sum.keys_scanned, 1);
	assert_false(queue_entry(f->st, &ks.keys[0], &e));
	assert_int_equal(gv_repair_queue_count(f->st, &nq, &nd), 0);
	assert_int_equal(nq + nd, 0);

	/* Deleting a blob drops its entry, dead or not. */
	e.key = ks.keys[1];
	e.dead = 1;
	assert_int_equal(gv_index_repairq_put(ix, &e), 0);
	assert_int_equal(gv_delete(f->st, &ks.keys[1]), 0);
	assert_false(queue_entry(f->st, &ks.keys[1], &e));
	keyset_free(&ks);
}

static void test_repair_bad_source_and_target(void **state)
{
	fx *f = *state;
	gv_placement_opts p = rack_aware(3);
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;
	gv_repair_summary sum;
	gv_sector *fs[6];
	gv_index *ix;
	gv_replica *reps = NULL;
	gv_key k1, k2;
	unsigned char *b1, *b2;
	char src_bad[GV_ID_MAX], lost1[GV_ID_MAX], lost2[GV_ID_MAX], target2[GV_ID_MAX];
	size_t n = 0, i, isrc = 0, it = 0;
	evlog ev;
	int h, r;

	open_store(f, &p);
	for (i = 0; i < 6; i++) {
		add_mem(f->st, SIX[i], SIX_RACKS[i], 1ull << 30);
		fs[i] = wrap_fault(f->st, SIX[i], 1ull << 30);
	}
	ix = gv_store_index(f->st);
	b1 = put_new(f->st, 70 * KiB, 97, &k1);
	b2 = put_new(f->st, 71 * KiB, 98, &k2);
	wait_bg(f->st);
	assert_protected(f->st, &k1);
	assert_protected(f->st, &k2);

	/* k1 lost a copy, and the newest-verified survivor reads corrupt: the
	 * copy comes from the other survivor, the corrupt one is marked. */
	assert_int_equal(gv_index_replicas_find(ix, &k1, &reps, &n), 0);
	snprintf(lost1, sizeof(lost1), "%s", reps[0].sector);
	snprintf(src_bad, sizeof(src_bad), "%s", reps[1].sector);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_index_replica_set_health(ix, &k1, lost1, 0, "missing"), 0);
	read_first(f->st, &k1, src_bad);
	for (i = 0; i < 6; i++)
		if (strcmp(SIX[i], src_bad) == 0)
			isrc = i;
	plan(fs[isrc], GV_FAULT_CORRUPT, GV_FAULT_OP_READ, 0, 0);
	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_needing_repair, 1);
	assert_int_equal(sum.replicas_written, 1);
	assert_int_equal(sum.failed, 0);
	assert_true(gv_sector_fault_calls(fs[isrc]) >= 1);
	assert_row_bad(f->st, &k1, src_bad, "checksum mismatch");
	assert_false(holds_row(f->st, &k1, lost1));
	plan(fs[isrc], GV_FAULT_NONE, 0, 0, 0);
	key_health(f->st, &k1, &h, &r);
	assert_int_equal(h, 2);
	assert_reads_back(f->st, &k1, b1);
	/* The next run replaces the corrupt one too. */
	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_repaired, 1);
	assert_protected(f->st, &k1);
	assert_false(holds_row(f->st, &k1, src_bad));

	/* k2 lost a copy and its only possible target (the other sector in
	 * that rack) fails to commit: reported, nothing half-made left. */
	assert_int_equal(gv_index_replicas_find(ix, &k2, &reps, &n), 0);
	snprintf(lost2, sizeof(lost2), "%s", reps[2].sector);
	gv_replicas_free(reps, n);
	for (i = 0; i < 6; i++)
		if (strcmp(SIX[i], lost2) == 0)
			it = i ^ 1;
	snprintf(target2, sizeof(target2), "%s", SIX[it]);
	assert_false(holds_row(f->st, &k2, target2));
	assert_int_equal(gv_index_replica_set_health(ix, &k2, lost2, 0, "missing"), 0);
	plan(fs[it], GV_FAULT_EIO, GV_FAULT_OP_COMMIT, 0, 0);
	memset(&ev, 0, sizeof(ev));
	o.on_event = on_repair_event;
	o.payload = &ev;
	assert_int_equal(gv_repair_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.failed, 1);
	assert_int_equal(sum.keys_repaired, 0);
	assert_int_equal(sum.replicas_written, 0);
	assert_int_equal(ev.failed, 1);
	assert_int_equal(gv_sector_fault_calls(fs[it]), 1);
	key_health(f->st, &k2, &h, &r);
	assert_int_equal(h, 2);
	assert_false(holds_row(f->st, &k2, target2));
	assert_false(sector_has(f->st, target2, &k2));
	/* The bad row stays until the key is safe again. */
	assert_row_bad(f->st, &k2, lost2, "missing");
	plan(fs[it], GV_FAULT_NONE, 0, 0, 0);
	assert_int_equal(gv_repair_run(f->st, NULL, &sum), 0);
	assert_int_equal(sum.keys_repaired, 1);
	assert_protected(f->st, &k2);
	assert_true(holds_row(f->st, &k2, target2));
	assert_store_consistent(f->st);
	tfree(b1);
	tfree(b2);
}

/* ---- 5. scrub --------------------------------------------------------------- */

typedef struct badlog {
	int n;
	gv_key keys[8];
	char sectors[8][GV_ID_MAX];
	char reasons[8][GV_REASON_MAX];
	int was_healthy[8];
	int64_t now;
} badlog;

static void on_bad(const gv_scrub_event *ev, void *payload)
{
	badlog *l = payload;

	if (l->n < 8) {
		l->keys[l->n] = ev->key;
		snprintf(l->sectors[l->n], GV_ID_MAX, "%s", ev->sector);
		snprintf(l->reasons[l->n], GV_REASON_MAX, "%s", ev->reason);
		l->was_healthy[l->n] = ev->was_healthy;
	}
	l->n++;
}

static int badlog_find(const badlog *l, const gv_key *key, const char *sector)
{
	int i;

	for (i = 0; i < l->n && i < 8; i++)
		if (gv_key_cmp(&l->keys[i], key) == 0 && strcmp(l->sectors[i], sector) == 0)
			return i;
	return -1;
}

static int64_t fake_clock(void *payload)
{
	return ((badlog *)payload)->now;
}

static void test_scrub_finds_bad(void **state)
{
	fx *f = *state;
	gv_scrub_opts o = GV_SCRUB_OPTS_INIT;
	gv_scrub_summary sum;
	gv_repair_summary rsum;
	gv_index *ix;
	gv_replica *reps = NULL;
	gv_sector_writer *w = NULL;
	size_t n = 0;
	char corrupt_on[GV_ID_MAX], missing_on[GV_ID_MAX];
	unsigned char *junk;
	keyset ks;
	badlog bl;
	int i;

	six_sectors(f, &ks, 8);
	ix = gv_store_index(f->st);
	/* Different bytes of the right size under key 2 in one replica. */
	assert_int_equal(gv_index_replicas_find(ix, &ks.keys[2], &reps, &n), 0);
	snprintf(corrupt_on, sizeof(corrupt_on), "%s", reps[0].sector);
	gv_replicas_free(reps, n);
	junk = malloc((size_t)ks.keys[2].size);
	assert_non_null(junk);
	memcpy(junk, ks.bufs[2], (size_t)ks.keys[2].size);
	junk[ks.keys[2].size / 2] ^= 0x40;
	assert_int_equal(gv_sector_writer_open(&w, gv_store_sector_handle(f->st, corrupt_on, NULL, 0),
	                                       &ks.keys[2], 0),
	                 0);
	assert_int_equal(gv_sector_writer_write(w, junk, (size_t)ks.keys[2].size), 0);
	assert_int_equal(gv_sector_writer_commit(w, &ks.keys[2]), 0);
	tfree(junk);
	/* Key 5 loses one replica's bytes. */
	assert_int_equal(gv_index_replicas_find(ix, &ks.keys[5], &reps, &n), 0);
	snprintf(missing_on, sizeof(missing_on), "%s", reps[2].sector);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_sector_del(gv_store_sector_handle(f->st, missing_on, NULL, 0),
	                               &ks.keys[5]),
	                 0);
	assert_int_equal(queued(f->st), 0);
	sleep_ms(3);

	memset(&bl, 0, sizeof(bl));
	o.on_bad = on_bad;
	o.payload = &bl;
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 3 * ks.n);
	assert_int_equal(sum.healthy, 3 * ks.n - 2);
	assert_int_equal(sum.newly_unhealthy, 2);
	assert_int_equal(sum.still_unhealthy, 0);
	assert_int_equal(bl.n, 2);
	i = badlog_find(&bl, &ks.keys[2], corrupt_on);
	assert_true(i >= 0);
	assert_string_equal(bl.reasons[i], "checksum mismatch");
	assert_int_equal(bl.was_healthy[i], 1);
	i = badlog_find(&bl, &ks.keys[5], missing_on);
	assert_true(i >= 0);
	assert_string_equal(bl.reasons[i], "missing");
	assert_int_equal(bl.was_healthy[i], 1);
	assert_row_bad(f->st, &ks.keys[2], corrupt_on, "checksum mismatch");
	assert_row_bad(f->st, &ks.keys[5], missing_on, "missing");
	assert_int_equal(queued(f->st), 2);
	assert_true(queue_has(f->st, &ks.keys[2]));
	assert_true(queue_has(f->st, &ks.keys[5]));
	{
		gv_repairq_entry e;

		assert_true(queue_entry(f->st, &ks.keys[2], &e));
		assert_int_equal(strncmp(e.reason, "scrub: ", 7), 0);
	}

	/* Again: the same two, now already known. */
	sleep_ms(3);
	memset(&bl, 0, sizeof(bl));
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 3 * ks.n);
	assert_int_equal(sum.newly_unhealthy, 0);
	assert_int_equal(sum.still_unhealthy, 2);
	assert_int_equal(bl.n, 2);
	assert_int_equal(bl.was_healthy[0] + bl.was_healthy[1], 0);

	/* Repairing the queue fixes both; a scrub then finds nothing. */
	assert_int_equal(gv_repair_run_queued(f->st, NULL, &rsum), 0);
	assert_int_equal(rsum.keys_repaired, 2);
	assert_protected(f->st, &ks.keys[2]);
	assert_protected(f->st, &ks.keys[5]);
	sleep_ms(3);
	memset(&bl, 0, sizeof(bl));
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 3 * ks.n);
	assert_int_equal(sum.healthy, 3 * ks.n);
	assert_int_equal(bl.n, 0);
	assert_store_consistent(f->st);
	keyset_free(&ks);
}

static void test_scrub_skips_fresh(void **state)
{
	fx *f = *state;
	gv_scrub_opts o = GV_SCRUB_OPTS_INIT;
	gv_scrub_summary sum;
	keyset ks;
	badlog bl;
	size_t i, on_s2 = 0;
	const int64_t min = 60 * 1000;
	int64_t t0;

	six_sectors(f, &ks, 10);
	for (i = 0; i < ks.n; i++)
		on_s2 += holds_row(f->st, &ks.keys[i], "s2");
	assert_true(on_s2 > 0 && on_s2 < ks.n);
	memset(&bl, 0, sizeof(bl));
	o.clock_ms = fake_clock;
	o.payload = &bl;
	o.on_bad = on_bad;

	/* Everything is older than this "now". */
	t0 = gv_now_ms() + 1000;
	bl.now = t0;
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 3 * ks.n);
	/* Within the interval of that scrub: nothing is due. */
	bl.now = t0 + 5 * min;
	o.skip_verified_within_ms = 10 * min;
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 0);
	/* s2 alone, 20 minutes later. */
	bl.now = t0 + 20 * min;
	o.skip_verified_within_ms = 0;
	o.sector = "s2";
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, on_s2);
	/* Five minutes after that, with a 10 minute interval: s2's fresh
	 * replicas are skipped, the rest are due. */
	o.sector = NULL;
	bl.now = t0 + 25 * min;
	o.skip_verified_within_ms = 10 * min;
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 3 * ks.n - on_s2);
	assert_int_equal(sum.healthy, 3 * ks.n - on_s2);
	/* Six minutes later still: only s2's are due again. */
	bl.now = t0 + 31 * min;
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, on_s2);
	assert_int_equal(bl.n, 0);
	keyset_free(&ks);
}

/* ---- 5b. presence audit ------------------------------------------------------ */

typedef struct inflight {
	gv_store *st;
	int done;
	size_t nputs;         /* blobs put between the listing and the walk */
	gv_key keys[32];
	unsigned char *bufs[32];
} inflight;

/* Between s1's listing and its rows: puts until one lands on s1, so s1
 * has a recorded row its listing does not show. */
static void put_after_listing(const char *sector, void *payload)
{
	inflight *in = payload;

	if (in->done || strcmp(sector, "s1") != 0)
		return;
	in->done = 1;
	while (in->nputs < 32) {
		size_t i = in->nputs++;

		in->bufs[i] = put_new(in->st, 3 * KiB + i, 9000 + i, &in->keys[i]);
		wait_bg(in->st);
		if (holds_row(in->st, &in->keys[i], "s1"))
			return;
	}
	fail_msg("no put landed on s1 in 32 tries");
}

static void test_presence_finds_missing(void **state)
{
	fx *f = *state;
	gv_presence_opts o = GV_PRESENCE_OPTS_INIT;
	gv_presence_summary sum;
	gv_repair_summary rsum;
	gv_replica *reps = NULL;
	size_t n = 0, i;
	char missing_on[GV_ID_MAX];
	inflight in;
	keyset ks;

	six_sectors(f, &ks, 8);
	/* Key 3 loses one replica's bytes behind the store's back. */
	assert_int_equal(gv_index_replicas_find(gv_store_index(f->st), &ks.keys[3], &reps, &n), 0);
	snprintf(missing_on, sizeof(missing_on), "%s", reps[1].sector);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_sector_del(gv_store_sector_handle(f->st, missing_on, NULL, 0),
	                               &ks.keys[3]),
	                 0);
	assert_int_equal(queued(f->st), 0);

	memset(&in, 0, sizeof(in));
	in.st = f->st;
	o.on_listed = put_after_listing;
	o.payload = &in;
	assert_int_equal(gv_presence_run(f->st, &o, &sum), 0);
	assert_true(in.nputs >= 1);
	assert_int_equal(sum.sectors, 6);
	/* Every row was compared, the in-flight puts' rows included. */
	assert_int_equal(sum.rows_checked, 3 * (ks.n + in.nputs));
	assert_int_equal(sum.missing, 1);
	assert_int_equal(sum.wrong_size, 0);
	assert_int_equal(sum.unrecorded, 0);
	assert_row_bad(f->st, &ks.keys[3], missing_on, "missing");
	assert_int_equal(queued(f->st), 1);
	assert_true(queue_has(f->st, &ks.keys[3]));
	/* The put recorded after s1's listing is not flagged. */
	for (i = 0; i < in.nputs; i++)
		assert_protected(f->st, &in.keys[i]);
	assert_row_good(f->st, &in.keys[in.nputs - 1], "s1");

	/* A file no row counts on is counted and left alone. */
	{
		gv_key stray;
		unsigned char *buf = make(777, 4242, &stray);

		assert_int_equal(gv_sector_put_buf(gv_store_sector_handle(f->st, "s4", NULL, 0),
		                                   &stray, buf, 777),
		                 0);
		tfree(buf);
		o.on_listed = NULL;
		assert_int_equal(gv_presence_run(f->st, &o, &sum), 0);
		assert_int_equal(sum.missing, 0);
		assert_int_equal(sum.unrecorded, 1);
		assert_int_equal(sector_has(f->st, "s4", &stray), 1);
		assert_int_equal(gv_sector_del(gv_store_sector_handle(f->st, "s4", NULL, 0), &stray),
		                 0);
	}

	/* The queue's repair restores it; the next pass finds nothing. */
	assert_int_equal(gv_repair_run_queued(f->st, NULL, &rsum), 0);
	assert_int_equal(rsum.keys_repaired, 1);
	assert_protected(f->st, &ks.keys[3]);
	assert_int_equal(gv_presence_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.missing + sum.wrong_size + sum.unrecorded, 0);
	assert_int_equal(sum.rows_checked, 3 * (ks.n + in.nputs));
	assert_store_consistent(f->st);
	for (i = 0; i < in.nputs; i++)
		tfree(in.bufs[i]);
	keyset_free(&ks);
}

static void test_scrub_io_error_and_restore(void **state)
{
	fx *f = *state;
	gv_scrub_opts o = GV_SCRUB_OPTS_INIT;
	gv_scrub_summary sum;
	gv_sector *fs[3];
	gv_index *ix;
	gv_key k1, k2;
	unsigned char *b1, *b2;
	badlog bl;

	three_sectors(f, 1, fs);
	ix = gv_store_index(f->st);
	b1 = put_new(f->st, 5 * KiB, 95, &k1);
	b2 = put_new(f->st, 6 * KiB, 96, &k2);
	wait_bg(f->st);
	/* k2's copy on "a" is flagged although its bytes are fine. */
	assert_int_equal(gv_index_replica_set_health(ix, &k2, "a", 0, "io error: earlier"), 0);
	/* "c" cannot be read at all. */
	plan(fs[2], GV_FAULT_EIO, GV_FAULT_OP_OPEN_READ, 0, 0);
	sleep_ms(3);
	memset(&bl, 0, sizeof(bl));
	o.on_bad = on_bad;
	o.payload = &bl;
	assert_int_equal(gv_scrub_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.checked, 6);
	assert_int_equal(sum.restored, 1);
	assert_int_equal(sum.newly_unhealthy, 2);
	assert_int_equal(sum.healthy, 4);
	assert_int_equal(bl.n, 2);
	assert_true(badlog_find(&bl, &k1, "c") >= 0);
	assert_true(badlog_find(&bl, &k2, "c") >= 0);
	assert_true(strncmp(bl.reasons[0], "io error", 8) == 0);
	assert_row_good(f->st, &k2, "a");
	assert_row_bad(f->st, &k1, "c", "io error");
	assert_row_bad(f->st, &k2, "c", "io error");
	assert_true(queue_has(f->st, &k1) && queue_has(f->st, &k2));
	tfree(b1);
	tfree(b2);
}

/* ---- 6. rebalance and drain ------------------------------------------------- */

#define RB_KEYS 40
#define RB_SIZE (32 * KiB)
/* Three sectors hold RB_KEYS * RB_SIZE each at about 95%. */
#define RB_CAP ((uint64_t)RB_KEYS * RB_SIZE * 100 / 95)

typedef struct rbset {
	gv_key keys[RB_KEYS];
	unsigned char *bufs[RB_KEYS];
} rbset;

static void rb_store(fx *f, rbset *rb, int extra)
{
	gv_placement_opts p = rack_aware(3);
	size_t i;

	open_store(f, &p);
	add_mem(f->st, "s1", "r1", RB_CAP);
	add_mem(f->st, "s2", "r2", RB_CAP);
	add_mem(f->st, "s3", "r3", RB_CAP);
	for (i = 0; i < RB_KEYS; i++)
		rb->bufs[i] = put_new(f->st, RB_SIZE, 5000 + i, &rb->keys[i]);
	wait_bg(f->st);
	for (i = 0; i < RB_KEYS; i++)
		assert_protected(f->st, &rb->keys[i]);
	if (!extra)
		return;
	add_mem(f->st, "s4", "r1", RB_CAP);
	add_mem(f->st, "s5", "r2", RB_CAP);
	add_mem(f->st, "s6", "r3", RB_CAP);
}

static void rb_free(rbset *rb)
{
	size_t i;

	for (i = 0; i < RB_KEYS; i++)
		tfree(rb->bufs[i]);
}

/* max - min utilisation of the active healthy sectors, from the index. */
static double index_spread(gv_store *st)
{
	gv_sector_info *secs = NULL;
	size_t n = 0, i;
	double lo = 2, hi = -1;

	assert_int_equal(gv_store_sector_list(st, &secs, &n), 0);
	for (i = 0; i < n; i++) {
		double u;

		if (!secs[i].healthy || secs[i].state != GV_SECTOR_ACTIVE)
			continue;
		u = (double)secs[i].used / (double)secs[i].capacity;
		if (u < lo)
			lo = u;
		if (u > hi)
			hi = u;
	}
	tfree(secs);
	return hi - lo;
}

typedef struct movelog {
	int planned, done, failed;
} movelog;

static void on_move(const gv_move_event *ev, void *payload)
{
	movelog *l = payload;

	if (ev->phase == GV_MOVE_PLANNED)
		l->planned++;
	else if (ev->phase == GV_MOVE_DONE)
		l->done++;
	else
		l->failed++;
}

static void test_rebalance(void **state)
{
	fx *f = *state;
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary sum;
	gv_index_stats s0, s1;
	gv_index *ix;
	gv_replica *reps = NULL;
	char bad[GV_ID_MAX];
	movelog ml;
	size_t n = 0, i;
	int runs, done = 0;
	rbset rb;

	rb_store(f, &rb, 1);
	ix = gv_store_index(f->st);
	assert_true(index_spread(f->st) > 0.9);

	/* Under-replicated: refused, unless forced. */
	assert_int_equal(gv_index_replicas_find(ix, &rb.keys[0], &reps, &n), 0);
	snprintf(bad, sizeof(bad), "%s", reps[0].sector);
	gv_replicas_free(reps, n);
	assert_int_equal(gv_index_replica_set_health(ix, &rb.keys[0], bad, 0, "missing"), 0);
	index_stats(f->st, &s0);
	memset(&sum, 0, sizeof(sum));
	assert_int_equal(gv_rebalance_run(f->st, &o, &sum), GV_EBUSY);
	assert_int_equal(sum.moved, 0);
	gv_rebalance_summary_free(&sum);
	memset(&ml, 0, sizeof(ml));
	o.force = 1;
	o.dry_run = 1;
	o.on_move = on_move;
	o.payload = &ml;
	assert_int_equal(gv_rebalance_run(f->st, &o, &sum), 0);
	assert_true(sum.planned > 0);
	assert_int_equal(sum.moved, 0);
	assert_int_equal(ml.planned, (int)sum.planned);
	assert_int_equal(ml.done, 0);
	gv_rebalance_summary_free(&sum);
	index_stats(f->st, &s1);
	assert_stats_equal(&s0, &s1);
	assert_int_equal(gv_index_replica_set_health(ix, &rb.keys[0], bad, 1, ""), 0);

	/* max_moves bounds one run. */
	o.force = 0;
	o.dry_run = 0;
	o.max_moves = 5;
	memset(&ml, 0, sizeof(ml));
	assert_int_equal(gv_rebalance_run(f->st, &o, &sum), 0);
	assert_int_equal(sum.planned, 5);
	assert_int_equal(sum.moved, 5);
	assert_int_equal(sum.failed, 0);
	assert_int_equal(ml.done, 5);
	assert_int_equal(sum.nsectors, 6);
	gv_rebalance_summary_free(&sum);

	/* Until there is nothing left to do. */
	o.max_moves = 0;
	for (runs = 0; runs < 30 && !done; runs++) {
		assert_int_equal(gv_rebalance_run(f->st, &o, &sum), 0);
		assert_int_equal(sum.failed, 0);
		done = sum.nothing_to_do;
		assert_true(done || sum.moved > 0);
		gv_rebalance_summary_free(&sum);
	}
	assert_true(done);
	assert_true(index_spread(f->st) <= 0.1 + 1e-9);
	for (i = 0; i < RB_KEYS; i++) {
		assert_protected(f->st, &rb.keys[i]);
		assert_reads_back(f->st, &rb.keys[i], rb.bufs[i]);
	}
	index_stats(f->st, &s1);
	assert_int_equal(s1.replicas, 3 * RB_KEYS);
	assert_int_equal(s1.healthy_replicas, 3 * RB_KEYS);
	assert_store_consistent(f->st);
	rb_free(&rb);
}

/* Where the planned moves of a dry run go. */
typedef struct destlog {
	int to_s4, to_s5, other;
} destlog;

static void on_dest(const gv_move_event *ev, void *payload)
{
	destlog *l = payload;

	if (ev->phase != GV_MOVE_PLANNED)
		return;
	if (strcmp(ev->to, "s4") == 0)
		l->to_s4++;
	else if (strcmp(ev->to, "s5") == 0)
		l->to_s5++;
	else
		l->other++;
}

/*
 * Underloaded sectors (below low-water) receive moves first.  s4 is empty
 * and small; s5 has four times s4's free space but is 60% full, above
 * low-water 0.5: weighted by free space alone most moves would go to s5.
 */
static void test_rebalance_low_water(void **state)
{
	fx *f = *state;
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary sum;
	destlog dl;
	gv_key big;
	rbset rb;

	rb_store(f, &rb, 0);
	add_mem(f->st, "s4", "r1", RB_CAP);
	add_mem(f->st, "s5", "r1", 10 * RB_CAP);
	/* A row of 6 x RB_CAP on s5 (its bytes are not needed by a dry run). */
	memset(&big, 0x5a, sizeof(big));
	big.size = 6 * RB_CAP;
	assert_int_equal(gv_store_record_replica(f->st, &big, "s5"), 0);

	o.dry_run = 1;
	o.force = 1; /* the made-up row is under-replicated */
	o.max_moves = 10;
	o.on_move = on_dest;
	o.payload = &dl;
	o.low_water = 0.5;
	memset(&dl, 0, sizeof(dl));
	assert_int_equal(gv_rebalance_run(f->st, &o, &sum), 0);
	gv_rebalance_summary_free(&sum);
	assert_int_equal(dl.to_s4, 10);
	assert_int_equal(dl.to_s5 + dl.other, 0);

	/* low-water 0: no sector is underloaded, free space alone decides. */
	o.low_water = 0;
	memset(&dl, 0, sizeof(dl));
	assert_int_equal(gv_rebalance_run(f->st, &o, &sum), 0);
	gv_rebalance_summary_free(&sum);
	assert_int_equal(dl.to_s4 + dl.to_s5, 10);
	assert_true(dl.to_s5 > 0);
	rb_free(&rb);
}

static void test_rebalance_failed_moves_keep_protection(void **state)
{
	fx *f = *state;
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary sum;
	gv_sector *s4;
	movelog ml;
	size_t i;
	rbset rb;

	rb_store(f, &rb, 1);
	s4 = wrap_fault(f->st, "s4", RB_CAP);
	plan(s4, GV_FAULT_EIO, GV_FAULT_OP_COMMIT, 0, 0);
	memset(&ml, 0, sizeof(ml));
	o.on_move = on_move;
	o.payload = &ml;
	o.max_moves = 12;
	assert_int_equal(gv_rebalance_run(f->st, &o, &sum), 0);
	assert_true(sum.failed > 0);
	assert_int_equal(sum.moved + sum.failed, sum.planned);
	assert_int_equal(ml.failed, (int)sum.failed);
	gv_rebalance_summary_free(&sum);
	for (i = 0; i < RB_KEYS; i++) {
		assert_protected(f->st, &rb.keys[i]);
		assert_false(holds_row(f->st, &rb.keys[i], "s4"));
	}
	assert_int_equal(sector_bytes(f->st, "s4"), 0);
	assert_store_consistent(f->st);
	rb_free(&rb);
}

/* What a run's progress callback saw: calls, whether bytes done only
 * grew, the last figures. */
typedef struct proglog {
	unsigned calls;
	int grew;
	uint64_t bytes, bytes_total, items, items_total;
} proglog;

static void on_rb_progress(uint64_t b, uint64_t bt, uint64_t n, uint64_t nt, void *payload)
{
	proglog *p = payload;

	if (p->calls++ == 0)
		p->grew = 1;
	else if (b < p->bytes)
		p->grew = 0;
	p->bytes = b;
	p->bytes_total = bt;
	p->items = n;
	p->items_total = nt;
}

static void test_drain_and_remove(void **state)
{
	fx *f = *state;
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary sum;
	gv_sector_info si;
	gv_index *ix;
	gv_key k;
	size_t n = 0, i, on_s1 = 0;
	rbset rb;

	rb_store(f, &rb, 0);
	ix = gv_store_index(f->st);
	/* With nowhere to go (s1 is the only sector in r1), the drain moves
	 * nothing, says so, and leaves s1 draining but readable. */
	assert_int_equal(gv_sector_drain(f->st, "s1", &o, &sum), GV_EBUSY);
	assert_int_equal(sum.moved, 0);
	assert_int_equal(sum.failed, RB_KEYS);
	gv_rebalance_summary_free(&sum);
	assert_int_equal(gv_store_sector_get(f->st, "s1", &si), 0);
	assert_int_equal(si.state, GV_SECTOR_DRAINING);
	assert_int_equal(gv_store_sector_remove(f->st, "s1"), GV_EBUSY);
	for (i = 0; i < RB_KEYS; i++) {
		assert_protected(f->st, &rb.keys[i]);
		assert_true(holds_row(f->st, &rb.keys[i], "s1"));
	}
	assert_reads_back(f->st, &rb.keys[0], rb.bufs[0]);
	add_mem(f->st, "s4", "r1", RB_CAP);
	add_mem(f->st, "s5", "r2", RB_CAP);
	add_mem(f->st, "s6", "r3", RB_CAP);
	/* An empty active sector can go; a loaded one cannot. */
	add_mem(f->st, "s7", "r3", RB_CAP);
	assert_int_equal(gv_store_sector_remove(f->st, "s7"), 0);
	assert_int_equal(gv_store_sector_get(f->st, "s7", &si), GV_ENOTFOUND);
	assert_int_equal(gv_store_sector_remove(f->st, "s1"), GV_EBUSY);

	for (i = 0; i < RB_KEYS; i++)
		on_s1 += holds_row(f->st, &rb.keys[i], "s1");
	assert_int_equal(on_s1, RB_KEYS);
	/* Resumed: every copy of s1 goes to s4, the only other sector in r1;
	 * progress goes by the bytes s1 held, up to all of them. */
	assert_int_equal(gv_store_sector_get(f->st, "s1", &si), 0);
	{
		proglog pl;

		memset(&pl, 0, sizeof(pl));
		o.on_progress = on_rb_progress;
		o.payload = &pl;
		assert_int_equal(gv_sector_drain(f->st, "s1", &o, &sum), 0);
		o.on_progress = NULL;
		o.payload = NULL;
		assert_int_equal(pl.calls, RB_KEYS);
		assert_true(pl.grew);
		assert_true(si.used > 0);
		assert_int_equal(pl.bytes_total, si.used);
		assert_int_equal(pl.bytes, si.used);
		assert_int_equal(pl.items, RB_KEYS);
	}
	assert_int_equal(sum.moved, RB_KEYS);
	assert_int_equal(sum.failed, 0);
	gv_rebalance_summary_free(&sum);
	assert_int_equal(gv_store_sector_get(f->st, "s1", &si), 0);
	assert_int_equal(si.state, GV_SECTOR_RETIRED);
	assert_int_equal(si.used, 0);
	assert_int_equal(gv_index_sector_keys_next(ix, "s1", NULL, 1, &k, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sector_bytes(f->st, "s1"), 0);
	for (i = 0; i < RB_KEYS; i++) {
		assert_protected(f->st, &rb.keys[i]);
		assert_true(holds_row(f->st, &rb.keys[i], "s4"));
		assert_reads_back(f->st, &rb.keys[i], rb.bufs[i]);
	}
	assert_store_consistent(f->st);

	/* Draining again is a no-op; then the sector can be forgotten. */
	assert_int_equal(gv_sector_drain(f->st, "s1", &o, &sum), 0);
	assert_int_equal(sum.nothing_to_do, 1);
	gv_rebalance_summary_free(&sum);
	assert_int_equal(gv_store_sector_remove(f->st, "s1"), 0);
	assert_int_equal(gv_store_sector_get(f->st, "s1", &si), GV_ENOTFOUND);
	assert_int_equal(gv_store_sector_remove(f->st, "s2"), GV_EBUSY);
	rb_free(&rb);
}

/* ---- index faults during repair, scrub, rebalance and drain ---------------- */

static int run_repair(gv_store *st)
{
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;
	gv_repair_summary sum;

	return gv_repair_run(st, &o, &sum);
}

static int run_scrub(gv_store *st)
{
	gv_scrub_opts o = GV_SCRUB_OPTS_INIT;
	gv_scrub_summary sum;

	return gv_scrub_run(st, &o, &sum);
}

static int run_rebalance(gv_store *st)
{
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary sum;
	int err;

	o.force = 1;
	err = gv_rebalance_run(st, &o, &sum);
	gv_rebalance_summary_free(&sum);
	return err;
}

static int run_drain(gv_store *st)
{
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary sum;
	int err;

	err = gv_sector_drain(st, "s1", &o, &sum);
	gv_rebalance_summary_free(&sum);
	return err;
}

/*
 * Run op with the index failing (or hanging, then failing) every write
 * from the nth on, for nth = 1, 2, ...: after each run no row is left
 * without its bytes and no bytes a row counts on are gone.  A last run
 * without faults must leave the store consistent too.
 */
static void index_fault_sweep(fx *f, int (*op)(gv_store *), unsigned hang_ms)
{
	gv_index *fi = wrap_index(f->st);
	gv_index_fault_plan p;
	unsigned long nth, failed = 0;

	for (nth = 1; nth <= 6; nth++) {
		memset(&p, 0, sizeof(p));
		p.ops = GV_IXFAULT_WRITES;
		p.nth = nth;
		p.error = GV_EIO;
		p.hang_ms = hang_ms;
		gv_index_fault_set(fi, &p);
		(void)op(f->st);
		wait_bg(f->st);
		gv_index_fault_counts(fi, NULL, &failed);
		assert_true(nth > 1 || failed > 0); /* the op does write */
		gv_index_fault_set(fi, NULL);
		assert_store_consistent(f->st);
	}
	assert_int_equal(op(f->st), 0);
	wait_bg(f->st);
	assert_store_consistent(f->st);
}

static void test_repair_index_fails(void **state)
{
	fx *f = *state;
	keyset ks;

	six_sectors(f, &ks, NKEYS);
	assert_int_equal(gv_store_sector_set_health(f->st, "s3", 0), 0);
	index_fault_sweep(f, run_repair, 0);
}

static void test_scrub_index_fails(void **state)
{
	fx *f = *state;
	keyset ks;

	six_sectors(f, &ks, NKEYS);
	index_fault_sweep(f, run_scrub, 20);
}

static void test_rebalance_index_fails(void **state)
{
	fx *f = *state;
	rbset rb;

	rb_store(f, &rb, 1);
	index_fault_sweep(f, run_rebalance, 0);
}

static void test_drain_index_fails(void **state)
{
	fx *f = *state;
	rbset rb;

	rb_store(f, &rb, 0);
	add_mem(f->st, "s4", "r1", RB_CAP);
	index_fault_sweep(f, run_drain, 0);
}

/* ---- backend registry ----------------------------------------------------- */

static void open_store_index(fx *f, const char *backend, const char *path, int want)
{
	gv_store_opts o = GV_STORE_OPTS_INIT;

	o.data_dir = f->dir;
	o.create = 1;
	o.index_backend = backend;
	o.index_path = path;
	assert_int_equal(gv_store_open(&f->st, &o), want);
}

/* An unknown index backend is refused naming the registered ones, and
 * nothing is created; a URL picks its backend; a URL and a backend that
 * disagree are refused. */
static void test_index_backend_by_name(void **state)
{
	fx *f = *state;
	char url[256], db[256];

	snprintf(db, sizeof(db), "%s/graviton.db", f->dir);
	open_store_index(f, "mysql", NULL, GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "unknown index backend 'mysql'"));
	assert_non_null(strstr(gv_error_last(), "registered: sqlite, postgresql"));
	assert_int_equal(access(db, F_OK), -1);
	snprintf(url, sizeof(url), "nosuch:%s/x.db", f->dir);
	open_store_index(f, NULL, url, GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "unknown index backend 'nosuch'"));
	snprintf(url, sizeof(url), "sqlite:%s/other.db", f->dir);
	open_store_index(f, "mysql", url, GV_EINVAL);
	open_store_index(f, "sqlite", url, 0);
	gv_store_free(f->st);
	f->st = NULL;
	snprintf(db, sizeof(db), "%s/other.db", f->dir);
	assert_int_equal(access(db, F_OK), 0);
	open_store_index(f, NULL, url, 0);
}

static int open_count;

static int counting_sqlite_open(gv_index **out, const char *locator, unsigned flags)
{
	open_count++;
	return gv_index_sqlite_open(out, locator, (flags & GV_INDEX_OPEN_CREATE) != 0);
}

static const gv_index_backend counting_backend = { GV_INDEX_OPS_VERSION, "counting",
	                                            counting_sqlite_open };

/* A registered backend is what the store opens; names are unique. */
static void test_index_backend_register(void **state)
{
	fx *f = *state;
	static const gv_index_backend dup = { GV_INDEX_OPS_VERSION, "sqlite", counting_sqlite_open };
	static const gv_index_backend old = { GV_INDEX_OPS_VERSION + 1, "old", counting_sqlite_open };

	assert_int_equal(gv_index_backend_register(&dup), GV_EEXISTS);
	assert_int_equal(gv_index_backend_register(&old), GV_EINVAL);
	assert_int_equal(gv_index_backend_register(&counting_backend), 0);
	assert_int_equal(gv_index_backend_register(&counting_backend), GV_EEXISTS);
	open_count = 0;
	open_store_index(f, "counting", NULL, 0);
	assert_int_equal(open_count, 1);
}

static int mem2_open(gv_sector **out, const gv_sector_open_opts *o)
{
	return gv_sector_mem_open(out, o->info->id, o->info->capacity);
}

static const gv_sector_kind mem2_kind = { GV_SECTOR_OPS_VERSION, "mem2", 0, mem2_open, NULL };

/* Sector kinds: an unknown one is refused naming the registered ones and
 * registers nothing; a registered one stores blobs. */
static void test_sector_kind_registry(void **state)
{
	fx *f = *state;
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;
	gv_sector_info si, got;
	gv_put_result res;
	gv_key key;
	unsigned char *buf;

	p.factor = 1;
	p.min_replicas = 1;
	open_store(f, &p);
	memset(&si, 0, sizeof(si));
	snprintf(si.id, sizeof(si.id), "x");
	snprintf(si.kind, sizeof(si.kind), "tape");
	si.capacity = 1ull << 30;
	assert_int_equal(gv_store_sector_add(f->st, &si, GV_SECTOR_ADD_CREATE), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "unknown sector kind 'tape' (registered: fs, mem"));
	assert_int_equal(gv_index_sector_get(gv_store_index(f->st), "x", &got), GV_ENOTFOUND);
	assert_int_equal(gv_sector_kind_register(&mem2_kind), 0);
	assert_int_equal(gv_sector_kind_register(&mem2_kind), GV_EEXISTS);
	snprintf(si.kind, sizeof(si.kind), "mem2");
	assert_int_equal(gv_store_sector_add(f->st, &si, GV_SECTOR_ADD_CREATE), 0);
	assert_string_equal(gv_store_sector_handle(f->st, "x", NULL, 0)->ops->name, "mem");
	buf = make(10 * KiB, 7, &key);
	assert_int_equal(put_buf(f->st, buf, 10 * KiB, &res), 0);
	wait_bg(f->st);
	assert_reads_back(f->st, &key, buf);
	tfree(buf);
}

/* ---- failure detection (graviton/health.h) ------------------------------------ */

/* A sector whose probe answers what probe_err says. */
static _Atomic int probe_err;

static int probe_check(gv_sector *s)
{
	int e = probe_err;

	return e ? gv_error_set(e, "sector %s: probe fails", s->id) : 0;
}

static void probe_close(gv_sector *s)
{
	free(s);
}

static const struct gv_sector_ops probe_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "probe",
	.check = probe_check,
	.close = probe_close,
};

static gv_sector_info sector_now(gv_store *st, const char *id)
{
	gv_sector_info si;

	assert_int_equal(gv_index_sector_get(gv_store_index(st), id, &si), 0);
	gv_store_sector_reason(st, &si);
	return si;
}

/* Probe every 10 ms until sector id's health is `healthy` (at most 10 s);
 * the milliseconds it took. */
static int64_t probe_until(gv_store *st, const gv_health_opts *o, const char *id, int healthy)
{
	int64_t t0 = mono_ms();

	while (sector_now(st, id).healthy != healthy) {
		assert_true(mono_ms() - t0 < 10000);
		assert_int_equal(gv_health_probe(st, o, NULL), 0);
		sleep_ms(10);
	}
	return mono_ms() - t0;
}

static void test_health_detector(void **state)
{
	fx *f = *state;
	gv_health_opts o = GV_HEALTH_OPTS_INIT;
	gv_sector *p = calloc(1, sizeof(*p));
	gv_sector_info si;
	int64_t t0, took;

	o.interval_ms = 10;
	o.down_after_ms = 200;
	o.up_after_ms = 100;
	open_store(f, NULL);
	add_mem(f->st, "a", "r1", 1 << 20);
	add_mem(f->st, "b", "r2", 1 << 20);
	assert_non_null(p);
	p->ops = &probe_ops;
	snprintf(p->id, sizeof(p->id), "b");
	assert_int_equal(gv_store_sector_attach(f->st, "b", p), 0);

	/* Unreachable: down only once the failures have lasted down-after. */
	probe_err = GV_EIO;
	t0 = mono_ms();
	assert_int_equal(gv_health_probe(f->st, &o, NULL), 0);
	assert_true(sector_now(f->st, "b").healthy || mono_ms() - t0 >= 200);
	probe_until(f->st, &o, "b", 0);
	assert_true(mono_ms() - t0 >= 200);
	si = sector_now(f->st, "b");
	assert_memory_equal(si.reason, GV_HEALTH_REASON, strlen(GV_HEALTH_REASON));
	assert_true(sector_now(f->st, "a").healthy);
	assert_true(gv_health_probe_failures(f->st, "b") >= 2);
	assert_int_equal(gv_health_probe_failures(f->st, "a"), 0);

	/* Answering again: back after up-after. */
	probe_err = 0;
	took = probe_until(f->st, &o, "b", 1);
	assert_true(took >= 100);
	assert_string_equal(sector_now(f->st, "b").reason, "");

	/* A second down within the hour: up-after doubles. */
	probe_err = GV_ETIMEOUT;
	probe_until(f->st, &o, "b", 0);
	probe_err = 0;
	took = probe_until(f->st, &o, "b", 1);
	assert_true(took >= 200);

	/* An operator's mark stays, however long the sector answers. */
	assert_int_equal(gv_store_sector_set_health(f->st, "b", 0), 0);
	t0 = mono_ms();
	while (mono_ms() - t0 < 4 * 200 + 100) {
		assert_int_equal(gv_health_probe(f->st, &o, NULL), 0);
		sleep_ms(10);
	}
	si = sector_now(f->st, "b");
	assert_false(si.healthy);
	assert_string_equal(si.reason, GV_SECTOR_REASON_OPERATOR);

	/* A definite answer (root replaced, gone): down at once, and it stays. */
	assert_int_equal(gv_store_sector_set_health(f->st, "b", 1), 0);
	probe_err = GV_ENOTFOUND;
	assert_int_equal(gv_health_probe(f->st, &o, NULL), 0);
	si = sector_now(f->st, "b");
	assert_false(si.healthy);
	assert_non_null(strstr(si.reason, "probe fails"));
	probe_err = 0;
	t0 = mono_ms();
	while (mono_ms() - t0 < 4 * 200 + 100) {
		assert_int_equal(gv_health_probe(f->st, &o, NULL), 0);
		sleep_ms(10);
	}
	assert_false(sector_now(f->st, "b").healthy);
}

/* Writes that fail because the sector cannot be reached count like failed
 * probes: the failures run from the first write, and a sector marked for
 * them comes back when it answers. */
static void test_health_write_failures(void **state)
{
	fx *f = *state;
	gv_health_opts o = GV_HEALTH_OPTS_INIT;
	gv_sector *p = calloc(1, sizeof(*p));
	int i;

	o.interval_ms = 10;
	o.down_after_ms = 100000;
	o.up_after_ms = 50;
	open_store(f, NULL);
	add_mem(f->st, "b", "r2", 1 << 20);
	assert_non_null(p);
	p->ops = &probe_ops;
	snprintf(p->id, sizeof(p->id), "b");
	assert_int_equal(gv_store_sector_attach(f->st, "b", p), 0);
	probe_err = 0;
	for (i = 0; i < GV_SECTOR_FAILURES_MAX; i++) {
		gv_error_set(GV_EIO, "sector b: node unreachable");
		gv_store_sector_result(f->st, "b", GV_EIO);
	}
	assert_false(sector_now(f->st, "b").healthy);
	assert_memory_equal(sector_now(f->st, "b").reason, GV_HEALTH_REASON,
	                    strlen(GV_HEALTH_REASON));
	assert_true(probe_until(f->st, &o, "b", 1) >= 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_max_replicas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reput_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_expect_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reput_restores_lost_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_one_target_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_two_targets_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_hang_past_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_hang_store_free_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_free_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_late_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_late_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_too_few_sectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_fanout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_fanout_target_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_primary_commit_hangs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quorum_primary_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_put_keeps_identical_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_beats_late_copy, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reput_while_settling, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reput_after_files_vanished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_index_fails_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_failed_copy_keeps_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_corrupt_restarts_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_verify_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_verify_first_opens_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_hedged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_unreachable_keeps_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_all_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_unhealthy_sector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_lost_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_trims_surplus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_moves_misplaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_queue_deleted_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_queue_backoff_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_bad_source_and_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_finds_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presence_finds_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_skips_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_io_error_and_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebalance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebalance_low_water, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebalance_failed_moves_keep_protection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_index_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub_index_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebalance_index_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_index_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_backend_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_backend_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sector_kind_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_detector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_write_failures, setup, teardown),
	};

	if (getenv("GV_TEST_LOG"))
		gv_log_set(log_to_stderr, GV_LOG_DEBUG, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
