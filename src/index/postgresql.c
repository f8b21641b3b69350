/*
 * postgresql.c - the replica index on PostgreSQL (libpq).
 *
 * Map of this file:
 *   schema: the v1 tables, the same version numbers as the SQLite schema
 *   statements, instance and connection pool, error mapping
 *   row readers (sector, replica, key)
 *   ops: sectors, blobs and replicas, cursors, stats, settings, blocks,
 *     the repair queue
 *   open: URL options, schema check and migration
 *
 * Semantics are those of sqlite.c, op for op, so one conformance suite
 * (tests/index/) runs against both.  Keys and sector ids are TEXT with the
 * "C" collation, so `ORDER BY key` is byte order, the order SQLite gives.
 *
 * Threads: the instance holds a pool of up to `pool_size` connections
 * (URL option, default IX_PG_POOL_DEFAULT); an op takes one for its whole
 * run and gives it back, so ops on different threads run at once and the
 * server serialises what conflicts (row locks).  Each connection prepares
 * its statements on first use.  A connection the server closed (restart,
 * failover, pg_terminate_backend) is noticed when taken and opened again;
 * while the server cannot be reached, ops fail with GV_EUNAVAILABLE.
 *
 * Every op that writes more than one row runs in one transaction (BEGIN
 * ... COMMIT); with the server's default synchronous_commit, a commit is
 * durable when the op returns.  Transactions that lock several sector
 * rows (the `used` trigger) lock them in id order, so two of them never
 * deadlock.
 *
 * Several gateways may share one database: nothing here caches rows
 * between ops.  Per-key locks are session advisory locks on connections
 * of their own (key_lock); leases on background work are rows of the
 * claims table, taken by one upsert that succeeds only when the row is
 * free, the owner's or expired by the server's clock (claim).
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <poll.h>

#include <libpq-fe.h>

#include "graviton/sys/index.h"
#include "core/clock.h"
#include "core/log.h"
#include "index/postgresql.h"
#include "index/rows.h"

#define IX_PG_POOL_DEFAULT 8
#define IX_PG_POOL_MAX 64
#define IX_PG_CONNECT_TIMEOUT "10" /* seconds, unless the URL says */

/* ---- schema ------------------------------------------------------------ */

/*
 * migrations[v] takes a database from schema version v to v + 1, as in
 * sqlite.c (the same version numbers: GV_INDEX_SQLITE_SCHEMA).  Append
 * only.  Booleans are SMALLINT 0/1 as in SQLite, so rows read the same.
 */
static const char *const migrations[] = {
	/* 0 -> 1: initial schema */
	"CREATE TABLE sectors ("
	"  id TEXT COLLATE \"C\" PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  capacity BIGINT NOT NULL,"
	"  used BIGINT NOT NULL DEFAULT 0,"
	"  healthy SMALLINT NOT NULL,"
	"  rack TEXT NOT NULL DEFAULT '',"
	"  zone TEXT NOT NULL DEFAULT '',"
	"  state SMALLINT NOT NULL);"
	"CREATE TABLE blobs ("
	"  key TEXT COLLATE \"C\" PRIMARY KEY,"
	"  size BIGINT NOT NULL,"
	"  created BIGINT NOT NULL);"
	"CREATE TABLE replicas ("
	"  key TEXT COLLATE \"C\" NOT NULL REFERENCES blobs(key) ON DELETE CASCADE,"
	"  sector TEXT COLLATE \"C\" NOT NULL REFERENCES sectors(id),"
	"  size BIGINT NOT NULL,"
	"  ranges TEXT NOT NULL,"
	"  complete SMALLINT NOT NULL,"
	"  healthy SMALLINT NOT NULL,"
	"  last_verified BIGINT NOT NULL DEFAULT 0,"
	"  checksum BYTEA,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (key, sector));"
	"CREATE INDEX replicas_by_sector ON replicas(sector, key);"
	"CREATE INDEX replicas_by_verified ON replicas(last_verified, key, sector);"
	"CREATE INDEX replicas_by_sector_verified ON replicas(sector, last_verified, key);"
	"CREATE FUNCTION graviton_replicas_used() RETURNS trigger LANGUAGE plpgsql AS $$"
	" BEGIN"
	"  IF TG_OP <> 'INSERT' THEN"
	"   UPDATE sectors SET used = used - OLD.size WHERE id = OLD.sector;"
	"  END IF;"
	"  IF TG_OP <> 'DELETE' THEN"
	"   UPDATE sectors SET used = used + NEW.size WHERE id = NEW.sector;"
	"  END IF;"
	"  RETURN NULL;"
	" END $$;"
	"CREATE TRIGGER replicas_used AFTER INSERT OR DELETE OR UPDATE OF size, sector"
	" ON replicas FOR EACH ROW EXECUTE FUNCTION graviton_replicas_used();"
	"CREATE TABLE settings ("
	"  name TEXT COLLATE \"C\" PRIMARY KEY,"
	"  value TEXT NOT NULL);",
	/* 1 -> 2: the namespace (docs/namespace.md), the tables of sqlite.c;
	 * blobs stored before it came through the raw API, so each is pinned. */
	"CREATE TABLE ns_buckets ("
	"  name TEXT COLLATE \"C\" PRIMARY KEY,"
	"  created BIGINT NOT NULL);"
	"CREATE TABLE ns_objects ("
	"  bucket TEXT COLLATE \"C\" NOT NULL,"
	"  name TEXT COLLATE \"C\" NOT NULL,"
	"  key TEXT COLLATE \"C\" NOT NULL,"
	"  size BIGINT NOT NULL,"
	"  parts BIGINT NOT NULL,"
	"  etag TEXT NOT NULL,"
	"  ctype TEXT NOT NULL,"
	"  meta TEXT,"
	"  mtime BIGINT NOT NULL,"
	"  PRIMARY KEY (bucket, name));"
	"CREATE INDEX ns_objects_by_key ON ns_objects(key);"
	"CREATE TABLE ns_manifests ("
	"  key TEXT COLLATE \"C\" NOT NULL,"
	"  idx BIGINT NOT NULL,"
	"  part TEXT COLLATE \"C\" NOT NULL,"
	"  PRIMARY KEY (key, idx));"
	"CREATE INDEX ns_manifests_by_part ON ns_manifests(part);"
	"CREATE TABLE ns_uploads ("
	"  id TEXT COLLATE \"C\" PRIMARY KEY,"
	"  bucket TEXT COLLATE \"C\" NOT NULL,"
	"  name TEXT COLLATE \"C\" NOT NULL,"
	"  ctype TEXT NOT NULL,"
	"  meta TEXT,"
	"  created BIGINT NOT NULL);"
	"CREATE INDEX ns_uploads_by_name ON ns_uploads(bucket, name, id);"
	"CREATE TABLE ns_parts ("
	"  id TEXT COLLATE \"C\" NOT NULL,"
	"  part BIGINT NOT NULL,"
	"  key TEXT COLLATE \"C\" NOT NULL,"
	"  etag TEXT NOT NULL,"
	"  mtime BIGINT NOT NULL,"
	"  PRIMARY KEY (id, part));"
	"CREATE INDEX ns_parts_by_key ON ns_parts(key);"
	"CREATE TABLE ns_pins (key TEXT COLLATE \"C\" PRIMARY KEY);"
	"CREATE TABLE ns_garbage ("
	"  key TEXT COLLATE \"C\" PRIMARY KEY,"
	"  since BIGINT NOT NULL);"
	"CREATE TABLE ns_forgotten ("
	"  key TEXT COLLATE \"C\" PRIMARY KEY,"
	"  at BIGINT NOT NULL);"
	"INSERT INTO ns_pins (key) SELECT key FROM blobs;",
	/* 2 -> 3: leases on background work (claim, claim_release) */
	"CREATE TABLE claims ("
	"  name TEXT COLLATE \"C\" PRIMARY KEY,"
	"  owner TEXT NOT NULL,"
	"  expires BIGINT NOT NULL);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == GV_INDEX_SQLITE_SCHEMA,
               "one migration step per schema version");

/*
 * Tables beside the versioned schema, as in sqlite.c (block tables, the
 * repair queue): created when missing at every open, so an existing index
 * gains them and a build that predates them still opens it.
 */
static const char optional_tables[] =
	"CREATE TABLE IF NOT EXISTS blocks ("
	"  key TEXT COLLATE \"C\" PRIMARY KEY REFERENCES blobs(key) ON DELETE CASCADE,"
	"  tab BYTEA NOT NULL);"
	"CREATE TABLE IF NOT EXISTS repair_queue ("
	"  key TEXT COLLATE \"C\" PRIMARY KEY,"
	"  reason TEXT NOT NULL,"
	"  attempts BIGINT NOT NULL,"
	"  last_error TEXT NOT NULL,"
	"  next_attempt BIGINT NOT NULL,"
	"  enqueued BIGINT NOT NULL,"
	"  dead SMALLINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS repair_queue_due ON repair_queue(dead, next_attempt, key);";

/* ---- statements -------------------------------------------------------- */

enum ix_stmt_id {
	ST_SECTOR_UPSERT,
	ST_SECTOR_GET,
	ST_SECTOR_LIST,
	ST_SECTOR_SET_HEALTH,
	ST_SECTOR_SET_STATE,
	ST_SECTOR_LOCK,
	ST_SECTOR_IN_USE,
	ST_SECTOR_DELETE,
	ST_BLOB_INSERT,
	ST_BLOB_GET,
	ST_BLOB_LOCK_SECTORS,
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
	ST_BLOB_SET_CREATED,
	ST_REPAIRQ_PUT,
	ST_REPAIRQ_GET,
	ST_REPAIRQ_DELETE,
	ST_REPAIRQ_DUE,
	ST_REPAIRQ_LIST,
	ST_REPAIRQ_COUNT,
	ST_CLAIM,
	ST_CLAIM_RELEASE,
	ST_KEY_TRYLOCK,
	ST_KEY_UNLOCK,
	ST__COUNT
};

#define IX_SECTOR_COLS "id, kind, path, capacity, used, healthy, rack, zone, state"
#define IX_REPLICA_COLS "key, sector, ranges, healthy, last_verified, checksum, reason"
#define IX_REPAIRQ_COLS "key, reason, attempts, last_error, next_attempt, enqueued, dead"

