/*
 * test_config.c - the HOCON reader and the typed configuration.
 *
 * The seed's configuration block must load unchanged; every HOCON feature
 * Graviton promises is exercised; each malformed input must fail with
 * GV_EINVAL, a message naming the file, line, column and key, and leave the
 * configuration untouched; the effective configuration dumps to text that
 * loads back to the same settings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <math.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "graviton/config.h"
#include "core/hocon.h"

#define GiB (1024ULL * 1024 * 1024)

/* Copied verbatim from the "Configuration" section of
 * shared/seed/replication-and-repair.md (trailing spaces included). */
static const char seed_block[] =
	"graviton {\n"
	"  replication {\n"
	"    factor = 3\n"
	"    min-replicas = 2\n"
	"    \n"
	"    strategy = \"rack-aware\"  # or \"simple\", \"zone-aware\"\n"
	"    \n"
	"    # Rack awareness\n"
	"    min-racks = 2\n"
	"    \n"
	"    # Zone awareness  \n"
	"    min-zones = 2\n"
	"    \n"
	"    # Repair\n"
	"    repair {\n"
	"      enabled = true\n"
	"      interval = 5 minutes\n"
	"      parallel-jobs = 4\n"
	"      batch-size = 100\n"
	"    }\n"
	"    \n"
	"    # Scrubbing\n"
	"    scrub {\n"
	"      enabled = true\n"
	"      interval = 7 days\n"
	"      parallel-reads = 8\n"
	"    }\n"
	"    \n"
	"    # Rebalancing\n"
	"    rebalance {\n"
	"      enabled = true\n"
	"      threshold = 0.1  # 10% utilization difference\n"
	"      max-moves-per-run = 100\n"
	"    }\n"
	"  }\n"
	"}\n";

/* ---- helpers ------------------------------------------------------------ */

static void load_ok(gv_config *c, const char *text)
{
	int rc = gv_config_load_string(c, "test.conf", text);

	if (rc != 0)
		print_error("unexpected failure: %s\n--- input ---\n%s\n", gv_error_last(), text);
	assert_int_equal(rc, 0);
}

/* Value at a dotted path of a parsed tree ("a.b.c"; no quoting). */
static const gv_hocon_value *at(const gv_hocon_value *root, const char *path)
{
	char buf[256], *save = NULL, *seg;
	const gv_hocon_value *v = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (seg = strtok_r(buf, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save)) {
		const gv_hocon_field *f = gv_hocon_find(v, seg);

		v = f ? f->value : NULL;
	}
	return v;
}

static gv_hocon_value *parse_ok(const char *text)
{
	gv_hocon_value *root = NULL;
	int rc = gv_hocon_parse(&root, "t.conf", text, strlen(text));

	if (rc != 0)
		print_error("unexpected failure: %s\n--- input ---\n%s\n", gv_error_last(), text);
	assert_int_equal(rc, 0);
	assert_non_null(root);
	return root;
}

static void assert_str_at(const gv_hocon_value *root, const char *path, const char *want)
{
	const gv_hocon_value *v = at(root, path);

	if (!v || v->type != GV_HOCON_STRING || strcmp(v->str, want) != 0)
		print_error("%s: want string \"%s\", got %s\n", path, want,
		            v ? (v->str ? v->str : gv_hocon_type_name(v->type)) : "nothing");
	assert_non_null(v);
	assert_int_equal(v->type, GV_HOCON_STRING);
	assert_string_equal(v->str, want);
}

static void parse_fails(const char *text, const char *where, const char *phrase)
{
	gv_hocon_value *root = (gv_hocon_value *)1;
	char prefix[64];
	int rc = gv_hocon_parse(&root, "t.conf", text, strlen(text));

	assert_int_equal(rc, GV_EINVAL);
	assert_null(root);
	snprintf(prefix, sizeof(prefix), "t.conf:%s: ", where);
	if (strncmp(gv_error_last(), prefix, strlen(prefix)) != 0 ||
	    !strstr(gv_error_last(), phrase))
		print_error("want \"%s...%s\", got \"%s\"\n", prefix, phrase, gv_error_last());
	assert_true(strncmp(gv_error_last(), prefix, strlen(prefix)) == 0);
	assert_non_null(strstr(gv_error_last(), phrase));
}

/* ---- defaults and the seed --------------------------------------------- */

static void check_defaults(const gv_config *c)
{
	assert_string_equal(c->data_dir, "./graviton-data");
	assert_string_equal(c->index.backend, "sqlite");
	assert_string_equal(c->index.path, "");
	assert_int_equal(c->nsectors, 0);
	assert_null(c->sectors);
	assert_string_equal(c->server.listen, "127.0.0.1:8787");
	assert_string_equal(c->server.auth_token, "");
	assert_true(c->server.max_body_size == 10 * GiB);
	assert_int_equal(c->server.threads, 8);
	assert_true(c->server.idle_timeout_ms == 60000);
	assert_int_equal(c->log.level, GV_LOG_INFO);
	assert_int_equal(c->log.format, GV_LOG_FORMAT_TEXT);
	assert_int_equal(c->replication.factor, 3);
	assert_int_equal(c->replication.min_replicas, 2);
	assert_int_equal(c->replication.strategy, GV_STRATEGY_RACK_AWARE);
	assert_int_equal(c->replication.min_racks, 2);
	assert_int_equal(c->replication.min_zones, 2);
	assert_true(c->replication.write_timeout_ms == 30000);
	assert_int_equal(c->replication.repair.enabled, 1);
	assert_true(c->replication.repair.interval_ms == 5 * 60 * 1000);
	assert_int_equal(c->replication.repair.parallel_jobs, 4);
	assert_int_equal(c->replication.repair.batch_size, 100);
	assert_true(c->replication.repair.max_bytes_per_second == 0);
	assert_int_equal(c->replication.scrub.enabled, 1);
	assert_true(c->replication.scrub.interval_ms == 7ULL * 24 * 3600 * 1000);
	assert_int_equal(c->replication.scrub.parallel_reads, 8);
	assert_int_equal(c->replication.scrub.batch_size, 100);
	assert_true(c->replication.scrub.max_bytes_per_second == 0);
	assert_true(c->replication.scrub.presence_interval_ms == 3600 * 1000);
	assert_int_equal(c->replication.rebalance.enabled, 1);
	assert_true(c->replication.rebalance.threshold == 0.1);
	assert_int_equal(c->replication.rebalance.max_moves_per_run, 100);
	assert_true(c->replication.rebalance.high_water == 0.9);
	assert_true(c->replication.rebalance.low_water == 0.5);
}

static void test_defaults(void **state)
{
	gv_config c, d;
	gv_placement_opts p;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	check_defaults(&c);
	assert_int_equal(gv_config_validate(&c), 0);
	gv_config_placement(&p, &c);
	assert_int_equal(p.version, GV_PLACEMENT_OPTS_VERSION);
	assert_int_equal(p.strategy, GV_STRATEGY_RACK_AWARE);
	assert_int_equal(p.factor, 3);
	assert_int_equal(p.min_replicas, 2);
	assert_int_equal(p.min_racks, 2);
	assert_int_equal(p.min_zones, 2);

	/* An empty file, or one with only comments, changes nothing. */
	assert_int_equal(gv_config_init(&d), 0);
	load_ok(&d, "");
	load_ok(&d, "# nothing here\n// nor here\n\n");
	assert_true(gv_config_equal(&c, &d));

	gv_config_free(&c);
	gv_config_free(&d);
	gv_config_free(&d); /* freeing twice is harmless: free zeroes */
	gv_config_free(NULL);
}

