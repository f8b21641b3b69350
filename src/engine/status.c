/*
 * status.c - one key's replication status and the store's figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "engine/store.h"

void gv_blob_status_free(gv_blob_status *bs)
{
	if (!bs)
		return;
	gv_replicas_free(bs->replicas, bs->nreplicas);
	free(bs->racks);
	free(bs->zones);
	free(bs);
}

int gv_stat(gv_blob_status **out, gv_store *st, const gv_key *key)
{
	gv_sector_info *sectors = NULL;
	const char **holders = NULL;
	size_t nsectors = 0, i, nh = 0;
	char kbuf[GV_KEY_BUFSIZE];
	gv_blob_status *bs;
	gv_placement_opts popt;
	int err;

	*out = NULL;
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return gv_error_set(GV_ENOMEM, "out of memory");
	bs->key = *key;
	popt = gv_store_placement(st);
	bs->target_replicas = popt.factor;
	if (gv_index_blob_exists(st->ix, key, &bs->created_ms) != 1) {
		err = gv_error_set(GV_ENOTFOUND, "no such blob: %s", gv_key_format(kbuf, key));
		goto fail;
	}
	if ((err = gv_index_replicas_find(st->ix, key, &bs->replicas, &bs->nreplicas)) < 0)
		goto fail;
	if ((err = gv_index_sector_list(st->ix, &sectors, &nsectors)) < 0)
		goto fail;
	bs->racks = calloc(bs->nreplicas ? bs->nreplicas : 1, sizeof(*bs->racks));
	bs->zones = calloc(bs->nreplicas ? bs->nreplicas : 1, sizeof(*bs->zones));
	holders = calloc(bs->nreplicas ? bs->nreplicas : 1, sizeof(*holders));
	if (!bs->racks || !bs->zones || !holders) {
		err = gv_error_set(GV_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < bs->nreplicas; i++) {
		gv_replica *r = &bs->replicas[i];
		long si = gv_placement_find(sectors, nsectors, r->sector);
		char why[GV_REASON_MAX];

		if (si >= 0) {
			snprintf(bs->racks[i], GV_ID_MAX, "%s", sectors[si].rack);
			snprintf(bs->zones[i], GV_ID_MAX, "%s", sectors[si].zone);
		}
		/* Report the effective state: a replica on a dead sector is not
		 * healthy, whatever its own flag says. */
		if (gv_replica_effective_health(r, sectors, nsectors, why, sizeof(why))) {
			holders[nh++] = r->sector;
			bs->healthy_replicas++;
		} else {
			r->healthy = 0;
			if (!r->reason[0])
				snprintf(r->reason, sizeof(r->reason), "%s", why);
		}
	}
	bs->placement_error = gv_placement_check(&bs->placement, &popt, sectors,
	                                         nsectors, holders, nh);
	if (bs->placement_error == 0) {
		/* A key short of its factor is judged against what the full set
		 * must span, not against what its few copies can. */
		const gv_placement_opts *p = &popt;
		int need_racks = p->min_racks < p->factor ? p->min_racks : p->factor;
		int need_zones = p->min_zones < p->factor ? p->min_zones : p->factor;

		if (p->strategy == GV_STRATEGY_RACK_AWARE && bs->placement.racks < need_racks)
			bs->placement_error = gv_error_set(GV_EINSUFFICIENT_RACKS,
			                                   "InsufficientRackDiversity: %d of %d racks",
			                                   bs->placement.racks, need_racks);
		else if (p->strategy == GV_STRATEGY_ZONE_AWARE && bs->placement.zones < need_zones)
			bs->placement_error = gv_error_set(GV_EINSUFFICIENT_ZONES,
			                                   "InsufficientZoneDiversity: %d of %d zones",
			                                   bs->placement.zones, need_zones);
	}
	bs->placement.ok = bs->placement_error == 0;
	free(holders);
	free(sectors);
	gv_error_clear();
	*out = bs;
	return 0;

fail:
	free(holders);
	free(sectors);
	gv_blob_status_free(bs);
	return err;
}

int gv_status(gv_store *st, gv_store_stats *out)
{
	gv_sector_info *sectors = NULL;
	size_t nsectors = 0, i;
	gv_index_stats is;
	int err;

	memset(out, 0, sizeof(*out));
	out->factor = gv_store_placement(st).factor;
	if ((err = gv_index_stats_get(st->ix, out->factor, &is)) < 0)
		return err;
	if ((err = gv_index_sector_list(st->ix, &sectors, &nsectors)) < 0)
		return err;
	out->blobs = is.blobs;
	out->replicas = is.replicas;
	out->healthy_replicas = is.healthy_replicas;
	out->unhealthy_replicas = is.unhealthy_replicas;
	out->under_replicated = is.under_replicated;
	out->over_replicated = is.over_replicated;
	out->lost = is.lost;
	out->bytes = is.bytes;
	out->avg_factor = is.avg_factor;
	out->sectors = nsectors;
	for (i = 0; i < nsectors; i++)
		if (sectors[i].healthy && sectors[i].state != GV_SECTOR_RETIRED)
			out->healthy_sectors++;
	free(sectors);
	return 0;
}

/*
 * Rows first, then bytes, all under the key lock: a put of the same key
 * waits, and a copy of an earlier put that finishes later finds the blob
 * gone and drops its bytes instead of recording them.
 */
void gv_store_drop_bytes(gv_store *st, const gv_key *key, const gv_replica *reps, size_t n)
{
	char kbuf[GV_KEY_BUFSIZE];
	size_t i;

	/* Nothing left to repair (a dead letter would stay listed for ever). */
	if (gv_repairq_done(&st->repairq, st->ix, key) < 0)
		gv_errlog("event=index_error op=repair_queue key=%s error=\"%s\"",
		          gv_key_format(kbuf, key), gv_error_last());
	for (i = 0; i < n; i++) {
		gv_sector *s = gv_store_sector_handle(st, reps[i].sector, NULL, 0);

		if (s)
			gv_sector_del(s, key); /* a copy left behind is only extra bytes */
	}
}

int gv_delete(gv_store *st, const gv_key *key)
{
	gv_replica *reps = NULL;
	size_t n = 0;
	char kbuf[GV_KEY_BUFSIZE];
	int err;

	if ((err = gv_key_lock(st, key)) < 0)
		return err;
	err = gv_index_replicas_find(st->ix, key, &reps, &n);
	if (err == GV_ENOTFOUND) {
		err = gv_error_set(GV_ENOTFOUND, "no such blob: %s", gv_key_format(kbuf, key));
		goto out;
	}
	if (err < 0)
		goto out;
	if ((err = gv_index_blob_remove(st->ix, key)) < 0)
		goto out;
	gv_store_drop_bytes(st, key, reps, n);
out:
	gv_key_unlock(st, key);
	gv_replicas_free(reps, n);
	return err;
}
