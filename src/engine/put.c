/*
 * put.c - the write path.
 *
 *   open    choose all targets (weighted by measured free space, through
 *           the placement module with a random token whose size is the
 *           expected size, so sectors without room for it are skipped and
 *           an infeasible layout fails before any byte is read); the first
 *           that opens is the primary
 *   write   stream into every target's temporary file at once, hashing as
 *           it goes: the primary here, the others through a ring of
 *           buffers, one thread each (a target that fails is dropped)
 *   commit  key known: if enough healthy replicas exist, drop the temps
 *           (idempotent re-put); else commit the streamed targets the
 *           key's placement accepts, each in a thread of its own (the
 *           primary too: a hung one delays nothing), copy the first that
 *           committed to the targets still missing, and return once
 *           min-replicas copies are durable and indexed, or fail once the
 *           write timeout passes without them.
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
#include "core/clock.h"
#include "core/log.h"
#include "engine/blocks.h"
#include "engine/store.h"

/*
 * The fan-out: the primary is written by the putting thread; every other
 * target has a thread of its own that opens its writer and writes the
 * buffers of a small shared ring, so slow disks overlap.  The putting
 * thread waits for ring space at most the write timeout, then leaves a
 * target that does not keep up (a hung disk) behind.
 */
#define FAN_SLOTS 4
#define FAN_SLOT (1u << 20)

enum { FAN_RUNNING, FAN_DONE, FAN_FAILED };

typedef struct fan fan;

typedef struct fan_worker {
	fan *f;
	gv_sector *s;
	char id[GV_ID_MAX];
	gv_sector_writer *w;     /* the put's once state is FAN_DONE */
	uint64_t pos;            /* slots written */
	int state;
	int abandoned;           /* the put went on without it */
	int err;
	char msg[256];
} fan_worker;

struct fan {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	gv_store *st;
	unsigned char *slot[FAN_SLOTS];
	size_t len[FAN_SLOTS];
	uint64_t head;           /* slots published */
	size_t fill;             /* bytes in slot[head % FAN_SLOTS], unpublished */
	int closed;
	fan_worker w[GV_MAX_REPLICAS];
	size_t nw;
};

/* One sector the body streams into; t[0] is the primary. */
typedef struct put_target {
	gv_sector *s;
	gv_sector_writer *w;
	char id[GV_ID_MAX];
} put_target;

struct gv_put {
	gv_store *st;
	gv_sha256 *h;
	gv_block_hasher *bh;     /* the block table, in the same pass */
	put_target t[GV_MAX_REPLICAS];
	size_t nt;
	fan *fan;                /* the other targets until the commit */
	/* Sectors whose writer failed in this put (open or mid-stream): the
	 * copies made at commit go elsewhere. */
	char failed_ids[GV_MAX_REPLICAS][GV_ID_MAX];
	size_t nfailed;
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
	gv_sector *src;          /* the first streamed target committed; NULL: none yet */
	int streams_pending;     /* streamed commits still running */
	int healthy_before;      /* healthy replicas that existed already */
	int primary_held;        /* the primary already held a healthy copy */
	int pending;             /* copies still running */
	int decided;             /* 0 open, 1 quorum met, -1 failed */
	int failed_early;        /* copies that failed before the decision */
	char committed[GV_MAX_REPLICAS][GV_ID_MAX]; /* committed, not yet recorded */
	int ncommitted;
	int recorded;            /* replicas recorded by this put */
	char recorded_ids[GV_MAX_REPLICAS + 1][GV_ID_MAX];
} put_job;

/* A target finished in a thread: commit of its streamed writer `w`, or
 * (w NULL) a copy from the first streamed target that committed. */
typedef struct copy_arg {
	put_job *job;
	gv_sector *dst;
	gv_sector_writer *w;
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
	char kbuf[GV_KEY_BUFSIZE], why[GV_REASON_MAX] = "";
	int err, decided;

	if (a->w) {
		err = gv_sector_writer_commit(a->w, &job->key);
	} else {
		gv_sector *src;

		pthread_mutex_lock(&job->mu);
		while (!job->src && job->streams_pending > 0)
			pthread_cond_wait(&job->cv, &job->mu);
		src = job->src;
		pthread_mutex_unlock(&job->mu);
		err = src ? gv_copy_blob(src, a->dst, &job->key, 0)
		          : gv_error_set(GV_ENO_HEALTHY_SOURCE, "no streamed target committed");
	}
	gv_store_sector_result(job->st, a->dst_id, err);
	gv_key_format(kbuf, &job->key);
	pthread_mutex_lock(&job->mu);
	decided = job->decided;
	if (a->w) {
		job->streams_pending--;
		if (err == 0 && !job->src)
			job->src = a->dst;
	}
	if (err < 0) {
		gv_warn("event=copy_failed key=%s sector=%s streamed=%d error=\"%s\"", kbuf,
		        a->dst_id, a->w != NULL, gv_error_last());
		snprintf(why, sizeof(why), "put: late copy to %s failed: %s", a->dst_id,
		         gv_error_last());
		if (decided == 0)
			job->failed_early++;
	}
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
	else if (err < 0 && decided > 0)
		gv_repair_enqueue(job->st, &job->key, why);

	gv_store_bg_leave(job->st);
	job_unref(job);
	free(a);
	return NULL;
}

