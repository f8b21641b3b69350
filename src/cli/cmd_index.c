/*
 * cmd_index.c - `graviton index rebuild`: recover the replica index from
 * the sectors alone; `graviton index migrate --to URL`: copy it into
 * another (empty) index, e.g. from SQLite into PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/config.h"
#include "graviton/sys/index.h"
#include "cli/cli.h"
#include "cli/progress.h"

static void help(void)
{
	printf("usage: graviton index rebuild [--sector PATH]... [--force] [--json]\n"
	       "                              [placement options]\n"
	       "\n"
	       "Rebuild the replica index from the sectors alone: every directory under\n"
	       "DIR/sectors/ and every --sector PATH.  Each sector's identity file gives\n"
	       "its id, rack, zone and capacity; each blob file is hashed, and a copy that\n"
	       "does not match its key is recorded unhealthy.  The new index replaces the\n"
	       "old one only when complete.  When the old index reads, each sector keeps\n"
	       "its state (draining, retired), and a directory under DIR/sectors/ that it\n"
	       "does not register (a removed sector) is skipped unless named with --sector.\n"
	       "Sectors elsewhere are listed too: the old index's s3 sectors, and every\n"
	       "--sector given as an s3 locator (s3://BUCKET[/PREFIX]?endpoint=URL, as\n"
	       "'sector list --json' shows it in \"path\"; docs/s3-sectors.md).\n"
	       "\n"
	       "Refused, changing nothing: while 'graviton serve' runs on DIR (exit 75);\n"
	       "when two directories carry the same sector identity (exit 65); when the\n"
	       "index exists and --force is not given (exit 73).  With --json a refusal\n"
	       "prints {\"error\", \"message\", \"exit_code\"} on stdout as well.\n"
	       "\n"
	       "  --sector PATH   another sector root, or an s3 locator, to scan (repeatable)\n"
	       "  --force         replace an index that exists\n"
	       "  --json          print the summary as JSON\n"
	       "  --strategy S, --factor N, --min-replicas N, --min-racks N, --min-zones N\n"
	       "                  placement settings for the new index (defaults otherwise)\n"
	       "\n"
	       "usage: graviton index migrate --to URL [--json]\n"
	       "\n"
	       "Copy the current index (--index, $GRAVITON_INDEX, the configuration's, else\n"
	       "DIR/graviton.db) into the empty index at URL (postgresql://user@host/db or\n"
	       "sqlite:PATH; created when missing), then compare the two: counts of\n"
	       "sectors, blobs, replicas, settings, block tables and repair queue rows,\n"
	       "and a SHA-256 over a canonical text of every row.  The current index is\n"
	       "left as it was; point the store at URL afterwards (--index,\n"
	       "$GRAVITON_INDEX or graviton.index.url).\n"
	       "Refused, changing nothing: while 'graviton serve' runs on DIR (exit 75);\n"
	       "when the target holds anything (exit 73).  A copy that differs is exit 65.\n"
	       "  --to URL        the target index\n"
	       "  --json          print the summary as JSON\n");
}

/* The index the store opens: the configuration's (or --index), else
 * DIR/graviton.db. */
static void index_url(char *buf, size_t cap, const cli_globals *g, const gv_config *cfg)
{
	if ((g->config || g->index) && cfg->index.path && *cfg->index.path)
		snprintf(buf, cap, "%s", cfg->index.path);
	else
		snprintf(buf, cap, "%s/graviton.db", g->data_dir);
}

static int cmd_migrate(cli_globals *g, int argc, char **argv)
{
	gv_index *src = NULL, *dst = NULL;
	gv_index_summary s;
	gv_config cfg;
	const char *to = NULL, *backend;
	char from[4096], from_shown[4096], to_shown[4096];
	int i, json = 0, rc = 0, err, lock_fd = -1;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < argc && *argv[i + 1]) {
			to = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			cli_err("index migrate: unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!to) {
		cli_err("index migrate: --to URL is required");
		return EXIT_USAGE;
	}
	if ((rc = cli_load_config(g, &cfg)) != 0)
		return rc;
	index_url(from, sizeof(from), g, &cfg);
	backend = (g->config || g->index) ? cfg.index.backend : NULL;
	/* Nothing may write the source while it is copied. */
	if ((err = gv_serve_lock(g->data_dir, &lock_fd)) < 0) {
		if (err == GV_EBUSY)
			err = gv_error_set(GV_EBUSY, "a graviton serve is running on %s; stop it "
			                   "before migrating the index", g->data_dir);
		rc = cli_fail_json(err, "index migrate", json);
		goto out;
	}
	if ((err = gv_index_open(&src, backend, from, 0)) < 0 ||
	    (err = gv_index_open_url(&dst, to, GV_INDEX_OPEN_CREATE)) < 0 ||
	    (err = gv_index_copy(dst, src, &s, NULL, NULL)) < 0) {
		rc = cli_fail_json(err, "index migrate", json);
		goto out;
	}
	/* The URLs as shown: a password in them never is. */
	gv_index_url_redact(from_shown, sizeof(from_shown), from);
	gv_index_url_redact(to_shown, sizeof(to_shown), to);
	if (json)
		rc = cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
		                              "from", from_shown, "to", to_shown, "sectors",
		                              (json_int_t)s.sectors, "blobs", (json_int_t)s.blobs,
		                              "replicas", (json_int_t)s.replicas, "settings",
		                              (json_int_t)s.settings, "block_tables",
		                              (json_int_t)s.block_tables, "repair_queue",
		                              (json_int_t)s.repair_queue, "digest", s.digest));
	else
		printf("index migrated: %llu sectors, %llu blobs, %llu replicas, %llu settings, "
		       "%llu block tables, %llu repair queue rows; both sides digest %s\n",
		       (unsigned long long)s.sectors, (unsigned long long)s.blobs,
		       (unsigned long long)s.replicas, (unsigned long long)s.settings,
		       (unsigned long long)s.block_tables, (unsigned long long)s.repair_queue,
		       s.digest);
