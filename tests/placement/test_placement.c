/*
 * test_placement.c - replica placement: strategies, errors, properties,
 * evenness and stability.
 *
 * Map:
 *   unit tests      names and options, eligibility, each strategy and each
 *                   error, check, trim, find, pinned hash values
 *   properties      PROPERTY_TOPOLOGIES random topologies from a fixed-seed
 *                   generator, each judged against a naive reference
 *   evenness        100,000 keys of one byte each.  Two regimes:
 *                   - fixed: `used` stays as given, so every sector's weight
 *                     is its capacity for every key (a snapshot of one
 *                     cluster state);
 *                   - fill: each placed replica adds its size to `used`, as
 *                     the index does, and the cluster ends 90% full.
 *                   Equal capacities are checked in both; capacities 1:2:4
 *                   under rack-aware placement over four equal racks (each
 *                   rack holds one sector of each size) with fixed weights,
 *                   and under simple placement with fill.  See
 *                   docs/placement.md for why simple placement of several
 *                   replicas with fixed, unequal weights is not exactly
 *                   proportional.
 *   stability       a 13th sector of equal capacity joins 12 (fixed used);
 *                   a key "changed" when its chosen set of sectors differs.
 *                   The fair share is factor/13 of keys: for the new sector
 *                   to hold 1/13 of all replicas, at least that many keys
 *                   must gain a replica on it.  At most 1.5x that may change,
 *                   and every changed key must have moved exactly one
 *                   replica, onto the new sector.
 *
 * Failures print the seed-derived case number so they reproduce.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "graviton/placement.h"
#include "placement/hrw.h"

#define NKEYS 100000
#define PROPERTY_TOPOLOGIES 5000
#define MAXS 64

/* ---------------------------------------------------------------- helpers */

/* SplitMix64 with a fixed seed so failures reproduce. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return (size_t)(rng() % n);
}

static void rng_seed(uint64_t seed)
{
	rng_state = seed;
}

static void mk_key(gv_key *k, uint64_t size)
{
	size_t i;

	for (i = 0; i < GV_DIGEST_LEN; i += 8) {
		uint64_t v = rng();

		memcpy(k->digest + i, &v, 8);
	}
	k->size = size;
}

static void mk_sector(gv_sector_info *s, const char *id, const char *rack,
                      const char *zone, uint64_t capacity, uint64_t used)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->kind, sizeof(s->kind), "mem");
	snprintf(s->rack, sizeof(s->rack), "%s", rack);
	snprintf(s->zone, sizeof(s->zone), "%s", zone);
	s->capacity = capacity;
	s->used = used;
	s->healthy = 1;
	s->state = GV_SECTOR_ACTIVE;
}

/* n sectors "s0".."s<n-1>", sector i in rack "r<i % racks>" and zone
 * "z<(i % racks) % zones>", all of capacity `cap`. */
static void mk_grid(gv_sector_info *s, size_t n, size_t racks, size_t zones, uint64_t cap)
{
	char id[GV_ID_MAX], rack[GV_ID_MAX], zone[GV_ID_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "s%zu", i);
		snprintf(rack, sizeof(rack), "r%zu", i % racks);
		snprintf(zone, sizeof(zone), "z%zu", (i % racks) % zones);
		mk_sector(&s[i], id, rack, zone, cap, 0);
	}
}

static gv_placement_opts opts_of(gv_strategy st, int factor, int min_racks, int min_zones)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;

	o.strategy = st;
	o.factor = factor;
	o.min_replicas = factor < 2 ? 1 : 2;
	o.min_racks = min_racks;
	o.min_zones = min_zones;
	return o;
}

static int choose(size_t *out, size_t *n, const gv_placement_opts *o,
                  const gv_sector_info *s, size_t ns, const gv_key *key,
                  const char *const *placed, size_t np,
                  const char *const *exclude, size_t ne, size_t want)
{
	gv_placement_req req = { key, placed, np, exclude, ne, want };

	return gv_placement_choose(out, n, o, s, ns, &req);
}

static size_t count_distinct(const char *const *v, size_t n)
{
	size_t i, j, d = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(v[i], v[j]) == 0)
				break;
		d += j == i;
	}
	return d;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static int contains(const char *const *v, size_t n, const char *x)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], x) == 0)
			return 1;
	return 0;
}

static void expect_msg(const char *word)
{
	if (!strstr(gv_error_last(), word)) {
		print_error("message '%s' lacks '%s'\n", gv_error_last(), word);
		fail();
	}
}

/* ----------------------------------------------------------- names, opts */

static void test_strategy_names(void **state)
{
	gv_strategy s;

	(void)state;
	assert_string_equal(gv_strategy_name(GV_STRATEGY_SIMPLE), "simple");
	assert_string_equal(gv_strategy_name(GV_STRATEGY_RACK_AWARE), "rack-aware");
	assert_string_equal(gv_strategy_name(GV_STRATEGY_ZONE_AWARE), "zone-aware");
	assert_string_equal(gv_strategy_name((gv_strategy)7), "unknown");
	assert_int_equal(gv_strategy_parse(&s, "simple"), 0);
	assert_int_equal(s, GV_STRATEGY_SIMPLE);
	assert_int_equal(gv_strategy_parse(&s, "rack-aware"), 0);
	assert_int_equal(s, GV_STRATEGY_RACK_AWARE);
	assert_int_equal(gv_strategy_parse(&s, "zone-aware"), 0);
	assert_int_equal(s, GV_STRATEGY_ZONE_AWARE);
	assert_int_equal(gv_strategy_parse(&s, "rack_aware"), GV_EINVAL);
	expect_msg("rack_aware");
	expect_msg("rack-aware");
	assert_int_equal(gv_strategy_parse(&s, ""), GV_EINVAL);
	assert_int_equal(gv_strategy_parse(&s, NULL), GV_EINVAL);
}

static void test_opts_validate(void **state)
{
	gv_placement_opts d = GV_PLACEMENT_OPTS_INIT, o;

	(void)state;
	assert_int_equal(gv_placement_opts_validate(&d), 0);
	assert_int_equal(d.strategy, GV_STRATEGY_RACK_AWARE);
	assert_int_equal(d.factor, 3);
	assert_int_equal(d.min_replicas, 2);
	assert_int_equal(d.min_racks, 2);
	assert_int_equal(d.min_zones, 2);

	o = d; o.factor = 0;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	expect_msg("factor");
	o = d; o.factor = GV_MAX_REPLICAS + 1; /* the engine sizes its arrays by it */
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	expect_msg("between 1 and 16");
	o = d; o.factor = GV_MAX_REPLICAS;
	assert_int_equal(gv_placement_opts_validate(&o), 0);
	o = d; o.min_replicas = 0;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	expect_msg("min-replicas");
	o = d; o.min_replicas = 4;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	o = d; o.min_replicas = 3;
	assert_int_equal(gv_placement_opts_validate(&o), 0);
	o = d; o.min_racks = 0;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	expect_msg("min-racks");
	o = d; o.min_zones = -1;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	expect_msg("min-zones");
	o = d; o.min_racks = 9; /* more than the factor is allowed: min() caps it */
	assert_int_equal(gv_placement_opts_validate(&o), 0);
	o = d; o.version = 2;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	expect_msg("version");
	o = d; o.strategy = (gv_strategy)3;
	assert_int_equal(gv_placement_opts_validate(&o), GV_EINVAL);
	assert_int_equal(gv_placement_opts_validate(NULL), GV_EINVAL);
}

