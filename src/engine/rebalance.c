/*
 * rebalance.c - load-based rebalancing and sector drain.
 *
 * Map:
 *   load         sectors with their free space measured; a sector's room
 *                is what it holds plus its free space (room(), below)
 *   plan()       greedy: take the fullest active sector, try its keys
 *                largest first, and plan a move to the destination the
 *                placement module picks among sectors that stay no fuller
 *                than the source, underloaded ones (below low-water)
 *                first; projections are updated move by move
 *   moves        gv_move_replica (copy.c): copy (verified) -> record ->
 *                drop old row -> delete bytes
 *   drain        every key of one sector, same move, then "retired"
 *
 * Memory is bounded by max_moves plus one batch of keys per source.
 */
#include <stdatomic.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "engine/copy.h"
#include "engine/limiter.h"
#include "engine/store.h"
#include "graviton/rebalance.h"

#define KEY_BATCH 512
/* Keys of one source looked at per plan before giving up on it. */
#define SCAN_LIMIT 8192

typedef struct planned {
	gv_key key;
	char from[GV_ID_MAX];
	char to[GV_ID_MAX];
} planned;

typedef struct rbal {
	gv_store *st;
	gv_rebalance_opts o;
	gv_placement_opts popt;
	gv_sector_info *sectors;   /* used holds the projection */
	size_t nsectors;
	uint64_t *used0;           /* used at the start */
	planned *moves;
	size_t nmoves;
	gv_rebalance_summary *sum;
} rbal;

void gv_rebalance_summary_free(gv_rebalance_summary *s)
{
	if (!s)
		return;
	free(s->sectors);
	s->sectors = NULL;
	s->nsectors = 0;
}

static int counts(const gv_sector_info *s)
{
	return s->healthy && s->state == GV_SECTOR_ACTIVE && s->capacity > 0;
}

static double util(const gv_sector_info *s)
{
	return s->capacity ? (double)s->used / (double)s->capacity : 0;
}

/*
 * Utilisation is used / capacity, where the capacity rebalance works with
 * is the sector's room: the bytes its replicas hold plus its measured free
 * space.  A sector whose filesystem is smaller than its configured
 * capacity, or shared with other sectors, so weighs what it can really
 * take.  A move shifts bytes from the destination's free space to its
 * used bytes, so the room stays fixed while the plan projects moves.
 */
static void room(gv_sector_info *s)
{
	uint64_t headroom = s->capacity > s->used ? s->capacity - s->used : 0;

	if (!s->free_known)
		return;
	if (s->free < headroom)
		headroom = s->free;
	s->capacity = headroom > UINT64_MAX - s->used ? UINT64_MAX : s->used + headroom;
	s->free_known = 0; /* placement: capacity - used, as projected */
}

/* max - min utilisation over active sectors; index of the fullest. */
static double spread(const gv_sector_info *s, size_t n, const unsigned char *skip, long *fullest,
                     double *mean)
{
	double lo = INFINITY, hi = -INFINITY, tu = 0, tc = 0;
	size_t i;

	*fullest = -1;
	for (i = 0; i < n; i++) {
		double u;

		if (!counts(&s[i]))
			continue;
		u = util(&s[i]);
		tu += (double)s[i].used;
		tc += (double)s[i].capacity;
		if (u < lo)
			lo = u;
		if (u > hi) {
			hi = u;
			if (!skip || !skip[i])
				*fullest = (long)i;
		} else if ((!skip || !skip[i]) && (*fullest < 0 || u > util(&s[*fullest]))) {
			*fullest = (long)i;
		}
	}
	if (mean)
		*mean = tc > 0 ? tu / tc : 0;
	return hi >= lo ? hi - lo : 0;
}

static int key_planned(const rbal *b, const gv_key *key)
{
	size_t i;

	for (i = 0; i < b->nmoves; i++)
		if (gv_key_cmp(&b->moves[i].key, key) == 0)
			return 1;
	return 0;
}

static int cmp_size_desc(const void *a, const void *b)
{
	const gv_key *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return gv_key_cmp(x, y);
}