static void test_seed_block(void **state)
{
	gv_config c, d;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(gv_config_init(&d), 0);
	load_ok(&c, seed_block);
	assert_int_equal(c.replication.factor, 3);
	assert_int_equal(c.replication.min_replicas, 2);
	assert_int_equal(c.replication.strategy, GV_STRATEGY_RACK_AWARE);
	assert_int_equal(c.replication.min_racks, 2);
	assert_int_equal(c.replication.min_zones, 2);
	assert_int_equal(c.replication.repair.enabled, 1);
	assert_true(c.replication.repair.interval_ms == 300000);
	assert_int_equal(c.replication.repair.parallel_jobs, 4);
	assert_int_equal(c.replication.repair.batch_size, 100);
	assert_int_equal(c.replication.scrub.enabled, 1);
	assert_true(c.replication.scrub.interval_ms == 604800000ULL);
	assert_int_equal(c.replication.scrub.parallel_reads, 8);
	assert_int_equal(c.replication.rebalance.enabled, 1);
	assert_true(c.replication.rebalance.threshold == 0.1);
	assert_int_equal(c.replication.rebalance.max_moves_per_run, 100);
	/* The seed's values are the defaults. */
	assert_true(gv_config_equal(&c, &d));

	/* And with every value changed, the seed's shape still loads them. */
	load_ok(&c, "graviton {\n  replication {\n    factor = 5\n    min-replicas = 3\n"
	            "    strategy = \"zone-aware\"  # or \"simple\", \"zone-aware\"\n"
	            "    min-racks = 3\n    min-zones = 3\n"
	            "    repair {\n      enabled = false\n      interval = 10 minutes\n"
	            "      parallel-jobs = 2\n      batch-size = 50\n    }\n"
	            "    scrub {\n      enabled = false\n      interval = 1 day\n"
	            "      parallel-reads = 16\n    }\n"
	            "    rebalance {\n      enabled = false\n      threshold = 0.25  # 25%\n"
	            "      max-moves-per-run = 7\n    }\n  }\n}\n");
	assert_int_equal(c.replication.factor, 5);
	assert_int_equal(c.replication.min_replicas, 3);
	assert_int_equal(c.replication.strategy, GV_STRATEGY_ZONE_AWARE);
	assert_int_equal(c.replication.min_racks, 3);
	assert_int_equal(c.replication.min_zones, 3);
	assert_int_equal(c.replication.repair.enabled, 0);
	assert_true(c.replication.repair.interval_ms == 600000);
	assert_int_equal(c.replication.repair.parallel_jobs, 2);
	assert_int_equal(c.replication.repair.batch_size, 50);
	assert_int_equal(c.replication.scrub.enabled, 0);
	assert_true(c.replication.scrub.interval_ms == 86400000);
	assert_int_equal(c.replication.scrub.parallel_reads, 16);
	assert_int_equal(c.replication.rebalance.enabled, 0);
	assert_true(c.replication.rebalance.threshold == 0.25);
	assert_int_equal(c.replication.rebalance.max_moves_per_run, 7);
	gv_config_free(&c);
	gv_config_free(&d);
}

/* ---- the HOCON reader --------------------------------------------------- */

static void test_hocon_objects_and_keys(void **state)
{
	gv_hocon_value *r;

	(void)state;
	/* Braces, dotted keys, '=' and ':', no separator before '{', commas
	 * or new lines between fields, quoted key parts. */
	r = parse_ok("a { b { c = 1 } }\n"
	             "x.y.z : 2\n"
	             "m = { n: 3, o = 4, }\n"
	             "\"q.r\".s = 5\n"
	             "p {\n  k1 = 6\n\n  k2 = 7\n}\n");
	assert_int_equal(at(r, "a.b.c")->type, GV_HOCON_NUMBER);
	assert_string_equal(at(r, "a.b.c")->str, "1");
	assert_string_equal(at(r, "x.y.z")->str, "2");
	assert_string_equal(at(r, "m.n")->str, "3");
	assert_string_equal(at(r, "m.o")->str, "4");
	assert_non_null(gv_hocon_find(r, "q.r"));
	assert_string_equal(gv_hocon_find(gv_hocon_find(r, "q.r")->value, "s")->value->str, "5");
	assert_string_equal(at(r, "p.k2")->str, "7");
	gv_hocon_free(r);

	/* A root in braces (JSON) reads the same as one without. */
	r = parse_ok("{ \"a\": { \"b\": [1, 2.5, -3e2, true, false, null, \"s\"] } }");
	{
		const gv_hocon_value *arr = at(r, "a.b");

		assert_int_equal(arr->type, GV_HOCON_ARRAY);
		assert_int_equal(arr->nitems, 7);
		assert_int_equal(arr->items[0]->type, GV_HOCON_NUMBER);
		assert_true(arr->items[1]->number == 2.5);
		assert_true(arr->items[2]->number == -300.0);
		assert_int_equal(arr->items[3]->type, GV_HOCON_BOOL);
		assert_int_equal(arr->items[3]->boolean, 1);
		assert_int_equal(arr->items[4]->boolean, 0);
		assert_int_equal(arr->items[5]->type, GV_HOCON_NULL);
		assert_int_equal(arr->items[6]->type, GV_HOCON_STRING);
	}
	gv_hocon_free(r);
}

static void test_hocon_comments_and_whitespace(void **state)
{
	gv_hocon_value *r;

	(void)state;
	r = parse_ok("\xef\xbb\xbf# comment\r\n"
	             "// another\r\n"
	             "a = 1 # trailing\r\n"
	             "b = two words // trailing\r\n"
	             "c = \"# not a comment // either\"\r\n");
	assert_string_equal(at(r, "a")->str, "1");
	assert_str_at(r, "b", "two words");
	assert_str_at(r, "c", "# not a comment // either");
	gv_hocon_free(r);
	/* ':' may not appear in an unquoted value: quote it. */
	parse_fails("d = http://x\n", "1:9", "unexpected ':' in a value");
	/* ...and "//" in an unquoted value starts a comment. */
	r = parse_ok("p = /srv//data\n");
	assert_str_at(r, "p", "/srv");
	gv_hocon_free(r);
}

