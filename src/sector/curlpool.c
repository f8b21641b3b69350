/*
 * curlpool.c - idle curl easy handles of one sector (curlpool.h).
 */
#include "sector/curlpool.h"

void gv_curl_pool_init(gv_curl_pool *p)
{
	pthread_mutex_init(&p->mu, NULL);
	p->n = 0;
}

CURL *gv_curl_pool_get(gv_curl_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->mu);
	if (p->n)
		h = p->h[--p->n];
	pthread_mutex_unlock(&p->mu);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

void gv_curl_pool_put(gv_curl_pool *p, CURL *h)
{
	pthread_mutex_lock(&p->mu);
	if (p->n < GV_CURL_POOL_MAX) {
		p->h[p->n++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	if (h)
		curl_easy_cleanup(h);
}

void gv_curl_pool_destroy(gv_curl_pool *p)
{
	while (p->n)
		curl_easy_cleanup(p->h[--p->n]);
	pthread_mutex_destroy(&p->mu);
}
