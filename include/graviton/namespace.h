/*
 * graviton/namespace.h - buckets and named objects over the content-addressed
 * store, references and garbage collection (docs/namespace.md).
 *
 * A blob is kept while something references it: a name (bucket/name), a
 * manifest (a multipart object's part list), an upload's recorded part, a
 * pin (blobs stored through the raw API: /v1/blobs, `graviton put`) or the
 * intent of a put in flight.  Every gv_put_commit records an intent on its
 * key under the key's lock, so nothing collects the blob before the caller
 * binds it (gv_ns_object_put, gv_ns_upload_part, gv_ns_pin each consume
 * one intent of their key); an intent not consumed within graviton.gc.grace
 * (a caller that crashed or gave up) expires.  Dropping the last reference
 * makes the blob a garbage candidate; gv_ns_gc deletes candidates still
 * unreferenced after the grace, every replica, through the delete path.
 */
#ifndef GRAVITON_NAMESPACE_H
#define GRAVITON_NAMESPACE_H

#include <sys/types.h>
#include "common.h"
#include "graviton.h"
#include "key.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_BUCKET_MAX 64          /* S3 rules: 3..63 of [a-z0-9.-] */
#define GV_OBJECT_NAME_MAX 1024   /* bytes of UTF-8 */
#define GV_UPLOAD_ID_MAX 64
#define GV_ETAG_MAX 48            /* 32 hex of MD5, or 32 hex + "-N" for multipart */

typedef struct gv_bucket_info {
	char name[GV_BUCKET_MAX];
	int64_t created_ms;
} gv_bucket_info;

typedef struct gv_object {
	char bucket[GV_BUCKET_MAX];
	char name[GV_OBJECT_NAME_MAX + 1];
	gv_key key;                   /* the blob; for a multipart object the manifest blob */
	uint64_t size;                /* bytes the object reads as */
	uint32_t parts;               /* 0: one blob; N: a manifest of N part blobs */
	char etag[GV_ETAG_MAX];       /* without quotes */
	char content_type[256];
	char *meta;                   /* JSON object text of x-amz-meta-* (names lower-case) or NULL; gv_object_clear frees */
	int64_t mtime_ms;
} gv_object;

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
 * collection until it is bound or abandoned (see gv_put_opts / the intent
 * mechanism of this module).
 */
GV_API int gv_ns_object_put(gv_store *s, const gv_object *o);
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
typedef struct gv_ns_part { uint32_t part_no; gv_key key; char etag[GV_ETAG_MAX]; int64_t mtime_ms; } gv_ns_part;
GV_API int gv_ns_upload_parts(gv_store *s, const char *id, uint32_t after, size_t limit,
                              gv_ns_part **out, size_t *n, int *more);
/* Complete with the client's list (part numbers ascending, etags checked): GV_EINVAL naming the bad part. */
GV_API int gv_ns_upload_complete(gv_store *s, const char *id, const gv_ns_part *parts, size_t n, gv_object *out);
GV_API int gv_ns_upload_abort(gv_store *s, const char *id);
typedef struct gv_ns_upload { char id[GV_UPLOAD_ID_MAX]; char bucket[GV_BUCKET_MAX]; char name[GV_OBJECT_NAME_MAX + 1]; int64_t created_ms; } gv_ns_upload;
GV_API int gv_ns_upload_list(gv_store *s, const char *bucket, const char *prefix, size_t limit,
                             gv_ns_upload **out, size_t *n);

/* ---- raw blobs: pins, listing, forgetting ------------------------------- */

/* Pin a blob a put of this process just stored (consumes its intent). */
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
	uint64_t waiting;          /* candidates still within the grace */
	uint64_t intents_expired;  /* puts that never bound their blob */
	uint64_t uploads_expired;  /* multipart uploads aborted */
	uint64_t failed;           /* deletions that failed (retried next run) */
} gv_gc_summary;

GV_API int gv_ns_gc(gv_store *s, const gv_gc_opts *opts, gv_gc_summary *out);

#ifdef __cplusplus
}
#endif

#endif
