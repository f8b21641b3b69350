/*
 * repair.c - gap detection, risk-ordered parallel repair, resumable copies,
 * surplus trimming, the repair daemon.
 *
 * Map:
 *   classify()       one key's state from its replica rows
 *   scan()           walk the index in batches with the blobs_next cursor
 *   run_copy()       a COPY job: pick targets, stream from the best source,
 *                    record, then drop the bad copies
 *   copy_to()        one resumable, verified copy into one target
 *   run_tidy()       TRIM / MOVE / CLEANUP for keys at or above the factor
 *   gv_repair_run()  survey, copy passes (fewest healthy first), tidy pass
 *
 * Crash safety: a new replica is recorded only once committed; a large copy
 * first records an intent row with empty ranges, then the ranges it has
 * made durable, so a crash leaves a row the next run resumes (or drops,
 * deleting its bytes first).  Bad copies, and copies that failed, lose
 * their row before their bytes, under the key lock; a failed copy leaves a
 * complete row recorded meanwhile by another operation alone.
 */
#include <stdatomic.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/store.h"
#include "engine/limiter.h"
#include "engine/workq.h"

#define COPY_BUF (1u << 20)
/* Copies larger than this record their progress and can resume. */
#define RESUME_MIN (64ull << 20)
/* A resumable copy syncs and records its ranges this often. */
#define RESUME_STEP (64ull << 20)

enum { JOB_COPY, JOB_TIDY };

typedef struct job {
	gv_key key;
	int kind;
	int64_t age;    /* newest verification among healthy replicas */
} job;

typedef struct run {
	gv_store *st;
	gv_repair_opts o;
	gv_placement_opts popt;
	int64_t t0;

	pthread_mutex_t mu;          /* guards sum, the progress fields, events */
	gv_repair_summary sum;
	uint64_t bytes_total, jobs_total, bytes_done, jobs_done;

	gv_limiter lim;
} run;

/* What one key looks like. */
typedef struct keystate {
	gv_replica *reps;
	size_t n;
	size_t healthy[GV_REPAIR_MAX_TARGETS * 2], nh;   /* indices into reps */
	size_t partial[GV_REPAIR_MAX_TARGETS * 2], np;   /* resumable copies */
	size_t bad[GV_REPAIR_MAX_TARGETS * 2], nb;       /* everything else */
	int64_t age;
} keystate;

const char *gv_repair_action_name(gv_repair_action a)
{
	switch (a) {
	case GV_REPAIR_COPY: return "copy";
	case GV_REPAIR_TRIM: return "trim";
	case GV_REPAIR_MOVE: return "move";
	case GV_REPAIR_CLEANUP: return "cleanup";
	case GV_REPAIR_LOST: return "lost";
	}
	return "?";
}

/* Wait until n more bytes may be written under the run's limit. */
static void limit(run *r, size_t n)
{
	gv_limiter_take(&r->lim, n);
}

static int cancelled(const run *r)
{
	return r->o.cancel && *r->o.cancel;
}

static int sector_eligible(const gv_sector_info *sectors, size_t n, const char *id)
{
	long i = gv_placement_find(sectors, n, id);

	return i >= 0 && sectors[i].healthy && sectors[i].state == GV_SECTOR_ACTIVE;
}

static void classify(keystate *ks, gv_replica *reps, size_t n, const gv_sector_info *sectors,
                     size_t nsectors)
{
	size_t i;

	memset(ks, 0, sizeof(*ks));
	ks->reps = reps;
	ks->n = n;
	for (i = 0; i < n; i++) {
		gv_replica *rp = &reps[i];

		if (gv_replica_effective_health(rp, sectors, nsectors, NULL, 0)) {
			if (ks->nh < GV_REPAIR_MAX_TARGETS * 2)
				ks->healthy[ks->nh++] = i;
			if (rp->last_verified > ks->age)
				ks->age = rp->last_verified;
		} else if (rp->healthy && !gv_rangeset_is_full(&rp->ranges, rp->key.size) &&
		           sector_eligible(sectors, nsectors, rp->sector)) {
			if (ks->np < GV_REPAIR_MAX_TARGETS * 2)
				ks->partial[ks->np++] = i;
		} else if (ks->nb < GV_REPAIR_MAX_TARGETS * 2) {
			ks->bad[ks->nb++] = i;
		}
	}
}

/* Does the healthy set break the strategy's constraint? */
static int misplaced(const run *r, const keystate *ks, const gv_sector_info *sectors,
                     size_t nsectors)
{
	const char *ids[GV_REPAIR_MAX_TARGETS * 2];
	gv_placement_report rep;
	size_t i;

	if (r->popt.strategy == GV_STRATEGY_SIMPLE || ks->nh == 0)
		return 0;
	for (i = 0; i < ks->nh; i++)
		ids[i] = ks->reps[ks->healthy[i]].sector;
	return gv_placement_check(&rep, &r->popt, sectors, nsectors, ids, ks->nh) < 0;
}

static void emit(run *r, gv_repair_event *ev, int ok_job)
{
	pthread_mutex_lock(&r->mu);
	if (r->o.on_event)
		r->o.on_event(ev, r->o.payload);
	pthread_mutex_unlock(&r->mu);
	(void)ok_job;
}

static void event_init(gv_repair_event *ev, const run *r, gv_repair_action a, const gv_key *key,
                       int healthy)
{
	memset(ev, 0, sizeof(*ev));
	ev->action = a;
	ev->phase = r->o.dry_run ? GV_REPAIR_PLANNED : GV_REPAIR_DONE;
	ev->key = *key;
	ev->healthy = healthy;
	ev->target = r->popt.factor;
}

static void event_fail(gv_repair_event *ev, int err, const char *msg)
{
	ev->phase = GV_REPAIR_FAILED;
	ev->error = err;
	ev->message = msg;
}

/* Drop one replica: index row first, then bytes (partial rows: bytes first,
 * since the index never counted on them and a row left behind is retried). */
static int record_ranges(gv_index *ix, const gv_key *key, const char *sector, uint64_t upto,
                         int create);

static void drop_replica_locked(run *r, const gv_replica *rp, int partial);

