/*
 * rangeset.c - sorted, disjoint, coalesced sets of half-open byte ranges.
 *
 * Sets are small (a replica being copied has a handful of ranges), so the
 * operations are simple O(n) array edits; GV_RANGESET_MAX bounds them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/rangeset.h"

void gv_rangeset_init(gv_rangeset *rs)
{
	rs->r = NULL;
	rs->n = 0;
	rs->cap = 0;
}

void gv_rangeset_free(gv_rangeset *rs)
{
	if (!rs)
		return;
	free(rs->r);
	gv_rangeset_init(rs);
}

void gv_rangeset_clear(gv_rangeset *rs)
{
	rs->n = 0;
}

static int reserve(gv_rangeset *rs, size_t need)
{
	gv_range *nr;
	size_t cap;

	if (need <= rs->cap)
		return 0;
	if (need > GV_RANGESET_MAX)
		return gv_error_set(GV_EINVAL, "range set: more than %d ranges",
		                    GV_RANGESET_MAX);
	cap = rs->cap ? rs->cap * 2 : 4;
	while (cap < need)
		cap *= 2;
	if (cap > GV_RANGESET_MAX)
		cap = GV_RANGESET_MAX;
	nr = realloc(rs->r, cap * sizeof(*nr));
	if (!nr)
		return gv_error_set(GV_ENOMEM, "out of memory");
	rs->r = nr;
	rs->cap = cap;
	return 0;
}

int gv_rangeset_copy(gv_rangeset *out, const gv_rangeset *src)
{
	int err;

	if (out == src)
		return 0;
	gv_rangeset_clear(out);
	if ((err = reserve(out, src->n)) < 0)
		return err;
	if (src->n)
		memcpy(out->r, src->r, src->n * sizeof(*src->r));
	out->n = src->n;
	return 0;
}

int gv_rangeset_add(gv_rangeset *rs, uint64_t start, uint64_t end)
{
	size_t i, j;
	int err;

	if (end <= start)
		return 0;
	/* first range that ends at or after start (touching ranges merge) */
	for (i = 0; i < rs->n && rs->r[i].end < start; i++)
		;
	/* ranges [i, j) overlap or touch [start, end) */
	for (j = i; j < rs->n && rs->r[j].start <= end; j++) {
		if (rs->r[j].start < start)
			start = rs->r[j].start;
		if (rs->r[j].end > end)
			end = rs->r[j].end;
	}
	if (j == i) {
		if ((err = reserve(rs, rs->n + 1)) < 0)
			return err;
		memmove(&rs->r[i + 1], &rs->r[i], (rs->n - i) * sizeof(*rs->r));
		rs->n++;
	} else if (j > i + 1) {
		memmove(&rs->r[i + 1], &rs->r[j], (rs->n - j) * sizeof(*rs->r));
		rs->n -= j - i - 1;
	}
	rs->r[i].start = start;
	rs->r[i].end = end;
	return 0;
}

int gv_rangeset_remove(gv_rangeset *rs, uint64_t start, uint64_t end)
{
	size_t i;
	int err;

	if (end <= start)
		return 0;
	for (i = 0; i < rs->n;) {
		gv_range *r = &rs->r[i];

		if (r->end <= start || r->start >= end) {
			i++;
			continue;
		}
		if (r->start < start && r->end > end) {
			/* split in two */
			uint64_t tail_end = r->end;

			if ((err = reserve(rs, rs->n + 1)) < 0)
				return err;
			r = &rs->r[i];
			memmove(&rs->r[i + 2], &rs->r[i + 1], (rs->n - i - 1) * sizeof(*rs->r));
			rs->n++;
			r->end = start;
			rs->r[i + 1].start = end;
			rs->r[i + 1].end = tail_end;
			return 0;
		}
		if (r->start < start) {
			r->end = start;
			i++;
		} else if (r->end > end) {
			r->start = end;
			i++;
		} else {
			memmove(&rs->r[i], &rs->r[i + 1], (rs->n - i - 1) * sizeof(*rs->r));
			rs->n--;
		}
	}
	return 0;
}

int gv_rangeset_union(gv_rangeset *out, const gv_rangeset *a, const gv_rangeset *b)
{
	gv_rangeset tmp = GV_RANGESET_INIT;
	size_t i;
	int err;

	if ((err = gv_rangeset_copy(&tmp, a)) < 0)
		goto out;
	for (i = 0; i < b->n; i++)
		if ((err = gv_rangeset_add(&tmp, b->r[i].start, b->r[i].end)) < 0)
			goto out;
	err = gv_rangeset_copy(out, &tmp);
out:
	gv_rangeset_free(&tmp);
	return err;
}

int gv_rangeset_difference(gv_rangeset *out, const gv_rangeset *a, const gv_rangeset *b)
{
	gv_rangeset tmp = GV_RANGESET_INIT;
	size_t i;
	int err;

	if ((err = gv_rangeset_copy(&tmp, a)) < 0)
		goto out;
	for (i = 0; i < b->n; i++)
		if ((err = gv_rangeset_remove(&tmp, b->r[i].start, b->r[i].end)) < 0)
			goto out;
	err = gv_rangeset_copy(out, &tmp);
out:
	gv_rangeset_free(&tmp);
	return err;
}

int gv_rangeset_complement(gv_rangeset *out, const gv_rangeset *a, uint64_t size)
{
	gv_rangeset full = GV_RANGESET_INIT;
	int err;

	if ((err = gv_rangeset_add(&full, 0, size)) < 0)
		goto out;
	err = gv_rangeset_difference(out, &full, a);
out:
	gv_rangeset_free(&full);
	return err;
}

