/*
 * cmd_serve.c - `graviton serve`: the daemon.  Loads the configuration,
 * opens (and on first start initialises) the data directory, serves the
 * HTTP API and runs the repair loop, the scrub schedule, the rebalancer,
 * the reclaim of leftover files, the sector health check and the metrics
 * updater in background threads.
 *
 * Signals are blocked in every thread and taken by the main thread with
 * sigwait: SIGTERM/SIGINT stop (no new connections, requests in flight
 * finish, background work stops at a safe point, exit 0); SIGHUP reloads
 * the configuration (log level, token, placement, schedules).
 */
#include <stdatomic.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <netdb.h>
#include <sys/socket.h>

#include "cli/cli.h"
#include "graviton/config.h"
#include "graviton/reclaim.h"
#include "graviton/server.h"

static void help(void)
{
	printf("usage: graviton serve [--listen HOST:PORT] [--config FILE]\n"
	       "\n"
	       "Serve the HTTP API (see docs/http-api.md) and run the background work:\n"
	       "the repair loop, the scrub schedule, the rebalancer, the reclaim of\n"
	       "leftover files, the sector health check and the metrics updater.  The\n"
	       "first start on an empty data directory creates the default layout (6 local\n"
	       "sectors over 3 racks and 3 zones) unless the configuration lists sectors.\n"
	       "\n"
	       "  --listen HOST:PORT   address to bind (default graviton.server.listen,\n"
	       "                       127.0.0.1:8787)\n"
	       "\n"
	       "Signals: SIGTERM/SIGINT stop cleanly (exit 0); SIGHUP reloads the\n"
	       "configuration file.\n");
}

/* One background loop and its stop flag. */
typedef struct bg {
	pthread_t tid;
	int running;
	atomic_int stop;
	gv_store *st;
	gv_config cfg; /* this loop's own copy */
	void (*fn)(struct bg *b);
} bg;

static void *bg_main(void *p)
{
	bg *b = p;

	b->fn(b);
	return NULL;
}

static void repair_loop(bg *b)
{
	gv_repair_opts o;

	cli_repair_opts(&o, &b->cfg);
	gv_repair_daemon(b->st, &o, b->cfg.replication.repair.interval_ms, &b->stop);
}

static void scrub_loop(bg *b)
{
	gv_scrub_opts o;

	cli_scrub_opts(&o, &b->cfg);
	gv_scrub_daemon(b->st, &o, b->cfg.replication.scrub.interval_ms, &b->stop);
}

static void rebalance_loop(bg *b)
{
	gv_rebalance_opts o;

	cli_rebalance_opts(&o, &b->cfg);
	/* Runs on the repair interval: moves wait until repair has run. */
	gv_rebalance_daemon(b->st, &o, b->cfg.replication.repair.interval_ms, &b->stop);
}

static void reclaim_loop(bg *b)
{
	gv_reclaim_opts o = GV_RECLAIM_OPTS_INIT;

	o.grace_ms = b->cfg.replication.reclaim.grace_ms;
	gv_reclaim_daemon(b->st, &o, b->cfg.replication.reclaim.interval_ms, &b->stop);
}

/* Each repair interval (at most a minute): a sector that vanished with no
 * traffic to notice it is marked unhealthy before repair picks it. */
static void health_loop(bg *b)
{
	uint64_t every = b->cfg.replication.repair.interval_ms;

	if (every > 60000)
		every = 60000;
	while (!b->stop) {
		unsigned down;

		gv_store_sector_check(b->st, &down);
		cli_pause(every, &b->stop);
	}
}

/* Every 5 s: pick up placement settings another command stored in the
 * index.  Every minute: refresh the figures and log them (scrapes compute
 * their own, from one index query). */
static void metrics_loop(bg *b)
{
	unsigned tick;

	for (tick = 0; !b->stop; tick++) {
		gv_store_stats s;

		if (gv_store_reload_placement(b->st) < 0)
			cli_log_line(GV_LOG_ERROR, "event=placement_reload result=failed");
		if (tick % 12 == 0 && gv_status(b->st, &s) == 0) {
			char line[256];

			snprintf(line, sizeof(line),
			         "event=stats blobs=%llu healthy_replicas=%llu unhealthy_replicas=%llu "
			         "under_replicated=%llu over_replicated=%llu lost=%llu",
			         (unsigned long long)s.blobs, (unsigned long long)s.healthy_replicas,
			         (unsigned long long)s.unhealthy_replicas,
			         (unsigned long long)s.under_replicated,
			         (unsigned long long)s.over_replicated, (unsigned long long)s.lost);
			cli_log_line(GV_LOG_INFO, line);
		}
		cli_pause(5000, &b->stop);
	}
}

