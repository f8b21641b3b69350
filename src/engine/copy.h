/*
 * copy.h - the resumable copy of one key into a sector, and the move
 * protocol, shared by repair, rebalance and drain (engine-private).
 *
 * The rules they keep (docs/architecture.md, "Invariants"):
 *   - a copy is recorded only once committed, and only while the blob is
 *     still in the index (a DELETE that ran meanwhile wins);
 *   - a move is copy (verified) -> record the new row -> drop the old row
 *     -> delete the old bytes; each step runs only when the one before
 *     succeeded, so bytes are never deleted while a row counts on them;
 *   - the decisions take the key's lock (gv_key_lock); bytes stream
 *     without it.
 */
#ifndef GV_ENGINE_COPY_H
#define GV_ENGINE_COPY_H

#include <stdatomic.h>

#include "engine/store.h"

/* Copies at least this large record their progress and can resume. */
#define GV_COPY_RESUME_MIN (64ull << 20)
/* A resumable copy syncs and records its durable prefix this often. */
#define GV_COPY_RESUME_STEP (64ull << 20)
/* The buffer a copy streams through. */
#define GV_COPY_BUF (1u << 20)

typedef struct gv_copy_opts {
	struct gv_limiter *lim;       /* NULL: no rate limit */
	atomic_int *cancel;           /* NULL: never cancelled */
	/* Told of every stretch of bytes written into the target (NULL ok). */
	void (*on_bytes)(uint64_t n, void *payload);
	void *payload;
	uint64_t resume_min;          /* 0: GV_COPY_RESUME_MIN */
	uint64_t resume_step;         /* 0: GV_COPY_RESUME_STEP */
	char *buf;                    /* GV_COPY_BUF bytes to reuse; NULL: own */
} gv_copy_opts;

typedef struct gv_copy_result {
	uint64_t written;             /* bytes written into the target */
	uint64_t resumed;             /* bytes kept from an earlier partial */
} gv_copy_result;

/*
 * Copy key into sector `target` from the first of srcs[0..nsrc) that can
 * be read whole with the key's digest; a source that cannot is marked
 * unhealthy and the next goes on.  `row` is the target's replica row
 * (a partial one, resumed from its recorded prefix) or NULL.
 *
 * A copy of resume_min bytes or more first records an empty row (only
 * while the blob is in the index), then its durable prefix every
 * resume_step bytes.  On success the copy is committed and recorded.
 * A cancelled copy (GV_ECANCELED) keeps its partial and its row, for the
 * next attempt; any other failure drops what the copy created: its row,
 * then the bytes no row counts on (a complete row recorded meanwhile by
 * another operation stays, with its bytes).
 *
 * *out (NULL ok) gets the bytes written and resumed, also on failure.
 */
int gv_copy_key(gv_store *st, const gv_key *key, const char (*srcs)[GV_ID_MAX], size_t nsrc,
                const char *target, const gv_replica *row, const gv_copy_opts *o,
                gv_copy_result *out);

/*
 * Range-level repair of the replica of key in `target` (its row `row`),
 * for a blob with a block table on a sector kind that can write in
 * place: the blocks the row does not hold, and the blocks it holds that
 * no longer match the table (each found bad first loses its place in the
 * row's ranges), are read from srcs[0..nsrc) (each checked against the
 * table) and written into the committed blob; each batch is synced, read
 * back intact and only then added to the row's ranges.  Once every block
 * is held the row is recorded healthy and verified.  A failure or crash
 * between the write and the record leaves the ranges without the block.
 *
 * 0 when the replica is whole again; 1 when it cannot be patched (no
 * table, a kind without the patch ops, no committed blob of the key's
 * size there): the caller copies whole; else the error.  *out (NULL ok)
 * gets the bytes written, also on failure.
 */
int gv_patch_replica(gv_store *st, const gv_key *key, const char (*srcs)[GV_ID_MAX],
                     size_t nsrc, const char *target, const gv_replica *row,
                     const gv_copy_opts *o, gv_copy_result *out);

/*
 * Move the replica of key in `from` to `to`: copy (verified, from `from`
 * first, else any other healthy replica), then under the key's lock
 * record the new row, drop the old row and delete the old bytes.
 * A failure stops the protocol where it is: the old row and bytes stay
 * until the new row is recorded, and the old bytes stay while their row
 * does.  A failed delete of the old bytes leaves unrecorded bytes (swept
 * later) and still succeeds.
 */
int gv_move_replica(gv_store *st, const gv_key *key, const char *from, const char *to);

/*
 * Drop the replica of key in sector, the caller holding the key's lock:
 * a complete replica loses its row, then (only once the row is gone) its
 * bytes; a partial one (`partial`) first claims nothing (its ranges
 * emptied when `claims`), then loses its bytes, then its row.
 * 0 once the row is gone; else the index or sector error, and the
 * bytes stay wherever a row may still count on them.
 */
int gv_replica_drop_locked(gv_store *st, const gv_key *key, const char *sector, int partial,
                           int claims);

#endif
