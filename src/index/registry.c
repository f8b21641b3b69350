/*
 * registry.c - index backends by name (include/graviton/sys/index.h).
 *
 * The built-in backends (sqlite, postgresql and its alias postgres) are a
 * static table; gv_index_backend_register
 * adds others to a small table behind `lock`, never removed.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "graviton/sys/index.h"
#include "index/postgresql.h"
#include "index/rows.h"

#define BACKENDS_MAX 8
#define NAME_MAX_LEN 32

static int sqlite_backend_open(gv_index **out, const char *locator, unsigned flags)
{
	if (flags & GV_INDEX_OPEN_BULK)
		return gv_index_sqlite_open_bulk(out, locator);
	return gv_index_sqlite_open(out, locator, (flags & GV_INDEX_OPEN_CREATE) != 0);
}

static const gv_index_backend builtin[] = {
	{ GV_INDEX_OPS_VERSION, "sqlite", sqlite_backend_open },
	{ GV_INDEX_OPS_VERSION, "postgresql", gv_index_postgresql_backend_open },
	{ GV_INDEX_OPS_VERSION, "postgres", gv_index_postgres_backend_open },
};

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const gv_index_backend *added[BACKENDS_MAX]; /* lock */
static size_t nadded;                               /* lock */

static const gv_index_backend *find_locked(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NBUILTIN + nadded; i++) {
		const gv_index_backend *b = i < NBUILTIN ? &builtin[i] : added[i - NBUILTIN];

		if (strlen(b->name) == len && strncmp(b->name, name, len) == 0)
			return b;
	}
	return NULL;
}

int gv_index_backend_register(const gv_index_backend *b)
{
	int err = 0;

	if (b == NULL || b->name == NULL || b->open == NULL)
		return gv_error_set(GV_EINVAL, "index backend: a name and an open function are required");
	if (b->version != GV_INDEX_OPS_VERSION)
		return gv_error_set(GV_EINVAL, "index backend %s: ops version %u, expected %u", b->name,
		                    b->version, GV_INDEX_OPS_VERSION);
	if (!b->name[0] || strlen(b->name) >= NAME_MAX_LEN || strchr(b->name, ':'))
		return gv_error_set(GV_EINVAL, "index backend name must be 1 to %d characters, "
		                    "without ':'", NAME_MAX_LEN - 1);
	pthread_mutex_lock(&lock);
	if (find_locked(b->name, strlen(b->name)))
		err = gv_error_set(GV_EEXISTS, "index backend %s is registered already", b->name);
	else if (nadded == BACKENDS_MAX)
		err = gv_error_set(GV_ENOSPACE, "index backend %s: no room (at most %d backends)",
		                   b->name, BACKENDS_MAX);
	else
		added[nadded++] = b;
	pthread_mutex_unlock(&lock);
	return err;
}

/* The backend named by name[0..len); NULL with the error set otherwise. */
static const gv_index_backend *find(const char *name, size_t len)
{
	const gv_index_backend *b;
	char known[BACKENDS_MAX * (NAME_MAX_LEN + 2) + 32];
	size_t i, n = 0;

	pthread_mutex_lock(&lock);
	b = find_locked(name, len);
	if (b == NULL) {
		known[0] = '\0';
		for (i = 0; i < NBUILTIN + nadded && n < sizeof(known); i++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s", i ? ", " : "",
			                      i < NBUILTIN ? builtin[i].name : added[i - NBUILTIN]->name);
		gv_error_set(GV_EINVAL, "unknown index backend '%.*s' (registered: %s)",
		             (int)(len > 32 ? 32 : len), name, known);
	}
	pthread_mutex_unlock(&lock);
	return b;
}

/* Length of a URL's scheme ("sqlite" in "sqlite:PATH"), 0 when it has none:
 * letters, digits, '+', '-', '.' from a letter on, before any '/'. */
static size_t scheme_len(const char *url)
{
	size_t i;

	if (!isalpha((unsigned char)url[0]))
		return 0;
	for (i = 1; url[i] && url[i] != ':'; i++)
		if (!isalnum((unsigned char)url[i]) && !strchr("+-.", url[i]))
			return 0;
	return url[i] == ':' ? i : 0;
}

int gv_index_open(gv_index **out, const char *backend, const char *url, unsigned flags)
{
	const gv_index_backend *b;
	const char *locator = url;
	size_t slen;
	int err;

	*out = NULL;
	if (url == NULL)
		return gv_error_set(GV_EINVAL, "no index location given");
	slen = scheme_len(url);
	if (slen > 0) {
		if (backend && *backend &&
		    (strlen(backend) != slen || strncmp(backend, url, slen) != 0)) {
			char shown[GV_INDEX_URL_SHOWN];

			return gv_error_set(GV_EINVAL, "index %s names backend '%.*s', but the "
			                    "backend is set to '%s'",
			                    gv_index_url_redact(shown, sizeof(shown), url),
			                    (int)slen, url, backend);
		}
		backend = url;
		locator = url + slen + 1;
	} else if (!backend || !*backend) {
		backend = GV_INDEX_BACKEND_DEFAULT;
	}
	if ((b = find(backend, slen ? slen : strlen(backend))) == NULL)
		return GV_EINVAL;
	if ((err = b->open(out, locator, flags)) < 0)
		return err;
	if ((*out)->ops == NULL || (*out)->ops->version != GV_INDEX_OPS_VERSION) {
		gv_index_close(*out);
		*out = NULL;
		return gv_error_set(GV_EINVAL, "index backend %s opened an index of another ops "
		                    "version", b->name);
	}
	return 0;
}

int gv_index_open_url(gv_index **out, const char *url, unsigned flags)
{
	return gv_index_open(out, NULL, url, flags);
}

const char *gv_index_url_locator(const char *url)
{
	size_t slen = scheme_len(url);

	return slen ? url + slen + 1 : url;
}

const char *gv_index_url_redact(char *buf, size_t cap, const char *url)
{
	size_t at = 0, off, len, n;

	if (cap == 0)
		return buf;
	buf[0] = '\0';
	if (!url)
		return buf;
	for (n = 0; ix_url_password(url, at, &off, &len); at = off + len) {
		n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%.*s***", (int)(off - at),
		                      url + at);
		if (n >= cap)
			return buf;
	}
	snprintf(buf + n, cap - n, "%s", url + at);
	return buf;
}
