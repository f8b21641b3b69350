/*
 * error.c - thread-local last error (code, message, errno).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graviton/common.h"

#define GV_ERRMSG_MAX 512

static _Thread_local char errmsg[GV_ERRMSG_MAX];
static _Thread_local int errnum_last;

/*
 * Store a formatted message as the thread's last error.  Control
 * characters become '?': messages echo untrusted input (keys, ranges from
 * a request) and must stay one line in a log.
 */
static void store(const char *msg, int errnum)
{
	size_t i;

	for (i = 0; i + 1 < sizeof(errmsg) && msg[i]; i++) {
		unsigned char c = (unsigned char)msg[i];

		errmsg[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	errmsg[i] = '\0';
	errnum_last = errnum;
}

const char *gv_error_name(int code)
{
	switch (code) {
	case GV_OK: return "GV_OK";
	case GV_ERROR: return "GV_ERROR";
	case GV_EINVAL: return "GV_EINVAL";
	case GV_ENOTFOUND: return "GV_ENOTFOUND";
	case GV_EEXISTS: return "GV_EEXISTS";
	case GV_EIO: return "GV_EIO";
	case GV_ENOSPACE: return "GV_ENOSPACE";
	case GV_ECORRUPT: return "GV_ECORRUPT";
	case GV_EQUORUM: return "GV_EQUORUM";
	case GV_EINSUFFICIENT_SECTORS: return "GV_EINSUFFICIENT_SECTORS";
	case GV_EINSUFFICIENT_RACKS: return "GV_EINSUFFICIENT_RACKS";
	case GV_EINSUFFICIENT_ZONES: return "GV_EINSUFFICIENT_ZONES";
	case GV_EALL_REPLICAS_FAILED: return "GV_EALL_REPLICAS_FAILED";
	case GV_ENO_HEALTHY_SOURCE: return "GV_ENO_HEALTHY_SOURCE";
	case GV_ETIMEOUT: return "GV_ETIMEOUT";
	case GV_EBUSY: return "GV_EBUSY";
	case GV_ERESTART: return "GV_ERESTART";
	case GV_ENOMEM: return "GV_ENOMEM";
	case GV_ELOST: return "GV_ELOST";
	case GV_ECANCELED: return "GV_ECANCELED";
	case GV_EUNAVAILABLE: return "GV_EUNAVAILABLE";
	case GV_ENOTEMPTY: return "GV_ENOTEMPTY";
	}
	return "GV_UNKNOWN";
}

const char *gv_error_last(void)
{
	return errmsg;
}

int gv_error_last_errno(void)
{
	return errnum_last;
}

void gv_error_clear(void)
{
	errmsg[0] = '\0';
	errnum_last = 0;
}

int gv_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	char tmp[GV_ERRMSG_MAX];

	/* Format into a temporary first: the arguments may point into errmsg
	 * itself (wrapping the previous message). */
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	store(tmp, 0);
	return code;
}

int gv_error_set_errno(int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	char tmp[GV_ERRMSG_MAX];
	char suffix[160] = "";
	char ebuf[128];
	size_t room;

	/* The errno text is kept even when the message is long (a long path):
	 * the message is truncated to leave room for it. */
	if (errnum != 0)
		snprintf(suffix, sizeof(suffix), ": %s",
		         strerror_r(errnum, ebuf, sizeof(ebuf)));
	room = sizeof(tmp) - strlen(suffix);
	va_start(ap, fmt);
	vsnprintf(tmp, room, fmt, ap);
	va_end(ap);
	memcpy(tmp + strlen(tmp), suffix, strlen(suffix) + 1);
	store(tmp, errnum);
	return code;
}
