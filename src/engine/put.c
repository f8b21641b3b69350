/*
 * put.c - the write path.
 *
 *   open    choose the primary sector (weighted by measured free space,
 *           through the placement module with a random token whose size
 *           is the expected size, so sectors without room for it are
 *           skipped and an infeasible layout fails before any byte is read)
 *   write   stream into the primary's temporary file, hashing as it goes
 *   commit  key known: if enough healthy replicas exist, drop the temp
 *           (idempotent re-put); else commit the primary, choose the other
 *           targets for the real key, copy the primary to them in parallel
 *           and return once min-replicas copies are durable and indexed.
 *
 * Quorum bookkeeping lives in a reference-counted job shared with the copy
 * threads.  Until the committing thread decides, committed copies are only
 * listed; once the quorum is met they are recorded and later copies record
 * themselves; if it is not met, the bytes committed here are deleted and
 * nothing is recorded.
 *
 * The committing thread holds the key lock from "what exists already?"
 * to the decision, so identical puts, deletes and repairs of the key take
 * turns.  A copy finishing after the decision takes the key lock itself:
 * it records itself only while the blob is still in the index (a DELETE
 * meanwhile wins), and deletes its bytes only when no row counts on them
 * (an identical put may have recorded the same file).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/store.h"

struct gv_put {
	gv_store *st;
	gv_sha256 *h;
	gv_sector_writer *w;
	gv_sector *primary;
	char primary_id[GV_ID_MAX];
	uint64_t size;
	int has_expect;
	gv_key expect;
	int failed;
};

typedef struct put_job {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	gv_store *st;
	gv_key key;
	gv_sector *src;
	int healthy_before;      /* healthy replicas that existed already */
	int primary_held;        /* the primary already held a healthy copy */
	int pending;             /* copies still running */
	int decided;             /* 0 open, 1 quorum met, -1 failed */
	char committed[GV_MAX_REPLICAS][GV_ID_MAX]; /* committed, not yet recorded */
	int ncommitted;
	int recorded;            /* replicas recorded by this put */
	char recorded_ids[GV_MAX_REPLICAS + 1][GV_ID_MAX];
} put_job;

typedef struct copy_arg {
	put_job *job;
	gv_sector *dst;
	char dst_id[GV_ID_MAX];
} copy_arg;

static void job_unref(put_job *job)
{
	int last;

	pthread_mutex_lock(&job->mu);
	last = --job->refs == 0;
	pthread_mutex_unlock(&job->mu);
	if (!last)
		return;
	pthread_cond_destroy(&job->cv);
	pthread_mutex_destroy(&job->mu);
	free(job);
}

/* Record one replica of the job's key on `sector`; key lock held. */
static int record_replica(put_job *job, const char *sector)
{
	int err = gv_store_record_replica(job->st, &job->key, sector);

	if (err == 0 && job->recorded < GV_MAX_REPLICAS + 1)
		snprintf(job->recorded_ids[job->recorded++], GV_ID_MAX, "%.*s",
		         (int)GV_ID_MAX - 1, sector);
	return err;
}

/* A copy that finished after the put decided: record it (the put
 * succeeded and the blob is still there) or delete its bytes (the put
 * failed, or the blob was deleted meanwhile) unless a row counts on them. */
static void copy_late(put_job *job, const char *sector, int decided)
{
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	gv_key_format(kbuf, &job->key);
	if ((err = gv_key_lock(job->st, &job->key)) < 0) {
		gv_errlog("event=late_copy_kept key=%s sector=%s error=\"%s\"", kbuf, sector,
		          gv_error_last());
		return;
	}
	if (decided > 0) {
		err = gv_store_record_late(job->st, &job->key, sector);
		if (err == 0)
			gv_debug("event=late_copy_recorded key=%s sector=%s", kbuf, sector);
		else if (err == GV_ENOTFOUND)
			gv_info("event=late_copy_dropped key=%s sector=%s reason=deleted", kbuf,
			        sector);
		else if (err < 0)
			gv_errlog("event=index_error op=replica_put key=%s sector=%s error=\"%s\"",
			          kbuf, sector, gv_error_last());
	} else {
		gv_store_drop_unrecorded(job->st, &job->key, sector);
	}
	gv_key_unlock(job->st, &job->key);
}

