/*
 * sqlite.c - the replica index on SQLite.
 *
 * Map of this file:
 *   schema: the v1 tables and the migration list that builds them
 *   instance, error mapping, statement cache, transactions
 *   row readers (sector, replica, key)
 *   ops: sectors, blobs and replicas, cursors, stats, settings, the
 *   namespace (buckets, objects, uploads, pins, garbage candidates)
 *   open: pragmas, schema check and migration
 *
 * Threads: each instance has one writer connection and a pool of reader
 * connections.  `lock` guards the writer and its cached statements; every
 * write op holds it from the first SQLite call to the last, so an op is
 * one transaction on one thread.  Read-only ops take a reader of their own
 * from the pool (opened on demand, at most IX_READERS_MAX; each with its
 * own statements), so reads neither wait for a write nor for each other:
 * in WAL mode a reader sees every transaction committed before its
 * statement started, hence every write already acknowledged.  Writers in
 * other processes wait up to the busy timeout and then get GV_EBUSY.
 *
 * Batched puts: replica_put, the op concurrent puts make most, queues its
 * rows; the first caller to find no batch running commits every queued
 * put in one transaction (one savepoint each, so each caller gets its own
 * result), and the others wait for it.  One caller alone commits at once.
 *
 * Durability (group commit): the writer runs synchronous=NORMAL, so a
 * commit appends to the WAL without syncing it.  An op whose commit
 * changed rows takes a ticket before it lets the writer go, and returns
 * only once the WAL has been synced after that commit: the first waiter
 * leads and fdatasyncs the WAL for every ticket issued before it started,
 * so concurrent commits (8 puts at once) share one sync instead of each
 * syncing in turn under `lock`; the puts of a batch share one ticket.  A
 * failed sync is sticky: every later write op fails until the index is
 * reopened.
 *
 * Keys are stored in their canonical text form, so `ORDER BY key` is the
 * cursor order.  It equals gv_key_cmp order except between keys sharing a
 * digest, whose sizes compare as text; pagination only needs a total order
 * and the same one each time, which text order is.
 *
 * `sectors.used` is kept by triggers on replicas (insert, delete, update of
 * size or sector), so it moves in the same transaction as the replica rows,
 * including rows removed by the blob cascade.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "graviton/sys/index.h"
#include "core/log.h"
#include "index/rows.h"

#define IX_BUSY_TIMEOUT_MS 10000
#define IX_READERS_MAX 16       /* read connections per instance */
#define IX_READER_CACHE_KIB 8192 /* page cache of each */
#define IX_PUT_BATCH_MAX 64     /* replica_puts committed together */

/* ---- schema ------------------------------------------------------------ */

/*
 * migrations[v] takes a database from schema version v to v + 1.  A fresh
 * database starts at 0 (an empty schema_version row), so creating and
 * upgrading are the same walk.  Append only: never edit a released step.
 */
/* The namespace's tables (the same columns in postgresql.c). */
#define NS_SCHEMA                                                                   \
	"CREATE TABLE ns_buckets ("                                                 \
	"  name TEXT PRIMARY KEY NOT NULL,"                                         \
	"  created INTEGER NOT NULL"                                                \
	") WITHOUT ROWID;"                                                          \
	"CREATE TABLE ns_objects ("                                                 \
	"  bucket TEXT NOT NULL,"                                                   \
	"  name TEXT NOT NULL,"                                                     \
	"  key TEXT NOT NULL,"                                                      \
	"  size INTEGER NOT NULL,"                                                  \
	"  parts INTEGER NOT NULL,"                                                 \
	"  etag TEXT NOT NULL,"                                                     \
	"  ctype TEXT NOT NULL,"                                                    \
	"  meta TEXT,"                                                              \
	"  mtime INTEGER NOT NULL,"                                                 \
	"  PRIMARY KEY (bucket, name)"                                              \
	") WITHOUT ROWID;"                                                          \
	"CREATE INDEX ns_objects_by_key ON ns_objects(key);"                        \
	"CREATE TABLE ns_manifests ("                                               \
	"  key TEXT NOT NULL,"                                                      \
	"  idx INTEGER NOT NULL,"                                                   \
	"  part TEXT NOT NULL,"                                                     \
	"  PRIMARY KEY (key, idx)"                                                  \
	") WITHOUT ROWID;"                                                          \
	"CREATE INDEX ns_manifests_by_part ON ns_manifests(part);"                  \
	"CREATE TABLE ns_uploads ("                                                 \
	"  id TEXT PRIMARY KEY NOT NULL,"                                           \
	"  bucket TEXT NOT NULL,"                                                   \
	"  name TEXT NOT NULL,"                                                     \
	"  ctype TEXT NOT NULL,"                                                    \
	"  meta TEXT,"                                                              \
	"  created INTEGER NOT NULL"                                                \
	") WITHOUT ROWID;"                                                          \
	"CREATE INDEX ns_uploads_by_name ON ns_uploads(bucket, name, id);"          \
	"CREATE TABLE ns_parts ("                                                   \
	"  id TEXT NOT NULL,"                                                       \
	"  part INTEGER NOT NULL,"                                                  \
	"  key TEXT NOT NULL,"                                                      \
	"  etag TEXT NOT NULL,"                                                     \
	"  mtime INTEGER NOT NULL,"                                                 \
	"  PRIMARY KEY (id, part)"                                                  \
	") WITHOUT ROWID;"                                                          \
	"CREATE INDEX ns_parts_by_key ON ns_parts(key);"                            \
	"CREATE TABLE ns_pins (key TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"       \
	"CREATE TABLE ns_garbage ("                                                 \
	"  key TEXT PRIMARY KEY NOT NULL,"                                          \
	"  since INTEGER NOT NULL"                                                  \
	") WITHOUT ROWID;"                                                          \
	"CREATE TABLE ns_forgotten ("                                               \
	"  key TEXT PRIMARY KEY NOT NULL,"                                          \
	"  at INTEGER NOT NULL"                                                     \
	") WITHOUT ROWID;"

static const char *const migrations[] = {
	/* 0 -> 1: initial schema */
	"CREATE TABLE sectors ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  capacity INTEGER NOT NULL,"
	"  used INTEGER NOT NULL DEFAULT 0,"
	"  healthy INTEGER NOT NULL,"
	"  rack TEXT NOT NULL DEFAULT '',"
	"  zone TEXT NOT NULL DEFAULT '',"
	"  state INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE blobs ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE replicas ("
	"  key TEXT NOT NULL REFERENCES blobs(key) ON DELETE CASCADE,"
	"  sector TEXT NOT NULL REFERENCES sectors(id),"
	"  size INTEGER NOT NULL,"
	"  ranges TEXT NOT NULL,"
	"  complete INTEGER NOT NULL,"
	"  healthy INTEGER NOT NULL,"
	"  last_verified INTEGER NOT NULL DEFAULT 0,"
	"  checksum BLOB,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (key, sector)"
	") WITHOUT ROWID;"
	"CREATE INDEX replicas_by_sector ON replicas(sector, key);"
	"CREATE INDEX replicas_by_verified ON replicas(last_verified, key, sector);"
	"CREATE INDEX replicas_by_sector_verified ON replicas(sector, last_verified, key);"
	"CREATE TRIGGER replicas_used_insert AFTER INSERT ON replicas BEGIN"
	"  UPDATE sectors SET used = used + NEW.size WHERE id = NEW.sector;"
	" END;"
	"CREATE TRIGGER replicas_used_delete AFTER DELETE ON replicas BEGIN"
	"  UPDATE sectors SET used = used - OLD.size WHERE id = OLD.sector;"
	" END;"
	"CREATE TRIGGER replicas_used_update AFTER UPDATE OF size, sector ON replicas BEGIN"
	"  UPDATE sectors SET used = used - OLD.size WHERE id = OLD.sector;"
	"  UPDATE sectors SET used = used + NEW.size WHERE id = NEW.sector;"
	" END;"
	"CREATE TABLE settings ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;",
	/* 1 -> 2: the namespace (docs/namespace.md); blobs stored before it
	 * came through the raw API, so each is pinned. */
	NS_SCHEMA
	"INSERT INTO ns_pins (key) SELECT key FROM blobs;",
	/* 2 -> 3: leases on background work (claim, claim_release) */
	"CREATE TABLE claims ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  owner TEXT NOT NULL,"
	"  expires INTEGER NOT NULL"
	") WITHOUT ROWID;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == GV_INDEX_SQLITE_SCHEMA,
               "one migration step per schema version");

/*
 * Tables added without a schema version step: created when missing at
 * every open, so an existing index gains them and a build that predates
 * them still opens the file (it ignores them).
 */
static const char optional_tables[] =
	"CREATE TABLE IF NOT EXISTS repair_queue ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  last_error TEXT NOT NULL,"
	"  next_attempt INTEGER NOT NULL,"
	"  enqueued INTEGER NOT NULL,"
	"  dead INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS repair_queue_due ON repair_queue(dead, next_attempt, key);";

/* ---- instance ---------------------------------------------------------- */

enum ix_stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_ROLLBACK_TO,
	ST_RELEASE,
	ST_SECTOR_UPSERT,
	ST_SECTOR_GET,
	ST_SECTOR_LIST,
	ST_SECTOR_SET_HEALTH,
	ST_SECTOR_SET_STATE,
	ST_SECTOR_IN_USE,
	ST_SECTOR_DELETE,
	ST_BLOB_INSERT,
	ST_BLOB_GET,
	ST_BLOB_DELETE,
	ST_REPLICA_UPSERT,
	ST_REPLICA_DELETE,
	ST_REPLICA_SET_HEALTH,
	ST_REPLICA_SET_VERIFIED,
	ST_REPLICA_SET_RANGES,
	ST_REPLICAS_FIND,
	ST_KEYS_NEXT,
	ST_SECTOR_KEYS_NEXT,
	ST_BLOBS_NEXT,
	ST_REPLICAS_NEXT,
	ST_REPLICAS_NEXT_SECTOR,
	ST_STATS,
	ST_SETTING_GET,
	ST_SETTING_SET,
	ST_BLOCKS_PUT,
	ST_BLOCKS_GET,
	ST_REPAIRQ_PUT,
	ST_REPAIRQ_GET,
	ST_REPAIRQ_DELETE,
	ST_REPAIRQ_DUE,
	ST_REPAIRQ_LIST,
	ST_REPAIRQ_COUNT,
	ST_BLOB_SET_CREATED,
	ST_CLAIM,
	ST_CLAIM_RELEASE,
	ST__COUNT
};

