/*
 * key.c - parse and format content addresses "sha256:<hex>:<size>".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "graviton/key.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "'x'" for a printable character, "byte 0x0a" for anything else. */
static const char *show_char(char buf[16], char ch)
{
	unsigned char u = (unsigned char)ch;

	if (u >= 0x20 && u < 0x7f)
		snprintf(buf, 16, "'%c'", ch);
	else
		snprintf(buf, 16, "byte 0x%02x", u);
	return buf;
}

int gv_key_parse(gv_key *out, const char *s)
{
	static const char prefix[] = "sha256:";
	const size_t plen = sizeof(prefix) - 1;
	size_t len, i;
	uint64_t size = 0;
	const char *p;
	char c[16];
	gv_key k;

	if (!s || !*s)
		return gv_error_set(GV_EINVAL, "invalid key: empty");
	len = strnlen(s, GV_KEY_STRLEN_MAX + 1);
	if (len > GV_KEY_STRLEN_MAX)
		return gv_error_set(GV_EINVAL, "invalid key: longer than %d characters",
		                    GV_KEY_STRLEN_MAX);
	if (strncmp(s, prefix, plen) != 0)
		return gv_error_set(GV_EINVAL,
		                    "invalid key '%s': must start with 'sha256:'", s);
	p = s + plen;
	for (i = 0; i < 64; i++) {
		int hi, lo;

		if (p[i] == '\0' || p[i] == ':')
			return gv_error_set(GV_EINVAL,
			                    "invalid key '%s': digest has %zu hex digits, expected 64",
			                    s, i);
		hi = hexval(p[i]);
		if (hi < 0)
			return gv_error_set(GV_EINVAL,
			                    "invalid key '%s': %s at position %zu is not a hex digit",
			                    s, show_char(c, p[i]), plen + i + 1);
		if (i % 2 == 0) {
			k.digest[i / 2] = (uint8_t)(hi << 4);
		} else {
			lo = hi;
			k.digest[i / 2] |= (uint8_t)lo;
		}
	}
	p += 64;
	if (*p == '\0')
		return gv_error_set(GV_EINVAL,
		                    "invalid key '%s': missing ':<size>' after the digest", s);
	if (hexval(*p) >= 0)
		return gv_error_set(GV_EINVAL,
		                    "invalid key '%s': digest longer than 64 hex digits", s);
	if (*p != ':')
		return gv_error_set(GV_EINVAL,
		                    "invalid key '%s': expected ':' after the digest, found %s",
		                    s, show_char(c, *p));
	p++;
	if (*p == '\0')
		return gv_error_set(GV_EINVAL, "invalid key '%s': empty size", s);
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return gv_error_set(GV_EINVAL, "invalid key '%s': size has a leading zero", s);
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return gv_error_set(GV_EINVAL,
			                    "invalid key '%s': size must be decimal digits, found %s",
			                    s, show_char(c, *p));
		if (size > (uint64_t)(INT64_MAX - (*p - '0')) / 10)
			return gv_error_set(GV_EINVAL, "invalid key '%s': size out of range", s);
		size = size * 10 + (uint64_t)(*p - '0');
	}
	k.size = size;
	*out = k;
	return 0;
}

char *gv_key_hex(char *buf, const gv_key *key)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < GV_DIGEST_LEN; i++) {
		buf[2 * i] = digits[key->digest[i] >> 4];
		buf[2 * i + 1] = digits[key->digest[i] & 0xf];
	}
	buf[64] = '\0';
	return buf;
}

char *gv_key_format(char *buf, const gv_key *key)
{
	char hex[GV_HEX_BUFSIZE];

	snprintf(buf, GV_KEY_BUFSIZE, "sha256:%s:%llu", gv_key_hex(hex, key),
	         (unsigned long long)key->size);
	return buf;
}

int gv_key_cmp(const gv_key *a, const gv_key *b)
{
	int c = memcmp(a->digest, b->digest, GV_DIGEST_LEN);

	if (c)
		return c < 0 ? -1 : 1;
	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	return 0;
}