static const char *const stmt_sql[ST__COUNT] = {
	[ST_SECTOR_UPSERT] =
		"INSERT INTO sectors (id, kind, path, capacity, used, healthy, rack, zone, state)"
		" VALUES ($1, $2, $3, $4::bigint, 0, $5::smallint, $6, $7, $8::smallint)"
		" ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, path = excluded.path,"
		" capacity = excluded.capacity, healthy = excluded.healthy,"
		" rack = excluded.rack, zone = excluded.zone, state = excluded.state",
	[ST_SECTOR_GET] = "SELECT " IX_SECTOR_COLS " FROM sectors WHERE id = $1",
	[ST_SECTOR_LIST] = "SELECT " IX_SECTOR_COLS " FROM sectors ORDER BY id",
	[ST_SECTOR_SET_HEALTH] = "UPDATE sectors SET healthy = $2::smallint WHERE id = $1",
	[ST_SECTOR_SET_STATE] = "UPDATE sectors SET state = $2::smallint WHERE id = $1",
	/* A put locks its sector row first (the trigger updates it anyway), so
	 * a concurrent sector_remove sees the replica or the put sees no
	 * sector, never a replica on a removed sector. */
	[ST_SECTOR_LOCK] = "SELECT 1 FROM sectors WHERE id = $1 FOR NO KEY UPDATE",
	[ST_SECTOR_IN_USE] = "SELECT EXISTS (SELECT 1 FROM replicas WHERE sector = $1)",
	[ST_SECTOR_DELETE] = "DELETE FROM sectors WHERE id = $1",
	[ST_BLOB_INSERT] =
		"INSERT INTO blobs (key, size, created) VALUES ($1, $2::bigint, $3::bigint)"
		" ON CONFLICT (key) DO NOTHING",
	[ST_BLOB_GET] = "SELECT created FROM blobs WHERE key = $1",
	[ST_BLOB_LOCK_SECTORS] =
		"SELECT 1 FROM sectors WHERE id IN (SELECT sector FROM replicas WHERE key = $1)"
		" ORDER BY id FOR NO KEY UPDATE",
	[ST_BLOB_DELETE] = "DELETE FROM blobs WHERE key = $1",
	[ST_REPLICA_UPSERT] =
		"INSERT INTO replicas (key, sector, size, ranges, complete, healthy,"
		" last_verified, checksum, reason)"
		" VALUES ($1, $2, $3::bigint, $4, $5::smallint, $6::smallint, $7::bigint,"
		" $8::bytea, $9)"
		" ON CONFLICT (key, sector) DO UPDATE SET size = excluded.size,"
		" ranges = excluded.ranges, complete = excluded.complete,"
		" healthy = excluded.healthy, last_verified = excluded.last_verified,"
		" checksum = excluded.checksum, reason = excluded.reason",
	[ST_REPLICA_DELETE] = "DELETE FROM replicas WHERE key = $1 AND sector = $2",
	[ST_REPLICA_SET_HEALTH] =
		"UPDATE replicas SET healthy = $3::smallint, reason = $4"
		" WHERE key = $1 AND sector = $2",
	[ST_REPLICA_SET_VERIFIED] =
		"UPDATE replicas SET last_verified = $3::bigint, checksum = $4::bytea"
		" WHERE key = $1 AND sector = $2",
	[ST_REPLICA_SET_RANGES] =
		"UPDATE replicas SET ranges = $3, complete = $4::smallint"
		" WHERE key = $1 AND sector = $2",
	[ST_REPLICAS_FIND] =
		"SELECT b.key, r.sector, r.ranges, r.healthy, r.last_verified, r.checksum,"
		" r.reason FROM blobs AS b LEFT JOIN replicas AS r ON r.key = b.key"
		" WHERE b.key = $1 ORDER BY r.sector",
	[ST_KEYS_NEXT] = "SELECT key FROM blobs WHERE key > $1 ORDER BY key LIMIT $2::bigint",
	[ST_SECTOR_KEYS_NEXT] =
		"SELECT key FROM replicas WHERE sector = $1 AND key > $2 ORDER BY key"
		" LIMIT $3::bigint",
	/* The next $2 blobs after $1, each with every replica row (columns
	 * 0-6 as IX_REPLICA_COLS, a NULL sector for a blob without any; 7 the
	 * created time): one statement per batch. */
	[ST_BLOBS_NEXT] =
		"WITH b AS (SELECT key, created FROM blobs WHERE key > $1 ORDER BY key"
		" LIMIT $2::bigint)"
		" SELECT b.key, r.sector, r.ranges, r.healthy, r.last_verified, r.checksum,"
		" r.reason, b.created FROM b LEFT JOIN replicas AS r ON r.key = b.key"
		" ORDER BY b.key, r.sector",
	[ST_REPLICAS_NEXT] =
		"SELECT " IX_REPLICA_COLS " FROM replicas"
		" WHERE (last_verified, key, sector) > ($1::bigint, $2, $3)"
		" ORDER BY last_verified, key, sector LIMIT $4::bigint",
	[ST_REPLICAS_NEXT_SECTOR] =
		"SELECT " IX_REPLICA_COLS " FROM replicas"
		" WHERE sector = $3 AND (last_verified, key) > ($1::bigint, $2)"
		" ORDER BY last_verified, key LIMIT $4::bigint",
	/* The figures of sqlite.c's ST_STATS, in one snapshot. */
	[ST_STATS] =
		"WITH good AS (SELECT id FROM sectors WHERE healthy <> 0 AND state <> 2),"
		" per AS (SELECT COUNT(*) AS n, SUM(CASE WHEN healthy = 0 OR complete = 0 THEN 0"
		"   WHEN sector IN (SELECT id FROM good) THEN 1 ELSE 0 END) AS h"
		"  FROM replicas GROUP BY key)"
		" SELECT (SELECT COUNT(*) FROM blobs), (SELECT COALESCE(SUM(size), 0) FROM blobs),"
		"  COALESCE(SUM(n), 0), COALESCE(SUM(h), 0),"
		"  COUNT(*) FILTER (WHERE h BETWEEN 1 AND $1::int - 1),"
		"  COUNT(*) FILTER (WHERE h > $1::int), COUNT(*) FILTER (WHERE h > 0)"
		" FROM per",
	[ST_SETTING_GET] = "SELECT value FROM settings WHERE name = $1",
	[ST_SETTING_SET] =
		"INSERT INTO settings (name, value) VALUES ($1, $2)"
		" ON CONFLICT (name) DO UPDATE SET value = excluded.value",
	[ST_BLOCKS_PUT] =
		"INSERT INTO blocks (key, tab) SELECT $1, $2::bytea WHERE EXISTS"
		" (SELECT 1 FROM blobs WHERE key = $1)"
		" ON CONFLICT (key) DO UPDATE SET tab = excluded.tab",
	[ST_BLOCKS_GET] = "SELECT tab FROM blocks WHERE key = $1",
	[ST_BLOB_SET_CREATED] = "UPDATE blobs SET created = $2::bigint WHERE key = $1",
	[ST_REPAIRQ_PUT] =
		"INSERT INTO repair_queue (" IX_REPAIRQ_COLS ") VALUES ($1, $2, $3::bigint, $4,"
		" $5::bigint, $6::bigint, $7::smallint)"
		" ON CONFLICT (key) DO UPDATE SET reason = excluded.reason,"
		" attempts = excluded.attempts, last_error = excluded.last_error,"
		" next_attempt = excluded.next_attempt, enqueued = excluded.enqueued,"
		" dead = excluded.dead",
	[ST_REPAIRQ_GET] = "SELECT " IX_REPAIRQ_COLS " FROM repair_queue WHERE key = $1",
	[ST_REPAIRQ_DELETE] = "DELETE FROM repair_queue WHERE key = $1",
	[ST_REPAIRQ_DUE] =
		"SELECT key FROM repair_queue WHERE dead = 0 AND next_attempt <= $1::bigint"
		" ORDER BY next_attempt, key LIMIT $2::bigint",
	[ST_REPAIRQ_LIST] =
		"SELECT " IX_REPAIRQ_COLS " FROM repair_queue WHERE key > $1 ORDER BY key"
		" LIMIT $2::bigint",
	[ST_REPAIRQ_COUNT] =
		"SELECT COUNT(*) FILTER (WHERE dead = 0), COUNT(*) FILTER (WHERE dead <> 0)"
		" FROM repair_queue",
	/* Taken when free, the owner's own or expired, by the server's clock;
	 * a row comes back when it was. */
	[ST_CLAIM] =
		"INSERT INTO claims (name, owner, expires) VALUES ($1, $2,"
		" (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $3::bigint)"
		" ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
		" expires = excluded.expires"
		" WHERE claims.owner = excluded.owner"
		" OR claims.expires <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
		" RETURNING 1",
	[ST_CLAIM_RELEASE] = "DELETE FROM claims WHERE name = $1 AND owner = $2",
	[ST_KEY_TRYLOCK] = "SELECT pg_try_advisory_lock($1::bigint)",
	[ST_KEY_UNLOCK] = "SELECT pg_advisory_unlock($1::bigint)",
};

/* ---- instance and pool ------------------------------------------------- */

struct ix_conn {
	PGconn *pg;                          /* NULL: not connected */
	unsigned char prepared[ST__COUNT];   /* statement prepared on pg */
	int broken;                          /* reconnect before next use */
	int err;                             /* code of the last failure */
};

/*
 * A connection of its own for key locks (session advisory locks, which
 * belong to the connection that took them): keys are spread over
 * IX_PG_LOCK_CONNS of them, each used under its mutex for one short
 * statement at a time, so a key that another gateway holds is waited for
 * by polling, never by blocking the connection.
 */
#define IX_PG_LOCK_CONNS 2

struct ix_lockconn {
	pthread_mutex_t mu;     /* guards c and held */
	struct ix_conn c;
	unsigned held;          /* locks this session holds */
};

struct ix_pg {
	gv_index base;          /* first: the port sees only this */
	struct ix_lockconn locks[IX_PG_LOCK_CONNS];
	char *url;              /* libpq URL without our own options; immutable */
	char *label;            /* host/db for messages, no password; immutable */
	int pool_size;          /* immutable */
	pthread_mutex_t lock;   /* guards busy[] */
	pthread_cond_t cond;    /* a connection was given back */
	struct ix_conn *conns;  /* [pool_size]; conns[i] owned by its taker */
	unsigned char *busy;    /* [pool_size] */
};

static struct ix_pg *ix_of(gv_index *ix)
{
	return (struct ix_pg *)ix;
}

/* ---- errors ------------------------------------------------------------ */

/* Copy a libpq message without its trailing newline. */
static void msg_trim(char *dst, size_t cap, const char *msg)
{
	size_t n;

	snprintf(dst, cap, "%s", msg && *msg ? msg : "no message");
	n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
}

/*
 * Record the error of a failed call (res NULL: the connection's own
 * error).  A lost connection is GV_EUNAVAILABLE and marks the connection
 * for reopening; a unique violation is GV_EEXISTS.
 */
static int ix_fail(struct ix_pg *s, struct ix_conn *c, const PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[512];
	int code = GV_ERROR;

	msg_trim(msg, sizeof(msg), res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
	                                                              : PQerrorMessage(c->pg));
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD || !res ||
	    (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0))) {
		c->broken = 1;
		return c->err = gv_error_set(GV_EUNAVAILABLE,
		                             "index %s: PostgreSQL unavailable (%s): %s", s->label,
		                             what, msg);
	}
	if (!state)
		code = GV_ERROR;
	else if (strcmp(state, "23505") == 0)
		code = GV_EEXISTS;
	else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	         strcmp(state, "55P03") == 0)
		code = GV_EBUSY;
	else if (strcmp(state, "53100") == 0)
		code = GV_ENOSPACE;
	else if (strcmp(state, "53200") == 0)
		code = GV_ENOMEM;
	else if (strcmp(state, "57014") == 0)
		code = GV_ETIMEOUT;
	else if (strncmp(state, "58", 2) == 0 || strncmp(state, "XX", 2) == 0)
		code = GV_EIO;
	return c->err = gv_error_set(code, "index %s: %s: %s", s->label, what, msg);
}

/* ---- connections ------------------------------------------------------- */

static void conn_reset(struct ix_conn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	c->broken = 0;
	memset(c->prepared, 0, sizeof(c->prepared));
}

/* Server notices ("relation already exists, skipping") go to the log, not
 * to stderr: the library never prints. */
static void notice_log(void *arg, const char *msg)
{
	char line[512];

	(void)arg;
	msg_trim(line, sizeof(line), msg);
	gv_debug("event=postgresql_notice message=\"%s\"", line);
}

/* Hide in a libpq message (cap bytes) every password of the URL: libpq
 * quotes parts of a URL it cannot parse, a password among them. */
static void msg_scrub(char *msg, size_t cap, const char *url)
{
	size_t at = 0, off, len, tail, room;
	char *hit, *from;

	for (; ix_url_password(url, at, &off, &len); at = off + len) {
		for (from = msg; len > 0 && (hit = memmem(from, strlen(from), url + off, len));
		     from = hit + 3) {
			room = cap - 1 - (size_t)(hit - msg); /* bytes from hit to the last */
			if (room < 3) {
				*hit = '\0';
				break;
			}
			tail = strlen(hit + len);
			if (tail > room - 3)
				tail = room - 3;
			memmove(hit + 3, hit + len, tail);
			hit[3 + tail] = '\0';
			memcpy(hit, "***", 3);
		}
	}
}

