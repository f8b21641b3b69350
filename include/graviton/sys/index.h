/*
 * graviton/sys/index.h - the replica index port, for backend writers.
 *
 * The index records sectors, blobs and replicas.  It is the only place the
 * engine learns where bytes live; it never holds blob bytes itself.
 * Each call is one transaction: it either happens whole or not at all.
 *
 * A backend is a static `struct gv_index_ops` plus an instance struct whose
 * first member is a `gv_index`.  Every call may be made from any thread;
 * the backend serialises what it must (sqlite: one writer connection
 * behind a mutex, a pool of reader connections, WAL mode so readers of
 * this and other processes never wait for a writer).
 *
 * Arrays returned through `out` are malloc'd and owned by the caller
 * (free sectors with free(), replicas with gv_replicas_free()).
 */
#ifndef GRAVITON_SYS_INDEX_H
#define GRAVITON_SYS_INDEX_H

#include <stdint.h>
#include <stddef.h>
#include "../common.h"
#include "../key.h"
#include "../nstypes.h"
#include "../types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_INDEX_OPS_VERSION 1

typedef struct gv_index gv_index;

typedef struct gv_index_stats {
	uint64_t blobs;
	uint64_t replicas;            /* rows, whatever their state */
	uint64_t healthy_replicas;    /* healthy, complete, on a healthy non-retired sector */
	uint64_t unhealthy_replicas;  /* replicas - healthy_replicas */
	uint64_t under_replicated;    /* keys with 1..factor-1 healthy replicas */
	uint64_t over_replicated;     /* keys with > factor healthy replicas */
	uint64_t lost;                /* keys with 0 healthy replicas */
	uint64_t bytes;               /* sum of blob sizes */
	double avg_factor;            /* healthy replicas / blobs (0 when no blobs) */
} gv_index_stats;

/* One blob and every replica row it has (repair's gap scan). */
typedef struct gv_blob_entry {
	gv_key key;
	int64_t created_ms;
	gv_replica *replicas;   /* owned by the entry */
	size_t nreplicas;       /* may be 0: a blob with no replica row */
} gv_blob_entry;

/* Free n entries and the array (NULL ok). */
GV_API void gv_blob_entries_free(gv_blob_entry *e, size_t n);

/* Position in the scrub order (last_verified, key, sector). */
typedef struct gv_replica_cursor {
	int64_t last_verified;
	gv_key key;
	char sector[GV_ID_MAX];
	int started; /* 0: from the beginning */
} gv_replica_cursor;

/* One key in the durable repair queue (see docs/repair.md). */
typedef struct gv_repairq_entry {
	gv_key key;
	char reason[GV_REASON_MAX];     /* why it was queued */
	uint32_t attempts;              /* failed repairs so far */
	char last_error[GV_REASON_MAX]; /* of the last failed repair; "" none */
	int64_t next_attempt_ms;        /* wall clock, ms since the epoch */
	int64_t enqueued_ms;
	int dead;                       /* a dead letter: kept, never retried */
} gv_repairq_entry;

struct gv_index_ops {
	unsigned version;
	const char *name; /* "sqlite", ... */

	/* ---- sectors ---- */
	/* Insert, or update every field but `used` of an existing id. */
	int (*sector_upsert)(gv_index *ix, const gv_sector_info *s);
	int (*sector_get)(gv_index *ix, const char *id, gv_sector_info *out);
	/* All sectors ordered by id. */
	int (*sector_list)(gv_index *ix, gv_sector_info **out, size_t *out_n);
	int (*sector_set_health)(gv_index *ix, const char *id, int healthy);
	int (*sector_set_state)(gv_index *ix, const char *id, gv_sector_state st);
	/* Remove a sector; GV_EBUSY while replicas reference it. */
	int (*sector_remove)(gv_index *ix, const char *id);

