/*
 * rangeset_fuzzer.c - range sets against independent references.
 *
 * Each input is used three ways (abort() on any violation):
 *  1. as text for gv_rangeset_parse, compared with a reference parser that
 *     sorts and merges the ranges itself; an accepted set must keep the
 *     invariants (non-empty, sorted, disjoint, non-adjacent) and survive
 *     format -> parse unchanged;
 *  2. as an HTTP range for gv_range_parse against several blob sizes,
 *     compared with a reference reading of RFC 9110;
 *  3. as a program of set operations over positions 0..63, mirrored on a
 *     64-bit mask.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/rangeset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void check_invariants(const gv_rangeset *rs)
{
	size_t i;

	CHECK(rs->n <= rs->cap && rs->n <= GV_RANGESET_MAX);
	for (i = 0; i < rs->n; i++) {
		CHECK(rs->r[i].start < rs->r[i].end);
		if (i)
			CHECK(rs->r[i - 1].end < rs->r[i].start);
	}
}

static void check_message(void)
{
	const char *m = gv_error_last();
	size_t i;

	CHECK(m[0] != '\0');
	for (i = 0; m[i]; i++)
		CHECK((unsigned char)m[i] >= 0x20 && m[i] != 0x7f);
}

/* Decimal digits at *pp into *out; 0 ok, -1 no digits or over 64 bits. */
static int ref_number(uint64_t *out, const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > UINT64_MAX / 10 || v * 10 > UINT64_MAX - d)
			return -1;
		v = v * 10 + d;
		p++;
	}
	*out = v;
	*pp = p;
	return 0;
}

static int cmp_range(const void *x, const void *y)
{
	const gv_range *a = x, *b = y;

	return a->start < b->start ? -1 : a->start > b->start;
}

/*
 * Reference for the text form: ranges "A-B" (A <= B < 2^64 - 1) joined by
 * single commas, at most GV_RANGESET_MAX of them.  Fills r (caller's array
 * of GV_RANGESET_MAX) with the merged ranges; returns their count or -1.
 */
static long ref_parse(gv_range *r, const char *s)
{
	size_t n = 0, i, m;
	const char *p = s;

	if (*p == '\0')
		return 0;
	for (;;) {
		uint64_t a, b;

		if (ref_number(&a, &p) < 0 || *p++ != '-' || ref_number(&b, &p) < 0)
			return -1;
		if (b < a || b == UINT64_MAX || n == GV_RANGESET_MAX)
			return -1;
		r[n].start = a;
		r[n].end = b + 1;
		n++;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			return -1;
	}
	qsort(r, n, sizeof(*r), cmp_range);
	for (i = 1, m = 0; i < n; i++) {
		if (r[i].start <= r[m].end) {
			if (r[i].end > r[m].end)
				r[m].end = r[i].end;
		} else {
			r[++m] = r[i];
		}
	}
	return (long)(n ? m + 1 : 0);
}

static void check_text(const char *s)
{
	static gv_range ref[GV_RANGESET_MAX];
	gv_rangeset rs = GV_RANGESET_INIT, back = GV_RANGESET_INIT;
	long nref;
	char *txt, *txt2;
	uint64_t bytes = 0;
	size_t i;
	int rc;

	rc = gv_rangeset_parse(&rs, s);
	nref = ref_parse(ref, s);
	CHECK((rc == 0) == (nref >= 0));
	if (rc != 0) {
		CHECK(rc == GV_EINVAL);
		check_message();
		gv_rangeset_free(&rs);
		return;
	}
	check_invariants(&rs);
	CHECK(rs.n == (size_t)nref);
	for (i = 0; i < rs.n; i++) {
		CHECK(rs.r[i].start == ref[i].start && rs.r[i].end == ref[i].end);
		CHECK(gv_rangeset_contains(&rs, ref[i].start, ref[i].end));
		bytes += ref[i].end - ref[i].start;
	}
	CHECK(gv_rangeset_bytes(&rs) == bytes);

	txt = gv_rangeset_format(&rs);
	CHECK(txt != NULL);
	CHECK(gv_rangeset_parse(&back, txt) == 0);
	CHECK(gv_rangeset_equal(&rs, &back));
	txt2 = gv_rangeset_format(&back);
	CHECK(txt2 != NULL && strcmp(txt, txt2) == 0);
	free(txt);
	free(txt2);
	gv_rangeset_free(&rs);
	gv_rangeset_free(&back);
}

/* Reference for one HTTP byte range over a blob of `size` bytes. */
static int ref_range(gv_range *out, const char *s, uint64_t size)
{
	const char *p = s;
	uint64_t a, b;

	if (*p == '-') {
		p++;
		if (ref_number(&b, &p) < 0 || *p || b == 0 || size == 0)
			return -1;
		out->start = b >= size ? 0 : size - b;
		out->end = size;
		return 0;
	}
	if (ref_number(&a, &p) < 0 || *p++ != '-')
		return -1;
	if (*p == '\0') {
		b = UINT64_MAX;
	} else if (ref_number(&b, &p) < 0 || *p || b < a) {
		return -1;
	}
	if (a >= size)
		return -1;
	out->start = a;
	out->end = b >= size - 1 ? size : b + 1;
	return 0;
}

