/*
 * test_blocks.c - block tables and block-verified reads over three
 * in-memory sectors (docs/integrity.md).
 *
 * The fuzz-style tests rewrite the replicas with random blocks rotten
 * (one flipped byte each) and read random ranges: with at least one good
 * copy of every block every read returns the right bytes; with every copy
 * of a block rotten the read fails before handing out any byte of it.
 * Blocks are 4 KiB (the smallest) so a blob of 17 blocks is small.
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
#include <unistd.h>

#include "core/digest.h"
#include "engine/blocks.h"
#include "engine/store.h"

#define BS 4096u
#define NBLK 17
#define SIZE (NBLK * BS - 1234) /* a short last block */
#define ROUNDS 1000

typedef struct fx {
	char dir[128];
	gv_store *st;
	unsigned char good[SIZE];
	unsigned char bad[3][SIZE];
	gv_key key;
	uint64_t rng;
} fx;

static const char *const IDS[3] = { "a", "b", "c" };

static uint64_t rnd(fx *f)
{
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	return f->rng;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A store of three mem sectors, factor 3, 4 KiB blocks, and one blob. */
static int setup(void **state)
{
	gv_store_opts o = GV_STORE_OPTS_INIT;
	gv_put_result res;
	gv_put *put = NULL;
	fx *f = calloc(1, sizeof(*f));
	size_t i;

	if (!f)
		return -1;
	*state = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gv-blocks-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	o.data_dir = f->dir;
	o.create = 1;
	o.block_size = BS;
	/* The tests say which replica a read tries first; no hedge to the
	 * next one, however slow a sanitizer makes an open. */
	o.hedge_after_ms = 600000;
	o.placement_set = 1;
	o.placement.strategy = GV_STRATEGY_SIMPLE;
	o.placement.factor = 3;
	o.placement.min_replicas = 3;
	if (gv_store_open(&f->st, &o) < 0)
		return -1;
	for (i = 0; i < 3; i++) {
		gv_sector_info si;

		memset(&si, 0, sizeof(si));
		snprintf(si.id, sizeof(si.id), "%s", IDS[i]);
		snprintf(si.kind, sizeof(si.kind), "mem");
		snprintf(si.rack, sizeof(si.rack), "r%zu", i);
		snprintf(si.zone, sizeof(si.zone), "z1");
		si.capacity = 1ull << 30;
		if (gv_store_sector_add(f->st, &si, GV_SECTOR_ADD_CREATE) < 0)
			return -1;
	}
	f->rng = 0x9e3779b97f4a7c15ULL;
	for (i = 0; i < SIZE; i++)
		f->good[i] = (unsigned char)(rnd(f) >> 24);
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

/* Replica i holds bytes (written over its committed blob), healthy and
 * whole again (a read that met a rotten block took it out of the row's
 * ranges). */
static void set_replica(fx *f, int i, const unsigned char *bytes)
{
	gv_sector *s = gv_store_sector_handle(f->st, IDS[i], NULL, 0);
	gv_sector_writer *w = NULL;
	gv_rangeset whole = GV_RANGESET_INIT;

	assert_non_null(s);
	assert_int_equal(gv_sector_writer_open(&w, s, &f->key, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, bytes, SIZE), 0);
	assert_int_equal(gv_sector_writer_commit(w, &f->key), 0);
	assert_int_equal(gv_index_replica_set_health(gv_store_index(f->st), &f->key, IDS[i], 1, ""),
	                 0);
	assert_int_equal(gv_rangeset_add(&whole, 0, SIZE), 0);
	assert_int_equal(gv_index_replica_set_ranges(gv_store_index(f->st), &f->key, IDS[i], &whole),
	                 0);
	gv_rangeset_free(&whole);
}

/* Rot: for each block, mask[b] says which replicas get a flipped byte in
 * it; the replicas are rewritten accordingly. */
static void rot(fx *f, const unsigned mask[NBLK])
{
	int i, b;

	for (i = 0; i < 3; i++) {
		memcpy(f->bad[i], f->good, SIZE);
		for (b = 0; b < NBLK; b++) {
			uint64_t off = (uint64_t)b * BS, len = SIZE - off < BS ? SIZE - off : BS;

			if (mask[b] & (1u << i))
				f->bad[i][off + rnd(f) % len] ^= (unsigned char)(1 + rnd(f) % 255);
		}
		set_replica(f, i, f->bad[i]);
	}
}

/* Read [start, end) (a full read when end is 0); the bytes handed out go
 * to got, their count to *n.  Returns 0 or the read's error. */
static int read_range(fx *f, uint64_t start, uint64_t end, unsigned char *got, size_t *n)
{
	gv_get_opts o = GV_GET_OPTS_INIT;
	gv_get *g = NULL;
	int err;

	*n = 0;
	if (end) {
		o.has_range = 1;
		o.start = start;
		o.end = end;
	}
	if ((err = gv_get_open(&g, f->st, &f->key, &o)) < 0)
		return err;
	for (;;) {
		ssize_t r = gv_get_read(g, got + *n, 1 + rnd(f) % 9000);

		if (r <= 0) {
			err = (int)r;
			break;
		}
		*n += (size_t)r;
		assert_true(*n <= SIZE);
	}
	gv_get_close(g);
	return err;
}

/* The put recorded a table of NBLK blocks of BS bytes. */
static void test_put_records_table(void **state)
{
	fx *f = *state;
	gv_blocks *b = NULL;
	size_t i;

	assert_int_equal(gv_blocks_load(f->st, &f->key, &b), 0);
	assert_int_equal(gv_blocks_size(b), BS);
	assert_int_equal(gv_blocks_count(b), NBLK);
	for (i = 0; i < NBLK; i++) {
		size_t len = SIZE - i * BS < BS ? SIZE - i * BS : BS;

		assert_true(gv_blocks_check(b, i, f->good + i * BS, len));
	}
	assert_false(gv_blocks_check(b, 1, f->good, BS));
	gv_blocks_free(b);
}

/* At least one good copy of every block: every read is right. */
static void test_fuzz_one_good_copy(void **state)
{
	fx *f = *state;
	static unsigned char got[SIZE];
	unsigned mask[NBLK];
	int round, b, spread = 0;

	for (round = 0; round < ROUNDS; round++) {
		uint64_t start, end;
		size_t n;
		int every = 1;

		for (b = 0; b < NBLK; b++) {
			mask[b] = (unsigned)(rnd(f) % 8);
			if (mask[b] == 7)
				mask[b] &= ~(1u << (rnd(f) % 3));
		}
		/* Count rounds where no replica is wholly good: the whole-key
		 * path cannot serve those. */
		for (b = 0; b < 3; b++) {
			int i, clean = 1;

			for (i = 0; i < NBLK; i++)
				clean &= !(mask[i] & (1u << b));
			every &= !clean;
		}
		spread += every;
		rot(f, mask);
		if (round % 10 == 0) {
			start = 0;
			end = 0;
		} else {
			start = rnd(f) % SIZE;
			end = start + 1 + rnd(f) % (SIZE - start);
		}
		assert_int_equal(read_range(f, start, end, got, &n), 0);
		if (!end)
			end = SIZE;
		assert_int_equal(n, end - start);
		assert_memory_equal(got, f->good + start, n);
	}
	assert_true(spread > ROUNDS / 2);
}

/* A block rotten in every copy: the read fails, and what it handed out
 * before is right and holds no byte of that block. */
static void test_fuzz_all_copies_bad(void **state)
{
	fx *f = *state;
	static unsigned char got[SIZE];
	unsigned mask[NBLK];
	int round, b;

	for (round = 0; round < ROUNDS / 4; round++) {
		uint64_t start, end, kstart;
		int k = (int)(rnd(f) % NBLK), err;
		size_t n;

		for (b = 0; b < NBLK; b++)
			mask[b] = b == k ? 7 : (unsigned)(rnd(f) % 7);
		rot(f, mask);
		kstart = (uint64_t)k * BS;
		/* A range that covers some of block k. */
		start = rnd(f) % (kstart + (SIZE - kstart < BS ? SIZE - kstart : BS));
		if (start < kstart)
			end = kstart + 1 + rnd(f) % (SIZE - kstart);
		else
			end = start + 1 + rnd(f) % (SIZE - start);
		err = read_range(f, start, end, got, &n);
		assert_int_equal(err, GV_EALL_REPLICAS_FAILED);
		assert_true(strstr(gv_error_last(), "intact") != NULL);
		assert_true(start + n <= (kstart > start ? kstart : start));
		if (n)
			assert_memory_equal(got, f->good + start, n);
	}
}

/* Replicas that rot were marked unhealthy with reason checksum mismatch;
 * one that serves every block stays healthy. */
static void test_marks_the_rotten(void **state)
{
	fx *f = *state;
	static unsigned char got[SIZE];
	unsigned mask[NBLK] = { 0 };
	gv_replica *reps = NULL;
	size_t n, nr, i;

	/* a rotten in block 3, b in block 9, c clean. */
	mask[3] = 1;
	mask[9] = 2;
	rot(f, mask);
	assert_int_equal(read_range(f, 0, 0, got, &n), 0);
	assert_int_equal(n, SIZE);
	assert_memory_equal(got, f->good, SIZE);
	assert_int_equal(gv_index_replicas_find(gv_store_index(f->st), &f->key, &reps, &nr), 0);
	assert_int_equal(nr, 3);
	for (i = 0; i < nr; i++) {
		int rotten = strcmp(reps[i].sector, "c") != 0;

		assert_int_equal(reps[i].healthy, !rotten);
		assert_string_equal(reps[i].reason, rotten ? "checksum mismatch" : "");
	}
	gv_replicas_free(reps, nr);
}

/* A rotten table row is refused by its check: reads fall back to the key. */
static void test_rotten_table_falls_back(void **state)
{
	fx *f = *state;
	static unsigned char got[SIZE];
	unsigned char junk[44 + NBLK * 32];
	gv_blocks *b = NULL;
	void *tab = NULL;
	size_t len = 0, n;

	assert_int_equal(gv_index_blocks_get(gv_store_index(f->st), &f->key, &tab, &len), 0);
	assert_int_equal(len, sizeof(junk));
	memcpy(junk, tab, len);
	free(tab);
	junk[60] ^= 1; /* one bit of the first digest */
	assert_int_equal(gv_blocks_decode(&b, &f->key, junk, sizeof(junk)), GV_ECORRUPT);
	assert_int_equal(gv_index_blocks_put(gv_store_index(f->st), &f->key, junk, sizeof(junk)), 0);
	assert_int_equal(gv_blocks_load(f->st, &f->key, &b), GV_ENOTFOUND);
	assert_int_equal(read_range(f, 100, 9000, got, &n), 0);
	assert_int_equal(n, 8900);
	assert_memory_equal(got, f->good + 100, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_records_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_one_good_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fuzz_all_copies_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_marks_the_rotten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotten_table_falls_back, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
