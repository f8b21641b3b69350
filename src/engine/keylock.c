/*
 * keylock.c - one key at a time: an exclusive lock per content key.
 *
 * Recording a replica, dropping one, deleting a blob and undoing a failed
 * put all decide on the strength of "which rows exist for this key", and
 * then act on bytes.  Two such decisions for one key must not interleave,
 * or one of them deletes bytes the other has just recorded.  The lock
 * orders them, within this process and across every process that opens
 * the same data directory:
 *
 *   - threads of this process wait on a table of the keys held here;
 *   - processes take the index's own key lock when it has one (an index
 *     several gateways with data directories of their own share:
 *     PostgreSQL's advisory locks), else an open-file-description lock
 *     (F_OFD_SETLKW) on one byte of DIR/keys.lock, at an offset taken
 *     from the key's digest (the processes that share a SQLite index
 *     share its data directory).  Both belong to a connection or an open
 *     file, not the thread, which is why the in-process table comes
 *     first; OFD locks have no false deadlock reports between threads of
 *     two processes, unlike classic POSIX locks.
 *
 * A process that cannot open the lock file (a read-only data directory)
 * still orders its own threads.  A thread holds at most one key at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "engine/store.h"

/* 47 bits of the digest: distinct keys practically never share a byte. */
static off_t key_offset(const gv_key *key)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 6; i++)
		v = (v << 8) | key->digest[i];
	return (off_t)(v >> 1);
}

static int held_index(const gv_store *st, const gv_key *key)
{
	size_t i;

	for (i = 0; i < st->keylock_n; i++)
		if (gv_key_cmp(&st->keylock_held[i], key) == 0)
			return (int)i;
	return -1;
}

int gv_keylock_init(gv_store *st)
{
	char path[GV_PATH_MAX];

	pthread_mutex_init(&st->keylock_mu, NULL);
	pthread_cond_init(&st->keylock_cv, NULL);
	st->keylock_fd = -1;
	st->keylock_ready = 1;
	if (snprintf(path, sizeof(path), "%s/keys.lock", st->data_dir) >= (int)sizeof(path))
		return gv_error_set(GV_EINVAL, "data directory path too long");
	st->keylock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->keylock_fd < 0)
		gv_debug("event=keylock_local_only path=%s error=\"%s\"", path, strerror(errno));
	return 0;
}

void gv_keylock_destroy(gv_store *st)
{
	if (!st->keylock_ready)
		return;
	st->keylock_ready = 0;
	if (st->keylock_fd >= 0)
		close(st->keylock_fd);
	st->keylock_fd = -1;
	free(st->keylock_held);
	st->keylock_held = NULL;
	pthread_cond_destroy(&st->keylock_cv);
	pthread_mutex_destroy(&st->keylock_mu);
}

static int ofd_lock(int fd, const gv_key *key, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = key_offset(key);
	fl.l_len = 1;
	while (fcntl(fd, type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW, &fl) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void unlock_local(gv_store *st, const gv_key *key)
{
	int i;

	pthread_mutex_lock(&st->keylock_mu);
	i = held_index(st, key);
	if (i >= 0)
		st->keylock_held[i] = st->keylock_held[--st->keylock_n];
	pthread_cond_broadcast(&st->keylock_cv);
	pthread_mutex_unlock(&st->keylock_mu);
}

int gv_key_lock(gv_store *st, const gv_key *key)
{
	int rc;

	pthread_mutex_lock(&st->keylock_mu);
	while (held_index(st, key) >= 0)
		pthread_cond_wait(&st->keylock_cv, &st->keylock_mu);
	if (st->keylock_n == st->keylock_cap) {
		size_t cap = st->keylock_cap ? st->keylock_cap * 2 : 32;
		gv_key *nh = realloc(st->keylock_held, cap * sizeof(*nh));

		if (!nh) {
			pthread_mutex_unlock(&st->keylock_mu);
			return gv_error_set(GV_ENOMEM, "out of memory");
		}
		st->keylock_held = nh;
		st->keylock_cap = cap;
	}
	st->keylock_held[st->keylock_n++] = *key;
	pthread_mutex_unlock(&st->keylock_mu);

	/* The index's lock waits as long as a write may. */
	if ((rc = gv_index_key_lock(st->ix, key, st->write_timeout_ms)) < 0) {
		unlock_local(st, key);
		return rc;
	}
	if (rc == 0 && st->keylock_fd >= 0 &&
	    (rc = ofd_lock(st->keylock_fd, key, F_WRLCK)) < 0) {
		unlock_local(st, key);
		return gv_error_set_errno(GV_EIO, -rc, "cannot lock key");
	}
	return 0;
}

void gv_key_unlock(gv_store *st, const gv_key *key)
{
	/* Each does nothing when the other lock was the one taken. */
	gv_index_key_unlock(st->ix, key);
	if (st->keylock_fd >= 0)
		ofd_lock(st->keylock_fd, key, F_UNLCK);
	unlock_local(st, key);
}
