/*
 * cmd_scrub.c - `graviton scrub`: verify every replica against its key.
 */
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "cli/client.h"
#include "cli/progress.h"
#include "graviton/wire.h"

static atomic_int stop_flag;


static void help(void)
{
	printf("usage: graviton scrub [--once] [--sector ID] [--json] [--parallel-reads N]\n"
	       "                      [--max-bytes-per-second SIZE] [--interval DURATION]\n"
	       "       graviton scrub --presence [--sector ID] [--json]\n"
	       "\n"
	       "Re-read replicas, oldest verification first, and check each one's size and\n"
	       "SHA-256 against its key.  Good replicas get a new verification time; bad\n"
	       "ones are marked unhealthy with the reason (missing, size mismatch,\n"
	       "checksum mismatch, io error) and their keys become repair work.\n"
	       "Replica bytes are never modified.\n"
	       "\n"
	       "  --once                 check every replica once, then exit (default: the\n"
	       "                         schedule - skip replicas verified within the interval,\n"
	       "                         repeat until interrupted)\n"
	       "  --sector ID            only this sector's replicas\n"
	       "  --json                 print each run's job document on one line:\n"
	       "                         {job: 0, kind, dry_run, state, summary, events}, the\n"
	       "                         events being the bad replicas (docs/http-api.md)\n"
	       "  --parallel-reads N     concurrent reads (default 8)\n"
	       "  --max-bytes-per-second SIZE  read bandwidth limit (default unlimited)\n"
	       "  --interval DURATION    schedule interval (default 7 days)\n"
	       "  --presence             the presence audit instead, once: compare each\n"
	       "                         sector's listing (names and sizes, no reads) with\n"
	       "                         the index; a replica whose file is missing or of\n"
	       "                         the wrong size is marked unhealthy and queued for\n"
	       "                         repair, files no replica row counts on are only\n"
	       "                         counted (reclaim removes them); serve runs it every\n"
	       "                         graviton.replication.scrub.presence-interval\n"
	       "Defaults come from graviton.replication.scrub in the --config file.\n"
	       "\n"
	       "With --server URL: one full pass (as --once), as a job on that server\n"
	       "(it runs its own schedule); --json prints the server's job document\n"
	       "(the same fields, with its job number).\n"
	       "\n"
	       "Exit status: 0 nothing bad found, 65 some replica is bad (found missing or\n"
	       "the wrong size, with --presence).\n");
}

typedef struct ctx {
	int json;
	cli_progress prog;
	cli_events events;      /* with json: the run's bad replicas */
} ctx;

static void on_progress(uint64_t b, uint64_t bt, uint64_t n, uint64_t nt, void *payload)
{
	ctx *c = payload;

	cli_progress_update(&c->prog, b, bt, n, nt);
}

static void on_bad(const gv_scrub_event *ev, void *payload)
{
	ctx *c = payload;
	char kbuf[GV_KEY_BUFSIZE];

	gv_key_format(kbuf, &ev->key);
	cli_progress_done(&c->prog);
	if (c->json) {
		cli_events_add(&c->events, cli_doc(gv_wire_scrub_event(ev)));
	} else {
		printf("BAD %s sector=%s reason=\"%s\"%s\n", kbuf, ev->sector, ev->reason,
		       ev->was_healthy ? "" : " (already marked)");
	}
}

static void print_summary(const gv_scrub_summary *s)
{
	double secs = (double)s->duration_ms / 1000.0;
	double mbs = secs > 0 ? (double)s->bytes / 1e6 / secs : 0;
	char bbuf[32];

	{
		printf("scrub: checked %llu replicas (%s), %llu healthy, %llu newly unhealthy, "
		       "%llu still unhealthy, %llu restored, %llu skipped, %.1f s, %.1f MB/s\n",
		       (unsigned long long)s->checked, gv_size_format(bbuf, sizeof(bbuf), s->bytes),
		       (unsigned long long)s->healthy, (unsigned long long)s->newly_unhealthy,
		       (unsigned long long)s->still_unhealthy, (unsigned long long)s->restored,
		       (unsigned long long)s->skipped, secs, mbs);
	}
	fflush(stdout);
}

static void print_presence(const gv_presence_summary *s)
{
	printf("presence: %llu sectors, %llu replica rows checked, %llu missing, %llu wrong "
	       "size, %llu unrecorded files, %.1f s\n",
	       (unsigned long long)s->sectors, (unsigned long long)s->rows_checked,
	       (unsigned long long)s->missing, (unsigned long long)s->wrong_size,
	       (unsigned long long)s->unrecorded, (double)s->duration_ms / 1000.0);
	fflush(stdout);
}

