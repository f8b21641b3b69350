/*
 * cmd_serve.c - `graviton serve`: the command line of the daemon
 * (src/app/daemon.c), which opens (and on first start initialises) the
 * data directory, serves the HTTP API and runs the background loops.
 *
 * Signals are blocked in every thread and taken by the main thread with
 * sigwait: SIGTERM/SIGINT stop (no new connections, requests in flight
 * finish, background work stops at a safe point, exit 0); SIGHUP reloads
 * the configuration (log level, token, placement, schedules).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/daemon.h"

static void help(void)
{
	printf("usage: graviton serve [--listen HOST:PORT] [--config FILE]\n"
	       "\n"
	       "Serve the HTTP API (see docs/http-api.md) and the dashboard at /\n"
	       "(docs/dashboard.md), and run the background work:\n"
	       "the repair loop, the scrub schedule, the rebalancer, the reclaim of\n"
	       "leftover files, the sector health check and the metrics updater.  The\n"
	       "first start on an empty data directory creates the default layout (6 local\n"
	       "sectors over 3 racks and 3 zones) unless the configuration lists sectors.\n"
	       "With graviton.s3.enabled it also answers the S3 API on graviton.s3.listen\n"
	       "(127.0.0.1:8789; docs/s3.md).\n"
	       "\n"
	       "  --listen HOST:PORT   address to bind (default graviton.server.listen,\n"
	       "                       127.0.0.1:8787)\n"
	       "\n"
	       "Signals: SIGTERM/SIGINT stop cleanly (exit 0); SIGHUP reloads the\n"
	       "configuration file.\n");
}

/* The daemon's token hook: the configuration's, $GRAVITON_TOKEN or DIR/token. */
static int serve_token(const gv_config *cfg, char *buf, size_t cap, const char **source, void *arg)
{
	if (cli_server_token(arg, cfg, buf, cap, source) < 0)
		return gv_error_set(GV_EIO, "no token");
	return 0;
}

/* The daemon's log hook: level and format unless given on the line. */
static void serve_log(const gv_config *cfg, void *arg)
{
	cli_apply_log_config(arg, cfg);
}

int cmd_serve(cli_globals *g, int argc, char **argv)
{
	gv_daemon_opts o = { 0 };
	gv_daemon *d = NULL;
	gv_config cfg;
	sigset_t sigs;
	char line[1400], qfile[256], qerr[1024];
	unsigned port;
	int i, rc, err, sig;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			o.listen = argv[++i];
		} else if (strncmp(argv[i], "--listen=", 9) == 0) {
			o.listen = argv[i] + 9;
		} else {
			cli_err("serve: unexpected argument '%s' (see 'graviton serve --help')", argv[i]);
			return EXIT_USAGE;
		}
	}
	if ((rc = cli_load_config(g, &cfg)) != 0)
		return rc;
	if (gv_config_parse_listen(line, sizeof(line), &port, o.listen ? o.listen : cfg.server.listen) < 0) {
		cli_err("serve: %s", gv_error_last());
		gv_config_free(&cfg);
		return EXIT_USAGE;
	}
	g->log_time = 1;
	o.data_dir = g->data_dir;
	o.token = serve_token;
	o.apply_log = serve_log;
	o.arg = g;

	/* Block the signals before any thread starts, so all of them inherit
	 * the mask and only sigwait below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	cli_ignore_sigpipe();
	if ((err = gv_daemon_start(&d, &cfg, &o)) < 0) {
		rc = cli_fail(err, "serve");
		gv_config_free(&cfg);
		return rc;
	}
	gv_config_free(&cfg);

	for (;;) {
		gv_config fresh;

		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		if (!g->config) {
			cli_log_line(GV_LOG_WARN, "event=reload result=skipped reason=\"no --config file\"");
			continue;
		}
		/* The data directory stays the one the daemon runs on. */
		if (cli_settings_quiet(g, &fresh) != 0) {
			snprintf(line, sizeof(line), "event=reload result=failed file=\"%s\" "
			         "error=\"%s\" note=\"keeping the running configuration\"",
			         cli_log_quote(qfile, sizeof(qfile), g->config),
			         cli_log_quote(qerr, sizeof(qerr), gv_error_last()));
			cli_log_line(GV_LOG_ERROR, line);
			continue;
		}
		if (gv_daemon_reload(d, &fresh) < 0) {
			snprintf(line, sizeof(line), "event=reload result=failed file=\"%s\" "
			         "error=\"%s\"", cli_log_quote(qfile, sizeof(qfile), g->config),
			         cli_log_quote(qerr, sizeof(qerr), gv_error_last()));
			cli_log_line(GV_LOG_ERROR, line);
		} else {
			snprintf(line, sizeof(line), "event=reload result=ok file=\"%s\"",
			         cli_log_quote(qfile, sizeof(qfile), g->config));
			cli_log_line(GV_LOG_INFO, line);
		}
		gv_config_free(&fresh);
	}
	snprintf(line, sizeof(line), "event=stopping signal=%s",
	         sig == SIGTERM ? "SIGTERM" : "SIGINT");
	cli_log_line(GV_LOG_INFO, line);
	gv_daemon_stop(d);
	cli_log_line(GV_LOG_INFO, "event=stopped");
	return 0;
}