#define IX_SECTOR_COLS "id, kind, path, capacity, used, healthy, rack, zone, state"
#define IX_REPLICA_COLS "key, sector, ranges, healthy, last_verified, checksum, reason"
#define IX_REPAIRQ_COLS "key, reason, attempts, last_error, next_attempt, enqueued, dead"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT put",
	[ST_ROLLBACK_TO] = "ROLLBACK TO put",
	[ST_RELEASE] = "RELEASE put",
	[ST_SECTOR_UPSERT] =
		"INSERT INTO sectors (id, kind, path, capacity, used, healthy, rack, zone, state)"
		" VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8)"
		" ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, path = excluded.path,"
		" capacity = excluded.capacity, healthy = excluded.healthy,"
		" rack = excluded.rack, zone = excluded.zone, state = excluded.state",
	[ST_SECTOR_GET] = "SELECT " IX_SECTOR_COLS " FROM sectors WHERE id = ?1",
	[ST_SECTOR_LIST] = "SELECT " IX_SECTOR_COLS " FROM sectors ORDER BY id",
	[ST_SECTOR_SET_HEALTH] = "UPDATE sectors SET healthy = ?2 WHERE id = ?1",
	[ST_SECTOR_SET_STATE] = "UPDATE sectors SET state = ?2 WHERE id = ?1",
	[ST_SECTOR_IN_USE] = "SELECT EXISTS (SELECT 1 FROM replicas WHERE sector = ?1)",
	[ST_SECTOR_DELETE] = "DELETE FROM sectors WHERE id = ?1",
	[ST_BLOB_INSERT] =
		"INSERT INTO blobs (key, size, created) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (key) DO NOTHING",
	[ST_BLOB_GET] = "SELECT created FROM blobs WHERE key = ?1",
	[ST_BLOB_DELETE] = "DELETE FROM blobs WHERE key = ?1",
	[ST_REPLICA_UPSERT] =
		"INSERT INTO replicas (key, sector, size, ranges, complete, healthy,"
		" last_verified, checksum, reason)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
		" ON CONFLICT (key, sector) DO UPDATE SET size = excluded.size,"
		" ranges = excluded.ranges, complete = excluded.complete,"
		" healthy = excluded.healthy, last_verified = excluded.last_verified,"
		" checksum = excluded.checksum, reason = excluded.reason",
	[ST_REPLICA_DELETE] = "DELETE FROM replicas WHERE key = ?1 AND sector = ?2",
	[ST_REPLICA_SET_HEALTH] =
		"UPDATE replicas SET healthy = ?3, reason = ?4 WHERE key = ?1 AND sector = ?2",
	[ST_REPLICA_SET_VERIFIED] =
		"UPDATE replicas SET last_verified = ?3, checksum = ?4"
		" WHERE key = ?1 AND sector = ?2",
	[ST_REPLICA_SET_RANGES] =
		"UPDATE replicas SET ranges = ?3, complete = ?4 WHERE key = ?1 AND sector = ?2",
	/* One row per replica, or one row with a NULL sector for a blob
	 * without replicas; no row when the blob is unknown. */
	[ST_REPLICAS_FIND] =
		"SELECT b.key, r.sector, r.ranges, r.healthy, r.last_verified, r.checksum,"
		" r.reason FROM blobs AS b LEFT JOIN replicas AS r ON r.key = b.key"
		" WHERE b.key = ?1 ORDER BY r.sector",
	[ST_KEYS_NEXT] = "SELECT key FROM blobs WHERE key > ?1 ORDER BY key LIMIT ?2",
	[ST_SECTOR_KEYS_NEXT] =
		"SELECT key FROM replicas WHERE sector = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
	/*
	 * The next ?2 blobs after ?1 with their replica rows.  The scalar
	 * subquery finds the last key of the batch (or, near the end, the
	 * last key of all), so the join is a plain range of the blobs
	 * primary key with one replicas primary-key probe per blob: rows come
	 * out in (key, sector) order with no sort and no temporary table,
	 * and a batch never stops halfway through a blob's replicas.
	 * Columns 0-6 are IX_REPLICA_COLS for row_replica (NULL sector: the
	 * blob has no replica rows); column 7 is the blob's created time.
	 */
	[ST_BLOBS_NEXT] =
		"SELECT b.key, r.sector, r.ranges, r.healthy, r.last_verified, r.checksum,"
		" r.reason, b.created FROM blobs AS b LEFT JOIN replicas AS r ON r.key = b.key"
		" WHERE b.key > ?1 AND b.key <= COALESCE("
		"  (SELECT key FROM blobs WHERE key > ?1 ORDER BY key LIMIT 1 OFFSET ?2 - 1),"
		"  (SELECT MAX(key) FROM blobs))"
		" ORDER BY b.key, r.sector",
	[ST_REPLICAS_NEXT] =
		"SELECT " IX_REPLICA_COLS " FROM replicas"
		" WHERE (last_verified, key, sector) > (?1, ?2, ?3)"
		" ORDER BY last_verified, key, sector LIMIT ?4",
	[ST_REPLICAS_NEXT_SECTOR] =
		"SELECT " IX_REPLICA_COLS " FROM replicas"
		" WHERE sector = ?3 AND (last_verified, key) > (?1, ?2)"
		" ORDER BY last_verified, key LIMIT ?4",
	/*
	 * One pass over replicas in primary key order, grouped per key with
	 * no sort; the blob figures come from one scan of blobs each.  A
	 * replica counts when healthy, complete and on a `good` sector; the
	 * set lookup is skipped while every sector is good (the common case,
	 * and a third of the cost otherwise).  Keys with a healthy replica
	 * are counted, so lost = blobs - that, including blobs with no
	 * replica rows.
	 */
	[ST_STATS] =
		"WITH good (id) AS (SELECT id FROM sectors WHERE healthy <> 0 AND state <> 2),"
		" per (n, h) AS ("
		"  SELECT COUNT(*), SUM(CASE WHEN healthy = 0 OR complete = 0 THEN 0"
		"   WHEN (SELECT NOT EXISTS (SELECT 1 FROM sectors WHERE healthy = 0 OR state = 2))"
		"   THEN 1 ELSE sector IN good END)"
		"  FROM replicas GROUP BY key)"
		" SELECT (SELECT COUNT(*) FROM blobs), (SELECT COALESCE(SUM(size), 0) FROM blobs),"
		"  COALESCE(SUM(n), 0), COALESCE(SUM(h), 0),"
		"  COALESCE(SUM(h BETWEEN 1 AND ?1 - 1), 0), COALESCE(SUM(h > ?1), 0),"
		"  COALESCE(SUM(h > 0), 0)"
		" FROM per",
	[ST_SETTING_GET] = "SELECT value FROM settings WHERE name = ?1",
	[ST_SETTING_SET] =
		"INSERT INTO settings (name, value) VALUES (?1, ?2)"
		" ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	/* A table only for a blob the index knows; none is an error then. */
	[ST_BLOCKS_PUT] =
		"INSERT INTO blocks (key, tab) SELECT ?1, ?2 WHERE EXISTS"
		" (SELECT 1 FROM blobs WHERE key = ?1)"
		" ON CONFLICT (key) DO UPDATE SET tab = excluded.tab",
	[ST_BLOCKS_GET] = "SELECT tab FROM blocks WHERE key = ?1",
	[ST_REPAIRQ_PUT] =
		"INSERT INTO repair_queue (" IX_REPAIRQ_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
		" ON CONFLICT (key) DO UPDATE SET reason = excluded.reason,"
		" attempts = excluded.attempts, last_error = excluded.last_error,"
		" next_attempt = excluded.next_attempt, enqueued = excluded.enqueued,"
		" dead = excluded.dead",
	[ST_REPAIRQ_GET] = "SELECT " IX_REPAIRQ_COLS " FROM repair_queue WHERE key = ?1",
	[ST_REPAIRQ_DELETE] = "DELETE FROM repair_queue WHERE key = ?1",
	[ST_REPAIRQ_DUE] =
		"SELECT key FROM repair_queue WHERE dead = 0 AND next_attempt <= ?1"
		" ORDER BY next_attempt, key LIMIT ?2",
	[ST_REPAIRQ_LIST] =
		"SELECT " IX_REPAIRQ_COLS " FROM repair_queue WHERE key > ?1 ORDER BY key LIMIT ?2",
	[ST_REPAIRQ_COUNT] =
		"SELECT COALESCE(SUM(dead = 0), 0), COALESCE(SUM(dead <> 0), 0) FROM repair_queue",
	[ST_BLOB_SET_CREATED] = "UPDATE blobs SET created = ?2 WHERE key = ?1",
	/* Taken when free, the owner's own or expired (?3: now); changes()
	 * says whether it was. */
	[ST_CLAIM] =
		"INSERT INTO claims (name, owner, expires) VALUES (?1, ?2, ?3 + ?4)"
		" ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
		" expires = excluded.expires"
		" WHERE claims.owner = excluded.owner OR claims.expires <= ?3",
	[ST_CLAIM_RELEASE] = "DELETE FROM claims WHERE name = ?1 AND owner = ?2",
};

/*
 * Block tables (docs/integrity.md) live beside the versioned schema, not in
 * a migration step: the table is optional, so a build that predates it
 * opens the store as before and only leaves tables to scrub.  Its rows go
 * with their blob row.
 */
static const char blocks_schema[] =
	"CREATE TABLE IF NOT EXISTS blocks ("
	"  key TEXT PRIMARY KEY NOT NULL REFERENCES blobs(key) ON DELETE CASCADE,"
	"  tab BLOB NOT NULL"
	") WITHOUT ROWID;";

#define NS_STMT_MAX 64 /* the namespace's statements, cached by their text */

/* One SQLite connection and its statements, prepared on first use. */
struct ix_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT];
	const char *ns_sql[NS_STMT_MAX];
	sqlite3_stmt *ns_stmt[NS_STMT_MAX];
	int slot;               /* a reader's index in readers[], -1: the writer */
};

/* A replica_put waiting for a leader to run it in a shared transaction. */
struct ix_put {
	const gv_replica *r;
	const char *key;        /* canonical text */
	const char *ranges;
	int complete;
	size_t reason_len;
	int err;                /* result, valid once done */
	int err_errno;
	char err_msg[256];
	uint64_t ticket;        /* group-commit ticket of its commit, 0: none */
	int done;
	struct ix_put *next;
};

struct ix_sqlite {
	gv_index base;          /* first: the port sees only this */
	pthread_mutex_t lock;   /* guards w: the one writer connection */
	struct ix_conn w;
	char *path;             /* immutable after open */
	char *reader_path;      /* absolute path; immutable after open */
	int durable;            /* sync each commit (group commit); immutable */
	int memory;             /* ":memory:": one database per connection,
	                           so readers use w; immutable */
	int64_t changes;        /* total changes at the last ticket (under lock) */
	/* Readers: readers[0..nopen) are open, each taken by whoever swaps
	 * its busy flag from 0 to 1, so taking and giving back one costs an
	 * atomic swap and no lock.  pool_lock orders opening new readers and
	 * the waits when every reader is taken. */
	struct ix_conn *readers[IX_READERS_MAX];
	atomic_int busy[IX_READERS_MAX];
	atomic_int nopen;
	atomic_int waiters;     /* threads waiting for a reader */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	int nreaders;           /* opened or being opened (under pool_lock) */
	pthread_mutex_t put_lock; /* guards the put queue below */
	pthread_cond_t put_cond;
	struct ix_put *put_head, *put_tail;
	int put_leading;        /* a leader is running a batch */
	pthread_mutex_t sync_lock; /* guards the group-commit state below */
	pthread_cond_t sync_cond;
	uint64_t ticket;        /* commits that changed rows, issued in order */
	uint64_t synced;        /* tickets whose commit is durable */
	int syncing;            /* a leader is syncing */
	int sync_errno;         /* sticky: a sync failed */
	int wal_fd;             /* the leader's descriptor of the WAL */
	dev_t wal_dev;
	ino_t wal_ino;
};

static struct ix_sqlite *ix_of(gv_index *ix)
{
	return (struct ix_sqlite *)ix;
}

/* ---- errors ------------------------------------------------------------ */

static int ix_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return GV_EBUSY;
	case SQLITE_FULL:
		return GV_ENOSPACE;
	case SQLITE_NOMEM:
		return GV_ENOMEM;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return GV_EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return GV_ECORRUPT; /* the CLI says how to rebuild it */
	default:
		return GV_ERROR;
	}
}

/* Record the connection's current error; call before anything else
 * (ROLLBACK included) touches the connection. */
static int ix_fail(sqlite3 *db, int rc, const char *what)
{
	int code = ix_code(rc);

	if (code == GV_EIO)
		return gv_error_set_errno(code, sqlite3_system_errno(db), "index: %s: %s", what,
		                          sqlite3_errmsg(db));
	return gv_error_set(code, "index: %s: %s", what, sqlite3_errmsg(db));
}

/* ---- statements and transactions -------------------------------------- */

static int ix_prep(struct ix_conn *c, enum ix_stmt_id id, sqlite3_stmt **out)
{
	int rc;

	if (!c->stmt[id]) {
		rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                        &c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			c->stmt[id] = NULL;
			return ix_fail(c->db, rc, "prepare");
		}
	}
	*out = c->stmt[id];
	return 0;
}

static void ix_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

/* Run a statement that returns no rows to completion. */
static int ix_exec(struct ix_conn *c, enum ix_stmt_id id, const char *what)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_prep(c, id, &st)) < 0)
		return err;
	rc = sqlite3_step(st);
	err = rc == SQLITE_DONE ? 0 : ix_fail(c->db, rc, what);
	ix_done(st);
	return err;
}

/* Step a cached statement without touching the recorded error; returns
 * the SQLite result code. */
static int ix_exec_keep(struct ix_conn *c, enum ix_stmt_id id)
{
	int rc;

	if (!c->stmt[id]) {
		rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                        &c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			c->stmt[id] = NULL;
			return rc;
		}
	}
	rc = sqlite3_step(c->stmt[id]);
	sqlite3_reset(c->stmt[id]);
	return rc;
}

static int ix_begin(struct ix_conn *c)
{
	return ix_exec(c, ST_BEGIN, "begin transaction");
}

/* Roll back an open transaction, keeping the error already recorded. */
static void ix_rollback(struct ix_conn *c)
{
	if (sqlite3_get_autocommit(c->db))
		return; /* SQLite already rolled back (e.g. SQLITE_FULL) */
	if (ix_exec_keep(c, ST_ROLLBACK) != SQLITE_DONE)
		gv_warn("event=index_rollback_failed error=\"%s\"", sqlite3_errmsg(c->db));
}

/* Commit; on failure roll back and return the commit's error. */
static int ix_commit(struct ix_conn *c)
{
	int err = ix_exec(c, ST_COMMIT, "commit");

	if (err < 0)
		ix_rollback(c);
	return err;
}

static void conn_close(struct ix_conn *c, const char *path)
{
	size_t i;

	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(c->stmt[i]);
	for (i = 0; i < NS_STMT_MAX; i++)
		sqlite3_finalize(c->ns_stmt[i]);
	memset(c->ns_stmt, 0, sizeof(c->ns_stmt));
	memset(c->ns_sql, 0, sizeof(c->ns_sql));
	if (c->db && sqlite3_close(c->db) != SQLITE_OK)
		gv_warn("event=index_close_failed path=\"%s\" error=\"%s\"", path ? path : "",
		        sqlite3_errmsg(c->db));
	memset(c->stmt, 0, sizeof(c->stmt));
	c->db = NULL;
}

/* ---- readers ------------------------------------------------------------ */

static int sql_exec(sqlite3 *db, const char *sql, const char *what);

/*
 * Read-only ops run on a pool of connections of their own, so reads never
 * wait for the writer or for each other (up to IX_READERS_MAX at once).
 * Each statement of a reader runs in its own read transaction, which sees
 * every transaction committed before it started: what a write op has
 * acknowledged, any reader started afterwards sees.
 */