	/* ---- blobs and replicas ---- */
	/*
	 * Record a replica (creating the blob row if needed), replacing any
	 * replica of the same key in the same sector.  Adjusts the sector's
	 * `used` by the blob size in the same transaction.
	 */
	int (*replica_put)(gv_index *ix, const gv_replica *r);
	/* Drop one replica (and adjust `used`); GV_ENOTFOUND if absent. */
	int (*replica_remove)(gv_index *ix, const gv_key *key, const char *sector);
	/* Mark healthy/unhealthy with a reason ("" when healthy). */
	int (*replica_set_health)(gv_index *ix, const gv_key *key, const char *sector,
	                          int healthy, const char *reason);
	/* Record a successful verification at `when_ms` with its digest. */
	int (*replica_set_verified)(gv_index *ix, const gv_key *key, const char *sector,
	                            int64_t when_ms, const uint8_t digest[GV_DIGEST_LEN]);
	/* Replace the ranges of an existing replica (resumable copies). */
	int (*replica_set_ranges)(gv_index *ix, const gv_key *key, const char *sector,
	                          const gv_rangeset *ranges);
	/* Every replica of key, any order; *out_n may be 0.  GV_ENOTFOUND when
	 * the blob itself is unknown. */
	int (*replicas_find)(gv_index *ix, const gv_key *key, gv_replica **out, size_t *out_n);
	/* 1 when the blob row exists (with or without replicas), else 0. */
	int (*blob_exists)(gv_index *ix, const gv_key *key, int64_t *out_created_ms);
	/* Remove a blob row and all its replica rows. */
	int (*blob_remove)(gv_index *ix, const gv_key *key);

	/* ---- cursors (keyset pagination; never loads everything) ---- */
	/* Up to `limit` keys strictly after `after` (NULL: from the start), in
	 * key order. */
	int (*keys_next)(gv_index *ix, const gv_key *after, size_t limit,
	                 gv_key *out, size_t *out_n);
	/* Same, restricted to keys with a replica in `sector`. */
	int (*sector_keys_next)(gv_index *ix, const char *sector, const gv_key *after,
	                        size_t limit, gv_key *out, size_t *out_n);
	/* Up to `limit` blobs strictly after `after` (NULL: from the start), in
	 * index order, each with all its replica rows: one query per batch,
	 * so a gap scan over millions of keys costs a few statements, not one
	 * per key. */
	int (*blobs_next)(gv_index *ix, const gv_key *after, size_t limit,
	                  gv_blob_entry **out, size_t *out_n);
	/* Replicas in scrub order (oldest last_verified first) strictly after
	 * the cursor; `sector` NULL for all.  Advances *cur. */
	int (*replicas_next)(gv_index *ix, gv_replica_cursor *cur, const char *sector,
	                     size_t limit, gv_replica **out, size_t *out_n);

	/* ---- whole-index figures ---- */
	int (*stats)(gv_index *ix, int factor, gv_index_stats *out);

	/* ---- cluster settings (small strings) ---- */
	/* GV_ENOTFOUND when unset; value copied into buf (cap bytes). */
	int (*setting_get)(gv_index *ix, const char *name, char *buf, size_t cap);
	int (*setting_set)(gv_index *ix, const char *name, const char *value);

	void (*close)(gv_index *ix);

	/*
	 * Optional (may be NULL: gv_index_replicas_put then calls replica_put
	 * for each): record n replicas as replica_put would, in one durable
	 * commit.  0 when all are recorded; on failure any of them may be.
	 */
	int (*replicas_put)(gv_index *ix, const gv_replica *rs, size_t n);

	/*
	 * Optional (both NULL when the backend keeps none: every read then
	 * verifies against the key alone): a blob's block table, an opaque
	 * value of up to GV_INDEX_BLOCKS_MAX bytes the engine writes once the
	 * whole blob matched its key (docs/integrity.md).  One per blob, not
	 * per replica: the bytes are the same on every replica.  blocks_put
	 * replaces any earlier value; a value need not outlive its blob row.
	 * blocks_get copies it into a malloc'd *out (caller frees) and
	 * GV_ENOTFOUND when there is none.
	 */
	int (*blocks_put)(gv_index *ix, const gv_key *key, const void *table, size_t len);
	int (*blocks_get)(gv_index *ix, const gv_key *key, void **out, size_t *out_len);

