/*
 * placement.c - choose, judge and trim replica sets (graviton/placement.h).
 *
 * Map:
 *   names, options      gv_strategy_name/parse, gv_placement_opts_validate
 *   choose              one candidate per sector is built once (eligibility,
 *                       score, domain hashes); each pick is then one scan
 *                       that prefers an unused zone, then an unused rack,
 *                       then the lowest rendezvous score.  Cost is
 *                       O(nsectors * (nplaced + nexclude + want)) string
 *                       compares at worst, hashes first.
 *   check, trim, find   small quadratic loops over a replica set.
 *
 * Ids, racks and zones are compared over at most GV_ID_MAX bytes.  Rack
 * names are global: the same rack name in two zones is one rack.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graviton/placement.h"
#include "placement/hrw.h"

/* Candidate arrays up to this size live on the stack. */
#define SMALL_SECTORS 64
#define SMALL_HOLDERS 16

/* ------------------------------------------------------------------ names */

const char *gv_strategy_name(gv_strategy s)
{
	switch (s) {
	case GV_STRATEGY_SIMPLE: return "simple";
	case GV_STRATEGY_RACK_AWARE: return "rack-aware";
	case GV_STRATEGY_ZONE_AWARE: return "zone-aware";
	}
	return "unknown";
}

int gv_strategy_parse(gv_strategy *out, const char *s)
{
	static const gv_strategy all[] = {
		GV_STRATEGY_SIMPLE, GV_STRATEGY_RACK_AWARE, GV_STRATEGY_ZONE_AWARE,
	};
	size_t i;

	if (!out || !s)
		return gv_error_set(GV_EINVAL, "replication strategy missing");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, gv_strategy_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return gv_error_set(GV_EINVAL,
	                    "unknown replication strategy '%.64s' "
	                    "(expected simple, rack-aware or zone-aware)", s);
}

int gv_placement_opts_validate(const gv_placement_opts *o)
{
	if (!o)
		return gv_error_set(GV_EINVAL, "placement options missing");
	if (o->version != GV_PLACEMENT_OPTS_VERSION)
		return gv_error_set(GV_EINVAL,
		                    "placement options version %u not supported (expected %u)",
		                    o->version, (unsigned)GV_PLACEMENT_OPTS_VERSION);
	if (o->strategy != GV_STRATEGY_SIMPLE && o->strategy != GV_STRATEGY_RACK_AWARE &&
	    o->strategy != GV_STRATEGY_ZONE_AWARE)
		return gv_error_set(GV_EINVAL, "unknown replication strategy %d",
		                    (int)o->strategy);
	if (o->factor < 1 || o->factor > GV_MAX_REPLICAS)
		return gv_error_set(GV_EINVAL, "replication factor must be between 1 and %d, got %d",
		                    GV_MAX_REPLICAS, o->factor);
	if (o->min_replicas < 1 || o->min_replicas > o->factor)
		return gv_error_set(GV_EINVAL,
		                    "min-replicas must be between 1 and the factor (%d), got %d",
		                    o->factor, o->min_replicas);
	if (o->min_racks < 1)
		return gv_error_set(GV_EINVAL, "min-racks must be at least 1, got %d",
		                    o->min_racks);
	if (o->min_zones < 1)
		return gv_error_set(GV_EINVAL, "min-zones must be at least 1, got %d",
		                    o->min_zones);
	return 0;
}

/* ---------------------------------------------------------------- helpers */

static int id_eq(const char *a, const char *b)
{
	return strncmp(a, b, GV_ID_MAX) == 0;
}

/* Capacity minus used, and no more than the measured free space when the
 * caller measured it (a filesystem fuller than the configured capacity
 * says, or shared with other sectors). */
