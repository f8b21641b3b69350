/*
 * test_sector_fs.c - what only the local directory backend promises
 * (identity, layout, recovery on open, error reasons) and the fault
 * wrapper.  The shared contract is in test_sector_conformance.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "graviton/sys/sector.h"
#include "core/digest.h"

typedef struct fixture {
	char base[512];
	char root[600];
	unsigned seq;
} fixture;

/* ---- helpers ------------------------------------------------------------- */

static void fill(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)(x >> 24);
	}
}

static unsigned char *make(size_t len, uint64_t seed, gv_key *key)
{
	unsigned char *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	fill(buf, len, seed);
	assert_int_equal(gv_key_of_buf(key, buf, len), 0);
	return buf;
}

static gv_sector_identity ident_of(const char *id, const char *rack, const char *zone,
                                   uint64_t capacity)
{
	gv_sector_identity ident;

	memset(&ident, 0, sizeof(ident));
	snprintf(ident.id, sizeof(ident.id), "%s", id);
	snprintf(ident.rack, sizeof(ident.rack), "%s", rack);
	snprintf(ident.zone, sizeof(ident.zone), "%s", zone);
	ident.capacity = capacity;
	return ident;
}

static gv_sector *create(const char *root, const char *id)
{
	gv_sector_identity ident = ident_of(id, "r1", "z1", 0);
	gv_sector *s = NULL;

	if (gv_sector_fs_open(&s, root, &ident, GV_FS_CREATE) < 0)
		fail_msg("create %s: %s", root, gv_error_last());
	return s;
}

static void object_path(char *buf, size_t cap, const char *root, const gv_key *key)
{
	char hex[GV_HEX_BUFSIZE];

	gv_key_hex(hex, key);
	snprintf(buf, cap, "%s/objects/%.2s/%s-%llu", root, hex, hex,
	         (unsigned long long)key->size);
}

static void partial_path(char *buf, size_t cap, const char *root, const gv_key *key)
{
	char hex[GV_HEX_BUFSIZE];

	gv_key_hex(hex, key);
	snprintf(buf, cap, "%s/partial/%s-%llu", root, hex, (unsigned long long)key->size);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return (size_t)n;
}

/* A listing of every path and size under a tree, to prove "nothing changed". */
static char tree_buf[65536];
static size_t tree_len;

static int tree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	int n;

	(void)flag;
	(void)ftw;
	n = snprintf(tree_buf + tree_len, sizeof(tree_buf) - tree_len, "%s %o %lld\n", path,
	             (unsigned)st->st_mode, S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size);
	if (n > 0 && (size_t)n < sizeof(tree_buf) - tree_len)
		tree_len += (size_t)n;
	return 0;
}

static char *tree_snapshot(const char *root)
{
	tree_len = 0;
	tree_buf[0] = '\0';
	assert_int_equal(nftw(root, tree_entry, 16, FTW_PHYS), 0);
	return strdup(tree_buf);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DNR)
		chmod(path, 0755);
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct seen {
	gv_key keys[64];
	size_t n;
};

static int collect(const gv_key *key, uint64_t bytes, void *payload)
{
	struct seen *sn = payload;

	(void)bytes;
	assert_true(sn->n < 64);
	sn->keys[sn->n++] = *key;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->base, sizeof(fx->base), "%s/gv-sector-fs-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(fx->base) == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	fixture *fx = *state;

	rm_rf(fx->base);
	free(fx);
	return 0;
}

/* Every test gets a root path that does not exist yet. */
static int setup(void **state)
{
	fixture *fx = *state;

	snprintf(fx->root, sizeof(fx->root), "%s/t%u", fx->base, fx->seq++);
	return 0;
}

/* ---- identity and open --------------------------------------------------- */

static void test_create_and_identity(void **state)
{
	fixture *fx = *state;
	gv_sector_identity ident = ident_of("disk-01", "rack-a", "zone-1", 123456789);
	gv_sector_identity got;
	gv_sector_usage u;
	gv_sector *s;
	char path[700], text[512];

	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, GV_FS_CREATE), 0);
	assert_string_equal(s->id, "disk-01");
	assert_string_equal(s->ops->name, "fs");
	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	assert_int_equal(u.capacity, 123456789);
	gv_sector_close(s);

	snprintf(path, sizeof(path), "%s/GRAVITON-SECTOR", fx->root);
	read_file(path, text, sizeof(text));
	assert_string_equal(text, "format=1\nid=disk-01\nrack=rack-a\nzone=zone-1\ncapacity=123456789\n");
	assert_int_equal(gv_sector_fs_read_identity(&got, fx->root), 0);
	assert_string_equal(got.id, "disk-01");
	assert_string_equal(got.rack, "rack-a");
	assert_string_equal(got.zone, "zone-1");
	assert_int_equal(got.capacity, 123456789);
	assert_int_equal(got.format, 1);
	snprintf(path, sizeof(path), "%s/objects", fx->root);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/tmp", fx->root);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/partial", fx->root);
	assert_int_equal(count_entries(path), 0);
	snprintf(path, sizeof(path), "%s/GRAVITON-SECTOR.tmp", fx->root);
	assert_false(exists(path));

	/* reopen without create, with the same id and with none at all */
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, 0), 0);
	gv_sector_close(s);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), 0);
	assert_string_equal(s->id, "disk-01");
	gv_sector_close(s);

	/* a capacity given at open overrides the stored one for that handle;
	 * none at all means the file system's size */
	ident.capacity = 777;
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, 0), 0);
	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	assert_int_equal(u.capacity, 777);
	gv_sector_close(s);
	rm_rf(fx->root);
	ident.capacity = 0;
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, GV_FS_CREATE), 0);
	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	assert_true(u.capacity > 0);
	assert_true(u.avail > 0 && u.avail <= u.capacity);
	gv_sector_close(s);
}