/* Under the key lock: a put or delete of the key never sees half of it. */
static void drop_replica(run *r, const gv_replica *rp, int partial)
{
	char kbuf[GV_KEY_BUFSIZE];

	if (gv_key_lock(r->st, &rp->key) < 0) {
		gv_warn("event=repair_drop_failed key=%s sector=%s error=\"%s\"",
		        gv_key_format(kbuf, &rp->key), rp->sector, gv_error_last());
		return;
	}
	drop_replica_locked(r, rp, partial);
	gv_key_unlock(r->st, &rp->key);
}

static void drop_replica_locked(run *r, const gv_replica *rp, int partial)
{
	gv_index *ix = r->st->ix;
	gv_sector *s = gv_store_sector_handle(r->st, rp->sector, NULL, 0);
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if (partial && s) {
		/* Claim nothing before the bytes go (see copy_to). */
		if (rp->ranges.n > 0) {
			err = record_ranges(ix, &rp->key, rp->sector, 0, 0);
			if (err < 0 && err != GV_ENOTFOUND)
				return;
		}
		err = gv_sector_del(s, &rp->key);
		if (err < 0 && err != GV_ENOTFOUND)
			return;
	}
	err = gv_index_replica_remove(ix, &rp->key, rp->sector);
	if (err < 0 && err != GV_ENOTFOUND) {
		gv_warn("event=repair_drop_failed key=%s sector=%s error=\"%s\"",
		        gv_key_format(kbuf, &rp->key), rp->sector, gv_error_last());
		return;
	}
	if (!partial && s) {
		err = gv_sector_del(s, &rp->key);
		if (err < 0 && err != GV_ENOTFOUND)
			gv_debug("event=repair_delete_failed key=%s sector=%s error=\"%s\"",
			         gv_key_format(kbuf, &rp->key), rp->sector, gv_error_last());
	}
	pthread_mutex_lock(&r->mu);
	r->sum.replicas_removed++;
	pthread_mutex_unlock(&r->mu);
}

static int record_ranges(gv_index *ix, const gv_key *key, const char *sector, uint64_t upto,
                         int create)
{
	gv_rangeset rs = GV_RANGESET_INIT;
	int err;

	if ((err = gv_rangeset_add(&rs, 0, upto)) < 0)
		return err;
	if (create) {
		gv_replica rp;

		memset(&rp, 0, sizeof(rp));
		rp.key = *key;
		snprintf(rp.sector, sizeof(rp.sector), "%s", sector);
		rp.ranges = rs;
		rp.healthy = 1;
		err = gv_index_replica_put(ix, &rp);
	} else {
		err = gv_index_replica_set_ranges(ix, key, sector, &rs);
	}
	gv_rangeset_free(&rs);
	return err;
}

/* The empty row of a resumable copy, while the blob is still in the index
 * (recording a replica creates a missing blob row: a repair must not bring
 * back a deleted blob). */
static int start_partial(gv_store *st, const gv_key *key, const char *target)
{
	int err;

	if ((err = gv_key_lock(st, key)) < 0)
		return err;
	err = gv_index_blob_exists(st->ix, key, NULL);
	if (err == 0)
		err = gv_error_set(GV_ENOTFOUND, "the blob was deleted meanwhile");
	else if (err > 0)
		err = record_ranges(st->ix, key, target, 0, 1);
	gv_key_unlock(st, key);
	return err;
}

/*
 * A resumable copy into `target` failed: under the key lock, drop its
 * partial row, then the bytes no row counts on.  A complete row there is
 * not this copy's (an identical put recorded its own bytes meanwhile) and
 * stays with its bytes; so do bytes whose row cannot be removed (extra
 * bytes are harmless, a row without bytes is not).
 */
static void drop_partial(gv_store *st, const gv_key *key, const char *target)
{
	gv_index *ix = st->ix;
	gv_replica *reps = NULL, *row = NULL;
	char kbuf[GV_KEY_BUFSIZE];
	size_t n = 0, i;
	int err;

	gv_key_format(kbuf, key);
	if ((err = gv_key_lock(st, key)) < 0) {
		gv_warn("event=repair_partial_kept key=%s sector=%s error=\"%s\"", kbuf, target,
		        gv_error_last());
		return;
	}
	err = gv_index_replicas_find(ix, key, &reps, &n);
	if (err < 0 && err != GV_ENOTFOUND)
		goto out_kept;
	for (i = 0; i < n; i++)
		if (strcmp(reps[i].sector, target) == 0)
			row = &reps[i];
	if (row && gv_rangeset_is_full(&row->ranges, key->size))
		goto out;
	if (row && (err = gv_index_replica_remove(ix, key, target)) < 0 && err != GV_ENOTFOUND)
		goto out_kept;
	if (gv_store_drop_unrecorded(st, key, target) < 0)
		goto out_kept;
	goto out;

out_kept:
	gv_errlog("event=index_error op=repair_drop_partial key=%s sector=%s error=\"%s\"", kbuf,
	          target, gv_error_last());
out:
	gv_key_unlock(st, key);
	gv_replicas_free(reps, n);
}

enum { SRC_OK = 0, SRC_READ_ERR = 1, SRC_MISMATCH = 2, DST_ERR = 3 };

/*
 * Stream `src` into w: hash [0, keep) without writing (those bytes are in
 * w already), then hash and write [keep, size).  For a resumable copy, sync
 * and record the durable prefix every RESUME_STEP bytes.
 */
