/*
 * graviton/health.h - failure detection: sectors that stop answering are
 * declared unhealthy by themselves, and healthy again once they answer.
 *
 * Every interval each registered sector (not retired) is probed through
 * the sector port (gv_sector_check: a local sector's root is still the
 * directory it was opened from; a remote sector's node answers its
 * identity route within the remote connect and request timeouts).  Failed
 * probes and failed writes that say the sector cannot be reached (GV_EIO,
 * GV_ETIMEOUT, no open backend) start a run of failures; a success ends
 * it.  A healthy sector whose failures have lasted down_after_ms is marked
 * unhealthy with a reason starting GV_HEALTH_REASON ("unreachable"), the
 * event sector_down is logged and repair is woken.  A sector the detector
 * marked comes back (event sector_up, repair woken to trim the surplus)
 * once it has answered every probe for up_after_ms, doubled for each
 * other time it went down in the last hour (at most 16 times).  A probe
 * that finds a local sector's root replaced or gone (GV_ENOTFOUND and
 * other definite answers) marks it unhealthy at once, with that reason,
 * and it stays so; so do sectors marked unhealthy by anything but the
 * detector (an operator, a replacement).
 */
#ifndef GRAVITON_HEALTH_H
#define GRAVITON_HEALTH_H

#include <stdatomic.h>
#include <stdint.h>
#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gv_store gv_store;

/* The reason prefix of the detector's marks (the only ones it undoes). */
#define GV_HEALTH_REASON "unreachable"

#define GV_HEALTH_OPTS_VERSION 1

typedef struct gv_health_opts {
	unsigned version;
	uint64_t interval_ms;   /* between probe rounds */
	uint64_t down_after_ms; /* failing this long: unhealthy */
	uint64_t up_after_ms;   /* answering this long: healthy again */
} gv_health_opts;

#define GV_HEALTH_OPTS_INIT { GV_HEALTH_OPTS_VERSION, 5000, 30000, 10000 }

/*
 * One probe round over every registered sector, in parallel (a hung node
 * delays only its own answer, up to the remote request timeout), then the
 * decisions above.  *changed (may be NULL) counts the sectors that went
 * down or came back.  0, or the index error that stopped the round.
 */
GV_API int gv_health_probe(gv_store *st, const gv_health_opts *opts, unsigned *changed);

/* Probe every opts->interval_ms until *stop (logged, never fatal). */
GV_API void gv_health_daemon(gv_store *st, const gv_health_opts *opts, atomic_int *stop);

/* Probes of sector id that failed since the store was opened. */
GV_API uint64_t gv_health_probe_failures(gv_store *st, const char *id);

#ifdef __cplusplus
}
#endif

#endif