static int reader_open(struct ix_sqlite *s, struct ix_conn **out)
{
	struct ix_conn *c = calloc(1, sizeof(*c));
	char pragmas[160];
	int rc, err;

	if (!c)
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	rc = sqlite3_open_v2(s->reader_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		err = c->db ? gv_error_set(ix_code(rc), "index %s: open a reader: %s", s->path,
		                           sqlite3_errmsg(c->db))
		            : gv_error_set(GV_ENOMEM, "index %s: open: out of memory", s->path);
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, IX_BUSY_TIMEOUT_MS);
	snprintf(pragmas, sizeof(pragmas),
	         "PRAGMA query_only = ON;"
	         "PRAGMA cache_size = -%d;"
	         "PRAGMA temp_store = MEMORY;",
	         IX_READER_CACHE_KIB);
	if ((err = sql_exec(c->db, pragmas, "set reader pragmas")) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	conn_close(c, s->path);
	free(c);
	return err;
}

/* The slot this thread took last: a thread tends to get the same reader
 * (and its warm page cache) back. */
static _Thread_local int reader_hint;

/* Take a free open reader, or NULL. */
static struct ix_conn *reader_take(struct ix_sqlite *s)
{
	int n = atomic_load(&s->nopen), i, j;

	for (i = 0; i < n; i++) {
		j = (reader_hint + i) % n;
		if (!atomic_load_explicit(&s->busy[j], memory_order_relaxed) &&
		    !atomic_exchange(&s->busy[j], 1)) {
			reader_hint = j;
			return s->readers[j];
		}
	}
	return NULL;
}

/* Take a reader (opening one while fewer than IX_READERS_MAX exist,
 * else waiting for one); an in-memory index reads on its writer. */
static int ix_read(struct ix_sqlite *s, struct ix_conn **out)
{
	struct ix_conn *c;
	int err;

	if (s->memory) {
		pthread_mutex_lock(&s->lock);
		*out = &s->w;
		return 0;
	}
	if ((*out = reader_take(s)) != NULL)
		return 0;
	pthread_mutex_lock(&s->pool_lock);
	atomic_fetch_add(&s->waiters, 1);
	/* Checked again after counting as a waiter: a reader given back
	 * from now on wakes this thread (see ix_read_done). */
	while (!(c = reader_take(s)) && s->nreaders >= IX_READERS_MAX)
		pthread_cond_wait(&s->pool_cond, &s->pool_lock);
	atomic_fetch_sub(&s->waiters, 1);
	if (c) {
		pthread_mutex_unlock(&s->pool_lock);
		*out = c;
		return 0;
	}
	s->nreaders++; /* a slot, filled below or given back */
	pthread_mutex_unlock(&s->pool_lock);
	err = reader_open(s, &c);
	pthread_mutex_lock(&s->pool_lock);
	if (err < 0) {
		s->nreaders--;
		pthread_cond_signal(&s->pool_cond);
	} else {
		/* Published taken; nopen only grows, under pool_lock. */
		c->slot = atomic_load(&s->nopen);
		s->readers[c->slot] = c;
		atomic_store(&s->busy[c->slot], 1);
		atomic_store(&s->nopen, c->slot + 1);
		*out = c;
	}
	pthread_mutex_unlock(&s->pool_lock);
	return err;
}

/* Give a reader back (its statements are reset); returns err. */
static int ix_read_done(struct ix_sqlite *s, struct ix_conn *c, int err)
{
	if (c->slot < 0) {
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	atomic_store(&s->busy[c->slot], 0);
	if (atomic_load(&s->waiters) > 0) {
		pthread_mutex_lock(&s->pool_lock);
		pthread_cond_broadcast(&s->pool_cond);
		pthread_mutex_unlock(&s->pool_lock);
	}
	return err;
}
/* ---- group commit -------------------------------------------------------- */

/* fsync the directory holding `path`, so a new file's name is durable. */
static int dir_sync(const char *path)
{
	char dir[4096];
	char *slash;
	int fd, e = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fsync(fd) < 0)
		e = errno;
	close(fd);
	return e;
}

/* Sync the WAL as it is now (the main file when there is no WAL): reopened
 * when the file was replaced, its directory synced when newly seen.
 * Called by the leader only; returns 0 or an errno. */
static int wal_sync(struct ix_sqlite *s)
{
	char wal[4096];
	const char *p = wal;
	struct stat sb;
	int e;

	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (stat(p, &sb) < 0) {
		if (errno != ENOENT)
			return errno;
		p = s->path;
		if (stat(p, &sb) < 0)
			return errno;
	}
	if (s->wal_fd < 0 || sb.st_dev != s->wal_dev || sb.st_ino != s->wal_ino) {
		if (s->wal_fd >= 0)
			close(s->wal_fd);
		s->wal_fd = open(p, O_RDONLY | O_CLOEXEC);
		if (s->wal_fd < 0 || fstat(s->wal_fd, &sb) < 0)
			return errno;
		s->wal_dev = sb.st_dev;
		s->wal_ino = sb.st_ino;
		if ((e = dir_sync(p)) != 0)
			return e;
	}
	return fdatasync(s->wal_fd) < 0 ? errno : 0;
}

/* Wait until ticket t is durable, leading a sync when no one is. */
static int ix_wait_durable(struct ix_sqlite *s, uint64_t t)
{
	uint64_t upto;
	int e, err = 0;

	pthread_mutex_lock(&s->sync_lock);
	while (s->synced < t && !s->sync_errno) {
		if (s->syncing) {
			pthread_cond_wait(&s->sync_cond, &s->sync_lock);
			continue;
		}
		upto = s->ticket; /* every commit before this sync starts */
		s->syncing = 1;
		pthread_mutex_unlock(&s->sync_lock);
		e = wal_sync(s);
		pthread_mutex_lock(&s->sync_lock);
		s->syncing = 0;
		if (e)
			s->sync_errno = e;
		else if (upto > s->synced)
			s->synced = upto;
		pthread_cond_broadcast(&s->sync_cond);
	}
	if (s->synced < t)
		err = gv_error_set_errno(GV_EIO, s->sync_errno,
		                         "index %s: cannot sync the write-ahead log", s->path);
	pthread_mutex_unlock(&s->sync_lock);
	return err;
}

/* Start a write op: the writer connection, held until ix_unlock. */
static struct ix_conn *ix_lock(struct ix_sqlite *s)
{
	pthread_mutex_lock(&s->lock);
	return &s->w;
}

/* Under `lock`, after a commit: a ticket when it changed rows (and the
 * index is durable), else 0. */
static uint64_t ix_ticket(struct ix_sqlite *s)
{
	int64_t changes = sqlite3_total_changes64(s->w.db);
	uint64_t t = 0;

	if (s->durable && changes != s->changes && sqlite3_get_autocommit(s->w.db)) {
		s->changes = changes;
		pthread_mutex_lock(&s->sync_lock);
		t = ++s->ticket;
		pthread_mutex_unlock(&s->sync_lock);
	}
	return t;
}

/* End a write op: release the writer; when the op's commit changed rows,
 * return only once that commit is durable. */
static int ix_unlock(struct ix_sqlite *s, int err)
{
	uint64_t t = ix_ticket(s);
	int serr;

	pthread_mutex_unlock(&s->lock);
	if (t && (serr = ix_wait_durable(s, t)) < 0 && err >= 0)
		err = serr;
	return err;
}

/* Finish an op: commit on success, roll back on failure, then unlock. */
static int ix_end(struct ix_sqlite *s, int err)
{
	if (err < 0)
		ix_rollback(&s->w);
	else
		err = ix_commit(&s->w);
	return ix_unlock(s, err);
}

/* ---- binding and reading values ---------------------------------------- */

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static void col_copy(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *v = sqlite3_column_text(st, col);
	size_t n = v ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (n >= cap)
		n = ix_utf8_cut((const char *)v, cap - 1);
	if (n)
		memcpy(dst, v, n);
	dst[n] = '\0';
}

static int col_key(gv_key *out, sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);

	if (v && ix_key_decode_canonical(out, v, (size_t)sqlite3_column_bytes(st, col)))
		return 0;
	if (!v || gv_key_parse(out, v) < 0)
		return gv_error_set(GV_ERROR, "index: malformed key '%.100s' in the index",
		                    v ? v : "(null)");
	return 0;
}

static void row_sector(gv_sector_info *out, sqlite3_stmt *st)
{
	int64_t state;

	memset(out, 0, sizeof(*out));
	col_copy(out->id, sizeof(out->id), st, 0);
	col_copy(out->kind, sizeof(out->kind), st, 1);
	col_copy(out->path, sizeof(out->path), st, 2);
	out->capacity = (uint64_t)sqlite3_column_int64(st, 3);
	out->used = (uint64_t)sqlite3_column_int64(st, 4);
	out->healthy = sqlite3_column_int64(st, 5) != 0;
	col_copy(out->rack, sizeof(out->rack), st, 6);
	col_copy(out->zone, sizeof(out->zone), st, 7);
	state = sqlite3_column_int64(st, 8);
	out->state = state == GV_SECTOR_DRAINING ? GV_SECTOR_DRAINING
	             : state == GV_SECTOR_RETIRED ? GV_SECTOR_RETIRED
	                                          : GV_SECTOR_ACTIVE;
}

/*
 * Fill a replica from columns IX_REPLICA_COLS; `key` given when the caller
 * already knows it.  Nothing stays allocated when it fails.
 */
static int row_replica(gv_replica *out, sqlite3_stmt *st, const gv_key *key)
{
	const char *ranges;
	const void *sum;
	int err;

	memset(out, 0, sizeof(*out));
	if (key)
		out->key = *key;
	else if ((err = col_key(&out->key, st, 0)) < 0)
		return err;
	col_copy(out->sector, sizeof(out->sector), st, 1);
	ranges = (const char *)sqlite3_column_text(st, 2);
	if (!ranges && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
		return gv_error_set(GV_ENOMEM, "index: out of memory reading ranges");
	if (!(ranges && ix_ranges_decode_single(&out->ranges, ranges)) &&
	    gv_rangeset_parse(&out->ranges, ranges ? ranges : "") < 0)
		return gv_error_set(GV_ERROR, "index: malformed ranges '%.64s' of a replica on %s",
		                    ranges ? ranges : "", out->sector);
	out->healthy = sqlite3_column_int64(st, 3) != 0;
	out->last_verified = sqlite3_column_int64(st, 4);
	sum = sqlite3_column_blob(st, 5);
	if (sum && sqlite3_column_bytes(st, 5) == GV_DIGEST_LEN) {
		memcpy(out->checksum, sum, GV_DIGEST_LEN);
		out->has_checksum = 1;
	}
	col_copy(out->reason, sizeof(out->reason), st, 6);
	return 0;
}

/* ---- sectors ----------------------------------------------------------- */

static int ix_sector_upsert(gv_index *ix, const gv_sector_info *si)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(si);
	if ((err = ix_sector_check(si)) < 0)
		return err;

	c = ix_lock(s);
	if ((err = ix_prep(c, ST_SECTOR_UPSERT, &st)) < 0)
		goto out;
	bind_text(st, 1, si->id);
	bind_text(st, 2, si->kind);
	bind_text(st, 3, si->path);
	sqlite3_bind_int64(st, 4, (int64_t)si->capacity);
	sqlite3_bind_int(st, 5, si->healthy != 0);
	bind_text(st, 6, si->rack);
	bind_text(st, 7, si->zone);
	sqlite3_bind_int(st, 8, (int)si->state);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "sector upsert");
out:
	ix_done(st);
	return ix_unlock(s, err);
}

static int ix_sector_get(gv_index *ix, const char *id, gv_sector_info *out)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(out);
	if ((err = ix_id_check("sector", id)) < 0)
		return err;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_SECTOR_GET, &st)) < 0)
		goto out;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row_sector(out, st);
	else if (rc == SQLITE_DONE)
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", id);
	else
		err = ix_fail(c->db, rc, "sector get");
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_sector_list(gv_index *ix, gv_sector_info **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	gv_sector_info *arr = NULL, *p;
	size_t n = 0, cap = 0;
	int err, rc;

	assert(out && out_n);
	*out = NULL;
	*out_n = 0;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_SECTOR_LIST, &st)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			p = realloc(arr, cap * sizeof(*p));
			if (!p) {
				err = gv_error_set(GV_ENOMEM, "index: out of memory");
				goto out;
			}
			arr = p;
		}
		row_sector(&arr[n++], st);
	}
	if (rc != SQLITE_DONE) {
		err = ix_fail(c->db, rc, "sector list");
		goto out;
	}
	*out = arr;
	*out_n = n;
	arr = NULL;
out:
	ix_done(st);
	ix_read_done(s, c, err);
	free(arr);
	return err;
}

/* UPDATE sectors ... WHERE id = ?1 with one integer ?2. */
static int sector_update(gv_index *ix, enum ix_stmt_id id_stmt, const char *id, int value,
                         const char *what)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_id_check("sector", id)) < 0)
		return err;
	c = ix_lock(s);
	if ((err = ix_prep(c, id_stmt, &st)) < 0)
		goto out;
	bind_text(st, 1, id);
	sqlite3_bind_int(st, 2, value);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, what);
	else if (sqlite3_changes(c->db) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", id);
out:
	ix_done(st);
	return ix_unlock(s, err);
}

static int ix_sector_set_health(gv_index *ix, const char *id, int healthy)
{
	return sector_update(ix, ST_SECTOR_SET_HEALTH, id, healthy != 0, "sector set health");
}

static int ix_sector_set_state(gv_index *ix, const char *id, gv_sector_state state)
{
	if (state != GV_SECTOR_ACTIVE && state != GV_SECTOR_DRAINING &&
	    state != GV_SECTOR_RETIRED)
		return gv_error_set(GV_EINVAL, "index: invalid sector state %d", (int)state);
	return sector_update(ix, ST_SECTOR_SET_STATE, id, (int)state, "sector set state");
}

static int ix_sector_remove(gv_index *ix, const char *id)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_id_check("sector", id)) < 0)
		return err;
	c = ix_lock(s);
	if ((err = ix_begin(c)) < 0) {
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	if ((err = ix_prep(c, ST_SECTOR_IN_USE, &st)) < 0)
		goto out;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "sector remove");
		goto out;
	}
	if (sqlite3_column_int(st, 0)) {
		err = gv_error_set(GV_EBUSY,
		                   "index: sector '%s' still holds replicas; drain it first", id);
		goto out;
	}
	ix_done(st);
	if ((err = ix_prep(c, ST_SECTOR_DELETE, &st)) < 0)
		goto out;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "sector remove");
	else if (sqlite3_changes(c->db) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", id);
out:
	ix_done(st);
	return ix_end(s, err);
}

