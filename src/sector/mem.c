/*
 * mem.c - in-memory sector backend (tests, throw-away stores).
 *
 * Same semantics as the fs backend: writes become visible only at commit,
 * a commit replaces an existing blob atomically, RESUME partials survive an
 * abort with keep_partial (for the lifetime of the sector), and a configured
 * capacity is enforced with GV_ENOSPACE.  "Durable" means "in this
 * process's memory"; writer_sync has nothing to do.
 *
 * Committed blobs are immutable, reference-counted buffers in a chained
 * hash table: a reader holds a reference, so a delete or a replacing commit
 * never pulls bytes from under it.  One mutex, s->lock, guards the table,
 * the partial list, the counters and every refcount; bytes are copied
 * outside it (a writer's buffer belongs to its writer, a committed blob
 * never changes).
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/sys/sector.h"
#include "graviton/types.h"

#define MEM_BUCKETS_MIN 64
#define MEM_GROW_MIN (64 * 1024)

typedef struct mem_blob {
	unsigned long refs; /* s->lock */
	size_t size;
	unsigned char data[];
} mem_blob;

typedef struct mem_entry {
	struct mem_entry *next;
	gv_key key;
	mem_blob *blob;
	int64_t written_ms;      /* unix ms of the last commit */
} mem_entry;

typedef struct mem_partial {
	struct mem_partial *next;
	gv_key key;
	mem_blob *blob;   /* NULL while a writer holds it, or when empty */
	size_t cap;       /* bytes allocated for blob->data */
	int busy;         /* a writer is continuing it */
} mem_partial;

typedef struct mem_sector {
	gv_sector base;
	uint64_t capacity;       /* 0 = unlimited */
	pthread_mutex_t lock;
	mem_entry **buckets;     /* lock */
	size_t nbuckets;         /* lock; a power of two */
	size_t count;            /* lock */
	mem_partial *partials;   /* lock */
	uint64_t used;           /* lock */
	uint64_t inflight;       /* lock: bytes held by open writers */
	int lent;                /* lock */
} mem_sector;

typedef struct mem_writer {
	gv_sector_writer base;
	int has_key;
	int resume;
	gv_key key;
	mem_blob *blob;          /* bytes so far; NULL until the first write */
	size_t cap;
	uint64_t reserved;       /* bytes counted in s->inflight */
} mem_writer;

typedef struct mem_reader {
	gv_sector_reader base;
	mem_blob *blob;          /* one reference */
	size_t pos;
} mem_reader;

static const struct gv_sector_ops mem_ops;

static size_t mem_hash(const gv_key *key)
{
	uint64_t h;

	memcpy(&h, key->digest, sizeof(h));
	h ^= key->size * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h ^ (h >> 29));
}

/* Lock held.  Address of the link that points at key's entry (or NULL). */
static mem_entry **mem_find(mem_sector *s, const gv_key *key)
{
	mem_entry **pp = &s->buckets[mem_hash(key) & (s->nbuckets - 1)];

	while (*pp != NULL && gv_key_cmp(&(*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Lock held.  Double the table; failure only means longer chains. */
static void mem_grow(mem_sector *s)
{
	size_t n = s->nbuckets * 2, i;
	mem_entry **b;

	if (n > SIZE_MAX / sizeof(*b))
		return;
	b = calloc(n, sizeof(*b));
	if (b == NULL)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		mem_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			size_t j = mem_hash(&e->key) & (n - 1);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
}

/* Lock held (or the sector is being closed). */
static void mem_unref(mem_blob *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

/* Lock held. */
static mem_partial **mem_find_partial(mem_sector *s, const gv_key *key)
{
	mem_partial **pp = &s->partials;

	while (*pp != NULL && gv_key_cmp(&(*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Lock held.  Unlink and free *pp. */
static void mem_partial_drop(mem_partial **pp)
{
	mem_partial *p = *pp;

	*pp = p->next;
	free(p->blob);
	free(p);
}

int gv_sector_mem_open(gv_sector **out, const char *id, uint64_t capacity)
{
	mem_sector *s;
	int rc;

	if (out == NULL)
		return gv_error_set(GV_EINVAL, "no output pointer");
	*out = NULL;
	if (id == NULL)
		return gv_error_set(GV_EINVAL, "sector id is missing");
	if ((rc = gv_id_validate("sector id", id)) < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return gv_error_set(GV_ENOMEM, "out of memory opening sector %s", id);
	s->buckets = calloc(MEM_BUCKETS_MIN, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		free(s);
		return gv_error_set(GV_ENOMEM, "out of memory opening sector %s", id);
	}
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s->buckets);
		free(s);
		return gv_error_set(GV_ERROR, "cannot initialise a mutex");
	}
	s->nbuckets = MEM_BUCKETS_MIN;
	s->capacity = capacity;
	s->base.ops = &mem_ops;
	snprintf(s->base.id, sizeof(s->base.id), "%s", id);
	*out = &s->base;
	return 0;
}

/* Every reader and writer must be finished first. */
static void mem_close(gv_sector *sector)
{
	mem_sector *s = (mem_sector *)sector;
	size_t i;

	for (i = 0; i < s->nbuckets; i++) {
		mem_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			mem_unref(e->blob);
			free(e);
		}
	}
	while (s->partials != NULL)
		mem_partial_drop(&s->partials);
	free(s->buckets);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- writers ------------------------------------------------------------- */

static int mem_writer_open(gv_sector_writer **out, gv_sector *sector,
                           const gv_key *key, unsigned flags)
{
	mem_sector *s = (mem_sector *)sector;
	mem_writer *w;

	*out = NULL;
	if (flags & ~(unsigned)GV_WRITE_RESUME)
		return gv_error_set(GV_EINVAL, "sector %s: unknown writer flags 0x%x", s->base.id, flags);
	if ((flags & GV_WRITE_RESUME) && key == NULL)
		return gv_error_set(GV_EINVAL, "sector %s: a resumable write needs its key", s->base.id);
	if (key != NULL && key->size > SIZE_MAX - sizeof(mem_blob))
		return gv_error_set(GV_ENOSPACE, "sector %s: a %" PRIu64 "-byte blob does not fit in memory",
		                    s->base.id, key->size);
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
	w->base.sector = sector;
	if (key != NULL) {
		w->has_key = 1;
		w->key = *key;
	}
	if (flags & GV_WRITE_RESUME) {
		mem_partial **pp, *p;

		pthread_mutex_lock(&s->lock);
		pp = mem_find_partial(s, key);
		p = *pp;
		if (p != NULL && p->busy) {
			char kbuf[GV_KEY_BUFSIZE];

			pthread_mutex_unlock(&s->lock);
			free(w);
			return gv_error_set(GV_EBUSY, "sector %s: partial %s is being written by another writer",
			                    s->base.id, gv_key_format(kbuf, key));
		}
		if (p == NULL) {
			p = calloc(1, sizeof(*p));
			if (p == NULL) {
				pthread_mutex_unlock(&s->lock);
				free(w);
				return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
			}
			p->key = *key;
			p->next = s->partials;
			s->partials = p;
		}
		p->busy = 1;
		w->resume = 1;
		w->blob = p->blob;
		w->cap = p->cap;
		p->blob = NULL;
		p->cap = 0;
		if (w->blob != NULL && w->blob->size > key->size)
			w->blob->size = 0; /* cannot belong to this key: start over */
		w->base.offset = w->blob != NULL ? w->blob->size : 0;
		w->reserved = w->base.offset;
		s->inflight += w->reserved;
		pthread_mutex_unlock(&s->lock);
	}
	*out = &w->base;
	return 0;
}

static int mem_writer_write(gv_sector_writer *base, const void *buf, size_t len)
{
	mem_writer *w = (mem_writer *)base;
	mem_sector *s = (mem_sector *)base->sector;
	size_t have = w->blob != NULL ? w->blob->size : 0;

	if (len == 0)
		return 0;
	if (w->has_key && (len > w->key.size || base->offset > w->key.size - len))
		return gv_error_set(GV_EINVAL, "sector %s: writing %zu bytes at %" PRIu64
		                    " runs past the key's size %" PRIu64,
		                    s->base.id, len, base->offset, w->key.size);
	if (len > SIZE_MAX - sizeof(mem_blob) - have)
		return gv_error_set(GV_ENOSPACE, "sector %s: blob does not fit in memory", s->base.id);

	pthread_mutex_lock(&s->lock);
	if (s->capacity != 0 &&
	    (s->used + s->inflight > s->capacity ||
	     len > s->capacity - s->used - s->inflight)) {
		uint64_t used = s->used, inflight = s->inflight;

		pthread_mutex_unlock(&s->lock);
		return gv_error_set(GV_ENOSPACE, "sector %s: full (capacity %" PRIu64 ", used %" PRIu64
		                    ", being written %" PRIu64 ", asked %zu more)",
		                    s->base.id, s->capacity, used, inflight, len);
	}
	s->inflight += len;
	pthread_mutex_unlock(&s->lock);
	w->reserved += len;

	if (have + len > w->cap) {
		size_t cap = w->cap < MEM_GROW_MIN ? MEM_GROW_MIN : w->cap;
		mem_blob *b;

		while (cap < have + len)
			cap = cap > (SIZE_MAX - sizeof(mem_blob)) / 2 ? SIZE_MAX - sizeof(mem_blob) : cap * 2;
		if (w->has_key && cap > w->key.size)
			cap = (size_t)w->key.size;
		b = realloc(w->blob, sizeof(mem_blob) + cap);
		if (b == NULL)
			return gv_error_set(GV_ENOMEM, "sector %s: out of memory growing a blob to %zu bytes",
			                    s->base.id, have + len);
		b->size = have;
		w->blob = b;
		w->cap = cap;
	}
	memcpy(w->blob->data + have, buf, len);
	w->blob->size = have + len;
	base->offset += len;
	return 0;
}

static int mem_writer_sync(gv_sector_writer *base)
{
	(void)base;
	return 0;
}

static int mem_writer_truncate(gv_sector_writer *base, uint64_t len)
{
	mem_writer *w = (mem_writer *)base;

	if (w->blob != NULL)
		w->blob->size = (size_t)len;
	base->offset = len;
	return 0;
}

static void mem_writer_free(mem_writer *w, int keep)
{
	mem_sector *s = (mem_sector *)w->base.sector;

	pthread_mutex_lock(&s->lock);
	s->inflight -= w->reserved;
	if (w->resume) {
		mem_partial **pp = mem_find_partial(s, &w->key);

		if (*pp != NULL) {
			if (keep) {
				(*pp)->blob = w->blob;
				(*pp)->cap = w->cap;
				(*pp)->busy = 0;
				w->blob = NULL;
			} else {
				mem_partial_drop(pp);
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	free(w->blob);
	free(w);
}

static void mem_writer_abort(gv_sector_writer *base, int keep_partial)
{
	mem_writer_free((mem_writer *)base, keep_partial);
}

static int mem_writer_commit(gv_sector_writer *base, const gv_key *key)
{
	mem_writer *w = (mem_writer *)base;
	mem_sector *s = (mem_sector *)base->sector;
	mem_entry **pp, *e = NULL;
	mem_blob *b;
	int rc;

	if (key == NULL) {
		rc = gv_error_set(GV_EINVAL, "sector %s: commit needs a key", s->base.id);
		goto fail;
	}
	if (w->has_key && gv_key_cmp(key, &w->key) != 0) {
		rc = gv_error_set(GV_EINVAL, "sector %s: commit under a key other than the one "
		                  "the write was opened with", s->base.id);
		goto fail;
	}
	if (base->offset != key->size) {
		rc = gv_error_set(GV_EINVAL, "sector %s: wrote %" PRIu64 " bytes but the key says %" PRIu64,
		                  s->base.id, base->offset, key->size);
		goto fail;
	}
	b = w->blob;
	if (b == NULL || b->size < w->cap) {
		size_t n = b != NULL ? b->size : 0;
		mem_blob *nb = realloc(b, sizeof(mem_blob) + n);

		if (nb == NULL) {
			rc = gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
			goto fail;
		}
		nb->size = n;
		b = w->blob = nb;
		w->cap = n;
	}
	b->refs = 1;

	pthread_mutex_lock(&s->lock);
	pp = mem_find(s, key);
	if (*pp != NULL) {
		mem_unref((*pp)->blob);
		(*pp)->blob = b;
		(*pp)->written_ms = gv_now_ms();
	} else {
		e = malloc(sizeof(*e));
		if (e == NULL) {
			pthread_mutex_unlock(&s->lock);
			rc = gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
			goto fail;
		}
		e->key = *key;
		e->blob = b;
		e->written_ms = gv_now_ms();
		e->next = NULL;
		*pp = e;
		s->count++;
		s->used += key->size;
		if (s->count > s->nbuckets)
			mem_grow(s);
	}
	pthread_mutex_unlock(&s->lock);
	w->blob = NULL;
	mem_writer_free(w, 0);
	return 0;
fail:
	mem_writer_free(w, 1);
	return rc;
}

/* ---- readers ------------------------------------------------------------- */

static int mem_reader_open(gv_sector_reader **out, gv_sector *sector,
                           const gv_key *key, uint64_t off, uint64_t len)
{
	mem_sector *s = (mem_sector *)sector;
	char kbuf[GV_KEY_BUFSIZE];
	mem_entry *e;
	mem_reader *r;
	mem_blob *b;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
	pthread_mutex_lock(&s->lock);
	e = *mem_find(s, key);
	if (e == NULL) {
		pthread_mutex_unlock(&s->lock);
		free(r);
		return gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
		                    gv_key_format(kbuf, key));
	}
	b = e->blob;
	b->refs++;
	pthread_mutex_unlock(&s->lock);

	if ((uint64_t)b->size != key->size) {
		rc = gv_error_set(GV_ECORRUPT, "sector %s: %s: stored %zu bytes, expected %" PRIu64,
		                  s->base.id, gv_key_format(kbuf, key), b->size, key->size);
		goto fail;
	}
	if (off > key->size) {
		rc = gv_error_set(GV_EINVAL, "sector %s: read offset %" PRIu64
		                  " is past the end of a %" PRIu64 "-byte blob",
		                  s->base.id, off, key->size);
		goto fail;
	}
	if (len == UINT64_MAX) {
		len = key->size - off;
	} else if (len > key->size - off) {
		rc = gv_error_set(GV_EINVAL, "sector %s: range %" PRIu64 "+%" PRIu64
		                  " runs past the end of a %" PRIu64 "-byte blob",
		                  s->base.id, off, len, key->size);
		goto fail;
	}
	r->base.sector = sector;
	r->base.remaining = len;
	r->blob = b;
	r->pos = (size_t)off;
	*out = &r->base;
	return 0;
fail:
	pthread_mutex_lock(&s->lock);
	mem_unref(b);
	pthread_mutex_unlock(&s->lock);
	free(r);
	return rc;
}

static ssize_t mem_reader_read(gv_sector_reader *base, void *buf, size_t cap)
{
	mem_reader *r = (mem_reader *)base;
	size_t n = cap;

	if (n > base->remaining)
		n = (size_t)base->remaining;
	if (n > (size_t)SSIZE_MAX)
		n = (size_t)SSIZE_MAX;
	memcpy(buf, r->blob->data + r->pos, n);
	r->pos += n;
	base->remaining -= n;
	return (ssize_t)n;
}

static void mem_reader_close(gv_sector_reader *base)
{
	mem_reader *r = (mem_reader *)base;
	mem_sector *s = (mem_sector *)base->sector;

	pthread_mutex_lock(&s->lock);
	mem_unref(r->blob);
	pthread_mutex_unlock(&s->lock);
	free(r);
}

/* ---- in-place rewrites ----------------------------------------------------- */

typedef struct mem_patch {
	gv_sector_patch base;
	mem_blob *blob;          /* one reference */
} mem_patch;

static int mem_patch_open(gv_sector_patch **out, gv_sector *sector, const gv_key *key)
{
	mem_sector *s = (mem_sector *)sector;
	char kbuf[GV_KEY_BUFSIZE];
	mem_entry *e;
	mem_patch *p;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
	pthread_mutex_lock(&s->lock);
	e = *mem_find(s, key);
	if (e == NULL || (uint64_t)e->blob->size != key->size) {
		int rc = e == NULL ? gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
		                                  gv_key_format(kbuf, key))
		                   : gv_error_set(GV_ECORRUPT, "sector %s: %s: stored %zu bytes, "
		                                  "expected %" PRIu64, s->base.id,
		                                  gv_key_format(kbuf, key), e->blob->size, key->size);

		pthread_mutex_unlock(&s->lock);
		free(p);
		return rc;
	}
	p->blob = e->blob;
	p->blob->refs++;
	pthread_mutex_unlock(&s->lock);
	p->base.sector = sector;
	p->base.size = key->size;
	*out = &p->base;
	return 0;
}

static int mem_patch_write(gv_sector_patch *base, uint64_t off, const void *buf, size_t len)
{
	mem_sector *s = (mem_sector *)base->sector;

	pthread_mutex_lock(&s->lock);
	memcpy(((mem_patch *)base)->blob->data + off, buf, len);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int mem_patch_sync(gv_sector_patch *base)
{
	(void)base;
	return 0;
}

static void mem_patch_close(gv_sector_patch *base)
{
	mem_sector *s = (mem_sector *)base->sector;

	pthread_mutex_lock(&s->lock);
	mem_unref(((mem_patch *)base)->blob);
	pthread_mutex_unlock(&s->lock);
	free(base);
}

/* ---- del / stat / list / usage ------------------------------------------- */

static int mem_del(gv_sector *sector, const gv_key *key)
{
	mem_sector *s = (mem_sector *)sector;
	char kbuf[GV_KEY_BUFSIZE];
	mem_partial **ppp;
	mem_entry **pp, *e;

	pthread_mutex_lock(&s->lock);
	ppp = mem_find_partial(s, key);
	if (*ppp != NULL && !(*ppp)->busy)
		mem_partial_drop(ppp);
	pp = mem_find(s, key);
	e = *pp;
	if (e == NULL) {
		pthread_mutex_unlock(&s->lock);
		return gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
		                    gv_key_format(kbuf, key));
	}
	*pp = e->next;
	s->count--;
	s->used -= key->size;
	mem_unref(e->blob);
	pthread_mutex_unlock(&s->lock);
	free(e);
	return 0;
}

/* Size and commit time of a stored blob (either pointer may be NULL). */
static int mem_info(gv_sector *sector, const gv_key *key, uint64_t *size, int64_t *written_ms)
{
	mem_sector *s = (mem_sector *)sector;
	char kbuf[GV_KEY_BUFSIZE];
	mem_entry *e;

	pthread_mutex_lock(&s->lock);
	e = *mem_find(s, key);
	if (e != NULL && size)
		*size = e->blob->size;
	if (e != NULL && written_ms)
		*written_ms = e->written_ms;
	pthread_mutex_unlock(&s->lock);
	if (e == NULL)
		return gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
		                    gv_key_format(kbuf, key));
	return 0;
}

static int mem_stat(gv_sector *sector, const gv_key *key, uint64_t *out_size)
{
	return mem_info(sector, key, out_size, NULL);
}

static int mem_written_at(gv_sector *sector, const gv_key *key, int64_t *out_ms)
{
	return mem_info(sector, key, NULL, out_ms);
}

static int mem_lend(gv_sector *sector)
{
	mem_sector *s = (mem_sector *)sector;

	pthread_mutex_lock(&s->lock);
	s->lent = 1;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int mem_lent(gv_sector *sector)
{
	mem_sector *s = (mem_sector *)sector;
	int lent;

	pthread_mutex_lock(&s->lock);
	lent = s->lent;
	pthread_mutex_unlock(&s->lock);
	return lent;
}

/* Snapshot under the lock, then call back without it (cb may use s). */
static int mem_list(gv_sector *sector, gv_sector_list_cb cb, void *payload)
{
	mem_sector *s = (mem_sector *)sector;
	struct item { gv_key key; uint64_t bytes; } *items;
	size_t n = 0, i;
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	items = malloc((s->count ? s->count : 1) * sizeof(*items));
	if (items == NULL) {
		pthread_mutex_unlock(&s->lock);
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory listing blobs", s->base.id);
	}
	for (i = 0; i < s->nbuckets; i++) {
		mem_entry *e;

		for (e = s->buckets[i]; e != NULL; e = e->next) {
			items[n].key = e->key;
			items[n].bytes = e->blob->size;
			n++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n && rc == 0; i++)
		rc = cb(&items[i].key, items[i].bytes, payload);
	free(items);
	return rc;
}

/* Unlimited sectors report UINT64_MAX as capacity. */
static int mem_usage(gv_sector *sector, gv_sector_usage *out)
{
	mem_sector *s = (mem_sector *)sector;
	uint64_t held;

	pthread_mutex_lock(&s->lock);
	out->used = s->used;
	held = s->used + s->inflight;
	pthread_mutex_unlock(&s->lock);
	out->capacity = s->capacity != 0 ? s->capacity : UINT64_MAX;
	out->avail = out->capacity > held ? out->capacity - held : 0;
	out->device = 0;
	return 0;
}

static const struct gv_sector_ops mem_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "mem",
	.writer_open = mem_writer_open,
	.writer_write = mem_writer_write,
	.writer_sync = mem_writer_sync,
	.writer_truncate = mem_writer_truncate,
	.writer_commit = mem_writer_commit,
	.writer_abort = mem_writer_abort,
	.reader_open = mem_reader_open,
	.reader_read = mem_reader_read,
	.reader_close = mem_reader_close,
	.del = mem_del,
	.stat = mem_stat,
	.list = mem_list,
	.usage = mem_usage,
	.close = mem_close,
	.reader_fd = NULL,
	.written_at = mem_written_at,
	.patch_open = mem_patch_open,
	.patch_write = mem_patch_write,
	.patch_sync = mem_patch_sync,
	.patch_close = mem_patch_close,
	.lend = mem_lend,
	.lent = mem_lent,
};
