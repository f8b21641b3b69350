/*
 * health.c - the failure detector (graviton/health.h).
 *
 *   gv_health_observe()   a write's outcome: starts or ends a run of failures
 *   gv_health_probe()     one round: probe every sector in parallel, then decide
 *   gv_health_daemon()    rounds every interval
 *
 * The record of each sector (a run of failures, a run of answers, the
 * times the detector took it down in the last hour) lives in the store,
 * under health_mu, and is lost when the store closes: a restarted daemon
 * starts every run afresh, so a sector is never declared down sooner than
 * down-after after the start.  Whether a sector is down, and who said so,
 * lives in the index (healthy flag and reason), so an operator's mark
 * survives restarts and the detector never undoes it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/clock.h"
#include "engine/store.h"
#include "graviton/health.h"

/* Downs remembered for flap damping, and the most up-after is doubled. */
#define FLAPS_MAX 8
#define FLAP_WINDOW_MS (3600 * 1000LL)
#define FLAP_SHIFT_MAX 4

typedef struct gv_health_entry {
	char id[GV_ID_MAX];
	long long fail_since_ms; /* first failure of the current run; 0: none */
	long long ok_since_ms;   /* first answer since the last failure; 0: none */
	uint64_t probe_failures;
	long long downs[FLAPS_MAX]; /* when the detector took it down, oldest first */
	unsigned ndowns;
} gv_health_entry;


/* An error that says the sector could not be reached (as opposed to a
 * definite answer: not found, replaced, full, bad input). */
static int unreachable(int err)
{
	return err == GV_EIO || err == GV_ETIMEOUT;
}

/* The entry of id, created when missing; NULL when out of memory.
 * Caller holds health_mu. */
