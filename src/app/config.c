/*
 * config.c - the typed Graviton configuration on top of the HOCON reader.
 *
 * One table (`keys`) lists every setting with its path, type, default and
 * range; defaults, loading, validation, copying, comparing and dumping are
 * all driven by it, so adding a key is one line here plus its
 * documentation (docs/configuration.md, graviton.conf.example).
 * graviton.sectors, an array of objects, has its own small table.
 *
 * Loading parses the text (hocon.c), lays each key over a copy of the
 * current configuration, validates the result and only then swaps it in.
 * Errors carry the position of the offending key or value; a rule that
 * involves two keys points at the one this file set.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graviton/config.h"
#include "graviton/namespace.h"
#include "graviton/sys/index.h"
#include "graviton/sys/sector.h"
#include "core/hocon.h"

#define KiB 1024ULL
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)
#define TiB (1024ULL * GiB)

#define PATH_MSG 256          /* longest key path handled in messages */
#define MAX_SECTORS 4096      /* entries in graviton.sectors */

enum kind {
	K_OBJECT,
	K_STRING,
	K_INT,
	K_BOOL,
	K_DURATION,
	K_SIZE,
	K_FRACTION,
	K_STRATEGY,
	K_LOG_LEVEL,
	K_LOG_FORMAT,
	K_SECTORS,
	K_S3KEYS,
};

#define F_EMPTY_OK 0x01 /* "" (or null) is allowed */
#define F_LISTEN 0x02   /* HOST:PORT */
#define F_TOKEN 0x04    /* printable ASCII, no spaces */
#define F_BACKEND 0x08  /* a known index backend */
#define F_GT_MIN 0x10   /* fraction: strictly greater than dmin */
#define F_LT_MAX 0x20   /* fraction: strictly less than dmax */
#define F_SECRET 0x40   /* hidden by GV_CONFIG_DUMP_REDACT */
#define F_OFF_OK 0x80   /* duration: off (or 0) disables */
#define F_URL 0x100     /* an index URL: its password hidden by GV_CONFIG_DUMP_REDACT */

struct key {
	const char *path;
	enum kind kind;
	size_t off;
	unsigned flags;
	const char *def_str;
	int64_t def_int;      /* INT, BOOL, enums, DURATION, SIZE */
	double def_double;
	int64_t min, max;     /* INT; DURATION uses min only, SIZE max when not 0 */
	double dmin, dmax;    /* FRACTION */
};

#define OFF(f) offsetof(gv_config, f)
#define OBJ(p) { .path = p, .kind = K_OBJECT }
#define STR(p, f, d, fl) { .path = p, .kind = K_STRING, .off = OFF(f), .def_str = d, .flags = fl }
#define INT(p, f, d, lo, hi) \
	{ .path = p, .kind = K_INT, .off = OFF(f), .def_int = d, .min = lo, .max = hi }
#define BOOL(p, f, d) { .path = p, .kind = K_BOOL, .off = OFF(f), .def_int = d }
#define DUR(p, f, d) { .path = p, .kind = K_DURATION, .off = OFF(f), .def_int = d, .min = 1 }
#define DUR_OFF(p, f, d) \
	{ .path = p, .kind = K_DURATION, .off = OFF(f), .def_int = d, .flags = F_OFF_OK }
#define SIZE(p, f, d, lo) { .path = p, .kind = K_SIZE, .off = OFF(f), .def_int = d, .min = lo }
#define SIZE_IN(p, f, d, lo, hi) \
	{ .path = p, .kind = K_SIZE, .off = OFF(f), .def_int = d, .min = lo, .max = hi }
#define FRAC(p, f, d, lo, hi, fl) \
	{ .path = p, .kind = K_FRACTION, .off = OFF(f), .def_double = d, .dmin = lo, \
	  .dmax = hi, .flags = fl }
#define ENUM(p, k, f, d) { .path = p, .kind = k, .off = OFF(f), .def_int = d }

/* Dump order is table order; an object's keys follow it. */
static const struct key keys[] = {
	OBJ("graviton"),
	STR("graviton.data-dir", data_dir, "./graviton-data", 0),
	OBJ("graviton.index"),
	STR("graviton.index.backend", index.backend, "sqlite", F_BACKEND),
	STR("graviton.index.path", index.path, "", F_EMPTY_OK | F_URL),
	STR("graviton.index.url", index.url, "", F_EMPTY_OK | F_URL),
	DUR("graviton.index.claim-ttl", index.claim_ttl_ms, 60000),
	{ .path = "graviton.sectors", .kind = K_SECTORS },
	OBJ("graviton.server"),
	STR("graviton.server.listen", server.listen, "127.0.0.1:8787", F_LISTEN),
	BOOL("graviton.server.auth", server.auth, 1),
	STR("graviton.server.auth-token", server.auth_token, "", F_EMPTY_OK | F_TOKEN | F_SECRET),
	SIZE("graviton.server.max-body-size", server.max_body_size, 10 * GiB, 1),
	INT("graviton.server.threads", server.threads, 8, 1, 1024),
	DUR("graviton.server.idle-timeout", server.idle_timeout_ms, 60000),
	INT("graviton.server.max-connections", server.max_connections, 1024, 1, 65536),
	INT("graviton.server.max-connections-per-address", server.max_connections_per_address,
	    128, 1, 65536),
	DUR("graviton.server.header-timeout", server.header_timeout_ms, 10000),
	DUR("graviton.server.shutdown-grace", server.shutdown_grace_ms, 10000),
	STR("graviton.server.read-only-token", server.read_only_token, "",
	    F_EMPTY_OK | F_TOKEN | F_SECRET),
	BOOL("graviton.server.readyz-auth", server.readyz_auth, 0),
	DUR("graviton.server.dashboard-interval", server.dashboard_interval_ms, 10000),
	OBJ("graviton.server.tls"),
	STR("graviton.server.tls.cert", server.tls_cert, "", F_EMPTY_OK),
	STR("graviton.server.tls.key", server.tls_key, "", F_EMPTY_OK),
	OBJ("graviton.node"),
	STR("graviton.node.token", node.token, "", F_EMPTY_OK | F_TOKEN | F_SECRET),
	OBJ("graviton.s3"),
	BOOL("graviton.s3.enabled", s3.enabled, 0),
	STR("graviton.s3.listen", s3.listen, "127.0.0.1:8789", F_LISTEN),
	STR("graviton.s3.region", s3.region, "us-east-1", 0),
	STR("graviton.s3.domain", s3.domain, "localhost", 0),
	{ .path = "graviton.s3.keys", .kind = K_S3KEYS },
	SIZE_IN("graviton.s3.multipart-threshold", s3.multipart_threshold, 64 * MiB, 5 * MiB,
	        5 * GiB),
	SIZE_IN("graviton.s3.part-size", s3.part_size, 16 * MiB, 5 * MiB, 5 * GiB),
	DUR("graviton.s3.connect-timeout", s3.connect_timeout_ms, 5000),
	DUR("graviton.s3.request-timeout", s3.request_timeout_ms, 60000),
	INT("graviton.s3.retries", s3.retries, 5, 0, 20),
	SIZE("graviton.s3.scrub-max-bytes-per-second", s3.scrub_max_bytes_per_second, 0, 0),
	OBJ("graviton.remote"),
	DUR("graviton.remote.connect-timeout", remote.connect_timeout_ms, 5000),
	DUR("graviton.remote.request-timeout", remote.request_timeout_ms, 60000),
	INT("graviton.remote.retries", remote.retries, 3, 0, 10),
	STR("graviton.remote.staging-dir", remote.staging_dir, "", F_EMPTY_OK),
	OBJ("graviton.health"),
	DUR("graviton.health.interval", health.interval_ms, 5000),
	DUR("graviton.health.down-after", health.down_after_ms, 30000),
	DUR("graviton.health.up-after", health.up_after_ms, 10000),
	OBJ("graviton.log"),
	ENUM("graviton.log.level", K_LOG_LEVEL, log.level, GV_LOG_INFO),
	ENUM("graviton.log.format", K_LOG_FORMAT, log.format, GV_LOG_FORMAT_TEXT),
	OBJ("graviton.read"),
	DUR_OFF("graviton.read.hedge-after", read.hedge_after_ms, 0),
	OBJ("graviton.integrity"),
	SIZE_IN("graviton.integrity.block-size", integrity.block_size, 1 << 20, 4096, 64 << 20),
	OBJ("graviton.replication"),
	INT("graviton.replication.factor", replication.factor, 3, 1, GV_MAX_REPLICAS),
	INT("graviton.replication.min-replicas", replication.min_replicas, 2, 1,
	    GV_MAX_REPLICAS),
	ENUM("graviton.replication.strategy", K_STRATEGY, replication.strategy,
	     GV_STRATEGY_RACK_AWARE),
	INT("graviton.replication.min-racks", replication.min_racks, 2, 1, 1000),
	INT("graviton.replication.min-zones", replication.min_zones, 2, 1, 1000),
	DUR("graviton.replication.write-timeout", replication.write_timeout_ms, 30000),
	OBJ("graviton.replication.repair"),
	BOOL("graviton.replication.repair.enabled", replication.repair.enabled, 1),
	DUR("graviton.replication.repair.interval", replication.repair.interval_ms, 300000),
	BOOL("graviton.replication.repair.full-scan", replication.repair.full_scan, 1),
	INT("graviton.replication.repair.parallel-jobs", replication.repair.parallel_jobs, 4, 1, 1024),
	INT("graviton.replication.repair.batch-size", replication.repair.batch_size, 100, 1, 1000000),
	SIZE("graviton.replication.repair.max-bytes-per-second",
	     replication.repair.max_bytes_per_second, 0, 0),
	INT("graviton.replication.repair.max-attempts", replication.repair.max_attempts, 8, 1,
	    1000000),
	DUR("graviton.replication.repair.backoff-base", replication.repair.backoff_base_ms, 1000),
	DUR("graviton.replication.repair.backoff-max", replication.repair.backoff_max_ms, 3600000),
	OBJ("graviton.replication.scrub"),
	BOOL("graviton.replication.scrub.enabled", replication.scrub.enabled, 1),
	DUR("graviton.replication.scrub.interval", replication.scrub.interval_ms, 604800000),
	INT("graviton.replication.scrub.parallel-reads", replication.scrub.parallel_reads, 8, 1, 1024),
	INT("graviton.replication.scrub.batch-size", replication.scrub.batch_size, 100, 1, 1000000),
	SIZE("graviton.replication.scrub.max-bytes-per-second",
	     replication.scrub.max_bytes_per_second, 0, 0),
	DUR_OFF("graviton.replication.scrub.presence-interval",
	        replication.scrub.presence_interval_ms, 3600000),
	OBJ("graviton.replication.reclaim"),
	BOOL("graviton.replication.reclaim.enabled", replication.reclaim.enabled, 1),
	DUR("graviton.replication.reclaim.interval", replication.reclaim.interval_ms, 600000),
	DUR("graviton.replication.reclaim.grace", replication.reclaim.grace_ms, 3600000),
	OBJ("graviton.replication.rebalance"),
	BOOL("graviton.replication.rebalance.enabled", replication.rebalance.enabled, 1),
	FRAC("graviton.replication.rebalance.threshold", replication.rebalance.threshold, 0.1,
	     0.0, 1.0, F_GT_MIN),
	INT("graviton.replication.rebalance.max-moves-per-run",
	    replication.rebalance.max_moves_per_run, 100, 1, 1000000),
	FRAC("graviton.replication.rebalance.high-water", replication.rebalance.high_water, 0.9,
	     0.0, 1.0, F_GT_MIN),
	FRAC("graviton.replication.rebalance.low-water", replication.rebalance.low_water, 0.5,
	     0.0, 1.0, F_LT_MAX),
	OBJ("graviton.gc"),
	BOOL("graviton.gc.enabled", gc.enabled, 1),
	DUR("graviton.gc.interval", gc.interval_ms, 600000),
	DUR("graviton.gc.grace", gc.grace_ms, GV_GC_GRACE_DEFAULT_MS),
	DUR_OFF("graviton.gc.upload-expiry", gc.upload_expiry_ms, 86400000),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

enum skind { S_ID, S_PATH, S_SIZE, S_OPT_ID };

struct skey {
	const char *name;
	enum skind kind;
	size_t off, cap;
};

#define SOFF(f) offsetof(gv_config_sector, f), sizeof(((gv_config_sector *)0)->f)

static const struct skey sector_keys[] = {
	{ "id", S_ID, SOFF(id) },
	{ "path", S_PATH, SOFF(path) },
	{ "capacity", S_SIZE, offsetof(gv_config_sector, capacity), 0 },
	{ "rack", S_OPT_ID, SOFF(rack) },
	{ "zone", S_OPT_ID, SOFF(zone) },
	{ "url", S_PATH, SOFF(url) },
	{ "remote-sector", S_OPT_ID, SOFF(remote_sector) },
	{ "s3", S_PATH, SOFF(s3) },
	{ "endpoint", S_PATH, SOFF(endpoint) },
	{ "region", S_OPT_ID, SOFF(region) },
	{ "style", S_PATH, SOFF(style) },
	{ "access-key", S_PATH, SOFF(access_key) },
	{ "secret-key", S_PATH, SOFF(secret_key) },
	{ "session-token", S_PATH, SOFF(session_token) },
};

#define NSKEYS (sizeof(sector_keys) / sizeof(sector_keys[0]))

static const char *const strategy_names[] = { "simple", "rack-aware", "zone-aware" };
static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const format_names[] = { "text", "json" };
static const char *const backend_names[] = { "sqlite", "postgresql", "postgres" };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- field access ------------------------------------------------------- */

static char **str_at(gv_config *c, const struct key *k)
{
	return (char **)(void *)((char *)c + k->off);
}

static const char *cstr_at(const gv_config *c, const struct key *k)
{
	return *(char *const *)(const void *)((const char *)c + k->off);
}

static int *int_at(gv_config *c, const struct key *k)
{
	return (int *)(void *)((char *)c + k->off);
}

static int cint_at(const gv_config *c, const struct key *k)
{
	return *(const int *)(const void *)((const char *)c + k->off);
}

static uint64_t *u64_at(gv_config *c, const struct key *k)
{
	return (uint64_t *)(void *)((char *)c + k->off);
}

static uint64_t cu64_at(const gv_config *c, const struct key *k)
{
	return *(const uint64_t *)(const void *)((const char *)c + k->off);
}

static double *dbl_at(gv_config *c, const struct key *k)
{
	return (double *)(void *)((char *)c + k->off);
}

static double cdbl_at(const gv_config *c, const struct key *k)
{
	return *(const double *)(const void *)((const char *)c + k->off);
}

/* Enums are stored in their own enum types; read and write them as such. */
static int enum_get(const gv_config *c, const struct key *k)
{
	const void *p = (const char *)c + k->off;

	switch (k->kind) {
	case K_STRATEGY: return (int)*(const gv_strategy *)p;
	case K_LOG_LEVEL: return (int)*(const gv_log_level *)p;
	case K_LOG_FORMAT: return (int)*(const gv_log_format *)p;
	default: return 0;
	}
}

static void enum_set(gv_config *c, const struct key *k, int v)
{
	void *p = (char *)c + k->off;

	switch (k->kind) {
	case K_STRATEGY: *(gv_strategy *)p = (gv_strategy)v; break;
	case K_LOG_LEVEL: *(gv_log_level *)p = (gv_log_level)v; break;
	case K_LOG_FORMAT: *(gv_log_format *)p = (gv_log_format)v; break;
	default: break;
	}
}

static const char *const *enum_names(enum kind kind, size_t *n)
{
	switch (kind) {
	case K_STRATEGY: *n = COUNT(strategy_names); return strategy_names;
	case K_LOG_LEVEL: *n = COUNT(level_names); return level_names;
	case K_LOG_FORMAT: *n = COUNT(format_names); return format_names;
	default: *n = 0; return NULL;
	}
}

static int is_string_kind(const struct key *k)
{
	return k->kind == K_STRING;
}

/* ---- init, free, copy, equal ------------------------------------------- */

void gv_config_free(gv_config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < NKEYS; i++)
		if (is_string_kind(&keys[i]))
			free(*str_at(c, &keys[i]));
	free(c->sectors);
	if (c->s3.keys)
		explicit_bzero(c->s3.keys, c->s3.nkeys * sizeof(*c->s3.keys));
	free(c->s3.keys);
	memset(c, 0, sizeof(*c));
}

int gv_config_init(gv_config *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		switch (k->kind) {
		case K_STRING:
			if (!(*str_at(c, k) = strdup(k->def_str))) {
				gv_config_free(c);
				return gv_error_set(GV_ENOMEM, "out of memory");
			}
			break;
		case K_INT:
		case K_BOOL:
			*int_at(c, k) = (int)k->def_int;
			break;
		case K_DURATION:
		case K_SIZE:
			*u64_at(c, k) = (uint64_t)k->def_int;
			break;
		case K_FRACTION:
			*dbl_at(c, k) = k->def_double;
			break;
		case K_STRATEGY:
		case K_LOG_LEVEL:
		case K_LOG_FORMAT:
			enum_set(c, k, (int)k->def_int);
			break;
		case K_OBJECT:
		case K_SECTORS:
		case K_S3KEYS:
			break;
		}
	}
	return 0;
}

int gv_config_copy(gv_config *out, const gv_config *src)
{
	size_t i;

	memcpy(out, src, sizeof(*out));
	for (i = 0; i < NKEYS; i++)
		if (is_string_kind(&keys[i]))
			*str_at(out, &keys[i]) = NULL;
	out->sectors = NULL;
	out->s3.keys = NULL;
	for (i = 0; i < NKEYS; i++) {
		const char *s;

		if (!is_string_kind(&keys[i]))
			continue;
		s = cstr_at(src, &keys[i]);
		if (s && !(*str_at(out, &keys[i]) = strdup(s)))
			goto nomem;
	}
	if (src->nsectors) {
		out->sectors = malloc(src->nsectors * sizeof(*out->sectors));
		if (!out->sectors)
			goto nomem;
		memcpy(out->sectors, src->sectors, src->nsectors * sizeof(*out->sectors));
	}
	if (src->s3.nkeys) {
		out->s3.keys = malloc(src->s3.nkeys * sizeof(*out->s3.keys));
		if (!out->s3.keys)
			goto nomem;
		memcpy(out->s3.keys, src->s3.keys, src->s3.nkeys * sizeof(*out->s3.keys));
	}
	return 0;
nomem:
	gv_config_free(out);
	return gv_error_set(GV_ENOMEM, "out of memory");
}

