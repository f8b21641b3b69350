/*
 * fault.c - a sector that wraps another and fails on purpose.
 *
 * Each call whose operation is in plan.ops is counted; the nth counted call
 * (every one when nth is 0) gets the plan's fault:
 *
 *   GV_FAULT_EIO      the call fails with GV_EIO (errno EIO), inner untouched
 *   GV_FAULT_ENOSPC   the call fails with GV_ENOSPACE (errno ENOSPC)
 *   GV_FAULT_HANG     the call sleeps hang_ms, then fails with GV_ETIMEOUT
 *   GV_FAULT_DELAY    the call sleeps hang_ms, then goes ahead (a slow
 *                     medium); a new plan (gv_sector_fault_set) ends the
 *                     sleeps under way
 *   GV_FAULT_CORRUPT  reads hand back bytes with one bit flipped: on
 *                     OPEN_READ the reader's first non-empty read, on READ
 *                     that read (or the next non-empty one); other
 *                     operations pass through
 *
 * A failed commit aborts the inner writer keeping any RESUME partial, as a
 * real failed commit would.  Counted operations are writer_open, write,
 * commit, reader_open, read, del, and patch_write and patch_sync (OP_PATCH;
 * a failed patch_write writes nothing, a failed patch_sync leaves the
 * bytes written but not durable); sync, abort, stat, list, usage, sweep,
 * written_at, check, patch_open and patch_close pass through uncounted.
 * The bytes writer_write and patch_write hand to the inner sector are
 * counted (gv_sector_fault_bytes_written).  reader_fd is not
 * offered: bytes moved through a
 * descriptor would bypass the faults.
 *
 * s->lock guards the plan, the call counter and the plan generation
 * (delayed calls wait on s->cv until theirs changes).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graviton/sys/sector.h"
#include "core/clock.h"

typedef struct fault_sector {
	gv_sector base;
	gv_sector *inner;
	pthread_mutex_t lock;
	pthread_cond_t cv;    /* a new plan: delays end */
	unsigned long gen;    /* lock: plans set so far */
	gv_fault_plan plan;   /* lock */
	unsigned long calls;  /* lock: calls that matched plan.ops */
	uint64_t written;     /* lock: bytes handed to inner writes */
} fault_sector;

typedef struct fault_patch {
	gv_sector_patch base;
	gv_sector_patch *inner;
} fault_patch;

typedef struct fault_writer {
	gv_sector_writer base;
	gv_sector_writer *inner;
} fault_writer;

typedef struct fault_reader {
	gv_sector_reader base;
	gv_sector_reader *inner;
	int corrupt;          /* flip a bit in the next non-empty read */
} fault_reader;

static const struct gv_sector_ops fault_ops;

/*
 * Count a call of `op` and say which fault, if any, it gets.
 * *hang_ms receives the plan's hang time.
 */
