/*
 * placement/hrw.h - the hashing behind weighted rendezvous placement.
 *
 * score(key, sector) = -ln(u) / weight, with u in (0,1) a 64-bit hash of the
 * key and the sector id.  The sector with the lowest score wins; for one
 * pick this chooses each sector with probability weight / sum of weights,
 * and adding a sector only takes the keys it now wins.
 *
 * The hash is part of the on-disk contract in all but name: changing it
 * changes where new replicas of existing keys go and what rebalance thinks
 * is misplaced.  tests/placement pins known values.
 */
#ifndef GV_PLACEMENT_HRW_H
#define GV_PLACEMENT_HRW_H

#include <stdint.h>
#include "graviton/key.h"

/* Hash of a key (digest and size), independent of byte order of the host. */
uint64_t gv_hrw_key_hash(const gv_key *key);

/* Hash of an id: its bytes up to NUL or GV_ID_MAX, whichever comes first. */
uint64_t gv_hrw_id_hash(const char *id);

/* Hash of the pair (key, sector) from their hashes. */
uint64_t gv_hrw_pair(uint64_t key_hash, uint64_t id_hash);

/* -ln(u) / weight for u taken from the top 53 bits of `pair`; lower wins. */
double gv_hrw_score(uint64_t pair, double weight);

#endif
