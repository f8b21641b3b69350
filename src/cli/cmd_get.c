/*
 * cmd_get.c - `graviton get KEY [-o FILE] [--range A-B]`.
 *
 * Full reads are verified while streaming.  When a replica turns out bad
 * after bytes were written, the output is rewound and rewritten from the
 * next replica; so -o FILE goes through a temporary file renamed into
 * place on success, and a stdout that cannot be rewound (pipe, terminal)
 * is served with each replica verified before its first byte.
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
	       "replica is marked unhealthy and skipped.\n"
	       "\n"
	       "  -o, --output FILE  write to FILE (replaced atomically on success)\n"
	       "  --range A-B        only bytes A..B inclusive; also A- and -N (last N)\n");
}

/* ---- --server: GET /v1/blobs/{key} streamed into the async writer ------- */

typedef struct get_sink {
	aw *w;
	char *buf;      /* the writer's buffer being filled, or NULL */
	size_t len;
} get_sink;

static int sink_write(const char *p, size_t n, void *payload)
{
	get_sink *s = payload;

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
 * The remote read: into stdout, or into tmp renamed over out on success.
 * The client checks a full read against the key; a bad one never reaches
 * out (on stdout the exit status tells).
 */
static int get_remote(cli_globals *g, const gv_key *key, const gv_get_opts *opts,
                      const char *out, char *tmp)
{
	cli_client *c = NULL;
	get_sink s = { NULL, NULL, 0 };
	int fd = STDOUT_FILENO, rc;

	if ((rc = cli_client_open(&c, g, "get")) != 0)
		return rc;
	if (out) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			cli_err("get: cannot create %s: %s", out, strerror(errno));
			cli_client_free(c);
			return EXIT_CANTCREAT;
		}
	}
	s.w = aw_open(fd);
	if (!s.w) {
		rc = cli_fail(GV_ENOMEM, "get");
		goto out;
	}
	rc = cli_client_get_blob(c, key, opts->has_range, opts->start, opts->end, sink_write, &s);
	if (rc == 0 && s.buf && s.len && aw_submit(s.w, s.buf, s.len) < 0) {
		cli_err("get: write failed: %s", strerror(errno));
		rc = EXIT_IOERR;
	}
	if (aw_close(s.w) < 0 && rc == 0) {
		cli_err("get: write failed: %s", strerror(errno));
		rc = EXIT_IOERR;
	}
	if (rc == 0 && out) {
		int e = close(fd);

		fd = -1;
		if (e < 0) {
			cli_err("get: cannot write %s: %s", out, strerror(errno));
			rc = EXIT_IOERR;
		} else if (rename(tmp, out) < 0) {
			cli_err("get: cannot rename into %s: %s", out, strerror(errno));
			rc = EXIT_CANTCREAT;
		} else {
			tmp[0] = '\0';
		}
	}
out:
	if (out && fd >= 0)
		close(fd);
	if (out && tmp[0])
		unlink(tmp);
	cli_client_free(c);
	return rc;
}

int cmd_get(cli_globals *g, int argc, char **argv)
{
	const char *keystr = NULL, *out = NULL, *range = NULL;
	gv_get_opts opts = GV_GET_OPTS_INIT;
	char tmp[4096] = "";
	gv_store *st = NULL;
	gv_get *get = NULL;
	struct stat sb;
	aw *writer = NULL;
	gv_key key;
	int i, fd = STDOUT_FILENO, rc, err, rewindable;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
			out = argv[++i];
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
	if (out) {
		if (snprintf(tmp, sizeof(tmp), "%s.graviton-tmp-%ld", out, (long)getpid()) >=
		    (int)sizeof(tmp)) {
			cli_err("get: output path too long");
			return EXIT_USAGE;
		}
	}
	if (g->server)
		return get_remote(g, &key, &opts, out, tmp);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if (out) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			cli_err("get: cannot create %s: %s", out, strerror(errno));
			rc = EXIT_CANTCREAT;
			goto out;
		}
	}
	rewindable = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	             lseek(fd, 0, SEEK_CUR) == 0;
	opts.verify_first = !rewindable;
	err = gv_get_open(&get, st, &key, &opts);
	if (err < 0) {
		rc = cli_fail(err, "get");
		goto out;
	}
	writer = aw_open(fd);
	if (!writer) {
		rc = cli_fail(GV_ENOMEM, "get");
		goto out;
	}
	for (;;) {
		char *buf = aw_buffer(writer);
		ssize_t n = gv_get_read(get, buf, AW_BUFSZ);

		if (n == GV_ERESTART && rewindable) {
			if (aw_drain(writer) < 0 || ftruncate(fd, 0) < 0 ||
			    lseek(fd, 0, SEEK_SET) < 0) {
				cli_err("get: cannot rewind output: %s", strerror(errno));
				rc = EXIT_IOERR;
				goto out;
			}
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
	}
	if (aw_close(writer) < 0) {
		writer = NULL;
		cli_err("get: write failed: %s", strerror(errno));
		rc = EXIT_IOERR;
		goto out;
	}
	writer = NULL;
	if (out) {
		if (close(fd) < 0) {
			fd = -1;
			cli_err("get: cannot write %s: %s", out, strerror(errno));
			rc = EXIT_IOERR;
			goto out;
		}
		fd = -1;
		if (rename(tmp, out) < 0) {
			cli_err("get: cannot rename into %s: %s", out, strerror(errno));
			rc = EXIT_CANTCREAT;
			goto out;
		}
		tmp[0] = '\0';
	}
	rc = 0;
out:
	aw_close(writer);
	if (out && fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	gv_get_close(get);
	gv_store_free(st);
	return rc;
}