/* ---- --server: POST /v1/scrub, poll the job, print like a local run ----- */

static const char *jstr(json_t *o, const char *name, const char *dflt)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : dflt;
}

static void print_remote_events(json_t *job)
{
	json_t *ev;
	size_t i;

	json_array_foreach(json_object_get(job, "events"), i, ev)
		printf("BAD %s sector=%s reason=\"%s\"%s\n", jstr(ev, "key", "?"),
		       jstr(ev, "sector", "?"), jstr(ev, "reason", ""),
		       json_is_false(json_object_get(ev, "newly_unhealthy")) ? " (already marked)" : "");
}

static int presence_remote(cli_globals *g, int json)
{
	gv_presence_summary s;
	json_t *job = NULL, *sum = NULL;
	int rc, job_failed;

	rc = cli_client_job(g, "presence", 0, !json, &stop_flag, &job, &sum);
	if (!job)
		return rc;
	job_failed = rc != 0;
	memset(&s, 0, sizeof(s));
	s.sectors = cli_client_u64(sum, "sectors");
	s.rows_checked = cli_client_u64(sum, "rows_checked");
	s.missing = cli_client_u64(sum, "missing");
	s.wrong_size = cli_client_u64(sum, "wrong_size");
	s.unrecorded = cli_client_u64(sum, "unrecorded");
	s.duration_ms = (int64_t)cli_client_u64(sum, "duration_ms");
	if (rc == 0)
		rc = s.missing || s.wrong_size ? EXIT_DATAERR : 0;
	if (json) {
		int prc = cli_print_line(job);

		return rc ? rc : prc;
	}
	if (sum && !job_failed) {
		print_remote_events(job);
		print_presence(&s);
	}
	json_decref(job);
	return rc;
}

static int scrub_remote(cli_globals *g, int json)
{
	gv_scrub_summary s;
	json_t *job = NULL, *sum = NULL;
	int rc, job_failed;

	rc = cli_client_job(g, "scrub", 0, !json, &stop_flag, &job, &sum);
	if (!job)
		return rc;
	/* A job that failed was reported with its error, as a local run
	 * reports the error instead of a summary. */
	job_failed = rc != 0;
	memset(&s, 0, sizeof(s));
	s.checked = cli_client_u64(sum, "checked");
	s.bytes = cli_client_u64(sum, "bytes");
	s.healthy = cli_client_u64(sum, "healthy");
	s.newly_unhealthy = cli_client_u64(sum, "newly_unhealthy");
	s.still_unhealthy = cli_client_u64(sum, "still_unhealthy");
	s.restored = cli_client_u64(sum, "restored");
	s.skipped = cli_client_u64(sum, "skipped");
	s.duration_ms = (int64_t)cli_client_u64(sum, "duration_ms");
	if (rc == 0)
		rc = s.newly_unhealthy || s.still_unhealthy ? EXIT_DATAERR : 0;
	if (json) {
		int prc = cli_print_line(job);

		return rc ? rc : prc;
	}
	if (sum && !job_failed) {
		print_remote_events(job);
		print_summary(&s);
	}
	json_decref(job);
	return rc;
}

/* One local presence pass. */
static int presence_local(cli_globals *g, ctx *c, const char *sector)
{
	gv_presence_opts o = GV_PRESENCE_OPTS_INIT;
	gv_presence_summary s;
	gv_store *st = NULL;
	int rc, err;

	o.sector = sector;
	o.on_bad = on_bad;
	o.payload = c;
	o.cancel = &stop_flag;
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if (c->json)
		c->events.list = json_array();
	err = gv_presence_run(st, &o, &s);
	if (c->json && (rc = cli_print_job("presence", 0, err, cli_doc(gv_wire_presence_summary(&s)),
	                                   cli_events_take(&c->events))) != 0)
		goto out;
	if (err < 0) {
		cli_json_errors(0); /* the job document said it */
		rc = cli_fail(err, "scrub --presence");
		goto out;
	}
	if (!c->json)
		print_presence(&s);
	rc = s.missing || s.wrong_size ? EXIT_DATAERR : 0;
out:
	json_decref(cli_events_take(&c->events));
	json_decref(c->events.list);
	gv_store_free(st);
	return rc;
}