/* Open a connection with libpq's defaults, then the URL's, then ours. */
static int conn_open(struct ix_pg *s, PGconn **out)
{
	const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[] = { IX_PG_CONNECT_TIMEOUT, "graviton", s->url, NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	char msg[512];

	*out = NULL;
	if (!pg)
		return gv_error_set(GV_ENOMEM, "index %s: out of memory", s->label);
	if (PQstatus(pg) != CONNECTION_OK) {
		msg_trim(msg, sizeof(msg), PQerrorMessage(pg));
		msg_scrub(msg, sizeof(msg), s->url);
		PQfinish(pg);
		return gv_error_set(GV_EUNAVAILABLE, "index %s: cannot connect to PostgreSQL: %s",
		                    s->label, msg);
	}
	PQsetNoticeProcessor(pg, notice_log, NULL);
	*out = pg;
	return 0;
}

/*
 * 1 when an idle connection still looks alive.  A server that shut down
 * (a restart) sends its FATAL message and closes: PQconsumeInput reads the
 * message without noticing the close, which only the socket's end of file
 * tells.
 */
static int conn_alive(PGconn *pg)
{
	struct pollfd p = { PQsocket(pg), POLLIN, 0 };
	char b;

	if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK || p.fd < 0)
		return 0;
	if (poll(&p, 1, 0) == 1) {
		if (p.revents & (POLLHUP | POLLERR))
			return 0;
		if ((p.revents & POLLIN) && recv(p.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			return 0;
	}
	return 1;
}

/*
 * An idle connection has nothing to read: anything there is the server
 * saying goodbye (a restart sends "terminating connection" before it
 * closes), which PQconsumeInput may take as a notice and still report the
 * connection fine, so the next query would fail on it.
 */
static int idle_readable(PGconn *pg)
{
	struct pollfd p = { .fd = PQsocket(pg), .events = POLLIN };

	return p.fd < 0 || poll(&p, 1, 0) != 0;
}

/* Connect a connection the server closed, or never opened. */
static int conn_ready(struct ix_pg *s, struct ix_conn *c)
{
	if (c->pg && !c->broken && (idle_readable(c->pg) || !conn_alive(c->pg)))
		c->broken = 1;
	if (c->broken)
		conn_reset(c);
	return c->pg ? 0 : conn_open(s, &c->pg);
}

/*
 * Take a connection, connected: waits while all pool_size are taken.  A
 * connection the server has closed since (its socket at EOF, a FATAL
 * pending) is opened again here, so a restart costs no failed op.
 */
static int ix_take(struct ix_pg *s, struct ix_conn **out)
{
	struct ix_conn *c = NULL;
	int i, err;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		for (i = 0; i < s->pool_size && !c; i++)
			if (!s->busy[i]) {
				s->busy[i] = 1;
				c = &s->conns[i];
			}
		if (c)
			break;
		pthread_cond_wait(&s->cond, &s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	if ((err = conn_ready(s, c)) < 0) {
		pthread_mutex_lock(&s->lock);
		s->busy[c - s->conns] = 0;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->lock);
		return err;
	}
	*out = c;
	return 0;
}

/* Give a connection back; returns err. */
static int ix_give(struct ix_pg *s, struct ix_conn *c, int err)
{
	pthread_mutex_lock(&s->lock);
	s->busy[c - s->conns] = 0;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* Run a command without parameters that returns no rows. */
static int ix_cmd(struct ix_pg *s, struct ix_conn *c, const char *sql, const char *what)
{
	PGresult *res = PQexec(c->pg, sql);
	int err = 0;

	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
	             PQresultStatus(res) != PGRES_TUPLES_OK))
		err = ix_fail(s, c, res, what);
	PQclear(res);
	return err;
}

/*
 * Run prepared statement `id` with n text parameters (bin[i] > 0: binary,
 * of that length) and wait for its result; NULL with the error recorded
 * when it failed.  `binary`: results in binary format.
 */
static PGresult *ix_run(struct ix_pg *s, struct ix_conn *c, enum ix_stmt_id id, int n,
                        const char *const *vals, const int *bin, int binary, const char *what)
{
	char name[16];
	int fmts[9] = { 0 }, lens[9] = { 0 }, i;
	ExecStatusType want;
	PGresult *res;

	assert(n <= 9);
	snprintf(name, sizeof(name), "gv%d", (int)id);
	if (!c->prepared[id]) {
		res = PQprepare(c->pg, name, stmt_sql[id], 0, NULL);
		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
			ix_fail(s, c, res, what);
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		c->prepared[id] = 1;
	}
	for (i = 0; bin && i < n; i++)
		if (bin[i] > 0) {
			fmts[i] = 1;
			lens[i] = bin[i];
		}
	res = PQexecPrepared(c->pg, name, n, vals, lens, fmts, binary);
	want = PQresultStatus(res);
	if (!res || (want != PGRES_COMMAND_OK && want != PGRES_TUPLES_OK)) {
		ix_fail(s, c, res, what);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Run a statement for its side effect; *out_rows the rows it changed. */
static int ix_change(struct ix_pg *s, struct ix_conn *c, enum ix_stmt_id id, int n,
                     const char *const *vals, const int *bin, long *out_rows, const char *what)
{
	PGresult *res = ix_run(s, c, id, n, vals, bin, 0, what);

	if (!res)
		return c->err;
	if (out_rows)
		*out_rows = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* Start a write op: a connection in an open transaction. */
static int ix_begin(struct ix_pg *s, struct ix_conn **out)
{
	int err;

	if ((err = ix_take(s, out)) < 0)
		return err;
	if ((err = ix_cmd(s, *out, "BEGIN", "begin transaction")) < 0)
		return ix_give(s, *out, err);
	return 0;
}

/* End a write op: commit on success, else roll back; give the connection
 * back. */
static int ix_end(struct ix_pg *s, struct ix_conn *c, int err)
{
	PGresult *res;

	if (err >= 0) {
		err = ix_cmd(s, c, "COMMIT", "commit");
	} else if (!c->broken) {
		res = PQexec(c->pg, "ROLLBACK");
		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
			c->broken = 1; /* its state is unknown: open it again */
		PQclear(res);
	}
	return ix_give(s, c, err);
}

/* ---- values ------------------------------------------------------------ */

static void col_copy(char *dst, size_t cap, const PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);
	size_t n = (size_t)PQgetlength(res, row, col);

	if (n >= cap)
		n = ix_utf8_cut(v, cap - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int col_key(gv_key *out, const PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);

	if (ix_key_decode_canonical(out, v, (size_t)PQgetlength(res, row, col)))
		return 0;
	if (gv_key_parse(out, v) < 0)
		return gv_error_set(GV_ERROR, "index: malformed key '%.100s' in the index", v);
	return 0;
}

static void row_sector(gv_sector_info *out, const PGresult *res, int row)
{
	int64_t state;

	memset(out, 0, sizeof(*out));
	col_copy(out->id, sizeof(out->id), res, row, 0);
	col_copy(out->kind, sizeof(out->kind), res, row, 1);
	col_copy(out->path, sizeof(out->path), res, row, 2);
	out->capacity = (uint64_t)col_i64(res, row, 3);
	out->used = (uint64_t)col_i64(res, row, 4);
	out->healthy = col_i64(res, row, 5) != 0;
	col_copy(out->rack, sizeof(out->rack), res, row, 6);
	col_copy(out->zone, sizeof(out->zone), res, row, 7);
	state = col_i64(res, row, 8);
	out->state = state == GV_SECTOR_DRAINING ? GV_SECTOR_DRAINING
	             : state == GV_SECTOR_RETIRED ? GV_SECTOR_RETIRED
	                                          : GV_SECTOR_ACTIVE;
}

static int hex_val(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A bytea column in text form ("\x" and hex digits) of exactly `len`
 * bytes into out; 0 when it is NULL or of another length. */
static int col_bytea(uint8_t *out, size_t len, const PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);
	size_t i;
	int hi, lo;

	if (PQgetisnull(res, row, col) || (size_t)PQgetlength(res, row, col) != 2 + 2 * len ||
	    v[0] != '\\' || v[1] != 'x')
		return 0;
	for (i = 0; i < len; i++) {
		if ((hi = hex_val(v[2 + 2 * i])) < 0 || (lo = hex_val(v[3 + 2 * i])) < 0)
			return 0;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 1;
}

/* Fill a replica from columns IX_REPLICA_COLS of a row; `key` given when
 * the caller knows it.  Nothing stays allocated when it fails. */
static int row_replica(gv_replica *out, const PGresult *res, int row, const gv_key *key)
{
	const char *ranges;
	int err;

	memset(out, 0, sizeof(*out));
	if (key)
		out->key = *key;
	else if ((err = col_key(&out->key, res, row, 0)) < 0)
		return err;
	col_copy(out->sector, sizeof(out->sector), res, row, 1);
	ranges = PQgetvalue(res, row, 2);
	if (!ix_ranges_decode_single(&out->ranges, ranges) &&
	    gv_rangeset_parse(&out->ranges, ranges) < 0)
		return gv_error_set(GV_ERROR, "index: malformed ranges '%.64s' of a replica on %s",
		                    ranges, out->sector);
	out->healthy = col_i64(res, row, 3) != 0;
	out->last_verified = col_i64(res, row, 4);
	out->has_checksum = col_bytea(out->checksum, GV_DIGEST_LEN, res, row, 5);
	col_copy(out->reason, sizeof(out->reason), res, row, 6);
	return 0;
}

/* Decimal text of v in buf. */
static const char *dec(char *buf, size_t cap, int64_t v)
{
	snprintf(buf, cap, "%lld", (long long)v);
	return buf;
}

static int64_t limit_of(size_t limit)
{
	return limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
}

/* ---- sectors ----------------------------------------------------------- */

static int ix_sector_upsert(gv_index *ix, const gv_sector_info *si)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char cap[24], healthy[24], state[24];
	const char *v[8];
	int err;

	assert(si);
	if ((err = ix_sector_check(si)) < 0)
		return err;
	v[0] = si->id;
	v[1] = si->kind;
	v[2] = si->path;
	v[3] = dec(cap, sizeof(cap), (int64_t)si->capacity);
	v[4] = dec(healthy, sizeof(healthy), si->healthy != 0);
	v[5] = si->rack;
	v[6] = si->zone;
	v[7] = dec(state, sizeof(state), (int)si->state);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, ST_SECTOR_UPSERT, 8, v, NULL, NULL, "sector upsert");
	return ix_give(s, c, err);
}

static int ix_sector_get(gv_index *ix, const char *id, gv_sector_info *out)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	PGresult *res;
	int err;

	assert(out);
	if ((err = ix_id_check("sector", id)) < 0)
		return err;
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_SECTOR_GET, 1, &id, NULL, 0, "sector get")))
		return ix_give(s, c, c->err);
	if (PQntuples(res) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", id);
	else
		row_sector(out, res, 0);
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_sector_list(gv_index *ix, gv_sector_info **out, size_t *out_n)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	PGresult *res;
	int err, i, n;

	assert(out && out_n);
	*out = NULL;
	*out_n = 0;
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_SECTOR_LIST, 0, NULL, NULL, 0, "sector list")))
		return ix_give(s, c, c->err);
	n = PQntuples(res);
	if (n > 0 && !(*out = calloc((size_t)n, sizeof(**out))))
		err = gv_error_set(GV_ENOMEM, "index: out of memory");
	for (i = 0; err == 0 && i < n; i++)
		row_sector(&(*out)[i], res, i);
	if (err == 0)
		*out_n = (size_t)n;
	PQclear(res);
	return ix_give(s, c, err);
}

/* UPDATE sectors ... WHERE id = $1 with one integer $2. */
static int sector_update(gv_index *ix, enum ix_stmt_id id_stmt, const char *id, int value,
                         const char *what)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char vbuf[24];
	const char *v[2] = { id, dec(vbuf, sizeof(vbuf), value) };
	long rows = 0;
	int err;

	if ((err = ix_id_check("sector", id)) < 0)
		return err;
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, id_stmt, 2, v, NULL, &rows, what);
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", id);
	return ix_give(s, c, err);
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
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	PGresult *res = NULL;
	long rows = 0;
	int err;

	if ((err = ix_id_check("sector", id)) < 0)
		return err;
	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ix_change(s, c, ST_SECTOR_LOCK, 1, &id, NULL, &rows, "sector remove")) < 0)
		goto out;
	if (rows == 0) {
		err = gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", id);
		goto out;
	}
	if (!(res = ix_run(s, c, ST_SECTOR_IN_USE, 1, &id, NULL, 0, "sector remove"))) {
		err = c->err;
		goto out;
	}
	if (PQgetvalue(res, 0, 0)[0] == 't') {
		err = gv_error_set(GV_EBUSY,
		                   "index: sector '%s' still holds replicas; drain it first", id);
		goto out;
	}
	err = ix_change(s, c, ST_SECTOR_DELETE, 1, &id, NULL, NULL, "sector remove");
out:
	PQclear(res);
	return ix_end(s, c, err);
}

/* ---- blobs and replicas ------------------------------------------------ */

/* A replica_put's parameters, checked and formatted. */
struct ix_put {
	const gv_replica *r;
	char key[GV_KEY_BUFSIZE];
	char *ranges;
	int complete;
	char reason[GV_REASON_MAX];
};

static int put_prepare(struct ix_put *p, const gv_replica *r)
{
	int err;

	memset(p, 0, sizeof(*p));
	if ((err = ix_key_check(&r->key)) < 0 || (err = ix_id_check("sector", r->sector)) < 0 ||
	    (err = ix_ranges_text(&p->ranges, &p->complete, &r->ranges, r->key.size)) < 0)
		return err;
	p->r = r;
	gv_key_format(p->key, &r->key);
	memcpy(p->reason, r->reason, ix_utf8_cut(r->reason, sizeof(p->reason) - 1));
	return 0;
}