static uint64_t free_space(const gv_sector_info *s)
{
	uint64_t f = s->capacity > s->used ? s->capacity - s->used : 0;

	return s->free_known && s->free < f ? s->free : f;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ----------------------------------------------------------------- choose */

/* Why a sector is not a candidate, in the order they are tested. */
enum why {
	WHY_OK = 0,
	WHY_PLACED,
	WHY_EXCLUDED,
	WHY_UNHEALTHY,
	WHY_INACTIVE,
	WHY_NOSPACE,
	WHY_COUNT
};

struct cand {
	const gv_sector_info *s;
	uint64_t id_h, rack_h, zone_h; /* domain hashes: 0 when the strategy ignores it */
	uint64_t pair;        /* rendezvous hash, breaks score ties */
	double score;         /* lower wins */
	unsigned char placed, excluded, why;
	unsigned char taken;      /* chosen, or same id as a chosen sector */
	unsigned char rack_used;  /* its rack holds a placed or chosen replica */
	unsigned char zone_used;
	unsigned char mark;       /* scratch for counting */
};

struct choose_ctx {
	struct cand *c;
	size_t n;
	const char **placed_rack; /* per distinct placed id */
	const char **placed_zone;
	size_t nplaced;           /* distinct placed ids */
	size_t placed_racks;      /* distinct racks among them */
	size_t placed_zones;
	int use_rack;             /* the strategy looks at racks */
	int use_zone;             /* ... and at zones */
};

static void mark_rack_used(struct choose_ctx *x, const char *rack, uint64_t h)
{
	size_t i;

	if (!x->use_rack)
		return;
	for (i = 0; i < x->n; i++)
		if (x->c[i].rack_h == h && id_eq(x->c[i].s->rack, rack))
			x->c[i].rack_used = 1;
}

static void mark_zone_used(struct choose_ctx *x, const char *zone, uint64_t h)
{
	size_t i;

	if (!x->use_zone)
		return;
	for (i = 0; i < x->n; i++)
		if (x->c[i].zone_h == h && id_eq(x->c[i].s->zone, zone))
			x->c[i].zone_used = 1;
}

/* Index of the first candidate with this id, or -1; flags every match. */
static long flag_id(struct choose_ctx *x, const char *id, int placed)
{
	uint64_t h = gv_hrw_id_hash(id);
	long first = -1;
	size_t i;

	for (i = 0; i < x->n; i++) {
		if (x->c[i].id_h != h || !id_eq(x->c[i].s->id, id))
			continue;
		if (placed)
			x->c[i].placed = 1;
		else
			x->c[i].excluded = 1;
		if (first < 0)
			first = (long)i;
	}
	return first;
}

/* Record the placed replicas: their sectors leave the candidates and their
 * racks and zones count as used. */
static void add_placed(struct choose_ctx *x, const char *const *placed, size_t nplaced)
{
	size_t i, j;

	for (i = 0; i < nplaced; i++) {
		const char *rack = "", *zone = "";
		int new_rack = 1, new_zone = 1;
		long k;

		for (j = 0; j < i; j++)
			if (id_eq(placed[j], placed[i]))
				break;
		if (j < i)
			continue;
		k = flag_id(x, placed[i], 1);
		if (k >= 0) {
			rack = x->c[k].s->rack;
			zone = x->c[k].s->zone;
		}
		for (j = 0; j < x->nplaced; j++) {
			if (id_eq(x->placed_rack[j], rack))
				new_rack = 0;
			if (id_eq(x->placed_zone[j], zone))
				new_zone = 0;
		}
		if (new_rack && x->use_rack) {
			x->placed_racks++;
			mark_rack_used(x, rack, gv_hrw_id_hash(rack));
		}
		if (new_zone && x->use_zone) {
			x->placed_zones++;
			mark_zone_used(x, zone, gv_hrw_id_hash(zone));
		}
		x->placed_rack[x->nplaced] = rack;
		x->placed_zone[x->nplaced] = zone;
		x->nplaced++;
	}
}

/* 1 when candidate a is a better next pick than b under strategy st. */
static int better(const struct cand *a, const struct cand *b, gv_strategy st)
{
	if (st == GV_STRATEGY_ZONE_AWARE && a->zone_used != b->zone_used)
		return !a->zone_used;
	if (st != GV_STRATEGY_SIMPLE && a->rack_used != b->rack_used)
		return !a->rack_used;
	if (a->score != b->score)
		return a->score < b->score;
	if (a->pair != b->pair)
		return a->pair > b->pair;
	return strncmp(a->s->id, b->s->id, GV_ID_MAX) < 0;
}

/* Distinct racks (zones when `zones`) among eligible candidates that no
 * placed replica uses. */
static size_t count_new_domains(struct choose_ctx *x, int zones)
{
	size_t i, j, count = 0;

	for (i = 0; i < x->n; i++)
		x->c[i].mark = 0;
	for (i = 0; i < x->n; i++) {
		const struct cand *a = &x->c[i];
		const char *d = zones ? a->s->zone : a->s->rack;
		uint64_t h = zones ? a->zone_h : a->rack_h;
		int used = 0;

		if (a->why != WHY_OK || a->mark)
			continue;
		for (j = 0; j < x->nplaced && !used; j++)
			used = id_eq(zones ? x->placed_zone[j] : x->placed_rack[j], d);
		for (j = i; j < x->n; j++) {
			struct cand *b = &x->c[j];

			if ((zones ? b->zone_h : b->rack_h) == h &&
			    id_eq(zones ? b->s->zone : b->s->rack, d))
				b->mark = 1;
		}
		if (!used)
			count++;
	}
	return count;
}

/* "3 unhealthy, 1 not active" etc. for the reasons that occur. */
static void why_summary(char *buf, size_t cap, const size_t *count, uint64_t size)
{
	char sz[32];
	size_t len = 0;
	int i;

	buf[0] = '\0';
	gv_size_format(sz, sizeof(sz), size);
	for (i = WHY_PLACED; i < WHY_COUNT; i++) {
		const char *sep = len ? ", " : "";
		int w = 0;

		if (!count[i] || len >= cap)
			continue;
		switch (i) {
		case WHY_PLACED:
			w = snprintf(buf + len, cap - len, "%s%zu already %s a replica", sep,
			             count[i], plural(count[i], "holds", "hold"));
			break;
		case WHY_EXCLUDED:
			w = snprintf(buf + len, cap - len, "%s%zu excluded", sep, count[i]);
			break;
		case WHY_UNHEALTHY:
			w = snprintf(buf + len, cap - len, "%s%zu unhealthy", sep, count[i]);
			break;
		case WHY_INACTIVE:
			w = snprintf(buf + len, cap - len, "%s%zu not active", sep, count[i]);
			break;
		case WHY_NOSPACE:
			w = snprintf(buf + len, cap - len, "%s%zu without %s free", sep,
			             count[i], sz);
			break;
		}
		if (w > 0)
			len += (size_t)w;
	}
}

/*
 * The result of a choice: 0, or the documented error with a message that
 * says what was needed, what was found and why sectors were passed over.
 */
static int choose_error(struct choose_ctx *x, const gv_placement_opts *opts,
                        const gv_placement_req *req, size_t chosen,
                        size_t racks, size_t zones)
{
	size_t count[WHY_COUNT] = { 0 };
	size_t want_total, need = 0, got = 0, placed = 0, other, i;
	int zone = opts->strategy == GV_STRATEGY_ZONE_AWARE;
	char why[256];

	want_total = x->nplaced + req->want;
	if (want_total < x->nplaced)
		want_total = SIZE_MAX;
	if (opts->strategy != GV_STRATEGY_SIMPLE) {
		need = min_size((size_t)(zone ? opts->min_zones : opts->min_racks), want_total);
		got = zone ? zones : racks;
		placed = zone ? x->placed_zones : x->placed_racks;
	}
	if (got >= need && chosen >= req->want)
		return 0;

	for (i = 0; i < x->n; i++)
		count[x->c[i].why]++;
	why_summary(why, sizeof(why), count, req->key->size);
	if (got < need) {
		other = count_new_domains(x, zone);
		return gv_error_set(zone ? GV_EINSUFFICIENT_ZONES : GV_EINSUFFICIENT_RACKS,
		                    "%s: need %zu %s, got %zu: placed replicas use %zu and "
		                    "%zu other %s an eligible sector (%zu of %zu sectors "
		                    "eligible%s%s)",
		                    zone ? "InsufficientZoneDiversity" : "InsufficientRackDiversity",
		                    need, zone ? "zones" : "racks", got, placed, other,
		                    zone ? plural(other, "zone has", "zones have")
		                         : plural(other, "rack has", "racks have"),
		                    count[WHY_OK], x->n, *why ? "; " : "", why);
	}
	return gv_error_set(GV_EINSUFFICIENT_SECTORS,
	                    "InsufficientSectors: want %zu %s, %zu of %zu eligible%s%s%s",
	                    req->want, plural(req->want, "sector", "sectors"),
	                    count[WHY_OK], x->n, *why ? " (" : "", why, *why ? ")" : "");
}

int gv_placement_choose(size_t *out, size_t *out_n,
                        const gv_placement_opts *opts,
                        const gv_sector_info *sectors, size_t nsectors,
                        const gv_placement_req *req)
{
	struct cand small_c[SMALL_SECTORS];
	const char *small_p[2 * SMALL_HOLDERS];
	struct choose_ctx x;
	void *heap_c = NULL, *heap_p = NULL;
	size_t i, chosen = 0, racks, zones;
	uint64_t key_h;
	int rc;

	if (out_n)
		*out_n = 0;
	if (!out_n || !req || !req->key || (!out && req->want) ||
	    (!sectors && nsectors) || (!req->placed && req->nplaced) ||
	    (!req->exclude && req->nexclude))
		return gv_error_set(GV_EINVAL, "placement: missing argument");
	for (i = 0; i < req->nplaced; i++)
		if (!req->placed[i])
			return gv_error_set(GV_EINVAL, "placement: placed sector id %zu is NULL", i);
	for (i = 0; i < req->nexclude; i++)
		if (!req->exclude[i])
			return gv_error_set(GV_EINVAL, "placement: excluded sector id %zu is NULL", i);
	if ((rc = gv_placement_opts_validate(opts)) < 0)
		return rc;

	memset(&x, 0, sizeof(x));
	x.n = nsectors;
	x.use_rack = opts->strategy != GV_STRATEGY_SIMPLE;
	x.use_zone = opts->strategy == GV_STRATEGY_ZONE_AWARE;
	x.c = small_c;
	if (nsectors > SMALL_SECTORS) {
		if (nsectors > SIZE_MAX / sizeof(*x.c) ||
		    !(heap_c = calloc(nsectors, sizeof(*x.c))))
			return gv_error_set(GV_ENOMEM, "placement: no memory for %zu sectors",
			                    nsectors);
		x.c = heap_c;
	}
	x.placed_rack = small_p;
	x.placed_zone = small_p + SMALL_HOLDERS;
	if (req->nplaced > SMALL_HOLDERS) {
		if (req->nplaced > SIZE_MAX / (2 * sizeof(char *)) ||
		    !(heap_p = malloc(2 * req->nplaced * sizeof(char *)))) {
			rc = gv_error_set(GV_ENOMEM, "placement: no memory for %zu replicas",
			                  req->nplaced);
			goto out_free;
		}
		x.placed_rack = heap_p;
		x.placed_zone = x.placed_rack + req->nplaced;
	}

	for (i = 0; i < nsectors; i++) {
		struct cand *c = &x.c[i];

		memset(c, 0, sizeof(*c));
		c->s = &sectors[i];
		c->id_h = gv_hrw_id_hash(c->s->id);
		if (x.use_rack)
			c->rack_h = gv_hrw_id_hash(c->s->rack);
		if (x.use_zone)
			c->zone_h = gv_hrw_id_hash(c->s->zone);
	}
	add_placed(&x, req->placed, req->nplaced);
	for (i = 0; i < req->nexclude; i++)
		flag_id(&x, req->exclude[i], 0);

	key_h = gv_hrw_key_hash(req->key);
	for (i = 0; i < nsectors; i++) {
		struct cand *c = &x.c[i];
		uint64_t avail = free_space(c->s);

		if (c->placed)
			c->why = WHY_PLACED;
		else if (c->excluded)
			c->why = WHY_EXCLUDED;
		else if (!c->s->healthy)
			c->why = WHY_UNHEALTHY;
		else if (c->s->state != GV_SECTOR_ACTIVE)
			c->why = WHY_INACTIVE;
		else if (avail < req->key->size)
			c->why = WHY_NOSPACE;
		if (c->why != WHY_OK)
			continue;
		/* Weight is free space; a blob of size 0 may still land on a
		 * full sector, which then weighs as one byte. */
		c->pair = gv_hrw_pair(key_h, c->id_h);
		c->score = gv_hrw_score(c->pair, avail ? (double)avail : 1.0);
	}

	racks = x.placed_racks;
	zones = x.placed_zones;
	while (chosen < req->want) {
		struct cand *best = NULL;

		for (i = 0; i < nsectors; i++) {
			struct cand *c = &x.c[i];

			if (c->why == WHY_OK && !c->taken &&
			    (!best || better(c, best, opts->strategy)))
				best = c;
		}
		if (!best)
			break;
		out[chosen++] = (size_t)(best - x.c);
		for (i = 0; i < nsectors; i++)
			if (x.c[i].id_h == best->id_h && id_eq(x.c[i].s->id, best->s->id))
				x.c[i].taken = 1;
		if (x.use_rack && !best->rack_used) {
			racks++;
			mark_rack_used(&x, best->s->rack, best->rack_h);
		}
		if (x.use_zone && !best->zone_used) {
			zones++;
			mark_zone_used(&x, best->s->zone, best->zone_h);
		}
	}
	*out_n = chosen;
	rc = choose_error(&x, opts, req, chosen, racks, zones);

out_free:
	free(heap_p);
	free(heap_c);
	return rc;
}

/* ------------------------------------------------------------------ check */

long gv_placement_find(const gv_sector_info *sectors, size_t nsectors, const char *id)
{
	size_t i;

	if (!sectors || !id)
		return -1;
	for (i = 0; i < nsectors; i++)
		if (id_eq(sectors[i].id, id))
			return (long)i;
	return -1;
}

/* One holder of a replica set, resolved against the sectors. */
struct holder {
	const gv_sector_info *s; /* NULL when the id is unknown */
	const char *rack, *zone;
	int dup;                 /* an earlier holder has the same id */
	int removed;
};

static int resolve_holders(struct holder *h, const gv_sector_info *sectors,
                           size_t nsectors, const char *const *holders, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		long k;

		if (!holders[i])
			return gv_error_set(GV_EINVAL, "placement: holder %zu is NULL", i);
		k = gv_placement_find(sectors, nsectors, holders[i]);
		h[i].s = k >= 0 ? &sectors[k] : NULL;
		h[i].rack = h[i].s ? h[i].s->rack : "";
		h[i].zone = h[i].s ? h[i].s->zone : "";
		h[i].dup = 0;
		h[i].removed = 0;
		for (j = 0; j < i && !h[i].dup; j++)
			h[i].dup = id_eq(holders[j], holders[i]);
	}
	return 0;
}

