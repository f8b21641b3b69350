/*
 * cmd_sector.c - `graviton sector add|list|set-health|replace|drain|remove|sweep`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "graviton/sys/sector.h"
#include "graviton/reclaim.h"
#include "cli/client.h"
#include "graviton/wire.h"

static void help(void)
{
	printf("usage: graviton sector add ID --path DIR [--capacity SIZE] [--rack R] [--zone Z]\n"
	       "                           [--adopt] [--json]\n"
	       "       graviton sector add ID --url http://HOST:PORT --remote-sector SID\n"
	       "                           [--capacity SIZE] [--rack R] [--zone Z] [--json]\n"
	       "       graviton sector add ID --s3 s3://BUCKET[/PREFIX] --endpoint URL [--region R]\n"
	       "                           [--s3-style path|virtual] [--capacity SIZE] [--rack R]\n"
	       "                           [--zone Z] [--adopt] [--json]\n"
	       "       graviton sector list [--json]\n"
	       "       graviton sector set-health ID healthy|unhealthy [--json]\n"
	       "       graviton sector replace OLD NEW --path DIR [--capacity SIZE] [--adopt]\n"
	       "                               [--repair]\n"
	       "       graviton sector drain ID [--dry-run] [--json]\n"
	       "       graviton sector remove ID [--json]\n"
	       "       graviton sector sweep [ID] [--dry-run] [--json] [--grace DURATION]\n"
	       "\n"
	       "add         register a local directory as a sector (created when missing);\n"
	       "            --adopt takes over a directory of another store (cluster);\n"
	       "            with --url, sector SID that the node at the url lends (its\n"
	       "            graviton.node.token must be this store's; docs/sector-protocol.md);\n"
	       "            with --s3, a bucket and prefix of an S3-compatible store at the\n"
	       "            endpoint (writes its GRAVITON-SECTOR object; credentials from the\n"
	       "            configuration or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY;\n"
	       "            --capacity is its quota; docs/s3-sectors.md)\n"
	       "list        show every sector with its capacity, use, free space, device (a '*'\n"
	       "            marks sectors sharing a filesystem), health, rack and zone\n"
	       "set-health  mark a sector healthy (its directory must open) or unhealthy\n"
	       "replace     replace a lost disk: register NEW at DIR in OLD's rack and zone\n"
	       "            (capacity: --capacity, else the filesystem's size), mark OLD\n"
	       "            retired so its copies no longer count; 'repair' then restores\n"
	       "            every key's factor (--repair runs it now); refused while OLD's\n"
	       "            directory still answers (drain a working disk instead)\n"
	       "drain       stop new placements on a sector, move every replica off it\n"
	       "            (keeping factor and rack/zone constraints), then mark it retired;\n"
	       "            reads keep working; run again to resume after an interruption\n"
	       "remove      forget a retired (or empty) sector\n"
	       "sweep       reclaim space now (as 'serve' does every reclaim interval):\n"
	       "            temporary files of writers that are gone, and committed files\n"
	       "            no replica row counts on once older than the grace (default\n"
	       "            graviton.replication.reclaim.grace, 1 hour); safe while a\n"
	       "            server or other commands use the data directory\n"
	       "\n"
	       "--json prints the sector (add, set-health), {id, removed} (remove), the list\n"
	       "(list) or the drain's job document (drain), as the HTTP API answers them.\n"
	       "With --server URL, add, list, set-health, drain and remove go through that\n"
	       "server's API (POST /v1/sectors, PATCH and DELETE /v1/sectors/ID; add's DIR\n"
	       "is a path on the server's machine); replace and sweep work on the data\n"
	       "directory only.\n");
}

/*
 * The options of `sector add` (from argv[i] on) into info and flags; with
 * repair (sector replace) --rack and --zone are not taken (they are the
 * old sector's) and --repair is.  Returns 0 or EXIT_USAGE, having said why.
 */