/* The rows of one replica_put, in the connection's open transaction. */
static int put_rows(struct ix_pg *s, struct ix_conn *c, const struct ix_put *p)
{
	const gv_replica *r = p->r;
	char size[24], now[24], complete[24], healthy[24], verified[24];
	const char *v[9];
	int bin[9] = { 0 };
	long rows = 0;
	int err;

	v[0] = r->sector;
	if ((err = ix_change(s, c, ST_SECTOR_LOCK, 1, v, NULL, &rows, "replica put")) < 0)
		return err;
	if (rows == 0)
		return gv_error_set(GV_ENOTFOUND, "index: no sector '%s'", r->sector);
	v[0] = p->key;
	v[1] = dec(size, sizeof(size), (int64_t)r->key.size);
	v[2] = dec(now, sizeof(now), gv_now_ms());
	if ((err = ix_change(s, c, ST_BLOB_INSERT, 3, v, NULL, NULL, "replica put (blob)")) < 0)
		return err;
	v[1] = r->sector;
	v[2] = size;
	v[3] = p->ranges;
	v[4] = dec(complete, sizeof(complete), p->complete);
	v[5] = dec(healthy, sizeof(healthy), r->healthy != 0);
	v[6] = dec(verified, sizeof(verified), r->last_verified);
	v[7] = r->has_checksum ? (const char *)r->checksum : NULL;
	bin[7] = r->has_checksum ? GV_DIGEST_LEN : 0;
	v[8] = p->reason;
	return ix_change(s, c, ST_REPLICA_UPSERT, 9, v, bin, NULL, "replica put");
}

static int put_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ix_put *)a)->r->sector, ((const struct ix_put *)b)->r->sector);
}

/* Record n replicas in one transaction, sector rows locked in id order. */
static int ix_replicas_put(gv_index *ix, const gv_replica *rs, size_t n)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_put *ps;
	struct ix_conn *c;
	size_t i;
	int err = 0;

	if (n == 0)
		return 0;
	if (!(ps = calloc(n, sizeof(*ps))))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	for (i = 0; i < n && err == 0; i++)
		err = put_prepare(&ps[i], &rs[i]);
	if (err < 0)
		goto out;
	qsort(ps, n, sizeof(*ps), put_cmp);
	if ((err = ix_begin(s, &c)) < 0)
		goto out;
	for (i = 0; i < n && err == 0; i++)
		err = put_rows(s, c, &ps[i]);
	err = ix_end(s, c, err);
out:
	for (i = 0; i < n; i++)
		free(ps[i].ranges);
	free(ps);
	return err;
}

static int ix_replica_put(gv_index *ix, const gv_replica *r)
{
	assert(r);
	return ix_replicas_put(ix, r, 1);
}

/* Run a one-statement change of one replica ($1 key, $2 sector, then
 * `extra` more) and map "no row" to GV_ENOTFOUND. */
static int replica_change(gv_index *ix, enum ix_stmt_id id_stmt, const gv_key *key,
                          const char *sector, int nextra, const char *const *extra,
                          const int *extra_bin, const char *what)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[4] = { kbuf, sector, NULL, NULL };
	int bin[4] = { 0 }, i, err;
	long rows = 0;

	assert(key && nextra <= 2);
	if ((err = ix_id_check("sector", sector)) < 0)
		return err;
	gv_key_format(kbuf, key);
	for (i = 0; i < nextra; i++) {
		v[2 + i] = extra[i];
		bin[2 + i] = extra_bin ? extra_bin[i] : 0;
	}
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (id_stmt == ST_REPLICA_DELETE) {
		/* The trigger updates the sector row: lock it first. */
		if ((err = ix_cmd(s, c, "BEGIN", "begin transaction")) < 0)
			return ix_give(s, c, err);
		err = ix_change(s, c, ST_SECTOR_LOCK, 1, &v[1], NULL, NULL, what);
		if (err == 0)
			err = ix_change(s, c, id_stmt, 2, v, bin, &rows, what);
		if (err == 0 && rows == 0)
			err = gv_error_set(GV_ENOTFOUND, "index: no replica of %s on sector '%s'", kbuf,
			                   sector);
		return ix_end(s, c, err);
	}
	err = ix_change(s, c, id_stmt, 2 + nextra, v, bin, &rows, what);
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no replica of %s on sector '%s'", kbuf,
		                   sector);
	return ix_give(s, c, err);
}

static int ix_replica_remove(gv_index *ix, const gv_key *key, const char *sector)
{
	return replica_change(ix, ST_REPLICA_DELETE, key, sector, 0, NULL, NULL,
	                      "replica remove");
}

static int ix_replica_set_health(gv_index *ix, const gv_key *key, const char *sector,
                                 int healthy, const char *reason)
{
	char rbuf[GV_REASON_MAX] = "";
	const char *v[2] = { healthy ? "1" : "0", rbuf };

	reason = reason ? reason : "";
	memcpy(rbuf, reason, ix_utf8_cut(reason, sizeof(rbuf) - 1));
	return replica_change(ix, ST_REPLICA_SET_HEALTH, key, sector, 2, v, NULL,
	                      "replica set health");
}

static int ix_replica_set_verified(gv_index *ix, const gv_key *key, const char *sector,
                                   int64_t when_ms, const uint8_t digest[GV_DIGEST_LEN])
{
	char when[24];
	const char *v[2] = { dec(when, sizeof(when), when_ms), (const char *)digest };
	int bin[2] = { 0, digest ? GV_DIGEST_LEN : 0 };

	return replica_change(ix, ST_REPLICA_SET_VERIFIED, key, sector, 2, v, bin,
	                      "replica set verified");
}

static int ix_replica_set_ranges(gv_index *ix, const gv_key *key, const char *sector,
                                 const gv_rangeset *ranges)
{
	char *text = NULL;
	int complete, err;

	assert(key && ranges);
	if ((err = ix_ranges_text(&text, &complete, ranges, key->size)) < 0)
		return err;
	{
		const char *v[2] = { text, complete ? "1" : "0" };

		err = replica_change(ix, ST_REPLICA_SET_RANGES, key, sector, 2, v, NULL,
		                     "replica set ranges");
	}
	free(text);
	return err;
}

static int ix_replicas_find(gv_index *ix, const gv_key *key, gv_replica **out,
                            size_t *out_n)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[1] = { kbuf };
	gv_replica *arr = NULL;
	size_t n = 0, cap = 0;
	PGresult *res;
	int err = 0, i, rows;

	assert(key && out && out_n);
	*out = NULL;
	*out_n = 0;
	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_REPLICAS_FIND, 1, v, NULL, 0, "replicas find")))
		return ix_give(s, c, c->err);
	rows = PQntuples(res);
	if (rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
	for (i = 0; err == 0 && i < rows; i++) {
		if (PQgetisnull(res, i, 1))
			continue; /* the blob has no replicas */
		if ((err = ix_replicas_grow(&arr, n, &cap)) < 0 ||
		    (err = row_replica(&arr[n], res, i, key)) < 0)
			break;
		n++;
	}
	PQclear(res);
	ix_give(s, c, err);
	if (err < 0) {
		gv_replicas_free(arr, n);
		return err;
	}
	*out = arr;
	*out_n = n;
	return 0;
}

static int ix_blob_exists(gv_index *ix, const gv_key *key, int64_t *out_created_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[1] = { kbuf };
	PGresult *res;
	int err;

	assert(key);
	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_BLOB_GET, 1, v, NULL, 0, "blob exists")))
		return ix_give(s, c, c->err);
	err = PQntuples(res) > 0;
	if (err && out_created_ms)
		*out_created_ms = col_i64(res, 0, 0);
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_blob_remove(gv_index *ix, const gv_key *key)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[1] = { kbuf };
	long rows = 0;
	int err;

	assert(key);
	gv_key_format(kbuf, key);
	if ((err = ix_begin(s, &c)) < 0)
		return err;
	/* The cascade's trigger updates every sector of the blob: lock them
	 * in id order first, as replicas_put does. */
	err = ix_change(s, c, ST_BLOB_LOCK_SECTORS, 1, v, NULL, NULL, "blob remove");
	if (err == 0)
		err = ix_change(s, c, ST_BLOB_DELETE, 1, v, NULL, &rows, "blob remove");
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
	return ix_end(s, c, err);
}

/* ---- cursors ----------------------------------------------------------- */

/* Run a key query and collect up to `limit` keys from column 0. */
static int keys_query(struct ix_pg *s, enum ix_stmt_id id, int n, const char *const *v,
                      size_t limit, gv_key *out, size_t *out_n, const char *what)
{
	struct ix_conn *c;
	PGresult *res;
	size_t i, rows;
	int err = 0;

	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, id, n, v, NULL, 0, what)))
		return ix_give(s, c, c->err);
	rows = (size_t)PQntuples(res);
	for (i = 0; i < rows && i < limit && err == 0; i++)
		err = col_key(&out[i], res, (int)i, 0);
	if (err == 0)
		*out_n = i;
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_keys_next(gv_index *ix, const gv_key *after, size_t limit, gv_key *out,
                        size_t *out_n)
{
	char kbuf[GV_KEY_BUFSIZE] = "", lim[24];
	const char *v[2] = { kbuf, lim };

	assert(out_n);
	*out_n = 0;
	if (limit == 0)
		return 0;
	assert(out);
	if (after)
		gv_key_format(kbuf, after);
	dec(lim, sizeof(lim), limit_of(limit));
	return keys_query(ix_of(ix), ST_KEYS_NEXT, 2, v, limit, out, out_n, "keys next");
}

static int ix_sector_keys_next(gv_index *ix, const char *sector, const gv_key *after,
                               size_t limit, gv_key *out, size_t *out_n)
{
	char kbuf[GV_KEY_BUFSIZE] = "", lim[24];
	const char *v[3] = { sector, kbuf, lim };
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
	dec(lim, sizeof(lim), limit_of(limit));
	return keys_query(ix_of(ix), ST_SECTOR_KEYS_NEXT, 3, v, limit, out, out_n,
	                  "sector keys next");
}

static int ix_blobs_next(gv_index *ix, const gv_key *after, size_t limit,
                         gv_blob_entry **out, size_t *out_n)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "", lim[24];
	const char *v[2] = { kbuf, lim }, *k, *cur = NULL;
	gv_blob_entry *arr = NULL, *e = NULL;
	size_t n = 0, cap = 0, rcap = 0;
	PGresult *res;
	int err = 0, i, rows;

	assert(out && out_n);
	*out = NULL;
	*out_n = 0;
	if (limit == 0)
		return 0;
	if (after)
		gv_key_format(kbuf, after);
	dec(lim, sizeof(lim), limit_of(limit));
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_BLOBS_NEXT, 2, v, NULL, 0, "blobs next")))
		return ix_give(s, c, c->err);
	rows = PQntuples(res);
	for (i = 0; i < rows && err == 0; i++) {
		k = PQgetvalue(res, i, 0);
		if (!cur || strcmp(k, cur) != 0) {
			if ((err = ix_entries_grow(&arr, n, &cap)) < 0)
				break;
			e = &arr[n];
			memset(e, 0, sizeof(*e));
			if ((err = col_key(&e->key, res, i, 0)) < 0)
				break;
			e->created_ms = col_i64(res, i, 7);
			n++;
			rcap = 0;
			cur = k;
		}
		if (PQgetisnull(res, i, 1))
			continue; /* the blob has no replicas */
		if ((err = ix_replicas_grow(&e->replicas, e->nreplicas, &rcap)) < 0 ||
		    (err = row_replica(&e->replicas[e->nreplicas], res, i, &e->key)) < 0)
			break;
		e->nreplicas++;
	}
	PQclear(res);
	ix_give(s, c, err);
	if (err < 0) {
		gv_blob_entries_free(arr, n);
		return err;
	}
	*out = arr;
	*out_n = n;
	return 0;
}

static int ix_replicas_next(gv_index *ix, gv_replica_cursor *cur, const char *sector,
                            size_t limit, gv_replica **out, size_t *out_n)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "", lim[24], lv[24];
	const char *v[4];
	gv_replica *arr = NULL;
	size_t n = 0, cap = 0;
	PGresult *res;
	int err = 0, i, rows;

	assert(cur && out && out_n);
	*out = NULL;
	*out_n = 0;
	if (sector && (err = ix_id_check("sector", sector)) < 0)
		return err;
	if (limit == 0)
		return 0;
	if (cur->started)
		gv_key_format(kbuf, &cur->key);
	/* Before any row: (INT64_MIN, "", "") sorts below every real row. */
	v[0] = dec(lv, sizeof(lv), cur->started ? cur->last_verified : INT64_MIN);
	v[1] = kbuf;
	v[2] = sector ? sector : cur->started ? cur->sector : "";
	v[3] = dec(lim, sizeof(lim), limit_of(limit));
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, sector ? ST_REPLICAS_NEXT_SECTOR : ST_REPLICAS_NEXT, 4, v, NULL,
	                   0, "replicas next")))
		return ix_give(s, c, c->err);
	rows = PQntuples(res);
	for (i = 0; i < rows && (size_t)i < limit && err == 0; i++) {
		if ((err = ix_replicas_grow(&arr, n, &cap)) < 0 ||
		    (err = row_replica(&arr[n], res, i, NULL)) < 0)
			break;
		n++;
	}
	PQclear(res);
	ix_give(s, c, err);
	if (err < 0) {
		gv_replicas_free(arr, n);
		return err;
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
	return 0;
}