static int streq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

int gv_config_equal(const gv_config *a, const gv_config *b)
{
	size_t i, j;

	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		switch (k->kind) {
		case K_STRING:
			if (!streq(cstr_at(a, k), cstr_at(b, k)))
				return 0;
			break;
		case K_INT:
		case K_BOOL:
			if (cint_at(a, k) != cint_at(b, k))
				return 0;
			break;
		case K_DURATION:
		case K_SIZE:
			if (cu64_at(a, k) != cu64_at(b, k))
				return 0;
			break;
		case K_FRACTION:
			if (cdbl_at(a, k) != cdbl_at(b, k))
				return 0;
			break;
		case K_STRATEGY:
		case K_LOG_LEVEL:
		case K_LOG_FORMAT:
			if (enum_get(a, k) != enum_get(b, k))
				return 0;
			break;
		case K_OBJECT:
			break;
		case K_SECTORS:
			if (a->nsectors != b->nsectors)
				return 0;
			for (j = 0; j < a->nsectors; j++) {
				const gv_config_sector *x = &a->sectors[j], *y = &b->sectors[j];

				if (strcmp(x->id, y->id) || strcmp(x->path, y->path) ||
				    x->capacity != y->capacity || strcmp(x->rack, y->rack) ||
				    strcmp(x->zone, y->zone))
					return 0;
			}
			break;
		case K_S3KEYS:
			if (a->s3.nkeys != b->s3.nkeys ||
			    (a->s3.nkeys &&
			     memcmp(a->s3.keys, b->s3.keys, a->s3.nkeys * sizeof(*a->s3.keys)) != 0))
				return 0;
			break;
		}
	}
	return 1;
}

/* ---- messages ----------------------------------------------------------- */

