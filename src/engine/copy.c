/*
 * copy.c - copying committed blobs between sectors, and moving replicas
 * (copy.h).
 *
 * Map:
 *   gv_copy_blob()           one committed blob into another sector
 *   gv_replica_verify()      read a replica whole against its key
 *   gv_copy_key()            the resumable copy of repair: open or resume
 *                            the target (open_target), stream from the
 *                            first good source (stream_from), commit and
 *                            record (or drop_partial on failure)
 *   gv_patch_replica()       range-level repair: rewrite the missing or bad
 *                            blocks of a replica in place (patch_scan,
 *                            patch_batch)
 *   gv_move_replica()        copy -> record -> drop old row -> delete bytes
 *   gv_replica_drop_locked() row then bytes (partials: bytes then row)
 *
 * Crash safety of a resumable copy: it records an intent row with empty
 * ranges before its first byte, then each durable prefix, so a crash
 * leaves a row the next attempt resumes, or drops (bytes first: the index
 * never counted on them).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/copy.h"
#include "engine/limiter.h"
#include "engine/blocks.h"
#include "engine/store.h"

#define COPY_BUF GV_COPY_BUF

int gv_copy_blob(gv_sector *from, gv_sector *to, const gv_key *key, int verify)
{
	gv_sector_reader *r = NULL;
	gv_sector_writer *w = NULL;
	gv_sha256 *h = NULL;
	uint8_t digest[GV_DIGEST_LEN];
	char *buf;
	uint64_t done = 0;
	int err;

	buf = malloc(COPY_BUF);
	if (!buf)
		return gv_error_set(GV_ENOMEM, "out of memory");
	if (verify && (err = gv_sha256_new(&h)) < 0)
		goto out;
	if ((err = gv_sector_reader_open(&r, from, key, 0, UINT64_MAX)) < 0)
		goto out;
	if ((err = gv_sector_writer_open(&w, to, key, 0)) < 0)
		goto out;
	for (;;) {
		ssize_t n = gv_sector_reader_read(r, buf, COPY_BUF);

		if (n < 0) {
			err = (int)n;
			goto out;
		}
		if (n == 0)
			break;
		if (h && (err = gv_sha256_update(h, buf, (size_t)n)) < 0)
			goto out;
		if ((err = gv_sector_writer_write(w, buf, (size_t)n)) < 0)
			goto out;
		done += (uint64_t)n;
	}
	if (done != key->size) {
		err = gv_error_set(GV_ECORRUPT, "size mismatch: source %s has %llu bytes, expected %llu",
		                   from->id, (unsigned long long)done,
		                   (unsigned long long)key->size);
		goto out;
	}
	if (h) {
		if ((err = gv_sha256_final(h, digest)) < 0)
			goto out;
		if (memcmp(digest, key->digest, GV_DIGEST_LEN) != 0) {
			err = gv_error_set(GV_ECORRUPT, "checksum mismatch reading sector %s",
			                   from->id);
			goto out;
		}
	}
	err = gv_sector_writer_commit(w, key);
	w = NULL;
out:
	if (w)
		gv_sector_writer_abort(w, 0);
	gv_sector_reader_close(r);
	gv_sha256_free(h);
	free(buf);
	return err;
}

int gv_replica_verify(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                      uint64_t *bytes, gv_limiter *lim, atomic_int *cancel)
{
	return gv_replica_verify_blocks(s, key, reason, cap, bytes, lim, cancel, NULL);
}

/*
 * Read the replica whole and check it against the key (and feed bh, if
 * any).  With `keep` (room for key->size bytes) the bytes land there, for
 * the caller to serve; else they pass through a buffer no bigger than the
 * blob.
 */