/* ---- stats ------------------------------------------------------------- */

static uint64_t col_u64(const PGresult *res, int col)
{
	int64_t v = col_i64(res, 0, col);

	return v < 0 ? 0 : (uint64_t)v;
}

static int ix_stats(gv_index *ix, int factor, gv_index_stats *out)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char fbuf[24];
	const char *v[1] = { dec(fbuf, sizeof(fbuf), factor) };
	uint64_t with_healthy;
	PGresult *res;
	int err;

	assert(out);
	if (factor < 1)
		return gv_error_set(GV_EINVAL, "index: replication factor %d must be at least 1",
		                    factor);
	memset(out, 0, sizeof(*out));
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_STATS, 1, v, NULL, 0, "stats")))
		return ix_give(s, c, c->err);
	out->blobs = col_u64(res, 0);
	out->bytes = col_u64(res, 1);
	out->replicas = col_u64(res, 2);
	out->healthy_replicas = col_u64(res, 3);
	out->unhealthy_replicas = out->replicas - out->healthy_replicas;
	out->under_replicated = col_u64(res, 4);
	out->over_replicated = col_u64(res, 5);
	with_healthy = col_u64(res, 6);
	out->lost = out->blobs > with_healthy ? out->blobs - with_healthy : 0;
	out->avg_factor = out->blobs ? (double)out->healthy_replicas / (double)out->blobs : 0.0;
	PQclear(res);
	return ix_give(s, c, 0);
}

/* ---- settings ---------------------------------------------------------- */

static int ix_setting_get(gv_index *ix, const char *name, char *buf, size_t cap)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	PGresult *res;
	size_t len;
	int err;

	assert(buf || cap == 0);
	if ((err = ix_setting_name_check(name)) < 0)
		return err;
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_SETTING_GET, 1, &name, NULL, 0, "setting get")))
		return ix_give(s, c, c->err);
	if (PQntuples(res) == 0) {
		err = gv_error_set(GV_ENOTFOUND, "index: setting '%s' is not set", name);
	} else if ((len = (size_t)PQgetlength(res, 0, 0)) >= cap) {
		err = gv_error_set(GV_EINVAL, "index: setting '%s' needs %zu bytes, buffer has %zu",
		                   name, len + 1, cap);
	} else {
		memcpy(buf, PQgetvalue(res, 0, 0), len);
		buf[len] = '\0';
	}
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_setting_set(gv_index *ix, const char *name, const char *value)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	const char *v[2] = { name, value };
	int err;

	if ((err = ix_setting_name_check(name)) < 0)
		return err;
	if (!value || strnlen(value, IX_SETTING_VALUE_MAX) >= IX_SETTING_VALUE_MAX)
		return gv_error_set(GV_EINVAL,
		                    "index: setting '%s': value missing or longer than %d bytes",
		                    name, IX_SETTING_VALUE_MAX - 1);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, ST_SETTING_SET, 2, v, NULL, NULL, "setting set");
	return ix_give(s, c, err);
}

/* ---- block tables ------------------------------------------------------ */

static int ix_blocks_put(gv_index *ix, const gv_key *key, const void *table, size_t len)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[2] = { kbuf, table };
	int bin[2] = { 0, (int)len };
	long rows = 0;
	int err;

	if ((err = ix_key_check(key)) < 0)
		return err;
	if (!table || len == 0 || len > GV_INDEX_BLOCKS_MAX)
		return gv_error_set(GV_EINVAL, "index: block table of %zu bytes (1..%u)", len,
		                    GV_INDEX_BLOCKS_MAX);
	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, ST_BLOCKS_PUT, 2, v, bin, &rows, "blocks put");
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
	return ix_give(s, c, err);
}

static int ix_blocks_get(gv_index *ix, const gv_key *key, void **out, size_t *out_len)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[1] = { kbuf };
	PGresult *res;
	size_t len;
	int err = 0;

	*out = NULL;
	*out_len = 0;
	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_BLOCKS_GET, 1, v, NULL, 1, "blocks get")))
		return ix_give(s, c, c->err);
	if (PQntuples(res) == 0) {
		err = gv_error_set(GV_ENOTFOUND, "index: no block table for %s", kbuf);
	} else if ((len = (size_t)PQgetlength(res, 0, 0)) == 0 || len > GV_INDEX_BLOCKS_MAX) {
		err = gv_error_set(GV_ECORRUPT, "index: block table of %s holds %zu bytes", kbuf,
		                   len);
	} else if (!(*out = malloc(len))) {
		err = gv_error_set(GV_ENOMEM, "index: out of memory");
	} else {
		memcpy(*out, PQgetvalue(res, 0, 0), len);
		*out_len = len;
	}
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_blob_set_created(gv_index *ix, const gv_key *key, int64_t created_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE], when[24];
	const char *v[2] = { kbuf, dec(when, sizeof(when), created_ms) };
	long rows = 0;
	int err;

	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, ST_BLOB_SET_CREATED, 2, v, NULL, &rows, "blob set created");
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", kbuf);
	return ix_give(s, c, err);
}

/* ---- the repair queue --------------------------------------------------- */

static int row_repairq(gv_repairq_entry *out, const PGresult *res, int row)
{
	int64_t attempts;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = col_key(&out->key, res, row, 0)) < 0)
		return err;
	col_copy(out->reason, sizeof(out->reason), res, row, 1);
	attempts = col_i64(res, row, 2);
	out->attempts = attempts < 0 ? 0 : attempts > UINT32_MAX ? UINT32_MAX : (uint32_t)attempts;
	col_copy(out->last_error, sizeof(out->last_error), res, row, 3);
	out->next_attempt_ms = col_i64(res, row, 4);
	out->enqueued_ms = col_i64(res, row, 5);
	out->dead = col_i64(res, row, 6) != 0;
	return 0;
}

static int ix_repairq_put(gv_index *ix, const gv_repairq_entry *e)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE], att[24], next[24], enq[24];
	const char *v[7] = { kbuf, e->reason, att, e->last_error, next, enq,
		             e->dead ? "1" : "0" };
	int err;

	assert(e);
	if ((err = ix_repairq_check(e)) < 0)
		return err;
	gv_key_format(kbuf, &e->key);
	dec(att, sizeof(att), e->attempts);
	dec(next, sizeof(next), e->next_attempt_ms);
	dec(enq, sizeof(enq), e->enqueued_ms);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, ST_REPAIRQ_PUT, 7, v, NULL, NULL, "repair queue put");
	return ix_give(s, c, err);
}

static int ix_repairq_get(gv_index *ix, const gv_key *key, gv_repairq_entry *out)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[1] = { kbuf };
	PGresult *res;
	int err;

	assert(key && out);
	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_REPAIRQ_GET, 1, v, NULL, 0, "repair queue get")))
		return ix_give(s, c, c->err);
	if (PQntuples(res) == 0)
		err = gv_error_set(GV_ENOTFOUND, "index: %s is not in the repair queue", kbuf);
	else
		err = row_repairq(out, res, 0);
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_repairq_remove(gv_index *ix, const gv_key *key)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE];
	const char *v[1] = { kbuf };
	int err;

	assert(key);
	gv_key_format(kbuf, key);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ix_change(s, c, ST_REPAIRQ_DELETE, 1, v, NULL, NULL, "repair queue remove");
	return ix_give(s, c, err);
}

static int ix_repairq_due(gv_index *ix, int64_t now_ms, size_t limit, gv_key *out,
                          size_t *out_n)
{
	char now[24], lim[24];
	const char *v[2] = { dec(now, sizeof(now), now_ms), lim };

	assert(out_n);
	*out_n = 0;
	if (limit == 0)
		return 0;
	assert(out);
	dec(lim, sizeof(lim), limit_of(limit));
	return keys_query(ix_of(ix), ST_REPAIRQ_DUE, 2, v, limit, out, out_n,
	                  "repair queue due");
}

static int ix_repairq_list(gv_index *ix, const gv_key *after, size_t limit,
                           gv_repairq_entry *out, size_t *out_n)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char kbuf[GV_KEY_BUFSIZE] = "", lim[24];
	const char *v[2] = { kbuf, lim };
	PGresult *res;
	size_t i, rows;
	int err = 0;

	assert(out_n);
	*out_n = 0;
	if (limit == 0)
		return 0;
	assert(out);
	if (after)
		gv_key_format(kbuf, after);
	dec(lim, sizeof(lim), limit_of(limit));
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_REPAIRQ_LIST, 2, v, NULL, 0, "repair queue list")))
		return ix_give(s, c, c->err);
	rows = (size_t)PQntuples(res);
	for (i = 0; i < rows && i < limit && err == 0; i++)
		err = row_repairq(&out[i], res, (int)i);
	if (err == 0)
		*out_n = i;
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_repairq_count(gv_index *ix, uint64_t *queued, uint64_t *dead)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	PGresult *res;
	int err;

	assert(queued && dead);
	*queued = *dead = 0;
	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ix_run(s, c, ST_REPAIRQ_COUNT, 0, NULL, NULL, 0, "repair queue count")))
		return ix_give(s, c, c->err);
	*queued = (uint64_t)col_i64(res, 0, 0);
	*dead = (uint64_t)col_i64(res, 0, 1);
	PQclear(res);
	return ix_give(s, c, 0);
}

/* ---- several gateways: key locks and claims ---------------------------- */

/* The advisory lock id of a key: 64 bits of its digest. */
static const char *key_lock_id(char *buf, size_t cap, const gv_key *key)
{
	uint64_t v = 0;
	int i;

	for (i = 8; i < 16; i++)
		v = (v << 8) | key->digest[i];
	return dec(buf, cap, (int64_t)v);
}

static struct ix_lockconn *key_lockconn(struct ix_pg *s, const gv_key *key)
{
	return &s->locks[key->digest[16] % IX_PG_LOCK_CONNS];
}

/* One try at key's lock: 1 taken, 0 held elsewhere, < 0 error. */
static int key_try(struct ix_pg *s, struct ix_lockconn *l, const char *id)
{
	const char *v[1] = { id };
	PGresult *res = NULL;
	int err = 0, tries;

	pthread_mutex_lock(&l->mu);
	for (tries = 0; tries < 2 && !res; tries++) {
		PGconn *was = l->c.pg;

		if ((err = conn_ready(s, &l->c)) < 0)
			break;
		if (l->c.pg != was && l->held > 0) {
			/* The server ended the session, and its locks with it. */
			gv_warn("event=index_key_locks_lost index=%s held=%u", s->label, l->held);
			l->held = 0;
		}
		res = ix_run(s, &l->c, ST_KEY_TRYLOCK, 1, v, NULL, 0, "key lock");
		err = res ? 0 : l->c.err;
		/* An idle session the server ended (a restart) may look alive
		 * until used: with no lock to lose, it is opened again once. */
		if (!res && (!l->c.broken || l->held > 0))
			break;
	}
	if (res) {
		err = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
		l->held += (unsigned)err;
	}
	PQclear(res);
	pthread_mutex_unlock(&l->mu);
	return err;
}

static int ix_key_lock(gv_index *ix, const gv_key *key, uint64_t wait_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_lockconn *l = key_lockconn(s, key);
	int64_t deadline = gv_mono_ms() + (int64_t)wait_ms;
	long pause_us = 500;
	char id[24], kbuf[GV_KEY_BUFSIZE];
	int err;

	key_lock_id(id, sizeof(id), key);
	while ((err = key_try(s, l, id)) == 0) {
		struct timespec ts = { 0, pause_us * 1000 };

		if (gv_mono_ms() >= deadline)
			return gv_error_set(GV_EBUSY, "index %s: key %s stayed locked by another "
			                    "gateway for %llu ms", s->label, gv_key_format(kbuf, key),
			                    (unsigned long long)wait_ms);
		nanosleep(&ts, NULL);
		if (pause_us < 16000)
			pause_us *= 2;
	}
	return err;
}

