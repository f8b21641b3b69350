/*
 * cmd_rebalance.c - `graviton rebalance` and `graviton sector drain`:
 * move replicas without ever lowering protection.
 */
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "cli/client.h"
#include "graviton/wire.h"

static atomic_int stop_flag;


static void help(void)
{
	printf("usage: graviton rebalance [--dry-run] [--max-moves N] [--max-bytes SIZE]\n"
	       "                          [--threshold F] [--high-water F] [--force] [--json]\n"
	       "\n"
	       "Move replicas from the fullest sectors toward the mean utilisation, when\n"
	       "the spread between the fullest and the emptiest active sector exceeds the\n"
	       "threshold or a sector is above the high-water mark.  Destinations keep the\n"
	       "rack/zone constraint and never end up fuller than the source.  Each move\n"
	       "copies and verifies, records the new replica, then drops the old one.\n"
	       "Refuses while keys are under-replicated (repair first) unless --force.\n"
	       "\n"
	       "  --dry-run         print the planned moves and utilisation before/after\n"
	       "  --max-moves N     at most N moves (default 100)\n"
	       "  --max-bytes SIZE  at most SIZE bytes moved\n"
	       "  --threshold F     allowed max-min utilisation spread (default 0.1)\n"
	       "  --high-water F    utilisation above which a sector is overloaded (default 0.9)\n"
	       "Defaults come from graviton.replication.rebalance in the --config file.\n"
	       "  --force           run even while keys are under-replicated\n"
	       "  --json            print the run's job document on one line: {job: 0, kind,\n"
	       "                    dry_run, state, summary, events} (docs/http-api.md)\n"
	       "\n"
	       "With --server URL: a run as a job on that server, with its settings (only\n"
	       "--dry-run and --json apply); --json prints the server's job document\n"
	       "(the same fields, with its job number).\n"
	       "\n"
	       "Exit status: 0 done (or nothing to do), 75 refused or some move failed.\n");
}

typedef struct ctx {
	int json;
	cli_events events;      /* with json: the run's moves */
	cli_progress prog;      /* a run's bar on a terminal */
} ctx;

static void on_progress(uint64_t b, uint64_t bt, uint64_t n, uint64_t nt, void *payload)
{
	ctx *c = payload;

	cli_progress_update(&c->prog, b, bt, n, nt);
}

/* One move: its phase, key, sectors and size (human-readable), and why
 * it failed (NULL: it did not). */
static void print_move(const char *phase, const char *key, const char *from, const char *to,
                       uint64_t bytes, const char *failed)
{
	char sz[32];

	printf("%-7s %s %s -> %s %s%s%s\n", phase, key, from, to,
	       gv_size_format(sz, sizeof(sz), bytes), failed ? ": " : "", failed ? failed : "");
}

static void on_move(const gv_move_event *ev, void *payload)
{
	ctx *c = payload;
	char kbuf[GV_KEY_BUFSIZE];
	const char *phase = ev->phase == GV_MOVE_PLANNED ? "planned"
	                    : ev->phase == GV_MOVE_DONE  ? "done"
	                                                 : "failed";

	gv_key_format(kbuf, &ev->key);
	if (c->json) {
		cli_events_add(&c->events, cli_doc(gv_wire_move_event(ev)));
		return;
	}
	/* The move's line where the bar was; the bar comes back below. */
	if (c->prog.enabled) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	print_move(phase, kbuf, ev->from, ev->to, ev->bytes,
	           ev->phase == GV_MOVE_FAILED && ev->message ? ev->message : NULL);
	if (c->prog.enabled)
		fflush(stdout);
}

static void print_summary(const gv_rebalance_summary *s, int dry_run, const char *what)
{
	char sz[32];
	size_t i;

	if (s->nothing_to_do)
		printf("%s: nothing to do (spread %.3f)\n", what, s->spread_before);
	else
		printf("%s: %llu planned, %llu moved, %llu failed, %s; spread %.3f -> %.3f%s\n",
		       what, (unsigned long long)s->planned, (unsigned long long)s->moved,
		       (unsigned long long)s->failed, gv_size_format(sz, sizeof(sz), s->bytes),
		       s->spread_before, s->spread_after, dry_run ? " (planned)" : "");
	if (s->nsectors)
		printf("%-12s %-9s %10s %10s\n", "SECTOR", "STATE", "BEFORE", "AFTER");
	for (i = 0; i < s->nsectors; i++) {
		const gv_sector_util *u = &s->sectors[i];
		double cap = u->capacity ? (double)u->capacity : 1;

		printf("%-12s %-9s %9.1f%% %9.1f%%\n", u->id, gv_sector_state_name(u->state),
		       100.0 * (double)u->used_before / cap, 100.0 * (double)u->used_after / cap);
	}
	fflush(stdout);
}

static int parse_fraction(double *out, const char *name, const char *v)
{
	char *end;
	double x = strtod(v, &end);

	if (!*v || *end || !(x > 0 && x <= 1)) {
		cli_err("invalid %s '%s': expected a number in (0, 1]", name, v);
		return -1;
	}
	*out = x;
	return 0;
}

/* ---- --server: POST /v1/rebalance, poll the job, print like a local run -- */

static const char *jstr(json_t *o, const char *name, const char *dflt)
{
	json_t *v = json_object_get(o, name);

	return json_is_string(v) && *json_string_value(v) ? json_string_value(v) : dflt;
}

/* A drain job on the server: PATCH /v1/sectors/{id} {"state": "draining"},
 * polled to its end (*job, *sum as cli_client_job gives them). */
static int drain_job(cli_globals *g, const char *id, int dry_run, int bar, json_t **job,
                     json_t **sum)
{
	char path[64 + GV_ID_MAX];
	cli_client *c = NULL;
	json_t *body, *doc = NULL;
	cli_progress prog;
	int rc;

	*job = NULL;
	*sum = NULL;
	if ((rc = cli_client_open(&c, g, "sector drain")) != 0)
		return rc;
	cli_progress_init(&prog, "drain", g->quiet || !bar || dry_run);
	cli_client_set_progress(c, &prog);
	snprintf(path, sizeof(path), "/v1/sectors/%s%s", id, dry_run ? "?dry_run=1" : "");
	if (!(body = json_pack("{s:s}", "state", "draining"))) {
		cli_err("sector drain: out of memory");
		rc = EXIT_SOFTWARE;
	} else if ((rc = cli_client_send(c, "PATCH", path, body, &doc, NULL)) == 0 &&
	           (rc = cli_client_await_job(c, doc, &stop_flag, job)) == 0) {
		*sum = cli_client_job_summary(c, *job, &rc);
	}
	cli_progress_done(&prog);
	json_decref(body);
	cli_client_free(c);
	return rc;
}

/* The text form of the server's job document, as a local run prints it:
 * a rebalance, or with id the drain of that sector. */