static void test_find(void **state)
{
	gv_sector_info s[3];

	(void)state;
	mk_grid(s, 3, 3, 1, 100);
	assert_int_equal(gv_placement_find(s, 3, "s0"), 0);
	assert_int_equal(gv_placement_find(s, 3, "s2"), 2);
	assert_int_equal(gv_placement_find(s, 3, "s3"), -1);
	assert_int_equal(gv_placement_find(s, 3, ""), -1);
	assert_int_equal(gv_placement_find(s, 3, NULL), -1);
	assert_int_equal(gv_placement_find(NULL, 0, "s0"), -1);
}

static void test_bad_arguments(void **state)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;
	gv_sector_info s[3];
	const char *nullid[1] = { NULL };
	size_t out[3], n = 99;
	gv_key k;

	(void)state;
	rng_seed(1);
	mk_key(&k, 1);
	mk_grid(s, 3, 3, 1, 100);
	assert_int_equal(choose(NULL, &n, &o, s, 3, &k, NULL, 0, NULL, 0, 1), GV_EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(choose(out, &n, &o, s, 3, NULL, NULL, 0, NULL, 0, 1), GV_EINVAL);
	assert_int_equal(choose(out, &n, &o, s, 3, &k, NULL, 1, NULL, 0, 1), GV_EINVAL);
	assert_int_equal(choose(out, &n, &o, s, 3, &k, nullid, 1, NULL, 0, 1), GV_EINVAL);
	assert_int_equal(choose(out, &n, &o, s, 3, &k, NULL, 0, nullid, 1, 1), GV_EINVAL);
	o.factor = 0;
	assert_int_equal(choose(out, &n, &o, s, 3, &k, NULL, 0, NULL, 0, 1), GV_EINVAL);
	assert_int_equal(n, 0);
}

/* ------------------------------------------------------------ eligibility */

static void test_simple_skips_ineligible(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_SIMPLE, 3, 1, 1);
	gv_sector_info s[9];
	const char *placed[] = { "held" };
	const char *exclude[] = { "banned" };
	size_t out[9], n, i, round;
	gv_key k;

	(void)state;
	rng_seed(2);
	mk_sector(&s[0], "ok-a", "", "", 1000, 0);
	mk_sector(&s[1], "sick", "", "", 1000, 0);
	s[1].healthy = 0;
	mk_sector(&s[2], "draining", "", "", 1000, 0);
	s[2].state = GV_SECTOR_DRAINING;
	mk_sector(&s[3], "retired", "", "", 1000, 0);
	s[3].state = GV_SECTOR_RETIRED;
	mk_sector(&s[4], "overfull", "", "", 1000, 5000); /* used > capacity */
	mk_sector(&s[5], "tight", "", "", 1000, 901);     /* 99 bytes free */
	mk_sector(&s[6], "held", "", "", 1000, 0);
	mk_sector(&s[7], "banned", "", "", 1000, 0);
	mk_sector(&s[8], "exact", "", "", 1000, 900);     /* exactly 100 free */

	for (round = 0; round < 200; round++) {
		mk_key(&k, 100);
		assert_int_equal(choose(out, &n, &o, s, 9, &k, placed, 1, exclude, 1, 3),
		                 GV_EINSUFFICIENT_SECTORS);
		assert_int_equal(n, 2);
		for (i = 0; i < n; i++)
			assert_true(out[i] == 0 || out[i] == 8);
		assert_int_not_equal(out[0], out[1]);
	}
	expect_msg("InsufficientSectors");
	expect_msg("want 3 sectors, 2 of 9 eligible");
	expect_msg("1 unhealthy");
	expect_msg("2 not active");
	expect_msg("2 without 100 B free");
	expect_msg("1 excluded");
	expect_msg("1 already holds a replica");
}

static void test_zero_size_and_zero_want(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_SIMPLE, 1, 1, 1);
	gv_sector_info s[2];
	size_t out[2], n;
	gv_key k;

	(void)state;
	rng_seed(3);
	mk_sector(&s[0], "full", "", "", 1000, 1000);
	mk_sector(&s[1], "empty-cap", "", "", 0, 0);
	mk_key(&k, 0);
	/* An empty blob fits anywhere that is healthy and active. */
	assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 2), 0);
	assert_int_equal(n, 2);
	assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 0), 0);
	assert_int_equal(n, 0);
	assert_int_equal(choose(NULL, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 0), 0);
	assert_int_equal(choose(out, &n, &o, NULL, 0, &k, NULL, 0, NULL, 0, 1),
	                 GV_EINSUFFICIENT_SECTORS);
	assert_int_equal(n, 0);
}

static void test_duplicate_sector_ids_never_twice(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_SIMPLE, 3, 1, 1);
	gv_sector_info s[4];
	size_t out[4], n;
	gv_key k;

	(void)state;
	rng_seed(4);
	mk_sector(&s[0], "twin", "", "", 1000, 0);
	mk_sector(&s[1], "twin", "", "", 1000, 0);
	mk_sector(&s[2], "twin", "", "", 1000, 0);
	mk_sector(&s[3], "other", "", "", 1000, 0);
	mk_key(&k, 1);
	assert_int_equal(choose(out, &n, &o, s, 4, &k, NULL, 0, NULL, 0, 3),
	                 GV_EINSUFFICIENT_SECTORS);
	assert_int_equal(n, 2);
	assert_string_not_equal(s[out[0]].id, s[out[1]].id);
}

static void test_prefers_free_space(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_SIMPLE, 1, 1, 1);
	gv_sector_info s[2];
	size_t out[1], n, i, wins = 0;
	gv_key k;

	(void)state;
	rng_seed(5);
	mk_sector(&s[0], "roomy", "", "", 1000000, 0);       /* 1,000,000 free */
	mk_sector(&s[1], "cramped", "", "", 1000000, 900000); /* 100,000 free */
	for (i = 0; i < 11000; i++) {
		mk_key(&k, 1);
		assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 1), 0);
		wins += out[0] == 0;
	}
	/* Expected 10/11 of 11000 = 10000. */
	assert_in_range(wins, 9800, 10200);
}

/* Measured free space (a filesystem smaller than the configured capacity,
 * or shared) bounds capacity - used: for eligibility and for the weight. */
