/*
 * http_sectors.c - GET and POST /v1/sectors, PATCH and DELETE
 * /v1/sectors/{id}.
 * JSON bodies are checked whole (unknown fields refused by name) before
 * anything changes.
 */
#include <stdatomic.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "graviton/sys/sector.h"
#include "server/http_int.h"

/* ---- sectors ------------------------------------------------------------- */

enum MHD_Result gv_http_sectors_get(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info *s = NULL;
	size_t n = 0;
	int err = gv_store_sector_list(srv->st, &s, &n);
	char *js;

	if (err < 0)
		return gv_http_send_gv_error(c, r, err);
	js = gv_wire_dump(gv_wire_json_sectors(s, n), 0);
	free(s);
	return gv_http_send_json(c, r, MHD_HTTP_OK, js);
}

static const char *str_field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

enum MHD_Result gv_http_sectors_post(gv_server *srv, struct MHD_Connection *c, req *r)
{
	gv_sector_info info;
	json_error_t je;
	json_t *o, *cap, *fv, *adopt;
	const char *v, *field;
	unsigned flags = GV_SECTOR_ADD_CREATE;
	int err;

	o = json_loadb(r->body ? r->body : "", r->body_len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid",
		                  "body must be a JSON object {id, path, capacity, rack, zone, "
		                  "adopt}: %s",
		                  je.text);
	}
	/* The whole body is checked before anything changes. */
	json_object_foreach(o, field, fv) {
		if (strcmp(field, "id") != 0 && strcmp(field, "path") != 0 &&
		    strcmp(field, "capacity") != 0 && strcmp(field, "rack") != 0 &&
		    strcmp(field, "zone") != 0 && strcmp(field, "adopt") != 0 &&
		    strcmp(field, "url") != 0 && strcmp(field, "remote_sector") != 0 &&
		    strcmp(field, "s3") != 0 && strcmp(field, "endpoint") != 0 &&
		    strcmp(field, "region") != 0 && strcmp(field, "style") != 0) {
			enum MHD_Result ret = gv_http_send_error(c, r, "invalid",
			                                 "unknown field '%.64s' (expected id, path, "
			                                 "url, remote_sector, s3, endpoint, region, "
			                                 "style, capacity, rack, zone, adopt)", field);

			json_decref(o);
			return ret;
		}
	}
	memset(&info, 0, sizeof(info));
	snprintf(info.kind, sizeof(info.kind), "fs");
	if (!(v = str_field(o, "id")) || strlen(v) >= sizeof(info.id)) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid", "'id' (a string) is required");
	}
	snprintf(info.id, sizeof(info.id), "%s", v);
	if (json_object_get(o, "s3") || json_object_get(o, "endpoint")) {
		/* A bucket of an S3-compatible store (docs/s3-sectors.md). */
		const char *url = str_field(o, "s3"), *ep = str_field(o, "endpoint");

		if (!url || !ep || json_object_get(o, "path") || json_object_get(o, "url")) {
			json_decref(o);
			return gv_http_send_error(c, r, "invalid", "an s3 sector needs 's3' and "
			                          "'endpoint' (strings), and no 'path' or 'url'");
		}
		if ((err = gv_sector_s3_locator(info.path, sizeof(info.path), url, ep,
		                                str_field(o, "region"), str_field(o, "style"))) < 0) {
			json_decref(o);
			return gv_http_send_gv_error(c, r, err);
		}
		snprintf(info.kind, sizeof(info.kind), "s3");
	} else if (json_object_get(o, "url") || json_object_get(o, "remote_sector")) {
		/* A sector another node lends (docs/sector-protocol.md). */
		const char *url = str_field(o, "url"), *sid = str_field(o, "remote_sector");

		if (!url || !sid || json_object_get(o, "path")) {
			json_decref(o);
			return gv_http_send_error(c, r, "invalid", "a remote sector needs 'url' and "
			                          "'remote_sector' (strings), and no 'path'");
		}
		if ((err = gv_sector_remote_locator(info.path, sizeof(info.path), url, sid)) < 0) {
			json_decref(o);
			return gv_http_send_gv_error(c, r, err);
		}
		snprintf(info.kind, sizeof(info.kind), "remote");
	} else if (!(v = str_field(o, "path")) || strlen(v) >= sizeof(info.path)) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid", "'path' (a string) is required");
	} else {
		snprintf(info.path, sizeof(info.path), "%s", v);
	}
	if ((v = str_field(o, "rack")) && strlen(v) < sizeof(info.rack))
		snprintf(info.rack, sizeof(info.rack), "%s", v);
	if ((v = str_field(o, "zone")) && strlen(v) < sizeof(info.zone))
		snprintf(info.zone, sizeof(info.zone), "%s", v);
	cap = json_object_get(o, "capacity");
	if (json_is_integer(cap) && json_integer_value(cap) >= 0) {
		info.capacity = (uint64_t)json_integer_value(cap);
	} else if (json_is_string(cap)) {
		if (gv_size_parse(&info.capacity, json_string_value(cap)) < 0) {
			json_decref(o);
			return gv_http_send_gv_error(c, r, GV_EINVAL);
		}
	} else if (cap) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid",
		                  "'capacity' must be bytes or a size string");
	}
	adopt = json_object_get(o, "adopt");
	if (adopt && !json_is_boolean(adopt)) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid", "'adopt' must be a boolean");
	}
	if (json_is_true(adopt))
		flags |= GV_SECTOR_ADD_ADOPT;
	json_decref(o);
	if ((err = gv_store_sector_add(srv->st, &info, flags)) < 0)
		return gv_http_send_gv_error(c, r, err);
	if ((err = gv_store_sector_get(srv->st, info.id, &info)) < 0)
		return gv_http_send_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_CREATED, gv_wire_json_sector(&info));
}