static int sector_opts(const char *cmd, int argc, char **argv, int i, gv_sector_info *info,
                       unsigned *flags, int *repair)
{
	const char *url = NULL, *rsid = NULL, *s3 = NULL, *endpoint = NULL, *region = NULL,
	           *style = NULL;

	for (; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--adopt") == 0) {
			*flags |= GV_SECTOR_ADD_ADOPT;
			continue;
		}
		if (repair && strcmp(a, "--repair") == 0) {
			*repair = 1;
			continue;
		}
		if (i + 1 >= argc) {
			cli_err("sector %s: '%s' needs a value or is unknown", cmd, a);
			return EXIT_USAGE;
		}
		if (strcmp(a, "--path") == 0) {
			if (strlen(argv[i + 1]) >= sizeof(info->path) || !argv[i + 1][0]) {
				cli_err("sector %s: invalid --path", cmd);
				return EXIT_USAGE;
			}
			snprintf(info->path, sizeof(info->path), "%s", argv[++i]);
		} else if (!repair && strcmp(a, "--url") == 0) {
			url = argv[++i];
		} else if (!repair && strcmp(a, "--remote-sector") == 0) {
			rsid = argv[++i];
		} else if (!repair && strcmp(a, "--s3") == 0) {
			s3 = argv[++i];
		} else if (!repair && strcmp(a, "--endpoint") == 0) {
			endpoint = argv[++i];
		} else if (!repair && strcmp(a, "--region") == 0) {
			region = argv[++i];
		} else if (!repair && strcmp(a, "--s3-style") == 0) {
			style = argv[++i];
		} else if (strcmp(a, "--capacity") == 0) {
			if (cli_size_arg(&info->capacity, a, argv[++i]) < 0)
				return EXIT_USAGE;
		} else if (!repair && (strcmp(a, "--rack") == 0 || strcmp(a, "--zone") == 0)) {
			char *dst = a[2] == 'r' ? info->rack : info->zone;

			if (gv_id_validate(a + 2, argv[i + 1]) < 0) {
				cli_err("sector %s: %s", cmd, gv_error_last());
				return EXIT_USAGE;
			}
			snprintf(dst, GV_ID_MAX, "%s", argv[++i]);
		} else {
			cli_err("sector %s: unknown option '%s'", cmd, a);
			return EXIT_USAGE;
		}
	}
	if (s3 || endpoint || region || style) {
		if (!s3 || !endpoint || info->path[0] || url || rsid) {
			cli_err("sector %s: an s3 sector needs --s3 s3://BUCKET[/PREFIX] and --endpoint "
			        "URL, and no --path or --url", cmd);
			return EXIT_USAGE;
		}
		if (gv_sector_s3_locator(info->path, sizeof(info->path), s3, endpoint, region,
		                         style) < 0) {
			cli_err("sector %s: %s", cmd, gv_error_last());
			return EXIT_USAGE;
		}
		snprintf(info->kind, sizeof(info->kind), "s3");
		return 0;
	}
	if (url || rsid) {
		if (!url || !rsid || info->path[0]) {
			cli_err("sector %s: a remote sector needs --url and --remote-sector, and no "
			        "--path", cmd);
			return EXIT_USAGE;
		}
		if (gv_sector_remote_locator(info->path, sizeof(info->path), url, rsid) < 0) {
			cli_err("sector %s: %s", cmd, gv_error_last());
			return EXIT_USAGE;
		}
		snprintf(info->kind, sizeof(info->kind), "remote");
		return 0;
	}
	if (!info->path[0]) {
		cli_err("sector %s: --path DIR is required", cmd);
		return EXIT_USAGE;
	}
	return 0;
}

/* A sector id argument (argv[i]), or EXIT_USAGE having said why. */
static int sector_id_arg(const char *cmd, const char *what, int argc, char **argv, int i)
{
	if (i >= argc || argv[i][0] == '-') {
		cli_err("sector %s: missing %s (see 'graviton sector --help')", cmd, what);
		return EXIT_USAGE;
	}
	if (gv_id_validate("sector id", argv[i]) < 0) {
		cli_err("sector %s: %s", cmd, gv_error_last());
		return EXIT_USAGE;
	}
	return 0;
}

/* Take "--json" out of argv: 1 when it was there (errors then go to stdout
 * as documents too), else 0. */
static int json_flag(int *argc, char **argv)
{
	int i, j, found = 0;

	for (i = 1; i < *argc;) {
		if (strcmp(argv[i], "--json") != 0) {
			i++;
			continue;
		}
		for (j = i; j < *argc - 1; j++)
			argv[j] = argv[j + 1];
		(*argc)--;
		found = 1;
	}
	if (found)
		cli_json_errors(1);
	return found;
}

/*
 * METHOD path on the server, with body (taken, may be NULL) as the JSON
 * request body; *out is the answer.  Returns 0 or an exit code, the error
 * reported under "sector <cmd>".
 */
