/*
 * get.c - the read path: try replicas in order of trust, verify full reads
 * against the key while streaming, mark what fails unhealthy.
 *
 * Order: effectively healthy replicas first, most recently verified first;
 * then (full reads only, since the digest guards them) replicas marked
 * unhealthy, as a last resort.  A range of a blob up to
 * GV_GET_RANGE_VERIFY_MAX is served only from a replica verified whole
 * first, so it is tried like a full read.  Ranges of larger blobs cannot be
 * verified (until per-block checksums exist): they use healthy replicas
 * only (or an incomplete copy that holds the range).
 *
 * A blob verified first that is at most GET_MEM_MAX bytes is read once:
 * into memory, checked there and served from there, instead of a verifying
 * pass and then a second open and read of the same file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/store.h"

#define GET_MEM_MAX (256u * 1024)

typedef struct candidate {
	char sector[GV_ID_MAX];
	int healthy;            /* effective health when the read began */
	int64_t last_verified;
} candidate;

struct gv_get {
	gv_store *st;
	gv_key key;
	uint64_t start, end;    /* bytes delivered: [start, end) */
	int full;               /* whole blob: verify the digest */
	int verify_first;       /* verify each replica whole before its first byte */
	candidate *cand;
	size_t ncand, next;     /* next candidate to open */
	gv_sector_reader *r;
	char cur[GV_ID_MAX];
	uint64_t delivered;
	gv_sha256 *h;
	int hashing;            /* verify while streaming (not after verify_first) */
	int done;
	unsigned char *mem;     /* the verified blob, when read into memory */
	int in_mem;             /* serving from mem (no reader) */
};

static int cand_cmp(const void *a, const void *b)
{
	const candidate *x = a, *y = b;

	if (x->healthy != y->healthy)
		return y->healthy - x->healthy;
	if (x->last_verified != y->last_verified)
		return x->last_verified > y->last_verified ? -1 : 1;
	return strcmp(x->sector, y->sector);
}

/* Turn a failure into the reason recorded on the replica. */
static void reason_of(char *buf, size_t cap, int err)
{
	const char *msg = gv_error_last();

	switch (err) {
	case GV_ENOTFOUND:
		snprintf(buf, cap, "missing");
		break;
	case GV_ECORRUPT:
		/* Opening checks the file's type and size; hashing the rest. */
		snprintf(buf, cap, "%s", strstr(msg, "checksum")             ? "checksum mismatch"
		                         : strstr(msg, "not a regular file") ? "not a regular file"
		                                                             : "size mismatch");
		break;
	default:
		snprintf(buf, cap, "io error: %s", msg);
		break;
	}
}

static void fail_current(gv_get *g, const char *reason)
{
	candidate *c = &g->cand[g->next - 1];

	if (c->healthy)
		gv_store_mark_unhealthy(g->st, &g->key, g->cur, reason);
	gv_sector_reader_close(g->r);
	g->r = NULL;
}

/*
 * Open the next candidate that works, from the start of the range.
 * Returns 0, or GV_EALL_REPLICAS_FAILED when none is left.
 */
static int open_next(gv_get *g)
{
	char reason[GV_REASON_MAX], kbuf[GV_KEY_BUFSIZE];
	int err;

	while (g->next < g->ncand) {
		candidate *c = &g->cand[g->next++];
		gv_sector *s = gv_store_sector_handle(g->st, c->sector, reason, sizeof(reason));

		if (!s) {
			/* The sector itself is down; its replicas are judged with it. */
			gv_debug("event=read_skip key=%s sector=%s reason=\"%s\"",
			         gv_key_format(kbuf, &g->key), c->sector, reason);
			continue;
		}
		snprintf(g->cur, sizeof(g->cur), "%s", c->sector);
		if (g->mem) {
			if (gv_replica_verify_into(s, &g->key, g->mem, reason, sizeof(reason)) < 0) {
				if (c->healthy)
					gv_store_mark_unhealthy(g->st, &g->key, c->sector, reason);
				continue;
			}
			g->delivered = 0;
			g->in_mem = 1;
			return 0;
		}
		if (g->verify_first &&
		    gv_replica_verify(s, &g->key, reason, sizeof(reason), NULL, NULL, NULL) < 0) {
			if (c->healthy)
				gv_store_mark_unhealthy(g->st, &g->key, c->sector, reason);
			continue;
		}
		err = gv_sector_reader_open(&g->r, s, &g->key, g->start, g->end - g->start);
		if (err < 0) {
			reason_of(reason, sizeof(reason), err);
			if (c->healthy)
				gv_store_mark_unhealthy(g->st, &g->key, c->sector, reason);
			continue;
		}
		g->delivered = 0;
		/* A replica verified just now is not hashed a second time: blobs
		 * are immutable, so the second pass only moves bytes. */
		g->hashing = g->full && !g->verify_first;
		if (g->hashing)
			gv_sha256_reset(g->h);
		return 0;
	}
	return gv_error_set(GV_EALL_REPLICAS_FAILED, "all %zu replica%s of %s failed", g->ncand,
	                    g->ncand == 1 ? "" : "s", gv_key_format(kbuf, &g->key));
}

