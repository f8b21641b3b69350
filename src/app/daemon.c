/*
 * daemon.c - the daemon: start, reload and stop one data directory's
 * store, HTTP server and background loops (see graviton/daemon.h).
 *
 * Start order: the listen address is checked, the serve lock taken (the
 * first thing created), then the store opened (created on a first start),
 * the default layout laid out, placement stored, the server started and
 * the loops last.  A failing step undoes the earlier ones.  A reload takes
 * the daemon's lock, so log, token, placement and loop changes have one
 * owner.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "graviton/daemon.h"
#include "graviton/health.h"
#include "graviton/namespace.h"
#include "graviton/reclaim.h"
#include "graviton/s3.h"
#include "graviton/server.h"

#define TOKEN_MAX 4100 /* the configuration allows 4096 bytes */

/* One background loop and its stop flag. */
typedef struct bg {
	pthread_t tid;
	int running;
	atomic_int stop;
	gv_store *st;
	gv_config cfg; /* this loop's own copy */
	void (*fn)(struct bg *b);
} bg;

enum { BG_REPAIR, BG_SCRUB, BG_PRESENCE, BG_REBALANCE, BG_RECLAIM, BG_HEALTH, BG_METRICS,
       BG_GC, BG_COUNT };

struct gv_daemon {
	pthread_mutex_t lock; /* reload against reload and stop */
	gv_daemon_opts opts;
	char *data_dir;
	int lock_fd;
	gv_store *st;
	gv_server *srv;
	gv_s3_server *s3;       /* NULL: graviton.s3.enabled is false */
	gv_config cfg;
	gv_repair_opts jrepair; /* the server's job settings */
	gv_scrub_opts jscrub;
	gv_rebalance_opts jrebalance;
	gv_gc_opts jgc;
	bg loops[BG_COUNT];
};

/* Sleep up to ms, waking every 100 ms to notice *stop. */
static void pause_ms(uint64_t ms, atomic_int *stop)
{
	uint64_t waited = 0;

	while (!*stop && waited < ms) {
		struct timespec ts = { 0, 100000000L };

		nanosleep(&ts, NULL);
		waited += 100;
	}
}

static void *bg_main(void *p)
{
	bg *b = p;

	b->fn(b);
	return NULL;
}

static void repair_loop(bg *b)
{
	gv_repair_opts o;

	gv_config_repair_opts(&o, &b->cfg);
	gv_repair_daemon(b->st, &o,
	                 b->cfg.replication.repair.full_scan ? b->cfg.replication.repair.interval_ms
	                                                     : 0,
	                 &b->stop);
}

static void scrub_loop(bg *b)
{
	gv_scrub_opts o;

	gv_config_scrub_opts(&o, &b->cfg);
	gv_scrub_daemon(b->st, &o, b->cfg.replication.scrub.interval_ms, &b->stop);
}

/* The presence audit between full scrubs (graviton/scrub.h). */
static void presence_loop(bg *b)
{
	gv_presence_daemon(b->st, NULL, b->cfg.replication.scrub.presence_interval_ms, &b->stop);
}

static void rebalance_loop(bg *b)
{
	gv_rebalance_opts o;

	gv_config_rebalance_opts(&o, &b->cfg);
	/* Runs on the repair interval: moves wait until repair has run. */
	gv_rebalance_daemon(b->st, &o, b->cfg.replication.repair.interval_ms, &b->stop);
}

static void reclaim_loop(bg *b)
{
	gv_reclaim_opts o = GV_RECLAIM_OPTS_INIT;

	o.grace_ms = b->cfg.replication.reclaim.grace_ms;
	gv_reclaim_daemon(b->st, &o, b->cfg.replication.reclaim.interval_ms, &b->stop);
}

/* The garbage collector (graviton/namespace.h): unreferenced blobs after
 * the grace, abandoned multipart uploads. */
static void gc_loop(bg *b)
{
	gv_gc_opts o = GV_GC_OPTS_INIT;

	o.grace_ms = (int64_t)b->cfg.gc.grace_ms;
	o.upload_expiry_ms = (int64_t)b->cfg.gc.upload_expiry_ms;
	gv_ns_gc_daemon(b->st, &o, b->cfg.gc.interval_ms, &b->stop);
}

/* The failure detector (graviton/health.h): a sector that stops answering
 * is marked unhealthy before repair picks it, and back once it answers. */
