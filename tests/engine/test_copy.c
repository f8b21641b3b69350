/*
 * test_copy.c - the copy/move module (src/engine/copy.c) on its own: a
 * resumable copy cut short resumes from the prefix its row records, a
 * failed copy leaves nothing behind, and a move that fails half-way keeps
 * every row backed by its bytes.
 *
 * A store over "mem" sectors; the blob is put while "a" is the only
 * sector, so "a" holds it, then "b" joins behind a fault-injecting sector
 * (src/sector/fault.c) and the index behind the fault-injecting index
 * (src/index/fault.c) where a test needs it.
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

#include "engine/copy.h"
#include "engine/store.h"
#include "index/fault.h"

#define MiB (1024u * 1024u)
/* Not a whole number of copy buffers, so the last write is short. */
#define BLOB (4 * MiB + 4321)

typedef struct fx {
	char dir[128];
	gv_store *st;
	unsigned char *blob;
	gv_key key;
	gv_sector *a, *b;       /* the sectors' fault wrappers */
} fx;

static void add_mem(gv_store *st, const char *id)
{
	gv_sector_info si;

	memset(&si, 0, sizeof(si));
	snprintf(si.id, sizeof(si.id), "%s", id);
	snprintf(si.kind, sizeof(si.kind), "mem");
	snprintf(si.rack, sizeof(si.rack), "r-%s", id);
	snprintf(si.zone, sizeof(si.zone), "z1");
	si.capacity = 64 * MiB;
	assert_int_equal(gv_store_sector_add(st, &si, GV_SECTOR_ADD_CREATE), 0);
}

/* Put sector id behind a fault wrapper (over a fresh mem sector) that
 * counts the calls in `ops` and fails none yet. */
static gv_sector *wrap_fault(gv_store *st, const char *id, unsigned ops)
{
	gv_sector *m = NULL, *f = NULL;
	gv_fault_plan p;

	memset(&p, 0, sizeof(p));
	p.ops = ops;
	assert_int_equal(gv_sector_mem_open(&m, id, 64 * MiB), 0);
	assert_int_equal(gv_sector_fault_wrap(&f, m, &p), 0);
	assert_int_equal(gv_store_sector_attach(st, id, f), 0);
	return f;
}

/* A store with the blob in sector "a", and an empty sector "b"; both
 * behind fault wrappers that fail nothing yet. */
static int setup(void **state)
{
	gv_store_opts o = GV_STORE_OPTS_INIT;
	gv_put_result res;
	gv_put *put = NULL;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	size_t i;
	fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gv-copy-XXXXXX");
	if (!mkdtemp(f->dir) || !(f->blob = malloc(BLOB)))
		return -1;
	*state = f;
	for (i = 0; i < BLOB; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f->blob[i] = (unsigned char)(x >> 24);
	}
	o.data_dir = f->dir;
	o.create = 1;
	o.placement_set = 1;
	o.placement = (gv_placement_opts)GV_PLACEMENT_OPTS_INIT;
	o.placement.strategy = GV_STRATEGY_SIMPLE;
	o.placement.factor = 1;
	o.placement.min_replicas = 1;
	if (gv_store_open(&f->st, &o) < 0)
		return -1;
	add_mem(f->st, "a");
	f->a = wrap_fault(f->st, "a", 0);
	if (gv_put_open(&put, f->st, NULL) < 0 || gv_put_write(put, f->blob, BLOB) < 0 ||
	    gv_put_commit(put, &res) < 0)
		return -1;
	f->key = res.key;
	add_mem(f->st, "b");
	f->b = wrap_fault(f->st, "b", 0);
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
	free(f->blob);
	free(f);
	return 0;
}

static void fault_plan(gv_sector *s, gv_fault_kind kind, unsigned ops, unsigned long nth)
{
	gv_fault_plan p;

	memset(&p, 0, sizeof(p));
	p.kind = kind;
	p.ops = ops;
	p.nth = nth;
	gv_sector_fault_set(s, &p);
}

/* The key's row in sector, copied into *out; 0 when there is none. */
static int row_in(gv_store *st, const gv_key *key, const char *sector, gv_replica *out)
{
	gv_replica *reps = NULL;
	size_t n = 0, i;
	int found = 0;

	assert_int_equal(gv_index_replicas_find(st->ix, key, &reps, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(reps[i].sector, sector) == 0) {
			found = 1;
			*out = reps[i];
			memset(&reps[i].ranges, 0, sizeof(reps[i].ranges)); /* moved to *out */
		}
	gv_replicas_free(reps, n);
	return found;
}

/* The sector holds the key's committed bytes, whole and matching. */
static int bytes_in(gv_store *st, const char *sector, const gv_key *key)
{
	gv_sector *s = gv_store_sector_handle(st, sector, NULL, 0);

	assert_non_null(s);
	return gv_replica_verify(s, key, NULL, 0, NULL, NULL, NULL) == 0;
}

/* Every row of the key is complete and backed by its bytes. */
static void assert_rows_backed(gv_store *st, const gv_key *key)
{
	gv_replica *reps = NULL;
	size_t n = 0, i;

	assert_int_equal(gv_index_replicas_find(st->ix, key, &reps, &n), 0);
	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		assert_true(gv_rangeset_is_full(&reps[i].ranges, key->size));
		assert_true(bytes_in(st, reps[i].sector, key));
	}
	gv_replicas_free(reps, n);
}

/* Copies of a MiB or more resume, recording their prefix every MiB. */
static void resume_small(gv_copy_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->resume_min = MiB;
	o->resume_step = MiB;
}

typedef struct cut {
	atomic_int cancel;
	uint64_t written, at;
} cut;

