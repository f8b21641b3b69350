/*
 * graviton/namespace.h - buckets and named objects over the content-addressed
 * store, references and garbage collection (docs/namespace.md).
 *
 * A blob is kept while something references it: a name (bucket/name), a
 * manifest (a multipart object's part list), a part recorded for an upload
 * in progress, or a pin (blobs stored through the raw API: /v1/blobs,
 * `graviton put`).  Dropping a reference makes the blob a garbage
 * candidate; gv_ns_gc deletes a candidate once it has been unreferenced
 * for graviton.gc.grace, every replica, through the delete path.
 *
 * Puts in flight: every gv_put_commit, under the key's lock, (re)starts the
 * key's candidate clock ("intent"), so a blob a put has just stored or found
 * is not collected for a grace period whatever referenced it before; the
 * caller binds it within that time (gv_ns_object_put, gv_ns_upload_part,
 * gv_ns_pin).  A blob never bound (its caller crashed or gave up) is
 * collected after the grace.  Binding checks, in the transaction that
 * records the name, that the blob is still there (GV_ENOTFOUND otherwise:
 * put again), and the collector removes a blob only in a transaction that
 * finds it unreferenced, so a name never points at a collected blob.
 */
#ifndef GRAVITON_NAMESPACE_H
#define GRAVITON_NAMESPACE_H

#include <stdatomic.h>
#include <sys/types.h>
#include "common.h"
#include "graviton.h"
#include "key.h"
#include "nstypes.h"