int gv_rangeset_contains(const gv_rangeset *rs, uint64_t start, uint64_t end)
{
	size_t i;

	if (end <= start)
		return 1;
	for (i = 0; i < rs->n; i++)
		if (rs->r[i].start <= start && rs->r[i].end >= end)
			return 1;
	return 0;
}

int gv_rangeset_is_full(const gv_rangeset *rs, uint64_t size)
{
	if (size == 0)
		return rs->n == 0;
	return rs->n == 1 && rs->r[0].start == 0 && rs->r[0].end == size;
}

uint64_t gv_rangeset_bytes(const gv_rangeset *rs)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < rs->n; i++)
		total += rs->r[i].end - rs->r[i].start;
	return total;
}

int gv_rangeset_equal(const gv_rangeset *a, const gv_rangeset *b)
{
	return a->n == b->n &&
	       (a->n == 0 || memcmp(a->r, b->r, a->n * sizeof(*a->r)) == 0);
}

#define NUM_BAD (-1)      /* no digit where a number was expected */
#define NUM_TOO_LARGE (-2) /* more than 64 bits */

/* Parse a decimal u64 at *pp, advancing it; no sign, no spaces. */
static int parse_u64(uint64_t *out, const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return NUM_BAD;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NUM_TOO_LARGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	*pp = p;
	return 0;
}

int gv_rangeset_parse(gv_rangeset *out, const char *s)
{
	gv_rangeset tmp = GV_RANGESET_INIT;
	const char *p = s;
	size_t count = 0;
	int err = 0, rc;

	if (!s)
		return gv_error_set(GV_EINVAL, "invalid range set: null");
	while (*p) {
		uint64_t a, b;

		if ((rc = parse_u64(&a, &p)) < 0 || *p != '-') {
			err = gv_error_set(GV_EINVAL,
			                   rc == NUM_TOO_LARGE
			                   ? "invalid range set '%.64s': number too large at offset %zu"
			                   : "invalid range set '%.64s': expected START-END at offset %zu",
			                   s, (size_t)(p - s));
			goto out;
		}
		p++;
		if ((rc = parse_u64(&b, &p)) < 0 || (*p && *p != ',')) {
			err = gv_error_set(GV_EINVAL,
			                   rc == NUM_TOO_LARGE
			                   ? "invalid range set '%.64s': number too large at offset %zu"
			                   : "invalid range set '%.64s': expected END at offset %zu",
			                   s, (size_t)(p - s));
			goto out;
		}
		if (b < a) {
			err = gv_error_set(GV_EINVAL,
			                   "invalid range set '%.64s': range %llu-%llu ends before it starts",
			                   s, (unsigned long long)a, (unsigned long long)b);
			goto out;
		}
		if (b == UINT64_MAX) {
			/* the exclusive end b + 1 does not fit in 64 bits */
			err = gv_error_set(GV_EINVAL,
			                   "invalid range set '%.64s': end %llu too large",
			                   s, (unsigned long long)b);
			goto out;
		}
		if (++count > GV_RANGESET_MAX) {
			err = gv_error_set(GV_EINVAL, "invalid range set: more than %d ranges",
			                   GV_RANGESET_MAX);
			goto out;
		}
		if ((err = gv_rangeset_add(&tmp, a, b + 1)) < 0)
			goto out;
		if (*p == ',') {
			p++;
			if (!*p) {
				err = gv_error_set(GV_EINVAL,
				                   "invalid range set '%.64s': trailing comma", s);
				goto out;
			}
		}
	}
	err = gv_rangeset_copy(out, &tmp);
out:
	gv_rangeset_free(&tmp);
	return err;
}

char *gv_rangeset_format(const gv_rangeset *rs)
{
	size_t cap = rs->n * 42 + 1, len = 0, i;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	buf[0] = '\0';
	for (i = 0; i < rs->n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%llu-%llu", i ? "," : "",
		                        (unsigned long long)rs->r[i].start,
		                        (unsigned long long)(rs->r[i].end - 1));
	return buf;
}

int gv_range_parse(gv_range *out, const char *s, uint64_t size)
{
	const char *p = s;
	uint64_t a, b;

	if (!s || !*s)
		return gv_error_set(GV_EINVAL, "invalid range: empty");
	if (*p == '-') {
		/* suffix: last N bytes */
		p++;
		if (parse_u64(&b, &p) < 0 || *p)
			return gv_error_set(GV_EINVAL, "invalid range '%.64s': expected -N", s);
		if (b == 0)
			return gv_error_set(GV_EINVAL, "invalid range '%.64s': empty suffix", s);
		if (size == 0)
			return gv_error_set(GV_EINVAL,
			                    "range '%.64s' not satisfiable: blob is empty", s);
		out->start = b >= size ? 0 : size - b;
		out->end = size;
		return 0;
	}
	if (parse_u64(&a, &p) < 0 || *p != '-')
		return gv_error_set(GV_EINVAL, "invalid range '%.64s': expected START-END", s);
	p++;
	if (*p == '\0') {
		b = size ? size - 1 : 0;
	} else {
		if (parse_u64(&b, &p) < 0 || *p)
			return gv_error_set(GV_EINVAL,
			                    "invalid range '%.64s': END must be decimal digits", s);
		if (b < a)
			return gv_error_set(GV_EINVAL,
			                    "invalid range '%.64s': ends before it starts", s);
	}
	if (a >= size)
		return gv_error_set(GV_EINVAL,
		                    "range '%.64s' not satisfiable: blob has %llu bytes", s,
		                    (unsigned long long)size);
	if (b >= size)
		b = size - 1;
	out->start = a;
	out->end = b + 1;
	return 0;
}