static int verify_pass(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                       uint64_t *bytes, gv_limiter *lim, atomic_int *cancel,
                       gv_block_hasher *bh, unsigned char *keep)
{
	gv_sector_reader *r = NULL;
	gv_sha256 *h = NULL;
	uint8_t digest[GV_DIGEST_LEN];
	uint64_t total = 0;
	char why[GV_REASON_MAX] = "";
	size_t bufcap = key->size < COPY_BUF ? (key->size ? (size_t)key->size : 1) : COPY_BUF;
	unsigned char *buf = keep ? NULL : malloc(bufcap);
	int err;

	if ((!keep && !buf) || (err = gv_sha256_new(&h)) < 0) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		snprintf(why, sizeof(why), "io error: out of memory");
		goto out;
	}
	err = gv_sector_reader_open(&r, s, key, 0, UINT64_MAX);
	if (err < 0) {
		/* Opening checks presence, the file's type and its size only. */
		if (err == GV_ENOTFOUND)
			snprintf(why, sizeof(why), "missing");
		else if (err == GV_ECORRUPT)
			snprintf(why, sizeof(why), "%s", strstr(gv_error_last(), "not a regular file")
			                                          ? "not a regular file" : "size mismatch");
		else
			snprintf(why, sizeof(why), "io error: %.240s", gv_error_last());
		goto out;
	}
	for (;;) {
		unsigned char *at = keep ? keep + total : buf;
		ssize_t n = gv_sector_reader_read(r, at, keep ? (size_t)(key->size - total) : bufcap);

		if (n < 0) {
			err = (int)n;
			if (err == GV_ECORRUPT)
				snprintf(why, sizeof(why), "size mismatch");
			else
				snprintf(why, sizeof(why), "io error: %.240s", gv_error_last());
			goto out;
		}
		if (n == 0)
			break;
		if (lim)
			gv_limiter_take(lim, (size_t)n);
		gv_sha256_update(h, at, (size_t)n);
		if (bh && (err = gv_block_hasher_update(bh, at, (size_t)n)) < 0) {
			snprintf(why, sizeof(why), "io error: %.240s", gv_error_last());
			goto out;
		}
		total += (uint64_t)n;
		if (bytes)
			*bytes += (uint64_t)n;
		if (cancel && *cancel) {
			err = gv_error_set(GV_ECANCELED, "cancelled");
			snprintf(why, sizeof(why), "cancelled");
			goto out;
		}
	}
	if (total != key->size) {
		err = gv_error_set(GV_ECORRUPT, "size mismatch: read %llu bytes, expected %llu",
		                   (unsigned long long)total, (unsigned long long)key->size);
		snprintf(why, sizeof(why), "size mismatch");
		goto out;
	}
	if ((err = gv_sha256_final(h, digest)) < 0) {
		snprintf(why, sizeof(why), "io error: %.240s", gv_error_last());
		goto out;
	}
	if (memcmp(digest, key->digest, GV_DIGEST_LEN) != 0) {
		err = gv_error_set(GV_ECORRUPT, "checksum mismatch in sector %s", s->id);
		snprintf(why, sizeof(why), "checksum mismatch");
	}
out:
	if (reason && cap)
		snprintf(reason, cap, "%s", why);
	gv_sector_reader_close(r);
	gv_sha256_free(h);
	free(buf);
	return err;
}

int gv_replica_verify_blocks(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                             uint64_t *bytes, gv_limiter *lim, atomic_int *cancel,
                             gv_block_hasher *bh)
{
	return verify_pass(s, key, reason, cap, bytes, lim, cancel, bh, NULL);
}

int gv_replica_verify_into(gv_sector *s, const gv_key *key, void *keep, char *reason,
                           size_t cap)
{
	return verify_pass(s, key, reason, cap, NULL, NULL, NULL, NULL, keep);
}

/* ---- the resumable copy ------------------------------------------------- */

enum { SRC_OK = 0, SRC_READ_ERR = 1, SRC_MISMATCH = 2, DST_ERR = 3 };

/* One gv_copy_key call. */
typedef struct copy_ctx {
	gv_store *st;
	const gv_key *key;
	const char *target;
	gv_copy_opts o;
	int resumable;
	char *buf;
	gv_sector_writer *w;     /* the target's writer while open */
	gv_copy_result res;
	int dst_err;             /* why the target failed (DST_ERR) */
	int src_err;             /* why the source failed (SRC_*) */
} copy_ctx;

/* Record [0, upto) as the ranges of key's row in sector; create: a new
 * (healthy, partial) row, else the existing row's ranges. */
