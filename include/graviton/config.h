/*
 * graviton/config.h - the typed Graviton configuration.
 *
 * Every key has a default (gv_config_init), so no file is needed.  A HOCON
 * file or string is laid over a configuration with gv_config_load_file /
 * gv_config_load_string: keys it sets replace the current values, keys it
 * leaves out keep them.  Loading is all or nothing: on any error the
 * configuration is left exactly as it was, so a daemon can reload on SIGHUP
 * and keep running on the old settings when the new file is wrong.
 *
 * Errors are GV_EINVAL with a message naming the file, line, column and key:
 *   graviton.conf:12:9: graviton.replication.factor: expected a number, got "three"
 *   graviton.conf:4:5: unknown key graviton.replication.factr (did you mean
 *   graviton.replication.factor?)
 *
 * Substitutions in the text (${graviton.data-dir}, ${?GRAVITON_TOKEN}) may
 * name any key, set in the same text or not (then its current value is
 * used), or an environment variable.
 *
 * Units: durations are milliseconds, sizes are bytes.  Every key, its
 * default and meaning are listed in docs/configuration.md and
 * graviton.conf.example.  The GRAVITON_DATA_DIR environment variable and
 * command-line flags are applied by the CLI on top of what is loaded here.
 *
 * Ownership: a gv_config owns its strings and its sector array; free it
 * with gv_config_free.  Copy with gv_config_copy, never with `=` (the copy
 * would share the strings).  A gv_config is not thread-safe; a daemon that
 * reloads builds a new one and swaps it in under its own lock.
 */
#ifndef GRAVITON_CONFIG_H
#define GRAVITON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "health.h"
#include "placement.h"
#include "rebalance.h"
#include "repair.h"
#include "scrub.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gv_log_format {
	GV_LOG_FORMAT_TEXT = 0, /* key=value on one line */
	GV_LOG_FORMAT_JSON = 1, /* one JSON object per line */
} gv_log_format;

/* One entry of graviton.sectors: a sector to register at start-up. */
typedef struct gv_config_sector {
	char id[GV_ID_MAX];     /* required; gv_id_validate rules */
	char path[GV_PATH_MAX]; /* "" means <data-dir>/sectors/<id> */
	uint64_t capacity;      /* bytes; 0 = the filesystem's size */
	char rack[GV_ID_MAX];   /* "" when unknown */
	char zone[GV_ID_MAX];   /* "" when unknown */
	/* A remote sector (kind "remote"): the node's http://HOST:PORT and the
	 * id of the sector it lends; "" for a local one. */
	char url[GV_PATH_MAX];
	char remote_sector[GV_ID_MAX];
	/* An s3 sector (kind "s3"): s3://BUCKET[/PREFIX], the endpoint
	 * (http[s]://HOST[:PORT]), region, addressing style ("path" or
	 * "virtual") and the credentials (secrets: never printed; "" takes
	 * AWS_* from the environment). */
	char s3[GV_PATH_MAX];
	char endpoint[512];
	char region[GV_ID_MAX];
	char style[16];
	char access_key[128];
	char secret_key[256];
	char session_token[2048];
} gv_config_sector;

/* One entry of graviton.s3.keys: an access key of the S3 front door. */
#define GV_CONFIG_S3_KEY_MAX 128        /* access and secret key, incl. NUL */
#define GV_CONFIG_S3_BUCKETS_MAX 64     /* bucket names one key may name */
#define GV_CONFIG_S3_KEYS_MAX 1024

typedef struct gv_config_s3_key {
	char access_key[GV_CONFIG_S3_KEY_MAX];
	char secret_key[GV_CONFIG_S3_KEY_MAX];  /* never logged; hidden by GV_CONFIG_DUMP_REDACT */
	char buckets[GV_CONFIG_S3_BUCKETS_MAX][64]; /* "*": every bucket */
	size_t nbuckets;                    /* 0 given: ["*"] */
	int read_only;
} gv_config_s3_key;

