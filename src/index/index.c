/*
 * index.c - dispatchers over struct gv_index_ops.
 *
 * These only forward to the backend, as src/sector/sector.c does for
 * sectors; argument checks every backend needs live in the backends,
 * because a wrapper such as the fault index calls the backend's ops
 * directly.  The ops version is checked once, when the registry opens a
 * backend (registry.c).
 */
#include <assert.h>
#include <stddef.h>

#include "graviton/sys/index.h"

int gv_index_sector_upsert(gv_index *ix, const gv_sector_info *s)
{
	assert(ix != NULL && s != NULL);
	return ix->ops->sector_upsert(ix, s);
}

int gv_index_sector_get(gv_index *ix, const char *id, gv_sector_info *out)
{
	assert(ix != NULL && id != NULL && out != NULL);
	return ix->ops->sector_get(ix, id, out);
}

int gv_index_sector_list(gv_index *ix, gv_sector_info **out, size_t *out_n)
{
	assert(ix != NULL && out != NULL && out_n != NULL);
	return ix->ops->sector_list(ix, out, out_n);
}

int gv_index_sector_set_health(gv_index *ix, const char *id, int healthy)
{
	assert(ix != NULL && id != NULL);
	return ix->ops->sector_set_health(ix, id, healthy);
}

int gv_index_sector_set_state(gv_index *ix, const char *id, gv_sector_state st)
{
	assert(ix != NULL && id != NULL);
	return ix->ops->sector_set_state(ix, id, st);
}

int gv_index_sector_remove(gv_index *ix, const char *id)
{
	assert(ix != NULL && id != NULL);
	return ix->ops->sector_remove(ix, id);
}

int gv_index_replica_put(gv_index *ix, const gv_replica *r)
{
	assert(ix != NULL && r != NULL);
	return ix->ops->replica_put(ix, r);
}

int gv_index_replicas_put(gv_index *ix, const gv_replica *rs, size_t n)
{
	size_t i;
	int err;

	assert(ix != NULL && (rs != NULL || n == 0));
	if (ix->ops->replicas_put)
		return ix->ops->replicas_put(ix, rs, n);
	for (i = 0; i < n; i++)
		if ((err = ix->ops->replica_put(ix, &rs[i])) < 0)
			return err;
	return 0;
}

int gv_index_replica_remove(gv_index *ix, const gv_key *key, const char *sector)
{
	assert(ix != NULL && key != NULL && sector != NULL);
	return ix->ops->replica_remove(ix, key, sector);
}

int gv_index_replica_set_health(gv_index *ix, const gv_key *key, const char *sector,
                                int healthy, const char *reason)
{
	assert(ix != NULL && key != NULL && sector != NULL);
	return ix->ops->replica_set_health(ix, key, sector, healthy, reason);
}

int gv_index_replica_set_verified(gv_index *ix, const gv_key *key, const char *sector,
                                  int64_t when_ms, const uint8_t digest[GV_DIGEST_LEN])
{
	assert(ix != NULL && key != NULL && sector != NULL);
	return ix->ops->replica_set_verified(ix, key, sector, when_ms, digest);
}

int gv_index_replica_set_ranges(gv_index *ix, const gv_key *key, const char *sector,
                                const gv_rangeset *ranges)
{
	assert(ix != NULL && key != NULL && sector != NULL);
	return ix->ops->replica_set_ranges(ix, key, sector, ranges);
}

int gv_index_replicas_find(gv_index *ix, const gv_key *key, gv_replica **out, size_t *out_n)
{
	assert(ix != NULL && key != NULL && out != NULL && out_n != NULL);
	return ix->ops->replicas_find(ix, key, out, out_n);
}

int gv_index_blob_exists(gv_index *ix, const gv_key *key, int64_t *out_created_ms)
{
	assert(ix != NULL && key != NULL);
	return ix->ops->blob_exists(ix, key, out_created_ms);
}

int gv_index_blob_remove(gv_index *ix, const gv_key *key)
{
	assert(ix != NULL && key != NULL);
	return ix->ops->blob_remove(ix, key);
}

