/*
 * graviton/sys/sector.h - the sector store port, for backend writers.
 *
 * A sector holds committed blobs by key.  A backend is a static
 * `struct gv_sector_ops` plus an instance struct whose first member is a
 * `gv_sector`; writers and readers likewise embed `gv_sector_writer` /
 * `gv_sector_reader` as their first member.
 *
 * Durability contract: after writer_commit returns 0 the blob survives a
 * crash (fs: temp file, fsync, rename, fsync of the directory).  A blob is
 * never visible under its key before that.  writer_abort leaves no trace
 * unless asked to keep a resumable partial.
 *
 * Threads: a gv_sector may be used from many threads at once; each writer
 * and reader belongs to one thread at a time.
 */
#ifndef GRAVITON_SYS_SECTOR_H
#define GRAVITON_SYS_SECTOR_H

#include <stdint.h>
#include <sys/types.h>
#include "../common.h"
#include "../key.h"
#include "../types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_SECTOR_OPS_VERSION 1

typedef struct gv_sector gv_sector;
typedef struct gv_sector_writer gv_sector_writer;
typedef struct gv_sector_reader gv_sector_reader;
typedef struct gv_sector_patch gv_sector_patch;

typedef struct gv_sector_usage {
	uint64_t used;      /* bytes of committed blobs (backend's own count) */
	uint64_t capacity;  /* configured, else what the medium reports */
	uint64_t avail;     /* what the medium still has free (statvfs f_bavail);
	                     * UINT64_MAX with used 0: a medium without a size
	                     * (a bucket), whose capacity is a quota the engine
	                     * keeps with the bytes the index records */
	/* The medium's device (st_dev of the root for fs): sectors on one
	 * filesystem report the same one and share its avail.  0: a medium
	 * of the sector's own (mem). */
	uint64_t device;
} gv_sector_usage;

/* List callback: return non-zero to stop (that value is returned by list). */
typedef int (*gv_sector_list_cb)(const gv_key *key, uint64_t bytes, void *payload);

/* Writer flags. */
#define GV_WRITE_RESUME 0x1 /* key known: continue a kept partial if any */

struct gv_sector_ops {
	unsigned version;
	const char *name; /* "fs", "mem", "fault", ... */

	/*
	 * Start a write.  `key` may be NULL when the content is not known yet
	 * (streaming put); it must be given with GV_WRITE_RESUME.  With RESUME,
	 * w->offset is set to the bytes already durable in a kept partial and
	 * writes continue from there.
	 */
	int (*writer_open)(gv_sector_writer **out, gv_sector *s, const gv_key *key,
	                   unsigned flags);
	/* Append len bytes at w->offset. */
	int (*writer_write)(gv_sector_writer *w, const void *buf, size_t len);
	/* Make what was written so far durable (for resumable copies). */
	int (*writer_sync)(gv_sector_writer *w);
	/*
	 * Make the blob durable under `key` and free w (also on failure).
	 * Fails with GV_EINVAL if w->offset != key->size.  Committing a key that
	 * is already present replaces it atomically.
	 */
	int (*writer_commit)(gv_sector_writer *w, const gv_key *key);
	/* Drop the write and free w; keep_partial keeps a RESUME partial. */
	void (*writer_abort)(gv_sector_writer *w, int keep_partial);

	/*
	 * Open [off, off+len) of a committed blob for reading.  len may be
	 * UINT64_MAX for "to the end".  GV_ENOTFOUND when absent; GV_ECORRUPT
	 * when the stored size differs from key->size.  gv_sector_reader_open
	 * refuses a range outside key->size (GV_EINVAL) before calling it.
	 */
	int (*reader_open)(gv_sector_reader **out, gv_sector *s, const gv_key *key,
	                   uint64_t off, uint64_t len);
	/* Read up to cap bytes; 0 at the end; negative gv_error on failure. */
	ssize_t (*reader_read)(gv_sector_reader *r, void *buf, size_t cap);
	void (*reader_close)(gv_sector_reader *r);

	/* Remove a committed blob (and any partial); GV_ENOTFOUND if absent. */
	int (*del)(gv_sector *s, const gv_key *key);
	/* Stored size of a committed blob; GV_ENOTFOUND if absent. */
	int (*stat)(gv_sector *s, const gv_key *key, uint64_t *out_size);
	/* Call cb for every committed blob, in no particular order. */
	int (*list)(gv_sector *s, gv_sector_list_cb cb, void *payload);
	int (*usage)(gv_sector *s, gv_sector_usage *out);
	void (*close)(gv_sector *s);

