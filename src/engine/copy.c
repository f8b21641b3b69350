/*
 * copy.c - stream one committed blob from a sector to another.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "engine/limiter.h"
#include "engine/store.h"

#define COPY_BUF (1u << 20)

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

/*
 * Read the replica whole and check it against the key.  With `keep` (room
 * for key->size bytes) the bytes land there, for the caller to serve; else
 * they pass through a buffer no bigger than the blob.
 */
static int verify_pass(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                       uint64_t *bytes, gv_limiter *lim, atomic_int *cancel,
                       unsigned char *keep)
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

int gv_replica_verify(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                      uint64_t *bytes, gv_limiter *lim, atomic_int *cancel)
{
	return verify_pass(s, key, reason, cap, bytes, lim, cancel, NULL);
}

int gv_replica_verify_into(gv_sector *s, const gv_key *key, void *keep, char *reason,
                           size_t cap)
{
	return verify_pass(s, key, reason, cap, NULL, NULL, NULL, keep);
}
