/*
 * units.c - sizes ("10GiB", "512MB", "4k") and durations ("5 minutes",
 * "30s", "7 days") as HOCON writes them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "graviton/common.h"

struct unit {
	const char *name;
	uint64_t mult;
};

/* Split "  123 unit  " into number and unit; unit may be empty. */
static int split_number(uint64_t *num, const char **unit, size_t *unit_len,
                        const char *s, const char *what)
{
	const char *p = s;
	uint64_t v = 0;
	const char *u;
	size_t ul;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return gv_error_set(GV_EINVAL, "invalid %s '%.64s': expected a number", what, s);
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return gv_error_set(GV_EINVAL, "invalid %s '%.64s': too large", what, s);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.')
		return gv_error_set(GV_EINVAL,
		                    "invalid %s '%.64s': use a whole number with a smaller unit",
		                    what, s);
	while (*p == ' ' || *p == '\t')
		p++;
	u = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	ul = (size_t)(p - u);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p)
		return gv_error_set(GV_EINVAL, "invalid %s '%.64s': trailing characters", what, s);
	*num = v;
	*unit = u;
	*unit_len = ul;
	return 0;
}

static int apply_unit(uint64_t *out, uint64_t v, const char *u, size_t ul,
                      const struct unit *units, const char *s, const char *what,
                      int case_sensitive)
{
	const struct unit *it;

	for (it = units; it->name; it++) {
		if (strlen(it->name) != ul)
			continue;
		if (case_sensitive ? strncmp(it->name, u, ul) : strncasecmp(it->name, u, ul))
			continue;
		if (it->mult && v > UINT64_MAX / it->mult)
			return gv_error_set(GV_EINVAL, "invalid %s '%.64s': too large", what, s);
		*out = v * it->mult;
		return 0;
	}
	return gv_error_set(GV_EINVAL, "invalid %s '%.64s': unknown unit '%.*s'", what, s,
	                    (int)ul, u);
}

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)
#define PiB (1024ULL * TiB)
#define EiB (1024ULL * PiB)

/*
 * HOCON's spellings: single letters of either case and the "i" forms are
 * powers of two ("4k" is 4096); "kB", "MB" ... are powers of ten.  "KB" is
 * not HOCON's but what operators write; it reads as 1000, like "kB".
 * Units past 2^64 (ZB, YB, ZiB, YiB) would overflow any count and are left
 * out.
 */
static const struct unit size_units[] = {
	{ "", 1 }, { "B", 1 }, { "b", 1 }, { "byte", 1 }, { "bytes", 1 },
	{ "kB", 1000ULL }, { "KB", 1000ULL }, { "kilobyte", 1000ULL }, { "kilobytes", 1000ULL },
	{ "MB", 1000000ULL }, { "megabyte", 1000000ULL }, { "megabytes", 1000000ULL },
	{ "GB", 1000000000ULL }, { "gigabyte", 1000000000ULL },
	{ "gigabytes", 1000000000ULL },
	{ "TB", 1000000000000ULL }, { "terabyte", 1000000000000ULL },
	{ "terabytes", 1000000000000ULL },
	{ "PB", 1000000000000000ULL }, { "petabyte", 1000000000000000ULL },
	{ "petabytes", 1000000000000000ULL },
	{ "EB", 1000000000000000000ULL }, { "exabyte", 1000000000000000000ULL },
	{ "exabytes", 1000000000000000000ULL },
	{ "K", KiB }, { "k", KiB }, { "Ki", KiB }, { "KiB", KiB },
	{ "kibibyte", KiB }, { "kibibytes", KiB },
	{ "M", MiB }, { "m", MiB }, { "Mi", MiB }, { "MiB", MiB },
	{ "mebibyte", MiB }, { "mebibytes", MiB },
	{ "G", GiB }, { "g", GiB }, { "Gi", GiB }, { "GiB", GiB },
	{ "gibibyte", GiB }, { "gibibytes", GiB },
	{ "T", TiB }, { "t", TiB }, { "Ti", TiB }, { "TiB", TiB },
	{ "tebibyte", TiB }, { "tebibytes", TiB },
	{ "P", PiB }, { "p", PiB }, { "Pi", PiB }, { "PiB", PiB },
	{ "pebibyte", PiB }, { "pebibytes", PiB },
	{ "E", EiB }, { "e", EiB }, { "Ei", EiB }, { "EiB", EiB },
	{ "exbibyte", EiB }, { "exbibytes", EiB },
	{ NULL, 0 }
};

int gv_size_parse(uint64_t *out, const char *s)
{
	uint64_t v;
	const char *u;
	size_t ul;
	int err;

	if (!s)
		return gv_error_set(GV_EINVAL, "invalid size: empty");
	if ((err = split_number(&v, &u, &ul, s, "size")) < 0)
		return err;
	return apply_unit(out, v, u, ul, size_units, s, "size", 1);
}

const char *gv_size_format(char *buf, size_t cap, uint64_t bytes)
{
	static const char *names[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int i = 0;

	/* Step up also when "%.1f" would round up to 1024.0 (1048575 bytes is
	 * "1.0 MiB", not "1024.0 KiB"). */
	while (i < 6 && (v >= 1024.0 || (i > 0 && v >= 1023.95))) {
		v /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, cap, "%.1f %s", v, names[i]);
	return buf;
}

static const struct unit duration_units[] = {
	{ "", 1 }, /* plain numbers are milliseconds, as in HOCON */
	{ "ms", 1 }, { "milli", 1 }, { "millis", 1 }, { "millisecond", 1 },
	{ "milliseconds", 1 },
	{ "s", 1000 }, { "second", 1000 }, { "seconds", 1000 },
	{ "m", 60000 }, { "minute", 60000 }, { "minutes", 60000 },
	{ "h", 3600000 }, { "hour", 3600000 }, { "hours", 3600000 },
	{ "d", 86400000 }, { "day", 86400000 }, { "days", 86400000 },
	{ NULL, 0 }
};

int gv_duration_parse(uint64_t *out_ms, const char *s)
{
	uint64_t v;
	const char *u;
	size_t ul;
	int err;

	if (!s)
		return gv_error_set(GV_EINVAL, "invalid duration: empty");
	if ((err = split_number(&v, &u, &ul, s, "duration")) < 0)
		return err;
	return apply_unit(out_ms, v, u, ul, duration_units, s, "duration", 1);
}
