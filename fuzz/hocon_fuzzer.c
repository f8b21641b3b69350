/*
 * hocon_fuzzer.c - the HOCON reader and the typed configuration on
 * arbitrary bytes.
 *
 * Besides "no crash, no leak, no overrun" it checks two round trips:
 * a parsed tree, dumped and parsed again, is equal to itself; a
 * configuration loaded from the input dumps to text that loads back to an
 * equal configuration.  A rejected input must fail with GV_EINVAL (or
 * GV_ENOMEM) and a message that starts with the input's name, so every
 * error is located.  A broken property aborts, so the fuzzer reports it
 * like a crash.
 *
 * Built with libFuzzer (clang -fsanitize=fuzzer) or with fuzz/replay_main.c,
 * which feeds it the files of fuzz/corpus/hocon_fuzzer/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/config.h"
#include "core/hocon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "hocon_fuzzer: %s: %s\n", what, detail ? detail : "");
	abort();
}

static void check_rejection(int err)
{
	if (err == GV_ENOMEM)
		return;
	if (err != GV_EINVAL)
		fail("unexpected error code", gv_error_name(err));
	if (strncmp(gv_error_last(), "fuzz:", 5) != 0)
		fail("message does not name the input", gv_error_last());
}

static void tree_round_trip(const char *text, size_t len)
{
	gv_hocon_value *a = NULL, *b = NULL;
	char *dump = NULL;
	int err;

	if ((err = gv_hocon_parse(&a, "fuzz", text, len)) < 0) {
		check_rejection(err);
		return;
	}
	if (gv_hocon_dump(&dump, a) < 0)
		goto out;
	if (strlen(dump) <= GV_HOCON_MAX_INPUT) {
		if (gv_hocon_parse(&b, "dump", dump, strlen(dump)) < 0)
			fail("dumped tree does not parse", gv_error_last());
		if (!gv_hocon_equal(a, b))
			fail("dumped tree parses to a different tree", dump);
	}
out:
	free(dump);
	gv_hocon_free(b);
	gv_hocon_free(a);
}

static void config_round_trip(const char *text, size_t len)
{
	gv_config a, b;
	char *dump = NULL;
	int err;

	if (gv_config_init(&a) < 0)
		return;
	memset(&b, 0, sizeof(b));
	if ((err = gv_config_load_buffer(&a, "fuzz", text, len)) < 0) {
		check_rejection(err);
		goto out;
	}
	if (gv_config_validate(&a) < 0)
		fail("loaded configuration does not validate", gv_error_last());
	if (gv_config_dump(&dump, &a, 0) < 0)
		goto out;
	if (gv_config_init(&b) < 0)
		goto out;
	if (gv_config_load_string(&b, "dump", dump) < 0)
		fail("dumped configuration does not load", gv_error_last());
	if (!gv_config_equal(&a, &b))
		fail("dumped configuration loads differently", dump);
out:
	free(dump);
	gv_config_free(&b);
	gv_config_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Bytes past the input limit are refused before parsing; keep the
	 * interesting part of the search space. */
	if (size > GV_HOCON_MAX_INPUT + 1)
		size = GV_HOCON_MAX_INPUT + 1;
	tree_round_trip((const char *)data, size);
	config_round_trip((const char *)data, size);
	return 0;
}
