/*
 * key_fuzzer.c - gv_key_parse against a reference acceptor, and the
 * format/parse round trip.
 *
 * Checked on every input (abort() on violation):
 *  - the parser accepts exactly what the reference grammar accepts:
 *    "sha256:" 64 hex digits ":" and a decimal size without a leading zero
 *    that fits in int64_t;
 *  - an accepted key formats to the input with its hex lowercased, and that
 *    text parses back to the same key;
 *  - a rejected key returns GV_EINVAL with a non-empty one-line message;
 *  - the first 40 bytes taken as a raw key format and parse back to it
 *    (or are rejected as out of range when the size exceeds INT64_MAX), and
 *    gv_key_cmp is antisymmetric.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The grammar, written independently of key.c. */
static int reference_accepts(const char *s)
{
	static const char max[] = "9223372036854775807";
	size_t i, n;
	const char *z;

	if (strncmp(s, "sha256:", 7) != 0)
		return 0;
	for (i = 0; i < 64; i++)
		if (!is_hex(s[7 + i]))
			return 0;
	if (s[71] != ':')
		return 0;
	z = s + 72;
	n = strlen(z);
	if (n == 0 || (n > 1 && z[0] == '0'))
		return 0;
	for (i = 0; i < n; i++)
		if (z[i] < '0' || z[i] > '9')
			return 0;
	if (n > sizeof(max) - 1 || (n == sizeof(max) - 1 && strcmp(z, max) > 0))
		return 0;
	return 1;
}

static void check_message(void)
{
	const char *m = gv_error_last();
	size_t i;

	CHECK(m[0] != '\0');
	for (i = 0; m[i]; i++)
		CHECK((unsigned char)m[i] >= 0x20 && m[i] != 0x7f);
}

static void check_text(const char *s)
{
	char buf[GV_KEY_BUFSIZE], again[GV_KEY_BUFSIZE];
	gv_key k, k2;
	int rc, ref;
	size_t i, len;

	memset(&k, 0, sizeof(k));
	rc = gv_key_parse(&k, s);
	ref = reference_accepts(s);
	CHECK((rc == 0) == ref);
	if (rc != 0) {
		CHECK(rc == GV_EINVAL);
		check_message();
		return;
	}
	CHECK(k.size <= (uint64_t)INT64_MAX);
	gv_key_format(buf, &k);
	len = strlen(buf);
	CHECK(len <= GV_KEY_STRLEN_MAX);
	/* canonical text: the input with the hex lowercased */
	CHECK(len == strlen(s));
	for (i = 0; i < len; i++)
		CHECK(buf[i] == (char)tolower((unsigned char)s[i]));
	memset(&k2, 0xa5, sizeof(k2));
	CHECK(gv_key_parse(&k2, buf) == 0);
	CHECK(gv_key_cmp(&k, &k2) == 0);
	CHECK(memcmp(&k, &k2, sizeof(k)) == 0);
	CHECK(strcmp(gv_key_format(again, &k2), buf) == 0);
	CHECK(strncmp(gv_key_hex(again, &k), buf + 7, 64) == 0);
}

static void check_raw(const uint8_t *data, size_t size)
{
	char buf[GV_KEY_BUFSIZE];
	gv_key a, b, p;
	int ab, ba;

	if (size < 2 * (GV_DIGEST_LEN + 8))
		return;
	memcpy(a.digest, data, GV_DIGEST_LEN);
	memcpy(&a.size, data + GV_DIGEST_LEN, 8);
	memcpy(b.digest, data + GV_DIGEST_LEN + 8, GV_DIGEST_LEN);
	memcpy(&b.size, data + 2 * GV_DIGEST_LEN + 8, 8);

	gv_key_format(buf, &a);
	CHECK(strlen(buf) <= GV_KEY_STRLEN_MAX);
	if (a.size <= (uint64_t)INT64_MAX) {
		CHECK(gv_key_parse(&p, buf) == 0);
		CHECK(gv_key_cmp(&a, &p) == 0);
	} else {
		CHECK(gv_key_parse(&p, buf) == GV_EINVAL);
	}

	ab = gv_key_cmp(&a, &b);
	ba = gv_key_cmp(&b, &a);
	CHECK(ab == -ba);
	CHECK(ab >= -1 && ab <= 1);
	CHECK((ab == 0) == (memcmp(a.digest, b.digest, GV_DIGEST_LEN) == 0 &&
	                    a.size == b.size));
	CHECK(gv_key_cmp(&a, &a) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_text(s);
	free(s);
	check_raw(data, size);
	return 0;
}