/* ---- blobs and replicas ------------------------------------------------ */

/* The rows of one replica_put, in the writer's open transaction. */
static int put_rows(struct ix_conn *c, const struct ix_put *p)
{
	const gv_replica *r = p->r;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_prep(c, ST_SECTOR_GET, &st)) < 0)
		goto out;
	bind_text(st, 1, r->sector);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", r->sector);
		goto out;
	} else if (rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "replica put");
		goto out;
	}
	ix_done(st);

	if ((err = ix_prep(c, ST_BLOB_INSERT, &st)) < 0)
		goto out;
	bind_text(st, 1, p->key);
	sqlite3_bind_int64(st, 2, (int64_t)r->key.size);
	sqlite3_bind_int64(st, 3, gv_now_ms());
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		err = ix_fail(c->db, rc, "replica put (blob)");
		goto out;
	}
	ix_done(st);

	if ((err = ix_prep(c, ST_REPLICA_UPSERT, &st)) < 0)
		goto out;
	bind_text(st, 1, p->key);
	bind_text(st, 2, r->sector);
	sqlite3_bind_int64(st, 3, (int64_t)r->key.size);
	bind_text(st, 4, p->ranges);
	sqlite3_bind_int(st, 5, p->complete);
	sqlite3_bind_int(st, 6, r->healthy != 0);
	sqlite3_bind_int64(st, 7, r->last_verified);
	if (r->has_checksum)
		sqlite3_bind_blob(st, 8, r->checksum, GV_DIGEST_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_text(st, 9, r->reason, (int)p->reason_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "replica put");
out:
	ix_done(st);
	return err;
}

/* Record a put's failure (this thread's error) for its own thread. */
static void put_fail(struct ix_put *p, int err)
{
	p->err = err;
	p->err_errno = gv_error_last_errno();
	snprintf(p->err_msg, sizeof(p->err_msg), "%s", gv_error_last());
}

/* Set the calling thread's error to the one put_fail recorded. */
static int put_error(const struct ix_put *p)
{
	char ebuf[128], suffix[160];
	size_t n = strlen(p->err_msg), m;

	if (!p->err_errno)
		return gv_error_set(p->err, "%s", p->err_msg);
	/* gv_error_set_errno appends ": strerror(errno)" again */
	m = (size_t)snprintf(suffix, sizeof(suffix), ": %s",
	                     strerror_r(p->err_errno, ebuf, sizeof(ebuf)));
	if (m <= n && strcmp(p->err_msg + n - m, suffix) == 0)
		n -= m;
	return gv_error_set_errno(p->err, p->err_errno, "%.*s", (int)n, p->err_msg);
}

/*
 * Run a batch of puts in one transaction, under `lock`.  Each put runs
 * under a savepoint, so a put that fails undoes only its own rows and the
 * others commit; if SQLite itself ends the transaction (disk full, I/O
 * error), or the commit fails, every put of the batch not failed yet
 * gets that error.  The puts that committed share one ticket.
 */
static void put_batch(struct ix_sqlite *s, struct ix_put *batch)
{
	struct ix_conn *c = &s->w;
	struct ix_put *p;
	int err, alone = !batch->next; /* no savepoint needed */
	uint64_t t;

	if ((err = ix_begin(c)) < 0)
		goto fail_all;
	for (p = batch; p; p = p->next) {
		if (!alone && (err = ix_exec(c, ST_SAVEPOINT, "savepoint")) < 0)
			goto fail_all;
		if ((err = put_rows(c, p)) < 0) {
			put_fail(p, err);
			if (alone || sqlite3_get_autocommit(c->db))
				goto fail_all; /* nothing else to keep, or all is gone */
			if (ix_exec_keep(c, ST_ROLLBACK_TO) != SQLITE_DONE) {
				err = ix_fail(c->db, sqlite3_errcode(c->db), "rollback to savepoint");
				goto fail_all;
			}
		}
		if (!alone && (err = ix_exec(c, ST_RELEASE, "release savepoint")) < 0)
			goto fail_all;
	}
	if ((err = ix_commit(c)) < 0)
		goto fail_all;
	t = ix_ticket(s);
	for (p = batch; p; p = p->next)
		if (p->err == 0)
			p->ticket = t;
	return;
fail_all:
	ix_rollback(c);
	for (p = batch; p; p = p->next)
		if (p->err == 0)
			put_fail(p, err);
}

/*
 * Queue a put and wait for its result.  The first caller to find no batch
 * running leads: it takes every queued put (up to IX_PUT_BATCH_MAX) and
 * commits them together, while later callers queue for the next batch.
 * One caller alone commits at once, as before; callers arriving together
 * (the replicas of concurrent puts) share a transaction, and then one
 * group-commit sync.
 */
static int put_wait_chain(struct ix_sqlite *s, struct ix_put *p, struct ix_put *last)
{
	struct ix_put *batch, *q, *next;
	size_t n;

	pthread_mutex_lock(&s->put_lock);
	if (s->put_tail)
		s->put_tail->next = p;
	else
		s->put_head = p;
	s->put_tail = last;
	/* Batches are taken in queue order: the last one done, all are. */
	while (!last->done) {
		if (s->put_leading) {
			pthread_cond_wait(&s->put_cond, &s->put_lock);
			continue;
		}
		s->put_leading = 1;
		batch = s->put_head;
		for (q = batch, n = 1; q->next && n < IX_PUT_BATCH_MAX; q = q->next)
			n++;
		s->put_head = q->next;
		if (!s->put_head)
			s->put_tail = NULL;
		q->next = NULL;
		pthread_mutex_unlock(&s->put_lock);

		pthread_mutex_lock(&s->lock);
		put_batch(s, batch);
		pthread_mutex_unlock(&s->lock);

		pthread_mutex_lock(&s->put_lock);
		for (q = batch; q; q = next) {
			next = q->next;
			q->done = 1;
		}
		s->put_leading = 0;
		pthread_cond_broadcast(&s->put_cond);
	}
	pthread_mutex_unlock(&s->put_lock);
	return 0;
}

static int put_wait(struct ix_sqlite *s, struct ix_put *p)
{
	int err;

	put_wait_chain(s, p, p);
	if (p->err < 0)
		return put_error(p);
	if (p->ticket && (err = ix_wait_durable(s, p->ticket)) < 0)
		return err;
	return 0;
}

static int ix_replica_put(gv_index *ix, const gv_replica *r);

/*
 * Several replicas of one put: queued together, so they are one batch (one
 * transaction, one sync) unless the batch limit splits them.
 */
static int ix_replicas_put(gv_index *ix, const gv_replica *rs, size_t n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_put *ps;
	char (*kbuf)[GV_KEY_BUFSIZE];
	char **text;
	size_t i;
	int err = 0, e;

	if (n == 0)
		return 0;
	if (n == 1)
		return ix_replica_put(ix, rs);
	ps = calloc(n, sizeof(*ps));
	kbuf = calloc(n, sizeof(*kbuf));
	text = calloc(n, sizeof(*text));
	if (!ps || !kbuf || !text) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((err = ix_key_check(&rs[i].key)) < 0 || (err = ix_id_check("sector", rs[i].sector)) < 0 ||
		    (err = ix_ranges_text(&text[i], &ps[i].complete, &rs[i].ranges,
		                       rs[i].key.size)) < 0)
			goto out;
		ps[i].ranges = text[i];
		gv_key_format(kbuf[i], &rs[i].key);
		ps[i].r = &rs[i];
		ps[i].key = kbuf[i];
		ps[i].reason_len = ix_utf8_cut(rs[i].reason, sizeof(rs[i].reason) - 1);
		ps[i].next = i + 1 < n ? &ps[i + 1] : NULL;
	}
	put_wait_chain(s, ps, &ps[n - 1]);
	for (i = 0; i < n && err == 0; i++)
		if (ps[i].err < 0)
			err = put_error(&ps[i]);
	for (i = 0; i < n && err == 0; i++)
		if (ps[i].ticket && (e = ix_wait_durable(s, ps[i].ticket)) < 0)
			err = e;
out:
	for (i = 0; text && i < n; i++)
		free(text[i]);
	free(text);
	free(ps);
	free(kbuf);
	return err;
}

static int ix_replica_put(gv_index *ix, const gv_replica *r)
{
	struct ix_sqlite *s = ix_of(ix);
	char kbuf[GV_KEY_BUFSIZE];
	struct ix_put p;
	char *ranges = NULL;
	int err;

	assert(r);
	if ((err = ix_key_check(&r->key)) < 0 || (err = ix_id_check("sector", r->sector)) < 0)
		return err;
	memset(&p, 0, sizeof(p));
	if ((err = ix_ranges_text(&ranges, &p.complete, &r->ranges, r->key.size)) < 0)
		return err;
	gv_key_format(kbuf, &r->key);
	p.r = r;
	p.key = kbuf;
	p.ranges = ranges;
	p.reason_len = ix_utf8_cut(r->reason, sizeof(r->reason) - 1);
	err = put_wait(s, &p);
	free(ranges);
	return err;
}

/*
 * Run a single-statement update or delete of one replica (?1 key, ?2
 * sector, the rest bound by `bind`) and map "no row" to GV_ENOTFOUND.
 */
struct replica_args {
	int healthy;
	const char *reason;
	size_t reason_len;
	int64_t when_ms;
	const uint8_t *digest;
	const char *ranges;
	int complete;
};

