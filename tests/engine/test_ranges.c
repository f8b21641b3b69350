/*
 * test_ranges.c - range-level replicas and repair (docs/integrity.md):
 * a block that fails its digest leaves the replica's ranges, repair
 * rewrites only the missing or bad blocks in place, a failure between
 * the write and the record leaves the block out of the ranges, and a
 * partial replica serves the blocks its ranges hold.
 *
 * Three mem sectors behind fault wrappers (src/sector/fault.c), which
 * count the bytes written into them; factor 3; a blob of 64 blocks of
 * 4 KiB.
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

#define BS 4096u
#define NBLK 64
#define SIZE (NBLK * BS)
#define BAD 10 /* the rotten block */

typedef struct fx {
	char dir[128];
	gv_store *st;
	unsigned char good[SIZE];
	unsigned char bad[SIZE];
	gv_key key;
	gv_sector *f[3]; /* the fault wrappers */
} fx;

static const char *const IDS[3] = { "a", "b", "c" };

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	gv_store_opts o = GV_STORE_OPTS_INIT;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	gv_put_result res;
	gv_put *put = NULL;
	fx *f = calloc(1, sizeof(*f));
	size_t i;

	if (!f)
		return -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gv-ranges-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	o.data_dir = f->dir;
	o.create = 1;
	o.block_size = BS;
	/* The tests say which replica a read tries first; no hedge to the
	 * next one, however slow a sanitizer makes an open. */
	o.hedge_after_ms = 600000;
	o.placement_set = 1;
	o.placement = (gv_placement_opts)GV_PLACEMENT_OPTS_INIT;
	o.placement.strategy = GV_STRATEGY_SIMPLE;
	o.placement.factor = 3;
	o.placement.min_replicas = 3;
	if (gv_store_open(&f->st, &o) < 0)
		return -1;
	for (i = 0; i < 3; i++) {
		gv_sector_info si;
		gv_sector *m = NULL;
		gv_fault_plan p;

		memset(&si, 0, sizeof(si));
		snprintf(si.id, sizeof(si.id), "%s", IDS[i]);
		snprintf(si.kind, sizeof(si.kind), "mem");
		snprintf(si.rack, sizeof(si.rack), "r%zu", i);
		snprintf(si.zone, sizeof(si.zone), "z1");
		si.capacity = 1ull << 30;
		memset(&p, 0, sizeof(p));
		if (gv_store_sector_add(f->st, &si, GV_SECTOR_ADD_CREATE) < 0 ||
		    gv_sector_mem_open(&m, IDS[i], 1ull << 30) < 0 ||
		    gv_sector_fault_wrap(&f->f[i], m, &p) < 0 ||
		    gv_store_sector_attach(f->st, IDS[i], f->f[i]) < 0)
			return -1;
	}
	for (i = 0; i < SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f->good[i] = (unsigned char)(x >> 24);
	}
	if (gv_put_open(&put, f->st, NULL) < 0 || gv_put_write(put, f->good, SIZE) < 0 ||
	    gv_put_commit(put, &res) < 0 || res.replicas != 3) {
		fprintf(stderr, "set-up: put: %s\n", gv_error_last());
		return -1;
	}
	f->key = res.key;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;

	gv_store_free(f->st);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Flip one byte of block b in replica i's bytes (its row unchanged). */
static void rot(fx *f, int i, unsigned b)
{
	memcpy(f->bad, f->good, SIZE);
	f->bad[(size_t)b * BS + 123] ^= 0x40;
	assert_int_equal(gv_sector_put_buf(f->f[i], &f->key, f->bad, SIZE), 0);
}

/* The row of key in sector id (caller frees with gv_replicas_free(*all)). */
static gv_replica *row_of(fx *f, const char *id, gv_replica **all, size_t *n)
{
	size_t i;

	assert_int_equal(gv_index_replicas_find(gv_store_index(f->st), &f->key, all, n), 0);
	for (i = 0; i < *n; i++)
		if (strcmp((*all)[i].sector, id) == 0)
			return &(*all)[i];
	fail_msg("no row in %s", id);
	return NULL;
}

