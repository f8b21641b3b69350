/*
 * log.c - the process-wide log sink.  The library formats one line and
 * hands it to the callback; it never writes to a stream itself.
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/log.h"

static gv_log_fn log_fn;
static gv_log_level log_min = GV_LOG_INFO;
static void *log_payload;

void gv_log_set(gv_log_fn fn, gv_log_level min_level, void *payload)
{
	log_fn = fn;
	log_min = min_level;
	log_payload = payload;
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
	return log_fn != NULL && level >= log_min;
}

void gv_log_message(gv_log_level level, const char *msg)
{
	if (gv_log_enabled(level))
		log_fn(level, msg, log_payload);
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
	log_fn(level, line, log_payload);
}
