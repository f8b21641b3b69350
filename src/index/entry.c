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

void gv_ns_objects_free(gv_object *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		free(v[i].meta);
	free(v);
}
