/*
 * core/hocon.h - a small, strict reader for the HOCON people write by hand.
 *
 * Internal to the library: the typed configuration (graviton/config.h) is
 * built on top of it, and the fuzz target drives it directly.
 *
 * Supported: the root object with or without braces; nested objects with
 * `{}` and dotted keys (`a.b.c = 1`); `=` or `:` separators, none before
 * `{`; `#` and `//` comments; quoted strings with JSON escapes
 * (\" \\ \/ \b \f \n \r \t \uXXXX), triple-quoted strings, unquoted strings;
 * numbers, true/false, null; arrays of any value separated by commas
 * and/or new lines, trailing comma allowed; value concatenation of simple
 * values on one line (`5 minutes` is the string "5 minutes"); substitutions
 * `${path}` / `${?path}` resolved against the whole merged document, then
 * an optional fallback tree (the defaults), then the environment; later keys override earlier ones (objects merge, other
 * values replace; an optional substitution that resolves to nothing leaves
 * the earlier value in place).
 *
 * Rejected with a located message: `include`, `+=`, concatenation of
 * objects or arrays, whitespace inside keys, invalid UTF-8, NUL bytes,
 * \u0000, substitution cycles.
 *
 * Bounds (the daemon may read untrusted text): input at most
 * GV_HOCON_MAX_INPUT bytes, nesting at most GV_HOCON_MAX_DEPTH levels, every
 * string and key at most GV_HOCON_MAX_STRING bytes, at most
 * GV_HOCON_MAX_VALUES values (copies made by substitution included),
 * substitutions nested at most GV_HOCON_MAX_SUBST deep.
 *
 * Messages look like "NAME:LINE:COL: KEY: what is wrong"; lines and columns
 * count from 1, columns in characters (UTF-8 code points).
 */
#ifndef GRAVITON_CORE_HOCON_H
#define GRAVITON_CORE_HOCON_H

#include <stddef.h>
#include <stdint.h>

#include "graviton/common.h"

#define GV_HOCON_MAX_INPUT (1024u * 1024u)
#define GV_HOCON_MAX_DEPTH 32
#define GV_HOCON_MAX_STRING (64u * 1024u)
#define GV_HOCON_MAX_VALUES 100000
#define GV_HOCON_MAX_SUBST 16

typedef enum gv_hocon_type {
	GV_HOCON_NULL = 0,
	GV_HOCON_BOOL,
	GV_HOCON_NUMBER,
	GV_HOCON_STRING,
	GV_HOCON_ARRAY,
	GV_HOCON_OBJECT,
	/* Only while parsing; never present in a tree gv_hocon_parse returns. */
	GV_HOCON_SUBST_,
	GV_HOCON_CONCAT_,
} gv_hocon_type;

typedef struct gv_hocon_value gv_hocon_value;

typedef struct gv_hocon_field {
	char *key;             /* one path element, NUL-terminated, non-empty */
	size_t key_len;
	gv_hocon_value *value;
	unsigned line, col;    /* where the key was last written */
} gv_hocon_field;

struct gv_hocon_value {
	gv_hocon_type type;
	unsigned line, col;    /* where the value starts */
	int boolean;           /* BOOL */
	double number;         /* NUMBER */
	char *str;             /* STRING: the text; NUMBER: as written */
	size_t len;            /* bytes in str */
	gv_hocon_value **items; /* ARRAY */
	size_t nitems;
	gv_hocon_field *fields; /* OBJECT, in the order keys first appeared */
	size_t nfields;

	/* Private to hocon.c. */
	size_t cap;
	uint32_t *hash;        /* field index + 1 by key hash, once large */
	size_t hash_cap;
	gv_hocon_value *prev;  /* value the key had before a pending override */
	int resolving;
	int optional;          /* SUBST_: ${?...} */
};

/*
 * Parse `len` bytes of `text` (need not be NUL-terminated).  `name` (a file
 * name, borrowed for the call) prefixes every message.  On success *out is
 * the root object, owned by the caller (gv_hocon_free); substitutions are
 * resolved.  On failure *out is NULL and the message is set: GV_EINVAL for
 * malformed input, GV_ENOMEM.
 */
int gv_hocon_parse(gv_hocon_value **out, const char *name, const char *text, size_t len);

/*
 * As gv_hocon_parse; a substitution naming a path the text does not define
 * is looked up in `fallback` (a tree from gv_hocon_parse, borrowed for the
 * call; NULL for none) before the environment, the way HOCON resolves a
 * file against its defaults.
 */
int gv_hocon_parse_with_fallback(gv_hocon_value **out, const char *name, const char *text,
                                 size_t len, const gv_hocon_value *fallback);

/* Free a tree (NULL ok). */
void gv_hocon_free(gv_hocon_value *v);

/* Field `key` of object `obj`, or NULL; borrowed from the tree. */
const gv_hocon_field *gv_hocon_find(const gv_hocon_value *obj, const char *key);

/* "null", "a boolean", "a number", "a string", "an array", "an object". */
const char *gv_hocon_type_name(gv_hocon_type t);

/*
 * Describe a value for a message: "three" (quoted, shortened), 3.5, true,
 * null, an object, an array.  Always NUL-terminates buf (cap > 0).
 */
const char *gv_hocon_describe(char *buf, size_t cap, const gv_hocon_value *v);

/* 1 when two trees hold the same keys (same order), types and values. */
int gv_hocon_equal(const gv_hocon_value *a, const gv_hocon_value *b);

/* Growable text with a ceiling, for building messages and dumps. */
typedef struct gv_hocon_buf {
	char *ptr;   /* NUL-terminated once anything was added */
	size_t len, cap, max;
	int err;     /* sticky: first failure (GV_ENOMEM, GV_EINVAL when over max) */
} gv_hocon_buf;

#define GV_HOCON_BUF_INIT(max_bytes) { NULL, 0, 0, (max_bytes), 0 }

int gv_hocon_buf_add(gv_hocon_buf *b, const char *s, size_t n);
int gv_hocon_buf_puts(gv_hocon_buf *b, const char *s);
int gv_hocon_buf_printf(gv_hocon_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append s as a quoted HOCON string that reads back byte for byte. */
int gv_hocon_buf_quoted(gv_hocon_buf *b, const char *s, size_t n);
void gv_hocon_buf_free(gv_hocon_buf *b);

/*
 * Write a tree back as HOCON text that gv_hocon_parse reads to an equal
 * tree.  *out is a NUL-terminated string the caller frees with free().
 */
int gv_hocon_dump(char **out, const gv_hocon_value *root);

#endif
