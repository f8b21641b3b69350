/*
 * hrw.c - hashes and scores for weighted rendezvous placement.
 *
 * The mixer is the SplitMix64 finaliser (a bijection with full avalanche);
 * ids go through FNV-1a first.  Bytes are read explicitly little-endian so
 * every host computes the same placement.
 */
#include <math.h>
#include <stddef.h>

#include "graviton/types.h"
#include "placement/hrw.h"

#define GOLDEN 0x9e3779b97f4a7c15ULL

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t gv_hrw_key_hash(const gv_key *key)
{
	uint64_t h = 0x6a09e667f3bcc908ULL; /* any fixed start; this is sqrt(2) */
	size_t i;

	for (i = 0; i < GV_DIGEST_LEN; i += 8)
		h = mix64(h ^ load_le64(key->digest + i)) + GOLDEN;
	return mix64(h ^ key->size);
}

uint64_t gv_hrw_id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < GV_ID_MAX && id[i]; i++) {
		h ^= (unsigned char)id[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h);
}

uint64_t gv_hrw_pair(uint64_t key_hash, uint64_t id_hash)
{
	return mix64(mix64(key_hash ^ id_hash) + key_hash + GOLDEN);
}

double gv_hrw_score(uint64_t pair, double weight)
{
	double u = ((double)(pair >> 11) + 0.5) * 0x1p-53;

	return -log(u) / weight;
}
