/*
 * aw.h - asynchronous writer: a thread writes filled buffers to a file
 * descriptor while the caller fills the next one, so reading and hashing
 * overlap with writing on a second core.
 */
#ifndef GV_CLI_AW_H
#define GV_CLI_AW_H

#include <stddef.h>

typedef struct aw aw;

#define AW_BUFSZ (1u << 20)

/* Start a writer on fd (not owned).  NULL on failure (errno set). */
aw *aw_open(int fd);
/* A free buffer of AW_BUFSZ bytes; blocks while both are in flight. */
char *aw_buffer(aw *w);
/* Queue the buffer from aw_buffer with len bytes; -1 after a write error. */
int aw_submit(aw *w, char *buf, size_t len);
/* Wait until everything queued is written; -1 (errno set) on error. */
int aw_drain(aw *w);
/* Drain and stop the thread; returns aw_drain's result. */
int aw_close(aw *w);

#endif
