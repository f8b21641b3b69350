/*
 * rows.h - checks and text codecs every index backend shares.
 *
 * The backends store keys in their canonical text form and ranges as
 * gv_rangeset_format text, so what one writes the other reads, and
 * `index migrate` compares the two row for row.
 */
#ifndef GV_INDEX_ROWS_H
#define GV_INDEX_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "graviton/sys/index.h"

#define IX_SETTING_NAME_MAX 256
#define IX_SETTING_VALUE_MAX 65536

/* Length of `s` cut to at most `max` bytes without splitting a UTF-8
 * sequence. */
size_t ix_utf8_cut(const char *s, size_t max);

/* Decode canonical key text fast; 0 when the text is in another form (then
 * gv_key_parse decides), 1 when *out holds the key. */
int ix_key_decode_canonical(gv_key *out, const char *v, size_t len);

/* Decode the stored ranges text "A-B" fast into the empty set `out`; 0 for
 * any other text (then gv_rangeset_parse decides). */
int ix_ranges_decode_single(gv_rangeset *out, const char *v);

/* GV_EINVAL unless `id` is a non-empty id shorter than GV_ID_MAX. */
int ix_id_check(const char *what, const char *id);
/* A claim's name and owner (1..GV_CLAIM_NAME_MAX - 1 bytes), and a lease of
 * at most INT32_MAX seconds. */
int ix_claim_check(const char *name, const char *owner, uint64_t ttl_ms);
/* GV_EINVAL when v does not fit cap bytes with its NUL. */
int ix_str_check(const char *what, const char *v, size_t cap);
/* GV_EINVAL when a key's size does not fit a signed 64-bit column. */
int ix_key_check(const gv_key *key);
int ix_setting_name_check(const char *name);
/*
 * The first password in an index URL "scheme://..." at or after offset
 * `from`: url[*off, *off + *len), and 1; 0 when there is none.  Passwords
 * are the one of the user info (user:PASSWORD@host) and the values of the
 * query options whose name ends in "password" (password=, sslpassword=).
 */
int ix_url_password(const char *url, size_t from, size_t *off, size_t *len);

/* GV_EINVAL unless a repair queue row's texts are terminated. */
int ix_repairq_check(const gv_repairq_entry *e);
/* GV_EINVAL unless every field of a sector record is storable. */
int ix_sector_check(const gv_sector_info *si);

/* Validate ranges against the blob size and format them for storage
 * (*out malloc'd); *complete 1 when they cover the whole blob. */
int ix_ranges_text(char **out, int *complete, const gv_rangeset *rs, uint64_t size);

/* Make room for element n of a growing array. */
int ix_replicas_grow(gv_replica **arr, size_t n, size_t *cap);
int ix_entries_grow(gv_blob_entry **arr, size_t n, size_t *cap);

#endif
