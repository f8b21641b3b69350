/*
 * cmd_repair.c - `graviton repair`: restore every key to its factor.
 */
#include <stdatomic.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "cli/client.h"
#include "cli/progress.h"
#include "graviton/wire.h"

static atomic_int stop_flag;


static void help(void)
{
	printf("usage: graviton repair [--once] [--dry-run] [--json|--events] [--parallel-jobs N]\n"
	       "                       [--batch-size N] [--max-bytes-per-second SIZE]\n"
	       "                       [--interval DURATION]\n"
	       "\n"
	       "Find keys below their replication factor (fewest healthy copies first),\n"
	       "copy them from a healthy replica to sectors chosen by the placement\n"
	       "strategy, verify every copy, then drop the bad copies.  Keys above the\n"
	       "factor lose their surplus; keys that break their rack/zone constraint\n"
	       "move a copy.  A key with no healthy replica is reported as lost.\n"
	       "\n"
	       "  --once                  one run, then exit (default: repeat every interval\n"
	       "                          until interrupted)\n"
	       "  --dry-run               print the plan (key, healthy count, source, targets,\n"
	       "                          bytes) and change nothing\n"
	       "  --json                  print each run's job document on one line:\n"
	       "                          {job: 0, kind, dry_run, state, summary, events}\n"
	       "                          (as GET /v1/jobs/{id}; see docs/http-api.md)\n"
	       "  --events                as --json, and each event's document on a line of\n"
	       "                          its own as it happens, before the job document\n"
	       "  --parallel-jobs N       concurrent jobs (default 4)\n"
	       "  --batch-size N          keys read from the index at a time (default 100)\n"
	       "  --max-bytes-per-second SIZE   bandwidth limit, e.g. 50MB (default unlimited)\n"
	       "  --interval DURATION     pause between runs without --once (default 5 minutes)\n"
	       "Defaults come from graviton.replication.repair in the --config file.\n"
	       "\n"
	       "With --server URL: one run, as a job on that server (it runs its own\n"
	       "repair loop on its configured interval); --json prints the server's job\n"
	       "document (the same fields, with its job number).\n"
	       "\n"
	       "\n"
	       "graviton repair queue [--json] lists the durable repair queue (see\n"
	       "'graviton repair queue --help').\n"
	       "\n"
	       "Exit status: 0 all good, 69 some key is lost, 75 some job failed.\n");
}

typedef struct ctx {
	int json;
	int stream;             /* --events: each event on its own line at once */
	int dry_run;
	cli_progress prog;
	cli_events events;      /* with json: the run's events */
} ctx;

static void on_progress(uint64_t b, uint64_t bt, uint64_t j, uint64_t jt, void *payload)
{
	ctx *c = payload;

	cli_progress_update(&c->prog, b, bt, j, jt);
}

static void print_ids(char ids[][GV_ID_MAX], int n)
{
	int i;

	for (i = 0; i < n; i++)
		printf("%s%s", i ? "," : "", ids[i]);
	if (n == 0)
		printf("-");
}

static void on_event(const gv_repair_event *ev, void *payload)
{
	ctx *c = payload;
	char kbuf[GV_KEY_BUFSIZE];

	gv_key_format(kbuf, &ev->key);
	if (c->stream) {
		cli_progress_done(&c->prog);
		cli_print_line(cli_doc(gv_wire_repair_event(ev)));
	}
	if (c->json) {
		cli_events_add(&c->events, cli_doc(gv_wire_repair_event(ev)));
		return;
	}
	if (ev->phase == GV_REPAIR_DONE && !c->dry_run)
		return; /* the summary tells; failures and lost keys are listed */
	cli_progress_done(&c->prog);
	printf("%-7s %-8s %s healthy=%d/%d source=%s targets=", ev->phase == GV_REPAIR_FAILED ? "FAILED" : "plan",
	       gv_repair_action_name(ev->action), kbuf, ev->healthy, ev->target,
	       ev->source[0] ? ev->source : "-");
	print_ids((char(*)[GV_ID_MAX])ev->targets, ev->ntargets);
	printf(" remove=");
	print_ids((char(*)[GV_ID_MAX])ev->removed, ev->nremoved);
	printf(" bytes=%llu", (unsigned long long)ev->bytes);
	if (ev->phase == GV_REPAIR_FAILED)
		printf(" error=%s: %s", gv_error_name(ev->error), ev->message ? ev->message : "");
	printf("\n");
}