typedef struct gv_config {
	char *data_dir;                   /* graviton.data-dir */

	struct {
		char *backend;            /* "sqlite" */
		char *path;               /* "" means <data-dir>/graviton.db */
		char *url;                /* "" or the index's URL ("postgresql://..."),
		                           * which wins over path */
		uint64_t claim_ttl_ms;    /* leases on background work (60 s) */
	} index;

	gv_config_sector *sectors;        /* graviton.sectors, nsectors entries */
	size_t nsectors;

	struct {
		char *listen;             /* "HOST:PORT", IPv6 as "[::1]:8787" */
		int auth;                 /* 0: no authentication (explicitly off) */
		char *auth_token;         /* "": the data directory's token file */
		uint64_t max_body_size;   /* bytes */
		int threads;              /* deprecated, ignored (thread per connection) */
		uint64_t idle_timeout_ms; /* close connections idle this long */
		int max_connections;      /* open connections at most */
		int max_connections_per_address; /* from one client address */
		uint64_t header_timeout_ms; /* a request's headers must arrive within */
		uint64_t shutdown_grace_ms; /* requests in flight may finish within */
		char *read_only_token;    /* "": none; GET and HEAD only */
		int readyz_auth;          /* 1: /readyz needs a token */
		uint64_t dashboard_interval_ms; /* the dashboard's samples */
		char *tls_cert;           /* "": plain HTTP */
		char *tls_key;
	} server;

	struct {
		char *token;              /* graviton.node.token; "": no node protocol */
	} node;

	struct {
		int enabled;              /* graviton.s3.enabled: serve starts the S3 listener */
		char *listen;             /* "HOST:PORT" */
		char *region;             /* the region SigV4 scopes must name */
		char *domain;             /* Host BUCKET.DOMAIN: virtual-host-style */
		gv_config_s3_key *keys;   /* graviton.s3.keys, nkeys entries */
		size_t nkeys;
		/* s3 sectors (docs/s3-sectors.md) */
		uint64_t multipart_threshold; /* blobs above go in parts */
		uint64_t part_size;
		uint64_t connect_timeout_ms;
		uint64_t request_timeout_ms;  /* without progress */
		int retries;                  /* of every request */
		uint64_t scrub_max_bytes_per_second; /* 0 = unlimited */
	} s3;

	struct {
		uint64_t connect_timeout_ms;
		uint64_t request_timeout_ms;
		int retries;              /* of idempotent requests */
		char *staging_dir;        /* "": $TMPDIR or /var/tmp */
	} remote;

	struct {
		uint64_t interval_ms;     /* between probes of each sector */
		uint64_t down_after_ms;   /* failing this long: unhealthy */
		uint64_t up_after_ms;     /* answering this long: healthy again */
	} health;

	struct {
		gv_log_level level;
		gv_log_format format;
	} log;

	struct {
		uint64_t block_size;      /* bytes per checksummed block of new blobs */
	} integrity;

	struct {
		uint64_t hedge_after_ms;  /* 0: each sector's recent p95, >= 10 ms */
	} read;

	struct {
		int factor;               /* target healthy replicas */
		int min_replicas;         /* write quorum */
		gv_strategy strategy;
		int min_racks;
		int min_zones;
		uint64_t write_timeout_ms; /* wait for the quorum this long */

		struct {
			int enabled;
			uint64_t interval_ms;
			int full_scan;    /* 0: repair only from the queue */
			int parallel_jobs;
			/* the durable repair queue */
			int max_attempts;         /* failed repairs before a dead letter */
			uint64_t backoff_base_ms; /* wait after the first failure */
			uint64_t backoff_max_ms;  /* the doubling stops here */
			int batch_size;
			uint64_t max_bytes_per_second; /* 0 = unlimited */
		} repair;

		struct {
			int enabled;
			uint64_t interval_ms;
			int parallel_reads;
			int batch_size;
			uint64_t max_bytes_per_second; /* 0 = unlimited */
			uint64_t presence_interval_ms; /* presence audit; 0 = off */
		} scrub;

		struct {
			int enabled;
			uint64_t interval_ms;
			uint64_t grace_ms;    /* unrecorded files younger are kept */
		} reclaim;

		struct {
			int enabled;
			double threshold;     /* utilisation spread that triggers moves */
			int max_moves_per_run;
			double high_water;    /* sectors fuller than this give replicas */
			double low_water;     /* sectors emptier than this take them */
		} rebalance;

		/* Which placement keys a loaded file set (GV_CONFIG_GIVEN_*):
		 * only those change the cluster's stored settings. */
		unsigned placement_given;
	} replication;

	/* Garbage collection of unreferenced blobs (docs/namespace.md). */
	struct {
		int enabled;
		uint64_t interval_ms;
		uint64_t grace_ms;          /* unreferenced at least this long */
		uint64_t upload_expiry_ms;  /* abort multipart uploads older; 0 = never */
	} gc;
} gv_config;

/*
 * Fill c with the defaults.  GV_ENOMEM on failure (c is then zeroed and
 * safe to pass to gv_config_free).
 */
GV_API int gv_config_init(gv_config *c);

/* Free what c owns and zero it (NULL ok; an all-zero c ok). */
GV_API void gv_config_free(gv_config *c);