/* Placement's pick of one destination among the sectors of view. */
static long pick_one(rbal *b, const gv_sector_info *view, const gv_placement_req *req)
{
	size_t pick, npick = 0;

	if (gv_placement_choose(&pick, &npick, &b->popt, view, b->nsectors, req) == 0 &&
	    npick == 1)
		return (long)pick;
	return -1;
}

/*
 * Choose a destination for the replica of `key` on sectors[src], among
 * sectors that end no fuller than the source.  Returns its index or -1.
 * With src < 0 (drain) any eligible sector will do.  Underloaded sectors
 * (utilisation below low-water) are asked first; the others only when
 * none of those can take the key.
 */
static long choose_dest(rbal *b, const gv_key *key, const gv_replica *reps, size_t nreps,
                        long src, const char *from)
{
	const char *placed[64], *excl[64];
	size_t np = 0, ne = 0, i, nlow = 0;
	gv_sector_info *view;
	gv_placement_req req;
	long best = -1;

	view = malloc(2 * b->nsectors * sizeof(*view));
	if (!view)
		return -1;
	memcpy(view, b->sectors, b->nsectors * sizeof(*view));
	for (i = 0; i < nreps && np < 64 && ne < 64; i++) {
		if (strcmp(reps[i].sector, from) == 0)
			continue;
		if (gv_replica_effective_health(&reps[i], b->sectors, b->nsectors, NULL, 0))
			placed[np++] = reps[i].sector;
		else
			excl[ne++] = reps[i].sector;
	}
	excl[ne++] = from;
	if (src >= 0) {
		/* Never a destination that would end up fuller than the source. */
		double src_after = (double)(b->sectors[src].used - key->size) /
		                   (double)b->sectors[src].capacity;

		for (i = 0; i < b->nsectors; i++) {
			double after;

			if (!view[i].capacity)
				continue;
			after = (double)(view[i].used + key->size) / (double)view[i].capacity;
			if (after > src_after)
				view[i].healthy = 0;
		}
	}
	memset(&req, 0, sizeof(req));
	req.key = key;
	req.placed = placed;
	req.nplaced = np;
	req.exclude = excl;
	req.nexclude = ne;
	req.want = 1;
	if (b->o.low_water > 0) {
		gv_sector_info *low = view + b->nsectors;

		memcpy(low, view, b->nsectors * sizeof(*low));
		for (i = 0; i < b->nsectors; i++) {
			if (low[i].healthy && counts(&low[i]) && util(&low[i]) < b->o.low_water)
				nlow++;
			else
				low[i].healthy = 0;
		}
		if (nlow)
			best = pick_one(b, low, &req);
	}
	if (best < 0)
		best = pick_one(b, view, &req);
	free(view);
	return best;
}