#ifdef __cplusplus
extern "C" {
#endif

GV_API void gv_object_clear(gv_object *o);

/* Buckets.  Names are checked (GV_EINVAL with a message). */
GV_API int gv_ns_bucket_create(gv_store *s, const char *bucket);           /* GV_EEXISTS */
GV_API int gv_ns_bucket_delete(gv_store *s, const char *bucket);           /* GV_ENOTFOUND, GV_ENOTEMPTY */
GV_API int gv_ns_bucket_get(gv_store *s, const char *bucket, gv_bucket_info *out); /* GV_ENOTFOUND */
GV_API int gv_ns_bucket_list(gv_store *s, gv_bucket_info **out, size_t *n);

/*
 * Bind bucket/name to a blob that a put just stored (res from gv_put_commit
 * of this process), replacing an older binding (whose blob loses a
 * reference).  Crash-safe with GC: a put in flight holds its blob against
 * collection for graviton.gc.grace (the intent above).  GV_ENOTFOUND: no
 * such bucket, or the blob is gone (put it again).
 */
GV_API int gv_ns_object_put(gv_store *s, const gv_object *o);
/*
 * Store what fd holds from its offset to EOF and bind it to bucket/name
 * (the ETag is the bytes' MD5): a put, then gv_ns_object_put.  *out (may
 * be NULL) is the object; free its meta with gv_object_clear.
 */
GV_API int gv_ns_object_put_fd(gv_store *s, int fd, const char *bucket, const char *name,
                               const char *content_type, const char *meta, gv_object *out);
GV_API int gv_ns_object_get(gv_store *s, const char *bucket, const char *name, gv_object *out); /* GV_ENOTFOUND */
GV_API int gv_ns_object_delete(gv_store *s, const char *bucket, const char *name); /* GV_ENOTFOUND */
/* A new name for the same blob(s): no bytes copied. */
GV_API int gv_ns_object_copy(gv_store *s, const char *sb, const char *sn, const char *db, const char *dn,
                             const char *content_type, const char *meta /* NULL: keep source's */,
                             gv_object *out);
/*
 * Names in bucket starting with prefix, strictly after `after` (NULL/"":
 * from the start), sorted by byte order, at most limit.  *more set when
 * names remain.  Delimiter grouping is the caller's (S3 layer) or use the
 * helper below.
 */
GV_API int gv_ns_object_list(gv_store *s, const char *bucket, const char *prefix, const char *after,
                             size_t limit, gv_object **out, size_t *n, int *more);
GV_API void gv_object_list_free(gv_object *v, size_t n);
/*
 * The helper: names in bucket starting with prefix, grouped at the first
 * `delimiter` after the prefix (ListObjects' CommonPrefixes), strictly after
 * `after` (a name or a common prefix handed out before; NULL/"": from the
 * start), in byte order: at most limit entries, objects (*objs, *nobjs)
 * and common prefixes (*prefixes, *nprefixes, each malloc'd, ending with
 * the delimiter) together.  *more set when entries remain; *last (may be
 * NULL; GV_OBJECT_NAME_MAX + 1 bytes) is then the last entry handed out,
 * the `after` of the next page.  Skips a whole group with one query.  Free
 * with gv_object_list_free and gv_ns_prefixes_free.
 */
GV_API int gv_ns_object_list_delim(gv_store *s, const char *bucket, const char *prefix,
                                   const char *delimiter, const char *after, size_t limit,
                                   gv_object **objs, size_t *nobjs, char ***prefixes,
                                   size_t *nprefixes, int *more, char *last);
GV_API void gv_ns_prefixes_free(char **v, size_t n);

/* Reading an object (one blob or a manifest), whole or a range [start,end). Verified. */
typedef struct gv_ns_reader gv_ns_reader;
GV_API int gv_ns_open(gv_ns_reader **out, gv_store *s, const gv_object *o, int has_range,
                      uint64_t start, uint64_t end);
GV_API ssize_t gv_ns_read(gv_ns_reader *r, void *buf, size_t cap);
GV_API void gv_ns_close(gv_ns_reader *r);

/* Multipart uploads: each part its own blob (put with gv_put_*, then recorded here). */
GV_API int gv_ns_upload_create(gv_store *s, const char *bucket, const char *name,
                               const char *content_type, const char *meta, char id[GV_UPLOAD_ID_MAX]);
GV_API int gv_ns_upload_part(gv_store *s, const char *id, uint32_t part_no, const gv_key *key,
                             const char md5_hex[33]);                       /* GV_ENOTFOUND: no such upload */
GV_API int gv_ns_upload_parts(gv_store *s, const char *id, uint32_t after, size_t limit,
                              gv_ns_part **out, size_t *n, int *more);
/* Complete with the client's list (part numbers ascending, etags checked): GV_EINVAL naming the bad part. */
GV_API int gv_ns_upload_complete(gv_store *s, const char *id, const gv_ns_part *parts, size_t n, gv_object *out);
GV_API int gv_ns_upload_abort(gv_store *s, const char *id);
GV_API int gv_ns_upload_list(gv_store *s, const char *bucket, const char *prefix, size_t limit,
                             gv_ns_upload **out, size_t *n);
/* One upload: its bucket, name and start (the S3 front door checks that a
 * request's uploadId is an upload of its bucket and key).  GV_ENOTFOUND. */
GV_API int gv_ns_upload_get(gv_store *s, const char *id, gv_ns_upload *out);

/* ---- raw blobs: pins, listing, forgetting ------------------------------- */

/* Pin a blob (a raw put); GV_ENOTFOUND when the blob is not stored. */
GV_API int gv_ns_pin(gv_store *s, const gv_key *key);                      /* GV_ENOTFOUND */
/*
 * Drop key's pin; when nothing else references the blob, delete it now
 * (rows, then every replica's bytes).  *deleted (may be NULL) says whether
 * it went.  GV_ENOTFOUND for an unknown key.
 */
GV_API int gv_ns_blob_delete(gv_store *s, const gv_key *key, int *deleted);
/* Stored keys strictly after `after` (NULL: from the start) in key order, at most limit. */
GV_API int gv_ns_blob_list(gv_store *s, const gv_key *after, size_t limit, gv_key **out, size_t *n,
                           int *more);
/*
 * Accept a lost key (no healthy replica left) as lost: its rows go, so
 * status and repair stop failing on it; the fact is kept (and logged as an
 * audit line).  GV_EEXISTS when the key still has a healthy replica.
 */
GV_API int gv_ns_forget(gv_store *s, const gv_key *key);

/* ---- garbage collection --------------------------------------------------- */

#define GV_GC_OPTS_VERSION 1

typedef struct gv_gc_opts {
	unsigned version;
	int dry_run;               /* count only; change nothing */
	int64_t grace_ms;          /* unreferenced for at least this long; <0: the default (1 hour) */
	int64_t upload_expiry_ms;  /* abort uploads older than this; 0: never */
	size_t limit;              /* candidates per run; 0: all */
} gv_gc_opts;

#define GV_GC_GRACE_DEFAULT_MS (3600 * 1000LL)
#define GV_GC_OPTS_INIT { GV_GC_OPTS_VERSION, 0, -1, 0, 0 }

typedef struct gv_gc_summary {
	uint64_t candidates;       /* unreferenced keys examined */
	uint64_t collected;        /* blobs deleted (dry run: would be) */
	uint64_t bytes;            /* their sizes */
	uint64_t referenced;       /* candidates referenced again, dropped from the list */
	uint64_t uploads_expired;  /* multipart uploads aborted */
	uint64_t failed;           /* deletions that failed (retried next run) */
} gv_gc_summary;

GV_API int gv_ns_gc(gv_store *s, const gv_gc_opts *opts, gv_gc_summary *out);
/* Run gv_ns_gc every interval_ms until *stop (serve's loop); logs each run. */
GV_API void gv_ns_gc_daemon(gv_store *s, const gv_gc_opts *opts, uint64_t interval_ms,
                            atomic_int *stop);

#ifdef __cplusplus
}
#endif

#endif