static void print_summary(const gv_repair_summary *s, int dry_run)
{
	char bbuf[32];
	double secs = (double)s->duration_ms / 1000.0;

	printf("%s: scanned %llu keys, %llu needing repair, %llu %s, %llu replicas written, "
	       "%llu removed, %s copied, %llu lost, %llu failed, %.1f s\n",
	       dry_run ? "repair plan" : "repair", (unsigned long long)s->keys_scanned,
	       (unsigned long long)s->keys_needing_repair, (unsigned long long)s->keys_repaired,
	       dry_run ? "planned" : "repaired", (unsigned long long)s->replicas_written,
	       (unsigned long long)s->replicas_removed, gv_size_format(bbuf, sizeof(bbuf), s->bytes_copied),
	       (unsigned long long)s->lost, (unsigned long long)s->failed, secs);
	fflush(stdout);
}

/* ---- --server: POST /v1/repair, poll the job, print like a local run ---- */

static const char *jstr(json_t *o, const char *name, const char *dflt)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : dflt;
}

/* The job's events as the local run prints them: every failure, and the
 * plan of a dry run.  The server does not report the key's target count
 * nor the copies removed. */
static void print_remote_events(json_t *events, int dry_run)
{
	json_t *ev, *t;
	size_t i, k;

	json_array_foreach(events, i, ev) {
		int failed = strcmp(jstr(ev, "phase", ""), "failed") == 0;

		if (!failed && !dry_run)
			continue;
		printf("%-7s %-8s %s healthy=%llu source=%s targets=", failed ? "FAILED" : "plan",
		       jstr(ev, "action", "?"), jstr(ev, "key", "?"),
		       (unsigned long long)cli_client_u64(ev, "healthy"), jstr(ev, "source", "-"));
		json_array_foreach(json_object_get(ev, "targets"), k, t)
			printf("%s%s", k ? "," : "", json_is_string(t) ? json_string_value(t) : "?");
		if (json_array_size(json_object_get(ev, "targets")) == 0)
			printf("-");
		printf(" bytes=%llu", (unsigned long long)cli_client_u64(ev, "bytes"));
		if (failed)
			printf(" error=%s: %s", jstr(json_object_get(ev, "error"), "error", "?"),
			       jstr(json_object_get(ev, "error"), "message", "?"));
		printf("\n");
	}
}

static int repair_remote(cli_globals *g, int dry_run, int json)
{
	gv_repair_summary s;
	json_t *job = NULL, *sum = NULL;
	int rc, job_failed;

	rc = cli_client_job(g, "repair", dry_run, !json, &stop_flag, &job, &sum);
	if (!job)
		return rc;
	/* A job that failed was reported with its error, as a local run
	 * reports the error instead of a summary. */
	job_failed = rc != 0;
	memset(&s, 0, sizeof(s));
	s.keys_scanned = cli_client_u64(sum, "keys_scanned");
	s.keys_needing_repair = cli_client_u64(sum, "keys_needing_repair");
	s.keys_repaired = cli_client_u64(sum, "keys_repaired");
	s.replicas_written = cli_client_u64(sum, "replicas_written");
	s.replicas_removed = cli_client_u64(sum, "replicas_removed");
	s.bytes_copied = cli_client_u64(sum, "bytes_copied");
	s.lost = cli_client_u64(sum, "lost");
	s.failed = cli_client_u64(sum, "failed");
	s.duration_ms = (int64_t)cli_client_u64(sum, "duration_ms");
	if (rc == 0)
		rc = s.lost ? EXIT_UNAVAILABLE : s.failed ? EXIT_TEMPFAIL : 0;
	if (json) {
		int prc = cli_print_line(job);

		return rc ? rc : prc;
	}
	if (sum && !job_failed) {
		print_remote_events(json_object_get(job, "events"), dry_run);
		print_summary(&s, dry_run);
	}
	json_decref(job);
	return rc;
}

