/*
 * cmd_get.c - `graviton get KEY [-o FILE] [--range A-B]`.
 *
 * Full reads are verified while streaming.  When a replica turns out bad
 * after bytes were written, the output is rewound and rewritten from the
 * next replica, but only ever back to where this command began writing:
 * see get_out below for what each kind of output allows.  Outputs that
 * cannot be rewound are served with each replica verified before its
 * first byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/aw.h"
#include "cli/cli.h"
#include "cli/client.h"

static void help(void)
{
	printf("usage: graviton get KEY [-o FILE] [--range A-B]\n"
	       "\n"
	       "Write a blob's bytes to stdout (or FILE).  Replicas are tried healthy\n"
	       "first; a full read is checked against the key's SHA-256 and a bad\n"
	       "replica is marked unhealthy and skipped.  A range of a blob up to\n"
	       "8 MiB is served only from a replica verified whole.\n"
	       "\n"
	       "  -o, --output FILE  write to FILE: a new or regular file is replaced\n"
	       "                     atomically on success; a FIFO or device is written\n"
	       "                     into; a symlink is followed (the link stays) and a\n"
	       "                     file with several hard links is rewritten in place,\n"
	       "                     once a replica has been verified; a directory is\n"
	       "                     refused\n"
	       "  --range A-B        only bytes A..B inclusive; also A- and -N (last N)\n"
	       "\n"
	       "A standard output appended to (>>), or a file written in its middle, is\n"
	       "never truncated: the read is verified before its first byte.\n"
	       "A progress bar goes to stderr when it is a terminal and the bytes go\n"
	       "elsewhere (not with -q).\n");
}

/*
 * Where the bytes go, and how far back a failed replica's bytes may be
 * taken:
 *   -o FILE absent, or a regular file with one link: a temporary file
 *           beside it, renamed over it on success (rewound to 0);
 *   -o FILE a symlink or a hard-linked regular file: opened through the
 *           link, truncated once a replica is verified and written in
 *           place (rewound to 0);
 *   stdout  a regular file written at its end, not in append mode:
 *           rewound to the offset it had when the command started;
 *   anything else (FIFO, device, socket, pipe, terminal, a stdout in
 *           append mode or inside a file): written as it comes, never
 *           rewound, so every replica is verified before its first byte.
 */
typedef struct get_out {
	const char *path;       /* -o FILE, or NULL for stdout */
	char tmp[4096];         /* temporary file renamed over path, or "" */
	int fd;
	int rewindable;         /* may be truncated back to start */
	off_t start;
	int trunc_pending;      /* in place: truncate to start before the first byte */
} get_out;

static int out_open(get_out *o, const char *path)
{
	struct stat sb;
	int absent;

	memset(o, 0, sizeof(*o));
	o->path = path;
	o->fd = STDOUT_FILENO;
	if (!path) {
		int fl = fcntl(STDOUT_FILENO, F_GETFL);
		off_t cur = lseek(STDOUT_FILENO, 0, SEEK_CUR);

		o->rewindable = fstat(STDOUT_FILENO, &sb) == 0 && S_ISREG(sb.st_mode) &&
		                fl >= 0 && !(fl & O_APPEND) && cur >= 0 && cur == sb.st_size;
		o->start = o->rewindable ? cur : 0;
		return 0;
	}
	absent = lstat(path, &sb) < 0;
	if (absent && errno != ENOENT) {
		cli_err("get: cannot use %s: %s", path, strerror(errno));
		return EXIT_CANTCREAT;
	}
	if (absent || (S_ISREG(sb.st_mode) && sb.st_nlink == 1)) {
		if (snprintf(o->tmp, sizeof(o->tmp), "%s.graviton-tmp-%ld", path, (long)getpid()) >=
		    (int)sizeof(o->tmp)) {
			o->tmp[0] = '\0';
			cli_err("get: output path too long");
			return EXIT_USAGE;
		}
		o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (o->fd < 0) {
			o->tmp[0] = '\0';
			cli_err("get: cannot create %s: %s", path, strerror(errno));
			return EXIT_CANTCREAT;
		}
		o->rewindable = 1;
		return 0;
	}
	if (S_ISDIR(sb.st_mode)) {
		o->fd = -1;
		cli_err("get: %s is a directory", path);
		return EXIT_CANTCREAT;
	}
	/* A FIFO blocks here until a reader opens it, as for any writer. */
	o->fd = open(path, O_WRONLY | O_CLOEXEC | (S_ISLNK(sb.st_mode) ? O_CREAT : 0), 0644);
	if (o->fd < 0 || fstat(o->fd, &sb) < 0) {
		cli_err("get: cannot open %s: %s", path, strerror(errno));
		return EXIT_CANTCREAT;
	}
	o->rewindable = o->trunc_pending = S_ISREG(sb.st_mode);
	return 0;
}

