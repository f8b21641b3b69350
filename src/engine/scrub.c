/*
 * scrub.c - re-read replicas, oldest verification first, and check them
 * against their keys.
 *
 * The walk uses the index's scrub-order cursor (last_verified, key,
 * sector).  Verifying a replica moves it to the end of that order, so the
 * walk stops at the first row verified at or after the run's threshold:
 * the run's start, or now minus the interval for the scheduled form.
 */
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/limiter.h"
#include "engine/blocks.h"
#include "engine/store.h"
#include "engine/workq.h"
#include "graviton/scrub.h"

typedef struct srun {
	gv_store *st;
	gv_scrub_opts o;
	gv_limiter lim;
	gv_limiter lim_metered;    /* replicas in sectors of a metered kind */
	char (*metered)[GV_ID_MAX]; /* those sectors' ids, nmetered of them */
	size_t nmetered;
	int64_t now;
	int64_t threshold;         /* rows verified since are fresh */

	pthread_mutex_t mu;        /* guards sum, done counters, callbacks */
	gv_scrub_summary sum;
	uint64_t total, done, bytes_done, bytes_total;
} srun;

typedef struct sjob {
	gv_key key;
	char sector[GV_ID_MAX];
	int was_healthy;
} sjob;

static int64_t run_now(const srun *r)
{
	return r->o.clock_ms ? r->o.clock_ms(r->o.payload) : gv_now_ms();
}

/* Record the block table of bytes that just matched their key. */
static void scrub_record_blocks(gv_store *st, const gv_key *key, gv_block_hasher *bh)
{
	char kbuf[GV_KEY_BUFSIZE];
	void *tab = NULL;
	size_t len = 0;

	if (gv_block_hasher_final(bh, key, &tab, &len) == 0 && tab &&
	    gv_blocks_store(st, key, tab, len) == 0)
		gv_info("event=block_table_written key=%s", gv_key_format(kbuf, key));
	free(tab);
}

/* 1 when the replica was verified at or after the run's threshold since
 * its batch was read: by another gateway sharing the index, whose scrub
 * walks the same order. */
static int verified_meanwhile(const srun *r, const sjob *j)
{
	gv_replica *reps = NULL;
	size_t n = 0, i;
	int fresh = 0;

	if (!r->st->index_shared || gv_index_replicas_find(r->st->ix, &j->key, &reps, &n) < 0) {
		gv_error_clear();
		return 0;
	}
	for (i = 0; i < n; i++)
		if (strcmp(reps[i].sector, j->sector) == 0)
			fresh = reps[i].last_verified >= r->threshold;
	gv_replicas_free(reps, n);
	return fresh;
}

/* Every piece read (the limiter's on_take): progress by bytes, as they
 * are read, not per finished replica. */
static void scrub_bytes(size_t n, void *payload)
{
	srun *r = payload;

	pthread_mutex_lock(&r->mu);
	r->bytes_done += n;
	if (r->o.on_progress)
		r->o.on_progress(r->bytes_done, r->bytes_total, r->done, r->total, r->o.payload);
	pthread_mutex_unlock(&r->mu);
}

/* 1 when the sector's kind is metered (GV_SECTOR_KIND_METERED). */
static int is_metered(const srun *r, const char *sector)
{
	size_t i;

	for (i = 0; i < r->nmetered; i++)
		if (strcmp(r->metered[i], sector) == 0)
			return 1;
	return 0;
}

/* The ids of the sectors whose kind is metered, read once per run. */
static void find_metered(srun *r)
{
	gv_sector_info *ss = NULL;
	size_t n = 0, i;

	if (gv_store_sector_list(r->st, &ss, &n) < 0) {
		gv_error_clear();
		return;
	}
	if (n && (r->metered = calloc(n, sizeof(*r->metered))) != NULL)
		for (i = 0; i < n; i++) {
			const gv_sector_kind *k = gv_sector_kind_find(ss[i].kind);

			if (k && (k->flags & GV_SECTOR_KIND_METERED))
				snprintf(r->metered[r->nmetered++], GV_ID_MAX, "%s", ss[i].id);
		}
	gv_error_clear();
	free(ss);
}

