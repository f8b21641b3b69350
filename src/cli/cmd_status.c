/*
 * cmd_status.c - `graviton status`: store-wide replication figures.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "graviton/server.h"

static void help(void)
{
	printf("usage: graviton status [--json]\n"
	       "\n"
	       "Show blobs, replicas (healthy/unhealthy), under-, over-replicated and lost\n"
	       "keys, average replication factor and sector health.  Exit 0 when every key\n"
	       "has at least one healthy replica, 69 when some key is lost.\n");
}

static uint64_t u64_of(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* GET /v1/status: --json prints the server's document; the text form and
 * the exit status are the local command's. */
static int status_remote(cli_globals *g, int json, gv_store_stats *s)
{
	cli_client *c = NULL;
	json_t *doc = NULL;
	int rc;

	if ((rc = cli_client_open(&c, g, "status")) != 0)
		return rc;
	rc = cli_client_json(c, "GET", "/v1/status", &doc, NULL);
	cli_client_free(c);
	if (rc != 0)
		return rc;
	memset(s, 0, sizeof(*s));
	s->blobs = u64_of(doc, "blobs");
	s->replicas = u64_of(doc, "replicas");
	s->healthy_replicas = u64_of(doc, "healthy_replicas");
	s->unhealthy_replicas = u64_of(doc, "unhealthy_replicas");
	s->under_replicated = u64_of(doc, "under_replicated");
	s->over_replicated = u64_of(doc, "over_replicated");
	s->lost = u64_of(doc, "lost");
	s->bytes = u64_of(doc, "bytes");
	s->avg_factor = json_number_value(json_object_get(doc, "avg_factor"));
	s->factor = (int)u64_of(doc, "factor");
	s->sectors = u64_of(doc, "sectors");
	s->healthy_sectors = u64_of(doc, "healthy_sectors");
	if (json)
		return cli_print_json(doc);
	json_decref(doc);
	return 0;
}

static void print_text(const gv_store_stats *s)
{
	char bbuf[32];

	printf("blobs:              %llu (%s)\n", (unsigned long long)s->blobs,
	       gv_size_format(bbuf, sizeof(bbuf), s->bytes));
	printf("replicas:           %llu (%llu healthy, %llu unhealthy)\n",
	       (unsigned long long)s->replicas, (unsigned long long)s->healthy_replicas,
	       (unsigned long long)s->unhealthy_replicas);
	printf("factor:             %d (average %.2f)\n", s->factor, s->avg_factor);
	printf("under-replicated:   %llu\n", (unsigned long long)s->under_replicated);
	printf("over-replicated:    %llu\n", (unsigned long long)s->over_replicated);
	printf("lost:               %llu\n", (unsigned long long)s->lost);
	printf("sectors:            %llu (%llu healthy)\n", (unsigned long long)s->sectors,
	       (unsigned long long)s->healthy_sectors);
}

int cmd_status(cli_globals *g, int argc, char **argv)
{
	gv_store_stats s;
	gv_store *st = NULL;
	int i, json = 0, rc, err;

	if (cli_wants_help(argc, argv)) {
		help();
		return 0;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			cli_json_errors(1);
		} else {
			cli_err("status: unexpected argument '%s'", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (g->server) {
		if ((rc = status_remote(g, json, &s)) != 0)
			return rc;
		if (!json)
			print_text(&s);
		return s.lost > 0 ? EXIT_UNAVAILABLE : 0;
	}
	if ((rc = cli_open_store(g, &st, 0)) != 0)
		return rc;
	if ((err = gv_status(st, &s)) < 0) {
		rc = cli_fail(err, "status");
		goto out;
	}
	if (json) {
		gv_placement_opts p = gv_store_placement(st);

		rc = cli_print_json(cli_doc(gv_wire_store_stats(&s, &p)));
	} else {
		print_text(&s);
	}
	if (rc == 0 && s.lost > 0)
		rc = EXIT_UNAVAILABLE;
out:
	gv_store_free(st);
	return rc;
}