static void test_create_nested_root(void **state)
{
	fixture *fx = *state;
	gv_sector *s;
	char root[700];

	snprintf(root, sizeof(root), "%s/a/b/c", fx->root);
	s = create(root, "nested");
	gv_sector_close(s);
	assert_int_equal(gv_sector_fs_open(&s, root, NULL, 0), 0);
	gv_sector_close(s);
}

/* A lent sector stays lent: the mark is in the root, seen by a handle
 * opened later (another process, a restart). */
static void test_lend_is_durable(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "lent");
	struct stat st;
	char path[700];

	assert_int_equal(gv_sector_lent(s), 0);
	assert_int_equal(gv_sector_lend(s), 0);
	assert_int_equal(gv_sector_lend(s), 0);
	assert_int_equal(gv_sector_lent(s), 1);
	gv_sector_close(s);
	snprintf(path, sizeof(path), "%s/LENT", fx->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), 0);
	assert_int_equal(gv_sector_lent(s), 1);
	gv_sector_close(s);
}

static void test_other_id_refused(void **state)
{
	fixture *fx = *state;
	gv_sector_identity beta = ident_of("beta", "", "", 0);
	gv_sector *s = create(fx->root, "alpha"), *s2 = (gv_sector *)1;
	gv_key key;
	unsigned char *data = make(1000, 1, &key);
	char *before, *after;

	assert_int_equal(gv_sector_put_buf(s, &key, data, 1000), 0);
	gv_sector_close(s);
	before = tree_snapshot(fx->root);

	assert_int_equal(gv_sector_fs_open(&s2, fx->root, &beta, 0), GV_EEXISTS);
	assert_null(s2);
	assert_non_null(strstr(gv_error_last(), "'alpha'"));
	assert_non_null(strstr(gv_error_last(), "'beta'"));
	assert_int_equal(gv_sector_fs_open(&s2, fx->root, &beta, GV_FS_CREATE), GV_EEXISTS);
	assert_null(s2);

	after = tree_snapshot(fx->root);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(data);
}

static void test_missing_root(void **state)
{
	fixture *fx = *state;
	gv_sector_identity ident = ident_of("lost", "", "", 0), got;
	gv_sector *s = (gv_sector *)1;
	char nested[700];

	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, 0), GV_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(gv_error_last(), fx->root));
	assert_non_null(strstr(gv_error_last(), "does not exist"));
	assert_false(exists(fx->root));

	snprintf(nested, sizeof(nested), "%s/x/y", fx->root);
	assert_int_equal(gv_sector_fs_open(&s, nested, &ident, 0), GV_ENOTFOUND);
	assert_false(exists(fx->root));
	assert_int_equal(gv_sector_fs_read_identity(&got, fx->root), GV_ENOTFOUND);
	assert_false(exists(fx->root));
}

static void test_missing_identity(void **state)
{
	fixture *fx = *state;
	gv_sector_identity ident = ident_of("blank", "", "", 0), got;
	gv_sector *s = (gv_sector *)1;
	char path[700];

	/* an existing empty directory is not a sector until created as one */
	assert_int_equal(mkdir(fx->root, 0755), 0);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, 0), GV_ENOTFOUND);
	assert_null(s);
	assert_non_null(strstr(gv_error_last(), "GRAVITON-SECTOR"));
	assert_int_equal(count_entries(fx->root), 0);
	assert_int_equal(gv_sector_fs_read_identity(&got, fx->root), GV_ENOTFOUND);

	/* nor is somebody else's directory, even with create */
	snprintf(path, sizeof(path), "%s/notes.txt", fx->root);
	write_file(path, "mine\n", 5);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, GV_FS_CREATE), GV_EEXISTS);
	assert_null(s);
	assert_int_equal(count_entries(fx->root), 1);
	unlink(path);

	/* an empty one (or a fresh file system's lost+found) is fine with create */
	snprintf(path, sizeof(path), "%s/lost+found", fx->root);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, GV_FS_CREATE), 0);
	gv_sector_close(s);

	/* identity lost from a sector with blobs: reported, not recreated */
	snprintf(path, sizeof(path), "%s/GRAVITON-SECTOR", fx->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, 0), GV_ENOTFOUND);
	assert_false(exists(path));
}