int gv_index_keys_next(gv_index *ix, const gv_key *after, size_t limit, gv_key *out,
                       size_t *out_n)
{
	assert(ix != NULL && out != NULL && out_n != NULL);
	return ix->ops->keys_next(ix, after, limit, out, out_n);
}

int gv_index_sector_keys_next(gv_index *ix, const char *sector, const gv_key *after,
                              size_t limit, gv_key *out, size_t *out_n)
{
	assert(ix != NULL && sector != NULL && out != NULL && out_n != NULL);
	return ix->ops->sector_keys_next(ix, sector, after, limit, out, out_n);
}

int gv_index_blobs_next(gv_index *ix, const gv_key *after, size_t limit, gv_blob_entry **out,
                        size_t *out_n)
{
	assert(ix != NULL && out != NULL && out_n != NULL);
	return ix->ops->blobs_next(ix, after, limit, out, out_n);
}

int gv_index_replicas_next(gv_index *ix, gv_replica_cursor *cur, const char *sector,
                           size_t limit, gv_replica **out, size_t *out_n)
{
	assert(ix != NULL && cur != NULL && out != NULL && out_n != NULL);
	return ix->ops->replicas_next(ix, cur, sector, limit, out, out_n);
}

int gv_index_stats_get(gv_index *ix, int factor, gv_index_stats *out)
{
	assert(ix != NULL && out != NULL);
	return ix->ops->stats(ix, factor, out);
}

int gv_index_setting_get(gv_index *ix, const char *name, char *buf, size_t cap)
{
	assert(ix != NULL && name != NULL && buf != NULL);
	return ix->ops->setting_get(ix, name, buf, cap);
}

int gv_index_setting_set(gv_index *ix, const char *name, const char *value)
{
	assert(ix != NULL && name != NULL && value != NULL);
	return ix->ops->setting_set(ix, name, value);
}

int gv_index_blocks_put(gv_index *ix, const gv_key *key, const void *table, size_t len)
{
	assert(ix != NULL && key != NULL && (table != NULL || len == 0));
	if (!ix->ops->blocks_put)
		return 0;
	return ix->ops->blocks_put(ix, key, table, len);
}

int gv_index_blocks_get(gv_index *ix, const gv_key *key, void **out, size_t *out_len)
{
	assert(ix != NULL && key != NULL && out != NULL && out_len != NULL);
	*out = NULL;
	*out_len = 0;
	if (!ix->ops->blocks_get)
		return gv_error_set(GV_ENOTFOUND, "index: %s keeps no block tables",
		                    ix->ops->name);
	return ix->ops->blocks_get(ix, key, out, out_len);
}

void gv_index_close(gv_index *ix)
{
	if (ix == NULL)
		return;
	ix->ops->close(ix);
}

/* ---- the repair queue (optional ops) ------------------------------------ */

static int no_repairq(gv_index *ix)
{
	return gv_error_set(GV_ERROR, "index backend %s keeps no repair queue", ix->ops->name);
}

int gv_index_repairq_put(gv_index *ix, const gv_repairq_entry *e)
{
	assert(ix != NULL && e != NULL);
	return ix->ops->repairq_put ? ix->ops->repairq_put(ix, e) : no_repairq(ix);
}

int gv_index_repairq_get(gv_index *ix, const gv_key *key, gv_repairq_entry *out)
{
	assert(ix != NULL && key != NULL && out != NULL);
	return ix->ops->repairq_get ? ix->ops->repairq_get(ix, key, out) : no_repairq(ix);
}

int gv_index_repairq_remove(gv_index *ix, const gv_key *key)
{
	assert(ix != NULL && key != NULL);
	return ix->ops->repairq_remove ? ix->ops->repairq_remove(ix, key) : no_repairq(ix);
}

