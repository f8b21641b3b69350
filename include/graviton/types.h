/*
 * graviton/types.h - the seed's records: sectors and replicas.
 *
 * These are plain value structs that cross every layer (index rows,
 * placement input, CLI output).  Strings inside are fixed-size arrays so the
 * structs can be copied and stored in arrays without ownership questions.
 */
#ifndef GRAVITON_TYPES_H
#define GRAVITON_TYPES_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"
#include "key.h"
#include "rangeset.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_ID_MAX 64        /* sector, rack and zone names incl. NUL */
#define GV_PATH_MAX 1024
#define GV_KIND_MAX 16
#define GV_REASON_MAX 256

/*
 * The most replicas of one key that placement, the configuration and the
 * CLI accept (replication factor and min-replicas): the engine sizes its
 * per-key arrays by it.
 */
#define GV_MAX_REPLICAS 16

typedef enum gv_sector_state {
	GV_SECTOR_ACTIVE = 0,   /* takes new replicas */
	GV_SECTOR_DRAINING = 1, /* serves reads, takes nothing new, being emptied */
	GV_SECTOR_RETIRED = 2,  /* emptied; may be removed */
} gv_sector_state;

GV_API const char *gv_sector_state_name(gv_sector_state s);
GV_API int gv_sector_state_parse(gv_sector_state *out, const char *s);

/*
 * Validate a sector, rack or zone id: 1..63 chars of [A-Za-z0-9._-], not
 * starting with '.' or '-'.  GV_EINVAL with a message otherwise.
 */
GV_API int gv_id_validate(const char *what, const char *id);

typedef struct gv_sector_info {
	char id[GV_ID_MAX];
	char kind[GV_KIND_MAX];  /* "fs", "mem", ... */
	char path[GV_PATH_MAX];  /* backend locator: a directory for "fs" */
	uint64_t capacity;       /* bytes */
	uint64_t used;           /* bytes held by replicas recorded in the index */
	int healthy;             /* 1 / 0 */
	char rack[GV_ID_MAX];    /* "" when unknown */
	char zone[GV_ID_MAX];    /* "" when unknown */
	gv_sector_state state;
	char reason[GV_REASON_MAX]; /* why unhealthy, when known; "" otherwise */
	/* Measured by the engine from the sector's backend (not kept in the
	 * index): the bytes a new replica can still use - the smaller of
	 * capacity minus what the sector holds and its share of the free
	 * space of the filesystem it is on - and that filesystem's device,
	 * "major:minor" ("" for a sector with a medium of its own).  With
	 * free_known 0 (not measured) placement uses capacity - used. */
	uint64_t free;
	int free_known;
	char device[32];
} gv_sector_info;

typedef struct gv_replica {
	gv_key key;
	char sector[GV_ID_MAX];
	gv_rangeset ranges;      /* bytes present; full when complete */
	int healthy;
	int64_t last_verified;   /* unix milliseconds; 0 = never */
	int has_checksum;
	uint8_t checksum[GV_DIGEST_LEN]; /* digest last computed over the bytes */
	char reason[GV_REASON_MAX];      /* why unhealthy; "" otherwise */
} gv_replica;

/* Free the range arrays of n replicas and then the array itself (NULL ok). */
GV_API void gv_replicas_free(gv_replica *r, size_t n);

/* Wall clock in unix milliseconds. */
GV_API int64_t gv_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif
