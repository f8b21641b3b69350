/*
 * store.c - opening a data directory: the index, the registered sectors,
 * the cluster's placement settings.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/clock.h"
#include "engine/blocks.h"
#include "engine/store.h"
#include "graviton/health.h"

static int setting_int(gv_index *ix, const char *name, int *val)
{
	char buf[64], *end;
	long v;
	int err;

	err = gv_index_setting_get(ix, name, buf, sizeof(buf));
	if (err == GV_ENOTFOUND)
		return 0;
	if (err < 0)
		return err;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < 0 || v > INT_MAX)
		return gv_error_set(GV_EINVAL, "index setting %s has a bad value '%s'", name, buf);
	*val = (int)v;
	return 0;
}

static int load_placement(gv_index *ix, gv_placement_opts *p)
{
	char buf[64];
	int err;

	err = gv_index_setting_get(ix, "replication.strategy", buf, sizeof(buf));
	if (err == 0) {
		if ((err = gv_strategy_parse(&p->strategy, buf)) < 0)
			return err;
	} else if (err != GV_ENOTFOUND) {
		return err;
	}
	if ((err = setting_int(ix, "replication.factor", &p->factor)) < 0 ||
	    (err = setting_int(ix, "replication.min-replicas", &p->min_replicas)) < 0 ||
	    (err = setting_int(ix, "replication.min-racks", &p->min_racks)) < 0 ||
	    (err = setting_int(ix, "replication.min-zones", &p->min_zones)) < 0)
		return err;
	return gv_placement_opts_validate(p);
}

static int store_placement(gv_index *ix, const gv_placement_opts *p)
{
	char buf[32];
	int err;

	if ((err = gv_index_setting_set(ix, "replication.strategy", gv_strategy_name(p->strategy))) < 0)
		return err;
	snprintf(buf, sizeof(buf), "%d", p->factor);
	if ((err = gv_index_setting_set(ix, "replication.factor", buf)) < 0)
		return err;
	snprintf(buf, sizeof(buf), "%d", p->min_replicas);
	if ((err = gv_index_setting_set(ix, "replication.min-replicas", buf)) < 0)
		return err;
	snprintf(buf, sizeof(buf), "%d", p->min_racks);
	if ((err = gv_index_setting_set(ix, "replication.min-racks", buf)) < 0)
		return err;
	snprintf(buf, sizeof(buf), "%d", p->min_zones);
	return gv_index_setting_set(ix, "replication.min-zones", buf);
}

/* Append " name=old->new" to buf when the two differ. */
static void change_note(char *buf, size_t cap, const char *name, const char *was, const char *now)
{
	size_t len = strlen(buf);

	if (strcmp(was, now) != 0 && len < cap)
		snprintf(buf + len, cap - len, " %s=%s->%s", name, was, now);
}

static void change_note_int(char *buf, size_t cap, const char *name, int was, int now)
{
	char a[16], b[16];

	snprintf(a, sizeof(a), "%d", was);
	snprintf(b, sizeof(b), "%d", now);
	change_note(buf, cap, name, a, b);
}

int gv_store_set_placement(gv_store *st, const gv_placement_opts *p)
{
	gv_placement_opts was;
	char what[256] = "";
	int err;

	if ((err = gv_placement_opts_validate(p)) < 0)
		return err;
	/* What the index holds now, not this handle's copy: another process
	 * may have changed it since the store opened. */
	if ((err = gv_store_reload_placement(st)) < 0)
		return err;
	pthread_mutex_lock(&st->lock);
	was = st->placement;
	pthread_mutex_unlock(&st->lock);
	change_note(what, sizeof(what), "strategy", gv_strategy_name(was.strategy),
	            gv_strategy_name(p->strategy));
	change_note_int(what, sizeof(what), "factor", was.factor, p->factor);
	change_note_int(what, sizeof(what), "min_replicas", was.min_replicas, p->min_replicas);
	change_note_int(what, sizeof(what), "min_racks", was.min_racks, p->min_racks);
	change_note_int(what, sizeof(what), "min_zones", was.min_zones, p->min_zones);
	if (!what[0])
		return 0;
	if ((err = store_placement(st->ix, p)) < 0)
		return err;
	pthread_mutex_lock(&st->lock);
	st->placement = *p;
	pthread_mutex_unlock(&st->lock);
	gv_log(GV_LOG_WARN, "event=placement_changed%s", what);
	return 0;
}

