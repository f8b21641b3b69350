/*
 * workq.h - a bounded queue feeding a fixed pool of worker threads.
 *
 * The producer blocks while the queue is full, so a scan that feeds it
 * never holds more than `cap` jobs in memory, and jobs start in the order
 * they were pushed.
 */
#ifndef GV_ENGINE_WORKQ_H
#define GV_ENGINE_WORKQ_H

#include <stddef.h>

typedef struct gv_workq gv_workq;

/* Run one job; `job` is what was pushed, owned by the callee. */
typedef void (*gv_workq_fn)(void *job, void *payload);

/* Start `workers` threads (>= 1) over a queue of `cap` slots. */
int gv_workq_new(gv_workq **out, unsigned workers, size_t cap, gv_workq_fn fn, void *payload);

/* Queue a job, blocking while full. */
int gv_workq_push(gv_workq *q, void *job);

/* Jobs queued and not yet taken by a worker. */
size_t gv_workq_pending(gv_workq *q);

/* Wait until every pushed job has finished (the queue stays open). */
void gv_workq_wait(gv_workq *q);

/* Wait for every job, stop the workers, free the queue (NULL ok). */
void gv_workq_free(gv_workq *q);

#endif
