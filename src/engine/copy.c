/*
 * copy.c - stream one committed blob from a sector to another.
 */
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
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
