/*
 * blocks.c - per-block digests: the encoded table, its check, and the
 * hasher that builds it while a blob streams (blocks.h).
 *
 * Encoding (little-endian), stored opaque by the index:
 *   "GVB1" | block size (u32) | 0 (u32) | check (32) | digest of each block (32 each)
 * check = SHA-256("GVB1" | key digest | key size (u64) | block size (u32) |
 *                 the digests): it binds the table to its key and detects
 * any change of the row.  The number of blocks follows from the key's size.
 */
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/blocks.h"
#include "engine/store.h"

#define TAB_MAGIC "GVB1"
#define TAB_HEAD  (4 + 4 + 4 + GV_DIGEST_LEN)

struct gv_block_hasher {
	gv_sha256 *h;
	uint32_t block_size;
	uint32_t fill;          /* bytes of the current block hashed */
	uint8_t *dig;           /* finished blocks' digests */
	uint64_t n, cap;
};

struct gv_blocks {
	uint32_t block_size;
	uint64_t n;
	uint8_t *tab;           /* the encoded table; digests at TAB_HEAD */
};

static void put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t blocks_of(uint64_t size, uint32_t block_size)
{
	return size / block_size + (size % block_size != 0);
}

/* The check digest of a table's digests for key. */
static int tab_check(uint8_t out[GV_DIGEST_LEN], const gv_key *key, uint32_t block_size,
                     const uint8_t *dig, uint64_t n)
{
	uint8_t head[4 + GV_DIGEST_LEN + 8 + 4];
	gv_sha256 *h;
	int i, err;

	memcpy(head, TAB_MAGIC, 4);
	memcpy(head + 4, key->digest, GV_DIGEST_LEN);
	for (i = 0; i < 8; i++)
		head[4 + GV_DIGEST_LEN + i] = (uint8_t)(key->size >> (8 * i));
	put_u32(head + 4 + GV_DIGEST_LEN + 8, block_size);
	if ((err = gv_sha256_new(&h)) < 0)
		return err;
	if ((err = gv_sha256_update(h, head, sizeof(head))) == 0 &&
	    (err = gv_sha256_update(h, dig, (size_t)n * GV_DIGEST_LEN)) == 0)
		err = gv_sha256_final(h, out);
	gv_sha256_free(h);
	return err;
}