static int bg_start(bg *b, gv_store *st, const gv_config *cfg, void (*fn)(bg *))
{
	memset(b, 0, sizeof(*b));
	b->st = st;
	b->fn = fn;
	if (gv_config_copy(&b->cfg, cfg) < 0)
		return -1;
	if (pthread_create(&b->tid, NULL, bg_main, b) != 0) {
		gv_config_free(&b->cfg);
		return -1;
	}
	b->running = 1;
	return 0;
}

static void bg_stop(bg *b)
{
	if (!b->running)
		return;
	b->stop = 1;
	pthread_join(b->tid, NULL);
	gv_config_free(&b->cfg);
	b->running = 0;
}

enum { BG_REPAIR, BG_SCRUB, BG_REBALANCE, BG_RECLAIM, BG_HEALTH, BG_METRICS, BG_COUNT };

static void start_loops(bg *loops, gv_store *st, const gv_config *cfg)
{
	if (cfg->replication.repair.enabled)
		bg_start(&loops[BG_REPAIR], st, cfg, repair_loop);
	if (cfg->replication.scrub.enabled)
		bg_start(&loops[BG_SCRUB], st, cfg, scrub_loop);
	if (cfg->replication.rebalance.enabled)
		bg_start(&loops[BG_REBALANCE], st, cfg, rebalance_loop);
	if (cfg->replication.reclaim.enabled)
		bg_start(&loops[BG_RECLAIM], st, cfg, reclaim_loop);
	bg_start(&loops[BG_HEALTH], st, cfg, health_loop);
	bg_start(&loops[BG_METRICS], st, cfg, metrics_loop);
}

static void stop_loops(bg *loops)
{
	int i;

	/* Ask all, then wait for each: they stop at their next safe point. */
	for (i = 0; i < BG_COUNT; i++)
		if (loops[i].running)
			loops[i].stop = 1;
	for (i = 0; i < BG_COUNT; i++)
		bg_stop(&loops[i]);
}

/*
 * Every connection holds a descriptor: raise the soft RLIMIT_NOFILE to the
 * hard limit, and say so when even that leaves too few for max-connections
 * (plus room for the index, the sectors and the copies).
 */
static void raise_nofile(unsigned max_connections)
{
	struct rlimit rl;
	char line[256];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_connections + 256) {
		snprintf(line, sizeof(line),
		         "event=fd_limit open_files=%llu max_connections=%u note=\"raise the hard "
		         "limit (ulimit -Hn) or lower graviton.server.max-connections\"",
		         (unsigned long long)rl.rlim_cur, max_connections);
		cli_log_line(GV_LOG_WARN, line);
	}
}

/* Authentication off is a choice (graviton.server.auth = off): say so. */
static void auth_warning(const char *token)
{
	if (!token[0])
		cli_log_line(GV_LOG_WARN,
		             "event=auth_off reason=\"graviton.server.auth = off\" note=\"any "
		             "process that reaches the listen address may write, delete and add "
		             "sectors\"");
}

/*
 * Can the listen address be bound?  Checked before the data directory is
 * opened, so a busy port leaves nothing behind (a first start would
 * create the directory, the index and the sectors).  Returns 0 or an exit
 * code, having said why.
 */
static int check_listen(const char *host, unsigned port)
{
	struct addrinfo hints, *ai = NULL;
	char portstr[16];
	int fd, one = 1, e = 0, rc;

	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0 || !ai) {
		cli_err("serve: cannot resolve listen address %s: %s", host, gai_strerror(rc));
		return EXIT_USAGE;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	if (!e)
		return 0;
	cli_err("serve: cannot listen on %s:%u: %s%s; nothing was changed", host, port,
	        strerror(e), e == EADDRINUSE ? " (another server may be running there)" : "");
	return e == EADDRINUSE ? EXIT_TEMPFAIL : e == EACCES ? EXIT_NOPERM : EXIT_UNAVAILABLE;
}

