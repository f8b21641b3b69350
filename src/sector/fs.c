/*
 * fs.c - local directory sector backend.
 *
 * Layout under the root:
 *
 *   GRAVITON-SECTOR             identity: format, id, rack, zone, capacity
 *   LENT                        present once the sector is lent to another
 *                               node (lend): that node's index counts its
 *                               blobs, this one's reclaim leaves them
 *   objects/ab/<hex>-<size>     committed blobs (ab: first digest byte)
 *   tmp/                        writes whose key is not known yet, each
 *                               flock'd by its writer; emptied on open,
 *                               swept of dead writers' files by sweep
 *   partial/<hex>-<size>        resumable writes (GV_WRITE_RESUME); kept
 *
 * Every path below the root is built from a gv_key (hex digits and a decimal
 * size) or from a name this file generates, relative to directory
 * descriptors held for the sector's lifetime; no caller string is ever
 * joined into a path, so nothing can escape the root.
 *
 * Durability: a blob is written into tmp/ or partial/, fdatasync'd, renamed
 * into objects/ab/, and that directory is fsync'd before commit returns.
 * The 256 fan-out directories are created on demand (mkdir, then fsync of
 * objects/).  Open fsyncs objects/ once, so a fan-out directory left by an
 * earlier crashed process is durable before anything is committed into it;
 * the commit path then costs what the floor does: fdatasync of the file and
 * fsync of its directory.  One level of 256 directories keeps directory
 * creation off the hot path (a second level would mean a new directory, and
 * its fsyncs, for most of the first 65,536 blobs of every sector).
 *
 * Concurrency: several handles (in one process or several, e.g. the server
 * and a CLI command) may share a root.  Each holds a shared flock on the
 * root for its lifetime; tmp/ is emptied only by an open that first gets
 * the lock exclusively - no other handle exists, so no write of another
 * is under way - and then downgrades it.  Temp names carry the pid and a
 * random part, so sharers never collide.  Each writer holds an exclusive
 * flock on its temp file until commit or abort, so sweep (any process, any
 * time) removes exactly the files no live writer holds: a writer that
 * finds its new file already unlinked by a sweep starts another.  Within the handle,
 * s->lock guards the byte counters and s->dir_lock the fan-out bitmap; file
 * I/O runs outside both.  A resumable partial is flock'd by the writer that
 * continues it, so two writers cannot append to the same partial.
 *
 * Known limits: open walks objects/ once to count the used bytes, from the
 * file names only (no stat per blob): O(number of blobs).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "graviton/sys/sector.h"
#include "graviton/types.h"
#include "core/log.h"

#define FS_IDENTITY "GRAVITON-SECTOR"
#define FS_IDENTITY_TMP "GRAVITON-SECTOR.tmp"
#define FS_IDENTITY_MAX 4096
#define FS_LENT "LENT"
#define FS_FORMAT 1

/* "<64 hex>-<20 digits>" + NUL, and "ab/" in front of it. */
#define FS_NAME_MAX (64 + 1 + 20 + 1)
#define FS_REL_MAX (6 + FS_NAME_MAX)

/* Writes smaller than this are gathered before reaching the kernel. */
#define FS_WBUF_SIZE (1024 * 1024)
#define FS_WRITEBACK_STEP (8u << 20) /* start writeback every this many bytes */

#define FS_FANOUT_BITS 256

typedef struct fs_sector {
	gv_sector base;
	char root[GV_PATH_MAX];
	int root_fd;
	int objects_fd;
	int tmp_fd;
	int partial_fd;
	gv_sector_identity ident; /* stored identity, overrides applied */
	uint64_t rnd;             /* random part of temp names, fixed at open */
	int sole;                 /* no other handle held the root at open */
	dev_t root_dev;           /* the root directory opened, for check */
	ino_t root_ino;
	atomic_int lent;          /* LENT known to be durable in the root */

	pthread_mutex_t lock;
	uint64_t used;            /* lock: key sizes of committed blobs */
	uint64_t inflight;        /* lock: bytes held by open writers */
	uint64_t tmp_seq;         /* lock: counter for temp names */

	pthread_mutex_t dir_lock;
	/* dir_lock: bit i is objects/<i>, set once it is known durable. */
	uint8_t dir_ok[FS_FANOUT_BITS / 8];
} fs_sector;

typedef struct fs_writer {
	gv_sector_writer base;
	int fd;
	int resume;               /* the file is partial/<name>, flock'd */
	int has_key;
	gv_key key;
	char name[FS_NAME_MAX];   /* entry in tmp/ or partial/ */
	uint64_t flushed;         /* bytes in the file */
	uint64_t kicked;          /* bytes whose writeback was started */
	uint64_t reserved;        /* bytes counted in s->inflight */
	unsigned char *buf;       /* FS_WBUF_SIZE, allocated on first use */
	size_t buf_len;
	int failed;               /* a write failed: the file is suspect */
} fs_writer;

typedef struct fs_reader {
	gv_sector_reader base;
	int fd;
} fs_reader;

typedef struct fs_patch {
	gv_sector_patch base;
	int fd;
	char objrel[sizeof("objects/") + FS_REL_MAX];
} fs_patch;

static const struct gv_sector_ops fs_ops;

/* ---- names --------------------------------------------------------------- */

static int hex_val(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void fs_name_format(char *buf, const gv_key *key)
{
	char hex[GV_HEX_BUFSIZE];

	snprintf(buf, FS_NAME_MAX, "%s-%" PRIu64, gv_key_hex(hex, key), key->size);
}

static void fs_rel_format(char *buf, const gv_key *key)
{
	char name[FS_NAME_MAX];

	fs_name_format(name, key);
	snprintf(buf, FS_REL_MAX, "%.2s/%s", name, name);
}

/*
 * Parse "<64 lowercase hex>-<size>" (size without leading zeros).  Returns
 * 0 or -1; anything else in a directory is somebody else's file.
 */
static int fs_name_parse(gv_key *out, const char *name)
{
	const char *p;
	uint64_t size = 0;
	int i;

	for (i = 0; i < GV_DIGEST_LEN; i++) {
		int hi = hex_val((unsigned char)name[2 * i]);
		int lo = hi < 0 ? -1 : hex_val((unsigned char)name[2 * i + 1]);

		if (lo < 0)
			return -1;
		out->digest[i] = (uint8_t)(hi << 4 | lo);
	}
	p = name + 2 * GV_DIGEST_LEN;
	if (*p++ != '-')
		return -1;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return -1;
	for (; *p; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned)(*p - '0');
		if (size > (UINT64_MAX - d) / 10)
			return -1;
		size = size * 10 + d;
	}
	out->size = size;
	return 0;
}

/* Two lowercase hex digits and nothing else: a fan-out directory name. */
static int fs_fanout_parse(const char *name)
{
	int hi, lo;

	if (name[0] == '\0' || name[1] == '\0' || name[2] != '\0')
		return -1;
	hi = hex_val((unsigned char)name[0]);
	lo = hex_val((unsigned char)name[1]);
	if (hi < 0 || lo < 0)
		return -1;
	return hi << 4 | lo;
}

/* ---- small system helpers ------------------------------------------------ */