static gv_fault_kind fault_check(fault_sector *f, unsigned op, unsigned *hang_ms)
{
	gv_fault_kind kind = GV_FAULT_NONE;

	pthread_mutex_lock(&f->lock);
	if (f->plan.ops & op) {
		f->calls++;
		if (f->plan.nth == 0 || f->plan.nth == f->calls)
			kind = f->plan.kind;
		*hang_ms = f->plan.hang_ms;
	}
	pthread_mutex_unlock(&f->lock);
	return kind;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleep ms, or until the plan is replaced. */
static void delay_ms(fault_sector *f, unsigned ms)
{
	struct timespec dl;
	unsigned long gen;

	gv_deadline_in(&dl, ms);
	pthread_mutex_lock(&f->lock);
	gen = f->gen;
	while (f->gen == gen && pthread_cond_timedwait(&f->cv, &f->lock, &dl) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&f->lock);
}

/*
 * Apply a failing fault to a call named `what`: 0 when the call should go
 * ahead (no fault, or CORRUPT, which the caller handles), else the error.
 */
static int fault_fail(fault_sector *f, gv_fault_kind kind, unsigned hang_ms, const char *what)
{
	switch (kind) {
	case GV_FAULT_DELAY:
		delay_ms(f, hang_ms);
		break;
	case GV_FAULT_EIO:
		return gv_error_set_errno(GV_EIO, EIO, "sector %s: %s: injected fault: io error",
		                          f->base.id, what);
	case GV_FAULT_ENOSPC:
		return gv_error_set_errno(GV_ENOSPACE, ENOSPC, "sector %s: %s: injected fault",
		                          f->base.id, what);
	case GV_FAULT_HANG:
		sleep_ms(hang_ms);
		return gv_error_set(GV_ETIMEOUT, "sector %s: %s: injected hang of %u ms timed out",
		                    f->base.id, what, hang_ms);
	case GV_FAULT_NONE:
	case GV_FAULT_CORRUPT:
		break;
	}
	return 0;
}

/* Both: apply the fault of the call (if any); *kind gets it for CORRUPT. */
static int fault_enter(fault_sector *f, unsigned op, const char *what, gv_fault_kind *kind)
{
	unsigned hang_ms = 0;

	*kind = fault_check(f, op, &hang_ms);
	return fault_fail(f, *kind, hang_ms, what);
}

/* On failure `inner` stays with the caller. */
int gv_sector_fault_wrap(gv_sector **out, gv_sector *inner, const gv_fault_plan *plan)
{
	fault_sector *f;

	if (out == NULL)
		return gv_error_set(GV_EINVAL, "no output pointer");
	*out = NULL;
	if (inner == NULL)
		return gv_error_set(GV_EINVAL, "no sector to wrap");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return gv_error_set(GV_ENOMEM, "out of memory wrapping sector %s", inner->id);
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		free(f);
		return gv_error_set(GV_ERROR, "cannot initialise a mutex");
	}
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&f->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	f->base.ops = &fault_ops;
	memcpy(f->base.id, inner->id, sizeof(f->base.id));
	f->inner = inner;
	if (plan != NULL)
		f->plan = *plan;
	*out = &f->base;
	return 0;
}

/* Replace the plan (NULL: no faults) and restart the call count. */
void gv_sector_fault_set(gv_sector *fault, const gv_fault_plan *plan)
{
	fault_sector *f = (fault_sector *)fault;

	assert(fault != NULL && fault->ops == &fault_ops);
	pthread_mutex_lock(&f->lock);
	if (plan != NULL)
		f->plan = *plan;
	else
		memset(&f->plan, 0, sizeof(f->plan));
	f->calls = 0;
	f->gen++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
}

unsigned long gv_sector_fault_calls(gv_sector *fault)
{
	fault_sector *f = (fault_sector *)fault;
	unsigned long n;

	assert(fault != NULL && fault->ops == &fault_ops);
	pthread_mutex_lock(&f->lock);
	n = f->calls;
	pthread_mutex_unlock(&f->lock);
	return n;
}