static void test_missing_objects_dir(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "hollow");
	char path[700];

	gv_sector_close(s);
	snprintf(path, sizeof(path), "%s/objects", fx->root);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), GV_ENOTFOUND);
	assert_non_null(strstr(gv_error_last(), "objects"));
	assert_false(exists(path));
}

static void test_bad_identity(void **state)
{
	static const struct { const char *text; const char *why; } cases[] = {
		{ "format=2\nid=x\n", "unsupported format" },
		{ "id=x\n", "no format" },
		{ "format=1\n", "no id" },
		{ "format=1\nid=x\nid=y\n", "duplicate" },
		{ "format=1\nid=../evil\n", "" },
		{ "format=1\nid=x\ncapacity=12abc\n", "capacity" },
		{ "format=1\nid=x\njunk line\n", "key=value" },
	};
	fixture *fx = *state;
	gv_sector_identity got;
	gv_sector *s;
	char path[700];
	size_t i;

	assert_int_equal(mkdir(fx->root, 0755), 0);
	snprintf(path, sizeof(path), "%s/GRAVITON-SECTOR", fx->root);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(path, cases[i].text, strlen(cases[i].text));
		assert_int_equal(gv_sector_fs_read_identity(&got, fx->root), GV_EINVAL);
		assert_non_null(strstr(gv_error_last(), cases[i].why));
		assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), GV_EINVAL);
	}
	/* comments, blank lines, CRLF and unknown keys are fine */
	write_file(path, "# sector\r\nformat=1\r\n\nid=ok\nfuture=1\n", 36);
	assert_int_equal(gv_sector_fs_read_identity(&got, fx->root), 0);
	assert_string_equal(got.id, "ok");
	assert_string_equal(got.rack, "");
}

static void test_bad_open_args(void **state)
{
	fixture *fx = *state;
	gv_sector_identity ident = ident_of("bad id!", "", "", 0);
	gv_sector *s = (gv_sector *)1;

	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, GV_FS_CREATE), GV_EINVAL);
	assert_null(s);
	assert_false(exists(fx->root));
	assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, GV_FS_CREATE), GV_EINVAL);
	assert_int_equal(gv_sector_fs_open(&s, "", NULL, 0), GV_EINVAL);
	ident = ident_of("ok", "", "", 0);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, 0x40), GV_EINVAL);
	assert_false(exists(fx->root));
	/* a file where the root should be */
	write_file(fx->root, "x", 1);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, &ident, GV_FS_CREATE), GV_EINVAL);
	unlink(fx->root);
}

static void test_second_open_shares(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "solo"), *s2 = NULL, *s3 = NULL;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(5000, 7, &key);
	char tmp[700], stray[800];
	uint64_t size = 0;

	/* A write under way in the first handle survives a second open. */
	snprintf(tmp, sizeof(tmp), "%s/tmp", fx->root);
	assert_int_equal(gv_sector_writer_open(&w, s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 5000), 0);
	assert_int_equal(gv_sector_fs_open(&s2, fx->root, NULL, 0), 0);
	assert_int_equal(count_entries(tmp), 1);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	/* and both handles see the blob */
	assert_int_equal(gv_sector_stat(s2, &key, &size), 0);
	assert_int_equal(size, 5000);
	gv_sector_close(s);
	gv_sector_close(s2);

	/* A stray temp file is swept by an open that holds the root alone. */
	snprintf(stray, sizeof(stray), "%s/tmp/stray", fx->root);
	write_file(stray, "x", 1);
	assert_int_equal(gv_sector_fs_open(&s3, fx->root, NULL, 0), 0);
	assert_int_equal(count_entries(tmp), 0);
	gv_sector_close(s3);
	free(data);
}

/* ---- layout and recovery ------------------------------------------------- */

/*
 * Pages of the first len bytes of the file at path that are dirty (in the
 * page cache, not yet handed to the disk), from /proc/self/pagemap and
 * /proc/kpageflags; -1 when this process cannot tell (not privileged, a
 * file system without writeback such as tmpfs).
 */