static void scrub_one(void *p, void *payload)
{
	sjob *j = p;
	srun *r = payload;
	gv_index *ix = r->st->ix;
	char reason[GV_REASON_MAX] = "", why[GV_REASON_MAX], work[GV_CLAIM_NAME_MAX];
	uint8_t digest[GV_DIGEST_LEN];
	uint64_t bytes = 0;
	gv_sector *s;
	int err;

	if (r->o.cancel && *r->o.cancel)
		goto out;
	/* Another gateway on the index verifies this replica now, or has
	 * since its batch was read. */
	if (!gv_work_claim(r->st, gv_work_name_replica(work, sizeof(work), &j->key, j->sector)))
		goto out;
	if (verified_meanwhile(r, j))
		goto out_release;
	s = gv_store_sector_handle(r->st, j->sector, why, sizeof(why));
	if (!s) {
		snprintf(reason, sizeof(reason), "io error: %.240s", why);
		err = GV_EIO;
	} else {
		/* A blob whose block table is missing (an older store, a
		 * rebuilt index) or fails its check gets one from this pass. */
		gv_block_hasher *bh = NULL;
		gv_blocks *b = NULL;

		if (j->key.size > r->st->block_size && gv_blocks_load(r->st, &j->key, &b) ==
		    GV_ENOTFOUND && gv_block_hasher_new(&bh, r->st->block_size) < 0)
			bh = NULL;
		gv_blocks_free(b);
		err = gv_replica_verify_blocks(s, &j->key, reason, sizeof(reason), &bytes,
		                               is_metered(r, j->sector) ? &r->lim_metered : &r->lim,
		                               r->o.cancel, bh);
		if (err == 0 && bh)
			scrub_record_blocks(r->st, &j->key, bh);
		gv_block_hasher_free(bh);
		memcpy(digest, j->key.digest, GV_DIGEST_LEN);
	}
	if (err == GV_ECANCELED)
		goto out_release;

	pthread_mutex_lock(&r->mu);
	r->sum.checked++;
	r->sum.bytes += bytes;
	pthread_mutex_unlock(&r->mu);
	if (err == 0) {
		char kbuf[GV_KEY_BUFSIZE];

		gv_key_format(kbuf, &j->key);
		/* A row removed meanwhile (a delete, a move) is not an error. */
		err = gv_index_replica_set_verified(ix, &j->key, j->sector, run_now(r), digest);
		if (err < 0 && err != GV_ENOTFOUND)
			gv_errlog("event=index_error op=replica_set_verified key=%s sector=%s "
			          "error=\"%s\"", kbuf, j->sector, gv_error_last());
		pthread_mutex_lock(&r->mu);
		r->sum.healthy++;
		pthread_mutex_unlock(&r->mu);
		if (!j->was_healthy &&
		    (err = gv_index_replica_set_health(ix, &j->key, j->sector, 1, "")) < 0) {
			if (err != GV_ENOTFOUND)
				gv_errlog("event=index_error op=replica_set_health key=%s sector=%s "
				          "error=\"%s\"", kbuf, j->sector, gv_error_last());
		} else if (!j->was_healthy) {
			gv_info("event=replica_restored key=%s sector=%s", kbuf, j->sector);
			pthread_mutex_lock(&r->mu);
			r->sum.restored++;
			pthread_mutex_unlock(&r->mu);
		}
	} else {
		gv_scrub_event ev;

		if (j->was_healthy) {
			gv_store_mark_unhealthy_as(r->st, &j->key, j->sector, reason, "scrub");
		} else {
			/* Refresh the reason; the key is already repair work. */
			int e = gv_index_replica_set_health(ix, &j->key, j->sector, 0, reason);

			if (e < 0 && e != GV_ENOTFOUND)
				gv_errlog("event=index_error op=replica_set_health sector=%s "
				          "error=\"%s\"", j->sector, gv_error_last());
		}
		memset(&ev, 0, sizeof(ev));
		ev.key = j->key;
		snprintf(ev.sector, sizeof(ev.sector), "%s", j->sector);
		ev.was_healthy = j->was_healthy;
		ev.reason = reason;
		pthread_mutex_lock(&r->mu);
		if (j->was_healthy)
			r->sum.newly_unhealthy++;
		else
			r->sum.still_unhealthy++;
		if (r->o.on_bad)
			r->o.on_bad(&ev, r->o.payload);
		pthread_mutex_unlock(&r->mu);
	}
out_release:
	gv_work_release(r->st, work);
out:
	pthread_mutex_lock(&r->mu);
	r->done++;
	if (r->o.on_progress)
		r->o.on_progress(r->bytes_done, r->bytes_total, r->done, r->total, r->o.payload);
	pthread_mutex_unlock(&r->mu);
	free(j);
}