static int copy_from(run *r, gv_sector *src, gv_sector_writer *w, const gv_key *key,
                     uint64_t keep, const char *target, int resumable, char *buf,
                     uint64_t *written)
{
	gv_sector_reader *rd = NULL;
	gv_sha256 *h = NULL;
	uint8_t d[GV_DIGEST_LEN];
	uint64_t pos = 0, last_sync = w->offset;
	int rc = SRC_OK, err;

	if (gv_sha256_new(&h) < 0)
		return DST_ERR;
	if (gv_sector_reader_open(&rd, src, key, 0, UINT64_MAX) < 0) {
		rc = SRC_READ_ERR;
		goto out;
	}
	while (pos < key->size) {
		ssize_t n = gv_sector_reader_read(rd, buf, COPY_BUF);

		if (n < 0 || (n == 0 && pos < key->size)) {
			if (n == 0)
				gv_error_set(GV_ECORRUPT, "size mismatch: source ended at byte %llu",
				             (unsigned long long)pos);
			rc = SRC_READ_ERR;
			goto out;
		}
		gv_sha256_update(h, buf, (size_t)n);
		if (pos + (uint64_t)n > keep) {
			uint64_t skip = pos < keep ? keep - pos : 0;
			size_t len = (size_t)((uint64_t)n - skip);

			limit(r, len);
			if ((err = gv_sector_writer_write(w, buf + skip, len)) < 0) {
				rc = DST_ERR;
				goto out;
			}
			*written += len;
			pthread_mutex_lock(&r->mu);
			r->bytes_done += len;
			pthread_mutex_unlock(&r->mu);
		}
		pos += (uint64_t)n;
		if (resumable && w->offset - last_sync >= RESUME_STEP && w->offset < key->size) {
			if (gv_sector_writer_sync(w) < 0 ||
			    record_ranges(r->st->ix, key, target, w->offset, 0) < 0) {
				rc = DST_ERR;
				goto out;
			}
			last_sync = w->offset;
		}
		if (cancelled(r)) {
			rc = DST_ERR;
			gv_error_set(GV_ECANCELED, "cancelled");
			goto out;
		}
	}
	gv_sha256_final(h, d);
	if (memcmp(d, key->digest, GV_DIGEST_LEN) != 0) {
		gv_error_set(GV_ECORRUPT, "checksum mismatch");
		rc = SRC_MISMATCH;
	}
out:
	gv_sector_reader_close(rd);
	gv_sha256_free(h);
	return rc;
}

/*
 * Copy key into `target` from the first source that works.  `row` is the
 * target's existing (partial) replica row or NULL.  Returns 0 once the copy
 * is committed and recorded.
 */
static int copy_to(run *r, const gv_key *key, char srcs[][GV_ID_MAX], size_t nsrc,
                   const char *target, const gv_replica *row, uint64_t *written,
                   uint64_t *resumed, char *buf)
{
	gv_store *st = r->st;
	gv_sector *dst = gv_store_sector_handle(st, target, NULL, 0);
	gv_sector_writer *w = NULL;
	int resumable = key->size >= RESUME_MIN;
	uint64_t keep = 0;
	size_t i;
	int err, rc;

	if (!dst)
		return gv_error_set(GV_EIO, "target sector %s is not available", target);
	if (resumable) {
		uint64_t rec = 0;

		if (row && row->ranges.n > 0 && row->ranges.r[0].start == 0)
			rec = row->ranges.r[0].end;
		if (!row && (err = start_partial(st, key, target)) < 0)
			return err;
		if ((err = gv_sector_writer_open(&w, dst, key, GV_WRITE_RESUME)) < 0)
			return err;
		/* Trust only what the index recorded as durable. */
		keep = w->offset < rec ? w->offset : rec;
		if (keep < w->offset && (err = gv_sector_writer_truncate(w, keep)) < 0) {
			gv_sector_writer_abort(w, 0);
			w = NULL;
			if ((err = gv_sector_writer_open(&w, dst, key, GV_WRITE_RESUME)) < 0)
				return err;
			keep = 0;
			if (w->offset && (err = gv_sector_writer_truncate(w, 0)) < 0)
				goto fail;
		}
		*resumed = keep;
		/* The index must never claim more than the partial holds (the
		 * row outlived its bytes: a kill after the commit, or after a
		 * failed copy dropped them). */
		if (keep < rec && (err = record_ranges(st->ix, key, target, keep, 0)) < 0)
			goto fail;
	} else if ((err = gv_sector_writer_open(&w, dst, key, 0)) < 0) {
		return err;
	}

	for (i = 0; i < nsrc; i++) {
		gv_sector *src = gv_store_sector_handle(st, srcs[i], NULL, 0);
		char reason[GV_REASON_MAX];

		if (!src)
			continue;
		rc = copy_from(r, src, w, key, w->offset, target, resumable, buf, written);
		if (rc == SRC_OK)
			break;
		if (rc == DST_ERR) {
			err = gv_error_last()[0] && strstr(gv_error_last(), "cancelled") ? GV_ECANCELED
			                                                                : GV_EIO;
			goto fail;
		}
		snprintf(reason, sizeof(reason), "%s",
		         rc == SRC_MISMATCH ? "checksum mismatch" : gv_error_last());
		gv_store_mark_unhealthy_as(st, key, srcs[i], reason, "repair");
		if (rc == SRC_MISMATCH && (err = gv_sector_writer_truncate(w, 0)) < 0)
			goto fail;
		/* A read error keeps what was written: the next source goes on
		 * from there and the digest still covers every byte. */
	}
	if (i == nsrc) {
		err = gv_error_set(GV_ENO_HEALTHY_SOURCE, "NoHealthySource: no source could be read");
		goto fail;
	}
	err = gv_sector_writer_commit(w, key);
	w = NULL;
	if (err < 0)
		goto fail;
	if (keep > 0 && (err = gv_replica_verify(dst, key, NULL, 0, NULL, NULL, NULL)) < 0)
		goto fail_row;
	/* The copy counts only if the blob is still there: a DELETE that ran
	 * meanwhile wins, and the copy's bytes go. */
	if ((err = gv_key_lock(st, key)) < 0)
		return err;
	err = gv_store_record_late(st, key, target);
	gv_key_unlock(st, key);
	return err;

fail:
	if (w)
		gv_sector_writer_abort(w, resumable && err == GV_ECANCELED);
	if (err == GV_ECANCELED)
		return err;
fail_row:
	if (resumable) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		drop_partial(st, key, target);
		gv_error_set(err, "%s", msg);
	}
	return err;
}

static int cmp_verified_desc(const void *a, const void *b, void *reps)
{
	const gv_replica *ra = &((gv_replica *)reps)[*(const size_t *)a];
	const gv_replica *rb = &((gv_replica *)reps)[*(const size_t *)b];

	if (ra->last_verified != rb->last_verified)
		return ra->last_verified > rb->last_verified ? -1 : 1;
	return strcmp(ra->sector, rb->sector);
}

/* Load a key's rows and the sectors; classify. */
static int load_key(run *r, const gv_key *key, keystate *ks, gv_sector_info **sectors,
                    size_t *nsectors)
{
	gv_index *ix = r->st->ix;
	gv_replica *reps = NULL;
	size_t n = 0;
	int err;

	*sectors = NULL;
	if ((err = gv_index_replicas_find(ix, key, &reps, &n)) < 0)
		return err;
	if ((err = gv_store_sectors_measured(r->st, sectors, nsectors)) < 0) {
		gv_replicas_free(reps, n);
		return err;
	}
	classify(ks, reps, n, *sectors, *nsectors);
	qsort_r(ks->healthy, ks->nh, sizeof(size_t), cmp_verified_desc, reps);
	return 0;
}

