/*
 * progress.c - terminal progress bar: label, bar, bytes, rate, ETA.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli/progress.h"
#include "graviton/common.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(cli_progress *p, const char *label, int quiet)
{
	p->enabled = !quiet && isatty(STDERR_FILENO);
	p->label = label;
	p->t0 = now_s();
	p->last = 0;
}

void cli_progress_update(cli_progress *p, uint64_t bytes, uint64_t bytes_total,
                         uint64_t items, uint64_t items_total)
{
	char bar[31], done[32], total[32], rate[32], eta[32] = "--:--", of[48] = "", n[64] = "";
	double t = now_s(), frac, el, bps;
	int i, fill;

	if (!p || !p->enabled ||
	    (t - p->last < 0.2 && !(items_total && items == items_total) &&
	     !(bytes_total && bytes == bytes_total)))
		return;
	p->last = t;
	el = t - p->t0;
	frac = bytes_total ? (double)bytes / (double)bytes_total
	                   : items_total ? (double)items / (double)items_total : 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * 30);
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	bps = el > 0 ? (double)bytes / el : 0;
	if (frac > 0.001 && el > 0.5) {
		int left = (int)(el / frac - el);

		snprintf(eta, sizeof(eta), "%02d:%02d", left / 60, left % 60);
	}
	/* A total not known (0) is left out rather than shown as "0 B". */
	if (bytes_total)
		snprintf(of, sizeof(of), "/%s", gv_size_format(total, sizeof(total), bytes_total));
	if (items_total)
		snprintf(n, sizeof(n), " %llu/%llu", (unsigned long long)items,
		         (unsigned long long)items_total);
	else if (items)
		snprintf(n, sizeof(n), " %llu", (unsigned long long)items);
	/* \033[K: nothing of a longer earlier line is left at the end. */
	fprintf(stderr, "\r%s [%s] %3.0f%% %s%s %s/s%s ETA %s\033[K", p->label, bar, frac * 100,
	        gv_size_format(done, sizeof(done), bytes), of,
	        gv_size_format(rate, sizeof(rate), (uint64_t)bps), n, eta);
	fflush(stderr);
}

void cli_progress_done(cli_progress *p)
{
	if (!p->enabled)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
}
