/*
 * store.h - the store's internals, shared by the engine's modules
 * (put, get, status, repair, scrub, rebalance).
 *
 * Locking: `lock` guards the sector slots and the placement settings.
 * Slots are never freed before the store, so a gv_sector pointer obtained
 * under the lock stays valid until the store is closed.  `bg_lock` guards
 * the count of background copies still running: each holds the store, and
 * a store that gv_store_free left to them (detached) is closed by the last.
 */
#ifndef GV_ENGINE_STORE_H
#define GV_ENGINE_STORE_H

#include <stdatomic.h>
#include <pthread.h>

#include "graviton/graviton.h"
#include "graviton/repair.h"
#include "graviton/scrub.h"
#include "graviton/rebalance.h"
#include "graviton/sys/index.h"
#include "graviton/sys/sector.h"
#include "engine/repairq.h"

typedef struct gv_sector_slot {
	char id[GV_ID_MAX];
	gv_sector *sector;              /* NULL while the backend cannot open */
	char reason[GV_REASON_MAX];     /* why it could not open, or was
	                                 * declared unhealthy */
	unsigned failures;              /* consecutive write failures */
} gv_sector_slot;

/* The reason of a sector an operator marked unhealthy (set-health). */
#define GV_SECTOR_REASON_OPERATOR "marked unhealthy by an operator"

/* Consecutive write failures that declare a sector unhealthy. */
#define GV_SECTOR_FAILURES_MAX 3

struct gv_store {
	char *data_dir;
	char cluster_id[GV_CLUSTER_ID_MAX]; /* index setting cluster.id */
	gv_index *ix;
	uint64_t write_timeout_ms;
	uint64_t hedge_after_ms;        /* 0: from each sector's latencies */
	unsigned copy_threads;
	uint32_t block_size;            /* of new blobs' block tables */

	pthread_mutex_t lock;
	gv_placement_opts placement;
	gv_sector_slot *slots;
	size_t nslots, slots_cap;
	/* Backends replaced while the store is open; another thread may still
	 * be using one, so they are closed only by gv_store_free. */
	gv_sector **graveyard;
	size_t ngraveyard;

	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	int bg_active;
	int detached;                   /* gv_store_free gave up waiting: the
	                                 * last copy closes the store */

	/* stats_lock guards the counters and the wake-up flag. */
	pthread_mutex_t stats_lock;
	pthread_cond_t wake_cond;
	int repair_wake;                /* something was queued */
	int repair_full;                /* a full run was asked for */
	gv_repair_counters repair;
	gv_scrub_counters scrub;
	gv_presence_counters presence;
	int64_t rebalance_last_success_ms; /* a run that moved all it planned */
	gv_repairq repairq;             /* keys waiting for repair (durable) */

	/* Per-key locks (keylock.c): keylock_mu guards the keys held by
	 * this process; keylock_fd is DIR/keys.lock, or -1. */
	pthread_mutex_t keylock_mu;
	pthread_cond_t keylock_cv;
	gv_key *keylock_held;
	size_t keylock_n, keylock_cap;
	int keylock_fd;
	int keylock_ready;

	/* Who this store is among the gateways sharing the index, and how
	 * long its claims of background work last (claim.c); immutable. */
	char claim_owner[GV_CLAIM_NAME_MAX]; /* host/pid/random; + "/tid" per thread */
	uint64_t claim_ttl_ms;
	/* The claims this store holds, renewed by claims_tid (claim.c);
	 * claims_mu guards them and orders renewals before releases. */
	pthread_mutex_t claims_mu;
	pthread_cond_t claims_cv;
	struct gv_claim_held *claims;
	size_t nclaims, claims_cap;
	pthread_t claims_tid;
	int claims_thread, claims_stop, claims_ready;
	/* The index is not the data directory's own file (a PostgreSQL
	 * index other gateways may share): local sectors are recorded by
	 * absolute path, never relative to this data directory.  Immutable. */
	int index_shared;

