/*
 * consumer.c - a program built against the installed libgraviton (only
 * <graviton/...> headers, flags from pkg-config): lays out a store in the
 * data directory given, puts a blob, reads it back and prints the put's
 * document (graviton/wire.h, which needs no JSON library).  Exit 0 when
 * the bytes match.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <graviton/daemon.h>
#include <graviton/graviton.h>
#include <graviton/wire.h>

/* The public API does not pull a JSON library's types in. */
#if defined(JANSSON_H) || defined(JANSSON_VERSION)
#error "graviton/wire.h includes jansson.h"
#endif

static int fail(const char *what)
{
	fprintf(stderr, "consumer: %s: %s\n", what, gv_error_last());
	return 1;
}

int main(int argc, char **argv)
{
	static const char blob[] = "a blob put through the installed library";
	gv_store_opts so = GV_STORE_OPTS_INIT;
	gv_put_opts po = GV_PUT_OPTS_INIT;
	gv_get_opts go = GV_GET_OPTS_INIT;
	gv_put_result res;
	gv_store *st = NULL;
	gv_put *put = NULL;
	gv_get *get = NULL;
	char back[sizeof(blob)], kbuf[GV_KEY_BUFSIZE];
	gv_key_hasher *h = NULL;
	gv_key want;
	char *doc;
	ssize_t n;
	int i;

	if (argc != 2)
		return 2;
	so.data_dir = argv[1];
	so.create = 1;
	if (gv_store_open(&st, &so) < 0)
		return fail("open");
	for (i = 0; i < GV_LAYOUT_SECTORS; i++) {
		gv_sector_info info;

		if (gv_layout_sector(&info, argv[1], i, GV_LAYOUT_RACKS, GV_LAYOUT_ZONES, 0) < 0 ||
		    gv_store_sector_add(st, &info, GV_SECTOR_ADD_CREATE) < 0)
			return fail("sector add");
	}
	if (gv_put_open(&put, st, &po) < 0 || gv_put_write(put, blob, sizeof(blob)) < 0 ||
	    gv_put_commit(put, &res) < 0)
		return fail("put");
	if (gv_key_hasher_new(&h) < 0 || gv_key_hasher_update(h, blob, 10) < 0 ||
	    gv_key_hasher_update(h, blob + 10, sizeof(blob) - 10) < 0 ||
	    gv_key_hasher_final(h, &want) < 0)
		return fail("hasher");
	gv_key_hasher_free(h);
	if (gv_key_cmp(&want, &res.key) != 0)
		return fail("the hasher's key differs from the put's");
	if (gv_get_open(&get, st, &res.key, &go) < 0)
		return fail("get");
	n = gv_get_read(get, back, sizeof(back));
	gv_get_close(get);
	if (n != (ssize_t)sizeof(blob) || memcmp(back, blob, sizeof(blob)) != 0)
		return fail("read back");
	/* The put's document as text, naming the key. */
	doc = gv_wire_put_result(&res);
	if (!doc || !strstr(doc, gv_key_format(kbuf, &res.key)))
		return fail("the put's document");
	printf("%s\n", doc);
	free(doc);
	gv_store_free(st);
	return 0;
}
