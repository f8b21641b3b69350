/*
 * bench_gap_scan.c - time repair's gap scan over a large index.
 *
 *   bench_gap_scan INDEX [BATCH]
 *
 * INDEX: a path or an index URL (sqlite:PATH, postgresql://...).
 * Opens an index made by bench_gen_index (or copied from one), walks every blob with
 * blobs_next in batches of BATCH (default 100), and per key counts the
 * replicas that are healthy, complete and on a healthy, non-retired
 * sector; the key is then ok (exactly the factor), under (1..factor-1),
 * over (more) or lost (none).  Prints the counts, the wall and CPU time
 * of the walk and the peak RSS, then checks the counts against the stats
 * op (after the timing, which it does not count).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "graviton/sys/index.h"

#define FACTOR 3 /* what bench_gen_index writes */
#define TARGET_S 10.0
#define TARGET_MIB 64.0

struct counts {
	uint64_t keys, replicas, good, ok, under, over, lost;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User plus system CPU seconds of this process so far; with the wall
 * time it shows how much of a slow run was other load on the machine. */
static double cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0.0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double peak_rss_mib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1.0;
	return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* 1 when replicas on sector `id` count (healthy and not retired). */
static int sector_good(const gv_sector_info *sec, size_t nsec, const char *id)
{
	size_t i;

	for (i = 0; i < nsec; i++)
		if (strcmp(sec[i].id, id) == 0)
			return sec[i].healthy && sec[i].state != GV_SECTOR_RETIRED;
	return 0;
}

static void classify(struct counts *c, const gv_blob_entry *e, const gv_sector_info *sec,
                     size_t nsec)
{
	unsigned good = 0;
	size_t i;

	for (i = 0; i < e->nreplicas; i++) {
		const gv_replica *r = &e->replicas[i];

		if (r->healthy && gv_rangeset_is_full(&r->ranges, e->key.size) &&
		    sector_good(sec, nsec, r->sector))
			good++;
	}
	c->keys++;
	c->replicas += e->nreplicas;
	c->good += good;
	if (good == 0)
		c->lost++;
	else if (good < FACTOR)
		c->under++;
	else if (good > FACTOR)
		c->over++;
	else
		c->ok++;
}

int main(int argc, char **argv)
{
	struct counts c = { 0 };
	gv_index *ix = NULL;
	gv_sector_info *sec = NULL;
	gv_blob_entry *batch;
	gv_index_stats st;
	gv_key last;
	size_t nsec = 0, n, i, limit = 100, batches = 0;
	unsigned long long v;
	double t0, c0, secs, cpu, rss;
	char *end;
	int rc = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bench_gap_scan INDEX [BATCH]\n");
		return 2;
	}
	if (argc == 3) {
		errno = 0;
		v = strtoull(argv[2], &end, 10);
		if (errno || *end || v == 0 || v > 1000000) {
			fprintf(stderr, "bench_gap_scan: BATCH must be 1..1000000\n");
			return 2;
		}
		limit = (size_t)v;
	}
	if (gv_index_open_url(&ix, argv[1], 0) < 0) {
		fprintf(stderr, "bench_gap_scan: %s\n", gv_error_last());
		return 1;
	}

	t0 = now_s();
	c0 = cpu_s();
	if (ix->ops->sector_list(ix, &sec, &nsec) < 0)
		goto fail;
	if (ix->ops->blobs_next(ix, NULL, limit, &batch, &n) < 0)
		goto fail;
	while (n > 0) {
		batches++;
		for (i = 0; i < n; i++)
			classify(&c, &batch[i], sec, nsec);
		last = batch[n - 1].key;
		gv_blob_entries_free(batch, n);
		if (n < limit)
			break;
		if (ix->ops->blobs_next(ix, &last, limit, &batch, &n) < 0)
			goto fail;
	}
	secs = now_s() - t0;
	cpu = cpu_s() - c0;
	rss = peak_rss_mib();

	printf("index:        %s\n", argv[1]);
	printf("batch:        %zu (%zu batches)\n", limit, batches);
	printf("keys scanned: %llu\n", (unsigned long long)c.keys);
	printf("replicas:     %llu (%llu healthy and complete)\n",
	       (unsigned long long)c.replicas, (unsigned long long)c.good);
	printf("ok:           %llu\n", (unsigned long long)c.ok);
	printf("under:        %llu\n", (unsigned long long)c.under);
	printf("over:         %llu\n", (unsigned long long)c.over);
	printf("lost:         %llu\n", (unsigned long long)c.lost);
	printf("seconds:      %.2f (%.0f keys/s), cpu %.2f\n", secs,
	       secs > 0 ? (double)c.keys / secs : 0.0, cpu);
	printf("peak RSS:     %.1f MiB\n", rss);
	printf("target: < %.0f s, < %.0f MiB: %s\n", TARGET_S, TARGET_MIB,
	       secs < TARGET_S && rss < TARGET_MIB ? "met" : "MISSED");

	if (ix->ops->stats(ix, FACTOR, &st) < 0)
		goto fail;
	if (st.blobs != c.keys || st.replicas != c.replicas || st.healthy_replicas != c.good ||
	    st.under_replicated != c.under || st.over_replicated != c.over || st.lost != c.lost) {
		fprintf(stderr,
		        "bench_gap_scan: scan disagrees with stats (blobs %llu, replicas %llu,"
		        " healthy %llu, under %llu, over %llu, lost %llu)\n",
		        (unsigned long long)st.blobs, (unsigned long long)st.replicas,
		        (unsigned long long)st.healthy_replicas,
		        (unsigned long long)st.under_replicated,
		        (unsigned long long)st.over_replicated, (unsigned long long)st.lost);
		goto out;
	}
	printf("stats agree:  yes\n");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench_gap_scan: %s\n", gv_error_last());
out:
	free(sec);
	ix->ops->close(ix);
	return rc;
}