	/*
	 * Optional, all or none (NULL: the backend keeps no repair queue and
	 * the dispatchers answer GV_ERROR): the durable repair queue, one
	 * row per key.  The engine owns the policy (backoff, dead letters);
	 * the backend only stores rows.
	 *
	 * repairq_put: insert or replace the row of e->key.
	 * repairq_get: GV_ENOTFOUND when the key is not queued.
	 * repairq_remove: 0 whether or not the key was queued.
	 * repairq_due: up to `limit` keys not dead with next_attempt_ms <=
	 *   now_ms, earliest first.
	 * repairq_list: up to `limit` rows strictly after `after` (NULL: from
	 *   the start) in key order, dead letters included.
	 * repairq_count: rows not dead, and dead letters.
	 */
	int (*repairq_put)(gv_index *ix, const gv_repairq_entry *e);
	int (*repairq_get)(gv_index *ix, const gv_key *key, gv_repairq_entry *out);
	int (*repairq_remove)(gv_index *ix, const gv_key *key);
	int (*repairq_due)(gv_index *ix, int64_t now_ms, size_t limit, gv_key *out,
	                   size_t *out_n);
	int (*repairq_list)(gv_index *ix, const gv_key *after, size_t limit,
	                    gv_repairq_entry *out, size_t *out_n);
	int (*repairq_count)(gv_index *ix, uint64_t *queued, uint64_t *dead);

	/*
	 * Optional (NULL: a blob keeps the time of its first replica_put):
	 * set the created time of a known blob (index migrate keeps the
	 * source's); GV_ENOTFOUND when the blob is unknown.
	 */
	int (*blob_set_created)(gv_index *ix, const gv_key *key, int64_t created_ms);

	/*
	 * Optional, both or neither: a lock per key shared by every process
	 * that opens this index, for an index several gateways (with data
	 * directories of their own) share.  NULL: the processes that share
	 * the index share its data directory too, and the engine orders
	 * them with a lock file there (sqlite).
	 *
	 * key_lock: 1 once this instance holds key's lock, after waiting at
	 *   most wait_ms for another process to release it (GV_EBUSY after
	 *   that); another error when the index cannot be reached.  The
	 *   caller lets one of its threads ask for a given key at a time and
	 *   holds it briefly (to decide and record, never while copying).
	 * key_unlock: release it.  A lock lost with its connection (the
	 *   server restarted) is released already; the holder's next write
	 *   fails, as that loss means the index was away.
	 */
	int (*key_lock)(gv_index *ix, const gv_key *key, uint64_t wait_ms);
	void (*key_unlock)(gv_index *ix, const gv_key *key);

	/*
	 * Optional, both or neither (NULL: every claim is granted, as to the
	 * one process that works on the index): leases on named pieces of
	 * background work (repair or move of one key, the scrub of one
	 * replica), so that gateways sharing the index never do the same
	 * piece at once, and the work of one that died is taken over once
	 * its lease ends.
	 *
	 * claim: 1 when `owner` holds `name` for ttl_ms from now (a new
	 *   claim, its own renewed, or one whose holder let it expire); 0
	 *   when another owner holds it and its lease has not ended.  Time
	 *   is the index's clock (the server's for PostgreSQL), so gateways
	 *   on several machines agree on it.  Not durable: a claim lost to a
	 *   crash only lets another gateway take the work sooner.
	 * claim_release: owner's claim of name ends now; 0 whether or not
	 *   owner held it.
	 * Names and owners are strings of 1..GV_CLAIM_NAME_MAX - 1 bytes.
	 */
	int (*claim)(gv_index *ix, const char *name, const char *owner, uint64_t ttl_ms);
	int (*claim_release)(gv_index *ix, const char *name, const char *owner);