static int record_ranges(gv_index *ix, const gv_key *key, const char *sector, uint64_t upto,
                         int create)
{
	gv_rangeset rs = GV_RANGESET_INIT;
	int err;

	if ((err = gv_rangeset_add(&rs, 0, upto)) < 0)
		return err;
	if (create) {
		gv_replica rp;

		memset(&rp, 0, sizeof(rp));
		rp.key = *key;
		snprintf(rp.sector, sizeof(rp.sector), "%s", sector);
		rp.ranges = rs;
		rp.healthy = 1;
		err = gv_index_replica_put(ix, &rp);
	} else {
		err = gv_index_replica_set_ranges(ix, key, sector, &rs);
	}
	gv_rangeset_free(&rs);
	return err;
}

/* The empty row of a resumable copy, while the blob is still in the index
 * (recording a replica creates a missing blob row: a copy must not bring
 * back a deleted blob). */
static int start_partial(gv_store *st, const gv_key *key, const char *target)
{
	int err;

	if ((err = gv_key_lock(st, key)) < 0)
		return err;
	err = gv_index_blob_exists(st->ix, key, NULL);
	if (err == 0)
		err = gv_error_set(GV_ENOTFOUND, "the blob was deleted meanwhile");
	else if (err > 0)
		err = record_ranges(st->ix, key, target, 0, 1);
	gv_key_unlock(st, key);
	return err;
}

/*
 * A resumable copy into `target` failed: under the key lock, drop its
 * partial row, then the bytes no row counts on.  A complete row there is
 * not this copy's (an identical put recorded its own bytes meanwhile) and
 * stays with its bytes; so do bytes whose row cannot be removed (extra
 * bytes are harmless, a row without bytes is not).
 */
static void drop_partial(gv_store *st, const gv_key *key, const char *target)
{
	gv_index *ix = st->ix;
	gv_replica *reps = NULL, *row = NULL;
	char kbuf[GV_KEY_BUFSIZE];
	size_t n = 0, i;
	int err;

	gv_key_format(kbuf, key);
	if ((err = gv_key_lock(st, key)) < 0) {
		gv_warn("event=repair_partial_kept key=%s sector=%s error=\"%s\"", kbuf, target,
		        gv_error_last());
		return;
	}
	err = gv_index_replicas_find(ix, key, &reps, &n);
	if (err < 0 && err != GV_ENOTFOUND)
		goto out_kept;
	for (i = 0; i < n; i++)
		if (strcmp(reps[i].sector, target) == 0)
			row = &reps[i];
	if (row && gv_rangeset_is_full(&row->ranges, key->size))
		goto out;
	if (row && (err = gv_index_replica_remove(ix, key, target)) < 0 && err != GV_ENOTFOUND)
		goto out_kept;
	if (gv_store_drop_unrecorded(st, key, target) < 0)
		goto out_kept;
	goto out;

out_kept:
	gv_errlog("event=index_error op=repair_drop_partial key=%s sector=%s error=\"%s\"", kbuf,
	          target, gv_error_last());
out:
	gv_key_unlock(st, key);
	gv_replicas_free(reps, n);
}

static int cancelled(const copy_ctx *c)
{
	return c->o.cancel && *c->o.cancel;
}

/* Write buf[0, len) into the target under the rate limit, and count it. */
static int put_bytes(copy_ctx *c, const char *buf, size_t len)
{
	int err;

	if (c->o.lim)
		gv_limiter_take(c->o.lim, len);
	if ((err = gv_sector_writer_write(c->w, buf, len)) < 0)
		return err;
	c->res.written += len;
	if (c->o.on_bytes)
		c->o.on_bytes(len, c->o.payload);
	return 0;
}

/*
 * Stream `src` into the target: hash [0, keep) without writing (those
 * bytes are in the target already), then hash and write [keep, size).  A
 * resumable copy syncs and records its durable prefix every resume_step
 * bytes.  SRC_* for the source's fault, DST_ERR (c->dst_err) for the
 * target's or a cancel.
 */