/* Plan moves off the fullest sectors until the spread is within bounds. */
static int plan(rbal *b)
{
	gv_index *ix = b->st->ix;
	unsigned char *exhausted;
	unsigned max_moves = b->o.max_moves ? b->o.max_moves : 100;
	double threshold = b->o.threshold > 0 ? b->o.threshold : 0.1;
	double high = b->o.high_water > 0 ? b->o.high_water : 0.9;
	uint64_t bytes = 0;
	gv_key *keys;
	int err = 0;

	exhausted = calloc(b->nsectors ? b->nsectors : 1, 1);
	keys = malloc(KEY_BATCH * sizeof(*keys));
	b->moves = calloc(max_moves, sizeof(*b->moves));
	if (!exhausted || !keys || !b->moves) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	while (b->nmoves < max_moves) {
		double mean, sp;
		long src, dest = -1;
		gv_key after;
		int have_after = 0, scanned = 0;

		sp = spread(b->sectors, b->nsectors, exhausted, &src, &mean);
		if (src < 0)
			break;
		if (sp <= threshold && util(&b->sectors[src]) <= high)
			break;
		/* Walk the source's keys a batch at a time, largest first. */
		while (dest < 0 && scanned < SCAN_LIMIT) {
			size_t n = 0, i;

			if ((err = gv_index_sector_keys_next(ix, b->sectors[src].id,
			                                     have_after ? &after : NULL, KEY_BATCH,
			                                     keys, &n)) < 0)
				goto out;
			if (n == 0)
				break;
			after = keys[n - 1];
			have_after = 1;
			scanned += (int)n;
			qsort(keys, n, sizeof(*keys), cmp_size_desc);
			for (i = 0; i < n && dest < 0; i++) {
				gv_replica *reps = NULL;
				size_t nreps = 0, r;
				int mine_ok = 0;

				if (keys[i].size == 0 || key_planned(b, &keys[i]))
					continue;
				if (b->o.max_bytes && bytes + keys[i].size > b->o.max_bytes)
					continue;
				if (gv_index_replicas_find(ix, &keys[i], &reps, &nreps) < 0)
					continue;
				for (r = 0; r < nreps; r++)
					if (strcmp(reps[r].sector, b->sectors[src].id) == 0)
						mine_ok = gv_replica_effective_health(&reps[r], b->sectors,
						                                      b->nsectors, NULL, 0);
				/* Only healthy copies move; a bad one is repair's job. */
				if (mine_ok)
					dest = choose_dest(b, &keys[i], reps, nreps, src,
					                   b->sectors[src].id);
				gv_replicas_free(reps, nreps);
				if (dest >= 0) {
					planned *m = &b->moves[b->nmoves++];

					m->key = keys[i];
					snprintf(m->from, sizeof(m->from), "%s", b->sectors[src].id);
					snprintf(m->to, sizeof(m->to), "%s", b->sectors[dest].id);
					b->sectors[src].used -= keys[i].size;
					b->sectors[dest].used += keys[i].size;
					bytes += keys[i].size;
				}
			}
		}
		if (dest < 0)
			exhausted[src] = 1;
	}
out:
	free(keys);
	free(exhausted);
	return err;
}

static void emit(rbal *b, gv_move_phase phase, const gv_key *key, const char *from,
                 const char *to, int err, const char *msg)
{
	gv_move_event ev;

	if (!b->o.on_move)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.phase = phase;
	ev.key = *key;
	snprintf(ev.from, sizeof(ev.from), "%s", from);
	snprintf(ev.to, sizeof(ev.to), "%s", to);
	ev.bytes = key->size;
	ev.error = err;
	ev.message = msg;
	b->o.on_move(&ev, b->o.payload);
}

static int load_sectors(rbal *b)
{
	size_t i;
	int err;

	free(b->sectors);
	b->sectors = NULL;
	if ((err = gv_store_sectors_measured(b->st, &b->sectors, &b->nsectors)) < 0)
		return err;
	for (i = 0; i < b->nsectors; i++)
		room(&b->sectors[i]);
	if (!b->used0) {
		b->used0 = calloc(b->nsectors ? b->nsectors : 1, sizeof(*b->used0));
		if (!b->used0)
			return gv_error_set(GV_ENOMEM, "out of memory");
		for (i = 0; i < b->nsectors; i++)
			b->used0[i] = b->sectors[i].used;
	}
	return 0;
}

/* Fill the summary's per-sector table from used0 and the current view. */
static int fill_util(rbal *b)
{
	size_t i;

	b->sum->sectors = calloc(b->nsectors ? b->nsectors : 1, sizeof(*b->sum->sectors));
	if (!b->sum->sectors)
		return gv_error_set(GV_ENOMEM, "out of memory");
	b->sum->nsectors = b->nsectors;
	for (i = 0; i < b->nsectors; i++) {
		gv_sector_util *u = &b->sum->sectors[i];

		snprintf(u->id, sizeof(u->id), "%s", b->sectors[i].id);
		u->state = b->sectors[i].state;
		u->capacity = b->sectors[i].capacity;
		u->used_before = b->used0[i];
		u->used_after = b->sectors[i].used;
	}
	return 0;
}