/* Format a key path for a message; a path too long is cut short. */
static void pathf(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pathf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* The value at a message path such as graviton.sectors[2].id, or NULL. */
static const gv_hocon_value *find_path(const gv_hocon_value *root, const char *path)
{
	const gv_hocon_value *v = root;
	const char *p = path;

	while (v && *p) {
		const gv_hocon_field *f;
		char seg[PATH_MSG];
		size_t n = strcspn(p, ".[");

		if (n >= sizeof(seg))
			return NULL;
		if (n) {
			memcpy(seg, p, n);
			seg[n] = '\0';
			if (!(f = gv_hocon_find(v, seg)))
				return NULL;
			v = f->value;
			p += n;
		}
		while (*p == '[') {
			char *end;
			unsigned long idx = strtoul(p + 1, &end, 10);

			if (*end != ']' || v->type != GV_HOCON_ARRAY || idx >= v->nitems)
				return NULL;
			v = v->items[idx];
			p = end + 1;
		}
		if (*p == '.')
			p++;
	}
	return v;
}

struct vctx {
	const char *name;            /* NULL when validating a config built in code */
	const gv_hocon_value *root;  /* NULL likewise */
};

static int verr_at(const char *name, unsigned line, unsigned col, const char *path,
                   const char *fmt, va_list ap)
{
	char msg[384];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (name && line)
		return gv_error_set(GV_EINVAL, "%s:%u:%u: %s: %s", name, line, col, path, msg);
	if (name)
		return gv_error_set(GV_EINVAL, "%s: %s: %s", name, path, msg);
	return gv_error_set(GV_EINVAL, "%s: %s", path, msg);
}

/* A problem with the value at `path`, located when this file set it. */
static int vfail(const struct vctx *V, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vfail(const struct vctx *V, const char *path, const char *fmt, ...)
{
	const gv_hocon_value *v = V->root ? find_path(V->root, path) : NULL;
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = verr_at(V->name, v ? v->line : 0, v ? v->col : 0, path, fmt, ap);
	va_end(ap);
	return err;
}

/* A problem with value v (read from the file) at `path`. */
static int verr(const char *name, const gv_hocon_value *v, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int verr(const char *name, const gv_hocon_value *v, const char *path,
                const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = verr_at(name, v->line, v->col, path, fmt, ap);
	va_end(ap);
	return err;
}

/* ---- unknown keys ------------------------------------------------------- */

static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[PATH_MSG + 1];

	if (lb > PATH_MSG)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static const char *leaf_of(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

static size_t parent_len(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? (size_t)(dot - path) : 0;
}

/*
 * Closest known key to `path` among cands: the same name elsewhere (a key
 * put in the wrong object), else a small edit distance, else a key of the
 * same object that starts with what was written.
 */
static const char *closest(const char *path, const char *const *cands, size_t n)
{
	const char *leaf = leaf_of(path), *best = NULL;
	size_t i, d, bestd = (size_t)-1, limit, pl = parent_len(path), ll = strlen(leaf);

	if (strlen(path) > PATH_MSG / 2)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strcmp(leaf_of(cands[i]), leaf) != 0)
			continue;
		d = levenshtein(path, cands[i]);
		if (d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	if (best)
		return best;
	limit = ll / 3 > 2 ? ll / 3 : 2;
	for (i = 0; i < n; i++) {
		d = levenshtein(path, cands[i]);
		if (d <= limit && d < bestd) {
			bestd = d;
			best = cands[i];
		}
	}
	if (best || ll < 3)
		return best;
	for (i = 0; i < n; i++) {
		const char *cl = leaf_of(cands[i]);

		if (parent_len(cands[i]) == pl && strncmp(cands[i], path, pl) == 0 &&
		    strncmp(cl, leaf, ll) == 0)
			return cands[i];
	}
	return NULL;
}

static int unknown_key(const char *name, const gv_hocon_field *f, const char *path,
                       const char *const *cands, size_t n)
{
	const char *hint;

	if (memchr(f->key, '.', f->key_len))
		return gv_error_set(GV_EINVAL,
		                    "%s:%u:%u: unknown key %s (a quoted key's dots do not nest "
		                    "objects: drop the quotes)", name, f->line, f->col, path);
	hint = closest(path, cands, n);
	if (hint)
		return gv_error_set(GV_EINVAL, "%s:%u:%u: unknown key %s (did you mean %s?)", name,
		                    f->line, f->col, path, hint);
	return gv_error_set(GV_EINVAL, "%s:%u:%u: unknown key %s", name, f->line, f->col, path);
}

static int unknown_top_key(const char *name, const gv_hocon_field *f, const char *path)
{
	const char *cands[NKEYS];
	size_t i;

	for (i = 0; i < NKEYS; i++)
		cands[i] = keys[i].path;
	return unknown_key(name, f, path, cands, NKEYS);
}

/* ---- reading values ----------------------------------------------------- */

/* -?[0-9]+ into *out: 0; -1 not a whole number; -2 out of range. */
static int parse_int_text(int64_t *out, const char *s)
{
	int neg = 0;
	uint64_t v = 0, lim;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (lim - (uint64_t)(*s - '0')) / 10)
			return -2;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int get_int(const char *name, const gv_hocon_value *v, const char *path, int *out)
{
	char got[64];
	int64_t x;
	int r = -1;

	gv_hocon_describe(got, sizeof(got), v);
	if (v->type == GV_HOCON_NUMBER || v->type == GV_HOCON_STRING)
		r = parse_int_text(&x, v->str);
	if (r == -1 && v->type == GV_HOCON_NUMBER)
		return verr(name, v, path, "expected a whole number, got %s", got);
	if (r == -1)
		return verr(name, v, path, "expected a number, got %s", got);
	if (r == -2 || x < INT32_MIN || x > INT32_MAX)
		return verr(name, v, path, "%s is out of range", got);
	*out = (int)x;
	return 0;
}

static int get_bool(const char *name, const gv_hocon_value *v, const char *path, int *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	char got[64];
	size_t i;

	if (v->type == GV_HOCON_BOOL) {
		*out = v->boolean;
		return 0;
	}
	if (v->type == GV_HOCON_STRING) {
		for (i = 0; i < COUNT(yes); i++) {
			if (strcmp(v->str, yes[i]) == 0) {
				*out = 1;
				return 0;
			}
			if (strcmp(v->str, no[i]) == 0) {
				*out = 0;
				return 0;
			}
		}
	}
	return verr(name, v, path, "expected true or false, got %s",
	            gv_hocon_describe(got, sizeof(got), v));
}

/* A size or duration: a whole number in the base unit, or text with a unit. */
static int get_units(const char *name, const gv_hocon_value *v, const char *path,
                     uint64_t *out, int duration)
{
	char got[64];
	int64_t x;

	if (v->type == GV_HOCON_NUMBER && parse_int_text(&x, v->str) == 0 && x >= 0) {
		*out = (uint64_t)x;
		return 0;
	}
	if (v->type == GV_HOCON_STRING &&
	    (duration ? gv_duration_parse(out, v->str) : gv_size_parse(out, v->str)) == 0)
		return 0;
	gv_hocon_describe(got, sizeof(got), v);
	if (duration)
		return verr(name, v, path,
		            "expected a duration such as \"30 seconds\", \"5 minutes\" or \"7 days\" "
		            "(units ms, s, m, h, d), got %s", got);
	return verr(name, v, path,
	            "expected a size such as \"512MB\" or \"10 GiB\" (units B, KB, MB, GB, TB, "
	            "KiB, MiB, GiB, TiB), got %s", got);
}

static int get_double(const char *name, const gv_hocon_value *v, const char *path, double *out)
{
	char got[64], *end;
	const char *s;
	double d;

	if (v->type == GV_HOCON_NUMBER || v->type == GV_HOCON_STRING) {
		s = v->str;
		if ((*s == '-' || (*s >= '0' && *s <= '9')) && s[strspn(s, "0123456789.eE+-")] == '\0') {
			errno = 0;
			d = strtod(s, &end);
			if (*end == '\0' && errno == 0 && isfinite(d)) {
				*out = d;
				return 0;
			}
		}
	}
	return verr(name, v, path, "expected a number, got %s",
	            gv_hocon_describe(got, sizeof(got), v));
}

/* A string setting; numbers and booleans are taken as written (HOCON). */
static int get_string(const char *name, const gv_hocon_value *v, const char *path,
                      int empty_ok, const char **out)
{
	char got[64];

	switch (v->type) {
	case GV_HOCON_STRING:
	case GV_HOCON_NUMBER:
		*out = v->str;
		return 0;
	case GV_HOCON_BOOL:
		*out = v->boolean ? "true" : "false";
		return 0;
	case GV_HOCON_NULL:
		if (empty_ok) {
			*out = "";
			return 0;
		}
		break;
	default:
		break;
	}
	return verr(name, v, path, "expected a string, got %s",
	            gv_hocon_describe(got, sizeof(got), v));
}

static int get_choice(const char *name, const gv_hocon_value *v, const char *path,
                      const char *const *names, size_t n, int *out)
{
	char got[64], list[160] = "";
	const char *s;
	size_t i, used = 0;
	int err;

	if ((err = get_string(name, v, path, 0, &s)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	if (names == level_names && strcmp(s, "warning") == 0) {
		*out = GV_LOG_WARN;
		return 0;
	}
	for (i = 0; i < n && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
		                         i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	return verr(name, v, path, "expected %s, got %s", list,
	            gv_hocon_describe(got, sizeof(got), v));
}

/* ---- loading ------------------------------------------------------------ */

static int set_string(gv_config *c, const struct key *k, const char *s)
{
	char *dup = strdup(s);

	if (!dup)
		return gv_error_set(GV_ENOMEM, "out of memory");
	free(*str_at(c, k));
	*str_at(c, k) = dup;
	return 0;
}

static int apply_leaf(gv_config *c, const char *name, const struct key *k,
                      const gv_hocon_value *v, const char *path)
{
	const char *s;
	size_t n;
	int err, x = 0;

	switch (k->kind) {
	case K_STRING:
		if ((err = get_string(name, v, path, k->flags & F_EMPTY_OK, &s)) < 0)
			return err;
		return set_string(c, k, s);
	case K_INT:
		return get_int(name, v, path, int_at(c, k));
	case K_BOOL:
		return get_bool(name, v, path, int_at(c, k));
	case K_DURATION:
		if ((k->flags & F_OFF_OK) && ((v->type == GV_HOCON_BOOL && !v->boolean) ||
		                              (v->type == GV_HOCON_STRING && strcmp(v->str, "off") == 0))) {
			*u64_at(c, k) = 0;
			return 0;
		}
		return get_units(name, v, path, u64_at(c, k), 1);
	case K_SIZE:
		return get_units(name, v, path, u64_at(c, k), 0);
	case K_FRACTION:
		return get_double(name, v, path, dbl_at(c, k));
	case K_STRATEGY:
	case K_LOG_LEVEL:
	case K_LOG_FORMAT: {
		const char *const *names = enum_names(k->kind, &n);

		if ((err = get_choice(name, v, path, names, n, &x)) < 0)
			return err;
		enum_set(c, k, x);
		return 0;
	}
	case K_OBJECT:
	case K_SECTORS:
	case K_S3KEYS:
		break;
	}
	return 0;
}

/* Copy s into a fixed field of `cap` bytes. */
static int put_fixed(const char *name, const gv_hocon_value *v, const char *path,
                     char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap)
		return verr(name, v, path, "longer than %zu bytes", cap - 1);
	memcpy(dst, s, n + 1);
	return 0;
}

static int apply_sector(const char *name, const gv_hocon_value *obj, const char *ipath,
                        gv_config_sector *out)
{
	const char *cands[NSKEYS];
	char cbuf[NSKEYS][PATH_MSG / 2];
	char path[PATH_MSG], got[64];
	int have_id = 0, err;
	size_t i, j;

	if (obj->type != GV_HOCON_OBJECT)
		return verr(name, obj, ipath,
		            "expected an object such as { id = \"s1\", path = \"/srv/s1\" }, got %s",
		            gv_hocon_describe(got, sizeof(got), obj));
	for (j = 0; j < NSKEYS; j++) {
		pathf(cbuf[j], sizeof(cbuf[j]), "%s.%s", ipath, sector_keys[j].name);
		cands[j] = cbuf[j];
	}
	for (i = 0; i < obj->nfields; i++) {
		const gv_hocon_field *f = &obj->fields[i];
		const struct skey *sk = NULL;
		const char *s;

		pathf(path, sizeof(path), "%s.%s", ipath, f->key);
		for (j = 0; j < NSKEYS; j++)
			if (strcmp(f->key, sector_keys[j].name) == 0)
				sk = &sector_keys[j];
		if (!sk)
			return unknown_key(name, f, path, cands, NSKEYS);
		if (sk->kind == S_SIZE) {
			if ((err = get_units(name, f->value, path, &out->capacity, 0)) < 0)
				return err;
			continue;
		}
		if ((err = get_string(name, f->value, path, sk->kind != S_ID, &s)) < 0 ||
		    (err = put_fixed(name, f->value, path, (char *)out + sk->off, sk->cap, s)) < 0)
			return err;
		if (sk->kind == S_ID)
			have_id = 1;
	}
	if (!have_id)
		return verr(name, obj, ipath, "a sector needs an id");
	return 0;
}

static int apply_sectors(gv_config *c, const char *name, const gv_hocon_value *v,
                         const char *path)
{
	gv_config_sector *arr = NULL;
	char ipath[PATH_MSG], got[64];
	size_t i;
	int err;

	if (v->type != GV_HOCON_ARRAY)
		return verr(name, v, path, "expected an array of sectors [ { id = ..., path = ... } ], got %s",
		            gv_hocon_describe(got, sizeof(got), v));
	if (v->nitems > MAX_SECTORS)
		return verr(name, v, path, "more than %d sectors", MAX_SECTORS);
	if (v->nitems && !(arr = calloc(v->nitems, sizeof(*arr))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (i = 0; i < v->nitems; i++) {
		pathf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if ((err = apply_sector(name, v->items[i], ipath, &arr[i])) < 0) {
			free(arr);
			return err;
		}
	}
	free(c->sectors);
	c->sectors = arr;
	c->nsectors = v->nitems;
	return 0;
}

/* One entry of graviton.s3.keys: { access-key, secret-key, buckets, read-only }. */
static int apply_s3_key(const char *name, const gv_hocon_value *obj, const char *ipath,
                        gv_config_s3_key *out)
{
	static const char *const fields[] = { "access-key", "secret-key", "buckets", "read-only" };
	const char *cands[4];
	char cbuf[4][PATH_MSG / 2];
	char path[PATH_MSG], got[64];
	unsigned have = 0;
	size_t i, j;
	int err;

	if (obj->type != GV_HOCON_OBJECT)
		return verr(name, obj, ipath,
		            "expected an object such as { access-key = \"...\", secret-key = \"...\" }, "
		            "got %s", gv_hocon_describe(got, sizeof(got), obj));
	for (j = 0; j < 4; j++) {
		pathf(cbuf[j], sizeof(cbuf[j]), "%s.%s", ipath, fields[j]);
		cands[j] = cbuf[j];
	}
	for (i = 0; i < obj->nfields; i++) {
		const gv_hocon_field *f = &obj->fields[i];
		const gv_hocon_value *v = f->value;
		const char *s;

		pathf(path, sizeof(path), "%s.%s", ipath, f->key);
		for (j = 0; j < 4 && strcmp(f->key, fields[j]) != 0; j++)
			;
		if (j == 4)
			return unknown_key(name, f, path, cands, 4);
		have |= 1u << j;
		if (j == 0 || j == 1) {
			if ((err = get_string(name, v, path, 0, &s)) < 0 ||
			    (err = put_fixed(name, v, path, j == 0 ? out->access_key : out->secret_key,
			                     GV_CONFIG_S3_KEY_MAX, s)) < 0)
				return err;
		} else if (j == 3) {
			if ((err = get_bool(name, v, path, &out->read_only)) < 0)
				return err;
		} else {
			char bpath[PATH_MSG];

			if (v->type != GV_HOCON_ARRAY)
				return verr(name, v, path, "expected an array of bucket names such as [\"*\"], got %s",
				            gv_hocon_describe(got, sizeof(got), v));
			if (v->nitems > GV_CONFIG_S3_BUCKETS_MAX)
				return verr(name, v, path, "more than %d buckets", GV_CONFIG_S3_BUCKETS_MAX);
			for (out->nbuckets = 0; out->nbuckets < v->nitems; out->nbuckets++) {
				const gv_hocon_value *b = v->items[out->nbuckets];

				pathf(bpath, sizeof(bpath), "%s[%zu]", path, out->nbuckets);
				if ((err = get_string(name, b, bpath, 0, &s)) < 0 ||
				    (err = put_fixed(name, b, bpath, out->buckets[out->nbuckets],
				                     sizeof(out->buckets[0]), s)) < 0)
					return err;
			}
			if (!out->nbuckets)
				return verr(name, v, path, "a key needs at least one bucket (\"*\": all)");
		}
	}
	if ((have & 3) != 3)
		return verr(name, obj, ipath, "an S3 key needs access-key and secret-key");
	if (!(have & 4)) {
		strcpy(out->buckets[0], "*");
		out->nbuckets = 1;
	}
	return 0;
}

static int apply_s3_keys(gv_config *c, const char *name, const gv_hocon_value *v,
                         const char *path)
{
	gv_config_s3_key *arr = NULL;
	char ipath[PATH_MSG], got[64];
	size_t i;
	int err;

	if (v->type != GV_HOCON_ARRAY)
		return verr(name, v, path,
		            "expected an array of keys [ { access-key = ..., secret-key = ... } ], got %s",
		            gv_hocon_describe(got, sizeof(got), v));
	if (v->nitems > GV_CONFIG_S3_KEYS_MAX)
		return verr(name, v, path, "more than %d keys", GV_CONFIG_S3_KEYS_MAX);
	if (v->nitems && !(arr = calloc(v->nitems, sizeof(*arr))))
		return gv_error_set(GV_ENOMEM, "out of memory");
	for (i = 0; i < v->nitems; i++) {
		pathf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if ((err = apply_s3_key(name, v->items[i], ipath, &arr[i])) < 0) {
			explicit_bzero(arr, v->nitems * sizeof(*arr));
			free(arr);
			return err;
		}
	}
	if (c->s3.keys)
		explicit_bzero(c->s3.keys, c->s3.nkeys * sizeof(*c->s3.keys));
	free(c->s3.keys);
	c->s3.keys = arr;
	c->s3.nkeys = v->nitems;
	return 0;
}

static const struct key *find_key(const char *path)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].path, path) == 0)
			return &keys[i];
	return NULL;
}

/* The GV_CONFIG_GIVEN_* bit of a placement key, 0 for any other. */
static unsigned placement_bit(const char *path)
{
	static const char *const paths[] = {
		"graviton.replication.strategy", "graviton.replication.factor",
		"graviton.replication.min-replicas", "graviton.replication.min-racks",
		"graviton.replication.min-zones",
	};
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(path, paths[i]) == 0)
			return 1u << i;
	return 0;
}

static int apply_object(gv_config *c, const char *name, const gv_hocon_value *obj,
                        const char *prefix)
{
	char path[PATH_MSG], got[64];
	size_t i;
	int err, n;

	for (i = 0; i < obj->nfields; i++) {
		const gv_hocon_field *f = &obj->fields[i];
		const struct key *k;

		n = snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->key);
		k = n < (int)sizeof(path) && !memchr(f->key, '.', f->key_len) ? find_key(path) : NULL;
		if (!k)
			return unknown_top_key(name, f, path);
		if (k->kind == K_OBJECT) {
			if (f->value->type != GV_HOCON_OBJECT)
				return verr(name, f->value, path, "expected an object, got %s",
				            gv_hocon_describe(got, sizeof(got), f->value));
			err = apply_object(c, name, f->value, path);
		} else if (k->kind == K_SECTORS) {
			err = apply_sectors(c, name, f->value, path);
		} else if (k->kind == K_S3KEYS) {
			err = apply_s3_keys(c, name, f->value, path);
		} else {
			err = apply_leaf(c, name, k, f->value, path);
			c->replication.placement_given |= placement_bit(path);
		}
		if (err < 0)
			return err;
	}
	return 0;
}

/* ---- validation --------------------------------------------------------- */

int gv_config_parse_listen(char *host, size_t host_cap, unsigned *port, const char *listen)
{
	const char *h, *p, *colon, *close;
	size_t hl, i;
	unsigned long v;
	char *end;

	if (!listen || !*listen)
		return gv_error_set(GV_EINVAL, "listen address is empty (expected HOST:PORT)");
	if (listen[0] == '[') {
		close = strchr(listen, ']');
		if (!close)
			return gv_error_set(GV_EINVAL, "invalid listen address '%.100s': missing ']'",
			                    listen);
		h = listen + 1;
		hl = (size_t)(close - h);
		if (close[1] != ':')
			return gv_error_set(GV_EINVAL,
			                    "invalid listen address '%.100s': expected [IPV6]:PORT", listen);
		p = close + 2;
		if (!hl || !memchr(h, ':', hl) || strspn(h, "0123456789abcdefABCDEF:.") < hl)
			return gv_error_set(GV_EINVAL,
			                    "invalid listen address '%.100s': bad IPv6 address", listen);
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return gv_error_set(GV_EINVAL,
			                    "invalid listen address '%.100s': expected HOST:PORT, "
			                    "e.g. 127.0.0.1:8787", listen);
		h = listen;
		hl = (size_t)(colon - listen);
		p = colon + 1;
		if (memchr(h, ':', hl))
			return gv_error_set(GV_EINVAL,
			                    "invalid listen address '%.100s': write IPv6 addresses in "
			                    "brackets, e.g. [::1]:8787", listen);
		if (!hl)
			return gv_error_set(GV_EINVAL,
			                    "invalid listen address '%.100s': missing host (0.0.0.0 "
			                    "listens on every interface)", listen);
		for (i = 0; i < hl; i++) {
			char c = h[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
				return gv_error_set(GV_EINVAL,
				                    "invalid listen address '%.100s': bad host name", listen);
		}
		if (h[0] == '-' || h[0] == '.')
			return gv_error_set(GV_EINVAL,
			                    "invalid listen address '%.100s': bad host name", listen);
	}
	if (*p < '0' || *p > '9' || strlen(p) > 5)
		return gv_error_set(GV_EINVAL,
		                    "invalid listen address '%.100s': port must be a number from 1 "
		                    "to 65535", listen);
	v = strtoul(p, &end, 10);
	if (*end || v < 1 || v > 65535)
		return gv_error_set(GV_EINVAL,
		                    "invalid listen address '%.100s': port must be a number from 1 "
		                    "to 65535", listen);
	if (hl >= host_cap)
		return gv_error_set(GV_EINVAL, "invalid listen address '%.100s': host name too long",
		                    listen);
	if (host) {
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	if (port)
		*port = (unsigned)v;
	return 0;
}

static int check_string(const struct vctx *V, const struct key *k, const char *s)
{
	char host[256];
	size_t i;

	if (!s || (!*s && !(k->flags & F_EMPTY_OK)))
		return vfail(V, k->path, "must not be empty");
	if (strlen(s) >= GV_PATH_MAX && !(k->flags & F_TOKEN))
		return vfail(V, k->path, "longer than %d bytes", GV_PATH_MAX - 1);
	if ((k->flags & F_LISTEN) && gv_config_parse_listen(host, sizeof(host), NULL, s) < 0)
		return vfail(V, k->path, "%s", gv_error_last());
	if (k->flags & F_TOKEN) {
		if (strlen(s) > 4096)
			return vfail(V, k->path, "longer than 4096 bytes");
		for (i = 0; s[i]; i++)
			if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
				return vfail(V, k->path,
				             "must be printable ASCII without spaces (character %zu is not)",
				             i + 1);
	}
	if (k->flags & F_BACKEND) {
		for (i = 0; i < COUNT(backend_names); i++)
			if (strcmp(s, backend_names[i]) == 0)
				return 0;
		return vfail(V, k->path, "unknown index backend \"%.64s\" (known: sqlite, postgresql)", s);
	}
	return 0;
}

static int check_key(const struct vctx *V, const gv_config *c, const struct key *k)
{
	size_t n;
	double d;
	int x;

	switch (k->kind) {
	case K_STRING:
		return check_string(V, k, cstr_at(c, k));
	case K_INT:
		x = cint_at(c, k);
		if (x < k->min)
			return vfail(V, k->path, "must be at least %lld, got %d", (long long)k->min, x);
		if (x > k->max)
			return vfail(V, k->path, "must be at most %lld, got %d", (long long)k->max, x);
		return 0;
	case K_BOOL:
		x = cint_at(c, k);
		return x == 0 || x == 1 ? 0 : vfail(V, k->path, "must be true or false");
	case K_DURATION:
		return cu64_at(c, k) >= (uint64_t)k->min ? 0 : vfail(V, k->path, "must be longer than 0");
	case K_SIZE:
		if (cu64_at(c, k) < (uint64_t)k->min)
			return vfail(V, k->path, "must be at least %lld bytes", (long long)k->min);
		if (k->max && cu64_at(c, k) > (uint64_t)k->max)
			return vfail(V, k->path, "must be at most %lld bytes", (long long)k->max);
		return 0;
	case K_FRACTION:
		d = cdbl_at(c, k);
		if (!isfinite(d) || ((k->flags & F_GT_MIN) ? d <= k->dmin : d < k->dmin) ||
		    ((k->flags & F_LT_MAX) ? d >= k->dmax : d > k->dmax))
			return vfail(V, k->path, "must be %s %g and %s %g, got %g",
			             (k->flags & F_GT_MIN) ? "greater than" : "at least", k->dmin,
			             (k->flags & F_LT_MAX) ? "less than" : "at most", k->dmax, d);
		return 0;
	case K_STRATEGY:
	case K_LOG_LEVEL:
	case K_LOG_FORMAT:
		enum_names(k->kind, &n);
		x = enum_get(c, k);
		return x >= 0 && (size_t)x < n ? 0 : vfail(V, k->path, "unknown value %d", x);
	case K_OBJECT:
	case K_SECTORS:
	case K_S3KEYS:
		break;
	}
	return 0;
}

/* The first of the two paths this file set, else the second. */
static const char *blame(const struct vctx *V, const char *a, const char *b)
{
	return V->root && find_path(V->root, a) ? a : b;
}

static int check_sectors(const struct vctx *V, const gv_config *c)
{
	char path[PATH_MSG];
	size_t i, j;

	for (i = 0; i < c->nsectors; i++) {
		const gv_config_sector *s = &c->sectors[i];

		snprintf(path, sizeof(path), "graviton.sectors[%zu].id", i);
		if (gv_id_validate("sector id", s->id) < 0)
			return vfail(V, path, "%s", gv_error_last());
		snprintf(path, sizeof(path), "graviton.sectors[%zu].rack", i);
		if (s->rack[0] && gv_id_validate("rack", s->rack) < 0)
			return vfail(V, path, "%s", gv_error_last());
		snprintf(path, sizeof(path), "graviton.sectors[%zu].zone", i);
		if (s->zone[0] && gv_id_validate("zone", s->zone) < 0)
			return vfail(V, path, "%s", gv_error_last());
		for (j = 0; j < i; j++) {
			if (strcmp(c->sectors[j].id, s->id) == 0) {
				snprintf(path, sizeof(path), "graviton.sectors[%zu].id", i);
				return vfail(V, path, "duplicate sector id \"%s\" (also graviton.sectors[%zu])",
				             s->id, j);
			}
			if (s->path[0] && strcmp(c->sectors[j].path, s->path) == 0) {
				snprintf(path, sizeof(path), "graviton.sectors[%zu].path", i);
				return vfail(V, path,
				             "sectors %s and %s share the path \"%.200s\"",
				             c->sectors[j].id, s->id, s->path);
			}
		}
	}
	return 0;
}

/* Printable ASCII without spaces, at least `min` characters. */
static int s3_text_ok(const char *s, size_t min)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return i >= min;
}

/* A bucket pattern: "*" or an S3 bucket name (3..63 of [a-z0-9.-]). */
static int s3_bucket_ok(const char *b)
{
	size_t i, n = strlen(b);

	if (strcmp(b, "*") == 0)
		return 1;
	if (n < 3 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		      b[i] == '-'))
			return 0;
	return 1;
}

static int check_s3(const struct vctx *V, const gv_config *c)
{
	char path[PATH_MSG];
	size_t i, j;

	for (i = 0; i < c->s3.nkeys; i++) {
		const gv_config_s3_key *k = &c->s3.keys[i];

		pathf(path, sizeof(path), "graviton.s3.keys[%zu].access-key", i);
		if (!s3_text_ok(k->access_key, 3))
			return vfail(V, path, "must be at least 3 printable ASCII characters without spaces");
		for (j = 0; j < i; j++)
			if (strcmp(c->s3.keys[j].access_key, k->access_key) == 0)
				return vfail(V, path, "duplicate access key (also graviton.s3.keys[%zu])", j);
		pathf(path, sizeof(path), "graviton.s3.keys[%zu].secret-key", i);
		/* never the secret itself in a message */
		if (!s3_text_ok(k->secret_key, 8))
			return vfail(V, path, "must be at least 8 printable ASCII characters without spaces");
		for (j = 0; j < k->nbuckets; j++) {
			pathf(path, sizeof(path), "graviton.s3.keys[%zu].buckets[%zu]", i, j);
			if (!s3_bucket_ok(k->buckets[j]))
				return vfail(V, path, "\"%.64s\" is neither \"*\" nor a bucket name "
				             "(3 to 63 of a-z, 0-9, '.', '-')", k->buckets[j]);
		}
	}
	if (!c->s3.region[0] || strlen(c->s3.region) > 63 || !s3_text_ok(c->s3.region, 1))
		return vfail(V, "graviton.s3.region", "must be a region name such as \"us-east-1\"");
	if (c->s3.enabled && !c->s3.nkeys)
		return vfail(V, blame(V, "graviton.s3.keys", "graviton.s3.enabled"),
		             "the S3 front door needs at least one key in graviton.s3.keys "
		             "(anonymous requests are refused)");
	if (c->s3.enabled && strcmp(c->s3.listen, c->server.listen) == 0)
		return vfail(V, blame(V, "graviton.s3.listen", "graviton.server.listen"),
		             "the S3 listener needs an address of its own (graviton.server.listen is "
		             "\"%s\" too)", c->s3.listen);
	return 0;
}

static int validate(const struct vctx *V, const gv_config *c)
{
	const char *p;
	size_t i;
	int err;

	for (i = 0; i < NKEYS; i++)
		if ((err = check_key(V, c, &keys[i])) < 0)
			return err;
	if (c->replication.min_replicas > c->replication.factor) {
		p = blame(V, "graviton.replication.min-replicas", "graviton.replication.factor");
		return vfail(V, p, "min-replicas (%d) must not exceed factor (%d)",
		             c->replication.min_replicas, c->replication.factor);
	}
	if (c->replication.rebalance.low_water >= c->replication.rebalance.high_water) {
		p = blame(V, "graviton.replication.rebalance.low-water",
		          "graviton.replication.rebalance.high-water");
		return vfail(V, p, "low-water (%g) must be below high-water (%g)",
		             c->replication.rebalance.low_water, c->replication.rebalance.high_water);
	}
	if (c->health.down_after_ms < c->health.interval_ms) {
		p = blame(V, "graviton.health.down-after", "graviton.health.interval");
		return vfail(V, p, "down-after (%llu ms) must be at least the probe interval "
		             "(%llu ms)", (unsigned long long)c->health.down_after_ms,
		             (unsigned long long)c->health.interval_ms);
	}
	if ((err = check_sectors(V, c)) < 0)
		return err;
	return check_s3(V, c);
}

int gv_config_validate(const gv_config *c)
{
	struct vctx V = { NULL, NULL };

	return validate(&V, c);
}

int gv_config_load_buffer(gv_config *c, const char *name, const char *text, size_t len)
{
	gv_hocon_value *root = NULL, *current = NULL;
	gv_config tmp;
	struct vctx V;
	char *dump;
	int err;

	if (!name)
		name = "<string>";
	/* Substitutions may name any key, set in this text or not: the
	 * current settings are the fallback they resolve against. */
	if ((err = gv_config_dump(&dump, c, 0)) < 0)
		return err;
	err = gv_hocon_parse(&current, "<current settings>", dump, strlen(dump));
	free(dump);
	if (err < 0)
		return err;
	err = gv_hocon_parse_with_fallback(&root, name, text, len, current);
	gv_hocon_free(current);
	if (err < 0)
		return err;
	if ((err = gv_config_copy(&tmp, c)) < 0)
		goto out;
	V.name = name;
	V.root = root;
	if ((err = apply_object(&tmp, name, root, "")) < 0 || (err = validate(&V, &tmp)) < 0) {
		gv_config_free(&tmp);
		goto out;
	}
	gv_config_free(c);
	*c = tmp;
out:
	gv_hocon_free(root);
	return err;
}

int gv_config_load_string(gv_config *c, const char *name, const char *text)
{
	return gv_config_load_buffer(c, name, text, text ? strlen(text) : 0);
}

int gv_config_load_file(gv_config *c, const char *path)
{
	gv_hocon_buf b = GV_HOCON_BUF_INIT(GV_HOCON_MAX_INPUT);
	char chunk[16384];
	struct stat st;
	ssize_t n;
	int fd, err;

	if (!path || !*path)
		return gv_error_set(GV_EINVAL, "configuration file name is empty");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return gv_error_set_errno(GV_EIO, errno, "%s: cannot open", path);
	if (fstat(fd, &st) < 0) {
		err = gv_error_set_errno(GV_EIO, errno, "%s: cannot stat", path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = gv_error_set_errno(GV_EIO, EISDIR, "%s: cannot read", path);
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)GV_HOCON_MAX_INPUT) {
		err = gv_error_set(GV_EINVAL, "%s: larger than %u KiB", path, GV_HOCON_MAX_INPUT / 1024);
		goto out;
	}
	gv_hocon_buf_add(&b, "", 0);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = gv_error_set_errno(GV_EIO, errno, "%s: cannot read", path);
			goto out;
		}
		if (n == 0)
			break;
		if (gv_hocon_buf_add(&b, chunk, (size_t)n) < 0) {
			err = b.err == GV_EINVAL ? gv_error_set(GV_EINVAL, "%s: larger than %u KiB", path,
			                                        GV_HOCON_MAX_INPUT / 1024)
			                         : b.err;
			goto out;
		}
	}
	if (b.err) {
		err = b.err;
		goto out;
	}
	err = gv_config_load_buffer(c, path, b.ptr, b.len);
out:
	close(fd);
	gv_hocon_buf_free(&b);
	return err;
}