static void test_measured_free_space(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_SIMPLE, 1, 1, 1);
	gv_sector_info s[3];
	size_t out[3], n, i, wins = 0;
	gv_key k;

	(void)state;
	rng_seed(31);
	/* Both registered with 1 GB; the small one's filesystem has 100,000
	 * bytes free, the roomy one's 1,000,000. */
	mk_sector(&s[0], "roomy", "", "", 1000000000, 0);
	s[0].free = 1000000;
	s[0].free_known = 1;
	mk_sector(&s[1], "small-fs", "", "", 1000000000, 0);
	s[1].free = 100000;
	s[1].free_known = 1;
	for (i = 0; i < 11000; i++) {
		mk_key(&k, 1);
		assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 1), 0);
		wins += out[0] == 0;
	}
	/* Weighted by measured free space: expected 10/11 of 11000. */
	assert_in_range(wins, 9800, 10200);

	/* A blob larger than the measured free space skips the sector, even
	 * though its configured capacity has room. */
	for (i = 0; i < 200; i++) {
		mk_key(&k, 100001);
		assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 1), 0);
		assert_int_equal(out[0], 0);
	}
	mk_key(&k, 100001);
	assert_int_equal(choose(out, &n, &o, s + 1, 1, &k, NULL, 0, NULL, 0, 1),
	                 GV_EINSUFFICIENT_SECTORS);
	expect_msg("1 without 97.7 KiB free");

	/* capacity - used still bounds it when the filesystem has more free;
	 * unmeasured sectors (free_known 0) use capacity - used alone. */
	mk_sector(&s[2], "configured", "", "", 1000, 900);
	s[2].free = 1000000;
	s[2].free_known = 1;
	mk_key(&k, 101);
	assert_int_equal(choose(out, &n, &o, s + 2, 1, &k, NULL, 0, NULL, 0, 1),
	                 GV_EINSUFFICIENT_SECTORS);
	s[1].free_known = 0;
	mk_key(&k, 100001);
	assert_int_equal(choose(out, &n, &o, s + 1, 1, &k, NULL, 0, NULL, 0, 1), 0);
}

/* Trim drops the copy on the sector with the least measured free space. */
static void test_trim_measured_free_space(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_SIMPLE, 1, 1, 1);
	gv_sector_info s[2];
	const char *holders[] = { "a", "b" };
	size_t out[1];

	(void)state;
	mk_sector(&s[0], "a", "", "", 1000000, 0);
	s[0].free = 10;
	s[0].free_known = 1;
	mk_sector(&s[1], "b", "", "", 1000000, 500000);
	assert_int_equal(gv_placement_trim(out, &o, s, 2, holders, 2, 1), 0);
	assert_int_equal(out[0], 0);
}

/* ------------------------------------------------------------- rack-aware */

static void test_rack_aware_spreads(void **state)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;
	const char *racks[3];
	gv_sector_info s[9];
	size_t out[3], n, i, round;
	gv_key k;

	(void)state;
	rng_seed(6);
	mk_grid(s, 9, 3, 3, 1 << 20);
	for (round = 0; round < 200; round++) {
		mk_key(&k, 100);
		assert_int_equal(choose(out, &n, &o, s, 9, &k, NULL, 0, NULL, 0, 3), 0);
		assert_int_equal(n, 3);
		for (i = 0; i < 3; i++)
			racks[i] = s[out[i]].rack;
		assert_int_equal(count_distinct(racks, 3), 3);
	}
}

/* The end-to-end scenario of the issue, at the placement level. */
static void test_rack_aware_unhealthy_racks(void **state)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;
	const char *racks[3];
	gv_sector_info s[9];
	size_t out[3], n, i;
	gv_key k;

	(void)state;
	rng_seed(7);
	mk_key(&k, 100);
	mk_grid(s, 9, 3, 3, 1 << 20);
	for (i = 0; i < 9; i++)
		if (strcmp(s[i].rack, "r0") == 0)
			s[i].healthy = 0;
	/* One rack down: still 3 replicas over 2 racks, which meets min-racks 2. */
	assert_int_equal(choose(out, &n, &o, s, 9, &k, NULL, 0, NULL, 0, 3), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		racks[i] = s[out[i]].rack;
		assert_string_not_equal(racks[i], "r0");
	}
	assert_int_equal(count_distinct(racks, 3), 2);

	/* Two racks down: the diversity error, though 3 sectors are eligible. */
	for (i = 0; i < 9; i++)
		if (strcmp(s[i].rack, "r1") == 0)
			s[i].healthy = 0;
	assert_int_equal(choose(out, &n, &o, s, 9, &k, NULL, 0, NULL, 0, 3),
	                 GV_EINSUFFICIENT_RACKS);
	assert_int_equal(n, 3); /* best effort, all in r2 */
	for (i = 0; i < 3; i++)
		assert_string_equal(s[out[i]].rack, "r2");
	expect_msg("InsufficientRackDiversity");
	expect_msg("need 2 racks, got 1");
	expect_msg("1 other rack has an eligible sector");
	expect_msg("6 unhealthy");
}

static void test_rack_aware_precedence(void **state)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;
	gv_sector_info s[2];
	size_t out[3], n;
	gv_key k;

	(void)state;
	rng_seed(8);
	mk_key(&k, 1);
	mk_sector(&s[0], "a", "r0", "", 100, 0);
	mk_sector(&s[1], "b", "r0", "", 100, 0);
	/* Both short of sectors and of racks: the rack error wins. */
	assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 3),
	                 GV_EINSUFFICIENT_RACKS);
	assert_int_equal(n, 2);
	/* min-racks 1: only short of sectors. */
	o.min_racks = 1;
	assert_int_equal(choose(out, &n, &o, s, 2, &k, NULL, 0, NULL, 0, 3),
	                 GV_EINSUFFICIENT_SECTORS);
	expect_msg("want 3 sectors, 2 of 2 eligible");
}

static void test_no_rack_is_one_rack(void **state)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;
	gv_sector_info s[6];
	char id[GV_ID_MAX];
	size_t out[3], n, i;
	gv_key k;

	(void)state;
	rng_seed(9);
	mk_key(&k, 1);
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "n%zu", i);
		mk_sector(&s[i], id, "", "", 100, 0);
	}
	/* Five sectors without a rack are one rack, not five. */
	assert_int_equal(choose(out, &n, &o, s, 5, &k, NULL, 0, NULL, 0, 3),
	                 GV_EINSUFFICIENT_RACKS);
	expect_msg("need 2 racks, got 1");
	/* With one racked sector the set spans "" and "r1". */
	mk_sector(&s[5], "racked", "r1", "", 100, 0);
	assert_int_equal(choose(out, &n, &o, s, 6, &k, NULL, 0, NULL, 0, 3), 0);
	for (i = 0; i < 3; i++)
		if (out[i] == 5)
			break;
	assert_true(i < 3);
}

