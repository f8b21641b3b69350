/*
 * cmd_ns.c - the namespace from the command line (docs/namespace.md):
 * `graviton ls`, `rm`, `cp`, `cat`, `gc` and `forget`.
 *
 * Raw blobs (ls with no argument, rm KEY) and gc also work with --server
 * (GET /v1/blobs?after=&limit=, DELETE /v1/blobs/{key}, POST /v1/gc); the
 * names work on the data directory (a server's are reached through its S3
 * API).  --json prints the documents of graviton/wire.h, the server's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "graviton/config.h"
#include "graviton/namespace.h"
#include "graviton/wire.h"

#define LS_LIMIT_DEFAULT 1000
#define LS_LIMIT_MAX 10000

/* "BUCKET/NAME" (name required) or "BUCKET[/PREFIX]": split into b (cap
 * GV_BUCKET_MAX) and the rest.  0, or EXIT_USAGE reported. */
static int split_target(const char *cmd, const char *t, char *b, const char **rest, int need_name)
{
	const char *slash = strchr(t, '/');
	size_t n = slash ? (size_t)(slash - t) : strlen(t);

	if (n == 0 || n >= GV_BUCKET_MAX) {
		cli_err("%s: '%s' is not BUCKET%s", cmd, t, need_name ? "/NAME" : "[/PREFIX]");
		return EXIT_USAGE;
	}
	memcpy(b, t, n);
	b[n] = '\0';
	*rest = slash ? slash + 1 : "";
	if (need_name && !**rest) {
		cli_err("%s: '%s' names no object: expected BUCKET/NAME", cmd, t);
		return EXIT_USAGE;
	}
	return 0;
}

/* --server is for raw blobs and gc only. */
static int names_local(cli_globals *g, const char *cmd)
{
	if (!g->server)
		return 0;
	cli_err("%s: names live in the data directory; a server's are reached through its S3 "
	        "API (docs/s3.md)", cmd);
	return EXIT_USAGE;
}

/* ---- ls ------------------------------------------------------------------- */

static void help_ls(void)
{
	printf("usage: graviton ls [--after KEY] [--limit N] [--json]      stored blobs, by key\n"
	       "       graviton ls --buckets [--json]                      buckets\n"
	       "       graviton ls BUCKET[/PREFIX] [--after NAME] [--limit N] [--json]\n"
	       "\n"
	       "List one page (--limit, default %d, at most %d) of the raw keys, or of\n"
	       "the names in BUCKET starting with PREFIX, in byte order after --after.\n"
	       "When more follow, the next page's --after value is printed on stderr\n"
	       "(--json: the document's \"next\").  With --server URL: raw keys only.\n",
	       LS_LIMIT_DEFAULT, LS_LIMIT_MAX);
}

static int ls_keys_remote(cli_globals *g, const char *after, size_t limit, int json)
{
	char path[64 + GV_KEY_BUFSIZE];
	cli_client *c = NULL;
	json_t *doc = NULL, *k;
	size_t i;
	int rc;

	if ((rc = cli_client_open(&c, g, "ls")) != 0)
		return rc;
	snprintf(path, sizeof(path), "/v1/blobs?limit=%zu%s%s", limit, after ? "&after=" : "",
	         after ? after : "");
	rc = cli_client_json(c, "GET", path, &doc, NULL);
	cli_client_free(c);
	if (rc != 0)
		return rc;
	if (json)
		return cli_print_json(doc);
	json_array_foreach(json_object_get(doc, "keys"), i, k)
		printf("%s\n", json_string_value(k));
	if (json_is_string(json_object_get(doc, "next")))
		cli_err("ls: more keys follow: --after %s",
		        json_string_value(json_object_get(doc, "next")));
	json_decref(doc);
	return fflush(stdout) == 0 ? 0 : EXIT_IOERR;
}

static int ls_keys(gv_store *st, const char *after, size_t limit, int json)
{
	char kbuf[GV_KEY_BUFSIZE];
	gv_key a, *keys = NULL;
	size_t n = 0, i;
	int err, more = 0, rc;

	if (after && (rc = cli_parse_key(&a, after)) != 0)
		return rc;
	if ((err = gv_ns_blob_list(st, after ? &a : NULL, limit, &keys, &n, &more)) < 0)
		return cli_fail(err, "ls");
	if (json) {
		rc = cli_print_text(gv_wire_key_page(keys, n, more));
	} else {
		for (i = 0; i < n; i++)
			printf("%s\n", gv_key_format(kbuf, &keys[i]));
		if (more)
			cli_err("ls: more keys follow: --after %s", gv_key_format(kbuf, &keys[n - 1]));
		rc = fflush(stdout) == 0 ? 0 : EXIT_IOERR;
	}
	free(keys);
	return rc;
}