static void health_loop(bg *b)
{
	gv_health_opts o;

	gv_config_health_opts(&o, &b->cfg);
	gv_health_daemon(b->st, &o, &b->stop);
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
			gv_errlog("event=placement_reload result=failed");
		if (tick % 12 == 0 && gv_status(b->st, &s) == 0)
			gv_info("event=stats blobs=%llu healthy_replicas=%llu unhealthy_replicas=%llu "
			        "under_replicated=%llu over_replicated=%llu lost=%llu",
			        (unsigned long long)s.blobs, (unsigned long long)s.healthy_replicas,
			        (unsigned long long)s.unhealthy_replicas,
			        (unsigned long long)s.under_replicated,
			        (unsigned long long)s.over_replicated, (unsigned long long)s.lost);
		pause_ms(5000, &b->stop);
	}
}

static int bg_start(bg *b, gv_store *st, const gv_config *cfg, void (*fn)(bg *))
{
	int e;

	memset(b, 0, sizeof(*b));
	b->st = st;
	b->fn = fn;
	if (gv_config_copy(&b->cfg, cfg) < 0)
		return GV_ENOMEM;
	if ((e = pthread_create(&b->tid, NULL, bg_main, b)) != 0) {
		gv_config_free(&b->cfg);
		return gv_error_set_errno(GV_ERROR, e, "cannot start a background loop");
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

/* Start the loops cfg enables; on any failure stop those started and
 * return the error (logged as event=loop_start). */
static int start_loops(bg *loops, gv_store *st, const gv_config *cfg)
{
	static const char *const names[BG_COUNT] = { "repair", "scrub", "presence", "rebalance",
		                                     "reclaim", "health", "metrics", "gc" };
	void (*const fns[BG_COUNT])(bg *) = { repair_loop, scrub_loop, presence_loop,
		                              rebalance_loop, reclaim_loop, health_loop,
		                              metrics_loop, gc_loop };
	const int on[BG_COUNT] = { cfg->replication.repair.enabled, cfg->replication.scrub.enabled,
		                   cfg->replication.scrub.presence_interval_ms > 0,
		                   cfg->replication.rebalance.enabled,
		                   cfg->replication.reclaim.enabled, 1, 1, cfg->gc.enabled };
	int i, err;

	for (i = 0; i < BG_COUNT; i++) {
		if (!on[i])
			continue;
		if ((err = bg_start(&loops[i], st, cfg, fns[i])) < 0) {
			gv_errlog("event=loop_start loop=%s result=failed reason=\"%s\"", names[i],
			          gv_error_last());
			stop_loops(loops);
			return gv_error_set(err, "cannot start the %s loop", names[i]);
		}
	}
	return 0;
}

/*
 * Every connection holds a descriptor: raise the soft RLIMIT_NOFILE to the
 * hard limit, and say so when even that leaves too few for max-connections
 * (plus room for the index, the sectors and the copies).
 */
static void raise_nofile(unsigned max_connections)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max_connections + 256)
		gv_warn("event=fd_limit open_files=%llu max_connections=%u note=\"raise the hard "
		        "limit (ulimit -Hn) or lower graviton.server.max-connections\"",
		        (unsigned long long)rl.rlim_cur, max_connections);
}

/* Authentication off is a choice (graviton.server.auth = off): say so. */
static void auth_warning(const char *token)
{
	if (!token[0])
		gv_warn("event=auth_off reason=\"graviton.server.auth = off\" note=\"any process "
		        "that reaches the listen address may write, delete and add sectors\"");
}

/*
 * Can the listen address be bound?  Checked before anything is created, so
 * a busy port leaves nothing behind.  GV_EINVAL (does not resolve),
 * GV_EBUSY (in use), GV_EIO (otherwise).
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
	if ((rc = getaddrinfo(host, portstr, &hints, &ai)) != 0 || !ai)
		return gv_error_set(GV_EINVAL, "cannot resolve listen address %s: %s", host,
		                    gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	if (!e)
		return 0;
	return gv_error_set(e == EADDRINUSE ? GV_EBUSY : GV_EIO,
	                    "cannot listen on %s:%u: %s%s; nothing was changed", host, port,
	                    strerror(e), e == EADDRINUSE ? " (another server may be running there)" : "");
}

int gv_layout_sector(gv_sector_info *out, const char *data_dir, int i, int nracks, int nzones,
                     uint64_t capacity)
{
	int rack;

	memset(out, 0, sizeof(*out));
	if (i < 0 || nracks < 1 || nzones < 1)
		return gv_error_set(GV_EINVAL, "invalid layout (sector %d, %d racks, %d zones)", i,
		                    nracks, nzones);
	rack = i % nracks;
	snprintf(out->id, sizeof(out->id), "s%02d", i + 1);
	snprintf(out->kind, sizeof(out->kind), "fs");
	if (snprintf(out->path, sizeof(out->path), "%s/sectors/%s", data_dir, out->id) >=
	    (int)sizeof(out->path))
		return gv_error_set(GV_EINVAL, "data directory path too long");
	snprintf(out->rack, sizeof(out->rack), "rack-%d", rack + 1);
	snprintf(out->zone, sizeof(out->zone), "zone-%d", rack % nzones + 1);
	out->capacity = capacity;
	return 0;
}

/* The configuration's sectors, and on an empty store without any, the
 * default layout. */
