/*
 * digest.h - streaming SHA-256 over OpenSSL's EVP interface (which uses
 * the CPU's SHA extensions where present).
 */
#ifndef GV_CORE_DIGEST_H
#define GV_CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include "graviton/key.h"

typedef struct gv_sha256 gv_sha256;

/* Allocate and start a context; *out NULL and GV_ENOMEM on failure. */
int gv_sha256_new(gv_sha256 **out);
/* Restart the context for a new message. */
int gv_sha256_reset(gv_sha256 *h);
int gv_sha256_update(gv_sha256 *h, const void *buf, size_t len);
/*
 * Finish into out (32 bytes).  The context is restarted, ready for the next
 * message; calling gv_sha256_reset() first is allowed and changes nothing.
 */
int gv_sha256_final(gv_sha256 *h, uint8_t out[GV_DIGEST_LEN]);
void gv_sha256_free(gv_sha256 *h);

/* One-shot digest of a buffer. */
int gv_sha256_buf(uint8_t out[GV_DIGEST_LEN], const void *buf, size_t len);

/* MD5 (S3's ETags only: never used for integrity), whole or streaming. */
int gv_md5_buf(uint8_t out[16], const void *buf, size_t len);
typedef struct gv_md5 gv_md5;
int gv_md5_new(gv_md5 **out);
int gv_md5_update(gv_md5 *h, const void *buf, size_t len);
int gv_md5_final(gv_md5 *h, uint8_t out[16]);
void gv_md5_free(gv_md5 *h);

/* Key of a buffer (digest + length). */
int gv_key_of_buf(gv_key *out, const void *buf, size_t len);

#endif