static void rbal_init(rbal *b, gv_store *st, const gv_rebalance_opts *opts,
                      gv_rebalance_summary *out)
{
	memset(out, 0, sizeof(*out));
	memset(b, 0, sizeof(*b));
	b->st = st;
	b->o = opts ? *opts : (gv_rebalance_opts)GV_REBALANCE_OPTS_INIT;
	b->sum = out;
	b->popt = gv_store_placement(st);
}

static void rbal_free(rbal *b)
{
	free(b->sectors);
	free(b->used0);
	free(b->moves);
}

/* gv_move_replica under the key's claim (claim.c): 1 when another
 * gateway on the index has the key (skipped: it moves or repairs it). */
static int move_claimed(gv_store *st, const gv_key *key, const char *from, const char *to)
{
	char work[GV_CLAIM_NAME_MAX];
	int err;

	if (!gv_work_claim(st, gv_work_name_key(work, sizeof(work), key)))
		return 1;
	err = gv_move_replica(st, key, from, to);
	gv_work_release(st, work);
	return err;
}

int gv_rebalance_run(gv_store *st, const gv_rebalance_opts *opts, gv_rebalance_summary *out)
{
	int64_t t0 = gv_now_ms();
	gv_index_stats is;
	double threshold, high;
	long fullest;
	uint64_t done = 0, total = 0;
	size_t i;
	rbal b;
	int err;

	rbal_init(&b, st, opts, out);
	threshold = b.o.threshold > 0 ? b.o.threshold : 0.1;
	high = b.o.high_water > 0 ? b.o.high_water : 0.9;
	if ((err = load_sectors(&b)) < 0)
		goto out;
	out->spread_before = spread(b.sectors, b.nsectors, NULL, &fullest, NULL);
	out->spread_after = out->spread_before;
	if (fullest < 0 ||
	    (out->spread_before <= threshold && util(&b.sectors[fullest]) <= high)) {
		out->nothing_to_do = 1;
		err = fill_util(&b);
		goto out;
	}
	if ((err = gv_index_stats_get(st->ix, b.popt.factor, &is)) < 0)
		goto out;
	if ((is.under_replicated || is.lost) && !b.o.force) {
		err = gv_error_set(GV_EBUSY,
		                   "%llu key%s under-replicated and %llu lost: repair comes first "
		                   "(run 'graviton repair', or rebalance with --force)",
		                   (unsigned long long)is.under_replicated,
		                   is.under_replicated == 1 ? " is" : "s are",
		                   (unsigned long long)is.lost);
		goto out;
	}
	if ((err = plan(&b)) < 0)
		goto out;
	out->planned = b.nmoves;
	for (i = 0; i < b.nmoves; i++)
		total += b.moves[i].key.size;
	for (i = 0; i < b.nmoves; i++) {
		planned *m = &b.moves[i];

		if (!b.o.dry_run && b.o.on_progress)
			b.o.on_progress(done, total, i, b.nmoves, b.o.payload);
		done += m->key.size;
		if (b.o.dry_run) {
			emit(&b, GV_MOVE_PLANNED, &m->key, m->from, m->to, 0, NULL);
			continue;
		}
		if (b.o.cancel && *b.o.cancel) {
			err = GV_ECANCELED;
			break;
		}
		err = move_claimed(st, &m->key, m->from, m->to);
		if (err > 0) {
			err = 0;
			continue;
		}
		if (err < 0) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", gv_error_last());
			out->failed++;
			emit(&b, GV_MOVE_FAILED, &m->key, m->from, m->to, err, msg);
			err = 0;
			continue;
		}
		out->moved++;
		out->bytes += m->key.size;
		emit(&b, GV_MOVE_DONE, &m->key, m->from, m->to, 0, NULL);
	}
	if (!b.o.dry_run && b.o.on_progress && b.nmoves && err == 0)
		b.o.on_progress(total, total, b.nmoves, b.nmoves, b.o.payload);
	if (!b.o.dry_run && (err == 0 || err == GV_ECANCELED)) {
		int e = load_sectors(&b);

		if (e < 0)
			err = e;
	}
	if (err == 0 || err == GV_ECANCELED) {
		long f;

		out->spread_after = spread(b.sectors, b.nsectors, NULL, &f, NULL);
		if (fill_util(&b) < 0)
			err = GV_ENOMEM;
	}
	gv_info("event=rebalance dry_run=%d planned=%llu moved=%llu failed=%llu bytes=%llu "
	        "spread_before=%.3f spread_after=%.3f",
	        b.o.dry_run, (unsigned long long)out->planned, (unsigned long long)out->moved,
	        (unsigned long long)out->failed, (unsigned long long)out->bytes,
	        out->spread_before, out->spread_after);