static void test_rack_aware_repair_and_move(void **state)
{
	gv_placement_opts o = GV_PLACEMENT_OPTS_INIT;
	gv_sector_info s[9];
	const char *placed[2], *exclude[1];
	size_t out[3], n;
	gv_key k;

	(void)state;
	rng_seed(10);
	mk_key(&k, 1);
	mk_grid(s, 9, 3, 3, 1 << 20); /* s0,s3,s6 in r0; s1,s4,s7 in r1; ... */

	/* Repair: one replica left in r0, two more go to r1 and r2. */
	placed[0] = "s0";
	assert_int_equal(choose(out, &n, &o, s, 9, &k, placed, 1, NULL, 0, 2), 0);
	assert_int_equal(n, 2);
	assert_string_not_equal(s[out[0]].rack, "r0");
	assert_string_not_equal(s[out[1]].rack, "r0");
	assert_string_not_equal(s[out[0]].rack, s[out[1]].rack);

	/* Move off s2 (r2): r0 and r1 are held, so the destination stays in r2. */
	placed[0] = "s0";
	placed[1] = "s1";
	exclude[0] = "s2";
	assert_int_equal(choose(out, &n, &o, s, 9, &k, placed, 2, exclude, 1, 1), 0);
	assert_int_equal(n, 1);
	assert_string_equal(s[out[0]].rack, "r2");
	assert_string_not_equal(s[out[0]].id, "s2");

	/* A placed id unknown to the sectors counts as rack "". */
	placed[0] = "gone";
	assert_int_equal(choose(out, &n, &o, s, 9, &k, placed, 1, NULL, 0, 0), 0);
	o.min_racks = 3;
	assert_int_equal(choose(out, &n, &o, s, 9, &k, placed, 1, NULL, 0, 2), 0);
	/* Two placed replicas in one rack and room for one more: need 3. */
	placed[0] = "s0";
	placed[1] = "s3";
	assert_int_equal(choose(out, &n, &o, s, 9, &k, placed, 2, NULL, 0, 1),
	                 GV_EINSUFFICIENT_RACKS);
	assert_int_equal(n, 1);
	expect_msg("need 3 racks, got 2");
	expect_msg("placed replicas use 1");
	expect_msg("2 other racks have an eligible sector");
}

/* ------------------------------------------------------------- zone-aware */

static void test_zone_aware_any_zones(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_ZONE_AWARE, 3, 2, 2);
	static const char *zones[] = { "eu-west-1a", "x", "", "us.east" };
	const char *got[4];
	gv_sector_info s[16];
	char id[GV_ID_MAX], rack[GV_ID_MAX];
	size_t out[4], n, i, round;
	gv_key k;

	(void)state;
	rng_seed(11);
	for (i = 0; i < 16; i++) {
		snprintf(id, sizeof(id), "s%zu", i);
		snprintf(rack, sizeof(rack), "r%zu", i % 8);
		mk_sector(&s[i], id, rack, zones[i % 4], 1000, 0);
	}
	for (round = 0; round < 100; round++) {
		mk_key(&k, 1);
		assert_int_equal(choose(out, &n, &o, s, 16, &k, NULL, 0, NULL, 0, 4), 0);
		for (i = 0; i < 4; i++)
			got[i] = s[out[i]].zone;
		assert_int_equal(count_distinct(got, 4), 4);
	}
	/* Zones missing entirely: only "x" is left. */
	for (i = 0; i < 16; i++)
		if (strcmp(s[i].zone, "x") != 0)
			s[i].healthy = 0;
	assert_int_equal(choose(out, &n, &o, s, 16, &k, NULL, 0, NULL, 0, 3),
	                 GV_EINSUFFICIENT_ZONES);
	assert_int_equal(n, 3);
	expect_msg("InsufficientZoneDiversity");
	expect_msg("need 2 zones, got 1");
	o.min_zones = 1;
	assert_int_equal(choose(out, &n, &o, s, 16, &k, NULL, 0, NULL, 0, 3), 0);
}

static void test_zone_aware_prefers_racks_inside_zone(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_ZONE_AWARE, 3, 2, 2);
	gv_sector_info s[7];
	size_t out[3], n, round, i, j;
	const char *racks[3], *zones[3];
	gv_key k;

	(void)state;
	rng_seed(12);
	/* Zone a has racks a1 (three big sectors) and a2 (one small); zone b
	 * has one rack.  Three replicas: zones a and b, and inside a, both
	 * racks, however the scores fall. */
	mk_sector(&s[0], "a1-0", "a1", "a", 1 << 30, 0);
	mk_sector(&s[1], "a1-1", "a1", "a", 1 << 30, 0);
	mk_sector(&s[2], "a1-2", "a1", "a", 1 << 30, 0);
	mk_sector(&s[3], "a2-0", "a2", "a", 1 << 20, 0);
	mk_sector(&s[4], "b1-0", "b1", "b", 1 << 30, 0);
	mk_sector(&s[5], "b1-1", "b1", "b", 1 << 30, 0);
	mk_sector(&s[6], "b1-2", "b1", "b", 1 << 30, 0);
	for (round = 0; round < 200; round++) {
		mk_key(&k, 1);
		assert_int_equal(choose(out, &n, &o, s, 7, &k, NULL, 0, NULL, 0, 3), 0);
		for (i = 0; i < 3; i++) {
			racks[i] = s[out[i]].rack;
			zones[i] = s[out[i]].zone;
		}
		assert_int_equal(count_distinct(zones, 3), 2);
		assert_int_equal(count_distinct(racks, 3), 3);
		for (i = 0; i < 3; i++)
			for (j = 0; j < i; j++)
				assert_int_not_equal(out[i], out[j]);
	}
}

/* ------------------------------------------------------------------ check */

static void test_check(void **state)
{
	gv_placement_opts rack = GV_PLACEMENT_OPTS_INIT;
	gv_placement_opts zone = opts_of(GV_STRATEGY_ZONE_AWARE, 3, 2, 2);
	gv_placement_opts simple = opts_of(GV_STRATEGY_SIMPLE, 3, 2, 2);
	gv_placement_report r;
	gv_sector_info s[9];
	const char *h[4];

	(void)state;
	mk_grid(s, 9, 3, 2, 100); /* r0,r2 in z0; r1 in z1 */

	h[0] = "s0"; h[1] = "s1"; h[2] = "s2";
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 3), 0);
	assert_int_equal(r.replicas, 3);
	assert_int_equal(r.racks, 3);
	assert_int_equal(r.zones, 2);
	assert_int_equal(r.duplicates, 0);
	assert_int_equal(r.ok, 1);
	assert_int_equal(gv_placement_check(&r, &zone, s, 9, h, 3), 0);

	h[0] = "s0"; h[1] = "s3"; h[2] = "s6"; /* all r0, z0 */
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 3), GV_EINSUFFICIENT_RACKS);
	assert_int_equal(r.ok, 0);
	assert_int_equal(r.racks, 1);
	expect_msg("InsufficientRackDiversity: 3 replicas span 1 rack, need 2");
	assert_int_equal(gv_placement_check(&r, &zone, s, 9, h, 3), GV_EINSUFFICIENT_ZONES);
	expect_msg("InsufficientZoneDiversity");
	assert_int_equal(gv_placement_check(&r, &simple, s, 9, h, 3), 0);
	assert_int_equal(r.ok, 1);

	/* One replica needs only one rack; none needs none. */
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 1), 0);
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 0), 0);
	assert_int_equal(r.replicas, 0);

	/* r0 and r2 are both in z0. */
	h[0] = "s0"; h[1] = "s2";
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 2), 0);
	assert_int_equal(gv_placement_check(&r, &zone, s, 9, h, 2), GV_EINSUFFICIENT_ZONES);
	assert_int_equal(r.zones, 1);

	/* Duplicates are reported and do not count as spread. */
	h[0] = "s0"; h[1] = "s0"; h[2] = "s3";
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 3), GV_EINSUFFICIENT_RACKS);
	assert_int_equal(r.duplicates, 1);
	assert_int_equal(r.replicas, 3);

	/* Unknown ids share rack and zone "". */
	h[0] = "gone-1"; h[1] = "gone-2"; h[2] = "s1";
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 3), 0);
	assert_int_equal(r.racks, 2);
	assert_int_equal(r.zones, 2);
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 2), GV_EINSUFFICIENT_RACKS);

	assert_int_equal(gv_placement_check(NULL, &rack, s, 9, h, 3), 0);
	rack.min_racks = 0;
	assert_int_equal(gv_placement_check(&r, &rack, s, 9, h, 3), GV_EINVAL);
}

