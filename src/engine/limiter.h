/*
 * limiter.h - a bandwidth limit shared by worker threads (token bucket
 * with a burst of one request).
 */
#ifndef GV_ENGINE_LIMITER_H
#define GV_ENGINE_LIMITER_H

#include <stdatomic.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gv_limiter {
	uint64_t bytes_per_second; /* 0: unlimited */
	pthread_mutex_t mu;        /* guards next */
	double next;               /* monotonic seconds when the next byte may go */
	/* Told of every piece taken, limited or not (NULL: none): the bytes
	 * a run has moved so far, for its progress. */
	void (*on_take)(size_t n, void *payload);
	void *payload;
} gv_limiter;

void gv_limiter_init(gv_limiter *l, uint64_t bytes_per_second);
void gv_limiter_destroy(gv_limiter *l);
/* Sleep until n more bytes fit under the limit (on_take first). */
void gv_limiter_take(gv_limiter *l, size_t n);

/* Sleep up to ms, waking every 100 ms to notice *stop (daemon loops). */
void gv_pause_ms(uint64_t ms, atomic_int *stop);

/* Monotonic clock in seconds. */
double gv_mono_now(void);

#endif