static int parse_count(unsigned *out, const char *name, const char *v)
{
	char *end;
	long x = strtol(v, &end, 10);

	if (!*v || *end || x < 1 || x > 1024) {
		cli_err("invalid %s '%s': expected a whole number from 1 to 1024", name, v);
		return -1;
	}
	*out = (unsigned)x;
	return 0;
}

static void queue_help(void)
{
	printf("usage: graviton repair queue [--json] [--limit N]\n"
	       "\n"
	       "List the durable repair queue: keys a read, a scrub, a put that met its\n"
	       "quorum without every copy, or a failed repair queued, with the reason,\n"
	       "failed attempts, last error and next attempt.  The repair loop of 'serve'\n"
	       "repairs them (backing off after failures); after\n"
	       "graviton.replication.repair.max-attempts failures a key is a dead letter:\n"
	       "listed, no longer retried.\n"
	       "\n"
	       "  --json      print {entries: [{key, reason, attempts, last_error,\n"
	       "              next_attempt_ms, enqueued_ms, dead}], queued, dead}\n"
	       "              (as GET /v1/repair/queue; see docs/http-api.md)\n"
	       "  --limit N   list at most N entries, in key order (default 1000)\n"
	       "\n"
	       "With --server URL: the server's queue.\n");
}

static void print_queue(json_t *doc)
{
	json_t *arr = json_object_get(doc, "entries"), *e;
	size_t i;

	printf("queued: %lld, dead letters: %lld\n",
	       (long long)json_integer_value(json_object_get(doc, "queued")),
	       (long long)json_integer_value(json_object_get(doc, "dead")));
	json_array_foreach(arr, i, e) {
		char when[32];
		time_t t = (time_t)(json_integer_value(json_object_get(e, "next_attempt_ms")) / 1000);
		struct tm tm;
		const char *err = json_string_value(json_object_get(e, "last_error"));

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
		printf("%s  %s  attempts=%lld  %s%s  reason=\"%s\"%s%s%s\n",
		       json_string_value(json_object_get(e, "key")),
		       json_is_true(json_object_get(e, "dead")) ? "dead" : "queued",
		       (long long)json_integer_value(json_object_get(e, "attempts")),
		       json_is_true(json_object_get(e, "dead")) ? "" : "next=",
		       json_is_true(json_object_get(e, "dead")) ? "" : when,
		       json_string_value(json_object_get(e, "reason")),
		       err && *err ? "  last_error=\"" : "", err && *err ? err : "",
		       err && *err ? "\"" : "");
	}
}