/* Drop the bad rows (and unused partials) of a key now at its factor. */
static int cleanup(run *r, keystate *ks, const char (*keep)[GV_ID_MAX], size_t nkeep,
                   gv_repair_event *ev)
{
	size_t i, j;
	int n = 0;

	for (i = 0; i < ks->nb; i++) {
		const gv_replica *rp = &ks->reps[ks->bad[i]];

		/* A bad copy that a fresh one just replaced in place stays. */
		for (j = 0; j < nkeep; j++)
			if (strcmp(keep[j], rp->sector) == 0)
				break;
		if (j < nkeep)
			continue;
		if (!r->o.dry_run)
			drop_replica(r, rp, !gv_rangeset_is_full(&rp->ranges, rp->key.size));
		if (ev->nremoved < GV_REPAIR_MAX_TARGETS)
			snprintf(ev->removed[ev->nremoved++], GV_ID_MAX, "%s", rp->sector);
		n++;
	}
	for (i = 0; i < ks->np; i++) {
		const gv_replica *rp = &ks->reps[ks->partial[i]];

		for (j = 0; j < nkeep; j++)
			if (strcmp(keep[j], rp->sector) == 0)
				break;
		if (j < nkeep)
			continue;
		if (!r->o.dry_run)
			drop_replica(r, rp, 1);
		if (ev->nremoved < GV_REPAIR_MAX_TARGETS)
			snprintf(ev->removed[ev->nremoved++], GV_ID_MAX, "%s", rp->sector);
		n++;
	}
	return n;
}

/*
 * The durable queue learns each job's outcome (not a dry run's): a key
 * repaired, or found with nothing to do, leaves it; a failure counts an
 * attempt (queueing the key when a full scan's job failed).
 */
static void settle(run *r, const gv_key *key, int ok, const char *error)
{
	gv_store *st = r->st;
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if (r->o.dry_run)
		return;
	err = ok ? gv_repairq_done(&st->repairq, st->ix, key)
	         : gv_repairq_failed(&st->repairq, st->ix, key, "repair failed",
	                             error && *error ? error : "repair failed", &r->o);
	if (err < 0)
		gv_errlog("event=index_error op=repair_queue key=%s error=\"%s\"",
		          gv_key_format(kbuf, key), gv_error_last());
}

/* A job's end; `ev` its event (NULL: the key changed meanwhile, so the
 * queue is left as it is). */
static void count_job(run *r, const gv_repair_event *ev, int ok, int lost)
{
	pthread_mutex_lock(&r->mu);
	r->jobs_done++;
	if (lost)
		r->sum.lost++;
	else if (ok)
		r->sum.keys_repaired++;
	else
		r->sum.failed++;
	if (r->o.on_progress)
		r->o.on_progress(r->bytes_done, r->bytes_total, r->jobs_done, r->jobs_total,
		                 r->o.payload);
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&r->st->stats_lock);
	if (!r->o.dry_run) {
		if (ok)
			r->st->repair.jobs_completed++;
		else if (!lost)
			r->st->repair.jobs_failed++;
	}
	if (r->st->repair.queue_size > 0)
		r->st->repair.queue_size--;
	pthread_mutex_unlock(&r->st->stats_lock);
	if (ev)
		settle(r, &ev->key, ok, ev->message);
}

static void run_tidy(run *r, const gv_key *key);

/* A job that found nothing to do (the key was deleted): done, neither
 * repaired nor failed. */
static void count_skip(run *r, const gv_key *key)
{
	pthread_mutex_lock(&r->mu);
	r->jobs_done++;
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&r->st->stats_lock);
	if (r->st->repair.queue_size > 0)
		r->st->repair.queue_size--;
	pthread_mutex_unlock(&r->st->stats_lock);
	settle(r, key, 1, NULL);
}