static int is_gateway(const char *data_dir)
{
	char path[GV_PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", data_dir, GV_GATEWAY_FILE);
	return access(path, F_OK) == 0;
}

static int ensure_layout(gv_store *st, const gv_config *cfg, const char *data_dir)
{
	gv_sector_info *have = NULL, info;
	size_t nhave = 0, i;
	int err;

	if ((err = gv_store_sector_list(st, &have, &nhave)) < 0)
		return err;
	free(have);
	for (i = 0; i < cfg->nsectors; i++) {
		if ((err = gv_config_sector_info(&info, cfg, i, data_dir)) < 0)
			return err;
		err = gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE);
		if (err == GV_EEXISTS)
			continue; /* registered at an earlier start */
		if (err < 0)
			return err;
	}
	if (nhave == 0 && cfg->nsectors == 0 && !is_gateway(data_dir)) {
		for (i = 0; i < GV_LAYOUT_SECTORS; i++) {
			if ((err = gv_layout_sector(&info, data_dir, (int)i, GV_LAYOUT_RACKS,
			                            GV_LAYOUT_ZONES, 0)) < 0 ||
			    (err = gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE)) < 0)
				return err;
		}
		gv_info("event=initialised layout=default sectors=%d racks=%d zones=%d",
		        GV_LAYOUT_SECTORS, GV_LAYOUT_RACKS, GV_LAYOUT_ZONES);
	}
	return 0;
}

/* The placement keys a configuration sets become the cluster's. */
static int apply_placement(gv_store *st, const gv_config *cfg)
{
	gv_placement_opts p;

	if (!cfg->replication.placement_given)
		return 0;
	p = gv_store_placement(st);
	gv_config_placement_over(&p, cfg, NULL, 0);
	return gv_store_set_placement(st, &p);
}

static int get_token(gv_daemon *d, const gv_config *cfg, char *buf, const char **source)
{
	buf[0] = '\0';
	*source = "off";
	if (!d->opts.token)
		return 0;
	return d->opts.token(cfg, buf, TOKEN_MAX, source, d->opts.arg);
}

static int open_store(gv_daemon *d)
{
	gv_store_opts so = GV_STORE_OPTS_INIT;
	int err;

	so.data_dir = d->data_dir;
	so.create = 1;
	so.write_timeout_ms = d->cfg.replication.write_timeout_ms;
	so.hedge_after_ms = d->cfg.read.hedge_after_ms;
	so.block_size = d->cfg.integrity.block_size;
	if (d->cfg.index.path && *d->cfg.index.path)
		so.index_path = d->cfg.index.path;
	so.index_backend = d->cfg.index.backend;
	so.claim_ttl_ms = d->cfg.index.claim_ttl_ms;
	if ((err = gv_serve_lock(d->data_dir, &d->lock_fd)) < 0)
		return err;
	if ((err = gv_config_remote_apply(&d->cfg)) < 0)
		return err;
	if ((err = gv_store_open(&d->st, &so)) < 0 ||
	    (err = ensure_layout(d->st, &d->cfg, d->data_dir)) < 0)
		return err;
	if ((err = apply_placement(d->st, &d->cfg)) < 0)
		return gv_error_set(err, "placement settings: %s", gv_error_last());
	return 0;
}

