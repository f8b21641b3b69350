/*
 * rows.c - checks and text codecs every index backend shares (rows.h).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "index/rows.h"

/* Length of `s` cut to at most `max` bytes without splitting a UTF-8
 * sequence. */
size_t ix_utf8_cut(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Value + 1 of a lowercase hex digit, 0 for anything else. */
static const uint8_t hex_plus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/*
 * Decode the canonical key text the index writes ("sha256:", 64
 * lowercase hex digits, ':', a decimal size without leading zeros of at
 * most 18 digits, so it cannot overflow).  Returns 0 when the text is
 * not in exactly that form, leaving the verdict to gv_key_parse; what
 * this accepts, gv_key_parse accepts with the same result.  A gap scan
 * decodes a key per blob, and the general parser cost a tenth of it.
 */
int ix_key_decode_canonical(gv_key *out, const char *v, size_t len)
{
	const unsigned char *p = (const unsigned char *)v;
	uint64_t size = 0;
	size_t i, nd;

	if (len < 7 + 64 + 2 || len > 7 + 64 + 1 + 18 || memcmp(v, "sha256:", 7) != 0 ||
	    v[71] != ':')
		return 0;
	for (i = 0; i < GV_DIGEST_LEN; i++) {
		unsigned hi = hex_plus1[p[7 + 2 * i]], lo = hex_plus1[p[8 + 2 * i]];

		if (!hi || !lo)
			return 0;
		out->digest[i] = (uint8_t)(((hi - 1) << 4) | (lo - 1));
	}
	nd = len - 72;
	if (nd > 1 && p[72] == '0')
		return 0;
	for (i = 72; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		size = size * 10 + (uint64_t)(p[i] - '0');
	}
	out->size = size;
	return 1;
}

int ix_id_check(const char *what, const char *id)
{
	if (!id || !*id || strnlen(id, GV_ID_MAX) >= GV_ID_MAX)
		return gv_error_set(GV_EINVAL, "index: invalid %s id '%.64s'", what,
		                    id ? id : "(null)");
	return 0;
}

int ix_claim_check(const char *name, const char *owner, uint64_t ttl_ms)
{
	if (!name || !*name || strnlen(name, GV_CLAIM_NAME_MAX) >= GV_CLAIM_NAME_MAX ||
	    !owner || !*owner || strnlen(owner, GV_CLAIM_NAME_MAX) >= GV_CLAIM_NAME_MAX)
		return gv_error_set(GV_EINVAL, "index: a claim needs a name and an owner of 1..%d bytes",
		                    GV_CLAIM_NAME_MAX - 1);
	if (ttl_ms > (uint64_t)INT32_MAX * 1000)
		return gv_error_set(GV_EINVAL, "index: claim lease too long");
	return 0;
}

int ix_str_check(const char *what, const char *v, size_t cap)
{
	if (strnlen(v, cap) >= cap)
		return gv_error_set(GV_EINVAL, "index: sector %s longer than %zu bytes", what,
		                    cap - 1);
	return 0;
}

/* Digits of a decimal at *pp (at most 19, so no overflow), advancing it;
 * 0 when there are none or too many. */
static int dec19(uint64_t *out, const char **pp)
{
	const char *p = *pp;
	uint64_t v = 0;
	size_t n = 0;

	for (; *p >= '0' && *p <= '9'; p++, n++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (n == 0 || n > 19)
		return 0;
	*out = v;
	*pp = p;
	return 1;
}

/*
 * The common stored ranges text, one range "A-B", straight into the empty
 * set `out` (one allocation; gv_rangeset_parse makes two and copies).
 * Returns 0 for any other text, or when out of memory (leaving `out`
 * empty), so gv_rangeset_parse decides; it accepts what this accepts,
 * with the same result.
 */
int ix_ranges_decode_single(gv_rangeset *out, const char *v)
{
	uint64_t a, b;

	if (!dec19(&a, &v) || *v++ != '-' || !dec19(&b, &v) || *v || b < a)
		return 0;
	return gv_rangeset_add(out, a, b + 1) == 0; /* b < 10^19: b + 1 fits */
}

/* Make room for element n of a growing replica array. */
int ix_replicas_grow(gv_replica **arr, size_t n, size_t *cap)
{
	gv_replica *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4;
	p = realloc(*arr, ncap * sizeof(*p));
	if (!p)
		return gv_error_set(GV_ENOMEM, "index: out of memory for %zu replicas", ncap);
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Validate ranges against the blob size and format them for storage. */
int ix_ranges_text(char **out, int *complete, const gv_rangeset *rs, uint64_t size)
{
	if (rs->n && rs->r[rs->n - 1].end > size)
		return gv_error_set(GV_EINVAL,
		                    "index: ranges end at byte %llu, past the blob size %llu",
		                    (unsigned long long)rs->r[rs->n - 1].end,
		                    (unsigned long long)size);
	*out = gv_rangeset_format(rs);
	if (!*out)
		return gv_error_set(GV_ENOMEM, "index: out of memory formatting ranges");
	*complete = gv_rangeset_is_full(rs, size);
	return 0;
}

int ix_key_check(const gv_key *key)
{
	if (key->size > (uint64_t)INT64_MAX)
		return gv_error_set(GV_EINVAL, "index: blob size %llu out of range",
		                    (unsigned long long)key->size);
	return 0;
}

int ix_url_password(const char *url, size_t from, size_t *off, size_t *len)
{
	const char *a = strstr(url, "://"), *aend, *at = NULL, *colon, *p, *end, *eq;
	size_t i;

	if (!a)
		return 0;
	for (i = 0; url + i < a; i++)
		if (!isalnum((unsigned char)url[i]) && !strchr("+-.", url[i]))
			return 0; /* "://" inside a path, not after a scheme */
	a += 3;
	aend = a + strcspn(a, "/?#");
	for (p = a; p < aend; p++)
		if (*p == '@')
			at = p;
	colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
	if (colon && (size_t)(colon + 1 - url) >= from) {
		*off = (size_t)(colon + 1 - url);
		*len = (size_t)(at - colon - 1);
		return 1;
	}
	if (*aend == '#' || !(p = strchr(aend, '?')))
		return 0;
	for (p++; *p; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "&#");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq && eq - p >= 8 && strncasecmp(eq - 8, "password", 8) == 0 &&
		    (size_t)(eq + 1 - url) >= from) {
			*off = (size_t)(eq + 1 - url);
			*len = (size_t)(end - eq - 1);
			return 1;
		}
		if (*end == '#')
			break;
	}
	return 0;
}

int ix_repairq_check(const gv_repairq_entry *e)
{
	if (strnlen(e->reason, sizeof(e->reason)) >= sizeof(e->reason) ||
	    strnlen(e->last_error, sizeof(e->last_error)) >= sizeof(e->last_error))
		return gv_error_set(GV_EINVAL, "index: repair queue text is not terminated");
	return 0;
}

/* Make room for element n of a growing entry array. */
int ix_entries_grow(gv_blob_entry **arr, size_t n, size_t *cap)
{
	gv_blob_entry *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * sizeof(*p));
	if (!p)
		return gv_error_set(GV_ENOMEM, "index: out of memory for %zu blob entries", ncap);
	*arr = p;
	*cap = ncap;
	return 0;
}

