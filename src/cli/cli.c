/*
 * cli.c - helpers shared by the commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "graviton/wire.h"

/* The first message reported (a usage error's document says it), and
 * whether an error document went to stdout already. */
static char first_err[1024];
static int doc_printed;

void cli_err(const char *fmt, ...)
{
	char msg[sizeof(first_err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "graviton: %s\n", msg);
	if (!first_err[0])
		snprintf(first_err, sizeof(first_err), "%s", msg);
}

int cli_exit_code(int err)
{
	return err == 0 ? 0 : gv_wire_error_of(err)->exit_code;
}

/* Set by a command given --json: its errors go to stdout as documents too. */
static int json_errors;

void cli_json_errors(int on)
{
	json_errors = on;
}

int cli_error_doc(const gv_wire_error *e, const char *msg)
{
	if (!json_errors)
		return e->exit_code;
	doc_printed = 1;
	if (cli_print_json(cli_doc(gv_wire_error_doc(e, msg))) != 0)
		return EXIT_IOERR;
	return e->exit_code;
}

int cli_wants_json(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "--json") == 0)
			return 1;
	}
	return 0;
}

int cli_usage_done(int rc, int json)
{
	if (rc != EXIT_USAGE || !json || doc_printed)
		return rc;
	json_errors = 1;
	cli_error_doc(gv_wire_error_named("usage"),
	              first_err[0] ? first_err : "bad command line (see 'graviton --help')");
	return EXIT_USAGE;
}

#define REBUILD_HINT "; run 'graviton index rebuild --force' to rebuild it from the sectors"

/* The message of the last error, with what to do about a damaged index. */
static void fail_message(char *buf, size_t cap, int err)
{
	const char *msg = gv_error_last();

	snprintf(buf, cap, "%s%s", *msg ? msg : gv_error_name(err),
	         err == GV_ECORRUPT && strncmp(msg, "index", 5) == 0 ? REBUILD_HINT : "");
}

int cli_fail(int err, const char *context)
{
	char msg[1024];

	fail_message(msg, sizeof(msg), err);
	if (context && *context)
		cli_err("%s: %s", context, msg);
	else
		cli_err("%s", msg);
	return cli_error_doc(gv_wire_error_of(err), msg);
}

int cli_fail_json(int err, const char *context, int json)
{
	int rc;

	if (json)
		cli_json_errors(1);
	rc = cli_fail(err, context);
	return rc;
}

int cli_open_store(cli_globals *g, gv_store **out, int create)
{
	gv_store_opts opts = GV_STORE_OPTS_INIT;
	gv_config cfg;
	int err, rc;

	/* A configuration file names the data directory (unless given on the
	 * line), the index, the write timeout and the cluster's placement. */
	if ((rc = cli_load_config(g, &cfg)) != 0)
		return rc;
	opts.data_dir = g->data_dir;
	opts.create = create;
	if (g->config || g->index) {
		if (cfg.index.path && *cfg.index.path)
			opts.index_path = cfg.index.path;
		opts.index_backend = cfg.index.backend;
		opts.write_timeout_ms = cfg.replication.write_timeout_ms;
		opts.hedge_after_ms = cfg.read.hedge_after_ms;
		opts.block_size = cfg.integrity.block_size;
	}
	/* Remote sectors need the node token and timeouts (defaults without
	 * a configuration file). */
	if ((err = gv_config_remote_apply(&cfg)) == 0)
		err = gv_store_open(out, &opts);
	if (err == 0 && (rc = cli_apply_placement(g, *out, &cfg)) != 0) {
		gv_store_free(*out);
		*out = NULL;
		gv_config_free(&cfg);
		return rc;
	}
	if (g->data_dir == cfg.data_dir) {
		/* The configuration is freed here; keep its data directory. */
		g->data_dir_owned = strdup(cfg.data_dir);
		g->data_dir = g->data_dir_owned ? g->data_dir_owned : "./graviton-data";
	}
	gv_config_free(&cfg);
	if (err == GV_ENOTFOUND) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s (run 'graviton init' first, or pass --data-dir)",
		         gv_error_last());
		cli_err("%s", msg);
		return cli_error_doc(gv_wire_error_of(err), msg);
	}
	if (err < 0)
		return cli_fail(err, "cannot open the store");
	return 0;
}