int gv_scrub_oldest(gv_store *st, const char *sector, int64_t *oldest_ms, int *has)
{
	gv_replica_cursor cur;
	gv_replica *reps = NULL;
	size_t n = 0;
	int err;

	*oldest_ms = 0;
	*has = 0;
	memset(&cur, 0, sizeof(cur));
	if ((err = gv_index_replicas_next(st->ix, &cur, sector, 1, &reps, &n)) < 0)
		return err;
	if (n > 0) {
		*oldest_ms = reps[0].last_verified;
		*has = 1;
	}
	gv_replicas_free(reps, n);
	return 0;
}

int gv_scrub_run(gv_store *st, const gv_scrub_opts *opts, gv_scrub_summary *out)
{
	gv_index *ix = st->ix;
	gv_replica_cursor cur;
	gv_index_stats is;
	gv_workq *q = NULL;
	int64_t t0, threshold;
	unsigned workers;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t batch;
	srun *r;
	int err = 0, stop = 0;

	memset(out, 0, sizeof(*out));
	r = calloc(1, sizeof(*r));
	if (!r)
		return gv_error_set(GV_ENOMEM, "out of memory");
	r->st = st;
	r->o = opts ? *opts : (gv_scrub_opts)GV_SCRUB_OPTS_INIT;
	pthread_mutex_init(&r->mu, NULL);
	gv_limiter_init(&r->lim, r->o.max_bytes_per_second);
	gv_limiter_init(&r->lim_metered, r->o.metered_max_bytes_per_second);
	r->lim.on_take = scrub_bytes;
	r->lim.payload = r;
	r->lim_metered.on_take = scrub_bytes;
	r->lim_metered.payload = r;
	find_metered(r);
	batch = r->o.batch_size ? r->o.batch_size : 100;
	workers = r->o.parallel_reads ? r->o.parallel_reads : 8;
	if (ncpu > 0 && workers > (unsigned)ncpu * 4)
		workers = (unsigned)ncpu * 4;
	t0 = gv_now_ms();
	r->now = run_now(r);
	threshold = r->o.skip_verified_within_ms ? r->now - (int64_t)r->o.skip_verified_within_ms
	                                         : r->now;
	r->threshold = threshold;
	/* The totals the bar goes by: every replica's bytes (the blobs'
	 * bytes times their replicas per blob), or the one sector's. */
	if (gv_index_stats_get(ix, 1, &is) == 0) {
		r->total = is.replicas;
		r->bytes_total = is.blobs ? (uint64_t)((double)is.bytes * (double)is.replicas /
		                                       (double)is.blobs) : 0;
	}
	if (r->o.sector) {
		gv_sector_info si;

		if ((err = gv_index_sector_get(ix, r->o.sector, &si)) < 0)
			goto out;
		r->bytes_total = si.used;
		r->total = 0;
	}
	gv_info("event=scrub_start parallel_reads=%u sector=%s skip_within_ms=%llu", workers,
	        r->o.sector ? r->o.sector : "*",
	        (unsigned long long)r->o.skip_verified_within_ms);

	if ((err = gv_workq_new(&q, workers, (size_t)workers * 4, scrub_one, r)) < 0)
		goto out;
	memset(&cur, 0, sizeof(cur));
	while (!stop) {
		gv_replica *reps = NULL;
		size_t n = 0, i;

		if (r->o.cancel && *r->o.cancel) {
			err = GV_ECANCELED;
			break;
		}
		if ((err = gv_index_replicas_next(ix, &cur, r->o.sector, batch, &reps, &n)) < 0)
			break;
		if (n == 0)
			break;
		for (i = 0; i < n; i++) {
			sjob *j;

			if (reps[i].last_verified >= threshold) {
				/* Everything from here on is fresh (or verified by this
				 * run): the walk is done. */
				stop = 1;
				break;
			}
			if (!gv_rangeset_is_full(&reps[i].ranges, reps[i].key.size)) {
				pthread_mutex_lock(&r->mu);
				r->sum.skipped++;
				pthread_mutex_unlock(&r->mu);
				continue;
			}
			j = calloc(1, sizeof(*j));
			if (!j) {
				err = gv_error_set(GV_ENOMEM, "out of memory");
				stop = 1;
				break;
			}
			j->key = reps[i].key;
			snprintf(j->sector, sizeof(j->sector), "%s", reps[i].sector);
			j->was_healthy = reps[i].healthy;
			gv_workq_push(q, j);
		}
		gv_replicas_free(reps, n);
	}
	gv_workq_wait(q);
out:
	gv_workq_free(q);
	r->sum.duration_ms = gv_now_ms() - t0;
	*out = r->sum;
	if (!(r->o.cancel && *r->o.cancel) || err == 0) {
		pthread_mutex_lock(&st->stats_lock);
		st->scrub.replicas_checked += out->checked;
		st->scrub.bytes += out->bytes;
		st->scrub.unhealthy_found += out->newly_unhealthy;
		st->scrub.runs++;
		st->scrub.last_run_ms = gv_now_ms();
		if (err == 0)
			st->scrub.last_success_ms = st->scrub.last_run_ms;
		pthread_mutex_unlock(&st->stats_lock);
	}
	gv_info("event=scrub_end checked=%llu bytes=%llu healthy=%llu newly_unhealthy=%llu "
	        "still_unhealthy=%llu restored=%llu skipped=%llu ms=%lld",
	        (unsigned long long)out->checked, (unsigned long long)out->bytes,
	        (unsigned long long)out->healthy, (unsigned long long)out->newly_unhealthy,
	        (unsigned long long)out->still_unhealthy, (unsigned long long)out->restored,
	        (unsigned long long)out->skipped, (long long)out->duration_ms);
	gv_limiter_destroy(&r->lim);
	gv_limiter_destroy(&r->lim_metered);
	free(r->metered);
	pthread_mutex_destroy(&r->mu);
	free(r);
	if (err == 0 && opts && opts->cancel && *opts->cancel)
		err = GV_ECANCELED;
	return err;
}

void gv_scrub_counters_get(gv_store *st, gv_scrub_counters *out)
{
	pthread_mutex_lock(&st->stats_lock);
	*out = st->scrub;
	pthread_mutex_unlock(&st->stats_lock);
}

void gv_scrub_daemon(gv_store *st, const gv_scrub_opts *opts, uint64_t interval_ms,
                     atomic_int *stop)
{
	gv_scrub_opts o = opts ? *opts : (gv_scrub_opts)GV_SCRUB_OPTS_INIT;
	uint64_t pause = interval_ms < 60000 ? interval_ms : 60000;

	o.cancel = stop;
	o.skip_verified_within_ms = interval_ms;
	while (!*stop) {
		gv_scrub_summary sum;
		int err = gv_scrub_run(st, &o, &sum);

		if (err < 0 && err != GV_ECANCELED)
			gv_errlog("event=scrub_run_failed error=\"%s\"", gv_error_last());
		gv_pause_ms(pause, stop);
	}
}