	/*
	 * Optional, all or none (NULL: the backend keeps no namespace and the
	 * dispatchers answer GV_ERROR): buckets, named objects, multipart
	 * manifests and uploads, pins and garbage candidates
	 * (docs/namespace.md).  The engine checks names; the backend keeps
	 * the reference rules, each op one transaction:
	 *
	 * - A reference (object row, manifest row, upload part row, pin) is
	 *   only created in a transaction that finds the blob row it names
	 *   (GV_ENOTFOUND otherwise); a reference dropped or replaced makes its
	 *   key a candidate: a row (key, since) with since = now_ms (a later
	 *   time kept).
	 * - ns_touch (re)starts a key's candidate clock, the intent of a put in
	 *   flight; its commit need not be durable before it returns (a later
	 *   durable commit covers it; a lost one only leaves a blob longer).
	 * - ns_collect removes, in one transaction, a candidate with since <=
	 *   before_ms that nothing references: its manifest rows (their parts
	 *   becoming candidates), the candidate row, the blob row and its
	 *   replica rows (the engine deletes the bytes after); returns 1.  A
	 *   referenced candidate loses its row; it and one not yet due return
	 *   0.  dry_run: the same answer, nothing changed.
	 * - ns_bucket_remove: GV_ENOTEMPTY while objects or uploads name it.
	 * - ns_buckets: every bucket by name, or only `name` (GV_ENOTFOUND).
	 * - ns_objects_next: up to limit objects of bucket whose names start
	 *   with prefix, strictly after `after` ("" from the start), by name.
	 * - ns_manifest_get: the part keys of manifest `key` in order.
	 * - ns_upload_*: an upload's record (bucket, name, content type, meta,
	 *   mtime_ms as its creation time in a gv_object; key unused) and its
	 *   parts by number; ns_upload_complete records the manifest rows of
	 *   o->key (the parts, in order), binds o, and drops the upload and its
	 *   part rows in one transaction.  ns_uploads_next: uploads of bucket
	 *   (NULL: all) whose names start with prefix, created before
	 *   before_ms, by bucket, name, id.
	 * - ns_pin: pin (the blob must exist) or unpin.
	 * - ns_garbage_next: candidates with since <= before_ms strictly after
	 *   `after` (NULL: from the start), in key order.
	 * - ns_forget: remove a blob's rows and remember the key as forgotten.
	 */
	int (*ns_bucket_put)(gv_index *ix, const gv_bucket_info *b);
	int (*ns_bucket_remove)(gv_index *ix, const char *name);
	int (*ns_buckets)(gv_index *ix, const char *name, gv_bucket_info **out, size_t *out_n);
	int (*ns_object_put)(gv_index *ix, const gv_object *o, int64_t now_ms);
	int (*ns_object_get)(gv_index *ix, const char *bucket, const char *name, gv_object *out);
	int (*ns_object_remove)(gv_index *ix, const char *bucket, const char *name, int64_t now_ms);
	int (*ns_objects_next)(gv_index *ix, const char *bucket, const char *prefix,
	                       const char *after, size_t limit, gv_object **out, size_t *out_n);
	int (*ns_manifest_get)(gv_index *ix, const gv_key *key, gv_key **out, size_t *out_n);
	int (*ns_upload_put)(gv_index *ix, const char *id, const gv_object *o);
	int (*ns_upload_get)(gv_index *ix, const char *id, gv_object *out);
	int (*ns_upload_part_put)(gv_index *ix, const char *id, const gv_ns_part *p, int64_t now_ms);
	int (*ns_upload_parts_next)(gv_index *ix, const char *id, uint32_t after, size_t limit,
	                            gv_ns_part **out, size_t *out_n);
	int (*ns_upload_remove)(gv_index *ix, const char *id, int64_t now_ms);
	int (*ns_uploads_next)(gv_index *ix, const char *bucket, const char *prefix,
	                       int64_t before_ms, size_t limit, gv_ns_upload **out, size_t *out_n);
	int (*ns_upload_complete)(gv_index *ix, const char *id, const gv_object *o,
	                          const gv_key *parts, size_t n, int64_t now_ms);
	int (*ns_pin)(gv_index *ix, const gv_key *key, int pin, int64_t now_ms);
	int (*ns_touch)(gv_index *ix, const gv_key *key, int64_t now_ms);
	int (*ns_garbage_next)(gv_index *ix, int64_t before_ms, const gv_key *after, size_t limit,
	                       gv_key *out, size_t *out_n);
	int (*ns_collect)(gv_index *ix, const gv_key *key, int64_t before_ms, int dry_run);
	int (*ns_forget)(gv_index *ix, const gv_key *key, int64_t now_ms);
};

/* Longest claim name or owner, with its NUL. */
#define GV_CLAIM_NAME_MAX 256

/* Largest block table an index must hold: 16 MiB (a 512 TiB blob of 1 MiB
 * blocks, a 2 TiB blob of 4 KiB ones). */
#define GV_INDEX_BLOCKS_MAX (16u << 20)

struct gv_index {
	const struct gv_index_ops *ops;
};

