/*
 * get.c - the read path: try replicas in order of trust, verify every byte
 * before it goes out, mark what fails unhealthy.
 *
 * Order: effectively healthy replicas first, most recently verified first;
 * then (verified reads only) replicas marked unhealthy, as a last resort.
 *
 * A blob with a block table (blocks.h, docs/integrity.md) is read block by
 * block, full reads and ranges alike: each block that covers the range is
 * read whole and checked against its digest before any of its bytes is
 * handed out; a block that fails (bad digest, I/O error, short file) is
 * read again from the next replica at that offset and the read goes on,
 * the failing replica marked unhealthy ("checksum mismatch") and queued.
 * Only when no replica holds a block intact does the read fail, before any
 * byte of that block.  A block that fails its digest also leaves the
 * replica's recorded ranges (drop_block), so it is not served from there
 * until repair rewrites it; a replica whose ranges are not whole (an
 * incomplete copy, or one with blocks taken out) serves the blocks its
 * ranges hold.
 *
 * A blob without a table (one block, or a store from before tables, until
 * scrub writes them) is read as before: full reads are verified against
 * the key while streaming (GV_ERESTART after a mismatch) or first; a range
 * is served only from a replica verified whole first, and that pass
 * records the table of a blob of more than one block.
 *
 * Opening a replica is hedged (hedge.h): when its first byte is late, the
 * next healthy replica is opened too and the first to answer serves.
 *
 * A blob verified first that is at most GET_MEM_MAX bytes is read once:
 * into memory, checked there and served from there, instead of a verifying
 * pass and then a second open and read of the same file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/blocks.h"
#include "engine/hedge.h"
#include "engine/store.h"

#define GET_MEM_MAX (256u * 1024)

/* One block, verified (err 0) or not loadable (err, msg). */
typedef struct blk_slot {
	uint8_t *buf;
	uint64_t idx;           /* UINT64_MAX: none */
	size_t len;
	int err;
	char msg[256];
	char sector[GV_ID_MAX]; /* the replica that served it */
} blk_slot;