int gv_index_repairq_due(gv_index *ix, int64_t now_ms, size_t limit, gv_key *out,
                         size_t *out_n)
{
	assert(ix != NULL && (out != NULL || limit == 0) && out_n != NULL);
	*out_n = 0;
	return ix->ops->repairq_due ? ix->ops->repairq_due(ix, now_ms, limit, out, out_n)
	                            : no_repairq(ix);
}

int gv_index_repairq_list(gv_index *ix, const gv_key *after, size_t limit,
                          gv_repairq_entry *out, size_t *out_n)
{
	assert(ix != NULL && (out != NULL || limit == 0) && out_n != NULL);
	*out_n = 0;
	return ix->ops->repairq_list ? ix->ops->repairq_list(ix, after, limit, out, out_n)
	                             : no_repairq(ix);
}

int gv_index_repairq_count(gv_index *ix, uint64_t *queued, uint64_t *dead)
{
	assert(ix != NULL && queued != NULL && dead != NULL);
	*queued = *dead = 0;
	return ix->ops->repairq_count ? ix->ops->repairq_count(ix, queued, dead)
	                              : no_repairq(ix);
}

int gv_index_blob_set_created(gv_index *ix, const gv_key *key, int64_t created_ms)
{
	assert(ix != NULL && key != NULL);
	return ix->ops->blob_set_created ? ix->ops->blob_set_created(ix, key, created_ms) : 0;
}

/* ---- several processes on one index (optional ops) ----------------------- */

int gv_index_key_lock(gv_index *ix, const gv_key *key, uint64_t wait_ms)
{
	assert(ix != NULL && key != NULL);
	return ix->ops->key_lock ? ix->ops->key_lock(ix, key, wait_ms) : 0;
}

void gv_index_key_unlock(gv_index *ix, const gv_key *key)
{
	assert(ix != NULL && key != NULL);
	if (ix->ops->key_unlock)
		ix->ops->key_unlock(ix, key);
}

int gv_index_claim(gv_index *ix, const char *name, const char *owner, uint64_t ttl_ms)
{
	assert(ix != NULL && name != NULL && owner != NULL);
	return ix->ops->claim ? ix->ops->claim(ix, name, owner, ttl_ms) : 1;
}

int gv_index_claim_release(gv_index *ix, const char *name, const char *owner)
{
	assert(ix != NULL && name != NULL && owner != NULL);
	return ix->ops->claim_release ? ix->ops->claim_release(ix, name, owner) : 0;
}

/* ---- the namespace (optional ops, all or none) --------------------------- */

static int no_ns(gv_index *ix)
{
	return gv_error_set(GV_ERROR, "index backend %s keeps no namespace", ix->ops->name);
}

#define NS_CALL(op, ...) (ix->ops->op ? ix->ops->op(ix, __VA_ARGS__) : no_ns(ix))

int gv_index_ns_bucket_put(gv_index *ix, const gv_bucket_info *b)
{
	assert(ix != NULL && b != NULL);
	return NS_CALL(ns_bucket_put, b);
}

int gv_index_ns_bucket_remove(gv_index *ix, const char *name)
{
	assert(ix != NULL && name != NULL);
	return NS_CALL(ns_bucket_remove, name);
}

int gv_index_ns_buckets(gv_index *ix, const char *name, gv_bucket_info **out, size_t *out_n)
{
	assert(ix != NULL && out != NULL && out_n != NULL);
	*out = NULL;
	*out_n = 0;
	return NS_CALL(ns_buckets, name, out, out_n);
}

int gv_index_ns_object_put(gv_index *ix, const gv_object *o, int64_t now_ms)
{
	assert(ix != NULL && o != NULL);
	return NS_CALL(ns_object_put, o, now_ms);
}

int gv_index_ns_object_get(gv_index *ix, const char *bucket, const char *name, gv_object *out)
{
	assert(ix != NULL && bucket != NULL && name != NULL && out != NULL);
	return NS_CALL(ns_object_get, bucket, name, out);
}

int gv_index_ns_object_remove(gv_index *ix, const char *bucket, const char *name, int64_t now_ms)
{
	assert(ix != NULL && bucket != NULL && name != NULL);
	return NS_CALL(ns_object_remove, bucket, name, now_ms);
}

