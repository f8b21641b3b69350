/*
 * repairq.h - the durable repair queue: keys waiting for repair, kept in
 * the index (repairq_* ops) so they survive restarts.
 *
 * Policy lives here, storage in the index: a failed repair counts an
 * attempt and waits base * 2^(attempts - 1) ms (capped) before the next;
 * at max_attempts the key becomes a dead letter, listed but no longer
 * retried.  A dead letter leaves the queue when a repair of the key
 * succeeds (a full scan, or a manual run) or the key is deleted, and is
 * revived (attempts from 0) when the key is queued again for another
 * reason.  Read-modify-write steps run under the queue's mutex; one
 * process serves a data directory (servelock.c).  Gateways sharing one
 * index finish a key's row (done, failed) only under the key's claim
 * (claim.c); an enqueue by another gateway racing it can at worst lose
 * the queued key to the next full scan, which finds it again.
 * Each call takes the index to use (the store's, which tests may wrap).
 */
#ifndef GV_ENGINE_REPAIRQ_H
#define GV_ENGINE_REPAIRQ_H

#include <pthread.h>

#include "graviton/repair.h"
#include "graviton/sys/index.h"

typedef struct gv_repairq {
	pthread_mutex_t mu;     /* orders read-modify-write of one row */
} gv_repairq;

/* Defaults of the policy fields of gv_repair_opts left 0. */
#define GV_REPAIRQ_MAX_ATTEMPTS 8
#define GV_REPAIRQ_BACKOFF_BASE_MS 1000
#define GV_REPAIRQ_BACKOFF_MAX_MS 3600000

void gv_repairq_init(gv_repairq *q);
void gv_repairq_destroy(gv_repairq *q);

/* Wait before the attempt that follows `attempts` failures (>= 1). */
int64_t gv_repairq_backoff_ms(const gv_repair_opts *o, uint32_t attempts);

/* Queue key for `reason` (due now).  A key already queued keeps its row
 * (and its backoff); a dead letter queued for another reason is revived. */
int gv_repairq_add(gv_repairq *q, gv_index *ix, const gv_key *key, const char *reason);

/* Up to `limit` keys due now, earliest first. */
int gv_repairq_due(gv_repairq *q, gv_index *ix, size_t limit, gv_key *out, size_t *out_n);

/* The key needs no more repair: drop its row, dead or not. */
int gv_repairq_done(gv_repairq *q, gv_index *ix, const gv_key *key);

/* A repair of key failed with `error`: count the attempt and back off, or
 * make it a dead letter.  A key not queued is queued first for
 * `reason`. */
int gv_repairq_failed(gv_repairq *q, gv_index *ix, const gv_key *key, const char *reason,
                      const char *error, const gv_repair_opts *o);

#endif
