/*
 * graviton/graviton.h - the store: replicated writes, verified reads,
 * replica status.  The CLI and the server include only this header (and
 * the ones it includes).
 *
 * A store opens one data directory: its replica index and the sectors the
 * index registers.  Threads: every call taking a gv_store may run
 * concurrently from many threads; a gv_put or gv_get handle belongs to one
 * thread at a time.
 *
 * Streaming shape (push for writes, pull for reads), so neither the CLI nor
 * the HTTP server ever holds a whole blob:
 *
 *   gv_put_open(&put, store, &popts);  gv_put_write(put, buf, n) ...
 *   gv_put_commit(put, &result)        or gv_put_abort(put)
 *   gv_get_open(&get, store, &key, &gopts);  gv_get_read(get, buf, cap) ...
 *   gv_get_close(get)
 */
#ifndef GRAVITON_GRAVITON_H
#define GRAVITON_GRAVITON_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include "common.h"
#include "key.h"
#include "rangeset.h"
#include "types.h"
#include "placement.h"
#include "repair.h"
#include "scrub.h"
#include "rebalance.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_VERSION "0.1.0"

typedef struct gv_store gv_store;
typedef struct gv_put gv_put;
typedef struct gv_get gv_get;

/* ---- opening ------------------------------------------------------------ */

#define GV_STORE_OPTS_VERSION 1

typedef struct gv_store_opts {
	unsigned version;
	const char *data_dir;     /* required */
	const char *index_path;   /* NULL: <data_dir>/graviton.db; or a URL, "sqlite:PATH" */
	int create;               /* create data dir and index when missing */
	/* Placement settings come from the index's cluster settings
	 * (defaults when unset); placement_set stores these as the cluster's
	 * first (gv_store_set_placement), so no command runs with others. */
	int placement_set;
	gv_placement_opts placement;
	uint64_t write_timeout_ms; /* 0: 30 s */
	unsigned copy_threads;     /* 0: factor */
	/* The index backend (graviton.index.backend): NULL for the scheme of
	 * index_path when it is a URL ("sqlite:PATH"), else "sqlite". */
	const char *index_backend;
	/* Bytes per checksummed block of new blobs
	 * (graviton.integrity.block-size): 0 for 1 MiB; 4 KiB..64 MiB. */
	uint64_t block_size;
	/* A read whose replica has not produced its first byte within this
	 * long also starts the next replica (graviton.read.hedge-after); 0:
	 * the p95 of that sector's recent first-byte latencies, at least
	 * 10 ms. */
	uint64_t hedge_after_ms;
	/* How long a claim of background work lasts without renewal when
	 * several gateways share the index (graviton.index.claim-ttl): the
	 * work of a gateway that died is taken over after this long.  0: 60 s. */
	uint64_t claim_ttl_ms;
} gv_store_opts;

#define GV_STORE_OPTS_INIT \
	{ GV_STORE_OPTS_VERSION, NULL, NULL, 0, 0, GV_PLACEMENT_OPTS_INIT, 0, 0, NULL, 0, 0, 0 }

/*
 * Open the store.  Every registered sector is opened; a sector that cannot
 * be opened (directory gone, identity of another sector) is marked
 * unhealthy in the index and the reason logged, and the store still opens.
 * *out is NULL on failure.
 */
GV_API int gv_store_open(gv_store **out, const gv_store_opts *opts);

/*
 * Wait for the put's background copies, for at most the write timeout
 * (write_timeout_ms, 30 s by default), then close.  Copies still running
 * then (a hung disk) are left to finish on their own: they keep the
 * store's memory, sectors and index open and the last of them closes it;
 * the caller must not use the handle after this call either way.
 */
GV_API void gv_store_free(gv_store *store);

/*
 * The data directory's serve lock (DIR/serve.lock), held by `graviton
 * serve` for its lifetime and by gv_index_rebuild while it runs.  On
 * success *fd_out is the lock's descriptor (close-on-exec), for
 * gv_serve_unlock; GV_EBUSY while another process holds it.  A missing
 * data directory is created first (only it and DIR/serve.lock).
 */
GV_API int gv_serve_lock(const char *data_dir, int *fd_out);
GV_API void gv_serve_unlock(int fd);

/* Effective placement settings (borrowed; valid until the store is freed). */
GV_API gv_placement_opts gv_store_placement(gv_store *store);

