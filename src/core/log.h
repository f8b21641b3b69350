/*
 * log.h - internal logging helpers over the sink set with gv_log_set().
 */
#ifndef GV_CORE_LOG_H
#define GV_CORE_LOG_H

#include "graviton/common.h"

/* 1 when a message at `level` would reach the sink. */
int gv_log_enabled(gv_log_level level);

void gv_log(gv_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define gv_debug(...) gv_log(GV_LOG_DEBUG, __VA_ARGS__)
#define gv_info(...) gv_log(GV_LOG_INFO, __VA_ARGS__)
#define gv_warn(...) gv_log(GV_LOG_WARN, __VA_ARGS__)
#define gv_errlog(...) gv_log(GV_LOG_ERROR, __VA_ARGS__)

#endif
