/*
 * main.c - `graviton`: global options, logging to stderr, dispatch to one
 * cmd_<name>.c per command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "graviton/config.h"

static const cli_command commands[] = {
	{ "init", cmd_init, "create a data directory with local sectors", 0 },
	{ "sector", cmd_sector, "manage sectors (add|list|set-health|replace|drain|remove|sweep)", 1 },
	{ "put", cmd_put, "store a file (or stdin) and print its key", 1 },
	{ "get", cmd_get, "write a blob's bytes (verified) to stdout or a file", 1 },
	{ "stat", cmd_stat, "show a blob's replicas and their health", 1 },
	{ "status", cmd_status, "show store-wide replication figures", 1 },
	{ "repair", cmd_repair, "restore every key to its replication factor", 1 },
	{ "rebalance", cmd_rebalance, "move replicas off full sectors toward the mean", 1 },
	{ "serve", cmd_serve, "run the HTTP API and the background repair, scrub, rebalance", 0 },
	{ "metrics", cmd_metrics, "print the Prometheus metrics (a server's with --server)", 1 },
	{ "config", cmd_config, "validate a configuration file and print it (check FILE)", 0 },
	{ "scrub", cmd_scrub, "verify every replica's checksum", 1 },
	{ "index", cmd_index, "rebuild the replica index from the sectors (rebuild)", 0 },
	{ "placement", cmd_placement, "explain a key's replicas (explain KEY), set the cluster's (set)", 1 },
	{ "ls", cmd_ls, "list stored blobs, buckets, or the names in a bucket", 1 },
	{ "cp", cmd_cp, "store a file under a name (BUCKET/NAME)", 0 },
	{ "cat", cmd_cat, "write a named object's bytes (verified) to stdout", 0 },
	{ "rm", cmd_rm, "remove a name, or a blob's pin (and the blob when unreferenced)", 1 },
	{ "gc", cmd_gc, "delete blobs nothing has referenced for the grace period", 1 },
	{ "forget", cmd_forget, "accept a lost key as lost (status and repair stop failing)", 0 },
	{ NULL, NULL, NULL, 0 }
};

static void usage(FILE *f)
{
	const cli_command *c;

	fprintf(f,
	        "usage: graviton [--data-dir DIR | --server URL [--token T]] [--config FILE]\n"
	        "                [-v|-q] [--log-level L] <command> [args]\n"
	        "\n"
	        "Replicated, content-addressed blob store.\n"
	        "\n"
	        "commands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f,
	        "\n"
	        "global options (anywhere on the line):\n"
	        "  --data-dir DIR   data directory, not empty (default $GRAVITON_DATA_DIR when\n"
	        "                   set and not empty, else ./graviton-data)\n"
	        "  --server URL     talk to a running 'graviton serve' (http:// or https://)\n"
	        "                   instead of the data directory (default $GRAVITON_SERVER);\n"
	        "                   put, get, stat, placement, status, repair, scrub, rebalance,\n"
	        "                   metrics, sector (but replace and sweep)\n"
	        "  --token T        bearer token for --server (default $GRAVITON_TOKEN, else\n"
	        "                   the configuration's auth-token, else DIR/token)\n"
	        "  --config FILE    configuration file (HOCON)\n"
	        "  --index URL      the index: sqlite:PATH or postgresql://user@host/db\n"
	        "                   (default $GRAVITON_INDEX, else the configuration's\n"
	        "                   graviton.index, else DIR/graviton.db)\n"
	        "  -v, --verbose    log info events to stderr (-vv: debug)\n"
	        "  -q, --quiet      log errors only\n"
	        "  --log-level L    debug, info, warn or error (default warn)\n"
	        "  --version        print the version\n"
	        "\n"
	        "exit codes (sysexits): 0 success, 64 usage, 65 bad data (malformed input,\n"
	        "corrupt content or index, scrub found damage), 66 not found, 69 unavailable\n"
	        "(quorum not met, every replica failed, a key lost), 70 internal error,\n"
	        "73 cannot create, 74 I/O error, 75 try again (busy, a port in use,\n"
	        "interrupted, a job failed), 77 permission denied, 78 bad configuration.\n"
	        "\n"
	        "Run 'graviton <command> --help' for a command's options.\n");
}

static int take_value(int *argc, char **argv, int i, const char *name, const char **out)
{
	size_t len = strlen(name);
	int j;

	if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') {
		*out = argv[i] + len + 1;
		for (j = i; j < *argc - 1; j++)
			argv[j] = argv[j + 1];
		(*argc)--;
		return 1;
	}
	if (strcmp(argv[i], name) != 0)
		return 0;
	if (i + 1 >= *argc) {
		cli_err("%s needs a value", name);
		return -1;
	}
	*out = argv[i + 1];
	for (j = i; j < *argc - 2; j++)
		argv[j] = argv[j + 2];
	*argc -= 2;
	return 1;
}

static int drop_arg(int *argc, char **argv, int i)
{
	int j;

	for (j = i; j < *argc - 1; j++)
		argv[j] = argv[j + 1];
	(*argc)--;
	return 1;
}

/*
 * With no --token nor $GRAVITON_TOKEN: the configuration's
 * graviton.server.auth-token, else the data directory's token file (what
 * `serve` on that directory requires).  Quietly none when neither exists.
 */