static int fs_err(const fs_sector *s, int err, const char *op, const char *rel)
{
	if (err == ENOSPC || err == EDQUOT)
		return gv_error_set_errno(GV_ENOSPACE, err, "sector %s: %s %s/%s",
		                          s->base.id, op, s->root, rel);
	return gv_error_set_errno(GV_EIO, err, "sector %s: %s %s/%s: io error",
	                          s->base.id, op, s->root, rel);
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len > 0) {
		size_t chunk = len > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : len;
		ssize_t n = pwrite(fd, p, chunk, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_at(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, err;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	err = errno;
	close(fd);
	errno = err;
	return rc;
}

static DIR *opendir_at(int dirfd, const char *rel)
{
	int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return d;
}

/* Entry type without following symlinks; DT_UNKNOWN resolved by fstatat. */
static int dirent_type(int dirfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type;
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return DT_UNKNOWN;
	if (S_ISDIR(st.st_mode))
		return DT_DIR;
	if (S_ISREG(st.st_mode))
		return DT_REG;
	return DT_UNKNOWN;
}

/* mkdir -p, fsyncing the parent of every directory it creates. */
static int mkdir_p(const char *path)
{
	char buf[GV_PATH_MAX];
	size_t len = strlen(path);
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return gv_error_set(GV_EINVAL, "sector root path is empty or too long");
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		char *slash;

		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) == 0) {
			slash = strrchr(buf, '/');
			if (slash == NULL) {
				if (fsync_at(AT_FDCWD, ".") < 0)
					goto fail;
			} else if (slash == buf) {
				if (fsync_at(AT_FDCWD, "/") < 0)
					goto fail;
			} else {
				*slash = '\0';
				if (fsync_at(AT_FDCWD, buf) < 0)
					goto fail;
				*slash = '/';
			}
		} else if (errno != EEXIST) {
			goto fail;
		}
		buf[i] = path[i];
	}
	return 0;
fail:
	return gv_error_set_errno(errno == ENOSPC ? GV_ENOSPACE : GV_EIO, errno,
	                          "cannot create sector root %s", path);
}

/* ---- identity ------------------------------------------------------------ */

static int parse_u64(uint64_t *out, const char *s)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * Parse the identity text: "key=value" lines; blank lines and lines
 * starting with '#' are ignored, and so are unknown keys (room for optional
 * fields within format 1).  format and id are required.
 */
static int identity_parse(gv_sector_identity *out, char *text, const char *path)
{
	enum { SEEN_FORMAT = 1, SEEN_ID = 2, SEEN_RACK = 4, SEEN_ZONE = 8, SEEN_CAP = 16,
	       SEEN_CLUSTER = 32 };
	unsigned seen = 0;
	char *line = text;
	int lineno = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	while (line != NULL && *line != '\0') {
		char *next = strchr(line, '\n');
		char *eq, *val;
		size_t vlen;
		unsigned bit;

		lineno++;
		if (next != NULL)
			*next++ = '\0';
		vlen = strlen(line);
		if (vlen > 0 && line[vlen - 1] == '\r')
			line[--vlen] = '\0';
		if (vlen == 0 || line[0] == '#') {
			line = next;
			continue;
		}
		eq = strchr(line, '=');
		if (eq == NULL)
			return gv_error_set(GV_EINVAL, "%s: line %d: expected key=value",
			                    path, lineno);
		*eq = '\0';
		val = eq + 1;
		vlen = strlen(val);
		if (strcmp(line, "format") == 0) {
			uint64_t f;

			bit = SEEN_FORMAT;
			if (parse_u64(&f, val) < 0 || f > INT_MAX)
				return gv_error_set(GV_EINVAL, "%s: line %d: bad format '%s'",
				                    path, lineno, val);
			out->format = (int)f;
		} else if (strcmp(line, "capacity") == 0) {
			bit = SEEN_CAP;
			if (parse_u64(&out->capacity, val) < 0)
				return gv_error_set(GV_EINVAL, "%s: line %d: bad capacity '%s'",
				                    path, lineno, val);
		} else if (strcmp(line, "id") == 0 || strcmp(line, "rack") == 0 ||
		           strcmp(line, "zone") == 0) {
			char *dst = line[0] == 'i' ? out->id : line[0] == 'r' ? out->rack : out->zone;

			bit = line[0] == 'i' ? SEEN_ID : line[0] == 'r' ? SEEN_RACK : SEEN_ZONE;
			if (vlen >= sizeof(out->id))
				return gv_error_set(GV_EINVAL, "%s: line %d: %s is too long",
				                    path, lineno, line);
			memcpy(dst, val, vlen + 1);
		} else if (strcmp(line, "cluster") == 0) {
			bit = SEEN_CLUSTER;
			if (vlen >= sizeof(out->cluster) || (vlen && gv_id_validate("cluster", val) < 0))
				return gv_error_set(GV_EINVAL, "%s: line %d: bad cluster '%.64s'",
				                    path, lineno, val);
			memcpy(out->cluster, val, vlen + 1);
		} else {
			line = next;
			continue;
		}
		if (seen & bit)
			return gv_error_set(GV_EINVAL, "%s: line %d: duplicate '%s'",
			                    path, lineno, line);
		seen |= bit;
		line = next;
	}
	if (!(seen & SEEN_FORMAT))
		return gv_error_set(GV_EINVAL, "%s: no format line", path);
	if (out->format != FS_FORMAT)
		return gv_error_set(GV_EINVAL, "%s: unsupported format %d (this build reads format %d)",
		                    path, out->format, FS_FORMAT);
	if (!(seen & SEEN_ID))
		return gv_error_set(GV_EINVAL, "%s: no id line", path);
	if ((rc = gv_id_validate("sector id", out->id)) < 0 ||
	    (out->rack[0] && (rc = gv_id_validate("rack", out->rack)) < 0) ||
	    (out->zone[0] && (rc = gv_id_validate("zone", out->zone)) < 0))
		return gv_error_set(rc, "%s: %s", path, gv_error_last());
	return 0;
}

/* Read <root>/GRAVITON-SECTOR through root_fd; GV_ENOTFOUND when absent. */
static int identity_read_at(gv_sector_identity *out, int root_fd, const char *root)
{
	char text[FS_IDENTITY_MAX + 1];
	char path[GV_PATH_MAX + sizeof(FS_IDENTITY) + 1];
	size_t len = 0;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", root, FS_IDENTITY);
	fd = openat(root_fd, FS_IDENTITY, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return gv_error_set(GV_ENOTFOUND, "%s does not exist", path);
		return gv_error_set_errno(GV_EIO, errno, "cannot open %s: io error", path);
	}
	while (len < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = gv_error_set_errno(GV_EIO, errno, "cannot read %s: io error", path);
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > FS_IDENTITY_MAX)
		return gv_error_set(GV_EINVAL, "%s is larger than %d bytes", path,
		                    FS_IDENTITY_MAX);
	if (memchr(text, '\0', len) != NULL)
		return gv_error_set(GV_EINVAL, "%s contains a NUL byte", path);
	text[len] = '\0';
	return identity_parse(out, text, path);
}