static long dirty_pages(const char *path, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE), dirty = 0;
	size_t i, n = len / (size_t)pg;
	int fd = open(path, O_RDONLY), pm = open("/proc/self/pagemap", O_RDONLY),
	    kf = open("/proc/kpageflags", O_RDONLY);
	struct statfs sf;
	unsigned char *p = MAP_FAILED;

	if (fd < 0 || pm < 0 || kf < 0 || fstatfs(fd, &sf) < 0 || sf.f_type == 0x01021994)
		dirty = -1;
	else if ((p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
		dirty = -1;
	for (i = 0; dirty >= 0 && i < n; i++) {
		uint64_t ent = 0, flags = 0;
		volatile unsigned char c = p[i * (size_t)pg]; /* map it */

		(void)c;
		if (pread(pm, &ent, 8, (off_t)(((uintptr_t)p / (uintptr_t)pg + i) * 8)) != 8 ||
		    !(ent >> 63) || (ent & ((1ull << 55) - 1)) == 0 ||
		    pread(kf, &flags, 8, (off_t)((ent & ((1ull << 55) - 1)) * 8)) != 8)
			dirty = -1;
		else if (flags & (1u << 4)) /* KPF_DIRTY */
			dirty++;
	}
	if (p != MAP_FAILED)
		munmap(p, len);
	if (fd >= 0)
		close(fd);
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return dirty;
}

/* A big blob goes to the disk while it streams in: the writer starts the
 * writeback of every 8 MiB it has written, without waiting for it, so the
 * fdatasync at commit finds little left to write. */
static void test_big_write_starts_writeback(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "writeback");
	gv_sector_writer *w;
	size_t len = 9u << 20, step = 256u << 10, off;
	unsigned char *data = malloc(len);
	char tmp[700], path[1000];
	struct dirent *de;
	DIR *d;
	long dirty;

	assert_non_null(data);
	fill(data, len, 11);
	assert_int_equal(gv_sector_writer_open(&w, s, NULL, 0), 0);
	for (off = 0; off < len; off += step)
		assert_int_equal(gv_sector_writer_write(w, data + off, step), 0);
	snprintf(tmp, sizeof(tmp), "%s/tmp", fx->root);
	assert_non_null(d = opendir(tmp));
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(path, sizeof(path), "%s/%s", tmp, de->d_name);
	closedir(d);
	dirty = dirty_pages(path, 8u << 20);
	gv_sector_writer_abort(w, 0);
	gv_sector_close(s);
	free(data);
	if (dirty < 0)
		skip();
	/* All 2048 pages were dirty before the writer started writeback. */
	if (dirty > 256)
		fail_msg("%ld of the first 2048 pages still dirty", dirty);
}

static void test_layout(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "layout");
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(70000, 3, &key);
	char path[800], tmp[700];
	char *stored;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/tmp", fx->root);
	assert_int_equal(gv_sector_writer_open(&w, s, NULL, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 70000), 0);
	assert_int_equal(count_entries(tmp), 1); /* in flight */
	object_path(path, sizeof(path), fx->root, &key);
	assert_false(exists(path));
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	assert_int_equal(count_entries(tmp), 0);

	stored = malloc(70001);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, stored, 70001), 70000);
	close(fd);
	assert_memory_equal(stored, data, 70000);
	free(stored);
	gv_sector_close(s);
	free(data);
}

static void test_tmp_cleaned_partial_kept(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "recover");
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(5000, 4, &key);
	char path[800], tmp[700];
	struct stat st;
	pid_t pid;
	int status;

	assert_int_equal(gv_sector_writer_open(&w, s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 1234), 0);
	gv_sector_writer_abort(w, 1);
	partial_path(path, sizeof(path), fx->root, &key);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1234);
	gv_sector_close(s);

	/* a process that dies in the middle of a write */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		gv_sector *cs;
		gv_sector_writer *cw;

		if (gv_sector_fs_open(&cs, fx->root, NULL, 0) < 0 ||
		    gv_sector_writer_open(&cw, cs, NULL, 0) < 0 ||
		    gv_sector_writer_write(cw, data, 5000) < 0 ||
		    gv_sector_writer_sync(cw) < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* more leftovers: a stray temp file and directory */
	snprintf(tmp, sizeof(tmp), "%s/tmp/w-1-1-0000000000000000", fx->root);
	write_file(tmp, "junk", 4);
	snprintf(tmp, sizeof(tmp), "%s/tmp/stray-dir", fx->root);
	assert_int_equal(mkdir(tmp, 0755), 0);
	snprintf(tmp, sizeof(tmp), "%s/tmp", fx->root);
	assert_int_equal(count_entries(tmp), 3);

	assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), 0);
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 1234);
	assert_int_equal(gv_sector_writer_open(&w, s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 1234);
	assert_int_equal(gv_sector_writer_write(w, data + 1234, 5000 - 1234), 0);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	assert_false(exists(path));
	gv_sector_close(s);
	free(data);
}

static void test_oversized_partial_restarts(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "oversize");
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(100, 5, &key);
	char path[800];
	char junk[300];

	partial_path(path, sizeof(path), fx->root, &key);
	memset(junk, 'x', sizeof(junk));
	write_file(path, junk, sizeof(junk));
	assert_int_equal(gv_sector_writer_open(&w, s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 0);
	assert_int_equal(gv_sector_writer_write(w, data, 100), 0);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	{
		gv_sector_reader *r;
		unsigned char out[100];

		assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), 0);
		assert_int_equal(gv_sector_reader_read(r, out, sizeof(out)), 100);
		assert_memory_equal(out, data, 100);
		gv_sector_reader_close(r);
	}
	gv_sector_close(s);
	free(data);
}

