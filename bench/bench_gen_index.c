/*
 * bench_gen_index.c - build a large replica index for benchmarks.
 *
 *   bench_gen_index [-s SEED] [-g PERMILLE] [-u PERMILLE] [-n SECTORS] PATH NKEYS
 *
 * Creates PATH (which must not exist) through gv_index_sqlite_open, so the
 * schema is the real one, registers six sectors (-n: up to 1000) over
 * three racks and three zones, then loads NKEYS blobs with three replicas each in one
 * transaction over raw SQLite (the public ops commit per call, which is
 * far too slow for millions of rows).  The schema's triggers keep
 * sectors.used right.
 *
 *   -g  keys per thousand recorded with only two replicas (gaps)
 *   -u  keys per thousand with one replica marked unhealthy
 *
 * Keys are random digests, inserted in key order so the B-trees fill by
 * appending; the secondary indexes of replicas are dropped for the load
 * and rebuilt from their own stored definitions afterwards, which sorts
 * once instead of inserting at random.  last_verified is spread over the
 * past week, with about one replica in a hundred never verified.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "graviton/sys/index.h"

static unsigned nsectors = 6; /* -n */
#define FACTOR 3
#define WEEK_MS (7LL * 24 * 3600 * 1000)

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The index's order: the text form, i.e. digest bytes, then the size as
 * decimal text. */
static int key_order(const void *a, const void *b)
{
	const gv_key *ka = a, *kb = b;
	char sa[24], sb[24];
	int c = memcmp(ka->digest, kb->digest, GV_DIGEST_LEN);

	if (c)
		return c;
	snprintf(sa, sizeof(sa), "%llu", (unsigned long long)ka->size);
	snprintf(sb, sizeof(sb), "%llu", (unsigned long long)kb->size);
	return strcmp(sa, sb);
}

static int usage(void)
{
	fprintf(stderr,
	        "usage: bench_gen_index [-s SEED] [-g PERMILLE] [-u PERMILLE] [-n SECTORS] PATH NKEYS\n");
	return 2;
}

static int fail_sql(sqlite3 *db, const char *what)
{
	fprintf(stderr, "bench_gen_index: %s: %s\n", what, sqlite3_errmsg(db));
	return 1;
}

/* Append "<text>;" to the malloc'd string *buf of length *len. */
static int append(char **buf, size_t *len, const char *prefix, const char *text)
{
	size_t n = strlen(prefix) + strlen(text) + 1;
	char *p = realloc(*buf, *len + n + 1);

	if (!p) {
		fprintf(stderr, "bench_gen_index: out of memory\n");
		return 1;
	}
	*len += (size_t)sprintf(p + *len, "%s%s;", prefix, text);
	*buf = p;
	return 0;
}

/* Drop the secondary indexes of replicas, keeping their SQL in *out
 * (malloc'd) to recreate them after the load. */
static int drop_indexes(sqlite3 *db, char **out)
{
	sqlite3_stmt *st;
	char *create = NULL, *drop = NULL;
	size_t clen = 0, dlen = 0;
	int rc, err = 1;

	*out = NULL;
	if (sqlite3_prepare_v2(db,
	                       "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
	                       " AND tbl_name = 'replicas' AND sql IS NOT NULL",
	                       -1, &st, NULL) != SQLITE_OK)
		return fail_sql(db, "list indexes");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (append(&drop, &dlen, "DROP INDEX ", (const char *)sqlite3_column_text(st, 0)) ||
		    append(&create, &clen, "", (const char *)sqlite3_column_text(st, 1)))
			goto out;
	}
	if (rc != SQLITE_DONE) {
		fail_sql(db, "list indexes");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (drop && sqlite3_exec(db, drop, NULL, NULL, NULL) != SQLITE_OK) {
		fail_sql(db, "drop indexes");
		goto out;
	}
	*out = create;
	create = NULL;
	err = 0;
out:
	sqlite3_finalize(st);
	free(create);
	free(drop);
	return err;
}

