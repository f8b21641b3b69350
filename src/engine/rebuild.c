/*
 * rebuild.c - reconstruct the replica index from the sectors alone.
 *
 * Content addressing makes every blob file self-describing, and every local
 * sector carries its identity, so losing the index never means losing data.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
	gv_sector_info *old;     /* the old index's sectors, when readable */
	size_t nold;
	int err;
} rb;

/* One sector root to scan, with the identity it carries. */
typedef struct rb_root {
	char path[GV_PATH_MAX];
	gv_sector_identity ident;
	dev_t dev;
	ino_t ino;
	int named;               /* given with --sector */
	char kind[GV_KIND_MAX];  /* "fs", or the scheme of a locator (s3://...) */
} rb_root;

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
	if (gv_index_blob_exists(b->ix, key, &created) != 1)
		b->sum->blobs++;
	err = gv_index_replica_put(b->ix, &rp);
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

static const gv_sector_info *old_sector(const rb *b, const char *id)
{
	size_t i;

	for (i = 0; i < b->nold; i++)
		if (strcmp(b->old[i].id, id) == 0)
			return &b->old[i];
	return NULL;
}

static int rebuild_sector(rb *b, const rb_root *r)
{
	const gv_sector_info *was = old_sector(b, r->ident.id);
	const char *root = r->path;
	gv_sector_identity ident = r->ident;
	gv_sector_info info, at;
	gv_sector_open_opts o;
	gv_sector_usage usage;
	int err;

	/* Only this store's sectors: the first identity naming a cluster
	 * names it when the old index did not. */
	if (b->cluster[0] && ident.cluster[0] && strcmp(b->cluster, ident.cluster) != 0)
		return gv_error_set(GV_EEXISTS, "%s belongs to another cluster (%s, not %s)", root,
		                    ident.cluster, b->cluster);
	if (!b->cluster[0] && ident.cluster[0]) {
		if ((err = gv_index_setting_set(b->ix, "cluster.id", ident.cluster)) < 0)
			return err;
		memcpy(b->cluster, ident.cluster, sizeof(b->cluster));
	}
	memset(&info, 0, sizeof(info));
	snprintf(info.id, sizeof(info.id), "%s", ident.id);
	snprintf(info.kind, sizeof(info.kind), "%s", r->kind);
	if (strcmp(r->kind, GV_SECTOR_KIND_DEFAULT) != 0)
		snprintf(info.path, sizeof(info.path), "%s", root);
	else if ((err = gv_store_index_path(b->o->data_dir, root, info.path,
	                                    sizeof(info.path))) < 0)
		return err;
	snprintf(info.rack, sizeof(info.rack), "%s", ident.rack);
	snprintf(info.zone, sizeof(info.zone), "%s", ident.zone);
	info.capacity = ident.capacity;
	info.healthy = 1;
	/* A draining or retired sector stays so: the old index says. */
	info.state = was ? was->state : GV_SECTOR_ACTIVE;
	/* Opened at the root scanned, with the identity it carries. */
	at = info;
	snprintf(at.path, sizeof(at.path), "%s", root);
	o.info = &at;
	o.cluster = ident.cluster;
	o.flags = 0;
	if ((err = gv_sector_kind_open(&b->s, &o)) < 0)
		return err;
	if (!info.capacity && gv_sector_usage_get(b->s, &usage) == 0)
		info.capacity = usage.capacity;
	if ((err = gv_index_sector_upsert(b->ix, &info)) < 0)
		goto out;
	gv_info("event=rebuild_sector sector=%s path=%s state=%s", info.id, root,
	        gv_sector_state_name(info.state));
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
	if ((err = gv_index_setting_set(ix, "replication.strategy", gv_strategy_name(p->strategy))) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->factor);
	if ((err = gv_index_setting_set(ix, "replication.factor", v)) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->min_replicas);
	if ((err = gv_index_setting_set(ix, "replication.min-replicas", v)) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->min_racks);
	if ((err = gv_index_setting_set(ix, "replication.min-racks", v)) < 0)
		return err;
	snprintf(v, sizeof(v), "%d", p->min_zones);
	return gv_index_setting_set(ix, "replication.min-zones", v);
}

