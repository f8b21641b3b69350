/*
 * test_wire.c - the one error table: every gv_error has exactly one row
 * (one name, one HTTP status, one exit code), names are unique, and the
 * error document carries the row's figures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <stdlib.h>
#include <jansson.h>

#include "graviton/wire.h"

static void every_code_has_one_row(void **state)
{
	size_t n, i, k;
	const gv_wire_error *t = gv_wire_errors(&n);
	int code;

	(void)state;
	for (code = GV_ECANCELED; code <= GV_ERROR; code++) {
		int rows = 0;

		for (i = 0; i < n; i++)
			rows += t[i].code == code;
		if (code == GV_ERESTART) {
			/* internal to reads, never reported: falls to "internal" */
			assert_int_equal(rows, 0);
			assert_string_equal(gv_wire_error_of(code)->name, "internal");
			continue;
		}
		assert_int_equal(rows, 1);
		assert_int_equal(gv_wire_error_of(code)->code, code);
	}
	for (i = 0; i < n; i++) {
		assert_true(t[i].http_status >= 400 && t[i].http_status < 600);
		assert_true(t[i].exit_code >= 64 && t[i].exit_code <= 78);
		for (k = i + 1; k < n; k++)
			assert_string_not_equal(t[i].name, t[k].name);
		assert_ptr_equal(gv_wire_error_named(t[i].name), &t[i]);
	}
	assert_null(gv_wire_error_named("no_such_error"));
	assert_string_equal(gv_wire_error_of(12345)->name, "internal");
}

static void the_expected_mappings(void **state)
{
	(void)state;
	assert_int_equal(gv_wire_error_of(GV_ENOTFOUND)->http_status, 404);
	assert_int_equal(gv_wire_error_of(GV_ENOTFOUND)->exit_code, 66);
	assert_int_equal(gv_wire_error_of(GV_EQUORUM)->http_status, 503);
	assert_int_equal(gv_wire_error_of(GV_EQUORUM)->exit_code, 69);
	assert_int_equal(gv_wire_error_of(GV_ENOSPACE)->http_status, 507);
	assert_int_equal(gv_wire_error_of(GV_EINVAL)->exit_code, 65);
	assert_int_equal(gv_wire_error_of(GV_EBUSY)->exit_code, 75);
	assert_int_equal(gv_wire_error_of(GV_ELOST)->exit_code, 69);
	assert_int_equal(gv_wire_error_named("unauthorized")->http_status, 401);
	assert_int_equal(gv_wire_error_named("unauthorized")->exit_code, 77);
	assert_int_equal(gv_wire_error_named("usage")->exit_code, 64);
}

/* A public document (text, taken) parsed back. */
static json_t *parsed(char *text)
{
	json_t *v;

	assert_non_null(text);
	v = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(v);
	return v;
}

static void error_document(void **state)
{
	json_t *d = parsed(gv_wire_error_doc(gv_wire_error_of(GV_EEXISTS), "already there"));

	(void)state;
	assert_int_equal(json_object_size(d), 4);
	assert_string_equal(json_string_value(json_object_get(d, "error")), "exists");
	assert_string_equal(json_string_value(json_object_get(d, "message")), "already there");
	assert_int_equal(json_integer_value(json_object_get(d, "status")), 409);
	assert_int_equal(json_integer_value(json_object_get(d, "exit_code")), 73);
	json_decref(d);
}

/* The job document from the texts of a summary and events; text that is
 * not an object (summary) or an array (events) is refused. */
static void job_document_from_text(void **state)
{
	json_t *j = parsed(gv_wire_job(7, "repair", 1, "done", "{\"lost\":0}",
	                               "[{\"key\":\"k\"}]"));

	(void)state;
	assert_int_equal(json_integer_value(json_object_get(j, "job")), 7);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "repair");
	assert_true(json_is_true(json_object_get(j, "dry_run")));
	assert_true(json_is_integer(json_object_get(json_object_get(j, "summary"), "lost")));
	assert_int_equal(json_array_size(json_object_get(j, "events")), 1);
	json_decref(j);
	j = parsed(gv_wire_job(0, "scrub", 0, "running", NULL, NULL));
	assert_true(json_is_null(json_object_get(j, "summary")));
	assert_int_equal(json_array_size(json_object_get(j, "events")), 0);
	json_decref(j);
	assert_null(gv_wire_job(0, "scrub", 0, "done", "[1]", NULL));
	assert_null(gv_wire_job(0, "scrub", 0, "done", NULL, "{\"a\":1}"));
	assert_null(gv_wire_job(0, "scrub", 0, "done", "{", NULL));
}

/* A list of sectors survives encoding and decoding; a bad list is refused. */
static void sectors_round_trip(void **state)
{
	gv_sector_info in[2], *out = NULL;
	size_t n = 9;
	char *text;

	(void)state;
	memset(in, 0, sizeof(in));
	strcpy(in[0].id, "s01");
	strcpy(in[0].kind, "fs");
	strcpy(in[0].path, "/d/s01");
	in[0].capacity = 1ull << 40;
	in[0].healthy = 1;
	strcpy(in[1].id, "s02");
	strcpy(in[1].rack, "r2");
	in[1].state = GV_SECTOR_DRAINING;
	text = gv_wire_sectors(in, 2);
	assert_non_null(text);
	assert_int_equal(gv_wire_sectors_decode(&out, &n, text), 0);
	free(text);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].path, "/d/s01");
	assert_true(out[0].capacity == 1ull << 40 && out[0].healthy);
	assert_string_equal(out[1].rack, "r2");
	assert_int_equal(out[1].state, GV_SECTOR_DRAINING);
	free(out);
	assert_int_equal(gv_wire_sectors_decode(&out, &n, "{\"id\":\"s01\"}"), GV_EINVAL);
	assert_null(out);
	assert_int_equal(n, 0);
	assert_int_equal(gv_wire_sectors_decode(&out, &n, "[{\"kind\":\"fs\"}]"), GV_EINVAL);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_one_row),
		cmocka_unit_test(job_document_from_text),
		cmocka_unit_test(sectors_round_trip),
		cmocka_unit_test(the_expected_mappings),
		cmocka_unit_test(error_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
