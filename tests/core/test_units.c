/*
 * test_units.c - sizes, durations, ids, sector states, the last-error
 * message (including its thread-locality) and the log sink.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graviton/common.h"
#include "graviton/types.h"
#include "core/log.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)
#define PiB (1024ULL * TiB)
#define EiB (1024ULL * PiB)

static void expect_size(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (gv_size_parse(&v, s) != 0) {
		print_error("size '%s' rejected: %s\n", s, gv_error_last());
		fail();
	}
	if (v != want) {
		print_error("size '%s': got %llu, want %llu\n", s, (unsigned long long)v,
		            (unsigned long long)want);
		fail();
	}
}

static void expect_size_reject(const char *s, const char *word)
{
	uint64_t v;

	gv_error_clear();
	if (gv_size_parse(&v, s) != GV_EINVAL) {
		print_error("size '%s' accepted\n", s ? s : "(null)");
		fail();
	}
	if (!strstr(gv_error_last(), word)) {
		print_error("size '%s': message '%s' lacks '%s'\n", s ? s : "(null)",
		            gv_error_last(), word);
		fail();
	}
}

static void test_size_parse(void **state)
{
	(void)state;
	expect_size("10GiB", 10 * GiB);
	expect_size("512MB", 512000000ULL);
	expect_size("1234", 1234);
	expect_size("0", 0);
	expect_size("10 GiB", 10 * GiB);
	expect_size("  10\tGiB  ", 10 * GiB);
	expect_size("1B", 1);
	expect_size("1b", 1);
	expect_size("7 bytes", 7);
	expect_size("1 byte", 1);
	/* HOCON: single letters of either case are powers of two */
	expect_size("4k", 4 * KiB);
	expect_size("4K", 4 * KiB);
	expect_size("3m", 3 * MiB);
	expect_size("3M", 3 * MiB);
	expect_size("2g", 2 * GiB);
	expect_size("2G", 2 * GiB);
	expect_size("1t", TiB);
	expect_size("1p", PiB);
	expect_size("1E", EiB);
	expect_size("1Ki", KiB);
	expect_size("1 kibibytes", KiB);
	expect_size("1 mebibyte", MiB);
	expect_size("15EiB", 15 * EiB);
	/* and the B-suffixed SI forms are powers of ten */
	expect_size("4kB", 4000);
	expect_size("512KB", 512000); /* what operators write, as MinIO reads it */
	expect_size("1 kilobyte", 1000);
	expect_size("2 megabytes", 2000000);
	expect_size("1GB", 1000000000ULL);
	expect_size("1TB", 1000000000000ULL);
	expect_size("1PB", 1000000000000000ULL);
	expect_size("18EB", 18000000000000000000ULL);
	expect_size("18446744073709551615", UINT64_MAX);
	expect_size("18446744073709551615B", UINT64_MAX);
}

static void test_size_reject(void **state)
{
	(void)state;
	expect_size_reject(NULL, "empty");
	expect_size_reject("", "number");
	expect_size_reject("   ", "number");
	expect_size_reject("GiB", "number");
	expect_size_reject("1.5GB", "whole number");
	expect_size_reject("-1", "number");
	expect_size_reject("+1", "number");
	expect_size_reject("10XB", "unknown unit");
	expect_size_reject("10gib", "unknown unit");
	expect_size_reject("10 GIB", "unknown unit");
	expect_size_reject("10XB", "unknown unit");
	expect_size_reject("10 Gi B", "trailing");
	expect_size_reject("10 GiB x", "trailing");
	expect_size_reject("0x10", "unknown unit");
	expect_size_reject("18446744073709551616", "too large");
	expect_size_reject("99999999999999999999999", "too large");
	expect_size_reject("16EiB", "too large");
	expect_size_reject("17179869184GiB", "too large");
	expect_size_reject("19EB", "too large");
}

