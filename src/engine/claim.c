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
 * work.  A store whose index is its data directory's own (sqlite: one
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
#include <stdio.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/store.h"

void gv_claim_init(gv_store *st, uint64_t ttl_ms)
{
	char host[64] = "";
	unsigned char r[4] = { 0 };

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r[0] = (unsigned char)getpid();
	snprintf(st->claim_owner, sizeof(st->claim_owner), "%s/%ld/%02x%02x%02x%02x", host,
	         (long)getpid(), r[0], r[1], r[2], r[3]);
	st->claim_ttl_ms = ttl_ms ? ttl_ms : GV_CLAIM_TTL_DEFAULT_MS;
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
	if (rc == 0)
		gv_debug("event=claimed_elsewhere work=%s", name);
	return rc;
}

int gv_work_renew(gv_store *st, const char *name)
{
	char me[GV_CLAIM_NAME_MAX];
	int rc;

	if (!st->index_shared)
		return 1;
	rc = gv_index_claim(st->ix, name, owner(me, sizeof(me), st), st->claim_ttl_ms);
	if (rc < 0) {
		/* The index is away: so is any other gateway's chance to claim. */
		gv_error_clear();
		return 1;
	}
	return rc;
}

void gv_work_release(gv_store *st, const char *name)
{
	char me[GV_CLAIM_NAME_MAX];

	if (st->index_shared &&
	    gv_index_claim_release(st->ix, name, owner(me, sizeof(me), st)) < 0)
		gv_error_clear();
}
