/*
 * rebuild.c - reconstruct the replica index from the sectors alone.
 *
 * Content addressing makes every blob file self-describing, and every local
 * sector carries its identity, so losing the index never means losing data.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/log.h"
#include "engine/store.h"

#define VERIFY_BUF (1u << 20)

typedef struct rb {
	const gv_rebuild_opts *o;
	gv_index *ix;
	gv_sector *s;
	gv_sha256 *h;
	char *buf;
	gv_rebuild_summary *sum;
	char cluster[GV_CLUSTER_ID_MAX]; /* the store's; "" until known */
	int err;
} rb;

static int on_blob(const gv_key *key, uint64_t bytes, void *payload)
{
	rb *b = payload;
	gv_replica rp;
	char reason[GV_REASON_MAX];
	int64_t created;
	int err;

	(void)bytes;
	if (gv_replica_verify(b->s, key, reason, sizeof(reason), NULL, NULL, NULL) == 0)
		reason[0] = '\0';
	memset(&rp, 0, sizeof(rp));
	rp.key = *key;
	snprintf(rp.sector, sizeof(rp.sector), "%s", b->s->id);
	gv_rangeset_init(&rp.ranges);
	if ((err = gv_rangeset_add(&rp.ranges, 0, key->size)) < 0) {
		b->err = err;
		return 1;
	}
	rp.healthy = reason[0] == '\0';
	if (rp.healthy) {
		rp.last_verified = gv_now_ms();
		rp.has_checksum = 1;
		memcpy(rp.checksum, key->digest, GV_DIGEST_LEN);
	} else {
		char kbuf[GV_KEY_BUFSIZE];

		snprintf(rp.reason, sizeof(rp.reason), "%s", reason);
		b->sum->unhealthy++;
		gv_warn("event=rebuild_bad_copy key=%s sector=%s reason=\"%s\"",
		        gv_key_format(kbuf, key), b->s->id, reason);
	}
	if (b->ix->ops->blob_exists(b->ix, key, &created) != 1)
		b->sum->blobs++;
	err = b->ix->ops->replica_put(b->ix, &rp);
	gv_rangeset_free(&rp.ranges);
	if (err < 0) {
		b->err = err;
		return 1;
	}
	b->sum->replicas++;
	b->sum->bytes += key->size;
	if (b->o->on_progress)
		b->o->on_progress(b->sum->replicas, b->sum->bytes, b->o->payload);
	return 0;
}

static int rebuild_sector(rb *b, const char *root)
{
	gv_sector_identity ident;
	gv_sector_info info;
	gv_sector_usage usage;
	int err;

	if ((err = gv_sector_fs_read_identity(&ident, root)) < 0)
		return err;
	/* Only this store's sectors: the first identity naming a cluster
	 * names it when the old index did not. */
	if (b->cluster[0] && ident.cluster[0] && strcmp(b->cluster, ident.cluster) != 0)
		return gv_error_set(GV_EEXISTS, "%s belongs to another cluster (%s, not %s)", root,
		                    ident.cluster, b->cluster);
	if (!b->cluster[0] && ident.cluster[0]) {
		if ((err = b->ix->ops->setting_set(b->ix, "cluster.id", ident.cluster)) < 0)
			return err;
		memcpy(b->cluster, ident.cluster, sizeof(b->cluster));
	}
	memset(&info, 0, sizeof(info));
	snprintf(info.id, sizeof(info.id), "%s", ident.id);
	snprintf(info.kind, sizeof(info.kind), "fs");
	if ((err = gv_store_index_path(b->o->data_dir, root, info.path, sizeof(info.path))) < 0)
		return err;
	snprintf(info.rack, sizeof(info.rack), "%s", ident.rack);
	snprintf(info.zone, sizeof(info.zone), "%s", ident.zone);
	info.capacity = ident.capacity;
	info.healthy = 1;
	info.state = GV_SECTOR_ACTIVE;
	if ((err = gv_sector_fs_open(&b->s, root, &ident, 0)) < 0)
		return err;
	if (!info.capacity && gv_sector_usage_get(b->s, &usage) == 0)
		info.capacity = usage.capacity;
	if ((err = b->ix->ops->sector_upsert(b->ix, &info)) < 0)
		goto out;
	gv_info("event=rebuild_sector sector=%s path=%s", info.id, root);
	b->err = 0;
	err = gv_sector_list(b->s, on_blob, b);
	if (b->err < 0)
		err = b->err;
	if (err > 0)
		err = 0;
	b->sum->sectors++;
out:
	gv_sector_close(b->s);
	b->s = NULL;
	return err;
}