static void run_copy(run *r, const gv_key *key)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, i, npicks = 0;
	char srcs[GV_REPAIR_MAX_TARGETS * 2][GV_ID_MAX];
	char chosen[GV_REPAIR_MAX_TARGETS][GV_ID_MAX];
	const gv_replica *chosen_row[GV_REPAIR_MAX_TARGETS];
	const char *placed[GV_REPAIR_MAX_TARGETS * 3], *exclude[GV_REPAIR_MAX_TARGETS * 4];
	size_t picks[GV_REPAIR_MAX_TARGETS], nplaced = 0, nexcl = 0, nchosen = 0;
	char msg[512] = "";
	gv_repair_event ev;
	gv_placement_req req;
	keystate ks;
	char *buf = NULL;
	int need, written = 0, err, perr = 0;

	err = load_key(r, key, &ks, &sectors, &nsectors);
	if (err == GV_ENOTFOUND) {
		/* Deleted since it was queued or scanned: nothing to repair. */
		count_skip(r, key);
		return;
	}
	if (err < 0) {
		event_init(&ev, r, GV_REPAIR_COPY, key, 0);
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		event_fail(&ev, err, msg);
		emit(r, &ev, 0);
		count_job(r, &ev, 0, 0);
		return;
	}
	event_init(&ev, r, GV_REPAIR_COPY, key, (int)ks.nh);
	if (ks.nh == 0) {
		ev.action = GV_REPAIR_LOST;
		event_fail(&ev, GV_ELOST, "no healthy replica left");
		emit(r, &ev, 0);
		count_job(r, &ev, 0, 1);
		goto out;
	}
	need = r->popt.factor - (int)ks.nh;
	if (need <= 0) {
		/* Already at the factor (queued keys, or repaired meanwhile):
		 * only the tidy work can be left. */
		free(sectors);
		gv_replicas_free(ks.reps, ks.n);
		run_tidy(r, key);
		return;
	}
	if (need > GV_REPAIR_MAX_TARGETS)
		need = GV_REPAIR_MAX_TARGETS;
	for (i = 0; i < ks.nh; i++) {
		snprintf(srcs[i], GV_ID_MAX, "%s", ks.reps[ks.healthy[i]].sector);
		placed[nplaced++] = ks.reps[ks.healthy[i]].sector;
	}
	snprintf(ev.source, sizeof(ev.source), "%s", srcs[0]);

	/* Resume interrupted copies whose sector still takes data and whose
	 * failure domain is still new to this key. */
	for (i = 0; i < ks.np && (int)nchosen < need; i++) {
		const gv_replica *rp = &ks.reps[ks.partial[i]];
		gv_placement_report before, after;
		const char *with[GV_REPAIR_MAX_TARGETS * 3];
		int fresh;

		memcpy(with, placed, nplaced * sizeof(*with));
		with[nplaced] = rp->sector;
		gv_placement_check(&before, &r->popt, sectors, nsectors, placed, nplaced);
		gv_placement_check(&after, &r->popt, sectors, nsectors, with, nplaced + 1);
		fresh = r->popt.strategy == GV_STRATEGY_SIMPLE ||
		        (r->popt.strategy == GV_STRATEGY_RACK_AWARE ? after.racks > before.racks
		                                                    : after.zones > before.zones);
		if (!fresh)
			continue; /* dropped by the cleanup once the key is safe */
		snprintf(chosen[nchosen], GV_ID_MAX, "%s", rp->sector);
		chosen_row[nchosen++] = rp;
		placed[nplaced++] = rp->sector;
	}
	/* Everything else holding a row is excluded as a target. */
	for (i = 0; i < ks.n; i++) {
		size_t j;
		int in = 0;

		for (j = 0; j < nplaced; j++)
			if (strcmp(placed[j], ks.reps[i].sector) == 0)
				in = 1;
		if (!in)
			exclude[nexcl++] = ks.reps[i].sector;
	}
	if ((int)nchosen < need) {
		memset(&req, 0, sizeof(req));
		req.key = key;
		req.placed = placed;
		req.nplaced = nplaced;
		req.exclude = exclude;
		req.nexclude = nexcl;
		req.want = (size_t)need - nchosen;
		perr = gv_placement_choose(picks, &npicks, &r->popt, sectors, nsectors, &req);
		if (perr < 0 && ks.nb > 0) {
			/* Not enough room elsewhere: a sector holding a bad copy may
			 * take a fresh one (the commit replaces the bad bytes, the
			 * row turns healthy). */
			size_t picks2[GV_REPAIR_MAX_TARGETS], npicks2 = 0, nex2 = 0, j;
			int perr2;

			for (i = 0; i < nexcl; i++) {
				for (j = 0; j < ks.nb; j++)
					if (strcmp(exclude[i], ks.reps[ks.bad[j]].sector) == 0)
						break;
				if (j == ks.nb)
					exclude[nex2++] = exclude[i];
			}
			req.nexclude = nex2;
			perr2 = gv_placement_choose(picks2, &npicks2, &r->popt, sectors, nsectors, &req);
			if (perr2 == 0 || npicks2 > npicks) {
				memcpy(picks, picks2, npicks2 * sizeof(*picks));
				npicks = npicks2;
				perr = perr2;
			}
		}
		if (perr < 0)
			snprintf(msg, sizeof(msg), "%s", gv_error_last());
		for (i = 0; i < npicks; i++) {
			size_t k;

			snprintf(chosen[nchosen], GV_ID_MAX, "%s", sectors[picks[i]].id);
			chosen_row[nchosen] = NULL;
			/* A pick that holds an interrupted copy resumes it. */
			for (k = 0; k < ks.np; k++)
				if (strcmp(ks.reps[ks.partial[k]].sector, chosen[nchosen]) == 0)
					chosen_row[nchosen] = &ks.reps[ks.partial[k]];
			nchosen++;
		}
	}
	/* Still short: an interrupted copy that adds no new domain still
	 * brings the key back to its factor (else its row would keep its
	 * sector from ever being chosen). */
	for (i = 0; i < ks.np && (int)nchosen < need; i++) {
		const gv_replica *rp = &ks.reps[ks.partial[i]];
		size_t j;

		for (j = 0; j < nchosen; j++)
			if (strcmp(chosen[j], rp->sector) == 0)
				break;
		if (j < nchosen)
			continue;
		snprintf(chosen[nchosen], GV_ID_MAX, "%s", rp->sector);
		chosen_row[nchosen++] = rp;
	}
	for (i = 0; i < nchosen; i++)
		snprintf(ev.targets[ev.ntargets++], GV_ID_MAX, "%.63s", chosen[i]);
	ev.bytes = key->size * nchosen;
	if (nchosen == 0) {
		event_fail(&ev, perr ? perr : GV_EINSUFFICIENT_SECTORS,
		           msg[0] ? msg : "no eligible target sector");
		emit(r, &ev, 0);
		count_job(r, &ev, 0, 0);
		goto out;
	}
	if (r->o.dry_run) {
		if ((int)(ks.nh + nchosen) >= r->popt.factor)
			cleanup(r, &ks, chosen, nchosen, &ev);
		emit(r, &ev, 1);
		count_job(r, &ev, 1, 0);
		goto out;
	}

	buf = malloc(COPY_BUF);
	if (!buf) {
		event_fail(&ev, GV_ENOMEM, "out of memory");
		emit(r, &ev, 0);
		count_job(r, &ev, 0, 0);
		goto out;
	}
	ev.bytes = 0;
	err = 0;
	for (i = 0; i < nchosen && !cancelled(r); i++) {
		uint64_t w = 0, resumed = 0;
		int e = copy_to(r, key, srcs, ks.nh, chosen[i], chosen_row[i], &w, &resumed, buf);

		ev.bytes += w;
		ev.resumed_bytes += resumed;
		if (e < 0) {
			err = e;
			snprintf(msg, sizeof(msg), "target %s: %s", chosen[i], gv_error_last());
			continue;
		}
		written++;
	}
	pthread_mutex_lock(&r->mu);
	r->sum.replicas_written += (uint64_t)written;
	r->sum.bytes_copied += ev.bytes;
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&r->st->stats_lock);
	r->st->repair.bytes_copied += ev.bytes;
	pthread_mutex_unlock(&r->st->stats_lock);

	if ((int)ks.nh + written >= r->popt.factor) {
		/* Protected again: the bad copies can go (rows, then bytes). */
		char kept[GV_REPAIR_MAX_TARGETS][GV_ID_MAX];
		size_t nk = 0;

		for (i = 0; i < nchosen; i++)
			snprintf(kept[nk++], GV_ID_MAX, "%s", chosen[i]);
		cleanup(r, &ks, kept, nk, &ev);
	}
	if (err < 0 || written == 0) {
		event_fail(&ev, err < 0 ? err : GV_ERROR, msg[0] ? msg : "no copy succeeded");
		emit(r, &ev, 0);
		count_job(r, &ev, 0, 0);
	} else {
		emit(r, &ev, 1);
		count_job(r, &ev, 1, 0);
	}