/* ---- dump --------------------------------------------------------------- */

static void put_duration(gv_hocon_buf *b, uint64_t ms)
{
	static const struct { uint64_t ms; const char *one, *many; } u[] = {
		{ 86400000, "day", "days" }, { 3600000, "hour", "hours" },
		{ 60000, "minute", "minutes" }, { 1000, "second", "seconds" },
	};
	size_t i;

	for (i = 0; ms && i < COUNT(u); i++) {
		if (ms % u[i].ms == 0) {
			gv_hocon_buf_printf(b, "%llu %s", (unsigned long long)(ms / u[i].ms),
			                    ms == u[i].ms ? u[i].one : u[i].many);
			return;
		}
	}
	gv_hocon_buf_printf(b, "%llu ms", (unsigned long long)ms);
}

static void put_size(gv_hocon_buf *b, uint64_t bytes)
{
	static const struct { uint64_t mult; const char *name; } u[] = {
		{ TiB, "TiB" }, { GiB, "GiB" }, { MiB, "MiB" }, { KiB, "KiB" },
	};
	size_t i;

	for (i = 0; bytes && i < COUNT(u); i++) {
		if (bytes % u[i].mult == 0) {
			gv_hocon_buf_printf(b, "%llu %s", (unsigned long long)(bytes / u[i].mult),
			                    u[i].name);
			return;
		}
	}
	gv_hocon_buf_printf(b, "%llu", (unsigned long long)bytes);
}