	/* The whole-index gauges of /metrics (metrics.c), computed at most
	 * once per GV_METRICS_CACHE_MS and shared by concurrent scrapers;
	 * metrics_mu guards them. */
	pthread_mutex_t metrics_mu;
	long long metrics_at_ms;        /* monotonic; 0: never computed */
	gv_store_stats metrics_stats;
	gv_sector_info *metrics_sectors;
	int64_t *metrics_oldest;        /* per sector: its least recently
	                                 * verified replica's last_verified
	                                 * (unix ms), 0 when it holds none */
	size_t metrics_nsectors;
	uint64_t metrics_computations;

	/* Recent first-byte latencies of reads, per sector (hedge.c);
	 * lat_mu guards them. */
	pthread_mutex_t lat_mu;
	struct gv_latency *lat;
	size_t nlat;

	/* The failure detector's record of each sector (health.c);
	 * health_mu guards it. */
	pthread_mutex_t health_mu;
	struct gv_health_entry *health;
	size_t nhealth, health_cap;
};

/* The backend of sector `id`, or NULL (reason copied into why, if given). */
gv_sector *gv_store_sector_handle(gv_store *st, const char *id, char *why, size_t cap);

/* Replace the backend of a registered sector (tests: fault injection).
 * The store takes ownership of `s`; the old backend is closed. */
int gv_store_sector_attach(gv_store *st, const char *id, gv_sector *s);

/* After a blob's rows went (under the key's lock): take it off the repair
 * queue and delete the bytes of its replicas `reps` where reachable. */
void gv_store_drop_bytes(gv_store *st, const gv_key *key, const gv_replica *reps, size_t n);

/* The index (borrowed). */
gv_index *gv_store_index(gv_store *st);

/* Effective health of a replica: its own flag, complete, and its sector
 * healthy and not retired.  `sectors` from the index. */
int gv_replica_effective_health(const gv_replica *r, const gv_sector_info *sectors,
                                size_t nsectors, char *why, size_t cap);

/* Record a complete, healthy replica of key in sector (after its bytes
 * are durable there). */
int gv_store_record_replica(gv_store *st, const gv_key *key, const char *sector);
/* The same for n sectors, in one durable index commit when the index can;
 * on failure any of them may be recorded. */
int gv_store_record_replicas(gv_store *st, const gv_key *key, const char *const *sectors,
                             size_t n);

/*
 * Helpers for callers holding the key lock (gv_key_lock).
 *
 * gv_store_has_row: 1 when key has a replica row in sector, 0 when not,
 * else the index error.
 *
 * gv_store_drop_unrecorded: delete the bytes of key in sector that the
 * caller committed, unless a row counts on them (another operation
 * recorded the same bytes).  An index error keeps the bytes (extra bytes
 * are harmless; a row without bytes is not) and is returned.
 *
 * gv_store_record_late: record bytes the caller committed earlier
 * without holding the key (a late put copy, a repair or move copy): only
 * while the blob is still in the index and the bytes are still there.
 * GV_ENOTFOUND when the blob was deleted meanwhile (the bytes are then
 * dropped); a failed record drops the bytes no row counts on.
 */
int gv_store_has_row(gv_store *st, const gv_key *key, const char *sector);
int gv_store_drop_unrecorded(gv_store *st, const gv_key *key, const char *sector);
int gv_store_record_late(gv_store *st, const gv_key *key, const char *sector);

/* Mark one replica unhealthy with a reason, log it, queue the key for
 * repair with `cause` ("read", "scrub", ...) naming who found it. */
void gv_store_mark_unhealthy_as(gv_store *st, const gv_key *key, const char *sector,
                                const char *reason, const char *cause);
/* The same, found by a read. */
void gv_store_mark_unhealthy(gv_store *st, const gv_key *key, const char *sector,
                             const char *reason);