/* Truncate an in-place target, once the first verified byte is due. */
static int out_begin(get_out *o)
{
	if (!o->trunc_pending)
		return 0;
	o->trunc_pending = 0;
	if (ftruncate(o->fd, o->start) < 0) {
		cli_err("get: cannot truncate %s: %s", o->path, strerror(errno));
		return EXIT_IOERR;
	}
	return 0;
}

/* Take back what a failed replica wrote (writer drained by the caller). */
static int out_rewind(get_out *o)
{
	if (ftruncate(o->fd, o->start) < 0 || lseek(o->fd, o->start, SEEK_SET) < 0) {
		cli_err("get: cannot rewind output: %s", strerror(errno));
		return EXIT_IOERR;
	}
	return 0;
}

/* Close the output; on success (rc 0) put the temporary file in place. */
static int out_close(get_out *o, int rc)
{
	if (o->path && o->fd >= 0) {
		if (close(o->fd) < 0 && rc == 0) {
			cli_err("get: cannot write %s: %s", o->path, strerror(errno));
			rc = EXIT_IOERR;
		}
		o->fd = -1;
	}
	if (rc == 0 && o->tmp[0]) {
		if (rename(o->tmp, o->path) < 0) {
			cli_err("get: cannot rename into %s: %s", o->path, strerror(errno));
			rc = EXIT_CANTCREAT;
		} else {
			o->tmp[0] = '\0';
		}
	}
	if (o->tmp[0])
		unlink(o->tmp);
	return rc;
}

/* ---- --server: GET /v1/blobs/{key} streamed into the async writer ------- */

typedef struct get_sink {
	aw *w;
	get_out *o;
	char *buf;      /* the writer's buffer being filled, or NULL */
	size_t len;
} get_sink;

static int sink_write(const char *p, size_t n, void *payload)
{
	get_sink *s = payload;
	int rc;

	if ((rc = out_begin(s->o)) != 0)
		return rc;
	while (n) {
		size_t k;

		if (!s->buf) {
			s->buf = aw_buffer(s->w);
			s->len = 0;
		}
		k = n < AW_BUFSZ - s->len ? n : AW_BUFSZ - s->len;
		memcpy(s->buf + s->len, p, k);
		s->len += k;
		p += k;
		n -= k;
		if (s->len == AW_BUFSZ) {
			char *full = s->buf;

			s->buf = NULL;
			if (aw_submit(s->w, full, AW_BUFSZ) < 0) {
				cli_err("get: write failed: %s", strerror(errno));
				return EXIT_IOERR;
			}
		}
	}
	return 0;
}

/*
 * The remote read.  The client checks a full read against the key; with a
 * temporary file a bad one never reaches the target, elsewhere the exit
 * status tells (the server verifies blobs up to 8 MiB before sending).
 */
/* A bar on a terminal's stderr while the bytes go elsewhere. */
static void get_progress(cli_progress *p, const cli_globals *g, const get_out *o)
{
	cli_progress_init(p, "get", g->quiet || isatty(o->fd));
}