/* Read [start, end) (end 0: the whole blob) into buf; the sector that
 * served the last byte in served (may be NULL). */
static int read_range(fx *f, uint64_t start, uint64_t end, unsigned char *buf, char *served)
{
	gv_get_opts go;
	gv_get *g = NULL;
	size_t n = 0;
	ssize_t k;
	int err;

	memset(&go, 0, sizeof(go));
	if (end) {
		go.has_range = 1;
		go.start = start;
		go.end = end;
	}
	if ((err = gv_get_open(&g, f->st, &f->key, &go)) < 0)
		return err;
	while ((k = gv_get_read(g, buf + n, 1000)) > 0)
		n += (size_t)k;
	if (served)
		snprintf(served, GV_ID_MAX, "%s", gv_get_sector(g));
	gv_get_close(g);
	if (k < 0)
		return (int)k;
	assert_int_equal(n, (end ? end : SIZE) - start);
	return 0;
}

static void repair(fx *f)
{
	gv_repair_opts ro;
	gv_repair_summary sum;

	memset(&ro, 0, sizeof(ro));
	memset(&sum, 0, sizeof(sum));
	assert_int_equal(gv_repair_run(f->st, &ro, &sum), 0);
	assert_int_equal(sum.failed, 0);
}

/* A read that meets the rotten block takes it out of the replica's
 * ranges (and marks the replica), still returning the right bytes. */
static void test_read_drops_the_block(void **state)
{
	fx *f = *state;
	static unsigned char got[SIZE];
	gv_replica *all = NULL, *rp;
	size_t n;

	rot(f, 0, BAD);
	assert_int_equal(read_range(f, 0, 0, got, NULL), 0);
	assert_memory_equal(got, f->good, SIZE);
	rp = row_of(f, "a", &all, &n);
	assert_false(rp->healthy);
	assert_string_equal(rp->reason, "checksum mismatch");
	assert_int_equal(rp->ranges.n, 2);
	assert_false(gv_rangeset_contains(&rp->ranges, BAD * BS, BAD * BS + 1));
	assert_int_equal(gv_rangeset_bytes(&rp->ranges), SIZE - BS);
	gv_replicas_free(all, n);
}

/* The replica is repaired by rewriting that one block in place: at most
 * two blocks written into it, none into the others; then it is whole,
 * healthy and verifies against the key. */
static void assert_repaired_in_place(fx *f)
{
	gv_replica *all = NULL, *rp;
	uint64_t w[3];
	size_t n, i;

	for (i = 0; i < 3; i++)
		w[i] = gv_sector_fault_bytes_written(f->f[i]);
	repair(f);
	assert_true(gv_sector_fault_bytes_written(f->f[0]) - w[0] > 0);
	assert_true(gv_sector_fault_bytes_written(f->f[0]) - w[0] <= 2 * BS);
	for (i = 1; i < 3; i++)
		assert_int_equal(gv_sector_fault_bytes_written(f->f[i]), w[i]);
	rp = row_of(f, "a", &all, &n);
	assert_int_equal(n, 3);
	assert_true(rp->healthy);
	assert_true(gv_rangeset_is_full(&rp->ranges, SIZE));
	gv_replicas_free(all, n);
	assert_int_equal(gv_replica_verify(f->f[0], &f->key, NULL, 0, NULL, NULL, NULL), 0);
}

static void test_repair_rewrites_one_block(void **state)
{
	fx *f = *state;
	static unsigned char got[SIZE];

	rot(f, 0, BAD);
	assert_int_equal(read_range(f, BAD * BS + 5, BAD * BS + 6, got, NULL), 0);
	assert_int_equal(got[0], f->good[BAD * BS + 5]);
	assert_repaired_in_place(f);
}