static int start_server(gv_daemon *d, const char *host, unsigned port, const char *token)
{
	gv_server_opts vo = GV_SERVER_OPTS_INIT;
	const gv_config *cfg = &d->cfg;

	vo.host = host;
	vo.port = port;
	vo.auth_token = token[0] ? token : NULL;
	vo.max_body_size = cfg->server.max_body_size;
	vo.idle_timeout_ms = cfg->server.idle_timeout_ms;
	vo.max_connections = (unsigned)cfg->server.max_connections;
	vo.max_connections_per_address = (unsigned)cfg->server.max_connections_per_address;
	vo.header_timeout_ms = cfg->server.header_timeout_ms;
	vo.shutdown_grace_ms = cfg->server.shutdown_grace_ms;
	vo.node_token = cfg->node.token;
	vo.read_only_token = cfg->server.read_only_token;
	vo.readyz_auth = cfg->server.readyz_auth;
	vo.tls_cert = cfg->server.tls_cert;
	vo.tls_key = cfg->server.tls_key;
	vo.dashboard_interval_ms = cfg->server.dashboard_interval_ms;
	raise_nofile(vo.max_connections);
	/* A thread per connection: a pool size has no meaning. */
	if (cfg->server.threads != 8)
		gv_warn("event=deprecated key=graviton.server.threads note=\"ignored: the server "
		        "runs a thread per connection, bounded by graviton.server.max-connections\"");
	gv_config_repair_opts(&d->jrepair, cfg);
	gv_config_scrub_opts(&d->jscrub, cfg);
	gv_config_rebalance_opts(&d->jrebalance, cfg);
	vo.repair = &d->jrepair;
	vo.scrub = &d->jscrub;
	vo.rebalance = &d->jrebalance;
	d->jgc = (gv_gc_opts)GV_GC_OPTS_INIT;
	d->jgc.grace_ms = (int64_t)cfg->gc.grace_ms;
	d->jgc.upload_expiry_ms = (int64_t)cfg->gc.upload_expiry_ms;
	vo.gc = &d->jgc;
	return gv_server_start(&d->srv, d->st, &vo);
}

/* The configuration's S3 keys as the server takes them (pointers into cfg;
 * *bk holds the bucket lists). */