static void ix_key_unlock(gv_index *ix, const gv_key *key)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_lockconn *l = key_lockconn(s, key);
	const char *v[1];
	char id[24];
	PGresult *res;

	v[0] = key_lock_id(id, sizeof(id), key);
	pthread_mutex_lock(&l->mu);
	/* A session the server closed took its locks with it. */
	if (l->c.pg && !l->c.broken && l->held > 0) {
		res = ix_run(s, &l->c, ST_KEY_UNLOCK, 1, v, NULL, 0, "key unlock");
		/* 'f': a lock of a session gone since, not this one's. */
		if (res && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't')
			l->held--;
		PQclear(res);
	}
	pthread_mutex_unlock(&l->mu);
	gv_error_clear();
}

static int claim_run(gv_index *ix, enum ix_stmt_id id, const char *name, const char *owner,
                     uint64_t ttl_ms, const char *what)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char ttl[24];
	const char *v[3] = { name, owner, ttl };
	PGresult *res;
	int err;

	if ((err = ix_claim_check(name, owner, ttl_ms)) < 0)
		return err;
	dec(ttl, sizeof(ttl), (int64_t)ttl_ms);
	if ((err = ix_take(s, &c)) < 0)
		return err;
	res = ix_run(s, c, id, id == ST_CLAIM ? 3 : 2, v, NULL, 0, what);
	if (!res)
		err = c->err;
	else if (id == ST_CLAIM)
		err = PQntuples(res) > 0;
	PQclear(res);
	return ix_give(s, c, err);
}

static int ix_claim(gv_index *ix, const char *name, const char *owner, uint64_t ttl_ms)
{
	return claim_run(ix, ST_CLAIM, name, owner, ttl_ms, "claim");
}

static int ix_claim_release(gv_index *ix, const char *name, const char *owner)
{
	return claim_run(ix, ST_CLAIM_RELEASE, name, owner, 0, "claim release");
}

/* ---- open and close ---------------------------------------------------- */

static void ix_free(struct ix_pg *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; s->conns && i < s->pool_size; i++)
		conn_reset(&s->conns[i]);
	for (i = 0; i < IX_PG_LOCK_CONNS; i++) {
		conn_reset(&s->locks[i].c);
		pthread_mutex_destroy(&s->locks[i].mu);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->conns);
	free(s->busy);
	free(s->url);
	free(s->label);
	free(s);
}

static void ix_close(gv_index *ix)
{
	ix_free(ix_of(ix));
}

/* ---- the namespace (docs/namespace.md) ----------------------------------- */

/*
 * The rules of sys/index.h under READ COMMITTED: a reference is recorded
 * after locking its blob row FOR SHARE, and the collector locks the row FOR
 * UPDATE before it looks for references, so the two wait for each other
 * and the second sees what the first committed.
 */

/* Run sql with n text parameters (NULL: SQL NULL): the result, or NULL
 * with the error recorded in c->err. */
static PGresult *ns_q(struct ix_pg *s, struct ix_conn *c, const char *sql, int n,
                      const char *const *v)
{
	PGresult *res = PQexecParams(c->pg, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ix_fail(s, c, res, "namespace");
		PQclear(res);
		return NULL;
	}
	return res;
}

/* ns_q for its side effect: 0 or the error; *rows (if given) the rows
 * changed or returned. */
static int ns_x(struct ix_pg *s, struct ix_conn *c, const char *sql, int n, const char *const *v,
                long *rows)
{
	PGresult *res = ns_q(s, c, sql, n, v);

	if (!res)
		return c->err;
	if (rows)
		*rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
		                                                : strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

static const char ns_pg_garbage_add[] =
	"INSERT INTO ns_garbage (key, since) VALUES ($1, $2::bigint)"
	" ON CONFLICT (key) DO UPDATE SET since = GREATEST(ns_garbage.since, excluded.since)";

static int ns_garbage_add(struct ix_pg *s, struct ix_conn *c, const char *key, int64_t now_ms)
{
	char now[24];
	const char *v[2] = { key, dec(now, sizeof(now), now_ms) };

	return ns_x(s, c, ns_pg_garbage_add, 2, v, NULL);
}

/* GV_ENOTFOUND unless bucket and blob `key` (either may be NULL) exist;
 * the blob row is locked FOR SHARE until the transaction ends. */
static int ns_need(struct ix_pg *s, struct ix_conn *c, const char *bucket, const char *key)
{
	long rows = 0;
	int err;

	if (bucket) {
		if ((err = ns_x(s, c, "SELECT 1 FROM ns_buckets WHERE name = $1", 1, &bucket, &rows)) < 0)
			return err;
		if (rows == 0)
			return gv_error_set(GV_ENOTFOUND, "no such bucket: %s", bucket);
	}
	if (key) {
		if ((err = ns_x(s, c, "SELECT 1 FROM blobs WHERE key = $1 FOR SHARE", 1, &key, &rows)) < 0)
			return err;
		if (rows == 0)
			return gv_error_set(GV_ENOTFOUND,
			                    "blob %s is not stored (collected or never put): put it again",
			                    key);
	}
	return 0;
}

static int ix_ns_bucket_put(gv_index *ix, const gv_bucket_info *b)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char created[24];
	const char *v[2] = { b->name, dec(created, sizeof(created), b->created_ms) };
	long rows = 0;
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	err = ns_x(s, c,
	           "INSERT INTO ns_buckets (name, created) VALUES ($1, $2::bigint)"
	           " ON CONFLICT (name) DO NOTHING",
	           2, v, &rows);
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_EEXISTS, "bucket %s exists", b->name);
	return ix_end(s, c, err);
}

static int ix_ns_bucket_remove(gv_index *ix, const char *name)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	long rows = 0;
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ns_x(s, c, "SELECT 1 FROM ns_buckets WHERE name = $1 FOR UPDATE", 1, &name,
	                &rows)) < 0)
		goto out;
	if (rows == 0) {
		err = gv_error_set(GV_ENOTFOUND, "no such bucket: %s", name);
		goto out;
	}
	if ((err = ns_x(s, c,
	                "SELECT 1 WHERE EXISTS (SELECT 1 FROM ns_objects WHERE bucket = $1)"
	                " OR EXISTS (SELECT 1 FROM ns_uploads WHERE bucket = $1)",
	                1, &name, &rows)) < 0)
		goto out;
	if (rows) {
		err = gv_error_set(GV_ENOTEMPTY, "bucket %s is not empty", name);
		goto out;
	}
	err = ns_x(s, c, "DELETE FROM ns_buckets WHERE name = $1", 1, &name, NULL);
out:
	return ix_end(s, c, err);
}

/* Run a read query on a connection of the pool and hand each row to
 * row(dst, res, i) into a malloc'd array of `size`-byte elements: < 0 an
 * error, 1 stop before this row, else 0. */
static int ns_list(struct ix_pg *s, const char *sql, int n, const char *const *v, size_t size,
                   int (*row)(void *dst, const PGresult *res, int i, const void *arg),
                   const void *arg, void (*free_rows)(void *v, size_t n), void **out,
                   size_t *out_n)
{
	struct ix_conn *c;
	PGresult *res;
	char *a = NULL;
	size_t i, rows, k = 0;
	int err = 0, r;

	if ((err = ix_take(s, &c)) < 0)
		return err;
	if (!(res = ns_q(s, c, sql, n, v)))
		return ix_give(s, c, c->err);
	rows = (size_t)PQntuples(res);
	if (rows && !(a = calloc(rows, size)))
		err = gv_error_set(GV_ENOMEM, "index: out of memory");
	for (i = 0; i < rows && err == 0; i++) {
		if ((r = row(a + k * size, res, (int)i, arg)) < 0)
			err = r;
		else if (r == 1)
			break;
		else
			k++;
	}
	PQclear(res);
	if (err < 0) {
		if (free_rows)
			free_rows(a, k);
		else
			free(a);
		return ix_give(s, c, err);
	}
	*out = a;
	*out_n = k;
	return ix_give(s, c, 0);
}

static int row_bucket(void *dst, const PGresult *res, int i, const void *arg)
{
	gv_bucket_info *b = dst;

	(void)arg;
	col_copy(b->name, sizeof(b->name), res, i, 0);
	b->created_ms = col_i64(res, i, 1);
	return 0;
}

static int ix_ns_buckets(gv_index *ix, const char *name, gv_bucket_info **out, size_t *out_n)
{
	int err = ns_list(ix_of(ix),
	                  "SELECT name, created FROM ns_buckets WHERE $1::text IS NULL OR name = $1"
	                  " ORDER BY name",
	                  1, &name, sizeof(**out), row_bucket, NULL, NULL, (void **)out, out_n);

	if (err == 0 && name && *out_n == 0)
		err = gv_error_set(GV_ENOTFOUND, "no such bucket: %s", name);
	return err;
}

#define NS_OBJECT_COLS "bucket, name, key, size, parts, etag, ctype, meta, mtime"

static int row_object(void *dst, const PGresult *res, int i, const void *arg)
{
	gv_object *o = dst;
	int err;

	(void)arg;
	col_copy(o->bucket, sizeof(o->bucket), res, i, 0);
	col_copy(o->name, sizeof(o->name), res, i, 1);
	if ((err = col_key(&o->key, res, i, 2)) < 0)
		return err;
	o->size = (uint64_t)col_i64(res, i, 3);
	o->parts = (uint32_t)col_i64(res, i, 4);
	col_copy(o->etag, sizeof(o->etag), res, i, 5);
	col_copy(o->content_type, sizeof(o->content_type), res, i, 6);
	if (!PQgetisnull(res, i, 7) && !(o->meta = strdup(PQgetvalue(res, i, 7))))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	o->mtime_ms = col_i64(res, i, 8);
	return 0;
}

/* Replace bucket/name's row by o (key text k), making the key it named
 * before a candidate. */
static int ns_object_write(struct ix_pg *s, struct ix_conn *c, const gv_object *o, const char *k,
                           int64_t now_ms)
{
	char size[24], parts[24], mtime[24], old[GV_KEY_BUFSIZE] = "";
	const char *v[9] = { o->bucket, o->name, k, dec(size, sizeof(size), (int64_t)o->size),
		             dec(parts, sizeof(parts), o->parts), o->etag, o->content_type, o->meta,
		             dec(mtime, sizeof(mtime), o->mtime_ms) };
	PGresult *res;
	int err;

	if (!(res = ns_q(s, c, "SELECT key FROM ns_objects WHERE bucket = $1 AND name = $2 FOR UPDATE",
	                 2, v)))
		return c->err;
	if (PQntuples(res) == 1)
		col_copy(old, sizeof(old), res, 0, 0);
	PQclear(res);
	if (*old && strcmp(old, k) != 0 && (err = ns_garbage_add(s, c, old, now_ms)) < 0)
		return err;
	return ns_x(s, c,
	            "INSERT INTO ns_objects (" NS_OBJECT_COLS ") VALUES ($1, $2, $3, $4::bigint,"
	            " $5::bigint, $6, $7, $8, $9::bigint) ON CONFLICT (bucket, name) DO UPDATE"
	            " SET key = excluded.key, size = excluded.size, parts = excluded.parts,"
	            " etag = excluded.etag, ctype = excluded.ctype, meta = excluded.meta,"
	            " mtime = excluded.mtime",
	            9, v, NULL);
}

static int ix_ns_object_put(gv_index *ix, const gv_object *o, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE];
	int err;

	if ((err = ix_key_check(&o->key)) < 0)
		return err;
	gv_key_format(k, &o->key);
	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ns_need(s, c, o->bucket, k)) == 0)
		err = ns_object_write(s, c, o, k, now_ms);
	return ix_end(s, c, err);
}

static void objects_free(void *v, size_t n)
{
	gv_ns_objects_free(v, n);
}

static int ix_ns_object_get(gv_index *ix, const char *bucket, const char *name, gv_object *out)
{
	const char *v[2] = { bucket, name };
	gv_object *o = NULL;
	size_t n = 0;
	int err = ns_list(ix_of(ix),
	                  "SELECT " NS_OBJECT_COLS " FROM ns_objects WHERE bucket = $1 AND name = $2",
	                  2, v, sizeof(*o), row_object, NULL, objects_free, (void **)&o, &n);

	if (err == 0 && n == 0)
		err = gv_error_set(GV_ENOTFOUND, "no such object: %s/%s", bucket, name);
	if (err == 0)
		*out = o[0];
	free(o);
	return err;
}