static int register_sectors(const char *path)
{
	gv_index *ix;
	gv_sector_info s;
	int i, err;

	if ((err = gv_index_sqlite_open(&ix, path, 1)) < 0) {
		fprintf(stderr, "bench_gen_index: %s\n", gv_error_last());
		return 1;
	}
	for (i = 0; i < (int)nsectors; i++) {
		memset(&s, 0, sizeof(s));
		snprintf(s.id, sizeof(s.id), "s%d", i);
		strcpy(s.kind, "fs");
		snprintf(s.path, sizeof(s.path), "/bench/s%d", i);
		s.capacity = 1ull << 40;
		s.healthy = 1;
		snprintf(s.rack, sizeof(s.rack), "rack%d", i % 3);
		snprintf(s.zone, sizeof(s.zone), "zone%d", i % 3);
		s.state = GV_SECTOR_ACTIVE;
		if ((err = ix->ops->sector_upsert(ix, &s)) < 0) {
			fprintf(stderr, "bench_gen_index: %s\n", gv_error_last());
			ix->ops->close(ix);
			return 1;
		}
	}
	ix->ops->close(ix);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long seed = 1, nkeys;
	unsigned gap_pm = 10, sick_pm = 5;
	const char *path;
	char *end;
	gv_key *keys;
	sqlite3 *db = NULL;
	sqlite3_stmt *blob_st = NULL, *rep_st = NULL;
	char *index_sql = NULL;
	struct timespec t0, t1;
	struct stat sb;
	uint64_t i, replicas = 0;
	int64_t now;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "s:g:u:n:")) != -1) {
		switch (opt) {
		case 'n': nsectors = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'g': gap_pm = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'u': sick_pm = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return usage();
		}
	}
	if (argc - optind != 2 || gap_pm > 1000 || sick_pm > 1000 || nsectors < 3 ||
	    nsectors > 1000)
		return usage();
	path = argv[optind];
	errno = 0;
	nkeys = strtoull(argv[optind + 1], &end, 10);
	if (errno || *end || nkeys == 0 || nkeys > 100000000ull)
		return usage();
	if (stat(path, &sb) == 0) {
		fprintf(stderr, "bench_gen_index: %s exists; remove it first\n", path);
		return 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rng_state = seed;
	keys = malloc(nkeys * sizeof(*keys));
	if (!keys) {
		fprintf(stderr, "bench_gen_index: out of memory for %llu keys\n", nkeys);
		return 1;
	}
	for (i = 0; i < nkeys; i++) {
		size_t j;

		for (j = 0; j < GV_DIGEST_LEN; j += 8) {
			uint64_t x = rng();

			memcpy(keys[i].digest + j, &x, 8);
		}
		keys[i].size = 1 + rng() % (1u << 20);
	}
	qsort(keys, nkeys, sizeof(*keys), key_order);

	if (register_sectors(path))
		goto out;
	if (sqlite3_open(path, &db) != SQLITE_OK) {
		rc = fail_sql(db, "open");
		goto out;
	}
	if (sqlite3_exec(db,
	                 "PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF;"
	                 "PRAGMA cache_size = -262144; BEGIN IMMEDIATE;",
	                 NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail_sql(db, "begin");
		goto out;
	}
	if (drop_indexes(db, &index_sql))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO blobs (key, size, created) VALUES (?1, ?2, ?3)",
	                       -1, &blob_st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO replicas (key, sector, size, ranges, complete, healthy,"
	                       " last_verified, checksum, reason)"
	                       " VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8)",
	                       -1, &rep_st, NULL) != SQLITE_OK) {
		rc = fail_sql(db, "prepare");
		goto out;
	}

	now = gv_now_ms();
	for (i = 0; i < nkeys; i++) {
		char kbuf[GV_KEY_BUFSIZE], ranges[48], sector[16];
		unsigned first = (unsigned)(rng() % nsectors), n = FACTOR, j;
		int sick = -1;

		gv_key_format(kbuf, &keys[i]);
		if (rng() % 1000 < gap_pm)
			n = FACTOR - 1;
		if (rng() % 1000 < sick_pm)
			sick = (int)(rng() % n);
		snprintf(ranges, sizeof(ranges), "0-%llu", (unsigned long long)(keys[i].size - 1));

		sqlite3_bind_text(blob_st, 1, kbuf, -1, SQLITE_STATIC);
		sqlite3_bind_int64(blob_st, 2, (int64_t)keys[i].size);
		sqlite3_bind_int64(blob_st, 3, now - (int64_t)(rng() % (uint64_t)WEEK_MS));
		if (sqlite3_step(blob_st) != SQLITE_DONE) {
			rc = fail_sql(db, "insert blob");
			goto out;
		}
		sqlite3_reset(blob_st);

		for (j = 0; j < n; j++) {
			int64_t verified = rng() % 100 == 0 ? 0
			                   : now - (int64_t)(rng() % (uint64_t)WEEK_MS);

			/* consecutive sectors sit in different racks and zones */
			snprintf(sector, sizeof(sector), "s%u", (first + j) % nsectors);
			sqlite3_bind_text(rep_st, 1, kbuf, -1, SQLITE_STATIC);
			sqlite3_bind_text(rep_st, 2, sector, -1, SQLITE_STATIC);
			sqlite3_bind_int64(rep_st, 3, (int64_t)keys[i].size);
			sqlite3_bind_text(rep_st, 4, ranges, -1, SQLITE_STATIC);
			sqlite3_bind_int(rep_st, 5, (int)j != sick);
			sqlite3_bind_int64(rep_st, 6, verified);
			sqlite3_bind_blob(rep_st, 7, keys[i].digest, GV_DIGEST_LEN, SQLITE_STATIC);
			sqlite3_bind_text(rep_st, 8, (int)j == sick ? "digest mismatch" : "", -1,
			                  SQLITE_STATIC);
			if (sqlite3_step(rep_st) != SQLITE_DONE) {
				rc = fail_sql(db, "insert replica");
				goto out;
			}
			sqlite3_reset(rep_st);
			replicas++;
		}
	}
	if (index_sql && sqlite3_exec(db, index_sql, NULL, NULL, NULL) != SQLITE_OK) {
		rc = fail_sql(db, "rebuild indexes");
		goto out;
	}
	if (sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL,
	                 NULL) != SQLITE_OK) {
		rc = fail_sql(db, "commit");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%s: %llu keys, %llu replicas on %u sectors in %.2f s\n", path, nkeys,
	       (unsigned long long)replicas, nsectors,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	rc = 0;
out:
	sqlite3_finalize(blob_st);
	sqlite3_finalize(rep_st);
	sqlite3_close(db);
	free(index_sql);
	free(keys);
	return rc;
}