out:
	out->duration_ms = gv_now_ms() - t0;
	if (err == 0 && !b.o.dry_run && out->failed == 0) {
		pthread_mutex_lock(&st->stats_lock);
		st->rebalance_last_success_ms = gv_now_ms();
		pthread_mutex_unlock(&st->stats_lock);
	}
	rbal_free(&b);
	return err;
}

typedef struct leftovers {
	gv_key *keys;
	size_t n, cap;
} leftovers;

static int collect_leftover(const gv_key *key, uint64_t bytes, void *payload)
{
	leftovers *l = payload;

	(void)bytes;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 64;
		gv_key *nk = realloc(l->keys, ncap * sizeof(*nk));

		if (!nk)
			return gv_error_set(GV_ENOMEM, "out of memory");
		l->keys = nk;
		l->cap = ncap;
	}
	l->keys[l->n++] = *key;
	return 0;
}

/*
 * A drained sector has no replica row left, but a move interrupted between
 * dropping the old row and deleting its bytes leaves the file behind.  Such
 * a file is deleted when the key is fully protected elsewhere.
 */
static void sweep_leftovers(gv_store *st, rbal *b, const char *id)
{
	gv_sector *s = gv_store_sector_handle(st, id, NULL, 0);
	leftovers l = { NULL, 0, 0 };
	size_t i;

	if (!s || gv_sector_list(s, collect_leftover, &l) < 0) {
		free(l.keys);
		return;
	}
	for (i = 0; i < l.n; i++) {
		gv_replica *reps = NULL;
		size_t nreps = 0, r;
		int good = 0, mine = 0;

		/* Under the key lock: a put of the key may be committing here. */
		if (gv_key_lock(st, &l.keys[i]) < 0)
			continue;
		if (gv_index_replicas_find(st->ix, &l.keys[i], &reps, &nreps) < 0) {
			gv_key_unlock(st, &l.keys[i]);
			continue;
		}
		for (r = 0; r < nreps; r++) {
			if (strcmp(reps[r].sector, id) == 0)
				mine = 1;
			else if (gv_replica_effective_health(&reps[r], b->sectors, b->nsectors, NULL, 0))
				good++;
		}
		gv_replicas_free(reps, nreps);
		if (!mine && good >= b->popt.factor) {
			int e = gv_sector_del(s, &l.keys[i]);

			if (e < 0 && e != GV_ENOTFOUND)
				gv_warn("event=drain_leftover_delete_failed sector=%s error=\"%s\"", id,
				        gv_error_last());
		} else if (!mine) {
			gv_warn("event=drain_leftover_kept sector=%s healthy_elsewhere=%d", id, good);
		}
		gv_key_unlock(st, &l.keys[i]);
	}
	free(l.keys);
}

/* Drop a copy the key does not need: its row, then (only once the row is
 * gone) its bytes, under the key lock. */
static int forget(gv_store *st, const gv_key *key, const char *id)
{
	int err;

	if ((err = gv_key_lock(st, key)) < 0)
		return err;
	err = gv_replica_drop_locked(st, key, id, 0, 0);
	gv_key_unlock(st, key);
	return err;
}

/*
 * Whether the copy of a key in the sector being drained (`mine`) is one
 * the key does not need - a bad one, or a surplus one whose move an
 * interrupted run already made: the others meet the factor and the
 * constraint.
 */
