/*
 * copy.c - summarize and copy a whole index through the port, so any
 * backend copies into any other (graviton index migrate).
 *
 * The digest hashes one canonical text line per row, in an order both
 * backends give the same way (sectors by id, blobs by key text, replicas
 * by sector, the repair queue by key text), so equal rows give equal
 * digests across backends.  Settings have no list op: the ones the engine
 * writes are listed here.  A backend without a repair queue has no rows
 * of it to copy or summarize.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/sys/index.h"

#define COPY_BATCH 512

static const char *const setting_names[] = {
	"cluster.id", "replication.strategy", "replication.factor",
	"replication.min-replicas", "replication.min-racks", "replication.min-zones",
};

#define NSETTINGS (sizeof(setting_names) / sizeof(setting_names[0]))

/* The setting name of index i: the fixed ones, then one per sector. */
static const char *setting_name(char *buf, size_t cap, size_t i, const gv_sector_info *secs)
{
	if (i < NSETTINGS)
		return setting_names[i];
	snprintf(buf, cap, "sector.%s.unhealthy-reason", secs[i - NSETTINGS].id);
	return buf;
}

static int feed(gv_key_hasher *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int feed(gv_key_hasher *h, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return gv_error_set(GV_ERROR, "index: a row too long to summarize");
	return gv_key_hasher_update(h, line, (size_t)n);
}

static int feed_replica(gv_key_hasher *h, const gv_replica *r)
{
	char sum[2 * GV_DIGEST_LEN + 1] = "-", *ranges = gv_rangeset_format(&r->ranges);
	gv_key k;
	int err;

	if (!ranges)
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	if (r->has_checksum) {
		memcpy(k.digest, r->checksum, GV_DIGEST_LEN);
		gv_key_hex(sum, &k);
	}
	err = feed(h, "replica\t%s\t%s\t%d\t%" PRId64 "\t%s\t%s\n", r->sector, ranges,
	           r->healthy != 0, r->last_verified, sum, r->reason);
	free(ranges);
	return err;
}

/* Visit every blob entry in key order. */
typedef int (*blob_fn)(const gv_blob_entry *e, void *arg);

static int each_blob(gv_index *ix, blob_fn fn, void *arg)
{
	gv_blob_entry *es = NULL;
	gv_key after;
	size_t n = 0, i;
	int err = 0, started = 0;

	do {
		if ((err = gv_index_blobs_next(ix, started ? &after : NULL, COPY_BATCH, &es, &n)) < 0)
			return err;
		for (i = 0; i < n && err == 0; i++)
			err = fn(&es[i], arg);
		if (n > 0) {
			after = es[n - 1].key;
			started = 1;
		}
		gv_blob_entries_free(es, n);
	} while (err == 0 && n == COPY_BATCH);
	return err;
}

/* Visit every repair queue row in key order (none when the backend keeps
 * no queue). */
typedef int (*repairq_fn)(const gv_repairq_entry *e, void *arg);

static int each_repairq(gv_index *ix, repairq_fn fn, void *arg)
{
	gv_repairq_entry *es;
	gv_key after;
	size_t n = 0, i;
	int err = 0, started = 0;

	if (!ix->ops->repairq_list)
		return 0;
	if (!(es = malloc(COPY_BATCH * sizeof(*es))))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	do {
		if ((err = gv_index_repairq_list(ix, started ? &after : NULL, COPY_BATCH, es,
		                                 &n)) < 0)
			break;
		for (i = 0; i < n && err == 0; i++)
			err = fn(&es[i], arg);
		if (n > 0) {
			after = es[n - 1].key;
			started = 1;
		}
	} while (err == 0 && n == COPY_BATCH);
	free(es);
	return err;
}

struct sum_ctx {
	gv_index *ix;
	gv_key_hasher *h;
	gv_index_summary *out;
};

static int sum_blob(const gv_blob_entry *e, void *arg)
{
	struct sum_ctx *x = arg;
	char kbuf[GV_KEY_BUFSIZE];
	void *tab = NULL;
	size_t i, len = 0;
	int err;

	gv_key_format(kbuf, &e->key);
	if ((err = feed(x->h, "blob\t%s\t%" PRId64 "\n", kbuf, e->created_ms)) < 0)
		return err;
	for (i = 0; i < e->nreplicas; i++)
		if ((err = feed_replica(x->h, &e->replicas[i])) < 0)
			return err;
	x->out->blobs++;
	x->out->replicas += e->nreplicas;
	err = gv_index_blocks_get(x->ix, &e->key, &tab, &len);
	if (err == GV_ENOTFOUND) {
		gv_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	x->out->block_tables++;
	if ((err = feed(x->h, "blocks\t%zu\n", len)) == 0)
		err = gv_key_hasher_update(x->h, tab, len);
	free(tab);
	return err;
}

static int sum_repairq(const gv_repairq_entry *e, void *arg)
{
	struct sum_ctx *x = arg;
	char kbuf[GV_KEY_BUFSIZE];

	x->out->repair_queue++;
	return feed(x->h, "repairq\t%s\t%s\t%" PRIu32 "\t%s\t%" PRId64 "\t%" PRId64 "\t%d\n",
	            gv_key_format(kbuf, &e->key), e->reason, e->attempts, e->last_error,
	            e->next_attempt_ms, e->enqueued_ms, e->dead != 0);
}

int gv_index_summarize(gv_index *ix, gv_index_summary *out)
{
	struct sum_ctx x = { ix, NULL, out };
	gv_sector_info *secs = NULL;
	char name[GV_ID_MAX + 40], value[4096];
	const char *nm;
	size_t nsecs = 0, i;
	gv_key d;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = gv_key_hasher_new(&x.h)) < 0)
		return err;
	if ((err = gv_index_sector_list(ix, &secs, &nsecs)) < 0)
		goto out;
	for (i = 0; i < nsecs && err == 0; i++)
		err = feed(x.h, "sector\t%s\t%s\t%s\t%" PRIu64 "\t%" PRIu64 "\t%d\t%s\t%s\t%d\n",
		           secs[i].id, secs[i].kind, secs[i].path, secs[i].capacity, secs[i].used,
		           secs[i].healthy != 0, secs[i].rack, secs[i].zone, (int)secs[i].state);
	out->sectors = nsecs;
	if (err == 0)
		err = each_blob(ix, sum_blob, &x);
	for (i = 0; i < NSETTINGS + nsecs && err == 0; i++) {
		nm = setting_name(name, sizeof(name), i, secs);
		err = gv_index_setting_get(ix, nm, value, sizeof(value));
		if (err == GV_ENOTFOUND) {
			gv_error_clear();
			err = 0;
			continue;
		}
		if (err == 0) {
			out->settings++;
			err = feed(x.h, "setting\t%s\t%s\n", nm, value);
		}
	}
	if (err == 0)
		err = each_repairq(ix, sum_repairq, &x);
	if (err == 0 && (err = gv_key_hasher_final(x.h, &d)) == 0)
		gv_key_hex(out->digest, &d);
out:
	gv_key_hasher_free(x.h);
	free(secs);
	return err;
}

