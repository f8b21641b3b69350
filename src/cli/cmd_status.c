/*
 * cmd_status.c - `graviton status`: store-wide replication figures.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/server.h"

static void help(void)
{
	printf("usage: graviton status [--json]\n"
	       "\n"
	       "Show blobs, replicas (healthy/unhealthy), under-, over-replicated and lost\n"
	       "keys, average replication factor and sector health.  Exit 0 when every key\n"
	       "has at least one healthy replica, 69 when some key is lost.\n");
}

int cmd_status(cli_globals *g, int argc, char **argv)
{
	gv_store_stats s;
	gv_store *st = NULL;
	int i, json = 0, rc, err;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			cli_err("status: unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_status(st, &s)) < 0) {
		rc = cli_fail(err, "status");
		goto out;
	}
	if (json) {
		rc = cli_print_text(gv_json_store_stats(&s, gv_store_placement(st), 1));
	} else {
		char bbuf[32];

		printf("blobs:              %llu (%s)\n", (unsigned long long)s.blobs,
		       gv_size_format(bbuf, sizeof(bbuf), s.bytes));
		printf("replicas:           %llu (%llu healthy, %llu unhealthy)\n",
		       (unsigned long long)s.replicas, (unsigned long long)s.healthy_replicas,
		       (unsigned long long)s.unhealthy_replicas);
		printf("factor:             %d (average %.2f)\n", s.factor, s.avg_factor);
		printf("under-replicated:   %llu\n", (unsigned long long)s.under_replicated);
		printf("over-replicated:    %llu\n", (unsigned long long)s.over_replicated);
		printf("lost:               %llu\n", (unsigned long long)s.lost);
		printf("sectors:            %llu (%llu healthy)\n", (unsigned long long)s.sectors,
		       (unsigned long long)s.healthy_sectors);
	}
	if (rc == 0 && s.lost > 0)
		rc = EXIT_UNAVAILABLE;
out:
	gv_store_free(st);
	return rc;
}
