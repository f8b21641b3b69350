/*
 * test_rangeset.c - range sets against a brute-force bitmap model.
 *
 * The model is one byte per position over a small universe; thousands of
 * random operations (fixed seed) are applied to both and compared after
 * each, together with the representation invariants: ranges non-empty,
 * sorted, disjoint and non-adjacent.  Then the text forms and the HTTP
 * range parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graviton/rangeset.h"

#define U 96 /* model universe: positions 0..U-1 */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static uint64_t rnd(uint64_t n)
{
	return rng() % n;
}

static void check_invariants(const gv_rangeset *rs)
{
	size_t i;

	assert_true(rs->n <= rs->cap);
	assert_true(rs->n <= GV_RANGESET_MAX);
	if (rs->n)
		assert_non_null(rs->r);
	for (i = 0; i < rs->n; i++) {
		if (rs->r[i].start >= rs->r[i].end) {
			print_error("range %zu is empty: [%llu,%llu)\n", i,
			            (unsigned long long)rs->r[i].start,
			            (unsigned long long)rs->r[i].end);
			fail();
		}
		/* strictly less: touching ranges must have been merged */
		if (i > 0 && !(rs->r[i - 1].end < rs->r[i].start)) {
			print_error("ranges %zu and %zu overlap or touch\n", i - 1, i);
			fail();
		}
	}
}

/* Set and model hold the same positions. */
static void check_model(const gv_rangeset *rs, const uint8_t m[U])
{
	uint8_t got[U];
	size_t i;
	uint64_t p;

	check_invariants(rs);
	memset(got, 0, sizeof(got));
	for (i = 0; i < rs->n; i++) {
		assert_true(rs->r[i].end <= U);
		for (p = rs->r[i].start; p < rs->r[i].end; p++)
			got[p] = 1;
	}
	for (p = 0; p < U; p++) {
		if (got[p] != m[p]) {
			print_error("position %llu: set has %d, model has %d\n",
			            (unsigned long long)p, got[p], m[p]);
			fail();
		}
	}
}

static void model_fill(uint8_t m[U], uint64_t s, uint64_t e, uint8_t v)
{
	for (; s < e && s < U; s++)
		m[s] = v;
}

/* A random range inside [0, U], sometimes empty or reversed. */
static void rand_range(uint64_t *s, uint64_t *e)
{
	*s = rnd(U + 1);
	switch (rnd(8)) {
	case 0: *e = *s; break;                       /* empty */
	case 1: *e = *s ? *s - rnd(*s + 1) : 0; break; /* reversed or empty */
	case 2: *e = *s + 1 <= U ? *s + 1 : U; break;  /* one byte */
	default: *e = *s + rnd(U + 1 - *s); break;
	}
}

static void rand_set(gv_rangeset *rs, uint8_t m[U])
{
	size_t k, n = rnd(6);

	gv_rangeset_clear(rs);
	memset(m, 0, U);
	for (k = 0; k < n; k++) {
		uint64_t s, e;

		rand_range(&s, &e);
		assert_int_equal(gv_rangeset_add(rs, s, e), 0);
		model_fill(m, s, e, 1);
	}
	check_model(rs, m);
}