static void *copy_main(void *p)
{
	copy_arg *a = p;
	put_job *job = a->job;
	char kbuf[GV_KEY_BUFSIZE];
	int err, decided;

	err = gv_copy_blob(job->src, a->dst, &job->key, 0);
	gv_store_sector_result(job->st, a->dst_id, err);
	gv_key_format(kbuf, &job->key);
	pthread_mutex_lock(&job->mu);
	decided = job->decided;
	if (err < 0)
		gv_warn("event=copy_failed key=%s sector=%s error=\"%s\"", kbuf, a->dst_id,
		        gv_error_last());
	else if (decided == 0 && job->ncommitted < GV_MAX_REPLICAS)
		snprintf(job->committed[job->ncommitted++], GV_ID_MAX, "%s", a->dst_id);
	else if (decided == 0)
		decided = -1;
	job->pending--;
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);
	/* The committing thread holds the key until it has decided; only
	 * after that may this thread wait for it. */
	if (err == 0 && decided != 0)
		copy_late(job, a->dst_id, decided);

	gv_store_bg_leave(job->st);
	job_unref(job);
	free(a);
	return NULL;
}

int gv_put_open(gv_put **out, gv_store *st, const gv_put_opts *opts)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, picks[GV_MAX_REPLICAS], npicks = 0, i;
	gv_placement_opts popt;
	gv_placement_req req;
	gv_key token;
	gv_put *put = NULL;
	int err, perr;

	*out = NULL;
	popt = gv_store_placement(st);
	if (popt.factor > GV_MAX_REPLICAS)
		return gv_error_set(GV_EINVAL, "factor %d exceeds %d", popt.factor, GV_MAX_REPLICAS);

	put = calloc(1, sizeof(*put));
	if (!put)
		return gv_error_set(GV_ENOMEM, "out of memory");
	put->st = st;
	if (opts && opts->expect) {
		put->has_expect = 1;
		put->expect = *opts->expect;
	}

	/* A random token stands in for the unknown key: weighted rendezvous
	 * on it is a random choice of the primary weighted by real free space
	 * (gv_store_sectors_measured), among sectors with room for the
	 * expected size when it is known. */
	memset(&token, 0, sizeof(token));
	if (getrandom(token.digest, sizeof(token.digest), 0) != (ssize_t)sizeof(token.digest)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(token.digest, &ts, sizeof(ts));
		memcpy(token.digest + sizeof(ts), &put, sizeof(put));
	}
	token.size = put->has_expect ? put->expect.size : (opts ? opts->size_hint : 0);

	if ((err = gv_store_sectors_measured(st, &sectors, &nsectors)) < 0)
		goto fail;
	memset(&req, 0, sizeof(req));
	req.key = &token;
	req.want = (size_t)popt.factor;
	perr = gv_placement_choose(picks, &npicks, &popt, sectors, nsectors, &req);
	/* Too few sectors for the quorum says so first; enough sectors in too
	 * few failure domains is the strategy's error. */
	if ((int)npicks < popt.min_replicas) {
		err = gv_error_set(GV_EQUORUM,
		                   "quorum not met: %zu eligible sector%s for min-replicas %d (%s)",
		                   npicks, npicks == 1 ? "" : "s", popt.min_replicas,
		                   perr < 0 ? gv_error_last() : "too few sectors");
		goto fail;
	}
	if (perr == GV_EINSUFFICIENT_RACKS || perr == GV_EINSUFFICIENT_ZONES) {
		err = perr;
		goto fail;
	}
	if (perr < 0 && perr != GV_EINSUFFICIENT_SECTORS) {
		err = perr;
		goto fail;
	}
	if ((err = gv_sha256_new(&put->h)) < 0)
		goto fail;
	/* The first placed sector that takes a write is the primary: one
	 * broken disk must not fail every put that picks it. */
	err = gv_error_set(GV_EQUORUM, "quorum not met: no placed sector can be opened");
	for (i = 0; i < npicks && !put->w; i++) {
		gv_sector *s = gv_store_sector_handle(st, sectors[picks[i]].id, NULL, 0);

		if (!s)
			continue;
		if ((err = gv_sector_writer_open(&put->w, s, NULL, 0)) < 0) {
			gv_warn("event=primary_unavailable sector=%s error=\"%s\"",
			        sectors[picks[i]].id, gv_error_last());
			gv_store_sector_result(st, sectors[picks[i]].id, err);
			continue;
		}
		put->primary = s;
		snprintf(put->primary_id, sizeof(put->primary_id), "%s", sectors[picks[i]].id);
	}
	if (!put->w)
		goto fail;
	free(sectors);
	*out = put;
	return 0;