int cli_parse_key(gv_key *out, const char *s)
{
	if (gv_key_parse(out, s) < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		cli_err("%s", msg);
		return cli_error_doc(gv_wire_error_named("invalid_key"), msg);
	}
	return 0;
}

int cli_print_json(json_t *v)
{
	int r;

	if (!v) {
		cli_err("out of memory");
		return EXIT_SOFTWARE;
	}
	r = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(v);
	return r == 0 ? 0 : EXIT_IOERR;
}

int cli_print_text(char *text)
{
	int r;

	if (!text) {
		cli_err("out of memory");
		return EXIT_SOFTWARE;
	}
	r = fputs(text, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0;
	free(text);
	return r ? EXIT_IOERR : 0;
}

int cli_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

static int parse_int_arg(int *out, const char *name, const char *v, int min, int max)
{
	char *end;
	long x;

	x = strtol(v, &end, 10);
	if (!*v || *end || x < min || x > max) {
		cli_err("invalid %s '%s': expected a whole number from %d to %d", name, v, min, max);
		return -1;
	}
	*out = (int)x;
	return 0;
}

int cli_placement_flag(cli_globals *g, int argc, char **argv, int *i)
{
	static const char *names[] = { "--strategy", "--factor", "--min-replicas",
	                               "--min-racks", "--min-zones" };
	const char *arg = argv[*i], *val = NULL;
	size_t k, len;

	for (k = 0; k < 5; k++) {
		len = strlen(names[k]);
		if (strncmp(arg, names[k], len) != 0)
			continue;
		if (arg[len] == '=') {
			val = arg + len + 1;
		} else if (arg[len] == '\0') {
			if (*i + 1 >= argc) {
				cli_err("%s needs a value", names[k]);
				return -1;
			}
			val = argv[++*i];
		} else {
			continue;
		}
		break;
	}
	if (k == 5)
		return 0;
	switch (k) {
	case 0:
		if (gv_strategy_parse(&g->placement.strategy, val) < 0) {
			cli_err("%s", gv_error_last());
			return -1;
		}
		break;
	case 1:
		if (parse_int_arg(&g->placement.factor, "--factor", val, 1, GV_MAX_REPLICAS) < 0)
			return -1;
		break;
	case 2:
		if (parse_int_arg(&g->placement.min_replicas, "--min-replicas", val, 1,
		                  GV_MAX_REPLICAS) < 0)
			return -1;
		break;
	case 3:
		if (parse_int_arg(&g->placement.min_racks, "--min-racks", val, 1, 64) < 0)
			return -1;
		break;
	case 4:
		if (parse_int_arg(&g->placement.min_zones, "--min-zones", val, 1, 64) < 0)
			return -1;
		break;
	}
	g->placement_set = 1;
	g->placement_flags |= 1 << k;
	return 1;
}

void cli_placement_given(gv_placement_opts *p, const cli_globals *g, const gv_config *cfg)
{
	gv_config_placement_over(p, cfg && g->config ? cfg : NULL, &g->placement,
	                         (unsigned)g->placement_flags);
}

int cli_apply_placement(cli_globals *g, gv_store *st, const gv_config *cfg)
{
	gv_placement_opts p;
	int err;

	if (!g->placement_set && !(cfg && g->config && cfg->replication.placement_given))
		return 0;
	p = gv_store_placement(st);
	cli_placement_given(&p, g, cfg);
	if ((err = gv_store_set_placement(st, &p)) < 0)
		return cli_fail(err, "placement settings");
	return 0;
}

/*
 * Where the index lives: --index or $GRAVITON_INDEX, else the
 * configuration's graviton.index.url, else its path.  A URL names its
 * backend itself, so the configured backend then steps aside.
 */
static int cli_index_override(cli_globals *g, gv_config *cfg)
{
	const char *url = g->index ? g->index : cfg->index.url;
	char *path, *backend;

	if (!url || !*url)
		return 0;
	path = strdup(url);
	backend = strdup(strstr(url, "://") ? "" : cfg->index.backend);
	if (!path || !backend) {
		free(path);
		free(backend);
		gv_config_free(cfg);
		cli_err("out of memory");
		return EXIT_SOFTWARE;
	}
	free(cfg->index.path);
	free(cfg->index.backend);
	cfg->index.path = path;
	cfg->index.backend = backend;
	return 0;
}

/* The configuration (file and --index) into cfg: 0, or EXIT_CONFIG with
 * the reason in gv_error_last() and nothing printed (EXIT_SOFTWARE: out of
 * memory, said). */
int cli_settings_quiet(cli_globals *g, gv_config *cfg)
{
	if (gv_config_init(cfg) < 0) {
		cli_err("out of memory");
		return EXIT_SOFTWARE;
	}
	if (g->config && gv_config_load_file(cfg, g->config) < 0) {
		gv_config_free(cfg);
		return EXIT_CONFIG;
	}
	return cli_index_override(g, cfg);
}

int cli_settings(cli_globals *g, gv_config *cfg)
{
	int rc = cli_settings_quiet(g, cfg);

	if (rc == EXIT_CONFIG)
		cli_err("%s", gv_error_last());
	return rc;
}

int cli_load_config(cli_globals *g, gv_config *cfg)
{
	int rc;

	if ((rc = cli_settings(g, cfg)) != 0)
		return rc;
	if (!g->data_dir_given && cfg->data_dir && *cfg->data_dir)
		g->data_dir = cfg->data_dir;
	return 0;
}

void cli_apply_log_config(cli_globals *g, const gv_config *cfg)
{
	g->log_json = cfg->log.format == GV_LOG_FORMAT_JSON;
	if (!g->log_level_given)
		g->log_level = (int)cfg->log.level;
	gv_log_set(cli_log_sink, (gv_log_level)g->log_level, g);
}

/*
 * The library's log lines are logfmt: `event=NAME key=value key="quoted
 * value" ...`.  fields_add lays them out as JSON members, integers as
 * numbers.  A quoted value ends at a quote followed by the end of the line
 * or by ` key=`, so a message quoted inside (an error naming a path with a
 * quote) stays whole; \" and \\ are unescaped.  Returns -1, adding
 * nothing, for a line that is not logfmt.
 */
static int is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* 1 when p starts `key=`. */
static int at_key(const char *p)
{
	const char *k = p;

	while (is_key_char(*p))
		p++;
	return p > k && *p == '=';
}

/* A JSON string of v's n bytes; bytes of invalid UTF-8 (a path can hold
 * any) become '?' rather than losing the field. */
static json_t *text_value(const char *v, size_t n)
{
	json_t *s = json_stringn(v, n);
	char *c;
	size_t i;

	if (s || !(c = malloc(n + 1)))
		return s;
	for (i = 0; i < n; i++)
		c[i] = (unsigned char)v[i] < 0x80 ? v[i] : '?';
	s = json_stringn(c, n);
	free(c);
	return s;
}

/* v: n bytes and a NUL. */
static json_t *field_value(const char *v, size_t n, int quoted)
{
	char *end;
	long long i;

	if (!quoted && n > 0 && n < 20 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) {
		errno = 0;
		i = strtoll(v, &end, 10);
		if (errno == 0 && end == v + n && !(v[0] == '-' && n == 1))
			return json_integer(i);
	}
	return text_value(v, n);
}

static int fields_add(json_t *o, const char *msg)
{
	json_t *f = json_object();
	char key[64], *val = NULL;
	const char *p = msg;
	size_t vn;
	int ok = f != NULL;

	while (ok && *p) {
		const char *k = p;
		int quoted = 0;

		const char *eq = strchr(p, '=');

		/* ts and level are the sink's own: a line's are x_ts, x_level. */
		if (!at_key(p) || (size_t)(eq - k) + 3 > sizeof(key)) {
			ok = 0;
			break;
		}
		snprintf(key, sizeof(key), "%s%.*s",
		         (eq - k == 2 && !strncmp(k, "ts", 2)) ||
		         (eq - k == 5 && !strncmp(k, "level", 5)) ? "x_" : "", (int)(eq - k), k);
		p = eq + 1;
		free(val);
		if (!(val = malloc(strlen(p) + 1))) {
			ok = 0;
			break;
		}
		vn = 0;
		if (*p == '"') {
			quoted = 1;
			for (p++;; p++) {
				if (!*p) {
					ok = 0;
					break;
				}
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
					val[vn++] = *++p;
					continue;
				}
				if (*p == '"' && (!p[1] || (p[1] == ' ' && at_key(p + 2)))) {
					p++;
					break;
				}
				val[vn++] = *p;
			}
		} else {
			while (*p && *p != ' ')
				val[vn++] = *p++;
		}
		val[vn] = '\0';
		if (ok && (*p == ' ' || !*p))
			json_object_set_new(f, key, field_value(val, vn, quoted));
		else
			ok = 0;
		while (*p == ' ')
			p++;
	}
	free(val);
	if (ok && json_object_get(f, "event"))
		json_object_update(o, f);
	else
		ok = 0;
	json_decref(f);
	return ok ? 0 : -1;
}