static int ls_buckets(gv_store *st, int json)
{
	gv_bucket_info *b = NULL;
	size_t n = 0, i;
	int err, rc;

	if ((err = gv_ns_bucket_list(st, &b, &n)) < 0)
		return cli_fail(err, "ls");
	if (json) {
		rc = cli_print_text(gv_wire_buckets(b, n));
	} else {
		for (i = 0; i < n; i++)
			printf("%s\n", b[i].name);
		rc = fflush(stdout) == 0 ? 0 : EXIT_IOERR;
	}
	free(b);
	return rc;
}

static int ls_names(gv_store *st, const char *target, const char *after, size_t limit, int json)
{
	char bucket[GV_BUCKET_MAX], sbuf[32];
	const char *prefix;
	gv_object *v = NULL;
	size_t n = 0, i;
	int err, more = 0, rc;

	if ((rc = split_target("ls", target, bucket, &prefix, 0)) != 0)
		return rc;
	if ((err = gv_ns_object_list(st, bucket, prefix, after, limit, &v, &n, &more)) < 0)
		return cli_fail(err, "ls");
	if (json) {
		rc = cli_print_text(gv_wire_objects(bucket, prefix, v, n, more));
	} else {
		for (i = 0; i < n; i++)
			printf("%10s  %s\n", gv_size_format(sbuf, sizeof(sbuf), v[i].size), v[i].name);
		if (more)
			cli_err("ls: more names follow: --after '%s'", v[n - 1].name);
		rc = fflush(stdout) == 0 ? 0 : EXIT_IOERR;
	}
	gv_object_list_free(v, n);
	return rc;
}

int cmd_ls(cli_globals *g, int argc, char **argv)
{
	const char *target = NULL, *after = NULL;
	unsigned long long limit = LS_LIMIT_DEFAULT;
	gv_store *st = NULL;
	int i, json = cli_wants_json(argc, argv), buckets = 0, rc;
	char *end;

	if (cli_wants_help(argc, argv)) {
		help_ls();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cli_json_errors(1);
		} else if (strcmp(argv[i], "--buckets") == 0) {
			buckets = 1;
		} else if (strcmp(argv[i], "--after") == 0 && i + 1 < argc) {
			after = argv[++i];
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			limit = strtoull(argv[++i], &end, 10);
			if (*end || limit == 0 || limit > LS_LIMIT_MAX) {
				cli_err("ls: --limit must be 1 to %d", LS_LIMIT_MAX);
				return cli_usage_done(EXIT_USAGE, json);
			}
		} else if (!target && argv[i][0] != '-') {
			target = argv[i];
		} else {
			cli_err("ls: unexpected argument '%s' (see 'graviton ls --help')", argv[i]);
			return cli_usage_done(EXIT_USAGE, json);
		}
	}
	if (buckets && target) {
		cli_err("ls: --buckets takes no BUCKET");
		return cli_usage_done(EXIT_USAGE, json);
	}
	if (!target && !buckets && g->server)
		return ls_keys_remote(g, after, (size_t)limit, json);
	if ((rc = names_local(g, "ls")) != 0)
		return cli_usage_done(rc, json);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	rc = buckets  ? ls_buckets(st, json)
	     : target ? ls_names(st, target, after, (size_t)limit, json)
	              : ls_keys(st, after, (size_t)limit, json);
	gv_store_free(st);
	return rc;
}

/* ---- rm ------------------------------------------------------------------- */

static void help_rm(void)
{
	printf("usage: graviton rm KEY [--json]\n"
	       "       graviton rm BUCKET/NAME [--json]\n"
	       "       graviton rm BUCKET/ [--json]\n"
	       "\n"
	       "KEY: drop the blob's pin (a blob stored with 'put' or PUT /v1/blobs) and,\n"
	       "when no name references it, delete it now, every replica; --json prints\n"
	       "{key, deleted} (deleted false: names still reference it).\n"
	       "BUCKET/NAME: remove the name; a blob no longer referenced is deleted by\n"
	       "the garbage collector after graviton.gc.grace ('graviton gc').\n"
	       "BUCKET/: delete the bucket, which must hold no names (not_empty, 73).\n"
	       "With --server URL: KEY only.\n");
}

