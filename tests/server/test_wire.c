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

static void error_document(void **state)
{
	json_t *d = gv_wire_error_doc(gv_wire_error_of(GV_EEXISTS), "already there");

	(void)state;
	assert_non_null(d);
	assert_int_equal(json_object_size(d), 4);
	assert_string_equal(json_string_value(json_object_get(d, "error")), "exists");
	assert_string_equal(json_string_value(json_object_get(d, "message")), "already there");
	assert_int_equal(json_integer_value(json_object_get(d, "status")), 409);
	assert_int_equal(json_integer_value(json_object_get(d, "exit_code")), 73);
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_one_row),
		cmocka_unit_test(the_expected_mappings),
		cmocka_unit_test(error_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
