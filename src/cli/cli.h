/*
 * cli.h - what the `graviton` commands share: global options, opening
 * the store, exit codes, output helpers.  Commands include only public
 * headers plus this one.
 */
#ifndef GV_CLI_H
#define GV_CLI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <jansson.h>

#include "graviton/graviton.h"
#include "graviton/rebalance.h"
#include "graviton/repair.h"
#include "graviton/scrub.h"

/* sysexits.h codes */
#define EXIT_USAGE 64
#define EXIT_DATAERR 65
#define EXIT_NOINPUT 66
#define EXIT_UNAVAILABLE 69
#define EXIT_SOFTWARE 70
#define EXIT_CANTCREAT 73
#define EXIT_IOERR 74
#define EXIT_TEMPFAIL 75
#define EXIT_NOPERM 77
#define EXIT_CONFIG 78

typedef struct cli_globals {
	const char *data_dir;   /* --data-dir, $GRAVITON_DATA_DIR, config, ./graviton-data */
	int data_dir_given;     /* from the flag or the environment */
	char *data_dir_owned;   /* a copy of the configuration's, when used */
	int log_level_given;    /* -v, -q or --log-level */
	/* Read by the log sink on any thread while a reload may change them. */
	atomic_int log_json;    /* log lines as JSON objects */
	atomic_int log_time;    /* text lines start with a timestamp (serve) */
	const char *config;     /* --config FILE or NULL */
	/* --server URL or $GRAVITON_SERVER: the commands marked remote (put,
	 * get, stat, placement, status, repair, scrub, rebalance, ls, rm, gc) talk to that
	 * server instead of opening the data directory; NULL otherwise.  So do
	 * metrics and sector (add, list, set-health, drain, remove). */
	const char *server;
	int server_given;       /* the server came from --server, not the environment */
	const char *token;      /* --token or $GRAVITON_TOKEN; NULL: none */
	/* --index URL or $GRAVITON_INDEX: where the index lives, over the
	 * configuration's graviton.index; NULL: the configuration's. */
	const char *index;
	const char *prog;
	int log_level;
	int quiet;
	/* placement flags given on this command line (--strategy ...) */
	int placement_set;
	gv_placement_opts placement;
	int placement_flags;    /* which of the fields were given (bits) */
} cli_globals;

typedef int (*cli_cmd_fn)(cli_globals *g, int argc, char **argv);

typedef struct cli_command {
	const char *name;
	cli_cmd_fn fn;
	const char *summary;
	int remote;             /* works against a server with --server */
} cli_command;

struct gv_config;

/*
 * Defaults, then --config FILE if given; the data directory comes from
 * --data-dir or $GRAVITON_DATA_DIR first, else from the file.  Returns 0
 * or an exit code (the error reported).  Free cfg with gv_config_free.
 */
int cli_load_config(cli_globals *g, struct gv_config *cfg);

/* The configuration (--config FILE, else the defaults) without taking its
 * data directory; free with gv_config_free.  0 or an exit code. */
int cli_settings(cli_globals *g, struct gv_config *cfg);
/* The same, printing nothing: EXIT_CONFIG leaves the reason in
 * gv_error_last() (serve's reload logs it). */
int cli_settings_quiet(cli_globals *g, struct gv_config *cfg);

/* Log level and format from the configuration, unless given on the line. */
void cli_apply_log_config(cli_globals *g, const struct gv_config *cfg);

/* The log sink: "<time> <level> <msg>" or one JSON object per line. */
void cli_log_sink(gv_log_level level, const char *msg, void *payload);
void cli_log_line(gv_log_level level, const char *msg);
/* s with " and \ escaped for a log line's quoted value (key="..."), cut to
 * fit cap; returns buf. */
char *cli_log_quote(char *buf, size_t cap, const char *s);

/* Print "graviton: <msg>" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Map a gv_error to a sysexits code (the error table of graviton/wire.h). */
int cli_exit_code(int gv_err);

/* From now on (a command given --json), errors reported with cli_fail or
 * cli_error_doc are also printed on stdout as the error document
 * {error, message, status, exit_code}. */
void cli_json_errors(int on);

/* Print the error document of row e (under cli_json_errors) and return
 * its exit code; the caller has reported msg on stderr. */
struct gv_wire_error;
int cli_error_doc(const struct gv_wire_error *e, const char *msg);

/* 1 when --json is on the line (before "--"). */
int cli_wants_json(int argc, char **argv);

/*
 * The end of a command that exits rc: a usage error (EXIT_USAGE) of a line
 * given --json (json) that printed no error document yet prints the
 * document {error: "usage", message, status: 400, exit_code: 64} on stdout,
 * its message the first one cli_err reported (stderr has it too).
 * Returns rc.
 */
int cli_usage_done(int rc, int json);

/* Report the last library error with a context prefix; return its exit
 * code.  A damaged index (GV_ECORRUPT from the index) says how to rebuild it. */
int cli_fail(int gv_err, const char *context);

/* As cli_fail; with json, also print the error document
 * {"error": "exists", "message": "...", "status": 409, "exit_code": 73}
 * on stdout (and turn cli_json_errors on). */
int cli_fail_json(int gv_err, const char *context, int json);

/* Open the store of the data dir (create: for init).  Reports errors. */
int cli_open_store(cli_globals *g, gv_store **out, int create);

/* Parse a key argument; reports errors (EXIT_DATAERR) */
int cli_parse_key(gv_key *out, const char *s);