static int holders_alloc(struct holder **out, struct holder *small, size_t n)
{
	*out = small;
	if (n <= SMALL_HOLDERS)
		return 0;
	if (n > SIZE_MAX / sizeof(**out) || !(*out = malloc(n * sizeof(**out))))
		return gv_error_set(GV_ENOMEM, "placement: no memory for %zu holders", n);
	return 0;
}

int gv_placement_check(gv_placement_report *out, const gv_placement_opts *opts,
                       const gv_sector_info *sectors, size_t nsectors,
                       const char *const *holders, size_t nholders)
{
	struct holder small[SMALL_HOLDERS], *h;
	gv_placement_report r;
	size_t i, j, distinct = 0, racks = 0, zones = 0, need;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if ((!holders && nholders) || (!sectors && nsectors))
		return gv_error_set(GV_EINVAL, "placement: missing argument");
	if ((rc = gv_placement_opts_validate(opts)) < 0)
		return rc;
	if ((rc = holders_alloc(&h, small, nholders)) < 0)
		return rc;
	if ((rc = resolve_holders(h, sectors, nsectors, holders, nholders)) < 0)
		goto out_free;

	for (i = 0; i < nholders; i++) {
		int new_rack = 1, new_zone = 1;

		if (h[i].dup)
			continue;
		distinct++;
		for (j = 0; j < i; j++) {
			if (h[j].dup)
				continue;
			if (id_eq(h[j].rack, h[i].rack))
				new_rack = 0;
			if (id_eq(h[j].zone, h[i].zone))
				new_zone = 0;
		}
		racks += (size_t)new_rack;
		zones += (size_t)new_zone;
	}

	memset(&r, 0, sizeof(r));
	r.replicas = (int)nholders;
	r.racks = (int)racks;
	r.zones = (int)zones;
	r.duplicates = (int)(nholders - distinct);
	r.ok = 1;
	rc = 0;
	if (opts->strategy == GV_STRATEGY_RACK_AWARE) {
		need = min_size((size_t)opts->min_racks, distinct);
		if (racks < need) {
			r.ok = 0;
			rc = gv_error_set(GV_EINSUFFICIENT_RACKS,
			                  "InsufficientRackDiversity: %zu %s span %zu %s, need %zu",
			                  distinct, plural(distinct, "replica", "replicas"),
			                  racks, plural(racks, "rack", "racks"), need);
		}
	} else if (opts->strategy == GV_STRATEGY_ZONE_AWARE) {
		need = min_size((size_t)opts->min_zones, distinct);
		if (zones < need) {
			r.ok = 0;
			rc = gv_error_set(GV_EINSUFFICIENT_ZONES,
			                  "InsufficientZoneDiversity: %zu %s span %zu %s, need %zu",
			                  distinct, plural(distinct, "replica", "replicas"),
			                  zones, plural(zones, "zone", "zones"), need);
		}
	}
	if (out)
		*out = r;

out_free:
	if (h != small)
		free(h);
	return rc;
}