out:
	free(buf);
	free(sectors);
	gv_replicas_free(ks.reps, ks.n);
}

/* TRIM surplus, MOVE out of a crowded domain, CLEANUP bad rows. */
static void run_tidy(run *r, const gv_key *key)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, i;
	const char *ids[GV_REPAIR_MAX_TARGETS * 2 + 1];
	char msg[512] = "";
	gv_repair_event ev;
	keystate ks;
	char *buf = NULL;
	int err, ok = 1;

	err = load_key(r, key, &ks, &sectors, &nsectors);
	if (err == GV_ENOTFOUND) {
		count_skip(r, key);
		return;
	}
	if (err < 0) {
		event_init(&ev, r, GV_REPAIR_CLEANUP, key, 0);
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		event_fail(&ev, err, msg);
		emit(r, &ev, 0);
		count_job(r, &ev, 0, 0);
		return;
	}
	event_init(&ev, r, GV_REPAIR_CLEANUP, key, (int)ks.nh);
	if ((int)ks.nh < r->popt.factor) {
		/* Changed since the scan: a copy pass will see it next run. */
		count_job(r, NULL, 1, 0);
		goto out;
	}
	for (i = 0; i < ks.nh; i++)
		ids[i] = ks.reps[ks.healthy[i]].sector;

	if ((int)ks.nh == r->popt.factor && misplaced(r, &ks, sectors, nsectors)) {
		/* Add a copy in a new failure domain; the trim below then drops
		 * one from the crowded domain. */
		gv_placement_req req;
		gv_placement_report before, after;
		const char *excl[GV_REPAIR_MAX_TARGETS * 2];
		char srcs[GV_REPAIR_MAX_TARGETS * 2][GV_ID_MAX];
		size_t pick, npick = 0, ne = 0;

		ev.action = GV_REPAIR_MOVE;
		for (i = 0; i < ks.nb; i++)
			excl[ne++] = ks.reps[ks.bad[i]].sector;
		for (i = 0; i < ks.np; i++)
			excl[ne++] = ks.reps[ks.partial[i]].sector;
		memset(&req, 0, sizeof(req));
		req.key = key;
		req.placed = ids;
		req.nplaced = ks.nh;
		req.exclude = excl;
		req.nexclude = ne;
		req.want = 1;
		gv_placement_choose(&pick, &npick, &r->popt, sectors, nsectors, &req);
		gv_placement_check(&before, &r->popt, sectors, nsectors, ids, ks.nh);
		if (npick == 1) {
			ids[ks.nh] = sectors[pick].id;
			gv_placement_check(&after, &r->popt, sectors, nsectors, ids, ks.nh + 1);
		}
		if (npick == 1 && (after.racks > before.racks || after.zones > before.zones)) {
			snprintf(ev.source, sizeof(ev.source), "%s", ks.reps[ks.healthy[0]].sector);
			snprintf(ev.targets[ev.ntargets++], GV_ID_MAX, "%s", sectors[pick].id);
			ev.bytes = key->size;
			if (!r->o.dry_run) {
				uint64_t w = 0, resumed = 0;

				for (i = 0; i < ks.nh; i++)
					snprintf(srcs[i], GV_ID_MAX, "%s", ks.reps[ks.healthy[i]].sector);
				buf = malloc(COPY_BUF);
				err = buf ? copy_to(r, key, srcs, ks.nh, sectors[pick].id, NULL, &w,
				                    &resumed, buf)
				          : gv_error_set(GV_ENOMEM, "out of memory");
				if (err < 0) {
					snprintf(msg, sizeof(msg), "%s", gv_error_last());
					ok = 0;
				} else {
					pthread_mutex_lock(&r->mu);
					r->sum.replicas_written++;
					r->sum.bytes_copied += w;
					pthread_mutex_unlock(&r->mu);
				}
			}
			if (ok) {
				/* Re-read: the trim must see the new replica. */
				free(sectors);
				gv_replicas_free(ks.reps, ks.n);
				sectors = NULL;
				memset(&ks, 0, sizeof(ks));
				if (!r->o.dry_run) {
					if ((err = load_key(r, key, &ks, &sectors, &nsectors)) < 0) {
						snprintf(msg, sizeof(msg), "%s", gv_error_last());
						ok = 0;
						goto report;
					}
					for (i = 0; i < ks.nh; i++)
						ids[i] = ks.reps[ks.healthy[i]].sector;
				} else {
					/* Dry run: plan the trim as if the copy were made. */
					if ((err = load_key(r, key, &ks, &sectors, &nsectors)) < 0)
						goto report;
					for (i = 0; i < ks.nh; i++)
						ids[i] = ks.reps[ks.healthy[i]].sector;
					ids[ks.nh] = ev.targets[0];
					ks.nh++;
				}
			}
		}
	}

	if (ok && (int)ks.nh > r->popt.factor) {
		size_t out[GV_REPAIR_MAX_TARGETS * 2];
		size_t nrem = ks.nh - (size_t)r->popt.factor;

		if (ev.action == GV_REPAIR_CLEANUP)
			ev.action = GV_REPAIR_TRIM;
		if (gv_placement_trim(out, &r->popt, sectors, nsectors, ids, ks.nh, nrem) == 0) {
			for (i = 0; i < nrem; i++) {
				size_t h;

				if (ev.nremoved < GV_REPAIR_MAX_TARGETS)
					snprintf(ev.removed[ev.nremoved++], GV_ID_MAX, "%s", ids[out[i]]);
				if (r->o.dry_run)
					continue;
				for (h = 0; h < ks.nh; h++)
					if (ks.healthy[h] < ks.n &&
					    strcmp(ks.reps[ks.healthy[h]].sector, ids[out[i]]) == 0)
						drop_replica(r, &ks.reps[ks.healthy[h]], 0);
			}
		} else {
			snprintf(msg, sizeof(msg), "%s", gv_error_last());
			ok = 0;
		}
	}
	if (ok)
		cleanup(r, &ks, NULL, 0, &ev);
