/*
 * progress.h - a one-line progress bar on stderr, drawn only when stderr
 * is a terminal (quiet otherwise), at most a few times a second.
 */
#ifndef GV_CLI_PROGRESS_H
#define GV_CLI_PROGRESS_H

#include <stdint.h>

typedef struct cli_progress {
	int enabled;
	const char *label;
	double t0, last;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *label, int quiet);
/* Redraw with bytes and items done of their totals (a total 0 is not
 * known and not shown).  p NULL: nothing. */
void cli_progress_update(cli_progress *p, uint64_t bytes, uint64_t bytes_total,
                         uint64_t items, uint64_t items_total);
/* Erase the line. */
void cli_progress_done(cli_progress *p);

#endif