static int rebalance_remote(cli_globals *g, const char *id, int dry_run, int json)
{
	gv_rebalance_summary s;
	json_t *job = NULL, *sum = NULL, *ev, *secs;
	size_t i;
	int rc, job_failed;

	if (id)
		rc = drain_job(g, id, dry_run, !json, &job, &sum);
	else
		rc = cli_client_job(g, "rebalance", dry_run, !json, &stop_flag, &job, &sum);
	if (!job)
		return rc;
	/* A job that failed was reported with its error, as a local run
	 * reports the error instead of a summary. */
	job_failed = rc != 0;
	memset(&s, 0, sizeof(s));
	s.planned = cli_client_u64(sum, "planned");
	s.moved = cli_client_u64(sum, "moved");
	s.failed = cli_client_u64(sum, "failed");
	s.bytes = cli_client_u64(sum, "bytes");
	s.spread_before = json_number_value(json_object_get(sum, "spread_before"));
	s.spread_after = json_number_value(json_object_get(sum, "spread_after"));
	s.nothing_to_do = json_is_true(json_object_get(sum, "nothing_to_do"));
	secs = json_object_get(sum, "sectors");
	if (json_array_size(secs) && (s.sectors = calloc(json_array_size(secs), sizeof(*s.sectors)))) {
		json_array_foreach(secs, i, ev) {
			gv_sector_util *u = &s.sectors[s.nsectors++];

			snprintf(u->id, sizeof(u->id), "%s", jstr(ev, "id", "?"));
			if (gv_sector_state_parse(&u->state, jstr(ev, "state", "")) < 0)
				u->state = GV_SECTOR_ACTIVE;
			u->capacity = cli_client_u64(ev, "capacity");
			u->used_before = cli_client_u64(ev, "used_before");
			u->used_after = cli_client_u64(ev, "used_after");
		}
	}
	if (rc == 0)
		rc = s.failed ? EXIT_TEMPFAIL : 0;
	if (json) {
		int prc = cli_print_line(job);

		gv_rebalance_summary_free(&s);
		return rc ? rc : prc;
	}
	if (sum && !job_failed) {
		json_array_foreach(json_object_get(job, "events"), i, ev) {
			int failed = strcmp(jstr(ev, "phase", ""), "failed") == 0;

			print_move(jstr(ev, "phase", "?"), jstr(ev, "key", "?"), jstr(ev, "from", "?"),
			           jstr(ev, "to", "?"), cli_client_u64(ev, "bytes"),
			           failed ? jstr(json_object_get(ev, "error"), "message", "") : NULL);
		}
		print_summary(&s, dry_run, id ? "drain" : "rebalance");
		if (id && rc == 0 && !dry_run && !g->quiet)
			fprintf(stderr, "graviton: sector %s retired\n", id);
	}
	gv_rebalance_summary_free(&s);
	json_decref(job);
	return rc;
}