static int unneeded(rbal *b, const gv_replica *reps, size_t nreps, const char *id)
{
	const gv_replica *mine = NULL;
	const char *held[64];
	gv_placement_report prep;
	size_t r, others = 0;

	for (r = 0; r < nreps; r++) {
		if (strcmp(reps[r].sector, id) == 0) {
			mine = &reps[r];
		} else if (gv_replica_effective_health(&reps[r], b->sectors, b->nsectors, NULL, 0)) {
			if (others < 64)
				held[others] = reps[r].sector;
			others++;
		}
	}
	return mine && (int)others >= b->popt.factor &&
	       (!gv_replica_effective_health(mine, b->sectors, b->nsectors, NULL, 0) ||
	        (others <= 64 && gv_placement_check(&prep, &b->popt, b->sectors, b->nsectors, held,
	                                            others) == 0));
}

/* A copy the key does not need is forgotten (row, then bytes). */
static void drain_forget(rbal *b, const gv_key *key, const char *id)
{
	int err = b->o.dry_run ? 0 : forget(b->st, key, id);
	char msg[512];

	if (err < 0) {
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		b->sum->failed++;
		emit(b, GV_MOVE_FAILED, key, id, "", err, msg);
		return;
	}
	emit(b, b->o.dry_run ? GV_MOVE_PLANNED : GV_MOVE_DONE, key, id, "-", 0, NULL);
	b->sum->moved++;
}

/*
 * Take one key off sector id: forget its copy there when the key does
 * not need it, else move it where the key's placement stays met.  A
 * failed move is counted and reported; an index error reading the key's
 * rows is returned (the drain stops).
 */
static int drain_key(rbal *b, const gv_key *key, const char *id)
{
	gv_rebalance_summary *out = b->sum;
	gv_replica *reps = NULL;
	size_t nreps = 0;
	char msg[512];
	long dest;
	int err;

	if ((err = gv_index_replicas_find(b->st->ix, key, &reps, &nreps)) < 0)
		return err;
	out->planned++;
	if (unneeded(b, reps, nreps, id)) {
		gv_replicas_free(reps, nreps);
		drain_forget(b, key, id);
		return 0;
	}
	dest = choose_dest(b, key, reps, nreps, -1, id);
	gv_replicas_free(reps, nreps);
	if (dest < 0) {
		snprintf(msg, sizeof(msg), "no destination keeps the key's placement: %s",
		         gv_error_last());
		out->failed++;
		emit(b, GV_MOVE_FAILED, key, id, "", GV_EINSUFFICIENT_SECTORS, msg);
		return 0;
	}
	if (b->o.dry_run) {
		b->sectors[dest].used += key->size;
		emit(b, GV_MOVE_PLANNED, key, id, b->sectors[dest].id, 0, NULL);
		return 0;
	}
	err = move_claimed(b->st, key, id, b->sectors[dest].id);
	if (err > 0)
		return 0;
	if (err < 0) {
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		out->failed++;
		emit(b, GV_MOVE_FAILED, key, id, b->sectors[dest].id, err, msg);
		return 0;
	}
	b->sectors[dest].used += key->size;
	out->moved++;
	out->bytes += key->size;
	emit(b, GV_MOVE_DONE, key, id, b->sectors[dest].id, 0, NULL);
	return 0;
}

