/*
 * cmd_stat.c - `graviton stat KEY` and `graviton placement explain KEY`:
 * one key's replica set, where each copy sits, and whether the set meets
 * its strategy's constraints.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
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
	       "\n"
	       "Show which sector, rack and zone each replica of KEY sits in, and whether\n"
	       "the healthy replicas meet the strategy's constraints (min-racks/min-zones).\n");
}

static const char *fmt_time(char *buf, size_t cap, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0) {
		snprintf(buf, cap, "never");
		return buf;
	}
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void status_text(const gv_blob_status *bs, const gv_placement_opts *p)
{
	char kbuf[GV_KEY_BUFSIZE], tbuf[32], sbuf[32];
	size_t i;

	printf("key:       %s\n", gv_key_format(kbuf, &bs->key));
	printf("size:      %llu (%s)\n", (unsigned long long)bs->key.size,
	       gv_size_format(sbuf, sizeof(sbuf), bs->key.size));
	printf("created:   %s\n", fmt_time(tbuf, sizeof(tbuf), bs->created_ms));
	printf("replicas:  %d healthy of %d target\n", bs->healthy_replicas, bs->target_replicas);
	printf("placement: %s, %d rack%s, %d zone%s: %s\n", gv_strategy_name(p->strategy),
	       bs->placement.racks, bs->placement.racks == 1 ? "" : "s", bs->placement.zones,
	       bs->placement.zones == 1 ? "" : "s",
	       bs->placement_error ? "constraints NOT met" : "constraints met");
	printf("\n%-12s %-10s %-10s %-9s %-21s %-20s %s\n", "SECTOR", "RACK", "ZONE", "HEALTH",
	       "LAST VERIFIED", "RANGES", "REASON");
	for (i = 0; i < bs->nreplicas; i++) {
		const gv_replica *r = &bs->replicas[i];
		char *ranges = gv_rangeset_format(&r->ranges);

		printf("%-12s %-10s %-10s %-9s %-21s %-20s %s\n", r->sector,
		       bs->racks[i][0] ? bs->racks[i] : "-", bs->zones[i][0] ? bs->zones[i] : "-",
		       r->healthy ? "healthy" : "UNHEALTHY",
		       fmt_time(tbuf, sizeof(tbuf), r->last_verified),
		       ranges && *ranges ? ranges : "-", r->reason[0] ? r->reason : "");
		free(ranges);
	}
}

static int show(cli_globals *g, int argc, char **argv, void (*help)(void))
{
	const char *keystr = NULL;
	gv_blob_status *bs = NULL;
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
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	err = gv_stat(&bs, st, &key);
	if (err < 0) {
		rc = cli_fail(err, argv[0]);
	} else if (json) {
		rc = cli_print_text(gv_json_blob_status(bs, gv_store_placement(st), 1));
	} else {
		status_text(bs, gv_store_placement(st));
		rc = 0;
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
	if (strcmp(argv[1], "explain") != 0) {
		cli_err("placement: unknown subcommand '%s' (expected explain)", argv[1]);
		return EXIT_USAGE;
	}
	return show(g, argc - 1, argv + 1, help_placement);
}