/* A replica marked bad without knowing where (a whole-key mismatch):
 * repair finds the block by the table and rewrites only it. */
static void test_repair_finds_the_block_by_table(void **state)
{
	fx *f = *state;

	rot(f, 0, BAD);
	assert_int_equal(gv_index_replica_set_health(gv_store_index(f->st), &f->key, "a", 0,
	                                             "checksum mismatch"), 0);
	assert_repaired_in_place(f);
}

/* A failure after the block is written but before it is synced and
 * recorded (a crash there) leaves the ranges without the block; the
 * next attempt puts it back. */
static void test_fail_between_write_and_record(void **state)
{
	fx *f = *state;
	static const char srcs[2][GV_ID_MAX] = { "b", "c" };
	static unsigned char got[SIZE];
	gv_replica *all = NULL, *rp;
	gv_fault_plan p;
	size_t n;

	rot(f, 0, BAD);
	assert_int_equal(read_range(f, 0, 0, got, NULL), 0);
	memset(&p, 0, sizeof(p));
	p.kind = GV_FAULT_EIO;
	p.ops = GV_FAULT_OP_PATCH;
	p.nth = 2; /* the write goes through, the sync fails */
	gv_sector_fault_set(f->f[0], &p);
	rp = row_of(f, "a", &all, &n);
	assert_int_equal(gv_patch_replica(f->st, &f->key, srcs, 2, "a", rp, NULL, NULL), GV_EIO);
	gv_replicas_free(all, n);
	assert_int_equal(gv_sector_fault_calls(f->f[0]), 2);
	rp = row_of(f, "a", &all, &n);
	assert_false(rp->healthy);
	assert_false(gv_rangeset_contains(&rp->ranges, BAD * BS, BAD * BS + 1));
	assert_int_equal(gv_rangeset_bytes(&rp->ranges), SIZE - BS);
	gv_sector_fault_set(f->f[0], NULL);
	assert_int_equal(gv_patch_replica(f->st, &f->key, srcs, 2, "a", rp, NULL, NULL), 0);
	gv_replicas_free(all, n);
	rp = row_of(f, "a", &all, &n);
	assert_true(rp->healthy);
	assert_true(gv_rangeset_is_full(&rp->ranges, SIZE));
	gv_replicas_free(all, n);
	assert_int_equal(gv_replica_verify(f->f[0], &f->key, NULL, 0, NULL, NULL, NULL), 0);
}

/* A partial replica serves a range its ranges hold (b and c are rotten
 * there), and never one they do not (though its bytes are good). */
static void test_range_from_partial_replica(void **state)
{
	fx *f = *state;
	unsigned char got[BS];
	char served[GV_ID_MAX];
	gv_rangeset rs = GV_RANGESET_INIT;

	assert_int_equal(gv_rangeset_add(&rs, 0, 8 * BS), 0);
	assert_int_equal(gv_index_replica_set_ranges(gv_store_index(f->st), &f->key, "a", &rs), 0);
	gv_rangeset_free(&rs);
	memcpy(f->bad, f->good, SIZE);
	f->bad[5 * BS + 7] ^= 1;
	f->bad[20 * BS + 7] ^= 1;
	assert_int_equal(gv_sector_put_buf(f->f[1], &f->key, f->bad, SIZE), 0);
	assert_int_equal(gv_sector_put_buf(f->f[2], &f->key, f->bad, SIZE), 0);
	assert_int_equal(read_range(f, 5 * BS, 5 * BS + 100, got, served), 0);
	assert_memory_equal(got, f->good + 5 * BS, 100);
	assert_string_equal(served, "a");
	assert_int_equal(read_range(f, 20 * BS, 20 * BS + 100, got, NULL),
	                 GV_EALL_REPLICAS_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_drops_the_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_rewrites_one_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_finds_the_block_by_table, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_fail_between_write_and_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_from_partial_replica, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