static void test_hocon_strings(void **state)
{
	gv_hocon_value *r;

	(void)state;
	r = parse_ok("q = \"a \\\"b\\\" \\\\ \\/ \\n\\t\\r\\b\\f end\"\n"
	             "u = \"\\u00e9\\u20AC\\ud83d\\ude00\"\n"
	             "raw = caf\xc3\xa9\n"
	             "t = \"\"\"line 1\n\"quoted\" line 2\"\"\"\n"
	             "t2 = \"\"\"ends in quotes\"\"\"\"\"\n"
	             "e = \"\"\n"
	             "cat = \"a\" b \"c\"\n"
	             "spaced = a   b\t c\n"
	             "num = 10\n"
	             "notnum = 010\n"
	             "ver = 1.2.3\n"
	             "dur = 5 minutes\n"
	             "size = 512MB\n"
	             "neg = -0.5e-3\n");
	assert_str_at(r, "q", "a \"b\" \\ / \n\t\r\b\f end");
	assert_str_at(r, "u", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	assert_str_at(r, "raw", "caf\xc3\xa9");
	assert_str_at(r, "t", "line 1\n\"quoted\" line 2");
	assert_str_at(r, "t2", "ends in quotes\"\"");
	assert_str_at(r, "e", "");
	assert_str_at(r, "cat", "a b c");
	assert_str_at(r, "spaced", "a   b\t c");
	assert_int_equal(at(r, "num")->type, GV_HOCON_NUMBER);
	assert_str_at(r, "notnum", "010");
	assert_str_at(r, "ver", "1.2.3");
	assert_str_at(r, "dur", "5 minutes");
	assert_str_at(r, "size", "512MB");
	assert_int_equal(at(r, "neg")->type, GV_HOCON_NUMBER);
	assert_true(at(r, "neg")->number == -0.0005);
	gv_hocon_free(r);
}

static void test_hocon_arrays(void **state)
{
	gv_hocon_value *r;
	const gv_hocon_value *a;

	(void)state;
	r = parse_ok("a = [1, 2, 3,]\n"
	             "b = [\n  x\n  y,\n  z\n]\n"
	             "c = [ { id = s1 }, { id = s2,\n path = p } \n { id = s3 } ]\n"
	             "d = []\n"
	             "e = [[1, 2], [], [[3]]]\n"
	             "f = [ 5 minutes, 10 GiB ]\n");
	a = at(r, "a");
	assert_int_equal(a->nitems, 3);
	a = at(r, "b");
	assert_int_equal(a->nitems, 3);
	assert_string_equal(a->items[1]->str, "y");
	a = at(r, "c");
	assert_int_equal(a->nitems, 3);
	assert_string_equal(gv_hocon_find(a->items[1], "path")->value->str, "p");
	assert_string_equal(gv_hocon_find(a->items[2], "id")->value->str, "s3");
	assert_int_equal(at(r, "d")->nitems, 0);
	a = at(r, "e");
	assert_int_equal(a->nitems, 3);
	assert_int_equal(a->items[2]->items[0]->items[0]->type, GV_HOCON_NUMBER);
	a = at(r, "f");
	assert_string_equal(a->items[0]->str, "5 minutes");
	assert_string_equal(a->items[1]->str, "10 GiB");
	gv_hocon_free(r);
}

static void test_hocon_override_and_merge(void **state)
{
	gv_hocon_value *r;

	(void)state;
	r = parse_ok("a = 1\n"
	             "a = 2\n"
	             "o { x = 1, y = 1 }\n"
	             "o { y = 2, z = 2 }\n"
	             "o.w = 3\n"
	             "arr = [1, 2]\n"
	             "arr = [3]\n"
	             "s = { k = 1 }\n"
	             "s = scalar\n"
	             "t = scalar\n"
	             "t { k = 1 }\n");
	assert_string_equal(at(r, "a")->str, "2");
	assert_string_equal(at(r, "o.x")->str, "1");
	assert_string_equal(at(r, "o.y")->str, "2");
	assert_string_equal(at(r, "o.z")->str, "2");
	assert_string_equal(at(r, "o.w")->str, "3");
	assert_int_equal(at(r, "arr")->nitems, 1);
	assert_str_at(r, "s", "scalar");
	assert_string_equal(at(r, "t.k")->str, "1");
	/* First appearance decides the order of keys. */
	assert_string_equal(r->fields[0].key, "a");
	assert_string_equal(at(r, "o")->fields[3].key, "w");
	gv_hocon_free(r);
}

static void test_hocon_substitutions(void **state)
{
	gv_hocon_value *r;

	(void)state;
	assert_int_equal(setenv("GV_TEST_HOME", "/home/gv", 1), 0);
	unsetenv("GV_TEST_UNSET");
	r = parse_ok("base = /srv\n"
	             "dir = ${base}/data\n"
	             "later = ${defined.below}\n"
	             "defined.below = yes\n"
	             "home = ${GV_TEST_HOME}\n"
	             "homedir = ${GV_TEST_HOME}\"/x y\"\n"
	             "opt = kept\n"
	             "opt = ${?GV_TEST_UNSET}\n"
	             "gone = ${?GV_TEST_UNSET}\n"
	             "inconcat = a${?GV_TEST_UNSET}b\n"
	             "obj { k = 1 }\n"
	             "copy = ${obj}\n"
	             "copy { j = 2 }\n"
	             "self = one\n"
	             "self = ${self}\" two\"\n"
	             "list = [ ${base}, ${?GV_TEST_UNSET}, z ]\n"
	             "num = ${n}\n"
	             "n = 42\n");
	assert_str_at(r, "dir", "/srv/data");
	assert_str_at(r, "later", "yes");
	assert_str_at(r, "home", "/home/gv");
	assert_str_at(r, "homedir", "/home/gv/x y");
	assert_str_at(r, "opt", "kept");
	assert_null(gv_hocon_find(r, "gone"));
	assert_str_at(r, "inconcat", "ab");
	assert_string_equal(at(r, "copy.k")->str, "1");
	assert_string_equal(at(r, "copy.j")->str, "2");
	assert_null(at(r, "obj.j"));
	assert_str_at(r, "self", "one two");
	assert_int_equal(at(r, "list")->nitems, 2);
	assert_string_equal(at(r, "list")->items[1]->str, "z");
	assert_int_equal(at(r, "num")->type, GV_HOCON_NUMBER);
	gv_hocon_free(r);

	parse_fails("a = ${GV_TEST_UNSET}\n", "1:5", "${GV_TEST_UNSET} is not defined");
	parse_fails("a = ${b}\nb = ${a}\n", "2:5", "is part of a substitution cycle");
	parse_fails("a = ${a}\n", "1:5", "is part of a substitution cycle");
	parse_fails("o { a = 1 }\ns = x${o}\n", "2:6", "${o} is an object and cannot be part");
	parse_fails("a = ${ b }\n", "1:7", "expected a key");
	parse_fails("a = ${b c}\n", "1:8", "spaces are not allowed inside ${...}");
	parse_fails("a = ${b\n", "1:8", "expected '}' to close the substitution");
	unsetenv("GV_TEST_HOME");
}

static void test_hocon_bounds(void **state)
{
	gv_hocon_buf b = GV_HOCON_BUF_INIT(8u * 1024 * 1024);
	gv_hocon_value *r;
	int i;

	(void)state;
	/* 32 levels of nesting are fine, 33 are not. */
	for (i = 0; i < 32; i++)
		gv_hocon_buf_puts(&b, "a { ");
	for (i = 0; i < 32; i++)
		gv_hocon_buf_puts(&b, "} ");
	r = parse_ok(b.ptr);
	gv_hocon_free(r);
	b.len = 0;
	for (i = 0; i < 33; i++)
		gv_hocon_buf_puts(&b, "a { ");
	for (i = 0; i < 33; i++)
		gv_hocon_buf_puts(&b, "} ");
	parse_fails(b.ptr, "1:129", "nesting deeper than 32 levels");
	b.len = 0;
	gv_hocon_buf_puts(&b, "a = ");
	for (i = 0; i < 33; i++)
		gv_hocon_buf_puts(&b, "[");
	parse_fails(b.ptr, "1:37", "nesting deeper than 32 levels");

	/* Strings up to 64 KiB. */
	b.len = 0;
	gv_hocon_buf_puts(&b, "s = \"");
	for (i = 0; i < 65536; i++)
		gv_hocon_buf_add(&b, "x", 1);
	gv_hocon_buf_puts(&b, "\"\n");
	r = parse_ok(b.ptr);
	assert_int_equal(at(r, "s")->len, 65536);
	gv_hocon_free(r);
	b.len = 0;
	gv_hocon_buf_puts(&b, "s = ");
	for (i = 0; i < 65537; i++)
		gv_hocon_buf_add(&b, "x", 1);
	parse_fails(b.ptr, "1:5", "string longer than 65536 bytes");

	/* Inputs up to 1 MiB. */
	b.len = 0;
	gv_hocon_buf_puts(&b, "#");
	while (b.len < GV_HOCON_MAX_INPUT)
		gv_hocon_buf_add(&b, "#", 1);
	r = parse_ok(b.ptr);
	gv_hocon_free(r);
	gv_hocon_buf_add(&b, "#", 1);
	r = (gv_hocon_value *)1;
	assert_int_equal(gv_hocon_parse(&r, "big.conf", b.ptr, b.len), GV_EINVAL);
	assert_null(r);
	assert_non_null(strstr(gv_error_last(), "big.conf: larger than 1024 KiB"));

	/* A bounded number of values. */
	b.len = 0;
	gv_hocon_buf_puts(&b, "a = [");
	for (i = 0; i <= GV_HOCON_MAX_VALUES; i++)
		gv_hocon_buf_puts(&b, "1,");
	gv_hocon_buf_puts(&b, "]");
	r = (gv_hocon_value *)1;
	assert_int_equal(gv_hocon_parse(&r, "t.conf", b.ptr, b.len), GV_EINVAL);
	assert_null(r);
	assert_non_null(strstr(gv_error_last(), "more than 100000 values"));

	/* Substitutions cannot multiply without bound. */
	b.len = 0;
	gv_hocon_buf_puts(&b, "a0 = x\n");
	for (i = 1; i < 40; i++)
		gv_hocon_buf_printf(&b, "a%d = ${a%d}${a%d}\n", i, i - 1, i - 1);
	r = (gv_hocon_value *)1;
	assert_int_equal(gv_hocon_parse(&r, "t.conf", b.ptr, b.len), GV_EINVAL);
	assert_null(r);
	gv_hocon_buf_free(&b);
}

static void test_hocon_dump_round_trip(void **state)
{
	static const char *const texts[] = {
		"a = 1\nb { c = [1, \"two\", { d = null }], e = true }\n\"k.q\" = \"v\\n\\u0001\"\n",
		"x = \"\"\"raw \"quote\"\n\"\"\"\ny = -1.5e3\nz = []\nw = {}\n",
		"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		gv_hocon_value *a = parse_ok(texts[i]), *b;
		char *dump;

		assert_int_equal(gv_hocon_dump(&dump, a), 0);
		b = parse_ok(dump);
		assert_true(gv_hocon_equal(a, b));
		free(dump);
		gv_hocon_free(a);
		gv_hocon_free(b);
	}
}

/* ---- the typed configuration -------------------------------------------- */

static void test_full_config(void **state)
{
	gv_config c;
	gv_sector_info si;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	load_ok(&c,
	        "graviton {\n"
	        "  data-dir = /var/lib/graviton\n"
	        "  index { backend = sqlite, path = /var/lib/graviton/index.db }\n"
	        "  sectors = [\n"
	        "    { id = s1, path = /srv/disk1, capacity = 10 GiB, rack = r1, zone = z1 }\n"
	        "    { id = s2, capacity = 512MB, rack = r2, zone = z1 },\n"
	        "    { id = \"s3\", rack = null }\n"
	        "  ]\n"
	        "  server {\n"
	        "    listen = \"0.0.0.0:9000\"\n"
	        "    auth-token = \"t0k3n\"\n"
	        "    max-body-size = 1GiB\n"
	        "    threads = 16\n"
	        "    idle-timeout = 2 minutes\n"
	        "  }\n"
	        "  log { level = debug, format = json }\n"
	        "  replication {\n"
	        "    write-timeout = 1500ms\n"
	        "    repair.max-bytes-per-second = 50 MiB\n"
	        "    scrub.max-bytes-per-second = 1000000\n"
	        "    scrub.interval = 12h\n"
	        "    rebalance { high-water = 0.95, low-water = \"0.3\" }\n"
	        "  }\n"
	        "}\n");
	assert_string_equal(c.data_dir, "/var/lib/graviton");
	assert_string_equal(c.index.path, "/var/lib/graviton/index.db");
	assert_int_equal(c.nsectors, 3);
	assert_string_equal(c.sectors[0].id, "s1");
	assert_string_equal(c.sectors[0].path, "/srv/disk1");
	assert_true(c.sectors[0].capacity == 10 * GiB);
	assert_string_equal(c.sectors[0].rack, "r1");
	assert_string_equal(c.sectors[0].zone, "z1");
	assert_true(c.sectors[1].capacity == 512000000ULL);
	assert_string_equal(c.sectors[1].path, "");
	assert_string_equal(c.sectors[2].rack, "");
	assert_true(c.sectors[2].capacity == 0);
	assert_string_equal(c.server.listen, "0.0.0.0:9000");
	assert_string_equal(c.server.auth_token, "t0k3n");
	assert_true(c.server.max_body_size == GiB);
	assert_int_equal(c.server.threads, 16);
	assert_true(c.server.idle_timeout_ms == 120000);
	assert_int_equal(c.log.level, GV_LOG_DEBUG);
	assert_int_equal(c.log.format, GV_LOG_FORMAT_JSON);
	assert_true(c.replication.write_timeout_ms == 1500);
	assert_true(c.replication.repair.max_bytes_per_second == 50ULL * 1024 * 1024);
	assert_true(c.replication.scrub.max_bytes_per_second == 1000000);
	assert_true(c.replication.scrub.interval_ms == 12ULL * 3600 * 1000);
	assert_true(c.replication.rebalance.high_water == 0.95);
	assert_true(c.replication.rebalance.low_water == 0.3);

	/* Registration records: an entry without a path lives in the data dir. */
	assert_int_equal(gv_config_sector_info(&si, &c, 0, NULL), 0);
	assert_string_equal(si.path, "/srv/disk1");
	assert_string_equal(si.kind, "fs");
	assert_int_equal(si.healthy, 1);
	assert_int_equal(si.state, GV_SECTOR_ACTIVE);
	assert_int_equal(gv_config_sector_info(&si, &c, 1, NULL), 0);
	assert_string_equal(si.path, "/var/lib/graviton/sectors/s2");
	assert_string_equal(si.rack, "r2");
	assert_int_equal(gv_config_sector_info(&si, &c, 1, "/elsewhere"), 0);
	assert_string_equal(si.path, "/elsewhere/sectors/s2");
	assert_int_equal(gv_config_sector_info(&si, &c, 3, NULL), GV_EINVAL);

	/* HOCON's conversions: quoted numbers, yes/no/on/off, plain numbers as
	 * milliseconds and bytes, numbers as strings. */
	load_ok(&c, "graviton.replication { factor = \"4\", repair.enabled = no,\n"
	            "  scrub.enabled = on, write-timeout = 2500 }\n"
	            "graviton.server.max-body-size = 4096\n"
	            "graviton.sectors = [ { id = 7, rack = 1 } ]\n");
	assert_int_equal(c.replication.factor, 4);
	assert_int_equal(c.replication.repair.enabled, 0);
	assert_int_equal(c.replication.scrub.enabled, 1);
	assert_true(c.replication.write_timeout_ms == 2500);
	assert_true(c.server.max_body_size == 4096);
	assert_int_equal(c.nsectors, 1);
	assert_string_equal(c.sectors[0].id, "7");
	assert_string_equal(c.sectors[0].rack, "1");
	/* An empty list clears the sectors. */
	load_ok(&c, "graviton.sectors = []\n");
	assert_int_equal(c.nsectors, 0);
	gv_config_free(&c);
}

static void test_override_order(void **state)
{
	gv_config c;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	load_ok(&c, "graviton.replication.factor = 2\n"
	            "graviton.replication { factor = 4 }\n"
	            "graviton { replication { factor = 5, min-replicas = 3 } }\n"
	            "graviton.replication.min-replicas = 1\n"
	            "graviton.sectors = [ { id = a } ]\n"
	            "graviton.sectors = [ { id = b }, { id = c } ]\n"
	            "graviton.log = { level = debug }\n"
	            "graviton.log { format = json }\n"
	            "graviton.data-dir = /one\n"
	            "graviton.data-dir = /two\n");
	assert_int_equal(c.replication.factor, 5);
	assert_int_equal(c.replication.min_replicas, 1);
	assert_int_equal(c.nsectors, 2);
	assert_string_equal(c.sectors[0].id, "b");
	assert_int_equal(c.log.level, GV_LOG_DEBUG);
	assert_int_equal(c.log.format, GV_LOG_FORMAT_JSON);
	assert_string_equal(c.data_dir, "/two");

	/* A second file lays itself over the first: what it leaves out stays. */
	load_ok(&c, "graviton.replication.factor = 6\ngraviton.log.level = warning\n");
	assert_int_equal(c.replication.factor, 6);
	assert_int_equal(c.replication.min_replicas, 1);
	assert_int_equal(c.log.level, GV_LOG_WARN);
	assert_int_equal(c.log.format, GV_LOG_FORMAT_JSON);
	assert_int_equal(c.nsectors, 2);
	assert_string_equal(c.data_dir, "/two");
	gv_config_free(&c);
}

static void test_env_substitution(void **state)
{
	gv_config c;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(setenv("GV_TEST_TOKEN", "s3cret-token", 1), 0);
	assert_int_equal(setenv("GV_TEST_DIR", "/base", 1), 0);
	assert_int_equal(setenv("GV_TEST_FACTOR", "4", 1), 0);
	load_ok(&c, "graviton.server.auth-token = ${?GV_TEST_TOKEN}\n"
	            "graviton.data-dir = ${GV_TEST_DIR}/data\n"
	            "graviton.replication.factor = ${GV_TEST_FACTOR}\n");
	assert_string_equal(c.server.auth_token, "s3cret-token");
	assert_string_equal(c.data_dir, "/base/data");
	assert_int_equal(c.replication.factor, 4);

	/* Optional and missing: the key is unset, so the current value stays
	 * (from an earlier line, or from the configuration loaded before). */
	unsetenv("GV_TEST_TOKEN");
	load_ok(&c, "graviton.server.auth-token = ${?GV_TEST_TOKEN}\n");
	assert_string_equal(c.server.auth_token, "s3cret-token");
	load_ok(&c, "graviton.server.auth-token = \"\"\n"
	            "graviton.server.auth-token = ${?GV_TEST_TOKEN}\n");
	assert_string_equal(c.server.auth_token, "");

	/* Required and missing: an error naming the key. */
	unsetenv("GV_TEST_DIR");
	assert_int_equal(gv_config_load_string(&c, "test.conf",
	                                       "graviton {\n  data-dir = ${GV_TEST_DIR}\n}\n"),
	                 GV_EINVAL);
	assert_string_equal(gv_error_last(),
	                    "test.conf:2:14: graviton.data-dir: ${GV_TEST_DIR} is not defined "
	                    "(no such key, no such environment variable; ${?GV_TEST_DIR} would "
	                    "make it optional)");
	assert_string_equal(c.data_dir, "/base/data");

	/* Substitutions may name any key, including ones left at their
	 * default, and a key's own earlier value. */
	load_ok(&c, "graviton.index.path = ${graviton.data-dir}\"/index.db\"\n"
	            "graviton.replication.min-racks = ${graviton.replication.min-zones}\n"
	            "graviton.server.threads = ${graviton.server.threads}\n"
	            "graviton.data-dir = ${graviton.data-dir}/v2\n");
	/* ${graviton.data-dir} is the file's final value of the key. */
	assert_string_equal(c.index.path, "/base/data/v2/index.db");
	assert_int_equal(c.replication.min_racks, 2);
	assert_int_equal(c.server.threads, 8);
	assert_string_equal(c.data_dir, "/base/data/v2");
	unsetenv("GV_TEST_FACTOR");
	gv_config_free(&c);
}

/* ---- malformed input ---------------------------------------------------- */

struct bad {
	const char *text;
	const char *where; /* "LINE:COL" */
	const char *key;   /* the key the message must name, or NULL */
	const char *phrase;
};

static const struct bad bad_cases[] = {
	/* types */
	{ "graviton.replication.factor = three\n", "1:31", "graviton.replication.factor",
	  "expected a number, got \"three\"" },
	{ "graviton.replication.factor = 3.5\n", "1:31", "graviton.replication.factor",
	  "expected a whole number, got 3.5" },
	{ "graviton.server.threads = [1]\n", "1:27", "graviton.server.threads",
	  "expected a number, got an array" },
	{ "graviton.replication = 3\n", "1:24", "graviton.replication",
	  "expected an object, got 3" },
	{ "graviton.replication.strategy = \"rack\"\n", "1:33", "graviton.replication.strategy",
	  "expected \"simple\", \"rack-aware\" or \"zone-aware\", got \"rack\"" },
	{ "graviton.replication.repair.interval = 5 mins\n", "1:40",
	  "graviton.replication.repair.interval", "expected a duration" },
	{ "graviton.server.max-body-size = lots\n", "1:33", "graviton.server.max-body-size",
	  "expected a size" },
	{ "graviton.replication.scrub.enabled = maybe\n", "1:38",
	  "graviton.replication.scrub.enabled", "expected true or false, got \"maybe\"" },
	{ "graviton.log.level = loud\n", "1:22", "graviton.log.level",
	  "expected \"debug\", \"info\", \"warn\" or \"error\", got \"loud\"" },
	{ "graviton.sectors { id = a }\n", "1:18", "graviton.sectors",
	  "expected an array of sectors" },
	{ "graviton.sectors = [ 1 ]\n", "1:22", "graviton.sectors[0]", "expected an object" },
	{ "graviton.sectors = [ { id = a, capacity = -5 } ]\n", "1:43",
	  "graviton.sectors[0].capacity", "expected a size" },
	{ "graviton.data-dir = { a = 1 }\n", "1:21", "graviton.data-dir",
	  "expected a string, got an object" },
	/* ranges and relations */
	{ "graviton {\n  replication {\n    factor = 0\n  }\n}\n", "3:14",
	  "graviton.replication.factor", "must be at least 1, got 0" },
	{ "graviton.replication.factor = 17\n", "1:31", "graviton.replication.factor",
	  "must be at most 16, got 17" },
	{ "graviton.replication.min-replicas = 17\n", "1:37",
	  "graviton.replication.min-replicas", "must be at most 16, got 17" },
	{ "graviton.replication { factor = 2, min-replicas = 3 }\n", "1:51",
	  "graviton.replication.min-replicas", "min-replicas (3) must not exceed factor (2)" },
	{ "graviton.replication.factor = 1\n", "1:31", "graviton.replication.factor",
	  "min-replicas (2) must not exceed factor (1)" },
	{ "graviton.replication.rebalance.threshold = 0\n", "1:44",
	  "graviton.replication.rebalance.threshold", "must be greater than 0 and at most 1, got 0" },
	{ "graviton.replication.rebalance.threshold = 1.5\n", "1:44",
	  "graviton.replication.rebalance.threshold", "got 1.5" },
	{ "graviton.replication.rebalance {\n  high-water = 0.6\n  low-water = 0.6\n}\n", "3:15",
	  "graviton.replication.rebalance.low-water", "low-water (0.6) must be below high-water (0.6)" },
	{ "graviton.replication.repair.parallel-jobs = 0\n", "1:45",
	  "graviton.replication.repair.parallel-jobs", "must be at least 1" },
	{ "graviton.server.threads = 2000\n", "1:27", "graviton.server.threads",
	  "must be at most 1024, got 2000" },
	{ "graviton.replication.write-timeout = 0\n", "1:38", "graviton.replication.write-timeout",
	  "must be longer than 0" },
	{ "graviton.integrity.block-size = 128M\n", "1:33", "graviton.integrity.block-size",
	  "must be at most 67108864 bytes" },
	{ "graviton.integrity.block-size = 1000\n", "1:33", "graviton.integrity.block-size",
	  "must be at least 4096 bytes" },
	{ "graviton.server.listen = \"localhost\"\n", "1:26", "graviton.server.listen",
	  "expected HOST:PORT" },
	{ "graviton.server.listen = \"127.0.0.1:99999\"\n", "1:26", "graviton.server.listen",
	  "port must be a number from 1 to 65535" },
	{ "graviton.server.listen = \"::1:80\"\n", "1:26", "graviton.server.listen",
	  "write IPv6 addresses in brackets" },
	{ "graviton.server.auth-token = \"a b\"\n", "1:30", "graviton.server.auth-token",
	  "printable ASCII without spaces" },
	{ "graviton.index.backend = mysql\n", "1:26", "graviton.index.backend",
	  "unknown index backend \"mysql\"" },
	{ "graviton.data-dir = \"\"\n", "1:21", "graviton.data-dir", "must not be empty" },
	{ "graviton.sectors = [ { id = \"-bad\" } ]\n", "1:29", "graviton.sectors[0].id",
	  "must not start with '-'" },
	{ "graviton.sectors = [ { id = \"a b\" } ]\n", "1:29", "graviton.sectors[0].id",
	  "is not one of [A-Za-z0-9._-]" },
	{ "graviton.sectors = [\n  { id = a }\n  { id = a }\n]\n", "3:10", "graviton.sectors[1].id",
	  "duplicate sector id \"a\"" },
	{ "graviton.sectors = [ { id = a, path = /x }, { id = b, path = /x } ]\n", "1:62",
	  "graviton.sectors[1].path", "sectors a and b share the path \"/x\"" },
	{ "graviton.sectors = [ { path = \"/x\" } ]\n", "1:22", "graviton.sectors[0]",
	  "a sector needs an id" },
	{ "graviton.sectors = [ { id = a, rack = \"r 1\" } ]\n", "1:39", "graviton.sectors[0].rack",
	  "invalid rack" },
	/* unknown keys */
	{ "graviton.replication.factr = 3\n", "1:22", "graviton.replication.factr",
	  "unknown key graviton.replication.factr (did you mean graviton.replication.factor?)" },
	{ "gravitn.data-dir = x\n", "1:1", "gravitn",
	  "unknown key gravitn (did you mean graviton?)" },
	{ "graviton.sectors = [ { id = a, rak = r1 } ]\n", "1:32", "graviton.sectors[0].rak",
	  "(did you mean graviton.sectors[0].rack?)" },
	{ "\"graviton.data-dir\" = x\n", "1:1", "graviton.data-dir",
	  "a quoted key's dots do not nest objects" },
	/* syntax */
	{ "graviton.server.listen = 127.0.0.1:8787\n", "1:35", "graviton.server.listen",
	  "unexpected ':' in a value (put the value in double quotes)" },
	{ "graviton {\n  log {\n    level = info\n", "2:7", "graviton.log",
	  "'{' is never closed" },
	{ "graviton.sectors = [\n  { id = a }\n", "1:20", "graviton.sectors",
	  "'[' is never closed" },
	{ "graviton.data-dir = \"/tmp/x\n", "1:21", "graviton.data-dir",
	  "string is never closed" },
	{ "graviton.data-dir = \"a\\qb\"\n", "1:23", "graviton.data-dir", "invalid escape '\\q'" },
	{ "graviton.data-dir = \"\\ud800\"\n", "1:22", "graviton.data-dir", "unpaired surrogate" },
	{ "graviton.data-dir = \"\\u0000\"\n", "1:22", "graviton.data-dir",
	  "\\u0000 is not allowed" },
	{ "graviton.data-dir = \"a\tb\"\n", "1:23", "graviton.data-dir",
	  "control character 0x09 in a string" },
	{ "graviton.data-dir = \"\xff\"\n", "1:22", NULL, "invalid UTF-8" },
	{ "graviton.replication.factor 3\n", "1:29", "graviton.replication.factor",
	  "expected '=', ':' or '{' after the key, got '3'" },
	{ "graviton.replication.factor = 3 }\n", "1:33", "graviton.replication.factor",
	  "expected ',' or a new line after the value, got '}'" },
	{ "graviton {\n  data-dir = }\n", "2:14", "graviton.data-dir",
	  "expected a value, got '}'" },
	{ "graviton.sectors = [ { id = a },, { id = b } ]\n", "1:33", "graviton.sectors",
	  "unexpected ','" },
	{ "graviton.log = { } x\n", "1:20", "graviton.log",
	  "cannot concatenate an object or array with other values" },
	{ "graviton.data-dir = $x\n", "1:21", "graviton.data-dir", "unexpected '$'" },
	{ "graviton.replication.factor += 1\n", "1:29", "graviton.replication.factor",
	  "'+=' is not supported" },
	{ "include \"other.conf\"\n", "1:1", NULL, "'include' is not supported" },
	{ ".a = 1\n", "1:1", NULL, "expected a key, got '.'" },
	{ "graviton..data-dir = x\n", "1:10", NULL, "expected a key after '.', got '.'" },
	{ "}\n", "1:1", NULL, "unexpected '}'" },
	{ "{ }\nx = 1\n", "2:1", NULL, "unexpected 'x' after the closing '}'" },
	{ "[ 1 ]\n", "1:1", NULL, "the configuration must be an object" },
	{ "graviton.server.auth-token = ${GV_TEST_SURELY_UNSET}\n", "1:30",
	  "graviton.server.auth-token", "${GV_TEST_SURELY_UNSET} is not defined" },
	{ "graviton.data-dir = ${graviton.index.path}\ngraviton.index.path = ${graviton.data-dir}\n",
	  "2:23", "graviton.index.path", "is part of a substitution cycle" },
};

static void test_malformed(void **state)
{
	gv_config c, before;
	size_t i;

	(void)state;
	unsetenv("GV_TEST_SURELY_UNSET");
	assert_true(sizeof(bad_cases) / sizeof(bad_cases[0]) >= 30);
	assert_int_equal(gv_config_init(&c), 0);
	load_ok(&c, "graviton.data-dir = /before\ngraviton.sectors = [ { id = x } ]\n");
	assert_int_equal(gv_config_copy(&before, &c), 0);
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *b = &bad_cases[i];
		char prefix[64];
		const char *msg;
		int rc, ok;

		rc = gv_config_load_string(&c, "test.conf", b->text);
		msg = gv_error_last();
		snprintf(prefix, sizeof(prefix), "test.conf:%s: ", b->where);
		ok = rc == GV_EINVAL && strncmp(msg, prefix, strlen(prefix)) == 0 &&
		     strstr(msg, b->phrase) && (!b->key || strstr(msg, b->key)) &&
		     !strchr(msg, '\n');
		if (!ok)
			print_error("case %zu: rc %d\n  input:  %s\n  want:   %s... %s ... %s\n  got:    %s\n",
			            i, rc, b->text, prefix, b->key ? b->key : "", b->phrase, msg);
		assert_true(ok);
		/* All or nothing: the configuration is untouched. */
		assert_true(gv_config_equal(&c, &before));
	}
	gv_config_free(&before);
	gv_config_free(&c);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "graviton.data-dir = a\0b\n";
	gv_config c;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(gv_config_load_buffer(&c, "test.conf", text, sizeof(text) - 1), GV_EINVAL);
	assert_string_equal(gv_error_last(), "test.conf:1:22: NUL byte in the input");
	assert_string_equal(c.data_dir, "./graviton-data");
	gv_config_free(&c);
}