/* ------------------------------------------------------------------- trim */

/* Kept holders sharing h[i]'s rack (zone when `zones`), h[i] included. */
static size_t crowd(const struct holder *h, size_t n, size_t i, int zones)
{
	size_t j, count = 0;

	for (j = 0; j < n; j++)
		if (!h[j].removed &&
		    id_eq(zones ? h[j].zone : h[j].rack, zones ? h[i].zone : h[i].rack))
			count++;
	return count;
}

/*
 * Sort key for removal, most removable first: duplicate entries, unknown
 * sectors, unhealthy ones, inactive ones (draining, retired), then the most
 * crowded zone and rack (rack and zone outside zone-aware), then the least
 * free space, then the greater id.  Returns >0 when i goes before j.
 */
static int trim_cmp(const struct holder *h, size_t n, size_t i, size_t j,
                    const char *const *ids, gv_strategy st)
{
	const struct holder *a = &h[i], *b = &h[j];
	size_t ca, cb;
	uint64_t fa, fb;
	int k, first_zone = st == GV_STRATEGY_ZONE_AWARE;

	if (a->dup != b->dup)
		return a->dup ? 1 : -1;
	if (!a->s != !b->s)
		return !a->s ? 1 : -1;
	if (!a->s)
		goto by_id;
	if (!a->s->healthy != !b->s->healthy)
		return !a->s->healthy ? 1 : -1;
	if ((a->s->state != GV_SECTOR_ACTIVE) != (b->s->state != GV_SECTOR_ACTIVE))
		return a->s->state != GV_SECTOR_ACTIVE ? 1 : -1;
	for (k = 0; k < 2; k++) {
		int zones = k == 0 ? first_zone : !first_zone;

		ca = crowd(h, n, i, zones);
		cb = crowd(h, n, j, zones);
		if (ca != cb)
			return ca > cb ? 1 : -1;
	}
	fa = free_space(a->s);
	fb = free_space(b->s);
	if (fa != fb)
		return fa < fb ? 1 : -1;
by_id:
	k = strncmp(ids[i], ids[j], GV_ID_MAX);
	if (k)
		return k > 0 ? 1 : -1;
	return i > j ? 1 : -1;
}