int gv_index_ns_objects_next(gv_index *ix, const char *bucket, const char *prefix,
                             const char *after, size_t limit, gv_object **out, size_t *out_n)
{
	assert(ix != NULL && bucket != NULL && out != NULL && out_n != NULL);
	*out = NULL;
	*out_n = 0;
	return NS_CALL(ns_objects_next, bucket, prefix ? prefix : "", after ? after : "", limit,
	               out, out_n);
}

int gv_index_ns_manifest_get(gv_index *ix, const gv_key *key, gv_key **out, size_t *out_n)
{
	assert(ix != NULL && key != NULL && out != NULL && out_n != NULL);
	*out = NULL;
	*out_n = 0;
	return NS_CALL(ns_manifest_get, key, out, out_n);
}

int gv_index_ns_upload_put(gv_index *ix, const char *id, const gv_object *o)
{
	assert(ix != NULL && id != NULL && o != NULL);
	return NS_CALL(ns_upload_put, id, o);
}

int gv_index_ns_upload_get(gv_index *ix, const char *id, gv_object *out)
{
	assert(ix != NULL && id != NULL && out != NULL);
	return NS_CALL(ns_upload_get, id, out);
}

int gv_index_ns_upload_part_put(gv_index *ix, const char *id, const gv_ns_part *p, int64_t now_ms)
{
	assert(ix != NULL && id != NULL && p != NULL);
	return NS_CALL(ns_upload_part_put, id, p, now_ms);
}

int gv_index_ns_upload_parts_next(gv_index *ix, const char *id, uint32_t after, size_t limit,
                                  gv_ns_part **out, size_t *out_n)
{
	assert(ix != NULL && id != NULL && out != NULL && out_n != NULL);
	*out = NULL;
	*out_n = 0;
	return NS_CALL(ns_upload_parts_next, id, after, limit, out, out_n);
}

int gv_index_ns_upload_remove(gv_index *ix, const char *id, int64_t now_ms)
{
	assert(ix != NULL && id != NULL);
	return NS_CALL(ns_upload_remove, id, now_ms);
}

int gv_index_ns_uploads_next(gv_index *ix, const char *bucket, const char *prefix,
                             int64_t before_ms, size_t limit, gv_ns_upload **out, size_t *out_n)
{
	assert(ix != NULL && out != NULL && out_n != NULL);
	*out = NULL;
	*out_n = 0;
	return NS_CALL(ns_uploads_next, bucket, prefix ? prefix : "", before_ms, limit, out,
	               out_n);
}

int gv_index_ns_upload_complete(gv_index *ix, const char *id, const gv_object *o,
                                const gv_key *parts, size_t n, int64_t now_ms)
{
	assert(ix != NULL && id != NULL && o != NULL && (parts != NULL || n == 0));
	return NS_CALL(ns_upload_complete, id, o, parts, n, now_ms);
}

int gv_index_ns_pin(gv_index *ix, const gv_key *key, int pin, int64_t now_ms)
{
	assert(ix != NULL && key != NULL);
	return NS_CALL(ns_pin, key, pin, now_ms);
}

int gv_index_ns_touch(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	assert(ix != NULL && key != NULL);
	return NS_CALL(ns_touch, key, now_ms);
}

int gv_index_ns_garbage_next(gv_index *ix, int64_t before_ms, const gv_key *after, size_t limit,
                             gv_key *out, size_t *out_n)
{
	assert(ix != NULL && (out != NULL || limit == 0) && out_n != NULL);
	*out_n = 0;
	return NS_CALL(ns_garbage_next, before_ms, after, limit, out, out_n);
}

int gv_index_ns_collect(gv_index *ix, const gv_key *key, int64_t before_ms, int dry_run)
{
	assert(ix != NULL && key != NULL);
	return NS_CALL(ns_collect, key, before_ms, dry_run);
}

int gv_index_ns_forget(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	assert(ix != NULL && key != NULL);
	return NS_CALL(ns_forget, key, now_ms);
}
