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
int gv_key_parse(gv_key *out, const char *s);

/* Write the canonical text form into buf (GV_KEY_BUFSIZE bytes); returns buf. */
char *gv_key_format(char *buf, const gv_key *key);

/* Lowercase hex of the digest into buf (GV_HEX_BUFSIZE bytes); returns buf. */
char *gv_key_hex(char *buf, const gv_key *key);

/* Byte order of keys (digest, then size); 0 when equal. */
int gv_key_cmp(const gv_key *a, const gv_key *b);

#ifdef __cplusplus
}
#endif
#endif