struct copy_ctx {
	gv_index *dst, *src;
	uint64_t n;
	void (*on_blobs)(uint64_t n, void *payload);
	void *payload;
};

static int copy_blob(const gv_blob_entry *e, void *arg)
{
	struct copy_ctx *x = arg;
	char kbuf[GV_KEY_BUFSIZE];
	void *tab = NULL;
	size_t len = 0;
	int err;

	if (e->nreplicas == 0)
		return gv_error_set(GV_EINVAL, "index: blob %s has no replica rows, which the "
		                    "port cannot copy; run 'graviton repair' or 'index rebuild' first",
		                    gv_key_format(kbuf, &e->key));
	if ((err = gv_index_replicas_put(x->dst, e->replicas, e->nreplicas)) < 0 ||
	    (err = gv_index_blob_set_created(x->dst, &e->key, e->created_ms)) < 0)
		return err;
	err = gv_index_blocks_get(x->src, &e->key, &tab, &len);
	if (err == GV_ENOTFOUND) {
		gv_error_clear();
		err = 0;
	} else if (err == 0) {
		err = gv_index_blocks_put(x->dst, &e->key, tab, len);
		free(tab);
	}
	if (err == 0 && ++x->n % COPY_BATCH == 0 && x->on_blobs)
		x->on_blobs(x->n, x->payload);
	return err;
}

