/*
 * replay_main.c - run a fuzz target over saved inputs without libFuzzer.
 *
 * Usage: <name>_fuzzer PATH...   (each PATH a file or a directory of files)
 *
 * Every regular file named, and every regular file directly inside a named
 * directory (in name order, dot files skipped), is read whole and passed
 * once to LLVMFuzzerTestOneInput.  This lets the corpus run as an ordinary
 * test under any compiler; a crash or abort() in the target fails it.
 * Exit status: 0 when every path could be read, 1 otherwise, 2 on usage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are refused rather than read. */
#define REPLAY_MAX_INPUT (64u * 1024 * 1024)

static int run_file(const char *path, size_t *ran)
{
	FILE *f;
	struct stat st;
	uint8_t *buf;
	size_t len;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uintmax_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: not a regular file of at most %u bytes\n", path,
		        REPLAY_MAX_INPUT);
		fclose(f);
		return -1;
	}
	len = (size_t)st.st_size;
	/* Exactly len bytes, so ASan sees a read past the end of the input. */
	buf = malloc(len ? len : 1);
	if (!buf) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		fclose(f);
		return -1;
	}
	if (len && fread(buf, 1, len, f) != len) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	(*ran)++;
	return 0;
}

static int dot_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int run_dir(const char *dir, size_t *ran)
{
	struct dirent **names;
	int n, i, failed = 0;

	n = scandir(dir, &names, dot_filter, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		size_t plen = strlen(dir) + strlen(names[i]->d_name) + 2;
		char *path = malloc(plen);
		struct stat st;

		if (!path) {
			fprintf(stderr, "replay: out of memory\n");
			failed = 1;
		} else {
			snprintf(path, plen, "%s/%s", dir, names[i]->d_name);
			if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
				; /* corpora are flat; nested directories are ignored */
			else if (run_file(path, ran) < 0)
				failed = 1;
			free(path);
		}
		free(names[i]);
	}
	free(names);
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	size_t ran = 0;
	int i, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			failed = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &ran) < 0)
				failed = 1;
		} else if (run_file(argv[i], &ran) < 0) {
			failed = 1;
		}
	}
	printf("replay: ran %zu inputs%s\n", ran, failed ? ", some paths unreadable" : "");
	return failed ? 1 : 0;
}
