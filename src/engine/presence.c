/*
 * presence.c - the presence audit: each sector's listing against the
 * index's replica rows for it (see graviton/scrub.h).
 *
 * Per sector: the listing is taken first (names and sizes) and sorted by
 * key; then the sector's rows are walked in key order and each looked up
 * in it.  A row whose file is not listed, or listed with another size, is
 * a candidate, decided under the key's lock: the row must still be there,
 * healthy and complete, and a stat of the file must confirm it.  Every
 * path that records a replica commits its bytes first and records under
 * the same lock, so a row recorded after the listing (a put or copy in
 * flight) finds its file at that stat and is left alone.  Listed files
 * that no row matched are counted as unrecorded and left to reclaim.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/limiter.h"
#include "engine/store.h"
#include "graviton/scrub.h"

#define ROWS_BATCH 512

typedef struct listed {
	gv_key key;
	uint64_t bytes; /* the file's size, which may differ from key.size */
	int seen;       /* a row matched it */
} listed;

typedef struct pctx {
	gv_store *st;
	const gv_presence_opts *o;
	gv_presence_summary *sum;
	const char *sector;
	gv_sector *s;
	listed *files;
	size_t nfiles, cap;
} pctx;

static int canceled(const pctx *c)
{
	return c->o->cancel && *c->o->cancel;
}

static int list_cb(const gv_key *key, uint64_t bytes, void *payload)
{
	pctx *c = payload;

	if (canceled(c))
		return gv_error_set(GV_ECANCELED, "presence audit canceled");
	if (c->nfiles == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		listed *nf = realloc(c->files, ncap * sizeof(*nf));

		if (!nf)
			return gv_error_set(GV_ENOMEM, "out of memory");
		c->files = nf;
		c->cap = ncap;
	}
	c->files[c->nfiles].key = *key;
	c->files[c->nfiles].bytes = bytes;
	c->files[c->nfiles].seen = 0;
	c->nfiles++;
	return 0;
}

static int listed_cmp(const void *a, const void *b)
{
	return gv_key_cmp(&((const listed *)a)->key, &((const listed *)b)->key);
}

/* The row of (key, sector) if it is healthy and complete: 1, else 0. */
static int row_counted(gv_index *ix, const gv_key *key, const char *sector)
{
	gv_replica *reps = NULL;
	size_t n = 0, i;
	int found = 0;

	if (gv_index_replicas_find(ix, key, &reps, &n) < 0) {
		gv_error_clear();
		return 0;
	}
	for (i = 0; i < n && !found; i++)
		found = strcmp(reps[i].sector, sector) == 0 && reps[i].healthy &&
		        gv_rangeset_is_full(&reps[i].ranges, key->size);
	gv_replicas_free(reps, n);
	return found;
}

/*
 * Decide a candidate under its key's lock: a row still counted on whose
 * file is missing or of another size is marked unhealthy and queued.
 */
static void check_candidate(pctx *c, const gv_key *key)
{
	char kbuf[GV_KEY_BUFSIZE];
	const char *reason = NULL;
	uint64_t size = 0;
	int err;

	gv_key_format(kbuf, key);
	if ((err = gv_key_lock(c->st, key)) < 0) {
		gv_warn("event=presence_failed key=%s sector=%s error=\"%s\"", kbuf, c->sector,
		        gv_error_last());
		return;
	}
	if (row_counted(gv_store_index(c->st), key, c->sector)) {
		err = gv_sector_stat(c->s, key, &size);
		if (err == GV_ENOTFOUND)
			reason = "missing";
		else if (err == 0 && size != key->size)
			reason = "size mismatch";
		else if (err < 0)
			gv_warn("event=presence_failed key=%s sector=%s error=\"%s\"", kbuf,
			        c->sector, gv_error_last());
		if (reason)
			gv_store_mark_unhealthy(c->st, key, c->sector, reason);
	}
	gv_key_unlock(c->st, key);
	if (!reason)
		return;
	if (reason[0] == 'm')
		c->sum->missing++;
	else
		c->sum->wrong_size++;
	if (c->o->on_bad) {
		gv_scrub_event ev;

		memset(&ev, 0, sizeof(ev));
		ev.key = *key;
		snprintf(ev.sector, sizeof(ev.sector), "%s", c->sector);
		ev.was_healthy = 1;
		ev.reason = reason;
		c->o->on_bad(&ev, c->o->payload);
	}
}

/* Walk the sector's rows against the sorted listing. */
static int walk_rows(pctx *c)
{
	gv_key keys[ROWS_BATCH], after;
	size_t n, i;
	int err, started = 0;

	for (;;) {
		if (canceled(c))
			return gv_error_set(GV_ECANCELED, "presence audit canceled");
		if ((err = gv_index_sector_keys_next(gv_store_index(c->st), c->sector,
		                                     started ? &after : NULL, ROWS_BATCH, keys,
		                                     &n)) < 0)
			return err;
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++) {
			listed probe, *f;

			probe.key = keys[i];
			f = c->nfiles ? bsearch(&probe, c->files, c->nfiles, sizeof(*c->files),
			                        listed_cmp)
			              : NULL;
			c->sum->rows_checked++;
			if (f)
				f->seen = 1;
			if (!f || f->bytes != keys[i].size)
				check_candidate(c, &keys[i]);
		}
		after = keys[n - 1];
		started = 1;
	}
}