/*
 * One log line on stderr.  JSON: `{"ts":"2026-01-02T03:04:05.678Z",
 * "level":"info","event":...,<the line's other fields>}` (a line that is
 * not logfmt becomes "event":"message","message":LINE); text: the line as
 * it is, after a timestamp for serve.
 */
void cli_log_sink(gv_log_level level, const char *msg, void *payload)
{
	cli_globals *g = payload;
	struct timespec ts;
	struct tm tm;
	char when[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03ldZ",
	         ts.tv_nsec / 1000000L);
	if (g && g->log_json) {
		json_t *o = json_pack("{s:s, s:s}", "ts", when, "level", gv_log_level_name(level));
		char *s = NULL;

		if (o && fields_add(o, msg) < 0) {
			json_object_set_new(o, "event", json_string("message"));
			json_object_set_new(o, "message", text_value(msg, strlen(msg)));
		}
		s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(o);
		return;
	}
	if (g && g->log_time)
		fprintf(stderr, "%s %s %s\n", when, gv_log_level_name(level), msg);
	else
		fprintf(stderr, "graviton: %s: %s\n", gv_log_level_name(level), msg);
}

char *cli_log_quote(char *buf, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s && n + 2 < cap; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s == '\n' ? ' ' : *s;
	}
	buf[n] = '\0';
	return buf;
}