static void check_http(const char *s, uint64_t size)
{
	gv_range got, want;
	int rc, ref;

	memset(&got, 0, sizeof(got));
	rc = gv_range_parse(&got, s, size);
	ref = ref_range(&want, s, size);
	CHECK((rc == 0) == (ref == 0));
	if (rc != 0) {
		CHECK(rc == GV_EINVAL);
		check_message();
		return;
	}
	CHECK(got.start < got.end && got.end <= size);
	CHECK(got.start == want.start && got.end == want.end);
}

/* ---- operation program over a 64-position universe ---- */

static uint64_t span_mask(unsigned s, unsigned e)
{
	uint64_t hi = e >= 64 ? UINT64_MAX : ((uint64_t)1 << e) - 1;
	uint64_t lo = s >= 64 ? UINT64_MAX : ((uint64_t)1 << s) - 1;

	return s >= e ? 0 : hi & ~lo;
}

static uint64_t mask_of(const gv_rangeset *rs)
{
	uint64_t m = 0;
	size_t i;

	check_invariants(rs);
	for (i = 0; i < rs->n; i++) {
		CHECK(rs->r[i].end <= 64);
		m |= span_mask((unsigned)rs->r[i].start, (unsigned)rs->r[i].end);
	}
	return m;
}

/* Build a set bit by bit, so that coalescing does all the work. */
static void set_of_mask(gv_rangeset *rs, uint64_t m)
{
	unsigned i;

	gv_rangeset_clear(rs);
	for (i = 0; i < 64; i++)
		if (m >> i & 1)
			CHECK(gv_rangeset_add(rs, i, i + 1) == 0);
	CHECK(mask_of(rs) == m);
}

static uint64_t popcount(uint64_t m)
{
	uint64_t n = 0;

	for (; m; m &= m - 1)
		n++;
	return n;
}

static void run_program(const uint8_t *d, size_t size)
{
	gv_rangeset a = GV_RANGESET_INIT, b = GV_RANGESET_INIT, c = GV_RANGESET_INIT;
	uint64_t ma = 0, mb, mc;
	size_t pc = 0;

	while (pc + 3 <= size) {
		unsigned op = d[pc], s = d[pc + 1] % 65u, e = d[pc + 2] % 65u;

		pc += 3;
		mb = 0;
		if ((op & 7) == 2 || (op & 7) == 3 || (op & 7) == 7) {
			if (pc + 8 > size)
				break;
			memcpy(&mb, d + pc, 8);
			pc += 8;
			set_of_mask(&b, mb);
		}
		switch (op & 7) {
		case 0:
			CHECK(gv_rangeset_add(&a, s, e) == 0);
			ma |= span_mask(s, e);
			break;
		case 1:
			CHECK(gv_rangeset_remove(&a, s, e) == 0);
			ma &= ~span_mask(s, e);
			break;
		case 2:
			if (op & 8) {
				CHECK(gv_rangeset_union(&a, &a, &b) == 0);
			} else {
				CHECK(gv_rangeset_union(&b, &a, &b) == 0);
				CHECK(gv_rangeset_copy(&a, &b) == 0);
			}
			ma |= mb;
			break;
		case 3:
			if (op & 8) {
				CHECK(gv_rangeset_difference(&a, &a, &b) == 0);
				ma &= ~mb;
			} else {
				CHECK(gv_rangeset_difference(&c, &b, &a) == 0);
				CHECK(mask_of(&c) == (mb & ~ma));
			}
			break;
		case 4:
			CHECK(gv_rangeset_complement(&c, &a, s) == 0);
			mc = span_mask(0, s) & ~ma;
			CHECK(mask_of(&c) == mc);
			if (op & 8) {
				CHECK(gv_rangeset_copy(&a, &c) == 0);
				ma = mc;
			}
			break;
		case 5:
			CHECK(gv_rangeset_contains(&a, s, e) ==
			      ((span_mask(s, e) & ~ma) == 0));
			break;
		case 6:
			CHECK(gv_rangeset_is_full(&a, s) == (ma == span_mask(0, s)));
			CHECK(gv_rangeset_bytes(&a) == popcount(ma));
			break;
		default:
			CHECK(gv_rangeset_equal(&a, &b) == (ma == mb));
			CHECK(gv_rangeset_equal(&b, &a) == (ma == mb));
			break;
		}
		CHECK(mask_of(&a) == ma);
	}
	gv_rangeset_free(&a);
	gv_rangeset_free(&b);
	gv_rangeset_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = { 0, 1, 2, 1000, UINT64_MAX - 1, UINT64_MAX };
	char *s;
	size_t i;

	if (size > 256 * 1024)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_text(s);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_http(s, sizes[i]);
	check_http(s, size);
	free(s);
	run_program(data, size);
	return 0;
}
