/*
 * cmd_stat.c - `graviton stat KEY` and `graviton placement explain KEY`:
 * one key's replica set, where each copy sits, and whether the set meets
 * its strategy's constraints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "graviton/server.h"

static void help_stat(void)
{
	printf("usage: graviton stat KEY [--json]\n"
	       "\n"
	       "Show a blob's size, target and healthy replica counts, and each replica's\n"
	       "sector, rack, zone, health, byte ranges, last verification and reason.\n");
}

static void help_placement(void)
{
	printf("usage: graviton placement explain KEY [--json]\n"
	       "       graviton placement set [--factor N] [--min-replicas N] [--strategy S]\n"
	       "                              [--min-racks N] [--min-zones N] [--json]\n"
	       "\n"
	       "set: store the cluster's placement settings (see 'placement set --help').\n"
	       "explain: "
	       "Show which sector, rack and zone each replica of KEY sits in, and whether\n"
	       "the healthy replicas meet the strategy's constraints (min-racks/min-zones).\n");
}

static const char *str_of(json_t *o, const char *name, const char *dflt)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : dflt;
}

static long long int_of(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/*
 * The text form, drawn from the JSON document (gv_wire_blob_status, or
 * the server's GET /v1/blobs/{key}/replicas) so both modes print alike.
 */
static void status_text(json_t *doc)
{
	json_t *pl = json_object_get(doc, "placement"), *reps = json_object_get(doc, "replicas"), *r;
	long long size = int_of(doc, "size"), racks = int_of(pl, "racks"), zones = int_of(pl, "zones");
	char sbuf[32];
	size_t i;

	printf("key:       %s\n", str_of(doc, "key", "?"));
	printf("size:      %lld (%s)\n", size,
	       gv_size_format(sbuf, sizeof(sbuf), size > 0 ? (uint64_t)size : 0));
	printf("created:   %s\n", str_of(doc, "created", "never"));
	printf("replicas:  %lld healthy of %lld target\n", int_of(doc, "healthy_replicas"),
	       int_of(doc, "target_replicas"));
	printf("placement: %s, %lld rack%s, %lld zone%s: %s\n", str_of(pl, "strategy", "?"), racks,
	       racks == 1 ? "" : "s", zones, zones == 1 ? "" : "s",
	       json_is_true(json_object_get(pl, "constraints_met")) ? "constraints met"
	                                                            : "constraints NOT met");
	printf("\n%-12s %-10s %-10s %-9s %-21s %-20s %s\n", "SECTOR", "RACK", "ZONE", "HEALTH",
	       "LAST VERIFIED", "RANGES", "REASON");
	json_array_foreach(reps, i, r) {
		printf("%-12s %-10s %-10s %-9s %-21s %-20s %s\n", str_of(r, "sector", "?"),
		       str_of(r, "rack", "-"), str_of(r, "zone", "-"),
		       json_is_true(json_object_get(r, "healthy")) ? "healthy" : "UNHEALTHY",
		       str_of(r, "last_verified", "never"), str_of(r, "ranges", "-"),
		       str_of(r, "reason", ""));
	}
}

/* GET /v1/blobs/{key}/replicas. */
static int show_remote(cli_globals *g, const char *cmd, const gv_key *key, int json)
{
	char path[32 + GV_KEY_BUFSIZE], kbuf[GV_KEY_BUFSIZE];
	cli_client *c = NULL;
	json_t *doc = NULL;
	int rc;

	if ((rc = cli_client_open(&c, g, cmd)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/v1/blobs/%s/replicas", gv_key_format(kbuf, key));
	rc = cli_client_json(c, "GET", path, &doc, NULL);
	cli_client_free(c);
	if (rc != 0)
		return rc;
	if (json)
		return cli_print_json(doc);
	status_text(doc);
	json_decref(doc);
	return fflush(stdout) == 0 ? 0 : EXIT_IOERR;
}

static int show(cli_globals *g, int argc, char **argv, void (*help)(void))
{
	const char *keystr = NULL;
	gv_blob_status *bs = NULL;
	gv_placement_opts popt;
	gv_store *st = NULL;
	gv_key key;
	int i, json = 0, rc, err;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			cli_json_errors(1);
		} else if (!keystr && argv[i][0] != '-') {
			keystr = argv[i];
		} else {
			cli_err("%s: unexpected argument '%s'", argv[0], argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!keystr) {
		cli_err("%s: missing KEY", argv[0]);
		return EXIT_USAGE;
	}
	if ((rc = cli_parse_key(&key, keystr)) != 0)
		return rc;
	if (g->server)
		return show_remote(g, argv[0], &key, json);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	err = gv_stat(&bs, st, &key);
	popt = gv_store_placement(st);
	if (err < 0) {
		rc = cli_fail(err, argv[0]);
	} else if (json) {
		rc = cli_print_json(cli_doc(gv_wire_blob_status(bs, &popt)));
	} else {
		json_t *doc = cli_doc(gv_wire_blob_status(bs, &popt));

		if (!doc) {
			rc = cli_fail(GV_ENOMEM, argv[0]);
		} else {
			status_text(doc);
			json_decref(doc);
			rc = fflush(stdout) == 0 ? 0 : EXIT_IOERR;
		}
	}
	gv_blob_status_free(bs);
	gv_store_free(st);
	return rc;
}

int cmd_stat(cli_globals *g, int argc, char **argv)
{
	return show(g, argc, argv, help_stat);
}

int cmd_placement(cli_globals *g, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2) {
			cli_err("placement: missing subcommand (see '--help')");
			return EXIT_USAGE;
		}
		help_placement();
		return 0;
	}
	if (strcmp(argv[1], "set") == 0)
		return cli_placement_set(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "explain") != 0) {
		cli_err("placement: unknown subcommand '%s' (expected explain or set)", argv[1]);
		return EXIT_USAGE;
	}
	return show(g, argc - 1, argv + 1, help_placement);
}