static int ix_ns_object_remove(gv_index *ix, const char *bucket, const char *name, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	const char *v[2] = { bucket, name };
	char old[GV_KEY_BUFSIZE] = "";
	PGresult *res;
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if (!(res = ns_q(s, c, "DELETE FROM ns_objects WHERE bucket = $1 AND name = $2 RETURNING key",
	                 2, v))) {
		err = c->err;
		goto out;
	}
	if (PQntuples(res) == 1)
		col_copy(old, sizeof(old), res, 0, 0);
	PQclear(res);
	if (!*old)
		err = gv_error_set(GV_ENOTFOUND, "no such object: %s/%s", bucket, name);
	else
		err = ns_garbage_add(s, c, old, now_ms);
out:
	return ix_end(s, c, err);
}

/* An object row of the names with prefix `arg`; 1 past them. */
static int row_object_prefixed(void *dst, const PGresult *res, int i, const void *arg)
{
	if (strncmp(PQgetvalue(res, i, 1), arg, strlen(arg)) != 0)
		return 1;
	return row_object(dst, res, i, NULL);
}

static int ix_ns_objects_next(gv_index *ix, const char *bucket, const char *prefix,
                              const char *after, size_t limit, gv_object **out, size_t *out_n)
{
	char lim[24];
	const char *v[4] = { bucket, after, prefix, dec(lim, sizeof(lim), limit_of(limit)) };

	if (limit == 0)
		return 0;
	return ns_list(ix_of(ix),
	               "SELECT " NS_OBJECT_COLS " FROM ns_objects WHERE bucket = $1 AND name > $2"
	               " AND name >= $3 ORDER BY name LIMIT $4::bigint",
	               4, v, sizeof(**out), row_object_prefixed, prefix, objects_free, (void **)out,
	               out_n);
}

static int row_key(void *dst, const PGresult *res, int i, const void *arg)
{
	(void)arg;
	return col_key(dst, res, i, 0);
}

static int ix_ns_manifest_get(gv_index *ix, const gv_key *key, gv_key **out, size_t *out_n)
{
	char k[GV_KEY_BUFSIZE];
	const char *v[1] = { gv_key_format(k, key) };
	int err = ns_list(ix_of(ix), "SELECT part FROM ns_manifests WHERE key = $1 ORDER BY idx", 1,
	                  v, sizeof(**out), row_key, NULL, NULL, (void **)out, out_n);

	if (err == 0 && *out_n == 0)
		err = gv_error_set(GV_ENOTFOUND, "no manifest %s", k);
	return err;
}

static int ix_ns_upload_put(gv_index *ix, const char *id, const gv_object *o)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char created[24];
	const char *v[6] = { id, o->bucket, o->name, o->content_type, o->meta,
		             dec(created, sizeof(created), o->mtime_ms) };
	long rows = 0;
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ns_need(s, c, o->bucket, NULL)) < 0)
		goto out;
	err = ns_x(s, c,
	           "INSERT INTO ns_uploads (id, bucket, name, ctype, meta, created)"
	           " VALUES ($1, $2, $3, $4, $5, $6::bigint) ON CONFLICT (id) DO NOTHING",
	           6, v, &rows);
	if (err == 0 && rows == 0)
		err = gv_error_set(GV_EEXISTS, "upload %s exists", id);
out:
	return ix_end(s, c, err);
}

static int row_upload_record(void *dst, const PGresult *res, int i, const void *arg)
{
	gv_object *o = dst;

	(void)arg;
	col_copy(o->bucket, sizeof(o->bucket), res, i, 0);
	col_copy(o->name, sizeof(o->name), res, i, 1);
	col_copy(o->content_type, sizeof(o->content_type), res, i, 2);
	if (!PQgetisnull(res, i, 3) && !(o->meta = strdup(PQgetvalue(res, i, 3))))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	o->mtime_ms = col_i64(res, i, 4);
	return 0;
}

static int ix_ns_upload_get(gv_index *ix, const char *id, gv_object *out)
{
	gv_object *o = NULL;
	size_t n = 0;
	int err = ns_list(ix_of(ix),
	                  "SELECT bucket, name, ctype, meta, created FROM ns_uploads WHERE id = $1", 1,
	                  &id, sizeof(*o), row_upload_record, NULL, objects_free, (void **)&o, &n);

	if (err == 0 && n == 0)
		err = gv_error_set(GV_ENOTFOUND, "no such upload: %s", id);
	if (err == 0)
		*out = o[0];
	free(o);
	return err;
}

/* GV_ENOTFOUND unless upload id exists (its row locked until the end). */
static int ns_need_upload(struct ix_pg *s, struct ix_conn *c, const char *id)
{
	long rows = 0;
	int err = ns_x(s, c, "SELECT 1 FROM ns_uploads WHERE id = $1 FOR UPDATE", 1, &id, &rows);

	if (err == 0 && rows == 0)
		err = gv_error_set(GV_ENOTFOUND, "no such upload: %s", id);
	return err;
}

static int ix_ns_upload_part_put(gv_index *ix, const char *id, const gv_ns_part *p, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE], no[24], mtime[24], old[GV_KEY_BUFSIZE] = "";
	const char *v[5] = { id, dec(no, sizeof(no), p->part_no), k, p->etag,
		             dec(mtime, sizeof(mtime), p->mtime_ms) };
	PGresult *res;
	int err;

	if ((err = ix_key_check(&p->key)) < 0)
		return err;
	gv_key_format(k, &p->key);
	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ns_need_upload(s, c, id)) < 0 || (err = ns_need(s, c, NULL, k)) < 0)
		goto out;
	if (!(res = ns_q(s, c, "SELECT key FROM ns_parts WHERE id = $1 AND part = $2::bigint", 2,
	                 v))) {
		err = c->err;
		goto out;
	}
	if (PQntuples(res) == 1)
		col_copy(old, sizeof(old), res, 0, 0);
	PQclear(res);
	if (*old && strcmp(old, k) != 0 && (err = ns_garbage_add(s, c, old, now_ms)) < 0)
		goto out;
	err = ns_x(s, c,
	           "INSERT INTO ns_parts (id, part, key, etag, mtime) VALUES ($1, $2::bigint, $3, $4,"
	           " $5::bigint) ON CONFLICT (id, part) DO UPDATE SET key = excluded.key,"
	           " etag = excluded.etag, mtime = excluded.mtime",
	           5, v, NULL);
out:
	return ix_end(s, c, err);
}

static int row_part(void *dst, const PGresult *res, int i, const void *arg)
{
	gv_ns_part *p = dst;

	(void)arg;
	p->part_no = (uint32_t)col_i64(res, i, 0);
	col_copy(p->etag, sizeof(p->etag), res, i, 2);
	p->mtime_ms = col_i64(res, i, 3);
	return col_key(&p->key, res, i, 1);
}

static int ix_ns_upload_parts_next(gv_index *ix, const char *id, uint32_t after, size_t limit,
                                   gv_ns_part **out, size_t *out_n)
{
	char a[24], lim[24];
	const char *v[3] = { id, dec(a, sizeof(a), after), dec(lim, sizeof(lim), limit_of(limit)) };

	if (limit == 0)
		return 0;
	return ns_list(ix_of(ix),
	               "SELECT part, key, etag, mtime FROM ns_parts WHERE id = $1"
	               " AND part > $2::bigint ORDER BY part LIMIT $3::bigint",
	               3, v, sizeof(**out), row_part, NULL, NULL, (void **)out, out_n);
}

/* Make every part key of upload `id` a candidate and drop the upload. */
static int ns_upload_drop(struct ix_pg *s, struct ix_conn *c, const char *id, int64_t now_ms)
{
	char now[24];
	const char *v[2] = { id, dec(now, sizeof(now), now_ms) };
	int err;

	if ((err = ns_x(s, c,
	                "INSERT INTO ns_garbage (key, since) SELECT DISTINCT key, $2::bigint"
	                " FROM ns_parts WHERE id = $1 ON CONFLICT (key) DO UPDATE"
	                " SET since = GREATEST(ns_garbage.since, excluded.since)",
	                2, v, NULL)) < 0)
		return err;
	if ((err = ns_x(s, c, "DELETE FROM ns_parts WHERE id = $1", 1, v, NULL)) < 0)
		return err;
	return ns_x(s, c, "DELETE FROM ns_uploads WHERE id = $1", 1, v, NULL);
}

static int ix_ns_upload_remove(gv_index *ix, const char *id, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ns_need_upload(s, c, id)) == 0)
		err = ns_upload_drop(s, c, id, now_ms);
	return ix_end(s, c, err);
}

static int row_upload(void *dst, const PGresult *res, int i, const void *arg)
{
	gv_ns_upload *u = dst;

	(void)arg;
	col_copy(u->id, sizeof(u->id), res, i, 0);
	col_copy(u->bucket, sizeof(u->bucket), res, i, 1);
	col_copy(u->name, sizeof(u->name), res, i, 2);
	u->created_ms = col_i64(res, i, 3);
	return 0;
}

static int ix_ns_uploads_next(gv_index *ix, const char *bucket, const char *prefix,
                              int64_t before_ms, size_t limit, gv_ns_upload **out, size_t *out_n)
{
	char before[24], lim[24];
	const char *v[4] = { bucket, prefix, dec(before, sizeof(before), before_ms),
		             dec(lim, sizeof(lim), limit_of(limit)) };

	if (limit == 0)
		return 0;
	return ns_list(ix_of(ix),
	               "SELECT id, bucket, name, created FROM ns_uploads"
	               " WHERE ($1::text IS NULL OR bucket = $1) AND starts_with(name, $2)"
	               " AND created < $3::bigint ORDER BY bucket, name, id LIMIT $4::bigint",
	               4, v, sizeof(**out), row_upload, NULL, NULL, (void **)out, out_n);
}

static int ix_ns_upload_complete(gv_index *ix, const char *id, const gv_object *o,
                                 const gv_key *parts, size_t n, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE], pk[GV_KEY_BUFSIZE], idx[24];
	const char *v[3] = { k, idx, pk };
	size_t i;
	int err;

	if ((err = ix_key_check(&o->key)) < 0)
		return err;
	gv_key_format(k, &o->key);
	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ns_need_upload(s, c, id)) < 0 || (err = ns_need(s, c, o->bucket, k)) < 0)
		goto out;
	for (i = 0; i < n && err == 0; i++) {
		dec(idx, sizeof(idx), (int64_t)i);
		gv_key_format(pk, &parts[i]);
		err = ns_x(s, c,
		           "INSERT INTO ns_manifests (key, idx, part) VALUES ($1, $2::bigint, $3)"
		           " ON CONFLICT (key, idx) DO NOTHING",
		           3, v, NULL);
	}
	if (err == 0 && (err = ns_object_write(s, c, o, k, now_ms)) == 0)
		err = ns_upload_drop(s, c, id, now_ms);
out:
	return ix_end(s, c, err);
}

static int ix_ns_pin(gv_index *ix, const gv_key *key, int pin, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE];
	const char *v[1] = { gv_key_format(k, key) };
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if (pin) {
		if ((err = ns_need(s, c, NULL, k)) == 0)
			err = ns_x(s, c, "INSERT INTO ns_pins (key) VALUES ($1) ON CONFLICT DO NOTHING",
			           1, v, NULL);
	} else if ((err = ns_x(s, c, "DELETE FROM ns_pins WHERE key = $1", 1, v, NULL)) == 0) {
		err = ns_garbage_add(s, c, k, now_ms);
	}
	return ix_end(s, c, err);
}

static int ix_ns_touch(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE];
	int err;

	if ((err = ix_take(s, &c)) < 0)
		return err;
	err = ns_garbage_add(s, c, gv_key_format(k, key), now_ms);
	return ix_give(s, c, err);
}

static int ix_ns_garbage_next(gv_index *ix, int64_t before_ms, const gv_key *after, size_t limit,
                              gv_key *out, size_t *out_n)
{
	char k[GV_KEY_BUFSIZE] = "", before[24], lim[24];
	const char *v[3] = { dec(before, sizeof(before), before_ms), k,
		             dec(lim, sizeof(lim), limit_of(limit)) };
	gv_key *keys = NULL;
	size_t n = 0;
	int err;

	if (limit == 0)
		return 0;
	if (after)
		gv_key_format(k, after);
	err = ns_list(ix_of(ix),
	              "SELECT key FROM ns_garbage WHERE since <= $1::bigint AND key > $2"
	              " ORDER BY key LIMIT $3::bigint",
	              3, v, sizeof(*keys), row_key, NULL, NULL, (void **)&keys, &n);
	if (err == 0) {
		if (n > limit)
			n = limit;
		if (n)
			memcpy(out, keys, n * sizeof(*keys));
		*out_n = n;
	}
	free(keys);
	return err;
}