static void test_model_random(void **state)
{
	gv_rangeset a = GV_RANGESET_INIT, b = GV_RANGESET_INIT, c = GV_RANGESET_INIT;
	uint8_t ma[U], mb[U], mc[U];
	int it;

	(void)state;
	memset(ma, 0, sizeof(ma));
	for (it = 0; it < 20000; it++) {
		uint64_t s, e, p, size, bytes;
		int expect;

		switch (rnd(12)) {
		case 0:
		case 1:
			rand_range(&s, &e);
			assert_int_equal(gv_rangeset_add(&a, s, e), 0);
			model_fill(ma, s, e, 1);
			break;
		case 2:
		case 3:
			rand_range(&s, &e);
			assert_int_equal(gv_rangeset_remove(&a, s, e), 0);
			model_fill(ma, s, e, 0);
			break;
		case 4: /* union, result in a (aliased) or in a fresh set */
			rand_set(&b, mb);
			if (rnd(2)) {
				assert_int_equal(gv_rangeset_union(&a, &a, &b), 0);
			} else if (rnd(2)) {
				/* out aliases the second operand */
				assert_int_equal(gv_rangeset_union(&b, &a, &b), 0);
				assert_int_equal(gv_rangeset_copy(&a, &b), 0);
			} else {
				assert_int_equal(gv_rangeset_union(&c, &a, &b), 0);
				check_invariants(&c);
				assert_int_equal(gv_rangeset_copy(&a, &c), 0);
			}
			for (p = 0; p < U; p++)
				ma[p] |= mb[p];
			break;
		case 5: /* difference */
			rand_set(&b, mb);
			if (rnd(2)) {
				assert_int_equal(gv_rangeset_difference(&a, &a, &b), 0);
				for (p = 0; p < U; p++)
					ma[p] &= (uint8_t)!mb[p];
			} else {
				/* b \ a into c; a keeps its value */
				assert_int_equal(gv_rangeset_difference(&c, &b, &a), 0);
				for (p = 0; p < U; p++)
					mc[p] = mb[p] && !ma[p];
				check_model(&c, mc);
			}
			break;
		case 6: /* complement within a random size */
			size = rnd(U + 1);
			assert_int_equal(gv_rangeset_complement(&c, &a, size), 0);
			for (p = 0; p < U; p++)
				mc[p] = p < size && !ma[p];
			check_model(&c, mc);
			if (rnd(3) == 0) {
				assert_int_equal(gv_rangeset_copy(&a, &c), 0);
				memcpy(ma, mc, U);
			}
			break;
		case 7: /* contains */
			rand_range(&s, &e);
			expect = 1;
			for (p = s; p < e; p++)
				if (!ma[p])
					expect = 0;
			assert_int_equal(gv_rangeset_contains(&a, s, e), expect);
			break;
		case 8: /* is_full */
			size = rnd(4) == 0 ? rnd(U + 1) : 0;
			if (size == 0 && a.n)
				size = a.r[a.n - 1].end; /* the interesting candidate */
			expect = 1;
			for (p = 0; p < U; p++)
				if (ma[p] != (p < size))
					expect = 0;
			assert_int_equal(gv_rangeset_is_full(&a, size), expect);
			break;
		case 9: /* bytes and equal */
			bytes = 0;
			for (p = 0; p < U; p++)
				bytes += ma[p];
			assert_int_equal(gv_rangeset_bytes(&a), bytes);
			rand_set(&b, mb);
			assert_int_equal(gv_rangeset_equal(&a, &b), memcmp(ma, mb, U) == 0);
			assert_int_equal(gv_rangeset_copy(&b, &a), 0);
			assert_true(gv_rangeset_equal(&a, &b));
			assert_true(gv_rangeset_equal(&b, &a));
			break;
		case 10: { /* text round trip */
			char *txt = gv_rangeset_format(&a);

			assert_non_null(txt);
			assert_int_equal(gv_rangeset_parse(&b, txt), 0);
			assert_true(gv_rangeset_equal(&a, &b));
			free(txt);
			break;
		}
		default:
			if (rnd(20) == 0) {
				gv_rangeset_clear(&a);
				memset(ma, 0, U);
			}
			break;
		}
		check_model(&a, ma);
	}
	gv_rangeset_free(&a);
	gv_rangeset_free(&b);
	gv_rangeset_free(&c);
}

static void test_basic_edits(void **state)
{
	gv_rangeset rs = GV_RANGESET_INIT;

	(void)state;
	/* touching ranges merge */
	assert_int_equal(gv_rangeset_add(&rs, 0, 10), 0);
	assert_int_equal(gv_rangeset_add(&rs, 10, 20), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].end, 20);
	/* a range bridging two merges all three */
	assert_int_equal(gv_rangeset_add(&rs, 30, 40), 0);
	assert_int_equal(rs.n, 2);
	assert_int_equal(gv_rangeset_add(&rs, 20, 30), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].start, 0);
	assert_int_equal(rs.r[0].end, 40);
	/* remove splits, then empties */
	assert_int_equal(gv_rangeset_remove(&rs, 10, 20), 0);
	assert_int_equal(rs.n, 2);
	assert_int_equal(gv_rangeset_remove(&rs, 0, 100), 0);
	assert_int_equal(rs.n, 0);
	/* empty and reversed ranges are ignored */
	assert_int_equal(gv_rangeset_add(&rs, 5, 5), 0);
	assert_int_equal(gv_rangeset_add(&rs, 6, 5), 0);
	assert_int_equal(rs.n, 0);
	assert_int_equal(gv_rangeset_contains(&rs, 7, 7), 1);
	assert_int_equal(gv_rangeset_contains(&rs, 7, 8), 0);
	assert_int_equal(gv_rangeset_is_full(&rs, 0), 1);
	assert_int_equal(gv_rangeset_is_full(&rs, 1), 0);
	/* the far end of the number line */
	assert_int_equal(gv_rangeset_add(&rs, UINT64_MAX - 1, UINT64_MAX), 0);
	assert_int_equal(gv_rangeset_add(&rs, 0, UINT64_MAX - 1), 0);
	assert_int_equal(rs.n, 1);
	assert_true(gv_rangeset_is_full(&rs, UINT64_MAX));
	assert_true(gv_rangeset_bytes(&rs) == UINT64_MAX);
	assert_true(gv_rangeset_contains(&rs, 0, UINT64_MAX));
	gv_rangeset_free(&rs);
	gv_rangeset_free(&rs); /* free leaves it reusable */
	gv_rangeset_free(NULL);
	assert_int_equal(gv_rangeset_add(&rs, 1, 2), 0);
	gv_rangeset_free(&rs);
}

