/*
 * log.c - the process-wide log sink.  The library formats one line and
 * hands it to the callback; it never writes to a stream itself.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

/* The sink may be replaced (SIGHUP) while other threads log: readers hold
 * the lock shared while they call it, gv_log_set exclusively. */
static pthread_rwlock_t log_lock = PTHREAD_RWLOCK_INITIALIZER;
static gv_log_fn log_fn;
static gv_log_level log_min = GV_LOG_INFO;
static void *log_payload;

void gv_log_set(gv_log_fn fn, gv_log_level min_level, void *payload)
{
	pthread_rwlock_wrlock(&log_lock);
	log_fn = fn;
	log_min = min_level;
	log_payload = payload;
	pthread_rwlock_unlock(&log_lock);
}

const char *gv_log_level_name(gv_log_level level)
{
	switch (level) {
	case GV_LOG_DEBUG: return "debug";
	case GV_LOG_INFO: return "info";
	case GV_LOG_WARN: return "warn";
	case GV_LOG_ERROR: return "error";
	}
	return "?";
}

int gv_log_enabled(gv_log_level level)
{
	int on;

	pthread_rwlock_rdlock(&log_lock);
	on = log_fn != NULL && level >= log_min;
	pthread_rwlock_unlock(&log_lock);
	return on;
}

void gv_log_message(gv_log_level level, const char *msg)
{
	pthread_rwlock_rdlock(&log_lock);
	if (log_fn != NULL && level >= log_min)
		log_fn(level, msg, log_payload);
	pthread_rwlock_unlock(&log_lock);
}

void gv_log(gv_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!gv_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	gv_log_message(level, line);
}