/* graviton.s3: keys parsed, checked with messages that name the key and
 * never the secret, hidden when redacted, copied and compared. */
static void s3_refused(const char *text, const char *want)
{
	gv_config c;

	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(gv_config_load_string(&c, "test.conf", text), GV_EINVAL);
	if (!strstr(gv_error_last(), want))
		print_error("want %s, got %s\n", want, gv_error_last());
	assert_non_null(strstr(gv_error_last(), want));
	assert_null(strstr(gv_error_last(), "sekret"));
	assert_int_equal(c.s3.nkeys, 0);
	gv_config_free(&c);
}

static void test_s3_keys(void **state)
{
	gv_config c, d;
	char *dump;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(c.s3.enabled, 0);
	assert_string_equal(c.s3.listen, "127.0.0.1:8789");
	assert_string_equal(c.s3.region, "us-east-1");
	load_ok(&c, "graviton.s3 {\n"
	            "  enabled = true\n"
	            "  region = eu-west-1\n"
	            "  keys = [\n"
	            "    { access-key = AKALL, secret-key = \"sekret-all-1\" }\n"
	            "    { access-key = AKRO, secret-key = \"sekret-ro-22\", buckets = [photos, logs],"
	            " read-only = true }\n"
	            "  ]\n"
	            "}\n");
	assert_int_equal(c.s3.enabled, 1);
	assert_string_equal(c.s3.region, "eu-west-1");
	assert_int_equal(c.s3.nkeys, 2);
	assert_string_equal(c.s3.keys[0].access_key, "AKALL");
	assert_string_equal(c.s3.keys[0].secret_key, "sekret-all-1");
	assert_int_equal(c.s3.keys[0].nbuckets, 1);
	assert_string_equal(c.s3.keys[0].buckets[0], "*");
	assert_int_equal(c.s3.keys[0].read_only, 0);
	assert_int_equal(c.s3.keys[1].nbuckets, 2);
	assert_string_equal(c.s3.keys[1].buckets[1], "logs");
	assert_int_equal(c.s3.keys[1].read_only, 1);
	assert_int_equal(gv_config_dump(&dump, &c, GV_CONFIG_DUMP_REDACT), 0);
	assert_null(strstr(dump, "sekret"));
	assert_non_null(strstr(dump, "# secret-key is set (hidden)"));
	free(dump);
	assert_int_equal(gv_config_dump(&dump, &c, 0), 0);
	assert_int_equal(gv_config_init(&d), 0);
	load_ok(&d, dump);
	free(dump);
	assert_true(gv_config_equal(&c, &d));
	d.s3.keys[1].read_only = 0;
	assert_false(gv_config_equal(&c, &d));
	gv_config_free(&d);
	assert_int_equal(gv_config_copy(&d, &c), 0);
	assert_true(gv_config_equal(&c, &d));
	gv_config_free(&d);
	gv_config_free(&c);

	s3_refused("graviton.s3.enabled = true\n", "needs at least one key");
	s3_refused("graviton.s3.keys = [ { access-key = AK1 } ]\n", "needs access-key and secret-key");
	s3_refused("graviton.s3.keys = [ { access-key = AK1, secret-key = sekret } ]\n",
	           "graviton.s3.keys[0].secret-key: must be at least 8");
	s3_refused("graviton.s3.keys = [ { access-key = \"A K\", secret-key = sekret123 } ]\n",
	           "graviton.s3.keys[0].access-key");
	s3_refused("graviton.s3.keys = [ { access-key = AK1, secret-key = sekret123 },"
	           " { access-key = AK1, secret-key = sekret456 } ]\n",
	           "duplicate access key");
	s3_refused("graviton.s3.keys = [ { access-key = AK1, secret-key = sekret123, buckets = [Up] } ]\n",
	           "graviton.s3.keys[0].buckets[0]");
	s3_refused("graviton.s3.keys = [ { access-key = AK1, secret-key = sekret123, buckets = [] } ]\n",
	           "at least one bucket");
	s3_refused("graviton.s3.keys = [ { access-key = AK1, secret-key = sekret123, rw = 1 } ]\n",
	           "unknown key graviton.s3.keys[0].rw");
	s3_refused("graviton.s3 { enabled = true, listen = \"127.0.0.1:8787\","
	           " keys = [ { access-key = AK1, secret-key = sekret123 } ] }\n",
	           "an address of its own");
}