static int stream_from(copy_ctx *c, gv_sector *src)
{
	const gv_key *key = c->key;
	gv_sector_reader *rd = NULL;
	gv_sha256 *h = NULL;
	uint8_t d[GV_DIGEST_LEN];
	uint64_t keep = c->w->offset, pos = 0, last_sync = c->w->offset;
	int rc = DST_ERR;

	c->dst_err = GV_EIO;
	if (gv_sha256_new(&h) < 0)
		return DST_ERR;
	if ((c->src_err = gv_sector_reader_open(&rd, src, key, 0, UINT64_MAX)) < 0) {
		rc = SRC_READ_ERR;
		goto out;
	}
	while (pos < key->size) {
		ssize_t n = gv_sector_reader_read(rd, c->buf, COPY_BUF);

		if (n <= 0) {
			c->src_err = n < 0 ? (int)n
			                   : gv_error_set(GV_ECORRUPT, "size mismatch: source ended "
			                                  "at byte %llu", (unsigned long long)pos);
			rc = SRC_READ_ERR;
			goto out;
		}
		gv_sha256_update(h, c->buf, (size_t)n);
		if (pos + (uint64_t)n > keep) {
			uint64_t skip = pos < keep ? keep - pos : 0;

			if (put_bytes(c, c->buf + skip, (size_t)((uint64_t)n - skip)) < 0)
				goto out;
		}
		pos += (uint64_t)n;
		if (c->resumable && c->w->offset - last_sync >= c->o.resume_step &&
		    c->w->offset < key->size) {
			if (gv_sector_writer_sync(c->w) < 0 ||
			    record_ranges(c->st->ix, key, c->target, c->w->offset, 0) < 0)
				goto out;
			last_sync = c->w->offset;
		}
		if (cancelled(c)) {
			c->dst_err = gv_error_set(GV_ECANCELED, "cancelled");
			goto out;
		}
	}
	gv_sha256_final(h, d);
	rc = SRC_OK;
	if (memcmp(d, key->digest, GV_DIGEST_LEN) != 0) {
		c->src_err = gv_error_set(GV_ECORRUPT, "checksum mismatch");
		rc = SRC_MISMATCH;
	}
out:
	gv_sector_reader_close(rd);
	gv_sha256_free(h);
	return rc;
}

/*
 * Open the target's writer (c->w).  A resumable copy resumes the prefix
 * that both the partial holds and its row records (`row`; without one it
 * records an empty row first) and sets c->res.resumed.  On failure c->w
 * is left open when the caller must abort it and drop the partial.
 */
static int open_target(copy_ctx *c, gv_sector *dst, const gv_replica *row)
{
	uint64_t rec = 0, keep;
	int err;

	if (!c->resumable)
		return gv_sector_writer_open(&c->w, dst, c->key, 0);
	if (row && row->ranges.n > 0 && row->ranges.r[0].start == 0)
		rec = row->ranges.r[0].end;
	if (!row && (err = start_partial(c->st, c->key, c->target)) < 0)
		return err;
	if ((err = gv_sector_writer_open(&c->w, dst, c->key, GV_WRITE_RESUME)) < 0)
		return err;
	/* Trust only what the index recorded as durable. */
	keep = c->w->offset < rec ? c->w->offset : rec;
	if (keep < c->w->offset && gv_sector_writer_truncate(c->w, keep) < 0) {
		gv_sector_writer_abort(c->w, 0);
		c->w = NULL;
		if ((err = gv_sector_writer_open(&c->w, dst, c->key, GV_WRITE_RESUME)) < 0)
			return err;
		keep = 0;
		if (c->w->offset && (err = gv_sector_writer_truncate(c->w, 0)) < 0)
			return err;
	}
	c->res.resumed = keep;
	/* The index must never claim more than the partial holds (the row
	 * outlived its bytes: a kill after the commit, or after a failed
	 * copy dropped them). */
	if (keep < rec)
		return record_ranges(c->st->ix, c->key, c->target, keep, 0);
	return 0;
}

/* Stream from the first source that reads whole with the key's digest;
 * the others are judged on the way (gv_store_replica_failed: a source
 * whose sector cannot be reached keeps its row). */