/*
 * Dispatchers: the engine calls these, never ix->ops directly.  Each
 * forwards to the op of the same name (gv_index_stats_get to `stats`);
 * gv_index_close is NULL-safe.
 */
GV_API int gv_index_sector_upsert(gv_index *ix, const gv_sector_info *s);
GV_API int gv_index_sector_get(gv_index *ix, const char *id, gv_sector_info *out);
GV_API int gv_index_sector_list(gv_index *ix, gv_sector_info **out, size_t *out_n);
GV_API int gv_index_sector_set_health(gv_index *ix, const char *id, int healthy);
GV_API int gv_index_sector_set_state(gv_index *ix, const char *id, gv_sector_state st);
GV_API int gv_index_sector_remove(gv_index *ix, const char *id);
GV_API int gv_index_replica_put(gv_index *ix, const gv_replica *r);
GV_API int gv_index_replicas_put(gv_index *ix, const gv_replica *rs, size_t n);
GV_API int gv_index_replica_remove(gv_index *ix, const gv_key *key, const char *sector);
GV_API int gv_index_replica_set_health(gv_index *ix, const gv_key *key, const char *sector,
                                int healthy, const char *reason);
GV_API int gv_index_replica_set_verified(gv_index *ix, const gv_key *key, const char *sector,
                                  int64_t when_ms, const uint8_t digest[GV_DIGEST_LEN]);
GV_API int gv_index_replica_set_ranges(gv_index *ix, const gv_key *key, const char *sector,
                                const gv_rangeset *ranges);
GV_API int gv_index_replicas_find(gv_index *ix, const gv_key *key, gv_replica **out, size_t *out_n);
GV_API int gv_index_blob_exists(gv_index *ix, const gv_key *key, int64_t *out_created_ms);
GV_API int gv_index_blob_remove(gv_index *ix, const gv_key *key);
GV_API int gv_index_keys_next(gv_index *ix, const gv_key *after, size_t limit, gv_key *out,
                       size_t *out_n);
GV_API int gv_index_sector_keys_next(gv_index *ix, const char *sector, const gv_key *after,
                              size_t limit, gv_key *out, size_t *out_n);
GV_API int gv_index_blobs_next(gv_index *ix, const gv_key *after, size_t limit, gv_blob_entry **out,
                        size_t *out_n);
GV_API int gv_index_replicas_next(gv_index *ix, gv_replica_cursor *cur, const char *sector,
                           size_t limit, gv_replica **out, size_t *out_n);
GV_API int gv_index_stats_get(gv_index *ix, int factor, gv_index_stats *out);
GV_API int gv_index_setting_get(gv_index *ix, const char *name, char *buf, size_t cap);
GV_API int gv_index_setting_set(gv_index *ix, const char *name, const char *value);
GV_API void gv_index_close(gv_index *ix);
/* A backend without block tables: put does nothing, get is GV_ENOTFOUND. */
GV_API int gv_index_blocks_put(gv_index *ix, const gv_key *key, const void *table, size_t len);
GV_API int gv_index_blocks_get(gv_index *ix, const gv_key *key, void **out, size_t *out_len);
GV_API int gv_index_repairq_put(gv_index *ix, const gv_repairq_entry *e);
GV_API int gv_index_repairq_get(gv_index *ix, const gv_key *key, gv_repairq_entry *out);
GV_API int gv_index_repairq_remove(gv_index *ix, const gv_key *key);
GV_API int gv_index_repairq_due(gv_index *ix, int64_t now_ms, size_t limit, gv_key *out,
                                size_t *out_n);
GV_API int gv_index_repairq_list(gv_index *ix, const gv_key *after, size_t limit,
                                 gv_repairq_entry *out, size_t *out_n);