int gv_get_open(gv_get **out, gv_store *st, const gv_key *key, const gv_get_opts *opts)
{
	gv_sector_info *sectors = NULL;
	gv_replica *reps = NULL;
	size_t nsectors = 0, nreps = 0, i;
	char kbuf[GV_KEY_BUFSIZE];
	gv_get *g;
	int err;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return gv_error_set(GV_ENOMEM, "out of memory");
	g->st = st;
	g->key = *key;
	g->start = 0;
	g->end = key->size;
	if (opts && opts->has_range) {
		if (opts->end <= opts->start || opts->end > key->size) {
			err = gv_error_set(GV_EINVAL, "range %llu-%llu is outside the blob's %llu bytes",
			                   (unsigned long long)opts->start,
			                   (unsigned long long)(opts->end ? opts->end - 1 : 0),
			                   (unsigned long long)key->size);
			goto fail;
		}
		g->start = opts->start;
		g->end = opts->end;
	}
	g->full = g->start == 0 && g->end == key->size;
	if (g->full)
		g->verify_first = opts && opts->verify_first;
	else
		g->verify_first = key->size <= GV_GET_RANGE_VERIFY_MAX;

	err = gv_index_replicas_find(st->ix, key, &reps, &nreps);
	if (err == GV_ENOTFOUND) {
		err = gv_error_set(GV_ENOTFOUND, "no such blob: %s", gv_key_format(kbuf, key));
		goto fail;
	}
	if (err < 0)
		goto fail;
	if ((err = gv_index_sector_list(st->ix, &sectors, &nsectors)) < 0)
		goto fail;
	g->cand = calloc(nreps ? nreps : 1, sizeof(*g->cand));
	if (!g->cand) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < nreps; i++) {
		candidate *c = &g->cand[g->ncand];
		int healthy = gv_replica_effective_health(&reps[i], sectors, nsectors, NULL, 0);

		if (!healthy) {
			/* Incomplete copies may serve an unverified range they
			 * hold; copies marked bad only a verified read. */
			int checked = g->full || g->verify_first;
			int holds = reps[i].healthy &&
			            gv_rangeset_contains(&reps[i].ranges, g->start, g->end);

			if (!(checked || holds))
				continue;
			if (checked && !gv_rangeset_is_full(&reps[i].ranges, key->size))
				continue;
		}
		snprintf(c->sector, sizeof(c->sector), "%s", reps[i].sector);
		c->healthy = healthy;
		c->last_verified = reps[i].last_verified;
		g->ncand++;
	}
	qsort(g->cand, g->ncand, sizeof(*g->cand), cand_cmp);
	if (g->full && !g->verify_first && (err = gv_sha256_new(&g->h)) < 0)
		goto fail;
	if (g->verify_first && key->size > 0 && key->size <= GET_MEM_MAX &&
	    !(g->mem = malloc((size_t)key->size))) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto fail;
	}
	if (g->start == g->end) {
		/* Empty blob: nothing to read, but a replica must exist. */
		if (g->ncand == 0) {
			err = gv_error_set(GV_EALL_REPLICAS_FAILED, "no replica of %s",
			                   gv_key_format(kbuf, key));
			goto fail;
		}
	} else if ((err = open_next(g)) < 0) {
		goto fail;
	}
	free(sectors);
	gv_replicas_free(reps, nreps);
	*out = g;
	return 0;

fail:
	free(sectors);
	gv_replicas_free(reps, nreps);
	gv_get_close(g);
	return err;
}

uint64_t gv_get_length(const gv_get *g)
{
	return g->end - g->start;
}

const char *gv_get_sector(const gv_get *g)
{
	return g->cur;
}

ssize_t gv_get_read(gv_get *g, void *buf, size_t cap)
{
	uint64_t want = g->end - g->start;
	char reason[GV_REASON_MAX];
	uint8_t digest[GV_DIGEST_LEN];
	ssize_t n;
	int err;

	if (g->done || want == 0)
		return 0;
	if (!g->r && !g->in_mem && (err = open_next(g)) < 0)
		return err;
	if (g->in_mem) {
		n = (ssize_t)(want - g->delivered < cap ? want - g->delivered : cap);
		memcpy(buf, g->mem + g->start + g->delivered, (size_t)n);
		g->delivered += (uint64_t)n;
		g->done = g->delivered == want;
		return n;
	}
	if (g->delivered < want) {
		n = gv_sector_reader_read(g->r, buf, cap);
		if (n < 0) {
			reason_of(reason, sizeof(reason), (int)n);
			goto restart;
		}
		if (n == 0) {
			gv_error_set(GV_ECORRUPT, "size mismatch: replica ended at byte %llu",
			             (unsigned long long)(g->start + g->delivered));
			snprintf(reason, sizeof(reason), "size mismatch");
			goto restart;
		}
		g->delivered += (uint64_t)n;
		if (g->hashing)
			gv_sha256_update(g->h, buf, (size_t)n);
		if (g->delivered < want || !g->hashing)
			return n;
		/* Last bytes of a full read: verify before handing them out. */
		gv_sha256_final(g->h, digest);
		if (memcmp(digest, g->key.digest, GV_DIGEST_LEN) != 0) {
			snprintf(reason, sizeof(reason), "checksum mismatch");
			goto restart;
		}
		return n;
	}
	g->done = 1;
	return 0;

restart:
	fail_current(g, reason);
	if (g->verify_first && g->delivered == 0 && (err = open_next(g)) == 0)
		return gv_get_read(g, buf, cap);
	if (g->next >= g->ncand)
		return gv_error_set(GV_EALL_REPLICAS_FAILED,
		                    "replica in %s failed (%s) and no other is left", g->cur, reason);
	return gv_error_set(GV_ERESTART, "replica in %s failed (%s); read again from the start",
	                    g->cur, reason);
}

void gv_get_close(gv_get *g)
{
	if (!g)
		return;
	gv_sector_reader_close(g->r);
	gv_sha256_free(g->h);
	free(g->mem);
	free(g->cand);
	free(g);
}