	/* Optional (may be NULL): file descriptor behind a reader, for
	 * zero-copy copies between local sectors. */
	int (*reader_fd)(gv_sector_reader *r);

	/* Optional (may be NULL): cut a write back to len <= w->offset bytes
	 * and continue from there (a resumed copy trusts only what the index
	 * recorded as durable). */
	int (*writer_truncate)(gv_sector_writer *w, uint64_t len);

	/* Optional (may be NULL: nothing to sweep): remove temporary files
	 * whose writer is gone (in this process or any other); a live
	 * writer's file is never touched.  With dry_run only count them.
	 * *files and *bytes receive what was (or would be) removed. */
	int (*sweep)(gv_sector *s, int dry_run, uint64_t *files, uint64_t *bytes);

	/* Optional (may be NULL: ages unknown, nothing is reclaimed): when a
	 * committed blob was last written, in unix milliseconds; a commit
	 * that replaces or keeps an existing blob makes it recent again.
	 * GV_ENOTFOUND when absent. */
	int (*written_at)(gv_sector *s, const gv_key *key, int64_t *out_ms);

	/* Optional (may be NULL: always reachable): check that the sector is
	 * still where it was opened (fs: the root path is the same directory
	 * and holds its identity file).  An error says why not. */
	int (*check)(gv_sector *s);

	/*
	 * Optional (all four NULL: the kind cannot write into a committed
	 * blob, and repair copies a replica with a bad block whole):
	 * rewrite bytes of a committed blob in place, for range-level repair.
	 * patch_open opens the committed blob of key (GV_ENOTFOUND when
	 * absent, GV_ECORRUPT when its stored size differs from key->size);
	 * patch_write writes len bytes at off (off + len <= key->size);
	 * patch_sync makes the writes so far durable (fs: fdatasync);
	 * patch_close frees the handle (writes not synced may or may not
	 * have reached the blob).  Readers may see a patched range change
	 * under them: the caller records the range as missing first.
	 */
	int (*patch_open)(gv_sector_patch **out, gv_sector *s, const gv_key *key);
	int (*patch_write)(gv_sector_patch *p, uint64_t off, const void *buf, size_t len);
	int (*patch_sync)(gv_sector_patch *p);
	void (*patch_close)(gv_sector_patch *p);

	/*
	 * Optional (both NULL: the kind is never lent, like remote): a sector
	 * lent to another node over the sector protocol holds blobs that
	 * node's index counts, not this one's, so this store's reclaim must
	 * never take them for orphans.  lend records durably that the sector
	 * is lent, once and for good (idempotent; fs: a LENT file next to the
	 * identity, synced with its directory before lend returns); lent is 1
	 * when that is recorded, 0 when not.
	 */
	int (*lend)(gv_sector *s);
	int (*lent)(gv_sector *s);
};

struct gv_sector {
	const struct gv_sector_ops *ops;
	char id[64];
};

struct gv_sector_writer {
	gv_sector *sector;
	uint64_t offset; /* bytes written so far (incl. resumed ones) */
};

struct gv_sector_reader {
	gv_sector *sector;
	uint64_t remaining;
};

struct gv_sector_patch {
	gv_sector *sector;
	uint64_t size; /* the blob's size */
};

/* Convenience dispatchers (NULL-safe where they free). */
GV_API int gv_sector_writer_open(gv_sector_writer **out, gv_sector *s, const gv_key *key, unsigned flags);
GV_API int gv_sector_writer_write(gv_sector_writer *w, const void *buf, size_t len);
GV_API int gv_sector_writer_sync(gv_sector_writer *w);
/* GV_ERROR when the backend cannot truncate; GV_EINVAL when len > offset. */
GV_API int gv_sector_writer_truncate(gv_sector_writer *w, uint64_t len);
GV_API int gv_sector_writer_commit(gv_sector_writer *w, const gv_key *key);
GV_API void gv_sector_writer_abort(gv_sector_writer *w, int keep_partial);
GV_API int gv_sector_reader_open(gv_sector_reader **out, gv_sector *s, const gv_key *key, uint64_t off, uint64_t len);
GV_API ssize_t gv_sector_reader_read(gv_sector_reader *r, void *buf, size_t cap);
GV_API void gv_sector_reader_close(gv_sector_reader *r);
GV_API int gv_sector_del(gv_sector *s, const gv_key *key);
GV_API int gv_sector_stat(gv_sector *s, const gv_key *key, uint64_t *out_size);
GV_API int gv_sector_list(gv_sector *s, gv_sector_list_cb cb, void *payload);
GV_API int gv_sector_usage_get(gv_sector *s, gv_sector_usage *out);
GV_API void gv_sector_close(gv_sector *s);