static void expect_unknown(const char *text, const char *hint)
{
	gv_config c;
	int rc;

	assert_int_equal(gv_config_init(&c), 0);
	rc = gv_config_load_string(&c, "test.conf", text);
	assert_int_equal(rc, GV_EINVAL);
	if (hint) {
		char want[160];

		snprintf(want, sizeof(want), "(did you mean %s?)", hint);
		if (!strstr(gv_error_last(), want))
			print_error("want %s, got %s\n", want, gv_error_last());
		assert_non_null(strstr(gv_error_last(), want));
	} else {
		assert_null(strstr(gv_error_last(), "did you mean"));
		assert_non_null(strstr(gv_error_last(), "unknown key"));
	}
	gv_config_free(&c);
}

static void test_unknown_key_suggestions(void **state)
{
	(void)state;
	expect_unknown("graviton.replication.factr = 3\n", "graviton.replication.factor");
	expect_unknown("graviton.replication.min_replicas = 2\n", "graviton.replication.min-replicas");
	expect_unknown("graviton.replication.repair.intervl = 1s\n",
	               "graviton.replication.repair.interval");
	expect_unknown("graviton.replication.repair.parallel = 2\n",
	               "graviton.replication.repair.parallel-jobs");
	expect_unknown("graviton { replicaton { factor = 3 } }\n", "graviton.replication");
	/* A key put in the wrong object points at where it belongs. */
	expect_unknown("graviton.repair.enabled = true\n", "graviton.replication.repair");
	expect_unknown("factor = 3\n", "graviton.replication.factor");
	expect_unknown("graviton.datadir = /x\n", "graviton.data-dir");
	/* Nothing close: no guess. */
	expect_unknown("graviton.server.port = 80\n", NULL);
	expect_unknown("zzz = 1\n", NULL);
}