/*
 * A read of the replica of key on sector failed with err.  GV_EIO and
 * GV_ETIMEOUT say the sector could not be reached (a node down or hung, a
 * disk gone), not that this replica is bad: the failure detector hears of
 * it (gv_health_observe) and the row stays as it is, so the copy counts
 * again once the sector answers.  Anything else (missing, wrong size,
 * checksum mismatch) marks the replica unhealthy and queues the key, as
 * gv_store_mark_unhealthy_as.  1 when marked, 0 when not.
 */
int gv_store_replica_failed(gv_store *st, const gv_key *key, const char *sector, int err,
                            const char *reason, const char *cause);

/*
 * Sector health from the writes that use it: a failure (err < 0, reason
 * from gv_error_last) counts; GV_SECTOR_FAILURES_MAX in a row declare the
 * sector unhealthy (gv_store_sector_down); a success resets the count.
 * Errors that say nothing of the medium (no space, timeouts, cancels,
 * bad input) are ignored.
 */
void gv_store_sector_result(gv_store *st, const char *id, int err);

/*
 * Tell the failure detector (graviton/health.h) how an operation on
 * sector id ended: 0 ends a run of failures; GV_EIO and GV_ETIMEOUT (the
 * sector could not be reached) start one at now; others are ignored.
 */
void gv_health_observe(gv_store *st, const char *id, int err);
/* 1 while a run of failures of sector id is open (observed, not ended). */
int gv_health_failing(gv_store *st, const char *id);

/* The detector's mark (reason starting GV_HEALTH_REASON): counted for
 * flap damping, then gv_store_sector_down, logged as event=sector_down. */
void gv_health_down(gv_store *st, const char *id, const char *reason);

/* Forget the detector's record of st (gv_store_free). */
void gv_health_free(gv_store *st);

/* The reason an unhealthy sector is so (this process's finding, else the
 * index's), into info->reason; empty when healthy. */
void gv_store_sector_reason(gv_store *st, gv_sector_info *info);

/*
 * Declare a sector unhealthy: mark it so in the index with the reason
 * (kept as the index setting sector.<id>.unhealthy-reason) and log it
 * once.  Placement and repair then skip it; its backend stays open for
 * reads until set-health healthy reopens it (when it no longer checks).
 */
void gv_store_sector_down(gv_store *st, const char *id, const char *reason);

/*
 * Catch up with what other gateways sharing the index did: open the
 * sectors registered since this store opened, reopen those the index says
 * are healthy again whose backend could not open here, and forget this
 * store's reason for a sector the index holds healthy.  The failure
 * detector calls it every round.
 */
int gv_store_sectors_refresh(gv_store *st);

/*
 * Measure each sector's free space and device from its backend (the
 * free, free_known and device of gv_sector_info): the smaller of its
 * headroom (capacity minus what the backend holds) and the filesystem's
 * free space, which sectors on one filesystem share in proportion to
 * their headroom.  A sector whose backend is not open keeps free_known 0.
 */
void gv_store_sector_space(gv_store *st, gv_sector_info *sectors, size_t n);

/* The registered sectors with their free space measured: what placement
 * is given (index sector_list, then gv_store_sector_space). */
int gv_store_sectors_measured(gv_store *st, gv_sector_info **out, size_t *out_n);

/* Open a sector backend from its registry record: a relative path is
 * under the data directory; a local sector must belong to this cluster. */
int gv_store_open_backend(gv_store *st, gv_sector **out, const gv_sector_info *info,
                          unsigned flags);

/*
 * The path the index keeps for a sector root: resolved (realpath), and
 * relative to the data directory when under it, so that a copy of the
 * directory works on its own sectors (data_dir NULL: always absolute, for
 * an index several gateways share).  GV_EIO when path cannot be resolved.
 */
int gv_store_index_path(const char *data_dir, const char *path, char *out, size_t cap);