int gv_placement_trim(size_t *out, const gv_placement_opts *opts,
                      const gv_sector_info *sectors, size_t nsectors,
                      const char *const *holders, size_t nholders, size_t remove)
{
	struct holder small[SMALL_HOLDERS], *h;
	size_t r, i;
	int rc;

	if ((!out && remove) || (!holders && nholders) || (!sectors && nsectors))
		return gv_error_set(GV_EINVAL, "placement: missing argument");
	if ((rc = gv_placement_opts_validate(opts)) < 0)
		return rc;
	if (remove > nholders)
		return gv_error_set(GV_EINVAL, "placement: cannot remove %zu of %zu replicas",
		                    remove, nholders);
	if ((rc = holders_alloc(&h, small, nholders)) < 0)
		return rc;
	if ((rc = resolve_holders(h, sectors, nsectors, holders, nholders)) < 0)
		goto out_free;

	for (r = 0; r < remove; r++) {
		size_t best = nholders;

		for (i = 0; i < nholders; i++) {
			if (h[i].removed)
				continue;
			if (best == nholders ||
			    trim_cmp(h, nholders, i, best, holders, opts->strategy) > 0)
				best = i;
		}
		h[best].removed = 1;
		out[r] = best;
	}

out_free:
	if (h != small)
		free(h);
	return rc;
}