static int replica_change(gv_index *ix, enum ix_stmt_id id_stmt, const gv_key *key,
                          const char *sector, const struct replica_args *a,
                          const char *what)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(key);
	if ((err = ix_id_check("sector", sector)) < 0)
		return err;
	gv_key_format(kbuf, key);
	c = ix_lock(s);
	if ((err = ix_prep(c, id_stmt, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	bind_text(st, 2, sector);
	switch (id_stmt) {
	case ST_REPLICA_SET_HEALTH:
		sqlite3_bind_int(st, 3, a->healthy);
		sqlite3_bind_text(st, 4, a->reason, (int)a->reason_len, SQLITE_STATIC);
		break;
	case ST_REPLICA_SET_VERIFIED:
		sqlite3_bind_int64(st, 3, a->when_ms);
		if (a->digest)
			sqlite3_bind_blob(st, 4, a->digest, GV_DIGEST_LEN, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 4);
		break;
	case ST_REPLICA_SET_RANGES:
		bind_text(st, 3, a->ranges);
		sqlite3_bind_int(st, 4, a->complete);
		break;
	default:
		break;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, what);
	else if (sqlite3_changes(c->db) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no replica of %s on sector '%s'", kbuf,
		                   sector);
out:
	ix_done(st);
	if (id_stmt == ST_REPLICA_SET_VERIFIED) {
		/* Not worth a sync: a verification time lost to a power failure
		 * only means the replica is verified again (the next durable
		 * commit syncs it anyway). */
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	return ix_unlock(s, err);
}

static int ix_replica_remove(gv_index *ix, const gv_key *key, const char *sector)
{
	return replica_change(ix, ST_REPLICA_DELETE, key, sector, NULL, "replica remove");
}

static int ix_replica_set_health(gv_index *ix, const gv_key *key, const char *sector,
                                 int healthy, const char *reason)
{
	struct replica_args a = { 0 };

	a.healthy = healthy != 0;
	a.reason = reason ? reason : "";
	a.reason_len = ix_utf8_cut(a.reason, GV_REASON_MAX - 1);
	return replica_change(ix, ST_REPLICA_SET_HEALTH, key, sector, &a,
	                      "replica set health");
}

static int ix_replica_set_verified(gv_index *ix, const gv_key *key, const char *sector,
                                   int64_t when_ms, const uint8_t digest[GV_DIGEST_LEN])
{
	struct replica_args a = { 0 };

	a.when_ms = when_ms;
	a.digest = digest;
	return replica_change(ix, ST_REPLICA_SET_VERIFIED, key, sector, &a,
	                      "replica set verified");
}

static int ix_replica_set_ranges(gv_index *ix, const gv_key *key, const char *sector,
                                 const gv_rangeset *ranges)
{
	struct replica_args a = { 0 };
	char *text = NULL;
	int err;

	assert(key && ranges);
	if ((err = ix_ranges_text(&text, &a.complete, ranges, key->size)) < 0)
		return err;
	a.ranges = text;
	err = replica_change(ix, ST_REPLICA_SET_RANGES, key, sector, &a, "replica set ranges");
	free(text);
	return err;
}

static int ix_replicas_find(gv_index *ix, const gv_key *key, gv_replica **out,
                            size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	gv_replica *arr = NULL;
	size_t n = 0, cap = 0;
	int err, rc, rows = 0;

	assert(key && out && out_n);
	*out = NULL;
	*out_n = 0;
	gv_key_format(kbuf, key);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_REPLICAS_FIND, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue; /* the blob has no replicas */
		if ((err = ix_replicas_grow(&arr, n, &cap)) < 0)
			goto out;
		if ((err = row_replica(&arr[n], st, key)) < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE) {
		err = ix_fail(c->db, rc, "replicas find");
		goto out;
	}
	if (rows == 0) {
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
		goto out;
	}
	*out = arr;
	*out_n = n;
	arr = NULL;
	n = 0;
out:
	ix_done(st);
	ix_read_done(s, c, err);
	gv_replicas_free(arr, n);
	return err;
}

static int ix_blob_exists(gv_index *ix, const gv_key *key, int64_t *out_created_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(key);
	gv_key_format(kbuf, key);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_BLOB_GET, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (out_created_ms)
			*out_created_ms = sqlite3_column_int64(st, 0);
		err = 1;
	} else if (rc == SQLITE_DONE) {
		err = 0;
	} else {
		err = ix_fail(c->db, rc, "blob exists");
	}
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

/* Run statement `id` with the key as ?1 under the writer lock; *changes
 * (if given) the rows it changed. */
static int key_write(gv_index *ix, enum ix_stmt_id id, const gv_key *key, const char *what,
                     int *changes)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(key);
	gv_key_format(kbuf, key);
	c = ix_lock(s);
	if ((err = ix_prep(c, id, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, what);
	else if (changes)
		*changes = sqlite3_changes(c->db);
out:
	ix_done(st);
	return ix_unlock(s, err);
}

static int ix_blob_remove(gv_index *ix, const gv_key *key)
{
	char kbuf[GV_KEY_BUFSIZE];
	int changes = 0, err = key_write(ix, ST_BLOB_DELETE, key, "blob remove", &changes);

	if (err == 0 && changes == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", gv_key_format(kbuf, key));
	return err;
}

/* ---- cursors ----------------------------------------------------------- */

static int64_t limit_of(size_t limit)
{
	return limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
}

/* Collect key rows from a prepared, bound statement (key in column 0). */
static int keys_collect(struct ix_conn *c, sqlite3_stmt *st, size_t limit, gv_key *out,
                        size_t *out_n, const char *what)
{
	size_t n = 0;
	int err, rc = SQLITE_DONE;

	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = col_key(&out[n], st, 0)) < 0)
			return err;
		n++;
	}
	if (n < limit && rc != SQLITE_DONE)
		return ix_fail(c->db, rc, what);
	*out_n = n;
	return 0;
}

static int ix_keys_next(gv_index *ix, const gv_key *after, size_t limit, gv_key *out,
                        size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "";
	sqlite3_stmt *st = NULL;
	int err;

	assert(out_n);
	*out_n = 0;
	if (limit == 0)
		return 0;
	assert(out);
	if (after)
		gv_key_format(kbuf, after);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_KEYS_NEXT, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	sqlite3_bind_int64(st, 2, limit_of(limit));
	err = keys_collect(c, st, limit, out, out_n, "keys next");
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_sector_keys_next(gv_index *ix, const char *sector, const gv_key *after,
                               size_t limit, gv_key *out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "";
	sqlite3_stmt *st = NULL;
	int err;

	assert(out_n);
	*out_n = 0;
	if ((err = ix_id_check("sector", sector)) < 0)
		return err;
	if (limit == 0)
		return 0;
	assert(out);
	if (after)
		gv_key_format(kbuf, after);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_SECTOR_KEYS_NEXT, &st)) < 0)
		goto out;
	bind_text(st, 1, sector);
	bind_text(st, 2, kbuf);
	sqlite3_bind_int64(st, 3, limit_of(limit));
	err = keys_collect(c, st, limit, out, out_n, "sector keys next");
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

/*
 * Rows arrive grouped by key; a new entry starts whenever the key text
 * changes.  Every entry in arr[0..n) is consistent at all times (its
 * replicas are all filled), so a failure part way frees cleanly.
 */
static int ix_blobs_next(gv_index *ix, const gv_key *after, size_t limit,
                         gv_blob_entry **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "", cur[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	gv_blob_entry *arr = NULL, *e = NULL;
	size_t n = 0, cap = 0, rcap = 0, cur_len = 0;
	int err, rc;

	assert(out && out_n);
	*out = NULL;
	*out_n = 0;
	if (limit == 0)
		return 0;
	if (after)
		gv_key_format(kbuf, after);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_BLOBS_NEXT, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	sqlite3_bind_int64(st, 2, limit_of(limit));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		size_t klen = k ? (size_t)sqlite3_column_bytes(st, 0) : 0;

		if (!e || klen != cur_len || memcmp(k, cur, klen) != 0) {
			if (n == limit)
				break; /* cannot happen: the bound stops at the limit-th key */
			if ((err = ix_entries_grow(&arr, n, &cap)) < 0)
				goto out;
			e = &arr[n];
			memset(e, 0, sizeof(*e));
			if ((err = col_key(&e->key, st, 0)) < 0)
				goto out;
			e->created_ms = sqlite3_column_int64(st, 7);
			n++;
			rcap = 0;
			memcpy(cur, k, klen); /* col_key accepted it, so it fits */
			cur_len = klen;
		}
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue; /* the blob has no replicas */
		if ((err = ix_replicas_grow(&e->replicas, e->nreplicas, &rcap)) < 0)
			goto out;
		if ((err = row_replica(&e->replicas[e->nreplicas], st, &e->key)) < 0)
			goto out;
		e->nreplicas++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "blobs next");
		goto out;
	}
	*out = arr;
	*out_n = n;
	arr = NULL;
	n = 0;
out:
	ix_done(st);
	ix_read_done(s, c, err);
	gv_blob_entries_free(arr, n);
	return err;
}

static int ix_replicas_next(gv_index *ix, gv_replica_cursor *cur, const char *sector,
                            size_t limit, gv_replica **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "";
	sqlite3_stmt *st = NULL;
	gv_replica *arr = NULL;
	size_t n = 0, cap = 0;
	int err, rc = SQLITE_DONE;

	assert(cur && out && out_n);
	*out = NULL;
	*out_n = 0;
	if (sector && (err = ix_id_check("sector", sector)) < 0)
		return err;
	if (limit == 0)
		return 0;
	if (cur->started)
		gv_key_format(kbuf, &cur->key);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, sector ? ST_REPLICAS_NEXT_SECTOR : ST_REPLICAS_NEXT, &st)) < 0)
		goto out;
	/* Before any row: (INT64_MIN, "", "") sorts below every real row,
	 * since stored keys and sector ids are never empty. */
	sqlite3_bind_int64(st, 1, cur->started ? cur->last_verified : INT64_MIN);
	bind_text(st, 2, kbuf);
	bind_text(st, 3, sector ? sector : cur->started ? cur->sector : "");
	sqlite3_bind_int64(st, 4, limit_of(limit));
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = ix_replicas_grow(&arr, n, &cap)) < 0)
			goto out;
		if ((err = row_replica(&arr[n], st, NULL)) < 0)
			goto out;
		n++;
	}
	if (n < limit && rc != SQLITE_DONE) {
		err = ix_fail(c->db, rc, "replicas next");
		goto out;
	}
	if (n > 0) {
		const gv_replica *last = &arr[n - 1];

		cur->last_verified = last->last_verified;
		cur->key = last->key;
		memcpy(cur->sector, last->sector, sizeof(cur->sector));
		cur->started = 1;
	}
	*out = arr;
	*out_n = n;
	arr = NULL;
	n = 0;
out:
	ix_done(st);
	ix_read_done(s, c, err);
	gv_replicas_free(arr, n);
	return err;
}

/* ---- stats ------------------------------------------------------------- */

static uint64_t col_u64(sqlite3_stmt *st, int col)
{
	int64_t v = sqlite3_column_int64(st, col);

	return v < 0 ? 0 : (uint64_t)v;
}

static int ix_stats(gv_index *ix, int factor, gv_index_stats *out)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	uint64_t with_healthy;
	int err, rc;

	assert(out);
	if (factor < 1)
		return gv_error_set(GV_EINVAL, "index: replication factor %d must be at least 1",
		                    factor);
	memset(out, 0, sizeof(*out));
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_STATS, &st)) < 0)
		goto out;
	sqlite3_bind_int(st, 1, factor);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "stats");
		goto out;
	}
	out->blobs = col_u64(st, 0);
	out->bytes = col_u64(st, 1);
	out->replicas = col_u64(st, 2);
	out->healthy_replicas = col_u64(st, 3);
	out->unhealthy_replicas = out->replicas - out->healthy_replicas;
	out->under_replicated = col_u64(st, 4);
	out->over_replicated = col_u64(st, 5);
	with_healthy = col_u64(st, 6);
	out->lost = out->blobs > with_healthy ? out->blobs - with_healthy : 0;
	out->avg_factor = out->blobs ? (double)out->healthy_replicas / (double)out->blobs : 0.0;
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

/* ---- settings ---------------------------------------------------------- */

static int ix_setting_get(gv_index *ix, const char *name, char *buf, size_t cap)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	size_t len;
	int err, rc;

	assert(buf || cap == 0);
	if ((err = ix_setting_name_check(name)) < 0)
		return err;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_SETTING_GET, &st)) < 0)
		goto out;
	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		err = gv_error_set(GV_ENOTFOUND, "index: setting '%s' is not set", name);
		goto out;
	} else if (rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "setting get");
		goto out;
	}
	len = (size_t)sqlite3_column_bytes(st, 0);
	if (len >= cap) {
		err = gv_error_set(GV_EINVAL, "index: setting '%s' needs %zu bytes, buffer has %zu",
		                   name, len + 1, cap);
		goto out;
	}
	if (len)
		memcpy(buf, sqlite3_column_text(st, 0), len);
	buf[len] = '\0';
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_setting_set(gv_index *ix, const char *name, const char *value)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_setting_name_check(name)) < 0)
		return err;
	if (!value || strnlen(value, IX_SETTING_VALUE_MAX) >= IX_SETTING_VALUE_MAX)
		return gv_error_set(GV_EINVAL,
		                    "index: setting '%s': value missing or longer than %d bytes",
		                    name, IX_SETTING_VALUE_MAX - 1);
	c = ix_lock(s);
	if ((err = ix_prep(c, ST_SETTING_SET, &st)) < 0)
		goto out;
	bind_text(st, 1, name);
	bind_text(st, 2, value);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "setting set");
out:
	ix_done(st);
	return ix_unlock(s, err);
}

/* ---- block tables ------------------------------------------------------ */

static int ix_blocks_put(gv_index *ix, const gv_key *key, const void *table, size_t len)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_key_check(key)) < 0)
		return err;
	if (!table || len == 0 || len > GV_INDEX_BLOCKS_MAX)
		return gv_error_set(GV_EINVAL, "index: block table of %zu bytes (1..%u)", len,
		                    GV_INDEX_BLOCKS_MAX);
	gv_key_format(kbuf, key);
	c = ix_lock(s);
	if ((err = ix_prep(c, ST_BLOCKS_PUT, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	sqlite3_bind_blob(st, 2, table, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "blocks put");
	else if (sqlite3_changes(c->db) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
out:
	ix_done(st);
	return ix_unlock(s, err);
}

static int ix_blocks_get(gv_index *ix, const gv_key *key, void **out, size_t *out_len)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc, len;

	*out = NULL;
	*out_len = 0;
	gv_key_format(kbuf, key);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_BLOCKS_GET, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		err = gv_error_set(GV_ENOTFOUND, "index: no block table for %s", kbuf);
		goto out;
	} else if (rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "blocks get");
		goto out;
	}
	len = sqlite3_column_bytes(st, 0);
	if (len <= 0 || (size_t)len > GV_INDEX_BLOCKS_MAX) {
		err = gv_error_set(GV_ECORRUPT, "index: block table of %s holds %d bytes", kbuf,
		                   len);
		goto out;
	}
	if (!(*out = malloc((size_t)len))) {
		err = gv_error_set(GV_ENOMEM, "index: out of memory");
		goto out;
	}
	memcpy(*out, sqlite3_column_blob(st, 0), (size_t)len);
	*out_len = (size_t)len;
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_blob_set_created(gv_index *ix, const gv_key *key, int64_t created_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	gv_key_format(kbuf, key);
	c = ix_lock(s);
	if ((err = ix_prep(c, ST_BLOB_SET_CREATED, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	sqlite3_bind_int64(st, 2, created_ms);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "blob set created");
	else if (sqlite3_changes(c->db) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
out:
	ix_done(st);
	return ix_unlock(s, err);
}

/* ---- open and close ---------------------------------------------------- */

/* Close every connection, readers first: the last one to close (the
 * writer) checkpoints the WAL into the file. */
static void ix_free(struct ix_sqlite *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < atomic_load(&s->nopen); i++) {
		conn_close(s->readers[i], s->path);
		free(s->readers[i]);
	}
	conn_close(&s->w, s->path);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	pthread_cond_destroy(&s->put_cond);
	pthread_mutex_destroy(&s->put_lock);
	pthread_cond_destroy(&s->pool_cond);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->sync_cond);
	pthread_mutex_destroy(&s->sync_lock);
	pthread_mutex_destroy(&s->lock);
	free(s->reader_path);
	free(s->path);
	free(s);
}

static void ix_close(gv_index *ix)
{
	ix_free(ix_of(ix));
}

/* ---- the repair queue --------------------------------------------------- */

static int row_repairq(gv_repairq_entry *out, sqlite3_stmt *st)
{
	int64_t attempts;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = col_key(&out->key, st, 0)) < 0)
		return err;
	col_copy(out->reason, sizeof(out->reason), st, 1);
	attempts = sqlite3_column_int64(st, 2);
	out->attempts = attempts < 0 ? 0 : attempts > UINT32_MAX ? UINT32_MAX : (uint32_t)attempts;
	col_copy(out->last_error, sizeof(out->last_error), st, 3);
	out->next_attempt_ms = sqlite3_column_int64(st, 4);
	out->enqueued_ms = sqlite3_column_int64(st, 5);
	out->dead = sqlite3_column_int64(st, 6) != 0;
	return 0;
}