int gv_store_reload_placement(gv_store *st)
{
	gv_placement_opts p = GV_PLACEMENT_OPTS_INIT;
	int err;

	if ((err = load_placement(st->ix, &p)) < 0)
		return err;
	pthread_mutex_lock(&st->lock);
	st->placement = p;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

const char *gv_store_cluster_id(gv_store *st)
{
	return st->cluster_id;
}

static int note_name_ok(const char *name)
{
	if (name && strncmp(name, "app.", 4) == 0 && name[4])
		return 1;
	return gv_error_set(GV_EINVAL, "note name '%s' must start with 'app.'",
	                    name ? name : "");
}

int gv_store_note_get(gv_store *st, const char *name, char *buf, size_t cap)
{
	int err = note_name_ok(name);

	return err < 0 ? err : gv_index_setting_get(st->ix, name, buf, cap);
}

int gv_store_note_set(gv_store *st, const char *name, const char *value)
{
	int err = note_name_ok(name);

	return err < 0 ? err : gv_index_setting_set(st->ix, name, value ? value : "");
}

gv_placement_opts gv_store_placement(gv_store *st)
{
	gv_placement_opts p;

	pthread_mutex_lock(&st->lock);
	p = st->placement;
	pthread_mutex_unlock(&st->lock);
	return p;
}

gv_index *gv_store_index(gv_store *st)
{
	return st->ix;
}

/* The directory of a sector path as the index keeps it: relative ones are
 * under the data directory. */
static int sector_root(const char *data_dir, const char *path, char *out, size_t cap)
{
	int n = path[0] == '/' ? snprintf(out, cap, "%s", path)
	                       : snprintf(out, cap, "%s/%s", data_dir, path);

	if (n < 0 || (size_t)n >= cap)
		return gv_error_set(GV_EINVAL, "sector path too long: %.64s...", path);
	return 0;
}

int gv_store_index_path(const char *data_dir, const char *path, char *out, size_t cap)
{
	char abs[PATH_MAX], dir[PATH_MAX];
	const char *keep = abs;
	size_t dlen;

	if (!realpath(path, abs))
		return gv_error_set_errno(GV_EIO, errno, "cannot resolve %s", path);
	if (data_dir && realpath(data_dir, dir)) {
		dlen = strlen(dir);
		if (strncmp(abs, dir, dlen) == 0 && abs[dlen] == '/' && abs[dlen + 1])
			keep = abs + dlen + 1;
	}
	if (strlen(keep) >= cap)
		return gv_error_set(GV_EINVAL, "sector path too long: %.64s...", keep);
	memcpy(out, keep, strlen(keep) + 1);
	return 0;
}

/* The kind of a registration record, NULL with the error set when unknown. */
static const gv_sector_kind *kind_of(const gv_sector_info *info)
{
	const gv_sector_kind *k = gv_sector_kind_find(info->kind);

	if (k == NULL)
		gv_error_set(GV_EINVAL, "sector %s: %s", info->id, gv_error_last());
	return k;
}

int gv_store_open_backend(gv_store *st, gv_sector **out, const gv_sector_info *info,
                          unsigned flags)
{
	const gv_sector_kind *k;
	gv_sector_info at = *info;
	gv_sector_open_opts o;
	int err;

	*out = NULL;
	if ((k = kind_of(info)) == NULL)
		return GV_EINVAL;
	if ((k->flags & GV_SECTOR_KIND_LOCAL) &&
	    (err = sector_root(st->data_dir, info->path, at.path, sizeof(at.path))) < 0)
		return err;
	o.info = &at;
	o.cluster = st->cluster_id;
	o.flags = ((flags & GV_SECTOR_ADD_CREATE) ? GV_SECTOR_OPEN_CREATE : 0) |
	          ((flags & GV_SECTOR_ADD_ADOPT) ? GV_SECTOR_OPEN_ADOPT : 0);
	return gv_sector_kind_open(out, &o);
}

/* 1 when the record's locator is a local directory. */
static int kind_is_local(const gv_sector_info *info)
{
	const gv_sector_kind *k = gv_sector_kind_find(info->kind);

	if (k == NULL)
		gv_error_clear();
	return k != NULL && (k->flags & GV_SECTOR_KIND_LOCAL);
}

/* A new cluster id: a random (version 4) UUID. */
static int cluster_id_new(char *out, size_t cap)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return gv_error_set_errno(GV_EIO, errno, "cannot draw a cluster id");
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, cap,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	         r[15]);
	return 0;
}

/*
 * A data directory from before cluster ids kept absolute sector paths.
 * Keep under the data directory what is under it; an absolute
 * ".../sectors/<id>" outside it whose twin DIR/sectors/<id> carries the same
 * identity is a copy of another data directory: use the twin, never the
 * original's sectors.
 */
static int relocate_sectors(gv_store *st, gv_sector_info *sectors, size_t n)
{
	gv_sector_identity ident;
	char twin[GV_PATH_MAX], rel[sizeof(sectors[0].path)];
	size_t i;
	int err;

	for (i = 0; i < n; i++) {
		gv_sector_info *si = &sectors[i];
		const char *base = strrchr(si->path, '/');

		if (!kind_is_local(si) || si->path[0] != '/')
			continue;
		if (gv_store_index_path(st->data_dir, si->path, rel, sizeof(rel)) < 0 ||
		    rel[0] == '/') {
			if (!base || base - si->path < 8 || strncmp(base - 8, "/sectors", 8) != 0 ||
			    snprintf(twin, sizeof(twin), "%s/sectors%s", st->data_dir, base) >=
			            (int)sizeof(twin) ||
			    gv_sector_kind_read_identity(&ident, si->kind, twin) < 0 || strcmp(ident.id, si->id) != 0 ||
			    gv_store_index_path(st->data_dir, twin, rel, sizeof(rel)) < 0 || rel[0] == '/')
				continue;
		}
		gv_info("event=sector_path_relative sector=%s was=%s now=%s", si->id, si->path, rel);
		memcpy(si->path, rel, strlen(rel) + 1);
		if ((err = gv_index_sector_upsert(st->ix, si)) < 0)
			return err;
	}
	return 0;
}

/* The cluster id from the index; a store without one gets one now. */
static int load_cluster_id(gv_store *st, gv_sector_info *sectors, size_t n)
{
	gv_index *ix = st->ix;
	int err;

	err = gv_index_setting_get(ix, "cluster.id", st->cluster_id, sizeof(st->cluster_id));
	if (err == 0 && gv_id_validate("cluster id", st->cluster_id) == 0)
		return 0;
	if (err == 0)
		return gv_error_set(GV_ECORRUPT, "index setting cluster.id has a bad value");
	if (err != GV_ENOTFOUND)
		return err;
	if ((err = relocate_sectors(st, sectors, n)) < 0 ||
	    (err = cluster_id_new(st->cluster_id, sizeof(st->cluster_id))) < 0 ||
	    (err = gv_index_setting_set(ix, "cluster.id", st->cluster_id)) < 0)
		return err;
	gv_info("event=cluster_id cluster=%s", st->cluster_id);
	return 0;
}

int gv_store_settings_carry(gv_index *ix, const char *backend, const char *old_path,
                            char *cluster, size_t cap)
{
	static const char *const names[] = { "cluster.id", "replication.strategy",
	                                     "replication.factor", "replication.min-replicas",
	                                     "replication.min-racks", "replication.min-zones" };
	gv_index *old = NULL;
	char buf[GV_CLUSTER_ID_MAX];
	size_t i;
	int err = 0;

	cluster[0] = '\0';
	if (gv_index_open(&old, backend, old_path, 0) < 0) {
		gv_error_clear();
		return 0; /* no old index, or not readable: nothing to carry */
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && err == 0; i++) {
		if (gv_index_setting_get(old, names[i], buf, sizeof(buf)) < 0)
			continue;
		if (i == 0)
			snprintf(cluster, cap, "%s", buf);
		err = gv_index_setting_set(ix, names[i], buf);
	}
	gv_index_close(old);
	gv_error_clear();
	return err;
}