/* The optional ops: 0 with nothing done (zero counts, *out_ms 0) when the
 * backend does not offer them. */
GV_API int gv_sector_sweep(gv_sector *s, int dry_run, uint64_t *files, uint64_t *bytes);
GV_API int gv_sector_written_at(gv_sector *s, const gv_key *key, int64_t *out_ms);
GV_API int gv_sector_check(gv_sector *s);
/* GV_ERROR when the kind cannot be lent; gv_sector_lent is 0 then. */
GV_API int gv_sector_lend(gv_sector *s);
GV_API int gv_sector_lent(gv_sector *s);

/* In-place rewrites (the patch ops): 1 when the kind offers them.
 * gv_sector_patch_open is GV_ERROR when it does not; patch_write is
 * GV_EINVAL past the blob's end. */
GV_API int gv_sector_can_patch(const gv_sector *s);
GV_API int gv_sector_patch_open(gv_sector_patch **out, gv_sector *s, const gv_key *key);
GV_API int gv_sector_patch_write(gv_sector_patch *p, uint64_t off, const void *buf, size_t len);
GV_API int gv_sector_patch_sync(gv_sector_patch *p);
GV_API void gv_sector_patch_close(gv_sector_patch *p);

/* Write a whole buffer as one blob under key (tests, small copies). */
GV_API int gv_sector_put_buf(gv_sector *s, const gv_key *key, const void *buf, size_t len);

/* ---- backends ----------------------------------------------------------- */

#define GV_CLUSTER_ID_MAX 40 /* a UUID and its NUL, rounded up */

/* Identity of a local sector, kept in <root>/GRAVITON-SECTOR. */
typedef struct gv_sector_identity {
	char id[64];
	char rack[64];
	char zone[64];
	uint64_t capacity; /* 0 = from the filesystem */
	int format;        /* layout version, currently 1 */
	/* The store (cluster) the sector belongs to: a UUID, "" when unknown
	 * (a sector written before cluster ids). */
	char cluster[GV_CLUSTER_ID_MAX];
} gv_sector_identity;

/* fs open flags */
#define GV_FS_CREATE 0x1 /* create root and identity if missing */
#define GV_FS_ADOPT 0x2  /* take over a root of another cluster or id */

/*
 * Local directory backend.  Opens `root`, whose identity file must name
 * `ident->id` (GV_EEXISTS with a message when it names another sector)
 * and, when ident->cluster is set, that cluster: an identity without one
 * gets it written, one naming another cluster is GV_EEXISTS.  GV_FS_ADOPT
 * rewrites the id and cluster of a root that names others instead.
 * Without GV_FS_CREATE a missing root or identity is GV_ENOTFOUND: a lost
 * disk is reported, not silently recreated.  With GV_FS_CREATE the root and
 * identity are created when absent.  tmp/ is emptied by an open that
 * holds the root alone, and by sweep (files of writers that are gone) while
 * others share it; partial/ (resumable copies) is kept.
 */
GV_API int gv_sector_fs_open(gv_sector **out, const char *root,
                      const gv_sector_identity *ident, unsigned flags);

/* Read the identity file of a local sector root without opening it. */
GV_API int gv_sector_fs_read_identity(gv_sector_identity *out, const char *root);

/* In-memory backend (tests).  capacity 0 = unlimited. */
GV_API int gv_sector_mem_open(gv_sector **out, const char *id, uint64_t capacity);

/* Remote backend (kind "remote"): a sector that another node lends over the
 * sector protocol (docs/sector-protocol.md).  `locator` is
 * "<url>/v1/node/sectors/<remote sector id>"; nothing is contacted at open. */
GV_API int gv_sector_remote_open(gv_sector **out, const char *id, const char *locator);

/* The locator of remote sector `sid` on the node at `url` (http://HOST:PORT)
 * into out; GV_EINVAL for a url that is not http(s) or an invalid id. */