/* Persist placement settings as the cluster's (index) and use them now;
 * a change is logged (event=placement_changed, old->new). */
GV_API int gv_store_set_placement(gv_store *store, const gv_placement_opts *opts);

/* Re-read the cluster's placement settings from the index (another process
 * may have changed them). */
GV_API int gv_store_reload_placement(gv_store *store);

/* The cluster id (a UUID kept in the index and in every local sector's
 * identity); borrowed. */
GV_API const char *gv_store_cluster_id(gv_store *store);

/*
 * Small values a program keeps beside the cluster's settings in the index
 * (the server's job log).  Names must start with "app." so that no caller
 * can change placement or cluster settings through these; values are
 * short text (a few KiB).  get: GV_ENOTFOUND when unset, the value copied
 * into buf (cap bytes, GV_EINVAL when it does not fit).
 */
GV_API int gv_store_note_get(gv_store *store, const char *name, char *buf, size_t cap);
GV_API int gv_store_note_set(gv_store *store, const char *name, const char *value);

/* ---- sectors ------------------------------------------------------------ */

/* Sector add flags */
#define GV_SECTOR_ADD_CREATE 0x1 /* create the directory / identity when missing */
#define GV_SECTOR_ADD_ADOPT 0x2  /* take over a directory of another cluster */

/*
 * Register a sector and open its backend.  For kind "fs" the path is the
 * sector root; its identity file records id, rack, zone, capacity and the
 * cluster id.  A root of another cluster is GV_EEXISTS unless
 * GV_SECTOR_ADD_ADOPT (which rewrites its identity).
 * capacity 0 takes the filesystem's size.  An id already registered is
 * GV_EEXISTS: a replacement disk gets a new id.
 */
GV_API int gv_store_sector_add(gv_store *store, const gv_sector_info *info, unsigned flags);

/* The registered sectors, each with its measured free space and device
 * (gv_sector_info free, free_known, device). */
GV_API int gv_store_sector_list(gv_store *store, gv_sector_info **out, size_t *out_n);
/* The same, asking no other node: only sectors kept on this machine get
 * their free space measured (the others keep free_known 0), for displays
 * that refresh on their own schedule. */
GV_API int gv_store_sector_list_local(gv_store *store, gv_sector_info **out, size_t *out_n);
GV_API int gv_store_sector_get(gv_store *store, const char *id, gv_sector_info *out);
/*
 * The open backend of a registered sector whose kind keeps its data on
 * this machine (GV_SECTOR_KIND_LOCAL), for the node protocol to lend it to
 * other nodes; NULL (error set) when there is no such sector, it is of
 * another kind, it cannot open or it cannot be recorded as lent.  The
 * sector is recorded as lent (gv_sector_lend) before it is returned, so
 * every blob the node protocol writes into it is kept from this store's
 * reclaim: the borrowing node's index counts it.  Borrowed: a backend replaced later is
 * closed only by gv_store_free, so the pointer lives as long as the store.
 */
GV_API struct gv_sector *gv_store_sector_local(gv_store *store, const char *id);
GV_API int gv_store_sector_set_health(gv_store *store, const char *id, int healthy);
GV_API int gv_store_sector_set_state(gv_store *store, const char *id, gv_sector_state st);
/*
 * Replace a lost sector: register `info` (a new id and path; kind "fs" when
 * empty) with old_id's rack and zone, then mark old_id retired and
 * unhealthy ("replaced by NEW"), so its rows no longer count and repair
 * restores each key's factor onto the new sector and others.  Refused,
 * changing nothing, when old_id is unknown (GV_ENOTFOUND), retired already
 * or still reachable (GV_EINVAL: drain a working disk instead), or when
 * the new sector cannot be added.  Run again after an interruption.
 */
GV_API int gv_store_sector_replace(gv_store *store, const char *old_id, const gv_sector_info *info,
                            unsigned flags);
/*
 * Check every healthy sector: its backend is open and still reachable where
 * it was opened (fs: the root is the same directory, its identity file is
 * there).  A sector that fails is marked unhealthy with the reason
 * (gv_sector_info.reason) and logged once; *down counts them.  Sectors are
 * also declared unhealthy after 3 consecutive failed writes.
 */
GV_API int gv_store_sector_check(gv_store *store, unsigned *down);

