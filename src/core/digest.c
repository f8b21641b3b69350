/*
 * digest.c - SHA-256 through OpenSSL EVP.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "core/digest.h"

struct gv_sha256 {
	EVP_MD_CTX *ctx;
};

int gv_sha256_new(gv_sha256 **out)
{
	gv_sha256 *h;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return gv_error_set(GV_ENOMEM, "out of memory");
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		gv_sha256_free(h);
		return gv_error_set(GV_ERROR, "cannot start SHA-256");
	}
	*out = h;
	return 0;
}

int gv_sha256_reset(gv_sha256 *h)
{
	if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		return gv_error_set(GV_ERROR, "cannot restart SHA-256");
	return 0;
}

int gv_sha256_update(gv_sha256 *h, const void *buf, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, buf, len) != 1)
		return gv_error_set(GV_ERROR, "SHA-256 update failed");
	return 0;
}

int gv_sha256_final(gv_sha256 *h, uint8_t out[GV_DIGEST_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != GV_DIGEST_LEN)
		return gv_error_set(GV_ERROR, "SHA-256 final failed");
	/* Start the next message at once: OpenSSL accepts updates on a
	 * finished context and silently produces a wrong digest. */
	return gv_sha256_reset(h);
}

void gv_sha256_free(gv_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int gv_sha256_buf(uint8_t out[GV_DIGEST_LEN], const void *buf, size_t len)
{
	unsigned int n = 0;

	if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 || n != GV_DIGEST_LEN)
		return gv_error_set(GV_ERROR, "SHA-256 failed");
	return 0;
}

int gv_md5_buf(uint8_t out[16], const void *buf, size_t len)
{
	unsigned n = 0;

	if (EVP_Digest(buf, len, out, &n, EVP_md5(), NULL) != 1 || n != 16)
		return gv_error_set(GV_ERROR, "MD5 failed");
	return 0;
}

struct gv_md5 {
	EVP_MD_CTX *ctx;
};

int gv_md5_new(gv_md5 **out)
{
	gv_md5 *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return gv_error_set(GV_ENOMEM, "out of memory");
	if (!(h->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(h->ctx, EVP_md5(), NULL) != 1) {
		gv_md5_free(h);
		return gv_error_set(GV_ERROR, "cannot start MD5");
	}
	*out = h;
	return 0;
}

int gv_md5_update(gv_md5 *h, const void *buf, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, buf, len) != 1)
		return gv_error_set(GV_ERROR, "MD5 update failed");
	return 0;
}

int gv_md5_final(gv_md5 *h, uint8_t out[16])
{
	unsigned n = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != 16)
		return gv_error_set(GV_ERROR, "MD5 failed");
	return 0;
}

void gv_md5_free(gv_md5 *h)
{
	if (h) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
	}
}

int gv_key_of_buf(gv_key *out, const void *buf, size_t len)
{
	out->size = len;
	return gv_sha256_buf(out->digest, buf, len);
}

/* ---- the public streaming hasher: SHA-256 plus a byte count -------------- */

struct gv_key_hasher {
	gv_sha256 *sha;
	uint64_t size;
};

int gv_key_hasher_new(gv_key_hasher **out)
{
	gv_key_hasher *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h || gv_sha256_new(&h->sha) < 0) {
		free(h);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	*out = h;
	return 0;
}

int gv_key_hasher_update(gv_key_hasher *h, const void *buf, size_t len)
{
	h->size += len;
	return gv_sha256_update(h->sha, buf, len);
}

int gv_key_hasher_final(gv_key_hasher *h, gv_key *out)
{
	int err = gv_sha256_final(h->sha, out->digest);

	out->size = h->size;
	h->size = 0;
	return err;
}

void gv_key_hasher_free(gv_key_hasher *h)
{
	if (!h)
		return;
	gv_sha256_free(h->sha);
	free(h);
}