static int sector_call(cli_globals *g, const char *cmd, const char *method, const char *path,
                       json_t *body, json_t **out)
{
	char name[64];
	cli_client *c = NULL;
	int rc;

	*out = NULL;
	snprintf(name, sizeof(name), "sector %s", cmd);
	if (!body && strcmp(method, "DELETE") != 0) {
		cli_err("%s: out of memory", name);
		return EXIT_SOFTWARE;
	}
	if ((rc = cli_client_open(&c, g, name)) == 0)
		rc = body ? cli_client_send(c, method, path, body, out, NULL)
		          : cli_client_json(c, method, path, out, NULL);
	json_decref(body);
	cli_client_free(c);
	return rc;
}

/* The sector's document (local mode), or its error. */
static json_t *sector_doc(gv_store *st, const char *id, int *rc)
{
	gv_sector_info info;
	int err;

	if ((err = gv_store_sector_get(st, id, &info)) < 0) {
		*rc = cli_fail(err, "sector");
		return NULL;
	}
	return cli_doc(gv_wire_sector(&info));
}

static int sector_add_remote(cli_globals *g, const gv_sector_info *info, unsigned flags,
                             int json)
{
	json_t *doc = NULL, *body;
	char url[GV_PATH_MAX], sid[GV_ID_MAX];
	int rc;

	body = json_pack("{s:s, s:I, s:s, s:s, s:b}", "id", info->id, "capacity",
	                 (json_int_t)info->capacity, "rack", info->rack, "zone", info->zone,
	                 "adopt", (flags & GV_SECTOR_ADD_ADOPT) != 0);
	if (body && strcmp(info->kind, "remote") == 0 &&
	    gv_sector_remote_split(info->path, url, sizeof(url), sid, sizeof(sid)) == 0) {
		json_object_set_new(body, "url", json_string(url));
		json_object_set_new(body, "remote_sector", json_string(sid));
	} else if (body && strcmp(info->kind, "s3") == 0) {
		gv_sector_s3_where wh;

		if (gv_sector_s3_split(info->path, &wh) == 0) {
			json_object_set_new(body, "s3", json_string(wh.url));
			json_object_set_new(body, "endpoint", json_string(wh.endpoint));
			json_object_set_new(body, "region", json_string(wh.region));
			json_object_set_new(body, "style", json_string(wh.style));
		}
	} else if (body) {
		json_object_set_new(body, "path", json_string(info->path));
	}
	rc = sector_call(g, "add", "POST", "/v1/sectors", body, &doc);
	if (rc != 0)
		return rc;
	if (json)
		return cli_print_json(doc);
	if (!g->quiet)
		fprintf(stderr, "graviton: sector %s added at %s\n", info->id,
		        json_string_value(json_object_get(doc, "path")) ?
		                json_string_value(json_object_get(doc, "path")) : info->path);
	json_decref(doc);
	return 0;
}

static int sector_add(cli_globals *g, int argc, char **argv)
{
	gv_sector_info info;
	gv_store *st = NULL;
	unsigned flags = GV_SECTOR_ADD_CREATE;
	int json = json_flag(&argc, argv), rc, err;

	memset(&info, 0, sizeof(info));
	snprintf(info.kind, sizeof(info.kind), "fs");
	if ((rc = sector_id_arg("add", "ID", argc, argv, 1)) != 0 ||
	    (rc = sector_opts("add", argc, argv, 2, &info, &flags, NULL)) != 0)
		return rc;
	snprintf(info.id, sizeof(info.id), "%s", argv[1]);
	if (g->server)
		return sector_add_remote(g, &info, flags, json);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	err = gv_store_sector_add(st, &info, flags);
	if (err < 0) {
		int other = strstr(gv_error_last(), "another cluster") != NULL;

		rc = cli_fail(err, "sector add");
		if (other)
			cli_err("sector add: --adopt takes the directory over (its blobs join this store)");
	} else if (json) {
		json_t *doc = sector_doc(st, info.id, &rc);

		if (doc)
			rc = cli_print_json(doc);
	} else if (!g->quiet)
		fprintf(stderr, "graviton: sector %s added at %s\n", info.id, info.path);
	gv_store_free(st);
	return rc;
}