/* Make a rename into `path` durable: fsync the directory holding it. */
static int sync_parent(const char *path)
{
	char dir[GV_PATH_MAX];
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	fd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		err = gv_error_set_errno(GV_EIO, errno, "cannot sync the directory of %s", path);
	if (fd >= 0)
		close(fd);
	return err;
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

/* The old index's sectors, when it exists and reads: their states carry
 * over, and a directory it does not register is not brought back. */
static void load_old(rb *b, const char *backend, const char *ixurl, const char *ixpath)
{
	gv_index *old = NULL;
	struct stat sb;

	if (stat(ixpath, &sb) < 0)
		return;
	if (gv_index_open(&old, backend, ixurl, 0) < 0 ||
	    gv_index_sector_list(old, &b->old, &b->nold) < 0) {
		gv_warn("event=rebuild_old_index_unreadable path=%s reason=\"%s\"", ixpath,
		        gv_error_last());
		b->old = NULL;
		b->nold = 0;
	}
	if (old)
		gv_index_close(old);
}

/*
 * Add one sector root to scan.  The same directory twice (a --sector that
 * is also under DIR/sectors) counts once; two directories carrying one
 * identity are refused: merging them would record rows for bytes only one
 * of them holds.  A directory under DIR/sectors without a readable
 * identity is reported and skipped; a named one is an error.
 */
static int add_root(rb_root **roots, size_t *n, const char *path, int named)
{
	rb_root r, *grown;
	struct stat sb;
	size_t i;
	int err;

	memset(&r, 0, sizeof(r));
	if (strlen(path) >= sizeof(r.path))
		return gv_error_set(GV_EINVAL, "sector path too long: %.64s...", path);
	snprintf(r.path, sizeof(r.path), "%s", path);
	r.named = named;
	snprintf(r.kind, sizeof(r.kind), "%s", GV_SECTOR_KIND_DEFAULT);
	if (strstr(path, "://") && (size_t)(strstr(path, "://") - path) < sizeof(r.kind)) {
		/* A locator: its scheme names the kind that reads its identity. */
		snprintf(r.kind, sizeof(r.kind), "%.*s", (int)(strstr(path, "://") - path), path);
		if ((err = gv_sector_kind_read_identity(&r.ident, r.kind, path)) < 0) {
			if (named)
				return gv_error_set(err, "sector %.200s: %s", path, gv_error_last());
			gv_warn("event=rebuild_skip path=%.200s reason=\"%s\"", path, gv_error_last());
			return 0;
		}
		for (i = 0; i < *n; i++)
			if (strcmp((*roots)[i].path, path) == 0) {
				(*roots)[i].named |= named;
				return 0;
			}
		goto add;
	}
	if ((err = gv_sector_kind_read_identity(&r.ident, GV_SECTOR_KIND_DEFAULT, path)) < 0 ||
	    stat(path, &sb) < 0) {
		if (err == 0)
			err = gv_error_set_errno(GV_EIO, errno, "cannot stat %s", path);
		if (named)
			return gv_error_set(err, "sector %s: %s", path, gv_error_last());
		gv_warn("event=rebuild_skip path=%s reason=\"%s\"", path, gv_error_last());
		return 0;
	}
	r.dev = sb.st_dev;
	r.ino = sb.st_ino;
	for (i = 0; i < *n; i++) {
		if ((*roots)[i].dev == r.dev && (*roots)[i].ino == r.ino) {
			(*roots)[i].named |= named;
			return 0;
		}
		/* Another cluster's sector of the same name is no duplicate:
		 * rebuild_sector skips it. */
		if (strcmp((*roots)[i].ident.id, r.ident.id) == 0 &&
		    strcmp((*roots)[i].ident.cluster, r.ident.cluster) == 0)
			return gv_error_set(GV_EINVAL,
			                    "%s and %s both carry sector identity %s; move the "
			                    "copy that is not the sector away and rebuild again",
			                    (*roots)[i].path, path, r.ident.id);
	}
add:
	grown = realloc(*roots, (*n + 1) * sizeof(**roots));
	if (!grown)
		return gv_error_set(GV_ENOMEM, "out of memory");
	*roots = grown;
	(*roots)[(*n)++] = r;
	return 0;
}

/* Every directory under DIR/sectors/, then every --sector path. */
static int collect_roots(const gv_rebuild_opts *o, rb_root **roots, size_t *n)
{
	char dir[GV_PATH_MAX + 16], root[GV_PATH_MAX];
	struct stat sb;
	struct dirent *de;
	DIR *d;
	size_t i;
	int err = 0;

	snprintf(dir, sizeof(dir), "%s/sectors", o->data_dir);
	d = opendir(dir);
	if (!d && errno != ENOENT)
		return gv_error_set_errno(GV_EIO, errno, "cannot read %s", dir);
	while (d && err == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(root, sizeof(root), "%s/%s", dir, de->d_name) >= (int)sizeof(root))
			continue;
		if (stat(root, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		err = add_root(roots, n, root, 0);
	}
	if (d)
		closedir(d);
	for (i = 0; err == 0 && i < o->nsector_paths; i++)
		err = add_root(roots, n, o->sector_paths[i], 1);
	return err;
}

int gv_index_rebuild(const gv_rebuild_opts *o, gv_rebuild_summary *sum)
{
	char ixurl[GV_PATH_MAX], ixpath[GV_PATH_MAX], tmpurl[GV_PATH_MAX + 16],
	        tmp[GV_PATH_MAX + 16], side[GV_PATH_MAX + 16];
	struct stat sb;
	rb_root *roots = NULL;
	size_t i, nroots = 0;
	rb b;
	int64_t t0 = gv_now_ms();
	int lock_fd = -1, err;

	memset(sum, 0, sizeof(*sum));
	memset(&b, 0, sizeof(b));
	if (!o || !o->data_dir || !*o->data_dir)
		return gv_error_set(GV_EINVAL, "no data directory given");
	if (strlen(o->data_dir) > GV_PATH_MAX - 64)
		return gv_error_set(GV_EINVAL, "data directory path too long");
	if (o->index_path)
		snprintf(ixurl, sizeof(ixurl), "%s", o->index_path);
	else
		snprintf(ixurl, sizeof(ixurl), "%s/graviton.db", o->data_dir);
	/* Rebuild writes a SQLite file and renames it into place. */
	if (strstr(ixurl, "://"))
		return gv_error_set(GV_EINVAL, "index %s: rebuild writes a SQLite index; rebuild "
		                    "into sqlite:PATH and copy it with 'graviton index migrate'",
		                    gv_index_url_redact(tmp, sizeof(tmp), ixurl));
	/* The backend's locator is the index file. */
	snprintf(ixpath, sizeof(ixpath), "%s", gv_index_url_locator(ixurl));
	if (stat(ixpath, &sb) == 0 && !o->force)
		return gv_error_set(GV_EEXISTS,
		                    "index %s exists; rebuilding would replace it (use --force)", ixpath);
	/* A running server would keep writing to the replaced index's unlinked
	 * file: what it acknowledged afterwards would be lost. */
	if ((err = gv_serve_lock(o->data_dir, &lock_fd)) < 0) {
		if (err == GV_EBUSY)
			err = gv_error_set(GV_EBUSY, "a graviton serve is running on %s; stop it "
			                   "before rebuilding the index", o->data_dir);
		return err;
	}
	snprintf(tmpurl, sizeof(tmpurl), "%s.rebuild", ixurl);
	snprintf(tmp, sizeof(tmp), "%s", gv_index_url_locator(tmpurl));
	unlink_db(tmp);

	b.o = o;
	b.sum = sum;
	b.buf = malloc(VERIFY_BUF);
	if (!b.buf || gv_sha256_new(&b.h) < 0) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = collect_roots(o, &roots, &nroots)) < 0)
		goto out;
	load_old(&b, o->index_backend, ixurl, ixpath);
	/* The old index's sectors that live elsewhere (a bucket) are listed
	 * too: no directory under DIR/sectors names them. */
	for (i = 0; err == 0 && i < b.nold; i++) {
		const gv_sector_kind *k = gv_sector_kind_find(b.old[i].kind);

		if (!k)
			gv_error_clear();
		else if (!(k->flags & GV_SECTOR_KIND_LOCAL) && k->read_identity &&
		         strstr(b.old[i].path, "://"))
			err = add_root(&roots, &nroots, b.old[i].path, 0);
	}
	if (err < 0)
		goto out;
	if ((err = gv_index_open(&b.ix, o->index_backend, tmpurl, GV_INDEX_OPEN_BULK)) < 0 ||
	    (err = gv_store_settings_carry(b.ix, o->index_backend, ixurl, b.cluster,
	                                   sizeof(b.cluster))) < 0)
		goto out;
	if (o->placement_set && (err = set_placement(b.ix, &o->placement)) < 0)
		goto out;

	for (i = 0; i < nroots; i++) {
		if (b.nold > 0 && !roots[i].named && !old_sector(&b, roots[i].ident.id)) {
			/* A removed sector's directory left behind. */
			gv_warn("event=rebuild_skip_unregistered sector=%s path=%s reason=\"not in the "
			        "old index (removed?); name it with --sector to bring it back\"",
			        roots[i].ident.id, roots[i].path);
			sum->skipped++;
			continue;
		}
		err = rebuild_sector(&b, &roots[i]);
		if (err < 0 && roots[i].named) {
			err = gv_error_set(err, "sector %s: %s", roots[i].path, gv_error_last());
			goto out;
		}
		if (err < 0) {
			/* A directory that is not a readable sector is reported and
			 * skipped: the rest can still be recovered. */
			gv_warn("event=rebuild_skip path=%s reason=\"%s\"", roots[i].path,
			        gv_error_last());
			err = 0;
		}
	}
	gv_index_close(b.ix);
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
	if ((err = sync_parent(ixpath)) < 0)
		goto out;
	sum->duration_ms = gv_now_ms() - t0;
	gv_info("event=rebuild_done sectors=%llu blobs=%llu replicas=%llu unhealthy=%llu "
	        "skipped=%llu",
	        (unsigned long long)sum->sectors, (unsigned long long)sum->blobs,
	        (unsigned long long)sum->replicas, (unsigned long long)sum->unhealthy,
	        (unsigned long long)sum->skipped);
	err = 0;
out:
	if (b.ix) {
		gv_index_close(b.ix);
		unlink_db(tmp);
	}
	free(roots);
	free(b.old);
	gv_sha256_free(b.h);
	free(b.buf);
	gv_serve_unlock(lock_fd);
	return err;
}
