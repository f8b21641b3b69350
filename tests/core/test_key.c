/*
 * test_key.c - content address parsing, formatting and ordering.
 *
 * Every rejection is checked for GV_EINVAL and for a message that names the
 * fault, since the message is what an operator sees.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graviton/key.h"

#define HEX_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Fixed-seed xorshift so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/* Parse must fail with GV_EINVAL and a message containing `word`. */
static void expect_reject(const char *s, const char *word)
{
	gv_key k;
	int rc;

	gv_error_clear();
	rc = gv_key_parse(&k, s);
	if (rc != GV_EINVAL) {
		print_error("input '%s': expected GV_EINVAL, got %d\n", s ? s : "(null)", rc);
		fail();
	}
	if (!strstr(gv_error_last(), word)) {
		print_error("input '%.100s': message '%s' lacks '%s'\n", s ? s : "(null)",
		            gv_error_last(), word);
		fail();
	}
	/* Messages are one line, whatever the input held. */
	assert_null(strchr(gv_error_last(), '\n'));
}

static void test_round_trip_known(void **state)
{
	static const char *keys[] = {
		"sha256:" HEX_EMPTY ":0",
		"sha256:" HEX_ABC ":3",
		"sha256:0000000000000000000000000000000000000000000000000000000000000000:1",
		"sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff:10",
		"sha256:" HEX_ABC ":9223372036854775807",
	};
	char buf[GV_KEY_BUFSIZE];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		gv_key k;

		assert_int_equal(gv_key_parse(&k, keys[i]), 0);
		assert_string_equal(gv_key_format(buf, &k), keys[i]);
		assert_true(strlen(buf) <= GV_KEY_STRLEN_MAX);
	}
}

static void test_round_trip_fields(void **state)
{
	gv_key k;
	char hex[GV_HEX_BUFSIZE];

	(void)state;
	assert_int_equal(gv_key_parse(&k, "sha256:" HEX_ABC ":3"), 0);
	assert_int_equal(k.size, 3);
	assert_int_equal(k.digest[0], 0xba);
	assert_int_equal(k.digest[31], 0xad);
	assert_string_equal(gv_key_hex(hex, &k), HEX_ABC);

	assert_int_equal(gv_key_parse(&k, "sha256:" HEX_ABC ":9223372036854775807"), 0);
	assert_true(k.size == (uint64_t)INT64_MAX);
}

static void test_round_trip_random(void **state)
{
	char buf[GV_KEY_BUFSIZE], again[GV_KEY_BUFSIZE];
	int n;

	(void)state;
	for (n = 0; n < 5000; n++) {
		gv_key k, p;
		size_t i;

		for (i = 0; i < GV_DIGEST_LEN; i++)
			k.digest[i] = (uint8_t)rng();
		switch (n % 4) {
		case 0: k.size = rng() >> 1; break;           /* up to INT64_MAX */
		case 1: k.size = rng() % 1000; break;
		case 2: k.size = (uint64_t)INT64_MAX - rng() % 3; break;
		default: k.size = rng() >> (1 + rng() % 63); break;
		}
		gv_key_format(buf, &k);
		assert_int_equal(gv_key_parse(&p, buf), 0);
		assert_int_equal(gv_key_cmp(&k, &p), 0);
		assert_memory_equal(k.digest, p.digest, GV_DIGEST_LEN);
		assert_true(k.size == p.size);
		assert_string_equal(gv_key_format(again, &p), buf);
	}
}

static void test_uppercase_normalised(void **state)
{
	char upper[GV_KEY_BUFSIZE], mixed[GV_KEY_BUFSIZE], buf[GV_KEY_BUFSIZE];
	gv_key a, b, c;
	size_t i;

	(void)state;
	snprintf(upper, sizeof(upper), "sha256:%s:3", HEX_ABC);
	snprintf(mixed, sizeof(mixed), "sha256:%s:3", HEX_ABC);
	for (i = 7; i < 7 + 64; i++) {
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
		if (i % 2 && mixed[i] >= 'a' && mixed[i] <= 'f')
			mixed[i] = (char)(mixed[i] - 'a' + 'A');
	}
	assert_int_equal(gv_key_parse(&a, "sha256:" HEX_ABC ":3"), 0);
	assert_int_equal(gv_key_parse(&b, upper), 0);
	assert_int_equal(gv_key_parse(&c, mixed), 0);
	assert_int_equal(gv_key_cmp(&a, &b), 0);
	assert_int_equal(gv_key_cmp(&a, &c), 0);
	assert_string_equal(gv_key_format(buf, &b), "sha256:" HEX_ABC ":3");
	assert_string_equal(gv_key_format(buf, &c), "sha256:" HEX_ABC ":3");
}

static void test_reject_empty(void **state)
{
	(void)state;
	expect_reject(NULL, "empty");
	expect_reject("", "empty");
}