/* Shortest text that reads back as exactly d.  Like get_double this
 * assumes the C locale's decimal point; the library never calls setlocale. */
static void put_double(gv_hocon_buf *b, double d)
{
	char tmp[40];
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (!strpbrk(tmp, ".eE"))
		strcat(tmp, ".0");
	gv_hocon_buf_puts(b, tmp);
}

static void put_indent(gv_hocon_buf *b, size_t level)
{
	while (level--)
		gv_hocon_buf_puts(b, "  ");
}

static size_t depth_of(const char *path)
{
	size_t n = 0;

	for (; *path; path++)
		n += *path == '.';
	return n;
}

/* One "name = value" line of a sector; a secret is a comment when
 * redacted (what reads back must not be a wrong secret). */
static void put_sector_field(gv_hocon_buf *b, size_t level, const char *name, const char *v,
                             int hide)
{
	if (!*v)
		return;
	put_indent(b, level);
	if (hide) {
		gv_hocon_buf_printf(b, "# %s is set (hidden)\n", name);
		return;
	}
	gv_hocon_buf_printf(b, "%s = ", name);
	gv_hocon_buf_quoted(b, v, strlen(v));
	gv_hocon_buf_puts(b, "\n");
}

static void put_s3_sector(gv_hocon_buf *b, const gv_config_sector *s, size_t level,
                          unsigned flags)
{
	int hide = (flags & GV_CONFIG_DUMP_REDACT) != 0;

	put_sector_field(b, level, "s3", s->s3, 0);
	put_sector_field(b, level, "endpoint", s->endpoint, 0);
	put_sector_field(b, level, "region", s->region, 0);
	put_sector_field(b, level, "style", s->style, 0);
	put_sector_field(b, level, "access-key", s->access_key, 0);
	put_sector_field(b, level, "secret-key", s->secret_key, hide);
	put_sector_field(b, level, "session-token", s->session_token, hide);
}

