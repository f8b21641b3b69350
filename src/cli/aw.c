/*
 * aw.c - a two-buffer asynchronous writer.
 *
 * Buffers cycle free -> filled (by the caller) -> queued -> written (by
 * the thread) -> free.  `mu` guards every field below it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/aw.h"

#define NBUF 2

struct aw {
	int fd;
	pthread_t tid;
	char *bufs[NBUF];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int queued[NBUF];       /* 1 while waiting for / being written */
	size_t len[NBUF];
	unsigned head, tail;    /* next to queue, next to write */
	int err;                /* errno of the first failed write */
	int stop;
};

static void *aw_main(void *p)
{
	aw *w = p;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		unsigned i = w->tail % NBUF;
		const char *b;
		size_t left;
		int e = 0;

		while (!w->queued[i] && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->queued[i])
			break;
		b = w->bufs[i];
		left = w->len[i];
		pthread_mutex_unlock(&w->mu);
		while (left) {
			ssize_t n = write(w->fd, b, left);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				e = errno;
				break;
			}
			b += n;
			left -= (size_t)n;
		}
		pthread_mutex_lock(&w->mu);
		if (e && !w->err)
			w->err = e;
		w->queued[i] = 0;
		w->tail++;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

aw *aw_open(int fd)
{
	aw *w = calloc(1, sizeof(*w));
	int i;

	if (!w)
		return NULL;
	w->fd = fd;
	for (i = 0; i < NBUF; i++) {
		w->bufs[i] = malloc(AW_BUFSZ);
		if (!w->bufs[i])
			goto fail;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->tid, NULL, aw_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	return w;
fail:
	for (i = 0; i < NBUF; i++)
		free(w->bufs[i]);
	free(w);
	errno = ENOMEM;
	return NULL;
}

char *aw_buffer(aw *w)
{
	unsigned i;

	pthread_mutex_lock(&w->mu);
	i = w->head % NBUF;
	while (w->queued[i])
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
	return w->bufs[i];
}

int aw_submit(aw *w, char *buf, size_t len)
{
	unsigned i;
	int err;

	pthread_mutex_lock(&w->mu);
	i = w->head % NBUF;
	err = w->err;
	if (!err && len) {
		(void)buf; /* always w->bufs[i], handed out by aw_buffer */
		w->len[i] = len;
		w->queued[i] = 1;
		w->head++;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

int aw_drain(aw *w)
{
	int err;

	pthread_mutex_lock(&w->mu);
	while (w->tail != w->head)
		pthread_cond_wait(&w->cv, &w->mu);
	err = w->err;
	pthread_mutex_unlock(&w->mu);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

int aw_close(aw *w)
{
	int r, i;

	if (!w)
		return 0;
	r = aw_drain(w);
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	for (i = 0; i < NBUF; i++)
		free(w->bufs[i]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return r;
}
