/*
 * hedge.c - hedged opens (hedge.h) and the per-sector first-byte latency
 * windows they take their delay from.
 *
 * A race is shared by the caller and its attempts' threads and freed by
 * the last of them; each thread holds the store (gv_store_bg_enter), so a
 * loser still running when the read is over finds its sector open.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/clock.h"
#include "engine/hedge.h"

#define HEDGE_MIN_MS 10
#define HEDGE_COLD_MS 50    /* fewer than HEDGE_SAMPLES_MIN latencies known */
#define HEDGE_WINDOW 32
#define HEDGE_SAMPLES_MIN 4

struct gv_latency {
	char id[GV_ID_MAX];
	uint32_t us[HEDGE_WINDOW];
	unsigned n, pos;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The window of sector id (created when asked); lat_mu held. */
static struct gv_latency *window(gv_store *st, const char *id, int create)
{
	struct gv_latency *l;
	size_t i;

	for (i = 0; i < st->nlat; i++)
		if (strcmp(st->lat[i].id, id) == 0)
			return &st->lat[i];
	if (!create || !(l = realloc(st->lat, (st->nlat + 1) * sizeof(*l))))
		return NULL;
	st->lat = l;
	l = &st->lat[st->nlat++];
	memset(l, 0, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", id);
	return l;
}

void gv_hedge_note(gv_store *st, const char *id, uint64_t us)
{
	struct gv_latency *l;

	pthread_mutex_lock(&st->lat_mu);
	if ((l = window(st, id, 1)) != NULL) {
		l->us[l->pos] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
		l->pos = (l->pos + 1) % HEDGE_WINDOW;
		if (l->n < HEDGE_WINDOW)
			l->n++;
	}
	pthread_mutex_unlock(&st->lat_mu);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t gv_hedge_after_ms(gv_store *st, const char *id)
{
	uint32_t v[HEDGE_WINDOW];
	struct gv_latency *l;
	unsigned n = 0;
	uint64_t ms;

	if (st->hedge_after_ms)
		return st->hedge_after_ms;
	pthread_mutex_lock(&st->lat_mu);
	if ((l = window(st, id, 0)) != NULL) {
		n = l->n;
		memcpy(v, l->us, n * sizeof(v[0]));
	}
	pthread_mutex_unlock(&st->lat_mu);
	if (n < HEDGE_SAMPLES_MIN)
		return HEDGE_COLD_MS;
	qsort(v, n, sizeof(v[0]), u32_cmp);
	ms = (v[(n * 95 + 99) / 100 - 1] + 999) / 1000;
	return ms < HEDGE_MIN_MS ? HEDGE_MIN_MS : ms;
}

/* ---- the race ------------------------------------------------------------- */

typedef struct race {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	int over;                 /* a winner was taken: later results drop */
	int done[2];
	gv_hedge_try t[2];
	gv_store *st;
	gv_hedge_fn fn;
	gv_hedge_drop_fn drop;
	void *ctx;
} race;

typedef struct runner {
	race *r;
	int i;
} runner;

static void race_unref(race *r)
{
	int last;

	pthread_mutex_lock(&r->mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->mu);
	if (!last)
		return;
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->ctx);
	free(r);
}

/* Run attempt t, noting its latency when it succeeds. */
static int attempt(gv_store *st, gv_hedge_fn fn, gv_hedge_try *t, const void *ctx)
{
	uint64_t t0 = now_us();
	int err;

	t->out = NULL;
	t->reason[0] = '\0';
	err = fn(t, ctx);
	t->err = err < 0 ? err : 0;
	if (err == 0)
		gv_hedge_note(st, t->sector, now_us() - t0);
	return t->err;
}

static void *race_main(void *p)
{
	runner *ru = p;
	race *r = ru->r;
	int i = ru->i;
	gv_store *st = r->st;
	gv_hedge_try t = r->t[i];
	void *drop = NULL;

	free(ru);
	attempt(st, r->fn, &t, r->ctx);
	pthread_mutex_lock(&r->mu);
	if (r->over)
		drop = t.out;
	else
		r->t[i] = t;
	r->done[i] = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (drop)
		r->drop(drop);
	race_unref(r);
	gv_store_bg_leave(st);
	return NULL;
}

/* Start attempt i in a thread: 0, or -1 when none could start. */
static int race_start(race *r, int i)
{
	runner *ru = malloc(sizeof(*ru));
	pthread_t tid;

	if (!ru)
		return -1;
	ru->r = r;
	ru->i = i;
	pthread_mutex_lock(&r->mu);
	r->refs++;
	pthread_mutex_unlock(&r->mu);
	gv_store_bg_enter(r->st);
	if (pthread_create(&tid, NULL, race_main, ru) == 0) {
		pthread_detach(tid);
		return 0;
	}
	gv_store_bg_leave(r->st);
	pthread_mutex_lock(&r->mu);
	r->refs--;
	pthread_mutex_unlock(&r->mu);
	free(ru);
	return -1;
}


/* The winner (0 or 1), -1 when every attempt started has failed, -2 when
 * one is still running; r->mu held. */
static int race_state(const race *r, int started)
{
	int i, running = 0;

	for (i = 0; i < started; i++) {
		if (r->done[i] && r->t[i].err == 0)
			return i;
		running |= !r->done[i];
	}
	return running ? -2 : -1;
}

int gv_hedge_run(gv_store *st, const void *ctx, size_t ctx_len, gv_hedge_fn fn,
                 gv_hedge_drop_fn drop, gv_hedge_try *first, gv_hedge_try *alt,
                 gv_hedge_try **won)
{
	pthread_condattr_t ca;
	struct timespec dl;
	void *loser = NULL;
	int started = 1, w, i;
	race *r = NULL;

	*won = NULL;
	first->err = 0;
	if (alt)
		alt->err = 0;
	/* Nothing to hedge to, or no memory for a race: just try. */
	if (!alt || !(r = calloc(1, sizeof(*r))) || !(r->ctx = malloc(ctx_len ? ctx_len : 1))) {
		if (alt && r)
			free(r);
		if (attempt(st, fn, first, ctx) < 0)
			return first->err;
		*won = first;
		return 0;
	}
	memcpy(r->ctx, ctx, ctx_len);
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->refs = 1;
	r->st = st;
	r->fn = fn;
	r->drop = drop;
	r->t[0] = *first;
	r->t[1] = *alt;
	if (race_start(r, 0) < 0) {
		race_unref(r);
		if (attempt(st, fn, first, ctx) < 0)
			return first->err;
		*won = first;
		return 0;
	}
	gv_deadline_in(&dl, gv_hedge_after_ms(st, first->sector));
	pthread_mutex_lock(&r->mu);
	while (!r->done[0] && pthread_cond_timedwait(&r->cv, &r->mu, &dl) != ETIMEDOUT)
		;
	if (!r->done[0]) {
		pthread_mutex_unlock(&r->mu);
		gv_debug("event=read_hedged sector=%s alt=%s", first->sector, alt->sector);
		started = race_start(r, 1) == 0 ? 2 : 1;
		pthread_mutex_lock(&r->mu);
	}
	while ((w = race_state(r, started)) == -2)
		pthread_cond_wait(&r->cv, &r->mu);
	r->over = 1;
	for (i = 0; i < started; i++)
		if (i != w && r->done[i] && r->t[i].err == 0)
			loser = r->t[i].out;
	*first = r->t[0];
	if (started == 2)
		*alt = r->t[1];
	/* A result not in yet is the late thread's to drop. */
	if (!r->done[0])
		first->err = 0;
	pthread_mutex_unlock(&r->mu);
	if (loser)
		drop(loser);
	race_unref(r);
	if (w < 0)
		return first->err ? first->err : GV_EIO;
	*won = w == 0 ? first : alt;
	if ((*won)->out == NULL)
		return GV_EIO;
	if (w == 0 && started == 2)
		alt->out = NULL;
	else if (w == 1)
		first->out = NULL;
	return 0;
}