int cmd_rm(cli_globals *g, int argc, char **argv)
{
	const char *target = NULL, *name;
	char bucket[GV_BUCKET_MAX];
	gv_store *st = NULL;
	gv_object o;
	gv_key key;
	int i, json = cli_wants_json(argc, argv), rc, err, deleted = 0;

	if (cli_wants_help(argc, argv)) {
		help_rm();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cli_json_errors(1);
		} else if (!target && argv[i][0] != '-') {
			target = argv[i];
		} else {
			cli_err("rm: unexpected argument '%s' (see 'graviton rm --help')", argv[i]);
			return cli_usage_done(EXIT_USAGE, json);
		}
	}
	if (!target) {
		cli_err("rm: missing KEY or BUCKET/NAME");
		return cli_usage_done(EXIT_USAGE, json);
	}
	if (strncmp(target, "sha256:", 7) == 0) {
		if ((rc = cli_parse_key(&key, target)) != 0)
			return rc;
		if (g->server) {
			char path[32 + GV_KEY_BUFSIZE];
			cli_client *c = NULL;
			json_t *doc = NULL;

			if ((rc = cli_client_open(&c, g, "rm")) != 0)
				return rc;
			snprintf(path, sizeof(path), "/v1/blobs/%s", target);
			rc = cli_client_json(c, "DELETE", path, &doc, NULL);
			cli_client_free(c);
			if (rc != 0)
				return rc;
			deleted = json_is_true(json_object_get(doc, "deleted"));
			if (json)
				return cli_print_json(doc);
			json_decref(doc);
		} else {
			if ((rc = cli_open_store(g, &st, 0)) != 0)
				return rc;
			err = gv_ns_blob_delete(st, &key, &deleted);
			if (err < 0)
				rc = cli_fail(err, "rm");
			else if (json)
				rc = cli_print_text(gv_wire_blob_deleted(&key, deleted));
			gv_store_free(st);
			if (rc != 0 || json)
				return rc;
		}
		if (!deleted && !g->quiet)
			cli_err("rm: %s is still referenced by names: only its pin went", target);
		return 0;
	}
	if ((rc = split_target("rm", target, bucket, &name, 0)) != 0 ||
	    (rc = names_local(g, "rm")) != 0)
		return cli_usage_done(rc, json);
	if (!*name && target[strlen(target) - 1] != '/') {
		cli_err("rm: '%s' names no object: expected BUCKET/NAME (or BUCKET/ for the bucket)",
		        target);
		return cli_usage_done(EXIT_USAGE, json);
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if (!*name) {
		gv_bucket_info b;

		/* BUCKET/: the bucket itself, when empty. */
		if ((err = gv_ns_bucket_get(st, bucket, &b)) == 0 &&
		    (err = gv_ns_bucket_delete(st, bucket)) == 0 && json)
			rc = cli_print_text(gv_wire_buckets(&b, 1));
		if (err < 0)
			rc = cli_fail(err, "rm");
		gv_store_free(st);
		return rc;
	}
	if ((err = gv_ns_object_get(st, bucket, name, &o)) == 0) {
		if ((err = gv_ns_object_delete(st, bucket, name)) == 0 && json)
			rc = cli_print_text(gv_wire_object(&o));
		gv_object_clear(&o);
	}
	if (err < 0)
		rc = cli_fail(err, "rm");
	gv_store_free(st);
	return rc;
}

/* ---- cp ------------------------------------------------------------------- */

static void help_cp(void)
{
	printf("usage: graviton cp [--content-type T] [--json] FILE|- BUCKET/NAME\n"
	       "\n"
	       "Store FILE (or standard input) and name it BUCKET/NAME (the bucket is\n"
	       "created when missing), replacing what the name held.  The same bytes\n"
	       "under many names are stored once.  --json prints the object document.\n");
}

