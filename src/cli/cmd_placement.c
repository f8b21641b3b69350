/*
 * cmd_placement.c - `graviton placement set`: change the cluster's
 * placement settings, which live in the index (one source of truth for
 * every command and the server).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void help(void)
{
	printf("usage: graviton placement set [--factor N] [--min-replicas N] [--strategy S]\n"
	       "                              [--min-racks N] [--min-zones N] [--json]\n"
	       "\n"
	       "Store the cluster's placement settings in the index (the change is logged,\n"
	       "old -> new) and print them; with no option, print them.  Every command and\n"
	       "'graviton serve' run with these; a running server picks a change up before\n"
	       "its next repair, scrub or rebalance run.\n");
}

int cli_placement_set(cli_globals *g, int argc, char **argv)
{
	gv_placement_opts p;
	gv_store *st = NULL;
	int i, r, json = 0, rc;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if ((r = cli_placement_flag(g, argc, argv, &i)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		if (strcmp(argv[i], "--json") != 0) {
			cli_err("placement set: unexpected argument '%s' (see --help)", argv[i]);
			return EXIT_USAGE;
		}
		json = 1;
	}
	if (g->server) {
		cli_err("placement set: --server is not supported: the settings live in the data "
		        "directory's index (--data-dir)");
		return EXIT_USAGE;
	}
	/* Opening the store stores the settings given. */
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	p = gv_store_placement(st);
	if (json)
		rc = cli_print_json(json_pack("{s:s, s:i, s:i, s:i, s:i, s:s}", "strategy",
		                              gv_strategy_name(p.strategy), "factor", p.factor,
		                              "min_replicas", p.min_replicas, "min_racks",
		                              p.min_racks, "min_zones", p.min_zones, "cluster",
		                              gv_store_cluster_id(st)));
	else
		rc = printf("strategy %s, factor %d, min-replicas %d, min-racks %d, min-zones %d\n",
		            gv_strategy_name(p.strategy), p.factor, p.min_replicas, p.min_racks,
		            p.min_zones) < 0 || fflush(stdout) != 0
		             ? EXIT_IOERR
		             : 0;
	gv_store_free(st);
	return rc;
}