static void test_copy_and_empty(void **state)
{
	gv_rangeset a = GV_RANGESET_INIT, b = GV_RANGESET_INIT, c;

	(void)state;
	gv_rangeset_init(&c);
	assert_int_equal(gv_rangeset_copy(&b, &a), 0);
	assert_int_equal(b.n, 0);
	assert_true(gv_rangeset_equal(&a, &b));
	assert_int_equal(gv_rangeset_union(&c, &a, &b), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(gv_rangeset_complement(&c, &a, 0), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(gv_rangeset_complement(&c, &a, 100), 0);
	assert_true(gv_rangeset_is_full(&c, 100));
	assert_int_equal(gv_rangeset_copy(&c, &c), 0);
	assert_true(gv_rangeset_is_full(&c, 100));
	/* complement of a set reaching past size stops at size */
	assert_int_equal(gv_rangeset_add(&a, 50, 500), 0);
	assert_int_equal(gv_rangeset_complement(&c, &a, 100), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.r[0].start, 0);
	assert_int_equal(c.r[0].end, 50);
	gv_rangeset_free(&a);
	gv_rangeset_free(&b);
	gv_rangeset_free(&c);
}

static void test_limit(void **state)
{
	gv_rangeset rs = GV_RANGESET_INIT, other = GV_RANGESET_INIT, out = GV_RANGESET_INIT;
	uint64_t i;

	(void)state;
	for (i = 0; i < GV_RANGESET_MAX; i++)
		assert_int_equal(gv_rangeset_add(&rs, 4 * i, 4 * i + 1), 0);
	assert_int_equal(rs.n, GV_RANGESET_MAX);
	check_invariants(&rs);

	/* one more disjoint range is refused and the set is unchanged */
	assert_int_equal(gv_rangeset_add(&rs, 4 * i + 10, 4 * i + 11), GV_EINVAL);
	assert_int_equal(rs.n, GV_RANGESET_MAX);
	assert_int_equal(gv_rangeset_add(&rs, 2, 3), GV_EINVAL);
	assert_int_equal(rs.n, GV_RANGESET_MAX);
	check_invariants(&rs);
	/* growing or merging existing ranges is still fine */
	assert_int_equal(gv_rangeset_add(&rs, 1, 2), 0);
	assert_int_equal(gv_rangeset_add(&rs, 0, 4), 0);
	assert_int_equal(rs.n, GV_RANGESET_MAX - 1);
	assert_int_equal(gv_rangeset_add(&rs, 100000, 100001), 0);
	assert_int_equal(rs.n, GV_RANGESET_MAX);
	/* removing from the middle of a range would need a split */
	assert_int_equal(gv_rangeset_add(&rs, 0, 3), 0); /* [0,5) after merge */
	assert_int_equal(gv_rangeset_remove(&rs, 1, 2), GV_EINVAL);
	check_invariants(&rs);
	assert_int_equal(gv_rangeset_remove(&rs, 0, 1), 0);
	check_invariants(&rs);

	/* a union that would exceed the limit fails and leaves out alone */
	assert_int_equal(gv_rangeset_add(&other, 1000000, 1000001), 0);
	assert_int_equal(gv_rangeset_add(&other, 2000000, 2000001), 0);
	assert_int_equal(gv_rangeset_add(&out, 7, 9), 0);
	assert_int_equal(gv_rangeset_union(&out, &rs, &other), GV_EINVAL);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.r[0].start, 7);
	assert_int_equal(gv_rangeset_union(&rs, &rs, &other), GV_EINVAL);
	check_invariants(&rs);

	gv_rangeset_free(&rs);
	gv_rangeset_free(&other);
	gv_rangeset_free(&out);
}

static void expect_parse(const char *s, const char *canonical)
{
	gv_rangeset rs = GV_RANGESET_INIT;
	char *txt;

	if (gv_rangeset_parse(&rs, s) != 0) {
		print_error("'%s' rejected: %s\n", s, gv_error_last());
		fail();
	}
	check_invariants(&rs);
	txt = gv_rangeset_format(&rs);
	assert_non_null(txt);
	assert_string_equal(txt, canonical);
	free(txt);
	gv_rangeset_free(&rs);
}

static void expect_parse_reject(const char *s, const char *word)
{
	gv_rangeset rs = GV_RANGESET_INIT;

	gv_error_clear();
	if (gv_rangeset_parse(&rs, s) != GV_EINVAL) {
		print_error("'%.80s' accepted or wrong code\n", s ? s : "(null)");
		fail();
	}
	if (word && !strstr(gv_error_last(), word)) {
		print_error("'%.80s': message '%s' lacks '%s'\n", s ? s : "(null)",
		            gv_error_last(), word);
		fail();
	}
	gv_rangeset_free(&rs);
}

static void test_text(void **state)
{
	gv_rangeset rs = GV_RANGESET_INIT;
	char *txt;

	(void)state;
	assert_int_equal(gv_rangeset_parse(&rs, "0-1023,4096-8191"), 0);
	assert_int_equal(rs.n, 2);
	assert_int_equal(rs.r[0].start, 0);
	assert_int_equal(rs.r[0].end, 1024);
	assert_int_equal(rs.r[1].start, 4096);
	assert_int_equal(rs.r[1].end, 8192);
	assert_int_equal(gv_rangeset_bytes(&rs), 1024 + 4096);
	txt = gv_rangeset_format(&rs);
	assert_string_equal(txt, "0-1023,4096-8191");
	free(txt);
	gv_rangeset_free(&rs);

	expect_parse("", "");
	expect_parse("0-0", "0-0");
	expect_parse("5-10,0-7", "0-10");
	expect_parse("0-4,5-9", "0-9");
	expect_parse("10-20,0-1,3-3", "0-1,3-3,10-20");
	expect_parse("1-1,1-1", "1-1");
	expect_parse("0-18446744073709551614", "0-18446744073709551614");
	expect_parse("18446744073709551614-18446744073709551614",
	             "18446744073709551614-18446744073709551614");

	/* parsing replaces what the set held */
	assert_int_equal(gv_rangeset_add(&rs, 100, 200), 0);
	assert_int_equal(gv_rangeset_parse(&rs, "0-1"), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].end, 2);
	assert_int_equal(gv_rangeset_parse(&rs, ""), 0);
	assert_int_equal(rs.n, 0);
	gv_rangeset_free(&rs);
}