static int copy_sources(copy_ctx *c, const char (*srcs)[GV_ID_MAX], size_t nsrc)
{
	size_t i;
	int err;

	for (i = 0; i < nsrc; i++) {
		gv_sector *src = gv_store_sector_handle(c->st, srcs[i], NULL, 0);
		char reason[GV_REASON_MAX];
		int rc;

		if (!src)
			continue;
		rc = stream_from(c, src);
		if (rc == SRC_OK)
			return 0;
		if (rc == DST_ERR)
			return c->dst_err;
		snprintf(reason, sizeof(reason), "%s",
		         rc == SRC_MISMATCH ? "checksum mismatch" : gv_error_last());
		gv_store_replica_failed(c->st, c->key, srcs[i], c->src_err, reason, "repair");
		if (rc == SRC_MISMATCH && (err = gv_sector_writer_truncate(c->w, 0)) < 0)
			return err;
		/* A read error keeps what was written: the next source goes on
		 * from there and the digest still covers every byte. */
	}
	return gv_error_set(GV_ENO_HEALTHY_SOURCE, "NoHealthySource: no source could be read");
}

static int copy_run(copy_ctx *c, const char (*srcs)[GV_ID_MAX], size_t nsrc,
                    const gv_replica *row)
{
	gv_sector *dst = gv_store_sector_handle(c->st, c->target, NULL, 0);
	int err;

	if (!dst)
		return gv_error_set(GV_EIO, "target sector %s is not available", c->target);
	if ((err = open_target(c, dst, row)) < 0) {
		if (!c->w)
			return err;
		goto fail;
	}
	if ((err = copy_sources(c, srcs, nsrc)) < 0)
		goto fail;
	err = gv_sector_writer_commit(c->w, c->key);
	c->w = NULL;
	if (err < 0)
		goto fail;
	if (c->res.resumed > 0 &&
	    (err = gv_replica_verify(dst, c->key, NULL, 0, NULL, NULL, NULL)) < 0)
		goto fail_row;
	/* The copy counts only if the blob is still there: a DELETE that ran
	 * meanwhile wins, and the copy's bytes go. */
	if ((err = gv_key_lock(c->st, c->key)) < 0)
		return err;
	err = gv_store_record_late(c->st, c->key, c->target);
	gv_key_unlock(c->st, c->key);
	return err;

fail:
	if (c->w)
		gv_sector_writer_abort(c->w, c->resumable && err == GV_ECANCELED);
	c->w = NULL;
	if (err == GV_ECANCELED)
		return err;
fail_row:
	if (c->resumable) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		drop_partial(c->st, c->key, c->target);
		gv_error_set(err, "%s", msg);
	}
	return err;
}