static int set_placement(gv_index *ix, const gv_placement_opts *p)
{
	char v[32];
	int err;

	if ((err = gv_placement_opts_validate(p)) < 0)
		return err;
	if ((err = ix->ops->setting_set(ix, "replication.strategy", gv_strategy_name(p->strategy))) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->factor);
	if ((err = ix->ops->setting_set(ix, "replication.factor", v)) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->min_replicas);
	if ((err = ix->ops->setting_set(ix, "replication.min-replicas", v)) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->min_racks);
	if ((err = ix->ops->setting_set(ix, "replication.min-racks", v)) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->min_zones);
	return ix->ops->setting_set(ix, "replication.min-zones", v);
}

static void unlink_db(const char *path)
{
	char p[GV_PATH_MAX + 32];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

int gv_index_rebuild(const gv_rebuild_opts *o, gv_rebuild_summary *sum)
{
	char ixpath[GV_PATH_MAX], tmp[GV_PATH_MAX + 16], dir[GV_PATH_MAX + 16], root[GV_PATH_MAX];
	char side[GV_PATH_MAX + 16];
	struct stat sb;
	DIR *d = NULL;
	struct dirent *de;
	rb b;
	size_t i;
	int64_t t0 = gv_now_ms();
	int err;

	memset(sum, 0, sizeof(*sum));
	memset(&b, 0, sizeof(b));
	if (!o || !o->data_dir || !*o->data_dir)
		return gv_error_set(GV_EINVAL, "no data directory given");
	if (strlen(o->data_dir) > GV_PATH_MAX - 64)
		return gv_error_set(GV_EINVAL, "data directory path too long");
	if (o->index_path)
		snprintf(ixpath, sizeof(ixpath), "%s", o->index_path);
	else
		snprintf(ixpath, sizeof(ixpath), "%s/graviton.db", o->data_dir);
	if (stat(ixpath, &sb) == 0 && !o->force)
		return gv_error_set(GV_EEXISTS,
		                    "index %s exists; rebuilding would replace it (use --force)", ixpath);
	snprintf(tmp, sizeof(tmp), "%s.rebuild", ixpath);
	unlink_db(tmp);

	b.o = o;
	b.sum = sum;
	b.buf = malloc(VERIFY_BUF);
	if (!b.buf || gv_sha256_new(&b.h) < 0) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = gv_index_sqlite_open(&b.ix, tmp, 1)) < 0 ||
	    (err = gv_store_settings_carry(b.ix, ixpath, b.cluster, sizeof(b.cluster))) < 0)
		goto out;
	if (o->placement_set && (err = set_placement(b.ix, &o->placement)) < 0)
		goto out;

	snprintf(dir, sizeof(dir), "%s/sectors", o->data_dir);
	d = opendir(dir);
	if (!d && errno != ENOENT) {
		err = gv_error_set_errno(GV_EIO, errno, "cannot read %s", dir);
		goto out;
	}
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(root, sizeof(root), "%s/%s", dir, de->d_name) >= (int)sizeof(root))
			continue;
		if (stat(root, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		err = rebuild_sector(&b, root);
		if (err < 0) {
			/* A directory that is not a readable sector is reported and
			 * skipped: the rest can still be recovered. */
			gv_warn("event=rebuild_skip path=%s reason=\"%s\"", root, gv_error_last());
			err = 0;
		}
	}
	for (i = 0; i < o->nsector_paths; i++) {
		if ((err = rebuild_sector(&b, o->sector_paths[i])) < 0) {
			err = gv_error_set(err, "sector %s: %s", o->sector_paths[i], gv_error_last());
			goto out;
		}
	}
	b.ix->ops->close(b.ix);
	b.ix = NULL;
	/* The old index's WAL and shared memory go first (they must never be
	 * replayed into the new file); the main file is then replaced in one
	 * rename, so a crash leaves the old index or the new one, never none. */
	snprintf(side, sizeof(side), "%s-wal", ixpath);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", ixpath);
	unlink(side);
	if (rename(tmp, ixpath) < 0) {
		err = gv_error_set_errno(GV_EIO, errno, "cannot move the new index into %s", ixpath);
		goto out;
	}
	sum->duration_ms = gv_now_ms() - t0;
	gv_info("event=rebuild_done sectors=%llu blobs=%llu replicas=%llu unhealthy=%llu",
	        (unsigned long long)sum->sectors, (unsigned long long)sum->blobs,
	        (unsigned long long)sum->replicas, (unsigned long long)sum->unhealthy);
	err = 0;
out:
	if (d)
		closedir(d);
	if (b.ix) {
		b.ix->ops->close(b.ix);
		unlink_db(tmp);
	}
	gv_sha256_free(b.h);
	free(b.buf);
	return err;
}
