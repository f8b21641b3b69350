/*
 * test_index_blocks.c - the optional block-table ops (blocks_put,
 * blocks_get) of the sqlite backend, through the dispatchers and the fault
 * wrapper, and an index from before block tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "graviton/sys/index.h"
#include "index/fault.h"

typedef struct fx {
	char dir[64];
	char path[96];
	gv_index *ix;
} fx;

static gv_key key_n(int n)
{
	gv_key k;

	memset(&k, 0, sizeof(k));
	k.digest[0] = (uint8_t)n;
	k.digest[31] = 0x5a;
	k.size = 3u << 20;
	return k;
}

static void add_blob(gv_index *ix, const gv_key *k)
{
	gv_sector_info si;
	gv_replica r;

	memset(&si, 0, sizeof(si));
	snprintf(si.id, sizeof(si.id), "s1");
	snprintf(si.kind, sizeof(si.kind), "mem");
	snprintf(si.path, sizeof(si.path), "/x");
	si.capacity = 1ull << 40;
	si.healthy = 1;
	assert_int_equal(gv_index_sector_upsert(ix, &si), 0);
	memset(&r, 0, sizeof(r));
	r.key = *k;
	snprintf(r.sector, sizeof(r.sector), "s1");
	r.healthy = 1;
	assert_int_equal(gv_rangeset_add(&r.ranges, 0, k->size), 0);
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/gv-ixblocks-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/graviton.db", f->dir);
	*state = f;
	return gv_index_sqlite_open(&f->ix, f->path, 1) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	char p[128];

	gv_index_close(f->ix);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_put_get_replace(void **state)
{
	fx *f = *state;
	gv_key k = key_n(1), other = key_n(2);
	void *out = NULL;
	size_t len = 0;

	add_blob(f->ix, &k);
	assert_int_equal(gv_index_blocks_get(f->ix, &k, &out, &len), GV_ENOTFOUND);
	assert_null(out);
	assert_int_equal(gv_index_blocks_put(f->ix, &k, "first", 5), 0);
	assert_int_equal(gv_index_blocks_put(f->ix, &k, "second!", 7), 0);
	assert_int_equal(gv_index_blocks_get(f->ix, &k, &out, &len), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(out, "second!", 7);
	free(out);
	/* No table for a blob the index does not know, nor an empty one. */
	assert_int_equal(gv_index_blocks_put(f->ix, &other, "x", 1), GV_ENOTFOUND);
	assert_int_equal(gv_index_blocks_get(f->ix, &other, &out, &len), GV_ENOTFOUND);
	assert_int_equal(gv_index_blocks_put(f->ix, &k, "x", 0), GV_EINVAL);
	/* The table goes with its blob row. */
	assert_int_equal(gv_index_blob_remove(f->ix, &k), 0);
	add_blob(f->ix, &k);
	assert_int_equal(gv_index_blocks_get(f->ix, &k, &out, &len), GV_ENOTFOUND);
}

static void test_fault_wrapper(void **state)
{
	fx *f = *state;
	gv_index_fault_plan plan = { 0 };
	gv_index *w = NULL;
	gv_key k = key_n(3);
	void *out = NULL;
	size_t len = 0;

	add_blob(f->ix, &k);
	assert_int_equal(gv_index_fault_wrap(&w, f->ix, NULL), 0);
	f->ix = w;
	assert_int_equal(gv_index_blocks_put(w, &k, "tab", 3), 0);
	assert_int_equal(gv_index_blocks_get(w, &k, &out, &len), 0);
	assert_int_equal(len, 3);
	free(out);
	plan.ops = GV_IXFAULT_BLOCKS_PUT | GV_IXFAULT_BLOCKS_GET;
	plan.error = GV_EIO;
	gv_index_fault_set(w, &plan);
	assert_int_equal(gv_index_blocks_put(w, &k, "new", 3), GV_EIO);
	assert_int_equal(gv_index_blocks_get(w, &k, &out, &len), GV_EIO);
	gv_index_fault_set(w, NULL);
	assert_int_equal(gv_index_blocks_get(w, &k, &out, &len), 0);
	assert_memory_equal(out, "tab", 3);
	free(out);
}

/* An index written before block tables existed opens and gets the table. */
static void test_old_index_gets_the_table(void **state)
{
	fx *f = *state;
	gv_key k = key_n(4);
	sqlite3 *db = NULL;
	void *out = NULL;
	size_t len = 0;

	add_blob(f->ix, &k);
	gv_index_close(f->ix);
	f->ix = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE blocks", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(gv_index_sqlite_open(&f->ix, f->path, 0), 0);
	assert_int_equal(gv_index_blocks_get(f->ix, &k, &out, &len), GV_ENOTFOUND);
	assert_int_equal(gv_index_blocks_put(f->ix, &k, "t", 1), 0);
	assert_int_equal(gv_index_blocks_get(f->ix, &k, &out, &len), 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_wrapper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_index_gets_the_table, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