int gv_sector_drain(gv_store *st, const char *id, const gv_rebalance_opts *opts,
                    gv_rebalance_summary *out)
{
	gv_index *ix = st->ix;
	int64_t t0 = gv_now_ms();
	gv_sector_info si;
	gv_key keys[128], after;
	uint64_t done = 0, ndone = 0;
	int have_after = 0, err;
	rbal b;

	rbal_init(&b, st, opts, out);
	if ((err = gv_index_sector_get(ix, id, &si)) < 0)
		goto out;
	if (si.state == GV_SECTOR_RETIRED) {
		out->nothing_to_do = 1;
		err = load_sectors(&b) < 0 ? GV_ERROR : fill_util(&b);
		goto out;
	}
	if (!b.o.dry_run && si.state != GV_SECTOR_DRAINING &&
	    (err = gv_store_sector_set_state(st, id, GV_SECTOR_DRAINING)) < 0)
		goto out;
	if ((err = load_sectors(&b)) < 0)
		goto out;
	for (;;) {
		size_t n = 0, i;

		if (b.o.cancel && *b.o.cancel) {
			err = GV_ECANCELED;
			break;
		}
		if ((err = gv_index_sector_keys_next(ix, id, have_after ? &after : NULL, 128, keys,
		                                     &n)) < 0)
			break;
		if (n == 0)
			break;
		after = keys[n - 1];
		have_after = 1;
		for (i = 0; i < n && err == 0; i++) {
			err = drain_key(&b, &keys[i], id);
			/* Of the bytes the sector held when the drain began. */
			done += keys[i].size;
			ndone++;
			if (!b.o.dry_run && b.o.on_progress)
				b.o.on_progress(done < si.used ? done : si.used, si.used, ndone, 0,
				                b.o.payload);
		}
		if (err < 0)
			break;
	}
	if (err == 0 && !b.o.dry_run) {
		size_t n = 0;

		if ((err = gv_index_sector_keys_next(ix, id, NULL, 1, keys, &n)) == 0 && n == 0) {
			sweep_leftovers(st, &b, id);
			err = gv_store_sector_set_state(st, id, GV_SECTOR_RETIRED);
		} else if (err == 0) {
			err = gv_error_set(GV_EBUSY, "sector %s still holds replicas that could not move; "
			                   "it stays draining (run the drain again to resume)", id);
		}
	}
	if (err == 0 || err == GV_EBUSY) {
		int keep = err;

		if (!b.o.dry_run && load_sectors(&b) < 0)
			keep = GV_ERROR;
		if (fill_util(&b) < 0)
			keep = GV_ENOMEM;
		err = keep;
	}
	gv_info("event=drain sector=%s dry_run=%d moved=%llu failed=%llu bytes=%llu", id,
	        b.o.dry_run, (unsigned long long)out->moved, (unsigned long long)out->failed,
	        (unsigned long long)out->bytes);
out:
	out->duration_ms = gv_now_ms() - t0;
	rbal_free(&b);
	return err;
}

int gv_store_sector_remove(gv_store *st, const char *id)
{
	gv_sector_info si;
	gv_key k;
	size_t n = 0;
	int err;

	if ((err = gv_index_sector_get(st->ix, id, &si)) < 0)
		return err;
	if ((err = gv_index_sector_keys_next(st->ix, id, NULL, 1, &k, &n)) < 0)
		return err;
	if (si.state != GV_SECTOR_RETIRED && n > 0)
		return gv_error_set(GV_EBUSY, "sector %s is %s and holds replicas; drain it first "
		                    "('graviton sector drain %s')",
		                    id, gv_sector_state_name(si.state), id);
	if (n > 0)
		return gv_error_set(GV_EBUSY, "sector %s is retired but still holds replicas", id);
	if ((err = gv_index_sector_remove(st->ix, id)) < 0)
		return err;
	gv_info("event=sector_removed sector=%s", id);
	return 0;
}

void gv_rebalance_daemon(gv_store *st, const gv_rebalance_opts *opts, uint64_t interval_ms,
                         atomic_int *stop)
{
	gv_rebalance_opts o = opts ? *opts : (gv_rebalance_opts)GV_REBALANCE_OPTS_INIT;

	o.cancel = stop;
	o.dry_run = 0;
	o.force = 0;
	while (!*stop) {
		gv_rebalance_summary sum;
		int err = gv_rebalance_run(st, &o, &sum);

		if (err == GV_EBUSY)
			gv_debug("event=rebalance_skipped reason=\"%s\"", gv_error_last());
		else if (err < 0 && err != GV_ECANCELED)
			gv_errlog("event=rebalance_failed error=\"%s\"", gv_error_last());
		gv_rebalance_summary_free(&sum);
		gv_pause_ms(interval_ms, stop);
	}
}
