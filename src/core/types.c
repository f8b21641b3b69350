/*
 * types.c - helpers for the shared value types.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graviton/types.h"

const char *gv_sector_state_name(gv_sector_state s)
{
	switch (s) {
	case GV_SECTOR_ACTIVE: return "active";
	case GV_SECTOR_DRAINING: return "draining";
	case GV_SECTOR_RETIRED: return "retired";
	}
	return "unknown";
}

int gv_sector_state_parse(gv_sector_state *out, const char *s)
{
	if (s && strcmp(s, "active") == 0)
		*out = GV_SECTOR_ACTIVE;
	else if (s && strcmp(s, "draining") == 0)
		*out = GV_SECTOR_DRAINING;
	else if (s && strcmp(s, "retired") == 0)
		*out = GV_SECTOR_RETIRED;
	else
		return gv_error_set(GV_EINVAL,
		                    "invalid sector state '%.32s': expected active, draining or retired",
		                    s ? s : "");
	return 0;
}

int gv_id_validate(const char *what, const char *id)
{
	size_t i, len;

	if (!id || !*id)
		return gv_error_set(GV_EINVAL, "invalid %s: empty", what);
	len = strnlen(id, GV_ID_MAX);
	if (len >= GV_ID_MAX)
		return gv_error_set(GV_EINVAL, "invalid %s '%.20s...': longer than %d characters",
		                    what, id, GV_ID_MAX - 1);
	if (id[0] == '.' || id[0] == '-')
		return gv_error_set(GV_EINVAL, "invalid %s '%s': must not start with '%c'", what,
		                    id, id[0]);
	for (i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return gv_error_set(GV_EINVAL,
			                    "invalid %s '%s': character %zu is not one of [A-Za-z0-9._-]",
			                    what, id, i + 1);
	}
	return 0;
}

void gv_replicas_free(gv_replica *r, size_t n)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < n; i++)
		gv_rangeset_free(&r[i].ranges);
	free(r);
}

int64_t gv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