static void test_reject_prefix(void **state)
{
	(void)state;
	expect_reject("SHA256:" HEX_ABC ":3", "sha256:");
	expect_reject("Sha256:" HEX_ABC ":3", "sha256:");
	expect_reject("md5:900150983cd24fb0d6963f7d28e17f72:3", "sha256:");
	expect_reject("sha1:" HEX_ABC ":3", "sha256:");
	expect_reject("sha256" HEX_ABC ":3", "sha256:");
	expect_reject(HEX_ABC ":3", "sha256:");
	expect_reject("sha256:", "hex digits");
	expect_reject("sha", "sha256:");
}

static void test_reject_digest_length(void **state)
{
	char s[256];

	(void)state;
	/* 63 digits, then the size */
	snprintf(s, sizeof(s), "sha256:%.63s:3", HEX_ABC);
	expect_reject(s, "63 hex digits");
	/* 65 digits */
	snprintf(s, sizeof(s), "sha256:%sa:3", HEX_ABC);
	expect_reject(s, "longer than 64");
	/* 128 digits: still names the digest, not the overall length */
	snprintf(s, sizeof(s), "sha256:%s%s:3", HEX_ABC, HEX_ABC);
	expect_reject(s, "longer");
	/* no digest at all */
	expect_reject("sha256::3", "0 hex digits");
	/* 63 digits and the end of the string */
	snprintf(s, sizeof(s), "sha256:%.63s", HEX_ABC);
	expect_reject(s, "63 hex digits");
}

static void test_reject_non_hex(void **state)
{
	char s[256];
	size_t i;
	static const char bad[] = "gGzZ-+ x/.:\x7f\x80\xff";

	(void)state;
	for (i = 0; i < sizeof(bad) - 1; i++) {
		snprintf(s, sizeof(s), "sha256:%s:3", HEX_ABC);
		s[7 + 10] = bad[i];
		if (bad[i] == ':')
			expect_reject(s, "10 hex digits");
		else
			expect_reject(s, "not a hex digit");
	}
	/* the position is 1-based and counts from the start of the key */
	snprintf(s, sizeof(s), "sha256:%s:3", HEX_ABC);
	s[7] = 'x';
	expect_reject(s, "position 8");
}

static void test_reject_size(void **state)
{
	(void)state;
	expect_reject("sha256:" HEX_ABC, "missing");
	expect_reject("sha256:" HEX_ABC ":", "empty size");
	expect_reject("sha256:" HEX_ABC ":01", "leading zero");
	expect_reject("sha256:" HEX_ABC ":00", "leading zero");
	expect_reject("sha256:" HEX_ABC ":+5", "decimal");
	expect_reject("sha256:" HEX_ABC ":-1", "decimal");
	expect_reject("sha256:" HEX_ABC ":0x10", "decimal");
	expect_reject("sha256:" HEX_ABC ":1e3", "decimal");
	expect_reject("sha256:" HEX_ABC ":9223372036854775808", "out of range");
	expect_reject("sha256:" HEX_ABC ":9999999999999999999", "out of range");
	expect_reject("sha256:" HEX_ABC ":18446744073709551615", "out of range");
	expect_reject("sha256:" HEX_ABC ":18446744073709551616", "out of range");
	expect_reject("sha256:" HEX_ABC ":99999999999999999999", "out of range");
}

static void test_reject_trailing_and_spaces(void **state)
{
	(void)state;
	expect_reject("sha256:" HEX_ABC ":3x", "decimal");
	expect_reject("sha256:" HEX_ABC ":3:", "decimal");
	expect_reject("sha256:" HEX_ABC ":3:4", "decimal");
	expect_reject("sha256:" HEX_ABC ":3 ", "decimal");
	expect_reject("sha256:" HEX_ABC ":3\n", "decimal");
	expect_reject("sha256:" HEX_ABC ": 3", "decimal");
	expect_reject(" sha256:" HEX_ABC ":3", "sha256:");
	expect_reject("sha256: " HEX_ABC ":3", "not a hex digit");
	/* after exactly 64 digits, a character that is not ':' */
	expect_reject("sha256:" HEX_ABC " :3", "expected ':'");
	expect_reject("sha256:" HEX_ABC "/3", "expected ':'");
	expect_reject("sha256:" HEX_ABC "\n:3", "expected ':'");
}

static void test_reject_truncated_by_nul(void **state)
{
	char s[GV_KEY_BUFSIZE];
	gv_key k;

	(void)state;
	/* A NUL inside the digest ends the string there. */
	snprintf(s, sizeof(s), "sha256:%s:3", HEX_ABC);
	s[7 + 40] = '\0';
	expect_reject(s, "40 hex digits");
	/* A NUL after the colon leaves an empty size. */
	snprintf(s, sizeof(s), "sha256:%s:3", HEX_ABC);
	s[7 + 64 + 1] = '\0';
	expect_reject(s, "empty size");
	/* A NUL inside the size silently shortens it: "12\0" + "3" is 12. */
	snprintf(s, sizeof(s), "sha256:%s:123", HEX_ABC);
	s[7 + 64 + 3] = '\0';
	assert_int_equal(gv_key_parse(&k, s), 0);
	assert_int_equal(k.size, 12);
}