/* ------------------------------------------------------------------- trim */

static void test_trim(void **state)
{
	gv_placement_opts rack = GV_PLACEMENT_OPTS_INIT;
	gv_placement_opts zone = opts_of(GV_STRATEGY_ZONE_AWARE, 3, 2, 2);
	gv_sector_info s[6];
	const char *h[6];
	size_t out[6];

	(void)state;
	mk_sector(&s[0], "a", "r0", "z0", 1000, 100);
	mk_sector(&s[1], "b", "r0", "z0", 1000, 900); /* fullest */
	mk_sector(&s[2], "c", "r1", "z0", 1000, 500);
	mk_sector(&s[3], "d", "r2", "z1", 1000, 950); /* fuller, but alone */
	mk_sector(&s[4], "e", "r3", "z1", 1000, 0);
	mk_sector(&s[5], "f", "r3", "z1", 1000, 10);

	/* Rack-aware: r0 is crowded; b is the fuller of its two. */
	h[0] = "a"; h[1] = "b"; h[2] = "c"; h[3] = "d";
	assert_int_equal(gv_placement_trim(out, &rack, s, 6, h, 4, 1), 0);
	assert_int_equal(out[0], 1);
	/* Two: then every rack holds one, and zones break the tie: z0 holds
	 * a and c, so c, the fuller, goes rather than d, the fullest. */
	assert_int_equal(gv_placement_trim(out, &rack, s, 6, h, 4, 2), 0);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);

	/* Zone-aware: z0 holds a, c, b; z1 holds d.  Inside z0, r0 is crowded. */
	assert_int_equal(gv_placement_trim(out, &zone, s, 6, h, 4, 2), 0);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2); /* a and c left in z0, c the fuller */

	/* Duplicates, unknown ids, unhealthy and draining sectors go first. */
	s[4].healthy = 0;
	s[5].state = GV_SECTOR_DRAINING;
	h[0] = "e"; h[1] = "a"; h[2] = "gone"; h[3] = "f"; h[4] = "a"; h[5] = "d";
	assert_int_equal(gv_placement_trim(out, &rack, s, 6, h, 6, 4), 0);
	assert_int_equal(out[0], 4); /* second "a" */
	assert_int_equal(out[1], 2); /* "gone" */
	assert_int_equal(out[2], 0); /* unhealthy "e" */
	assert_int_equal(out[3], 3); /* draining "f" */
	assert_int_equal(gv_placement_trim(out, &rack, s, 6, h, 6, 6), 0);
	assert_int_equal(gv_placement_trim(out, &rack, s, 6, h, 6, 0), 0);

	assert_int_equal(gv_placement_trim(out, &rack, s, 6, h, 2, 3), GV_EINVAL);
	expect_msg("cannot remove 3 of 2");
}

/* ------------------------------------------------------------ hash values */

/*
 * The placement of every key depends on these values: a change moves new
 * replicas of existing keys and makes rebalance see misplaced ones.
 */
static void test_hash_pinned(void **state)
{
	gv_key k;
	size_t i;

	(void)state;
	for (i = 0; i < GV_DIGEST_LEN; i++)
		k.digest[i] = (uint8_t)i;
	k.size = 1234;
	assert_int_equal(gv_hrw_key_hash(&k), 0x1ae07e9c5d71eff5ULL);
	assert_int_equal(gv_hrw_id_hash("sector-1"), 0x946dcdbaa3aef4e7ULL);
	assert_int_equal(gv_hrw_id_hash(""), 0xf52a15e9a9b5e89bULL);
	assert_int_equal(gv_hrw_pair(gv_hrw_key_hash(&k), gv_hrw_id_hash("sector-1")),
	                 0xace9f2e1363ee85eULL);
	/* Score: -ln(u)/w, lower is better, scales inversely with weight. */
	assert_true(gv_hrw_score(0, 1.0) > 36.0);
	assert_true(gv_hrw_score(UINT64_MAX, 1.0) < 1e-15);
	assert_true(gv_hrw_score(1ULL << 63, 2.0) > 0.34);  /* ln(2) / 2 */
	assert_true(gv_hrw_score(1ULL << 63, 2.0) < 0.35);
}

/* ------------------------------------------------------------- properties */

struct topo {
	gv_sector_info s[MAXS];
	size_t n;
	char placed_buf[8][GV_ID_MAX];
	char exclude_buf[8][GV_ID_MAX];
	const char *placed[8], *exclude[8];
	size_t np, ne, want;
	gv_placement_opts o;
	gv_key key;
};