GV_API int gv_index_repairq_count(gv_index *ix, uint64_t *queued, uint64_t *dead);
/* A backend without it: does nothing. */
GV_API int gv_index_blob_set_created(gv_index *ix, const gv_key *key, int64_t created_ms);
/* 1: held; 0: the index keeps no key locks (nothing taken); < 0: error. */
GV_API int gv_index_key_lock(gv_index *ix, const gv_key *key, uint64_t wait_ms);
/* NULL-op safe: does nothing for an index without key locks. */
GV_API void gv_index_key_unlock(gv_index *ix, const gv_key *key);
/* An index without claims grants every claim (1) and releases nothing. */
GV_API int gv_index_claim(gv_index *ix, const char *name, const char *owner, uint64_t ttl_ms);
GV_API int gv_index_claim_release(gv_index *ix, const char *name, const char *owner);
/* The namespace ops; a backend without them: GV_ERROR. */
GV_API int gv_index_ns_bucket_put(gv_index *ix, const gv_bucket_info *b);
GV_API int gv_index_ns_bucket_remove(gv_index *ix, const char *name);
GV_API int gv_index_ns_buckets(gv_index *ix, const char *name, gv_bucket_info **out, size_t *out_n);
GV_API int gv_index_ns_object_put(gv_index *ix, const gv_object *o, int64_t now_ms);
GV_API int gv_index_ns_object_get(gv_index *ix, const char *bucket, const char *name, gv_object *out);
GV_API int gv_index_ns_object_remove(gv_index *ix, const char *bucket, const char *name,
                                     int64_t now_ms);
GV_API int gv_index_ns_objects_next(gv_index *ix, const char *bucket, const char *prefix,
                                    const char *after, size_t limit, gv_object **out,
                                    size_t *out_n);
GV_API int gv_index_ns_manifest_get(gv_index *ix, const gv_key *key, gv_key **out, size_t *out_n);
GV_API int gv_index_ns_upload_put(gv_index *ix, const char *id, const gv_object *o);
GV_API int gv_index_ns_upload_get(gv_index *ix, const char *id, gv_object *out);
GV_API int gv_index_ns_upload_part_put(gv_index *ix, const char *id, const gv_ns_part *p,
                                       int64_t now_ms);
GV_API int gv_index_ns_upload_parts_next(gv_index *ix, const char *id, uint32_t after, size_t limit,
                                         gv_ns_part **out, size_t *out_n);
GV_API int gv_index_ns_upload_remove(gv_index *ix, const char *id, int64_t now_ms);
GV_API int gv_index_ns_uploads_next(gv_index *ix, const char *bucket, const char *prefix,
                                    int64_t before_ms, size_t limit, gv_ns_upload **out,
                                    size_t *out_n);
GV_API int gv_index_ns_upload_complete(gv_index *ix, const char *id, const gv_object *o,
                                       const gv_key *parts, size_t n, int64_t now_ms);
GV_API int gv_index_ns_pin(gv_index *ix, const gv_key *key, int pin, int64_t now_ms);
GV_API int gv_index_ns_touch(gv_index *ix, const gv_key *key, int64_t now_ms);
GV_API int gv_index_ns_garbage_next(gv_index *ix, int64_t before_ms, const gv_key *after,
                                    size_t limit, gv_key *out, size_t *out_n);
GV_API int gv_index_ns_collect(gv_index *ix, const gv_key *key, int64_t before_ms, int dry_run);
GV_API int gv_index_ns_forget(gv_index *ix, const gv_key *key, int64_t now_ms);
/* Free n objects (their meta) and the array. */
GV_API void gv_ns_objects_free(gv_object *v, size_t n);

/* ---- copying a whole index (index migrate) ---------------------------------- */

/* What an index holds, and a SHA-256 over a canonical text of all its rows
 * (sectors, blobs with their replicas, settings, block tables, the repair
 * queue): the same rows give the same digest whatever the backend. */
typedef struct gv_index_summary {
	uint64_t sectors;
	uint64_t blobs;
	uint64_t replicas;
	uint64_t settings;
	uint64_t block_tables;
	uint64_t repair_queue;  /* rows, dead letters included */
	char digest[2 * GV_DIGEST_LEN + 1]; /* lowercase hex */
} gv_index_summary;

/* Count and digest every row of ix. */
GV_API int gv_index_summarize(gv_index *ix, gv_index_summary *out);

/*
 * Copy every row of src into dst, which must be empty (no sector, no blob,
 * no setting, no repair queue row: GV_EEXISTS otherwise), then summarize both: GV_ECORRUPT
 * when they differ.  *out is the source's summary.  The caller keeps
 * writers away from src meanwhile (the store stopped).  Progress: each
 * batch of blobs copied calls on_blobs(total so far, payload) when set.
 */
