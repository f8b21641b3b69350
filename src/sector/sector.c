/*
 * sector.c - dispatchers over struct gv_sector_ops.
 *
 * These only forward to the backend; argument checks that every backend
 * needs (a NULL key with RESUME, a wrong size at commit) live in the
 * backends, because a wrapper such as the fault sector calls the backend's
 * ops directly.
 */
#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "graviton/sys/sector.h"

int gv_sector_writer_open(gv_sector_writer **out, gv_sector *s,
                          const gv_key *key, unsigned flags)
{
	assert(out != NULL && s != NULL && s->ops != NULL);
	*out = NULL;
	return s->ops->writer_open(out, s, key, flags);
}

int gv_sector_writer_write(gv_sector_writer *w, const void *buf, size_t len)
{
	assert(w != NULL && (buf != NULL || len == 0));
	return w->sector->ops->writer_write(w, buf, len);
}

int gv_sector_writer_truncate(gv_sector_writer *w, uint64_t len)
{
	if (len > w->offset)
		return gv_error_set(GV_EINVAL, "sector %s: cannot truncate a write of %llu bytes to %llu",
		                    w->sector->id, (unsigned long long)w->offset,
		                    (unsigned long long)len);
	if (len == w->offset)
		return 0;
	if (!w->sector->ops->writer_truncate)
		return gv_error_set(GV_ERROR, "sector %s (%s): truncating a write is not supported",
		                    w->sector->id, w->sector->ops->name);
	return w->sector->ops->writer_truncate(w, len);
}

int gv_sector_writer_sync(gv_sector_writer *w)
{
	assert(w != NULL);
	return w->sector->ops->writer_sync(w);
}

int gv_sector_writer_commit(gv_sector_writer *w, const gv_key *key)
{
	assert(w != NULL);
	return w->sector->ops->writer_commit(w, key);
}

void gv_sector_writer_abort(gv_sector_writer *w, int keep_partial)
{
	if (w == NULL)
		return;
	w->sector->ops->writer_abort(w, keep_partial);
}

int gv_sector_reader_open(gv_sector_reader **out, gv_sector *s,
                          const gv_key *key, uint64_t off, uint64_t len)
{
	assert(out != NULL && s != NULL && key != NULL);
	*out = NULL;
	/* The same rule for every kind, before any of them does I/O. */
	if (off > key->size || (len != UINT64_MAX && len > key->size - off))
		return gv_error_set(GV_EINVAL, "range %" PRIu64 "+%" PRIu64 " outside a blob of %"
		                    PRIu64 " bytes", off, len, key->size);
	return s->ops->reader_open(out, s, key, off, len);
}

ssize_t gv_sector_reader_read(gv_sector_reader *r, void *buf, size_t cap)
{
	assert(r != NULL && (buf != NULL || cap == 0));
	return r->sector->ops->reader_read(r, buf, cap);
}

void gv_sector_reader_close(gv_sector_reader *r)
{
	if (r == NULL)
		return;
	r->sector->ops->reader_close(r);
}

int gv_sector_del(gv_sector *s, const gv_key *key)
{
	assert(s != NULL && key != NULL);
	return s->ops->del(s, key);
}

int gv_sector_stat(gv_sector *s, const gv_key *key, uint64_t *out_size)
{
	assert(s != NULL && key != NULL && out_size != NULL);
	return s->ops->stat(s, key, out_size);
}

int gv_sector_list(gv_sector *s, gv_sector_list_cb cb, void *payload)
{
	assert(s != NULL && cb != NULL);
	return s->ops->list(s, cb, payload);
}

int gv_sector_usage_get(gv_sector *s, gv_sector_usage *out)
{
	assert(s != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	return s->ops->usage(s, out);
}

void gv_sector_close(gv_sector *s)
{
	if (s == NULL)
		return;
	s->ops->close(s);
}

int gv_sector_sweep(gv_sector *s, int dry_run, uint64_t *files, uint64_t *bytes)
{
	assert(s != NULL && files != NULL && bytes != NULL);
	*files = *bytes = 0;
	return s->ops->sweep ? s->ops->sweep(s, dry_run, files, bytes) : 0;
}

int gv_sector_written_at(gv_sector *s, const gv_key *key, int64_t *out_ms)
{
	assert(s != NULL && key != NULL && out_ms != NULL);
	*out_ms = 0;
	return s->ops->written_at ? s->ops->written_at(s, key, out_ms) : 0;
}

int gv_sector_check(gv_sector *s)
{
	assert(s != NULL);
	return s->ops->check ? s->ops->check(s) : 0;
}

int gv_sector_lend(gv_sector *s)
{
	assert(s != NULL);
	if (!s->ops->lend)
		return gv_error_set(GV_ERROR, "sector %s (%s) cannot be lent", s->id, s->ops->name);
	return s->ops->lend(s);
}

int gv_sector_lent(gv_sector *s)
{
	assert(s != NULL);
	return s->ops->lent ? s->ops->lent(s) : 0;
}

int gv_sector_can_patch(const gv_sector *s)
{
	assert(s != NULL);
	return s->ops->patch_open != NULL;
}

int gv_sector_patch_open(gv_sector_patch **out, gv_sector *s, const gv_key *key)
{
	assert(out != NULL && s != NULL && key != NULL);
	*out = NULL;
	if (!s->ops->patch_open)
		return gv_error_set(GV_ERROR, "sector %s (%s): writing into a committed blob is not "
		                    "supported", s->id, s->ops->name);
	return s->ops->patch_open(out, s, key);
}

int gv_sector_patch_write(gv_sector_patch *p, uint64_t off, const void *buf, size_t len)
{
	assert(p != NULL);
	if (off > p->size || len > p->size - off)
		return gv_error_set(GV_EINVAL, "sector %s: write of %zu bytes at %llu runs past the "
		                    "end of a %llu-byte blob", p->sector->id, len,
		                    (unsigned long long)off, (unsigned long long)p->size);
	return p->sector->ops->patch_write(p, off, buf, len);
}

int gv_sector_patch_sync(gv_sector_patch *p)
{
	assert(p != NULL);
	return p->sector->ops->patch_sync(p);
}

void gv_sector_patch_close(gv_sector_patch *p)
{
	if (p)
		p->sector->ops->patch_close(p);
}

int gv_sector_put_buf(gv_sector *s, const gv_key *key, const void *buf, size_t len)
{
	gv_sector_writer *w;
	int rc;

	assert(s != NULL && key != NULL && (buf != NULL || len == 0));
	rc = gv_sector_writer_open(&w, s, key, 0);
	if (rc < 0)
		return rc;
	rc = gv_sector_writer_write(w, buf, len);
	if (rc < 0) {
		gv_sector_writer_abort(w, 0);
		return rc;
	}
	/* commit frees w on success and on failure */
	return gv_sector_writer_commit(w, key);
}
