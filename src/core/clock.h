/*
 * clock.h - the monotonic clock as the engine and backends use it: a
 * deadline for pthread_cond_timedwait (conditions created with
 * CLOCK_MONOTONIC) and milliseconds for intervals.
 */
#ifndef GV_CORE_CLOCK_H
#define GV_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* *ts = now + ms on CLOCK_MONOTONIC. */
static inline void gv_deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds on CLOCK_MONOTONIC. */
static inline long long gv_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