static int ix_repairq_put(gv_index *ix, const gv_repairq_entry *e)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(e);
	if ((err = ix_repairq_check(e)) < 0)
		return err;
	gv_key_format(kbuf, &e->key);
	c = ix_lock(s);
	if ((err = ix_prep(c, ST_REPAIRQ_PUT, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	bind_text(st, 2, e->reason);
	sqlite3_bind_int64(st, 3, e->attempts);
	bind_text(st, 4, e->last_error);
	sqlite3_bind_int64(st, 5, e->next_attempt_ms);
	sqlite3_bind_int64(st, 6, e->enqueued_ms);
	sqlite3_bind_int(st, 7, e->dead != 0);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "repair queue put");
out:
	ix_done(st);
	return ix_unlock(s, err);
}

static int ix_repairq_get(gv_index *ix, const gv_key *key, gv_repairq_entry *out)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(key && out);
	gv_key_format(kbuf, key);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_REPAIRQ_GET, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = row_repairq(out, st);
	else if (rc == SQLITE_DONE)
		err = gv_error_set(GV_ENOTFOUND, "index: %s is not in the repair queue", kbuf);
	else
		err = ix_fail(c->db, rc, "repair queue get");
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_repairq_remove(gv_index *ix, const gv_key *key)
{
	return key_write(ix, ST_REPAIRQ_DELETE, key, "repair queue remove", NULL);
}

static int ix_repairq_due(gv_index *ix, int64_t now_ms, size_t limit, gv_key *out,
                          size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err;

	assert(out_n);
	*out_n = 0;
	if (limit == 0)
		return 0;
	assert(out);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_REPAIRQ_DUE, &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, limit_of(limit));
	err = keys_collect(c, st, limit, out, out_n, "repair queue due");
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_repairq_list(gv_index *ix, const gv_key *after, size_t limit,
                           gv_repairq_entry *out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "";
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int err, rc = SQLITE_DONE;

	assert(out_n);
	*out_n = 0;
	if (limit == 0)
		return 0;
	assert(out);
	if (after)
		gv_key_format(kbuf, after);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_REPAIRQ_LIST, &st)) < 0)
		goto out;
	bind_text(st, 1, kbuf);
	sqlite3_bind_int64(st, 2, limit_of(limit));
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((err = row_repairq(&out[n], st)) < 0)
			goto out;
		n++;
	}
	if (n < limit && rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, "repair queue list");
	else
		*out_n = n;
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

/* ---- claims ------------------------------------------------------------ */

/* Claims are not worth a sync: one lost to a power failure only lets
 * another process take the work sooner. */
static int claim_write(gv_index *ix, enum ix_stmt_id id, const char *name, const char *owner,
                       uint64_t ttl_ms, const char *what)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_claim_check(name, owner, ttl_ms)) < 0)
		return err;
	c = ix_lock(s);
	if ((err = ix_prep(c, id, &st)) < 0)
		goto out;
	bind_text(st, 1, name);
	bind_text(st, 2, owner);
	if (id == ST_CLAIM) {
		sqlite3_bind_int64(st, 3, gv_now_ms());
		sqlite3_bind_int64(st, 4, (int64_t)ttl_ms);
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = ix_fail(c->db, rc, what);
	else if (id == ST_CLAIM)
		err = sqlite3_changes(c->db) > 0;
out:
	ix_done(st);
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int ix_claim(gv_index *ix, const char *name, const char *owner, uint64_t ttl_ms)
{
	return claim_write(ix, ST_CLAIM, name, owner, ttl_ms, "claim");
}

static int ix_claim_release(gv_index *ix, const char *name, const char *owner)
{
	return claim_write(ix, ST_CLAIM_RELEASE, name, owner, 0, "claim release");
}

static int ix_repairq_count(gv_index *ix, uint64_t *queued, uint64_t *dead)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	assert(queued && dead);
	*queued = *dead = 0;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	if ((err = ix_prep(c, ST_REPAIRQ_COUNT, &st)) < 0)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = ix_fail(c->db, rc, "repair queue count");
		goto out;
	}
	*queued = (uint64_t)sqlite3_column_int64(st, 0);
	*dead = (uint64_t)sqlite3_column_int64(st, 1);
out:
	ix_done(st);
	return ix_read_done(s, c, err);
}

/* ---- the namespace (docs/namespace.md) ----------------------------------- */

/* A namespace statement of this connection, prepared on first use and
 * cached by the address of its (static) text. */
static int ns_prep(struct ix_conn *c, const char *sql, sqlite3_stmt **out)
{
	size_t i;
	int rc;

	for (i = 0; i < NS_STMT_MAX && c->ns_sql[i]; i++)
		if (c->ns_sql[i] == sql) {
			*out = c->ns_stmt[i];
			return 0;
		}
	if (i == NS_STMT_MAX)
		return gv_error_set(GV_ERROR, "index: namespace statement cache full");
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->ns_stmt[i], NULL);
	if (rc != SQLITE_OK) {
		c->ns_stmt[i] = NULL;
		return ix_fail(c->db, rc, "prepare");
	}
	c->ns_sql[i] = sql;
	*out = c->ns_stmt[i];
	return 0;
}

/* Bind the arguments `fmt` lists: 't' text or NULL, 'i' int64_t. */
static void ns_bind(sqlite3_stmt *st, const char *fmt, va_list ap)
{
	int i;

	for (i = 0; fmt[i]; i++) {
		if (fmt[i] == 't') {
			const char *v = va_arg(ap, const char *);

			if (v)
				bind_text(st, i + 1, v);
			else
				sqlite3_bind_null(st, i + 1);
		} else {
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		}
	}
}

/*
 * Prepare `sql`, bind the arguments `fmt` lists ('t' text or NULL, 'i'
 * int64_t) as ?1, ?2, ... and step once: SQLITE_ROW or SQLITE_DONE with
 * *stp to read and ix_done, or a negative error (the statement reset).
 */
static int ns_vstep(struct ix_conn *c, sqlite3_stmt **stp, const char *sql, const char *fmt,
                    va_list ap)
{
	sqlite3_stmt *st = NULL;
	int err, rc;

	*stp = NULL;
	if ((err = ns_prep(c, sql, &st)) < 0)
		return err;
	ns_bind(st, fmt, ap);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = ix_fail(c->db, rc, "namespace");
		ix_done(st);
		return err;
	}
	*stp = st;
	return rc;
}

static int ns_step(struct ix_conn *c, sqlite3_stmt **stp, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ns_vstep(c, stp, sql, fmt, ap);
	va_end(ap);
	return rc;
}

/* ns_step for a statement whose rows are not read: 0 or an error;
 * *changes (if given) the rows it changed. */
static int ns_exec(struct ix_conn *c, int *changes, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ns_vstep(c, &st, sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	if (rc != SQLITE_DONE)
		rc = gv_error_set(GV_ERROR, "index: a namespace write returned rows");
	else
		rc = 0;
	if (rc == 0 && changes)
		*changes = sqlite3_changes(c->db);
	ix_done(st);
	return rc;
}

/* 1 when `sql` (one row of one integer) answers non-zero, else 0. */
static int ns_true(struct ix_conn *c, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st;
	int rc = ns_step(c, &st, sql, "tt", a, b);

	if (rc < 0)
		return rc;
	rc = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0;
	ix_done(st);
	return rc;
}

static const char ns_sql_bucket_exists[] =
	"SELECT EXISTS (SELECT 1 FROM ns_buckets WHERE name = ?1 AND ?2 IS NULL)";
static const char ns_sql_blob_exists[] =
	"SELECT EXISTS (SELECT 1 FROM blobs WHERE key = ?1 AND ?2 IS NULL)";
static const char ns_sql_garbage_add[] =
	"INSERT INTO ns_garbage (key, since) VALUES (?1, ?2)"
	" ON CONFLICT (key) DO UPDATE SET since = max(since, excluded.since)";

/* GV_ENOTFOUND unless bucket and blob `key` (either may be NULL) exist. */
static int ns_need(struct ix_conn *c, const char *bucket, const char *key)
{
	int rc;

	if (bucket) {
		if ((rc = ns_true(c, ns_sql_bucket_exists, bucket, NULL)) < 0)
			return rc;
		if (!rc)
			return gv_error_set(GV_ENOTFOUND, "no such bucket: %s", bucket);
	}
	if (key) {
		if ((rc = ns_true(c, ns_sql_blob_exists, key, NULL)) < 0)
			return rc;
		if (!rc)
			return gv_error_set(GV_ENOTFOUND,
			                    "blob %s is not stored (collected or never put): put it again",
			                    key);
	}
	return 0;
}

static int ix_ns_bucket_put(gv_index *ix, const gv_bucket_info *b)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	int changes = 0;
	int err = ns_exec(c, &changes,
	                  "INSERT INTO ns_buckets (name, created) VALUES (?1, ?2)"
	                  " ON CONFLICT (name) DO NOTHING",
	                  "ti", b->name, (int64_t)b->created_ms);

	if (err == 0 && changes == 0)
		err = gv_error_set(GV_EEXISTS, "bucket %s exists", b->name);
	return ix_unlock(s, err);
}

static int ix_ns_bucket_remove(gv_index *ix, const char *name)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	int err, rc;

	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_need(c, name, NULL)) < 0)
		goto out;
	rc = ns_true(c,
	             "SELECT EXISTS (SELECT 1 FROM ns_objects WHERE bucket = ?1 AND ?2 IS NULL)"
	             " OR EXISTS (SELECT 1 FROM ns_uploads WHERE bucket = ?1)",
	             name, NULL);
	if ((err = rc) < 0)
		goto out;
	if (rc) {
		err = gv_error_set(GV_ENOTEMPTY, "bucket %s is not empty", name);
		goto out;
	}
	err = ns_exec(c, NULL, "DELETE FROM ns_buckets WHERE name = ?1", "t", name);
out:
	return ix_end(s, err);
}

static int ns_grow(void **arr, size_t elem, size_t n, size_t *cap)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (!(p = realloc(*arr, ncap * elem)))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	*arr = p;
	*cap = ncap;
	return 0;
}

/*
 * Read the rows of a stepped statement (rc from ns_step) into a malloc'd
 * array of elements of `size` with row(): < 0 an error, 1 stop before this
 * row, else 0.  On failure nothing is returned (free_row frees what the
 * rows read hold, if anything).
 */
static int ns_list(struct ix_conn *c, sqlite3_stmt *st, int rc, size_t size,
                   int (*row)(void *dst, sqlite3_stmt *st, const void *arg), const void *arg,
                   void (*free_rows)(void *v, size_t n), void **out, size_t *out_n)
{
	void *v = NULL;
	size_t n = 0, cap = 0;

	for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
		if ((rc = ns_grow(&v, size, n, &cap)) < 0)
			break;
		memset((char *)v + n * size, 0, size);
		if ((rc = row((char *)v + n * size, st, arg)) != 0) {
			if (rc == 1)
				rc = SQLITE_DONE;
			break;
		}
		n++;
	}
	if (rc != SQLITE_DONE) {
		if (free_rows)
			free_rows(v, n);
		else
			free(v);
		return rc < 0 ? rc : ix_fail(c->db, rc, "namespace list");
	}
	*out = v;
	*out_n = n;
	return 0;
}

static int row_bucket(void *dst, sqlite3_stmt *st, const void *arg)
{
	gv_bucket_info *b = dst;

	(void)arg;
	col_copy(b->name, sizeof(b->name), st, 0);
	b->created_ms = sqlite3_column_int64(st, 1);
	return 0;
}

static int ix_ns_buckets(gv_index *ix, const char *name, gv_bucket_info **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT name, created FROM ns_buckets WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
	             "t", name);
	err = rc < 0 ? rc : ns_list(c, st, rc, sizeof(**out), row_bucket, NULL, NULL, (void **)out,
	                            out_n);
	ix_done(st);
	if (err == 0 && name && *out_n == 0)
		err = gv_error_set(GV_ENOTFOUND, "no such bucket: %s", name);
	return ix_read_done(s, c, err);
}

#define NS_OBJECT_COLS "bucket, name, key, size, parts, etag, ctype, meta, mtime"

static int row_object(gv_object *o, sqlite3_stmt *st)
{
	const char *meta;
	int err;

	memset(o, 0, sizeof(*o));
	col_copy(o->bucket, sizeof(o->bucket), st, 0);
	col_copy(o->name, sizeof(o->name), st, 1);
	if ((err = col_key(&o->key, st, 2)) < 0)
		return err;
	o->size = (uint64_t)sqlite3_column_int64(st, 3);
	o->parts = (uint32_t)sqlite3_column_int64(st, 4);
	col_copy(o->etag, sizeof(o->etag), st, 5);
	col_copy(o->content_type, sizeof(o->content_type), st, 6);
	meta = (const char *)sqlite3_column_text(st, 7);
	if (meta && !(o->meta = strdup(meta)))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	o->mtime_ms = sqlite3_column_int64(st, 8);
	return 0;
}

/* Replace bucket/name's row by o (key text k), making the key it named
 * before a candidate. */
static int ns_object_write(struct ix_conn *c, const gv_object *o, const char *k, int64_t now_ms)
{
	sqlite3_stmt *st;
	char old[GV_KEY_BUFSIZE] = "";
	int rc;

	rc = ns_step(c, &st, "SELECT key FROM ns_objects WHERE bucket = ?1 AND name = ?2", "tt",
	             o->bucket, o->name);
	if (rc < 0)
		return rc;
	if (rc == SQLITE_ROW)
		col_copy(old, sizeof(old), st, 0);
	ix_done(st);
	if (*old && strcmp(old, k) != 0 &&
	    (rc = ns_exec(c, NULL, ns_sql_garbage_add, "ti", old, now_ms)) < 0)
		return rc;
	return ns_exec(c, NULL,
	               "INSERT OR REPLACE INTO ns_objects (" NS_OBJECT_COLS ")"
	               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	               "tttiittti", o->bucket, o->name, k, (int64_t)o->size, (int64_t)o->parts,
	               o->etag, o->content_type, o->meta, (int64_t)o->mtime_ms);
}