static void test_text_reject(void **state)
{
	(void)state;
	expect_parse_reject(NULL, NULL);
	expect_parse_reject("5-3", "before");
	expect_parse_reject("a-b", NULL);
	expect_parse_reject("1-", NULL);
	expect_parse_reject("-", NULL);
	expect_parse_reject("-5", NULL);
	expect_parse_reject(",", NULL);
	expect_parse_reject("1-2,", "trailing comma");
	expect_parse_reject(",1-2", NULL);
	expect_parse_reject("1-2,,3-4", NULL);
	expect_parse_reject(" 1-2", NULL);
	expect_parse_reject("1-2 ", NULL);
	expect_parse_reject("1 -2", NULL);
	expect_parse_reject("1- 2", NULL);
	expect_parse_reject("+1-2", NULL);
	expect_parse_reject("1-+2", NULL);
	expect_parse_reject("0x1-2", NULL);
	expect_parse_reject("1-2-3", NULL);
	expect_parse_reject("1-2;3-4", NULL);
	expect_parse_reject("1", NULL);
	expect_parse_reject("1-2\n", NULL);
	/* numbers past 64 bits, and an inclusive end with no exclusive form */
	expect_parse_reject("18446744073709551616-18446744073709551617", "too large");
	expect_parse_reject("1-18446744073709551616", "too large");
	expect_parse_reject("0-99999999999999999999999999", "too large");
	expect_parse_reject("0-18446744073709551615", "too large");
}

