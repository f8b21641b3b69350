/*
 * reclaim.c - removing temporary files of writers that are gone and
 * committed files no replica row counts on (see graviton/reclaim.h).
 *
 * A sector's committed files are listed first, without any lock: a file
 * with a row for (key, sector), or younger than the grace, is left.  The
 * rest are candidates, decided one at a time under gv_key_lock: every
 * path that records a replica (put, its late copies, repair, moves) does
 * so under the same lock, so a file found unrecorded there and still
 * older than the grace is not about to be recorded by anyone.  The grace
 * covers the window between a commit and its record that the lock does
 * not: a writer commits before it takes the lock, and a commit makes the
 * file recent.
 *
 * A lent sector (one the node protocol has used: see gv_sector_lend) is
 * only swept: its committed files belong to the rows of another node's
 * index, which this store cannot see.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/limiter.h"
#include "engine/store.h"
#include "graviton/reclaim.h"

typedef struct reclaim_ctx {
	gv_store *st;
	const gv_reclaim_opts *o;
	const char *sector;
	gv_sector *s;
	int64_t now_ms;
	gv_reclaim_summary *sum;
	gv_key *cand;        /* unrecorded and old when listed */
	size_t ncand, cap;
} reclaim_ctx;

/* 1 when a row for (key, sector) exists, 0 when none, < 0 on error. */
static int has_row(gv_index *ix, const gv_key *key, const char *sector)
{
	gv_replica *reps = NULL;
	size_t n = 0, i;
	int err, found = 0;

	err = gv_index_replicas_find(ix, key, &reps, &n);
	if (err == GV_ENOTFOUND) {
		gv_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	for (i = 0; i < n && !found; i++)
		found = strcmp(reps[i].sector, sector) == 0;
	gv_replicas_free(reps, n);
	return found;
}

/* 1 when the file is older than the grace, 0 when not (or gone), < 0. */
static int is_old(gv_sector *s, const gv_key *key, const reclaim_ctx *c)
{
	int64_t at;
	int err = gv_sector_written_at(s, key, &at);

	if (err == GV_ENOTFOUND) {
		gv_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	/* A backend that cannot tell a file's age never has it reclaimed. */
	return at > 0 && c->now_ms - at >= (int64_t)c->o->grace_ms;
}

static int list_cb(const gv_key *key, uint64_t bytes, void *payload)
{
	reclaim_ctx *c = payload;
	int r;

	(void)bytes;
	if (c->o->cancel && *c->o->cancel)
		return gv_error_set(GV_ECANCELED, "reclaim canceled");
	/* r: 1 recorded or young (keep), 2 a candidate, < 0 an error. */
	r = has_row(gv_store_index(c->st), key, c->sector);
	if (r == 0) {
		r = is_old(c->s, key, c);
		if (r == 0)
			c->sum->young++;
		r = r < 0 ? r : r ? 2 : 1;
	}
	if (r < 0) {
		c->sum->failed++;
		gv_warn("event=reclaim_failed sector=%s error=\"%s\"", c->sector, gv_error_last());
		return 0;
	}
	if (r != 2)
		return 0;
	if (c->ncand == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		gv_key *nk = realloc(c->cand, ncap * sizeof(*nk));

		if (!nk)
			return gv_error_set(GV_ENOMEM, "out of memory");
		c->cand = nk;
		c->cap = ncap;
	}
	c->cand[c->ncand++] = *key;
	return 0;
}

/* Decide one candidate under its key's lock. */
static void reclaim_one(reclaim_ctx *c, gv_sector *s, const gv_key *key)
{
	char kbuf[GV_KEY_BUFSIZE];
	uint64_t size = 0;
	int r, err;

	gv_key_format(kbuf, key);
	if ((err = gv_key_lock(c->st, key)) < 0) {
		c->sum->failed++;
		gv_warn("event=reclaim_failed key=%s sector=%s error=\"%s\"", kbuf, c->sector,
		        gv_error_last());
		return;
	}
	/* r: 1 reclaim, 0 keep (recorded meanwhile, or recent), < 0 error. */
	r = has_row(gv_store_index(c->st), key, c->sector);
	r = r == 0 ? is_old(s, key, c) : r > 0 ? 0 : r;
	if (r == 1 && gv_sector_stat(s, key, &size) < 0)
		r = -1;
	if (r == 1 && !c->o->dry_run && gv_sector_del(s, key) < 0)
		r = -1;
	gv_key_unlock(c->st, key);
	if (r < 0) {
		c->sum->failed++;
		gv_warn("event=reclaim_failed key=%s sector=%s error=\"%s\"", kbuf, c->sector,
		        gv_error_last());
	} else if (r == 1) {
		c->sum->orphan_files++;
		c->sum->orphan_bytes += size;
		gv_log(c->o->dry_run ? GV_LOG_DEBUG : GV_LOG_INFO,
		       "event=orphan_reclaimed key=%s sector=%s bytes=%" PRIu64 " dry_run=%d", kbuf,
		       c->sector, size, c->o->dry_run);
	}
}

static int reclaim_sector(reclaim_ctx *c, gv_sector *s)
{
	uint64_t files = 0, bytes = 0;
	size_t i;
	int err;

	if ((err = gv_sector_check(s)) < 0)
		return err;
	if ((err = gv_sector_sweep(s, c->o->dry_run, &files, &bytes)) < 0)
		return err;
	c->sum->tmp_files += files;
	c->sum->tmp_bytes += bytes;
	if ((err = gv_sector_lent(s)) != 0) {
		if (err > 0)
			gv_debug("event=reclaim_lent_kept sector=%s", c->sector);
		return err < 0 ? err : 0;
	}
	c->ncand = 0;
	if ((err = gv_sector_list(s, list_cb, c)) < 0)
		return err;
	for (i = 0; i < c->ncand; i++) {
		if (c->o->cancel && *c->o->cancel)
			return gv_error_set(GV_ECANCELED, "reclaim canceled");
		reclaim_one(c, s, &c->cand[i]);
	}
	return 0;
}

int gv_reclaim_run(gv_store *st, const gv_reclaim_opts *opts, gv_reclaim_summary *out)
{
	gv_reclaim_opts o = opts ? *opts : (gv_reclaim_opts)GV_RECLAIM_OPTS_INIT;
	gv_sector_info *sectors = NULL;
	reclaim_ctx c;
	size_t n = 0, i;
	double t0 = gv_mono_now();
	int err, found = 0;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.o = &o;
	c.sum = out;
	if ((err = gv_store_sector_list(st, &sectors, &n)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		gv_sector *s;

		if (o.sector && strcmp(o.sector, sectors[i].id) != 0)
			continue;
		found = 1;
		s = gv_store_sector_handle(st, sectors[i].id, NULL, 0);
		if (!s)
			continue; /* unreachable: nothing to reclaim from */
		c.sector = sectors[i].id;
		c.s = s;
		c.now_ms = gv_now_ms();
		err = reclaim_sector(&c, s);
		out->sectors++;
		if (err == GV_ECANCELED || err == GV_ENOMEM)
			break;
		if (err < 0) {
			out->failed++;
			gv_warn("event=reclaim_failed sector=%s error=\"%s\"", sectors[i].id,
			        gv_error_last());
			err = 0;
		}
	}
	free(c.cand);
	free(sectors);
	out->duration_ms = (int64_t)((gv_mono_now() - t0) * 1000.0);
	if (err == 0 && o.sector && !found)
		err = gv_error_set(GV_ENOTFOUND, "no sector '%s'", o.sector);
	return err;
}

void gv_reclaim_daemon(gv_store *st, const gv_reclaim_opts *opts, uint64_t interval_ms,
                       atomic_int *stop)
{
	gv_reclaim_opts o = opts ? *opts : (gv_reclaim_opts)GV_RECLAIM_OPTS_INIT;

	o.cancel = stop;
	while (!*stop) {
		gv_reclaim_summary sum;

		if (gv_reclaim_run(st, &o, &sum) == 0)
			gv_log(sum.tmp_files || sum.orphan_files || sum.failed ? GV_LOG_INFO : GV_LOG_DEBUG,
			       "event=reclaim tmp_files=%" PRIu64 " tmp_bytes=%" PRIu64
			       " orphan_files=%" PRIu64 " orphan_bytes=%" PRIu64 " young=%" PRIu64
			       " failed=%" PRIu64 " ms=%" PRId64, sum.tmp_files, sum.tmp_bytes,
			       sum.orphan_files, sum.orphan_bytes, sum.young, sum.failed,
			       sum.duration_ms);
		gv_pause_ms(interval_ms, stop);
	}
}
