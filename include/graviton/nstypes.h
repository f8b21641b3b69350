/*
 * graviton/nstypes.h - the records of the namespace (graviton/namespace.h):
 * buckets, named objects, multipart uploads and their parts.  Plain value
 * structs that the index port (graviton/sys/index.h) stores and the engine
 * hands out; only gv_object's `meta` is owned (gv_object_clear frees it).
 */
#ifndef GRAVITON_NSTYPES_H
#define GRAVITON_NSTYPES_H

#include <stdint.h>
#include <stddef.h>
#include "common.h"
#include "key.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GV_BUCKET_MAX 64          /* S3 rules: 3..63 of [a-z0-9.-] */
#define GV_OBJECT_NAME_MAX 1024   /* bytes of UTF-8 */
#define GV_UPLOAD_ID_MAX 64
#define GV_ETAG_MAX 48            /* 32 hex of MD5, or 32 hex + "-N" for multipart */
#define GV_CONTENT_TYPE_MAX 256
#define GV_META_MAX 8192          /* bytes of the user metadata JSON text */

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
	char content_type[GV_CONTENT_TYPE_MAX];
	char *meta;                   /* JSON object text of x-amz-meta-* (names lower-case) or NULL; gv_object_clear frees */
	int64_t mtime_ms;
} gv_object;

typedef struct gv_ns_part {
	uint32_t part_no;
	gv_key key;
	char etag[GV_ETAG_MAX];
	int64_t mtime_ms;
} gv_ns_part;

typedef struct gv_ns_upload {
	char id[GV_UPLOAD_ID_MAX];
	char bucket[GV_BUCKET_MAX];
	char name[GV_OBJECT_NAME_MAX + 1];
	int64_t created_ms;
} gv_ns_upload;

#ifdef __cplusplus
}
#endif
#endif
