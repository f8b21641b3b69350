/*
 * graviton/placement.h - where replicas go.  Pure functions: no I/O, no
 * clock, no randomness beyond hashing the key; the same input always gives
 * the same answer.  Shared by write, repair, rebalance and drain.
 *
 * Eligible sector: healthy, state active, free space at least the blob
 * size, not excluded, not already counted as placed.  Free space is
 * capacity - used, and at most the sector's measured `free` when
 * `free_known` (the engine measures it from the filesystem; placement
 * only reads it).
 *
 * Choice among eligible sectors is weighted rendezvous hashing on
 * (key, sector id) with weight = free space, so sectors fill evenly and
 * adding one sector moves only about 1/N of new placements.  Diversity is
 * greedy: each pick prefers a zone (zone-aware) and a rack not yet used by
 * the placed replicas or earlier picks.  Sectors with no rack (zone) all
 * share one rack (zone) named "".
 */
#ifndef GRAVITON_PLACEMENT_H
#define GRAVITON_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"
#include "key.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gv_strategy {
	GV_STRATEGY_SIMPLE = 0,
	GV_STRATEGY_RACK_AWARE = 1,
	GV_STRATEGY_ZONE_AWARE = 2,
} gv_strategy;

GV_API const char *gv_strategy_name(gv_strategy s); /* "simple", "rack-aware", "zone-aware" */
GV_API int gv_strategy_parse(gv_strategy *out, const char *s);

#define GV_PLACEMENT_OPTS_VERSION 1

typedef struct gv_placement_opts {
	unsigned version;
	gv_strategy strategy;
	int factor;       /* target healthy replicas */
	int min_replicas; /* write quorum */
	int min_racks;    /* rack-aware: distinct racks required */
	int min_zones;    /* zone-aware: distinct zones required */
} gv_placement_opts;

#define GV_PLACEMENT_OPTS_INIT \
	{ GV_PLACEMENT_OPTS_VERSION, GV_STRATEGY_RACK_AWARE, 3, 2, 2, 2 }

/* GV_EINVAL when factor is outside 1..GV_MAX_REPLICAS, min_replicas outside
 * 1..factor, min_* < 1. */
GV_API int gv_placement_opts_validate(const gv_placement_opts *o);

typedef struct gv_placement_req {
	const gv_key *key;
	/* Sector ids holding healthy replicas: they count as placed and their
	 * racks/zones as used.  Never chosen again. */
	const char *const *placed;
	size_t nplaced;
	/* Sector ids that must not be chosen (e.g. holding an unhealthy copy,
	 * or the source of a move).  Their racks/zones are not counted. */
	const char *const *exclude;
	size_t nexclude;
	/* How many sectors to add. */
	size_t want;
} gv_placement_req;

/*
 * Choose up to req->want sectors.  `out` has room for req->want indices
 * into `sectors`; *out_n is set to how many were chosen, best first.
 *
 * Returns 0 when `want` sectors were chosen and the strategy's constraint
 * holds for placed + chosen.  Otherwise still fills `out` with the best
 * picks it can make and returns:
 *   GV_EINSUFFICIENT_SECTORS  fewer than `want` eligible sectors;
 *   GV_EINSUFFICIENT_RACKS    rack-aware, and placed + chosen span fewer
 *                             than min(min_racks, nplaced + want) racks;
 *   GV_EINSUFFICIENT_ZONES    zone-aware, likewise for zones.
 * The diversity errors take precedence.  A message is set in every case.
 */
GV_API int gv_placement_choose(size_t *out, size_t *out_n,
                        const gv_placement_opts *opts,
                        const gv_sector_info *sectors, size_t nsectors,
                        const gv_placement_req *req);

typedef struct gv_placement_report {
	int replicas;     /* sectors given */
	int racks;        /* distinct racks among them */
	int zones;        /* distinct zones among them */
	int duplicates;   /* sector ids given more than once */
	int ok;           /* 1 when the strategy's constraint holds */
} gv_placement_report;

/*
 * Judge an existing replica set (sector ids of its healthy replicas) against
 * the strategy: is it spread over min(min_racks, n) racks (zones)?  Sector
 * ids unknown to `sectors` count as their own rack and zone "".
 * Returns 0, or the GV_EINSUFFICIENT_* error that describes the shortfall.
 */
GV_API int gv_placement_check(gv_placement_report *out, const gv_placement_opts *opts,
                       const gv_sector_info *sectors, size_t nsectors,
                       const char *const *holders, size_t nholders);

/*
 * Pick `remove` of `holders` to drop from an over-replicated set so that
 * what stays keeps the best diversity (zones, then racks, then the emptier
 * sectors).  `out` has room for `remove` indices into `holders`.
 */
GV_API int gv_placement_trim(size_t *out, const gv_placement_opts *opts,
                      const gv_sector_info *sectors, size_t nsectors,
                      const char *const *holders, size_t nholders, size_t remove);

/*
 * Index of sector `id` in `sectors`, or -1.
 */
GV_API long gv_placement_find(const gv_sector_info *sectors, size_t nsectors, const char *id);

#ifdef __cplusplus
}
#endif
#endif