uint64_t gv_sector_fault_bytes_written(gv_sector *fault)
{
	fault_sector *f = (fault_sector *)fault;
	uint64_t n;

	assert(fault != NULL && fault->ops == &fault_ops);
	pthread_mutex_lock(&f->lock);
	n = f->written;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void count_written(fault_sector *f, size_t len)
{
	pthread_mutex_lock(&f->lock);
	f->written += len;
	pthread_mutex_unlock(&f->lock);
}

static void fault_close(gv_sector *s)
{
	fault_sector *f = (fault_sector *)s;

	f->inner->ops->close(f->inner);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- writers ------------------------------------------------------------- */

static int fault_writer_open(gv_sector_writer **out, gv_sector *s,
                             const gv_key *key, unsigned flags)
{
	fault_sector *f = (fault_sector *)s;
	fault_writer *w;
	gv_fault_kind kind;
	int rc;

	*out = NULL;
	if ((rc = fault_enter(f, GV_FAULT_OP_OPEN_WRITE, "open for writing", &kind)) < 0)
		return rc;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->id);
	rc = f->inner->ops->writer_open(&w->inner, f->inner, key, flags);
	if (rc < 0) {
		free(w);
		return rc;
	}
	w->base.sector = s;
	w->base.offset = w->inner->offset;
	*out = &w->base;
	return 0;
}

static int fault_writer_write(gv_sector_writer *base, const void *buf, size_t len)
{
	fault_writer *w = (fault_writer *)base;
	gv_fault_kind kind;
	int rc;

	if ((rc = fault_enter((fault_sector *)base->sector, GV_FAULT_OP_WRITE, "write", &kind)) < 0)
		return rc;
	count_written((fault_sector *)base->sector, len);
	rc = w->inner->sector->ops->writer_write(w->inner, buf, len);
	base->offset = w->inner->offset;
	return rc;
}

static int fault_writer_truncate(gv_sector_writer *base, uint64_t len)
{
	fault_writer *w = (fault_writer *)base;
	int rc = gv_sector_writer_truncate(w->inner, len);

	if (rc == 0)
		base->offset = len;
	return rc;
}

static int fault_writer_sync(gv_sector_writer *base)
{
	fault_writer *w = (fault_writer *)base;

	return w->inner->sector->ops->writer_sync(w->inner);
}

static int fault_writer_commit(gv_sector_writer *base, const gv_key *key)
{
	fault_writer *w = (fault_writer *)base;
	gv_sector_writer *inner = w->inner;
	gv_fault_kind kind;
	int rc;

	rc = fault_enter((fault_sector *)base->sector, GV_FAULT_OP_COMMIT, "commit", &kind);
	free(w);
	if (rc < 0) {
		inner->sector->ops->writer_abort(inner, 1);
		return rc;
	}
	return inner->sector->ops->writer_commit(inner, key);
}

static void fault_writer_abort(gv_sector_writer *base, int keep_partial)
{
	fault_writer *w = (fault_writer *)base;

	w->inner->sector->ops->writer_abort(w->inner, keep_partial);
	free(w);
}

/* ---- readers ------------------------------------------------------------- */

static int fault_reader_open(gv_sector_reader **out, gv_sector *s,
                             const gv_key *key, uint64_t off, uint64_t len)
{
	fault_sector *f = (fault_sector *)s;
	fault_reader *r;
	gv_fault_kind kind;
	int rc;

	*out = NULL;
	if ((rc = fault_enter(f, GV_FAULT_OP_OPEN_READ, "open for reading", &kind)) < 0)
		return rc;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->id);
	rc = f->inner->ops->reader_open(&r->inner, f->inner, key, off, len);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->base.sector = s;
	r->base.remaining = r->inner->remaining;
	r->corrupt = kind == GV_FAULT_CORRUPT;
	*out = &r->base;
	return 0;
}

static ssize_t fault_reader_read(gv_sector_reader *base, void *buf, size_t cap)
{
	fault_reader *r = (fault_reader *)base;
	gv_fault_kind kind;
	ssize_t n;
	int rc;

	if ((rc = fault_enter((fault_sector *)base->sector, GV_FAULT_OP_READ, "read", &kind)) < 0)
		return rc;
	if (kind == GV_FAULT_CORRUPT)
		r->corrupt = 1;
	n = r->inner->sector->ops->reader_read(r->inner, buf, cap);
	base->remaining = r->inner->remaining;
	if (n > 0 && r->corrupt) {
		((unsigned char *)buf)[n / 2] ^= 0x01;
		r->corrupt = 0;
	}
	return n;
}

static void fault_reader_close(gv_sector_reader *base)
{
	fault_reader *r = (fault_reader *)base;

	r->inner->sector->ops->reader_close(r->inner);
	free(r);
}

/* ---- the rest ------------------------------------------------------------ */