typedef struct candidate {
	char sector[GV_ID_MAX];
	int healthy;            /* effective health when the read began */
	int64_t last_verified;
	gv_rangeset ranges;     /* block mode: the bytes its row holds */
	int local;              /* a local kind: opened directly, not hedged */
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
	/* Block mode (blk set): g->r reads candidate rc from offset rpos. */
	gv_blocks *blk;
	blk_slot slot;          /* the verified block being handed out */
	uint64_t pos;           /* next byte handed out */
	size_t rc;
	uint64_t rpos;
	uint64_t wend;          /* end of the last block that covers the range */
	/* Read-ahead: a thread loads the next block into `ahead` while this
	 * one is handed out (hashing overlaps sending).  mu guards want and
	 * stop; the loader state above belongs to the thread from a request
	 * until want is UINT64_MAX again. */
	blk_slot ahead;
	int th_on;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t want;          /* block asked of the thread, UINT64_MAX: none */
	int stop;
	int no_thread;          /* none could be started: load when needed */
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

/* The current replica failed with err: judged (gv_store_replica_failed),
 * its reader dropped. */
static void fail_current(gv_get *g, int err, const char *reason)
{
	candidate *c = &g->cand[g->next - 1];

	if (c->healthy)
		gv_store_replica_failed(g->st, &g->key, g->cur, err, reason, "read");
	gv_sector_reader_close(g->r);
	g->r = NULL;
}

/*
 * Verify replica `s` whole before its first byte goes out.  A blob of more
 * than one block that has no table yet (an older store, a rebuilt index)
 * gets one from the same pass, so its next range read costs one block.
 */
static int verify_whole(gv_store *st, const gv_key *key, gv_sector *s, char *reason,
                        size_t cap)
{
	gv_block_hasher *bh = NULL;
	void *tab = NULL;
	size_t len = 0;
	int err;

	if (key->size > st->block_size && gv_block_hasher_new(&bh, st->block_size) < 0)
		bh = NULL;
	err = gv_replica_verify_blocks(s, key, reason, cap, NULL, NULL, NULL, bh);
	if (err == 0 && bh && gv_block_hasher_final(bh, key, &tab, &len) == 0 && tab)
		(void)gv_blocks_store(st, key, tab, len);
	free(tab);
	gv_block_hasher_free(bh);
	return err;
}

/* ---- opening a replica, hedged (hedge.h) --------------------------------- */

/* What opening a replica needs; copied into the race (it may outlive g). */
typedef struct open_ctx {
	gv_store *st;
	gv_key key;
	uint64_t off, len;
	int verify_first;       /* verify it whole first */
	int into_mem;           /* read it whole into memory, verified */
} open_ctx;

typedef struct opened {
	gv_sector_reader *r;
	unsigned char *mem;
} opened;

static void opened_drop(void *p)
{
	opened *op = p;

	if (!op)
		return;
	gv_sector_reader_close(op->r);
	free(op->mem);
	free(op);
}

static int open_try(gv_hedge_try *t, const void *p)
{
	const open_ctx *o = p;
	opened *op = calloc(1, sizeof(*op));
	int err = 0;

	if (!op || (o->into_mem && !(op->mem = malloc((size_t)o->key.size)))) {
		opened_drop(op);
		snprintf(t->reason, sizeof(t->reason), "io error: out of memory");
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	if (o->into_mem) {
		err = gv_replica_verify_into(t->s, &o->key, op->mem, t->reason, sizeof(t->reason));
	} else {
		if (o->verify_first)
			err = verify_whole(o->st, &o->key, t->s, t->reason, sizeof(t->reason));
		if (err == 0 && (err = gv_sector_reader_open(&op->r, t->s, &o->key, o->off,
		                                             o->len)) < 0)
			reason_of(t->reason, sizeof(t->reason), err);
	}
	if (err < 0) {
		opened_drop(op);
		return err;
	}
	t->out = op;
	return 0;
}

/* The replica a late open of candidate ci hedges to: the next healthy one
 * with a sector (after ci in order; with wrap, any other).  0: none. */
/*
 * Whether `id` is of a local kind (a directory on this machine).  Its
 * opens are not hedged: a hedge costs a thread per open, and a local
 * open does not wait on a network.
 */
static int is_local(const char *id, const gv_sector_info *sectors, size_t n)
{
	const gv_sector_kind *k;
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(sectors[i].id, id) == 0)
			return (k = gv_sector_kind_find(sectors[i].kind)) &&
			       (k->flags & GV_SECTOR_KIND_LOCAL);
	return 0;
}

static int hedge_alt(gv_get *g, size_t ci, int wrap, gv_hedge_try *alt)
{
	size_t k, n = wrap ? g->ncand - 1 : g->ncand - ci - 1;

	for (k = 1; k <= n; k++) {
		size_t j = (ci + k) % g->ncand;
		gv_sector *s;

		if (!g->cand[j].healthy ||
		    !(s = gv_store_sector_handle(g->st, g->cand[j].sector, NULL, 0)))
			continue;
		alt->ci = j;
		alt->s = s;
		snprintf(alt->sector, sizeof(alt->sector), "%s", g->cand[j].sector);
		return 1;
	}
	return 0;
}

/* Open candidate ci (hedged to another when it is late): 0 with *op and
 * *who (the candidate that answered); else the error, with ci's failure
 * reason in `reason` (*failed: ci's own error when ci itself failed, else
 * 0). */
static int open_hedged(gv_get *g, size_t ci, gv_sector *s, const open_ctx *o, int wrap,
                       opened **op, size_t *who, int *failed, char *reason, size_t cap)
{
	gv_hedge_try first, alt, *won;
	int err;

	memset(&first, 0, sizeof(first));
	memset(&alt, 0, sizeof(alt));
	first.ci = ci;
	first.s = s;
	snprintf(first.sector, sizeof(first.sector), "%s", g->cand[ci].sector);
	err = gv_hedge_run(g->st, o, sizeof(*o), open_try, opened_drop, &first,
	                   !g->cand[ci].local && hedge_alt(g, ci, wrap, &alt) ? &alt : NULL,
	                   &won);
	*failed = first.err < 0 ? first.err : 0;
	snprintf(reason, cap, "%s", first.reason);
	if (err < 0)
		return err;
	*op = won->out;
	*who = won->ci;
	return 0;
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
		size_t ci = g->next++, who = ci;
		candidate *c = &g->cand[ci];
		gv_sector *s = gv_store_sector_handle(g->st, c->sector, reason, sizeof(reason));
		open_ctx o = { g->st, g->key, g->start, g->end - g->start, g->verify_first,
		               g->mem != NULL };
		opened *op = NULL;
		int failed = 0;

		if (!s) {
			/* The sector itself is down; its replicas are judged with it. */
			gv_debug("event=read_skip key=%s sector=%s reason=\"%s\"",
			         gv_key_format(kbuf, &g->key), c->sector, reason);
			continue;
		}
		err = open_hedged(g, ci, s, &o, 0, &op, &who, &failed, reason, sizeof(reason));
		if (failed && c->healthy)
			gv_store_replica_failed(g->st, &g->key, c->sector, failed, reason, "read");
		if (err < 0)
			continue;
		/* A hedge that answered first: the candidates before it are done. */
		g->next = who + 1;
		snprintf(g->cur, sizeof(g->cur), "%s", g->cand[who].sector);
		g->delivered = 0;
		if (op->mem) {
			free(g->mem);
			g->mem = op->mem;
			op->mem = NULL;
			g->in_mem = 1;
			opened_drop(op);
			return 0;
		}
		g->r = op->r;
		op->r = NULL;
		opened_drop(op);
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

/* ---- block mode ---------------------------------------------------------- */

/*
 * Take block `blk` out of candidate c's recorded ranges (its bytes there
 * are bad): under the key's lock, from the row as it is now, so a repair
 * or another read recording meanwhile is not undone.
 */
static void drop_block(gv_get *g, candidate *c, uint64_t blk)
{
	uint64_t bs = gv_blocks_size(g->blk), off = blk * bs;
	uint64_t end = g->key.size - off < bs ? g->key.size : off + bs;
	gv_replica *reps = NULL;
	char kbuf[GV_KEY_BUFSIZE];
	size_t n = 0, i;
	int err;

	gv_rangeset_remove(&c->ranges, off, end);
	if ((err = gv_key_lock(g->st, &g->key)) < 0)
		goto out;
	err = gv_index_replicas_find(g->st->ix, &g->key, &reps, &n);
	for (i = 0; err == 0 && i < n; i++) {
		if (strcmp(reps[i].sector, c->sector) != 0 ||
		    !gv_rangeset_contains(&reps[i].ranges, off, end) ||
		    (err = gv_rangeset_remove(&reps[i].ranges, off, end)) < 0)
			continue;
		err = gv_index_replica_set_ranges(g->st->ix, &g->key, c->sector, &reps[i].ranges);
	}
	gv_key_unlock(g->st, &g->key);
	gv_replicas_free(reps, n);
out:
	if (err < 0 && err != GV_ENOTFOUND)
		gv_errlog("event=index_error op=replica_set_ranges key=%s sector=%s error=\"%s\"",
		          gv_key_format(kbuf, &g->key), c->sector, gv_error_last());
}

/* Candidate i failed block `blk` with err: judge it once
 * (gv_store_replica_failed), drop its reader; a block that fails its
 * digest leaves the replica's ranges. */
static void block_fail(gv_get *g, size_t i, uint64_t blk, int err, const char *reason)
{
	candidate *c = &g->cand[i];
	char kbuf[GV_KEY_BUFSIZE];

	gv_warn("event=block_failed key=%s sector=%s block=%llu reason=\"%s\"",
	        gv_key_format(kbuf, &g->key), c->sector, (unsigned long long)blk, reason);
	if (strcmp(reason, "checksum mismatch") == 0)
		drop_block(g, c, blk);
	if (c->healthy)
		gv_store_replica_failed(g->st, &g->key, c->sector, err, reason, "read");
	c->healthy = 0;
	gv_sector_reader_close(g->r);
	g->r = NULL;
}

/* Read block sl->idx whole from candidate ci into sl->buf and check it: 0,
 * or the replica's error with its failure in reason. */
static int block_try(gv_get *g, size_t ci, blk_slot *sl, char *reason, size_t cap)
{
	uint64_t off = sl->idx * gv_blocks_size(g->blk);
	size_t got = 0;

	if (!g->r || g->rc != ci || g->rpos != off) {
		gv_sector *s = gv_store_sector_handle(g->st, g->cand[ci].sector, reason, cap);
		open_ctx o = { g->st, g->key, off, g->wend - off, 0, 0 };
		opened *op = NULL;
		size_t who = ci;
		int failed = 0, err;

		gv_sector_reader_close(g->r);
		g->r = NULL;
		if (!s)
			return GV_EIO;
		if ((err = open_hedged(g, ci, s, &o, 1, &op, &who, &failed, reason, cap)) < 0)
			return failed ? failed : err;
		if (failed)
			block_fail(g, ci, sl->idx, failed, reason);
		g->r = op->r;
		op->r = NULL;
		opened_drop(op);
		g->rc = who;
		g->rpos = off;
	}
	while (got < sl->len) {
		ssize_t n = gv_sector_reader_read(g->r, sl->buf + got, sl->len - got);

		if (n <= 0) {
			if (n == 0)
				snprintf(reason, cap, "size mismatch");
			else
				reason_of(reason, cap, (int)n);
			return n == 0 ? GV_ECORRUPT : (int)n;
		}
		got += (size_t)n;
	}
	g->rpos += got;
	if (!gv_blocks_check(g->blk, sl->idx, sl->buf, sl->len)) {
		snprintf(reason, cap, "checksum mismatch");
		return GV_ECORRUPT;
	}
	return 0;
}

/*
 * Load block i into sl, verified: from the replica that served the last
 * one, else from each other in order.  sl->err is GV_EALL_REPLICAS_FAILED
 * (its message in sl->msg: the loader may be the read-ahead thread) when
 * none holds it intact.  Whoever loads owns the reader and the candidates
 * meanwhile.
 */
static void block_load(gv_get *g, uint64_t i, blk_slot *sl)
{
	uint64_t bs = gv_blocks_size(g->blk), off = i * bs;
	char reason[GV_REASON_MAX], kbuf[GV_KEY_BUFSIZE];
	size_t k, tried = 0, first = g->rc;
	int err;

	sl->idx = i;
	sl->len = (size_t)(g->key.size - off < bs ? g->key.size - off : bs);
	sl->err = 0;
	for (k = 0; k < g->ncand; k++) {
		size_t ci = (first + k) % g->ncand;

		/* A replica serves only the blocks its row holds. */
		if (!gv_rangeset_contains(&g->cand[ci].ranges, off, off + sl->len) ||
		    gv_store_sector_handle(g->st, g->cand[ci].sector, NULL, 0) == NULL)
			continue;
		tried++;
		if ((err = block_try(g, ci, sl, reason, sizeof(reason))) == 0) {
			/* g->rc: a hedge may have answered for ci. */
			snprintf(sl->sector, sizeof(sl->sector), "%s", g->cand[g->rc].sector);
			return;
		}
		block_fail(g, g->r ? g->rc : ci, i, err, reason);
	}
	sl->err = GV_EALL_REPLICAS_FAILED;
	snprintf(sl->msg, sizeof(sl->msg),
	         "block %llu (bytes %llu-%llu) of %s: none of %zu replica%s holds it intact",
	         (unsigned long long)i, (unsigned long long)off,
	         (unsigned long long)(off + sl->len - 1), gv_key_format(kbuf, &g->key), tried,
	         tried == 1 ? "" : "s");
}

/* The read-ahead thread: loads the block asked for in g->want. */
static void *ahead_main(void *p)
{
	gv_get *g = p;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->stop && g->want == UINT64_MAX)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->mu);
		block_load(g, g->want, &g->ahead);
		pthread_mutex_lock(&g->mu);
		g->want = UINT64_MAX;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Wait until the read-ahead thread is idle (it then owns nothing). */
static void ahead_wait(gv_get *g)
{
	if (!g->th_on)
		return;
	pthread_mutex_lock(&g->mu);
	while (g->want != UINT64_MAX)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* Load block i in the read-ahead thread (started on first use; without
 * one, the next block is simply loaded when it is needed). */
static void ahead_start(gv_get *g, uint64_t i)
{
	if (!g->th_on) {
		if (g->no_thread ||
		    (!g->ahead.buf && !(g->ahead.buf = malloc(gv_blocks_size(g->blk))))) {
			g->no_thread = 1;
			return;
		}
		pthread_mutex_init(&g->mu, NULL);
		pthread_cond_init(&g->cv, NULL);
		g->want = UINT64_MAX;
		if (pthread_create(&g->th, NULL, ahead_main, g) != 0) {
			pthread_cond_destroy(&g->cv);
			pthread_mutex_destroy(&g->mu);
			g->no_thread = 1;
			return;
		}
		g->th_on = 1;
	}
	pthread_mutex_lock(&g->mu);
	g->want = i;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/*
 * Make block i the one served (g->slot): the read-ahead thread's when it
 * loaded it, else loaded here; then read the next block of the range
 * ahead.  GV_EALL_REPLICAS_FAILED when no replica holds block i intact.
 */
static int block_next(gv_get *g, uint64_t i)
{
	uint64_t bs = gv_blocks_size(g->blk);

	ahead_wait(g);
	if (g->th_on && g->ahead.idx == i) {
		blk_slot t = g->slot;

		g->slot = g->ahead;
		g->ahead = t;
		g->ahead.idx = UINT64_MAX;
	} else {
		block_load(g, i, &g->slot);
	}
	if (g->slot.err) {
		g->slot.idx = UINT64_MAX;
		return gv_error_set(g->slot.err, "%s", g->slot.msg);
	}
	snprintf(g->cur, sizeof(g->cur), "%s", g->slot.sector);
	if ((i + 1) * bs < g->wend && g->wend - g->start > 2 * (uint64_t)bs)
		ahead_start(g, i + 1);
	return 0;
}

static ssize_t block_read(gv_get *g, void *buf, size_t cap)
{
	uint64_t bs = gv_blocks_size(g->blk), i = g->pos / bs, in;
	size_t n;
	int err;

	if (g->pos >= g->end)
		return 0;
	if (g->slot.idx != i && (err = block_next(g, i)) < 0)
		return err;
	in = g->pos - i * bs;
	n = g->slot.len - (size_t)in;
	if (n > g->end - g->pos)
		n = (size_t)(g->end - g->pos);
	if (n > cap)
		n = cap;
	memcpy(buf, g->slot.buf + in, n);
	g->pos += n;
	return (ssize_t)n;
}

/*
 * Use the blob's block table when it has one: 1 then (block mode set up),
 * 0 to read as before.
 */
static int block_mode(gv_get *g)
{
	uint64_t bs;
	int err;

	err = gv_blocks_load(g->st, &g->key, &g->blk);
	if (err == GV_ENOTFOUND)
		return 0;
	if (err < 0)
		return err;
	bs = gv_blocks_size(g->blk);
	if (!(g->slot.buf = malloc(bs)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	g->pos = g->start;
	g->wend = (g->end + bs - 1) / bs * bs;
	if (g->wend > g->key.size)
		g->wend = g->key.size;
	g->slot.idx = UINT64_MAX;
	g->ahead.idx = UINT64_MAX;
	return 1;
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
		g->verify_first = 1;
	if (g->start < g->end && (err = block_mode(g)) < 0)
		goto fail;
	if (g->blk)
		g->verify_first = 0;

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

		if (!healthy && g->blk) {
			/* Block mode checks every block: any copy may serve
			 * the blocks its ranges hold (block_load). */
			if (reps[i].ranges.n == 0)
				continue;
		} else if (!healthy) {
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
		c->local = is_local(reps[i].sector, sectors, nsectors);
		if (g->blk && (err = gv_rangeset_copy(&c->ranges, &reps[i].ranges)) < 0)
			goto fail;
		g->ncand++;
	}
	qsort(g->cand, g->ncand, sizeof(*g->cand), cand_cmp);
	if (g->blk) {
		/* The first block now, so a read none can serve fails before
		 * the caller sends anything. */
		if ((err = block_next(g, g->start / gv_blocks_size(g->blk))) < 0)
			goto fail;
		goto done;
	}
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
done:
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

	if (g->blk)
		return block_read(g, buf, cap);
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
			err = (int)n;
			reason_of(reason, sizeof(reason), err);
			goto restart;
		}
		err = GV_ECORRUPT; /* the replica's fault, from here on */
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
	fail_current(g, err, reason);
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
	size_t i;

	if (!g)
		return;
	if (g->th_on) {
		/* A load under way finishes first (one block at most). */
		pthread_mutex_lock(&g->mu);
		g->stop = 1;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->th, NULL);
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
	}
	gv_sector_reader_close(g->r);
	gv_sha256_free(g->h);
	gv_blocks_free(g->blk);
	free(g->slot.buf);
	free(g->ahead.buf);
	free(g->mem);
	for (i = 0; i < g->ncand; i++)
		gv_rangeset_free(&g->cand[i].ranges);
	free(g->cand);
	free(g);
}