static void count_unrecorded(pctx *c)
{
	char kbuf[GV_KEY_BUFSIZE];
	size_t i;

	for (i = 0; i < c->nfiles; i++) {
		if (c->files[i].seen)
			continue;
		c->sum->unrecorded++;
		gv_info("event=presence_unrecorded key=%s sector=%s bytes=%" PRIu64
		        " note=\"left to reclaim\"",
		        gv_key_format(kbuf, &c->files[i].key), c->sector, c->files[i].bytes);
	}
}

static int presence_sector(pctx *c, const gv_sector_info *si)
{
	char why[GV_REASON_MAX];
	int err;

	c->sector = si->id;
	c->nfiles = 0;
	/* A sector that is gone would list nothing: its replicas are the
	 * sector check's business, not each one's. */
	if (!si->healthy || si->state == GV_SECTOR_RETIRED)
		return 0;
	c->s = gv_store_sector_handle(c->st, si->id, why, sizeof(why));
	if (!c->s || gv_sector_check(c->s) < 0) {
		gv_warn("event=presence_skipped sector=%s reason=\"%s\"", si->id,
		        c->s ? gv_error_last() : why);
		return 0;
	}
	if ((err = gv_sector_list(c->s, list_cb, c)) < 0)
		return err;
	if (c->nfiles > 0)
		qsort(c->files, c->nfiles, sizeof(*c->files), listed_cmp);
	if (c->o->on_listed)
		c->o->on_listed(si->id, c->o->payload);
	if ((err = walk_rows(c)) < 0)
		return err;
	count_unrecorded(c);
	c->sum->sectors++;
	return 0;
}

int gv_presence_run(gv_store *st, const gv_presence_opts *opts, gv_presence_summary *out)
{
	gv_presence_opts o = opts ? *opts : (gv_presence_opts)GV_PRESENCE_OPTS_INIT;
	gv_sector_info *sectors = NULL;
	size_t n = 0, i;
	int64_t t0 = gv_now_ms();
	int err = 0, found = 0;
	pctx c;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.o = &o;
	c.sum = out;
	if ((err = gv_index_sector_list(gv_store_index(st), &sectors, &n)) < 0)
		return err;
	gv_info("event=presence_start sector=%s", o.sector ? o.sector : "*");
	for (i = 0; i < n; i++) {
		if (o.sector && strcmp(o.sector, sectors[i].id) != 0)
			continue;
		found = 1;
		err = presence_sector(&c, &sectors[i]);
		if (err == GV_ECANCELED || err == GV_ENOMEM)
			break;
		if (err < 0) {
			gv_warn("event=presence_failed sector=%s error=\"%s\"", sectors[i].id,
			        gv_error_last());
			err = 0;
		}
	}
	if (err == 0 && o.sector && !found)
		err = gv_error_set(GV_ENOTFOUND, "no sector %s", o.sector);
	free(sectors);
	free(c.files);
	out->duration_ms = gv_now_ms() - t0;
	pthread_mutex_lock(&st->stats_lock);
	st->presence.rows_checked += out->rows_checked;
	st->presence.missing += out->missing;
	st->presence.wrong_size += out->wrong_size;
	st->presence.unrecorded += out->unrecorded;
	if (err == 0) {
		st->presence.runs++;
		st->presence.last_run_ms = gv_now_ms();
	}
	pthread_mutex_unlock(&st->stats_lock);
	gv_info("event=presence_end sectors=%" PRIu64 " rows_checked=%" PRIu64 " missing=%" PRIu64
	        " wrong_size=%" PRIu64 " unrecorded=%" PRIu64 " ms=%lld",
	        out->sectors, out->rows_checked, out->missing, out->wrong_size, out->unrecorded,
	        (long long)out->duration_ms);
	return err;
}

void gv_presence_counters_get(gv_store *st, gv_presence_counters *out)
{
	pthread_mutex_lock(&st->stats_lock);
	*out = st->presence;
	pthread_mutex_unlock(&st->stats_lock);
}

void gv_presence_daemon(gv_store *st, const gv_presence_opts *opts, uint64_t interval_ms,
                        atomic_int *stop)
{
	gv_presence_opts o = opts ? *opts : (gv_presence_opts)GV_PRESENCE_OPTS_INIT;

	o.cancel = stop;
	while (!*stop) {
		gv_presence_summary sum;
		int err = gv_presence_run(st, &o, &sum);

		if (err < 0 && err != GV_ECANCELED)
			gv_errlog("event=presence_run_failed error=\"%s\"", gv_error_last());
		gv_pause_ms(interval_ms, stop);
	}
}