GV_API int gv_index_copy(gv_index *dst, gv_index *src, gv_index_summary *out,
                         void (*on_blobs)(uint64_t n, void *payload), void *payload);

/*
 * SQLite backend.  Creates the file and schema when missing (with
 * `create`), migrates older schema versions, refuses a newer one.
 * Journal mode WAL, busy timeout 10 s.  Every op whose commit changed rows
 * returns only once that commit is durable (the WAL synced after it;
 * concurrent commits share one sync), so what an op acknowledged survives
 * a power failure.
 */
GV_API int gv_index_sqlite_open(gv_index **out, const char *path, int create);

/*
 * The same for a new file built in bulk and made durable as a whole
 * before use (index rebuild): commits are not synced one by one; closing
 * the last connection checkpoints the WAL into the file and syncs it.
 */
GV_API int gv_index_sqlite_open_bulk(gv_index **out, const char *path);

/*
 * PostgreSQL backend (libpq): `url` is a libpq URL,
 * "postgresql://[user[:password]@]host[:port]/database[?option=value&...]",
 * with libpq's options (sslmode, connect_timeout, options=-csearch_path=S
 * ...) and one of its own, pool_size=N (1..64, default 8): the
 * connections the instance keeps, so at most N ops run at once.  Creates
 * the schema (with `create`) in the connection's current schema, migrates
 * older versions, refuses a newer one.  While the server is unreachable,
 * ops fail with GV_EUNAVAILABLE and reconnect on their next call.  See
 * docs/postgresql.md.
 */
GV_API int gv_index_postgresql_open(gv_index **out, const char *url, int create);

/* ---- backends: the registry the engine opens the index through ------------ */

#define GV_INDEX_BACKEND_DEFAULT "sqlite"

/* Open flags. */
#define GV_INDEX_OPEN_CREATE 0x1 /* create the index when missing */
#define GV_INDEX_OPEN_BULK   0x2 /* a new index built in bulk (rebuild): see
                                  * gv_index_sqlite_open_bulk; implies CREATE */

typedef struct gv_index_backend {
	unsigned version; /* GV_INDEX_OPS_VERSION */
	const char *name; /* "sqlite", ...: the scheme of its URLs, no ':' */
	/* Open the index at `locator` (a URL without its scheme: for sqlite a
	 * file path) with ops of version GV_INDEX_OPS_VERSION. */
	int (*open)(gv_index **out, const char *locator, unsigned flags);
} gv_index_backend;

/*
 * Register a backend (`b` must outlive every use: a static).  sqlite is
 * built in.  GV_EEXISTS when the name is taken, GV_EINVAL for a record of
 * another version.
 */
GV_API int gv_index_backend_register(const gv_index_backend *b);

/*
 * Open an index.  `url` is "BACKEND:LOCATOR" ("sqlite:/data/graviton.db")
 * or a bare locator for `backend` (NULL or "": GV_INDEX_BACKEND_DEFAULT).
 * A URL naming another backend than `backend` is GV_EINVAL, and so is an
 * unknown backend, with a message listing the registered ones.  The
 * index's ops version is checked.  A bare path that contains ':' before
 * any '/' reads as a URL: write it "./a:b" or "sqlite:a:b".
 */
GV_API int gv_index_open(gv_index **out, const char *backend, const char *url, unsigned flags);
/* gv_index_open(out, NULL, url, flags). */
GV_API int gv_index_open_url(gv_index **out, const char *url, unsigned flags);
/* The locator part of a URL (url itself when it has no scheme). */
GV_API const char *gv_index_url_locator(const char *url);
/*
 * An index URL fit to print: url copied into buf (cap bytes, cut short when
 * longer) with every password shown as "***": the one in the user info
 * ("postgresql://user:***@host/db") and the value of each query option
 * whose name ends in "password" ("?password=***", "sslpassword=***").
 * Anything that is not "scheme://..." is copied as is.  Returns buf.
 * Every message, log line and document that shows an index URL shows it
 * through this.
 */
GV_API const char *gv_index_url_redact(char *buf, size_t cap, const char *url);
/* A buffer large enough for the redacted URLs of messages. */
#define GV_INDEX_URL_SHOWN 1024

/* Schema version the code writes. */
#define GV_INDEX_SQLITE_SCHEMA 3

#ifdef __cplusplus
}
#endif
#endif
