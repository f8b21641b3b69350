/*
 * servelock.c - the data directory's serve lock (DIR/serve.lock).
 *
 * One daemon per data directory: two would run their repair and rebalance
 * loops over the same replicas.  An index rebuild takes the same lock, so
 * it never replaces the index under a running server (which would keep
 * writing to the unlinked file), and no server starts while it runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine/store.h"

int gv_serve_lock(const char *data_dir, int *fd_out)
{
	char path[GV_PATH_MAX + 16];
	int fd, err;

	*fd_out = -1;
	if (!data_dir || !*data_dir)
		return gv_error_set(GV_EINVAL, "no data directory given");
	if (snprintf(path, sizeof(path), "%s/serve.lock", data_dir) >= (int)sizeof(path))
		return gv_error_set(GV_EINVAL, "data directory path too long");
	/* The lock is the first thing a daemon creates in its directory. */
	if ((err = gv_mkdir_p(data_dir)) < 0)
		return err;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return gv_error_set_errno(GV_EIO, errno, "cannot open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return gv_error_set(GV_EBUSY, "a graviton serve is running on %s", data_dir);
		return gv_error_set_errno(GV_EIO, e, "cannot lock %s", path);
	}
	*fd_out = fd;
	return 0;
}

void gv_serve_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