static void test_used_counted_on_open(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "count");
	gv_sector_usage u;
	gv_key k[3];
	unsigned char *d[3];
	int i;

	for (i = 0; i < 3; i++) {
		d[i] = make((size_t)(i + 1) * 1000, (uint64_t)i + 10, &k[i]);
		assert_int_equal(gv_sector_put_buf(s, &k[i], d[i], (size_t)(i + 1) * 1000), 0);
	}
	gv_sector_close(s);
	assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), 0);
	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	assert_int_equal(u.used, 6000);
	gv_sector_close(s);
	for (i = 0; i < 3; i++)
		free(d[i]);
}

static void test_list_skips_junk(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "junk");
	struct seen sn = { .n = 0 };
	gv_key a, b, other;
	unsigned char *da = make(12, 6, &a), *db = make(13, 7, &b), *dother = make(12, 8, &other);
	char path[900], leaf[800], hex[GV_HEX_BUFSIZE], ohex[GV_HEX_BUFSIZE], upper[GV_HEX_BUFSIZE];
	char *slash;
	size_t i;

	assert_int_equal(gv_sector_put_buf(s, &a, da, 12), 0);
	assert_int_equal(gv_sector_put_buf(s, &b, db, 13), 0);
	object_path(leaf, sizeof(leaf), fx->root, &a);
	slash = strrchr(leaf, '/');
	*slash = '\0';
	gv_key_hex(hex, &a);
	gv_key_hex(ohex, &other);
	for (i = 0; i < 64; i++)
		upper[i] = (char)(hex[i] >= 'a' ? hex[i] - 32 : hex[i]);
	upper[64] = '\0';

	snprintf(path, sizeof(path), "%s/notakey", leaf);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/%s-012", leaf, hex);       /* leading zero */
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/%s-12", leaf, upper);      /* uppercase */
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/%s-12.tmp", leaf, hex);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/%s-99999999999999999999999", leaf, hex);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/%s-12", leaf, ohex);       /* wrong directory */
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/%s-13", leaf, hex);        /* a directory */
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/objects/zz", fx->root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/objects/README", fx->root);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/objects/%.2s/junk", fx->root, hex);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/objects/%.2s/ff", fx->root, hex);
	write_file(path, "x", 1);                                      /* file named like a dir */

	assert_int_equal(gv_sector_list(s, collect, &sn), 0);
	assert_int_equal(sn.n, 2);
	assert_true((gv_key_cmp(&sn.keys[0], &a) == 0 && gv_key_cmp(&sn.keys[1], &b) == 0) ||
	            (gv_key_cmp(&sn.keys[0], &b) == 0 && gv_key_cmp(&sn.keys[1], &a) == 0));
	gv_sector_close(s);

	/* and the junk does not count as used space */
	{
		gv_sector_usage u;

		assert_int_equal(gv_sector_fs_open(&s, fx->root, NULL, 0), 0);
		assert_int_equal(gv_sector_usage_get(s, &u), 0);
		assert_int_equal(u.used, 25);
		gv_sector_close(s);
	}
	free(da);
	free(db);
	free(dother);
}

/* ---- error reasons ------------------------------------------------------- */

static void test_wrong_size_is_corrupt(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "sizes");
	gv_sector_reader *r = (gv_sector_reader *)1;
	gv_key key;
	unsigned char *data = make(5000, 9, &key);
	uint64_t size;
	char path[800];

	assert_int_equal(gv_sector_put_buf(s, &key, data, 5000), 0);
	object_path(path, sizeof(path), fx->root, &key);
	assert_int_equal(truncate(path, 4000), 0);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), GV_ECORRUPT);
	assert_null(r);
	assert_non_null(strstr(gv_error_last(), "stored 4000 bytes, expected 5000"));
	assert_int_equal(gv_sector_stat(s, &key, &size), 0);
	assert_int_equal(size, 4000);

	assert_int_equal(truncate(path, 6000), 0);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 10, 10), GV_ECORRUPT);
	assert_non_null(strstr(gv_error_last(), "stored 6000 bytes, expected 5000"));
	gv_sector_close(s);
	free(data);
}

