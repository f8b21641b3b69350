/*
 * repair.c - gap detection, risk-ordered parallel repair, resumable copies,
 * surplus trimming, the repair daemon.
 *
 * Map:
 *   classify()       one key's state from its replica rows
 *   scan()           walk the index in batches with the blobs_next cursor
 *   run_copy()       a COPY job: plan_copy() (sources, resumed partials,
 *                    placement's picks), run_copies() (copy, then drop the
 *                    bad copies once the key is protected again)
 *   copy_to()        one resumable, verified copy into one target, through
 *                    the copy module (copy.h)
 *   patch_in_place() range-level repair first: bad and incomplete copies
 *                    whose sector can write in place get only their
 *                    missing or bad blocks rewritten (gv_patch_replica)
 *   run_tidy()       TRIM / MOVE / CLEANUP for keys at or above the factor
 *                    (tidy_move(), tidy_trim(), cleanup())
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
#include "core/clock.h"
#include "core/log.h"
#include "engine/copy.h"
#include "engine/store.h"
#include "graviton/health.h"
#include "engine/limiter.h"
#include "engine/workq.h"

#define COPY_BUF GV_COPY_BUF

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

static int cancelled(const run *r)
{
	return r->o.cancel && *r->o.cancel;
}

static int sector_eligible(const gv_sector_info *sectors, size_t n, const char *id)
{
	long i = gv_placement_find(sectors, n, id);

	return i >= 0 && sectors[i].healthy && sectors[i].state == GV_SECTOR_ACTIVE;
}

/*
 * Is id a sector the failure detector took down (graviton/health.h)?  Its
 * copies are away, not bad: they count again when it answers, so they
 * are neither copied from nor dropped, and a trim follows its return.
 * (load_key fills the reasons of unhealthy sectors.)
 */
static int sector_away(const gv_sector_info *sectors, size_t n, const char *id)
{
	long i = gv_placement_find(sectors, n, id);

	return i >= 0 && !sectors[i].healthy && sectors[i].state != GV_SECTOR_RETIRED &&
	       strncmp(sectors[i].reason, GV_HEALTH_REASON, strlen(GV_HEALTH_REASON)) == 0;
}

