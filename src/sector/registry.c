/*
 * registry.c - sector kinds by name (include/graviton/sys/sector.h).
 *
 * The built-in kinds (fs, mem, remote, s3) are a static table; gv_sector_kind_register
 * adds others to a small table behind `lock`, never removed, so a kind
 * found once stays valid for the life of the process.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "graviton/sys/sector.h"

#define KINDS_MAX 16

/* The identity a medium must carry: from the registration record and the
 * store's cluster; the open flags as GV_FS_* flags. */
static unsigned identity_of(gv_sector_identity *ident, const gv_sector_open_opts *o)
{
	const gv_sector_info *info = o->info;

	memset(ident, 0, sizeof(*ident));
	snprintf(ident->id, sizeof(ident->id), "%s", info->id);
	snprintf(ident->rack, sizeof(ident->rack), "%s", info->rack);
	snprintf(ident->zone, sizeof(ident->zone), "%s", info->zone);
	snprintf(ident->cluster, sizeof(ident->cluster), "%s", o->cluster ? o->cluster : "");
	ident->capacity = info->capacity;
	ident->format = 1;
	return ((o->flags & GV_SECTOR_OPEN_CREATE) ? GV_FS_CREATE : 0) |
	       ((o->flags & GV_SECTOR_OPEN_ADOPT) ? GV_FS_ADOPT : 0);
}

/* fs: info->path is the resolved root. */
static int fs_kind_open(gv_sector **out, const gv_sector_open_opts *o)
{
	gv_sector_identity ident;
	unsigned flags = identity_of(&ident, o);

	return gv_sector_fs_open(out, o->info->path, &ident, flags);
}

static int mem_kind_open(gv_sector **out, const gv_sector_open_opts *o)
{
	return gv_sector_mem_open(out, o->info->id, o->info->capacity);
}

/* remote: info->path is the locator; capacity is the node's. */
static int remote_kind_open(gv_sector **out, const gv_sector_open_opts *o)
{
	return gv_sector_remote_open(out, o->info->id, o->info->path);
}

/* s3: info->path is the locator; capacity the quota. */
static int s3_kind_open(gv_sector **out, const gv_sector_open_opts *o)
{
	gv_sector_identity ident;
	unsigned flags = identity_of(&ident, o);

	return gv_sector_s3_open(out, &ident, o->info->path, flags);
}

static const gv_sector_kind builtin[] = {
	{ GV_SECTOR_OPS_VERSION, "fs", GV_SECTOR_KIND_LOCAL, fs_kind_open,
	  gv_sector_fs_read_identity },
	{ GV_SECTOR_OPS_VERSION, "mem", 0, mem_kind_open, NULL },
	{ GV_SECTOR_OPS_VERSION, "remote", 0, remote_kind_open, NULL },
	{ GV_SECTOR_OPS_VERSION, "s3", GV_SECTOR_KIND_METERED, s3_kind_open, gv_sector_s3_read_identity },
};

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const gv_sector_kind *added[KINDS_MAX]; /* lock */
static size_t nadded;                          /* lock */

static const gv_sector_kind *find_locked(const char *name)
{
	size_t i;

	for (i = 0; i < NBUILTIN; i++)
		if (strcmp(builtin[i].name, name) == 0)
			return &builtin[i];
	for (i = 0; i < nadded; i++)
		if (strcmp(added[i]->name, name) == 0)
			return added[i];
	return NULL;
}

int gv_sector_kind_register(const gv_sector_kind *k)
{
	int err = 0;

	if (k == NULL || k->name == NULL || k->open == NULL)
		return gv_error_set(GV_EINVAL, "sector kind: a name and an open function are required");
	if (k->version != GV_SECTOR_OPS_VERSION)
		return gv_error_set(GV_EINVAL, "sector kind %s: ops version %u, expected %u", k->name,
		                    k->version, GV_SECTOR_OPS_VERSION);
	if (!k->name[0] || strlen(k->name) >= GV_KIND_MAX)
		return gv_error_set(GV_EINVAL, "sector kind name must be 1 to %d characters",
		                    GV_KIND_MAX - 1);
	pthread_mutex_lock(&lock);
	if (find_locked(k->name))
		err = gv_error_set(GV_EEXISTS, "sector kind %s is registered already", k->name);
	else if (nadded == KINDS_MAX)
		err = gv_error_set(GV_ENOSPACE, "sector kind %s: no room (at most %d kinds)",
		                   k->name, KINDS_MAX);
	else
		added[nadded++] = k;
	pthread_mutex_unlock(&lock);
	return err;
}

const gv_sector_kind *gv_sector_kind_find(const char *name)
{
	const gv_sector_kind *k;
	char known[KINDS_MAX * (GV_KIND_MAX + 2) + 32];
	size_t i, len = 0;

	pthread_mutex_lock(&lock);
	k = find_locked(name ? name : "");
	if (k == NULL) {
		known[0] = '\0';
		for (i = 0; i < NBUILTIN + nadded && len < sizeof(known); i++)
			len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
			                        i < NBUILTIN ? builtin[i].name : added[i - NBUILTIN]->name);
		gv_error_set(GV_EINVAL, "unknown sector kind '%.32s' (registered: %s)",
		             name ? name : "", known);
	}
	pthread_mutex_unlock(&lock);
	return k;
}

int gv_sector_kind_open(gv_sector **out, const gv_sector_open_opts *o)
{
	const gv_sector_kind *k;
	int err;

	*out = NULL;
	if ((k = gv_sector_kind_find(o->info->kind)) == NULL)
		return gv_error_set(GV_EINVAL, "sector %s: %s", o->info->id, gv_error_last());
	if ((err = k->open(out, o)) < 0)
		return err;
	if ((*out)->ops == NULL || (*out)->ops->version != GV_SECTOR_OPS_VERSION) {
		gv_sector_close(*out);
		*out = NULL;
		return gv_error_set(GV_EINVAL, "sector %s: kind %s opened a sector of another ops "
		                    "version", o->info->id, k->name);
	}
	return 0;
}

int gv_sector_kind_read_identity(gv_sector_identity *out, const char *kind, const char *path)
{
	const gv_sector_kind *k = gv_sector_kind_find(kind);

	if (k == NULL)
		return GV_EINVAL;
	if (k->read_identity == NULL)
		return gv_error_set(GV_ENOTFOUND, "sector kind %s keeps no identity at a path", kind);
	return k->read_identity(out, path);
}