/* ---- writing ------------------------------------------------------------ */

#define GV_PUT_OPTS_VERSION 1

typedef struct gv_put_opts {
	unsigned version;
	/* Expected key (optional): the write fails with GV_ECORRUPT if the
	 * bytes hash to something else. */
	const gv_key *expect;
	uint64_t size_hint; /* 0: unknown; used to pick sectors with room */
} gv_put_opts;

#define GV_PUT_OPTS_INIT { GV_PUT_OPTS_VERSION, NULL, 0 }

typedef struct gv_put_result {
	gv_key key;
	int replicas;          /* durable and indexed when commit returned */
	int quorum_met;
	int existed;           /* content was already stored healthy enough */
	char sectors[8][GV_ID_MAX]; /* the first replicas' sector ids */
} gv_put_result;

GV_API int gv_put_open(gv_put **out, gv_store *store, const gv_put_opts *opts);
GV_API int gv_put_write(gv_put *put, const void *buf, size_t len);
/*
 * Finish: commit the streamed copies where placement accepts them, copy
 * the primary to the targets still missing one, in parallel, return once min-replicas copies are durable and indexed
 * (GV_EQUORUM after the write timeout, or when too few targets exist; then
 * nothing is recorded and no bytes are left behind).  Frees put.
 */
GV_API int gv_put_commit(gv_put *put, gv_put_result *out);
GV_API void gv_put_abort(gv_put *put);

/* Put what a file descriptor holds from its current offset to EOF. */
GV_API int gv_put_fd(gv_store *store, int fd, gv_put_result *out);
/* The same, calling on_progress (NULL: none) after each piece read with
 * the bytes read so far and the total (0 when the input cannot tell). */
GV_API int gv_put_fd_progress(gv_store *store, int fd, gv_put_result *out,
                              void (*on_progress)(uint64_t done, uint64_t total, void *payload),
                              void *payload);

/* ---- reading ------------------------------------------------------------ */

#define GV_GET_OPTS_VERSION 1

typedef struct gv_get_opts {
	unsigned version;
	int has_range;
	uint64_t start;  /* with has_range: [start, end) */
	uint64_t end;
	/*
	 * A blob with a block table (larger than one block, docs/integrity.md)
	 * is read block by block, full reads and ranges alike: each block is
	 * checked before any of its bytes is released and a bad block is read
	 * from the next replica, so no unverified byte is handed out and no
	 * read restarts; verify_first is not needed.  A read none of whose
	 * replicas holds a block intact fails (GV_EALL_REPLICAS_FAILED) before
	 * any byte of that block: at gv_get_open for the first.
	 *
	 * Other blobs: full reads are verified against the key while
	 * streaming.  Bytes of a replica that fails mid-stream have already
	 * been handed out, so gv_get_read then returns GV_ERESTART: discard
	 * everything read so far and read again from offset 0 (the next
	 * replica).  Callers that cannot discard set verify_first: each
	 * replica is hashed before its first byte is released (two passes).
	 * A blob with a block table is read block by block, each block
	 * verified before any of its bytes is released.  A range of a blob
	 * without one (a single block, or an older store until scrub writes
	 * tables) is served only after the whole replica is verified, whatever
	 * verify_first says; that pass also records the blob's table.
	 */
	int verify_first;
} gv_get_opts;

#define GV_GET_RANGE_VERIFY_MAX (8ull << 20)

#define GV_GET_OPTS_INIT { GV_GET_OPTS_VERSION, 0, 0, 0, 0 }

/*
 * Open a read.  Replicas are tried healthy first, then most recently
 * verified.  A replica that fails (missing, I/O error, wrong size, digest
 * mismatch) is marked unhealthy with the reason.  GV_ENOTFOUND for an
 * unknown key, GV_EINVAL for a range outside the blob,
 * GV_EALL_REPLICAS_FAILED when no replica can serve.
 */
GV_API int gv_get_open(gv_get **out, gv_store *store, const gv_key *key, const gv_get_opts *opts);
/* Bytes this read delivers in total. */
GV_API uint64_t gv_get_length(const gv_get *get);
/* Sector serving the read now. */
GV_API const char *gv_get_sector(const gv_get *get);
/* Up to cap bytes; 0 at the end (after verification); negative gv_error. */
GV_API ssize_t gv_get_read(gv_get *get, void *buf, size_t cap);
GV_API void gv_get_close(gv_get *get);