static void test_text_limit(void **state)
{
	size_t cap = (GV_RANGESET_MAX + 2) * 24, len, i;
	char *s = malloc(cap);
	gv_rangeset rs = GV_RANGESET_INIT;

	(void)state;
	assert_non_null(s);
	len = 0;
	for (i = 0; i < GV_RANGESET_MAX; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%zu-%zu", i ? "," : "",
		                        3 * i, 3 * i + 1);
	assert_int_equal(gv_rangeset_parse(&rs, s), 0);
	assert_int_equal(rs.n, GV_RANGESET_MAX);
	snprintf(s + len, cap - len, ",%zu-%zu", 3 * i, 3 * i + 1);
	expect_parse_reject(s, "4096");
	/* the refused parse left the previous value */
	assert_int_equal(rs.n, GV_RANGESET_MAX);
	gv_rangeset_free(&rs);
	free(s);
}

static void expect_range(const char *s, uint64_t size, uint64_t start, uint64_t end)
{
	gv_range r;

	if (gv_range_parse(&r, s, size) != 0) {
		print_error("'%s' of %llu rejected: %s\n", s, (unsigned long long)size,
		            gv_error_last());
		fail();
	}
	if (r.start != start || r.end != end) {
		print_error("'%s' of %llu: got [%llu,%llu), want [%llu,%llu)\n", s,
		            (unsigned long long)size, (unsigned long long)r.start,
		            (unsigned long long)r.end, (unsigned long long)start,
		            (unsigned long long)end);
		fail();
	}
}

static void expect_range_reject(const char *s, uint64_t size, const char *word)
{
	gv_range r;

	gv_error_clear();
	if (gv_range_parse(&r, s, size) != GV_EINVAL) {
		print_error("'%s' of %llu accepted\n", s ? s : "(null)", (unsigned long long)size);
		fail();
	}
	if (word && !strstr(gv_error_last(), word)) {
		print_error("'%s': message '%s' lacks '%s'\n", s ? s : "(null)", gv_error_last(),
		            word);
		fail();
	}
}

static void test_http_range(void **state)
{
	(void)state;
	expect_range("0-499", 1000, 0, 500);
	expect_range("500-999", 1000, 500, 1000);
	expect_range("0-0", 1000, 0, 1);
	expect_range("999-999", 1000, 999, 1000);
	expect_range("500-", 1000, 500, 1000);
	expect_range("0-", 1000, 0, 1000);
	expect_range("999-", 1000, 999, 1000);
	expect_range("-100", 1000, 900, 1000);
	expect_range("-1", 1000, 999, 1000);
	expect_range("-1000", 1000, 0, 1000);
	expect_range("-2000", 1000, 0, 1000);
	expect_range("-18446744073709551615", 1000, 0, 1000);
	/* an end past the blob is clamped */
	expect_range("0-5000", 1000, 0, 1000);
	expect_range("10-18446744073709551615", 1000, 10, 1000);
	expect_range("0-0", 1, 0, 1);
	expect_range("0-", UINT64_MAX, 0, UINT64_MAX);
	expect_range("-5", UINT64_MAX, UINT64_MAX - 5, UINT64_MAX);

	/* unsatisfiable */
	expect_range_reject("1000-", 1000, "not satisfiable");
	expect_range_reject("1000-2000", 1000, "not satisfiable");
	expect_range_reject("5000-5001", 1000, "not satisfiable");
	expect_range_reject("0-", 0, "not satisfiable");
	expect_range_reject("0-0", 0, "not satisfiable");
	expect_range_reject("-5", 0, "not satisfiable");
	expect_range_reject("-0", 1000, "empty");

	/* malformed */
	expect_range_reject(NULL, 1000, NULL);
	expect_range_reject("", 1000, "empty");
	expect_range_reject("-", 1000, NULL);
	expect_range_reject("--5", 1000, NULL);
	expect_range_reject("5-3", 1000, "before");
	expect_range_reject("a-b", 1000, NULL);
	expect_range_reject("5", 1000, NULL);
	expect_range_reject("1-2-", 1000, NULL);
	expect_range_reject("0-1,3-4", 1000, NULL);
	expect_range_reject(" 0-1", 1000, NULL);
	expect_range_reject("0-1 ", 1000, NULL);
	expect_range_reject("+0-1", 1000, NULL);
	expect_range_reject("-+5", 1000, NULL);
	expect_range_reject("bytes=0-1", 1000, NULL);
	expect_range_reject("18446744073709551616-", 1000, NULL);
	expect_range_reject("0-18446744073709551616", 1000, NULL);
	expect_range_reject("-18446744073709551616", 1000, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_random),
		cmocka_unit_test(test_basic_edits),
		cmocka_unit_test(test_copy_and_empty),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_text_reject),
		cmocka_unit_test(test_text_limit),
		cmocka_unit_test(test_http_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