/* Cancel the copy once `at` bytes are written: a copy cut short. */
static void cut_at(uint64_t n, void *payload)
{
	cut *c = payload;

	c->written += n;
	if (c->written >= c->at)
		c->cancel = 1;
}

static void test_copy_resumes_recorded_prefix(void **state)
{
	fx *f = *state;
	const char srcs[1][GV_ID_MAX] = { "a" };
	gv_sector *b = f->b;
	gv_copy_opts o;
	gv_copy_result res;
	gv_replica row;
	cut c = { 0, 0, 2 * MiB };
	uint64_t recorded;

	resume_small(&o);
	o.cancel = &c.cancel;
	o.on_bytes = cut_at;
	o.payload = &c;
	assert_int_equal(gv_copy_key(f->st, &f->key, srcs, 1, "b", NULL, &o, &res),
	                 GV_ECANCELED);
	/* The partial row records the durable prefix, and no more. */
	assert_true(row_in(f->st, &f->key, "b", &row));
	assert_int_equal(row.ranges.n, 1);
	assert_int_equal(row.ranges.r[0].start, 0);
	recorded = row.ranges.r[0].end;
	assert_true(recorded >= MiB && recorded <= res.written && recorded < BLOB);

	/* The retry writes only what the recorded prefix lacks. */
	fault_plan(b, GV_FAULT_NONE, GV_FAULT_OP_WRITE, 0);
	resume_small(&o);
	assert_int_equal(gv_copy_key(f->st, &f->key, srcs, 1, "b", &row, &o, &res), 0);
	assert_int_equal(res.resumed, recorded);
	assert_int_equal(res.written, BLOB - recorded);
	assert_true(res.written < BLOB);
	/* Each write of the copy is one buffer at most: fewer than a whole
	 * copy's ceil(BLOB / buffer). */
	assert_true(gv_sector_fault_calls(b) <= (BLOB - recorded + GV_COPY_BUF - 1) / GV_COPY_BUF);
	assert_true(gv_sector_fault_calls(b) < (BLOB + GV_COPY_BUF - 1) / GV_COPY_BUF);
	gv_rangeset_free(&row.ranges);
	assert_true(row_in(f->st, &f->key, "b", &row));
	assert_true(gv_rangeset_is_full(&row.ranges, BLOB));
	assert_true(row.healthy);
	gv_rangeset_free(&row.ranges);
	assert_rows_backed(f->st, &f->key);
}

static void test_copy_failure_leaves_nothing(void **state)
{
	fx *f = *state;
	const char srcs[1][GV_ID_MAX] = { "a" };
	gv_sector *b = f->b;
	gv_copy_opts o;
	gv_replica row;
	uint64_t size = 1;

	resume_small(&o);
	fault_plan(b, GV_FAULT_EIO, GV_FAULT_OP_WRITE, 3);
	assert_true(gv_copy_key(f->st, &f->key, srcs, 1, "b", NULL, &o, NULL) < 0);
	assert_false(row_in(f->st, &f->key, "b", &row));
	assert_int_equal(gv_sector_stat(b, &f->key, &size), GV_ENOTFOUND);
	assert_true(row_in(f->st, &f->key, "a", &row));
	gv_rangeset_free(&row.ranges);
	assert_rows_backed(f->st, &f->key);
}

static void test_move_drop_row_fails(void **state)
{
	fx *f = *state;
	gv_index *fi = NULL;
	gv_index_fault_plan p;
	gv_replica row;
	unsigned long failed = 0;

	assert_int_equal(gv_index_fault_wrap(&fi, f->st->ix, NULL), 0);
	f->st->ix = fi;
	memset(&p, 0, sizeof(p));
	p.ops = GV_IXFAULT_REPLICA_REMOVE;
	p.nth = 1;
	p.error = GV_EIO;
	gv_index_fault_set(fi, &p);
	assert_true(gv_move_replica(f->st, &f->key, "a", "b") < 0);
	gv_index_fault_counts(fi, NULL, &failed);
	assert_int_equal(failed, 1);
	/* Both rows, both copies. */
	assert_true(row_in(f->st, &f->key, "a", &row));
	gv_rangeset_free(&row.ranges);
	assert_true(row_in(f->st, &f->key, "b", &row));
	gv_rangeset_free(&row.ranges);
	assert_true(bytes_in(f->st, "a", &f->key));
	assert_true(bytes_in(f->st, "b", &f->key));
	assert_rows_backed(f->st, &f->key);
}

static void test_move_delete_fails(void **state)
{
	fx *f = *state;
	gv_replica row;

	fault_plan(f->a, GV_FAULT_EIO, GV_FAULT_OP_DEL, 0);
	/* The old bytes outliving their row is no failure of the move. */
	assert_int_equal(gv_move_replica(f->st, &f->key, "a", "b"), 0);
	assert_int_equal(gv_sector_fault_calls(f->a), 1);
	assert_false(row_in(f->st, &f->key, "a", &row));
	assert_true(row_in(f->st, &f->key, "b", &row));
	gv_rangeset_free(&row.ranges);
	/* No row points at missing bytes; the old bytes wait for the sweep. */
	assert_rows_backed(f->st, &f->key);
	assert_true(bytes_in(f->st, "a", &f->key));
}

static void test_move(void **state)
{
	fx *f = *state;
	gv_replica row;
	uint64_t size = 0;

	assert_int_equal(gv_move_replica(f->st, &f->key, "a", "b"), 0);
	assert_false(row_in(f->st, &f->key, "a", &row));
	assert_int_equal(gv_sector_stat(f->a, &f->key, &size), GV_ENOTFOUND);
	assert_true(row_in(f->st, &f->key, "b", &row));
	gv_rangeset_free(&row.ranges);
	assert_rows_backed(f->st, &f->key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_resumes_recorded_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_failure_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_drop_row_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_delete_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