static void random_topo(struct topo *t)
{
	size_t nracks = 1 + rng_below(8), nzones = 1 + rng_below(5), i;
	int nested = rng_below(4) != 0; /* racks inside zones, or independent */
	char id[GV_ID_MAX], rack[GV_ID_MAX], zone[GV_ID_MAX];

	memset(t, 0, sizeof(*t));
	t->n = 1 + rng_below(50);
	for (i = 0; i < t->n; i++) {
		size_t r = rng_below(nracks);
		uint64_t cap = 1 + rng_below(1000000), used;

		/* Random names so array order and name order differ. */
		snprintf(id, sizeof(id), "sec-%016llx", (unsigned long long)rng());
		if (rng_below(10) == 0)
			rack[0] = '\0';
		else
			snprintf(rack, sizeof(rack), "r%zu", r);
		if (rng_below(10) == 0)
			zone[0] = '\0';
		else
			snprintf(zone, sizeof(zone), "z%zu",
			         nested ? r % nzones : rng_below(nzones));
		switch (rng_below(4)) {
		case 0: used = 0; break;
		case 1: used = cap; break;
		case 2: used = cap + rng_below(1000); break;
		default: used = rng_below(cap); break;
		}
		mk_sector(&t->s[i], id, rack, zone, cap, used);
		t->s[i].healthy = rng_below(7) != 0;
		t->s[i].state = rng_below(8) == 0 ? GV_SECTOR_DRAINING :
		                rng_below(16) == 0 ? GV_SECTOR_RETIRED : GV_SECTOR_ACTIVE;
	}
	/* Existing replicas: any sectors (an unhealthy sector may still hold a
	 * healthy replica), sometimes one the sectors no longer know. */
	t->np = rng_below(4);
	for (i = 0; i < t->np; i++) {
		if (rng_below(8) == 0)
			snprintf(t->placed_buf[i], GV_ID_MAX, "gone-%zu", i);
		else
			snprintf(t->placed_buf[i], GV_ID_MAX, "%s", t->s[rng_below(t->n)].id);
		t->placed[i] = t->placed_buf[i];
	}
	t->np = count_distinct(t->placed, t->np) == t->np ? t->np : 0;
	t->ne = rng_below(3);
	for (i = 0; i < t->ne; i++) {
		if (rng_below(8) == 0)
			snprintf(t->exclude_buf[i], GV_ID_MAX, "gone-x%zu", i);
		else
			snprintf(t->exclude_buf[i], GV_ID_MAX, "%s", t->s[rng_below(t->n)].id);
		t->exclude[i] = t->exclude_buf[i];
	}
	t->want = rng_below(6);
	t->o = opts_of((gv_strategy)rng_below(3), 3, 1 + (int)rng_below(4),
	               1 + (int)rng_below(4));
	mk_key(&t->key, rng_below(3) == 0 ? 0 : rng_below(400000));
}

static int ref_eligible(const struct topo *t, const gv_sector_info *s)
{
	uint64_t avail = s->capacity > s->used ? s->capacity - s->used : 0;

	return s->healthy && s->state == GV_SECTOR_ACTIVE && avail >= t->key.size &&
	       !contains(t->placed, t->np, s->id) && !contains(t->exclude, t->ne, s->id);
}

static const char *domain_of(const struct topo *t, const char *id, int zones)
{
	long k = gv_placement_find(t->s, t->n, id);

	if (k < 0)
		return "";
	return zones ? t->s[k].zone : t->s[k].rack;
}

static void shuffle_ptrs(const char **v, size_t n)
{
	size_t i;

	for (i = n; i > 1; i--) {
		size_t j = rng_below(i);
		const char *x = v[i - 1];

		v[i - 1] = v[j];
		v[j] = x;
	}
}

static int check_topo(size_t case_no, struct topo *t)
{
	static struct topo u;
	size_t out[8], out2[8], n, n2, i, j, nelig = 0, perm[MAXS];
	const char *pd[2][16], *ed[2][MAXS], *all[2][16];
	size_t npd[2] = { 0, 0 }, ned[2] = { 0, 0 }, nall[2] = { 0, 0 };
	size_t newd[2], need;
	int rc, rc2, want_rc, d;

	rc = choose(out, &n, &t->o, t->s, t->n, &t->key, t->placed, t->np,
	            t->exclude, t->ne, t->want);
	for (i = 0; i < t->n; i++)
		nelig += (size_t)ref_eligible(t, &t->s[i]);

	if (n != (t->want < nelig ? t->want : nelig)) {
		print_error("case %zu: chose %zu, want %zu, eligible %zu\n", case_no, n,
		            t->want, nelig);
		fail();
	}
	for (i = 0; i < n; i++) {
		assert_true(out[i] < t->n);
		if (!ref_eligible(t, &t->s[out[i]])) {
			print_error("case %zu: chose ineligible %s\n", case_no, t->s[out[i]].id);
			fail();
		}
		for (j = 0; j < i; j++)
			assert_string_not_equal(t->s[out[i]].id, t->s[out[j]].id);
	}

	/* Diversity: placed domains plus as many new ones as picks allow. */
	for (d = 0; d < 2; d++) {
		for (i = 0; i < t->np; i++)
			pd[d][npd[d]++] = domain_of(t, t->placed[i], d);
		for (i = 0; i < t->n; i++)
			if (ref_eligible(t, &t->s[i]))
				ed[d][ned[d]++] = d ? t->s[i].zone : t->s[i].rack;
		newd[d] = 0;
		for (i = 0; i < ned[d]; i++) {
			for (j = 0; j < i; j++)
				if (strcmp(ed[d][i], ed[d][j]) == 0)
					break;
			if (j == i && !contains(pd[d], npd[d], ed[d][i]))
				newd[d]++;
		}
		for (i = 0; i < npd[d]; i++)
			all[d][nall[d]++] = pd[d][i];
		for (i = 0; i < n; i++)
			all[d][nall[d]++] = d ? t->s[out[i]].zone : t->s[out[i]].rack;
	}
	want_rc = 0;
	d = t->o.strategy == GV_STRATEGY_ZONE_AWARE;
	if (t->o.strategy != GV_STRATEGY_SIMPLE) {
		size_t got = count_distinct(all[d], nall[d]);
		size_t best = count_distinct(pd[d], npd[d]) +
		              (t->want < newd[d] ? t->want : newd[d]);
		int min_d = d ? t->o.min_zones : t->o.min_racks;

		if (got != best) {
			print_error("case %zu (%s): %zu distinct %s, best possible %zu\n", case_no,
			            gv_strategy_name(t->o.strategy), got, d ? "zones" : "racks", best);
			fail();
		}
		need = (size_t)min_d < t->np + t->want ? (size_t)min_d : t->np + t->want;
		if (got < need)
			want_rc = d ? GV_EINSUFFICIENT_ZONES : GV_EINSUFFICIENT_RACKS;
	}
	if (!want_rc && n < t->want)
		want_rc = GV_EINSUFFICIENT_SECTORS;
	if (rc != want_rc) {
		print_error("case %zu (%s): rc %s, expected %s (%s)\n", case_no,
		            gv_strategy_name(t->o.strategy), gv_error_name(rc),
		            gv_error_name(want_rc), gv_error_last());
		fail();
	}
	if (rc == GV_EINSUFFICIENT_RACKS)
		expect_msg("InsufficientRackDiversity");
	if (rc == GV_EINSUFFICIENT_ZONES)
		expect_msg("InsufficientZoneDiversity");
	if (rc == GV_EINSUFFICIENT_SECTORS)
		expect_msg("InsufficientSectors");

	/* A successful choice passes check. */
	if (rc == 0) {
		const char *holders[16];
		gv_placement_report r;

		for (i = 0; i < t->np; i++)
			holders[i] = t->placed[i];
		for (i = 0; i < n; i++)
			holders[t->np + i] = t->s[out[i]].id;
		assert_int_equal(gv_placement_check(&r, &t->o, t->s, t->n, holders, t->np + n), 0);
		assert_int_equal(r.ok, 1);
	}

	/* Same input, same answer. */
	rc2 = choose(out2, &n2, &t->o, t->s, t->n, &t->key, t->placed, t->np,
	             t->exclude, t->ne, t->want);
	assert_int_equal(rc2, rc);
	assert_int_equal(n2, n);
	assert_memory_equal(out2, out, n * sizeof(out[0]));

	/* Shuffled sectors, placed and excluded: the same ids in the same order. */
	u = *t;
	for (i = 0; i < t->n; i++)
		perm[i] = i;
	for (i = t->n; i > 1; i--) {
		size_t k = rng_below(i), x = perm[i - 1];

		perm[i - 1] = perm[k];
		perm[k] = x;
	}
	for (i = 0; i < t->n; i++)
		u.s[i] = t->s[perm[i]];
	for (i = 0; i < t->np; i++)
		u.placed[i] = t->placed[i];
	for (i = 0; i < t->ne; i++)
		u.exclude[i] = t->exclude[i];
	shuffle_ptrs(u.placed, u.np);
	shuffle_ptrs(u.exclude, u.ne);
	rc2 = choose(out2, &n2, &u.o, u.s, u.n, &u.key, u.placed, u.np, u.exclude, u.ne,
	             u.want);
	assert_int_equal(rc2, rc);
	assert_int_equal(n2, n);
	for (i = 0; i < n; i++) {
		if (strcmp(u.s[out2[i]].id, t->s[out[i]].id) != 0) {
			print_error("case %zu: pick %zu is %s after shuffling, was %s\n", case_no,
			            i, u.s[out2[i]].id, t->s[out[i]].id);
			fail();
		}
	}
	return rc;
}

