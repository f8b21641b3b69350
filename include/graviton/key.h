/*
 * graviton/key.h - content address of a blob.
 *
 * Text form: "sha256:<64 lowercase hex>:<size in decimal bytes>".
 * Parsing is strict: uppercase hex is accepted and normalised to lowercase,
 * anything else that deviates is rejected with a message naming the fault.
 */
#ifndef GRAVITON_KEY_H
#define GRAVITON_KEY_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_DIGEST_LEN 32
/* "sha256:" + 64 hex + ":" + up to 20 digits */
#define GV_KEY_STRLEN_MAX (7 + 64 + 1 + 20)
#define GV_KEY_BUFSIZE (GV_KEY_STRLEN_MAX + 1)
#define GV_HEX_BUFSIZE 65

typedef struct gv_key {
	uint8_t digest[GV_DIGEST_LEN];
	uint64_t size;
} gv_key;

/*
 * Parse `s` (NUL-terminated) into `out`.  Returns 0, or GV_EINVAL with a
 * message that says what is wrong (prefix, length, character, size).
 */
GV_API int gv_key_parse(gv_key *out, const char *s);

/* Write the canonical text form into buf (GV_KEY_BUFSIZE bytes); returns buf. */
GV_API char *gv_key_format(char *buf, const gv_key *key);

/* Lowercase hex of the digest into buf (GV_HEX_BUFSIZE bytes); returns buf. */
GV_API char *gv_key_hex(char *buf, const gv_key *key);

/* Byte order of keys (digest, then size); 0 when equal. */
GV_API int gv_key_cmp(const gv_key *a, const gv_key *b);

/*
 * The key of bytes that arrive in pieces: new, update for each piece, then
 * final gives the key (digest and total size) and starts over for the next
 * blob.  new: *out NULL and GV_ENOMEM on failure.  update/final: 0 or
 * GV_ERROR.  free: NULL ok.
 */
typedef struct gv_key_hasher gv_key_hasher;
GV_API int gv_key_hasher_new(gv_key_hasher **out);
GV_API int gv_key_hasher_update(gv_key_hasher *h, const void *buf, size_t len);
GV_API int gv_key_hasher_final(gv_key_hasher *h, gv_key *out);
GV_API void gv_key_hasher_free(gv_key_hasher *h);

#ifdef __cplusplus
}
#endif
#endif
