/*
 * workq.c - bounded job queue with a worker pool.  `mu` guards every field
 * below it.
 */
#include <pthread.h>
#include <stdlib.h>

#include "graviton/common.h"
#include "engine/workq.h"

struct gv_workq {
	gv_workq_fn fn;
	void *payload;
	pthread_t *threads;
	unsigned nthreads;

	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full, idle;
	void **ring;
	size_t cap, head, count;
	size_t running;   /* jobs taken and not finished */
	int closing;
};

static void *worker_main(void *p)
{
	gv_workq *q = p;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		void *job;

		while (q->count == 0 && !q->closing)
			pthread_cond_wait(&q->not_empty, &q->mu);
		if (q->count == 0)
			break;
		job = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->count--;
		q->running++;
		pthread_cond_signal(&q->not_full);
		pthread_mutex_unlock(&q->mu);

		q->fn(job, q->payload);

		pthread_mutex_lock(&q->mu);
		q->running--;
		if (q->count == 0 && q->running == 0)
			pthread_cond_broadcast(&q->idle);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

int gv_workq_new(gv_workq **out, unsigned workers, size_t cap, gv_workq_fn fn, void *payload)
{
	gv_workq *q;
	unsigned i;

	*out = NULL;
	if (workers < 1)
		workers = 1;
	if (cap < 1)
		cap = 1;
	q = calloc(1, sizeof(*q));
	if (!q)
		return gv_error_set(GV_ENOMEM, "out of memory");
	q->ring = calloc(cap, sizeof(*q->ring));
	q->threads = calloc(workers, sizeof(*q->threads));
	if (!q->ring || !q->threads) {
		free(q->ring);
		free(q->threads);
		free(q);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	q->fn = fn;
	q->payload = payload;
	q->cap = cap;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	pthread_cond_init(&q->idle, NULL);
	for (i = 0; i < workers; i++) {
		if (pthread_create(&q->threads[i], NULL, worker_main, q) != 0)
			break;
		q->nthreads++;
	}
	if (q->nthreads == 0) {
		gv_workq_free(q);
		return gv_error_set(GV_ERROR, "cannot start worker threads");
	}
	*out = q;
	return 0;
}

int gv_workq_push(gv_workq *q, void *job)
{
	pthread_mutex_lock(&q->mu);
	while (q->count == q->cap)
		pthread_cond_wait(&q->not_full, &q->mu);
	q->ring[(q->head + q->count) % q->cap] = job;
	q->count++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

size_t gv_workq_pending(gv_workq *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->count;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void gv_workq_wait(gv_workq *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->count > 0 || q->running > 0)
		pthread_cond_wait(&q->idle, &q->mu);
	pthread_mutex_unlock(&q->mu);
}

void gv_workq_free(gv_workq *q)
{
	unsigned i;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->closing = 1;
	pthread_cond_broadcast(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->idle);
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->mu);
	free(q->threads);
	free(q->ring);
	free(q);
}
