/*
 * metrics.c - the store's figures in the Prometheus text exposition format
 * (version 0.0.4): the seed's replication gauges and repair counters
 * (dots become underscores, prefixed graviton_), scrub and presence audit
 * counters, per-sector gauges and the failure detector's probe failures.  The server appends its request metrics.
 *
 * The gauges of the whole index (gv_status, the sector list) cost a scan of
 * every replica row (~30 ms at 100k replicas), and /metrics needs no token:
 * they are computed at most once per GV_METRICS_CACHE_MS, under metrics_mu,
 * so concurrent scrapers wait for one computation and share it.  The
 * counters are always current.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/store.h"
#include "core/clock.h"
#include "graviton/health.h"

static void metric(FILE *f, const char *name, const char *type, const char *help, double v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values here are validated ids; escape anyway, as the format asks. */
static void label(FILE *f, const char *name, const char *v, int first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void sector_labels(FILE *f, const gv_sector_info *s)
{
	fputc('{', f);
	label(f, "sector", s->id, 1);
	label(f, "rack", s->rack, 0);
	label(f, "zone", s->zone, 0);
	label(f, "state", gv_sector_state_name(s->state), 0);
	fputc('}', f);
}

#define GV_METRICS_CACHE_MS 1000


/* Per sector, the last_verified of the replica scrub would read first (the
 * oldest verification): one indexed row each.  0 for a sector with none. */
static int oldest_verified(gv_store *st, const gv_sector_info *sectors, size_t n,
                           int64_t **out)
{
	int64_t *v = calloc(n ? n : 1, sizeof(*v));
	size_t i;
	int err;

	*out = NULL;
	if (!v)
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		gv_replica_cursor cur;
		gv_replica *r = NULL;
		size_t got = 0;

		memset(&cur, 0, sizeof(cur));
		if ((err = gv_index_replicas_next(st->ix, &cur, sectors[i].id, 1, &r, &got)) < 0) {
			free(v);
			return err;
		}
		if (got)
			v[i] = r[0].last_verified;
		gv_replicas_free(r, got);
	}
	*out = v;
	return 0;
}

/* The cached gauges (fresh when older than the cache window), copied out;
 * *computations counts the computations so far. */