/* The reasons of the unhealthy sectors, for sector_away. */
static void fill_reasons(gv_store *st, gv_sector_info *sectors, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!sectors[i].healthy)
			gv_store_sector_reason(st, &sectors[i]);
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
		} else if (rp->healthy && sector_away(sectors, nsectors, rp->sector)) {
			continue; /* back when its sector answers */
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

/* Drop one replica under the key lock (a put or delete of the key never
 * sees half of it): row then bytes; a partial claims nothing first. */
static void drop_replica(run *r, const gv_replica *rp, int partial)
{
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if (gv_key_lock(r->st, &rp->key) < 0) {
		gv_warn("event=repair_drop_failed key=%s sector=%s error=\"%s\"",
		        gv_key_format(kbuf, &rp->key), rp->sector, gv_error_last());
		return;
	}
	err = gv_replica_drop_locked(r->st, &rp->key, rp->sector, partial, rp->ranges.n > 0);
	gv_key_unlock(r->st, &rp->key);
	if (err < 0)
		return;
	pthread_mutex_lock(&r->mu);
	r->sum.replicas_removed++;
	pthread_mutex_unlock(&r->mu);
}

static void count_bytes(uint64_t n, void *payload)
{
	run *r = payload;

	pthread_mutex_lock(&r->mu);
	r->bytes_done += n;
	/* Progress by bytes as a copy goes, not only when a key is done. */
	if (r->o.on_progress)
		r->o.on_progress(r->bytes_done, r->bytes_total, r->jobs_done, r->jobs_total,
		                 r->o.payload);
	pthread_mutex_unlock(&r->mu);
}

/* One resumable, verified copy into `target` (copy.h) under the run's
 * rate limit, progress and cancel. */
static int copy_to(run *r, const gv_key *key, const char (*srcs)[GV_ID_MAX], size_t nsrc,
                   const char *target, const gv_replica *row, gv_copy_result *res, char *buf)
{
	char kbuf[GV_KEY_BUFSIZE];
	gv_copy_opts o;
	int err;

	memset(&o, 0, sizeof(o));
	o.lim = &r->lim;
	o.cancel = r->o.cancel;
	o.on_bytes = count_bytes;
	o.payload = r;
	o.buf = buf;
	err = gv_copy_key(r->st, key, srcs, nsrc, target, row, &o, res);
	if (err == 0)
		gv_debug("event=repair_copied key=%s target=%s bytes=%llu", gv_key_format(kbuf, key),
		         target, (unsigned long long)res->written);
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
	fill_reasons(r->st, *sectors, *nsectors);
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

/* The plan of one COPY job: its sources and its targets. */
typedef struct copy_plan {
	char srcs[GV_REPAIR_MAX_TARGETS * 2][GV_ID_MAX];  /* healthy, best first */
	const char *placed[GV_REPAIR_MAX_TARGETS * 3];
	size_t nplaced;
	char chosen[GV_REPAIR_MAX_TARGETS][GV_ID_MAX];
	const gv_replica *chosen_row[GV_REPAIR_MAX_TARGETS]; /* partial resumed, or NULL */
	size_t nchosen;
	int need;
	int perr;                                         /* placement fell short */
	char msg[512];
} copy_plan;

/* A job that failed: report it and count it. */
static void job_failed(run *r, gv_repair_event *ev, int err, const char *msg, int lost)
{
	event_fail(ev, err, msg);
	emit(r, ev, 0);
	count_job(r, ev, 0, lost);
}

/* Resume interrupted copies whose sector still takes data and whose
 * failure domain is still new to this key. */
static void plan_resumes(run *r, copy_plan *cp, const keystate *ks,
                         const gv_sector_info *sectors, size_t nsectors)
{
	size_t i;

	for (i = 0; i < ks->np && (int)cp->nchosen < cp->need; i++) {
		const gv_replica *rp = &ks->reps[ks->partial[i]];
		gv_placement_report before, after;
		const char *with[GV_REPAIR_MAX_TARGETS * 3];
		int fresh;

		memcpy(with, cp->placed, cp->nplaced * sizeof(*with));
		with[cp->nplaced] = rp->sector;
		gv_placement_check(&before, &r->popt, sectors, nsectors, cp->placed, cp->nplaced);
		gv_placement_check(&after, &r->popt, sectors, nsectors, with, cp->nplaced + 1);
		fresh = r->popt.strategy == GV_STRATEGY_SIMPLE ||
		        (r->popt.strategy == GV_STRATEGY_RACK_AWARE ? after.racks > before.racks
		                                                    : after.zones > before.zones);
		if (!fresh)
			continue; /* dropped by the cleanup once the key is safe */
		snprintf(cp->chosen[cp->nchosen], GV_ID_MAX, "%s", rp->sector);
		cp->chosen_row[cp->nchosen++] = rp;
		cp->placed[cp->nplaced++] = rp->sector;
	}
}

/* Placement's picks; when there is not enough room elsewhere, a sector
 * holding a bad copy may take a fresh one (the commit replaces the bad
 * bytes, the row turns healthy). */
static size_t choose_new(run *r, copy_plan *cp, gv_placement_req *req, const char **exclude,
                         const keystate *ks, const gv_sector_info *sectors, size_t nsectors,
                         size_t *picks)
{
	size_t picks2[GV_REPAIR_MAX_TARGETS], npicks = 0, npicks2 = 0, nex2 = 0, i, j;
	int perr2;

	cp->perr = gv_placement_choose(picks, &npicks, &r->popt, sectors, nsectors, req);
	if (cp->perr == 0 || ks->nb == 0)
		return npicks;
	for (i = 0; i < req->nexclude; i++) {
		for (j = 0; j < ks->nb; j++)
			if (strcmp(exclude[i], ks->reps[ks->bad[j]].sector) == 0)
				break;
		if (j == ks->nb)
			exclude[nex2++] = exclude[i];
	}
	req->nexclude = nex2;
	perr2 = gv_placement_choose(picks2, &npicks2, &r->popt, sectors, nsectors, req);
	if (perr2 == 0 || npicks2 > npicks) {
		memcpy(picks, picks2, npicks2 * sizeof(*picks));
		npicks = npicks2;
		cp->perr = perr2;
	}
	return npicks;
}

/* New targets from placement; everything else holding a row is excluded.
 * A pick that holds an interrupted copy resumes it. */
static void plan_picks(run *r, copy_plan *cp, const gv_key *key, const keystate *ks,
                       const gv_sector_info *sectors, size_t nsectors)
{
	const char *exclude[GV_REPAIR_MAX_TARGETS * 4];
	size_t picks[GV_REPAIR_MAX_TARGETS], npicks, nexcl = 0, i, j;
	gv_placement_req req;

	for (i = 0; i < ks->n; i++) {
		int in = 0;

		for (j = 0; j < cp->nplaced; j++)
			if (strcmp(cp->placed[j], ks->reps[i].sector) == 0)
				in = 1;
		if (!in)
			exclude[nexcl++] = ks->reps[i].sector;
	}
	memset(&req, 0, sizeof(req));
	req.key = key;
	req.placed = cp->placed;
	req.nplaced = cp->nplaced;
	req.exclude = exclude;
	req.nexclude = nexcl;
	req.want = (size_t)cp->need - cp->nchosen;
	npicks = choose_new(r, cp, &req, exclude, ks, sectors, nsectors, picks);
	if (cp->perr < 0)
		snprintf(cp->msg, sizeof(cp->msg), "%s", gv_error_last());
	for (i = 0; i < npicks; i++) {
		snprintf(cp->chosen[cp->nchosen], GV_ID_MAX, "%s", sectors[picks[i]].id);
		cp->chosen_row[cp->nchosen] = NULL;
		for (j = 0; j < ks->np; j++)
			if (strcmp(ks->reps[ks->partial[j]].sector, cp->chosen[cp->nchosen]) == 0)
				cp->chosen_row[cp->nchosen] = &ks->reps[ks->partial[j]];
		cp->nchosen++;
	}
}

/* Still short: an interrupted copy that adds no new domain still brings
 * the key back to its factor (else its row would keep its sector from
 * ever being chosen). */
static void plan_leftovers(copy_plan *cp, const keystate *ks)
{
	size_t i, j;

	for (i = 0; i < ks->np && (int)cp->nchosen < cp->need; i++) {
		const gv_replica *rp = &ks->reps[ks->partial[i]];

		for (j = 0; j < cp->nchosen; j++)
			if (strcmp(cp->chosen[j], rp->sector) == 0)
				break;
		if (j < cp->nchosen)
			continue;
		snprintf(cp->chosen[cp->nchosen], GV_ID_MAX, "%s", rp->sector);
		cp->chosen_row[cp->nchosen++] = rp;
	}
}

/* Sources and targets of a key below its factor (ks->nh > 0). */
static void plan_copy(run *r, copy_plan *cp, const gv_key *key, const keystate *ks,
                      const gv_sector_info *sectors, size_t nsectors)
{
	size_t i;

	memset(cp, 0, sizeof(*cp));
	cp->need = r->popt.factor - (int)ks->nh;
	if (cp->need > GV_REPAIR_MAX_TARGETS)
		cp->need = GV_REPAIR_MAX_TARGETS;
	for (i = 0; i < ks->nh; i++) {
		snprintf(cp->srcs[i], GV_ID_MAX, "%s", ks->reps[ks->healthy[i]].sector);
		cp->placed[cp->nplaced++] = ks->reps[ks->healthy[i]].sector;
	}
	plan_resumes(r, cp, ks, sectors, nsectors);
	if ((int)cp->nchosen < cp->need)
		plan_picks(r, cp, key, ks, sectors, nsectors);
	plan_leftovers(cp, ks);
}

/* Copy into every chosen target; the number written. */
static int copy_targets(run *r, const gv_key *key, const keystate *ks, copy_plan *cp,
                        gv_repair_event *ev, char *buf, int *err)
{
	int written = 0;
	size_t i;

	*err = 0;
	ev->bytes = 0;
	for (i = 0; i < cp->nchosen && !cancelled(r); i++) {
		gv_copy_result res = { 0, 0 };
		int e = copy_to(r, key, (const char (*)[GV_ID_MAX])cp->srcs, ks->nh, cp->chosen[i],
		                cp->chosen_row[i], &res, buf);

		ev->bytes += res.written;
		ev->resumed_bytes += res.resumed;
		if (e < 0) {
			*err = e;
			snprintf(cp->msg, sizeof(cp->msg), "target %s: %s", cp->chosen[i],
			         gv_error_last());
			continue;
		}
		written++;
	}
	pthread_mutex_lock(&r->mu);
	r->sum.replicas_written += (uint64_t)written;
	r->sum.bytes_copied += ev->bytes;
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&r->st->stats_lock);
	r->st->repair.bytes_copied += ev->bytes;
	pthread_mutex_unlock(&r->st->stats_lock);
	return written;
}

/* Make the planned copies, drop the bad ones once the key is protected
 * again (rows, then bytes), report. */
static void run_copies(run *r, const gv_key *key, keystate *ks, copy_plan *cp,
                       gv_repair_event *ev)
{
	char *buf = malloc(COPY_BUF);
	int written, err;

	if (!buf) {
		job_failed(r, ev, GV_ENOMEM, "out of memory", 0);
		return;
	}
	written = copy_targets(r, key, ks, cp, ev, buf, &err);
	free(buf);
	if ((int)ks->nh + written >= r->popt.factor)
		cleanup(r, ks, (const char (*)[GV_ID_MAX])cp->chosen, cp->nchosen, ev);
	if (err < 0 || written == 0) {
		job_failed(r, ev, err < 0 ? err : GV_ERROR, cp->msg[0] ? cp->msg : "no copy succeeded",
		           0);
		return;
	}
	emit(r, ev, 1);
	count_job(r, ev, 1, 0);
}

/*
 * Rewrite in place the missing or bad blocks of the key's bad and
 * incomplete copies on sectors that take data (gv_patch_replica); the
 * number made whole, each named in ev's targets.  A copy that cannot be
 * patched is left to the whole copies that follow.
 */
static int patch_in_place(run *r, const gv_key *key, const keystate *ks,
                          const gv_sector_info *sectors, size_t nsectors, gv_repair_event *ev)
{
	char srcs[GV_REPAIR_MAX_TARGETS * 2][GV_ID_MAX];
	size_t i, idx[GV_REPAIR_MAX_TARGETS * 4];
	gv_copy_opts o;
	int made = 0;

	for (i = 0; i < ks->nh; i++)
		snprintf(srcs[i], GV_ID_MAX, "%s", ks->reps[ks->healthy[i]].sector);
	memcpy(idx, ks->bad, ks->nb * sizeof(*idx));
	memcpy(idx + ks->nb, ks->partial, ks->np * sizeof(*idx));
	memset(&o, 0, sizeof(o));
	o.lim = &r->lim;
	o.cancel = r->o.cancel;
	o.on_bytes = count_bytes;
	o.payload = r;
	for (i = 0; i < ks->nb + ks->np && (int)ks->nh + made < r->popt.factor && !cancelled(r);
	     i++) {
		const gv_replica *rp = &ks->reps[idx[i]];
		gv_copy_result res = { 0, 0 };
		char kbuf[GV_KEY_BUFSIZE];
		int err;

		if (!sector_eligible(sectors, nsectors, rp->sector))
			continue;
		err = gv_patch_replica(r->st, key, (const char (*)[GV_ID_MAX])srcs, ks->nh,
		                       rp->sector, rp, &o, &res);
		ev->bytes += res.written;
		pthread_mutex_lock(&r->mu);
		r->sum.bytes_copied += res.written;
		pthread_mutex_unlock(&r->mu);
		pthread_mutex_lock(&r->st->stats_lock);
		r->st->repair.bytes_copied += res.written;
		pthread_mutex_unlock(&r->st->stats_lock);
		if (err < 0)
			gv_warn("event=repair_patch_failed key=%s sector=%s error=\"%s\"",
			        gv_key_format(kbuf, key), rp->sector, gv_error_last());
		if (err != 0)
			continue;
		if (ev->ntargets < GV_REPAIR_MAX_TARGETS)
			snprintf(ev->targets[ev->ntargets++], GV_ID_MAX, "%.63s", rp->sector);
		made++;
	}
	if (made) {
		pthread_mutex_lock(&r->mu);
		r->sum.replicas_written += (uint64_t)made;
		pthread_mutex_unlock(&r->mu);
	}
	return made;
}

/* A COPY job: bring a key below its factor back to it. */
static void run_copy(run *r, const gv_key *key)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, i;
	char msg[512];
	gv_repair_event ev;
	copy_plan cp;
	keystate ks;
	int err;

	err = load_key(r, key, &ks, &sectors, &nsectors);
	if (err == GV_ENOTFOUND) {
		/* Deleted since it was queued or scanned: nothing to repair. */
		count_skip(r, key);
		return;
	}
	if (err < 0) {
		event_init(&ev, r, GV_REPAIR_COPY, key, 0);
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		job_failed(r, &ev, err, msg, 0);
		return;
	}
	event_init(&ev, r, GV_REPAIR_COPY, key, (int)ks.nh);
	if (ks.nh == 0) {
		ev.action = GV_REPAIR_LOST;
		job_failed(r, &ev, GV_ELOST, "no healthy replica left", 1);
		goto out;
	}
	if ((int)ks.nh < r->popt.factor && !r->o.dry_run &&
	    patch_in_place(r, key, &ks, sectors, nsectors, &ev) > 0) {
		/* Copies made whole in place count now; whole copies only
		 * for what is still missing. */
		uint64_t patched = ev.bytes;

		free(sectors);
		gv_replicas_free(ks.reps, ks.n);
		if ((err = load_key(r, key, &ks, &sectors, &nsectors)) < 0) {
			snprintf(msg, sizeof(msg), "%s", gv_error_last());
			job_failed(r, &ev, err, msg, 0);
			return;
		}
		ev.healthy = (int)ks.nh;
		if ((int)ks.nh >= r->popt.factor) {
			cleanup(r, &ks, NULL, 0, &ev);
			ev.bytes = patched;
			emit(r, &ev, 1);
			count_job(r, &ev, 1, 0);
			goto out;
		}
	}
	if ((int)ks.nh >= r->popt.factor) {
		/* Already at the factor (queued keys, or repaired meanwhile):
		 * only the tidy work can be left. */
		free(sectors);
		gv_replicas_free(ks.reps, ks.n);
		run_tidy(r, key);
		return;
	}
	plan_copy(r, &cp, key, &ks, sectors, nsectors);
	snprintf(ev.source, sizeof(ev.source), "%s", cp.srcs[0]);
	for (i = 0; i < cp.nchosen; i++)
		snprintf(ev.targets[ev.ntargets++], GV_ID_MAX, "%.63s", cp.chosen[i]);
	ev.bytes = key->size * cp.nchosen;
	if (cp.nchosen == 0) {
		job_failed(r, &ev, cp.perr ? cp.perr : GV_EINSUFFICIENT_SECTORS,
		           cp.msg[0] ? cp.msg : "no eligible target sector", 0);
	} else if (r->o.dry_run) {
		if ((int)(ks.nh + cp.nchosen) >= r->popt.factor)
			cleanup(r, &ks, (const char (*)[GV_ID_MAX])cp.chosen, cp.nchosen, &ev);
		emit(r, &ev, 1);
		count_job(r, &ev, 1, 0);
	} else {
		run_copies(r, key, &ks, &cp, &ev);
	}
out:
	free(sectors);
	gv_replicas_free(ks.reps, ks.n);
}

