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

static void help(void)
{
	printf("usage: graviton put [--json] [placement options] FILE|-\n"
	       "\n"
	       "Store FILE (or standard input with '-', from where it stands) and print\n"
	       "its key on stdout.\n"
	       "Succeeds (exit 0) once min-replicas copies are durable and indexed;\n"
	       "otherwise nothing is kept and the exit code is 69 (EX_UNAVAILABLE).\n"
	       "\n"
	       "  --json           print {key, size, replicas, quorum_met, existed, sectors}\n"
	       "  --strategy S, --factor N, --min-replicas N, --min-racks N, --min-zones N\n"
	       "                   change the cluster's placement settings (kept in the index)\n");
}

/*
 * The server's answer {key, size, replicas: [sector...], replica_count,
 * quorum_met, existed} in the local command's shape {key, size, replicas:
 * count, quorum_met, existed, sectors}.  Takes doc.
 */
static json_t *local_shape(json_t *doc)
{
	json_t *o = json_object(), *secs = json_object_get(doc, "replicas");
	json_t *count = json_object_get(doc, "replica_count");
	json_t *v;

	if (!json_is_array(secs))
		secs = NULL;
	v = json_object_get(doc, "key");
	json_object_set(o, "key", v ? v : json_null());
	v = json_object_get(doc, "size");
	json_object_set(o, "size", v ? v : json_null());
	json_object_set_new(o, "replicas", json_integer(json_is_integer(count)
	                                                        ? json_integer_value(count)
	                                                        : (json_int_t)json_array_size(secs)));
	v = json_object_get(doc, "quorum_met");
	json_object_set(o, "quorum_met", v ? v : json_null());
	v = json_object_get(doc, "existed");
	json_object_set(o, "existed", v ? v : json_null());
	json_object_set_new(o, "sectors", secs ? json_incref(secs) : json_array());
	json_decref(doc);
	return o;
}

/* PUT /v1/blobs from fd; prints what the local command prints. */
static int put_remote(cli_globals *g, int fd, int json)
{
	cli_client *c = NULL;
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
	rc = cli_client_put(c, fd, size, &doc);
	cli_client_free(c);
	if (rc != 0)
		return rc;
	if (json)
		return cli_print_json(local_shape(doc));
	printf("%s\n", json_string_value(json_object_get(doc, "key")));
	json_decref(doc);
	return fflush(stdout) == 0 ? 0 : EXIT_IOERR;
}

int cmd_put(cli_globals *g, int argc, char **argv)
{
	const char *path = NULL;
	gv_put_result res;
	gv_store *st = NULL;
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
	err = gv_put_fd(st, fd, &res);
	if (err < 0) {
		rc = cli_fail(err, "put");
		goto out;
	}
	if (json) {
		char kbuf[GV_KEY_BUFSIZE];
		json_t *o = json_object(), *secs = json_array();

		for (i = 0; i < res.replicas && i < 8; i++)
			json_array_append_new(secs, json_string(res.sectors[i]));
		json_object_set_new(o, "key", json_string(gv_key_format(kbuf, &res.key)));
		json_object_set_new(o, "size", json_integer((json_int_t)res.key.size));
		json_object_set_new(o, "replicas", json_integer(res.replicas));
		json_object_set_new(o, "quorum_met", json_boolean(res.quorum_met));
		json_object_set_new(o, "existed", json_boolean(res.existed));
		json_object_set_new(o, "sectors", secs);
		rc = cli_print_json(o);
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