static void test_truncated_while_reading(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "shrink");
	gv_sector_reader *r;
	unsigned char buf[8192];
	gv_key key;
	unsigned char *data = make(20000, 10, &key);
	char path[800];
	ssize_t n;

	assert_int_equal(gv_sector_put_buf(s, &key, data, 20000), 0);
	object_path(path, sizeof(path), fx->root, &key);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), 0);
	assert_int_equal(gv_sector_reader_read(r, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(truncate(path, 10000), 0);
	do
		n = gv_sector_reader_read(r, buf, sizeof(buf));
	while (n > 0);
	assert_int_equal(n, GV_ECORRUPT);
	assert_non_null(strstr(gv_error_last(), "early"));
	gv_sector_reader_close(r);
	gv_sector_close(s);
	free(data);
}

static void test_io_error_reasons(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "eio");
	gv_sector_reader *r = (gv_sector_reader *)1;
	gv_key key;
	unsigned char *data = make(3000, 11, &key);
	char path[800], dir[800], hex[GV_HEX_BUFSIZE];
	uint64_t size;
	int fd;

	assert_int_equal(gv_sector_put_buf(s, &key, data, 3000), 0);
	gv_key_hex(hex, &key);
	snprintf(dir, sizeof(dir), "%s/objects/%.2s", fx->root, hex);
	object_path(path, sizeof(path), fx->root, &key);

	/* permissions: only meaningful where they restrict (not for root) */
	assert_int_equal(chmod(dir, 0), 0);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		close(fd);
		print_message("[ SKIPPED  ] chmod 000 does not restrict this user; "
		              "checking EISDIR instead\n");
	} else {
		assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), GV_EIO);
		assert_null(r);
		assert_non_null(strstr(gv_error_last(), "io error: Permission denied"));
		assert_int_equal(gv_error_last_errno(), EACCES);
		assert_int_equal(gv_sector_stat(s, &key, &size), GV_EIO);
	}
	assert_int_equal(chmod(dir, 0755), 0);

	/* something that fails for every user: a directory where the blob
	 * should be */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), GV_EIO);
	assert_null(r);
	assert_non_null(strstr(gv_error_last(), "io error: Is a directory"));
	assert_non_null(strstr(gv_error_last(), path));
	assert_int_equal(gv_error_last_errno(), EISDIR);
	assert_int_equal(gv_sector_stat(s, &key, &size), GV_EIO);

	/* and a file where a fan-out directory should be */
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/objects/%.2s", fx->root, hex);
	assert_int_equal(rmdir(path), 0);
	write_file(path, "x", 1);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), GV_EIO);
	assert_non_null(strstr(gv_error_last(), "io error: Not a directory"));
	assert_int_equal(gv_sector_put_buf(s, &key, data, 3000), GV_EIO);
	{
		char tmp[700];

		snprintf(tmp, sizeof(tmp), "%s/tmp", fx->root);
		assert_int_equal(count_entries(tmp), 0);
	}
	gv_sector_close(s);
	free(data);
}

/*
 * A symlink in a replica's place is never followed, even to a file of the
 * right size; a FIFO there neither blocks nor is read.  Both are corrupt
 * replicas, for readers and for stat.
 */
static void test_not_regular_is_corrupt(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "nofollow");
	gv_sector_reader *r = (gv_sector_reader *)1;
	gv_key key;
	unsigned char *data = make(2000, 13, &key);
	char path[800], outside[800];
	uint64_t size;

	assert_int_equal(gv_sector_put_buf(s, &key, data, 2000), 0);
	object_path(path, sizeof(path), fx->root, &key);
	snprintf(outside, sizeof(outside), "%s/outside", fx->root);
	write_file(outside, data, 2000);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), GV_ECORRUPT);
	assert_null(r);
	assert_non_null(strstr(gv_error_last(), "not a regular file"));
	assert_int_equal(gv_sector_stat(s, &key, &size), GV_ECORRUPT);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0644), 0);
	r = (gv_sector_reader *)1;
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 10, 100), GV_ECORRUPT);
	assert_null(r);
	assert_int_equal(gv_sector_stat(s, &key, &size), GV_ECORRUPT);
	gv_sector_close(s);
	free(data);
}

static void test_reader_fd(void **state)
{
	fixture *fx = *state;
	gv_sector *s = create(fx->root, "fd");
	gv_sector_reader *r;
	unsigned char buf[10];
	gv_key key;
	unsigned char *data = make(1000, 12, &key);
	int fd;

	assert_int_equal(gv_sector_put_buf(s, &key, data, 1000), 0);
	assert_non_null(s->ops->reader_fd);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 100, 50), 0);
	fd = s->ops->reader_fd(r);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 10);
	assert_memory_equal(buf, data + 100, 10);
	gv_sector_reader_close(r);
	gv_sector_close(s);
	free(data);
}

/* ---- fault wrapper ------------------------------------------------------- */

static gv_sector *faulty(const gv_fault_plan *plan)
{
	gv_sector *inner, *f;

	assert_int_equal(gv_sector_mem_open(&inner, "inner", 0), 0);
	assert_int_equal(gv_sector_fault_wrap(&f, inner, plan), 0);
	assert_string_equal(f->id, "inner");
	return f;
}