int cmd_rebalance(cli_globals *g, int argc, char **argv)
{
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary s;
	gv_store *st = NULL;
	int i, rc, err;
	const char *local_only = NULL;
	ctx c = { 0, CLI_EVENTS_INIT };

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	{
		/* The configuration's rebalance settings; flags override them. */
		gv_config cfg;

		if ((rc = cli_settings(g, &cfg)) != 0)
			return rc;
		gv_config_rebalance_opts(&o, &cfg);
		gv_config_free(&cfg);
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--dry-run") == 0) {
			o.dry_run = 1;
		} else if (strcmp(a, "--force") == 0) {
			o.force = 1;
			local_only = a;
		} else if (strcmp(a, "--json") == 0) {
			c.json = 1;
			cli_json_errors(1);
		} else if (strcmp(a, "--max-moves") == 0 && v) {
			local_only = a;
			char *end;
			long x = strtol(v, &end, 10);

			if (!*v || *end || x < 1 || x > 1000000) {
				cli_err("invalid --max-moves '%s': expected 1 to 1000000", v);
				return EXIT_USAGE;
			}
			o.max_moves = (unsigned)x;
			i++;
		} else if (strcmp(a, "--max-bytes") == 0 && v) {
			local_only = a;
			if (cli_size_arg(&o.max_bytes, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--threshold") == 0 && v) {
			local_only = a;
			if (parse_fraction(&o.threshold, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else if (strcmp(a, "--high-water") == 0 && v) {
			local_only = a;
			if (parse_fraction(&o.high_water, a, v) < 0)
				return EXIT_USAGE;
			i++;
		} else {
			cli_err("rebalance: unexpected argument '%s' (see 'graviton rebalance --help')", a);
			return EXIT_USAGE;
		}
	}
	o.on_move = on_move;
	o.payload = &c;
	o.cancel = &stop_flag;
	cli_trap_stop_signals(&stop_flag);
	if (g->server) {
		if (local_only) {
			cli_err("rebalance: %s cannot be given with --server: the server runs "
			        "rebalance with its own settings", local_only);
			return EXIT_USAGE;
		}
		return rebalance_remote(g, NULL, o.dry_run, c.json);
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if (c.json)
		c.events.list = json_array();
	memset(&s, 0, sizeof(s));
	o.on_progress = on_progress;
	cli_progress_init(&c.prog, "rebalance", g->quiet || c.json || o.dry_run);
	err = gv_rebalance_run(st, &o, &s);
	cli_progress_done(&c.prog);
	if (c.json && (rc = cli_print_job("rebalance", o.dry_run, err,
	                                  cli_doc(gv_wire_rebalance_summary(&s)),
	                                  cli_events_take(&c.events))) != 0) {
		/* rc says the output failed */
	} else if (err < 0 && err != GV_ECANCELED) {
		cli_json_errors(0); /* the job document said it */
		rc = cli_fail(err, "rebalance");
	} else {
		if (!c.json)
			print_summary(&s, o.dry_run, "rebalance");
		rc = err == GV_ECANCELED || s.failed ? EXIT_TEMPFAIL : 0;
	}
	json_decref(c.events.list);
	gv_rebalance_summary_free(&s);
	gv_store_free(st);
	return rc;
}

int cli_sector_drain(cli_globals *g, int argc, char **argv)
{
	gv_rebalance_opts o = GV_REBALANCE_OPTS_INIT;
	gv_rebalance_summary s;
	const char *id = NULL;
	gv_store *st = NULL;
	int i, rc, err;
	ctx c = { 0, CLI_EVENTS_INIT };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			c.json = 1;
			cli_json_errors(1);
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			o.dry_run = 1;
		} else if (!id && argv[i][0] != '-') {
			id = argv[i];
		} else {
			cli_err("sector drain: unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!id || gv_id_validate("sector id", id) < 0) {
		cli_err("sector drain: %s", id ? gv_error_last() : "missing ID");
		return EXIT_USAGE;
	}
	o.on_move = on_move;
	o.payload = &c;
	o.cancel = &stop_flag;
	cli_trap_stop_signals(&stop_flag);
	if (g->server)
		return rebalance_remote(g, id, o.dry_run, c.json);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	{
		/* An unknown sector is an error, not a failed drain, as the
		 * server answers PATCH /v1/sectors/{id}. */
		gv_sector_info info;

		if ((err = gv_store_sector_get(st, id, &info)) < 0) {
			rc = cli_fail(err, "sector drain");
			gv_store_free(st);
			return rc;
		}
	}
	if (c.json)
		c.events.list = json_array();
	memset(&s, 0, sizeof(s));
	o.on_progress = on_progress;
	cli_progress_init(&c.prog, "drain", g->quiet || c.json || o.dry_run);
	err = gv_sector_drain(st, id, &o, &s);
	cli_progress_done(&c.prog);
	if (c.json && (rc = cli_print_job("drain", o.dry_run, err,
	                                  cli_doc(gv_wire_rebalance_summary(&s)),
	                                  cli_events_take(&c.events))) != 0) {
		/* rc says the output failed */
	} else if (err < 0 && err != GV_EBUSY && err != GV_ECANCELED) {
		cli_json_errors(0); /* the job document said it */
		rc = cli_fail(err, "sector drain");
	} else {
		if (!c.json)
			print_summary(&s, o.dry_run, "drain");
		if (err == GV_EBUSY)
			cli_err("sector drain: %s", gv_error_last());
		else if (err == 0 && !o.dry_run && !g->quiet)
			fprintf(stderr, "graviton: sector %s retired\n", id);
		rc = err < 0 ? EXIT_TEMPFAIL : 0;
	}
	json_decref(c.events.list);
	gv_rebalance_summary_free(&s);
	gv_store_free(st);
	return rc;
}