static void test_size_format(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(gv_size_format(buf, sizeof(buf), 0), "0 B");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 1), "1 B");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 1023), "1023 B");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 1024), "1.0 KiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 1536), "1.5 KiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 10 * GiB), "10.0 GiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 3 * GiB / 2), "1.5 GiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), 1023 * KiB), "1023.0 KiB");
	/* never "1024.0 KiB": rounding up moves to the next unit */
	assert_string_equal(gv_size_format(buf, sizeof(buf), MiB - 1), "1.0 MiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), GiB - 1), "1.0 GiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), PiB), "1.0 PiB");
	assert_string_equal(gv_size_format(buf, sizeof(buf), UINT64_MAX), "16.0 EiB");

	/* the documented minimum buffer holds every value */
	{
		char small[16];
		uint64_t v;
		int sh;

		for (sh = 0; sh < 64; sh++) {
			v = (1ULL << sh) - 1;
			gv_size_format(small, sizeof(small), v);
			assert_true(strlen(small) < sizeof(small));
			v = 1ULL << sh;
			gv_size_format(small, sizeof(small), v);
			assert_true(strlen(small) < sizeof(small));
		}
	}
	/* and a short buffer is truncated, not overrun */
	assert_string_equal(gv_size_format(buf, 4, 10 * GiB), "10.");
	/* formatted sizes parse back to about the same value */
	{
		uint64_t v;

		assert_int_equal(gv_size_parse(&v, "10GiB"), 0);
		assert_string_equal(gv_size_format(buf, sizeof(buf), v), "10.0 GiB");
	}
}

static void expect_duration(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (gv_duration_parse(&v, s) != 0) {
		print_error("duration '%s' rejected: %s\n", s, gv_error_last());
		fail();
	}
	if (v != want) {
		print_error("duration '%s': got %llu, want %llu\n", s, (unsigned long long)v,
		            (unsigned long long)want);
		fail();
	}
}

static void expect_duration_reject(const char *s, const char *word)
{
	uint64_t v;

	gv_error_clear();
	if (gv_duration_parse(&v, s) != GV_EINVAL) {
		print_error("duration '%s' accepted\n", s ? s : "(null)");
		fail();
	}
	if (!strstr(gv_error_last(), word)) {
		print_error("duration '%s': message '%s' lacks '%s'\n", s ? s : "(null)",
		            gv_error_last(), word);
		fail();
	}
}

static void test_duration(void **state)
{
	(void)state;
	expect_duration("5 minutes", 5 * 60000);
	expect_duration("30s", 30000);
	expect_duration("7 days", 7ULL * 86400000);
	expect_duration("250ms", 250);
	expect_duration("1 hour", 3600000);
	expect_duration("2 hours", 7200000);
	expect_duration("1 minute", 60000);
	expect_duration("1m", 60000); /* HOCON: m is minutes */
	expect_duration("1h", 3600000);
	expect_duration("1d", 86400000);
	expect_duration("1 second", 1000);
	expect_duration("3 seconds", 3000);
	expect_duration("1 day", 86400000);
	expect_duration("100", 100); /* HOCON: a bare number is milliseconds */
	expect_duration("0", 0);
	expect_duration("0s", 0);
	expect_duration("5 milli", 5);
	expect_duration("5 millis", 5);
	expect_duration("5 milliseconds", 5);
	expect_duration("  5  minutes  ", 5 * 60000);
	expect_duration("213503982334 days", 213503982334ULL * 86400000ULL);

	expect_duration_reject(NULL, "empty");
	expect_duration_reject("", "number");
	expect_duration_reject("minutes", "number");
	expect_duration_reject("-5s", "number");
	expect_duration_reject("1.5s", "whole number");
	expect_duration_reject("5 fortnights", "unknown unit");
	expect_duration_reject("5 Minutes", "unknown unit");
	expect_duration_reject("5 MS", "unknown unit");
	expect_duration_reject("5 s s", "trailing");
	expect_duration_reject("5 minutes ago", "trailing");
	expect_duration_reject("213503982335 days", "too large");
	expect_duration_reject("99999999999999999999", "too large");
}