/* ---- dump --------------------------------------------------------------- */

static void round_trip(const gv_config *c)
{
	gv_config d;
	char *text, *again;

	assert_int_equal(gv_config_dump(&text, c, 0), 0);
	assert_int_equal(gv_config_init(&d), 0);
	/* Start from different settings so that nothing passes by luck. */
	load_ok(&d, "graviton.replication { factor = 9, min-replicas = 9 }\n"
	            "graviton.sectors = [ { id = zz } ]\ngraviton.log.format = json\n");
	load_ok(&d, text);
	if (!gv_config_equal(c, &d))
		print_error("round trip differs; dump was:\n%s\n", text);
	assert_true(gv_config_equal(c, &d));
	assert_int_equal(gv_config_dump(&again, &d, 0), 0);
	assert_string_equal(text, again);
	free(text);
	free(again);
	gv_config_free(&d);
}

static void test_dump_round_trip(void **state)
{
	gv_config c;
	char *text;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	round_trip(&c);
	load_ok(&c,
	        "graviton {\n"
	        "  data-dir = \"/data/with \\\"quotes\\\", \\\\ and caf\\u00e9\"\n"
	        "  index.path = \"\"\"/idx/a b\"\"\"\n"
	        "  sectors = [\n"
	        "    { id = s1, path = \"/d 1\", capacity = 1234567, rack = r-1, zone = z.1 }\n"
	        "    { id = s2, capacity = 3 TiB }\n"
	        "  ]\n"
	        "  server { listen = \"[::1]:1\", auth-token = \"A-b_c.~+/=\", max-body-size = 1,\n"
	        "           threads = 1, idle-timeout = 1ms }\n"
	        "  log { level = error, format = json }\n"
	        "  replication {\n"
	        "    factor = 7, min-replicas = 7, strategy = simple, min-racks = 1, min-zones = 9\n"
	        "    write-timeout = 61s\n"
	        "    repair { enabled = false, interval = 25h, parallel-jobs = 1, batch-size = 1,\n"
	        "             max-bytes-per-second = 1 KiB }\n"
	        "    scrub { enabled = false, interval = 1, parallel-reads = 1024, batch-size = 3,\n"
	        "            max-bytes-per-second = 1000, presence-interval = off }\n"
	        "    rebalance { enabled = false, threshold = 0.123456789012345678,\n"
	        "                max-moves-per-run = 1, high-water = 1, low-water = 0 }\n"
	        "  }\n"
	        "}\n");
	round_trip(&c);

	/* The dump shows units people read, and every key. */
	assert_int_equal(gv_config_dump(&text, &c, 0), 0);
	assert_non_null(strstr(text, "interval = 25 hours\n"));
	assert_non_null(strstr(text, "write-timeout = 61 seconds\n"));
	assert_non_null(strstr(text, "capacity = 3 TiB\n"));
	assert_non_null(strstr(text, "max-bytes-per-second = 1 KiB\n"));
	assert_non_null(strstr(text, "auth-token = \"A-b_c.~+/=\"\n"));
	assert_non_null(strstr(text, "presence-interval = off\n"));
	assert_true(c.replication.scrub.presence_interval_ms == 0);
	free(text);
	/* off, 0 and false disable the presence audit; a duration sets it. */
	load_ok(&c, "graviton.replication.scrub.presence-interval = 90s\n");
	assert_true(c.replication.scrub.presence_interval_ms == 90000);
	load_ok(&c, "graviton.replication.scrub.presence-interval = 0\n");
	assert_true(c.replication.scrub.presence_interval_ms == 0);
	load_ok(&c, "graviton.replication.scrub.presence-interval = 2m\n");
	load_ok(&c, "graviton.replication.scrub.presence-interval = false\n");
	assert_true(c.replication.scrub.presence_interval_ms == 0);

	/* Redacted, the token does not appear. */
	assert_int_equal(gv_config_dump(&text, &c, GV_CONFIG_DUMP_REDACT), 0);
	assert_null(strstr(text, "A-b_c"));
	assert_non_null(strstr(text, "# auth-token is set (hidden)"));
	free(text);
	gv_config_free(&c);
}

