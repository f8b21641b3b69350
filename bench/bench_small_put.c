/*
 * bench_small_put.c - rate of small puts (4 KiB, factor 3) in process,
 * against the floor of creating 3 durable files per blob in a plain loop
 * (write, fsync, rename, fsync dir) on the same filesystem.
 *
 * usage: bench_small_put DIR [COUNT]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graviton/graviton.h"

#define BLOB 4096

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(unsigned char *buf, unsigned long i)
{
	unsigned long x = i * 0x9e3779b97f4a7c15UL + 1;
	size_t k;

	for (k = 0; k < BLOB; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[k] = (unsigned char)x;
	}
}

static int durable_file(const char *dir, unsigned long i, const unsigned char *buf)
{
	char tmp[8192], dst[8192];
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s/tmp-%lu", dir, i);
	snprintf(dst, sizeof(dst), "%s/blob-%lu", dir, i);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, BLOB) != BLOB || fsync(fd) < 0 || close(fd) < 0)
		return -1;
	if (rename(tmp, dst) < 0)
		return -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || fsync(dfd) < 0)
		return -1;
	close(dfd);
	return 0;
}

int main(int argc, char **argv)
{
	gv_store_opts opts = GV_STORE_OPTS_INIT;
	unsigned char buf[BLOB];
	char path[2048];
	unsigned long n = 5000, i;
	gv_store *st;
	double t0, floor_s, gv_s;
	int j;

	if (argc < 2 || strlen(argv[1]) > 1024) {
		fprintf(stderr, "usage: bench_small_put DIR [COUNT]\n");
		return 64;
	}
	if (argc > 2)
		n = strtoul(argv[2], NULL, 10);

	/* Floor: three durable files per blob, one directory per copy. */
	mkdir(argv[1], 0755);
	for (j = 0; j < 3; j++) {
		snprintf(path, sizeof(path), "%s/floor%d", argv[1], j);
		mkdir(path, 0755);
	}
	t0 = now();
	for (i = 0; i < n; i++) {
		fill(buf, i);
		for (j = 0; j < 3; j++) {
			snprintf(path, sizeof(path), "%s/floor%d", argv[1], j);
			if (durable_file(path, i, buf) < 0) {
				perror("floor");
				return 1;
			}
		}
	}
	floor_s = now() - t0;

	snprintf(path, sizeof(path), "%s/store", argv[1]);
	opts.data_dir = path;
	opts.create = 1;
	if (gv_store_open(&st, &opts) < 0) {
		fprintf(stderr, "open: %s\n", gv_error_last());
		return 1;
	}
	for (j = 0; j < 6; j++) {
		gv_sector_info info;

		memset(&info, 0, sizeof(info));
		snprintf(info.id, sizeof(info.id), "s%02d", j + 1);
		snprintf(info.kind, sizeof(info.kind), "fs");
		snprintf(info.path, sizeof(info.path), "%s/store/sectors/s%02d", argv[1], j + 1);
		snprintf(info.rack, sizeof(info.rack), "rack-%d", j % 3 + 1);
		snprintf(info.zone, sizeof(info.zone), "zone-%d", j % 3 + 1);
		if (gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE) < 0) {
			fprintf(stderr, "sector add: %s\n", gv_error_last());
			return 1;
		}
	}
	t0 = now();
	for (i = 0; i < n; i++) {
		gv_put_opts po = GV_PUT_OPTS_INIT;
		gv_put_result res;
		gv_put *put;

		fill(buf, i + 1000000000UL);
		po.size_hint = BLOB;
		if (gv_put_open(&put, st, &po) < 0 || gv_put_write(put, buf, BLOB) < 0 ||
		    gv_put_commit(put, &res) < 0) {
			fprintf(stderr, "put %lu: %s\n", i, gv_error_last());
			return 1;
		}
	}
	gv_store_free(st); /* waits for the last background copies */
	gv_s = now() - t0;

	printf("small puts: %lu x 4 KiB, factor 3\n", n);
	printf("  floor (3 durable files per blob): %8.1f blobs/s (%.2f s)\n", n / floor_s, floor_s);
	printf("  graviton put (in process):        %8.1f blobs/s (%.2f s)\n", n / gv_s, gv_s);
	printf("  ratio: %.2f (target >= 0.70)\n", floor_s / gv_s);
	return 0;
}
