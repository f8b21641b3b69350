/*
 * graviton/rangeset.h - sets of byte ranges.
 *
 * A range set is a sorted array of disjoint, non-adjacent half-open ranges
 * [start, end).  Every operation keeps it coalesced.  The text form uses
 * inclusive ends, as HTTP does: "0-1023,4096-8191"; the empty set is "".
 */
#ifndef GRAVITON_RANGESET_H
#define GRAVITON_RANGESET_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hard limit on ranges in one set; bounds untrusted input. */
#define GV_RANGESET_MAX 4096

typedef struct gv_range {
	uint64_t start; /* inclusive */
	uint64_t end;   /* exclusive, > start */
} gv_range;

typedef struct gv_rangeset {
	gv_range *r;
	size_t n;
	size_t cap;
} gv_rangeset;

#define GV_RANGESET_INIT { NULL, 0, 0 }

GV_API void gv_rangeset_init(gv_rangeset *rs);
GV_API void gv_rangeset_free(gv_rangeset *rs); /* frees the array; rs reusable */
GV_API void gv_rangeset_clear(gv_rangeset *rs);
GV_API int gv_rangeset_copy(gv_rangeset *out, const gv_rangeset *src);

/* Add [start, end); empty ranges are ignored.  GV_ENOMEM, GV_EINVAL (too many). */
GV_API int gv_rangeset_add(gv_rangeset *rs, uint64_t start, uint64_t end);

/* Remove [start, end). */
GV_API int gv_rangeset_remove(gv_rangeset *rs, uint64_t start, uint64_t end);

/* out = a ∪ b; out may alias a. */
GV_API int gv_rangeset_union(gv_rangeset *out, const gv_rangeset *a, const gv_rangeset *b);

/* out = a \ b; out may alias a. */
GV_API int gv_rangeset_difference(gv_rangeset *out, const gv_rangeset *a, const gv_rangeset *b);

/* out = [0, size) \ a. */
GV_API int gv_rangeset_complement(gv_rangeset *out, const gv_rangeset *a, uint64_t size);

/* 1 when every byte of [start, end) is in the set (empty range: 1). */
GV_API int gv_rangeset_contains(const gv_rangeset *rs, uint64_t start, uint64_t end);

/* 1 when the set is exactly [0, size) (or empty and size is 0). */
GV_API int gv_rangeset_is_full(const gv_rangeset *rs, uint64_t size);

/* Total bytes covered. */
GV_API uint64_t gv_rangeset_bytes(const gv_rangeset *rs);

GV_API int gv_rangeset_equal(const gv_rangeset *a, const gv_rangeset *b);

/*
 * Parse the text form.  Accepts "" (empty), "A-B" (inclusive), lists
 * separated by commas; overlapping input is coalesced.  GV_EINVAL on
 * anything else (B < A, junk, overflow, more than GV_RANGESET_MAX ranges).
 */
GV_API int gv_rangeset_parse(gv_rangeset *out, const char *s);

/* Format into a malloc'd string (caller frees); NULL on ENOMEM. */
GV_API char *gv_rangeset_format(const gv_rangeset *rs);

/*
 * Parse one client range "A-B" (inclusive), "A-" (to the end) or "-N"
 * (last N bytes) against a blob of `size` bytes, into [start, end).
 * GV_EINVAL when malformed or unsatisfiable (start >= size, B < A).
 */
GV_API int gv_range_parse(gv_range *out, const char *s, uint64_t size);

#ifdef __cplusplus
}
#endif
#endif
