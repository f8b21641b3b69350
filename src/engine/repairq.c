/*
 * repairq.c - the durable repair queue's policy over the index's
 * repairq_* ops (repairq.h).
 */
#include <stdio.h>
#include <string.h>

#include "engine/repairq.h"

void gv_repairq_init(gv_repairq *q)
{
	pthread_mutex_init(&q->mu, NULL);
}

void gv_repairq_destroy(gv_repairq *q)
{
	pthread_mutex_destroy(&q->mu);
}

static uint32_t max_attempts(const gv_repair_opts *o)
{
	return o && o->max_attempts ? o->max_attempts : GV_REPAIRQ_MAX_ATTEMPTS;
}

int64_t gv_repairq_backoff_ms(const gv_repair_opts *o, uint32_t attempts)
{
	int64_t base = o && o->backoff_base_ms ? (int64_t)o->backoff_base_ms
	                                       : GV_REPAIRQ_BACKOFF_BASE_MS;
	int64_t cap = o && o->backoff_max_ms ? (int64_t)o->backoff_max_ms
	                                     : GV_REPAIRQ_BACKOFF_MAX_MS;
	int64_t d = base;
	uint32_t i;

	if (cap < base)
		cap = base;
	for (i = 1; i < attempts && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

static void text_set(char *dst, size_t cap, const char *v)
{
	snprintf(dst, cap, "%s", v ? v : "");
}

int gv_repairq_add(gv_repairq *q, gv_index *ix, const gv_key *key, const char *reason)
{
	gv_repairq_entry e;
	int64_t now = gv_now_ms();
	int err;

	pthread_mutex_lock(&q->mu);
	err = gv_index_repairq_get(ix, key, &e);
	if (err == 0 && (!e.dead || strncmp(e.reason, reason, sizeof(e.reason) - 1) == 0))
		goto out; /* queued already, or dead for this very reason */
	if (err < 0 && err != GV_ENOTFOUND)
		goto out;
	if (err == GV_ENOTFOUND) {
		memset(&e, 0, sizeof(e));
		e.key = *key;
	}
	text_set(e.reason, sizeof(e.reason), reason);
	e.attempts = 0;
	e.dead = 0;
	e.next_attempt_ms = now;
	e.enqueued_ms = now;
	err = gv_index_repairq_put(ix, &e);
out:
	pthread_mutex_unlock(&q->mu);
	return err;
}

int gv_repairq_due(gv_repairq *q, gv_index *ix, size_t limit, gv_key *out, size_t *out_n)
{
	(void)q; /* a read: nothing to order */
	return gv_index_repairq_due(ix, gv_now_ms(), limit, out, out_n);
}

int gv_repairq_done(gv_repairq *q, gv_index *ix, const gv_key *key)
{
	int err;

	pthread_mutex_lock(&q->mu);
	err = gv_index_repairq_remove(ix, key);
	pthread_mutex_unlock(&q->mu);
	return err;
}

int gv_repairq_failed(gv_repairq *q, gv_index *ix, const gv_key *key, const char *reason,
                      const char *error, const gv_repair_opts *o)
{
	gv_repairq_entry e;
	int64_t now = gv_now_ms();
	int err;

	pthread_mutex_lock(&q->mu);
	err = gv_index_repairq_get(ix, key, &e);
	if (err == GV_ENOTFOUND) {
		memset(&e, 0, sizeof(e));
		e.key = *key;
		text_set(e.reason, sizeof(e.reason), reason);
		e.enqueued_ms = now;
	} else if (err < 0) {
		goto out;
	}
	if (e.attempts < UINT32_MAX)
		e.attempts++;
	text_set(e.last_error, sizeof(e.last_error), error);
	e.dead = e.attempts >= max_attempts(o);
	e.next_attempt_ms = now + gv_repairq_backoff_ms(o, e.attempts);
	err = gv_index_repairq_put(ix, &e);
out:
	pthread_mutex_unlock(&q->mu);
	return err;
}