static int ix_ns_object_put(gv_index *ix, const gv_object *o, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE];
	int err;

	if ((err = ix_key_check(&o->key)) < 0)
		return err;
	gv_key_format(k, &o->key);
	c = ix_lock(s);
	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_need(c, o->bucket, k)) == 0)
		err = ns_object_write(c, o, k, now_ms);
	return ix_end(s, err);
}

static int ix_ns_object_get(gv_index *ix, const char *bucket, const char *name, gv_object *out)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT " NS_OBJECT_COLS " FROM ns_objects WHERE bucket = ?1 AND name = ?2",
	             "tt", bucket, name);
	if (rc == SQLITE_ROW)
		err = row_object(out, st);
	else if (rc == SQLITE_DONE)
		err = gv_error_set(GV_ENOTFOUND, "no such object: %s/%s", bucket, name);
	else
		err = rc;
	ix_done(st);
	if (err < 0 && rc == SQLITE_ROW) {
		free(out->meta);
		out->meta = NULL;
	}
	return ix_read_done(s, c, err);
}

static int ix_ns_object_remove(gv_index *ix, const char *bucket, const char *name, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	sqlite3_stmt *st;
	char old[GV_KEY_BUFSIZE] = "";
	int err, rc;

	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	rc = ns_step(c, &st, "SELECT key FROM ns_objects WHERE bucket = ?1 AND name = ?2", "tt",
	             bucket, name);
	if ((err = rc) < 0)
		goto out;
	if (rc == SQLITE_ROW)
		col_copy(old, sizeof(old), st, 0);
	ix_done(st);
	err = 0;
	if (!*old) {
		err = gv_error_set(GV_ENOTFOUND, "no such object: %s/%s", bucket, name);
		goto out;
	}
	if ((err = ns_exec(c, NULL, "DELETE FROM ns_objects WHERE bucket = ?1 AND name = ?2", "tt",
	                   bucket, name)) < 0)
		goto out;
	err = ns_exec(c, NULL, ns_sql_garbage_add, "ti", old, now_ms);
out:
	return ix_end(s, err);
}

/* An object row of the names with prefix `arg`; 1 past them. */
static int row_object_prefixed(void *dst, sqlite3_stmt *st, const void *arg)
{
	const char *name = (const char *)sqlite3_column_text(st, 1);

	if (!name || strncmp(name, arg, strlen(arg)) != 0)
		return 1;
	return row_object(dst, st);
}

static void objects_free(void *v, size_t n)
{
	gv_ns_objects_free(v, n);
}

static int ix_ns_objects_next(gv_index *ix, const char *bucket, const char *prefix,
                              const char *after, size_t limit, gv_object **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (limit == 0)
		return 0;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT " NS_OBJECT_COLS " FROM ns_objects"
	             " WHERE bucket = ?1 AND name > ?2 AND name >= ?3 ORDER BY name LIMIT ?4",
	             "ttti", bucket, after, prefix, limit_of(limit));
	err = rc < 0 ? rc : ns_list(c, st, rc, sizeof(**out), row_object_prefixed, prefix,
	                            objects_free, (void **)out, out_n);
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int row_key(void *dst, sqlite3_stmt *st, const void *arg)
{
	(void)arg;
	return col_key(dst, st, 0);
}

static int ix_ns_manifest_get(gv_index *ix, const gv_key *key, gv_key **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	char k[GV_KEY_BUFSIZE];
	int err, rc;

	gv_key_format(k, key);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st, "SELECT part FROM ns_manifests WHERE key = ?1 ORDER BY idx", "t", k);
	err = rc < 0 ? rc : ns_list(c, st, rc, sizeof(**out), row_key, NULL, NULL, (void **)out,
	                            out_n);
	ix_done(st);
	if (err == 0 && *out_n == 0)
		err = gv_error_set(GV_ENOTFOUND, "no manifest %s", k);
	return ix_read_done(s, c, err);
}

static int ix_ns_upload_put(gv_index *ix, const char *id, const gv_object *o)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	int err, changes = 0;

	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_need(c, o->bucket, NULL)) < 0)
		goto out;
	err = ns_exec(c, &changes,
	              "INSERT INTO ns_uploads (id, bucket, name, ctype, meta, created)"
	              " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
	              "ttttti", id, o->bucket, o->name, o->content_type,
	              o->meta, (int64_t)o->mtime_ms);
	if (err == 0 && changes == 0)
		err = gv_error_set(GV_EEXISTS, "upload %s exists", id);
out:
	return ix_end(s, err);
}

static int ix_ns_upload_get(gv_index *ix, const char *id, gv_object *out)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	const char *meta;
	int err, rc;

	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT bucket, name, ctype, meta, created FROM ns_uploads WHERE id = ?1", "t",
	             id);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		col_copy(out->bucket, sizeof(out->bucket), st, 0);
		col_copy(out->name, sizeof(out->name), st, 1);
		col_copy(out->content_type, sizeof(out->content_type), st, 2);
		meta = (const char *)sqlite3_column_text(st, 3);
		if (meta && !(out->meta = strdup(meta)))
			err = gv_error_set(GV_ENOMEM, "index: out of memory");
		out->mtime_ms = sqlite3_column_int64(st, 4);
	} else {
		err = rc < 0 ? rc : gv_error_set(GV_ENOTFOUND, "no such upload: %s", id);
	}
	ix_done(st);
	return ix_read_done(s, c, err);
}

static const char ns_sql_upload_exists[] =
	"SELECT EXISTS (SELECT 1 FROM ns_uploads WHERE id = ?1 AND ?2 IS NULL)";

static int ns_need_upload(struct ix_conn *c, const char *id)
{
	int rc = ns_true(c, ns_sql_upload_exists, id, NULL);

	if (rc == 0)
		rc = gv_error_set(GV_ENOTFOUND, "no such upload: %s", id);
	return rc < 0 ? rc : 0;
}

static int ix_ns_upload_part_put(gv_index *ix, const char *id, const gv_ns_part *p, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st;
	char k[GV_KEY_BUFSIZE], old[GV_KEY_BUFSIZE] = "";
	int err, rc;

	if ((err = ix_key_check(&p->key)) < 0)
		return err;
	gv_key_format(k, &p->key);
	c = ix_lock(s);
	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_need_upload(c, id)) < 0 || (err = ns_need(c, NULL, k)) < 0)
		goto out;
	rc = ns_step(c, &st, "SELECT key FROM ns_parts WHERE id = ?1 AND part = ?2", "ti", id,
	             (int64_t)p->part_no);
	if ((err = rc) < 0)
		goto out;
	if (rc == SQLITE_ROW)
		col_copy(old, sizeof(old), st, 0);
	ix_done(st);
	err = 0;
	if (*old && strcmp(old, k) != 0 &&
	    (err = ns_exec(c, NULL, ns_sql_garbage_add, "ti", old, now_ms)) < 0)
		goto out;
	err = ns_exec(c, NULL,
	              "INSERT OR REPLACE INTO ns_parts (id, part, key, etag, mtime)"
	              " VALUES (?1, ?2, ?3, ?4, ?5)",
	              "titti", id, (int64_t)p->part_no, k, p->etag, (int64_t)p->mtime_ms);
out:
	return ix_end(s, err);
}

static int row_part(void *dst, sqlite3_stmt *st, const void *arg)
{
	gv_ns_part *p = dst;

	(void)arg;
	p->part_no = (uint32_t)sqlite3_column_int64(st, 0);
	col_copy(p->etag, sizeof(p->etag), st, 2);
	p->mtime_ms = sqlite3_column_int64(st, 3);
	return col_key(&p->key, st, 1);
}

static int ix_ns_upload_parts_next(gv_index *ix, const char *id, uint32_t after, size_t limit,
                                   gv_ns_part **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (limit == 0)
		return 0;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT part, key, etag, mtime FROM ns_parts WHERE id = ?1 AND part > ?2"
	             " ORDER BY part LIMIT ?3",
	             "tii", id, (int64_t)after, limit_of(limit));
	err = rc < 0 ? rc : ns_list(c, st, rc, sizeof(**out), row_part, NULL, NULL, (void **)out,
	                            out_n);
	ix_done(st);
	return ix_read_done(s, c, err);
}

/* Make every part key of upload `id` a candidate and drop the upload. */
static int ns_upload_drop(struct ix_conn *c, const char *id, int64_t now_ms)
{
	int err;

	if ((err = ns_exec(c, NULL,
	                   "INSERT INTO ns_garbage (key, since) SELECT key, ?2 FROM ns_parts"
	                   " WHERE id = ?1 ON CONFLICT (key) DO UPDATE"
	                   " SET since = max(since, excluded.since)",
	                   "ti", id, now_ms)) < 0)
		return err;
	if ((err = ns_exec(c, NULL, "DELETE FROM ns_parts WHERE id = ?1", "t", id)) < 0)
		return err;
	return ns_exec(c, NULL, "DELETE FROM ns_uploads WHERE id = ?1", "t", id);
}

static int ix_ns_upload_remove(gv_index *ix, const char *id, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	int err;

	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_need_upload(c, id)) == 0)
		err = ns_upload_drop(c, id, now_ms);
	return ix_end(s, err);
}

static int row_upload(void *dst, sqlite3_stmt *st, const void *arg)
{
	gv_ns_upload *u = dst;

	(void)arg;
	col_copy(u->id, sizeof(u->id), st, 0);
	col_copy(u->bucket, sizeof(u->bucket), st, 1);
	col_copy(u->name, sizeof(u->name), st, 2);
	u->created_ms = sqlite3_column_int64(st, 3);
	return 0;
}

static int ix_ns_uploads_next(gv_index *ix, const char *bucket, const char *prefix,
                              int64_t before_ms, size_t limit, gv_ns_upload **out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	int err, rc;

	if (limit == 0)
		return 0;
	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT id, bucket, name, created FROM ns_uploads"
	             " WHERE (?1 IS NULL OR bucket = ?1) AND substr(name, 1, length(?2)) = ?2"
	             " AND created < ?3 ORDER BY bucket, name, id LIMIT ?4",
	             "ttii", bucket, prefix, before_ms, limit_of(limit));
	err = rc < 0 ? rc : ns_list(c, st, rc, sizeof(**out), row_upload, NULL, NULL, (void **)out,
	                            out_n);
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_ns_upload_complete(gv_index *ix, const char *id, const gv_object *o,
                                 const gv_key *parts, size_t n, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE], pk[GV_KEY_BUFSIZE];
	size_t i;
	int err;

	if ((err = ix_key_check(&o->key)) < 0)
		return err;
	gv_key_format(k, &o->key);
	c = ix_lock(s);
	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_need_upload(c, id)) < 0 || (err = ns_need(c, o->bucket, k)) < 0)
		goto out;
	for (i = 0; i < n && err == 0; i++)
		err = ns_exec(c, NULL,
		              "INSERT OR IGNORE INTO ns_manifests (key, idx, part) VALUES (?1, ?2, ?3)",
		              "tit", k, (int64_t)i, gv_key_format(pk, &parts[i]));
	if (err == 0 && (err = ns_object_write(c, o, k, now_ms)) == 0)
		err = ns_upload_drop(c, id, now_ms);
out:
	return ix_end(s, err);
}

static int ix_ns_pin(gv_index *ix, const gv_key *key, int pin, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	char k[GV_KEY_BUFSIZE];
	int err;

	gv_key_format(k, key);
	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if (pin) {
		if ((err = ns_need(c, NULL, k)) == 0)
			err = ns_exec(c, NULL, "INSERT OR IGNORE INTO ns_pins (key) VALUES (?1)", "t",
			              k);
	} else if ((err = ns_exec(c, NULL, "DELETE FROM ns_pins WHERE key = ?1", "t", k)) == 0) {
		err = ns_exec(c, NULL, ns_sql_garbage_add, "ti", k, now_ms);
	}
	return ix_end(s, err);
}

/* The intent of a put: not waited for (see the port). */
static int ix_ns_touch(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	char k[GV_KEY_BUFSIZE];
	int err = ns_exec(c, NULL, ns_sql_garbage_add, "ti", gv_key_format(k, key), now_ms);

	(void)ix_ticket(s); /* a later durable commit covers it */
	pthread_mutex_unlock(&s->lock);
	return err;
}

static int ix_ns_garbage_next(gv_index *ix, int64_t before_ms, const gv_key *after, size_t limit,
                              gv_key *out, size_t *out_n)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c;
	sqlite3_stmt *st = NULL;
	char k[GV_KEY_BUFSIZE] = "";
	int err, rc;

	if (limit == 0)
		return 0;
	if (after)
		gv_key_format(k, after);
	if ((err = ix_read(s, &c)) < 0)
		return err;
	rc = ns_step(c, &st,
	             "SELECT key FROM ns_garbage WHERE since <= ?1 AND key > ?2 ORDER BY key LIMIT ?3",
	             "iti", before_ms, k, limit_of(limit));
	if ((err = rc) >= 0) {
		sqlite3_reset(st); /* keys_collect steps from the start */
		err = keys_collect(c, st, limit, out, out_n, "garbage next");
	}
	ix_done(st);
	return ix_read_done(s, c, err);
}

