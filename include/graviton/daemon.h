/*
 * graviton/daemon.h - the daemon: one data directory's store, its HTTP
 * server and its background loops (repair, scrub, rebalance, reclaim,
 * sector health check, metrics), started, reloaded and stopped as one.
 *
 * gv_daemon_start takes the data directory's serve lock before it creates
 * anything (a second daemon on the same directory fails with GV_EBUSY and
 * leaves nothing behind), opens the store, lays out the default sectors on
 * a first start, stores the placement keys the configuration sets, starts
 * the server, then the loops.  Any failure, a loop that cannot start
 * included, stops what was started and is returned with a message.
 *
 * gv_daemon_reload is the one owner of a reload's changes: log settings
 * (through the apply_log hook), the bearer token, placement and the loops'
 * schedules change there and nowhere else; a reload that fails changes
 * nothing.  The listen address and the data directory need a restart.
 *
 * The caller owns signals: block SIGTERM/SIGINT/SIGHUP before the start so
 * the daemon's threads inherit the mask.  The library prints nothing; the
 * daemon logs through gv_log_set's callback.
 */
#ifndef GRAVITON_DAEMON_H
#define GRAVITON_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "config.h"
#include "graviton.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The default layout (`graviton init`, a first `graviton serve`). */
#define GV_LAYOUT_SECTORS 6
/* In a data directory made by `init --sectors 0` (a gateway): serve lays
 * out no default sectors there. */
#define GV_GATEWAY_FILE "gateway"
#define GV_LAYOUT_RACKS 3
#define GV_LAYOUT_ZONES 3

/*
 * Sector i (from 0) of a layout of local sectors in data_dir: id s01, s02,
 * ..., kind fs, path DATA_DIR/sectors/<id>, rack rack-(i % nracks + 1),
 * zone zone-(i % nracks % nzones + 1), the capacity given (0: the
 * filesystem's).  GV_EINVAL when the path does not fit or a count is < 1.
 */
GV_API int gv_layout_sector(gv_sector_info *out, const char *data_dir, int i, int nracks,
                            int nzones, uint64_t capacity);

typedef struct gv_daemon gv_daemon;

typedef struct gv_daemon_opts {
	const char *data_dir; /* required */
	const char *listen;   /* NULL: the configuration's server.listen */
	/* The bearer token for a configuration: into buf (NUL-terminated, ""
	 * for no authentication), *source naming where it came from.  Called
	 * after the lock is taken, at start and at each reload; < 0 fails
	 * them.  NULL: no authentication. */
	int (*token)(const gv_config *cfg, char *buf, size_t cap, const char **source, void *arg);
	/* The log settings of a configuration, applied at start and at each
	 * reload before anything else changes.  NULL: logs stay as they are. */
	void (*apply_log)(const gv_config *cfg, void *arg);
	void *arg;            /* for the hooks */
} gv_daemon_opts;

/*
 * Start a daemon on cfg (validated; copied).  GV_EBUSY when another daemon
 * or an index rebuild holds the data directory, or the listen address is
 * in use (nothing is created then); GV_EINVAL for a listen address that
 * does not resolve; otherwise the failing step's error.
 */
GV_API int gv_daemon_start(gv_daemon **out, const gv_config *cfg, const gv_daemon_opts *opts);

/* The port the server listens on (the one chosen when the listen port is 0). */
GV_API unsigned gv_daemon_port(const gv_daemon *d);

/*
 * Apply a new configuration (copied): log settings, token, placement keys
 * it sets, the loops' settings.  When the token cannot be had the running
 * configuration stays and the error is returned.  A placement the store
 * refuses is logged and the rest applies.
 */
GV_API int gv_daemon_reload(gv_daemon *d, const gv_config *cfg);

/* Stop accepting, let requests in flight finish, stop the loops at a safe
 * point, close the store, release the lock and free d (NULL ok). */
GV_API void gv_daemon_stop(gv_daemon *d);

#ifdef __cplusplus
}
#endif
#endif