/* ---- files, validation, helpers ---------------------------------------- */

static void test_load_file(void **state)
{
	char dir[] = "/tmp/gv-test-config-XXXXXX", path[128];
	gv_config c;
	FILE *f;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/graviton.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(seed_block, f);
	fputs("graviton.replication.factor = 4\n", f);
	fclose(f);

	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(gv_config_load_file(&c, path), 0);
	assert_int_equal(c.replication.factor, 4);

	/* Messages name the file as given. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("graviton {\n  replication.factor = three\n}\n", f);
	fclose(f);
	assert_int_equal(gv_config_load_file(&c, path), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "/graviton.conf:2:24: graviton.replication.factor: "
	                                        "expected a number, got \"three\""));
	assert_int_equal(c.replication.factor, 4);

	/* Missing, a directory, too large. */
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(gv_config_load_file(&c, path), GV_EIO);
	assert_int_equal(gv_error_last_errno(), ENOENT);
	assert_non_null(strstr(gv_error_last(), "missing.conf: cannot open"));
	assert_int_equal(gv_config_load_file(&c, dir), GV_EIO);
	assert_int_equal(gv_error_last_errno(), EISDIR);
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 0; i <= GV_HOCON_MAX_INPUT; i += 32)
		fputs("# 32 bytes of comment .........\n", f);
	fclose(f);
	assert_int_equal(gv_config_load_file(&c, path), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "big.conf: larger than 1024 KiB"));
	assert_int_equal(gv_config_load_file(&c, ""), GV_EINVAL);

	unlink(path);
	snprintf(path, sizeof(path), "%s/graviton.conf", dir);
	unlink(path);
	rmdir(dir);
	gv_config_free(&c);
}