static int s3_keys(gv_s3_key **out, const char ***bk, const gv_config *cfg)
{
	size_t i, j, nb = 0;

	*out = NULL;
	*bk = NULL;
	for (i = 0; i < cfg->s3.nkeys; i++)
		nb += cfg->s3.keys[i].nbuckets;
	if (cfg->s3.nkeys && (!(*out = calloc(cfg->s3.nkeys, sizeof(**out))) ||
	                      !(*bk = calloc(nb ? nb : 1, sizeof(**bk))))) {
		free(*out);
		*out = NULL;
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	for (i = 0, nb = 0; i < cfg->s3.nkeys; i++) {
		const gv_config_s3_key *k = &cfg->s3.keys[i];

		(*out)[i].access_key = k->access_key;
		(*out)[i].secret_key = k->secret_key;
		(*out)[i].buckets = *bk + nb;
		(*out)[i].nbuckets = k->nbuckets;
		(*out)[i].read_only = k->read_only;
		for (j = 0; j < k->nbuckets; j++)
			(*bk)[nb++] = k->buckets[j];
	}
	return 0;
}

/* The S3 front door, when graviton.s3.enabled says so. */
static int start_s3(gv_daemon *d)
{
	gv_s3_opts so = GV_S3_OPTS_INIT;
	const gv_config *cfg = &d->cfg;
	const char **bk;
	gv_s3_key *keys;
	char host[256];
	unsigned port;
	int err;

	if (!cfg->s3.enabled)
		return 0;
	if ((err = gv_config_parse_listen(host, sizeof(host), &port, cfg->s3.listen)) < 0 ||
	    (err = s3_keys(&keys, &bk, cfg)) < 0)
		return err;
	so.host = host;
	so.port = port;
	so.region = cfg->s3.region;
	so.domain = cfg->s3.domain;
	so.keys = keys;
	so.nkeys = cfg->s3.nkeys;
	so.max_connections = (unsigned)cfg->server.max_connections;
	so.idle_timeout_ms = cfg->server.idle_timeout_ms;
	err = gv_s3_start(&d->s3, d->st, &so);
	free(keys);
	free(bk);
	if (err == 0)
		gv_warn("event=s3_listening url=http://%s%s%s:%u region=%s keys=%zu",
		        strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
		        gv_s3_port(d->s3), cfg->s3.region, cfg->s3.nkeys);
	return err;
}

int gv_daemon_start(gv_daemon **out, const gv_config *cfg, const gv_daemon_opts *opts)
{
	char host[256], token[TOKEN_MAX];
	const char *listen, *token_from;
	unsigned port;
	gv_daemon *d;
	int err;

	*out = NULL;
	if (!opts || !opts->data_dir || !*opts->data_dir)
		return gv_error_set(GV_EINVAL, "no data directory given");
	listen = opts->listen ? opts->listen : cfg->server.listen;
	if ((err = gv_config_parse_listen(host, sizeof(host), &port, listen)) < 0)
		return err;
	if (!(d = calloc(1, sizeof(*d))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->opts = *opts;
	d->lock_fd = -1;
	d->data_dir = strdup(opts->data_dir);
	if (!d->data_dir || gv_config_copy(&d->cfg, cfg) < 0) {
		gv_daemon_stop(d);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	if (opts->apply_log)
		opts->apply_log(cfg, opts->arg);
	if ((err = check_listen(host, port)) < 0 || (err = open_store(d)) < 0 ||
	    (err = get_token(d, cfg, token, &token_from)) < 0 ||
	    (err = start_server(d, host, port, token)) < 0 || (err = start_s3(d)) < 0 ||
	    (err = start_loops(d->loops, d->st, cfg)) < 0) {
		char msg[512];

		/* Stopping logs and may set errors of its own: keep this one. */
		snprintf(msg, sizeof(msg), "%s", gv_error_last());
		explicit_bzero(token, sizeof(token));
		gv_daemon_stop(d);
		return gv_error_set(err, "%s", msg);
	}
	gv_info("event=listening url=%s://%s%s%s:%u data_dir=%s auth=%s token_from=%s repair=%s "
	        "scrub=%s presence=%s rebalance=%s",
	        cfg->server.tls_cert[0] ? "https" : "http", strchr(host, ':') ? "[" : "", host,
	        strchr(host, ':') ? "]" : "", gv_server_port(d->srv), d->data_dir, token[0] ? "on" : "off", token_from,
	        cfg->replication.repair.enabled ? "on" : "off",
	        cfg->replication.scrub.enabled ? "on" : "off",
	        cfg->replication.scrub.presence_interval_ms > 0 ? "on" : "off",
	        cfg->replication.rebalance.enabled ? "on" : "off");
	auth_warning(token);
	explicit_bzero(token, sizeof(token));
	*out = d;
	return 0;
}

unsigned gv_daemon_port(const gv_daemon *d)
{
	return gv_server_port(d->srv);
}

int gv_daemon_reload(gv_daemon *d, const gv_config *cfg)
{
	char token[TOKEN_MAX];
	const char *token_from;
	gv_config fresh;
	int err;

	if (gv_config_copy(&fresh, cfg) < 0)
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_lock(&d->lock);
	if ((err = get_token(d, &fresh, token, &token_from)) < 0) {
		pthread_mutex_unlock(&d->lock);
		gv_config_free(&fresh);
		return gv_error_set(err, "no token; keeping the running configuration: %s",
		                    gv_error_last());
	}
	if (d->opts.apply_log)
		d->opts.apply_log(&fresh, d->opts.arg);
	gv_server_set_token(d->srv, token[0] ? token : NULL);
	gv_server_set_node_token(d->srv, fresh.node.token);
	gv_server_set_read_only_token(d->srv, fresh.server.read_only_token);
	gv_config_remote_apply(&fresh);
	auth_warning(token);
	explicit_bzero(token, sizeof(token));
	if (apply_placement(d->st, &fresh) < 0)
		gv_errlog("event=reload placement=rejected reason=\"%s\"", gv_error_last());
	stop_loops(d->loops);
	err = start_loops(d->loops, d->st, &fresh);
	if (strcmp(fresh.server.listen, d->cfg.server.listen) != 0)
		gv_warn("event=reload note=\"a new listen address takes a restart\"");
	if (d->s3) {
		const char **bk;
		gv_s3_key *keys;

		/* New keys apply to the next request; the listener stays. */
		if (s3_keys(&keys, &bk, &fresh) == 0) {
			gv_s3_set_keys(d->s3, keys, fresh.s3.nkeys);
			free(keys);
			free(bk);
		}
	}
	if (fresh.s3.enabled != d->cfg.s3.enabled || strcmp(fresh.s3.listen, d->cfg.s3.listen) != 0)
		gv_warn("event=reload note=\"starting, stopping or moving the S3 listener takes a restart\"");
	gv_config_free(&d->cfg);
	d->cfg = fresh;
	pthread_mutex_unlock(&d->lock);
	return err;
}

void gv_daemon_stop(gv_daemon *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	/* Stop accepting and finish what is in flight, then the loops. */
	gv_s3_stop(d->s3);
	gv_server_stop(d->srv);
	stop_loops(d->loops);
	gv_store_free(d->st);
	gv_serve_unlock(d->lock_fd);
	gv_config_free(&d->cfg);
	free(d->data_dir);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_destroy(&d->lock);
	free(d);
}
