/*
 * cmd_metrics.c - `graviton metrics`: the Prometheus text of the store's
 * figures, or with --server a server's GET /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"

int cmd_metrics(cli_globals *g, int argc, char **argv)
{
	gv_store *st = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc, err;

	if (cli_wants_help(argc, argv)) {
		printf("usage: graviton metrics\n\n"
		       "Print the store's metrics in the Prometheus text format: the replication\n"
		       "gauges, repair and scrub counters (of this process: zero without a\n"
		       "server) and per-sector capacity, use and health.  With --server URL:\n"
		       "that server's GET /metrics (its counters and request metrics too).\n");
		return 0;
	}
	if (argc > 1) {
		cli_err("metrics: unexpected argument '%s'", argv[1]);
		return EXIT_USAGE;
	}
	if (g->server) {
		cli_client *c = NULL;

		if ((rc = cli_client_open(&c, g, "metrics")) != 0)
			return rc;
		rc = cli_client_text(c, "/metrics", &text, &len);
		cli_client_free(c);
		if (rc == 0 && (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0))
			rc = EXIT_IOERR;
		free(text);
		return rc;
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_metrics_text(st, &text, &len)) < 0)
		rc = cli_fail(err, "metrics");
	else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		rc = EXIT_IOERR;
	free(text);
	gv_store_free(st);
	return rc;
}
