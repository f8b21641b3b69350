/*
 * http_reply.c - the server's responses: JSON documents (one newline
 * after each) and error documents from the one error table.
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

#include "server/http_int.h"

/* ---- responses ----------------------------------------------------------- */

enum MHD_Result gv_http_send_buf(struct MHD_Connection *c, req *r, int status, const char *type,
                                char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"graviton\"");
	r->status = status;
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result gv_http_send_json(struct MHD_Connection *c, req *r, int status, char *json)
{
	size_t len;
	char *body;

	if (!json)
		return MHD_NO;
	len = strlen(json);
	body = malloc(len + 2);
	if (!body) {
		free(json);
		return MHD_NO;
	}
	memcpy(body, json, len);
	body[len] = '\n';
	body[len + 1] = '\0';
	free(json);
	return gv_http_send_buf(c, r, status, "application/json", body, len + 1);
}

enum MHD_Result gv_http_send_jsonv(struct MHD_Connection *c, req *r, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(o);
	return gv_http_send_json(c, r, status, s);
}

/* The error document of the table's row `name` (graviton/wire.h), with
 * that row's status. */
enum MHD_Result gv_http_send_error(struct MHD_Connection *c, req *r, const char *name,
                                  const char *fmt, ...)
{
	const gv_wire_error *e = gv_wire_error_named(name);
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!e)
		e = gv_wire_error_of(GV_ERROR);
	return gv_http_send_jsonv(c, r, e->http_status, gv_wire_json_error_doc(e, msg));
}

/* Engine errors as HTTP answers, through the one error table. */
enum MHD_Result gv_http_send_gv_error(struct MHD_Connection *c, req *r, int err)
{
	const gv_wire_error *e = gv_wire_error_of(err);

	return gv_http_send_jsonv(c, r, e->http_status, gv_wire_json_error_doc(e, gv_error_last()));
}

/* An error document with one extra header (Allow, Content-Range). */
enum MHD_Result gv_http_send_error_headers(struct MHD_Connection *c, req *r,
                                          const gv_wire_error *e, const char *msg,
                                          const char *header, const char *value)
{
	char *body = gv_wire_dump(gv_wire_json_error_doc(e, msg), 0), *nl;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len;

	if (!body)
		return MHD_NO;
	len = strlen(body);
	if (!(nl = realloc(body, len + 2))) {
		free(body);
		return MHD_NO;
	}
	body = nl;
	memcpy(body + len, "\n", 2);
	resp = MHD_create_response_from_buffer(len + 1, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, header, value);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	r->status = e->http_status;
	ret = MHD_queue_response(c, (unsigned)e->http_status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Refuse a request whose body is still arriving.  MHD queues a response
 * only once the body is consumed, so the error is kept, the rest of the
 * body read and discarded (up to DISCARD_MAX, then the connection is
 * closed), and the error answered at the end (see on_request).
 */
void gv_http_refuse_upload(req *r, const gv_wire_error *e, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(r->refusal);
	r->refusal = gv_wire_dump(gv_wire_json_error_doc(e, msg), 0);
	r->refusal_status = e->http_status;
}

void gv_http_refuse_upload_gv(req *r, int err)
{
	gv_http_refuse_upload(r, gv_wire_error_of(err), "%s", gv_error_last());
}