int cmd_scrub(cli_globals *g, int argc, char **argv)
{
	gv_scrub_opts o = GV_SCRUB_OPTS_INIT;
	gv_scrub_summary s;
	uint64_t interval_ms = 7ull * 24 * 3600 * 1000;
	gv_store *st = NULL;
	int i, once = 0, presence = 0, rc = 0, err;
	const char *local_only = NULL, *not_presence = NULL;
	ctx c;

	memset(&c, 0, sizeof(c));
	c.events = (cli_events)CLI_EVENTS_INIT;
	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	{
		/* The configuration's scrub settings; flags override them. */
		gv_config cfg;

		if ((rc = cli_settings(g, &cfg)) != 0)
			return rc;
		gv_config_scrub_opts(&o, &cfg);
		interval_ms = cfg.replication.scrub.interval_ms;
		gv_config_free(&cfg);
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--once") == 0) {
			once = 1;
			not_presence = a;
		} else if (strcmp(a, "--presence") == 0) {
			presence = 1;
		} else if (strcmp(a, "--json") == 0) {
			c.json = 1;
			cli_json_errors(1);
		} else if (strcmp(a, "--sector") == 0 && v) {
			local_only = a;
			if (gv_id_validate("sector id", v) < 0) {
				cli_err("scrub: %s", gv_error_last());
				return EXIT_USAGE;
			}
			o.sector = argv[++i];
		} else if (strcmp(a, "--parallel-reads") == 0 && v) {
			local_only = a;
			not_presence = a;
			char *end;
			long x = strtol(v, &end, 10);

			if (!*v || *end || x < 1 || x > 256) {
				cli_err("invalid --parallel-reads '%s': expected 1 to 256", v);
				return EXIT_USAGE;
			}
			o.parallel_reads = (unsigned)x;
			i++;
		} else if (strcmp(a, "--max-bytes-per-second") == 0 && v) {
			local_only = a;
			not_presence = a;
			if (cli_size_arg(&o.max_bytes_per_second, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--interval") == 0 && v) {
			local_only = a;
			not_presence = a;
			if (cli_duration_arg(&interval_ms, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else {
			cli_err("scrub: unexpected argument '%s' (see 'graviton scrub --help')", a);
			return EXIT_USAGE;
		}
	}
	if (presence && not_presence) {
		cli_err("scrub: %s cannot be given with --presence (a presence pass reads no "
		        "replica and runs once)", not_presence);
		return EXIT_USAGE;
	}
	o.on_bad = on_bad;
	o.on_progress = on_progress;
	o.payload = &c;
	o.cancel = &stop_flag;
	if (!once)
		o.skip_verified_within_ms = interval_ms;
	cli_trap_stop_signals(&stop_flag);
	if (presence && g->server) {
		if (o.sector) {
			cli_err("scrub: --sector cannot be given with --server --presence: a server "
			        "presence pass checks every sector");
			return EXIT_USAGE;
		}
		return presence_remote(g, c.json);
	}
	if (presence)
		return presence_local(g, &c, o.sector);
	if (g->server) {
		if (local_only) {
			cli_err("scrub: %s cannot be given with --server: a server scrub checks every "
			        "replica with the settings of its configuration "
			        "(graviton.replication.scrub)", local_only);
			return EXIT_USAGE;
		}
		return scrub_remote(g, c.json);
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if (c.json)
		c.events.list = json_array();
	do {
		cli_progress_init(&c.prog, "scrub", g->quiet || c.json);
		memset(&s, 0, sizeof(s));
		err = gv_scrub_run(st, &o, &s);
		cli_progress_done(&c.prog);
		if (c.json && (rc = cli_print_job("scrub", 0, err,
		                                  cli_doc(gv_wire_scrub_summary(&s)),
		                                  cli_events_take(&c.events))) != 0)
			break;
		if (err < 0 && err != GV_ECANCELED) {
			cli_json_errors(0); /* the job document said it */
			rc = cli_fail(err, "scrub");
			break;
		}
		if (!c.json)
			print_summary(&s);
		rc = s.newly_unhealthy || s.still_unhealthy ? EXIT_DATAERR : 0;
		if (err == GV_ECANCELED) {
			cli_err("scrub: interrupted; the next run starts with the oldest verified");
			rc = rc ? rc : EXIT_TEMPFAIL;
			break;
		}
		if (!once)
			cli_pause(interval_ms < 60000 ? interval_ms : 60000, &stop_flag);
	} while (!once && !stop_flag);
	json_decref(cli_events_take(&c.events));
	json_decref(c.events.list);
	gv_store_free(st);
	return rc;
}