enum MHD_Result gv_http_sector_patch(gv_server *srv, struct MHD_Connection *c, req *r)
{
	json_error_t je;
	json_t *o, *h, *sv;
	const char *state = NULL, *field;
	char id[GV_ID_MAX];
	gv_sector_info info;
	int err;

	if (gv_id_validate("sector id", r->arg) < 0)
		return gv_http_send_gv_error(c, r, GV_EINVAL);
	snprintf(id, sizeof(id), "%.63s", r->arg);
	o = json_loadb(r->body ? r->body : "", r->body_len, 0, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid",
		                  "body must be a JSON object {healthy: bool} or {state: \"draining\"}");
	}
	/* The whole body is checked before anything changes. */
	json_object_foreach(o, field, sv) {
		if (strcmp(field, "healthy") != 0 && strcmp(field, "state") != 0) {
			err = gv_http_send_error(c, r, "invalid",
			                 "unknown field '%.64s' (expected healthy, state)", field);
			json_decref(o);
			return err;
		}
	}
	h = json_object_get(o, "healthy");
	sv = json_object_get(o, "state");
	if (h && !json_is_boolean(h)) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid", "'healthy' must be a boolean");
	}
	if (sv) {
		state = json_string_value(sv);
		if (!state || (strcmp(state, "draining") != 0 && strcmp(state, "active") != 0)) {
			json_decref(o);
			return gv_http_send_error(c, r, "invalid",
			                  "'state' may be \"draining\" or \"active\"");
		}
	}
	if (!h && !sv) {
		json_decref(o);
		return gv_http_send_error(c, r, "invalid",
		                  "nothing to change: give 'healthy' or 'state'");
	}
	if ((err = gv_store_sector_get(srv->st, id, &info)) < 0) {
		json_decref(o);
		return gv_http_send_gv_error(c, r, err);
	}
	if (h && (err = gv_store_sector_set_health(srv->st, id, json_is_true(h))) < 0) {
		json_decref(o);
		return gv_http_send_gv_error(c, r, err);
	}
	if (state && strcmp(state, "draining") == 0) {
		json_decref(o);
		return gv_http_start_job(srv, c, r, "drain", gv_http_query_flag(c, "dry_run"), id);
	}
	if (state && (err = gv_store_sector_set_state(srv->st, id, GV_SECTOR_ACTIVE)) < 0) {
		json_decref(o);
		return gv_http_send_gv_error(c, r, err);
	}
	json_decref(o);
	if ((err = gv_store_sector_get(srv->st, id, &info)) < 0)
		return gv_http_send_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, gv_wire_json_sector(&info));
}

enum MHD_Result gv_http_sector_delete(gv_server *srv, struct MHD_Connection *c, req *r)
{
	int err;

	if (gv_id_validate("sector id", r->arg) < 0)
		return gv_http_send_gv_error(c, r, GV_EINVAL);
	if ((err = gv_store_sector_remove(srv->st, r->arg)) < 0)
		return gv_http_send_gv_error(c, r, err);
	return gv_http_send_jsonv(c, r, MHD_HTTP_OK, gv_wire_json_sector_removed(r->arg));
}