report:
	if (!ok)
		event_fail(&ev, GV_ERROR, msg);
	emit(r, &ev, ok);
	count_job(r, &ev, ok, 0);
out:
	free(buf);
	free(sectors);
	gv_replicas_free(ks.reps, ks.n);
}

static void job_main(void *p, void *payload)
{
	job *j = p;
	run *r = payload;

	if (!cancelled(r)) {
		if (j->kind == JOB_COPY)
			run_copy(r, &j->key);
		else
			run_tidy(r, &j->key);
	} else {
		pthread_mutex_lock(&r->st->stats_lock);
		if (r->st->repair.queue_size > 0)
			r->st->repair.queue_size--;
		pthread_mutex_unlock(&r->st->stats_lock);
	}
	free(j);
}

/* ---- scanning ------------------------------------------------------------ */

enum { PASS_SURVEY, PASS_COPY, PASS_TIDY };

static int cmp_job_age(const void *a, const void *b)
{
	const job *x = *(job *const *)a, *y = *(job *const *)b;

	if (x->age != y->age)
		return x->age < y->age ? -1 : 1;
	return gv_key_cmp(&x->key, &y->key);
}

/*
 * One pass over the index.  PASS_COPY queues keys with exactly `level`
 * healthy replicas; PASS_TIDY keys at or above the factor that are over,
 * misplaced or carry bad rows; PASS_SURVEY only counts.
 */
static int scan(run *r, int pass, int level, gv_workq *q)
{
	gv_index *ix = r->st->ix;
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0;
	gv_key after;
	int have_after = 0, err = 0;
	size_t batch = r->o.batch_size ? r->o.batch_size : 100;
	job **jobs = calloc(batch, sizeof(*jobs));

	if (!jobs)
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = gv_index_sector_list(ix, &sectors, &nsectors)) < 0)
		goto out;
	for (;;) {
		gv_blob_entry *e = NULL;
		size_t n = 0, i, nj = 0;

		if (cancelled(r)) {
			err = GV_ECANCELED;
			break;
		}
		if ((err = gv_index_blobs_next(ix, have_after ? &after : NULL, batch, &e, &n)) < 0)
			break;
		if (n == 0) {
			gv_blob_entries_free(e, n);
			break;
		}
		for (i = 0; i < n; i++) {
			keystate ks;
			int h, over, mis;

			classify(&ks, e[i].replicas, e[i].nreplicas, sectors, nsectors);
			h = (int)ks.nh;
			over = h > r->popt.factor;
			mis = h >= r->popt.factor && misplaced(r, &ks, sectors, nsectors);
			if (pass == PASS_SURVEY) {
				r->sum.keys_scanned++;
				if (h == 0) {
					gv_repair_event ev;

					event_init(&ev, r, GV_REPAIR_LOST, &e[i].key, 0);
					event_fail(&ev, GV_ELOST, "no healthy replica left");
					emit(r, &ev, 0);
					r->sum.lost++;
				} else if (h < r->popt.factor) {
					r->sum.keys_needing_repair++;
					r->jobs_total++;
					r->bytes_total += e[i].key.size * (uint64_t)(r->popt.factor - h);
				} else if (over || mis || ks.nb || ks.np) {
					r->sum.keys_needing_repair++;
					r->jobs_total++;
					if (mis)
						r->bytes_total += e[i].key.size;
				}
				continue;
			}
			if (pass == PASS_COPY ? h != level
			                      : !(h >= r->popt.factor && (over || mis || ks.nb || ks.np)))
				continue;
			jobs[nj] = malloc(sizeof(**jobs));
			if (!jobs[nj]) {
				err = gv_error_set(GV_ENOMEM, "out of memory");
				break;
			}
			jobs[nj]->key = e[i].key;
			jobs[nj]->kind = pass == PASS_COPY ? JOB_COPY : JOB_TIDY;
			jobs[nj]->age = ks.age;
			nj++;
		}
		after = e[n - 1].key;
		have_after = 1;
		gv_blob_entries_free(e, n);
		/* Within a batch, the oldest verified go first. */
		qsort(jobs, nj, sizeof(*jobs), cmp_job_age);
		for (i = 0; i < nj; i++) {
			pthread_mutex_lock(&r->st->stats_lock);
			r->st->repair.queue_size++;
			pthread_mutex_unlock(&r->st->stats_lock);
			gv_workq_push(q, jobs[i]);
			jobs[i] = NULL;
		}
		if (err < 0)
			break;
	}
out:
	free(sectors);
	free(jobs);
	return err;
}

static run *run_new(gv_store *st, const gv_repair_opts *opts)
{
	run *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->st = st;
	r->o = opts ? *opts : (gv_repair_opts)GV_REPAIR_OPTS_INIT;
	r->popt = gv_store_placement(st);
	pthread_mutex_init(&r->mu, NULL);
	gv_limiter_init(&r->lim, r->o.max_bytes_per_second);
	r->t0 = gv_now_ms();
	return r;
}

