/*
 * graviton/common.h - error codes, the last-error message, logging.
 *
 * Every library function returns int: 0 on success, a negative gv_error on
 * failure.  The one-line message describing the most recent failure on the
 * calling thread is kept in thread-local storage (as libgit2 does) and read
 * with gv_error_last().  The library never prints: it logs through the
 * callback installed with gv_log_set().
 */
#ifndef GRAVITON_COMMON_H
#define GRAVITON_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Marks the functions libgraviton exports; the rest of the library is
 * built with hidden visibility. */
#if defined(__GNUC__)
#define GV_API __attribute__((visibility("default")))
#else
#define GV_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gv_error {
	GV_OK = 0,
	GV_ERROR = -1,               /* anything unexpected; see the message */
	GV_EINVAL = -2,              /* malformed input (key, range, size, path) */
	GV_ENOTFOUND = -3,           /* no such key, sector or setting */
	GV_EEXISTS = -4,             /* already there and different */
	GV_EIO = -5,                 /* an I/O call failed; errno in the message */
	GV_ENOSPACE = -6,            /* a sector is full */
	GV_ECORRUPT = -7,            /* bytes do not match their key */
	GV_EQUORUM = -8,             /* fewer than min-replicas became durable */
	GV_EINSUFFICIENT_SECTORS = -9, /* placement: too few eligible sectors */
	GV_EINSUFFICIENT_RACKS = -10,  /* placement: InsufficientRackDiversity */
	GV_EINSUFFICIENT_ZONES = -11,  /* placement: InsufficientZoneDiversity */
	GV_EALL_REPLICAS_FAILED = -12, /* read: no replica could serve the bytes */
	GV_ENO_HEALTHY_SOURCE = -13,   /* repair: nothing healthy to copy from */
	GV_ETIMEOUT = -14,
	GV_EBUSY = -15,              /* locked by another process */
	GV_ERESTART = -16,           /* read: discard what was read, read again */
	GV_ENOMEM = -17,
	GV_ELOST = -18,              /* every replica of a key is gone */
	GV_ECANCELED = -19,
	GV_EUNAVAILABLE = -20,       /* a service the store needs (its index server) is unreachable */
	GV_ENOTEMPTY = -21,          /* a bucket that still holds names */
} gv_error;

/* Short stable name of a code, e.g. "GV_EQUORUM". */
GV_API const char *gv_error_name(int code);

/* Message of the last failure on this thread; never NULL (maybe ""). */
GV_API const char *gv_error_last(void);

/* errno of the last failure on this thread, 0 when none applies. */
GV_API int gv_error_last_errno(void);

/*
 * Record a message for the calling thread and return `code`, so that
 * `return gv_error_set(GV_EINVAL, "bad key %s", s);` reads naturally.
 */
GV_API int gv_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* As gv_error_set, appending ": strerror(errnum)" and keeping errnum. */
GV_API int gv_error_set_errno(int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clear the calling thread's error. */
GV_API void gv_error_clear(void);

typedef enum gv_log_level {
	GV_LOG_DEBUG = 0,
	GV_LOG_INFO = 1,
	GV_LOG_WARN = 2,
	GV_LOG_ERROR = 3,
} gv_log_level;

/*
 * Log callback.  `msg` is one line without a trailing newline, borrowed for
 * the duration of the call.  May be called from any thread.
 */
typedef void (*gv_log_fn)(gv_log_level level, const char *msg, void *payload);

/*
 * Install the process-wide log sink (NULL: discard) and the minimum level
 * passed to it.  Set it once before opening stores; not thread-safe against
 * concurrent logging.
 */
GV_API void gv_log_set(gv_log_fn fn, gv_log_level min_level, void *payload);

GV_API const char *gv_log_level_name(gv_log_level level);

/* Send one line through the installed sink (if `level` passes it). */
GV_API void gv_log_message(gv_log_level level, const char *msg);

/* Parse "10GiB", "512MB", "4k", "1234" into bytes; GV_EINVAL otherwise. */
GV_API int gv_size_parse(uint64_t *out, const char *s);

/* Format bytes as "1.5 GiB" into buf (at least 16 bytes). */
GV_API const char *gv_size_format(char *buf, size_t cap, uint64_t bytes);

/* Parse "5 minutes", "30s", "7 days", "250ms" into milliseconds. */
GV_API int gv_duration_parse(uint64_t *out_ms, const char *s);

#ifdef __cplusplus
}
#endif
#endif