static int ix_ns_collect(gv_index *ix, const gv_key *key, int64_t before_ms, int dry_run)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE], before[24];
	const char *v[2] = { gv_key_format(k, key), dec(before, sizeof(before), before_ms) };
	PGresult *res;
	long rows = 0;
	int err, due;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	/* The blob row first: a reference being recorded holds it FOR SHARE. */
	if ((err = ns_x(s, c, "SELECT 1 FROM blobs WHERE key = $1 FOR UPDATE", 1, v, NULL)) < 0)
		goto out;
	if (!(res = ns_q(s, c, "SELECT since <= $2::bigint FROM ns_garbage WHERE key = $1 FOR UPDATE",
	                 2, v))) {
		err = c->err;
		goto out;
	}
	due = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!due)
		goto out; /* not a candidate, or not due */
	if ((err = ns_x(s, c,
	                "SELECT 1 WHERE EXISTS (SELECT 1 FROM ns_objects WHERE key = $1)"
	                " OR EXISTS (SELECT 1 FROM ns_manifests WHERE part = $1)"
	                " OR EXISTS (SELECT 1 FROM ns_parts WHERE key = $1)"
	                " OR EXISTS (SELECT 1 FROM ns_pins WHERE key = $1)",
	                1, v, &rows)) < 0)
		goto out;
	if (dry_run) {
		err = !rows;
		goto out;
	}
	if ((err = ns_x(s, c, "DELETE FROM ns_garbage WHERE key = $1", 1, v, NULL)) < 0 || rows)
		goto out; /* referenced again: no longer a candidate */
	if ((err = ns_x(s, c,
	                "INSERT INTO ns_garbage (key, since) SELECT DISTINCT part, $2::bigint"
	                " FROM ns_manifests WHERE key = $1 ON CONFLICT (key) DO UPDATE"
	                " SET since = GREATEST(ns_garbage.since, excluded.since)",
	                2, v, NULL)) < 0)
		goto out;
	if ((err = ns_x(s, c, "DELETE FROM ns_manifests WHERE key = $1", 1, v, NULL)) < 0)
		goto out;
	if ((err = ix_change(s, c, ST_BLOB_LOCK_SECTORS, 1, v, NULL, NULL, "collect")) < 0 ||
	    (err = ix_change(s, c, ST_BLOB_DELETE, 1, v, NULL, NULL, "collect")) < 0)
		goto out;
	err = 1;
out:
	if (dry_run && err >= 0) {
		int r = ix_end(s, c, GV_ERROR); /* roll back: nothing changes */

		(void)r;
		return err;
	}
	rows = ix_end(s, c, err < 0 ? err : 0);
	return rows < 0 ? (int)rows : err;
}

static int ix_ns_forget(gv_index *ix, const gv_key *key, int64_t now_ms)
{
	struct ix_pg *s = ix_of(ix);
	struct ix_conn *c;
	char k[GV_KEY_BUFSIZE], now[24];
	const char *v[2] = { gv_key_format(k, key), dec(now, sizeof(now), now_ms) };
	long rows = 0;
	int err;

	if ((err = ix_begin(s, &c)) < 0)
		return err;
	if ((err = ix_change(s, c, ST_BLOB_LOCK_SECTORS, 1, v, NULL, NULL, "forget")) < 0 ||
	    (err = ix_change(s, c, ST_BLOB_DELETE, 1, v, NULL, &rows, "forget")) < 0)
		goto out;
	if (rows == 0) {
		err = gv_error_set(GV_ENOTFOUND, "index: no blob %s", k);
		goto out;
	}
	if ((err = ns_x(s, c, "DELETE FROM ns_garbage WHERE key = $1", 1, v, NULL)) == 0)
		err = ns_x(s, c,
		           "INSERT INTO ns_forgotten (key, at) VALUES ($1, $2::bigint)"
		           " ON CONFLICT (key) DO UPDATE SET at = excluded.at",
		           2, v, NULL);
out:
	return ix_end(s, c, err);
}

static const struct gv_index_ops pg_ops = {
	.version = GV_INDEX_OPS_VERSION,
	.name = "postgresql",
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
	.key_lock = ix_key_lock,
	.key_unlock = ix_key_unlock,
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

/* One integer from a one-row query; *out -1 when no row. */
static int sql_int(struct ix_pg *s, struct ix_conn *c, const char *sql, int64_t *out,
                   const char *what)
{
	PGresult *res = PQexec(c->pg, sql);
	int err = 0;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		err = ix_fail(s, c, res, what);
	else
		*out = PQntuples(res) ? col_i64(res, 0, 0) : -1;
	PQclear(res);
	return err;
}

/*
 * Read the schema version in the connection's current schema
 * (search_path): -1 when it has no tables at all, else the stored version.
 * Tables without schema_version are not ours.
 */
static int schema_version(struct ix_pg *s, struct ix_conn *c, int64_t *out)
{
	int64_t has = 0, tables = 0;
	int err;

	if ((err = sql_int(s, c,
	                   "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()"
	                   " AND tablename = 'schema_version'",
	                   &has, "read schema")) < 0)
		return err;
	if (!has) {
		if ((err = sql_int(s, c,
		                   "SELECT COUNT(*) FROM pg_tables"
		                   " WHERE schemaname = current_schema()",
		                   &tables, "read schema")) < 0)
			return err;
		if (tables > 0)
			return gv_error_set(GV_EINVAL, "index %s: not a graviton index "
			                    "(no schema_version table)", s->label);
		*out = -1;
		return 0;
	}
	if ((err = sql_int(s, c, "SELECT version FROM schema_version WHERE id = 1", out,
	                   "read schema version")) < 0)
		return err;
	if (*out < 0)
		return gv_error_set(GV_ERROR, "index %s: schema_version holds no valid version",
		                    s->label);
	return 0;
}

#define IX_PG_SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7142339481)"

/* Create the optional tables an index of the current version lacks, under
 * the schema lock: two gateways opening an older index at once would
 * otherwise race to create the same table. */
static int optional_prepare(struct ix_pg *s, struct ix_conn *c)
{
	int err;

	if ((err = ix_cmd(s, c, "BEGIN", "begin schema upgrade")) < 0)
		return err;
	if ((err = ix_cmd(s, c, IX_PG_SCHEMA_LOCK, "lock schema")) < 0 ||
	    (err = ix_cmd(s, c, optional_tables, "create optional tables")) < 0 ||
	    (err = ix_cmd(s, c, "COMMIT", "commit schema upgrade")) < 0) {
		PQclear(PQexec(c->pg, "ROLLBACK"));
		return err;
	}
	return 0;
}

/* Create or upgrade the schema in one transaction, under an advisory lock
 * so gateways opening at once do it once. */
static int schema_prepare(struct ix_pg *s, struct ix_conn *c, int create)
{
	int64_t version, v;
	char sql[96];
	int err;

	if ((err = schema_version(s, c, &version)) < 0)
		return err;
	if (version == GV_INDEX_SQLITE_SCHEMA)
		return optional_prepare(s, c);
	if (version > GV_INDEX_SQLITE_SCHEMA)
		return gv_error_set(GV_ERROR, "index %s: schema version %lld is newer than %d, "
		                    "the newest this build understands; upgrade graviton",
		                    s->label, (long long)version, GV_INDEX_SQLITE_SCHEMA);
	if (version < 0 && !create)
		return gv_error_set(GV_ENOTFOUND, "index %s: empty database; open with create to "
		                    "initialise it", s->label);
	if ((err = ix_cmd(s, c, "BEGIN", "begin schema upgrade")) < 0)
		return err;
	if ((err = ix_cmd(s, c, IX_PG_SCHEMA_LOCK, "lock schema")) < 0 ||
	    (err = schema_version(s, c, &version)) < 0)
		goto rollback;
	if (version < 0) {
		if ((err = ix_cmd(s, c,
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
		                   s->label, (long long)version, GV_INDEX_SQLITE_SCHEMA);
		goto rollback;
	}
	for (v = version; v < GV_INDEX_SQLITE_SCHEMA; v++) {
		if ((err = ix_cmd(s, c, migrations[v], "schema migration")) < 0)
			goto rollback;
		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %lld WHERE id = 1",
		         (long long)(v + 1));
		if ((err = ix_cmd(s, c, sql, "schema migration")) < 0)
			goto rollback;
	}
	if ((err = ix_cmd(s, c, optional_tables, "create optional tables")) < 0 ||
	    (err = ix_cmd(s, c, "COMMIT", "commit schema upgrade")) < 0)
		goto rollback;
	if (version > 0)
		gv_info("event=index_schema_upgraded index=\"%s\" from=%lld to=%d", s->label,
		        (long long)version, GV_INDEX_SQLITE_SCHEMA);
	return 0;
rollback:
	PQclear(PQexec(c->pg, "ROLLBACK"));
	return err;
}

/*
 * Split our own option pool_size=N off the URL's query (libpq refuses
 * options it does not know) and make the label: the URL without user
 * info and query.
 */
static int url_parse(struct ix_pg *s, const char *url)
{
	const char *q = strchr(url, '?'), *at, *p, *amp;
	size_t len = strlen(url), n;
	char *val;
	long v;

	if (!(s->url = malloc(len + 1)) || !(s->label = malloc(len + 1)))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	n = q ? (size_t)(q - url) : len;
	memcpy(s->url, url, n);
	s->url[n] = '\0';
	/* label: scheme "//" [user[:password]@] rest, without the user info */
	at = memchr(url, '@', n);
	p = strstr(url, "//");
	if (at && p && p < at)
		snprintf(s->label, len + 1, "%.*s%.*s", (int)(p + 2 - url), url, (int)(n - (size_t)(at + 1 - url)),
		         at + 1);
	else
		snprintf(s->label, len + 1, "%.*s", (int)n, url);
	s->pool_size = IX_PG_POOL_DEFAULT;
	for (p = q; p && *p; p = amp) {
		p++;
		amp = strchr(p, '&');
		n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > 10 && strncmp(p, "pool_size=", 10) == 0) {
			v = strtol(p + 10, &val, 10);
			if (val != p + n || v < 1 || v > IX_PG_POOL_MAX)
				return gv_error_set(GV_EINVAL, "index %s: pool_size must be 1 to %d",
				                    s->label, IX_PG_POOL_MAX);
			s->pool_size = (int)v;
		} else if (n > 0) {
			strcat(s->url, strchr(s->url, '?') ? "&" : "?");
			strncat(s->url, p, n);
		}
	}
	return 0;
}

/*
 * Open the index at a libpq URL ("postgresql://user@host:port/db?..."):
 * one connection at once, to check or create the schema; the rest of the
 * pool opens on demand.
 */
static int ix_open(gv_index **out, const char *url, int create)
{
	struct ix_pg *s;
	struct ix_conn *c;
	int err, i;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	for (i = 0; i < IX_PG_LOCK_CONNS; i++)
		pthread_mutex_init(&s->locks[i].mu, NULL);
	s->base.ops = &pg_ops;
	if ((err = url_parse(s, url)) < 0)
		goto fail;
	s->conns = calloc((size_t)s->pool_size, sizeof(*s->conns));
	s->busy = calloc((size_t)s->pool_size, 1);
	if (!s->conns || !s->busy) {
		err = gv_error_set(GV_ENOMEM, "index: out of memory");
		goto fail;
	}
	if ((err = ix_take(s, &c)) < 0)
		goto fail;
	err = ix_give(s, c, schema_prepare(s, c, create));
	if (err < 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	ix_free(s);
	return err;
}

/* The registry hands over the URL without its scheme ("//host/db"). */
static int pg_backend_open(gv_index **out, const char *scheme, const char *locator,
                           unsigned flags)
{
	char *url;
	int err;

	if (!locator || strncmp(locator, "//", 2) != 0)
		return gv_error_set(GV_EINVAL, "index: a PostgreSQL index is a URL "
		                    "'%s://[user@]host[:port]/database', not '%s:...'", scheme,
		                    scheme);
	if (!(url = malloc(strlen(scheme) + 1 + strlen(locator) + 1)))
		return gv_error_set(GV_ENOMEM, "index: out of memory");
	sprintf(url, "%s:%s", scheme, locator);
	err = ix_open(out, url, (flags & (GV_INDEX_OPEN_CREATE | GV_INDEX_OPEN_BULK)) != 0);
	free(url);
	return err;
}

int gv_index_postgresql_backend_open(gv_index **out, const char *locator, unsigned flags)
{
	return pg_backend_open(out, "postgresql", locator, flags);
}

int gv_index_postgres_backend_open(gv_index **out, const char *locator, unsigned flags)
{
	return pg_backend_open(out, "postgres", locator, flags);
}

int gv_index_postgresql_open(gv_index **out, const char *url, int create)
{
	return ix_open(out, url, create);
}