void cli_log_line(gv_log_level level, const char *msg)
{
	gv_log_message(level, msg);
}

int cli_size_arg(uint64_t *out, const char *name, const char *v)
{
	if (gv_size_parse(out, v) < 0) {
		cli_err("%s: %s", name, gv_error_last());
		return -1;
	}
	return 0;
}

int cli_duration_arg(uint64_t *out_ms, const char *name, const char *v)
{
	gv_error_clear();
	if (gv_duration_parse(out_ms, v) < 0 || *out_ms == 0) {
		cli_err("%s: %s", name, *gv_error_last() ? gv_error_last() : "must be above zero");
		return -1;
	}
	return 0;
}

/* The flag SIGINT and SIGTERM set; storing a lock-free atomic_int is
 * async-signal-safe. */
static atomic_int *stop_target;

static void on_stop_signal(int sig)
{
	(void)sig;
	if (stop_target)
		atomic_store(stop_target, 1);
}

void cli_trap_stop_signals(atomic_int *flag)
{
	struct sigaction sa;

	stop_target = flag;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_ignore_sigpipe(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

void cli_pause(uint64_t ms, atomic_int *stop)
{
	uint64_t waited = 0;

	while (!*stop && waited < ms) {
		struct timespec ts = { 0, 100000000L };

		nanosleep(&ts, NULL);
		waited += 100;
	}
}

/* ---- the server's bearer token -------------------------------------------- */

int cli_token_read(const char *data_dir, char *buf, size_t cap)
{
	char path[4096];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/token", data_dir) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n > 0 ? 1 : 0;
}

int cli_token_create(const char *data_dir)
{
	unsigned char r[32];
	char path[4096], text[sizeof(r) * 2 + 2];
	size_t i;
	int fd, ok;

	if (snprintf(path, sizeof(path), "%s/token", data_dir) >= (int)sizeof(path))
		return -1;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		cli_err("cannot draw a token: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(text + 2 * i, 3, "%02x", r[i]);
	text[2 * sizeof(r)] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		cli_err("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	ok = fchmod(fd, 0600) == 0 && write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1 &&
	     fsync(fd) == 0;
	if (close(fd) != 0 || !ok) {
		cli_err("cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	explicit_bzero(text, sizeof(text));
	cli_log_line(GV_LOG_INFO, "event=token_created file=token mode=0600");
	return 0;
}

int cli_server_token(const cli_globals *g, const gv_config *cfg, char *buf, size_t cap,
                     const char **source)
{
	const char *env = getenv("GRAVITON_TOKEN");
	int r;

	buf[0] = '\0';
	*source = "off";
	if (!cfg->server.auth)
		return 0;
	if (cfg->server.auth_token && *cfg->server.auth_token) {
		*source = "config";
		snprintf(buf, cap, "%s", cfg->server.auth_token);
		return 0;
	}
	if (env && *env) {
		*source = "GRAVITON_TOKEN";
		snprintf(buf, cap, "%s", env);
		return 0;
	}
	if (cli_token_create(g->data_dir) < 0)
		return -1;
	if ((r = cli_token_read(g->data_dir, buf, cap)) <= 0) {
		cli_err("cannot read %s/token%s", g->data_dir, r < 0 ? "" : ": empty");
		return -1;
	}
	*source = "file";
	return 0;
}

/* ---- job documents ---------------------------------------------------------- */

int cli_print_line(json_t *v)
{
	int r;

	if (!v) {
		cli_err("out of memory");
		return EXIT_SOFTWARE;
	}
	r = json_dumpf(v, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (r != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
		return EXIT_IOERR;
	return 0;
}

int cli_print_job(const char *kind, int dry_run, int err, json_t *summary, json_t *events)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	char *sum, *evs, *doc;

	if (err < 0 && summary)
		json_object_set_new(summary, "error",
		                    cli_doc(gv_wire_error_doc(gv_wire_error_of(err),
		                                              gv_error_last())));
	sum = summary ? json_dumps(summary, flags) : NULL;
	evs = events ? json_dumps(events, flags) : NULL;
	doc = (summary && !sum) || (events && !evs)
	              ? NULL
	              : gv_wire_job(0, kind, dry_run, err < 0 ? "failed" : "done", sum, evs);
	free(sum);
	free(evs);
	json_decref(summary);
	json_decref(events);
	return cli_print_line(cli_doc(doc));
}

json_t *cli_doc(char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	return v;
}

void cli_events_add(cli_events *e, json_t *ev)
{
	pthread_mutex_lock(&e->mu);
	if (ev && e->list)
		json_array_append(e->list, ev);
	pthread_mutex_unlock(&e->mu);
	json_decref(ev);
}

json_t *cli_events_take(cli_events *e)
{
	json_t *l;

	pthread_mutex_lock(&e->mu);
	l = e->list;
	e->list = json_array();
	pthread_mutex_unlock(&e->mu);
	return l;
}