static int get_remote(cli_globals *g, const gv_key *key, const gv_get_opts *opts, get_out *o)
{
	cli_client *c = NULL;
	get_sink s = { NULL, o, NULL, 0 };
	cli_progress prog;
	int rc;

	if ((rc = cli_client_open(&c, g, "get")) != 0)
		return rc;
	get_progress(&prog, g, o);
	cli_client_set_progress(c, &prog);
	s.w = aw_open(o->fd);
	if (!s.w) {
		rc = cli_fail(GV_ENOMEM, "get");
		goto out;
	}
	rc = cli_client_get_blob(c, key, opts->has_range, opts->start, opts->end, sink_write, &s);
	if (rc == 0)
		rc = out_begin(o);
	if (rc == 0 && s.buf && s.len && aw_submit(s.w, s.buf, s.len) < 0) {
		cli_err("get: write failed: %s", strerror(errno));
		rc = EXIT_IOERR;
	}
	if (aw_close(s.w) < 0 && rc == 0) {
		cli_err("get: write failed: %s", strerror(errno));
		rc = EXIT_IOERR;
	}
out:
	cli_progress_done(&prog);
	cli_client_free(c);
	return rc;
}

static int get_local(cli_globals *g, const gv_key *key, gv_get_opts *opts, get_out *o)
{
	gv_store *st = NULL;
	gv_get *get = NULL;
	aw *writer = NULL;
	cli_progress prog;
	uint64_t done = 0;
	int rc, err;

	get_progress(&prog, g, o);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	opts->verify_first = !o->rewindable || o->trunc_pending;
	err = gv_get_open(&get, st, key, opts);
	if (err < 0) {
		rc = cli_fail(err, "get");
		goto out;
	}
	if ((rc = out_begin(o)) != 0)
		goto out;
	writer = aw_open(o->fd);
	if (!writer) {
		rc = cli_fail(GV_ENOMEM, "get");
		goto out;
	}
	for (;;) {
		char *buf = aw_buffer(writer);
		ssize_t n = gv_get_read(get, buf, AW_BUFSZ);

		if (n == GV_ERESTART && o->rewindable) {
			if (aw_drain(writer) < 0) {
				cli_err("get: write failed: %s", strerror(errno));
				rc = EXIT_IOERR;
				goto out;
			}
			if ((rc = out_rewind(o)) != 0)
				goto out;
			done = 0;
			continue;
		}
		if (n < 0) {
			rc = cli_fail((int)n, "get");
			goto out;
		}
		if (n == 0)
			break;
		if (aw_submit(writer, buf, (size_t)n) < 0) {
			cli_err("get: write failed: %s", strerror(errno));
			rc = EXIT_IOERR;
			goto out;
		}
		done += (uint64_t)n;
		cli_progress_update(&prog, done, gv_get_length(get), 0, 0);
	}
	err = aw_close(writer);
	writer = NULL;
	if (err < 0) {
		cli_err("get: write failed: %s", strerror(errno));
		rc = EXIT_IOERR;
	}
out:
	cli_progress_done(&prog);
	aw_close(writer);
	gv_get_close(get);
	gv_store_free(st);
	return rc;
}

int cmd_get(cli_globals *g, int argc, char **argv)
{
	const char *keystr = NULL, *path = NULL, *range = NULL;
	gv_get_opts opts = GV_GET_OPTS_INIT;
	get_out o;
	gv_key key;
	int i, rc;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--range") == 0 && i + 1 < argc) {
			range = argv[++i];
		} else if (strncmp(argv[i], "--range=", 8) == 0) {
			range = argv[i] + 8;
		} else if (argv[i][0] != '-' && !keystr) {
			keystr = argv[i];
		} else {
			cli_err("get: unexpected argument '%s' (see 'graviton get --help')", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!keystr) {
		cli_err("get: missing KEY");
		return EXIT_USAGE;
	}
	if ((rc = cli_parse_key(&key, keystr)) != 0)
		return rc;
	if (range) {
		gv_range r;

		if (gv_range_parse(&r, range, key.size) < 0) {
			cli_err("get: %s", gv_error_last());
			return EXIT_DATAERR;
		}
		opts.has_range = 1;
		opts.start = r.start;
		opts.end = r.end;
	}
	if ((rc = out_open(&o, path)) != 0)
		return out_close(&o, rc);
	rc = g->server ? get_remote(g, &key, &opts, &o) : get_local(g, &key, &opts, &o);
	return out_close(&o, rc);
}