/* A MOVE's copy into `target` from the key's healthy replicas. */
static int tidy_copy(run *r, const gv_key *key, const keystate *ks, const char *target,
                     char *msg, size_t cap)
{
	char srcs[GV_REPAIR_MAX_TARGETS * 2][GV_ID_MAX];
	gv_copy_result res = { 0, 0 };
	size_t i;
	int err;

	for (i = 0; i < ks->nh; i++)
		snprintf(srcs[i], GV_ID_MAX, "%s", ks->reps[ks->healthy[i]].sector);
	err = copy_to(r, key, (const char (*)[GV_ID_MAX])srcs, ks->nh, target, NULL, &res, NULL);
	if (err < 0) {
		snprintf(msg, cap, "%s", gv_error_last());
		return err;
	}
	pthread_mutex_lock(&r->mu);
	r->sum.replicas_written++;
	r->sum.bytes_copied += res.written;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

enum { TIDY_GO, TIDY_REPORT };

/*
 * MOVE: a key at its factor whose copies crowd a failure domain gets a
 * copy in a new one; the trim then drops one from the crowded domain.
 * Once the copy is made (or planned, in a dry run) the key is read again
 * (ks, sectors, ids) so the trim sees it.  TIDY_REPORT: report now.
 */
static int tidy_move(run *r, const gv_key *key, keystate *ks, gv_sector_info **sectors,
                     size_t *nsectors, const char **ids, gv_repair_event *ev, char *msg,
                     size_t cap, int *ok)
{
	gv_placement_req req;
	gv_placement_report before, after;
	const char *excl[GV_REPAIR_MAX_TARGETS * 2];
	size_t pick, npick = 0, ne = 0, i;

	ev->action = GV_REPAIR_MOVE;
	for (i = 0; i < ks->nb; i++)
		excl[ne++] = ks->reps[ks->bad[i]].sector;
	for (i = 0; i < ks->np; i++)
		excl[ne++] = ks->reps[ks->partial[i]].sector;
	memset(&req, 0, sizeof(req));
	req.key = key;
	req.placed = ids;
	req.nplaced = ks->nh;
	req.exclude = excl;
	req.nexclude = ne;
	req.want = 1;
	gv_placement_choose(&pick, &npick, &r->popt, *sectors, *nsectors, &req);
	gv_placement_check(&before, &r->popt, *sectors, *nsectors, ids, ks->nh);
	if (npick != 1)
		return TIDY_GO;
	ids[ks->nh] = (*sectors)[pick].id;
	gv_placement_check(&after, &r->popt, *sectors, *nsectors, ids, ks->nh + 1);
	if (after.racks <= before.racks && after.zones <= before.zones)
		return TIDY_GO;
	snprintf(ev->source, sizeof(ev->source), "%s", ks->reps[ks->healthy[0]].sector);
	snprintf(ev->targets[ev->ntargets++], GV_ID_MAX, "%s", (*sectors)[pick].id);
	ev->bytes = key->size;
	if (!r->o.dry_run && tidy_copy(r, key, ks, (*sectors)[pick].id, msg, cap) < 0) {
		*ok = 0;
		return TIDY_REPORT;
	}
	/* Re-read: the trim must see the new replica. */
	free(*sectors);
	gv_replicas_free(ks->reps, ks->n);
	*sectors = NULL;
	memset(ks, 0, sizeof(*ks));
	if (load_key(r, key, ks, sectors, nsectors) < 0) {
		if (!r->o.dry_run) {
			snprintf(msg, cap, "%s", gv_error_last());
			*ok = 0;
		}
		return TIDY_REPORT;
	}
	for (i = 0; i < ks->nh; i++)
		ids[i] = ks->reps[ks->healthy[i]].sector;
	if (r->o.dry_run) {
		/* Plan the trim as if the copy were made. */
		ids[ks->nh] = ev->targets[0];
		ks->nh++;
	}
	return TIDY_GO;
}

/* TRIM: drop the surplus healthy copies placement picks (rows, then
 * bytes).  0 when placement cannot pick them (msg says why). */
static int tidy_trim(run *r, keystate *ks, const gv_sector_info *sectors, size_t nsectors,
                     const char **ids, gv_repair_event *ev, char *msg, size_t cap)
{
	size_t out[GV_REPAIR_MAX_TARGETS * 2];
	size_t nrem = ks->nh - (size_t)r->popt.factor, i, h;

	if (ev->action == GV_REPAIR_CLEANUP)
		ev->action = GV_REPAIR_TRIM;
	if (gv_placement_trim(out, &r->popt, sectors, nsectors, ids, ks->nh, nrem) != 0) {
		snprintf(msg, cap, "%s", gv_error_last());
		return 0;
	}
	for (i = 0; i < nrem; i++) {
		if (ev->nremoved < GV_REPAIR_MAX_TARGETS)
			snprintf(ev->removed[ev->nremoved++], GV_ID_MAX, "%s", ids[out[i]]);
		if (r->o.dry_run)
			continue;
		for (h = 0; h < ks->nh; h++)
			if (ks->healthy[h] < ks->n &&
			    strcmp(ks->reps[ks->healthy[h]].sector, ids[out[i]]) == 0)
				drop_replica(r, &ks->reps[ks->healthy[h]], 0);
	}
	return 1;
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
	int err, ok = 1;

	err = load_key(r, key, &ks, &sectors, &nsectors);
	if (err == GV_ENOTFOUND) {
		count_skip(r, key);
		return;
	}
	if (err < 0) {
		event_init(&ev, r, GV_REPAIR_CLEANUP, key, 0);
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		job_failed(r, &ev, err, msg, 0);
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
	if ((int)ks.nh == r->popt.factor && misplaced(r, &ks, sectors, nsectors) &&
	    tidy_move(r, key, &ks, &sectors, &nsectors, ids, &ev, msg, sizeof(msg), &ok) ==
	            TIDY_REPORT)
		goto report;
	if (ok && (int)ks.nh > r->popt.factor)
		ok = tidy_trim(r, &ks, sectors, nsectors, ids, &ev, msg, sizeof(msg));
	if (ok)
		cleanup(r, &ks, NULL, 0, &ev);
report:
	if (!ok)
		event_fail(&ev, GV_ERROR, msg);
	emit(r, &ev, ok);
	count_job(r, &ev, ok, 0);
out:
	free(sectors);
	gv_replicas_free(ks.reps, ks.n);
}

static void job_main(void *p, void *payload)
{
	job *j = p;
	run *r = payload;
	char work[GV_CLAIM_NAME_MAX];

	gv_work_name_key(work, sizeof(work), &j->key);
	/* Another gateway on the index has the key: it does the work (or,
	 * if it died, a pass after its claim runs out); its queue row stays. */
	if (!cancelled(r) && (r->o.dry_run || gv_work_claim(r->st, work))) {
		if (j->kind == JOB_COPY)
			run_copy(r, &j->key);
		else
			run_tidy(r, &j->key);
		if (!r->o.dry_run)
			gv_work_release(r->st, work);
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
	fill_reasons(r->st, sectors, nsectors);
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

/* Finish a run (err: how it ended; full: a full run, not the queue's):
 * counters, log line, summary; frees r. */
static void run_end(run *r, int err, int full, gv_repair_summary *out)
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
		if (full && err == 0 && r->sum.failed == 0)
			st->repair.last_success_ms = st->repair.last_run_ms;
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
	run_end(r, err, 1, out);
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
	run_end(r, err, 0, out);
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
			gv_deadline_in(&next_full, interval_ms);
		} else {
			err = gv_repair_run_queued(st, &o, &sum);
		}
		if (err < 0 && err != GV_ECANCELED)
			gv_errlog("event=repair_run_failed error=\"%s\"", gv_error_last());
		gv_deadline_in(&next_poll, QUEUE_POLL_MS);

		/* Sleep until the interval ends, a key is queued or the queue
		 * is due a look; wake at least every 100 ms to notice *stop. */
		pthread_mutex_lock(&st->stats_lock);
		for (;;) {
			struct timespec now, step;

			clock_gettime(CLOCK_MONOTONIC, &now);
			full = (interval_ms > 0 && !before(&now, &next_full)) || st->repair_full;
			if (*stop || full || st->repair_wake || !before(&now, &next_poll))
				break;
			gv_deadline_in(&step, 100);
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
