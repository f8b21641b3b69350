/*
 * curlpool.h - idle curl easy handles of one sector, kept for the next
 * request (the remote and s3 kinds).  A handle taken is reset; one put
 * back beyond the pool's size is cleaned up.
 */
#ifndef GV_SECTOR_CURLPOOL_H
#define GV_SECTOR_CURLPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <curl/curl.h>

#define GV_CURL_POOL_MAX 16

typedef struct gv_curl_pool {
	pthread_mutex_t mu;
	CURL *h[GV_CURL_POOL_MAX]; /* mu */
	size_t n;                  /* mu */
} gv_curl_pool;

void gv_curl_pool_init(gv_curl_pool *p);
/* An idle handle, reset, or a new one (NULL: out of memory). */
CURL *gv_curl_pool_get(gv_curl_pool *p);
void gv_curl_pool_put(gv_curl_pool *p, CURL *h);
/* Clean up every idle handle. */
void gv_curl_pool_destroy(gv_curl_pool *p);

#endif