/* Find or append the slot for id; caller holds st->lock. */
static gv_sector_slot *slot_get(gv_store *st, const char *id, int create)
{
	size_t i;

	for (i = 0; i < st->nslots; i++)
		if (strcmp(st->slots[i].id, id) == 0)
			return &st->slots[i];
	if (!create)
		return NULL;
	if (st->nslots == st->slots_cap) {
		size_t cap = st->slots_cap ? st->slots_cap * 2 : 16;
		gv_sector_slot *ns = realloc(st->slots, cap * sizeof(*ns));

		if (!ns)
			return NULL;
		st->slots = ns;
		st->slots_cap = cap;
	}
	memset(&st->slots[st->nslots], 0, sizeof(st->slots[0]));
	snprintf(st->slots[st->nslots].id, GV_ID_MAX, "%s", id);
	return &st->slots[st->nslots++];
}

/* Keep a replaced backend until the store closes; caller holds st->lock. */
static void bury(gv_store *st, gv_sector *s)
{
	gv_sector **ng;

	if (!s)
		return;
	ng = realloc(st->graveyard, (st->ngraveyard + 1) * sizeof(*ng));
	if (!ng) {
		/* Leaking beats closing a backend another thread may be using. */
		return;
	}
	st->graveyard = ng;
	st->graveyard[st->ngraveyard++] = s;
}

/*
 * Open the backend of one registered sector into its slot.  A failure is
 * not fatal to the store: the sector is marked unhealthy with the reason.
 */
static int open_slot(gv_store *st, const gv_sector_info *info, unsigned flags)
{
	gv_sector *s = NULL;
	gv_sector_slot *slot;
	int err;

	/* A backend already open stays: local sectors are locked per handle,
	 * and readers may be using it. */
	if (gv_store_sector_handle(st, info->id, NULL, 0))
		return 0;
	err = gv_store_open_backend(st, &s, info, flags);
	pthread_mutex_lock(&st->lock);
	slot = slot_get(st, info->id, 1);
	if (!slot) {
		pthread_mutex_unlock(&st->lock);
		gv_sector_close(s);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	if (err < 0) {
		snprintf(slot->reason, sizeof(slot->reason), "%s", gv_error_last());
	} else {
		bury(st, slot->sector);
		slot->sector = s;
		slot->reason[0] = '\0';
	}
	pthread_mutex_unlock(&st->lock);
	return err;
}

gv_sector *gv_store_sector_handle(gv_store *st, const char *id, char *why, size_t cap)
{
	gv_sector_slot *slot;
	gv_sector *s = NULL;

	pthread_mutex_lock(&st->lock);
	slot = slot_get(st, id, 0);
	if (slot)
		s = slot->sector;
	if (!s && why)
		snprintf(why, cap, "sector %s unavailable: %s", id,
		         slot && slot->reason[0] ? slot->reason : "not registered");
	pthread_mutex_unlock(&st->lock);
	return s;
}

int gv_store_sector_attach(gv_store *st, const char *id, gv_sector *s)
{
	gv_sector_slot *slot;

	pthread_mutex_lock(&st->lock);
	slot = slot_get(st, id, 0);
	if (!slot) {
		pthread_mutex_unlock(&st->lock);
		gv_sector_close(s);
		return gv_error_set(GV_ENOTFOUND, "no sector '%s'", id);
	}
	bury(st, slot->sector);
	slot->sector = s;
	slot->reason[0] = '\0';
	pthread_mutex_unlock(&st->lock);
	return 0;
}

int gv_mkdir_p(const char *path)
{
	char buf[GV_PATH_MAX];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return gv_error_set(GV_EINVAL, "invalid path '%.64s'", path);
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return gv_error_set_errno(GV_EIO, errno, "cannot create directory %s", buf);
		buf[i] = path[i];
	}
	return 0;
}

int gv_store_open(gv_store **out, const gv_store_opts *opts)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, i;
	char ixpath[GV_PATH_MAX];
	struct stat sb;
	gv_store *st;
	int err;

	*out = NULL;
	if (!opts || !opts->data_dir || !*opts->data_dir)
		return gv_error_set(GV_EINVAL, "no data directory given");
	if (strlen(opts->data_dir) > GV_PATH_MAX - 64)
		return gv_error_set(GV_EINVAL, "data directory path too long");
	if (opts->block_size &&
	    (opts->block_size < GV_BLOCK_SIZE_MIN || opts->block_size > GV_BLOCK_SIZE_MAX))
		return gv_error_set(GV_EINVAL, "block size %llu is outside %u..%u bytes",
		                    (unsigned long long)opts->block_size, GV_BLOCK_SIZE_MIN,
		                    GV_BLOCK_SIZE_MAX);
	if (stat(opts->data_dir, &sb) < 0) {
		if (errno != ENOENT || !opts->create)
			return gv_error_set_errno(errno == ENOENT ? GV_ENOTFOUND : GV_EIO, errno,
			                          "data directory %s", opts->data_dir);
		if ((err = gv_mkdir_p(opts->data_dir)) < 0)
			return err;
	} else if (!S_ISDIR(sb.st_mode)) {
		return gv_error_set(GV_EINVAL, "data directory %s is not a directory",
		                    opts->data_dir);
	}

	st = calloc(1, sizeof(*st));
	if (!st)
		return gv_error_set(GV_ENOMEM, "out of memory");
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->bg_lock, NULL);
	pthread_mutex_init(&st->stats_lock, NULL);
	pthread_mutex_init(&st->metrics_mu, NULL);
	gv_repairq_init(&st->repairq);
	pthread_mutex_init(&st->health_mu, NULL);
	pthread_mutex_init(&st->lat_mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&st->wake_cond, &ca);
		pthread_cond_init(&st->bg_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	st->data_dir = strdup(opts->data_dir);
	st->write_timeout_ms = opts->write_timeout_ms ? opts->write_timeout_ms : 30000;
	st->hedge_after_ms = opts->hedge_after_ms;
	st->block_size = opts->block_size ? (uint32_t)opts->block_size : GV_BLOCK_SIZE_DEFAULT;
	st->placement = (gv_placement_opts)GV_PLACEMENT_OPTS_INIT;
	if (!st->data_dir) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out_free;
	}
	if ((err = gv_keylock_init(st)) < 0)
		goto out_free;
	gv_claim_init(st, opts->claim_ttl_ms);

	if (opts->index_path)
		snprintf(ixpath, sizeof(ixpath), "%s", opts->index_path);
	else
		snprintf(ixpath, sizeof(ixpath), "%s/graviton.db", opts->data_dir);
	if ((err = gv_index_open(&st->ix, opts->index_backend, ixpath,
	                         opts->create ? GV_INDEX_OPEN_CREATE : 0)) < 0)
		goto out_free;
	st->index_shared = strcmp(st->ix->ops->name, GV_INDEX_BACKEND_DEFAULT) != 0;

	if ((err = load_placement(st->ix, &st->placement)) < 0 ||
	    (opts->placement_set && (err = gv_store_set_placement(st, &opts->placement)) < 0))
		goto out_free;
	st->copy_threads = opts->copy_threads ? opts->copy_threads
	                                      : (unsigned)st->placement.factor;

	if ((err = gv_index_sector_list(st->ix, &sectors, &nsectors)) < 0)
		goto out_free;
	if ((err = load_cluster_id(st, sectors, nsectors)) < 0) {
		free(sectors);
		goto out_free;
	}
	for (i = 0; i < nsectors; i++) {
		if (open_slot(st, &sectors[i], 0) < 0) {
			/* Warn once, when a healthy sector is found gone; later
			 * opens only confirm what the index already says. */
			gv_log(sectors[i].healthy ? GV_LOG_WARN : GV_LOG_DEBUG,
			       "event=sector_unavailable sector=%s reason=\"%s\"", sectors[i].id,
			       gv_error_last());
			if (sectors[i].healthy)
				gv_index_sector_set_health(st->ix, sectors[i].id, 0);
		}
	}
	free(sectors);
	gv_error_clear();
	*out = st;
	return 0;