/*
 * Copy the cluster settings (cluster id, placement) of the index at
 * old_path, when it opens, into ix; *cluster gets the id ("" when none).
 */
int gv_store_settings_carry(gv_index *ix, const char *backend, const char *old_path,
                            char *cluster, size_t cap);

/*
 * Exclusive lock on one key, across the threads of this process and the
 * processes sharing the data directory (keylock.c).  Held around every
 * decision that reads the key's rows and then writes or deletes its bytes
 * or rows: recording a replica, dropping one, deleting the blob, undoing a
 * failed put.  A thread holds at most one key at a time; never hold
 * st->lock or an index transaction while waiting for it.
 */
int gv_key_lock(gv_store *st, const gv_key *key);
void gv_key_unlock(gv_store *st, const gv_key *key);
int gv_keylock_init(gv_store *st);
void gv_keylock_destroy(gv_store *st);

/*
 * Background work claimed across the gateways sharing the index
 * (claim.c): a piece of work (repairing or moving the replicas of a key,
 * scrubbing one replica) is done only by the store that claims it, for
 * st->claim_ttl_ms, renewed every third of that by the store's renewer
 * thread for as long as it is held, and released when done; claim and
 * release by the thread doing the work (the owner is the store and the
 * thread).  Only with a shared index (st->index_shared); otherwise every
 * claim is granted.
 *
 * gv_work_claim: 1 claimed (do the work), 0 another gateway has it (skip
 * it: that gateway does it, or, if it died, a later pass once its claim
 * ran out); an index error is logged and counts as 0.
 * gv_work_release: end the claim (errors ignored: it runs out).
 * name: gv_work_name_key() or gv_work_name_replica().
 * gv_claim_destroy stops the renewer (before the index closes).
 */
#define GV_CLAIM_TTL_DEFAULT_MS 60000
void gv_claim_init(gv_store *st, uint64_t ttl_ms);
void gv_claim_destroy(gv_store *st);
const char *gv_work_name_key(char *buf, size_t cap, const gv_key *key);
const char *gv_work_name_replica(char *buf, size_t cap, const gv_key *key, const char *sector);
int gv_work_claim(gv_store *st, const char *name);
void gv_work_release(gv_store *st, const char *name);

/* mkdir -p: path and its missing parents, mode 0755. */
int gv_mkdir_p(const char *path);

/* Background copy accounting. */
void gv_store_bg_enter(gv_store *st);
void gv_store_bg_leave(gv_store *st);

struct gv_limiter;

/*
 * Read a whole committed blob and check its size and SHA-256 against its
 * key.  0 when it matches; otherwise the error, with the reason recorded
 * on replicas ("missing", "size mismatch", "checksum mismatch",
 * "io error: ...") copied into `reason` (NULL ok).  `bytes` (NULL ok)
 * counts bytes read, `lim` (NULL ok) limits the rate, `cancel` (NULL ok)
 * stops early with GV_ECANCELED.
 */
int gv_replica_verify(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                      uint64_t *bytes, struct gv_limiter *lim, atomic_int *cancel);
/* The same, feeding every byte read to `bh` too (NULL ok): the block table
 * it then yields is true when this returns 0. */
struct gv_block_hasher;
int gv_replica_verify_blocks(gv_sector *s, const gv_key *key, char *reason, size_t cap,
                             uint64_t *bytes, struct gv_limiter *lim, atomic_int *cancel,
                             struct gv_block_hasher *bh);

/* gv_replica_verify, keeping the bytes: `keep` has room for key->size
 * bytes and holds the replica when it returns 0 (one read serves both the
 * check and the caller). */
int gv_replica_verify_into(gv_sector *s, const gv_key *key, void *keep, char *reason,
                           size_t cap);

/* Copy a committed blob from one sector to another, streaming, with an
 * optional SHA-256 check of the bytes read.  Durable on return. */
int gv_copy_blob(gv_sector *from, gv_sector *to, const gv_key *key, int verify);

#endif