static int ix_ns_collect(gv_index *ix, const gv_key *key, int64_t before_ms, int dry_run)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	sqlite3_stmt *st;
	char k[GV_KEY_BUFSIZE];
	int64_t since = 0;
	int err, rc, found;

	gv_key_format(k, key);
	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	rc = ns_step(c, &st, "SELECT since FROM ns_garbage WHERE key = ?1", "t", k);
	if ((err = rc) < 0)
		goto out;
	found = rc == SQLITE_ROW;
	if (found)
		since = sqlite3_column_int64(st, 0);
	ix_done(st);
	err = 0;
	if (!found || since > before_ms)
		goto out; /* not a candidate, or not due */
	rc = ns_true(c,
	             "SELECT EXISTS (SELECT 1 FROM ns_objects WHERE key = ?1 AND ?2 IS NULL)"
	             " OR EXISTS (SELECT 1 FROM ns_manifests WHERE part = ?1)"
	             " OR EXISTS (SELECT 1 FROM ns_parts WHERE key = ?1)"
	             " OR EXISTS (SELECT 1 FROM ns_pins WHERE key = ?1)",
	             k, NULL);
	if ((err = rc) < 0)
		goto out;
	if (dry_run) {
		err = !rc;
		goto out;
	}
	if ((err = ns_exec(c, NULL, "DELETE FROM ns_garbage WHERE key = ?1", "t", k)) < 0 || rc)
		goto out; /* referenced again: no longer a candidate */
	if ((err = ns_exec(c, NULL,
	                   "INSERT INTO ns_garbage (key, since) SELECT part, ?2 FROM ns_manifests"
	                   " WHERE key = ?1 ON CONFLICT (key) DO UPDATE"
	                   " SET since = max(since, excluded.since)",
	                   "ti", k, before_ms)) < 0)
		goto out;
	if ((err = ns_exec(c, NULL, "DELETE FROM ns_manifests WHERE key = ?1", "t", k)) < 0)
		goto out;
	if ((err = ns_exec(c, NULL, "DELETE FROM blobs WHERE key = ?1", "t", k)) == 0)
		err = 1;
out:
	if (dry_run && err >= 0) {
		ix_rollback(c);
		return ix_unlock(s, err);
	}
	rc = ix_end(s, err < 0 ? err : 0);
	return rc < 0 ? rc : err;
}

static int ix_ns_forget(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	struct ix_sqlite *s = ix_of(ix);
	struct ix_conn *c = ix_lock(s);
	char k[GV_KEY_BUFSIZE];
	int err, changes = 0;

	gv_key_format(k, key);
	if ((err = ix_begin(c)) < 0)
		return ix_unlock(s, err);
	if ((err = ns_exec(c, &changes, "DELETE FROM blobs WHERE key = ?1", "t", k)) < 0)
		goto out;
	if (changes == 0) {
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", k);
		goto out;
	}
	if ((err = ns_exec(c, NULL, "DELETE FROM ns_garbage WHERE key = ?1", "t", k)) == 0)
		err = ns_exec(c, NULL,
		              "INSERT OR REPLACE INTO ns_forgotten (key, at) VALUES (?1, ?2)", "ti", k,
		              now_ms);
out:
	return ix_end(s, err);
}

static const struct gv_index_ops sqlite_ops = {
	.version = GV_INDEX_OPS_VERSION,
	.name = "sqlite",
	.sector_upsert = ix_sector_upsert,
	.sector_get = ix_sector_get,
	.sector_list = ix_sector_list,
	.sector_set_health = ix_sector_set_health,
	.sector_set_state = ix_sector_set_state,
	.sector_remove = ix_sector_remove,
	.replica_put = ix_replica_put,
	.replicas_put = ix_replicas_put,
	.replica_remove = ix_replica_remove,
	.replica_set_health = ix_replica_set_health,
	.replica_set_verified = ix_replica_set_verified,
	.replica_set_ranges = ix_replica_set_ranges,
	.replicas_find = ix_replicas_find,
	.blob_exists = ix_blob_exists,
	.blob_remove = ix_blob_remove,
	.keys_next = ix_keys_next,
	.sector_keys_next = ix_sector_keys_next,
	.blobs_next = ix_blobs_next,
	.replicas_next = ix_replicas_next,
	.stats = ix_stats,
	.setting_get = ix_setting_get,
	.setting_set = ix_setting_set,
	.close = ix_close,
	.blocks_put = ix_blocks_put,
	.blocks_get = ix_blocks_get,
	.repairq_put = ix_repairq_put,
	.repairq_get = ix_repairq_get,
	.repairq_remove = ix_repairq_remove,
	.repairq_due = ix_repairq_due,
	.repairq_list = ix_repairq_list,
	.repairq_count = ix_repairq_count,
	.blob_set_created = ix_blob_set_created,
	.claim = ix_claim,
	.claim_release = ix_claim_release,
	.ns_bucket_put = ix_ns_bucket_put,
	.ns_bucket_remove = ix_ns_bucket_remove,
	.ns_buckets = ix_ns_buckets,
	.ns_object_put = ix_ns_object_put,
	.ns_object_get = ix_ns_object_get,
	.ns_object_remove = ix_ns_object_remove,
	.ns_objects_next = ix_ns_objects_next,
	.ns_manifest_get = ix_ns_manifest_get,
	.ns_upload_put = ix_ns_upload_put,
	.ns_upload_get = ix_ns_upload_get,
	.ns_upload_part_put = ix_ns_upload_part_put,
	.ns_upload_parts_next = ix_ns_upload_parts_next,
	.ns_upload_remove = ix_ns_upload_remove,
	.ns_uploads_next = ix_ns_uploads_next,
	.ns_upload_complete = ix_ns_upload_complete,
	.ns_pin = ix_ns_pin,
	.ns_touch = ix_ns_touch,
	.ns_garbage_next = ix_ns_garbage_next,
	.ns_collect = ix_ns_collect,
	.ns_forget = ix_ns_forget,
};

/* Run one SQL text that returns at most one integer; *out = -1 when no row. */
static int sql_int(sqlite3 *db, const char *sql, int64_t *out, const char *what)
{
	sqlite3_stmt *st;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ix_fail(db, rc, what);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		*out = -1;
	else
		err = ix_fail(db, rc, what);
	sqlite3_finalize(st);
	return err;
}

static int sql_exec(sqlite3 *db, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc, err = 0;

	rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		err = gv_error_set(ix_code(rc), "index: %s: %s", what,
		                   msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return err;
}

/*
 * Read the schema version: *out -1 when the database has no objects at
 * all (fresh file), else the stored version.  A database with tables but
 * no schema_version is not ours.
 */
static int schema_version(sqlite3 *db, const char *path, int64_t *out)
{
	int64_t has_table = 0, objects = 0;
	int err;

	if ((err = sql_int(db,
	                   "SELECT COUNT(*) FROM sqlite_master"
	                   " WHERE type = 'table' AND name = 'schema_version'",
	                   &has_table, "read schema")) < 0)
		return err;
	if (!has_table) {
		if ((err = sql_int(db, "SELECT COUNT(*) FROM sqlite_master", &objects,
		                   "read schema")) < 0)
			return err;
		if (objects > 0)
			return gv_error_set(GV_EINVAL, "index %s: not a graviton index "
			                    "(no schema_version table)", path);
		*out = -1;
		return 0;
	}
	if ((err = sql_int(db, "SELECT version FROM schema_version WHERE id = 1", out,
	                   "read schema version")) < 0)
		return err;
	if (*out < 0)
		return gv_error_set(GV_ERROR, "index %s: schema_version holds no valid version",
		                    path);
	return 0;
}

static int schema_prepare(sqlite3 *db, const char *path, int create)
{
	int64_t version, v;
	char sql[96];
	int err;

	if ((err = schema_version(db, path, &version)) < 0)
		return err;
	if (version == GV_INDEX_SQLITE_SCHEMA)
		return 0;
	if (version > GV_INDEX_SQLITE_SCHEMA)
		return gv_error_set(GV_ERROR, "index %s: schema version %lld is newer than %d, "
		                    "the newest this build understands; upgrade graviton",
		                    path, (long long)version, GV_INDEX_SQLITE_SCHEMA);
	if (version < 0 && !create)
		return gv_error_set(GV_ENOTFOUND, "index %s: empty database; open with create to "
		                    "initialise it", path);

	/* Upgrade under the write lock, re-reading what another process may
	 * have done meanwhile. */
	if ((err = sql_exec(db, "BEGIN IMMEDIATE", "begin schema upgrade")) < 0)
		return err;
	if ((err = schema_version(db, path, &version)) < 0)
		goto rollback;
	if (version < 0) {
		if ((err = sql_exec(db,
		                    "CREATE TABLE schema_version ("
		                    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
		                    "  version INTEGER NOT NULL);"
		                    "INSERT INTO schema_version (id, version) VALUES (1, 0);",
		                    "create schema_version")) < 0)
			goto rollback;
		version = 0;
	}
	if (version > GV_INDEX_SQLITE_SCHEMA) {
		err = gv_error_set(GV_ERROR, "index %s: schema version %lld is newer than %d",
		                   path, (long long)version, GV_INDEX_SQLITE_SCHEMA);
		goto rollback;
	}
	for (v = version; v < GV_INDEX_SQLITE_SCHEMA; v++) {
		if ((err = sql_exec(db, migrations[v], "schema migration")) < 0)
			goto rollback;
		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %lld WHERE id = 1",
		         (long long)(v + 1));
		if ((err = sql_exec(db, sql, "schema migration")) < 0)
			goto rollback;
	}
	if ((err = sql_exec(db, "COMMIT", "commit schema upgrade")) < 0)
		goto rollback;
	if (version > 0)
		gv_info("event=index_schema_upgraded path=\"%s\" from=%lld to=%d", path,
		        (long long)version, GV_INDEX_SQLITE_SCHEMA);
	return 0;
rollback:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int ix_configure(sqlite3 *db, const char *path, int memory)
{
	sqlite3_stmt *st;
	const char *mode;
	int rc, err = 0;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, IX_BUSY_TIMEOUT_MS);
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ix_fail(db, rc, "set journal mode");
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = ix_fail(db, rc, "set journal mode");
	} else {
		mode = (const char *)sqlite3_column_text(st, 0);
		if (!mode || (strcmp(mode, "wal") != 0 && !(memory && strcmp(mode, "memory") == 0)))
			err = gv_error_set(GV_ERROR, "index %s: cannot use WAL journal mode "
			                   "(got '%s'); is the file on a network file system?",
			                   path, mode ? mode : "");
	}
	sqlite3_finalize(st);
	if (err < 0)
		return err;
	return sql_exec(db,
	                "PRAGMA synchronous = NORMAL;"
	                "PRAGMA foreign_keys = ON;"
	                "PRAGMA cache_size = -32768;"
	                "PRAGMA temp_store = MEMORY;",
	                "set pragmas");
}

static int ix_open(gv_index **out, const char *path, int create, int durable)
{
	struct ix_sqlite *s = NULL;
	struct stat sb;
	int memory, flags, rc, err;

	assert(out);
	*out = NULL;
	if (!path || !*path)
		return gv_error_set(GV_EINVAL, "index: empty path");
	memory = strcmp(path, ":memory:") == 0;
	if (!memory && stat(path, &sb) < 0) {
		if (errno != ENOENT)
			return gv_error_set_errno(GV_EIO, errno, "index %s: stat", path);
		if (!create)
			return gv_error_set(GV_ENOTFOUND, "index %s does not exist", path);
	} else if (!memory && !S_ISREG(sb.st_mode)) {
		return gv_error_set(GV_EINVAL, "index %s: not a regular file", path);
	}

	s = calloc(1, sizeof(*s));
	if (!s)
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	}
	s->wal_fd = -1;
	s->w.slot = -1;
	if ((rc = pthread_mutex_init(&s->lock, NULL)) != 0) {
		free(s->path);
		free(s);
		return gv_error_set_errno(GV_ERROR, rc, "index: mutex init");
	}
	if ((rc = pthread_mutex_init(&s->sync_lock, NULL)) != 0 ||
	    (rc = pthread_cond_init(&s->sync_cond, NULL)) != 0 ||
	    (rc = pthread_mutex_init(&s->pool_lock, NULL)) != 0 ||
	    (rc = pthread_cond_init(&s->pool_cond, NULL)) != 0 ||
	    (rc = pthread_mutex_init(&s->put_lock, NULL)) != 0 ||
	    (rc = pthread_cond_init(&s->put_cond, NULL)) != 0) {
		/* (a failed init leaves nothing to destroy on Linux) */
		pthread_mutex_destroy(&s->lock);
		free(s->path);
		free(s);
		return gv_error_set_errno(GV_ERROR, rc, "index: mutex init");
	}
	s->base.ops = &sqlite_ops;
	s->durable = durable && !memory;
	s->memory = memory;

	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	rc = sqlite3_open_v2(path, &s->w.db, flags, NULL);
	if (rc != SQLITE_OK) {
		if (s->w.db)
			err = gv_error_set(ix_code(rc), "index %s: open: %s", path,
			                   sqlite3_errmsg(s->w.db));
		else
			err = gv_error_set(GV_ENOMEM, "index %s: open: out of memory", path);
		goto fail;
	}
	if ((err = ix_configure(s->w.db, path, memory)) < 0)
		goto fail;
	if ((err = schema_prepare(s->w.db, path, create)) < 0 ||
	    (err = sql_exec(s->w.db, blocks_schema, "create block tables")) < 0)
		goto fail;
	if ((err = sql_exec(s->w.db, optional_tables, "create optional tables")) < 0)
		goto fail;
	s->changes = sqlite3_total_changes64(s->w.db);
	/* Readers open the file by its absolute name, whatever the working
	 * directory is when they are first needed. */
	if (!memory && !(s->reader_path = realpath(path, NULL))) {
		err = gv_error_set_errno(GV_EIO, errno, "index %s: resolve path", path);
		goto fail;
	}
	/* What the schema step committed is made durable before first use. */
	if (s->durable && (rc = wal_sync(s)) != 0) {
		err = gv_error_set_errno(GV_EIO, rc, "index %s: sync", path);
		goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	ix_free(s);
	return err;
}

int gv_index_sqlite_open(gv_index **out, const char *path, int create)
{
	return ix_open(out, path, create, 1);
}

int gv_index_sqlite_open_bulk(gv_index **out, const char *path)
{
	return ix_open(out, path, 1, 0);
}