/* sector replace OLD NEW --path DIR [--capacity SIZE] [--adopt] [--repair] */
static int sector_replace(cli_globals *g, int argc, char **argv)
{
	gv_sector_info info;
	gv_repair_opts ro;
	gv_repair_summary sum;
	gv_config cfg;
	gv_store *st = NULL;
	unsigned flags = GV_SECTOR_ADD_CREATE;
	int repair = 0, rc, err;

	memset(&info, 0, sizeof(info));
	snprintf(info.kind, sizeof(info.kind), "fs");
	if ((rc = sector_id_arg("replace", "OLD", argc, argv, 1)) != 0 ||
	    (rc = sector_id_arg("replace", "NEW", argc, argv, 2)) != 0 ||
	    (rc = sector_opts("replace", argc, argv, 3, &info, &flags, &repair)) != 0)
		return rc;
	snprintf(info.id, sizeof(info.id), "%s", argv[2]);
	if ((rc = cli_settings(g, &cfg)) != 0)
		return rc;
	gv_config_repair_opts(&ro, &cfg);
	gv_config_free(&cfg);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_store_sector_replace(st, argv[1], &info, flags)) < 0) {
		rc = cli_fail(err, "sector replace");
		goto out;
	}
	if (gv_store_sector_get(st, info.id, &info) < 0)
		gv_error_clear(); /* registered: only the message lacks its rack */
	if (!g->quiet)
		fprintf(stderr, "graviton: sector %s replaces %s (rack %s, zone %s) at %s; %s is "
		        "retired\n", info.id, argv[1], info.rack[0] ? info.rack : "-",
		        info.zone[0] ? info.zone : "-", info.path, argv[1]);
	if (!repair) {
		if (!g->quiet)
			fprintf(stderr, "graviton: run 'graviton repair --once' (or let 'serve' repair) "
			        "to restore every key's factor, then 'graviton sector remove %s'\n",
			        argv[1]);
		goto out;
	}
	if ((err = gv_repair_run(st, &ro, &sum)) < 0) {
		rc = cli_fail(err, "sector replace: repair");
		goto out;
	}
	if (!g->quiet)
		fprintf(stderr, "graviton: repair: %" PRIu64 " keys repaired, %" PRIu64 " replicas "
		        "written, %" PRIu64 " lost, %" PRIu64 " failed\n", sum.keys_repaired,
		        sum.replicas_written, sum.lost, sum.failed);
	rc = sum.lost ? EXIT_UNAVAILABLE : sum.failed ? EXIT_TEMPFAIL : 0;
out:
	gv_store_free(st);
	return rc;
}

/* 1 when another sector of the list is on the same filesystem as s[i]. */
static int device_shared(const gv_sector_info *s, size_t n, size_t i)
{
	size_t j;

	for (j = 0; j < n && s[i].device[0]; j++)
		if (j != i && strcmp(s[j].device, s[i].device) == 0)
			return 1;
	return 0;
}

/* GET /v1/sectors: --json prints the server's document; the text form
 * reads it back into sectors.  Takes nothing; *out is malloc'd. */
static int sector_list_remote(cli_globals *g, int json, gv_sector_info **out, size_t *n)
{
	cli_client *c = NULL;
	json_t *doc = NULL;
	char *text;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cli_client_open(&c, g, "sector list")) != 0)
		return rc;
	rc = cli_client_json(c, "GET", "/v1/sectors", &doc, NULL);
	cli_client_free(c);
	if (rc != 0)
		return rc;
	if (json)
		return cli_print_json(doc);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (gv_wire_sectors_decode(out, n, text) < 0) {
		free(text);
		cli_err("sector list: the server's answer is not a list of sectors: %s",
		        gv_error_last());
		return EXIT_SOFTWARE;
	}
	free(text);
	return 0;
}

