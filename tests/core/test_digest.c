/*
 * test_digest.c - SHA-256 against the FIPS 180-2 vectors, streaming in
 * random chunk sizes against one-shot, and keys of buffers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/digest.h"

static uint64_t rng_state = 0xd1b54a32d192ed03ULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void hex(char out[65], const uint8_t d[GV_DIGEST_LEN])
{
	size_t i;

	for (i = 0; i < GV_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void expect_digest(const void *buf, size_t len, const char *want)
{
	uint8_t d[GV_DIGEST_LEN];
	char h[65];
	gv_sha256 *ctx;

	assert_int_equal(gv_sha256_buf(d, buf, len), 0);
	hex(h, d);
	assert_string_equal(h, want);

	assert_int_equal(gv_sha256_new(&ctx), 0);
	assert_int_equal(gv_sha256_update(ctx, buf, len), 0);
	memset(d, 0, sizeof(d));
	assert_int_equal(gv_sha256_final(ctx, d), 0);
	hex(h, d);
	assert_string_equal(h, want);
	gv_sha256_free(ctx);
}

static void test_vectors(void **state)
{
	(void)state;
	expect_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	expect_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	expect_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	expect_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	              "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 112,
	              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
	static const char want[] =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	size_t n = 1000000, done;
	char *buf = malloc(n);
	uint8_t d[GV_DIGEST_LEN];
	char h[65];
	gv_sha256 *ctx;

	(void)state;
	assert_non_null(buf);
	memset(buf, 'a', n);
	expect_digest(buf, n, want);

	/* the same million, fed one byte at a time and then in odd pieces */
	assert_int_equal(gv_sha256_new(&ctx), 0);
	for (done = 0; done < n; done++)
		assert_int_equal(gv_sha256_update(ctx, "a", 1), 0);
	assert_int_equal(gv_sha256_final(ctx, d), 0);
	hex(h, d);
	assert_string_equal(h, want);

	assert_int_equal(gv_sha256_reset(ctx), 0);
	for (done = 0; done < n;) {
		size_t k = 1 + (size_t)(rng() % 9973);

		if (k > n - done)
			k = n - done;
		assert_int_equal(gv_sha256_update(ctx, buf + done, k), 0);
		done += k;
	}
	assert_int_equal(gv_sha256_final(ctx, d), 0);
	hex(h, d);
	assert_string_equal(h, want);
	gv_sha256_free(ctx);
	free(buf);
}

static void test_streaming_random(void **state)
{
	size_t cap = 300000;
	uint8_t *buf = malloc(cap);
	gv_sha256 *ctx;
	size_t i;
	int round;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i < cap; i++)
		buf[i] = (uint8_t)rng();
	assert_int_equal(gv_sha256_new(&ctx), 0);
	for (round = 0; round < 200; round++) {
		uint8_t one[GV_DIGEST_LEN], many[GV_DIGEST_LEN];
		/* lengths around block boundaries and some long ones */
		size_t len = round < 130 ? (size_t)round : (size_t)(rng() % cap);
		size_t done = 0;

		assert_int_equal(gv_sha256_buf(one, buf, len), 0);
		/* a context used again after final, with or without a reset, must
		 * not remember the last message */
		if (round % 3 == 0)
			assert_int_equal(gv_sha256_reset(ctx), 0);
		else if (round % 3 == 1)
			assert_int_equal(gv_sha256_update(ctx, buf, 0), 0);
		while (done < len) {
			size_t k;

			switch (rng() % 4) {
			case 0: k = 0; break;
			case 1: k = 1 + rng() % 64; break;
			case 2: k = 64; break;
			default: k = 1 + rng() % 70000; break;
			}
			if (k > len - done)
				k = len - done;
			assert_int_equal(gv_sha256_update(ctx, buf + done, k), 0);
			done += k;
		}
		assert_int_equal(gv_sha256_final(ctx, many), 0);
		assert_memory_equal(one, many, GV_DIGEST_LEN);
	}
	gv_sha256_free(ctx);
	gv_sha256_free(NULL);
	free(buf);
}

static void test_key_of_buf(void **state)
{
	gv_key k, parsed;
	char text[GV_KEY_BUFSIZE];

	(void)state;
	assert_int_equal(gv_key_of_buf(&k, "abc", 3), 0);
	assert_int_equal(k.size, 3);
	assert_string_equal(gv_key_format(text, &k),
	                    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad:3");
	assert_int_equal(gv_key_parse(&parsed, text), 0);
	assert_int_equal(gv_key_cmp(&k, &parsed), 0);

	assert_int_equal(gv_key_of_buf(&k, "", 0), 0);
	assert_int_equal(k.size, 0);
	assert_string_equal(gv_key_format(text, &k),
	                    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:0");
	/* the empty blob may come without a buffer */
	memset(&parsed, 0xff, sizeof(parsed));
	assert_int_equal(gv_key_of_buf(&parsed, NULL, 0), 0);
	assert_int_equal(gv_key_cmp(&k, &parsed), 0);

	/* the size is part of the key: same bytes, different length */
	{
		gv_key k2;

		assert_int_equal(gv_key_of_buf(&k2, "abcd", 3), 0);
		assert_int_equal(gv_key_of_buf(&k, "abc", 3), 0);
		assert_int_equal(gv_key_cmp(&k, &k2), 0);
		assert_int_equal(gv_key_of_buf(&k2, "abcd", 4), 0);
		assert_int_not_equal(gv_key_cmp(&k, &k2), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_streaming_random),
		cmocka_unit_test(test_key_of_buf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
