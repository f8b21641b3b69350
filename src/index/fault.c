/*
 * fault.c - an index that wraps another and fails on purpose (fault.h).
 *
 * Every gv_index_ops call is forwarded to the inner index unless the plan
 * picks it: then it fails with the plan's error and a message naming the
 * operation, and the inner index is not touched (as when a write finds
 * the disk full before anything commits).  close is never failed.
 *
 * f->lock guards the plan and the counters.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "index/fault.h"

typedef struct fault_index {
	gv_index base;
	gv_index *inner;
	pthread_mutex_t lock;
	gv_index_fault_plan plan;   /* lock */
	unsigned long calls;        /* lock: calls that matched plan.ops */
	unsigned long failed;       /* lock: calls failed */
} fault_index;

static const struct gv_index_ops fault_ops;

/* Count a call of `op`: 0 to go ahead, else the planned error. */
static int fault_enter(gv_index *ix, unsigned long op, const char *what)
{
	fault_index *f = (fault_index *)ix;
	unsigned long first;
	unsigned hang_ms = 0;
	int err = 0;

	pthread_mutex_lock(&f->lock);
	if (f->plan.ops & op) {
		f->calls++;
		first = f->plan.nth ? f->plan.nth : 1;
		if (f->calls >= first && (f->plan.count == 0 || f->calls < first + f->plan.count)) {
			f->failed++;
			hang_ms = f->plan.hang_ms;
			err = f->plan.error ? f->plan.error : hang_ms ? 0 : GV_EIO;
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (hang_ms) {
		struct timespec ts = { (time_t)(hang_ms / 1000), (long)(hang_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0)
			;
	}
	return err ? gv_error_set(err, "index: %s: injected fault", what) : 0;
}

static gv_index *inner(gv_index *ix)
{
	return ((fault_index *)ix)->inner;
}

/* Fail the call, or hand it to the inner index. */
#define FORWARD(OP, name, ...)                                                  \
	do {                                                                    \
		int err_ = fault_enter(ix, OP, name);                           \
		if (err_ < 0)                                                   \
			return err_;                                            \
		return inner(ix)->ops->__VA_ARGS__;                             \
	} while (0)

static int fx_sector_upsert(gv_index *ix, const gv_sector_info *s)
{
	FORWARD(GV_IXFAULT_SECTOR_UPSERT, "sector_upsert", sector_upsert(inner(ix), s));
}

static int fx_sector_get(gv_index *ix, const char *id, gv_sector_info *out)
{
	FORWARD(GV_IXFAULT_SECTOR_GET, "sector_get", sector_get(inner(ix), id, out));
}

static int fx_sector_list(gv_index *ix, gv_sector_info **out, size_t *out_n)
{
	FORWARD(GV_IXFAULT_SECTOR_LIST, "sector_list", sector_list(inner(ix), out, out_n));
}

static int fx_sector_set_health(gv_index *ix, const char *id, int healthy)
{
	FORWARD(GV_IXFAULT_SECTOR_SET_HEALTH, "sector_set_health",
	        sector_set_health(inner(ix), id, healthy));
}

static int fx_sector_set_state(gv_index *ix, const char *id, gv_sector_state st)
{
	FORWARD(GV_IXFAULT_SECTOR_SET_STATE, "sector_set_state",
	        sector_set_state(inner(ix), id, st));
}

static int fx_sector_remove(gv_index *ix, const char *id)
{
	FORWARD(GV_IXFAULT_SECTOR_REMOVE, "sector_remove", sector_remove(inner(ix), id));
}

static int fx_replica_put(gv_index *ix, const gv_replica *r)
{
	FORWARD(GV_IXFAULT_REPLICA_PUT, "replica_put", replica_put(inner(ix), r));
}

static int fx_replica_remove(gv_index *ix, const gv_key *key, const char *sector)
{
	FORWARD(GV_IXFAULT_REPLICA_REMOVE, "replica_remove",
	        replica_remove(inner(ix), key, sector));
}

static int fx_replica_set_health(gv_index *ix, const gv_key *key, const char *sector,
                                 int healthy, const char *reason)
{
	FORWARD(GV_IXFAULT_REPLICA_SET_HEALTH, "replica_set_health",
	        replica_set_health(inner(ix), key, sector, healthy, reason));
}

static int fx_replica_set_verified(gv_index *ix, const gv_key *key, const char *sector,
                                   int64_t when_ms, const uint8_t digest[GV_DIGEST_LEN])
{
	FORWARD(GV_IXFAULT_REPLICA_SET_VERIFIED, "replica_set_verified",
	        replica_set_verified(inner(ix), key, sector, when_ms, digest));
}

static int fx_replica_set_ranges(gv_index *ix, const gv_key *key, const char *sector,
                                 const gv_rangeset *ranges)
{
	FORWARD(GV_IXFAULT_REPLICA_SET_RANGES, "replica_set_ranges",
	        replica_set_ranges(inner(ix), key, sector, ranges));
}

static int fx_replicas_find(gv_index *ix, const gv_key *key, gv_replica **out, size_t *out_n)
{
	FORWARD(GV_IXFAULT_REPLICAS_FIND, "replicas_find",
	        replicas_find(inner(ix), key, out, out_n));
}

static int fx_blob_exists(gv_index *ix, const gv_key *key, int64_t *out_created_ms)
{
	FORWARD(GV_IXFAULT_BLOB_EXISTS, "blob_exists",
	        blob_exists(inner(ix), key, out_created_ms));
}

static int fx_blob_remove(gv_index *ix, const gv_key *key)
{
	FORWARD(GV_IXFAULT_BLOB_REMOVE, "blob_remove", blob_remove(inner(ix), key));
}

static int fx_keys_next(gv_index *ix, const gv_key *after, size_t limit, gv_key *out,
                        size_t *out_n)
{
	FORWARD(GV_IXFAULT_KEYS_NEXT, "keys_next", keys_next(inner(ix), after, limit, out, out_n));
}

static int fx_sector_keys_next(gv_index *ix, const char *sector, const gv_key *after,
                               size_t limit, gv_key *out, size_t *out_n)
{
	FORWARD(GV_IXFAULT_SECTOR_KEYS_NEXT, "sector_keys_next",
	        sector_keys_next(inner(ix), sector, after, limit, out, out_n));
}

static int fx_blobs_next(gv_index *ix, const gv_key *after, size_t limit,
                         gv_blob_entry **out, size_t *out_n)
{
	FORWARD(GV_IXFAULT_BLOBS_NEXT, "blobs_next",
	        blobs_next(inner(ix), after, limit, out, out_n));
}

static int fx_replicas_next(gv_index *ix, gv_replica_cursor *cur, const char *sector,
                            size_t limit, gv_replica **out, size_t *out_n)
{
	FORWARD(GV_IXFAULT_REPLICAS_NEXT, "replicas_next",
	        replicas_next(inner(ix), cur, sector, limit, out, out_n));
}

static int fx_stats(gv_index *ix, int factor, gv_index_stats *out)
{
	FORWARD(GV_IXFAULT_STATS, "stats", stats(inner(ix), factor, out));
}

static int fx_setting_get(gv_index *ix, const char *name, char *buf, size_t cap)
{
	FORWARD(GV_IXFAULT_SETTING_GET, "setting_get", setting_get(inner(ix), name, buf, cap));
}

static int fx_setting_set(gv_index *ix, const char *name, const char *value)
{
	FORWARD(GV_IXFAULT_SETTING_SET, "setting_set", setting_set(inner(ix), name, value));
}

/* Through the dispatchers: the inner index may keep no block tables. */
static int fx_blocks_put(gv_index *ix, const gv_key *key, const void *table, size_t len)
{
	int err = fault_enter(ix, GV_IXFAULT_BLOCKS_PUT, "blocks_put");

	return err < 0 ? err : gv_index_blocks_put(inner(ix), key, table, len);
}

static int fx_blocks_get(gv_index *ix, const gv_key *key, void **out, size_t *out_len)
{
	int err = fault_enter(ix, GV_IXFAULT_BLOCKS_GET, "blocks_get");

	return err < 0 ? err : gv_index_blocks_get(inner(ix), key, out, out_len);
}

/* The repair queue ops are optional: forward through the dispatchers,
 * which answer for an inner index without them. */
#define FORWARD_IX(OP, name, call)                                              \
	do {                                                                    \
		int err_ = fault_enter(ix, OP, name);                           \
		if (err_ < 0)                                                   \
			return err_;                                            \
		return call;                                                    \
	} while (0)

static int fx_repairq_put(gv_index *ix, const gv_repairq_entry *e)
{
	FORWARD_IX(GV_IXFAULT_REPAIRQ_PUT, "repairq_put", gv_index_repairq_put(inner(ix), e));
}

static int fx_repairq_get(gv_index *ix, const gv_key *key, gv_repairq_entry *out)
{
	FORWARD_IX(GV_IXFAULT_REPAIRQ_GET, "repairq_get", gv_index_repairq_get(inner(ix), key, out));
}

static int fx_repairq_remove(gv_index *ix, const gv_key *key)
{
	FORWARD_IX(GV_IXFAULT_REPAIRQ_REMOVE, "repairq_remove",
	           gv_index_repairq_remove(inner(ix), key));
}

static int fx_repairq_due(gv_index *ix, int64_t now_ms, size_t limit, gv_key *out,
                          size_t *out_n)
{
	FORWARD_IX(GV_IXFAULT_REPAIRQ_DUE, "repairq_due",
	           gv_index_repairq_due(inner(ix), now_ms, limit, out, out_n));
}

static int fx_repairq_list(gv_index *ix, const gv_key *after, size_t limit,
                           gv_repairq_entry *out, size_t *out_n)
{
	FORWARD_IX(GV_IXFAULT_REPAIRQ_LIST, "repairq_list",
	           gv_index_repairq_list(inner(ix), after, limit, out, out_n));
}

static int fx_repairq_count(gv_index *ix, uint64_t *queued, uint64_t *dead)
{
	FORWARD_IX(GV_IXFAULT_REPAIRQ_COUNT, "repairq_count",
	           gv_index_repairq_count(inner(ix), queued, dead));
}

/* ---- the namespace ---- */

#define NS_R GV_IXFAULT_NS_READ
#define NS_W GV_IXFAULT_NS_WRITE

static int fx_ns_bucket_put(gv_index *ix, const gv_bucket_info *b)
{
	FORWARD_IX(NS_W, "ns_bucket_put", gv_index_ns_bucket_put(inner(ix), b));
}

static int fx_ns_bucket_remove(gv_index *ix, const char *name)
{
	FORWARD_IX(NS_W, "ns_bucket_remove", gv_index_ns_bucket_remove(inner(ix), name));
}

static int fx_ns_buckets(gv_index *ix, const char *name, gv_bucket_info **out, size_t *out_n)
{
	FORWARD_IX(NS_R, "ns_buckets", gv_index_ns_buckets(inner(ix), name, out, out_n));
}

static int fx_ns_object_put(gv_index *ix, const gv_object *o, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_object_put", gv_index_ns_object_put(inner(ix), o, now_ms));
}

static int fx_ns_object_get(gv_index *ix, const char *bucket, const char *name, gv_object *out)
{
	FORWARD_IX(NS_R, "ns_object_get", gv_index_ns_object_get(inner(ix), bucket, name, out));
}

static int fx_ns_object_remove(gv_index *ix, const char *bucket, const char *name, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_object_remove",
	           gv_index_ns_object_remove(inner(ix), bucket, name, now_ms));
}

static int fx_ns_objects_next(gv_index *ix, const char *bucket, const char *prefix,
                              const char *after, size_t limit, gv_object **out, size_t *out_n)
{
	FORWARD_IX(NS_R, "ns_objects_next",
	           gv_index_ns_objects_next(inner(ix), bucket, prefix, after, limit, out, out_n));
}

static int fx_ns_manifest_get(gv_index *ix, const gv_key *key, gv_key **out, size_t *out_n)
{
	FORWARD_IX(NS_R, "ns_manifest_get", gv_index_ns_manifest_get(inner(ix), key, out, out_n));
}

static int fx_ns_upload_put(gv_index *ix, const char *id, const gv_object *o)
{
	FORWARD_IX(NS_W, "ns_upload_put", gv_index_ns_upload_put(inner(ix), id, o));
}

static int fx_ns_upload_get(gv_index *ix, const char *id, gv_object *out)
{
	FORWARD_IX(NS_R, "ns_upload_get", gv_index_ns_upload_get(inner(ix), id, out));
}

static int fx_ns_upload_part_put(gv_index *ix, const char *id, const gv_ns_part *p, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_upload_part_put", gv_index_ns_upload_part_put(inner(ix), id, p, now_ms));
}

static int fx_ns_upload_parts_next(gv_index *ix, const char *id, uint32_t after, size_t limit,
                                   gv_ns_part **out, size_t *out_n)
{
	FORWARD_IX(NS_R, "ns_upload_parts_next",
	           gv_index_ns_upload_parts_next(inner(ix), id, after, limit, out, out_n));
}

static int fx_ns_upload_remove(gv_index *ix, const char *id, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_upload_remove", gv_index_ns_upload_remove(inner(ix), id, now_ms));
}

static int fx_ns_uploads_next(gv_index *ix, const char *bucket, const char *prefix,
                              int64_t before_ms, size_t limit, gv_ns_upload **out, size_t *out_n)
{
	FORWARD_IX(NS_R, "ns_uploads_next",
	           gv_index_ns_uploads_next(inner(ix), bucket, prefix, before_ms, limit, out, out_n));
}

static int fx_ns_upload_complete(gv_index *ix, const char *id, const gv_object *o,
                                 const gv_key *parts, size_t n, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_upload_complete",
	           gv_index_ns_upload_complete(inner(ix), id, o, parts, n, now_ms));
}

static int fx_ns_pin(gv_index *ix, const gv_key *key, int pin, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_pin", gv_index_ns_pin(inner(ix), key, pin, now_ms));
}

static int fx_ns_touch(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_touch", gv_index_ns_touch(inner(ix), key, now_ms));
}

static int fx_ns_garbage_next(gv_index *ix, int64_t before_ms, const gv_key *after, size_t limit,
                              gv_key *out, size_t *out_n)
{
	FORWARD_IX(NS_R, "ns_garbage_next",
	           gv_index_ns_garbage_next(inner(ix), before_ms, after, limit, out, out_n));
}

static int fx_ns_collect(gv_index *ix, const gv_key *key, int64_t before_ms, int dry_run)
{
	FORWARD_IX(GV_IXFAULT_NS_COLLECT, "ns_collect",
	           gv_index_ns_collect(inner(ix), key, before_ms, dry_run));
}

static int fx_ns_forget(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	FORWARD_IX(NS_W, "ns_forget", gv_index_ns_forget(inner(ix), key, now_ms));
}

static int fx_blob_set_created(gv_index *ix, const gv_key *key, int64_t created_ms)
{
	return gv_index_blob_set_created(inner(ix), key, created_ms);
}

static int fx_key_lock(gv_index *ix, const gv_key *key, uint64_t wait_ms)
{
	FORWARD_IX(GV_IXFAULT_KEY_LOCK, "key_lock", gv_index_key_lock(inner(ix), key, wait_ms));
}

static void fx_key_unlock(gv_index *ix, const gv_key *key)
{
	gv_index_key_unlock(inner(ix), key);
}

static int fx_claim(gv_index *ix, const char *name, const char *owner, uint64_t ttl_ms)
{
	FORWARD_IX(GV_IXFAULT_CLAIM, "claim", gv_index_claim(inner(ix), name, owner, ttl_ms));
}

static int fx_claim_release(gv_index *ix, const char *name, const char *owner)
{
	FORWARD_IX(GV_IXFAULT_CLAIM, "claim_release",
	           gv_index_claim_release(inner(ix), name, owner));
}

static void fx_close(gv_index *ix)
{
	fault_index *f = (fault_index *)ix;

	f->inner->ops->close(f->inner);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static const struct gv_index_ops fault_ops = {
	.version = GV_INDEX_OPS_VERSION,
	.name = "fault",
	.sector_upsert = fx_sector_upsert,
	.sector_get = fx_sector_get,
	.sector_list = fx_sector_list,
	.sector_set_health = fx_sector_set_health,
	.sector_set_state = fx_sector_set_state,
	.sector_remove = fx_sector_remove,
	.replica_put = fx_replica_put,
	.replica_remove = fx_replica_remove,
	.replica_set_health = fx_replica_set_health,
	.replica_set_verified = fx_replica_set_verified,
	.replica_set_ranges = fx_replica_set_ranges,
	.replicas_find = fx_replicas_find,
	.blob_exists = fx_blob_exists,
	.blob_remove = fx_blob_remove,
	.keys_next = fx_keys_next,
	.sector_keys_next = fx_sector_keys_next,
	.blobs_next = fx_blobs_next,
	.replicas_next = fx_replicas_next,
	.stats = fx_stats,
	.setting_get = fx_setting_get,
	.setting_set = fx_setting_set,
	.close = fx_close,
	.blocks_put = fx_blocks_put,
	.blocks_get = fx_blocks_get,
	.repairq_put = fx_repairq_put,
	.repairq_get = fx_repairq_get,
	.repairq_remove = fx_repairq_remove,
	.repairq_due = fx_repairq_due,
	.repairq_list = fx_repairq_list,
	.repairq_count = fx_repairq_count,
	.blob_set_created = fx_blob_set_created,
	.key_lock = fx_key_lock,
	.key_unlock = fx_key_unlock,
	.claim = fx_claim,
	.claim_release = fx_claim_release,
	.ns_bucket_put = fx_ns_bucket_put,
	.ns_bucket_remove = fx_ns_bucket_remove,
	.ns_buckets = fx_ns_buckets,
	.ns_object_put = fx_ns_object_put,
	.ns_object_get = fx_ns_object_get,
	.ns_object_remove = fx_ns_object_remove,
	.ns_objects_next = fx_ns_objects_next,
	.ns_manifest_get = fx_ns_manifest_get,
	.ns_upload_put = fx_ns_upload_put,
	.ns_upload_get = fx_ns_upload_get,
	.ns_upload_part_put = fx_ns_upload_part_put,
	.ns_upload_parts_next = fx_ns_upload_parts_next,
	.ns_upload_remove = fx_ns_upload_remove,
	.ns_uploads_next = fx_ns_uploads_next,
	.ns_upload_complete = fx_ns_upload_complete,
	.ns_pin = fx_ns_pin,
	.ns_touch = fx_ns_touch,
	.ns_garbage_next = fx_ns_garbage_next,
	.ns_collect = fx_ns_collect,
	.ns_forget = fx_ns_forget,
};

int gv_index_fault_wrap(gv_index **out, gv_index *in, const gv_index_fault_plan *plan)
{
	fault_index *f;

	if (out == NULL)
		return gv_error_set(GV_EINVAL, "no output pointer");
	*out = NULL;
	if (in == NULL)
		return gv_error_set(GV_EINVAL, "no index to wrap");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return gv_error_set(GV_ENOMEM, "out of memory wrapping the index");
	if (pthread_mutex_init(&f->lock, NULL) != 0) {
		free(f);
		return gv_error_set(GV_ERROR, "cannot initialise a mutex");
	}
	f->base.ops = &fault_ops;
	f->inner = in;
	if (plan != NULL)
		f->plan = *plan;
	*out = &f->base;
	return 0;
}

void gv_index_fault_set(gv_index *fault, const gv_index_fault_plan *plan)
{
	fault_index *f = (fault_index *)fault;

	assert(fault != NULL && fault->ops == &fault_ops);
	pthread_mutex_lock(&f->lock);
	if (plan != NULL)
		f->plan = *plan;
	else
		f->plan = (gv_index_fault_plan){ 0 };
	f->calls = 0;
	f->failed = 0;
	pthread_mutex_unlock(&f->lock);
}

void gv_index_fault_counts(gv_index *fault, unsigned long *calls, unsigned long *failed)
{
	fault_index *f = (fault_index *)fault;

	assert(fault != NULL && fault->ops == &fault_ops);
	pthread_mutex_lock(&f->lock);
	if (calls)
		*calls = f->calls;
	if (failed)
		*failed = f->failed;
	pthread_mutex_unlock(&f->lock);
}