int cmd_cp(cli_globals *g, int argc, char **argv)
{
	const char *src = NULL, *dst = NULL, *name, *ctype = NULL;
	char bucket[GV_BUCKET_MAX];
	gv_store *st = NULL;
	gv_object o;
	int i, fd = -1, json = cli_wants_json(argc, argv), rc, err;

	if (cli_wants_help(argc, argv)) {
		help_cp();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cli_json_errors(1);
		} else if (strcmp(argv[i], "--content-type") == 0 && i + 1 < argc) {
			ctype = argv[++i];
		} else if (!src && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
			src = argv[i];
		} else if (src && !dst && argv[i][0] != '-') {
			dst = argv[i];
		} else {
			cli_err("cp: unexpected argument '%s' (see 'graviton cp --help')", argv[i]);
			return cli_usage_done(EXIT_USAGE, json);
		}
	}
	if (!src || !dst) {
		cli_err("cp: expected FILE and BUCKET/NAME");
		return cli_usage_done(EXIT_USAGE, json);
	}
	if ((rc = split_target("cp", dst, bucket, &name, 1)) != 0 ||
	    (rc = names_local(g, "cp")) != 0)
		return cli_usage_done(rc, json);
	if (strcmp(src, "-") == 0) {
		fd = STDIN_FILENO;
	} else if ((fd = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_err("cp: cannot open %s: %s", src, strerror(errno));
		return EXIT_NOINPUT;
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		goto out;
	err = gv_ns_bucket_create(st, bucket);
	if (err == GV_EEXISTS)
		err = 0;
	if (err == 0)
		err = gv_ns_object_put_fd(st, fd, bucket, name, ctype, NULL, &o);
	if (err < 0) {
		rc = cli_fail(err, "cp");
		goto out;
	}
	if (json) {
		rc = cli_print_text(gv_wire_object(&o));
	} else {
		char kbuf[GV_KEY_BUFSIZE];

		printf("%s/%s %s\n", bucket, name, gv_key_format(kbuf, &o.key));
		rc = fflush(stdout) == 0 ? 0 : EXIT_IOERR;
	}
	gv_object_clear(&o);
out:
	if (fd > STDIN_FILENO)
		close(fd);
	gv_store_free(st);
	return rc;
}

/* ---- cat ------------------------------------------------------------------ */

static void help_cat(void)
{
	printf("usage: graviton cat BUCKET/NAME\n"
	       "\n"
	       "Write the object's bytes to standard output, every byte verified first\n"
	       "(docs/integrity.md); a multipart object part after part.\n");
}

int cmd_cat(cli_globals *g, int argc, char **argv)
{
	const char *name;
	char bucket[GV_BUCKET_MAX], *buf = NULL;
	gv_ns_reader *r = NULL;
	gv_store *st = NULL;
	gv_object o;
	ssize_t n;
	int rc, err;

	if (cli_wants_help(argc, argv)) {
		help_cat();
		return 0;
	}
	if (argc != 2) {
		cli_err("cat: expected BUCKET/NAME");
		return EXIT_USAGE;
	}
	if ((rc = split_target("cat", argv[1], bucket, &name, 1)) != 0 ||
	    (rc = names_local(g, "cat")) != 0)
		return rc;
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_ns_object_get(st, bucket, name, &o)) < 0) {
		rc = cli_fail(err, "cat");
		goto out;
	}
	err = gv_ns_open(&r, st, &o, 0, 0, 0);
	gv_object_clear(&o);
	if (err < 0 || !(buf = malloc(1u << 20))) {
		rc = cli_fail(err < 0 ? err : GV_ENOMEM, "cat");
		goto out;
	}
	while ((n = gv_ns_read(r, buf, 1u << 20)) > 0) {
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			cli_err("cat: write failed: %s", strerror(errno));
			rc = EXIT_IOERR;
			goto out;
		}
	}
	if (n < 0)
		rc = cli_fail((int)n, "cat");
	else if (fflush(stdout) != 0)
		rc = EXIT_IOERR;
out:
	free(buf);
	gv_ns_close(r);
	gv_store_free(st);
	return rc;
}

/* ---- gc ------------------------------------------------------------------- */

static void help_gc(void)
{
	printf("usage: graviton gc [--dry-run] [--grace DURATION] [--json]\n"
	       "\n"
	       "Delete the blobs nothing has referenced (no name, manifest, upload part\n"
	       "or pin) for graviton.gc.grace (default 1h; --grace overrides it), every\n"
	       "replica, and abort multipart uploads older than graviton.gc.upload-expiry.\n"
	       "--dry-run counts what would go and changes nothing.  'serve' runs this\n"
	       "every graviton.gc.interval.  --json prints the job document\n"
	       "{job, kind: \"gc\", dry_run, state, summary, events}.  With --server URL:\n"
	       "one run as a job on that server, with its settings.\n");
}