static void expect_id_reject(const char *id, const char *word)
{
	gv_error_clear();
	if (gv_id_validate("sector", id) != GV_EINVAL) {
		print_error("id '%s' accepted\n", id ? id : "(null)");
		fail();
	}
	if (!strstr(gv_error_last(), word) || !strstr(gv_error_last(), "sector")) {
		print_error("id '%s': message '%s' lacks '%s'\n", id ? id : "(null)",
		            gv_error_last(), word);
		fail();
	}
}

static void test_id_validate(void **state)
{
	char id[GV_ID_MAX + 8];

	(void)state;
	assert_int_equal(gv_id_validate("sector", "a"), 0);
	assert_int_equal(gv_id_validate("sector", "disk-01"), 0);
	assert_int_equal(gv_id_validate("rack", "Rack_A.2"), 0);
	assert_int_equal(gv_id_validate("zone", "9"), 0);
	assert_int_equal(gv_id_validate("zone", "a.-_"), 0);
	assert_int_equal(gv_id_validate("zone", "_x"), 0);
	memset(id, 'x', GV_ID_MAX - 1);
	id[GV_ID_MAX - 1] = '\0';
	assert_int_equal(gv_id_validate("sector", id), 0); /* 63 characters */

	memset(id, 'x', GV_ID_MAX);
	id[GV_ID_MAX] = '\0';
	expect_id_reject(id, "longer"); /* 64 characters */
	memset(id, 'y', GV_ID_MAX + 7);
	id[GV_ID_MAX + 7] = '\0';
	expect_id_reject(id, "longer");
	expect_id_reject(NULL, "empty");
	expect_id_reject("", "empty");
	expect_id_reject(".hidden", "start");
	expect_id_reject("-flag", "start");
	expect_id_reject("a b", "character 2");
	expect_id_reject("a/b", "character 2");
	expect_id_reject("../x", "start");
	expect_id_reject("x/../y", "character 2");
	expect_id_reject("a:b", "character 2");
	expect_id_reject("ab\n", "character 3");
	expect_id_reject("caf\xc3\xa9", "character 4");
	expect_id_reject("%s%n", "character 1");
	/* the kind of id appears in the message */
	assert_int_equal(gv_id_validate("zone", ""), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "zone"));
}

static void test_sector_state(void **state)
{
	gv_sector_state s = GV_SECTOR_RETIRED;
	int i;

	(void)state;
	for (i = GV_SECTOR_ACTIVE; i <= GV_SECTOR_RETIRED; i++) {
		gv_sector_state back;

		assert_int_equal(gv_sector_state_parse(&back, gv_sector_state_name(i)), 0);
		assert_int_equal(back, i);
	}
	assert_string_equal(gv_sector_state_name(GV_SECTOR_ACTIVE), "active");
	assert_string_equal(gv_sector_state_name(GV_SECTOR_DRAINING), "draining");
	assert_string_equal(gv_sector_state_name(GV_SECTOR_RETIRED), "retired");
	assert_string_equal(gv_sector_state_name((gv_sector_state)42), "unknown");

	assert_int_equal(gv_sector_state_parse(&s, "Active"), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "expected active"));
	assert_int_equal(s, GV_SECTOR_RETIRED);
	assert_int_equal(gv_sector_state_parse(&s, ""), GV_EINVAL);
	assert_int_equal(gv_sector_state_parse(&s, NULL), GV_EINVAL);
	assert_int_equal(gv_sector_state_parse(&s, "active "), GV_EINVAL);
	assert_int_equal(gv_sector_state_parse(&s, "activex"), GV_EINVAL);
	assert_int_equal(gv_sector_state_parse(&s, "unknown"), GV_EINVAL);
	assert_int_equal(s, GV_SECTOR_RETIRED);
}