static void test_property_choose(void **state)
{
	static struct topo t;
	size_t c, ok = 0, racks = 0, zones = 0, sectors = 0, repair = 0;

	(void)state;
	rng_seed(0x5eed0001);
	for (c = 0; c < PROPERTY_TOPOLOGIES; c++) {
		int rc;

		random_topo(&t);
		rc = check_topo(c, &t);
		ok += rc == 0;
		racks += rc == GV_EINSUFFICIENT_RACKS;
		zones += rc == GV_EINSUFFICIENT_ZONES;
		sectors += rc == GV_EINSUFFICIENT_SECTORS;
		repair += rc == 0 && t.np > 0 && t.want > 0;
	}
	printf("property: %zu topologies: %zu ok (%zu with placed replicas), %zu rack, "
	       "%zu zone, %zu sector errors\n", c, ok, repair, racks, zones, sectors);
	/* The generator must reach every outcome often. */
	assert_true(ok > c / 5 && repair > c / 20);
	assert_true(racks > c / 20 && zones > c / 20 && sectors > c / 20);
}

static int bad_holder(const gv_sector_info *s, size_t n, const char *id)
{
	long k = gv_placement_find(s, n, id);

	return k < 0 || !s[k].healthy || s[k].state != GV_SECTOR_ACTIVE;
}

static void test_property_trim(void **state)
{
	static struct topo t;
	const char *h[8], *kept[8], *all[8];
	size_t out[8], c, i, nh, rm, nbad, nk, judged = 0;
	int removed[8], zones;

	(void)state;
	rng_seed(0x5eed0002);
	for (c = 0; c < PROPERTY_TOPOLOGIES; c++) {
		random_topo(&t);
		nh = 1 + rng_below(t.n < 8 ? t.n : 8);
		/* Distinct holders drawn from the sectors, maybe one unknown. */
		for (i = 0; i < nh; i++) {
			do
				h[i] = t.s[rng_below(t.n)].id;
			while (contains(h, i, h[i]));
		}
		if (rng_below(6) == 0)
			h[rng_below(nh)] = "gone";
		nh = count_distinct(h, nh) == nh ? nh : 1;
		rm = rng_below(nh + 1);
		assert_int_equal(gv_placement_trim(out, &t.o, t.s, t.n, h, nh, rm), 0);

		memset(removed, 0, sizeof(removed));
		for (i = 0; i < rm; i++) {
			assert_true(out[i] < nh);
			assert_false(removed[out[i]]);
			removed[out[i]] = 1;
		}
		/* Unknown, unhealthy and inactive holders go first. */
		for (i = 0, nbad = 0; i < nh; i++)
			nbad += (size_t)bad_holder(t.s, t.n, h[i]);
		for (i = 0; i < rm; i++)
			assert_int_equal(bad_holder(t.s, t.n, h[out[i]]), i < nbad);
		if (nbad)
			continue;
		/* Otherwise what stays spans as many zones (zone-aware) or racks
		 * (otherwise) as it can: min(domains among holders, holders kept). */
		zones = t.o.strategy == GV_STRATEGY_ZONE_AWARE;
		for (i = 0, nk = 0; i < nh; i++) {
			all[i] = domain_of(&t, h[i], zones);
			if (!removed[i])
				kept[nk++] = all[i];
		}
		if (count_distinct(kept, nk) != min_sz(count_distinct(all, nh), nk)) {
			print_error("trim case %zu: %zu domains kept of %zu, %zu holders stay\n", c,
			            count_distinct(kept, nk), count_distinct(all, nh), nk);
			fail();
		}
		judged += rm > 0 && count_distinct(all, nh) < nh;
	}
	printf("property: %zu trims, %zu judged on diversity\n", c, judged);
	assert_true(judged > c / 20);
}

/* --------------------------------------------------------------- evenness */

static gv_key *keys;

static int setup_keys(void **state)
{
	size_t i;

	(void)state;
	keys = malloc(NKEYS * sizeof(*keys));
	if (!keys)
		return -1;
	rng_seed(0x5eed0003);
	for (i = 0; i < NKEYS; i++)
		mk_key(&keys[i], 1);
	return 0;
}

static int teardown_keys(void **state)
{
	(void)state;
	free(keys);
	keys = NULL;
	return 0;
}

/* Place every key; count replicas per sector; with `fill`, add each
 * replica's size to its sector's `used`. */
static void place_all(size_t *count, gv_sector_info *s, size_t n,
                      const gv_placement_opts *o, int fill)
{
	size_t out[8], got, i, j;

	memset(count, 0, n * sizeof(*count));
	for (i = 0; i < NKEYS; i++) {
		int rc = choose(out, &got, o, s, n, &keys[i], NULL, 0, NULL, 0, (size_t)o->factor);

		if (rc != 0 || got != (size_t)o->factor) {
			print_error("key %zu: rc %s, %zu chosen: %s\n", i, gv_error_name(rc), got,
			            gv_error_last());
			fail();
		}
		for (j = 0; j < got; j++) {
			count[out[j]]++;
			if (fill)
				s[out[j]].used += keys[i].size;
		}
	}
}

/* Largest |share / expected share - 1| where expected follows capacity. */
static double worst_deviation(const size_t *count, const gv_sector_info *s, size_t n)
{
	double total = 0, cap = 0, worst = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		total += (double)count[i];
		cap += (double)s[i].capacity;
	}
	for (i = 0; i < n; i++) {
		double expect = total * (double)s[i].capacity / cap;
		double dev = (double)count[i] / expect - 1.0;

		if (dev < 0)
			dev = -dev;
		if (dev > worst)
			worst = dev;
	}
	return worst;
}

