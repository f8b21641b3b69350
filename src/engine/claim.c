/*
 * claim.c - background work claimed across the gateways that share one
 * index (store.h: gv_work_claim).
 *
 * Several `graviton serve` processes, each with its data directory, may
 * share a PostgreSQL index and the same sectors.  Their repair, rebalance
 * and scrub loops walk the same rows; a claim (an index lease with this
 * store as owner) makes sure only one of them copies, moves or verifies a
 * given replica at a time.  A gateway that dies leaves its claims to run
 * out (claim_ttl_ms); the next pass of another gateway then does the
 * work.  A live gateway keeps its claims however long the work takes: a
 * renewer thread, started with the first claim, extends every claim held
 * each third of the lease.  A store whose index is its data directory's own (sqlite: one
 * daemon per data directory) claims nothing: every claim is granted
 * without a round trip, so a scrub of many small replicas pays no extra
 * write per replica.
 *
 * Names: "key:<key>" for the work on all replicas of a key (repair,
 * rebalance and drain share it, so a move and a repair of one key never
 * overlap), "scrub:<key>@<sector>" for the verification of one replica.
 *
 * The owner is the store and the thread (claim, renewal and release
 * happen in the thread doing the work), so two runs in one process (the
 * repair loop and a repair asked for over HTTP) exclude each other too.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "engine/store.h"

struct gv_claim_held {
	char name[GV_CLAIM_NAME_MAX];
	char owner[GV_CLAIM_NAME_MAX];
};

void gv_claim_init(gv_store *st, uint64_t ttl_ms)
{
	char host[64] = "";
	unsigned char r[4] = { 0 };
	pthread_condattr_t ca;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r[0] = (unsigned char)getpid();
	snprintf(st->claim_owner, sizeof(st->claim_owner), "%s/%ld/%02x%02x%02x%02x", host,
	         (long)getpid(), r[0], r[1], r[2], r[3]);
	st->claim_ttl_ms = ttl_ms ? ttl_ms : GV_CLAIM_TTL_DEFAULT_MS;
	pthread_mutex_init(&st->claims_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->claims_cv, &ca);
	pthread_condattr_destroy(&ca);
	st->claims_ready = 1;
}

void gv_claim_destroy(gv_store *st)
{
	int joined;

	if (!st->claims_ready)
		return;
	pthread_mutex_lock(&st->claims_mu);
	st->claims_stop = 1;
	joined = st->claims_thread;
	pthread_cond_broadcast(&st->claims_cv);
	pthread_mutex_unlock(&st->claims_mu);
	if (joined)
		pthread_join(st->claims_tid, NULL);
	free(st->claims);
	st->claims = NULL;
	pthread_cond_destroy(&st->claims_cv);
	pthread_mutex_destroy(&st->claims_mu);
	st->claims_ready = 0;
}

const char *gv_work_name_key(char *buf, size_t cap, const gv_key *key)
{
	char kbuf[GV_KEY_BUFSIZE];

	snprintf(buf, cap, "key:%s", gv_key_format(kbuf, key));
	return buf;
}

const char *gv_work_name_replica(char *buf, size_t cap, const gv_key *key, const char *sector)
{
	char kbuf[GV_KEY_BUFSIZE];

	snprintf(buf, cap, "scrub:%s@%s", gv_key_format(kbuf, key), sector);
	return buf;
}

/* This thread's name as a claim owner. */
static const char *owner(char *buf, size_t cap, const gv_store *st)
{
	snprintf(buf, cap, "%.200s/%ld", st->claim_owner, (long)syscall(SYS_gettid));
	return buf;
}

/* Index of (name, owner) among the held claims, or -1 (claims_mu held). */
static long held_find(const gv_store *st, const char *name, const char *who)
{
	size_t i;

	for (i = 0; i < st->nclaims; i++)
		if (strcmp(st->claims[i].name, name) == 0 && strcmp(st->claims[i].owner, who) == 0)
			return (long)i;
	return -1;
}

/*
 * Every third of the lease, extend each claim still held.  A renewal runs
 * under claims_mu, so a claim released meanwhile is never taken again by
 * a late renewal (the release waits, then deletes it).
 */
static void *renewer_main(void *p)
{
	gv_store *st = p;
	struct timespec at;
	char name[GV_CLAIM_NAME_MAX], who[GV_CLAIM_NAME_MAX];
	size_t i;

	pthread_mutex_lock(&st->claims_mu);
	while (!st->claims_stop) {
		gv_deadline_in(&at, st->claim_ttl_ms / 3 ? st->claim_ttl_ms / 3 : 1);
		while (!st->claims_stop &&
		       pthread_cond_timedwait(&st->claims_cv, &st->claims_mu, &at) == 0)
			;
		for (i = 0; !st->claims_stop && i < st->nclaims; i++) {
			memcpy(name, st->claims[i].name, sizeof(name));
			memcpy(who, st->claims[i].owner, sizeof(who));
			if (gv_index_claim(st->ix, name, who, st->claim_ttl_ms) == 0)
				gv_warn("event=claim_lost work=%s", name);
			gv_error_clear();
		}
	}
	pthread_mutex_unlock(&st->claims_mu);
	return NULL;
}

/* Remember a claim for the renewer, starting it with the first. */
static void held_add(gv_store *st, const char *name, const char *who)
{
	struct gv_claim_held *nc;

	pthread_mutex_lock(&st->claims_mu);
	if (held_find(st, name, who) < 0) {
		if (st->nclaims == st->claims_cap) {
			size_t cap = st->claims_cap ? st->claims_cap * 2 : 16;

			if (!(nc = realloc(st->claims, cap * sizeof(*nc)))) {
				/* Unrenewed, the claim only runs out sooner. */
				pthread_mutex_unlock(&st->claims_mu);
				return;
			}
			st->claims = nc;
			st->claims_cap = cap;
		}
		snprintf(st->claims[st->nclaims].name, GV_CLAIM_NAME_MAX, "%s", name);
		snprintf(st->claims[st->nclaims].owner, GV_CLAIM_NAME_MAX, "%s", who);
		st->nclaims++;
	}
	if (!st->claims_thread && !st->claims_stop) {
		st->claims_thread = pthread_create(&st->claims_tid, NULL, renewer_main, st) == 0;
		if (!st->claims_thread)
			gv_warn("event=claim_renewer_failed: claims run out after %llu ms",
			        (unsigned long long)st->claim_ttl_ms);
	}
	pthread_mutex_unlock(&st->claims_mu);
}

int gv_work_claim(gv_store *st, const char *name)
{
	char me[GV_CLAIM_NAME_MAX];
	int rc;

	if (!st->index_shared)
		return 1;
	rc = gv_index_claim(st->ix, name, owner(me, sizeof(me), st), st->claim_ttl_ms);
	if (rc < 0) {
		gv_warn("event=claim_failed work=%s error=\"%s\"", name, gv_error_last());
		gv_error_clear();
		return 0;
	}
	if (rc == 0) {
		gv_debug("event=claimed_elsewhere work=%s", name);
		return 0;
	}
	held_add(st, name, me);
	return 1;
}

void gv_work_release(gv_store *st, const char *name)
{
	char me[GV_CLAIM_NAME_MAX];
	long i;

	if (!st->index_shared)
		return;
	owner(me, sizeof(me), st);
	pthread_mutex_lock(&st->claims_mu);
	if ((i = held_find(st, name, me)) >= 0)
		st->claims[i] = st->claims[--st->nclaims];
	pthread_mutex_unlock(&st->claims_mu);
	if (gv_index_claim_release(st->ix, name, me) < 0)
		gv_error_clear();
}