/* `graviton repair queue`: one document, read locally or from the server. */
static int cmd_repair_queue(cli_globals *g, int argc, char **argv)
{
	unsigned limit = 1000;
	json_t *doc = NULL;
	int i, json = 0, rc, err;

	if (cli_wants_help(argc, argv)) {
		queue_help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			cli_json_errors(1);
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			char *end;
			long x = strtol(argv[++i], &end, 10);

			if (!*argv[i] || *end || x < 0 || x > 100000) {
				cli_err("invalid --limit '%s': expected a whole number from 0 to 100000",
				        argv[i]);
				return EXIT_USAGE;
			}
			limit = (unsigned)x;
		} else {
			cli_err("repair queue: unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (g->server) {
		cli_client *c = NULL;
		char path[64];

		if ((rc = cli_client_open(&c, g, "repair queue")) != 0)
			return rc;
		snprintf(path, sizeof(path), "/v1/repair/queue?limit=%u", limit);
		rc = cli_client_json(c, "GET", path, &doc, NULL);
		cli_client_free(c);
		if (rc != 0)
			return rc;
	} else {
		gv_store *st = NULL;
		char *text = NULL;

		if ((rc = cli_open_store(g, &st, 0)) != 0)
			return rc;
		err = gv_wire_repair_queue_load(st, limit, &text);
		gv_store_free(st);
		if (err < 0)
			return cli_fail(err, "repair queue");
		if (!(doc = cli_doc(text)))
			return cli_fail(GV_ENOMEM, "repair queue");
	}
	if (json)
		return cli_print_json(doc);
	print_queue(doc);
	json_decref(doc);
	return 0;
}

int cmd_repair(cli_globals *g, int argc, char **argv)
{
	gv_repair_opts o = GV_REPAIR_OPTS_INIT;
	gv_repair_summary s;
	uint64_t interval_ms = 5 * 60 * 1000;
	gv_store *st = NULL;
	int i, once = 0, rc, err;
	const char *local_only = NULL;
	ctx c;

	memset(&c, 0, sizeof(c));
	c.events = (cli_events)CLI_EVENTS_INIT;
	if (argc > 1 && strcmp(argv[1], "queue") == 0)
		return cmd_repair_queue(g, argc - 1, argv + 1);
	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	{
		/* The configuration's repair settings; flags override them. */
		gv_config cfg;

		if ((rc = cli_settings(g, &cfg)) != 0)
			return rc;
		gv_config_repair_opts(&o, &cfg);
		interval_ms = cfg.replication.repair.interval_ms;
		gv_config_free(&cfg);
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--once") == 0) {
			once = 1;
		} else if (strcmp(a, "--dry-run") == 0) {
			o.dry_run = 1;
		} else if (strcmp(a, "--json") == 0 || strcmp(a, "--events") == 0) {
			c.json = 1;
			c.stream |= a[2] == 'e';
			cli_json_errors(1);
		} else if (strcmp(a, "--parallel-jobs") == 0 && v) {
			local_only = a;
			if (parse_count(&o.parallel_jobs, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--batch-size") == 0 && v) {
			local_only = a;
			if (parse_count(&o.batch_size, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--max-bytes-per-second") == 0 && v) {
			local_only = a;
			if (cli_size_arg(&o.max_bytes_per_second, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--interval") == 0 && v) {
			local_only = a;
			if (cli_duration_arg(&interval_ms, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else {
			cli_err("repair: unexpected argument '%s' (see 'graviton repair --help')", a);
			return EXIT_USAGE;
		}
	}
	if (o.dry_run)
		once = 1;
	c.dry_run = o.dry_run;
	o.on_event = on_event;
	o.on_progress = on_progress;
	o.payload = &c;
	o.cancel = &stop_flag;
	cli_trap_stop_signals(&stop_flag);
	if (g->server) {
		if (local_only) {
			cli_err("repair: %s cannot be given with --server: the server's configuration "
			        "(graviton.replication.repair) sets it", local_only);
			return EXIT_USAGE;
		}
		return repair_remote(g, o.dry_run, c.json);
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if (c.json)
		c.events.list = json_array();
	do {
		cli_progress_init(&c.prog, "repair", g->quiet || c.json);
		memset(&s, 0, sizeof(s));
		err = gv_repair_run(st, &o, &s);
		cli_progress_done(&c.prog);
		if (c.json && (rc = cli_print_job("repair", o.dry_run, err,
		                                  cli_doc(gv_wire_repair_summary(&s)),
		                                  cli_events_take(&c.events))) != 0)
			break;
		if (err < 0 && err != GV_ECANCELED) {
			cli_json_errors(0); /* the job document said it */
			rc = cli_fail(err, "repair");
			break;
		}
		if (!c.json)
			print_summary(&s, o.dry_run);
		rc = s.lost ? EXIT_UNAVAILABLE : s.failed ? EXIT_TEMPFAIL : 0;
		if (err == GV_ECANCELED) {
			cli_err("repair: interrupted; the next run resumes");
			rc = rc ? rc : EXIT_TEMPFAIL;
			break;
		}
		if (!once)
			cli_pause(interval_ms, &stop_flag);
	} while (!once && !stop_flag);
	json_decref(cli_events_take(&c.events));
	json_decref(c.events.list);
	gv_store_free(st);
	return rc;
}