out_free:
	gv_store_free(st);
	return err;
}

void gv_store_bg_enter(gv_store *st)
{
	pthread_mutex_lock(&st->bg_lock);
	st->bg_active++;
	pthread_mutex_unlock(&st->bg_lock);
}

static void store_destroy(gv_store *st);

/* The last background copy of a store that gv_store_free left behind
 * closes it. */
void gv_store_bg_leave(gv_store *st)
{
	int last;

	pthread_mutex_lock(&st->bg_lock);
	last = --st->bg_active == 0;
	if (last)
		pthread_cond_broadcast(&st->bg_cond);
	last = last && st->detached;
	pthread_mutex_unlock(&st->bg_lock);
	if (last)
		store_destroy(st);
}

/*
 * Wait for the background copies for at most the store's write timeout,
 * then close.  Copies still running
 * then (a hung disk) keep the store: it is marked detached and the last of
 * them closes it, so none touches freed memory and the caller does not
 * wait for a disk that may never answer.
 */
void gv_store_free(gv_store *st)
{
	struct timespec deadline;
	int left;

	if (!st)
		return;
	gv_deadline_in(&deadline, st->write_timeout_ms);
	pthread_mutex_lock(&st->bg_lock);
	while (st->bg_active > 0 &&
	       pthread_cond_timedwait(&st->bg_cond, &st->bg_lock, &deadline) != ETIMEDOUT)
		;
	left = st->bg_active;
	if (left > 0)
		st->detached = 1;
	pthread_mutex_unlock(&st->bg_lock);
	if (left > 0) {
		gv_warn("event=store_closed_with_copies_running copies=%d waited_ms=%llu", left,
		        (unsigned long long)st->write_timeout_ms);
		return;
	}
	store_destroy(st);
}