static void gc_print(json_t *sum)
{
	printf("candidates: %llu\ncollected:  %llu (%llu bytes)\nreferenced: %llu\n"
	       "uploads expired: %llu\nfailed:     %llu\n",
	       (unsigned long long)cli_client_u64(sum, "candidates"),
	       (unsigned long long)cli_client_u64(sum, "collected"),
	       (unsigned long long)cli_client_u64(sum, "bytes"),
	       (unsigned long long)cli_client_u64(sum, "referenced"),
	       (unsigned long long)cli_client_u64(sum, "uploads_expired"),
	       (unsigned long long)cli_client_u64(sum, "failed"));
}

int cmd_gc(cli_globals *g, int argc, char **argv)
{
	static atomic_int stop_flag;
	gv_gc_opts o = GV_GC_OPTS_INIT;
	gv_gc_summary s;
	struct gv_config cfg;
	gv_store *st = NULL;
	uint64_t grace = 0;
	json_t *sum;
	int i, json = cli_wants_json(argc, argv), rc, err, grace_given = 0;

	if (cli_wants_help(argc, argv)) {
		help_gc();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cli_json_errors(1);
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			o.dry_run = 1;
		} else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
			if (cli_duration_arg(&grace, "gc: --grace", argv[++i]) < 0)
				return cli_usage_done(EXIT_USAGE, json);
			grace_given = 1;
		} else {
			cli_err("gc: unexpected argument '%s' (see 'graviton gc --help')", argv[i]);
			return cli_usage_done(EXIT_USAGE, json);
		}
	}
	if (g->server) {
		json_t *job = NULL;

		if (grace_given) {
			cli_err("gc: --grace cannot be given with --server: the server's configuration "
			        "(graviton.gc.grace) sets it");
			return cli_usage_done(EXIT_USAGE, json);
		}
		rc = cli_client_job(g, "gc", o.dry_run, !json, &stop_flag, &job, &sum);
		if (!job)
			return rc;
		if (json) {
			int prc = cli_print_line(job);

			return rc ? rc : prc;
		}
		if (rc == 0)
			gc_print(sum);
		json_decref(job);
		return rc;
	}
	if ((rc = cli_load_config(g, &cfg)) != 0)
		return rc;
	o.grace_ms = (int64_t)(grace_given ? grace : cfg.gc.grace_ms);
	o.upload_expiry_ms = (int64_t)cfg.gc.upload_expiry_ms;
	gv_config_free(&cfg);
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	err = gv_ns_gc(st, &o, &s);
	sum = cli_doc(gv_wire_gc_summary(&s, o.dry_run, o.grace_ms));
	gv_store_free(st);
	if (json) {
		rc = cli_print_job("gc", o.dry_run, err, sum, json_array());
		if (err < 0) {
			cli_json_errors(0); /* the job document said it */
			return cli_fail(err, "gc");
		}
		return rc ? rc : s.failed ? EXIT_TEMPFAIL : 0;
	}
	if (err < 0) {
		json_decref(sum);
		return cli_fail(err, "gc");
	}
	gc_print(sum);
	json_decref(sum);
	return s.failed ? EXIT_TEMPFAIL : fflush(stdout) == 0 ? 0 : EXIT_IOERR;
}

/* ---- forget --------------------------------------------------------------- */

static void help_forget(void)
{
	printf("usage: graviton forget KEY [--json]\n"
	       "\n"
	       "Accept a lost key (no healthy replica left) as lost: its rows go, so\n"
	       "'status' and 'repair' stop failing on it, and the fact is kept in the\n"
	       "index and logged (event=key_forgotten).  Refused for a key that still has\n"
	       "a healthy replica.  Names that referenced it read as not found.\n");
}

int cmd_forget(cli_globals *g, int argc, char **argv)
{
	const char *keystr = NULL;
	gv_store *st = NULL;
	gv_key key;
	int i, json = cli_wants_json(argc, argv), rc, err;

	if (cli_wants_help(argc, argv)) {
		help_forget();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			cli_json_errors(1);
		} else if (!keystr && argv[i][0] != '-') {
			keystr = argv[i];
		} else {
			cli_err("forget: unexpected argument '%s'", argv[i]);
			return cli_usage_done(EXIT_USAGE, json);
		}
	}
	if (!keystr) {
		cli_err("forget: missing KEY");
		return cli_usage_done(EXIT_USAGE, json);
	}
	if ((rc = cli_parse_key(&key, keystr)) != 0)
		return rc;
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_ns_forget(st, &key)) < 0)
		rc = cli_fail(err, "forget");
	else if (json)
		rc = cli_print_text(gv_wire_forgotten(&key));
	else if (!g->quiet)
		cli_err("forget: %s is accepted as lost", keystr);
	gv_store_free(st);
	return rc;
}