/*
 * Deep copy src into *out (which is overwritten, not freed first).
 * GV_ENOMEM on failure, leaving *out zeroed.
 */
GV_API int gv_config_copy(gv_config *out, const gv_config *src);

/*
 * Lay the HOCON file at `path` over c (initialised with gv_config_init,
 * possibly loaded before).  The path as given names the file in
 * messages.  Files larger than 1 MiB are refused.  Returns 0; GV_EINVAL
 * (malformed, unknown key, bad value), GV_EIO (cannot read; errno kept, see
 * gv_error_last_errno), GV_ENOMEM.  On failure c is unchanged.
 */
GV_API int gv_config_load_file(gv_config *c, const char *path);

/*
 * As gv_config_load_file for text held in memory; `name` (NULL: "<string>")
 * names it in messages.  load_string takes a NUL-terminated text,
 * load_buffer `len` bytes.
 */
GV_API int gv_config_load_string(gv_config *c, const char *name, const char *text);
GV_API int gv_config_load_buffer(gv_config *c, const char *name, const char *text, size_t len);

/*
 * Check ranges and relations (1 <= factor <= GV_MAX_REPLICAS, 1 <= min-replicas <= factor,
 * listen is HOST:PORT, sector ids valid and distinct, ...) of a
 * configuration built or changed in code.  The loaders already do this.
 * GV_EINVAL with a message naming the key.
 */
GV_API int gv_config_validate(const gv_config *c);

/* 1 when a and b hold the same settings. */
GV_API int gv_config_equal(const gv_config *a, const gv_config *b);

#define GV_CONFIG_DUMP_REDACT 0x1 /* print auth-token as a comment, not its value */

/*
 * The effective configuration as HOCON text listing every key, which
 * gv_config_load_string reads back to an equal configuration (unless
 * GV_CONFIG_DUMP_REDACT hid a token).  *out is a NUL-terminated string the
 * caller frees with free(); NULL on failure (GV_ENOMEM).
 */
GV_API int gv_config_dump(char **out, const gv_config *c, unsigned flags);

/* Bits of replication.placement_given, one per placement key. */
#define GV_CONFIG_GIVEN_STRATEGY 0x01
#define GV_CONFIG_GIVEN_FACTOR 0x02
#define GV_CONFIG_GIVEN_MIN_REPLICAS 0x04
#define GV_CONFIG_GIVEN_MIN_RACKS 0x08
#define GV_CONFIG_GIVEN_MIN_ZONES 0x10

/* The placement settings of graviton.replication. */
GV_API void gv_config_placement(gv_placement_opts *out, const gv_config *c);

/*
 * Lay over *p the placement keys c sets (replication.placement_given; c may
 * be NULL), then the fields of flags named by flag_mask (GV_CONFIG_GIVEN_*
 * bits; flags may be NULL when flag_mask is 0).  Lowering the factor below
 * the quorum lowers the quorum with it, unless the quorum was given too.
 */
GV_API void gv_config_placement_over(gv_placement_opts *p, const gv_config *c,
                              const gv_placement_opts *flags, unsigned flag_mask);

/* The settings of one repair, scrub or rebalance run (the CLI's and the
 * daemon's schedules alike). */
GV_API void gv_config_repair_opts(gv_repair_opts *o, const gv_config *c);
/* The failure detector's settings (graviton.health). */
GV_API void gv_config_health_opts(gv_health_opts *o, const gv_config *c);
/* Hand graviton.node.token and graviton.remote.* to the remote sector kind,
 * graviton.s3.* and the s3 sectors' credentials to the s3 kind (before
 * opening a store that has such sectors). */
GV_API int gv_config_remote_apply(const gv_config *c);
GV_API void gv_config_scrub_opts(gv_scrub_opts *o, const gv_config *c);
GV_API void gv_config_rebalance_opts(gv_rebalance_opts *o, const gv_config *c);

/*
 * The registration record for sector i: kind "fs", the path resolved
 * against data_dir (NULL: c->data_dir) when the entry has none, healthy,
 * active.  GV_EINVAL when i is out of range or the path does not fit.
 */
GV_API int gv_config_sector_info(gv_sector_info *out, const gv_config *c, size_t i,
                          const char *data_dir);

/*
 * Split "HOST:PORT" ("[v6]:PORT" for IPv6) into host (NUL-terminated, at
 * most host_cap - 1 bytes) and port (1..65535).  GV_EINVAL with a message
 * otherwise.
 */
GV_API int gv_config_parse_listen(char *host, size_t host_cap, unsigned *port, const char *listen);

#ifdef __cplusplus
}
#endif
#endif
