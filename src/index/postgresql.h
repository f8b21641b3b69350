/*
 * postgresql.h - the PostgreSQL index backend's registry entry points.
 */
#ifndef GV_INDEX_POSTGRESQL_H
#define GV_INDEX_POSTGRESQL_H

#include "graviton/sys/index.h"

/* gv_index_backend.open for the schemes "postgresql" and "postgres":
 * `locator` is the URL after the scheme ("//host/db?..."). */
int gv_index_postgresql_backend_open(gv_index **out, const char *locator, unsigned flags);
int gv_index_postgres_backend_open(gv_index **out, const char *locator, unsigned flags);

#endif