/* Finish a run: counters, log line, summary; frees r. */
static void run_end(run *r, gv_repair_summary *out)
{
	gv_store *st = r->st;
	double dt;

	r->sum.duration_ms = gv_now_ms() - r->t0;
	dt = (double)r->sum.duration_ms / 1000.0;
	pthread_mutex_lock(&st->stats_lock);
	st->repair.queue_size = 0;
	if (!r->o.dry_run) {
		st->repair.runs++;
		st->repair.last_run_ms = gv_now_ms();
		st->repair.rate = dt > 0 ? (double)r->sum.bytes_copied / dt : 0;
	}
	pthread_mutex_unlock(&st->stats_lock);
	*out = r->sum;
	gv_info("event=repair_end scanned=%llu repaired=%llu written=%llu removed=%llu bytes=%llu "
	        "lost=%llu failed=%llu ms=%lld",
	        (unsigned long long)out->keys_scanned, (unsigned long long)out->keys_repaired,
	        (unsigned long long)out->replicas_written, (unsigned long long)out->replicas_removed,
	        (unsigned long long)out->bytes_copied, (unsigned long long)out->lost,
	        (unsigned long long)out->failed, (long long)out->duration_ms);
	gv_limiter_destroy(&r->lim);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static unsigned workers_of(const run *r)
{
	return r->o.parallel_jobs ? r->o.parallel_jobs : 4;
}

int gv_repair_run(gv_store *st, const gv_repair_opts *opts, gv_repair_summary *out)
{
	gv_workq *q = NULL;
	run *r;
	int err, level;

	memset(out, 0, sizeof(*out));
	r = run_new(st, opts);
	if (!r)
		return gv_error_set(GV_ENOMEM, "out of memory");

	gv_info("event=repair_start dry_run=%d parallel_jobs=%u", r->o.dry_run,
	        r->o.parallel_jobs ? r->o.parallel_jobs : 4);
	if ((err = scan(r, PASS_SURVEY, 0, NULL)) < 0)
		goto out;
	if (r->o.on_progress)
		r->o.on_progress(0, r->bytes_total, 0, r->jobs_total, r->o.payload);
	/* A dry run plans in one thread so the plan comes out in risk order. */
	if ((err = gv_workq_new(&q, r->o.dry_run ? 1 : workers_of(r), workers_of(r) * 2, job_main,
	                        r)) < 0)
		goto out;
	for (level = 1; level < r->popt.factor && err == 0; level++) {
		err = scan(r, PASS_COPY, level, q);
		gv_workq_wait(q);
	}
	if (err == 0) {
		err = scan(r, PASS_TIDY, 0, q);
		gv_workq_wait(q);
	}
out:
	gv_workq_free(q);
	run_end(r, out);
	return err;
}

void gv_repair_enqueue(gv_store *st, const gv_key *key, const char *reason)
{
	char kbuf[GV_KEY_BUFSIZE];

	if (gv_repairq_add(&st->repairq, st->ix, key, reason ? reason : "") < 0)
		gv_errlog("event=index_error op=repair_queue key=%s error=\"%s\"",
		          gv_key_format(kbuf, key), gv_error_last());
	else
		gv_debug("event=repair_queued key=%s reason=\"%s\"", gv_key_format(kbuf, key),
		         reason ? reason : "");
	pthread_mutex_lock(&st->stats_lock);
	st->repair_wake = 1;
	pthread_cond_broadcast(&st->wake_cond);
	pthread_mutex_unlock(&st->stats_lock);
}

/* Keys a queued run takes at most; the rest wait for the next. */
#define QUEUED_RUN_MAX 1000

int gv_repair_run_queued(gv_store *st, const gv_repair_opts *opts, gv_repair_summary *out)
{
	gv_key *keys;
	gv_workq *q = NULL;
	size_t n = 0, i;
	run *r;
	int err;

	memset(out, 0, sizeof(*out));
	keys = malloc(QUEUED_RUN_MAX * sizeof(*keys));
	if (!keys)
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = gv_repairq_due(&st->repairq, st->ix, QUEUED_RUN_MAX, keys, &n)) < 0 ||
	    n == 0) {
		free(keys);
		return err;
	}
	r = run_new(st, opts);
	if (!r) {
		free(keys);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	r->jobs_total = n;
	if ((err = gv_workq_new(&q, workers_of(r), workers_of(r) * 2, job_main, r)) == 0) {
		for (i = 0; i < n; i++) {
			job *j = calloc(1, sizeof(*j));

			if (!j)
				break;
			j->key = keys[i];
			j->kind = JOB_COPY;
			r->sum.keys_scanned++;
			pthread_mutex_lock(&st->stats_lock);
			st->repair.queue_size++;
			pthread_mutex_unlock(&st->stats_lock);
			gv_workq_push(q, j);
		}
		gv_workq_wait(q);
	}
	gv_workq_free(q);
	free(keys);
	run_end(r, out);
	return err;
}

int gv_repair_queue_list(gv_store *st, const gv_key *after, size_t limit,
                         gv_repairq_entry *out, size_t *out_n)
{
	return gv_index_repairq_list(st->ix, after, limit, out, out_n);
}

int gv_repair_queue_count(gv_store *st, uint64_t *queued, uint64_t *dead)
{
	return gv_index_repairq_count(st->ix, queued, dead);
}

void gv_repair_counters_get(gv_store *st, gv_repair_counters *out)
{
	pthread_mutex_lock(&st->stats_lock);
	*out = st->repair;
	pthread_mutex_unlock(&st->stats_lock);
}

void gv_repair_wake(gv_store *st)
{
	pthread_mutex_lock(&st->stats_lock);
	st->repair_full = 1;
	pthread_cond_broadcast(&st->wake_cond);
	pthread_mutex_unlock(&st->stats_lock);
}

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* How often the daemon looks for queued keys whose backoff has ended. */
#define QUEUE_POLL_MS 1000

void gv_repair_daemon(gv_store *st, const gv_repair_opts *opts, uint64_t interval_ms,
                      atomic_int *stop)
{
	gv_repair_opts o = opts ? *opts : (gv_repair_opts)GV_REPAIR_OPTS_INIT;
	struct timespec next_full, next_poll;
	int full = interval_ms > 0;

	o.cancel = stop;
	while (!*stop) {
		gv_repair_summary sum;
		int err;

		if (full) {
			err = gv_repair_run(st, &o, &sum);
			deadline_in(&next_full, interval_ms);
		} else {
			err = gv_repair_run_queued(st, &o, &sum);
		}
		if (err < 0 && err != GV_ECANCELED)
			gv_errlog("event=repair_run_failed error=\"%s\"", gv_error_last());
		deadline_in(&next_poll, QUEUE_POLL_MS);

		/* Sleep until the interval ends, a key is queued or the queue
		 * is due a look; wake at least every 100 ms to notice *stop. */
		pthread_mutex_lock(&st->stats_lock);
		for (;;) {
			struct timespec now, step;

			clock_gettime(CLOCK_MONOTONIC, &now);
			full = (interval_ms > 0 && !before(&now, &next_full)) || st->repair_full;
			if (*stop || full || st->repair_wake || !before(&now, &next_poll))
				break;
			deadline_in(&step, 100);
			if (interval_ms > 0 && before(&next_full, &step))
				step = next_full;
			pthread_cond_timedwait(&st->wake_cond, &st->stats_lock, &step);
		}
		st->repair_wake = 0;
		if (full)
			st->repair_full = 0;
		pthread_mutex_unlock(&st->stats_lock);
	}
}