static int fault_del(gv_sector *s, const gv_key *key)
{
	fault_sector *f = (fault_sector *)s;
	gv_fault_kind kind;
	int rc;

	if ((rc = fault_enter(f, GV_FAULT_OP_DEL, "delete", &kind)) < 0)
		return rc;
	return f->inner->ops->del(f->inner, key);
}

static int fault_stat(gv_sector *s, const gv_key *key, uint64_t *out_size)
{
	fault_sector *f = (fault_sector *)s;

	return f->inner->ops->stat(f->inner, key, out_size);
}

static int fault_list(gv_sector *s, gv_sector_list_cb cb, void *payload)
{
	fault_sector *f = (fault_sector *)s;

	return f->inner->ops->list(f->inner, cb, payload);
}

static int fault_usage(gv_sector *s, gv_sector_usage *out)
{
	fault_sector *f = (fault_sector *)s;

	return f->inner->ops->usage(f->inner, out);
}

static int fault_sweep(gv_sector *s, int dry_run, uint64_t *files, uint64_t *bytes)
{
	return gv_sector_sweep(((fault_sector *)s)->inner, dry_run, files, bytes);
}

static int fault_written_at(gv_sector *s, const gv_key *key, int64_t *out_ms)
{
	return gv_sector_written_at(((fault_sector *)s)->inner, key, out_ms);
}

static int fault_reachable(gv_sector *s)
{
	return gv_sector_check(((fault_sector *)s)->inner);
}

static int fault_lend(gv_sector *s)
{
	return gv_sector_lend(((fault_sector *)s)->inner);
}

static int fault_lent(gv_sector *s)
{
	return gv_sector_lent(((fault_sector *)s)->inner);
}

/* ---- in-place rewrites ----------------------------------------------------- */

static int fault_patch_open(gv_sector_patch **out, gv_sector *s, const gv_key *key)
{
	fault_sector *f = (fault_sector *)s;
	fault_patch *p;
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->id);
	if ((rc = gv_sector_patch_open(&p->inner, f->inner, key)) < 0) {
		free(p);
		return rc;
	}
	p->base.sector = s;
	p->base.size = p->inner->size;
	*out = &p->base;
	return 0;
}

static int fault_patch_write(gv_sector_patch *base, uint64_t off, const void *buf, size_t len)
{
	fault_sector *f = (fault_sector *)base->sector;
	gv_fault_kind kind;
	int rc;

	if ((rc = fault_enter(f, GV_FAULT_OP_PATCH, "write into a blob", &kind)) < 0)
		return rc;
	count_written(f, len);
	return gv_sector_patch_write(((fault_patch *)base)->inner, off, buf, len);
}

static int fault_patch_sync(gv_sector_patch *base)
{
	gv_fault_kind kind;
	int rc;

	if ((rc = fault_enter((fault_sector *)base->sector, GV_FAULT_OP_PATCH, "sync a blob",
	                      &kind)) < 0)
		return rc;
	return gv_sector_patch_sync(((fault_patch *)base)->inner);
}

static void fault_patch_close(gv_sector_patch *base)
{
	gv_sector_patch_close(((fault_patch *)base)->inner);
	free(base);
}

static const struct gv_sector_ops fault_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "fault",
	.writer_open = fault_writer_open,
	.writer_write = fault_writer_write,
	.writer_sync = fault_writer_sync,
	.writer_truncate = fault_writer_truncate,
	.writer_commit = fault_writer_commit,
	.writer_abort = fault_writer_abort,
	.reader_open = fault_reader_open,
	.reader_read = fault_reader_read,
	.reader_close = fault_reader_close,
	.del = fault_del,
	.stat = fault_stat,
	.list = fault_list,
	.usage = fault_usage,
	.close = fault_close,
	.reader_fd = NULL,
	.sweep = fault_sweep,
	.written_at = fault_written_at,
	.check = fault_reachable,
	.patch_open = fault_patch_open,
	.patch_write = fault_patch_write,
	.patch_sync = fault_patch_sync,
	.patch_close = fault_patch_close,
	.lend = fault_lend,
	.lent = fault_lent,
};
