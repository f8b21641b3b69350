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

static void help(void)
{
	printf("usage: graviton put [--json] [placement options] FILE|-\n"
	       "\n"
	       "Store FILE (or standard input with '-') and print its key on stdout.\n"
	       "Succeeds (exit 0) once min-replicas copies are durable and indexed;\n"
	       "otherwise nothing is kept and the exit code is 69 (EX_UNAVAILABLE).\n"
	       "\n"
	       "  --json           print {key, size, replicas, quorum_met, existed, sectors}\n"
	       "  --strategy S, --factor N, --min-replicas N, --min-racks N, --min-zones N\n"
	       "                   change the cluster's placement settings (kept in the index)\n");
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
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		goto out;
	if ((rc = cli_apply_placement(g, st)) != 0)
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