static void test_fault_eio_nth(void **state)
{
	gv_fault_plan plan = { GV_FAULT_EIO, GV_FAULT_OP_WRITE, 2, 0 };
	gv_sector *s = faulty(&plan);
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(300, 13, &key);
	uint64_t size;

	(void)state;
	assert_int_equal(gv_sector_writer_open(&w, s, &key, 0), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 100), 0);
	assert_int_equal(gv_sector_writer_write(w, data + 100, 100), GV_EIO);
	assert_int_equal(gv_error_last_errno(), EIO);
	assert_non_null(strstr(gv_error_last(), "injected"));
	assert_int_equal(w->offset, 100);
	assert_int_equal(gv_sector_writer_write(w, data + 100, 200), 0);
	assert_int_equal(gv_sector_fault_calls(s), 3);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	assert_int_equal(gv_sector_stat(s, &key, &size), 0);
	assert_int_equal(gv_sector_fault_calls(s), 3); /* stat is not counted */
	gv_sector_close(s);
	free(data);
}

static void test_fault_every_call(void **state)
{
	gv_fault_plan plan = { GV_FAULT_EIO, GV_FAULT_OP_OPEN_READ | GV_FAULT_OP_DEL, 0, 0 };
	gv_sector *s = faulty(NULL);
	gv_sector_reader *r = (gv_sector_reader *)1;
	gv_key key;
	unsigned char *data = make(100, 14, &key);
	int i;

	(void)state;
	assert_int_equal(gv_sector_put_buf(s, &key, data, 100), 0);
	assert_int_equal(gv_sector_fault_calls(s), 0);
	gv_sector_fault_set(s, &plan);
	for (i = 0; i < 3; i++) {
		assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), GV_EIO);
		assert_null(r);
	}
	assert_int_equal(gv_sector_del(s, &key), GV_EIO);
	assert_int_equal(gv_sector_fault_calls(s), 4);
	gv_sector_fault_set(s, NULL);
	assert_int_equal(gv_sector_fault_calls(s), 0);
	assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), 0);
	gv_sector_reader_close(r);
	assert_int_equal(gv_sector_del(s, &key), 0);
	gv_sector_close(s);
	free(data);
}

static void test_fault_enospc_commit(void **state)
{
	gv_fault_plan plan = { GV_FAULT_ENOSPC, GV_FAULT_OP_COMMIT, 1, 0 };
	gv_sector *s = faulty(&plan);
	gv_key key;
	unsigned char *data = make(1000, 15, &key);
	uint64_t size;

	(void)state;
	assert_int_equal(gv_sector_put_buf(s, &key, data, 1000), GV_ENOSPACE);
	assert_int_equal(gv_error_last_errno(), ENOSPC);
	assert_int_equal(gv_sector_stat(s, &key, &size), GV_ENOTFOUND);
	assert_int_equal(gv_sector_put_buf(s, &key, data, 1000), 0); /* only the 1st */
	assert_int_equal(gv_sector_stat(s, &key, &size), 0);
	assert_int_equal(gv_sector_fault_calls(s), 2);
	gv_sector_close(s);
	free(data);
}