static void put_sectors(gv_hocon_buf *b, const gv_config *c, size_t level, unsigned flags)
{
	size_t i;

	if (!c->nsectors) {
		gv_hocon_buf_puts(b, "sectors = []\n");
		return;
	}
	gv_hocon_buf_puts(b, "sectors = [\n");
	for (i = 0; i < c->nsectors; i++) {
		const gv_config_sector *s = &c->sectors[i];

		put_indent(b, level + 1);
		gv_hocon_buf_puts(b, "{\n");
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "id = ");
		gv_hocon_buf_quoted(b, s->id, strlen(s->id));
		gv_hocon_buf_puts(b, "\n");
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "path = ");
		gv_hocon_buf_quoted(b, s->path, strlen(s->path));
		gv_hocon_buf_puts(b, "\n");
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "capacity = ");
		put_size(b, s->capacity);
		gv_hocon_buf_puts(b, "\n");
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "rack = ");
		gv_hocon_buf_quoted(b, s->rack, strlen(s->rack));
		gv_hocon_buf_puts(b, "\n");
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "zone = ");
		gv_hocon_buf_quoted(b, s->zone, strlen(s->zone));
		gv_hocon_buf_puts(b, "\n");
		if (s->s3[0])
			put_s3_sector(b, s, level + 2, flags);
		put_indent(b, level + 1);
		gv_hocon_buf_puts(b, "}\n");
	}
	put_indent(b, level);
	gv_hocon_buf_puts(b, "]\n");
}

static void put_s3_keys(gv_hocon_buf *b, const gv_config *c, size_t level, unsigned flags)
{
	size_t i, j;

	if (!c->s3.nkeys) {
		gv_hocon_buf_puts(b, "keys = []\n");
		return;
	}
	gv_hocon_buf_puts(b, "keys = [\n");
	for (i = 0; i < c->s3.nkeys; i++) {
		const gv_config_s3_key *k = &c->s3.keys[i];

		put_indent(b, level + 1);
		gv_hocon_buf_puts(b, "{\n");
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "access-key = ");
		gv_hocon_buf_quoted(b, k->access_key, strlen(k->access_key));
		gv_hocon_buf_puts(b, "\n");
		put_indent(b, level + 2);
		if (flags & GV_CONFIG_DUMP_REDACT) {
			gv_hocon_buf_puts(b, "# secret-key is set (hidden)\n");
		} else {
			gv_hocon_buf_puts(b, "secret-key = ");
			gv_hocon_buf_quoted(b, k->secret_key, strlen(k->secret_key));
			gv_hocon_buf_puts(b, "\n");
		}
		put_indent(b, level + 2);
		gv_hocon_buf_puts(b, "buckets = [");
		for (j = 0; j < k->nbuckets; j++) {
			gv_hocon_buf_puts(b, j ? ", " : "");
			gv_hocon_buf_quoted(b, k->buckets[j], strlen(k->buckets[j]));
		}
		gv_hocon_buf_puts(b, "]\n");
		put_indent(b, level + 2);
		gv_hocon_buf_printf(b, "read-only = %s\n", k->read_only ? "true" : "false");
		put_indent(b, level + 1);
		gv_hocon_buf_puts(b, "}\n");
	}
	put_indent(b, level);
	gv_hocon_buf_puts(b, "]\n");
}

static void put_leaf(gv_hocon_buf *b, const gv_config *c, const struct key *k, unsigned flags)
{
	char shown[GV_INDEX_URL_SHOWN];
	const char *s;
	size_t n;

	switch (k->kind) {
	case K_STRING:
		s = cstr_at(c, k);
		if (!s)
			s = "";
		if ((k->flags & F_SECRET) && (flags & GV_CONFIG_DUMP_REDACT) && *s) {
			gv_hocon_buf_printf(b, "# %s is set (hidden)", leaf_of(k->path));
			break;
		}
		if ((k->flags & F_URL) && (flags & GV_CONFIG_DUMP_REDACT) &&
		    strcmp(gv_index_url_redact(shown, sizeof(shown), s), s) != 0) {
			/* A comment: what reads back must not be a wrong password. */
			gv_hocon_buf_printf(b, "# %s = ", leaf_of(k->path));
			gv_hocon_buf_quoted(b, shown, strlen(shown));
			gv_hocon_buf_puts(b, " (password hidden)");
			break;
		}
		gv_hocon_buf_printf(b, "%s = ", leaf_of(k->path));
		gv_hocon_buf_quoted(b, s, strlen(s));
		break;
	case K_INT:
		gv_hocon_buf_printf(b, "%s = %d", leaf_of(k->path), cint_at(c, k));
		break;
	case K_BOOL:
		gv_hocon_buf_printf(b, "%s = %s", leaf_of(k->path), cint_at(c, k) ? "true" : "false");
		break;
	case K_DURATION:
		gv_hocon_buf_printf(b, "%s = ", leaf_of(k->path));
		if ((k->flags & F_OFF_OK) && cu64_at(c, k) == 0)
			gv_hocon_buf_printf(b, "off");
		else
			put_duration(b, cu64_at(c, k));
		break;
	case K_SIZE:
		gv_hocon_buf_printf(b, "%s = ", leaf_of(k->path));
		put_size(b, cu64_at(c, k));
		break;
	case K_FRACTION:
		gv_hocon_buf_printf(b, "%s = ", leaf_of(k->path));
		put_double(b, cdbl_at(c, k));
		break;
	case K_STRATEGY:
	case K_LOG_LEVEL:
	case K_LOG_FORMAT: {
		const char *const *names = enum_names(k->kind, &n);
		int x = enum_get(c, k);

		gv_hocon_buf_printf(b, "%s = \"%s\"", leaf_of(k->path),
		                    x >= 0 && (size_t)x < n ? names[x] : "?");
		break;
	}
	case K_OBJECT:
	case K_SECTORS:
	case K_S3KEYS:
		break;
	}
	gv_hocon_buf_puts(b, "\n");
}