static gv_health_entry *entry_get(gv_store *st, const char *id)
{
	gv_health_entry *e;
	size_t i;

	for (i = 0; i < st->nhealth; i++)
		if (strcmp(st->health[i].id, id) == 0)
			return &st->health[i];
	if (st->nhealth == st->health_cap) {
		size_t cap = st->health_cap ? st->health_cap * 2 : 16;

		if (!(e = realloc(st->health, cap * sizeof(*e))))
			return NULL;
		st->health = e;
		st->health_cap = cap;
	}
	e = &st->health[st->nhealth++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	return e;
}

/* Record one outcome at `at` (caller holds health_mu). */
static void record(gv_health_entry *e, int err, long long at)
{
	if (err == 0) {
		e->fail_since_ms = 0;
		if (!e->ok_since_ms)
			e->ok_since_ms = at;
	} else {
		e->ok_since_ms = 0;
		if (!e->fail_since_ms)
			e->fail_since_ms = at;
	}
}

void gv_health_observe(gv_store *st, const char *id, int err)
{
	gv_health_entry *e;

	if (err != 0 && !unreachable(err))
		return;
	pthread_mutex_lock(&st->health_mu);
	if ((e = entry_get(st, id)))
		record(e, err, gv_mono_ms());
	pthread_mutex_unlock(&st->health_mu);
}

int gv_health_failing(gv_store *st, const char *id)
{
	int failing = 0;
	size_t i;

	pthread_mutex_lock(&st->health_mu);
	for (i = 0; i < st->nhealth; i++)
		if (strcmp(st->health[i].id, id) == 0)
			failing = st->health[i].fail_since_ms != 0;
	pthread_mutex_unlock(&st->health_mu);
	return failing;
}

void gv_health_free(gv_store *st)
{
	free(st->health);
	st->health = NULL;
	st->nhealth = st->health_cap = 0;
}

uint64_t gv_health_probe_failures(gv_store *st, const char *id)
{
	uint64_t n = 0;
	size_t i;

	pthread_mutex_lock(&st->health_mu);
	for (i = 0; i < st->nhealth; i++)
		if (strcmp(st->health[i].id, id) == 0)
			n = st->health[i].probe_failures;
	pthread_mutex_unlock(&st->health_mu);
	return n;
}

/* ---- one round -------------------------------------------------------------- */

typedef struct probe {
	gv_store *st;
	gv_sector_info info;
	int mine;               /* unhealthy by the detector's own mark */
	long long started_ms;
	int err;
	char why[GV_REASON_MAX];
	pthread_t tid;
	int threaded;
} probe;

static void *probe_main(void *p)
{
	probe *pr = p;
	gv_sector *s = gv_store_sector_handle(pr->st, pr->info.id, pr->why, sizeof(pr->why));

	pr->started_ms = gv_mono_ms();
	if (!s) {
		pr->err = GV_EIO; /* no backend open: cannot be reached */
	} else if ((pr->err = gv_sector_check(s)) < 0) {
		snprintf(pr->why, sizeof(pr->why), "%s", gv_error_last());
		gv_error_clear();
	}
	return NULL;
}

/* up-after, doubled for each other down within the last hour. */
static uint64_t up_after(const gv_health_entry *e, const gv_health_opts *o, long long now)
{
	unsigned recent = 0, i;

	for (i = 0; i < e->ndowns; i++)
		if (now - e->downs[i] < FLAP_WINDOW_MS)
			recent++;
	if (recent > 1)
		return o->up_after_ms << (recent - 1 < FLAP_SHIFT_MAX ? recent - 1 : FLAP_SHIFT_MAX);
	return o->up_after_ms;
}

static void note_down(gv_health_entry *e, long long now)
{
	if (e->ndowns == FLAPS_MAX) {
		memmove(e->downs, e->downs + 1, (FLAPS_MAX - 1) * sizeof(e->downs[0]));
		e->ndowns--;
	}
	e->downs[e->ndowns++] = now;
}

void gv_health_down(gv_store *st, const char *id, const char *reason)
{
	gv_health_entry *e;

	pthread_mutex_lock(&st->health_mu);
	if ((e = entry_get(st, id)))
		note_down(e, gv_mono_ms());
	pthread_mutex_unlock(&st->health_mu);
	gv_store_sector_down(st, id, reason);
	gv_warn("event=sector_down sector=%s reason=\"%s\"", id, reason);
}

/* Bring a sector the detector marked back (reopening its backend if it
 * must); 1 when it came back. */
static int bring_up(gv_store *st, const probe *pr, long long up_ms)
{
	if (gv_store_sector_set_health(st, pr->info.id, 1) < 0) {
		gv_warn("event=sector_up_failed sector=%s error=\"%s\"", pr->info.id,
		        gv_error_last());
		gv_error_clear();
		return 0;
	}
	gv_info("event=sector_up sector=%s answering_ms=%lld", pr->info.id, up_ms);
	return 1;
}

/* Decide on one probed sector; 1 when it went down or came back. */
static int decide(gv_store *st, const gv_health_opts *o, probe *pr)
{
	gv_health_entry *e, snap;
	long long now = gv_mono_ms();
	uint64_t need = 0;
	char reason[GV_REASON_MAX];

	pthread_mutex_lock(&st->health_mu);
	if (!(e = entry_get(st, pr->info.id))) {
		pthread_mutex_unlock(&st->health_mu);
		return 0;
	}
	if (pr->err == 0 || unreachable(pr->err))
		record(e, pr->err, pr->started_ms);
	if (pr->err < 0)
		e->probe_failures++;
	need = up_after(e, o, now);
	snap = *e;
	pthread_mutex_unlock(&st->health_mu);

	if (!pr->info.healthy) {
		if (!pr->mine || pr->err < 0 || !snap.ok_since_ms ||
		    (uint64_t)(now - snap.ok_since_ms) < need)
			return 0;
		return bring_up(st, pr, now - snap.ok_since_ms);
	}
	if (pr->err == 0)
		return 0;
	if (!unreachable(pr->err)) {
		/* A definite answer (root replaced, gone): down at once, and it
		 * stays so until an operator says otherwise. */
		gv_store_sector_down(st, pr->info.id, pr->why);
		gv_warn("event=sector_down sector=%s reason=\"%s\"", pr->info.id, pr->why);
		return 1;
	}
	if (!snap.fail_since_ms || (uint64_t)(now - snap.fail_since_ms) < o->down_after_ms)
		return 0;
	snprintf(reason, sizeof(reason), GV_HEALTH_REASON ": failing for %lld ms, the last: %.180s",
	         now - snap.fail_since_ms, pr->why);
	gv_health_down(st, pr->info.id, reason);
	return 1;
}

int gv_health_probe(gv_store *st, const gv_health_opts *opts, unsigned *changed)
{
	gv_health_opts o = opts ? *opts : (gv_health_opts)GV_HEALTH_OPTS_INIT;
	gv_sector_info *sectors = NULL;
	probe *pr;
	size_t n = 0, i;
	unsigned moved = 0;
	int err;

	if (changed)
		*changed = 0;
	/* Sectors other gateways on the index added or brought back. */
	if ((err = gv_store_sectors_refresh(st)) < 0 ||
	    (err = gv_index_sector_list(st->ix, &sectors, &n)) < 0)
		return err;
	if (!(pr = calloc(n ? n : 1, sizeof(*pr)))) {
		free(sectors);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		pr[i].st = st;
		pr[i].info = sectors[i];
		if (sectors[i].state == GV_SECTOR_RETIRED)
			continue;
		if (!sectors[i].healthy) {
			gv_store_sector_reason(st, &pr[i].info);
			pr[i].mine = strncmp(pr[i].info.reason, GV_HEALTH_REASON,
			                     strlen(GV_HEALTH_REASON)) == 0;
			if (!pr[i].mine)
				continue; /* another's mark: not the detector's to undo */
		}
		/* A thread each, so a hung node delays only its own answer;
		 * without one, the probe runs here. */
		pr[i].threaded = pthread_create(&pr[i].tid, NULL, probe_main, &pr[i]) == 0;
		if (!pr[i].threaded)
			probe_main(&pr[i]);
	}
	for (i = 0; i < n; i++) {
		if (pr[i].threaded)
			pthread_join(pr[i].tid, NULL);
		if (pr[i].started_ms)
			moved += (unsigned)decide(st, &o, &pr[i]);
	}
	free(pr);
	free(sectors);
	gv_error_clear();
	if (moved)
		gv_repair_wake(st); /* restore the factor, or trim the surplus */
	if (changed)
		*changed = moved;
	return 0;
}

void gv_health_daemon(gv_store *st, const gv_health_opts *opts, atomic_int *stop)
{
	gv_health_opts o = opts ? *opts : (gv_health_opts)GV_HEALTH_OPTS_INIT;

	while (!*stop) {
		long long next = gv_mono_ms() + (long long)o.interval_ms;

		if (gv_health_probe(st, &o, NULL) < 0)
			gv_errlog("event=health_probe_failed error=\"%s\"", gv_error_last());
		/* Wake every 50 ms to notice *stop. */
		while (!*stop && gv_mono_ms() < next) {
			struct timespec ts = { 0, 50000000L };

			nanosleep(&ts, NULL);
		}
	}
}