static int gauges_get(gv_store *st, gv_store_stats *s, gv_sector_info **sectors,
                      int64_t **oldest, size_t *nsectors, uint64_t *computations)
{
	gv_sector_info *copy;
	int64_t *ocopy;
	long long now;
	int err = 0;

	pthread_mutex_lock(&st->metrics_mu);
	now = gv_mono_ms();
	if (st->metrics_at_ms == 0 || now - st->metrics_at_ms >= GV_METRICS_CACHE_MS) {
		gv_sector_info *fresh = NULL;
		int64_t *ofresh = NULL;
		size_t n = 0;

		if ((err = gv_status(st, &st->metrics_stats)) < 0 ||
		    (err = gv_store_sector_list(st, &fresh, &n)) < 0 ||
		    (err = oldest_verified(st, fresh, n, &ofresh)) < 0) {
			free(fresh);
			st->metrics_at_ms = 0;
			goto out;
		}
		free(st->metrics_sectors);
		free(st->metrics_oldest);
		st->metrics_sectors = fresh;
		st->metrics_oldest = ofresh;
		st->metrics_nsectors = n;
		st->metrics_at_ms = gv_mono_ms();
		st->metrics_computations++;
	}
	copy = malloc((st->metrics_nsectors ? st->metrics_nsectors : 1) * sizeof(*copy));
	ocopy = malloc((st->metrics_nsectors ? st->metrics_nsectors : 1) * sizeof(*ocopy));
	if (!copy || !ocopy) {
		free(copy);
		free(ocopy);
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	if (st->metrics_nsectors) {
		memcpy(copy, st->metrics_sectors, st->metrics_nsectors * sizeof(*copy));
		memcpy(ocopy, st->metrics_oldest, st->metrics_nsectors * sizeof(*ocopy));
	}
	*s = st->metrics_stats;
	*sectors = copy;
	*oldest = ocopy;
	*nsectors = st->metrics_nsectors;
	*computations = st->metrics_computations;
out:
	pthread_mutex_unlock(&st->metrics_mu);
	return err;
}

/* A wall-clock time in unix ms as seconds; 0 stays 0 (never). */
static double seconds_of(int64_t ms)
{
	return ms > 0 ? (double)ms / 1000.0 : 0;
}

int gv_metrics_text(gv_store *st, char **out, size_t *out_len)
{
	gv_store_stats s;
	gv_repair_counters rc;
	gv_scrub_counters sc;
	gv_presence_counters pc;
	gv_sector_info *sectors = NULL;
	int64_t *oldest = NULL, rebalance_ok_ms, now_ms = gv_now_ms();
	size_t nsectors = 0, i, len = 0;
	uint64_t computations = 0, rq_queued = 0, rq_dead = 0;
	char *buf = NULL;
	FILE *f;
	int err;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	if ((err = gauges_get(st, &s, &sectors, &oldest, &nsectors, &computations)) < 0)
		return err;
	gv_repair_counters_get(st, &rc);
	gv_scrub_counters_get(st, &sc);
	gv_presence_counters_get(st, &pc);
	pthread_mutex_lock(&st->stats_lock);
	rebalance_ok_ms = st->rebalance_last_success_ms;
	pthread_mutex_unlock(&st->stats_lock);
	/* An index without a repair queue (or failing) shows an empty one. */
	if (gv_repair_queue_count(st, &rq_queued, &rq_dead) < 0)
		rq_queued = rq_dead = 0;
	f = open_memstream(&buf, &len);
	if (!f) {
		free(sectors);
		free(oldest);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	header(f, "graviton_build_info", "gauge", "Always 1; the version in a label.");
	fprintf(f, "graviton_build_info{version=\"%s\"} 1\n", GV_VERSION);
	metric(f, "graviton_replication_factor", "gauge",
	       "Average healthy replicas per blob.", s.avg_factor);
	metric(f, "graviton_replication_target_factor", "gauge",
	       "Configured replication factor.", s.factor);
	metric(f, "graviton_replication_under_replicated", "gauge",
	       "Blobs with fewer healthy replicas than the factor (but at least one).",
	       (double)s.under_replicated);
	metric(f, "graviton_replication_over_replicated", "gauge",
	       "Blobs with more healthy replicas than the factor.", (double)s.over_replicated);
	metric(f, "graviton_replication_lost", "gauge", "Blobs with no healthy replica.",
	       (double)s.lost);
	metric(f, "graviton_replication_healthy_replicas", "gauge", "Healthy replicas.",
	       (double)s.healthy_replicas);
	metric(f, "graviton_replication_unhealthy_replicas", "gauge",
	       "Replicas that are not healthy (bad, incomplete, or on a bad sector).",
	       (double)s.unhealthy_replicas);
	metric(f, "graviton_blobs", "gauge", "Blobs in the index.", (double)s.blobs);
	metric(f, "graviton_blob_bytes", "gauge", "Sum of blob sizes.", (double)s.bytes);
	metric(f, "graviton_repair_queue_size", "gauge",
	       "Keys waiting in the durable repair queue (dead letters not counted).",
	       (double)rq_queued);
	metric(f, "graviton_repair_queue_dead", "gauge",
	       "Dead letters in the repair queue: keys no longer retried.", (double)rq_dead);
	metric(f, "graviton_repair_rate_bytes_per_second", "gauge",
	       "Bytes per second copied by the last repair run (or the current one).", rc.rate);
	metric(f, "graviton_repair_last_success_timestamp_seconds", "gauge",
	       "When the last full repair run that completed with no failed job ended (unix "
	       "time; 0: none since the server started).", seconds_of(rc.last_success_ms));
	metric(f, "graviton_scrub_last_success_timestamp_seconds", "gauge",
	       "When the last scrub run that went through to its end ended (unix time; 0: none "
	       "since the server started).", seconds_of(sc.last_success_ms));
	metric(f, "graviton_rebalance_last_success_timestamp_seconds", "gauge",
	       "When the last rebalance run that moved all it planned (or found nothing to "
	       "move) ended (unix time; 0: none since the server started).",
	       seconds_of(rebalance_ok_ms));
	metric(f, "graviton_repair_jobs_completed_total", "counter", "Repair jobs completed.",
	       (double)rc.jobs_completed);
	metric(f, "graviton_repair_jobs_failed_total", "counter", "Repair jobs failed.",
	       (double)rc.jobs_failed);
	metric(f, "graviton_repair_bytes_total", "counter", "Bytes copied by repair.",
	       (double)rc.bytes_copied);
	metric(f, "graviton_repair_runs_total", "counter", "Repair runs finished.",
	       (double)rc.runs);
	metric(f, "graviton_scrub_replicas_checked_total", "counter", "Replicas read by scrub.",
	       (double)sc.replicas_checked);
	metric(f, "graviton_scrub_bytes_total", "counter", "Bytes read by scrub.",
	       (double)sc.bytes);
	metric(f, "graviton_scrub_unhealthy_found_total", "counter",
	       "Replicas scrub found bad that were healthy before.", (double)sc.unhealthy_found);
	metric(f, "graviton_scrub_runs_total", "counter", "Scrub runs finished.", (double)sc.runs);
	metric(f, "graviton_presence_rows_checked_total", "counter",
	       "Replica rows the presence audit compared with a sector listing.",
	       (double)pc.rows_checked);
	metric(f, "graviton_presence_missing_total", "counter",
	       "Healthy replicas the presence audit found without their file.", (double)pc.missing);
	metric(f, "graviton_presence_wrong_size_total", "counter",
	       "Healthy replicas the presence audit found with a file of another size.",
	       (double)pc.wrong_size);
	metric(f, "graviton_presence_unrecorded_total", "counter",
	       "Files the presence audit found that no replica row counts on.",
	       (double)pc.unrecorded);
	metric(f, "graviton_presence_runs_total", "counter", "Presence audit runs finished.",
	       (double)pc.runs);
	metric(f, "graviton_metrics_index_scans_total", "counter",
	       "Computations of the whole-index gauges: scans of the index (cached for a second "
	       "between scrapes).",
	       (double)computations);

	header(f, "graviton_sector_capacity_bytes", "gauge", "Sector capacity.");
	for (i = 0; i < nsectors; i++) {
		fputs("graviton_sector_capacity_bytes", f);
		sector_labels(f, &sectors[i]);
		fprintf(f, " %llu\n", (unsigned long long)sectors[i].capacity);
	}
	header(f, "graviton_sector_used_bytes", "gauge", "Bytes of replicas recorded in a sector.");
	for (i = 0; i < nsectors; i++) {
		fputs("graviton_sector_used_bytes", f);
		sector_labels(f, &sectors[i]);
		fprintf(f, " %llu\n", (unsigned long long)sectors[i].used);
	}
	header(f, "graviton_sector_healthy", "gauge", "1 when the sector is healthy.");
	for (i = 0; i < nsectors; i++) {
		fputs("graviton_sector_healthy", f);
		sector_labels(f, &sectors[i]);
		fprintf(f, " %d\n", sectors[i].healthy ? 1 : 0);
	}
	header(f, "graviton_sector_probe_failures_total", "counter",
	       "Failure detector probes of the sector that failed.");
	for (i = 0; i < nsectors; i++) {
		fputs("graviton_sector_probe_failures_total", f);
		sector_labels(f, &sectors[i]);
		fprintf(f, " %llu\n",
		        (unsigned long long)gv_health_probe_failures(st, sectors[i].id));
	}
	header(f, "graviton_sector_scrub_age_seconds", "gauge",
	       "Seconds since the least recently verified replica of the sector was verified "
	       "(written or scrubbed); 0 for a sector with no replica.");
	for (i = 0; i < nsectors; i++) {
		fputs("graviton_sector_scrub_age_seconds", f);
		sector_labels(f, &sectors[i]);
		fprintf(f, " %.3f\n", oldest[i] > 0 && oldest[i] < now_ms
		                          ? (double)(now_ms - oldest[i]) / 1000.0 : 0.0);
	}
	free(sectors);
	free(oldest);
	if (fclose(f) != 0) {
		free(buf);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	*out = buf;
	if (out_len)
		*out_len = len;
	return 0;
}