/* Remember that sector `id` failed this put; its share is copied elsewhere. */
static void put_target_failed(gv_put *put, const char *id, int err)
{
	gv_store_sector_result(put->st, id, err);
	if (put->nfailed < GV_MAX_REPLICAS)
		snprintf(put->failed_ids[put->nfailed++], GV_ID_MAX, "%s", id);
}

/* Take target i out of the fan-out (its writer already gone). */
static void put_target_remove(gv_put *put, size_t i)
{
	memmove(&put->t[i], &put->t[i + 1], (put->nt - i - 1) * sizeof(put->t[0]));
	put->nt--;
}


static void fan_unref(fan *f)
{
	int last, i;

	pthread_mutex_lock(&f->mu);
	last = --f->refs == 0;
	pthread_mutex_unlock(&f->mu);
	if (!last)
		return;
	for (i = 0; i < FAN_SLOTS; i++)
		free(f->slot[i]);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static void *fan_main(void *p)
{
	fan_worker *fw = p;
	fan *f = fw->f;
	gv_store *st = f->st;
	gv_sector_writer *w = NULL;
	int err = gv_sector_writer_open(&w, fw->s, NULL, 0);

	pthread_mutex_lock(&f->mu);
	if (err < 0) {
		fw->state = FAN_FAILED;
		fw->err = err;
		snprintf(fw->msg, sizeof(fw->msg), "%s", gv_error_last());
	}
	while (fw->state == FAN_RUNNING && !fw->abandoned) {
		const unsigned char *buf;
		size_t len;

		if (fw->pos == f->head) {
			if (f->closed) {
				fw->state = FAN_DONE;
				fw->w = w;
				w = NULL;
			} else {
				pthread_cond_wait(&f->cv, &f->mu);
			}
			continue;
		}
		/* Published slots stay until every running writer is past them. */
		buf = f->slot[fw->pos % FAN_SLOTS];
		len = f->len[fw->pos % FAN_SLOTS];
		pthread_mutex_unlock(&f->mu);
		err = gv_sector_writer_write(w, buf, len);
		pthread_mutex_lock(&f->mu);
		if (err < 0) {
			fw->state = FAN_FAILED;
			fw->err = err;
			snprintf(fw->msg, sizeof(fw->msg), "%s", gv_error_last());
		} else {
			fw->pos++;
		}
		pthread_cond_broadcast(&f->cv);
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	gv_sector_writer_abort(w, 0); /* failed or left behind */
	fan_unref(f);
	gv_store_bg_leave(st);
	return NULL;
}

/* Start a fan-out writer for sector s; 0 when none could start. */
static int fan_add(gv_put *put, gv_sector *s, const char *id)
{
	fan *f = put->fan;
	fan_worker *fw;
	pthread_t tid;

	if (!f) {
		pthread_condattr_t ca;

		if (!(f = calloc(1, sizeof(*f))))
			return 0;
		pthread_mutex_init(&f->mu, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&f->cv, &ca);
		pthread_condattr_destroy(&ca);
		f->refs = 1;
		f->st = put->st;
		put->fan = f;
	}
	fw = &f->w[f->nw];
	memset(fw, 0, sizeof(*fw));
	fw->f = f;
	fw->s = s;
	snprintf(fw->id, sizeof(fw->id), "%s", id);
	pthread_mutex_lock(&f->mu);
	f->refs++;
	f->nw++;
	pthread_mutex_unlock(&f->mu);
	gv_store_bg_enter(put->st);
	if (pthread_create(&tid, NULL, fan_main, fw) == 0) {
		pthread_detach(tid);
		return 1;
	}
	gv_store_bg_leave(put->st);
	pthread_mutex_lock(&f->mu);
	f->refs--;
	f->nw--;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

/* Leave behind every writer still running whose position is <= pos;
 * f->mu held. */
static void fan_leave_behind(fan *f, uint64_t pos)
{
	size_t i;

	for (i = 0; i < f->nw; i++) {
		fan_worker *fw = &f->w[i];

		if (fw->state != FAN_RUNNING || fw->abandoned || fw->pos > pos)
			continue;
		fw->abandoned = 1;
		fw->err = gv_error_set(GV_ETIMEOUT, "no progress within the write timeout");
		snprintf(fw->msg, sizeof(fw->msg), "%s", gv_error_last());
	}
	pthread_cond_broadcast(&f->cv);
}

/* Wait until no running writer is behind `pos` (f->mu held), at most
 * until the deadline; then the laggards are left behind. */
static void fan_wait_past(fan *f, uint64_t pos, const struct timespec *deadline)
{
	for (;;) {
		size_t i;
		int behind = 0;

		for (i = 0; i < f->nw; i++)
			behind |= f->w[i].state == FAN_RUNNING && !f->w[i].abandoned &&
			          f->w[i].pos <= pos;
		if (!behind)
			return;
		if (pthread_cond_timedwait(&f->cv, &f->mu, deadline) == ETIMEDOUT) {
			fan_leave_behind(f, pos);
			return;
		}
	}
}

/* Publish the slot being filled; f->mu held. */
static void fan_publish(fan *f)
{
	f->len[f->head % FAN_SLOTS] = f->fill;
	f->head++;
	f->fill = 0;
	pthread_cond_broadcast(&f->cv);
}

/* Hand len bytes to the fan-out writers. */
static int fan_push(fan *f, uint64_t timeout_ms, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		size_t idx, n;

		pthread_mutex_lock(&f->mu);
		if (f->fill == 0 && f->head >= FAN_SLOTS) {
			struct timespec deadline;

			gv_deadline_in(&deadline, timeout_ms);
			fan_wait_past(f, f->head - FAN_SLOTS, &deadline);
		}
		idx = f->head % FAN_SLOTS;
		pthread_mutex_unlock(&f->mu);
		/* The slot being filled is read by no writer. */
		if (!f->slot[idx] && !(f->slot[idx] = malloc(FAN_SLOT)))
			return gv_error_set(GV_ENOMEM, "out of memory");
		n = len < FAN_SLOT - f->fill ? len : FAN_SLOT - f->fill;
		memcpy(f->slot[idx] + f->fill, buf, n);
		buf += n;
		len -= n;
		pthread_mutex_lock(&f->mu);
		f->fill += n;
		if (f->fill == FAN_SLOT)
			fan_publish(f);
		pthread_mutex_unlock(&f->mu);
	}
	return 0;
}

/*
 * The body is complete: wait (at most the write timeout) for the fan-out
 * writers to write it all, and make those that did targets of the put;
 * the others are failed targets.  With `give_up`, every writer is left
 * behind at once (abort).
 */
static void fan_close(gv_put *put, int give_up)
{
	fan *f = put->fan;
	struct timespec deadline;
	size_t i;

	if (!f)
		return;
	put->fan = NULL;
	gv_deadline_in(&deadline, put->st->write_timeout_ms);
	pthread_mutex_lock(&f->mu);
	if (f->fill > 0)
		fan_publish(f);
	f->closed = 1;
	pthread_cond_broadcast(&f->cv);
	if (give_up)
		fan_leave_behind(f, UINT64_MAX);
	else
		fan_wait_past(f, f->head, &deadline);
	for (i = 0; i < f->nw; i++) {
		fan_worker *fw = &f->w[i];

		if (fw->state == FAN_DONE && !give_up && put->nt < GV_MAX_REPLICAS) {
			put_target *t = &put->t[put->nt++];

			t->s = fw->s;
			t->w = fw->w;
			snprintf(t->id, sizeof(t->id), "%s", fw->id);
		} else if (fw->state == FAN_DONE) {
			gv_sector_writer_abort(fw->w, 0);
		} else if (!give_up) {
			gv_warn("event=target_dropped sector=%s error=\"%s\"", fw->id, fw->msg);
			put_target_failed(put, fw->id, fw->err);
		}
		fw->w = NULL;
	}
	pthread_mutex_unlock(&f->mu);
	fan_unref(f);
}

/* A random key standing in for the unknown one: weighted rendezvous on
 * it is a random choice weighted by real free space. */
static void random_token(gv_key *token, const void *salt)
{
	memset(token, 0, sizeof(*token));
	if (getrandom(token->digest, sizeof(token->digest), 0) != (ssize_t)sizeof(token->digest)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(token->digest, &ts, sizeof(ts));
		memcpy(token->digest + sizeof(ts), &salt, sizeof(salt));
	}
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

	/* All targets are chosen before the key is known, on a random token
	 * (gv_store_sectors_measured), among sectors with room for the
	 * expected size when it is known. */
	random_token(&token, put);
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
	if ((err = gv_sha256_new(&put->h)) < 0 ||
	    (err = gv_block_hasher_new(&put->bh, st->block_size)) < 0)
		goto fail;
	/* The first placed sector that takes a write is the primary (one
	 * broken disk must not fail every put that picks it); the body
	 * streams into every other placed sector too, each in a thread. */
	err = gv_error_set(GV_EQUORUM, "quorum not met: no placed sector can be opened");
	for (i = 0; i < npicks; i++) {
		const char *id = sectors[picks[i]].id;
		gv_sector *s = gv_store_sector_handle(st, id, NULL, 0);
		int oerr;

		if (!s)
			continue;
		if (put->nt > 0) {
			fan_add(put, s, id);
			continue;
		}
		if ((oerr = gv_sector_writer_open(&put->t[0].w, s, NULL, 0)) < 0) {
			gv_warn("event=primary_unavailable sector=%s error=\"%s\"", id,
			        gv_error_last());
			put_target_failed(put, id, oerr);
			err = oerr;
			continue;
		}
		put->t[0].s = s;
		snprintf(put->t[0].id, sizeof(put->t[0].id), "%s", id);
		put->nt = 1;
	}
	if (put->nt == 0)
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
	    (err = gv_block_hasher_update(put->bh, buf, len)) < 0) {
		put->failed = 1;
		return err;
	}
	if ((err = gv_sector_writer_write(put->t[0].w, buf, len)) < 0 ||
	    (put->fan && (err = fan_push(put->fan, put->st->write_timeout_ms, buf, len)) < 0)) {
		put->failed = 1;
		return err;
	}
	put->size += len;
	return 0;
}

/* Drop the writers of targets [from, nt). */
static void put_abort_targets(gv_put *put, size_t from)
{
	while (put->nt > from) {
		put->nt--;
		gv_sector_writer_abort(put->t[put->nt].w, 0);
	}
}

void gv_put_abort(gv_put *put)
{
	if (!put)
		return;
	fan_close(put, 1);
	put_abort_targets(put, 0);
	gv_sha256_free(put->h);
	gv_block_hasher_free(put->bh);
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

	if (job->healthy_before + job->ncommitted < popt->min_replicas)
		return 0;
	for (i = 0; i < nhealthy; i++)
		if (strcmp(healthy[i], primary) != 0)
			ids[n++] = healthy[i];
	for (i = 0; i < (size_t)job->ncommitted; i++)
		ids[n++] = job->committed[i];
	return gv_placement_check(&rep, popt, sectors, nsectors, ids, n) == 0;
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
		gv_store_mark_unhealthy_as(st, key, sector, err ? "missing" : "size mismatch",
		                           "put");
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
	if (primary)
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

/* What one commit knows; the steps below fill it in turn. */
typedef struct put_commit {
	gv_put *put;
	gv_store *st;
	gv_key key;
	char kbuf[GV_KEY_BUFSIZE];
	gv_placement_opts popt;
	gv_sector_info *sectors;
	size_t nsectors;
	/* Rows that existed before this put, and which of them are healthy
	 * with their bytes present ("other": unhealthy or missing). */
	char before[GV_MAX_REPLICAS * 2][GV_ID_MAX];
	char healthy[GV_MAX_REPLICAS * 2][GV_ID_MAX];
	char other[GV_MAX_REPLICAS * 2][GV_ID_MAX];
	size_t nbefore, nhealthy, nother;
	put_job *job;
	size_t started;           /* targets committing or copying in threads */
	int decided;              /* 1 quorum met */
	char committed[GV_MAX_REPLICAS][GV_ID_MAX];
	int ncommitted;           /* snapshot at the decision */
	void *tab;                /* block table (NULL: one block) */
	size_t tablen;
} put_commit;

#define PRIMARY(c) ((c)->put->t[0].id)

/*
 * Classify what exists already (key lock held).  A recorded healthy copy
 * counts only if its bytes are still there.
 */
static int put_classify(put_commit *c)
{
	gv_index *ix = c->st->ix;
	gv_replica *reps = NULL;
	size_t nreps = 0, i;
	int err;

	if ((err = gv_store_sectors_measured(c->st, &c->sectors, &c->nsectors)) < 0)
		return err;
	err = gv_index_replicas_find(ix, &c->key, &reps, &nreps);
	if (err < 0 && err != GV_ENOTFOUND)
		return err;
	for (i = 0; i < nreps && c->nbefore < GV_MAX_REPLICAS * 2; i++) {
		snprintf(c->before[c->nbefore++], GV_ID_MAX, "%s", reps[i].sector);
		if (gv_replica_effective_health(&reps[i], c->sectors, c->nsectors, NULL, 0) &&
		    replica_present(c->st, &c->key, reps[i].sector))
			snprintf(c->healthy[c->nhealthy++], GV_ID_MAX, "%s", reps[i].sector);
		else
			snprintf(c->other[c->nother++], GV_ID_MAX, "%s", reps[i].sector);
	}
	gv_replicas_free(reps, nreps);
	return 0;
}

/*
 * A quorum of copies of a blob recorded less than a write timeout ago: a
 * put of the same bytes (through this gateway or another on the index)
 * that met its quorum moments ago may still be copying the rest, and its
 * late copies record themselves (or queue the key for repair) within that
 * time.  Writing more now would only make copies that repair trims.
 */
static int put_settling(put_commit *c, int n)
{
	int64_t created = 0;

	if (n < c->popt.min_replicas || n >= c->popt.factor)
		return 0;
	if (gv_index_blob_exists(c->st->ix, &c->key, &created) != 1) {
		gv_error_clear();
		return 0;
	}
	return gv_now_ms() - created < (int64_t)c->st->write_timeout_ms;
}

/* Enough healthy copies (or the primary already holds one, or a put of
 * the same bytes is settling): an idempotent re-put writes nothing.
 * Fills res and returns 1 then. */
static int put_existed(put_commit *c, gv_put_result *res, int *err)
{
	int n = (int)c->nhealthy;
	size_t i;

	if (!(n >= c->popt.factor ||
	      (n >= c->popt.min_replicas && contains_id(c->healthy, c->nhealthy, PRIMARY(c))) ||
	      put_settling(c, n)))
		return 0;
	put_abort_targets(c->put, 0);
	res->existed = 1;
	res->quorum_met = n >= c->popt.min_replicas;
	res->replicas = n;
	for (i = 0; i < c->nhealthy && i < 8; i++)
		snprintf(res->sectors[i], GV_ID_MAX, "%s", c->healthy[i]);
	gv_debug("event=put_exists key=%s healthy=%d", c->kbuf, n);
	*err = res->quorum_met ? 0 : gv_error_set(GV_EQUORUM, "quorum not met");
	return 1;
}

/* The sectors that hold or will hold a copy: healthy ones (but the
 * primary), the primary, then the streamed targets kept so far. */
static size_t put_placed(const put_commit *c, const char **ids)
{
	size_t n = 0, i;

	for (i = 0; i < c->nhealthy; i++)
		if (strcmp(c->healthy[i], PRIMARY(c)) != 0)
			ids[n++] = c->healthy[i];
	ids[n++] = PRIMARY(c);
	for (i = 1; i < c->put->nt; i++)
		ids[n++] = c->put->t[i].id;
	return n;
}

/*
 * Choose which streamed targets besides the primary are committed in
 * place: each in turn while copies are still wanted, if it holds no
 * healthy copy already and the strategy accepts it beside the copies that
 * exist and those kept before it.  The others are dropped (their share is
 * copied at commit, wherever the key's placement says).
 */
static void put_choose_streams(put_commit *c)
{
	const char *ids[GV_MAX_REPLICAS * 3 + 1];
	gv_placement_report rep;
	gv_put *put = c->put;
	size_t i = 1, n;

	while (i < put->nt) {
		put_target *t = &put->t[i];
		int keep;

		/* Placed so far: the targets before i, then t itself. */
		n = put_placed(c, ids) - (put->nt - i - 1);
		keep = (int)n <= c->popt.factor && !contains_id(c->healthy, c->nhealthy, t->id) &&
		       gv_placement_check(&rep, &c->popt, c->sectors, c->nsectors, ids, n) == 0;
		if (keep) {
			i++;
			continue;
		}
		gv_debug("event=stream_target_dropped key=%s sector=%s", c->kbuf, t->id);
		gv_sector_writer_abort(t->w, 0);
		put_target_remove(put, i);
	}
}

static put_job *job_new(put_commit *c)
{
	put_job *job = calloc(1, sizeof(*job));
	pthread_condattr_t ca;

	if (!job)
		return NULL;
	pthread_mutex_init(&job->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&job->cv, &ca);
	pthread_condattr_destroy(&ca);
	job->refs = 1;
	job->st = c->st;
	job->key = c->key;
	job->primary_held = contains_id(c->healthy, c->nhealthy, PRIMARY(c));
	job->healthy_before = (int)c->nhealthy - job->primary_held;
	return job;
}

/* Finish target `id` in a thread: commit its streamed writer w, or copy
 * the primary to it (w NULL).  Takes w (aborted when no thread starts). */
static void put_start(put_commit *c, gv_sector *dst, const char *id, gv_sector_writer *w)
{
	put_job *job = c->job;
	copy_arg *a = calloc(1, sizeof(*a));
	pthread_t tid;

	if (!a)
		goto fail;
	a->dst = dst;
	a->w = w;
	a->job = job;
	snprintf(a->dst_id, sizeof(a->dst_id), "%s", id);
	pthread_mutex_lock(&job->mu);
	job->refs++;
	job->pending++;
	job->streams_pending += w != NULL;
	pthread_mutex_unlock(&job->mu);
	gv_store_bg_enter(c->st);
	if (pthread_create(&tid, NULL, copy_main, a) != 0) {
		pthread_mutex_lock(&job->mu);
		job->refs--;
		job->pending--;
		job->streams_pending -= w != NULL;
		pthread_cond_broadcast(&job->cv);
		pthread_mutex_unlock(&job->mu);
		gv_store_bg_leave(c->st);
		goto fail;
	}
	pthread_detach(tid);
	c->started++;
	return;
fail:
	free(a);
	if (w)
		gv_sector_writer_abort(w, 0);
}

/*
 * Choose where the copies the streams did not give go, for the real key:
 * placed counts as placed, sectors with a bad copy or that failed this
 * put are avoided.  Returns the strategy's error when the layout cannot
 * be met at all.
 */
static int put_choose_copies(put_commit *c, size_t *picks, size_t *npicks)
{
	const char *placed[GV_MAX_REPLICAS * 3 + 1], *exclude[GV_MAX_REPLICAS * 3];
	gv_placement_req req;
	size_t nexclude = 0, i;
	int need, perr;

	for (i = 0; i < c->nother; i++)
		exclude[nexclude++] = c->other[i];
	for (i = 0; i < c->put->nfailed; i++)
		exclude[nexclude++] = c->put->failed_ids[i];
	memset(&req, 0, sizeof(req));
	req.key = &c->key;
	req.placed = placed;
	req.nplaced = put_placed(c, placed);
	req.exclude = exclude;
	req.nexclude = nexclude;
	need = c->popt.factor - c->job->healthy_before - (int)c->put->nt;
	req.want = need > 0 ? (size_t)need : 0;
	*npicks = 0;
	perr = req.want ? gv_placement_choose(picks, npicks, &c->popt, c->sectors, c->nsectors, &req)
	                : 0;
	if (perr < 0 && c->nother > 0) {
		/* Sectors holding a bad copy may take a fresh one (the commit
		 * replaces the bytes, the record the row) when nothing else can. */
		size_t alt[GV_MAX_REPLICAS], nalt = 0;
		int aerr;

		req.exclude = exclude + c->nother;
		req.nexclude = nexclude - c->nother;
		aerr = gv_placement_choose(alt, &nalt, &c->popt, c->sectors, c->nsectors, &req);
		if (aerr == 0 || nalt > *npicks) {
			memcpy(picks, alt, nalt * sizeof(*alt));
			*npicks = nalt;
			perr = aerr;
		}
	}
	if (perr < 0)
		gv_warn("event=placement_degraded key=%s wanted=%zu got=%zu reason=\"%s\"", c->kbuf,
		        req.want, *npicks, gv_error_last());
	/* The layout cannot meet the strategy (not merely sectors that
	 * failed this put: the quorum judges those). */
	if ((perr == GV_EINSUFFICIENT_RACKS || perr == GV_EINSUFFICIENT_ZONES) &&
	    c->put->nfailed == 0)
		return perr;
	return 0;
}

/*
 * Wait for the quorum: healthy before + primary + committed copies,
 * spread over the failure domains the strategy asks of that many copies
 * (while copies still running could give that spread); then decide, and
 * snapshot the copies committed so far: those finishing later see the
 * decision and act for themselves.
 */
static int put_await_quorum(put_commit *c)
{
	put_job *job = c->job;
	struct timespec deadline;
	int err = 0, have;

	gv_deadline_in(&deadline, c->st->write_timeout_ms);
	pthread_mutex_lock(&job->mu);
	while (job->pending > 0 && !quorum_ok(job, c->healthy, c->nhealthy, PRIMARY(c), &c->popt,
	                                      c->sectors, c->nsectors)) {
		if (pthread_cond_timedwait(&job->cv, &job->mu, &deadline) == ETIMEDOUT)
			break;
	}
	c->ncommitted = job->ncommitted;
	memcpy(c->committed, job->committed, sizeof(c->committed));
	have = job->healthy_before + c->ncommitted;
	c->decided = have >= c->popt.min_replicas;
	job->decided = c->decided ? 1 : -1;
	if (!c->decided)
		err = gv_error_set(GV_EQUORUM,
		                   "quorum not met: %d of %d required replicas durable%s", have,
		                   c->popt.min_replicas,
		                   job->pending ? " before the write timeout" :
		                   (c->started + (size_t)job->healthy_before <
		                            (size_t)c->popt.min_replicas
		                            ? " (too few eligible sectors)" : ""));
	pthread_mutex_unlock(&job->mu);
	return err;
}

/*
 * Record the primary and the copies committed before the decision (err 0),
 * or undo what this put committed and recorded; fill res.  Key lock held.
 */
static int put_settle(put_commit *c, int err, gv_put_result *res)
{
	put_job *job = c->job;
	size_t i;
	int n;

	if (err == 0) {
		const char *ids[GV_MAX_REPLICAS + 1];
		size_t nids = 0;

		/* One index commit (and one sync) for the put's replicas; on
		 * failure any of them may be recorded, so undo takes them all. */
		for (n = 0; n < c->ncommitted && nids < GV_MAX_REPLICAS + 1; n++)
			ids[nids++] = c->committed[n];
		err = gv_store_record_replicas(job->st, &job->key, ids, nids);
		for (i = 0; i < nids && job->recorded < GV_MAX_REPLICAS + 1; i++)
			snprintf(job->recorded_ids[job->recorded++], GV_ID_MAX, "%.*s",
			         (int)GV_ID_MAX - 1, ids[i]);
		if (err < 0) {
			char msg[512];

			/* A put not recorded whole is not acknowledged; late
			 * copies must not record themselves either. */
			snprintf(msg, sizeof(msg), "%s", gv_error_last());
			pthread_mutex_lock(&job->mu);
			job->decided = -1;
			pthread_mutex_unlock(&job->mu);
			gv_errlog("event=index_error op=replica_put key=%s error=\"%s\"", c->kbuf, msg);
			err = gv_error_set(err, "cannot record the put of %s: %s", c->kbuf, msg);
		}
	}
	if (err < 0) {
		put_undo(job, NULL, c->before, c->nbefore, c->committed, c->ncommitted);
		return err;
	}
	res->quorum_met = 1;
	res->replicas = job->healthy_before + job->recorded;
	for (i = 0; i < c->nhealthy && i < 8; i++)
		snprintf(res->sectors[i], GV_ID_MAX, "%s", c->healthy[i]);
	for (i = 0; i < (size_t)job->recorded && c->nhealthy + i < 8; i++)
		snprintf(res->sectors[c->nhealthy + i], GV_ID_MAX, "%s", job->recorded_ids[i]);
	gv_info("event=put key=%s replicas=%d", c->kbuf, res->replicas);
	pthread_mutex_lock(&job->mu);
	n = job->failed_early;
	pthread_mutex_unlock(&job->mu);
	if (n > 0 || job->healthy_before + (int)c->started < c->popt.factor) {
		/* Quorum without every copy: one failed, or had no target
		 * (copies failing later queue the key themselves). */
		char why[GV_REASON_MAX];

		snprintf(why, sizeof(why), "put: quorum met with %d of %d copies", res->replicas,
		         c->popt.factor);
		gv_repair_enqueue(job->st, &job->key, why);
	}
	return 0;
}

/* The key the streamed bytes hash to, checked against the expected one. */
static int put_final_key(gv_put *put, gv_key *key, char *kbuf)
{
	int err;

	if (put->failed)
		return gv_error_set(GV_ERROR, "an earlier write to this put failed");
	key->size = put->size;
	if ((err = gv_sha256_final(put->h, key->digest)) < 0)
		return err;
	gv_key_format(kbuf, key);
	if (put->has_expect && gv_key_cmp(key, &put->expect) != 0) {
		char ebuf[GV_KEY_BUFSIZE];

		return gv_error_set(GV_ECORRUPT, "content hashes to %s, expected %s", kbuf,
		                    gv_key_format(ebuf, &put->expect));
	}
	return 0;
}

/*
 * Record the block table of a put that met its quorum (key lock held, so
 * no DELETE comes between).  The bytes matched the key, so the table is
 * true; a blob that has a valid one already keeps it.  A table that cannot
 * be recorded only costs reads their block verification until scrub
 * writes it: the put stands.
 */
static void put_record_blocks(put_commit *c, int existed)
{
	gv_blocks *b = NULL;

	if (!c->tab)
		return;
	if (existed && gv_blocks_load(c->st, &c->key, &b) == 0) {
		gv_blocks_free(b);
		return;
	}
	gv_blocks_store(c->st, &c->key, c->tab, c->tablen);
}

/*
 * Commit: classify what exists, keep the streamed targets the strategy
 * accepts, commit them in threads while the primary commits here, copy
 * the primary to the sectors that still lack a copy, await the quorum and
 * settle (record, or undo).
 */
int gv_put_commit(gv_put *put, gv_put_result *res)
{
	put_commit *c;
	size_t picks[GV_MAX_REPLICAS], npicks = 0, i;
	int err, locked = 0;

	memset(res, 0, sizeof(*res));
	c = calloc(1, sizeof(*c));
	if (!c) {
		gv_put_abort(put);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	c->put = put;
	c->st = put->st;
	if ((err = put_final_key(put, &c->key, c->kbuf)) < 0 ||
	    (err = gv_block_hasher_final(put->bh, &c->key, &c->tab, &c->tablen)) < 0)
		goto out;
	fan_close(put, 0);
	res->key = c->key;
	/* Re-read: the settings may have changed since the open.  Every
	 * array below is sized by GV_MAX_REPLICAS, which validation enforces. */
	c->popt = gv_store_placement(c->st);
	if (c->popt.factor > GV_MAX_REPLICAS) {
		err = gv_error_set(GV_EINVAL, "factor %d exceeds %d", c->popt.factor,
		                   GV_MAX_REPLICAS);
		goto out;
	}

	/* From here to the decision the key is ours: no identical put,
	 * delete or repair acts on its rows or bytes meanwhile. */
	if ((err = gv_key_lock(c->st, &c->key)) < 0)
		goto out;
	locked = 1;
	/* The put's intent (docs/namespace.md): the key's garbage clock
	 * restarts before anything is recorded, so the collector, which
	 * decides under this lock, leaves the blob for a grace period in
	 * which the caller names or pins it.  The replica rows recorded
	 * below commit durably after it, and so make it durable too. */
	if ((err = gv_index_ns_touch(c->st->ix, &c->key, gv_now_ms())) < 0)
		goto out;
	if ((err = put_classify(c)) < 0)
		goto out;
	if (put_existed(c, res, &err)) {
		if (err == 0)
			put_record_blocks(c, 1);
		goto out;
	}
	put_choose_streams(c);
	if (!(c->job = job_new(c))) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = put_choose_copies(c, picks, &npicks)) < 0)
		goto out;

	/* Every streamed target commits in a thread of its own, the primary
	 * too: one that hangs holds up neither the others nor the quorum,
	 * which waits at most the write timeout. */
	for (i = 0; i < put->nt; i++) {
		put_start(c, put->t[i].s, put->t[i].id, put->t[i].w);
		put->t[i].w = NULL;
	}
	for (i = 0; i < npicks; i++) {
		gv_sector *dst = gv_store_sector_handle(c->st, c->sectors[picks[i]].id, NULL, 0);

		if (dst)
			put_start(c, dst, c->sectors[picks[i]].id, NULL);
	}
	err = put_await_quorum(c);
	err = put_settle(c, err, res);
	if (err == 0)
		put_record_blocks(c, 0);

out:
	if (locked)
		gv_key_unlock(c->st, &c->key);
	if (c->job)
		job_unref(c->job);
	free(c->sectors);
	free(c->tab);
	free(c);
	gv_put_abort(put);
	return err;
}

int gv_put_fd(gv_store *st, int fd, gv_put_result *res)
{
	return gv_put_fd_progress(st, fd, res, NULL, NULL);
}

int gv_put_fd_progress(gv_store *st, int fd, gv_put_result *res,
                       void (*on_progress)(uint64_t done, uint64_t total, void *payload),
                       void *payload)
{
	gv_put_opts opts = GV_PUT_OPTS_INIT;
	uint64_t done = 0;
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
		done += (uint64_t)n;
		if (on_progress)
			on_progress(done, opts.size_hint, payload);
	}
	err = gv_put_commit(put, res);
out:
	free(buf);
	return err;
}