/* First start on an empty data directory: the default layout. */
static int ensure_layout(gv_store *st, const gv_config *cfg, const char *data_dir)
{
	gv_sector_info *have = NULL;
	size_t nhave = 0, i;
	int err;

	if ((err = gv_store_sector_list(st, &have, &nhave)) < 0)
		return err;
	free(have);
	for (i = 0; i < cfg->nsectors; i++) {
		gv_sector_info info;

		if ((err = gv_config_sector_info(&info, cfg, i, data_dir)) < 0)
			return err;
		err = gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE);
		if (err == GV_EEXISTS)
			continue; /* registered at an earlier start */
		if (err < 0)
			return err;
	}
	if (nhave == 0 && cfg->nsectors == 0) {
		for (i = 0; i < 6; i++) {
			gv_sector_info info;

			memset(&info, 0, sizeof(info));
			snprintf(info.id, sizeof(info.id), "s%02zu", i + 1);
			snprintf(info.kind, sizeof(info.kind), "fs");
			snprintf(info.path, sizeof(info.path), "%s/sectors/%s", data_dir, info.id);
			snprintf(info.rack, sizeof(info.rack), "rack-%zu", i % 3 + 1);
			snprintf(info.zone, sizeof(info.zone), "zone-%zu", i % 3 + 1);
			if ((err = gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE)) < 0)
				return err;
		}
		cli_log_line(GV_LOG_INFO, "event=initialised layout=default sectors=6 racks=3 zones=3");
	}
	return 0;
}