static void store_destroy(gv_store *st)
{
	size_t i;

	for (i = 0; i < st->nslots; i++)
		gv_sector_close(st->slots[i].sector);
	free(st->slots);
	for (i = 0; i < st->ngraveyard; i++)
		gv_sector_close(st->graveyard[i]);
	free(st->graveyard);
	gv_claim_destroy(st);
	if (st->ix)
		gv_index_close(st->ix);
	free(st->data_dir);
	gv_repairq_destroy(&st->repairq);
	free(st->metrics_sectors);
	free(st->metrics_oldest);
	pthread_mutex_destroy(&st->metrics_mu);
	gv_health_free(st);
	pthread_mutex_destroy(&st->health_mu);
	free(st->lat);
	pthread_mutex_destroy(&st->lat_mu);
	gv_keylock_destroy(st);
	pthread_cond_destroy(&st->wake_cond);
	pthread_mutex_destroy(&st->stats_lock);
	pthread_cond_destroy(&st->bg_cond);
	pthread_mutex_destroy(&st->bg_lock);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* ---- sectors ------------------------------------------------------------ */

int gv_store_sector_add(gv_store *st, const gv_sector_info *in, unsigned flags)
{
	gv_sector_info info = *in, old;
	const gv_sector_kind *kind;
	gv_sector_usage usage;
	gv_sector *s;
	int err, exists, local;

	if ((err = gv_id_validate("sector id", info.id)) < 0)
		return err;
	if (info.rack[0] && (err = gv_id_validate("rack", info.rack)) < 0)
		return err;
	if (info.zone[0] && (err = gv_id_validate("zone", info.zone)) < 0)
		return err;
	if (!info.kind[0])
		snprintf(info.kind, sizeof(info.kind), "%s", GV_SECTOR_KIND_DEFAULT);
	if ((kind = kind_of(&info)) == NULL)
		return GV_EINVAL;
	local = (kind->flags & GV_SECTOR_KIND_LOCAL) != 0;
	if (local && info.path[0] == '\0')
		return gv_error_set(GV_EINVAL, "sector %s: a path is required", info.id);

	err = gv_index_sector_get(st->ix, info.id, &old);
	if (err < 0 && err != GV_ENOTFOUND)
		return err;
	exists = err == 0;
	/* An id names one disk for good: re-adding it (say, after its
	 * directory was lost) must not quietly create an empty one. */
	if (exists)
		return gv_error_set(GV_EEXISTS,
		                    "sector %s is already registered (kind %s, path %s); a replacement "
		                    "disk needs a new sector id",
		                    info.id, old.kind, old.path);

	/* Open (and maybe create) the backend first: nothing is registered for
	 * a directory that cannot hold blobs. */
	if (local) {
		/* One directory, one sector: refuse a path another id owns. */
		gv_sector_info *all = NULL;
		size_t nall = 0, k;
		char want[PATH_MAX], have[PATH_MAX], root[GV_PATH_MAX];

		if (realpath(info.path, want) &&
		    gv_index_sector_list(st->ix, &all, &nall) == 0) {
			for (k = 0; k < nall; k++) {
				if (!kind_is_local(&all[k]) ||
				    sector_root(st->data_dir, all[k].path, root, sizeof(root)) < 0)
					continue;
				if (strcmp(root, want) == 0 ||
				    (realpath(root, have) && strcmp(have, want) == 0)) {
					err = gv_error_set(GV_EEXISTS,
					                   "%s belongs to sector %s; a directory holds one "
					                   "sector only",
					                   info.path, all[k].id);
					free(all);
					return err;
				}
			}
		}
		free(all);
	}
	s = gv_store_sector_handle(st, info.id, NULL, 0);
	if (s) {
		if (info.capacity == 0 && gv_sector_usage_get(s, &usage) == 0)
			info.capacity = usage.capacity;
	} else {
		/* The path as given: relative to the working directory. */
		gv_sector_info given = info;
		char cwd[PATH_MAX];

		if (local && info.path[0] != '/' &&
		    (!getcwd(cwd, sizeof(cwd)) ||
		     (size_t)snprintf(given.path, sizeof(given.path), "%s/%s", cwd, info.path) >=
		             sizeof(given.path)))
			return gv_error_set(GV_EINVAL, "sector %s: path too long", info.id);
		if ((err = gv_store_open_backend(st, &s, &given, flags)) < 0)
			return err;
		if (info.capacity == 0 && gv_sector_usage_get(s, &usage) == 0)
			info.capacity = usage.capacity;
		gv_sector_close(s);
	}
	if (local) {
		/* Record where the directory really is: relative to the data
		 * directory when under it, absolute elsewhere. */
		char path[sizeof(info.path)];

		if ((err = gv_store_index_path(st->index_shared ? NULL : st->data_dir, info.path,
		                               path, sizeof(path))) < 0)
			return gv_error_set(err, "sector %s: %s", info.id, gv_error_last());
		memcpy(info.path, path, strlen(path) + 1);
	}

	info.healthy = 1;
	info.state = GV_SECTOR_ACTIVE;
	if ((err = gv_index_sector_upsert(st->ix, &info)) < 0)
		return err;
	if ((err = open_slot(st, &info, 0)) < 0)
		return err;
	gv_info("event=sector_added sector=%s kind=%s path=%s rack=%s zone=%s", info.id,
	        info.kind, info.path, info.rack, info.zone);
	return 0;
}

/* ---- sector health --------------------------------------------------------- */

static void reason_setting(char *buf, size_t cap, const char *id)
{
	snprintf(buf, cap, "sector.%s.unhealthy-reason", id);
}

void gv_store_sector_reason(gv_store *st, gv_sector_info *info)
{
	gv_sector_slot *slot;
	char name[GV_ID_MAX + 32];

	info->reason[0] = '\0';
	if (info->healthy)
		return;
	pthread_mutex_lock(&st->lock);
	slot = slot_get(st, info->id, 0);
	if (slot && slot->reason[0])
		snprintf(info->reason, sizeof(info->reason), "%s", slot->reason);
	pthread_mutex_unlock(&st->lock);
	if (info->reason[0])
		return;
	reason_setting(name, sizeof(name), info->id);
	if (gv_index_setting_get(st->ix, name, info->reason, sizeof(info->reason)) < 0) {
		info->reason[0] = '\0';
		gv_error_clear();
	}
}

void gv_store_sector_down(gv_store *st, const char *id, const char *reason)
{
	gv_sector_slot *slot;
	gv_sector_info info;
	char name[GV_ID_MAX + 32];
	int was_healthy;

	/* The backend stays open: reads of its replicas may still work, and
	 * set-health healthy reopens it if it is no longer reachable. */
	pthread_mutex_lock(&st->lock);
	slot = slot_get(st, id, 0);
	if (slot) {
		snprintf(slot->reason, sizeof(slot->reason), "%s", reason);
		slot->failures = 0;
	}
	pthread_mutex_unlock(&st->lock);
	was_healthy = gv_index_sector_get(st->ix, id, &info) == 0 && info.healthy;
	if (!was_healthy) {
		gv_error_clear();
		return; /* already down: logged when it went */
	}
	reason_setting(name, sizeof(name), id);
	if (gv_index_setting_set(st->ix, name, reason) < 0 ||
	    gv_index_sector_set_health(st->ix, id, 0) < 0) {
		gv_errlog("event=index_error op=sector_set_health sector=%s error=\"%s\"", id,
		          gv_error_last());
		return;
	}
	gv_warn("event=sector_unhealthy sector=%s reason=\"%s\"", id, reason);
}

void gv_store_sector_result(gv_store *st, const char *id, int err)
{
	gv_sector_slot *slot;
	char reason[GV_REASON_MAX];
	int down = 0;

	gv_health_observe(st, id, err);
	if (err == GV_ENOSPACE || err == GV_ETIMEOUT || err == GV_ECANCELED || err == GV_EINVAL ||
	    err == GV_EBUSY || err == GV_ENOMEM)
		return;
	pthread_mutex_lock(&st->lock);
	slot = slot_get(st, id, 0);
	if (slot && err == 0) {
		slot->failures = 0;
	} else if (slot && ++slot->failures >= GV_SECTOR_FAILURES_MAX) {
		/* The detector's mark: it comes back once it answers probes. */
		snprintf(reason, sizeof(reason), GV_HEALTH_REASON ": %u writes in a row failed, "
		         "the last: %s", slot->failures, gv_error_last());
		down = 1;
	}
	pthread_mutex_unlock(&st->lock);
	if (down)
		gv_health_down(st, id, reason);
}

int gv_store_sectors_refresh(gv_store *st)
{
	gv_sector_info *sectors = NULL;
	size_t n = 0, i;
	int err;

	if ((err = gv_index_sector_list(st->ix, &sectors, &n)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		gv_sector_slot *slot;
		int known, open;

		if (sectors[i].state == GV_SECTOR_RETIRED)
			continue;
		pthread_mutex_lock(&st->lock);
		slot = slot_get(st, sectors[i].id, 0);
		known = slot != NULL;
		open = slot && slot->sector;
		if (slot && sectors[i].healthy)
			slot->reason[0] = '\0';
		pthread_mutex_unlock(&st->lock);
		if (open || (known && !sectors[i].healthy))
			continue;
		if (open_slot(st, &sectors[i], 0) == 0)
			gv_info("event=sector_opened sector=%s", sectors[i].id);
		else
			gv_debug("event=sector_unavailable sector=%s reason=\"%s\"", sectors[i].id,
			         gv_error_last());
	}
	free(sectors);
	gv_error_clear();
	return 0;
}

int gv_store_sector_check(gv_store *st, unsigned *down)
{
	gv_sector_info *sectors = NULL;
	size_t n = 0, i;
	int err;

	*down = 0;
	if ((err = gv_index_sector_list(st->ix, &sectors, &n)) < 0)
		return err;
	for (i = 0; i < n; i++) {
		char why[GV_REASON_MAX];
		gv_sector *s;

		if (!sectors[i].healthy || sectors[i].state == GV_SECTOR_RETIRED)
			continue;
		s = gv_store_sector_handle(st, sectors[i].id, why, sizeof(why));
		if (s && gv_sector_check(s) == 0)
			continue;
		if (s)
			snprintf(why, sizeof(why), "%s", gv_error_last());
		gv_store_sector_down(st, sectors[i].id, why);
		(*down)++;
	}
	free(sectors);
	gv_error_clear();
	return 0;
}

/* ---- free space ------------------------------------------------------------ */

/* What a sector may still grow by: capacity minus what its backend holds. */
static uint64_t headroom(const gv_sector_usage *u)
{
	return u->capacity > u->used ? u->capacity - u->used : 0;
}

void gv_store_sector_space(gv_store *st, gv_sector_info *sectors, size_t n)
{
	gv_sector_usage small[16], *u = small;
	unsigned char small_ok[16], *ok = small_ok;
	size_t i, j;

	if (n > 16) {
		u = calloc(n, sizeof(*u));
		ok = calloc(n, 1);
		if (!u || !ok) {
			free(u);
			free(ok);
			return; /* free_known stays 0: capacity - used */
		}
	}
	for (i = 0; i < n; i++) {
		gv_sector *s = gv_store_sector_handle(st, sectors[i].id, NULL, 0);

		sectors[i].free = 0;
		sectors[i].free_known = 0;
		sectors[i].device[0] = '\0';
		/* Placement skips an unhealthy sector: asking a node that is
		 * down would only wait for its timeouts. */
		ok[i] = s && sectors[i].healthy && gv_sector_usage_get(s, &u[i]) == 0;
		/* A sector that cannot answer for its space now (a node that
		 * hangs) takes no new replicas in this decision. */
		if (s && !ok[i])
			sectors[i].healthy = 0;
		if (!ok[i])
			gv_error_clear();
	}
	/*
	 * Sectors on one filesystem share its free space in proportion to
	 * their headroom, so none of it counts twice: the filesystem as a
	 * whole weighs what it has free, and a sector with little headroom
	 * leaves the rest to the others.
	 */
	for (i = 0; i < n; i++) {
		double total = 0;
		uint64_t medium = UINT64_MAX, room;

		if (!ok[i])
			continue;
		for (j = 0; j < n; j++) {
			if (!ok[j] || (j != i && (u[i].device == 0 || u[j].device != u[i].device)))
				continue;
			total += (double)headroom(&u[j]);
			if (u[j].avail < medium)
				medium = u[j].avail;
		}
		room = headroom(&u[i]);
		if (room > medium)
			room = medium;
		if (total > 0 && (double)medium * ((double)headroom(&u[i]) / total) < (double)room)
			room = (uint64_t)((double)medium * ((double)headroom(&u[i]) / total));
		/* A medium without a size of its own (a bucket) keeps no count:
		 * its quota less what the index records. */
		if (u[i].avail == UINT64_MAX && u[i].used == 0)
			room = u[i].capacity > sectors[i].used ? u[i].capacity - sectors[i].used : 0;
		sectors[i].free = room;
		sectors[i].free_known = 1;
		if (u[i].device != 0)
			snprintf(sectors[i].device, sizeof(sectors[i].device), "%u:%u",
			         major((dev_t)u[i].device), minor((dev_t)u[i].device));
	}
	if (u != small) {
		free(u);
		free(ok);
	}
}

int gv_store_sectors_measured(gv_store *st, gv_sector_info **out, size_t *out_n)
{
	int err = gv_index_sector_list(st->ix, out, out_n);

	if (err == 0)
		gv_store_sector_space(st, *out, *out_n);
	return err;
}

int gv_store_sector_list(gv_store *st, gv_sector_info **out, size_t *out_n)
{
	size_t i;
	int err = gv_store_sectors_measured(st, out, out_n);

	for (i = 0; err == 0 && i < *out_n; i++)
		gv_store_sector_reason(st, &(*out)[i]);
	return err;
}

int gv_store_sector_list_local(gv_store *st, gv_sector_info **out, size_t *out_n)
{
	gv_sector_info *all, *local;
	size_t n, i, k = 0;
	int err = gv_index_sector_list(st->ix, &all, &n);

	if (err < 0)
		return err;
	if (!(local = calloc(n ? n : 1, sizeof(*local)))) {
		free(all);
		return gv_error_set(GV_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		if (kind_is_local(&all[i]))
			local[k++] = all[i];
	gv_store_sector_space(st, local, k);
	for (i = 0, k = 0; i < n; i++) {
		if (kind_is_local(&all[i]))
			all[i] = local[k++];
		gv_store_sector_reason(st, &all[i]);
	}
	free(local);
	*out = all;
	*out_n = n;
	return 0;
}

int gv_store_sector_get(gv_store *st, const char *id, gv_sector_info *out)
{
	gv_sector_info *all = NULL;
	size_t n = 0;
	long k;
	int err = gv_index_sector_get(st->ix, id, out);

	if (err < 0)
		return err;
	gv_store_sector_reason(st, out);
	/* Its share of a filesystem depends on the sectors beside it. */
	if (gv_store_sectors_measured(st, &all, &n) == 0 &&
	    (k = gv_placement_find(all, n, id)) >= 0) {
		out->free = all[k].free;
		out->free_known = all[k].free_known;
		memcpy(out->device, all[k].device, sizeof(out->device));
	}
	gv_error_clear();
	free(all);
	return 0;
}

int gv_store_sector_set_health(gv_store *st, const char *id, int healthy)
{
	gv_sector_info info;
	int err;

	if ((err = gv_index_sector_get(st->ix, id, &info)) < 0)
		return err;
	if (healthy) {
		gv_sector *s = gv_store_sector_handle(st, id, NULL, 0);

		/* Only a sector whose backend opens can be declared healthy; one
		 * no longer reachable where it was opened is opened afresh. */
		if (s && gv_sector_check(s) < 0) {
			gv_sector_slot *slot;

			pthread_mutex_lock(&st->lock);
			slot = slot_get(st, id, 0);
			if (slot && slot->sector == s) {
				bury(st, s);
				slot->sector = NULL;
			}
			pthread_mutex_unlock(&st->lock);
		}
		if ((err = open_slot(st, &info, 0)) < 0)
			return gv_error_set(err, "sector %s cannot be marked healthy: %s", id,
			                    gv_error_last());
	}
	if ((err = gv_index_sector_set_health(st->ix, id, healthy)) < 0)
		return err;
	{
		/* A mark of the operator's own replaces the detector's, so the
		 * detector leaves the sector alone (graviton/health.h). */
		const char *reason = healthy ? "" : GV_SECTOR_REASON_OPERATOR;
		char name[GV_ID_MAX + 32];
		gv_sector_slot *slot;

		reason_setting(name, sizeof(name), id);
		if ((err = gv_index_setting_set(st->ix, name, reason)) < 0)
			return err;
		pthread_mutex_lock(&st->lock);
		slot = slot_get(st, id, 0);
		if (slot) {
			snprintf(slot->reason, sizeof(slot->reason), "%s", reason);
			slot->failures = 0;
		}
		pthread_mutex_unlock(&st->lock);
	}
	gv_info("event=sector_health sector=%s healthy=%d", id, healthy);
	return 0;
}

int gv_store_sector_replace(gv_store *st, const char *old_id, const gv_sector_info *in,
                            unsigned flags)
{
	gv_sector_info old, cur, info = *in;
	gv_sector *s;
	char reason[GV_REASON_MAX];
	int err;

	if ((err = gv_id_validate("sector id", old_id)) < 0 ||
	    (err = gv_id_validate("sector id", info.id)) < 0)
		return err;
	if (strcmp(old_id, info.id) == 0)
		return gv_error_set(GV_EINVAL, "sector %s cannot replace itself: the replacement "
		                    "disk needs a new sector id", old_id);
	if ((err = gv_index_sector_get(st->ix, old_id, &old)) < 0)
		return err == GV_ENOTFOUND ? gv_error_set(err, "no sector %s is registered", old_id)
		                           : err;
	if (old.state == GV_SECTOR_RETIRED)
		return gv_error_set(GV_EINVAL, "sector %s is retired already", old_id);
	/* Retiring a disk that still answers would drop copies it holds:
	 * that one is drained instead. */
	s = gv_store_sector_handle(st, old_id, NULL, 0);
	if (s && gv_sector_check(s) == 0)
		return gv_error_set(GV_EINVAL, "sector %s is still reachable; replace only a lost "
		                    "disk (drain a working one instead)", old_id);
	snprintf(info.rack, sizeof(info.rack), "%s", old.rack);
	snprintf(info.zone, sizeof(info.zone), "%s", old.zone);
	if (!info.kind[0])
		snprintf(info.kind, sizeof(info.kind), "%s", GV_SECTOR_KIND_DEFAULT);

	/* NEW first: when it cannot be added nothing changes.  A NEW already
	 * registered in OLD's place is an interrupted replace, resumed. */
	err = gv_index_sector_get(st->ix, info.id, &cur);
	if (err < 0 && err != GV_ENOTFOUND)
		return err;
	if (err == 0 && (strcmp(cur.rack, old.rack) != 0 || strcmp(cur.zone, old.zone) != 0))
		return gv_error_set(GV_EEXISTS, "sector %s is already registered elsewhere (rack %s, "
		                    "zone %s)", info.id, cur.rack, cur.zone);
	if (err == GV_ENOTFOUND && (err = gv_store_sector_add(st, &info, flags)) < 0)
		return err;
	gv_error_clear();

	if ((err = gv_store_sector_set_state(st, old_id, GV_SECTOR_RETIRED)) < 0)
		return err;
	snprintf(reason, sizeof(reason), "replaced by %s", info.id);
	gv_store_sector_down(st, old_id, reason);
	gv_info("event=sector_replaced old=%s new=%s rack=%s zone=%s", old_id, info.id, info.rack,
	        info.zone);
	return 0;
}

int gv_store_sector_set_state(gv_store *st, const char *id, gv_sector_state state)
{
	int err = gv_index_sector_set_state(st->ix, id, state);

	if (err == 0)
		gv_info("event=sector_state sector=%s state=%s", id, gv_sector_state_name(state));
	return err;
}

/* ---- replica helpers ---------------------------------------------------- */

int gv_replica_effective_health(const gv_replica *r, const gv_sector_info *sectors,
                                size_t nsectors, char *why, size_t cap)
{
	long i = gv_placement_find(sectors, nsectors, r->sector);

	if (why && cap)
		why[0] = '\0';
	if (!r->healthy) {
		if (why)
			snprintf(why, cap, "%s", r->reason[0] ? r->reason : "marked unhealthy");
		return 0;
	}
	if (!gv_rangeset_is_full(&r->ranges, r->key.size)) {
		if (why)
			snprintf(why, cap, "incomplete copy");
		return 0;
	}
	if (i < 0) {
		if (why)
			snprintf(why, cap, "sector %s is not registered", r->sector);
		return 0;
	}
	if (!sectors[i].healthy) {
		if (why)
			snprintf(why, cap, "sector %s is unhealthy", r->sector);
		return 0;
	}
	if (sectors[i].state == GV_SECTOR_RETIRED) {
		if (why)
			snprintf(why, cap, "sector %s is retired", r->sector);
		return 0;
	}
	return 1;
}

int gv_store_record_replicas(gv_store *st, const gv_key *key, const char *const *sectors,
                             size_t n)
{
	gv_replica rps[GV_MAX_REPLICAS + 1];
	size_t i, made;
	int err = 0;

	if (n > GV_MAX_REPLICAS + 1)
		return gv_error_set(GV_EINVAL, "%zu replicas exceed %d", n, GV_MAX_REPLICAS + 1);
	memset(rps, 0, n * sizeof(*rps));
	for (made = 0; made < n; made++) {
		gv_replica *rp = &rps[made];

		rp->key = *key;
		snprintf(rp->sector, sizeof(rp->sector), "%s", sectors[made]);
		gv_rangeset_init(&rp->ranges);
		if ((err = gv_rangeset_add(&rp->ranges, 0, key->size)) < 0)
			break;
		rp->healthy = 1;
		rp->last_verified = gv_now_ms();
		rp->has_checksum = 1;
		memcpy(rp->checksum, key->digest, GV_DIGEST_LEN);
	}
	if (err == 0)
		err = gv_index_replicas_put(st->ix, rps, n);
	for (i = 0; i < made && i < n; i++)
		gv_rangeset_free(&rps[i].ranges);
	return err;
}

int gv_store_record_replica(gv_store *st, const gv_key *key, const char *sector)
{
	return gv_store_record_replicas(st, key, &sector, 1);
}

int gv_store_has_row(gv_store *st, const gv_key *key, const char *sector)
{
	gv_replica *reps = NULL;
	size_t n = 0, i;
	int err, found = 0;

	err = gv_index_replicas_find(st->ix, key, &reps, &n);
	if (err == GV_ENOTFOUND)
		return 0;
	if (err < 0)
		return err;
	for (i = 0; i < n; i++)
		if (strcmp(reps[i].sector, sector) == 0)
			found = 1;
	gv_replicas_free(reps, n);
	return found;
}

int gv_store_drop_unrecorded(gv_store *st, const gv_key *key, const char *sector)
{
	gv_sector *s = gv_store_sector_handle(st, sector, NULL, 0);
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if (!s)
		return 0;
	if ((err = gv_store_has_row(st, key, sector)) != 0) {
		if (err < 0)
			gv_errlog("event=bytes_kept key=%s sector=%s error=\"%s\"",
			          gv_key_format(kbuf, key), sector, gv_error_last());
		return err < 0 ? err : 0;
	}
	err = gv_sector_del(s, key);
	return err == GV_ENOTFOUND ? 0 : err;
}

int gv_store_record_late(gv_store *st, const gv_key *key, const char *sector)
{
	gv_sector *s = gv_store_sector_handle(st, sector, NULL, 0);
	uint64_t size = 0;
	int err;

	if (!s)
		return gv_error_set(GV_EIO, "sector %s is not available", sector);
	err = gv_index_blob_exists(st->ix, key, NULL);
	if (err < 0)
		return err;
	if (err == 0) {
		gv_store_drop_unrecorded(st, key, sector);
		return gv_error_set(GV_ENOTFOUND, "the blob was deleted meanwhile");
	}
	/* Another operation's undo may have removed these bytes before this
	 * one took the key. */
	if ((err = gv_sector_stat(s, key, &size)) < 0)
		return err;
	if (size != key->size)
		return gv_error_set(GV_ECORRUPT, "size mismatch in sector %s", sector);
	if ((err = gv_store_record_replica(st, key, sector)) < 0)
		gv_store_drop_unrecorded(st, key, sector);
	return err;
}

void gv_store_mark_unhealthy(gv_store *st, const gv_key *key, const char *sector,
                             const char *reason)
{
	gv_store_mark_unhealthy_as(st, key, sector, reason, "read");
}

void gv_store_mark_unhealthy_as(gv_store *st, const gv_key *key, const char *sector,
                                const char *reason, const char *cause)
{
	char kbuf[GV_KEY_BUFSIZE], why[GV_REASON_MAX];

	gv_warn("event=replica_unhealthy key=%s sector=%s reason=\"%s\"",
	        gv_key_format(kbuf, key), sector, reason);
	if (gv_index_replica_set_health(st->ix, key, sector, 0, reason) < 0)
		gv_errlog("event=index_error op=replica_set_health key=%s sector=%s error=\"%s\"",
		          kbuf, sector, gv_error_last());
	snprintf(why, sizeof(why), "%s: replica on %s: %s", cause, sector, reason);
	gv_repair_enqueue(st, key, why);
}

int gv_store_replica_failed(gv_store *st, const gv_key *key, const char *sector, int err,
                            const char *reason, const char *cause)
{
	char kbuf[GV_KEY_BUFSIZE];

	if (err == GV_EIO || err == GV_ETIMEOUT) {
		gv_health_observe(st, sector, err);
		gv_debug("event=replica_unavailable key=%s sector=%s cause=%s reason=\"%s\"",
		         gv_key_format(kbuf, key), sector, cause, reason);
		return 0;
	}
	gv_store_mark_unhealthy_as(st, key, sector, reason, cause);
	return 1;
}

struct gv_sector *gv_store_sector_local(gv_store *st, const char *id)
{
	const gv_sector_kind *k;
	gv_sector_info info;
	gv_sector *s;
	char why[GV_REASON_MAX + 96];

	if (gv_index_sector_get(st->ix, id, &info) < 0)
		return NULL;
	if ((k = gv_sector_kind_find(info.kind)) == NULL || !(k->flags & GV_SECTOR_KIND_LOCAL)) {
		gv_error_set(GV_ENOTFOUND, "sector %s is not a local sector (kind %s)", id,
		             info.kind);
		return NULL;
	}
	if ((s = gv_store_sector_handle(st, id, why, sizeof(why))) == NULL) {
		gv_error_set(GV_EIO, "%s", why);
		return NULL;
	}
	/* Before the first blob it lends, not after: a crash between the two
	 * would leave a lent blob reclaim could take. */
	return gv_sector_lend(s) < 0 ? NULL : s;
}