int ix_setting_name_check(const char *name)
{
	if (!name || !*name || strnlen(name, IX_SETTING_NAME_MAX) >= IX_SETTING_NAME_MAX)
		return gv_error_set(GV_EINVAL, "index: invalid setting name '%.64s'",
		                    name ? name : "(null)");
	return 0;
}

int ix_sector_check(const gv_sector_info *si)
{
	int err;

	if ((err = gv_id_validate("sector id", si->id)) < 0)
		return err;
	if (si->rack[0] && (err = gv_id_validate("rack", si->rack)) < 0)
		return err;
	if (si->zone[0] && (err = gv_id_validate("zone", si->zone)) < 0)
		return err;
	if ((err = ix_str_check("kind", si->kind, sizeof(si->kind))) < 0 ||
	    (err = ix_str_check("path", si->path, sizeof(si->path))) < 0)
		return err;
	if (si->capacity > (uint64_t)INT64_MAX)
		return gv_error_set(GV_EINVAL, "index: sector %s capacity out of range", si->id);
	if (si->state != GV_SECTOR_ACTIVE && si->state != GV_SECTOR_DRAINING &&
	    si->state != GV_SECTOR_RETIRED)
		return gv_error_set(GV_EINVAL, "index: sector %s has invalid state %d", si->id,
		                    (int)si->state);
	return 0;
}