/* ---- status ------------------------------------------------------------- */

typedef struct gv_blob_status {
	gv_key key;
	int64_t created_ms;
	int target_replicas;
	int healthy_replicas;
	gv_replica *replicas;   /* owned by the status */
	size_t nreplicas;
	/* per replica: rack and zone of its sector ("" unknown) */
	char (*racks)[GV_ID_MAX];
	char (*zones)[GV_ID_MAX];
	gv_placement_report placement; /* over the healthy replicas */
	int placement_error;           /* 0 or the GV_EINSUFFICIENT_* code */
} gv_blob_status;

GV_API int gv_stat(gv_blob_status **out, gv_store *store, const gv_key *key);
GV_API void gv_blob_status_free(gv_blob_status *st);

/* Whole-store figures (see gv_index_stats in sys/index.h). */
typedef struct gv_store_stats {
	uint64_t blobs;
	uint64_t replicas;
	uint64_t healthy_replicas;
	uint64_t unhealthy_replicas;
	uint64_t under_replicated;
	uint64_t over_replicated;
	uint64_t lost;
	uint64_t bytes;
	double avg_factor;
	int factor;
	uint64_t sectors;
	uint64_t healthy_sectors;
} gv_store_stats;

GV_API int gv_status(gv_store *store, gv_store_stats *out);

/*
 * The store's figures in the Prometheus text format (gauges of the index,
 * this process's repair and scrub counters, per-sector gauges).  *out is
 * malloc'd; the caller frees it.
 */
GV_API int gv_metrics_text(gv_store *store, char **out, size_t *out_len);

/*
 * Delete a blob: its index rows first (so nothing counts on the bytes),
 * then the bytes in every sector that can be reached.  GV_ENOTFOUND when
 * the key is unknown.
 */
GV_API int gv_delete(gv_store *store, const gv_key *key);

/* ---- disaster recovery ---------------------------------------------------- */

#define GV_REBUILD_OPTS_VERSION 1

typedef struct gv_rebuild_opts {
	unsigned version;
	const char *data_dir;          /* required; sectors under <data_dir>/sectors/ */
	const char *index_path;        /* NULL: <data_dir>/graviton.db */
	const char *const *sector_paths; /* more sector roots to scan */
	size_t nsector_paths;
	int force;                     /* replace an index that exists */
	int placement_set;             /* settings to store in the new index */
	gv_placement_opts placement;
	/* Called after each blob: blobs and bytes verified so far. */
	void (*on_progress)(uint64_t blobs, uint64_t bytes, void *payload);
	void *payload;
	/* As gv_store_opts.index_backend; the backend's locator must be a file
	 * path (the new index is built beside it and renamed over it). */
	const char *index_backend;
} gv_rebuild_opts;

#define GV_REBUILD_OPTS_INIT \
	{ GV_REBUILD_OPTS_VERSION, NULL, NULL, NULL, 0, 0, 0, GV_PLACEMENT_OPTS_INIT, NULL, NULL, NULL }

typedef struct gv_rebuild_summary {
	uint64_t sectors;
	uint64_t blobs;
	uint64_t replicas;
	uint64_t unhealthy;   /* files that failed verification */
	uint64_t bytes;
	int64_t duration_ms;
	uint64_t skipped;     /* directories the old index did not register */
} gv_rebuild_summary;

/*
 * Rebuild the replica index from the sectors alone: each local sector's
 * identity file gives its id, rack, zone and capacity; each blob file is
 * named by its key and hashed while scanning, so a corrupt copy is
 * recorded unhealthy, not trusted.  The new index is built beside the old
 * path and renamed into place only when complete.  GV_EEXISTS when an
 * index exists and force is not set; GV_EBUSY while a server holds the
 * data directory's serve lock (the rebuild holds it while it runs);
 * GV_EINVAL when two directories carry the same sector identity.  When
 * the old index reads, each sector keeps its state (draining, retired)
 * and a directory under <data_dir>/sectors/ it does not register (a
 * removed sector) is skipped; sector_paths are always scanned.
 */
GV_API int gv_index_rebuild(const gv_rebuild_opts *opts, gv_rebuild_summary *out);

#ifdef __cplusplus
}
#endif
#endif