GV_API int gv_sector_remote_locator(char *out, size_t cap, const char *url, const char *sid);
/* Split a locator back into url and remote sector id. */
GV_API int gv_sector_remote_split(const char *locator, char *url, size_t url_cap, char *sid,
                                  size_t sid_cap);

/* Settings every remote sector of the process uses (read at each request). */
typedef struct gv_sector_remote_opts {
	unsigned version;             /* 1 */
	const char *token;            /* the nodes' graviton.node.token */
	uint64_t connect_timeout_ms;  /* 0: 5 s */
	uint64_t request_timeout_ms;  /* 0: 60 s */
	unsigned retries;             /* of idempotent requests */
	const char *staging_dir;      /* unused (writers stream to the node) */
} gv_sector_remote_opts;

#define GV_SECTOR_REMOTE_OPTS_INIT { 1, NULL, 0, 0, 3, NULL }

GV_API int gv_sector_remote_configure(const gv_sector_remote_opts *o);

/* S3 backend (kind "s3"): a bucket and prefix of an S3-compatible store
 * (docs/s3-sectors.md).  The locator is
 * "s3://BUCKET[/PREFIX]?endpoint=URL&region=R&style=path|virtual".  Open
 * reads the identity object PREFIX/GRAVITON-SECTOR, which must name
 * ident->id (and ident->cluster when both name one); with GV_FS_CREATE a
 * missing one is written, with GV_FS_ADOPT one naming another sector or
 * cluster is rewritten.  ident->capacity is the quota (0: unlimited). */
GV_API int gv_sector_s3_open(gv_sector **out, const gv_sector_identity *ident,
                             const char *locator, unsigned flags);
/* The identity object of the bucket and prefix a locator names. */
GV_API int gv_sector_s3_read_identity(gv_sector_identity *out, const char *locator);
/* The locator of s3://BUCKET[/PREFIX] at endpoint (http[s]://HOST[:PORT]);
 * region NULL or "": us-east-1; style NULL or "": path. */
GV_API int gv_sector_s3_locator(char *out, size_t cap, const char *url, const char *endpoint,
                                const char *region, const char *style);
/* A locator's parts: the bucket url "s3://BUCKET[/PREFIX]", endpoint,
 * region and style ("path" or "virtual"). */
typedef struct gv_sector_s3_where {
	char url[640];
	char endpoint[512];
	char region[64];
	char style[16];
} gv_sector_s3_where;

GV_API int gv_sector_s3_split(const char *locator, gv_sector_s3_where *out);
/* The credentials requests of sector `id` are signed with (its
 * configuration's access-key, secret-key and optional session token);
 * a sector without them uses AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN.  Never printed. */
GV_API int gv_sector_s3_credentials(const char *id, const char *access, const char *secret,
                                    const char *token);

/* Settings every s3 sector of the process uses (read at each request). */
typedef struct gv_sector_s3_opts {
	unsigned version;              /* 1 */
	uint64_t multipart_threshold;  /* 0: 64 MiB; blobs above go in parts */
	uint64_t part_size;            /* 0: 16 MiB (5 MiB to 5 GiB) */
	uint64_t connect_timeout_ms;   /* 0: 5 s */
	uint64_t request_timeout_ms;   /* 0: 60 s without progress */
	unsigned retries;              /* of a request (all are idempotent) */
	uint64_t backoff_ms;           /* 0: 100 ms, doubling; SlowDown x5 */
	const char *staging_dir;       /* spool of writes; NULL/"": $TMPDIR or /var/tmp */
} gv_sector_s3_opts;

#define GV_SECTOR_S3_OPTS_INIT { 1, 0, 0, 0, 0, 5, 0, NULL }

GV_API int gv_sector_s3_configure(const gv_sector_s3_opts *o);

/* ---- kinds: the registry the engine opens sectors through ------------------ */

/* The kind of local sector directories (`sector add` without --kind,
 * `graviton index rebuild`). */
#define GV_SECTOR_KIND_DEFAULT "fs"

/* Open flags. */
#define GV_SECTOR_OPEN_CREATE 0x1 /* create the medium (fs: root, identity) when missing */
#define GV_SECTOR_OPEN_ADOPT  0x2 /* take over a medium of another cluster or id */

