/*
 * json.c - the JSON documents shared by the server and the CLI, so
 * `stat --json` and GET /v1/blobs/{key}/replicas can never drift apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <jansson.h>

#include "graviton/server.h"

static const char *iso_time(char *buf, size_t cap, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static char *dump(json_t *o, int pretty)
{
	char *s;

	if (!o)
		return NULL;
	s = json_dumps(o, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

char *gv_json_blob_status(const gv_blob_status *bs, const gv_placement_opts *p, int pretty)
{
	char kbuf[GV_KEY_BUFSIZE], tbuf[32];
	json_t *o = json_object(), *arr = json_array();
	size_t i;

	json_object_set_new(o, "key", json_string(gv_key_format(kbuf, &bs->key)));
	json_object_set_new(o, "size", json_integer((json_int_t)bs->key.size));
	json_object_set_new(o, "created", bs->created_ms > 0
	                                          ? json_string(iso_time(tbuf, sizeof(tbuf), bs->created_ms))
	                                          : json_null());
	json_object_set_new(o, "target_replicas", json_integer(bs->target_replicas));
	json_object_set_new(o, "healthy_replicas", json_integer(bs->healthy_replicas));
	for (i = 0; i < bs->nreplicas; i++) {
		const gv_replica *r = &bs->replicas[i];
		char *ranges = gv_rangeset_format(&r->ranges);
		json_t *ro = json_object();

		json_object_set_new(ro, "sector", json_string(r->sector));
		json_object_set_new(ro, "rack", json_string(bs->racks[i]));
		json_object_set_new(ro, "zone", json_string(bs->zones[i]));
		json_object_set_new(ro, "healthy", json_boolean(r->healthy));
		json_object_set_new(ro, "ranges", json_string(ranges ? ranges : ""));
		json_object_set_new(ro, "last_verified",
		                    r->last_verified > 0
		                            ? json_string(iso_time(tbuf, sizeof(tbuf), r->last_verified))
		                            : json_null());
		json_object_set_new(ro, "last_verified_ms", json_integer(r->last_verified));
		json_object_set_new(ro, "reason", r->reason[0] ? json_string(r->reason) : json_null());
		json_array_append_new(arr, ro);
		free(ranges);
	}
	json_object_set_new(o, "replicas", arr);
	json_object_set_new(o, "placement",
	                    json_pack("{s:s, s:i, s:i, s:i, s:i, s:b, s:s}", "strategy",
	                              gv_strategy_name(p->strategy), "min_racks", p->min_racks,
	                              "min_zones", p->min_zones, "racks", bs->placement.racks,
	                              "zones", bs->placement.zones, "constraints_met",
	                              bs->placement_error == 0, "problem",
	                              bs->placement_error ? gv_error_name(bs->placement_error) : ""));
	return dump(o, pretty);
}

char *gv_json_store_stats(const gv_store_stats *s, const gv_placement_opts *p, int pretty)
{
	return dump(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:i, s:i, s:s, s:I, s:I}",
	                      "blobs", (json_int_t)s->blobs, "replicas", (json_int_t)s->replicas,
	                      "healthy_replicas", (json_int_t)s->healthy_replicas,
	                      "unhealthy_replicas", (json_int_t)s->unhealthy_replicas,
	                      "under_replicated", (json_int_t)s->under_replicated,
	                      "over_replicated", (json_int_t)s->over_replicated, "lost",
	                      (json_int_t)s->lost, "bytes", (json_int_t)s->bytes, "avg_factor",
	                      s->avg_factor, "factor", s->factor, "min_replicas", p->min_replicas,
	                      "strategy", gv_strategy_name(p->strategy), "sectors",
	                      (json_int_t)s->sectors, "healthy_sectors",
	                      (json_int_t)s->healthy_sectors),
	            pretty);
}

char *gv_json_sectors(const gv_sector_info *s, size_t n, int pretty)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s, s:s}", "id", s[i].id,
		                      "kind", s[i].kind, "path", s[i].path, "capacity",
		                      (json_int_t)s[i].capacity, "used", (json_int_t)s[i].used,
		                      "healthy", s[i].healthy, "rack", s[i].rack, "zone", s[i].zone,
		                      "state", gv_sector_state_name(s[i].state));

		if (o && !s[i].healthy && s[i].reason[0])
			json_object_set_new(o, "reason", json_string(s[i].reason));
		if (o && s[i].free_known)
			json_object_set_new(o, "free", json_integer((json_int_t)s[i].free));
		if (o && s[i].device[0])
			json_object_set_new(o, "device", json_string(s[i].device));
		json_array_append_new(arr, o);
	}
	return dump(arr, pretty);
}