static void pick_token(cli_globals *g)
{
	static char buf[CLI_TOKEN_MAX];
	const char *dir = g->data_dir;
	gv_config cfg;

	if (cli_load_config(g, &cfg) != 0)
		return; /* the command reports a bad configuration itself */
	if (cfg.server.auth_token && *cfg.server.auth_token)
		snprintf(buf, sizeof(buf), "%s", cfg.server.auth_token);
	else if (cli_token_read(g->data_dir, buf, sizeof(buf)) <= 0)
		buf[0] = '\0';
	g->data_dir = dir; /* cfg's copy goes with cfg */
	gv_config_free(&cfg);
	if (buf[0])
		g->token = buf;
}

/*
 * --server from the line or $GRAVITON_SERVER, --token or $GRAVITON_TOKEN
 * (else the configuration's or the data directory's, see pick_token).
 * A command that only works on the data directory refuses a --server flag
 * and ignores the environment (so `serve` runs with both set).  Returns 0
 * or an exit code.
 */
static int pick_server(cli_globals *g, const cli_command *c)
{
	int flag = g->server != NULL;
	const char *env;
	char why[256];

	if (flag && !*g->server) {
		cli_err("--server needs a URL");
		return EXIT_USAGE;
	}
	if (!flag && (env = getenv("GRAVITON_SERVER")) && *env)
		g->server = env;
	if (!g->token && (env = getenv("GRAVITON_TOKEN")) && *env)
		g->token = env;
	if (g->token && !*g->token)
		g->token = NULL;
	if (!g->server)
		return 0;
	g->server_given = flag;
	if (!c->remote) {
		if (flag) {
			cli_err("%s: --server is not supported: this command works on the data "
			        "directory (--data-dir)", c->name);
			return EXIT_USAGE;
		}
		g->server = NULL;
		return 0;
	}
	if (cli_client_check_url(g->server, why, sizeof(why)) < 0) {
		cli_err("invalid %s URL '%.200s': %s", flag ? "--server" : "GRAVITON_SERVER",
		        g->server, why);
		return EXIT_USAGE;
	}
	if (!g->token)
		pick_token(g);
	if (g->token && cli_client_check_token(g->token, why, sizeof(why)) < 0) {
		cli_err("invalid token: %s", why);
		return EXIT_USAGE;
	}
	return 0;
}

static int run(int argc, char **argv);

/* Usage errors (exit 64) of a line given --json are an error document on
 * stdout too, as every other error of such a line. */
int main(int argc, char **argv)
{
	int json = cli_wants_json(argc, argv);

	return cli_usage_done(run(argc, argv), json);
}

static int run(int argc, char **argv)
{
	cli_globals g;
	const cli_command *c;
	const char *level = NULL;
	int i, r, verbose = 0;

	memset(&g, 0, sizeof(g));
	g.prog = "graviton";
	g.placement = (gv_placement_opts)GV_PLACEMENT_OPTS_INIT;

	/* Global options may appear anywhere before "--". */
	for (i = 1; i < argc;) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if ((r = take_value(&argc, argv, i, "--data-dir", &g.data_dir)) ||
		    (r = take_value(&argc, argv, i, "--config", &g.config)) ||
		    (r = take_value(&argc, argv, i, "--server", &g.server)) ||
		    (r = take_value(&argc, argv, i, "--token", &g.token)) ||
		    (r = take_value(&argc, argv, i, "--index", &g.index)) ||
		    (r = take_value(&argc, argv, i, "--log-level", &level))) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			verbose++;
			drop_arg(&argc, argv, i);
			continue;
		}
		if (strcmp(argv[i], "-vv") == 0) {
			verbose += 2;
			drop_arg(&argc, argv, i);
			continue;
		}
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			g.quiet = 1;
			drop_arg(&argc, argv, i);
			continue;
		}
		i++;
	}

	g.log_level = g.quiet ? GV_LOG_ERROR : verbose >= 2 ? GV_LOG_DEBUG
	                                     : verbose == 1 ? GV_LOG_INFO : GV_LOG_WARN;
	if (level) {
		if (strcmp(level, "debug") == 0)
			g.log_level = GV_LOG_DEBUG;
		else if (strcmp(level, "info") == 0)
			g.log_level = GV_LOG_INFO;
		else if (strcmp(level, "warn") == 0)
			g.log_level = GV_LOG_WARN;
		else if (strcmp(level, "error") == 0)
			g.log_level = GV_LOG_ERROR;
		else {
			cli_err("invalid --log-level '%s': expected debug, info, warn or error", level);
			return EXIT_USAGE;
		}
	}
	g.log_level_given = verbose || g.quiet || level;
	gv_log_set(cli_log_sink, (gv_log_level)g.log_level, &g);

	if (g.data_dir && !*g.data_dir) {
		/* Never a silent fall-back to ./graviton-data. */
		cli_err("--data-dir needs a directory, got an empty string");
		return EXIT_USAGE;
	}
	if (!g.data_dir)
		g.data_dir = getenv("GRAVITON_DATA_DIR");
	if (!g.index)
		g.index = getenv("GRAVITON_INDEX");
	if (g.index && !*g.index)
		g.index = NULL;
	g.data_dir_given = g.data_dir && *g.data_dir;
	if (!g.data_dir_given)
		g.data_dir = "./graviton-data";

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("graviton %s\n", GV_VERSION);
		return 0;
	}
	for (c = commands; c->name; c++) {
		if (strcmp(argv[1], c->name) == 0) {
			if ((r = pick_server(&g, c)) != 0)
				return r;
			r = c->fn(&g, argc - 1, argv + 1);
			free(g.data_dir_owned);
			return r;
		}
	}
	cli_err("unknown command '%s' (see 'graviton --help')", argv[1]);
	return EXIT_USAGE;
}