static void test_error_basics(void **state)
{
	char longer[2000];
	int code;

	(void)state;
	gv_error_clear();
	assert_string_equal(gv_error_last(), "");
	assert_int_equal(gv_error_last_errno(), 0);

	assert_int_equal(gv_error_set(GV_ENOTFOUND, "no key %s", "abc"), GV_ENOTFOUND);
	assert_string_equal(gv_error_last(), "no key abc");
	assert_int_equal(gv_error_last_errno(), 0);

	assert_int_equal(gv_error_set_errno(GV_EIO, ENOENT, "open %s", "/x"), GV_EIO);
	assert_int_equal(gv_error_last_errno(), ENOENT);
	assert_non_null(strstr(gv_error_last(), "open /x: "));
	assert_non_null(strstr(gv_error_last(), strerror(ENOENT)));

	/* errno 0: no suffix */
	gv_error_set_errno(GV_EIO, 0, "plain");
	assert_string_equal(gv_error_last(), "plain");
	assert_int_equal(gv_error_last_errno(), 0);

	/* a later gv_error_set resets the errno */
	gv_error_set_errno(GV_EIO, EACCES, "x");
	gv_error_set(GV_EINVAL, "y");
	assert_int_equal(gv_error_last_errno(), 0);

	/* wrapping the previous message */
	gv_error_set(GV_EIO, "inner");
	gv_error_set(GV_EIO, "outer: %s", gv_error_last());
	assert_string_equal(gv_error_last(), "outer: inner");
	gv_error_set(GV_EIO, "%s, %s", gv_error_last(), gv_error_last());
	assert_string_equal(gv_error_last(), "outer: inner, outer: inner");

	/* a long message is truncated; with an errno the errno text survives */
	memset(longer, 'p', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	gv_error_set(GV_EIO, "%s", longer);
	assert_true(strlen(gv_error_last()) > 100);
	assert_true(strlen(gv_error_last()) < sizeof(longer) - 1);
	gv_error_set_errno(GV_EIO, ENOSPC, "write %s", longer);
	assert_int_equal(gv_error_last_errno(), ENOSPC);
	assert_non_null(strstr(gv_error_last(), strerror(ENOSPC)));
	assert_non_null(strstr(gv_error_last(), "write ppp"));
	/* an unknown errno still yields a message */
	gv_error_set_errno(GV_EIO, 99999, "odd");
	assert_int_equal(gv_error_last_errno(), 99999);
	assert_true(strlen(gv_error_last()) > strlen("odd: "));

	/* messages are one line: control characters are replaced */
	gv_error_set(GV_EINVAL, "bad key '%s'", "a\nb\rc\td\x1b[0m");
	assert_null(strchr(gv_error_last(), '\n'));
	assert_null(strchr(gv_error_last(), '\r'));
	assert_null(strchr(gv_error_last(), '\x1b'));
	assert_non_null(strstr(gv_error_last(), "bad key 'a"));

	gv_error_clear();
	assert_string_equal(gv_error_last(), "");
	assert_int_equal(gv_error_last_errno(), 0);

	/* every code has a distinct stable name */
	for (code = GV_ENOTEMPTY; code <= GV_OK; code++) {
		int other;

		assert_true(strncmp(gv_error_name(code), "GV_", 3) == 0);
		assert_string_not_equal(gv_error_name(code), "GV_UNKNOWN");
		for (other = GV_ENOTEMPTY; other < code; other++)
			assert_string_not_equal(gv_error_name(code), gv_error_name(other));
	}
	assert_string_equal(gv_error_name(GV_EQUORUM), "GV_EQUORUM");
	assert_string_equal(gv_error_name(GV_OK), "GV_OK");
	assert_string_equal(gv_error_name(1), "GV_UNKNOWN");
	assert_string_equal(gv_error_name(GV_ENOTEMPTY - 1), "GV_UNKNOWN");
}

struct thread_arg {
	pthread_barrier_t *barrier;
	const char *msg;
	int errnum;
	int ok;
};

static void *error_thread(void *p)
{
	struct thread_arg *a = p;
	int round;

	/* a new thread starts with no error */
	a->ok = gv_error_last()[0] == '\0' && gv_error_last_errno() == 0;
	for (round = 0; round < 200; round++) {
		gv_error_set_errno(GV_EIO, a->errnum, "%s %d", a->msg, round);
		pthread_barrier_wait(a->barrier); /* both have written */
		{
			char want[64];

			snprintf(want, sizeof(want), "%s %d", a->msg, round);
			if (strncmp(gv_error_last(), want, strlen(want)) != 0 ||
			    gv_error_last_errno() != a->errnum)
				a->ok = 0;
		}
		pthread_barrier_wait(a->barrier); /* both have read */
	}
	return NULL;
}

static void test_error_thread_local(void **state)
{
	pthread_barrier_t barrier;
	pthread_t t1, t2;
	struct thread_arg a1 = { &barrier, "from one", EACCES, 0 };
	struct thread_arg a2 = { &barrier, "from two", ENOENT, 0 };

	(void)state;
	gv_error_set(GV_EINVAL, "main thread");
	assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
	assert_int_equal(pthread_create(&t1, NULL, error_thread, &a1), 0);
	assert_int_equal(pthread_create(&t2, NULL, error_thread, &a2), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_barrier_destroy(&barrier);
	assert_true(a1.ok);
	assert_true(a2.ok);
	assert_string_equal(gv_error_last(), "main thread");
	assert_int_equal(gv_error_last_errno(), 0);
}

struct log_capture {
	int calls;
	gv_log_level level;
	char last[2048];
};

static void capture(gv_log_level level, const char *msg, void *payload)
{
	struct log_capture *c = payload;

	c->calls++;
	c->level = level;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

static void test_log(void **state)
{
	struct log_capture c;
	char big[3000];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_string_equal(gv_log_level_name(GV_LOG_DEBUG), "debug");
	assert_string_equal(gv_log_level_name(GV_LOG_INFO), "info");
	assert_string_equal(gv_log_level_name(GV_LOG_WARN), "warn");
	assert_string_equal(gv_log_level_name(GV_LOG_ERROR), "error");
	assert_string_equal(gv_log_level_name((gv_log_level)17), "?");

	/* no sink: nothing is enabled, nothing crashes */
	gv_log_set(NULL, GV_LOG_DEBUG, NULL);
	assert_false(gv_log_enabled(GV_LOG_ERROR));
	gv_errlog("dropped %d", 1);

	gv_log_set(capture, GV_LOG_WARN, &c);
	assert_false(gv_log_enabled(GV_LOG_INFO));
	assert_true(gv_log_enabled(GV_LOG_WARN));
	gv_info("not shown");
	assert_int_equal(c.calls, 0);
	gv_warn("disk %s is %d%% full", "d1", 93);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, GV_LOG_WARN);
	assert_string_equal(c.last, "disk d1 is 93% full");
	gv_errlog("boom");
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.level, GV_LOG_ERROR);

	/* a long line is truncated, not overrun */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	gv_warn("%s", big);
	assert_int_equal(c.calls, 3);
	assert_true(strlen(c.last) > 100 && strlen(c.last) < sizeof(big) - 1);

	gv_log_set(NULL, GV_LOG_INFO, NULL);
}

static void test_now_and_replicas_free(void **state)
{
	int64_t t = gv_now_ms();
	gv_replica *r = calloc(2, sizeof(*r));

	(void)state;
	assert_true(t > 1600000000000LL); /* after 2020 */
	assert_true(gv_now_ms() >= t);
	gv_replicas_free(NULL, 3);
	assert_non_null(r);
	assert_int_equal(gv_rangeset_add(&r[1].ranges, 0, 10), 0);
	gv_replicas_free(r, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_parse),
		cmocka_unit_test(test_size_reject),
		cmocka_unit_test(test_size_format),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_id_validate),
		cmocka_unit_test(test_sector_state),
		cmocka_unit_test(test_error_basics),
		cmocka_unit_test(test_error_thread_local),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_now_and_replicas_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