static void test_fault_commit_keeps_partial(void **state)
{
	fixture *fx = *state;
	gv_fault_plan plan = { GV_FAULT_ENOSPC, GV_FAULT_OP_COMMIT, 1, 0 };
	gv_sector *inner = create(fx->root, "fault-fs"), *s;
	gv_sector_writer *w;
	gv_key key;
	unsigned char *data = make(4000, 16, &key);

	assert_int_equal(gv_sector_fault_wrap(&s, inner, &plan), 0);
	assert_null(s->ops->reader_fd);
	assert_int_equal(gv_sector_writer_open(&w, s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(gv_sector_writer_write(w, data, 4000), 0);
	assert_int_equal(gv_sector_writer_commit(w, &key), GV_ENOSPACE);
	assert_int_equal(gv_sector_writer_open(&w, s, &key, GV_WRITE_RESUME), 0);
	assert_int_equal(w->offset, 4000);
	assert_int_equal(gv_sector_writer_commit(w, &key), 0);
	{
		gv_sector_reader *r;
		unsigned char out[4000];
		size_t got = 0;
		ssize_t n;

		assert_int_equal(gv_sector_reader_open(&r, s, &key, 0, UINT64_MAX), 0);
		while ((n = gv_sector_reader_read(r, out + got, sizeof(out) - got)) > 0)
			got += (size_t)n;
		assert_int_equal(got, 4000);
		assert_memory_equal(out, data, 4000);
		gv_sector_reader_close(r);
	}
	gv_sector_close(s);
	free(data);
}

static int bits_differing(const unsigned char *a, const unsigned char *b, size_t len)
{
	int bits = 0;
	size_t i;

	for (i = 0; i < len; i++)
		bits += __builtin_popcount((unsigned)(a[i] ^ b[i]));
	return bits;
}

static size_t read_all(gv_sector *s, const gv_key *key, unsigned char *out, size_t cap,
                       size_t chunk)
{
	gv_sector_reader *r;
	size_t got = 0;
	ssize_t n;

	assert_int_equal(gv_sector_reader_open(&r, s, key, 0, UINT64_MAX), 0);
	while (got < cap && (n = gv_sector_reader_read(r, out + got,
	                                                chunk < cap - got ? chunk : cap - got)) > 0)
		got += (size_t)n;
	assert_int_equal(r->remaining, 0);
	gv_sector_reader_close(r);
	return got;
}

static void test_fault_corrupt(void **state)
{
	gv_fault_plan plan = { GV_FAULT_CORRUPT, GV_FAULT_OP_READ, 3, 0 };
	gv_sector *s = faulty(NULL);
	unsigned char out[10000];
	gv_key key;
	unsigned char *data = make(sizeof(out), 17, &key);

	(void)state;
	assert_int_equal(gv_sector_put_buf(s, &key, data, sizeof(out)), 0);
	gv_sector_fault_set(s, &plan);
	assert_int_equal(read_all(s, &key, out, sizeof(out), 1000), sizeof(out));
	assert_int_equal(bits_differing(out, data, sizeof(out)), 1);
	assert_memory_equal(out, data, 2000);       /* reads 1 and 2 untouched */
	assert_memory_not_equal(out + 2000, data + 2000, 1000);

	/* on open: the reader's first bytes are bad, whichever read */
	plan.ops = GV_FAULT_OP_OPEN_READ;
	plan.nth = 0;
	gv_sector_fault_set(s, &plan);
	assert_int_equal(read_all(s, &key, out, sizeof(out), 4096), sizeof(out));
	assert_int_equal(bits_differing(out, data, sizeof(out)), 1);
	assert_int_equal(gv_sector_fault_calls(s), 1);

	/* other operations pass through */
	plan.ops = GV_FAULT_OP_ALL & ~(unsigned)(GV_FAULT_OP_READ | GV_FAULT_OP_OPEN_READ);
	gv_sector_fault_set(s, &plan);
	assert_int_equal(gv_sector_put_buf(s, &key, data, sizeof(out)), 0);
	assert_int_equal(read_all(s, &key, out, sizeof(out), 4096), sizeof(out));
	assert_memory_equal(out, data, sizeof(out));
	gv_sector_close(s);
	free(data);
}

static void test_fault_hang(void **state)
{
	gv_fault_plan plan = { GV_FAULT_HANG, GV_FAULT_OP_DEL | GV_FAULT_OP_OPEN_WRITE, 0, 120 };
	gv_sector *s = faulty(NULL);
	gv_sector_writer *w = (gv_sector_writer *)1;
	gv_key key;
	unsigned char *data = make(64, 18, &key);
	uint64_t size;
	int64_t t0;

	(void)state;
	assert_int_equal(gv_sector_put_buf(s, &key, data, 64), 0);
	gv_sector_fault_set(s, &plan);
	t0 = now_ms();
	assert_int_equal(gv_sector_del(s, &key), GV_ETIMEOUT);
	assert_true(now_ms() - t0 >= 120);
	assert_int_equal(gv_sector_stat(s, &key, &size), 0); /* still there */
	t0 = now_ms();
	assert_int_equal(gv_sector_writer_open(&w, s, NULL, 0), GV_ETIMEOUT);
	assert_null(w);
	assert_true(now_ms() - t0 >= 120);
	assert_int_equal(gv_sector_fault_calls(s), 2);
	gv_sector_close(s);
	free(data);
}

static void test_fault_passthrough(void **state)
{
	gv_sector *s = faulty(NULL);
	struct seen sn = { .n = 0 };
	gv_sector_usage u;
	gv_key key;
	unsigned char *data = make(500, 19, &key);

	(void)state;
	assert_string_equal(s->ops->name, "fault");
	assert_int_equal(gv_sector_put_buf(s, &key, data, 500), 0);
	assert_int_equal(gv_sector_list(s, collect, &sn), 0);
	assert_int_equal(sn.n, 1);
	assert_int_equal(gv_sector_usage_get(s, &u), 0);
	assert_int_equal(u.used, 500);
	assert_int_equal(gv_sector_fault_calls(s), 0);
	gv_sector_close(s);
	free(data);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_create_and_identity),
		T(test_create_nested_root),
		T(test_lend_is_durable),
		T(test_other_id_refused),
		T(test_missing_root),
		T(test_missing_identity),
		T(test_missing_objects_dir),
		T(test_bad_identity),
		T(test_bad_open_args),
		T(test_second_open_shares),
		T(test_layout),
		T(test_big_write_starts_writeback),
		T(test_tmp_cleaned_partial_kept),
		T(test_oversized_partial_restarts),
		T(test_used_counted_on_open),
		T(test_list_skips_junk),
		T(test_wrong_size_is_corrupt),
		T(test_truncated_while_reading),
		T(test_io_error_reasons),
		T(test_not_regular_is_corrupt),
		T(test_reader_fd),
		T(test_fault_eio_nth),
		T(test_fault_every_call),
		T(test_fault_enospc_commit),
		T(test_fault_commit_keeps_partial),
		T(test_fault_corrupt),
		T(test_fault_hang),
		T(test_fault_passthrough),
	};

	return cmocka_run_group_tests_name("sector fs and fault", tests, group_setup,
	                                   group_teardown);
}