/* A document of graviton/wire.h (text, taken; NULL ok) as a jansson
 * value, NULL when out of memory. */
json_t *cli_doc(char *text);

/* Print a JSON value to stdout followed by a newline; frees it. */
int cli_print_json(json_t *v);

/* Print a malloc'd text (a JSON document) and a newline; frees it. */
int cli_print_text(char *text);

/* Print a JSON value on one line (compact) and flush; frees it. */
int cli_print_line(json_t *v);

/*
 * `repair|scrub|rebalance --json`: print the job document of a run in this
 * process, {job: 0, kind, dry_run, state, summary, events} on one line, as
 * GET /v1/jobs/{id} answers for a server's (graviton/wire.h).  state is
 * "failed" when err < 0, and summary then carries the error document of
 * the last error.  Takes summary and events.
 */
int cli_print_job(const char *kind, int dry_run, int err, json_t *summary, json_t *events);

/* The events of a run, gathered from the library's callbacks (any thread). */
typedef struct cli_events {
	pthread_mutex_t mu;
	json_t *list;
} cli_events;

#define CLI_EVENTS_INIT { PTHREAD_MUTEX_INITIALIZER, NULL }

/* Append ev (taken; NULL ignored) while a list is being gathered. */
void cli_events_add(cli_events *e, json_t *ev);
/* The events gathered so far (the caller owns them); gathering starts
 * over with an empty list. */
json_t *cli_events_take(cli_events *e);

/* 1 when -h/--help is in argv (before "--"). */
int cli_wants_help(int argc, char **argv);

/*
 * Placement flags shared by init and put: --strategy, --factor,
 * --min-replicas, --min-racks, --min-zones.  Returns 1 when argv[*i] was
 * one of them (consuming its value), 0 when not, -1 on a bad value.
 */
int cli_placement_flag(cli_globals *g, int argc, char **argv, int *i);

/* Lay the placement settings given (keys the --config file sets, then the
 * flags on the line) over *p.  cfg may be NULL. */
void cli_placement_given(gv_placement_opts *p, const cli_globals *g,
                         const struct gv_config *cfg);

/* Store the placement settings given as the cluster's (cli_open_store does
 * this for every command).  Returns 0 or an exit code. */
int cli_apply_placement(cli_globals *g, gv_store *st, const struct gv_config *cfg);

/* Parse a size / a non-zero duration option value; report and return -1
 * when malformed. */
int cli_size_arg(uint64_t *out, const char *name, const char *v);
int cli_duration_arg(uint64_t *out_ms, const char *name, const char *v);

/* Sleep up to ms, waking every 100 ms to notice *stop. */
void cli_pause(uint64_t ms, atomic_int *stop);

/* SIGINT and SIGTERM set *flag from now on (sigaction, SA_RESTART). */
void cli_trap_stop_signals(atomic_int *flag);
/* Writes to a closed pipe or socket fail with EPIPE instead of killing. */
void cli_ignore_sigpipe(void);

/* The bearer token in DATA_DIR/token into buf: 1 found, 0 none, -1 when
 * unreadable. */
int cli_token_read(const char *data_dir, char *buf, size_t cap);

/* Write a new random token (32 bytes, hex) into DATA_DIR/token, mode 0600;
 * an existing file is kept.  0, or -1 with the reason reported. */
int cli_token_create(const char *data_dir);

/*
 * The token `serve` requires: graviton.server.auth-token, else
 * $GRAVITON_TOKEN, else DIR/token (created, random, mode 0600, when
 * missing).  buf is "" when graviton.server.auth is off.  *source names
 * where it came from ("config", "GRAVITON_TOKEN", "file", "off").  Returns
 * 0, or -1 with the reason reported.
 */
int cli_server_token(const cli_globals *g, const struct gv_config *cfg, char *buf, size_t cap,
                     const char **source);

#define CLI_TOKEN_MAX 4100 /* the configuration allows 4096 bytes */

/* Commands */
int cmd_init(cli_globals *g, int argc, char **argv);
int cmd_sector(cli_globals *g, int argc, char **argv);
int cmd_put(cli_globals *g, int argc, char **argv);
int cmd_get(cli_globals *g, int argc, char **argv);
int cmd_stat(cli_globals *g, int argc, char **argv);
int cmd_status(cli_globals *g, int argc, char **argv);
int cmd_placement(cli_globals *g, int argc, char **argv);
int cmd_repair(cli_globals *g, int argc, char **argv);
int cmd_index(cli_globals *g, int argc, char **argv);
int cmd_scrub(cli_globals *g, int argc, char **argv);
int cmd_serve(cli_globals *g, int argc, char **argv);
int cmd_metrics(cli_globals *g, int argc, char **argv);
int cmd_config(cli_globals *g, int argc, char **argv);
int cmd_rebalance(cli_globals *g, int argc, char **argv);
int cmd_ls(cli_globals *g, int argc, char **argv);
int cmd_cp(cli_globals *g, int argc, char **argv);
int cmd_cat(cli_globals *g, int argc, char **argv);
int cmd_rm(cli_globals *g, int argc, char **argv);
int cmd_gc(cli_globals *g, int argc, char **argv);
int cmd_forget(cli_globals *g, int argc, char **argv);
/* `placement set` (cmd_placement.c) */
int cli_placement_set(cli_globals *g, int argc, char **argv);
/* `sector drain ID` (in cmd_rebalance.c) */
int cli_sector_drain(cli_globals *g, int argc, char **argv);

#endif