int gv_config_dump(char **out, const gv_config *c, unsigned flags)
{
	gv_hocon_buf b = GV_HOCON_BUF_INIT(64u * 1024u * 1024u);
	size_t open = 0, i, d;

	*out = NULL;
	gv_hocon_buf_puts(&b, "# Effective Graviton configuration (durations and sizes "
	                      "written in their largest exact unit).\n");
	for (i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		d = depth_of(k->path);
		while (open > d) {
			open--;
			put_indent(&b, open);
			gv_hocon_buf_puts(&b, "}\n");
		}
		put_indent(&b, d);
		if (k->kind == K_OBJECT) {
			gv_hocon_buf_printf(&b, "%s {\n", leaf_of(k->path));
			open++;
		} else if (k->kind == K_SECTORS) {
			put_sectors(&b, c, d, flags);
		} else if (k->kind == K_S3KEYS) {
			put_s3_keys(&b, c, d, flags);
		} else {
			put_leaf(&b, c, k, flags);
		}
	}
	while (open > 0) {
		open--;
		put_indent(&b, open);
		gv_hocon_buf_puts(&b, "}\n");
	}
	if (b.err) {
		gv_hocon_buf_free(&b);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	*out = b.ptr;
	return 0;
}

/* ---- helpers for the daemon -------------------------------------------- */

void gv_config_placement(gv_placement_opts *out, const gv_config *c)
{
	memset(out, 0, sizeof(*out));
	out->version = GV_PLACEMENT_OPTS_VERSION;
	out->strategy = c->replication.strategy;
	out->factor = c->replication.factor;
	out->min_replicas = c->replication.min_replicas;
	out->min_racks = c->replication.min_racks;
	out->min_zones = c->replication.min_zones;
}

/* Lay the fields of src named by mask (GV_CONFIG_GIVEN_*) over *p. */
static void merge_placement(gv_placement_opts *p, const gv_placement_opts *src, unsigned mask)
{
	if (mask & GV_CONFIG_GIVEN_STRATEGY)
		p->strategy = src->strategy;
	if (mask & GV_CONFIG_GIVEN_FACTOR)
		p->factor = src->factor;
	if (mask & GV_CONFIG_GIVEN_MIN_REPLICAS)
		p->min_replicas = src->min_replicas;
	if (mask & GV_CONFIG_GIVEN_MIN_RACKS)
		p->min_racks = src->min_racks;
	if (mask & GV_CONFIG_GIVEN_MIN_ZONES)
		p->min_zones = src->min_zones;
}

void gv_config_placement_over(gv_placement_opts *p, const gv_config *c,
                              const gv_placement_opts *flags, unsigned flag_mask)
{
	unsigned mask = flag_mask;

	if (c) {
		gv_placement_opts file;

		gv_config_placement(&file, c);
		merge_placement(p, &file, c->replication.placement_given);
		mask |= c->replication.placement_given;
	}
	if (flags)
		merge_placement(p, flags, flag_mask);
	if (!(mask & GV_CONFIG_GIVEN_MIN_REPLICAS) && p->min_replicas > p->factor)
		p->min_replicas = p->factor;
}

int gv_config_remote_apply(const gv_config *c)
{
	gv_sector_remote_opts o = GV_SECTOR_REMOTE_OPTS_INIT;
	gv_sector_s3_opts so = GV_SECTOR_S3_OPTS_INIT;
	size_t i;
	int err;

	o.token = c->node.token;
	o.connect_timeout_ms = c->remote.connect_timeout_ms;
	o.request_timeout_ms = c->remote.request_timeout_ms;
	o.retries = (unsigned)c->remote.retries;
	o.staging_dir = c->remote.staging_dir;
	if ((err = gv_sector_remote_configure(&o)) < 0)
		return err;
	so.multipart_threshold = c->s3.multipart_threshold;
	so.part_size = c->s3.part_size;
	so.connect_timeout_ms = c->s3.connect_timeout_ms;
	so.request_timeout_ms = c->s3.request_timeout_ms;
	so.retries = (unsigned)c->s3.retries;
	so.staging_dir = c->remote.staging_dir;
	if ((err = gv_sector_s3_configure(&so)) < 0)
		return err;
	for (i = 0; i < c->nsectors; i++) {
		const gv_config_sector *sc = &c->sectors[i];

		if (sc->s3[0] && sc->access_key[0] &&
		    (err = gv_sector_s3_credentials(sc->id, sc->access_key, sc->secret_key,
		                                    sc->session_token)) < 0)
			return err;
	}
	return 0;
}

void gv_config_health_opts(gv_health_opts *o, const gv_config *c)
{
	*o = (gv_health_opts)GV_HEALTH_OPTS_INIT;
	o->interval_ms = c->health.interval_ms;
	o->down_after_ms = c->health.down_after_ms;
	o->up_after_ms = c->health.up_after_ms;
}

void gv_config_repair_opts(gv_repair_opts *o, const gv_config *c)
{
	*o = (gv_repair_opts)GV_REPAIR_OPTS_INIT;
	o->parallel_jobs = (unsigned)c->replication.repair.parallel_jobs;
	o->batch_size = (unsigned)c->replication.repair.batch_size;
	o->max_bytes_per_second = c->replication.repair.max_bytes_per_second;
	o->max_attempts = (unsigned)c->replication.repair.max_attempts;
	o->backoff_base_ms = c->replication.repair.backoff_base_ms;
	o->backoff_max_ms = c->replication.repair.backoff_max_ms;
}

void gv_config_scrub_opts(gv_scrub_opts *o, const gv_config *c)
{
	*o = (gv_scrub_opts)GV_SCRUB_OPTS_INIT;
	o->parallel_reads = (unsigned)c->replication.scrub.parallel_reads;
	o->batch_size = (unsigned)c->replication.scrub.batch_size;
	o->max_bytes_per_second = c->replication.scrub.max_bytes_per_second;
	o->metered_max_bytes_per_second = c->s3.scrub_max_bytes_per_second;
}

void gv_config_rebalance_opts(gv_rebalance_opts *o, const gv_config *c)
{
	*o = (gv_rebalance_opts)GV_REBALANCE_OPTS_INIT;
	o->threshold = c->replication.rebalance.threshold;
	o->max_moves = (unsigned)c->replication.rebalance.max_moves_per_run;
	o->high_water = c->replication.rebalance.high_water;
	o->low_water = c->replication.rebalance.low_water;
}

int gv_config_sector_info(gv_sector_info *out, const gv_config *c, size_t i,
                          const char *data_dir)
{
	const gv_config_sector *s;
	int n;

	memset(out, 0, sizeof(*out));
	if (i >= c->nsectors)
		return gv_error_set(GV_EINVAL, "no sector %zu in the configuration (it has %zu)", i,
		                    c->nsectors);
	s = &c->sectors[i];
	memcpy(out->id, s->id, sizeof(out->id));
	memcpy(out->rack, s->rack, sizeof(out->rack));
	memcpy(out->zone, s->zone, sizeof(out->zone));
	snprintf(out->kind, sizeof(out->kind), "fs");
	out->capacity = s->capacity;
	out->healthy = 1;
	out->state = GV_SECTOR_ACTIVE;
	if (s->s3[0] || s->endpoint[0]) {
		if (!s->s3[0] || !s->endpoint[0] || s->path[0] || s->url[0])
			return gv_error_set(GV_EINVAL, "sector %s: an s3 sector needs s3 and endpoint, "
			                    "and no path or url", s->id);
		snprintf(out->kind, sizeof(out->kind), "s3");
		if (gv_sector_s3_locator(out->path, sizeof(out->path), s->s3, s->endpoint, s->region,
		                         s->style) < 0)
			return gv_error_set(GV_EINVAL, "sector %s: %s", s->id, gv_error_last());
		return 0;
	}
	if (s->url[0] || s->remote_sector[0]) {
		if (!s->url[0] || !s->remote_sector[0] || s->path[0])
			return gv_error_set(GV_EINVAL, "sector %s: a remote sector needs url and "
			                    "remote-sector, and no path", s->id);
		snprintf(out->kind, sizeof(out->kind), "remote");
		if (gv_sector_remote_locator(out->path, sizeof(out->path), s->url,
		                             s->remote_sector) < 0)
			return gv_error_set(GV_EINVAL, "sector %s: %s", s->id, gv_error_last());
		return 0;
	}
	if (s->path[0]) {
		memcpy(out->path, s->path, sizeof(out->path));
		return 0;
	}
	if (!data_dir)
		data_dir = c->data_dir ? c->data_dir : "";
	n = snprintf(out->path, sizeof(out->path), "%s/sectors/%s", data_dir, s->id);
	if (n < 0 || (size_t)n >= sizeof(out->path))
		return gv_error_set(GV_EINVAL, "sector %s: path %s/sectors/%s is too long", s->id,
		                    data_dir, s->id);
	return 0;
}
