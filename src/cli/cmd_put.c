/*
 * cmd_put.c - `graviton put FILE|-`: store bytes, print the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "graviton/namespace.h"
#include "graviton/wire.h"

static void help(void)
{
	printf("usage: graviton put [--json] [placement options] FILE|-\n"
	       "\n"
	       "Store FILE (or standard input with '-', from where it stands) and print\n"
	       "its key on stdout.  The blob is kept (pinned) until 'graviton rm KEY'.\n"
	       "Succeeds (exit 0) once min-replicas copies are durable and indexed;\n"
	       "otherwise nothing is kept and the exit code is 69 (EX_UNAVAILABLE).\n"
	       "A progress bar goes to stderr when it is a terminal (not with -q or --json).\n"
	       "\n"
	       "  --json           print {key, size, replicas: [sector...], replica_count,\n"
	       "                   quorum_met, existed}, or an error document (docs/http-api.md)\n"
	       "  --strategy S, --factor N, --min-replicas N, --min-racks N, --min-zones N\n"
	       "                   change the cluster's placement settings (kept in the index)\n");
}

static void put_progress(uint64_t done, uint64_t total, void *payload)
{
	cli_progress_update(payload, done, total, 0, 0);
}

/* PUT /v1/blobs from fd; prints what the local command prints. */
static int put_remote(cli_globals *g, int fd, int json)
{
	cli_client *c = NULL;
	cli_progress prog;
	json_t *doc = NULL;
	int64_t size = -1;
	struct stat sb;
	off_t pos;
	int rc;

	/* A regular file (or stdin redirected from one) has a known length:
	 * Content-Length; anything else goes chunked. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (pos = lseek(fd, 0, SEEK_CUR)) >= 0 &&
	    pos <= sb.st_size)
		size = (int64_t)(sb.st_size - pos);
	if ((rc = cli_client_open(&c, g, "put")) != 0)
		return rc;
	cli_progress_init(&prog, "put", g->quiet || json);
	cli_client_set_progress(c, &prog);
	rc = cli_client_put(c, fd, size, &doc);
	cli_progress_done(&prog);
	cli_client_free(c);
	if (rc != 0)
		return rc;
	if (json)
		return cli_print_json(doc);
	printf("%s\n", json_string_value(json_object_get(doc, "key")));
	json_decref(doc);
	return fflush(stdout) == 0 ? 0 : EXIT_IOERR;
}

int cmd_put(cli_globals *g, int argc, char **argv)
{
	const char *path = NULL;
	gv_put_result res;
	gv_store *st = NULL;
	cli_progress prog;
	struct stat sb;
	int i, r, fd = -1, json = 0, rc, err;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if ((r = cli_placement_flag(g, argc, argv, &i)) != 0) {
			if (r < 0)
				return EXIT_USAGE;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			cli_json_errors(1);
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !path) {
			path = argv[++i];
		} else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !path) {
			path = argv[i];
		} else {
			cli_err("put: unexpected argument '%s' (see 'graviton put --help')", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (!path) {
		cli_err("put: missing FILE (use '-' for standard input)");
		return EXIT_USAGE;
	}
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_err("put: cannot open %s: %s", path, strerror(errno));
			return errno == ENOENT ? EXIT_NOINPUT : EXIT_IOERR;
		}
		if (fstat(fd, &sb) < 0 || S_ISDIR(sb.st_mode)) {
			cli_err("put: %s is a directory", path);
			close(fd);
			return EXIT_DATAERR;
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	if (g->server) {
		if (g->placement_set) {
			cli_err("put: placement options change the cluster's settings, which --server "
			        "cannot do; set graviton.replication.* in the server's configuration");
			rc = EXIT_USAGE;
		} else {
			rc = put_remote(g, fd, json);
		}
		goto out;
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		goto out;
	cli_progress_init(&prog, "put", g->quiet || json);
	err = gv_put_fd_progress(st, fd, &res, put_progress, &prog);
	cli_progress_done(&prog);
	if (err == 0)
		err = gv_ns_pin(st, &res.key); /* kept until `graviton rm KEY` */
	if (err < 0) {
		rc = cli_fail(err, "put");
		goto out;
	}
	if (json) {
		rc = cli_print_json(cli_doc(gv_wire_put_result(&res)));
	} else {
		char kbuf[GV_KEY_BUFSIZE];

		printf("%s\n", gv_key_format(kbuf, &res.key));
		rc = fflush(stdout) == 0 ? 0 : EXIT_IOERR;
	}
out:
	if (fd > STDIN_FILENO)
		close(fd);
	gv_store_free(st);
	return rc;
}
