/*
 * cmd_init.c - `graviton init`: create a data directory with N local
 * sectors spread round-robin over racks, racks over zones.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "graviton/daemon.h"
#include "graviton/sys/sector.h"

static void help(void)
{
	printf("usage: graviton init [--sectors N] [--racks R] [--zones Z] [--capacity SIZE]\n"
	       "                     [--strategy S] [--factor N] [--min-replicas N]\n"
	       "                     [--min-racks N] [--min-zones N]\n"
	       "\n"
	       "Create the data directory, its index and N local sectors under DIR/sectors/.\n"
	       "Sector i goes to rack (i mod R) and that rack to zone (rack mod Z).\n"
	       "Running it again on the same layout changes nothing; a different\n"
	       "existing layout is refused.  DIR/token (mode 0600) gets a random bearer\n"
	       "token for 'graviton serve' unless the configuration sets one\n"
	       "(graviton.server.auth-token) or turns authentication off.\n"
	       "\n"
	       "  --sectors N      number of sectors (default 6); 0 makes a gateway: just the\n"
	       "                   index, for remote sectors (sector add ID --url ...) or\n"
	       "                   the sectors of an index other gateways share\n"
	       "  --racks R        number of racks (default 3)\n"
	       "  --zones Z        number of zones (default 3)\n"
	       "  --capacity SIZE  capacity of each sector, e.g. 10GiB (default: the filesystem's)\n"
	       "  --strategy S     simple, rack-aware or zone-aware (default rack-aware)\n"
	       "  --factor N       replication factor, 1 to 16 (default 3)\n"
	       "  --min-replicas N write quorum (default 2)\n"
	       "  --min-racks N    racks a key must span, rack-aware (default 2)\n"
	       "  --min-zones N    zones a key must span, zone-aware (default 2)\n");
}

static int count_arg(int *out, const char *name, const char *v, int min, int max)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (!*v || *end || x < min || x > max) {
		cli_err("invalid %s '%s': expected a whole number from %d to %d", name, v, min, max);
		return -1;
	}
	*out = (int)x;
	return 0;
}

/* DIR/gateway: the data directory is a gateway's (init --sectors 0). */
static int cli_gateway_mark(const char *dir)
{
	char path[GV_PATH_MAX + 16];
	FILE *f;
	int bad;

	snprintf(path, sizeof(path), "%s/%s", dir, GV_GATEWAY_FILE);
	if (!(f = fopen(path, "w"))) {
		cli_err("init: cannot write %s: %s", path, strerror(errno));
		return EXIT_CANTCREAT;
	}
	bad = fputs("gateway: serve lays out no local sectors\n", f) < 0;
	if (fclose(f) != 0 || bad) {
		cli_err("init: cannot write %s", path);
		return EXIT_CANTCREAT;
	}
	return 0;
}

/* DIR/token for `serve`, unless the configuration names a token or turns
 * authentication off.  Returns 0 or an exit code. */
static int init_token(cli_globals *g)
{
	const char *dir = g->data_dir;
	gv_config cfg;
	int rc;

	if ((rc = cli_load_config(g, &cfg)) != 0)
		return rc;
	g->data_dir = dir; /* cfg's copy goes with cfg */
	if (cfg.server.auth && !*cfg.server.auth_token && cli_token_create(dir) < 0)
		rc = EXIT_CANTCREAT;
	gv_config_free(&cfg);
	return rc;
}

/* The registered path (relative to the data directory, or absolute in a
 * store from before relative paths) names the directory at path. */
static int same_dir(const char *data_dir, const char *registered, const char *path)
{
	char a[PATH_MAX], b[PATH_MAX], full[GV_PATH_MAX];

	if (registered[0] == '/')
		snprintf(full, sizeof(full), "%s", registered);
	else if (snprintf(full, sizeof(full), "%s/%s", data_dir, registered) >= (int)sizeof(full))
		return 0;
	if (!realpath(full, a) || !realpath(path, b))
		return strcmp(full, path) == 0;
	return strcmp(a, b) == 0;
}

/* 1 when a registered local sector lives in data_dir (relative, or under
 * it): not one of the sectors an index other gateways share lays out
 * elsewhere. */
static int in_dir(const char *data_dir, const char *registered)
{
	char a[PATH_MAX], d[PATH_MAX];
	size_t n;

	if (registered[0] != '/')
		return 1;
	if (!realpath(data_dir, d) || !realpath(registered, a))
		return 0;
	n = strlen(d);
	return strncmp(a, d, n) == 0 && a[n] == '/';
}