int cmd_serve(cli_globals *g, int argc, char **argv)
{
	gv_store_opts so = GV_STORE_OPTS_INIT;
	gv_server_opts vo = GV_SERVER_OPTS_INIT;
	gv_repair_opts jrepair;
	gv_scrub_opts jscrub;
	gv_rebalance_opts jrebalance;
	const char *listen = NULL, *token_from;
	char host[256], line[512], token[CLI_TOKEN_MAX];
	unsigned port;
	bg loops[BG_COUNT];
	int lock_fd = -1;
	gv_server *srv = NULL;
	gv_store *st = NULL;
	gv_config cfg;
	sigset_t sigs;
	int i, rc = 0, err, sig;

	memset(loops, 0, sizeof(loops));
	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen = argv[++i];
		} else if (strncmp(argv[i], "--listen=", 9) == 0) {
			listen = argv[i] + 9;
		} else {
			cli_err("serve: unexpected argument '%s' (see 'graviton serve --help')", argv[i]);
			return EXIT_USAGE;
		}
	}
	if ((rc = cli_load_config(g, &cfg)) != 0)
		return rc;
	if (!listen)
		listen = cfg.server.listen;
	if (gv_config_parse_listen(host, sizeof(host), &port, listen) < 0) {
		cli_err("serve: %s", gv_error_last());
		gv_config_free(&cfg);
		return EXIT_USAGE;
	}
	g->log_time = 1;
	cli_apply_log_config(g, &cfg);
	if ((rc = check_listen(host, port)) != 0) {
		gv_config_free(&cfg);
		return rc;
	}

	so.data_dir = g->data_dir;
	so.create = 1;
	so.write_timeout_ms = cfg.replication.write_timeout_ms;
	if (cfg.index.path && *cfg.index.path)
		so.index_path = cfg.index.path;
	so.index_backend = cfg.index.backend;
	if ((err = gv_store_open(&st, &so)) < 0) {
		rc = cli_fail(err, "serve: cannot open the store");
		goto out;
	}
	/* One daemon per data directory, and none while an index rebuild runs. */
	if ((err = gv_serve_lock(g->data_dir, &lock_fd)) < 0) {
		rc = cli_fail(err, "serve");
		goto out;
	}
	if ((err = ensure_layout(st, &cfg, g->data_dir)) < 0) {
		rc = cli_fail(err, "serve: sectors");
		goto out;
	}
	/* The placement keys a configuration file sets become the cluster's. */
	if ((rc = cli_apply_placement(g, st, &cfg)) != 0)
		goto out;

	/* Block the signals before any thread starts, so all of them inherit
	 * the mask and only sigwait below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	cli_ignore_sigpipe();

	vo.host = host;
	vo.port = port;
	if (cli_server_token(g, &cfg, token, sizeof(token), &token_from) < 0) {
		rc = EXIT_CANTCREAT;
		goto out;
	}
	vo.auth_token = token[0] ? token : NULL;
	vo.max_body_size = cfg.server.max_body_size;
	vo.idle_timeout_ms = cfg.server.idle_timeout_ms;
	vo.max_connections = (unsigned)cfg.server.max_connections;
	vo.max_connections_per_address = (unsigned)cfg.server.max_connections_per_address;
	vo.header_timeout_ms = cfg.server.header_timeout_ms;
	vo.shutdown_grace_ms = cfg.server.shutdown_grace_ms;
	raise_nofile(vo.max_connections);
	/* A thread per connection: a pool size has no meaning. */
	if (cfg.server.threads != 8)
		cli_log_line(GV_LOG_WARN, "event=deprecated key=graviton.server.threads "
		                          "note=\"ignored: the server runs a thread per connection, "
		                          "bounded by graviton.server.max-connections\"");
	cli_repair_opts(&jrepair, &cfg);
	cli_scrub_opts(&jscrub, &cfg);
	cli_rebalance_opts(&jrebalance, &cfg);
	vo.repair = &jrepair;
	vo.scrub = &jscrub;
	vo.rebalance = &jrebalance;
	if ((err = gv_server_start(&srv, st, &vo)) < 0) {
		rc = cli_fail(err, "serve");
		goto out;
	}
	start_loops(loops, st, &cfg);
	snprintf(line, sizeof(line),
	         "event=listening url=http://%s%s%s:%u data_dir=%s auth=%s token_from=%s repair=%s "
	         "scrub=%s rebalance=%s",
	         strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	         gv_server_port(srv), g->data_dir, token[0] ? "on" : "off", token_from,
	         cfg.replication.repair.enabled ? "on" : "off",
	         cfg.replication.scrub.enabled ? "on" : "off",
	         cfg.replication.rebalance.enabled ? "on" : "off");
	cli_log_line(GV_LOG_WARN, line);
	auth_warning(token);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			gv_config fresh;
			const char *data_dir = g->data_dir;

			if (!g->config) {
				cli_log_line(GV_LOG_WARN, "event=reload result=skipped reason=\"no --config file\"");
				continue;
			}
			if (cli_load_config(g, &fresh) != 0) {
				cli_log_line(GV_LOG_ERROR, "event=reload result=failed reason=\"keeping the "
				                           "running configuration\"");
				continue;
			}
			cli_apply_log_config(g, &fresh);
			if (cli_server_token(g, &fresh, token, sizeof(token), &token_from) < 0) {
				cli_log_line(GV_LOG_ERROR, "event=reload result=failed reason=\"no token; "
				                           "keeping the running configuration\"");
				g->data_dir = data_dir;
				gv_config_free(&fresh);
				continue;
			}
			gv_server_set_token(srv, token[0] ? token : NULL);
			auth_warning(token);
			if (cli_apply_placement(g, st, &fresh) != 0)
				cli_log_line(GV_LOG_ERROR, "event=reload placement=rejected");
			stop_loops(loops);
			start_loops(loops, st, &fresh);
			if (strcmp(fresh.server.listen, cfg.server.listen) != 0)
				cli_log_line(GV_LOG_WARN, "event=reload note=\"a new listen address takes a "
				                          "restart\"");
			gv_config_free(&cfg);
			cfg = fresh;
			cli_log_line(GV_LOG_WARN, "event=reload result=ok");
			continue;
		}
		snprintf(line, sizeof(line), "event=stopping signal=%s",
		         sig == SIGTERM ? "SIGTERM" : "SIGINT");
		cli_log_line(GV_LOG_WARN, line);
		break;
	}
	/* Stop accepting and finish what is in flight, then the loops. */
	gv_server_stop(srv);
	srv = NULL;
	stop_loops(loops);
	cli_log_line(GV_LOG_WARN, "event=stopped");
	rc = 0;
out:
	gv_server_stop(srv);
	stop_loops(loops);
	gv_store_free(st);
	gv_config_free(&cfg);
	explicit_bzero(token, sizeof(token));
	gv_serve_unlock(lock_fd);
	return rc;
}