int gv_block_hasher_new(gv_block_hasher **out, uint32_t block_size)
{
	gv_block_hasher *bh;
	int err;

	*out = NULL;
	if (block_size < GV_BLOCK_SIZE_MIN || block_size > GV_BLOCK_SIZE_MAX)
		return gv_error_set(GV_EINVAL, "block size %u is outside %u..%u", block_size,
		                    GV_BLOCK_SIZE_MIN, GV_BLOCK_SIZE_MAX);
	if (!(bh = calloc(1, sizeof(*bh))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	if ((err = gv_sha256_new(&bh->h)) < 0) {
		free(bh);
		return err;
	}
	bh->block_size = block_size;
	*out = bh;
	return 0;
}

/* Finish the current block into the digest list. */
static int hasher_close_block(gv_block_hasher *bh)
{
	int err;

	if (bh->n == bh->cap) {
		uint64_t cap = bh->cap ? bh->cap * 2 : 16;
		uint8_t *d = realloc(bh->dig, (size_t)cap * GV_DIGEST_LEN);

		if (!d)
			return gv_error_set(GV_ENOMEM, "out of memory");
		bh->dig = d;
		bh->cap = cap;
	}
	if ((err = gv_sha256_final(bh->h, bh->dig + bh->n * GV_DIGEST_LEN)) < 0)
		return err;
	bh->n++;
	bh->fill = 0;
	return 0;
}

int gv_block_hasher_update(gv_block_hasher *bh, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int err;

	while (len > 0) {
		size_t take = bh->block_size - bh->fill;

		if (take > len)
			take = len;
		if ((err = gv_sha256_update(bh->h, p, take)) < 0)
			return err;
		bh->fill += (uint32_t)take;
		p += take;
		len -= take;
		/* A full block closes at once: a blob of exactly one block
		 * then has one digest and no table. */
		if (bh->fill == bh->block_size && (err = hasher_close_block(bh)) < 0)
			return err;
	}
	return 0;
}

int gv_block_hasher_final(gv_block_hasher *bh, const gv_key *key, void **out, size_t *out_len)
{
	uint8_t *tab;
	size_t len;
	int err;

	*out = NULL;
	*out_len = 0;
	if (bh->fill > 0 && (err = hasher_close_block(bh)) < 0)
		return err;
	if (bh->n != blocks_of(key->size, bh->block_size))
		return gv_error_set(GV_ERROR, "block table of %llu blocks for %llu bytes",
		                    (unsigned long long)bh->n, (unsigned long long)key->size);
	if (bh->n <= 1)
		return 0;
	len = TAB_HEAD + (size_t)bh->n * GV_DIGEST_LEN;
	if (len > GV_INDEX_BLOCKS_MAX)
		return 0; /* too many blocks to record: the key alone verifies */
	if (!(tab = malloc(len)))
		return gv_error_set(GV_ENOMEM, "out of memory");
	memcpy(tab, TAB_MAGIC, 4);
	put_u32(tab + 4, bh->block_size);
	put_u32(tab + 8, 0);
	if ((err = tab_check(tab + 12, key, bh->block_size, bh->dig, bh->n)) < 0) {
		free(tab);
		return err;
	}
	memcpy(tab + TAB_HEAD, bh->dig, (size_t)bh->n * GV_DIGEST_LEN);
	*out = tab;
	*out_len = len;
	return 0;
}

void gv_block_hasher_free(gv_block_hasher *bh)
{
	if (!bh)
		return;
	gv_sha256_free(bh->h);
	free(bh->dig);
	free(bh);
}

int gv_blocks_store(gv_store *st, const gv_key *key, const void *tab, size_t len)
{
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if ((err = gv_index_blocks_put(st->ix, key, tab, len)) < 0)
		gv_warn("event=block_table_not_recorded key=%s error=\"%s\"",
		        gv_key_format(kbuf, key), gv_error_last());
	return err;
}

int gv_blocks_decode(gv_blocks **out, const gv_key *key, const void *tab, size_t len)
{
	const uint8_t *p = tab;
	uint8_t check[GV_DIGEST_LEN];
	uint32_t bs;
	uint64_t n;
	gv_blocks *b;
	int err;

	*out = NULL;
	if (len < TAB_HEAD || memcmp(p, TAB_MAGIC, 4) != 0 || get_u32(p + 8) != 0)
		return gv_error_set(GV_ECORRUPT, "block table: not a table of this format");
	bs = get_u32(p + 4);
	if (bs < GV_BLOCK_SIZE_MIN || bs > GV_BLOCK_SIZE_MAX)
		return gv_error_set(GV_ECORRUPT, "block table: block size %u out of range", bs);
	n = blocks_of(key->size, bs);
	if (n < 2 || (len - TAB_HEAD) / GV_DIGEST_LEN != n || (len - TAB_HEAD) % GV_DIGEST_LEN)
		return gv_error_set(GV_ECORRUPT, "block table: %zu bytes for %llu blocks", len,
		                    (unsigned long long)n);
	if ((err = tab_check(check, key, bs, p + TAB_HEAD, n)) < 0)
		return err;
	if (memcmp(check, p + 12, GV_DIGEST_LEN) != 0)
		return gv_error_set(GV_ECORRUPT, "block table: check digest mismatch");
	if (!(b = calloc(1, sizeof(*b))) || !(b->tab = malloc(len))) {
		free(b);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	memcpy(b->tab, tab, len);
	b->block_size = bs;
	b->n = n;
	*out = b;
	return 0;
}

int gv_blocks_load(gv_store *st, const gv_key *key, gv_blocks **out)
{
	char kbuf[GV_KEY_BUFSIZE];
	void *tab = NULL;
	size_t len = 0;
	int err;

	*out = NULL;
	if (key->size <= GV_BLOCK_SIZE_MIN)
		return gv_error_set(GV_ENOTFOUND, "no block table: one block");
	if ((err = gv_index_blocks_get(st->ix, key, &tab, &len)) < 0)
		return err;
	err = gv_blocks_decode(out, key, tab, len);
	free(tab);
	if (err == GV_ECORRUPT) {
		gv_warn("event=block_table_invalid key=%s error=\"%s\"", gv_key_format(kbuf, key),
		        gv_error_last());
		return gv_error_set(GV_ENOTFOUND, "block table of %s is invalid", kbuf);
	}
	return err;
}

uint32_t gv_blocks_size(const gv_blocks *b)
{
	return b->block_size;
}

uint64_t gv_blocks_count(const gv_blocks *b)
{
	return b->n;
}

int gv_blocks_check(const gv_blocks *b, uint64_t i, const void *data, size_t len)
{
	uint8_t d[GV_DIGEST_LEN];

	if (i >= b->n || gv_sha256_buf(d, data, len) < 0)
		return 0;
	return memcmp(d, b->tab + TAB_HEAD + i * GV_DIGEST_LEN, GV_DIGEST_LEN) == 0;
}

void gv_blocks_free(gv_blocks *b)
{
	if (!b)
		return;
	free(b->tab);
	free(b);
}
