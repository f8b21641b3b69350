/*
 * blocks.h - per-block digests of a blob (docs/integrity.md).
 *
 * A blob larger than one block has a table of SHA-256 digests, one per
 * block, kept in the index (one per blob: every replica holds the same
 * bytes).  The table is written only once the whole stream matched the
 * key, and carries a check digest over the key, the block size and the
 * digests, so a row that rotted or belongs to another key is refused (the
 * read then falls back to the whole-key digest, and scrub rewrites it).
 */
#ifndef GV_ENGINE_BLOCKS_H
#define GV_ENGINE_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "graviton/key.h"

typedef struct gv_store gv_store;

#define GV_BLOCK_SIZE_DEFAULT (1u << 20)
#define GV_BLOCK_SIZE_MIN     4096u
#define GV_BLOCK_SIZE_MAX     (64u << 20)

/* ---- building a table while the bytes stream ---------------------------- */

typedef struct gv_block_hasher gv_block_hasher;

int gv_block_hasher_new(gv_block_hasher **out, uint32_t block_size);
int gv_block_hasher_update(gv_block_hasher *bh, const void *buf, size_t len);
/* The encoded table of the bytes hashed, bound to `key` (whose size must
 * be the bytes hashed): *out malloc'd, or NULL when they fit one block. */
int gv_block_hasher_final(gv_block_hasher *bh, const gv_key *key, void **out, size_t *out_len);
void gv_block_hasher_free(gv_block_hasher *bh);

/* Record an encoded table; a failure is logged and returned (the blob then
 * reads through its key until scrub writes the table). */
int gv_blocks_store(gv_store *st, const gv_key *key, const void *tab, size_t len);

/* ---- reading one ---------------------------------------------------------- */

typedef struct gv_blocks gv_blocks;

/*
 * The table of `key`: 0, or GV_ENOTFOUND when there is none usable (none
 * recorded, the blob fits one block, or the row fails its check: logged as
 * event=block_table_invalid); other errors from the index.
 */
int gv_blocks_load(gv_store *st, const gv_key *key, gv_blocks **out);
/* Same for an encoded table in memory (tests, scrub). */
int gv_blocks_decode(gv_blocks **out, const gv_key *key, const void *tab, size_t len);
uint32_t gv_blocks_size(const gv_blocks *b);
uint64_t gv_blocks_count(const gv_blocks *b);
/* 1 when the bytes of block i (all of it) match its digest, else 0. */
int gv_blocks_check(const gv_blocks *b, uint64_t i, const void *data, size_t len);
void gv_blocks_free(gv_blocks *b);

#endif
