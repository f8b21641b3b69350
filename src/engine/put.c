/*
 * put.c - the write path.
 *
 *   open    choose the primary sector (capacity-weighted, through the
 *           placement module with a random token, so an infeasible layout
 *           fails before any byte is read)
 *   write   stream into the primary's temporary file, hashing as it goes
 *   commit  key known: if enough healthy replicas exist, drop the temp
 *           (idempotent re-put); else commit the primary, choose the other
 *           targets for the real key, copy the primary to them in parallel
 *           and return once min-replicas copies are durable and indexed.
 *
 * Quorum bookkeeping lives in a reference-counted job shared with the copy
 * threads.  Until the committing thread decides, committed copies are only
 * listed; once the quorum is met they are recorded and later copies record
 * themselves; if it is not met, every committed byte is deleted and nothing
 * is recorded.
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

#define MAX_TARGETS 16

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
	char committed[MAX_TARGETS][GV_ID_MAX]; /* committed, not yet recorded */
	int ncommitted;
	int recorded;            /* replicas recorded by this put */
	char recorded_ids[8][GV_ID_MAX];
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

/* Record one replica of the job's key on `sector`; job->mu held. */
static int record_replica(put_job *job, const char *sector)
{
	int err = gv_store_record_replica(job->st, &job->key, sector);

	if (err == 0) {
		if (job->recorded < 8)
			snprintf(job->recorded_ids[job->recorded], GV_ID_MAX, "%s", sector);
		job->recorded++;
	}
	return err;
}

static void *copy_main(void *p)
{
	copy_arg *a = p;
	put_job *job = a->job;
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	err = gv_copy_blob(job->src, a->dst, &job->key, 0);
	gv_store_sector_result(job->st, a->dst_id, err);
	gv_key_format(kbuf, &job->key);
	pthread_mutex_lock(&job->mu);
	if (err < 0) {
		gv_warn("event=copy_failed key=%s sector=%s error=\"%s\"", kbuf, a->dst_id,
		        gv_error_last());
	} else if (job->decided > 0) {
		if (record_replica(job, a->dst_id) < 0) {
			gv_errlog("event=index_error op=replica_put key=%s sector=%s error=\"%s\"",
			          kbuf, a->dst_id, gv_error_last());
			gv_sector_del(a->dst, &job->key);
		}
	} else if (job->decided < 0) {
		/* The put failed: leave no bytes behind. */
		gv_sector_del(a->dst, &job->key);
	} else if (job->ncommitted < MAX_TARGETS) {
		snprintf(job->committed[job->ncommitted++], GV_ID_MAX, "%s", a->dst_id);
	}
	job->pending--;
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&job->mu);

	gv_store_bg_leave(job->st);
	job_unref(job);
	free(a);
	return NULL;
}

int gv_put_open(gv_put **out, gv_store *st, const gv_put_opts *opts)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, picks[MAX_TARGETS], npicks = 0, i;
	gv_placement_opts popt;
	gv_placement_req req;
	gv_key token;
	gv_put *put = NULL;
	int err, perr;

	*out = NULL;
	pthread_mutex_lock(&st->lock);
	popt = st->placement;
	pthread_mutex_unlock(&st->lock);
	if (popt.factor > MAX_TARGETS)
		return gv_error_set(GV_EINVAL, "factor %d exceeds %d", popt.factor, MAX_TARGETS);

	put = calloc(1, sizeof(*put));
	if (!put)
		return gv_error_set(GV_ENOMEM, "out of memory");
	put->st = st;
	if (opts && opts->expect) {
		put->has_expect = 1;
		put->expect = *opts->expect;
	}

	/* A random token stands in for the unknown key: weighted rendezvous
	 * on it is a capacity-weighted random choice of the primary. */
	memset(&token, 0, sizeof(token));
	if (getrandom(token.digest, sizeof(token.digest), 0) != (ssize_t)sizeof(token.digest)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(token.digest, &ts, sizeof(ts));
		memcpy(token.digest + sizeof(ts), &put, sizeof(put));
	}
	token.size = put->has_expect ? put->expect.size : (opts ? opts->size_hint : 0);

	if ((err = st->ix->ops->sector_list(st->ix, &sectors, &nsectors)) < 0)
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
	const char *ids[MAX_TARGETS * 3 + 1];
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