static int sector_list(cli_globals *g, int argc, char **argv)
{
	gv_sector_info *s = NULL;
	size_t n = 0, i;
	gv_store *st = NULL;
	int json = 0, shared = 0, rc, err;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			cli_json_errors(1);
		} else {
			cli_err("sector list: unknown argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (g->server) {
		if ((rc = sector_list_remote(g, json, &s, &n)) != 0 || json)
			goto out;
	} else {
		if ((rc = cli_open_store(g, &st, 0)) != 0)
			return rc;
		if ((err = gv_store_sector_list(st, &s, &n)) < 0) {
			rc = cli_fail(err, "sector list");
			goto out;
		}
		if (json) {
			rc = cli_print_json(cli_doc(gv_wire_sectors(s, n)));
			goto out;
		}
	}
	printf("%-12s %-5s %-10s %-10s %6s %-10s %-9s %-9s %-9s %-10s %-8s %s\n", "ID", "KIND",
	       "CAPACITY", "USED", "USE%", "FREE", "DEVICE", "HEALTH", "RACK", "ZONE", "STATE",
	       "PATH");
	for (i = 0; i < n; i++) {
		char cap[32], used[32], fr[32], dev[40];
		double pct = s[i].capacity ? 100.0 * (double)s[i].used / (double)s[i].capacity : 0;

		if (s[i].free_known)
			gv_size_format(fr, sizeof(fr), s[i].free);
		else
			snprintf(fr, sizeof(fr), "-");
		snprintf(dev, sizeof(dev), "%s%s", s[i].device[0] ? s[i].device : "-",
		         device_shared(s, n, i) ? "*" : "");
		if (device_shared(s, n, i))
			shared = 1;
		printf("%-12s %-5s %-10s %-10s %5.1f%% %-10s %-9s %-9s %-9s %-10s %-8s %s\n",
		       s[i].id, s[i].kind, gv_size_format(cap, sizeof(cap), s[i].capacity),
		       gv_size_format(used, sizeof(used), s[i].used), pct, fr, dev,
		       s[i].healthy ? "healthy" : "UNHEALTHY", s[i].rack[0] ? s[i].rack : "-",
		       s[i].zone[0] ? s[i].zone : "-", gv_sector_state_name(s[i].state), s[i].path);
	}
	if (shared)
		printf("* shares its filesystem with another sector: FREE is its share of the "
		       "filesystem's free space\n");
out:
	free(s);
	gv_store_free(st);
	return rc;
}

static int sector_set_health(cli_globals *g, int argc, char **argv)
{
	gv_store *st = NULL;
	int json = json_flag(&argc, argv), healthy, rc, err;

	if (argc != 3) {
		cli_err("usage: graviton sector set-health ID healthy|unhealthy");
		return EXIT_USAGE;
	}
	if (strcmp(argv[2], "healthy") == 0) {
		healthy = 1;
	} else if (strcmp(argv[2], "unhealthy") == 0) {
		healthy = 0;
	} else {
		cli_err("sector set-health: expected 'healthy' or 'unhealthy', got '%s'", argv[2]);
		return EXIT_USAGE;
	}
	if (gv_id_validate("sector id", argv[1]) < 0) {
		cli_err("sector set-health: %s", gv_error_last());
		return EXIT_USAGE;
	}
	if (g->server) {
		char path[32 + GV_ID_MAX];
		json_t *doc = NULL;

		snprintf(path, sizeof(path), "/v1/sectors/%s", argv[1]);
		rc = sector_call(g, "set-health", "PATCH", path,
		                 json_pack("{s:b}", "healthy", healthy), &doc);
		if (rc == 0 && json)
			return cli_print_json(doc);
		json_decref(doc);
		return rc;
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_store_sector_set_health(st, argv[1], healthy)) < 0) {
		gv_sector_info si;

		rc = cli_fail(err, "sector set-health");
		if (healthy && gv_store_sector_get(st, argv[1], &si) == 0)
			cli_err("sector set-health: if the disk of %s is lost, replace it: 'graviton "
			        "sector replace %s NEW --path DIR', then 'graviton repair --once'",
			        argv[1], argv[1]);
	} else if (json) {
		json_t *doc = sector_doc(st, argv[1], &rc);

		if (doc)
			rc = cli_print_json(doc);
	}
	gv_store_free(st);
	return rc;
}

static int sector_remove(cli_globals *g, int argc, char **argv)
{
	gv_store *st = NULL;
	int json = json_flag(&argc, argv), rc, err;

	if (argc != 2 || gv_id_validate("sector id", argv[1]) < 0) {
		cli_err("usage: graviton sector remove ID%s%s", argc == 2 ? ": " : "",
		        argc == 2 ? gv_error_last() : "");
		return EXIT_USAGE;
	}
	if (g->server) {
		char path[32 + GV_ID_MAX];
		json_t *doc = NULL;

		snprintf(path, sizeof(path), "/v1/sectors/%s", argv[1]);
		if ((rc = sector_call(g, "remove", "DELETE", path, NULL, &doc)) != 0)
			return rc;
		json_decref(doc);
	} else {
		if ((rc = cli_open_store(g, &st, 0)) != 0)
			return rc;
		if ((err = gv_store_sector_remove(st, argv[1])) < 0) {
			rc = cli_fail(err, "sector remove");
			gv_store_free(st);
			return rc;
		}
		gv_store_free(st);
	}
	if (json)
		rc = cli_print_json(cli_doc(gv_wire_sector_removed(argv[1])));
	else if (!g->quiet)
		fprintf(stderr, "graviton: sector %s removed\n", argv[1]);
	return rc;
}