static void expect_even(const char *what, const size_t *count,
                        const gv_sector_info *s, size_t n)
{
	double dev = worst_deviation(count, s, n);

	printf("evenness %-40s worst deviation %.2f%%\n", what, dev * 100.0);
	if (dev > 0.05) {
		print_error("%s: a sector is %.2f%% off its share\n", what, dev * 100.0);
		fail();
	}
}

static void test_even_equal(void **state)
{
	static const struct { gv_strategy st; size_t racks, zones; const char *what; } cfg[] = {
		{ GV_STRATEGY_SIMPLE, 12, 1, "equal, simple" },
		{ GV_STRATEGY_RACK_AWARE, 3, 1, "equal, rack-aware, 3 racks" },
		{ GV_STRATEGY_RACK_AWARE, 4, 1, "equal, rack-aware, 4 racks" },
		{ GV_STRATEGY_ZONE_AWARE, 6, 3, "equal, zone-aware, 3 zones" },
	};
	gv_sector_info s[12];
	size_t count[12], c;

	(void)state;
	for (c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		gv_placement_opts o = opts_of(cfg[c].st, 3, 2, 2);

		mk_grid(s, 12, cfg[c].racks, cfg[c].zones, 1ULL << 40);
		place_all(count, s, 12, &o, 0);
		expect_even(cfg[c].what, count, s, 12);
	}
}

static void test_even_equal_fill(void **state)
{
	gv_placement_opts o = opts_of(GV_STRATEGY_RACK_AWARE, 3, 2, 2);
	gv_sector_info s[12];
	size_t count[12];

	(void)state;
	/* 300,000 one-byte replicas fill 12 x 27,778 bytes to 90%. */
	mk_grid(s, 12, 4, 1, 27778);
	place_all(count, s, 12, &o, 1);
	expect_even("equal, rack-aware, 4 racks, fill to 90%", count, s, 12);
}

static void test_even_weighted(void **state)
{
	static const uint64_t mult[3] = { 1, 2, 4 };
	gv_placement_opts rack = opts_of(GV_STRATEGY_RACK_AWARE, 3, 2, 2);
	gv_placement_opts simple = opts_of(GV_STRATEGY_SIMPLE, 3, 2, 2);
	gv_sector_info s[12];
	size_t count[12], i;
	char id[GV_ID_MAX], r[GV_ID_MAX];

	(void)state;
	/* Four racks, each one sector of 1x, 2x and 4x: every rack weighs the
	 * same, so capacity-proportional shares are feasible with one replica
	 * per rack, and each rack's pick is one weighted draw. */
	for (i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "w%zu", i);
		snprintf(r, sizeof(r), "r%zu", i / 3);
		mk_sector(&s[i], id, r, "", mult[i % 3] << 36, 0);
	}
	place_all(count, s, 12, &rack, 0);
	expect_even("1:2:4, rack-aware, 4 racks", count, s, 12);

	/* Simple placement, four sectors of each size, filled to 90%:
	 * 300,000 bytes over 28 units of 11,905 bytes. */
	for (i = 0; i < 12; i++) {
		s[i].capacity = mult[i % 3] * 11905;
		s[i].used = 0;
	}
	place_all(count, s, 12, &simple, 1);
	expect_even("1:2:4, simple, fill to 90%", count, s, 12);
}

/* -------------------------------------------------------------- stability */

static void stability(const char *what, gv_placement_opts o, size_t racks, const char *new_rack)
{
	gv_sector_info s[13];
	size_t *before, out[3], n, i, j, changed = 0, moved = 0, gained = 0;
	double fair, frac;

	before = malloc(NKEYS * 3 * sizeof(*before));
	assert_non_null(before);
	mk_grid(s, 12, racks, 1, 1ULL << 40);
	for (i = 0; i < NKEYS; i++)
		assert_int_equal(choose(before + 3 * i, &n, &o, s, 12, &keys[i],
		                        NULL, 0, NULL, 0, 3), 0);
	mk_sector(&s[12], "s12", new_rack, "z0", 1ULL << 40, 0);
	for (i = 0; i < NKEYS; i++) {
		size_t gone = 0;

		assert_int_equal(choose(out, &n, &o, s, 13, &keys[i], NULL, 0, NULL, 0, 3), 0);
		for (j = 0; j < 3; j++) {
			const size_t *b = before + 3 * i;

			if (out[0] != b[j] && out[1] != b[j] && out[2] != b[j])
				gone++;
		}
		changed += gone > 0;
		moved += gone;
		gained += out[0] == 12 || out[1] == 12 || out[2] == 12;
	}
	/* Nothing moves but onto the new sector, one replica per key. */
	assert_int_equal(changed, gained);
	assert_int_equal(moved, changed);
	fair = 3.0 / 13.0;
	frac = (double)changed / NKEYS;
	printf("stability %-38s %.2f%% of keys changed (fair share %.2f%%, ratio %.3f), "
	       "%.2f%% of replicas moved\n",
	       what, frac * 100.0, fair * 100.0, frac / fair,
	       100.0 * (double)moved / (3.0 * NKEYS));
	if (frac > 1.5 * fair) {
		print_error("%s: %.2f%% of keys changed, more than 1.5 x %.2f%%\n", what,
		            frac * 100.0, fair * 100.0);
		fail();
	}
	free(before);
}

static void test_stability(void **state)
{
	(void)state;
	stability("simple", opts_of(GV_STRATEGY_SIMPLE, 3, 2, 2), 12, "");
	stability("rack-aware, 4 racks, joins r0", opts_of(GV_STRATEGY_RACK_AWARE, 3, 2, 2), 4, "r0");
	/* Alone in a fifth rack, the new sector wins more than 1/13 of the
	 * replicas (rack diversity favours it), but still nothing else moves. */
	stability("rack-aware, 4 racks, new rack", opts_of(GV_STRATEGY_RACK_AWARE, 3, 2, 2), 4, "r9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strategy_names),
		cmocka_unit_test(test_opts_validate),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_simple_skips_ineligible),
		cmocka_unit_test(test_zero_size_and_zero_want),
		cmocka_unit_test(test_duplicate_sector_ids_never_twice),
		cmocka_unit_test(test_prefers_free_space),
		cmocka_unit_test(test_measured_free_space),
		cmocka_unit_test(test_trim_measured_free_space),
		cmocka_unit_test(test_rack_aware_spreads),
		cmocka_unit_test(test_rack_aware_unhealthy_racks),
		cmocka_unit_test(test_rack_aware_precedence),
		cmocka_unit_test(test_no_rack_is_one_rack),
		cmocka_unit_test(test_rack_aware_repair_and_move),
		cmocka_unit_test(test_zone_aware_any_zones),
		cmocka_unit_test(test_zone_aware_prefers_racks_inside_zone),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_hash_pinned),
		cmocka_unit_test(test_property_choose),
		cmocka_unit_test(test_property_trim),
		cmocka_unit_test(test_even_equal),
		cmocka_unit_test(test_even_equal_fill),
		cmocka_unit_test(test_even_weighted),
		cmocka_unit_test(test_stability),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