int gv_put_commit(gv_put *put, gv_put_result *res)
{
	gv_store *st = put->st;
	gv_index *ix = st->ix;
	gv_sector_info *sectors = NULL;
	gv_replica *reps = NULL;
	size_t nsectors = 0, nreps = 0, i, npicks = 0;
	size_t picks[MAX_TARGETS];
	char healthy_ids[MAX_TARGETS * 2][GV_ID_MAX], other_ids[MAX_TARGETS * 2][GV_ID_MAX];
	const char *placed[MAX_TARGETS * 2 + 1], *exclude[MAX_TARGETS * 2];
	size_t nhealthy = 0, nother = 0;
	char kbuf[GV_KEY_BUFSIZE];
	gv_placement_opts popt;
	gv_placement_req req;
	put_job *job = NULL;
	struct timespec deadline;
	gv_key key;
	int err, perr, need;

	memset(res, 0, sizeof(*res));
	if (put->failed) {
		err = gv_error_set(GV_ERROR, "an earlier write to this put failed");
		goto out_abort;
	}
	key.size = put->size;
	if ((err = gv_sha256_final(put->h, key.digest)) < 0)
		goto out_abort;
	gv_key_format(kbuf, &key);
	if (put->has_expect && gv_key_cmp(&key, &put->expect) != 0) {
		char ebuf[GV_KEY_BUFSIZE];

		err = gv_error_set(GV_ECORRUPT, "content hashes to %s, expected %s", kbuf,
		                   gv_key_format(ebuf, &put->expect));
		goto out_abort;
	}
	res->key = key;
	pthread_mutex_lock(&st->lock);
	popt = st->placement;
	pthread_mutex_unlock(&st->lock);

	/* What exists already? */
	if ((err = ix->ops->sector_list(ix, &sectors, &nsectors)) < 0)
		goto out_abort;
	err = ix->ops->replicas_find(ix, &key, &reps, &nreps);
	if (err < 0 && err != GV_ENOTFOUND)
		goto out_abort;
	for (i = 0; i < nreps && nhealthy + nother < MAX_TARGETS * 2; i++) {
		if (gv_replica_effective_health(&reps[i], sectors, nsectors, NULL, 0))
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
		goto out_free;
	}

	/* Commit the primary. */
	err = gv_sector_writer_commit(put->w, &key);
	put->w = NULL;
	gv_store_sector_result(st, put->primary_id, err);
	if (err < 0)
		goto out_free;

	job = calloc(1, sizeof(*job));
	if (!job) {
		gv_sector_del(put->primary, &key);
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out_free;
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
		size_t alt[MAX_TARGETS], nalt = 0;
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
		if (!job->primary_held)
			gv_sector_del(put->primary, &key);
		goto out_free;
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
	if (job->healthy_before + 1 + job->ncommitted >= popt.min_replicas) {
		int n;

		err = record_replica(job, put->primary_id);
		for (n = 0; err == 0 && n < job->ncommitted; n++)
			err = record_replica(job, job->committed[n]);
		if (err == 0) {
			job->decided = 1;
			res->quorum_met = 1;
		}
	} else {
		err = gv_error_set(GV_EQUORUM,
		                   "quorum not met: %d of %d required replicas durable%s",
		                   job->healthy_before + 1 + job->ncommitted, popt.min_replicas,
		                   job->pending ? " before the write timeout" :
		                   (npicks + 1 + (size_t)job->healthy_before < (size_t)popt.min_replicas
		                            ? " (too few eligible sectors)" : ""));
	}
	if (err < 0) {
		int n, m;

		/* Nothing of this put may remain: drop what was recorded and
		 * every byte committed here. */
		job->decided = -1;
		for (m = 0; m < job->recorded && m < 8; m++)
			if (!(job->primary_held && strcmp(job->recorded_ids[m], put->primary_id) == 0))
				ix->ops->replica_remove(ix, &key, job->recorded_ids[m]);
		if (!job->primary_held)
			gv_sector_del(put->primary, &key);
		for (n = 0; n < job->ncommitted; n++) {
			gv_sector *s = gv_store_sector_handle(st, job->committed[n], NULL, 0);

			if (s)
				gv_sector_del(s, &key);
		}
		if (job->healthy_before == 0 && job->recorded > 0)
			ix->ops->blob_remove(ix, &key);
	} else {
		res->replicas = job->healthy_before + job->recorded;
		for (i = 0; i < nhealthy && i < 8; i++)
			snprintf(res->sectors[i], GV_ID_MAX, "%s", healthy_ids[i]);
		for (i = 0; i < (size_t)job->recorded && nhealthy + i < 8; i++)
			snprintf(res->sectors[nhealthy + i], GV_ID_MAX, "%s", job->recorded_ids[i]);
		gv_info("event=put key=%s replicas=%d", kbuf, res->replicas);
	}
	pthread_mutex_unlock(&job->mu);

out_free:
	if (job)
		job_unref(job);
	free(sectors);
	gv_replicas_free(reps, nreps);
	gv_put_abort(put);
	return err;

out_abort:
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
	{
		off_t end = lseek(fd, 0, SEEK_END);

		if (end > 0) {
			opts.size_hint = (uint64_t)end;
			lseek(fd, 0, SEEK_SET);
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