int cmd_init(cli_globals *g, int argc, char **argv)
{
	int nsect = GV_LAYOUT_SECTORS, nracks = GV_LAYOUT_RACKS, nzones = GV_LAYOUT_ZONES, i, r, rc;
	uint64_t capacity = 0;
	gv_sector_info *have = NULL;
	size_t nhave = 0;
	gv_store *st = NULL;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if ((r = cli_placement_flag(g, argc, argv, &i)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		if (i + 1 >= argc) {
			cli_err("init: unexpected argument '%s' (see 'graviton init --help')", a);
			return EXIT_USAGE;
		}
		if (strcmp(a, "--sectors") == 0) {
			if (count_arg(&nsect, a, argv[++i], 0, 1000) < 0)
				return EXIT_USAGE;
		} else if (strcmp(a, "--racks") == 0) {
			if (count_arg(&nracks, a, argv[++i], 1, 1000) < 0)
				return EXIT_USAGE;
		} else if (strcmp(a, "--zones") == 0) {
			if (count_arg(&nzones, a, argv[++i], 1, 1000) < 0)
				return EXIT_USAGE;
		} else if (strcmp(a, "--capacity") == 0) {
			if (cli_size_arg(&capacity, a, argv[++i]) < 0)
				return EXIT_USAGE;
		} else {
			cli_err("init: unknown option '%s' (see 'graviton init --help')", a);
			return EXIT_USAGE;
		}
	}

	if ((rc = cli_open_store(g, &st, 1)) != 0)
		return rc;
	if (gv_store_sector_list(st, &have, &nhave) < 0) {
		rc = cli_fail(GV_ERROR, "init");
		goto out;
	}
	/* A gateway: only the index; its sectors (remote ones, or those of
	 * an index other gateways share) are added elsewhere, and the marker
	 * keeps `serve` from laying out local ones. */
	if (nsect == 0) {
		for (i = 0; i < (int)nhave; i++)
			if (strcmp(have[i].kind, GV_SECTOR_KIND_DEFAULT) == 0 &&
			    in_dir(g->data_dir, have[i].path)) {
				cli_err("init: %s already holds a layout of local sectors; refusing "
				        "to make it a gateway", g->data_dir);
				rc = EXIT_CANTCREAT;
				goto out;
			}
		if ((rc = cli_gateway_mark(g->data_dir)) != 0 || (rc = init_token(g)) != 0)
			goto out;
		if (!g->quiet)
			fprintf(stderr, "graviton: initialised %s: a gateway (no local sectors; add "
			        "remote ones with 'graviton sector add ID --url ...')\n", g->data_dir);
		goto out;
	}
	if (nhave > 0 && nhave != (size_t)nsect) {
		cli_err("init: %s already holds a layout of %zu sector%s; refusing to change it to %d "
		        "(use 'graviton sector add' to grow it)",
		        g->data_dir, nhave, nhave == 1 ? "" : "s", nsect);
		rc = EXIT_CANTCREAT;
		goto out;
	}
	for (i = 0; i < nsect; i++) {
		gv_sector_info info;
		int err;

		if ((err = gv_layout_sector(&info, g->data_dir, i, nracks, nzones, capacity)) < 0) {
			rc = cli_fail(err, "init");
			goto out;
		}
		if (nhave) {
			const gv_sector_info *old = &have[i];

			if (strcmp(old->id, info.id) != 0 || !same_dir(g->data_dir, old->path, info.path) ||
			    strcmp(old->rack, info.rack) != 0 || strcmp(old->zone, info.zone) != 0 ||
			    (capacity && old->capacity != capacity)) {
				cli_err("init: %s already holds a different layout (sector %s at %s, "
				        "rack %s, zone %s); refusing to change it",
				        g->data_dir, old->id, old->path, old->rack, old->zone);
				rc = EXIT_CANTCREAT;
				goto out;
			}
			continue;
		}
		err = gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE);
		if (err < 0) {
			rc = cli_fail(err, "init");
			goto out;
		}
	}
	if ((rc = init_token(g)) != 0)
		goto out;
	if (!g->quiet)
		fprintf(stderr, "graviton: %s %s: %d sectors, %d racks, %d zones, strategy %s, factor %d\n",
		        nhave ? "already initialised" : "initialised", g->data_dir, nsect,
		        nracks < nsect ? nracks : nsect, nzones,
		        gv_strategy_name(gv_store_placement(st).strategy),
		        gv_store_placement(st).factor);
	rc = 0;
out:
	free(have);
	gv_store_free(st);
	return rc;
}