/* Write the identity: temp file, fsync, rename, fsync the root. */
static int identity_write_at(int root_fd, const char *root, const gv_sector_identity *id)
{
	char text[512];
	int fd, n, err;

	n = snprintf(text, sizeof(text),
	             "format=%d\nid=%s\nrack=%s\nzone=%s\ncapacity=%" PRIu64 "\n%s%s%s",
	             FS_FORMAT, id->id, id->rack, id->zone, id->capacity,
	             id->cluster[0] ? "cluster=" : "", id->cluster, id->cluster[0] ? "\n" : "");
	assert(n > 0 && (size_t)n < sizeof(text));
	fd = openat(root_fd, FS_IDENTITY_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		goto fail;
	if (write_all(fd, text, (size_t)n, 0) < 0 || fsync(fd) < 0) {
		err = errno;
		close(fd);
		unlinkat(root_fd, FS_IDENTITY_TMP, 0);
		errno = err;
		goto fail;
	}
	if (close(fd) < 0) {
		err = errno;
		unlinkat(root_fd, FS_IDENTITY_TMP, 0);
		errno = err;
		goto fail;
	}
	if (renameat(root_fd, FS_IDENTITY_TMP, root_fd, FS_IDENTITY) < 0) {
		err = errno;
		unlinkat(root_fd, FS_IDENTITY_TMP, 0);
		errno = err;
		goto fail;
	}
	if (fsync(root_fd) < 0)
		goto fail;
	return 0;
fail:
	return gv_error_set_errno(errno == ENOSPC ? GV_ENOSPACE : GV_EIO, errno,
	                          "cannot write %s/%s: io error", root, FS_IDENTITY);
}

int gv_sector_fs_read_identity(gv_sector_identity *out, const char *root)
{
	int root_fd, rc;

	if (out == NULL || root == NULL || root[0] == '\0')
		return gv_error_set(GV_EINVAL, "sector root path is empty");
	memset(out, 0, sizeof(*out));
	if (strlen(root) >= GV_PATH_MAX)
		return gv_error_set(GV_EINVAL, "sector root path is too long");
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		if (errno == ENOENT)
			return gv_error_set(GV_ENOTFOUND, "sector root %s does not exist", root);
		if (errno == ENOTDIR)
			return gv_error_set(GV_EINVAL, "sector root %s is not a directory", root);
		return gv_error_set_errno(GV_EIO, errno, "cannot open sector root %s: io error", root);
	}
	rc = identity_read_at(out, root_fd, root);
	close(root_fd);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- walking objects/ ---------------------------------------------------- */

/* Called for every well-formed blob name; non-zero stops the walk. */
typedef int (*fs_walk_fn)(fs_sector *s, int dirfd, const char *name,
                          const gv_key *key, void *payload);

static int fs_walk_leaf(fs_sector *s, int fd, int a, fs_walk_fn fn, void *payload)
{
	char rel[32];
	DIR *d;
	struct dirent *de;
	int rc = 0;

	snprintf(rel, sizeof(rel), "objects/%02x", a);
	d = fdopendir(fd);
	if (d == NULL) {
		rc = fs_err(s, errno, "cannot read", rel);
		close(fd);
		return rc;
	}
	for (;;) {
		gv_key key;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = fs_err(s, errno, "cannot read", rel);
			break;
		}
		if (fs_name_parse(&key, de->d_name) < 0 ||
		    key.digest[0] != a ||
		    dirent_type(dirfd(d), de) != DT_REG)
			continue;
		rc = fn(s, dirfd(d), de->d_name, &key, payload);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

/*
 * Walk objects/ through fd, which is consumed.  Entries that are not
 * two-hex-digit directories are skipped.
 */
static int fs_walk_dir(fs_sector *s, int fd, fs_walk_fn fn, void *payload)
{
	const char *rel = "objects";
	DIR *d;
	struct dirent *de;
	int rc = 0;

	d = fdopendir(fd);
	if (d == NULL) {
		rc = fs_err(s, errno, "cannot read", rel);
		close(fd);
		return rc;
	}
	for (;;) {
		int v, sub;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = fs_err(s, errno, "cannot read", rel);
			break;
		}
		v = fs_fanout_parse(de->d_name);
		if (v < 0)
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
				continue; /* gone, or not a directory: not ours */
			rc = fs_err(s, errno, "cannot open a directory in", rel);
			break;
		}
		rc = fs_walk_leaf(s, sub, v, fn, payload);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int fs_walk(fs_sector *s, fs_walk_fn fn, void *payload)
{
	int fd = openat(s->objects_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return fs_err(s, errno, "cannot open", "objects");
	return fs_walk_dir(s, fd, fn, payload);
}

static int count_used(fs_sector *s, int dirfd, const char *name,
                      const gv_key *key, void *payload)
{
	uint64_t *sum = payload;

	(void)s;
	(void)dirfd;
	(void)name;
	*sum += key->size;
	return 0;
}

/* ---- open / close -------------------------------------------------------- */

/* Entries that may sit in a root that has no identity yet. */
static int fs_root_is_blank(int root_fd)
{
	static const char *const ok[] = {
		".", "..", "lost+found", "objects", "tmp", "partial", FS_IDENTITY_TMP,
	};
	DIR *d = opendir_at(root_fd, ".");
	struct dirent *de;
	int blank = 1;

	if (d == NULL)
		return -1;
	while (blank && (de = readdir(d)) != NULL) {
		size_t i;

		blank = 0;
		for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
			if (strcmp(de->d_name, ok[i]) == 0)
				blank = 1;
	}
	closedir(d);
	return blank;
}

/*
 * Open root/<name> as a directory, creating it (and fsyncing the root) when
 * missing and `create` is set.  -1 with errno on failure.
 */
static int fs_subdir(int root_fd, const char *name, int create)
{
	int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	if (mkdirat(root_fd, name, 0755) < 0 && errno != EEXIST)
		return -1;
	if (fsync(root_fd) < 0)
		return -1;
	return openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Remove everything in tmp/: writes of a previous process that never
 * committed.  An entry that cannot be removed is logged and left. */
static int fs_clean_tmp(fs_sector *s)
{
	DIR *d = opendir_at(s->tmp_fd, ".");
	struct dirent *de;
	unsigned long removed = 0;

	if (d == NULL)
		return fs_err(s, errno, "cannot open", "tmp");
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 ||
		    (errno == EISDIR && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)) {
			removed++;
			continue;
		}
		if (errno != ENOENT)
			gv_warn("event=sector_file_remove_failed sector=%s path=%s/tmp/%s error=\"%s\"",
			        s->base.id, s->root, de->d_name, strerror(errno));
	}
	if (errno != 0) {
		int rc = fs_err(s, errno, "cannot read", "tmp");

		closedir(d);
		return rc;
	}
	closedir(d);
	if (removed > 0)
		gv_info("event=sector_tmp_swept sector=%s files=%lu path=%s/tmp", s->base.id, removed,
		        s->root);
	return 0;
}

static void fs_free(fs_sector *s)
{
	if (s->partial_fd >= 0)
		close(s->partial_fd);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->objects_fd >= 0)
		close(s->objects_fd);
	if (s->root_fd >= 0)
		close(s->root_fd); /* releases the flock */
	pthread_mutex_destroy(&s->dir_lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int fs_check_ident(const gv_sector_identity *ident)
{
	int rc;

	if (memchr(ident->id, '\0', sizeof(ident->id)) == NULL ||
	    memchr(ident->rack, '\0', sizeof(ident->rack)) == NULL ||
	    memchr(ident->zone, '\0', sizeof(ident->zone)) == NULL)
		return gv_error_set(GV_EINVAL, "sector identity strings are not terminated");
	if ((rc = gv_id_validate("sector id", ident->id)) < 0)
		return rc;
	if (ident->rack[0] && (rc = gv_id_validate("rack", ident->rack)) < 0)
		return rc;
	if (ident->zone[0] && (rc = gv_id_validate("zone", ident->zone)) < 0)
		return rc;
	return 0;
}

/*
 * Check the stored identity against the one asked for: the same id, and
 * the same cluster when both name one.  A stored identity without a
 * cluster gets ident's written (sectors made before cluster ids);
 * GV_FS_ADOPT rewrites an identity naming another id or cluster.
 */
static int fs_claim(fs_sector *s, const char *root, gv_sector_identity *stored,
                    const gv_sector_identity *ident, unsigned flags)
{
	int other_id = strcmp(stored->id, ident->id) != 0;
	int other_cluster = ident->cluster[0] && stored->cluster[0] &&
	                    strcmp(stored->cluster, ident->cluster) != 0;

	if ((other_id || other_cluster) && !(flags & GV_FS_ADOPT)) {
		if (other_cluster)
			return gv_error_set(GV_EEXISTS,
			                    "sector root %s belongs to another cluster (%s, not %s); "
			                    "refusing to use it", root, stored->cluster, ident->cluster);
		return gv_error_set(GV_EEXISTS, "sector root %s belongs to sector '%s', not '%s'",
		                    root, stored->id, ident->id);
	}
	if (!other_id && !other_cluster && (stored->cluster[0] || !ident->cluster[0]))
		return 0;
	memcpy(stored->id, ident->id, sizeof(stored->id));
	if (ident->cluster[0])
		memcpy(stored->cluster, ident->cluster, sizeof(stored->cluster));
	return identity_write_at(s->root_fd, root, stored);
}

/*
 * `ident` may be NULL without GV_FS_CREATE: the sector then takes whatever
 * identity the root holds.  Otherwise ident->id must match the stored id;
 * a non-empty rack or zone and a non-zero capacity in `ident` override the
 * stored ones for this handle (the file is not rewritten).
 *
 * GV_FS_CREATE writes an identity only into a root that holds nothing but
 * lost+found and this layout's own directories (so a root whose identity
 * file was lost can be re-adopted on purpose); anything else is GV_EEXISTS.
 * Opening a root that another handle holds works; it then leaves tmp/
 * alone (the other handle may be writing there).
 */
int gv_sector_fs_open(gv_sector **out, const char *root,
                      const gv_sector_identity *ident, unsigned flags)
{
	fs_sector *s;
	gv_sector_identity stored;
	int create = (flags & GV_FS_CREATE) != 0;
	int rc;

	if (out == NULL)
		return gv_error_set(GV_EINVAL, "no output pointer");
	*out = NULL;
	if (root == NULL || root[0] == '\0')
		return gv_error_set(GV_EINVAL, "sector root path is empty");
	if (strlen(root) >= GV_PATH_MAX)
		return gv_error_set(GV_EINVAL, "sector root path is longer than %d bytes",
		                    GV_PATH_MAX - 1);
	if (flags & ~(unsigned)(GV_FS_CREATE | GV_FS_ADOPT))
		return gv_error_set(GV_EINVAL, "unknown fs sector flags 0x%x", flags);
	if (ident == NULL && create)
		return gv_error_set(GV_EINVAL, "creating sector root %s needs an identity", root);
	if (ident != NULL && (rc = fs_check_ident(ident)) < 0)
		return rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return gv_error_set(GV_ENOMEM, "out of memory opening sector root %s", root);
	s->root_fd = s->objects_fd = s->tmp_fd = s->partial_fd = -1;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return gv_error_set(GV_ERROR, "cannot initialise a mutex");
	}
	if (pthread_mutex_init(&s->dir_lock, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return gv_error_set(GV_ERROR, "cannot initialise a mutex");
	}
	s->base.ops = &fs_ops;
	memcpy(s->root, root, strlen(root) + 1);
	snprintf(s->base.id, sizeof(s->base.id), "%s", ident ? ident->id : "?");

	s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0 && errno == ENOENT && create) {
		if ((rc = mkdir_p(root)) < 0)
			goto fail;
		s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (s->root_fd < 0) {
		if (errno == ENOENT)
			rc = gv_error_set(GV_ENOTFOUND,
			                  "sector root %s does not exist (lost or unmounted disk?); "
			                  "not creating it without create", root);
		else if (errno == ENOTDIR)
			rc = gv_error_set(GV_EINVAL, "sector root %s is not a directory", root);
		else
			rc = gv_error_set_errno(GV_EIO, errno, "cannot open sector root %s: io error", root);
		goto fail;
	}
	{
		struct stat rst;

		if (fstat(s->root_fd, &rst) < 0) {
			rc = gv_error_set_errno(GV_EIO, errno, "cannot stat sector root %s: io error",
			                        root);
			goto fail;
		}
		s->root_dev = rst.st_dev;
		s->root_ino = rst.st_ino;
	}
	if (flock(s->root_fd, LOCK_EX | LOCK_NB) == 0) {
		s->sole = 1;
	} else if (errno != EWOULDBLOCK || flock(s->root_fd, LOCK_SH) < 0) {
		rc = gv_error_set_errno(GV_EIO, errno, "cannot lock sector root %s: io error", root);
		goto fail;
	}

	rc = identity_read_at(&stored, s->root_fd, root);
	if (rc == GV_ENOTFOUND) {
		int blank;

		if (!create) {
			rc = gv_error_set(GV_ENOTFOUND,
			                  "sector root %s has no %s identity file (lost or unformatted disk?); "
			                  "not initialising it without create", root, FS_IDENTITY);
			goto fail;
		}
		blank = fs_root_is_blank(s->root_fd);
		if (blank < 0) {
			rc = gv_error_set_errno(GV_EIO, errno, "cannot read sector root %s: io error", root);
			goto fail;
		}
		if (!blank) {
			rc = gv_error_set(GV_EEXISTS,
			                  "sector root %s is not empty and has no %s identity file; "
			                  "refusing to initialise it", root, FS_IDENTITY);
			goto fail;
		}
		memset(&stored, 0, sizeof(stored));
		memcpy(stored.id, ident->id, sizeof(stored.id));
		memcpy(stored.rack, ident->rack, sizeof(stored.rack));
		memcpy(stored.zone, ident->zone, sizeof(stored.zone));
		stored.capacity = ident->capacity;
		stored.format = FS_FORMAT;
		memcpy(stored.cluster, ident->cluster, sizeof(stored.cluster));
		if ((rc = identity_write_at(s->root_fd, root, &stored)) < 0)
			goto fail;
	} else if (rc < 0) {
		goto fail;
	} else if (ident != NULL && (rc = fs_claim(s, root, &stored, ident, flags)) < 0) {
		goto fail;
	}
	unlinkat(s->root_fd, FS_IDENTITY_TMP, 0);

	s->ident = stored;
	if (ident != NULL) {
		if (ident->rack[0])
			memcpy(s->ident.rack, ident->rack, sizeof(s->ident.rack));
		if (ident->zone[0])
			memcpy(s->ident.zone, ident->zone, sizeof(s->ident.zone));
		if (ident->capacity != 0)
			s->ident.capacity = ident->capacity;
	}
	memcpy(s->base.id, stored.id, sizeof(s->base.id));

	s->objects_fd = fs_subdir(s->root_fd, "objects", create);
	if (s->objects_fd < 0) {
		if (errno == ENOENT)
			rc = gv_error_set(GV_ENOTFOUND,
			                  "sector root %s has an identity but no objects/ directory "
			                  "(blobs lost?); not recreating it without create", root);
		else
			rc = fs_err(s, errno, "cannot open", "objects");
		goto fail;
	}
	s->tmp_fd = fs_subdir(s->root_fd, "tmp", 1);
	if (s->tmp_fd < 0) {
		rc = fs_err(s, errno, "cannot open", "tmp");
		goto fail;
	}
	s->partial_fd = fs_subdir(s->root_fd, "partial", 1);
	if (s->partial_fd < 0) {
		rc = fs_err(s, errno, "cannot open", "partial");
		goto fail;
	}
	if (s->sole) {
		if ((rc = fs_clean_tmp(s)) < 0)
			goto fail;
		/* Let other handles share the root from now on. */
		if (flock(s->root_fd, LOCK_SH) < 0) {
			rc = gv_error_set_errno(GV_EIO, errno, "cannot lock sector root %s: io error",
			                        root);
			goto fail;
		}
	}
	if ((rc = fs_walk(s, count_used, &s->used)) < 0)
		goto fail;
	if (fsync(s->objects_fd) < 0) {
		rc = fs_err(s, errno, "cannot sync", "objects");
		goto fail;
	}
	if (getrandom(&s->rnd, sizeof(s->rnd), GRND_NONBLOCK) != (ssize_t)sizeof(s->rnd)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s->rnd = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
	}
	gv_debug("event=sector_opened sector=%s path=%s used=%" PRIu64, s->base.id, root, s->used);
	*out = &s->base;
	return 0;
fail:
	fs_free(s);
	return rc;
}

static void fs_close(gv_sector *sector)
{
	fs_free((fs_sector *)sector);
}

/* ---- writers ------------------------------------------------------------- */

/*
 * Lock a temp file just created.  -1 when a sweep holds it or has already
 * unlinked it (the writer then starts another).
 */
static int fs_tmp_claim(int fd)
{
	struct stat st;

	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_nlink == 0)
		return -1;
	return 0;
}

/*
 * The root path still names the directory opened, with its identity file
 * in it.  Catches a disk unmounted, a root moved away or replaced, an
 * identity file removed: the handle's descriptors would otherwise keep
 * writing into a directory nobody will find again.
 */
static int fs_check(gv_sector *sector)
{
	fs_sector *s = (fs_sector *)sector;
	struct stat st;

	if (stat(s->root, &st) < 0)
		return gv_error_set_errno(errno == ENOENT ? GV_ENOTFOUND : GV_EIO, errno,
		                          "sector %s: root %s is gone: %s", s->base.id, s->root,
		                          strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_dev != s->root_dev || st.st_ino != s->root_ino)
		return gv_error_set(GV_ENOTFOUND, "sector %s: root %s is no longer the directory "
		                    "this sector was opened from (moved, replaced or unmounted)",
		                    s->base.id, s->root);
	if (fstatat(s->root_fd, FS_IDENTITY, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return gv_error_set_errno(errno == ENOENT ? GV_ENOTFOUND : GV_EIO, errno,
		                          "sector %s: identity file %s/%s is gone: %s", s->base.id,
		                          s->root, FS_IDENTITY, strerror(errno));
	return 0;
}

/* Create LENT (empty; its presence is the record) and sync it and the
 * root.  Once known durable, later calls cost nothing. */
static int fs_lend(gv_sector *sector)
{
	fs_sector *s = (fs_sector *)sector;
	int fd;

	if (atomic_load(&s->lent))
		return 0;
	fd = openat(s->root_fd, FS_LENT, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || fsync(fd) < 0 || fsync(s->root_fd) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return gv_error_set_errno(e == ENOSPC ? GV_ENOSPACE : GV_EIO, e,
		                          "sector %s: cannot write %s/%s: %s", s->base.id, s->root,
		                          FS_LENT, strerror(e));
	}
	close(fd);
	atomic_store(&s->lent, 1);
	return 0;
}

static int fs_lent(gv_sector *sector)
{
	fs_sector *s = (fs_sector *)sector;
	struct stat st;

	if (atomic_load(&s->lent))
		return 1;
	if (fstatat(s->root_fd, FS_LENT, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno != ENOENT)
		return gv_error_set_errno(GV_EIO, errno, "sector %s: cannot stat %s/%s: %s",
		                          s->base.id, s->root, FS_LENT, strerror(errno));
	return 0;
}

static void fs_release(fs_sector *s, uint64_t bytes)
{
	pthread_mutex_lock(&s->lock);
	s->inflight -= bytes;
	pthread_mutex_unlock(&s->lock);
}

static int fs_writer_open(gv_sector_writer **out, gv_sector *sector,
                          const gv_key *key, unsigned flags)
{
	fs_sector *s = (fs_sector *)sector;
	fs_writer *w;
	int rc;

	*out = NULL;
	if (flags & ~(unsigned)GV_WRITE_RESUME)
		return gv_error_set(GV_EINVAL, "sector %s: unknown writer flags 0x%x", s->base.id, flags);
	if ((flags & GV_WRITE_RESUME) && key == NULL)
		return gv_error_set(GV_EINVAL, "sector %s: a resumable write needs its key", s->base.id);
	if ((rc = fs_check(sector)) < 0)
		return rc;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
	w->base.sector = sector;
	w->fd = -1;
	if (key != NULL) {
		w->has_key = 1;
		w->key = *key;
	}

	if (flags & GV_WRITE_RESUME) {
		char rel[sizeof("partial/") + FS_NAME_MAX];
		struct stat st;

		w->resume = 1;
		fs_name_format(w->name, key);
		snprintf(rel, sizeof(rel), "partial/%s", w->name);
		w->fd = openat(s->partial_fd, w->name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (w->fd < 0) {
			rc = fs_err(s, errno, "cannot open", rel);
			goto fail;
		}
		if (flock(w->fd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				rc = gv_error_set(GV_EBUSY, "sector %s: %s is being written by another writer",
				                  s->base.id, rel);
			else
				rc = fs_err(s, errno, "cannot lock", rel);
			close(w->fd);
			goto fail;
		}
		if (fstat(w->fd, &st) < 0) {
			rc = fs_err(s, errno, "cannot stat", rel);
			goto fail_close;
		}
		if ((uint64_t)st.st_size > key->size) {
			gv_warn("event=partial_restarted sector=%s path=%s/%s bytes=%" PRIu64 " size=%" PRIu64
			        " reason=\"longer than the key's size\"", s->base.id, s->root, rel,
			        (uint64_t)st.st_size, key->size);
			if (ftruncate(w->fd, 0) < 0) {
				rc = fs_err(s, errno, "cannot truncate", rel);
				goto fail_close;
			}
			st.st_size = 0;
		}
		w->flushed = (uint64_t)st.st_size;
		w->base.offset = w->flushed;
	} else {
		int tries;

		for (tries = 0;; tries++) {
			uint64_t seq;

			pthread_mutex_lock(&s->lock);
			seq = ++s->tmp_seq;
			pthread_mutex_unlock(&s->lock);
			snprintf(w->name, sizeof(w->name), "w-%ld-%" PRIu64 "-%016" PRIx64,
			         (long)getpid(), seq, s->rnd);
			w->fd = openat(s->tmp_fd, w->name,
			               O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (w->fd >= 0) {
				if (fs_tmp_claim(w->fd) == 0)
					break;
				/* A sweep got there between create and lock. */
				close(w->fd);
				w->fd = -1;
				errno = EEXIST;
			}
			if (errno != EEXIST || tries >= 16) {
				char rel[sizeof("tmp/") + FS_NAME_MAX];

				snprintf(rel, sizeof(rel), "tmp/%s", w->name);
				rc = fs_err(s, errno, "cannot create", rel);
				goto fail;
			}
		}
	}

	/* Reserve the blocks up front where the key says how many: ENOSPC
	 * then shows here rather than after most of the bytes are written. */
	if (w->has_key && key->size > w->flushed &&
	    fallocate(w->fd, FALLOC_FL_KEEP_SIZE, (off_t)w->flushed,
	              (off_t)(key->size - w->flushed)) < 0 &&
	    (errno == ENOSPC || errno == EDQUOT)) {
		rc = gv_error_set_errno(GV_ENOSPACE, errno, "sector %s: cannot reserve %" PRIu64
		                        " bytes in %s", s->base.id, key->size - w->flushed, s->root);
		goto fail_close;
	}

	pthread_mutex_lock(&s->lock);
	s->inflight += w->flushed;
	pthread_mutex_unlock(&s->lock);
	w->reserved = w->flushed;
	*out = &w->base;
	return 0;

fail_close:
	/* Holding the lock: an empty partial is ours to remove, like a temp. */
	if (!w->resume || w->flushed == 0)
		unlinkat(w->resume ? s->partial_fd : s->tmp_fd, w->name, 0);
	close(w->fd);
fail:
	free(w);
	return rc;
}

static const char *fs_writer_dir(const fs_writer *w)
{
	return w->resume ? "partial" : "tmp";
}

static int fs_writer_err(fs_writer *w, int err, const char *op)
{
	fs_sector *s = (fs_sector *)w->base.sector;
	char rel[sizeof("partial/") + FS_NAME_MAX];

	snprintf(rel, sizeof(rel), "%s/%s", fs_writer_dir(w), w->name);
	return fs_err(s, err, op, rel);
}

/*
 * Start the writeback of what was written since the last call, every
 * FS_WRITEBACK_STEP bytes, without waiting for it: a big blob then goes to
 * the disk while it streams in, and the fdatasync at commit finds little
 * left to write (durability still rests on that fdatasync alone).
 */
static void fs_writer_kick(fs_writer *w)
{
	if (w->kicked > w->flushed)
		w->kicked = w->flushed;
	if (w->flushed - w->kicked < FS_WRITEBACK_STEP)
		return;
	(void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->flushed - w->kicked),
	                      SYNC_FILE_RANGE_WRITE);
	w->kicked = w->flushed;
}

static int fs_writer_flush(fs_writer *w)
{
	if (w->buf_len == 0)
		return 0;
	if (write_all(w->fd, w->buf, w->buf_len, w->flushed) < 0) {
		w->failed = 1;
		return fs_writer_err(w, errno, "cannot write");
	}
	w->flushed += w->buf_len;
	w->buf_len = 0;
	fs_writer_kick(w);
	return 0;
}

static int fs_writer_write(gv_sector_writer *base, const void *buf, size_t len)
{
	fs_writer *w = (fs_writer *)base;
	fs_sector *s = (fs_sector *)base->sector;
	int rc;

	if (w->failed)
		return gv_error_set(GV_EIO, "sector %s: an earlier write to this blob failed", s->base.id);
	if (len == 0)
		return 0;
	if (w->has_key && (len > w->key.size || base->offset > w->key.size - len))
		return gv_error_set(GV_EINVAL, "sector %s: writing %zu bytes at %" PRIu64
		                    " runs past the key's size %" PRIu64,
		                    s->base.id, len, base->offset, w->key.size);
	if (base->offset > UINT64_MAX - len)
		return gv_error_set(GV_EINVAL, "sector %s: blob size overflows", s->base.id);

	pthread_mutex_lock(&s->lock);
	if (s->ident.capacity != 0 &&
	    (s->used + s->inflight > s->ident.capacity ||
	     len > s->ident.capacity - s->used - s->inflight)) {
		uint64_t used = s->used, inflight = s->inflight;

		pthread_mutex_unlock(&s->lock);
		return gv_error_set(GV_ENOSPACE, "sector %s: full (capacity %" PRIu64 ", used %" PRIu64
		                    ", being written %" PRIu64 ", asked %zu more)",
		                    s->base.id, s->ident.capacity, used, inflight, len);
	}
	s->inflight += len;
	pthread_mutex_unlock(&s->lock);
	w->reserved += len;

	if (len < FS_WBUF_SIZE && w->buf == NULL)
		w->buf = malloc(FS_WBUF_SIZE); /* on failure, write straight through */
	if (len < FS_WBUF_SIZE && w->buf != NULL) {
		if (w->buf_len + len > FS_WBUF_SIZE && (rc = fs_writer_flush(w)) < 0)
			return rc;
		memcpy(w->buf + w->buf_len, buf, len);
		w->buf_len += len;
		base->offset += len;
		return 0;
	}
	if ((rc = fs_writer_flush(w)) < 0)
		return rc;
	if (write_all(w->fd, buf, len, w->flushed) < 0) {
		w->failed = 1;
		return fs_writer_err(w, errno, "cannot write");
	}
	w->flushed += len;
	base->offset += len;
	fs_writer_kick(w);
	return 0;
}

static int fs_writer_sync(gv_sector_writer *base)
{
	fs_writer *w = (fs_writer *)base;
	int rc;

	if (w->failed)
		return gv_error_set(GV_EIO, "sector %s: an earlier write to this blob failed",
		                    base->sector->id);
	if ((rc = fs_writer_flush(w)) < 0)
		return rc;
	if (fdatasync(w->fd) < 0) {
		w->failed = 1;
		return fs_writer_err(w, errno, "cannot sync");
	}
	return 0;
}

static int fs_writer_truncate(gv_sector_writer *base, uint64_t len)
{
	fs_writer *w = (fs_writer *)base;
	int rc;

	if ((rc = fs_writer_flush(w)) < 0)
		return rc;
	if (ftruncate(w->fd, (off_t)len) < 0)
		return fs_writer_err(w, errno, "cannot truncate");
	w->flushed = len;
	base->offset = len;
	return 0;
}

/*
 * Free w.  A resumable writer keeps its partial when keep is set: what was
 * written is flushed and synced, and the file cut back to the last byte
 * known good if a write failed.  Everything else is removed.
 */
static void fs_writer_free(fs_writer *w, int keep)
{
	fs_sector *s = (fs_sector *)w->base.sector;

	if (w->fd >= 0) {
		if (w->resume && keep) {
			if (!w->failed && fs_writer_flush(w) < 0)
				gv_warn("event=partial_keep_failed sector=%s error=\"%s\"", s->base.id,
				        gv_error_last());
			if (w->failed && ftruncate(w->fd, (off_t)w->flushed) < 0)
				gv_warn("event=partial_truncate_failed sector=%s file=partial/%s error=\"%s\"",
				        s->base.id, w->name, strerror(errno));
			if (fdatasync(w->fd) < 0)
				gv_warn("event=partial_sync_failed sector=%s file=partial/%s error=\"%s\"",
				        s->base.id, w->name, strerror(errno));
		} else if (unlinkat(w->resume ? s->partial_fd : s->tmp_fd, w->name, 0) < 0 &&
		           errno != ENOENT) {
			gv_warn("event=sector_file_remove_failed sector=%s file=%s/%s error=\"%s\"",
			        s->base.id, fs_writer_dir(w), w->name, strerror(errno));
		}
		close(w->fd); /* releases the partial's flock */
	}
	fs_release(s, w->reserved);
	free(w->buf);
	free(w);
}

static void fs_writer_abort(gv_sector_writer *base, int keep_partial)
{
	fs_writer_free((fs_writer *)base, keep_partial);
}

static int bit_get(const uint8_t *bits, unsigned i)
{
	return (bits[i >> 3] >> (i & 7)) & 1;
}

static void bit_set(uint8_t *bits, unsigned i)
{
	bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/*
 * Make objects/ab exist durably.  A directory that already exists was made
 * durable by the fsync of objects/ at open (one handle per root, and
 * dir_lock serialises creators within it); one created here is fsync'd in.
 */
static int fs_fanout_ready(fs_sector *s, const gv_key *key)
{
	unsigned a = key->digest[0];
	char rel[8], objrel[16];
	int rc = 0;

	pthread_mutex_lock(&s->dir_lock);
	if (bit_get(s->dir_ok, a))
		goto out;
	snprintf(rel, sizeof(rel), "%02x", a);
	snprintf(objrel, sizeof(objrel), "objects/%s", rel);
	if (mkdirat(s->objects_fd, rel, 0755) < 0) {
		if (errno != EEXIST) {
			rc = fs_err(s, errno, "cannot create", objrel);
			goto out;
		}
	} else if (fsync(s->objects_fd) < 0) {
		rc = fs_err(s, errno, "cannot sync", "objects");
		goto out;
	}
	bit_set(s->dir_ok, a);
out:
	pthread_mutex_unlock(&s->dir_lock);
	return rc;
}

static int fs_writer_commit(gv_sector_writer *base, const gv_key *key)
{
	fs_writer *w = (fs_writer *)base;
	fs_sector *s = (fs_sector *)base->sector;
	char rel[FS_REL_MAX], objrel[sizeof("objects/") + FS_REL_MAX], dir[8];
	struct stat st;
	int existed, rc, fd;

	if (key == NULL) {
		rc = gv_error_set(GV_EINVAL, "sector %s: commit needs a key", s->base.id);
		goto fail;
	}
	if (w->has_key && gv_key_cmp(key, &w->key) != 0) {
		rc = gv_error_set(GV_EINVAL, "sector %s: commit under a key other than the one "
		                  "the write was opened with", s->base.id);
		goto fail;
	}
	if (base->offset != key->size) {
		rc = gv_error_set(GV_EINVAL, "sector %s: wrote %" PRIu64 " bytes but the key says %" PRIu64,
		                  s->base.id, base->offset, key->size);
		goto fail;
	}
	if (w->failed) {
		rc = gv_error_set(GV_EIO, "sector %s: an earlier write to this blob failed", s->base.id);
		goto fail;
	}
	if ((rc = fs_writer_flush(w)) < 0)
		goto fail;
	if (fdatasync(w->fd) < 0) {
		w->failed = 1;
		rc = fs_writer_err(w, errno, "cannot sync");
		goto fail;
	}
	if ((rc = fs_fanout_ready(s, key)) < 0)
		goto fail;

	fs_rel_format(rel, key);
	snprintf(objrel, sizeof(objrel), "objects/%s", rel);
	pthread_mutex_lock(&s->lock);
	existed = fstatat(s->objects_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat(w->resume ? s->partial_fd : s->tmp_fd, w->name, s->objects_fd, rel) < 0) {
		int err = errno;

		pthread_mutex_unlock(&s->lock);
		rc = fs_err(s, err, "cannot rename into", objrel);
		goto fail;
	}
	if (!existed)
		s->used += key->size;
	pthread_mutex_unlock(&s->lock);

	close(w->fd);
	w->fd = -1;
	snprintf(dir, sizeof(dir), "%.2s", rel);
	fd = openat(s->objects_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		rc = fs_err(s, errno, "cannot sync the directory of", objrel);
		if (fd >= 0)
			close(fd);
		fs_writer_free(w, 0);
		return rc;
	}
	close(fd);
	fs_writer_free(w, 0);
	return 0;
fail:
	fs_writer_free(w, 1);
	return rc;
}

/* ---- readers ------------------------------------------------------------- */

/* A symlink or special file in a replica's place: a corrupt replica. */
static int fs_not_regular(const fs_sector *s, const char *objrel)
{
	return gv_error_set(GV_ECORRUPT, "sector %s: %s/%s is not a regular file", s->base.id,
	                    s->root, objrel);
}

static int fs_reader_open(gv_sector_reader **out, gv_sector *sector,
                          const gv_key *key, uint64_t off, uint64_t len)
{
	fs_sector *s = (fs_sector *)sector;
	char rel[FS_REL_MAX], objrel[sizeof("objects/") + FS_REL_MAX];
	fs_reader *r;
	struct stat st;
	int fd, rc;

	*out = NULL;
	fs_rel_format(rel, key);
	snprintf(objrel, sizeof(objrel), "objects/%s", rel);
	/* A replica is a regular file of the sector: a symlink (to anything,
	 * inside the sector or out) or a special file is never read.
	 * O_NONBLOCK keeps a FIFO put there from blocking the open; it has
	 * no effect on a regular file. */
	fd = openat(s->objects_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		char kbuf[GV_KEY_BUFSIZE];

		if (errno == ENOENT)
			return gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
			                    gv_key_format(kbuf, key));
		if (errno == ELOOP)
			return fs_not_regular(s, objrel);
		return fs_err(s, errno, "cannot open", objrel);
	}
	if (fstat(fd, &st) < 0) {
		rc = fs_err(s, errno, "cannot stat", objrel);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? fs_err(s, EISDIR, "cannot read", objrel)
		                         : fs_not_regular(s, objrel);
		goto fail;
	}
	if ((uint64_t)st.st_size != key->size) {
		rc = gv_error_set(GV_ECORRUPT, "sector %s: %s/%s: stored %" PRIu64
		                  " bytes, expected %" PRIu64, s->base.id, s->root, objrel,
		                  (uint64_t)st.st_size, key->size);
		goto fail;
	}
	if (off > key->size) {
		rc = gv_error_set(GV_EINVAL, "sector %s: read offset %" PRIu64
		                  " is past the end of a %" PRIu64 "-byte blob",
		                  s->base.id, off, key->size);
		goto fail;
	}
	if (len == UINT64_MAX) {
		len = key->size - off;
	} else if (len > key->size - off) {
		rc = gv_error_set(GV_EINVAL, "sector %s: range %" PRIu64 "+%" PRIu64
		                  " runs past the end of a %" PRIu64 "-byte blob",
		                  s->base.id, off, len, key->size);
		goto fail;
	}
	if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
		rc = fs_err(s, errno, "cannot seek in", objrel);
		goto fail;
	}
	if (len > 0)
		(void)posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_SEQUENTIAL);
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
		goto fail;
	}
	r->base.sector = sector;
	r->base.remaining = len;
	r->fd = fd;
	*out = &r->base;
	return 0;
fail:
	close(fd);
	return rc;
}

static ssize_t fs_reader_read(gv_sector_reader *base, void *buf, size_t cap)
{
	fs_reader *r = (fs_reader *)base;
	size_t want = cap;
	ssize_t n;

	if (base->remaining == 0 || cap == 0)
		return 0;
	if (want > base->remaining)
		want = (size_t)base->remaining;
	if (want > (size_t)SSIZE_MAX)
		want = (size_t)SSIZE_MAX;
	do
		n = read(r->fd, buf, want);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return gv_error_set_errno(GV_EIO, errno, "sector %s: read in %s: io error",
		                          base->sector->id, ((fs_sector *)base->sector)->root);
	if (n == 0)
		return gv_error_set(GV_ECORRUPT, "sector %s: blob in %s ended %" PRIu64
		                    " bytes early (truncated while open?)", base->sector->id,
		                    ((fs_sector *)base->sector)->root, base->remaining);
	base->remaining -= (uint64_t)n;
	return n;
}

static void fs_reader_close(gv_sector_reader *base)
{
	fs_reader *r = (fs_reader *)base;

	close(r->fd);
	free(r);
}

/*
 * The descriptor is positioned at the reader's next byte; a caller that
 * moves bytes through it directly must advance r->remaining itself.
 */
static int fs_reader_fd(gv_sector_reader *base)
{
	return ((fs_reader *)base)->fd;
}

/* ---- del / stat / list / usage ------------------------------------------- */

/* Remove partial/<name> unless a writer holds it. */
static void fs_drop_partial(fs_sector *s, const gv_key *key)
{
	char name[FS_NAME_MAX];
	int fd;

	fs_name_format(name, key);
	fd = openat(s->partial_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(s->partial_fd, name, 0) < 0 &&
	    errno != ENOENT)
		gv_warn("event=sector_file_remove_failed sector=%s file=partial/%s error=\"%s\"",
		        s->base.id, name, strerror(errno));
	close(fd);
}

static int fs_del(gv_sector *sector, const gv_key *key)
{
	fs_sector *s = (fs_sector *)sector;
	char rel[FS_REL_MAX], objrel[sizeof("objects/") + FS_REL_MAX], dir[8];
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	fs_rel_format(rel, key);
	snprintf(objrel, sizeof(objrel), "objects/%s", rel);
	fs_drop_partial(s, key);

	pthread_mutex_lock(&s->lock);
	if (unlinkat(s->objects_fd, rel, 0) < 0) {
		err = errno;
		pthread_mutex_unlock(&s->lock);
		if (err == ENOENT)
			return gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
			                    gv_key_format(kbuf, key));
		return fs_err(s, err, "cannot remove", objrel);
	}
	s->used -= s->used < key->size ? s->used : key->size;
	pthread_mutex_unlock(&s->lock);

	snprintf(dir, sizeof(dir), "%.2s", rel);
	if (fsync_at(s->objects_fd, dir) < 0)
		return fs_err(s, errno, "cannot sync the directory of", objrel);
	return 0;
}

/* ---- in-place rewrites (range-level repair) ------------------------------ */

static int fs_patch_open(gv_sector_patch **out, gv_sector *sector, const gv_key *key)
{
	fs_sector *s = (fs_sector *)sector;
	char rel[FS_REL_MAX], kbuf[GV_KEY_BUFSIZE];
	struct stat st;
	fs_patch *p;
	int rc;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return gv_error_set(GV_ENOMEM, "sector %s: out of memory", s->base.id);
	fs_rel_format(rel, key);
	snprintf(p->objrel, sizeof(p->objrel), "objects/%s", rel);
	/* As for readers: only a regular file of the sector is written. */
	p->fd = openat(s->objects_fd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (p->fd < 0) {
		rc = errno == ENOENT ? gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
		                                    gv_key_format(kbuf, key))
		     : errno == ELOOP ? fs_not_regular(s, p->objrel)
		                      : fs_err(s, errno, "cannot open for writing", p->objrel);
		free(p);
		return rc;
	}
	if (fstat(p->fd, &st) < 0) {
		rc = fs_err(s, errno, "cannot stat", p->objrel);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fs_not_regular(s, p->objrel);
		goto fail;
	}
	if ((uint64_t)st.st_size != key->size) {
		rc = gv_error_set(GV_ECORRUPT, "sector %s: %s/%s: stored %" PRIu64
		                  " bytes, expected %" PRIu64, s->base.id, s->root, p->objrel,
		                  (uint64_t)st.st_size, key->size);
		goto fail;
	}
	p->base.sector = sector;
	p->base.size = key->size;
	*out = &p->base;
	return 0;
fail:
	close(p->fd);
	free(p);
	return rc;
}

static int fs_patch_write(gv_sector_patch *base, uint64_t off, const void *buf, size_t len)
{
	fs_patch *p = (fs_patch *)base;

	if (write_all(p->fd, buf, len, off) < 0)
		return fs_err((fs_sector *)base->sector, errno, "cannot write into", p->objrel);
	return 0;
}

static int fs_patch_sync(gv_sector_patch *base)
{
	fs_patch *p = (fs_patch *)base;

	/* The size and the name stay: the data is all there is to sync. */
	if (fdatasync(p->fd) < 0)
		return fs_err((fs_sector *)base->sector, errno, "cannot sync", p->objrel);
	return 0;
}

static void fs_patch_close(gv_sector_patch *base)
{
	fs_patch *p = (fs_patch *)base;

	close(p->fd);
	free(p);
}

/* stat of a committed blob's file, which must be a regular file. */
static int fs_stat_object(fs_sector *s, const gv_key *key, struct stat *st)
{
	char rel[FS_REL_MAX], objrel[sizeof("objects/") + FS_REL_MAX];
	char kbuf[GV_KEY_BUFSIZE];

	fs_rel_format(rel, key);
	if (fstatat(s->objects_fd, rel, st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return gv_error_set(GV_ENOTFOUND, "sector %s: no blob %s", s->base.id,
			                    gv_key_format(kbuf, key));
		snprintf(objrel, sizeof(objrel), "objects/%s", rel);
		return fs_err(s, errno, "cannot stat", objrel);
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(objrel, sizeof(objrel), "objects/%s", rel);
		return S_ISDIR(st->st_mode) ? fs_err(s, EISDIR, "cannot stat", objrel)
		                            : fs_not_regular(s, objrel);
	}
	return 0;
}

static int fs_stat(gv_sector *sector, const gv_key *key, uint64_t *out_size)
{
	struct stat st;
	int err;

	if ((err = fs_stat_object((fs_sector *)sector, key, &st)) < 0)
		return err;
	*out_size = (uint64_t)st.st_size;
	return 0;
}

struct fs_list_ctx {
	gv_sector_list_cb cb;
	void *payload;
};

static int list_one(fs_sector *s, int dirfd, const char *name,
                    const gv_key *key, void *payload)
{
	struct fs_list_ctx *ctx = payload;
	struct stat st;

	(void)s;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* removed since readdir */
	return ctx->cb(key, (uint64_t)st.st_size, ctx->payload);
}

/* Reports the stored size of each file, which may differ from key->size. */
static int fs_list(gv_sector *sector, gv_sector_list_cb cb, void *payload)
{
	struct fs_list_ctx ctx = { cb, payload };

	return fs_walk((fs_sector *)sector, list_one, &ctx);
}

static int fs_usage(gv_sector *sector, gv_sector_usage *out)
{
	fs_sector *s = (fs_sector *)sector;
	struct statvfs vfs;

	if (fstatvfs(s->root_fd, &vfs) < 0)
		return gv_error_set_errno(GV_EIO, errno, "sector %s: statvfs %s: io error",
		                          s->base.id, s->root);
	pthread_mutex_lock(&s->lock);
	out->used = s->used;
	pthread_mutex_unlock(&s->lock);
	out->capacity = s->ident.capacity != 0 ? s->ident.capacity
	                                       : (uint64_t)vfs.f_blocks * vfs.f_frsize;
	out->avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	out->device = (uint64_t)s->root_dev;
	return 0;
}

/*
 * Remove tmp/ files no writer holds: a writer keeps its temp file flock'd
 * until commit or abort, and a lock is released when its process dies.
 * The entry is unlinked only if it is still the file locked here.
 */
static int fs_sweep(gv_sector *sector, int dry_run, uint64_t *files, uint64_t *bytes)
{
	fs_sector *s = (fs_sector *)sector;
	DIR *d = opendir_at(s->tmp_fd, ".");
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return fs_err(s, errno, "cannot open", "tmp");
	for (;;) {
		struct stat st, now;
		int fd;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				rc = fs_err(s, errno, "cannot read", "tmp");
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone, or not ours to open */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink > 0 &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    fstatat(dirfd(d), de->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
			if (dry_run || unlinkat(dirfd(d), de->d_name, 0) == 0) {
				*files += 1;
				*bytes += (uint64_t)st.st_size;
			} else if (errno != ENOENT) {
				gv_warn("event=sector_file_remove_failed sector=%s path=%s/tmp/%s "
				        "error=\"%s\"", s->base.id, s->root, de->d_name, strerror(errno));
			}
		}
		close(fd);
	}
	closedir(d);
	if (*files > 0 && !dry_run)
		gv_info("event=sector_tmp_swept sector=%s files=%" PRIu64 " bytes=%" PRIu64 " path=%s/tmp",
		        s->base.id, *files, *bytes, s->root);
	return rc;
}

/* The file's mtime: the last write before its commit's rename. */
static int fs_written_at(gv_sector *sector, const gv_key *key, int64_t *out_ms)
{
	struct stat st;
	int err;

	if ((err = fs_stat_object((fs_sector *)sector, key, &st)) < 0)
		return err;
	*out_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return 0;
}

static const struct gv_sector_ops fs_ops = {
	.version = GV_SECTOR_OPS_VERSION,
	.name = "fs",
	.writer_open = fs_writer_open,
	.writer_write = fs_writer_write,
	.writer_sync = fs_writer_sync,
	.writer_truncate = fs_writer_truncate,
	.writer_commit = fs_writer_commit,
	.writer_abort = fs_writer_abort,
	.reader_open = fs_reader_open,
	.reader_read = fs_reader_read,
	.reader_close = fs_reader_close,
	.del = fs_del,
	.stat = fs_stat,
	.list = fs_list,
	.usage = fs_usage,
	.close = fs_close,
	.reader_fd = fs_reader_fd,
	.sweep = fs_sweep,
	.written_at = fs_written_at,
	.check = fs_check,
	.patch_open = fs_patch_open,
	.patch_write = fs_patch_write,
	.patch_sync = fs_patch_sync,
	.patch_close = fs_patch_close,
	.lend = fs_lend,
	.lent = fs_lent,
};
