/*
 * bench_index_threads.c - the SQLite index under concurrent calls, in
 * process, with no HTTP or sector I/O around it:
 *   reads   64 threads each doing a GET's index calls (replicas_find of a
 *           random key, then sector_list), alone and while 8 threads put;
 *   puts    8 threads each recording a new blob's 3 replicas in turn (3
 *           replica_put calls, each durable before it returns), as 8
 *           concurrent 4 KiB puts do.
 * Prints calls per second; a figure to compare between builds of the
 * index on the same machine, not a target.
 *
 * usage: bench_index_threads DIR [SECONDS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "graviton/sys/index.h"

#define SECTORS 6
#define PRELOAD 1000
#define READERS 64
#define WRITERS 8

static gv_index *ix;
static atomic_int stop;
static atomic_ulong next_key = PRELOAD;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static gv_key key_of(unsigned long i)
{
	gv_key k;
	unsigned long x = (i + 1) * 0x9e3779b97f4a7c15UL;
	size_t j;

	for (j = 0; j < GV_DIGEST_LEN; j++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k.digest[j] = (unsigned char)x;
	}
	k.size = 4096;
	return k;
}

static int put_blob(unsigned long i)
{
	gv_replica r;
	int s, err = 0;

	memset(&r, 0, sizeof(r));
	r.key = key_of(i);
	r.healthy = 1;
	gv_rangeset_init(&r.ranges);
	if (gv_rangeset_add(&r.ranges, 0, r.key.size) < 0)
		return -1;
	for (s = 0; s < 3 && err == 0; s++) {
		snprintf(r.sector, sizeof(r.sector), "s%lu", (i + (unsigned long)s) % SECTORS);
		err = ix->ops->replica_put(ix, &r);
	}
	gv_rangeset_free(&r.ranges);
	return err;
}

static void *reader(void *arg)
{
	unsigned long *count = arg, seed = (unsigned long)(uintptr_t)arg;
	gv_sector_info *sectors;
	gv_replica *reps;
	size_t n;

	while (!atomic_load(&stop)) {
		gv_key k;

		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		k = key_of((seed >> 33) % PRELOAD);
		if (ix->ops->replicas_find(ix, &k, &reps, &n) < 0) {
			fprintf(stderr, "replicas_find: %s\n", gv_error_last());
			exit(1);
		}
		gv_replicas_free(reps, n);
		if (ix->ops->sector_list(ix, &sectors, &n) < 0) {
			fprintf(stderr, "sector_list: %s\n", gv_error_last());
			exit(1);
		}
		free(sectors);
		(*count)++;
	}
	return NULL;
}

static void *writer(void *arg)
{
	unsigned long *count = arg;

	while (!atomic_load(&stop)) {
		if (put_blob(atomic_fetch_add(&next_key, 1)) < 0) {
			fprintf(stderr, "replica_put: %s\n", gv_error_last());
			exit(1);
		}
		(*count)++;
	}
	return NULL;
}

/* Run nr readers and nw writers for secs; per-second rates out. */
static void run(int nr, int nw, double secs, double *reads, double *puts)
{
	pthread_t t[READERS + WRITERS];
	unsigned long counts[READERS + WRITERS];
	double t0, dt;
	int i;

	memset(counts, 0, sizeof(counts));
	atomic_store(&stop, 0);
	t0 = now();
	for (i = 0; i < nr + nw; i++)
		if (pthread_create(&t[i], NULL, i < nr ? reader : writer, &counts[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, 1);
	for (i = 0; i < nr + nw; i++)
		pthread_join(t[i], NULL);
	dt = now() - t0;
	*reads = *puts = 0;
	for (i = 0; i < nr + nw; i++)
		*(i < nr ? reads : puts) += (double)counts[i];
	*reads /= dt;
	*puts /= dt;
}

int main(int argc, char **argv)
{
	char path[4096];
	gv_sector_info si;
	double secs = argc > 2 ? atof(argv[2]) : 5, reads, puts;
	unsigned long i;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_index_threads DIR [SECONDS]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/index.db", argv[1]);
	if (gv_index_sqlite_open(&ix, path, 1) < 0) {
		fprintf(stderr, "open: %s\n", gv_error_last());
		return 1;
	}
	for (i = 0; i < SECTORS; i++) {
		memset(&si, 0, sizeof(si));
		snprintf(si.id, sizeof(si.id), "s%lu", i);
		strcpy(si.kind, "fs");
		snprintf(si.path, sizeof(si.path), "/srv/s%lu", i);
		si.capacity = 1ULL << 40;
		si.healthy = 1;
		if (ix->ops->sector_upsert(ix, &si) < 0) {
			fprintf(stderr, "sector_upsert: %s\n", gv_error_last());
			return 1;
		}
	}
	for (i = 0; i < PRELOAD; i++)
		if (put_blob(i) < 0) {
			fprintf(stderr, "replica_put: %s\n", gv_error_last());
			return 1;
		}

	run(READERS, 0, secs, &reads, &puts);
	printf("  index, %d readers:             %8.0f GET lookups/s\n", READERS, reads);
	run(0, WRITERS, secs, &reads, &puts);
	printf("  index, %d writers:              %8.0f puts/s (3 replica_put each)\n", WRITERS,
	       puts);
	run(READERS, WRITERS, secs, &reads, &puts);
	printf("  index, %d readers + %d writers: %8.0f GET lookups/s, %.0f puts/s\n", READERS,
	       WRITERS, reads, puts);
	ix->ops->close(ix);
	return 0;
}