static int copy_repairq(const gv_repairq_entry *e, void *arg)
{
	return gv_index_repairq_put(arg, e);
}

/* GV_EEXISTS unless ix holds no sector, blob, setting or repair queue row. */
static int check_empty(gv_index *ix)
{
	gv_sector_info *secs = NULL;
	char value[256];
	size_t n = 0, i;
	uint64_t queued = 0, dead = 0;
	gv_key k;
	int err;

	if ((err = gv_index_sector_list(ix, &secs, &n)) < 0)
		return err;
	free(secs);
	if (n > 0)
		return gv_error_set(GV_EEXISTS, "index: the target index holds %zu "
		                    "sectors; it must be empty", n);
	if ((err = gv_index_keys_next(ix, NULL, 1, &k, &n)) < 0)
		return err;
	if (n > 0)
		return gv_error_set(GV_EEXISTS, "index: the target index holds blobs; it "
		                    "must be empty");
	for (i = 0; i < NSETTINGS; i++) {
		err = gv_index_setting_get(ix, setting_names[i], value, sizeof(value));
		if (err != GV_ENOTFOUND)
			return err < 0 && err != GV_EINVAL
			       ? err
			       : gv_error_set(GV_EEXISTS, "index: the target index has "
			                      "setting %s; it must be empty", setting_names[i]);
	}
	gv_error_clear();
	if (ix->ops->repairq_count && (err = gv_index_repairq_count(ix, &queued, &dead)) < 0)
		return err;
	if (queued + dead > 0)
		return gv_error_set(GV_EEXISTS, "index: the target index holds %" PRIu64
		                    " repair queue rows; it must be empty", queued + dead);
	return 0;
}

int gv_index_copy(gv_index *dst, gv_index *src, gv_index_summary *out,
                  void (*on_blobs)(uint64_t n, void *payload), void *payload)
{
	struct copy_ctx x = { dst, src, 0, on_blobs, payload };
	gv_index_summary got;
	gv_sector_info *secs = NULL;
	char name[GV_ID_MAX + 40], value[65536];
	const char *nm;
	size_t nsecs = 0, i;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = check_empty(dst)) < 0)
		return err;
	/* The namespace is not copied yet: refuse rather than drop names. */
	if (src->ops->ns_buckets) {
		gv_bucket_info *b = NULL;
		size_t nb = 0;

		if ((err = gv_index_ns_buckets(src, NULL, &b, &nb)) < 0)
			return err;
		free(b);
		if (nb)
			return gv_error_set(GV_EINVAL, "index: the source holds %zu bucket(s); index "
			                    "migrate does not copy the namespace yet "
			                    "(docs/namespace.md)", nb);
	}
	if ((err = gv_index_sector_list(src, &secs, &nsecs)) < 0)
		return err;
	for (i = 0; i < nsecs && err == 0; i++)
		err = gv_index_sector_upsert(dst, &secs[i]);
	if (err == 0)
		err = each_blob(src, copy_blob, &x);
	for (i = 0; i < NSETTINGS + nsecs && err == 0; i++) {
		nm = setting_name(name, sizeof(name), i, secs);
		err = gv_index_setting_get(src, nm, value, sizeof(value));
		if (err == GV_ENOTFOUND) {
			gv_error_clear();
			err = 0;
		} else if (err == 0) {
			err = gv_index_setting_set(dst, nm, value);
		}
	}
	free(secs);
	if (err == 0)
		err = each_repairq(src, copy_repairq, dst);
	if (err < 0)
		return err;
	if ((err = gv_index_summarize(src, out)) < 0 || (err = gv_index_summarize(dst, &got)) < 0)
		return err;
	if (got.sectors != out->sectors || got.blobs != out->blobs ||
	    got.replicas != out->replicas || got.settings != out->settings ||
	    got.block_tables != out->block_tables || got.repair_queue != out->repair_queue ||
	    strcmp(got.digest, out->digest) != 0)
		return gv_error_set(GV_ECORRUPT, "index: the copy differs from the source "
		                    "(source %" PRIu64 " blobs, %" PRIu64 " replicas, digest %.16s; "
		                    "copy %" PRIu64 " blobs, %" PRIu64 " replicas, digest %.16s)",
		                    out->blobs, out->replicas, out->digest, got.blobs, got.replicas,
		                    got.digest);
	return 0;
}