int gv_copy_key(gv_store *st, const gv_key *key, const char (*srcs)[GV_ID_MAX], size_t nsrc,
                const char *target, const gv_replica *row, const gv_copy_opts *o,
                gv_copy_result *out)
{
	copy_ctx c;
	char *own = NULL;
	int err;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.key = key;
	c.target = target;
	if (o)
		c.o = *o;
	if (!c.o.resume_min)
		c.o.resume_min = GV_COPY_RESUME_MIN;
	if (!c.o.resume_step)
		c.o.resume_step = GV_COPY_RESUME_STEP;
	c.resumable = key->size >= c.o.resume_min;
	c.buf = c.o.buf;
	if (!c.buf && !(c.buf = own = malloc(COPY_BUF)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	err = copy_run(&c, srcs, nsrc, row);
	if (out)
		*out = c.res;
	free(own);
	return err;
}

/* ---- range-level repair ---------------------------------------------------- */

/* One gv_patch_replica call. */
typedef struct patch_ctx {
	gv_store *st;
	const gv_key *key;
	const char *target;
	gv_sector *dst;
	gv_sector_patch *p;
	gv_blocks *blk;
	gv_copy_opts o;
	char *buf;
	gv_rangeset have;        /* blocks recorded intact in the target */
	gv_copy_result res;
} patch_ctx;

/* Block i: its offset and length. */
static void block_span(const patch_ctx *c, uint64_t i, uint64_t *off, size_t *len)
{
	uint64_t bs = gv_blocks_size(c->blk);

	*off = i * bs;
	*len = (size_t)(c->key->size - *off < bs ? c->key->size - *off : bs);
}

/* Read [off, off+len) of key from s into buf; 0 when it matches block i. */
static int read_block(patch_ctx *c, gv_sector *s, uint64_t i, char *buf)
{
	gv_sector_reader *rd = NULL;
	uint64_t off;
	size_t len, got = 0;
	int err;

	block_span(c, i, &off, &len);
	if ((err = gv_sector_reader_open(&rd, s, c->key, off, len)) < 0)
		return err;
	while (got < len) {
		ssize_t n = gv_sector_reader_read(rd, buf + got, len - got);

		if (n <= 0) {
			err = n < 0 ? (int)n : gv_error_set(GV_ECORRUPT, "size mismatch");
			break;
		}
		got += (size_t)n;
	}
	gv_sector_reader_close(rd);
	if (err == 0 && !gv_blocks_check(c->blk, i, buf, len))
		err = gv_error_set(GV_ECORRUPT, "block %llu: checksum mismatch in sector %s",
		                   (unsigned long long)i, s->id);
	return err;
}

/* Record c->have as the target row's ranges, under the key lock and only
 * while the blob is in the index; whole: also healthy and verified. */
static int patch_record(patch_ctx *c, int whole)
{
	gv_index *ix = c->st->ix;
	int err;

	if ((err = gv_key_lock(c->st, c->key)) < 0)
		return err;
	err = gv_index_blob_exists(ix, c->key, NULL);
	if (err == 0)
		err = gv_error_set(GV_ENOTFOUND, "the blob was deleted meanwhile");
	if (err > 0)
		err = gv_index_replica_set_ranges(ix, c->key, c->target, &c->have);
	if (err == 0 && whole)
		err = gv_index_replica_set_health(ix, c->key, c->target, 1, "");
	if (err == 0 && whole)
		err = gv_index_replica_set_verified(ix, c->key, c->target, gv_now_ms(),
		                                    c->key->digest);
	gv_key_unlock(c->st, c->key);
	return err;
}

/* Check every block the row holds against the table; one that fails
 * leaves the row's ranges before anything else happens. */
static int patch_scan(patch_ctx *c)
{
	uint64_t nb = gv_blocks_count(c->blk), i, off;
	char kbuf[GV_KEY_BUFSIZE];
	size_t len;
	int err;

	for (i = 0; i < nb; i++) {
		block_span(c, i, &off, &len);
		if (!gv_rangeset_contains(&c->have, off, off + len))
			continue;
		if (c->o.cancel && *c->o.cancel)
			return gv_error_set(GV_ECANCELED, "cancelled");
		err = read_block(c, c->dst, i, c->buf);
		if (err == 0)
			continue;
		if (err != GV_ECORRUPT)
			return err;
		gv_warn("event=block_bad key=%s sector=%s block=%llu", gv_key_format(kbuf, c->key),
		        c->target, (unsigned long long)i);
		if ((err = gv_rangeset_remove(&c->have, off, off + len)) < 0 ||
		    (err = patch_record(c, 0)) < 0)
			return err;
	}
	return 0;
}

/* Fetch block i from the first source that holds it intact, into buf. */
static int fetch_block(patch_ctx *c, const char (*srcs)[GV_ID_MAX], size_t nsrc, uint64_t i)
{
	size_t k;

	for (k = 0; k < nsrc; k++) {
		gv_sector *s;

		if (strcmp(srcs[k], c->target) == 0 ||
		    !(s = gv_store_sector_handle(c->st, srcs[k], NULL, 0)))
			continue;
		if (read_block(c, s, i, c->buf) == 0)
			return 0;
	}
	return gv_error_set(GV_ENO_HEALTHY_SOURCE,
	                    "NoHealthySource: no source holds block %llu intact",
	                    (unsigned long long)i);
}

/*
 * Rewrite blocks [from, to) (all missing): write each, sync once, read
 * each back against the table, then record them held.
 */
static int patch_batch(patch_ctx *c, const char (*srcs)[GV_ID_MAX], size_t nsrc, uint64_t from,
                       uint64_t to)
{
	uint64_t i, off, end;
	size_t len;
	int err;

	for (i = from; i < to; i++) {
		if ((err = fetch_block(c, srcs, nsrc, i)) < 0)
			return err;
		block_span(c, i, &off, &len);
		if (c->o.lim)
			gv_limiter_take(c->o.lim, len);
		if ((err = gv_sector_patch_write(c->p, off, c->buf, len)) < 0)
			return err;
		c->res.written += len;
		if (c->o.on_bytes)
			c->o.on_bytes(len, c->o.payload);
	}
	if ((err = gv_sector_patch_sync(c->p)) < 0)
		return err;
	for (i = from; i < to; i++)
		if ((err = read_block(c, c->dst, i, c->buf)) < 0)
			return err;
	block_span(c, from, &off, &len);
	block_span(c, to - 1, &end, &len);
	if ((err = gv_rangeset_add(&c->have, off, end + len)) < 0)
		return err;
	return patch_record(c, gv_rangeset_is_full(&c->have, c->key->size));
}

/* The blocks [0, count) not in c->have, in batches of at most step bytes. */
static int patch_missing(patch_ctx *c, const char (*srcs)[GV_ID_MAX], size_t nsrc)
{
	uint64_t nb = gv_blocks_count(c->blk), per, i = 0, off;
	size_t len;
	int err;

	per = c->o.resume_step / gv_blocks_size(c->blk);
	if (per == 0)
		per = 1;
	while (i < nb) {
		uint64_t j = i;

		block_span(c, i, &off, &len);
		if (gv_rangeset_contains(&c->have, off, off + len)) {
			i++;
			continue;
		}
		if (c->o.cancel && *c->o.cancel)
			return gv_error_set(GV_ECANCELED, "cancelled");
		while (j < nb && j - i < per) {
			block_span(c, j, &off, &len);
			if (gv_rangeset_contains(&c->have, off, off + len))
				break;
			j++;
		}
		if ((err = patch_batch(c, srcs, nsrc, i, j)) < 0)
			return err;
		i = j;
	}
	return 0;
}

int gv_patch_replica(gv_store *st, const gv_key *key, const char (*srcs)[GV_ID_MAX],
                     size_t nsrc, const char *target, const gv_replica *row,
                     const gv_copy_opts *o, gv_copy_result *out)
{
	char kbuf[GV_KEY_BUFSIZE];
	patch_ctx c;
	size_t i;
	int err;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.key = key;
	c.target = target;
	if (o)
		c.o = *o;
	if (!c.o.resume_step)
		c.o.resume_step = GV_COPY_RESUME_STEP;
	if (!(c.dst = gv_store_sector_handle(st, target, NULL, 0)))
		return gv_error_set(GV_EIO, "target sector %s is not available", target);
	if (!gv_sector_can_patch(c.dst))
		return 1;
	err = gv_blocks_load(st, key, &c.blk);
	if (err == GV_ENOTFOUND)
		return 1;
	if (err < 0)
		return err;
	if (gv_sector_patch_open(&c.p, c.dst, key) < 0) {
		gv_debug("event=patch_skipped key=%s sector=%s reason=\"%s\"",
		         gv_key_format(kbuf, key), target, gv_error_last());
		gv_blocks_free(c.blk);
		return 1;
	}
	/* Only whole blocks count as held. */
	for (i = 0; i < row->ranges.n; i++) {
		uint64_t bs = gv_blocks_size(c.blk), a = row->ranges.r[i].start,
		         b = row->ranges.r[i].end;

		a = (a + bs - 1) / bs * bs;
		b = b == key->size ? b : b / bs * bs;
		if (a < b && (err = gv_rangeset_add(&c.have, a, b)) < 0)
			goto out;
	}
	if (!(c.buf = malloc(gv_blocks_size(c.blk)))) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	if (!gv_rangeset_equal(&c.have, &row->ranges) && (err = patch_record(&c, 0)) < 0)
		goto out;
	if ((err = patch_scan(&c)) < 0 || (err = patch_missing(&c, srcs, nsrc)) < 0)
		goto out;
	/* Nothing written: every block was there and checked intact (the
	 * last batch written recorded the row whole otherwise). */
	if (c.res.written == 0)
		err = patch_record(&c, 1);
	if (err == 0)
		gv_info("event=replica_patched key=%s sector=%s bytes=%llu", gv_key_format(kbuf, key),
		        target, (unsigned long long)c.res.written);
out:
	if (out)
		*out = c.res;
	gv_sector_patch_close(c.p);
	gv_blocks_free(c.blk);
	gv_rangeset_free(&c.have);
	free(c.buf);
	return err;
}

/* ---- moving and dropping replicas ---------------------------------------- */

int gv_replica_drop_locked(gv_store *st, const gv_key *key, const char *sector, int partial,
                           int claims)
{
	gv_sector *s = gv_store_sector_handle(st, sector, NULL, 0);
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if (partial && s) {
		/* Claim nothing before the bytes go (see open_target). */
		if (claims) {
			err = record_ranges(st->ix, key, sector, 0, 0);
			if (err < 0 && err != GV_ENOTFOUND)
				return err;
		}
		err = gv_sector_del(s, key);
		if (err < 0 && err != GV_ENOTFOUND)
			return err;
	}
	err = gv_index_replica_remove(st->ix, key, sector);
	if (err < 0 && err != GV_ENOTFOUND) {
		gv_warn("event=replica_drop_failed key=%s sector=%s error=\"%s\"",
		        gv_key_format(kbuf, key), sector, gv_error_last());
		return err;
	}
	if (!partial && s) {
		err = gv_sector_del(s, key);
		if (err < 0 && err != GV_ENOTFOUND)
			gv_warn("event=replica_delete_failed key=%s sector=%s error=\"%s\"",
			        gv_key_format(kbuf, key), sector, gv_error_last());
	}
	return 0;
}

/* Copy key into `to` from `from` first (it is being emptied), else from
 * another healthy replica; a source found bad is marked so. */
static int move_copy(gv_store *st, const gv_key *key, const char *from, gv_sector *dst,
                     const char *to)
{
	gv_sector_info *sectors = NULL;
	gv_replica *reps = NULL;
	size_t nsectors = 0, nreps = 0, i;
	int err, copied = 0;

	if ((err = gv_index_replicas_find(st->ix, key, &reps, &nreps)) < 0)
		return err;
	for (i = 0; i < nreps && strcmp(reps[i].sector, from) != 0; i++)
		;
	if (i == nreps) {
		/* Moved or dropped since it was planned (another gateway's
		 * move, a repair's trim): a copy now would be one too many. */
		err = gv_error_set(GV_ENOTFOUND, "no replica on sector %s any more", from);
		goto out;
	}
	if ((err = gv_index_sector_list(st->ix, &sectors, &nsectors)) < 0)
		goto out;
	for (i = 0; i <= nreps && !copied; i++) {
		const gv_replica *rp = NULL;
		gv_sector *src;
		size_t j;

		if (i == 0) {
			for (j = 0; j < nreps; j++)
				if (strcmp(reps[j].sector, from) == 0)
					rp = &reps[j];
		} else if (strcmp(reps[i - 1].sector, from) != 0) {
			rp = &reps[i - 1];
		}
		if (!rp || strcmp(rp->sector, to) == 0 ||
		    !gv_replica_effective_health(rp, sectors, nsectors, NULL, 0))
			continue;
		src = gv_store_sector_handle(st, rp->sector, NULL, 0);
		if (!src)
			continue;
		err = gv_copy_blob(src, dst, key, 1);
		if (err == 0)
			copied = 1;
		else if (err == GV_ECORRUPT || err == GV_ENOTFOUND)
			gv_store_mark_unhealthy_as(st, key, rp->sector,
			                           err == GV_ENOTFOUND ? "missing" : "checksum mismatch",
			                           "rebalance");
	}
	if (!copied)
		err = gv_error_set(err < 0 ? err : GV_ENO_HEALTHY_SOURCE,
		                   "NoHealthySource: no healthy copy could be read (%s)",
		                   gv_error_last());
out:
	free(sectors);
	gv_replicas_free(reps, nreps);
	return err;
}

int gv_move_replica(gv_store *st, const gv_key *key, const char *from, const char *to)
{
	gv_sector *dst = gv_store_sector_handle(st, to, NULL, 0);
	int err;

	if (!dst)
		return gv_error_set(GV_EIO, "destination sector %s is not available", to);
	if ((err = move_copy(st, key, from, dst, to)) < 0)
		return err;
	/* Record the new copy and drop the old under the key lock: a DELETE
	 * that ran during the copy wins (the copy's bytes go), and the old
	 * bytes go only once their row is gone. */
	if ((err = gv_key_lock(st, key)) < 0)
		return err;
	if ((err = gv_store_record_late(st, key, to)) == 0)
		err = gv_replica_drop_locked(st, key, from, 0, 0);
	gv_key_unlock(st, key);
	return err;
}