typedef struct gv_sector_open_opts {
	/* The registration record: id, kind, rack, zone, capacity, and the
	 * locator in `path` (for a GV_SECTOR_KIND_LOCAL kind, resolved
	 * against the data directory). */
	const gv_sector_info *info;
	const char *cluster; /* the store's cluster id; NULL or "": none yet */
	unsigned flags;      /* GV_SECTOR_OPEN_* */
} gv_sector_open_opts;

/* Kind flags. */
/* The locator is a local directory: the engine resolves a relative one
 * against the data directory, records it relative when under it, and lets
 * one directory hold one sector. */
#define GV_SECTOR_KIND_LOCAL 0x1
/* Reads cost money (a cloud bucket): scrub reads its replicas at
 * gv_scrub_opts.metered_max_bytes_per_second instead of the common rate. */
#define GV_SECTOR_KIND_METERED 0x2

typedef struct gv_sector_kind {
	unsigned version; /* GV_SECTOR_OPS_VERSION */
	const char *name; /* what gv_sector_info.kind names: "fs", "mem", ... */
	unsigned flags;   /* GV_SECTOR_KIND_* */
	/* Open a sector whose ops have version GV_SECTOR_OPS_VERSION. */
	int (*open)(gv_sector **out, const gv_sector_open_opts *o);
	/* Optional: the identity a medium carries, read without opening it
	 * (index rebuild, moved data directories). */
	int (*read_identity)(gv_sector_identity *out, const char *path);
} gv_sector_kind;

/*
 * Register a kind (`k` must outlive every use: a static).  fs and mem are
 * built in.  GV_EEXISTS when the name is taken, GV_EINVAL for a record
 * of another version.
 */
GV_API int gv_sector_kind_register(const gv_sector_kind *k);
/* The kind of that name; NULL (error set, listing the registered kinds)
 * when there is none. */
GV_API const gv_sector_kind *gv_sector_kind_find(const char *name);
/* Open o->info through its kind, checking the sector's ops version. */
GV_API int gv_sector_kind_open(gv_sector **out, const gv_sector_open_opts *o);
/* The kind's read_identity; GV_ENOTFOUND when the kind has none. */
GV_API int gv_sector_kind_read_identity(gv_sector_identity *out, const char *kind, const char *path);

/* ---- fault injection (tests) --------------------------------------------- */

typedef enum gv_fault_kind {
	GV_FAULT_NONE = 0,
	GV_FAULT_EIO,      /* the call fails with GV_EIO */
	GV_FAULT_ENOSPC,   /* the call fails with GV_ENOSPACE */
	GV_FAULT_CORRUPT,  /* reads return bytes with one bit flipped */
	GV_FAULT_HANG,     /* the call sleeps hang_ms, then fails with GV_ETIMEOUT */
	GV_FAULT_DELAY,    /* the call sleeps hang_ms (until the next plan), then goes ahead */
} gv_fault_kind;

/* Operations that can be targeted (bit mask). */
#define GV_FAULT_OP_OPEN_WRITE 0x01
#define GV_FAULT_OP_WRITE      0x02
#define GV_FAULT_OP_COMMIT     0x04
#define GV_FAULT_OP_OPEN_READ  0x08
#define GV_FAULT_OP_READ       0x10
#define GV_FAULT_OP_DEL        0x20
#define GV_FAULT_OP_PATCH      0x40 /* patch_write and patch_sync */
#define GV_FAULT_OP_ALL        0xff

typedef struct gv_fault_plan {
	gv_fault_kind kind;
	unsigned ops;       /* which calls count (GV_FAULT_OP_*) */
	unsigned long nth;  /* fail the nth counted call (1-based); 0 = every one */
	unsigned hang_ms;
} gv_fault_plan;

/*
 * Wrap `inner` (taking ownership) in a fault-injecting sector with the same
 * id.  The plan can be changed later with gv_sector_fault_set.
 */
GV_API int gv_sector_fault_wrap(gv_sector **out, gv_sector *inner, const gv_fault_plan *plan);
GV_API void gv_sector_fault_set(gv_sector *fault, const gv_fault_plan *plan);
/* Number of calls that matched the plan's ops so far. */
GV_API unsigned long gv_sector_fault_calls(gv_sector *fault);
/* Bytes handed to the inner sector by writer_write and patch_write since
 * the wrap (faulted calls write nothing). */
GV_API uint64_t gv_sector_fault_bytes_written(gv_sector *fault);

#ifdef __cplusplus
}
#endif
#endif