fail:
	free(sectors);
	gv_put_abort(put);
	return err;
}

int gv_put_write(gv_put *put, const void *buf, size_t len)
{
	int err;

	if (put->failed)
		return gv_error_set(GV_ERROR, "write after a failed write");
	if (put->has_expect && put->size + len > put->expect.size) {
		put->failed = 1;
		return gv_error_set(GV_ECORRUPT, "more bytes than the expected key's size %llu",
		                    (unsigned long long)put->expect.size);
	}
	if ((err = gv_sha256_update(put->h, buf, len)) < 0 ||
	    (err = gv_sector_writer_write(put->w, buf, len)) < 0) {
		put->failed = 1;
		return err;
	}
	put->size += len;
	return 0;
}

void gv_put_abort(gv_put *put)
{
	if (!put)
		return;
	if (put->w)
		gv_sector_writer_abort(put->w, 0);
	gv_sha256_free(put->h);
	free(put);
}

static int contains_id(char ids[][GV_ID_MAX], size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return 1;
	return 0;
}

/*
 * Enough durable copies for the quorum, and spread as the strategy asks
 * of that many copies?  job->mu held.
 */
static int quorum_ok(const put_job *job, char healthy[][GV_ID_MAX], size_t nhealthy,
                     const char *primary, const gv_placement_opts *popt,
                     const gv_sector_info *sectors, size_t nsectors)
{
	const char *ids[GV_MAX_REPLICAS * 3 + 1];
	gv_placement_report rep;
	size_t n = 0, i;

	if (job->healthy_before + 1 + job->ncommitted < popt->min_replicas)
		return 0;
	for (i = 0; i < nhealthy; i++)
		if (strcmp(healthy[i], primary) != 0)
			ids[n++] = healthy[i];
	ids[n++] = primary;
	for (i = 0; i < (size_t)job->ncommitted; i++)
		ids[n++] = job->committed[i];
	return gv_placement_check(&rep, popt, sectors, nsectors, ids, n) == 0;
}