out:
	gv_index_close(dst);
	gv_index_close(src);
	if (lock_fd >= 0)
		gv_serve_unlock(lock_fd);
	gv_config_free(&cfg);
	return rc;
}

static cli_progress prog;

static void on_progress(uint64_t blobs, uint64_t bytes, void *payload)
{
	(void)payload;
	cli_progress_update(&prog, bytes, 0, blobs, 0);
}

int cmd_index(cli_globals *g, int argc, char **argv)
{
	gv_rebuild_opts o = GV_REBUILD_OPTS_INIT;
	gv_rebuild_summary s;
	gv_config cfg;
	const char **paths = NULL;
	int i, r, json = 0, rc = 0, err, have_cfg = 0;

	if (argc < 2) {
		cli_err("index: missing subcommand (see 'graviton index --help')");
		return EXIT_USAGE;
	}
	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	if (strcmp(argv[1], "migrate") == 0)
		return cmd_migrate(g, argc, argv);
	if (strcmp(argv[1], "rebuild") != 0) {
		cli_err("index: unknown subcommand '%s' (expected rebuild or migrate)", argv[1]);
		return EXIT_USAGE;
	}
	paths = calloc((size_t)argc, sizeof(*paths));
	if (!paths)
		return EXIT_SOFTWARE;
	for (i = 2; i < argc; i++) {
		if ((r = cli_placement_flag(g, argc, argv, &i)) != 0) {
			if (r < 0) {
				rc = EXIT_USAGE;
				goto out;
			}
			continue;
		}
		if (strcmp(argv[i], "--sector") == 0 && i + 1 < argc) {
			paths[o.nsector_paths++] = argv[++i];
		} else if (strcmp(argv[i], "--force") == 0) {
			o.force = 1;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			cli_err("index rebuild: unexpected argument '%s'", argv[i]);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	/* A configuration file names the data directory (unless given on the
	 * line) and where the index lives. */
	if ((rc = cli_load_config(g, &cfg)) != 0)
		goto out;
	have_cfg = 1;
	o.data_dir = g->data_dir;
	if ((g->config || g->index) && cfg.index.path && *cfg.index.path)
		o.index_path = cfg.index.path;
	o.sector_paths = paths;
	o.on_progress = on_progress;
	if (g->placement_set) {
		o.placement_set = 1;
		o.placement = g->placement;
		if (!(g->placement_flags & 4) && o.placement.min_replicas > o.placement.factor)
			o.placement.min_replicas = o.placement.factor;
	}
	cli_progress_init(&prog, "rebuild", g->quiet || json);
	err = gv_index_rebuild(&o, &s);
	cli_progress_done(&prog);
	if (err < 0) {
		rc = cli_fail_json(err, "index rebuild", json);
		goto out;
	}
	if (json) {
		rc = cli_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "sectors",
		                              (json_int_t)s.sectors, "blobs", (json_int_t)s.blobs,
		                              "replicas", (json_int_t)s.replicas, "unhealthy",
		                              (json_int_t)s.unhealthy, "bytes", (json_int_t)s.bytes,
		                              "skipped", (json_int_t)s.skipped,
		                              "duration_s", (double)s.duration_ms / 1000.0));
	} else {
		char bbuf[32];

		printf("index rebuilt: %llu sectors, %llu blobs, %llu replicas (%s), %llu unhealthy, "
		       "%llu skipped, %.1f s\n",
		       (unsigned long long)s.sectors, (unsigned long long)s.blobs,
		       (unsigned long long)s.replicas, gv_size_format(bbuf, sizeof(bbuf), s.bytes),
		       (unsigned long long)s.unhealthy, (unsigned long long)s.skipped,
		       (double)s.duration_ms / 1000.0);
	}
out:
	if (have_cfg) {
		if (g->data_dir == cfg.data_dir) {
			/* The configuration is freed here; keep its data directory. */
			g->data_dir_owned = strdup(cfg.data_dir);
			g->data_dir = g->data_dir_owned ? g->data_dir_owned : "./graviton-data";
		}
		gv_config_free(&cfg);
	}
	free(paths);
	return rc;
}