static void test_validate_in_code(void **state)
{
	gv_config c;

	(void)state;
	assert_int_equal(gv_config_init(&c), 0);
	c.replication.factor = 0;
	assert_int_equal(gv_config_validate(&c), GV_EINVAL);
	assert_string_equal(gv_error_last(), "graviton.replication.factor: must be at least 1, got 0");
	c.replication.factor = 3;
	c.replication.min_replicas = 4;
	assert_int_equal(gv_config_validate(&c), GV_EINVAL);
	assert_string_equal(gv_error_last(), "graviton.replication.factor: min-replicas (4) must not "
	                                     "exceed factor (3)");
	c.replication.min_replicas = 2;
	c.replication.rebalance.threshold = NAN;
	assert_int_equal(gv_config_validate(&c), GV_EINVAL);
	c.replication.rebalance.threshold = 0.1;
	free(c.server.listen);
	c.server.listen = strdup("nowhere");
	assert_int_equal(gv_config_validate(&c), GV_EINVAL);
	assert_non_null(strstr(gv_error_last(), "graviton.server.listen: invalid listen address"));
	free(c.server.listen);
	c.server.listen = strdup("[::]:8787");
	assert_int_equal(gv_config_validate(&c), 0);
	gv_config_free(&c);
}

static void test_parse_listen(void **state)
{
	static const char *const bad[] = {
		"", "localhost", ":80", "host:", "host:0", "host:65536", "host:+80", "host:8o",
		"[::1]", "[::1]80", "[zz]:80", "::1:80", "-host:80", "a b:80", "[]:80", "h:123456",
	};
	char host[64], tiny[4];
	unsigned port;
	size_t i;

	(void)state;
	assert_int_equal(gv_config_parse_listen(host, sizeof(host), &port, "127.0.0.1:8787"), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8787);
	assert_int_equal(gv_config_parse_listen(host, sizeof(host), &port, "[::1]:1"), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 1);
	assert_int_equal(gv_config_parse_listen(host, sizeof(host), &port, "my-host.example:65535"), 0);
	assert_string_equal(host, "my-host.example");
	assert_int_equal(port, 65535);
	assert_int_equal(gv_config_parse_listen(tiny, sizeof(tiny), &port, "localhost:80"), GV_EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = gv_config_parse_listen(host, sizeof(host), &port, bad[i]);

		if (rc != GV_EINVAL)
			print_error("accepted \"%s\"\n", bad[i]);
		assert_int_equal(rc, GV_EINVAL);
	}
}

/* graviton.conf.example at the top of the source tree (found from this
 * file's path), or NULL. */
/* The example beside the sources (GV_SOURCE_DIR, set by the build). */
static char *example_path(void)
{
	static const char name[] = "/graviton.conf.example";
	char *path = malloc(strlen(GV_SOURCE_DIR) + sizeof(name));

	assert_non_null(path);
	strcpy(path, GV_SOURCE_DIR);
	strcat(path, name);
	return path;
}

static void test_example_file(void **state)
{
	char *path = example_path();
	gv_config c, d;

	(void)state;
	/* The example shows the defaults, so it loads to exactly them. */
	unsetenv("GRAVITON_TOKEN");
	assert_int_equal(gv_config_init(&c), 0);
	assert_int_equal(gv_config_init(&d), 0);
	if (gv_config_load_file(&c, path) != 0)
		fail_msg("%s: %s", path, gv_error_last());
	assert_true(gv_config_equal(&c, &d));
	assert_int_equal(setenv("GRAVITON_TOKEN", "from-the-env", 1), 0);
	assert_int_equal(gv_config_load_file(&c, path), 0);
	assert_string_equal(c.server.auth_token, "from-the-env");
	unsetenv("GRAVITON_TOKEN");
	gv_config_free(&c);
	gv_config_free(&d);
	free(path);
}

static void test_copy_and_equal(void **state)
{
	gv_config a, b;

	(void)state;
	assert_int_equal(gv_config_init(&a), 0);
	load_ok(&a, "graviton.sectors = [ { id = a }, { id = b, rack = r } ]\n"
	            "graviton.server.auth-token = tok\n");
	assert_int_equal(gv_config_copy(&b, &a), 0);
	assert_true(gv_config_equal(&a, &b));
	assert_ptr_not_equal(a.server.auth_token, b.server.auth_token);
	assert_ptr_not_equal(a.sectors, b.sectors);
	strcpy(b.sectors[1].rack, "q");
	assert_false(gv_config_equal(&a, &b));
	strcpy(b.sectors[1].rack, "r");
	b.replication.rebalance.high_water = 0.8;
	assert_false(gv_config_equal(&a, &b));
	gv_config_free(&a);
	gv_config_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_seed_block),
		cmocka_unit_test(test_hocon_objects_and_keys),
		cmocka_unit_test(test_hocon_comments_and_whitespace),
		cmocka_unit_test(test_hocon_strings),
		cmocka_unit_test(test_hocon_arrays),
		cmocka_unit_test(test_hocon_override_and_merge),
		cmocka_unit_test(test_hocon_substitutions),
		cmocka_unit_test(test_hocon_bounds),
		cmocka_unit_test(test_hocon_dump_round_trip),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_override_order),
		cmocka_unit_test(test_env_substitution),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_unknown_key_suggestions),
		cmocka_unit_test(test_dump_round_trip),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_validate_in_code),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_copy_and_equal),
		cmocka_unit_test(test_s3_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
