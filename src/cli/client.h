/*
 * client.h - the HTTP client behind `graviton --server URL <command>`.
 *
 * A thin layer over libcurl's easy API that speaks the API of
 * include/graviton/server.h: JSON requests (bodies buffered up to
 * CLI_CLIENT_JSON_MAX), blob uploads streamed from a file descriptor and
 * blob downloads streamed to a callback (never a whole blob in memory),
 * and the start-then-poll protocol of repair/scrub/rebalance jobs.
 *
 * Every function that can fail prints "graviton: <command>: <message>"
 * itself and returns the sysexits code the local command would use (see
 * cli_client_exit_of_status), or 0.
 */
#ifndef GV_CLI_CLIENT_H
#define GV_CLI_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "cli/cli.h"
#include "cli/progress.h"

/* Largest JSON response accepted. */
#define CLI_CLIENT_JSON_MAX (16u << 20)
/* Longest base URL and token accepted. */
#define CLI_CLIENT_URL_MAX 2048
#define CLI_CLIENT_TOKEN_MAX 4096

typedef struct cli_client cli_client;

/*
 * Check a base URL: "http://" or "https://", a host name, IPv4 address or
 * bracketed IPv6 address, an optional port 1-65535, an optional path
 * prefix; no user info, query, fragment, spaces or other trailing text.
 * Returns 0, or -1 with the reason written to why (cap bytes).
 */
int cli_client_check_url(const char *url, char *why, size_t cap);

/* Check a bearer token (printable ASCII, no spaces); 0 or -1 with why. */
int cli_client_check_token(const char *token, char *why, size_t cap);

/*
 * A client for g->server (and g->token, may be NULL) reporting errors as
 * "<cmd>: ...".  Returns 0 or an exit code; *out is NULL on failure.
 */
int cli_client_open(cli_client **out, const cli_globals *g, const char *cmd);

/* NULL ok. */
void cli_client_free(cli_client *c);

/* Exit code for an HTTP status (0 for 2xx). */
int cli_client_exit_of_status(long status);

/* Exit code for a server error code ("not_found", "busy", ...). */
int cli_client_exit_of_code(const char *code);

/*
 * METHOD path (e.g. "/v1/status"; path is appended to the base URL) with
 * no body.  On a 2xx answer *out is the parsed document (caller frees with
 * json_decref) and *status_out (may be NULL) the status.
 */
int cli_client_json(cli_client *c, const char *method, const char *path, json_t **out,
                    long *status_out);

/* As cli_client_json, sending body (borrowed) as the JSON request body. */
int cli_client_send(cli_client *c, const char *method, const char *path, const json_t *body,
                    json_t **out, long *status_out);

/* GET path answered with text (/metrics): *out (malloc'd, NUL-terminated)
 * and its length. */
int cli_client_text(cli_client *c, const char *path, char **out, size_t *len);

/*
 * PUT /v1/blobs with the bytes read from fd until end of file.  size is the
 * number of bytes that will be read when known (sent as Content-Length),
 * else -1 (chunked).  The bytes are hashed on the way; the key the server
 * answers with must match them, else EXIT_DATAERR.  *out is the server's
 * document.
 */
int cli_client_put(cli_client *c, int fd, int64_t size, json_t **out);

/*
 * Called with each piece of a blob's body, in order; returns 0, or an exit
 * code after reporting the problem (the transfer is then abandoned).
 */
typedef int (*cli_client_sink)(const char *buf, size_t len, void *payload);

/*
 * GET /v1/blobs/{key}, the bytes [start, end) when has_range, else all of
 * them, handed to sink.  A body the server cuts short (it does when a
 * replica fails after the first byte) is resumed with a Range request, a
 * few times.  A full read is checked against the key's size and SHA-256:
 * on a mismatch the sink has seen bad bytes and EXIT_DATAERR is returned.
 */
int cli_client_get_blob(cli_client *c, const gv_key *key, int has_range, uint64_t start,
                        uint64_t end, cli_client_sink sink, void *payload);

/*
 * POST /v1/<kind>[?dry_run=1], then poll GET /v1/jobs/{id} until the job
 * is no longer running (or *stop becomes non-zero: EXIT_TEMPFAIL, the job
 * goes on on the server).  *out is the final job document
 * {job, kind, dry_run, state, summary, events}.
 */
int cli_client_run_job(cli_client *c, const char *kind, int dry_run, atomic_int *stop,
                       json_t **out);

/*
 * The rest of cli_client_run_job for a job another request started (a
 * drain from PATCH /v1/sectors/{id}): doc (taken) is that request's
 * answer {job, ...}; polls the job to its end into *out.
 */
int cli_client_await_job(cli_client *c, json_t *doc, atomic_int *stop, json_t **out);

/*
 * The summary object of a finished job document (borrowed from job, NULL
 * when absent).  *rc is 0, or, for a job whose state is "failed", the exit
 * code of its error, which is reported.
 */
json_t *cli_client_job_summary(const cli_client *c, json_t *job, int *rc);

/*
 * All of the above for one command: open a client for `kind` ("repair",
 * "scrub", "rebalance"), run the job to its end (with bar, a progress bar
 * on a terminal, as a local run draws) and hand back its document
 * (*job, owned by the caller; NULL when none came back) and its summary
 * (*sum, borrowed from *job).  Returns 0 or an exit code.
 */
int cli_client_job(const cli_globals *g, const char *kind, int dry_run, int bar,
                   atomic_int *stop, json_t **job, json_t **sum);

/* Draw p (borrowed; NULL: none) for the client's uploads, downloads and
 * the jobs it waits for (from their documents' progress). */
void cli_client_set_progress(cli_client *c, cli_progress *p);

/* A non-negative integer field of o, 0 when absent or of another type. */
uint64_t cli_client_u64(json_t *o, const char *name);

/* The command name this client reports errors under (borrowed). */
const char *cli_client_cmd(const cli_client *c);

#endif