static int sector_sweep(cli_globals *g, int argc, char **argv)
{
	gv_reclaim_opts o = GV_RECLAIM_OPTS_INIT;
	gv_reclaim_summary sum;
	gv_config cfg;
	gv_store *st = NULL;
	int i, json = 0, grace_given = 0, rc, err;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0) {
			o.dry_run = 1;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
			if (cli_duration_arg(&o.grace_ms, "--grace", argv[++i]) < 0)
				return EXIT_USAGE;
			grace_given = 1;
		} else if (argv[i][0] != '-' && !o.sector && gv_id_validate("sector id", argv[i]) == 0) {
			o.sector = argv[i];
		} else {
			cli_err("sector sweep: unexpected argument '%s' (see 'graviton sector --help')",
			        argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!grace_given) {
		if ((rc = cli_load_config(g, &cfg)) != 0)
			return rc;
		o.grace_ms = cfg.replication.reclaim.grace_ms;
		gv_config_free(&cfg);
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_reclaim_run(st, &o, &sum)) < 0) {
		rc = cli_fail(err, "sector sweep");
	} else if (json) {
		rc = cli_print_json(json_pack(
			"{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "dry_run", o.dry_run,
			"grace_ms", (json_int_t)o.grace_ms, "sectors", (json_int_t)sum.sectors,
			"tmp_files", (json_int_t)sum.tmp_files, "tmp_bytes", (json_int_t)sum.tmp_bytes,
			"orphan_files", (json_int_t)sum.orphan_files, "orphan_bytes",
			(json_int_t)sum.orphan_bytes, "young", (json_int_t)sum.young, "failed",
			(json_int_t)sum.failed, "ms", (json_int_t)sum.duration_ms));
	} else {
		char tb[32], ob[32];

		printf("%s %" PRIu64 " temporary files (%s) and %" PRIu64 " unrecorded files (%s) "
		       "in %" PRIu64 " sectors; %" PRIu64 " unrecorded files within the grace kept, "
		       "%" PRIu64 " failed\n",
		       o.dry_run ? "would reclaim" : "reclaimed", sum.tmp_files,
		       gv_size_format(tb, sizeof(tb), sum.tmp_bytes), sum.orphan_files,
		       gv_size_format(ob, sizeof(ob), sum.orphan_bytes), sum.sectors, sum.young,
		       sum.failed);
	}
	if (rc == 0 && sum.failed)
		rc = EXIT_IOERR;
	gv_store_free(st);
	return rc;
}

int cmd_sector(cli_globals *g, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2) {
			cli_err("sector: missing subcommand (see '--help')");
			return EXIT_USAGE;
		}
		help();
		return 0;
	}
	if (cli_wants_help(argc - 1, argv + 1)) {
		help();
		return 0;
	}
	if (g->server && (strcmp(argv[1], "replace") == 0 || strcmp(argv[1], "sweep") == 0)) {
		/* $GRAVITON_SERVER does not apply to the data directory's own
		 * subcommands; --server is refused. */
		if (!g->server_given) {
			g->server = NULL;
		} else {
			cli_err("sector %s: --server is not supported: it works on the data "
			        "directory (--data-dir)", argv[1]);
			return EXIT_USAGE;
		}
	}
	if (strcmp(argv[1], "add") == 0)
		return sector_add(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return sector_list(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "set-health") == 0)
		return sector_set_health(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "replace") == 0)
		return sector_replace(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "drain") == 0)
		return cli_sector_drain(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "remove") == 0)
		return sector_remove(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "sweep") == 0)
		return sector_sweep(g, argc - 1, argv + 1);
	cli_err("sector: unknown subcommand '%s' (add, list, set-health, replace, drain, remove, "
	        "sweep)",
	        argv[1]);
	return EXIT_USAGE;
}
