/*
 * limiter.c - token bucket: each request books its share of time after
 * the previous one and sleeps until its slot, so the average rate holds
 * across any number of threads.
 */
#include <stdatomic.h>
#include <errno.h>
#include <time.h>

#include "engine/limiter.h"

double gv_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void gv_limiter_init(gv_limiter *l, uint64_t bytes_per_second)
{
	l->bytes_per_second = bytes_per_second;
	l->next = 0;
	l->on_take = NULL;
	l->payload = NULL;
	pthread_mutex_init(&l->mu, NULL);
}

void gv_limiter_destroy(gv_limiter *l)
{
	pthread_mutex_destroy(&l->mu);
}

void gv_limiter_take(gv_limiter *l, size_t n)
{
	double now, at;

	if (l->on_take && n)
		l->on_take(n, l->payload);
	if (!l->bytes_per_second || !n)
		return;
	pthread_mutex_lock(&l->mu);
	now = gv_mono_now();
	at = l->next > now ? l->next : now;
	l->next = at + (double)n / (double)l->bytes_per_second;
	pthread_mutex_unlock(&l->mu);
	if (at > now) {
		struct timespec ts;
		double d = at - now;

		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

void gv_pause_ms(uint64_t ms, atomic_int *stop)
{
	double until = gv_mono_now() + (double)ms / 1000.0;

	while (!*stop && gv_mono_now() < until) {
		struct timespec ts = { 0, 100000000L };

		nanosleep(&ts, NULL);
	}
}