static void deadline_after(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/*
 * Do the bytes of a recorded healthy replica still exist with the key's
 * size?  A copy that is missing or the wrong size is marked unhealthy and
 * not counted; one that cannot be checked is not counted either.
 */
static int replica_present(gv_store *st, const gv_key *key, const char *sector)
{
	gv_sector *s = gv_store_sector_handle(st, sector, NULL, 0);
	uint64_t size = 0;
	int err;

	if (!s)
		return 0;
	err = gv_sector_stat(s, key, &size);
	if (err == GV_ENOTFOUND || (err == 0 && size != key->size)) {
		gv_store_mark_unhealthy(st, key, sector, err ? "missing" : "size mismatch");
		return 0;
	}
	return err == 0;
}

/*
 * The put failed after committing bytes: drop the rows it recorded (not
 * rows that existed before it), then the bytes it committed that no row
 * counts on.  Key lock held.  A row that cannot be removed keeps its bytes.
 */
static void put_undo(put_job *job, const char *primary, char before[][GV_ID_MAX],
                     size_t nbefore, char committed[][GV_ID_MAX], int ncommitted)
{
	gv_index *ix = job->st->ix;
	char kbuf[GV_KEY_BUFSIZE];
	gv_replica *reps = NULL;
	size_t nreps = 0;
	int m, e;

	gv_key_format(kbuf, &job->key);
	for (m = 0; m < job->recorded; m++) {
		if (contains_id(before, nbefore, job->recorded_ids[m]))
			continue;
		e = gv_index_replica_remove(ix, &job->key, job->recorded_ids[m]);
		if (e < 0 && e != GV_ENOTFOUND)
			gv_errlog("event=index_error op=replica_remove key=%s sector=%s error=\"%s\"",
			          kbuf, job->recorded_ids[m], gv_error_last());
	}
	gv_store_drop_unrecorded(job->st, &job->key, primary);
	for (m = 0; m < ncommitted; m++)
		gv_store_drop_unrecorded(job->st, &job->key, committed[m]);
	if (nbefore > 0 || job->recorded == 0)
		return;
	/* The blob row this put created goes once no row is left. */
	e = gv_index_replicas_find(ix, &job->key, &reps, &nreps);
	if (e == 0 && nreps == 0 && (e = gv_index_blob_remove(ix, &job->key)) < 0)
		gv_errlog("event=index_error op=blob_remove key=%s error=\"%s\"", kbuf,
		          gv_error_last());
	gv_replicas_free(reps, nreps);
}

int gv_put_commit(gv_put *put, gv_put_result *res)
{
	gv_store *st = put->st;
	gv_index *ix = st->ix;
	gv_sector_info *sectors = NULL;
	gv_replica *reps = NULL;
	size_t nsectors = 0, nreps = 0, i, npicks = 0;
	size_t picks[GV_MAX_REPLICAS];
	char healthy_ids[GV_MAX_REPLICAS * 2][GV_ID_MAX];
	char other_ids[GV_MAX_REPLICAS * 2][GV_ID_MAX];
	char before_ids[GV_MAX_REPLICAS * 2][GV_ID_MAX];
	char committed[GV_MAX_REPLICAS][GV_ID_MAX];
	const char *placed[GV_MAX_REPLICAS * 2 + 1], *exclude[GV_MAX_REPLICAS * 2];
	size_t nhealthy = 0, nother = 0, nbefore = 0;
	char kbuf[GV_KEY_BUFSIZE];
	gv_placement_opts popt;
	gv_placement_req req;
	put_job *job = NULL;
	struct timespec deadline;
	gv_key key;
	int err, perr, need, locked = 0, ncommitted = 0;

	memset(res, 0, sizeof(*res));
	if (put->failed) {
		err = gv_error_set(GV_ERROR, "an earlier write to this put failed");
		goto out;
	}
	key.size = put->size;
	if ((err = gv_sha256_final(put->h, key.digest)) < 0)
		goto out;
	gv_key_format(kbuf, &key);
	if (put->has_expect && gv_key_cmp(&key, &put->expect) != 0) {
		char ebuf[GV_KEY_BUFSIZE];

		err = gv_error_set(GV_ECORRUPT, "content hashes to %s, expected %s", kbuf,
		                   gv_key_format(ebuf, &put->expect));
		goto out;
	}
	res->key = key;
	/* Re-read: the settings may have changed since the open.  Every
	 * array below is sized by GV_MAX_REPLICAS, which validation enforces. */
	popt = gv_store_placement(st);
	if (popt.factor > GV_MAX_REPLICAS) {
		err = gv_error_set(GV_EINVAL, "factor %d exceeds %d", popt.factor, GV_MAX_REPLICAS);
		goto out;
	}

	/* From here to the decision the key is ours: no identical put,
	 * delete or repair acts on its rows or bytes meanwhile. */
	if ((err = gv_key_lock(st, &key)) < 0)
		goto out;
	locked = 1;

	/* What exists already?  A recorded healthy copy counts only if its
	 * bytes are still there. */
	if ((err = gv_store_sectors_measured(st, &sectors, &nsectors)) < 0)
		goto out;
	err = gv_index_replicas_find(ix, &key, &reps, &nreps);
	if (err < 0 && err != GV_ENOTFOUND)
		goto out;
	for (i = 0; i < nreps && nbefore < GV_MAX_REPLICAS * 2; i++) {
		snprintf(before_ids[nbefore++], GV_ID_MAX, "%s", reps[i].sector);
		if (gv_replica_effective_health(&reps[i], sectors, nsectors, NULL, 0) &&
		    replica_present(st, &key, reps[i].sector))
			snprintf(healthy_ids[nhealthy++], GV_ID_MAX, "%s", reps[i].sector);
		else
			snprintf(other_ids[nother++], GV_ID_MAX, "%s", reps[i].sector);
	}
	if ((int)nhealthy >= popt.factor ||
	    ((int)nhealthy >= popt.min_replicas && contains_id(healthy_ids, nhealthy, put->primary_id))) {
		/* Enough healthy copies (or the primary already holds one): an
		 * idempotent re-put writes nothing. */
		gv_sector_writer_abort(put->w, 0);
		put->w = NULL;
		res->existed = 1;
		res->quorum_met = (int)nhealthy >= popt.min_replicas;
		res->replicas = (int)nhealthy;
		for (i = 0; i < nhealthy && i < 8; i++)
			snprintf(res->sectors[i], GV_ID_MAX, "%s", healthy_ids[i]);
		gv_debug("event=put_exists key=%s healthy=%zu", kbuf, nhealthy);
		err = res->quorum_met ? 0 : gv_error_set(GV_EQUORUM, "quorum not met");
		goto out;
	}

	/* Commit the primary. */
	err = gv_sector_writer_commit(put->w, &key);
	put->w = NULL;
	gv_store_sector_result(st, put->primary_id, err);
	if (err < 0)
		goto out;

	job = calloc(1, sizeof(*job));
	if (!job) {
		gv_store_drop_unrecorded(st, &key, put->primary_id);
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_init(&job->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&job->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	job->refs = 1;
	job->st = st;
	job->key = key;
	job->src = put->primary;
	job->primary_held = contains_id(healthy_ids, nhealthy, put->primary_id);
	job->healthy_before = job->primary_held ? (int)nhealthy - 1 : (int)nhealthy;

	/* Choose the other targets for the real key. */
	for (i = 0; i < nhealthy; i++)
		if (strcmp(healthy_ids[i], put->primary_id) != 0)
			placed[npicks++] = healthy_ids[i];
	placed[npicks++] = put->primary_id;
	for (i = 0; i < nother; i++)
		exclude[i] = other_ids[i];
	memset(&req, 0, sizeof(req));
	req.key = &key;
	req.placed = placed;
	req.nplaced = npicks;
	req.exclude = exclude;
	req.nexclude = nother;
	need = popt.factor - job->healthy_before - 1;
	req.want = need > 0 ? (size_t)need : 0;
	npicks = 0;
	perr = req.want ? gv_placement_choose(picks, &npicks, &popt, sectors, nsectors, &req) : 0;
	if (perr < 0 && nother > 0) {
		/* Sectors holding a bad copy may take a fresh one (the commit
		 * replaces the bytes, the record the row) when nothing else can. */
		size_t alt[GV_MAX_REPLICAS], nalt = 0;
		int aerr;

		req.exclude = NULL;
		req.nexclude = 0;
		aerr = gv_placement_choose(alt, &nalt, &popt, sectors, nsectors, &req);
		if (aerr == 0 || nalt > npicks) {
			memcpy(picks, alt, nalt * sizeof(*alt));
			npicks = nalt;
			perr = aerr;
		}
	}
	if (perr < 0)
		gv_warn("event=placement_degraded key=%s wanted=%zu got=%zu reason=\"%s\"", kbuf,
		        req.want, npicks, gv_error_last());
	if (perr == GV_EINSUFFICIENT_RACKS || perr == GV_EINSUFFICIENT_ZONES) {
		err = perr;
		gv_store_drop_unrecorded(st, &key, put->primary_id);
		goto out;
	}

	/* Start the copies. */
	for (i = 0; i < npicks; i++) {
		copy_arg *a = calloc(1, sizeof(*a));
		pthread_t tid;

		if (!a)
			break;
		a->dst = gv_store_sector_handle(st, sectors[picks[i]].id, NULL, 0);
		if (!a->dst) {
			free(a);
			continue;
		}
		snprintf(a->dst_id, sizeof(a->dst_id), "%s", sectors[picks[i]].id);
		a->job = job;
		pthread_mutex_lock(&job->mu);
		job->refs++;
		job->pending++;
		pthread_mutex_unlock(&job->mu);
		gv_store_bg_enter(st);
		if (pthread_create(&tid, NULL, copy_main, a) != 0) {
			pthread_mutex_lock(&job->mu);
			job->refs--;
			job->pending--;
			pthread_mutex_unlock(&job->mu);
			gv_store_bg_leave(st);
			free(a);
			continue;
		}
		pthread_detach(tid);
	}

	/* Wait for the quorum: healthy before + primary + committed copies,
	 * spread over the failure domains the strategy asks of that many
	 * copies (while copies still running could give that spread). */
	deadline_after(&deadline, st->write_timeout_ms);
	pthread_mutex_lock(&job->mu);
	while (job->pending > 0 && !quorum_ok(job, healthy_ids, nhealthy, put->primary_id, &popt,
	                                      sectors, nsectors)) {
		if (pthread_cond_timedwait(&job->cv, &job->mu, &deadline) == ETIMEDOUT)
			break;
	}
	/* Decide, and snapshot the copies committed so far: those finishing
	 * later see the decision and act for themselves. */
	ncommitted = job->ncommitted;
	memcpy(committed, job->committed, sizeof(committed));
	need = job->healthy_before + 1 + ncommitted >= popt.min_replicas;
	job->decided = need ? 1 : -1;
	if (!need)
		err = gv_error_set(GV_EQUORUM,
		                   "quorum not met: %d of %d required replicas durable%s",
		                   job->healthy_before + 1 + ncommitted, popt.min_replicas,
		                   job->pending ? " before the write timeout" :
		                   (npicks + 1 + (size_t)job->healthy_before < (size_t)popt.min_replicas
		                            ? " (too few eligible sectors)" : ""));
	pthread_mutex_unlock(&job->mu);

	if (need) {
		int n;

		err = record_replica(job, put->primary_id);
		for (n = 0; err == 0 && n < ncommitted; n++)
			err = record_replica(job, committed[n]);
		if (err < 0) {
			char msg[512];

			/* A put not recorded whole is not acknowledged; late
			 * copies must not record themselves either. */
			snprintf(msg, sizeof(msg), "%s", gv_error_last());
			pthread_mutex_lock(&job->mu);
			job->decided = -1;
			pthread_mutex_unlock(&job->mu);
			gv_errlog("event=index_error op=replica_put key=%s error=\"%s\"", kbuf, msg);
			err = gv_error_set(err, "cannot record the put of %s: %s", kbuf, msg);
		}
	}
	if (err < 0) {
		put_undo(job, put->primary_id, before_ids, nbefore, committed, ncommitted);
	} else {
		res->quorum_met = 1;
		res->replicas = job->healthy_before + job->recorded;
		for (i = 0; i < nhealthy && i < 8; i++)
			snprintf(res->sectors[i], GV_ID_MAX, "%s", healthy_ids[i]);
		for (i = 0; i < (size_t)job->recorded && nhealthy + i < 8; i++)
			snprintf(res->sectors[nhealthy + i], GV_ID_MAX, "%s", job->recorded_ids[i]);
		gv_info("event=put key=%s replicas=%d", kbuf, res->replicas);
	}

out:
	if (locked)
		gv_key_unlock(st, &key);
	if (job)
		job_unref(job);
	free(sectors);
	gv_replicas_free(reps, nreps);
	gv_put_abort(put);
	return err;
}

int gv_put_fd(gv_store *st, int fd, gv_put_result *res)
{
	gv_put_opts opts = GV_PUT_OPTS_INIT;
	gv_put *put;
	char *buf;
	int err;

	buf = malloc(1u << 20);
	if (!buf)
		return gv_error_set(GV_ENOMEM, "out of memory");
	/* The bytes from the current offset on, as a reader of a pipe would
	 * get them: a caller may have consumed the start already.  A seekable
	 * input tells how many are left. */
	{
		off_t cur = lseek(fd, 0, SEEK_CUR), end;

		if (cur >= 0 && (end = lseek(fd, 0, SEEK_END)) >= 0) {
			if (lseek(fd, cur, SEEK_SET) != cur) {
				err = gv_error_set_errno(GV_EIO, errno, "cannot seek back in the input");
				goto out;
			}
			if (end > cur)
				opts.size_hint = (uint64_t)(end - cur);
		}
	}
	if ((err = gv_put_open(&put, st, &opts)) < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, 1u << 20);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = gv_error_set_errno(GV_EIO, errno, "read failed");
			gv_put_abort(put);
			goto out;
		}
		if (n == 0)
			break;
		if ((err = gv_put_write(put, buf, (size_t)n)) < 0) {
			gv_put_abort(put);
			goto out;
		}
	}
	err = gv_put_commit(put, res);
out:
	free(buf);
	return err;
}