static void test_reject_long(void **state)
{
	size_t n = 10 * 1024, i;
	char *s = malloc(n + 1);
	char key[GV_KEY_BUFSIZE + 8];

	(void)state;
	assert_non_null(s);
	/* 10 KB of hex after a valid prefix */
	memcpy(s, "sha256:", 7);
	for (i = 7; i < n; i++)
		s[i] = "0123456789abcdef"[i % 16];
	s[n] = '\0';
	expect_reject(s, "longer than");
	/* a valid key followed by 10 KB of digits in the size */
	snprintf(s, n + 1, "sha256:%s:", HEX_ABC);
	for (i = strlen(s); i < n; i++)
		s[i] = '1';
	s[n] = '\0';
	expect_reject(s, "longer than");
	/* 10 KB of junk */
	memset(s, 'z', n);
	s[n] = '\0';
	expect_reject(s, "longer than");
	free(s);

	/* one character over the maximum */
	snprintf(key, sizeof(key), "sha256:%s:%s", HEX_ABC, "123456789012345678901");
	assert_int_equal(strlen(key), GV_KEY_STRLEN_MAX + 1);
	expect_reject(key, "longer than");
	/* exactly the maximum length, but a size too large */
	snprintf(key, sizeof(key), "sha256:%s:%s", HEX_ABC, "12345678901234567890");
	assert_int_equal(strlen(key), GV_KEY_STRLEN_MAX);
	expect_reject(key, "out of range");
}

static void test_reject_format_chars(void **state)
{
	/* printf directives in the input are echoed, never interpreted */
	(void)state;
	expect_reject("%s%s%s%n", "sha256:");
	expect_reject("sha256:%s" HEX_ABC ":3", "not a hex digit");
	expect_reject("sha256:" HEX_ABC ":%d", "decimal");
}

static void test_cmp(void **state)
{
	gv_key a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(gv_key_cmp(&a, &b), 0);

	/* size breaks ties numerically, not as text: 9 < 10 */
	a.size = 9;
	b.size = 10;
	assert_true(gv_key_cmp(&a, &b) < 0);
	assert_true(gv_key_cmp(&b, &a) > 0);

	/* the digest decides before the size */
	a.digest[0] = 1;
	a.size = 0;
	b.digest[0] = 0;
	b.size = UINT64_MAX;
	assert_true(gv_key_cmp(&a, &b) > 0);
	assert_true(gv_key_cmp(&b, &a) < 0);

	/* the digest compares as unsigned bytes, first byte most significant */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.digest[0] = 0x80;
	b.digest[31] = 0xff;
	assert_true(gv_key_cmp(&a, &b) > 0);
	a.digest[0] = 0x00;
	a.digest[30] = 0x01;
	assert_true(gv_key_cmp(&a, &b) > 0);

	/* the results are -1, 0, 1 */
	assert_int_equal(gv_key_cmp(&a, &b), 1);
	assert_int_equal(gv_key_cmp(&b, &a), -1);
}

static int cmp_qsort(const void *x, const void *y)
{
	return gv_key_cmp(x, y);
}

static void test_cmp_matches_text_order(void **state)
{
	/* For keys of equal size the order is that of their lowercase hex. */
	enum { N = 500 };
	gv_key *keys = calloc(N, sizeof(*keys));
	size_t i, j;

	(void)state;
	assert_non_null(keys);
	for (i = 0; i < N; i++) {
		for (j = 0; j < GV_DIGEST_LEN; j++)
			keys[i].digest[j] = (uint8_t)(rng() % 4); /* many shared prefixes */
		keys[i].size = rng() % 3;
	}
	qsort(keys, N, sizeof(*keys), cmp_qsort);
	for (i = 1; i < N; i++) {
		char ha[GV_HEX_BUFSIZE], hb[GV_HEX_BUFSIZE];
		int c;

		gv_key_hex(ha, &keys[i - 1]);
		gv_key_hex(hb, &keys[i]);
		c = strcmp(ha, hb);
		assert_true(c <= 0);
		if (c == 0)
			assert_true(keys[i - 1].size <= keys[i].size);
		assert_true(gv_key_cmp(&keys[i - 1], &keys[i]) <= 0);
		assert_true(gv_key_cmp(&keys[i], &keys[i - 1]) >= 0);
	}
	free(keys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_known),
		cmocka_unit_test(test_round_trip_fields),
		cmocka_unit_test(test_round_trip_random),
		cmocka_unit_test(test_uppercase_normalised),
		cmocka_unit_test(test_reject_empty),
		cmocka_unit_test(test_reject_prefix),
		cmocka_unit_test(test_reject_digest_length),
		cmocka_unit_test(test_reject_non_hex),
		cmocka_unit_test(test_reject_size),
		cmocka_unit_test(test_reject_trailing_and_spaces),
		cmocka_unit_test(test_reject_truncated_by_nul),
		cmocka_unit_test(test_reject_long),
		cmocka_unit_test(test_reject_format_chars),
		cmocka_unit_test(test_cmp),
		cmocka_unit_test(test_cmp_matches_text_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
