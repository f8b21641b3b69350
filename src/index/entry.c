/*
 * entry.c - blob entries returned by the index port (any backend).
 */
#include <stdlib.h>

#include "graviton/sys/index.h"

void gv_blob_entries_free(gv_blob_entry *e, size_t n)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < n; i++)
		gv_replicas_free(e[i].replicas, e[i].nreplicas);
	free(e);
}
