/*
 * test_index_sqlite.c - the replica index conformance suite.
 *
 * Run without arguments it tests the SQLite backend: each test gets a
 * fresh temporary directory holding one index file.  Run as
 * `test_index_sqlite postgresql` with $GV_TEST_PG_URL set (tests/pg_run.sh
 * starts a throwaway server) it runs the same tests, but those about
 * SQLite's files and locks, against the PostgreSQL backend: each test gets
 * a fresh, empty public schema.  Raw SQL is used only to inspect the index
 * or to fake other schema versions.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "graviton/sys/index.h"

struct fx {
	char dir[64];
	char path[128];
	gv_index *ix;
};

/* The PostgreSQL URL under test, NULL when testing SQLite. */
static const char *pg_url;

/* Run SQL on the PostgreSQL database under test; the result (NULL for a
 * command). */
static PGresult *pg_exec(const char *text)
{
	PGconn *pg = PQconnectdb(pg_url);
	PGresult *res;

	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	res = PQexec(pg, text);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", text, PQerrorMessage(pg));
	PQfinish(pg);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Open the index under test (again). */
static int fx_open(struct fx *f, gv_index **out, int create)
{
	return pg_url ? gv_index_postgresql_open(out, pg_url, create)
	              : gv_index_sqlite_open(out, f->path, create);
}

static void rm_tree(const char *dir)
{
	char p[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int setup_dir(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/gv-index-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/index.db", f->dir);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	struct fx *f;

	setup_dir(state);
	f = *state;
	if (pg_url)
		pg_exec("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	if (fx_open(f, &f->ix, 1) < 0)
		fail_msg("open: %s", gv_error_last());
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->ix)
		gv_index_close(f->ix);
	rm_tree(f->dir);
	free(f);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static gv_key mkkey(uint32_t i)
{
	gv_key k;
	uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
	size_t j;

	for (j = 0; j < GV_DIGEST_LEN; j++) {
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ull;
		k.digest[j] = (uint8_t)(x >> 56);
	}
	k.size = 100 + i;
	return k;
}

static void add_sector(gv_index *ix, const char *id, int healthy, gv_sector_state st)
{
	gv_sector_info s;

	memset(&s, 0, sizeof(s));
	snprintf(s.id, sizeof(s.id), "%s", id);
	strcpy(s.kind, "fs");
	snprintf(s.path, sizeof(s.path), "/srv/%s", id);
	s.capacity = 1u << 30;
	s.healthy = healthy;
	s.state = st;
	assert_int_equal(gv_index_sector_upsert(ix, &s), 0);
}

/* A complete, healthy replica; caller frees ranges. */
static void mkrep(gv_replica *r, const gv_key *k, const char *sector)
{
	memset(r, 0, sizeof(*r));
	r->key = *k;
	snprintf(r->sector, sizeof(r->sector), "%s", sector);
	gv_rangeset_init(&r->ranges);
	assert_int_equal(gv_rangeset_add(&r->ranges, 0, k->size), 0);
	r->healthy = 1;
}

static void put(gv_index *ix, const gv_key *k, const char *sector)
{
	gv_replica r;

	mkrep(&r, k, sector);
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);
}

static uint64_t used_of(gv_index *ix, const char *id)
{
	gv_sector_info s;

	assert_int_equal(gv_index_sector_get(ix, id, &s), 0);
	return s.used;
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db;

	if (pg_url) {
		pg_exec(text);
		return;
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	if (pg_url) {
		PGresult *res = pg_exec(text);

		assert_non_null(res);
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		return v;
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void key_text(char *buf, const gv_key *k)
{
	gv_key_format(buf, k);
}

/* ---- opening ------------------------------------------------------------ */

static void test_open_create_reopen(void **state)
{
	struct fx *f = *state;
	gv_sector_info s;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_string_equal(f->ix->ops->name, "sqlite");
	assert_int_equal(f->ix->ops->version, GV_INDEX_OPS_VERSION);
	add_sector(f->ix, "s1", 1, GV_SECTOR_ACTIVE);
	gv_index_close(f->ix);
	f->ix = NULL;

	assert_int_equal(gv_index_sqlite_open(&f->ix, f->path, 0), 0);
	assert_int_equal(gv_index_sector_get(f->ix, "s1", &s), 0);
	assert_string_equal(s.path, "/srv/s1");

	assert_int_equal(sql_int(f->path, "SELECT version FROM schema_version"),
	                 GV_INDEX_SQLITE_SCHEMA);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* Opening again with create on an existing index changes nothing. */
	gv_index_close(f->ix);
	f->ix = NULL;
	assert_int_equal(gv_index_sqlite_open(&f->ix, f->path, 1), 0);
	assert_int_equal(gv_index_sector_get(f->ix, "s1", &s), 0);
}

static void test_open_missing(void **state)
{
	struct fx *f = *state;
	gv_index *ix = (gv_index *)1;

	assert_int_equal(gv_index_sqlite_open(&ix, f->path, 0), GV_ENOTFOUND);
	assert_null(ix);
	assert_non_null(strstr(gv_error_last(), f->path));
	assert_int_not_equal(access(f->path, F_OK), 0);
}

static void test_open_empty_file(void **state)
{
	struct fx *f = *state;
	gv_index *ix;
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(gv_index_sqlite_open(&ix, f->path, 0), GV_ENOTFOUND);
	assert_int_equal(gv_index_sqlite_open(&ix, f->path, 1), 0);
	gv_index_close(ix);
}

static void test_open_newer_schema(void **state)
{
	struct fx *f = *state;
	gv_index *ix;

	gv_index_close(f->ix);
	f->ix = NULL;
	sql(f->path, "UPDATE schema_version SET version = 99");
	assert_true(gv_index_sqlite_open(&ix, f->path, 0) < 0);
	assert_null(ix);
	assert_non_null(strstr(gv_error_last(), "newer"));
	assert_non_null(strstr(gv_error_last(), "99"));
	assert_true(gv_index_sqlite_open(&ix, f->path, 1) < 0);
	assert_int_equal(sql_int(f->path, "SELECT version FROM schema_version"), 99);
}

static void test_open_migrates(void **state)
{
	struct fx *f = *state;
	gv_index *ix;

	/* A database left at version 0 walks the whole migration list. */
	sql(f->path, "PRAGMA journal_mode = WAL;"
	             "CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1),"
	             " version INTEGER NOT NULL);"
	             "INSERT INTO schema_version VALUES (1, 0);");
	assert_int_equal(gv_index_sqlite_open(&ix, f->path, 0), 0);
	assert_int_equal(sql_int(f->path, "SELECT version FROM schema_version"),
	                 GV_INDEX_SQLITE_SCHEMA);
	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	gv_index_close(ix);
}

static void test_open_foreign_db(void **state)
{
	struct fx *f = *state;
	gv_index *ix;

	sql(f->path, "CREATE TABLE something (x)");
	assert_int_equal(gv_index_sqlite_open(&ix, f->path, 1), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "not a graviton index"));

	unlink(f->path);
	sql(f->path, "");
	assert_int_equal(gv_index_sqlite_open(&ix, "", 1), GV_EINVAL);
}

static void test_open_not_sqlite(void **state)
{
	struct fx *f = *state;
	gv_index *ix;
	FILE *fp = fopen(f->path, "w");
	char junk[4096];

	assert_non_null(fp);
	memset(junk, 'x', sizeof(junk));
	fwrite(junk, 1, sizeof(junk), fp);
	fclose(fp);
	assert_true(gv_index_sqlite_open(&ix, f->path, 0) < 0);
	assert_null(ix);
	assert_non_null(strstr(gv_error_last(), "not a database"));
}

/* ---- sectors ------------------------------------------------------------ */

static void test_sector_crud(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_sector_info s, *list;
	size_t n;
	gv_key k = mkkey(1);

	add_sector(ix, "b", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "a", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "c", 0, GV_SECTOR_DRAINING);

	assert_int_equal(gv_index_sector_list(ix, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].id, "a");
	assert_string_equal(list[1].id, "b");
	assert_string_equal(list[2].id, "c");
	assert_int_equal(list[2].healthy, 0);
	assert_int_equal(list[2].state, GV_SECTOR_DRAINING);
	free(list);

	/* Update every field; `used` is the index's own. */
	put(ix, &k, "a");
	memset(&s, 0, sizeof(s));
	strcpy(s.id, "a");
	strcpy(s.kind, "mem");
	strcpy(s.path, "/elsewhere");
	s.capacity = 5000;
	s.used = 123456;
	s.healthy = 0;
	strcpy(s.rack, "r1");
	strcpy(s.zone, "z-1");
	s.state = GV_SECTOR_RETIRED;
	assert_int_equal(gv_index_sector_upsert(ix, &s), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(gv_index_sector_get(ix, "a", &s), 0);
	assert_string_equal(s.kind, "mem");
	assert_string_equal(s.path, "/elsewhere");
	assert_int_equal(s.capacity, 5000);
	assert_int_equal(s.used, k.size);
	assert_int_equal(s.healthy, 0);
	assert_string_equal(s.rack, "r1");
	assert_string_equal(s.zone, "z-1");
	assert_int_equal(s.state, GV_SECTOR_RETIRED);

	assert_int_equal(gv_index_sector_set_health(ix, "a", 1), 0);
	assert_int_equal(gv_index_sector_set_state(ix, "a", GV_SECTOR_DRAINING), 0);
	assert_int_equal(gv_index_sector_get(ix, "a", &s), 0);
	assert_int_equal(s.healthy, 1);
	assert_int_equal(s.state, GV_SECTOR_DRAINING);
	assert_int_equal(gv_index_sector_set_state(ix, "a", (gv_sector_state)7), GV_EINVAL);

	assert_int_equal(gv_index_sector_get(ix, "nope", &s), GV_ENOTFOUND);
	assert_int_equal(gv_index_sector_set_health(ix, "nope", 1), GV_ENOTFOUND);
	assert_int_equal(gv_index_sector_set_state(ix, "nope", GV_SECTOR_ACTIVE), GV_ENOTFOUND);
	assert_int_equal(gv_index_sector_remove(ix, "nope"), GV_ENOTFOUND);

	/* Removal waits for the replicas to go. */
	assert_int_equal(gv_index_sector_remove(ix, "a"), GV_EBUSY);
	assert_non_null(strstr(gv_error_last(), "replicas"));
	assert_int_equal(gv_index_replica_remove(ix, &k, "a"), 0);
	assert_int_equal(gv_index_sector_remove(ix, "a"), 0);
	assert_int_equal(gv_index_sector_get(ix, "a", &s), GV_ENOTFOUND);
	assert_int_equal(gv_index_sector_list(ix, &list, &n), 0);
	assert_int_equal(n, 2);
	free(list);

	/* Invalid ids and fields. */
	memset(&s, 0, sizeof(s));
	strcpy(s.id, "-bad");
	assert_int_equal(gv_index_sector_upsert(ix, &s), GV_EINVAL);
	strcpy(s.id, "ok");
	strcpy(s.rack, "bad rack");
	assert_int_equal(gv_index_sector_upsert(ix, &s), GV_EINVAL);
	strcpy(s.rack, "");
	s.state = (gv_sector_state)9;
	assert_int_equal(gv_index_sector_upsert(ix, &s), GV_EINVAL);
}

static void test_sector_list_empty(void **state)
{
	struct fx *f = *state;
	gv_sector_info *list = (gv_sector_info *)1;
	size_t n = 9;

	assert_int_equal(gv_index_sector_list(f->ix, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
}

/* ---- replicas ----------------------------------------------------------- */

static void test_replica_roundtrip(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key k = mkkey(7), other = mkkey(8);
	gv_replica r, *out;
	gv_rangeset rs = GV_RANGESET_INIT;
	uint8_t sum[GV_DIGEST_LEN];
	int64_t created = 0;
	size_t n;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s2", 1, GV_SECTOR_ACTIVE);

	mkrep(&r, &k, "s1");
	r.last_verified = 1234;
	r.has_checksum = 1;
	memset(r.checksum, 0xab, sizeof(r.checksum));
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);

	mkrep(&r, &k, "s2");
	gv_rangeset_clear(&r.ranges);
	assert_int_equal(gv_rangeset_add(&r.ranges, 0, 10), 0);
	assert_int_equal(gv_rangeset_add(&r.ranges, 20, 30), 0);
	r.healthy = 0;
	strcpy(r.reason, "copying");
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);

	assert_int_equal(gv_index_blob_exists(ix, &k, &created), 1);
	assert_true(created > 0);
	assert_int_equal(gv_index_blob_exists(ix, &other, NULL), 0);

	assert_int_equal(gv_index_replicas_find(ix, &k, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].sector, "s1");
	assert_int_equal(gv_key_cmp(&out[0].key, &k), 0);
	assert_true(gv_rangeset_is_full(&out[0].ranges, k.size));
	assert_int_equal(out[0].healthy, 1);
	assert_int_equal(out[0].last_verified, 1234);
	assert_int_equal(out[0].has_checksum, 1);
	assert_int_equal(out[0].checksum[31], 0xab);
	assert_string_equal(out[0].reason, "");
	assert_string_equal(out[1].sector, "s2");
	assert_int_equal(out[1].ranges.n, 2);
	assert_int_equal(out[1].ranges.r[1].start, 20);
	assert_int_equal(out[1].ranges.r[1].end, 30);
	assert_int_equal(out[1].healthy, 0);
	assert_int_equal(out[1].has_checksum, 0);
	assert_string_equal(out[1].reason, "copying");
	gv_replicas_free(out, n);

	/* health, verification, ranges */
	assert_int_equal(gv_index_replica_set_health(ix, &k, "s1", 0, "bad digest"), 0);
	memset(sum, 0x11, sizeof(sum));
	assert_int_equal(gv_index_replica_set_verified(ix, &k, "s2", 999, sum), 0);
	assert_int_equal(gv_rangeset_add(&rs, 0, k.size), 0);
	assert_int_equal(gv_index_replica_set_ranges(ix, &k, "s2", &rs), 0);
	assert_int_equal(gv_index_replica_set_health(ix, &k, "s2", 1, NULL), 0);
	assert_int_equal(gv_index_replicas_find(ix, &k, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0].healthy, 0);
	assert_string_equal(out[0].reason, "bad digest");
	assert_int_equal(out[1].last_verified, 999);
	assert_int_equal(out[1].has_checksum, 1);
	assert_memory_equal(out[1].checksum, sum, sizeof(sum));
	assert_true(gv_rangeset_is_full(&out[1].ranges, k.size));
	assert_int_equal(out[1].healthy, 1);
	gv_replicas_free(out, n);

	/* Missing rows and bad input. */
	assert_int_equal(gv_index_replica_set_health(ix, &other, "s1", 1, ""), GV_ENOTFOUND);
	assert_int_equal(gv_index_replica_set_verified(ix, &k, "s9", 1, sum), GV_ENOTFOUND);
	assert_int_equal(gv_index_replica_set_ranges(ix, &other, "s1", &rs), GV_ENOTFOUND);
	gv_rangeset_clear(&rs);
	assert_int_equal(gv_rangeset_add(&rs, 0, k.size + 1), 0);
	assert_int_equal(gv_index_replica_set_ranges(ix, &k, "s1", &rs), GV_EINVAL);
	gv_rangeset_free(&rs);
	assert_int_equal(gv_index_replicas_find(ix, &other, &out, &n), GV_ENOTFOUND);
	assert_null(out);

	/* A replica on an unknown sector leaves no blob row behind. */
	mkrep(&r, &other, "s9");
	assert_int_equal(gv_index_replica_put(ix, &r), GV_ENOTFOUND);
	assert_int_equal(gv_index_blob_exists(ix, &other, NULL), 0);
	strcpy(r.sector, "s1");
	gv_rangeset_clear(&r.ranges);
	assert_int_equal(gv_rangeset_add(&r.ranges, 5, other.size + 5), 0);
	assert_int_equal(gv_index_replica_put(ix, &r), GV_EINVAL);
	assert_int_equal(gv_index_blob_exists(ix, &other, NULL), 0);
	gv_rangeset_free(&r.ranges);

	/* Remove one, then the other: the blob row stays, with no replicas. */
	assert_int_equal(gv_index_replica_remove(ix, &k, "s1"), 0);
	assert_int_equal(gv_index_replica_remove(ix, &k, "s1"), GV_ENOTFOUND);
	assert_int_equal(gv_index_replica_remove(ix, &k, "s2"), 0);
	assert_int_equal(gv_index_replicas_find(ix, &k, &out, &n), 0);
	assert_int_equal(n, 0);
	gv_replicas_free(out, n);
	assert_int_equal(gv_index_blob_exists(ix, &k, NULL), 1);
}

static void test_replica_put_replaces(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key k = mkkey(3);
	gv_replica r, *out;
	size_t n;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	mkrep(&r, &k, "s1");
	r.has_checksum = 1;
	strcpy(r.reason, "");
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	r.healthy = 0;
	r.has_checksum = 0;
	r.last_verified = 77;
	strcpy(r.reason, "gone");
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);

	assert_int_equal(gv_index_replicas_find(ix, &k, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].healthy, 0);
	assert_int_equal(out[0].has_checksum, 0);
	assert_int_equal(out[0].last_verified, 77);
	assert_string_equal(out[0].reason, "gone");
	gv_replicas_free(out, n);
}

static void test_reason_truncated(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key k = mkkey(4);
	gv_replica *out;
	char reason[1000];
	size_t n;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	put(ix, &k, "s1");
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	assert_int_equal(gv_index_replica_set_health(ix, &k, "s1", 0, reason), 0);
	assert_int_equal(gv_index_replicas_find(ix, &k, &out, &n), 0);
	assert_int_equal(strlen(out[0].reason), GV_REASON_MAX - 1);
	gv_replicas_free(out, n);
}

static void test_used_accounting(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key a = mkkey(10), b = mkkey(20);

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s2", 1, GV_SECTOR_ACTIVE);
	assert_int_equal(used_of(ix, "s1"), 0);

	put(ix, &a, "s1");
	assert_int_equal(used_of(ix, "s1"), a.size);
	put(ix, &a, "s1"); /* replace: no double count */
	put(ix, &a, "s1");
	assert_int_equal(used_of(ix, "s1"), a.size);
	put(ix, &b, "s1");
	put(ix, &b, "s2");
	assert_int_equal(used_of(ix, "s1"), a.size + b.size);
	assert_int_equal(used_of(ix, "s2"), b.size);

	add_sector(ix, "s1", 0, GV_SECTOR_DRAINING); /* upsert keeps used */
	assert_int_equal(used_of(ix, "s1"), a.size + b.size);

	assert_int_equal(gv_index_replica_remove(ix, &a, "s1"), 0);
	assert_int_equal(used_of(ix, "s1"), b.size);
	assert_int_equal(gv_index_replica_remove(ix, &a, "s1"), GV_ENOTFOUND);
	assert_int_equal(used_of(ix, "s1"), b.size);

	assert_int_equal(gv_index_blob_remove(ix, &b), 0);
	assert_int_equal(used_of(ix, "s1"), 0);
	assert_int_equal(used_of(ix, "s2"), 0);
}

static void test_blob_remove_cascades(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key k = mkkey(5), keep = mkkey(6), keys[4];
	gv_replica *out;
	size_t n;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s2", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s3", 1, GV_SECTOR_ACTIVE);
	put(ix, &k, "s1");
	put(ix, &k, "s2");
	put(ix, &k, "s3");
	put(ix, &keep, "s1");

	assert_int_equal(gv_index_blob_remove(ix, &k), 0);
	assert_int_equal(gv_index_blob_exists(ix, &k, NULL), 0);
	assert_int_equal(gv_index_replicas_find(ix, &k, &out, &n), GV_ENOTFOUND);
	assert_int_equal(gv_index_sector_keys_next(ix, "s2", NULL, 4, keys, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gv_index_sector_keys_next(ix, "s1", NULL, 4, keys, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(gv_key_cmp(&keys[0], &keep), 0);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM replicas"), 1);
	assert_int_equal(used_of(ix, "s2"), 0);
	assert_int_equal(used_of(ix, "s1"), keep.size);
	assert_int_equal(gv_index_blob_remove(ix, &k), GV_ENOTFOUND);
	assert_int_equal(gv_index_sector_remove(ix, "s3"), 0);
}

/* ---- cursors ------------------------------------------------------------ */

#define PAGE_KEYS 2500

static void test_keys_next_pagination(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key batch[100], last;
	char prev[GV_KEY_BUFSIZE] = "", cur[GV_KEY_BUFSIZE];
	unsigned char *seen = calloc(PAGE_KEYS, 1);
	size_t n, i, total = 0;
	uint32_t j;

	assert_non_null(seen);
	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	for (j = 0; j < PAGE_KEYS; j++) {
		gv_key k = mkkey(j);

		put(ix, &k, "s1");
	}

	assert_int_equal(gv_index_keys_next(ix, NULL, 0, batch, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gv_index_keys_next(ix, NULL, 100, batch, &n), 0);
	for (;;) {
		for (i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)(batch[i].size - 100);

			key_text(cur, &batch[i]);
			assert_true(strcmp(prev, cur) < 0);
			strcpy(prev, cur);
			assert_true(idx < PAGE_KEYS);
			assert_int_equal(seen[idx], 0);
			seen[idx] = 1;
			total++;
		}
		if (n < 100)
			break;
		last = batch[n - 1];
		assert_int_equal(gv_index_keys_next(ix, &last, 100, batch, &n), 0);
	}
	assert_int_equal(total, PAGE_KEYS);
	free(seen);
}

static void test_sector_keys_next(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_key batch[7], *after = NULL, last;
	char prev[GV_KEY_BUFSIZE] = "", cur[GV_KEY_BUFSIZE];
	size_t n, i, total = 0;
	uint32_t j;

	add_sector(ix, "odd", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "all", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "none", 1, GV_SECTOR_ACTIVE);
	for (j = 0; j < 60; j++) {
		gv_key k = mkkey(j);

		put(ix, &k, "all");
		if (j % 2)
			put(ix, &k, "odd");
	}
	do {
		assert_int_equal(gv_index_sector_keys_next(ix, "odd", after, 7, batch, &n), 0);
		for (i = 0; i < n; i++) {
			assert_int_equal((batch[i].size - 100) % 2, 1);
			key_text(cur, &batch[i]);
			assert_true(strcmp(prev, cur) < 0);
			strcpy(prev, cur);
			total++;
		}
		if (n) {
			last = batch[n - 1];
			after = &last;
		}
	} while (n == 7);
	assert_int_equal(total, 30);

	assert_int_equal(gv_index_sector_keys_next(ix, "none", NULL, 7, batch, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gv_index_sector_keys_next(ix, "missing", NULL, 7, batch, &n), 0);
	assert_int_equal(n, 0);
}

/* The replica rows test_blobs_next_pagination gives blob j. */
static size_t blob_nrep(uint32_t j)
{
	return j % 4; /* 0: the blob row stays with no replica */
}

static void blob_fill(gv_index *ix, uint32_t j)
{
	static const char *const sec[] = { "s1", "s2", "s3" };
	gv_key k = mkkey(j);
	uint8_t sum[GV_DIGEST_LEN];
	gv_rangeset rs = GV_RANGESET_INIT;
	size_t i, n = blob_nrep(j);

	if (n == 0) {
		put(ix, &k, "s1");
		assert_int_equal(gv_index_replica_remove(ix, &k, "s1"), 0);
		return;
	}
	for (i = 0; i < n; i++)
		put(ix, &k, sec[i]);
	if (j % 5 == 1)
		assert_int_equal(gv_index_replica_set_health(ix, &k, "s1", 0, "digest mismatch"),
		                 0);
	if (j % 3 == 0) {
		memset(sum, (int)(j & 0xff), sizeof(sum));
		assert_int_equal(gv_index_replica_set_verified(ix, &k, "s1", 1000 + j, sum), 0);
	}
	if (n >= 2 && j % 7 == 2) {
		assert_int_equal(gv_rangeset_add(&rs, 0, 10), 0);
		assert_int_equal(gv_rangeset_add(&rs, 20, 30), 0);
		assert_int_equal(gv_index_replica_set_ranges(ix, &k, "s2", &rs), 0);
		gv_rangeset_free(&rs);
	}
}

static void blob_check(gv_index *ix, const gv_blob_entry *e, uint32_t j)
{
	static const char *const sec[] = { "s1", "s2", "s3" };
	gv_key k = mkkey(j);
	int64_t created = 0;
	size_t i;

	assert_int_equal(gv_key_cmp(&e->key, &k), 0);
	assert_int_equal(gv_index_blob_exists(ix, &k, &created), 1);
	assert_int_equal(e->created_ms, created);
	assert_int_equal(e->nreplicas, blob_nrep(j));
	if (e->nreplicas == 0)
		assert_null(e->replicas);
	for (i = 0; i < e->nreplicas; i++) {
		const gv_replica *r = &e->replicas[i];
		int sick = i == 0 && j % 5 == 1, verified = i == 0 && j % 3 == 0;

		assert_int_equal(gv_key_cmp(&r->key, &k), 0);
		assert_string_equal(r->sector, sec[i]); /* sector order within a blob */
		assert_int_equal(r->healthy, !sick);
		assert_string_equal(r->reason, sick ? "digest mismatch" : "");
		assert_int_equal(r->last_verified, verified ? 1000 + (int64_t)j : 0);
		assert_int_equal(r->has_checksum, verified);
		if (verified) {
			assert_int_equal(r->checksum[0], j & 0xff);
			assert_int_equal(r->checksum[GV_DIGEST_LEN - 1], j & 0xff);
		}
		if (i == 1 && j % 7 == 2) {
			assert_int_equal(r->ranges.n, 2);
			assert_int_equal(r->ranges.r[0].start, 0);
			assert_int_equal(r->ranges.r[0].end, 10);
			assert_int_equal(r->ranges.r[1].start, 20);
			assert_int_equal(r->ranges.r[1].end, 30);
		} else {
			assert_true(gv_rangeset_is_full(&r->ranges, k.size));
		}
	}
}

static void test_blobs_next_pagination(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_blob_entry *out;
	gv_key last;
	char prev[GV_KEY_BUFSIZE] = "", cur[GV_KEY_BUFSIZE];
	unsigned char *seen = calloc(PAGE_KEYS, 1);
	size_t n, i, total = 0, batches = 0, empty = 0;
	uint32_t j;

	assert_non_null(seen);
	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s2", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s3", 1, GV_SECTOR_ACTIVE);
	for (j = 0; j < PAGE_KEYS; j++)
		blob_fill(ix, j);

	assert_int_equal(gv_index_blobs_next(ix, NULL, 100, &out, &n), 0);
	for (;;) {
		batches++;
		assert_true(n <= 100);
		for (i = 0; i < n; i++) {
			uint32_t idx = (uint32_t)(out[i].key.size - 100);

			key_text(cur, &out[i].key);
			assert_true(strcmp(prev, cur) < 0);
			strcpy(prev, cur);
			assert_true(idx < PAGE_KEYS);
			assert_int_equal(seen[idx], 0);
			seen[idx] = 1;
			blob_check(ix, &out[i], idx);
			empty += out[i].nreplicas == 0;
			total++;
		}
		if (n < 100) {
			gv_blob_entries_free(out, n);
			break;
		}
		last = out[n - 1].key;
		gv_blob_entries_free(out, n);
		assert_int_equal(gv_index_blobs_next(ix, &last, 100, &out, &n), 0);
	}
	assert_int_equal(total, PAGE_KEYS);
	assert_int_equal(empty, PAGE_KEYS / 4);
	/* 25 full batches, then an empty one says the scan is over. */
	assert_int_equal(batches, PAGE_KEYS / 100 + 1);
	assert_int_equal(n, 0);
	assert_null(out);

	/* The same walk agrees with keys_next and replicas_find. */
	{
		gv_key keys[100];
		gv_replica *reps;
		size_t nk, nr;

		assert_int_equal(gv_index_keys_next(ix, NULL, 100, keys, &nk), 0);
		assert_int_equal(gv_index_blobs_next(ix, NULL, 100, &out, &n), 0);
		assert_int_equal(n, nk);
		for (i = 0; i < n; i++) {
			assert_int_equal(gv_key_cmp(&out[i].key, &keys[i]), 0);
			assert_int_equal(gv_index_replicas_find(ix, &keys[i], &reps, &nr), 0);
			assert_int_equal(nr, out[i].nreplicas);
			gv_replicas_free(reps, nr);
		}
		gv_blob_entries_free(out, n);
	}
	free(seen);
}

/* Keys of blobs_next in text order with their replica counts. */
static size_t walk_all(gv_index *ix, size_t limit, gv_key *keys, size_t *nreps, size_t cap)
{
	gv_blob_entry *out;
	gv_key last;
	size_t n, i, total = 0;

	assert_int_equal(gv_index_blobs_next(ix, NULL, limit, &out, &n), 0);
	while (n > 0) {
		assert_true(n <= limit);
		for (i = 0; i < n; i++) {
			assert_true(total < cap);
			keys[total] = out[i].key;
			nreps[total] = out[i].nreplicas;
			total++;
		}
		last = out[n - 1].key;
		gv_blob_entries_free(out, n);
		if (n < limit)
			break;
		assert_int_equal(gv_index_blobs_next(ix, &last, limit, &out, &n), 0);
	}
	return total;
}

static void test_blobs_next_limits(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_blob_entry *out = (gv_blob_entry *)&out;
	gv_key k[12], got[16], walked[16], one, before_all;
	size_t nreps[16], ref_n[16], n = 99, i, total;
	gv_replica r;
	uint32_t j;

	/* Empty index, and a zero limit. */
	assert_int_equal(gv_index_blobs_next(ix, NULL, 100, &out, &n), 0);
	assert_int_equal(n, 0);
	assert_null(out);
	gv_blob_entries_free(NULL, 0);

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s2", 1, GV_SECTOR_ACTIVE);
	for (j = 0; j < 10; j++) {
		k[j] = mkkey(j);
		put(ix, &k[j], "s1");
		if (j % 2)
			put(ix, &k[j], "s2");
		if (j % 3 == 0)
			assert_int_equal(gv_index_replica_remove(ix, &k[j], "s1"), 0);
	}
	/* Sizes of 0 and of 19 digits, and ranges of several pieces or none. */
	k[10] = mkkey(10);
	k[10].size = 0;
	mkrep(&r, &k[10], "s1");
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);
	k[11] = mkkey(11);
	k[11].size = 5000000000000000000ull;
	mkrep(&r, &k[11], "s2");
	gv_rangeset_clear(&r.ranges);
	assert_int_equal(gv_rangeset_add(&r.ranges, 0, 7), 0);
	assert_int_equal(gv_rangeset_add(&r.ranges, 9, 12), 0);
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_clear(&r.ranges);
	strcpy(r.sector, "s1");
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);

	out = (gv_blob_entry *)&out;
	n = 99;
	assert_int_equal(gv_index_blobs_next(ix, NULL, 0, &out, &n), 0);
	assert_int_equal(n, 0);
	assert_null(out);

	/* One batch far larger than the index holds. */
	assert_int_equal(gv_index_blobs_next(ix, NULL, SIZE_MAX, &out, &n), 0);
	assert_int_equal(n, 12);
	for (i = 0; i < n; i++) {
		for (j = 0; j < 12 && gv_key_cmp(&out[i].key, &k[j]) != 0; j++)
			;
		assert_true(j < 12);
		ref_n[i] = j == 10 ? 1 : j == 11 ? 2 : (j % 2 ? 2 : 1) - (j % 3 == 0);
		assert_int_equal(out[i].nreplicas, ref_n[i]);
		if (j == 10) {
			assert_int_equal(out[i].key.size, 0);
			assert_int_equal(out[i].replicas[0].ranges.n, 0);
		}
		if (j == 11) {
			assert_int_equal(out[i].key.size, 5000000000000000000ull);
			assert_string_equal(out[i].replicas[0].sector, "s1");
			assert_int_equal(out[i].replicas[0].ranges.n, 0);
			assert_string_equal(out[i].replicas[1].sector, "s2");
			assert_int_equal(out[i].replicas[1].ranges.n, 2);
			assert_int_equal(out[i].replicas[1].ranges.r[1].start, 9);
			assert_int_equal(out[i].replicas[1].ranges.r[1].end, 12);
		}
		got[i] = out[i].key;
	}
	gv_blob_entries_free(out, n);

	/* Every batch size walks the same keys with the same rows. */
	for (i = 1; i <= 13; i++) {
		size_t m;

		total = walk_all(ix, i, walked, nreps, 16);
		assert_int_equal(total, 12);
		for (m = 0; m < total; m++) {
			assert_int_equal(gv_key_cmp(&walked[m], &got[m]), 0);
			assert_int_equal(nreps[m], ref_n[m]);
		}
	}

	/* After the last key: nothing.  After a key not in the index: the
	 * next one up. */
	assert_int_equal(gv_index_blobs_next(ix, &got[11], 5, &out, &n), 0);
	assert_int_equal(n, 0);
	assert_null(out);
	one = got[4];
	one.size++; /* text order: same digest, a size text after got[4]'s */
	assert_int_equal(gv_index_blobs_next(ix, &one, 2, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gv_key_cmp(&out[0].key, &got[5]), 0);
	assert_int_equal(gv_key_cmp(&out[1].key, &got[6]), 0);
	gv_blob_entries_free(out, n);
	memset(&before_all, 0, sizeof(before_all));
	assert_int_equal(gv_index_blobs_next(ix, &before_all, 1, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(gv_key_cmp(&out[0].key, &got[0]), 0);
	gv_blob_entries_free(out, n);

	/* A malformed key in the file (it sorts last) fails the batch that
	 * reaches it and hands back nothing. */
	sql(f->path, "INSERT INTO blobs (key, size, created) VALUES ('sha256:zz', 1, 1)");
	out = (gv_blob_entry *)&out;
	n = 99;
	assert_int_equal(gv_index_blobs_next(ix, NULL, 100, &out, &n), GV_ERROR);
	assert_int_equal(n, 0);
	assert_null(out);
	/* The keys before it are still reachable. */
	assert_int_equal(gv_index_blobs_next(ix, NULL, 12, &out, &n), 0);
	assert_int_equal(n, 12);
	gv_blob_entries_free(out, n);
}

static int cmp_scrub(const gv_replica *a, const gv_replica *b)
{
	char ka[GV_KEY_BUFSIZE], kb[GV_KEY_BUFSIZE];
	int c;

	if (a->last_verified != b->last_verified)
		return a->last_verified < b->last_verified ? -1 : 1;
	key_text(ka, &a->key);
	key_text(kb, &b->key);
	if ((c = strcmp(ka, kb)) != 0)
		return c;
	return strcmp(a->sector, b->sector);
}

static void test_replicas_next(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_replica_cursor cur;
	gv_replica *out, prev;
	uint8_t sum[GV_DIGEST_LEN] = { 0 };
	size_t n, i, total;
	uint32_t j;
	int have_prev;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "s2", 1, GV_SECTOR_ACTIVE);
	/* 40 keys x 2 sectors; timestamps in 3 buckets so many are equal. */
	for (j = 0; j < 40; j++) {
		gv_key k = mkkey(j);

		put(ix, &k, "s1");
		put(ix, &k, "s2");
		if (j % 3) {
			int64_t when = (int64_t)(j % 3) * 1000;

			assert_int_equal(gv_index_replica_set_verified(ix, &k, "s1", when, sum), 0);
		}
		if (j % 2)
			assert_int_equal(gv_index_replica_set_verified(ix, &k, "s2", 1000, sum), 0);
	}

	memset(&cur, 0, sizeof(cur));
	total = 0;
	have_prev = 0;
	do {
		assert_int_equal(gv_index_replicas_next(ix, &cur, NULL, 3, &out, &n), 0);
		for (i = 0; i < n; i++) {
			if (have_prev)
				assert_true(cmp_scrub(&prev, &out[i]) < 0);
			prev = out[i];
			prev.ranges.r = NULL;
			have_prev = 1;
			total++;
		}
		if (n) {
			assert_int_equal(cur.started, 1);
			assert_int_equal(cur.last_verified, out[n - 1].last_verified);
			assert_string_equal(cur.sector, out[n - 1].sector);
		}
		gv_replicas_free(out, n);
	} while (n == 3);
	assert_int_equal(total, 80);

	/* The first rows are the never-verified ones. */
	memset(&cur, 0, sizeof(cur));
	assert_int_equal(gv_index_replicas_next(ix, &cur, NULL, 5, &out, &n), 0);
	assert_int_equal(n, 5);
	for (i = 0; i < n; i++)
		assert_int_equal(out[i].last_verified, 0);
	gv_replicas_free(out, n);

	/* Restricted to one sector. */
	memset(&cur, 0, sizeof(cur));
	total = 0;
	have_prev = 0;
	do {
		assert_int_equal(gv_index_replicas_next(ix, &cur, "s2", 4, &out, &n), 0);
		for (i = 0; i < n; i++) {
			assert_string_equal(out[i].sector, "s2");
			if (have_prev)
				assert_true(cmp_scrub(&prev, &out[i]) < 0);
			prev = out[i];
			prev.ranges.r = NULL;
			have_prev = 1;
			total++;
		}
		gv_replicas_free(out, n);
	} while (n == 4);
	assert_int_equal(total, 40);

	/* At the end the cursor stays put. */
	{
		gv_replica_cursor before = cur;

		assert_int_equal(gv_index_replicas_next(ix, &cur, "s2", 4, &out, &n), 0);
		assert_int_equal(n, 0);
		assert_null(out);
		assert_memory_equal(&before, &cur, sizeof(cur));
	}
}

/* ---- stats -------------------------------------------------------------- */

static void test_stats(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_index_stats st;
	gv_key k[8];
	gv_replica r;
	uint64_t bytes = 0;
	uint32_t j;

	assert_int_equal(gv_index_stats_get(ix, 3, &st), 0);
	assert_int_equal(st.blobs, 0);
	assert_int_equal(st.replicas, 0);
	assert_true(st.avg_factor == 0.0);
	assert_int_equal(gv_index_stats_get(ix, 0, &st), GV_EINVAL);

	for (j = 0; j < 8; j++) {
		k[j] = mkkey(j);
		bytes += k[j].size;
	}
	add_sector(ix, "a", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "b", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "c", 1, GV_SECTOR_ACTIVE);
	add_sector(ix, "d", 1, GV_SECTOR_DRAINING); /* draining still counts */
	add_sector(ix, "sick", 0, GV_SECTOR_ACTIVE);
	add_sector(ix, "old", 1, GV_SECTOR_RETIRED);

	/* k0: exactly 3 healthy */
	put(ix, &k[0], "a");
	put(ix, &k[0], "b");
	put(ix, &k[0], "c");
	/* k1: 2 healthy -> under */
	put(ix, &k[1], "a");
	put(ix, &k[1], "b");
	/* k2: 4 healthy -> over */
	put(ix, &k[2], "a");
	put(ix, &k[2], "b");
	put(ix, &k[2], "c");
	put(ix, &k[2], "d");
	/* k3: replicas marked unhealthy -> lost */
	put(ix, &k[3], "a");
	put(ix, &k[3], "b");
	assert_int_equal(gv_index_replica_set_health(ix, &k[3], "a", 0, "x"), 0);
	assert_int_equal(gv_index_replica_set_health(ix, &k[3], "b", 0, "x"), 0);
	/* k4: blob row without replicas -> lost */
	put(ix, &k[4], "a");
	assert_int_equal(gv_index_replica_remove(ix, &k[4], "a"), 0);
	/* k5: one good, one on an unhealthy sector, one on a retired one -> under */
	put(ix, &k[5], "a");
	put(ix, &k[5], "sick");
	put(ix, &k[5], "old");
	/* k6: two complete, one partial -> under */
	put(ix, &k[6], "a");
	put(ix, &k[6], "b");
	mkrep(&r, &k[6], "c");
	gv_rangeset_clear(&r.ranges);
	assert_int_equal(gv_rangeset_add(&r.ranges, 0, k[6].size - 1), 0);
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_free(&r.ranges);
	/* k7: partial made complete via set_ranges -> 3 healthy */
	put(ix, &k[7], "a");
	put(ix, &k[7], "b");
	mkrep(&r, &k[7], "c");
	gv_rangeset_clear(&r.ranges);
	assert_int_equal(gv_index_replica_put(ix, &r), 0);
	gv_rangeset_clear(&r.ranges);
	assert_int_equal(gv_rangeset_add(&r.ranges, 0, k[7].size), 0);
	assert_int_equal(gv_index_replica_set_ranges(ix, &k[7], "c", &r.ranges), 0);
	gv_rangeset_free(&r.ranges);

	assert_int_equal(gv_index_stats_get(ix, 3, &st), 0);
	assert_int_equal(st.blobs, 8);
	assert_int_equal(st.bytes, bytes);
	assert_int_equal(st.replicas, 3 + 2 + 4 + 2 + 0 + 3 + 3 + 3);
	/* healthy: 3 + 2 + 4 + 0 + 0 + 1 + 2 + 3 */
	assert_int_equal(st.healthy_replicas, 15);
	assert_int_equal(st.unhealthy_replicas, 20 - 15);
	assert_int_equal(st.under_replicated, 3); /* k1, k5, k6 */
	assert_int_equal(st.over_replicated, 1);  /* k2 */
	assert_int_equal(st.lost, 2);             /* k3, k4 */
	assert_true(st.avg_factor > 1.87 && st.avg_factor < 1.88);

	/* Factor 2 shifts the buckets; sector health changes are seen. */
	assert_int_equal(gv_index_stats_get(ix, 2, &st), 0);
	assert_int_equal(st.under_replicated, 1); /* k5 */
	assert_int_equal(st.over_replicated, 3);  /* k0, k2, k7 */
	assert_int_equal(gv_index_sector_set_health(ix, "sick", 1), 0);
	assert_int_equal(gv_index_sector_set_state(ix, "a", GV_SECTOR_RETIRED), 0);
	assert_int_equal(gv_index_stats_get(ix, 3, &st), 0);
	/* without a: 2 + 1 + 3 + 0 + 0 + 1 + 1 + 2 */
	assert_int_equal(st.healthy_replicas, 10);
	assert_int_equal(st.lost, 2);

	/* Every sector good again: only replica health and completeness. */
	assert_int_equal(gv_index_sector_set_state(ix, "a", GV_SECTOR_ACTIVE), 0);
	assert_int_equal(gv_index_sector_set_state(ix, "old", GV_SECTOR_DRAINING), 0);
	assert_int_equal(gv_index_stats_get(ix, 3, &st), 0);
	/* 3 + 2 + 4 + 0 + 0 + 3 + 2 + 3 */
	assert_int_equal(st.healthy_replicas, 17);
	assert_int_equal(st.under_replicated, 2); /* k1, k6 */
	assert_int_equal(st.over_replicated, 1);
	assert_int_equal(st.lost, 2);
}

/* ---- settings ----------------------------------------------------------- */

static void test_settings(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	char buf[16];

	assert_int_equal(gv_index_setting_get(ix, "placement.factor", buf, sizeof(buf)),
	                 GV_ENOTFOUND);
	assert_int_equal(gv_index_setting_set(ix, "placement.factor", "3"), 0);
	assert_int_equal(gv_index_setting_get(ix, "placement.factor", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "3");
	assert_int_equal(gv_index_setting_set(ix, "placement.factor", "5"), 0);
	assert_int_equal(gv_index_setting_get(ix, "placement.factor", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "5");
	assert_int_equal(gv_index_setting_set(ix, "empty", ""), 0);
	assert_int_equal(gv_index_setting_get(ix, "empty", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(gv_index_setting_set(ix, "long", "0123456789abcdef"), 0);
	assert_int_equal(gv_index_setting_get(ix, "long", buf, sizeof(buf)), GV_EINVAL);
	assert_int_equal(gv_index_setting_set(ix, "", "x"), GV_EINVAL);

	gv_index_close(f->ix);
	assert_int_equal(fx_open(f, &f->ix, 0), 0);
	ix = f->ix;
	assert_int_equal(gv_index_setting_get(ix, "placement.factor", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "5");
}

/* ---- errors ------------------------------------------------------------- */

static void test_read_during_foreign_write(void **state)
{
	struct fx *f = *state;
	gv_sector_info s;
	sqlite3 *db;

	add_sector(f->ix, "s1", 1, GV_SECTOR_ACTIVE);
	/* Another process holds the write lock mid-transaction: WAL lets this
	 * instance keep reading the last committed state. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE sectors SET healthy = 0;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(gv_index_sector_get(f->ix, "s1", &s), 0);
	assert_int_equal(s.healthy, 1);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(gv_index_sector_get(f->ix, "s1", &s), 0);
	assert_int_equal(s.healthy, 0);
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 4
#define PER_THREAD 150

struct worker {
	gv_index *ix;
	uint32_t base;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	gv_index *ix = w->ix;
	uint8_t sum[GV_DIGEST_LEN] = { 1 };
	gv_index_stats st;
	gv_replica r, *out;
	gv_key batch[16];
	size_t n;
	uint32_t j;

	for (j = 0; j < PER_THREAD; j++) {
		gv_key k = mkkey(w->base + j);

		memset(&r, 0, sizeof(r));
		r.key = k;
		r.healthy = 1;
		gv_rangeset_init(&r.ranges);
		if (gv_rangeset_add(&r.ranges, 0, k.size) < 0)
			w->failures++;
		strcpy(r.sector, "s1");
		if (gv_index_replica_put(ix, &r) < 0)
			w->failures++;
		strcpy(r.sector, "s2");
		if (gv_index_replica_put(ix, &r) < 0)
			w->failures++;
		gv_rangeset_free(&r.ranges);
		if (gv_index_replica_set_verified(ix, &k, "s1", (int64_t)j, sum) < 0)
			w->failures++;
		if (gv_index_replicas_find(ix, &k, &out, &n) < 0 || n != 2)
			w->failures++;
		else
			gv_replicas_free(out, n);
		if (j % 10 == 0) {
			if (gv_index_stats_get(ix, 2, &st) < 0)
				w->failures++;
			if (gv_index_keys_next(ix, NULL, 16, batch, &n) < 0)
				w->failures++;
		}
		if (j % 3 == 0 && gv_index_replica_remove(ix, &k, "s2") < 0)
			w->failures++;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	gv_index *second;
	pthread_t t[THREADS];
	struct worker w[THREADS];
	gv_index_stats st;
	size_t i, removed = 0;

	add_sector(f->ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(f->ix, "s2", 1, GV_SECTOR_ACTIVE);
	/* Two threads on this instance, two on a second connection to the
	 * same file, so both the mutex and SQLite's file locks are used. */
	assert_int_equal(fx_open(f, &second, 0), 0);
	for (i = 0; i < THREADS; i++) {
		w[i].ix = i % 2 ? second : f->ix;
		w[i].base = (uint32_t)(i * PER_THREAD);
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	gv_index_close(second);

	for (i = 0; i < PER_THREAD; i += 3)
		removed++;
	assert_int_equal(gv_index_stats_get(f->ix, 2, &st), 0);
	assert_int_equal(st.blobs, THREADS * PER_THREAD);
	assert_int_equal(st.replicas, THREADS * (2 * PER_THREAD - removed));
	assert_int_equal(st.under_replicated, THREADS * removed);
	{
		uint64_t want1 = 0, want2 = 0;
		uint32_t j;

		for (j = 0; j < THREADS * PER_THREAD; j++) {
			gv_key k = mkkey(j);

			want1 += k.size;
			if ((j % PER_THREAD) % 3)
				want2 += k.size;
		}
		assert_int_equal(used_of(f->ix, "s1"), want1);
		assert_int_equal(used_of(f->ix, "s2"), want2);
	}
}

/* An in-memory index is one database per connection: its reads use the
 * writer's connection, so they see its writes. */
static void test_memory_index(void **state)
{
	gv_index *ix;
	gv_replica *reps;
	gv_key k = mkkey(7);
	size_t n;

	(void)state;
	assert_int_equal(gv_index_sqlite_open(&ix, ":memory:", 1), 0);
	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	put(ix, &k, "s1");
	assert_int_equal(ix->ops->replicas_find(ix, &k, &reps, &n), 0);
	assert_int_equal(n, 1);
	gv_replicas_free(reps, n);
	assert_int_equal(used_of(ix, "s1"), k.size);
	ix->ops->close(ix);
}

/*
 * Reads do not queue behind a write: while another process holds the
 * file's write lock, a replica_put of this instance waits for it (up to
 * the 10 s busy timeout); reads of every kind still answer meanwhile, so
 * the lock is given back long before the put would time out, and the put
 * then succeeds.  (With one connection shared by reads and writes, the
 * reads waited behind the stuck put until it failed with GV_EBUSY.)
 */
struct stuck_put {
	gv_index *ix;
	gv_key key;
	int started;
	int result;
	pthread_mutex_t mu;
};

static void *stuck_put_main(void *arg)
{
	struct stuck_put *sp = arg;
	gv_replica r;
	int err;

	mkrep(&r, &sp->key, "s1");
	pthread_mutex_lock(&sp->mu);
	sp->started = 1;
	pthread_mutex_unlock(&sp->mu);
	err = sp->ix->ops->replica_put(sp->ix, &r);
	gv_rangeset_free(&r.ranges);
	pthread_mutex_lock(&sp->mu);
	sp->result = err;
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

static void test_reads_pass_stuck_write(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	struct stuck_put sp;
	gv_index_stats st;
	gv_sector_info *sectors, si;
	gv_replica *reps;
	gv_key k0 = mkkey(0), keys[4];
	char buf[32];
	size_t n;
	pthread_t t;
	sqlite3 *db;
	int started;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	put(ix, &k0, "s1");
	assert_int_equal(ix->ops->setting_set(ix, "a", "b"), 0);

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	memset(&sp, 0, sizeof(sp));
	sp.ix = ix;
	sp.key = mkkey(1);
	sp.result = 1;
	assert_int_equal(pthread_mutex_init(&sp.mu, NULL), 0);
	assert_int_equal(pthread_create(&t, NULL, stuck_put_main, &sp), 0);
	do { /* bounded: the thread starts */
		pthread_mutex_lock(&sp.mu);
		started = sp.started;
		pthread_mutex_unlock(&sp.mu);
		usleep(1000);
	} while (!started);
	usleep(200 * 1000); /* let the put reach the lock (a head start only) */

	assert_int_equal(ix->ops->replicas_find(ix, &k0, &reps, &n), 0);
	assert_int_equal(n, 1);
	gv_replicas_free(reps, n);
	assert_int_equal(ix->ops->blob_exists(ix, &k0, NULL), 1);
	assert_int_equal(ix->ops->sector_get(ix, "s1", &si), 0);
	assert_int_equal(ix->ops->sector_list(ix, &sectors, &n), 0);
	assert_int_equal(n, 1);
	free(sectors);
	assert_int_equal(ix->ops->keys_next(ix, NULL, 4, keys, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ix->ops->stats(ix, 1, &st), 0);
	assert_int_equal(st.blobs, 1);
	assert_int_equal(ix->ops->setting_get(ix, "a", buf, sizeof(buf)), 0);

	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	pthread_join(t, NULL);
	assert_int_equal(sp.result, 0);
	assert_int_equal(ix->ops->blob_exists(ix, &sp.key, NULL), 1);
	pthread_mutex_destroy(&sp.mu);
}

/*
 * Concurrent puts share transactions, yet each caller gets its own
 * result: puts naming an unknown sector fail with GV_ENOTFOUND and their
 * own message, puts failing after their blob row went in leave no row,
 * the others are recorded.  Each writer reads its rows back
 * at once on the same instance (read after write), while reader threads
 * scan the index the whole time.
 */
#define BATCH_WRITERS 6
#define BATCH_READERS 2
#define BATCH_PUTS 120

struct batch_worker {
	gv_index *ix;
	uint32_t base;
	int failures;
	int *stop;
	pthread_mutex_t *mu;
};

static void *batch_writer_main(void *arg)
{
	struct batch_worker *w = arg;
	gv_index *ix = w->ix;
	gv_replica r, *out;
	char want[64];
	size_t n;
	uint32_t j;
	int err;

	for (j = 0; j < BATCH_PUTS; j++) {
		gv_key k = mkkey(w->base + j);
		int bad = j % 5 == 0 || j % 7 == 3;
		const char *sector = j % 5 == 0 ? "nope" : j % 7 == 3 ? "s3" : j % 2 ? "s1" : "s2";

		mkrep(&r, &k, sector);
		err = ix->ops->replica_put(ix, &r);
		gv_rangeset_free(&r.ranges);
		if (bad) {
			snprintf(want, sizeof(want), j % 5 == 0 ? "no sector '%s'" : "refused on %s",
			         sector);
			if (err != (j % 5 == 0 ? GV_ENOTFOUND : GV_ERROR) ||
			    !strstr(gv_error_last(), want))
				w->failures++;
			if (ix->ops->blob_exists(ix, &k, NULL) != 0)
				w->failures++;
			continue;
		}
		if (err != 0)
			w->failures++;
		if (ix->ops->replicas_find(ix, &k, &out, &n) < 0 || n != 1 ||
		    strcmp(out[0].sector, sector) != 0)
			w->failures++;
		else
			gv_replicas_free(out, n);
	}
	return NULL;
}

static void *batch_reader_main(void *arg)
{
	struct batch_worker *w = arg;
	gv_index *ix = w->ix;
	gv_index_stats st;
	gv_blob_entry *e;
	gv_sector_info *sectors;
	size_t n;
	int stop = 0;

	while (!stop) { /* ends when the writers are done */
		if (ix->ops->stats(ix, 2, &st) < 0)
			w->failures++;
		if (ix->ops->blobs_next(ix, NULL, 64, &e, &n) < 0)
			w->failures++;
		else
			gv_blob_entries_free(e, n);
		if (ix->ops->sector_list(ix, &sectors, &n) < 0 || n != 3)
			w->failures++;
		else
			free(sectors);
		pthread_mutex_lock(w->mu);
		stop = *w->stop;
		pthread_mutex_unlock(w->mu);
	}
	return NULL;
}

static void test_concurrent_puts_batched(void **state)
{
	struct fx *f = *state;
	pthread_t t[BATCH_WRITERS + BATCH_READERS];
	struct batch_worker w[BATCH_WRITERS + BATCH_READERS];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	gv_index_stats st;
	uint64_t want1 = 0, want2 = 0, good = 0;
	int stop = 0;
	uint32_t i, j;

	add_sector(f->ix, "s1", 1, GV_SECTOR_ACTIVE);
	add_sector(f->ix, "s2", 1, GV_SECTOR_ACTIVE);
	add_sector(f->ix, "s3", 1, GV_SECTOR_ACTIVE);
	/* A put to s3 fails after its blob row went in: a put that shares
	 * its transaction must keep its own rows, and the failed one none. */
	sql(f->path, "CREATE TRIGGER refuse_s3 BEFORE INSERT ON replicas"
	             " WHEN NEW.sector = 's3' BEGIN SELECT RAISE(ABORT, 'refused on s3'); END");
	for (i = 0; i < BATCH_WRITERS + BATCH_READERS; i++) {
		w[i].ix = f->ix;
		w[i].base = i * BATCH_PUTS;
		w[i].failures = 0;
		w[i].stop = &stop;
		w[i].mu = &mu;
		assert_int_equal(pthread_create(&t[i], NULL,
		                                i < BATCH_WRITERS ? batch_writer_main
		                                                  : batch_reader_main,
		                                &w[i]),
		                 0);
	}
	for (i = 0; i < BATCH_WRITERS; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_mutex_unlock(&mu);
	for (i = BATCH_WRITERS; i < BATCH_WRITERS + BATCH_READERS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < BATCH_WRITERS + BATCH_READERS; i++)
		assert_int_equal(w[i].failures, 0);

	for (i = 0; i < BATCH_WRITERS; i++)
		for (j = 0; j < BATCH_PUTS; j++) {
			gv_key k = mkkey(i * BATCH_PUTS + j);

			if (j % 5 == 0 || j % 7 == 3)
				continue;
			good++;
			if (j % 2)
				want1 += k.size;
			else
				want2 += k.size;
		}
	assert_int_equal(f->ix->ops->stats(f->ix, 1, &st), 0);
	assert_int_equal(st.blobs, good);
	assert_int_equal(st.replicas, good);
	assert_int_equal(used_of(f->ix, "s1"), want1);
	assert_int_equal(used_of(f->ix, "s2"), want2);
	/* What was acknowledged is in the file, for any other connection. */
	f->ix->ops->close(f->ix);
	f->ix = NULL;
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM replicas"), (int64_t)good);
}

/* ---- the repair queue ----------------------------------------------------- */

static gv_repairq_entry rq_entry(uint32_t i, const char *reason, int64_t next, int dead)
{
	gv_repairq_entry e;

	memset(&e, 0, sizeof(e));
	e.key = mkkey(i);
	snprintf(e.reason, sizeof(e.reason), "%s", reason);
	e.next_attempt_ms = next;
	e.enqueued_ms = 5;
	e.dead = dead;
	return e;
}

static void test_repairq_rows(void **state)
{
	struct fx *f = *state;
	gv_repairq_entry e, got, list[8];
	gv_key due[8], k2 = mkkey(2);
	uint64_t queued, dead;
	size_t n;

	assert_int_equal(gv_index_repairq_count(f->ix, &queued, &dead), 0);
	assert_int_equal(queued + dead, 0);
	e = rq_entry(1, "read", 100, 0);
	assert_int_equal(gv_index_repairq_put(f->ix, &e), 0);
	e = rq_entry(2, "scrub", 50, 0);
	e.attempts = 3;
	snprintf(e.last_error, sizeof(e.last_error), "no healthy replica left");
	assert_int_equal(gv_index_repairq_put(f->ix, &e), 0);
	e = rq_entry(3, "put", 10, 1);
	assert_int_equal(gv_index_repairq_put(f->ix, &e), 0);

	/* Due: not dead, next attempt reached, earliest first. */
	assert_int_equal(gv_index_repairq_due(f->ix, 49, 8, due, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gv_index_repairq_due(f->ix, 100, 8, due, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gv_key_cmp(&due[0], &k2), 0);
	assert_int_equal(gv_index_repairq_due(f->ix, 100, 1, due, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(gv_index_repairq_get(f->ix, &k2, &got), 0);
	assert_string_equal(got.reason, "scrub");
	assert_int_equal(got.attempts, 3);
	assert_string_equal(got.last_error, "no healthy replica left");
	assert_int_equal(got.next_attempt_ms, 50);
	assert_int_equal(got.enqueued_ms, 5);
	assert_false(got.dead);

	assert_int_equal(gv_index_repairq_count(f->ix, &queued, &dead), 0);
	assert_int_equal(queued, 2);
	assert_int_equal(dead, 1);

	/* Listing pages in key order, dead letters included. */
	assert_int_equal(gv_index_repairq_list(f->ix, NULL, 2, list, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gv_index_repairq_list(f->ix, &list[1].key, 8, list + 2, &n), 0);
	assert_int_equal(n, 1);
	assert_true(gv_key_cmp(&list[0].key, &list[1].key) < 0);
	assert_true(gv_key_cmp(&list[1].key, &list[2].key) < 0);

	/* Upsert replaces; remove is quiet about a key not queued. */
	e = rq_entry(2, "scrub", 50, 1);
	assert_int_equal(gv_index_repairq_put(f->ix, &e), 0);
	assert_int_equal(gv_index_repairq_count(f->ix, &queued, &dead), 0);
	assert_int_equal(queued, 1);
	assert_int_equal(dead, 2);
	assert_int_equal(gv_index_repairq_remove(f->ix, &k2), 0);
	assert_int_equal(gv_index_repairq_remove(f->ix, &k2), 0);
	assert_int_equal(gv_index_repairq_get(f->ix, &k2, &got), GV_ENOTFOUND);

	/* Rows survive a reopen. */
	gv_index_close(f->ix);
	f->ix = NULL;
	assert_int_equal(fx_open(f, &f->ix, 0), 0);
	assert_int_equal(gv_index_repairq_count(f->ix, &queued, &dead), 0);
	assert_int_equal(queued + dead, 2);
}

/* An index made before the queue existed gains its table when opened. */
static void test_repairq_added_to_old_index(void **state)
{
	struct fx *f = *state;
	gv_repairq_entry e = rq_entry(1, "read", 1, 0);
	uint64_t queued, dead;

	gv_index_close(f->ix);
	f->ix = NULL;
	sql(f->path, "DROP TABLE repair_queue");
	assert_int_equal(sql_int(f->path, pg_url ? "SELECT COUNT(*) FROM pg_tables"
	                                           " WHERE tablename = 'repair_queue'"
	                                         : "SELECT COUNT(*) FROM sqlite_master"
	                                           " WHERE name = 'repair_queue'"), 0);
	assert_int_equal(fx_open(f, &f->ix, 0), 0);
	assert_int_equal(gv_index_repairq_put(f->ix, &e), 0);
	assert_int_equal(gv_index_repairq_count(f->ix, &queued, &dead), 0);
	assert_int_equal(queued, 1);
	assert_int_equal(sql_int(f->path, "SELECT version FROM schema_version"),
	                 GV_INDEX_SQLITE_SCHEMA);
}

/* index migrate copies the repair queue, dead letters included, and the
 * summary's counts and digest cover it. */
static void test_copy_repairq(void **state)
{
	struct fx *f = *state;
	gv_repairq_entry e1 = rq_entry(1, "read", 100, 0), e2 = rq_entry(2, "scrub", 7, 1), got;
	gv_index_summary before, after, copied, sum;
	gv_key k1 = mkkey(1);
	char path[192];
	gv_index *dst;

	add_sector(f->ix, "s1", 1, GV_SECTOR_ACTIVE);
	put(f->ix, &k1, "s1");
	assert_int_equal(gv_index_summarize(f->ix, &before), 0);
	assert_int_equal(before.repair_queue, 0);
	e1.attempts = 4;
	snprintf(e1.last_error, sizeof(e1.last_error), "sector s1 unreachable");
	assert_int_equal(gv_index_repairq_put(f->ix, &e1), 0);
	assert_int_equal(gv_index_repairq_put(f->ix, &e2), 0);
	assert_int_equal(gv_index_summarize(f->ix, &after), 0);
	assert_int_equal(after.repair_queue, 2);
	assert_string_not_equal(after.digest, before.digest);

	snprintf(path, sizeof(path), "%s/copy.db", f->dir);
	assert_int_equal(gv_index_sqlite_open(&dst, path, 1), 0);
	assert_int_equal(gv_index_copy(dst, f->ix, &copied, NULL, NULL), 0);
	assert_int_equal(copied.repair_queue, 2);
	assert_string_equal(copied.digest, after.digest);
	assert_int_equal(gv_index_summarize(dst, &sum), 0);
	assert_string_equal(sum.digest, after.digest);
	assert_int_equal(gv_index_repairq_get(dst, &k1, &got), 0);
	assert_int_equal(got.attempts, 4);
	assert_string_equal(got.last_error, "sector s1 unreachable");
	assert_int_equal(got.next_attempt_ms, 100);
	assert_int_equal(gv_index_repairq_get(dst, &e2.key, &got), 0);
	assert_true(got.dead);

	/* A target holding only a queue row is not empty. */
	gv_index_close(dst);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(gv_index_sqlite_open(&dst, path, 1), 0);
	assert_int_equal(gv_index_repairq_put(dst, &e1), 0);
	assert_int_equal(gv_index_copy(dst, f->ix, &copied, NULL, NULL), GV_EEXISTS);
	gv_index_close(dst);
}

/* Leases on background work: one owner at a time, renewable, released,
 * taken over once expired; seen alike through two instances (two
 * gateways on one index). */
static void test_claims(void **state)
{
	struct fx *f = *state;
	gv_index *other = NULL;
	char longname[GV_CLAIM_NAME_MAX + 1];
	int i, rc = 0;

	assert_int_equal(fx_open(f, &other, 0), 0);
	assert_int_equal(gv_index_claim(f->ix, "key:a", "gw1", 60000), 1);
	assert_int_equal(gv_index_claim(other, "key:a", "gw2", 60000), 0);
	assert_int_equal(gv_index_claim(f->ix, "key:a", "gw2", 60000), 0);
	assert_int_equal(gv_index_claim(other, "key:a", "gw1", 60000), 1); /* renewed */
	assert_int_equal(gv_index_claim(other, "key:b", "gw2", 60000), 1);
	/* Only the owner's release ends a claim. */
	assert_int_equal(gv_index_claim_release(other, "key:a", "gw2"), 0);
	assert_int_equal(gv_index_claim(other, "key:a", "gw2", 60000), 0);
	assert_int_equal(gv_index_claim_release(f->ix, "key:a", "gw1"), 0);
	assert_int_equal(gv_index_claim(other, "key:a", "gw2", 60000), 1);
	assert_int_equal(gv_index_claim_release(f->ix, "key:none", "gw1"), 0);

	/* A holder that stops renewing (a gateway killed) loses it once its
	 * lease ends. */
	assert_int_equal(gv_index_claim(f->ix, "key:c", "gw1", 1), 1);
	for (i = 0; i < 500 && (rc = gv_index_claim(other, "key:c", "gw2", 60000)) == 0; i++)
		usleep(10000);
	assert_int_equal(rc, 1);
	assert_int_equal(gv_index_claim(f->ix, "key:c", "gw1", 60000), 0);

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(gv_index_claim(f->ix, "", "gw1", 1000), GV_EINVAL);
	assert_int_equal(gv_index_claim(f->ix, "key:d", "", 1000), GV_EINVAL);
	assert_int_equal(gv_index_claim(f->ix, longname, "gw1", 1000), GV_EINVAL);
	assert_int_equal(gv_index_claim_release(f->ix, "key:d", longname), GV_EINVAL);
	gv_index_close(other);
}

struct key_waiter {
	gv_index *ix;
	gv_key key;
	int rc;
};

static void *key_wait_main(void *p)
{
	struct key_waiter *w = p;

	w->rc = gv_index_key_lock(w->ix, &w->key, 20000);
	return NULL;
}

/* Key locks across instances (two gateways): held by one, the other waits
 * (or gives up after its wait), and gets it once released.  An index
 * without key locks takes nothing. */
static void test_key_locks(void **state)
{
	struct fx *f = *state;
	gv_index *other = NULL;
	gv_key k1 = mkkey(1), k2 = mkkey(2);
	struct key_waiter w;
	pthread_t t;

	if (!f->ix->ops->key_lock) {
		assert_int_equal(gv_index_key_lock(f->ix, &k1, 0), 0);
		gv_index_key_unlock(f->ix, &k1);
		return;
	}
	assert_int_equal(fx_open(f, &other, 0), 0);
	assert_int_equal(gv_index_key_lock(f->ix, &k1, 0), 1);
	assert_int_equal(gv_index_key_lock(other, &k1, 50), GV_EBUSY);
	assert_int_equal(gv_index_key_lock(other, &k2, 0), 1);
	gv_index_key_unlock(other, &k2);

	w.ix = other;
	w.key = k1;
	w.rc = -1;
	assert_int_equal(pthread_create(&t, NULL, key_wait_main, &w), 0);
	usleep(100000);
	gv_index_key_unlock(f->ix, &k1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 1);
	assert_int_equal(gv_index_key_lock(f->ix, &k1, 50), GV_EBUSY);
	gv_index_key_unlock(other, &k1);
	assert_int_equal(gv_index_key_lock(f->ix, &k1, 0), 1);
	gv_index_key_unlock(f->ix, &k1);

	/* A lock session the server ended (a restart) is opened again, and
	 * what it held is free. */
	assert_int_equal(gv_index_key_lock(other, &k2, 0), 1);
	PQclear(pg_exec("SELECT pg_terminate_backend(pid) FROM pg_locks"
	                " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"));
	{
		int i, rc = 0;

		for (i = 0; i < 500 && (rc = gv_index_key_lock(f->ix, &k2, 0)) != 1; i++)
			usleep(10000);
		assert_int_equal(rc, 1);
	}
	gv_index_key_unlock(other, &k2); /* released already: does nothing */
	gv_index_key_unlock(f->ix, &k2);
	assert_int_equal(gv_index_key_lock(other, &k2, 1000), 1);
	gv_index_key_unlock(other, &k2);
	gv_index_close(other);
}

/* ---- the namespace ----------------------------------------------------- */

static gv_object mkobj(const char *bucket, const char *name, const gv_key *k)
{
	gv_object o;

	memset(&o, 0, sizeof(o));
	snprintf(o.bucket, sizeof(o.bucket), "%s", bucket);
	snprintf(o.name, sizeof(o.name), "%s", name);
	o.key = *k;
	o.size = k->size;
	snprintf(o.etag, sizeof(o.etag), "0123456789abcdef0123456789abcdef");
	snprintf(o.content_type, sizeof(o.content_type), "text/plain");
	o.mtime_ms = 1000;
	return o;
}

/* Buckets, names, listing, and the reference rules of the collector. */
static void test_ns_names_and_collect(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_bucket_info b = { "photos", 5 }, *bl = NULL;
	gv_key k1 = mkkey(1), k2 = mkkey(2), k3 = mkkey(3), gone = mkkey(9);
	gv_key due[8];
	gv_object o, *ol = NULL;
	size_t n = 0;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	put(ix, &k1, "s1");
	put(ix, &k2, "s1");
	put(ix, &k3, "s1");
	assert_int_equal(gv_index_ns_bucket_put(ix, &b), 0);
	assert_int_equal(gv_index_ns_bucket_put(ix, &b), GV_EEXISTS);
	assert_int_equal(gv_index_ns_buckets(ix, NULL, &bl, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(bl[0].name, "photos");
	assert_int_equal(bl[0].created_ms, 5);
	free(bl);
	assert_int_equal(gv_index_ns_buckets(ix, "other", &bl, &n), GV_ENOTFOUND);

	/* a reference needs its bucket and its blob */
	o = mkobj("other", "a", &k1);
	assert_int_equal(gv_index_ns_object_put(ix, &o, 10), GV_ENOTFOUND);
	o = mkobj("photos", "a", &gone);
	assert_int_equal(gv_index_ns_object_put(ix, &o, 10), GV_ENOTFOUND);
	o = mkobj("photos", "a/1", &k1);
	o.meta = "{\"x\":\"y\"}";
	assert_int_equal(gv_index_ns_object_put(ix, &o, 10), 0);
	o = mkobj("photos", "a/2", &k1);
	assert_int_equal(gv_index_ns_object_put(ix, &o, 10), 0);
	o = mkobj("photos", "b", &k2);
	assert_int_equal(gv_index_ns_object_put(ix, &o, 10), 0);
	assert_int_equal(gv_index_ns_bucket_remove(ix, "photos"), GV_ENOTEMPTY);

	assert_int_equal(gv_index_ns_object_get(ix, "photos", "a/1", &o), 0);
	assert_int_equal(gv_key_cmp(&o.key, &k1), 0);
	assert_string_equal(o.meta, "{\"x\":\"y\"}");
	assert_string_equal(o.content_type, "text/plain");
	assert_int_equal(o.mtime_ms, 1000);
	free(o.meta);
	assert_int_equal(gv_index_ns_object_get(ix, "photos", "zz", &o), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_objects_next(ix, "photos", "a/", "", 10, &ol, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ol[1].name, "a/2");
	gv_ns_objects_free(ol, n);
	assert_int_equal(gv_index_ns_objects_next(ix, "photos", "", "a/2", 10, &ol, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ol[0].name, "b");
	gv_ns_objects_free(ol, n);

	/* replacing a/2 by k3 and removing b: k1 (still named by a/1) and k2
	 * become candidates */
	o = mkobj("photos", "a/2", &k3);
	assert_int_equal(gv_index_ns_object_put(ix, &o, 20), 0);
	assert_int_equal(gv_index_ns_object_remove(ix, "photos", "b", 20), 0);
	assert_int_equal(gv_index_ns_object_remove(ix, "photos", "b", 20), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_garbage_next(ix, 19, NULL, 8, due, &n), 0);
	assert_int_equal(n, 0); /* not due before 20 */
	assert_int_equal(gv_index_ns_garbage_next(ix, 20, NULL, 8, due, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gv_index_ns_collect(ix, &k2, 19, 0), 0); /* not due */
	assert_int_equal(gv_index_ns_collect(ix, &k2, 20, 1), 1); /* dry run */
	assert_int_equal(gv_index_blob_exists(ix, &k2, NULL), 1);
	assert_int_equal(gv_index_ns_collect(ix, &k1, 20, 0), 0); /* named by a/1 */
	assert_int_equal(gv_index_blob_exists(ix, &k1, NULL), 1);
	/* an intent restarts the clock */
	assert_int_equal(gv_index_ns_touch(ix, &k2, 30), 0);
	assert_int_equal(gv_index_ns_collect(ix, &k2, 25, 0), 0);
	assert_int_equal(gv_index_ns_collect(ix, &k2, 30, 0), 1);
	assert_int_equal(gv_index_blob_exists(ix, &k2, NULL), 0);
	assert_int_equal(gv_index_ns_garbage_next(ix, 100, NULL, 8, due, &n), 0);
	assert_int_equal(n, 0); /* k1's row went when it was found named */
	o = mkobj("photos", "c", &k2);
	assert_int_equal(gv_index_ns_object_put(ix, &o, 40), GV_ENOTFOUND); /* collected */

	/* pins */
	assert_int_equal(gv_index_ns_pin(ix, &gone, 1, 50), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_pin(ix, &k3, 1, 50), 0);
	assert_int_equal(gv_index_ns_object_remove(ix, "photos", "a/2", 50), 0);
	assert_int_equal(gv_index_ns_collect(ix, &k3, 60, 0), 0); /* pinned */
	assert_int_equal(gv_index_ns_pin(ix, &k3, 0, 60), 0);
	assert_int_equal(gv_index_ns_collect(ix, &k3, 60, 0), 1);

	/* forget */
	assert_int_equal(gv_index_ns_forget(ix, &gone, 70), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_forget(ix, &k1, 70), 0);
	assert_int_equal(gv_index_blob_exists(ix, &k1, NULL), 0);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM ns_forgotten"), 1);

	assert_int_equal(gv_index_ns_object_remove(ix, "photos", "a/1", 80), 0);
	assert_int_equal(gv_index_ns_bucket_remove(ix, "photos"), 0);
	assert_int_equal(gv_index_ns_bucket_remove(ix, "photos"), GV_ENOTFOUND);
}

/* Uploads, their parts, completion into a manifest, and the manifest's
 * collection making its parts candidates. */
static void test_ns_uploads_and_manifests(void **state)
{
	struct fx *f = *state;
	gv_index *ix = f->ix;
	gv_bucket_info b = { "media", 1 };
	gv_key p1 = mkkey(11), p2 = mkkey(12), m = mkkey(13), *parts = NULL, due[8];
	gv_ns_part part, *pl = NULL;
	gv_ns_upload *ul = NULL;
	gv_object u, o;
	size_t n = 0;

	add_sector(ix, "s1", 1, GV_SECTOR_ACTIVE);
	put(ix, &p1, "s1");
	put(ix, &p2, "s1");
	put(ix, &m, "s1");
	assert_int_equal(gv_index_ns_bucket_put(ix, &b), 0);
	u = mkobj("media", "movie", &m);
	u.mtime_ms = 100;
	assert_int_equal(gv_index_ns_upload_put(ix, "u1", &u), 0);
	assert_int_equal(gv_index_ns_upload_put(ix, "u1", &u), GV_EEXISTS);
	assert_int_equal(gv_index_ns_upload_get(ix, "u1", &o), 0);
	assert_string_equal(o.name, "movie");
	assert_int_equal(o.mtime_ms, 100);
	free(o.meta);
	assert_int_equal(gv_index_ns_upload_get(ix, "u2", &o), GV_ENOTFOUND);
	memset(&part, 0, sizeof(part));
	part.part_no = 2;
	part.key = p2;
	snprintf(part.etag, sizeof(part.etag), "e2");
	assert_int_equal(gv_index_ns_upload_part_put(ix, "u2", &part, 110), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_upload_part_put(ix, "u1", &part, 110), 0);
	part.part_no = 1;
	part.key = p1;
	assert_int_equal(gv_index_ns_upload_part_put(ix, "u1", &part, 110), 0);
	assert_int_equal(gv_index_ns_upload_parts_next(ix, "u1", 0, 10, &pl, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pl[0].part_no, 1);
	assert_int_equal(gv_key_cmp(&pl[1].key, &p2), 0);
	free(pl);
	assert_int_equal(gv_index_ns_uploads_next(ix, "media", "mo", 101, 10, &ul, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ul[0].id, "u1");
	free(ul);
	assert_int_equal(gv_index_ns_uploads_next(ix, NULL, "", 100, 10, &ul, &n), 0);
	assert_int_equal(n, 0); /* none created before 100 */
	free(ul);
	assert_int_equal(gv_index_ns_bucket_remove(ix, "media"), GV_ENOTEMPTY);

	/* parts are referenced by the upload */
	assert_int_equal(gv_index_ns_touch(ix, &p1, 110), 0);
	assert_int_equal(gv_index_ns_collect(ix, &p1, 200, 0), 0);

	o = mkobj("media", "movie", &m);
	o.parts = 2;
	o.size = p1.size + p2.size;
	{
		gv_key list[2] = { p1, p2 };

		assert_int_equal(gv_index_ns_upload_complete(ix, "u1", &o, list, 2, 120), 0);
	}
	assert_int_equal(gv_index_ns_upload_get(ix, "u1", &u), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_manifest_get(ix, &m, &parts, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gv_key_cmp(&parts[0], &p1), 0);
	free(parts);
	/* the parts, candidates since the completion, are referenced by the manifest */
	assert_int_equal(gv_index_ns_collect(ix, &p2, 200, 0), 0);
	assert_int_equal(gv_index_blob_exists(ix, &p2, NULL), 1);

	/* the object goes: the manifest, then its parts */
	assert_int_equal(gv_index_ns_object_remove(ix, "media", "movie", 130), 0);
	assert_int_equal(gv_index_ns_collect(ix, &m, 200, 0), 1);
	assert_int_equal(gv_index_ns_manifest_get(ix, &m, &parts, &n), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_garbage_next(ix, 200, NULL, 8, due, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(gv_index_ns_collect(ix, &p1, 200, 0), 1);
	assert_int_equal(gv_index_ns_collect(ix, &p2, 200, 0), 1);

	/* an aborted upload's parts become candidates */
	assert_int_equal(gv_index_ns_upload_put(ix, "u3", &u), 0);
	put(ix, &p1, "s1");
	part.key = p1;
	assert_int_equal(gv_index_ns_upload_part_put(ix, "u3", &part, 300), 0);
	assert_int_equal(gv_index_ns_upload_remove(ix, "u3", 300), 0);
	assert_int_equal(gv_index_ns_upload_remove(ix, "u3", 300), GV_ENOTFOUND);
	assert_int_equal(gv_index_ns_collect(ix, &p1, 300, 0), 1);
	assert_int_equal(gv_index_ns_bucket_remove(ix, "media"), 0);
}

/* Every op of the port, optional ones included, is implemented. */
static void test_ops_complete(void **state)
{
	struct fx *f = *state;
	const struct gv_index_ops *o = f->ix->ops;
	const void *ops[] = {
		o->sector_upsert, o->sector_get, o->sector_list, o->sector_set_health,
		o->sector_set_state, o->sector_remove, o->replica_put, o->replica_remove,
		o->replica_set_health, o->replica_set_verified, o->replica_set_ranges,
		o->replicas_find, o->blob_exists, o->blob_remove, o->keys_next,
		o->sector_keys_next, o->blobs_next, o->replicas_next, o->stats, o->setting_get,
		o->setting_set, o->close, o->replicas_put, o->blocks_put, o->blocks_get,
		o->repairq_put, o->repairq_get, o->repairq_remove, o->repairq_due,
		o->repairq_list, o->repairq_count, o->blob_set_created, o->claim,
		o->claim_release,
		o->ns_bucket_put,
		o->ns_bucket_remove, o->ns_buckets, o->ns_object_put, o->ns_object_get,
		o->ns_object_remove, o->ns_objects_next, o->ns_manifest_get, o->ns_upload_put,
		o->ns_upload_get, o->ns_upload_part_put, o->ns_upload_parts_next,
		o->ns_upload_remove, o->ns_uploads_next, o->ns_upload_complete, o->ns_pin,
		o->ns_touch, o->ns_garbage_next, o->ns_collect, o->ns_forget,
	};
	size_t i;

	/* key_lock and key_unlock only where an index is shared across data
	 * directories; both or neither. */
	assert_true((o->key_lock == NULL) == (o->key_unlock == NULL));
	assert_true(o->key_lock != NULL || strcmp(o->name, "sqlite") == 0);
	assert_int_equal(o->version, GV_INDEX_OPS_VERSION);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!ops[i])
			fail_msg("backend %s: op #%zu is missing", o->name, i);
}

/* Tests of what every backend does: the conformance suite. */
static const struct CMUnitTest common_tests[] = {
	cmocka_unit_test_setup_teardown(test_sector_crud, setup, teardown),
	cmocka_unit_test_setup_teardown(test_sector_list_empty, setup, teardown),
	cmocka_unit_test_setup_teardown(test_replica_roundtrip, setup, teardown),
	cmocka_unit_test_setup_teardown(test_replica_put_replaces, setup, teardown),
	cmocka_unit_test_setup_teardown(test_reason_truncated, setup, teardown),
	cmocka_unit_test_setup_teardown(test_used_accounting, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blob_remove_cascades, setup, teardown),
	cmocka_unit_test_setup_teardown(test_keys_next_pagination, setup, teardown),
	cmocka_unit_test_setup_teardown(test_sector_keys_next, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blobs_next_pagination, setup, teardown),
	cmocka_unit_test_setup_teardown(test_blobs_next_limits, setup, teardown),
	cmocka_unit_test_setup_teardown(test_replicas_next, setup, teardown),
	cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
	cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
	cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	cmocka_unit_test_setup_teardown(test_repairq_rows, setup, teardown),
	cmocka_unit_test_setup_teardown(test_repairq_added_to_old_index, setup, teardown),
	cmocka_unit_test_setup_teardown(test_copy_repairq, setup, teardown),
	cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
	cmocka_unit_test_setup_teardown(test_key_locks, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ns_names_and_collect, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ns_uploads_and_manifests, setup, teardown),
	cmocka_unit_test_setup_teardown(test_ops_complete, setup, teardown),
};

/* SQLite's own: its files, schema faking, locks and batched commits. */
static const struct CMUnitTest sqlite_tests[] = {
	cmocka_unit_test_setup_teardown(test_open_create_reopen, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_missing, setup_dir, teardown),
	cmocka_unit_test_setup_teardown(test_open_empty_file, setup_dir, teardown),
	cmocka_unit_test_setup_teardown(test_open_newer_schema, setup, teardown),
	cmocka_unit_test_setup_teardown(test_open_migrates, setup_dir, teardown),
	cmocka_unit_test_setup_teardown(test_open_foreign_db, setup_dir, teardown),
	cmocka_unit_test_setup_teardown(test_open_not_sqlite, setup_dir, teardown),
	cmocka_unit_test_setup_teardown(test_read_during_foreign_write, setup, teardown),
	cmocka_unit_test(test_memory_index),
	cmocka_unit_test_setup_teardown(test_reads_pass_stuck_write, setup, teardown),
	cmocka_unit_test_setup_teardown(test_concurrent_puts_batched, setup, teardown),
};

int main(int argc, char **argv)
{
	int failed;

	if (argc > 1 && strcmp(argv[1], "postgresql") == 0) {
		pg_url = getenv("GV_TEST_PG_URL");
		if (!pg_url || !*pg_url) {
			fprintf(stderr, "test_index_sqlite postgresql: set GV_TEST_PG_URL "
			        "(tests/pg_run.sh starts a server)\n");
			return 1;
		}
		return cmocka_run_group_tests_name("postgresql", common_tests, NULL, NULL);
	}
	failed = cmocka_run_group_tests_name("sqlite", common_tests, NULL, NULL);
	return failed + cmocka_run_group_tests_name("sqlite only", sqlite_tests, NULL, NULL);
}
