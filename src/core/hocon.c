/*
 * hocon.c - a small, strict reader for hand-written HOCON (see hocon.h for
 * what is supported and the bounds).
 *
 * Map:
 *   buffers          gv_hocon_buf: growable text with a ceiling
 *   values           allocation against a budget, free, copy
 *   objects          field lookup (linear, hashed once an object is large),
 *                    set/merge: objects merge, other values replace, a
 *                    pending value (substitution) keeps the one it replaced
 *                    in `prev`
 *   input            size, NUL bytes, UTF-8; positions; whitespace, comments
 *   parser           document, object body, field, key path, value,
 *                    concatenation, quoted / triple-quoted / unquoted
 *                    strings, substitutions
 *   resolver         substitutions against the merged tree, then the
 *                    environment; cycles and nesting are bounded
 *   describe/equal/dump
 *
 * Recursion is bounded by GV_HOCON_MAX_DEPTH (nesting), MAX_CHAIN (pending
 * overrides of one key) and GV_HOCON_MAX_SUBST (substitutions resolving
 * other substitutions), so a hostile file cannot exhaust the stack.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hocon.h"

#define PATH_MSG 200   /* key path kept for messages */
#define MAX_CHAIN 32   /* pending overrides of one key */
#define HASH_MIN 16    /* objects this large get a hash index */
#define UNDEF 1        /* resolver: an optional substitution found nothing */
#define DUMP_MAX (64u * 1024u * 1024u)

/* ---- buffers ------------------------------------------------------------ */

int gv_hocon_buf_add(gv_hocon_buf *b, const char *s, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->err)
		return b->err;
	if (b->len > b->max || n > b->max - b->len) {
		b->err = GV_EINVAL;
		return b->err;
	}
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap *= 2;
		p = realloc(b->ptr, cap);
		if (!p) {
			b->err = gv_error_set(GV_ENOMEM, "out of memory");
			return b->err;
		}
		b->ptr = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->ptr + b->len, s, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int gv_hocon_buf_puts(gv_hocon_buf *b, const char *s)
{
	return gv_hocon_buf_add(b, s, strlen(s));
}

int gv_hocon_buf_printf(gv_hocon_buf *b, const char *fmt, ...)
{
	char small[256], *big;
	va_list ap;
	int n, err;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = b->err ? b->err : GV_EINVAL;
		return b->err;
	}
	if ((size_t)n < sizeof(small))
		return gv_hocon_buf_add(b, small, (size_t)n);
	big = malloc((size_t)n + 1);
	if (!big) {
		b->err = b->err ? b->err : gv_error_set(GV_ENOMEM, "out of memory");
		return b->err;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	err = gv_hocon_buf_add(b, big, (size_t)n);
	free(big);
	return err;
}

int gv_hocon_buf_quoted(gv_hocon_buf *b, const char *s, size_t n)
{
	size_t i, run = 0;
	char esc[8];

	gv_hocon_buf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *e = NULL;

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\t': e = "\\t"; break;
		case '\r': e = "\\r"; break;
		case '\b': e = "\\b"; break;
		case '\f': e = "\\f"; break;
		default:
			if (c < 0x20 || c == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				e = esc;
			}
		}
		if (!e)
			continue;
		gv_hocon_buf_add(b, s + run, i - run);
		gv_hocon_buf_puts(b, e);
		run = i + 1;
	}
	gv_hocon_buf_add(b, s + run, n - run);
	return gv_hocon_buf_add(b, "\"", 1);
}

void gv_hocon_buf_free(gv_hocon_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

/* ---- parser state and messages ----------------------------------------- */

struct parser {
	const char *name;
	const char *p, *end;
	unsigned line, col;
	size_t nvalues;      /* values allocated so far (budget) */
	unsigned rdepth;     /* substitutions being resolved, nested */
	gv_hocon_value *root;
	const gv_hocon_value *fallback; /* defaults substitutions may name */
	char path[PATH_MSG]; /* key path for messages */
	size_t pathlen;
};

static int perr(struct parser *P, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr(struct parser *P, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (P->pathlen)
		return gv_error_set(GV_EINVAL, "%s:%u:%u: %s: %s", P->name, line, col, P->path, msg);
	return gv_error_set(GV_EINVAL, "%s:%u:%u: %s", P->name, line, col, msg);
}

/* Append a key (or "[i]" when index) to the message path; returns the old
 * length for path_pop.  Long paths end in "...". */
static size_t path_push(struct parser *P, const char *seg, size_t n, int index)
{
	size_t old = P->pathlen, room, i = old;

	if (i + 4 >= sizeof(P->path))
		return old;
	if (i && !index)
		P->path[i++] = '.';
	room = sizeof(P->path) - 4 - i;
	if (n > room) {
		memcpy(P->path + i, seg, room);
		i += room;
		memcpy(P->path + i, "...", 3);
		i += 3;
	} else {
		memcpy(P->path + i, seg, n);
		i += n;
	}
	P->path[i] = '\0';
	P->pathlen = i;
	return old;
}

static size_t path_push_index(struct parser *P, size_t idx)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "[%zu]", idx);

	return path_push(P, tmp, (size_t)n, 1);
}

static void path_pop(struct parser *P, size_t old)
{
	P->pathlen = old;
	P->path[old] = '\0';
}

/* ---- values ------------------------------------------------------------- */

static int is_pending(const gv_hocon_value *v)
{
	return v->type == GV_HOCON_SUBST_ || v->type == GV_HOCON_CONCAT_;
}

static int val_new(struct parser *P, gv_hocon_value **out, gv_hocon_type t,
                   unsigned line, unsigned col)
{
	gv_hocon_value *v;

	*out = NULL;
	if (P->nvalues >= GV_HOCON_MAX_VALUES)
		return perr(P, line, col, "more than %d values", GV_HOCON_MAX_VALUES);
	v = calloc(1, sizeof(*v));
	if (!v)
		return gv_error_set(GV_ENOMEM, "%s: out of memory", P->name);
	P->nvalues++;
	v->type = t;
	v->line = line;
	v->col = col;
	*out = v;
	return 0;
}

/* A STRING value owning a copy of s[0..n). */
static int val_string(struct parser *P, gv_hocon_value **out, const char *s, size_t n,
                      unsigned line, unsigned col)
{
	int err = val_new(P, out, GV_HOCON_STRING, line, col);

	if (err < 0)
		return err;
	(*out)->str = malloc(n + 1);
	if (!(*out)->str) {
		free(*out);
		*out = NULL;
		return gv_error_set(GV_ENOMEM, "%s: out of memory", P->name);
	}
	if (n)
		memcpy((*out)->str, s, n);
	(*out)->str[n] = '\0';
	(*out)->len = n;
	return 0;
}

void gv_hocon_free(gv_hocon_value *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->nitems; i++)
		gv_hocon_free(v->items[i]);
	for (i = 0; i < v->nfields; i++) {
		free(v->fields[i].key);
		gv_hocon_free(v->fields[i].value);
	}
	free(v->items);
	free(v->fields);
	free(v->hash);
	free(v->str);
	gv_hocon_free(v->prev);
	free(v);
}

/* Append to an ARRAY or CONCAT_; consumes item (freed on failure). */
static int items_append(struct parser *P, gv_hocon_value *arr, gv_hocon_value *item)
{
	if (arr->nitems == arr->cap) {
		size_t cap = arr->cap ? arr->cap * 2 : 4;
		gv_hocon_value **p = realloc(arr->items, cap * sizeof(*p));

		if (!p) {
			gv_hocon_free(item);
			return gv_error_set(GV_ENOMEM, "%s: out of memory", P->name);
		}
		arr->items = p;
		arr->cap = cap;
	}
	arr->items[arr->nitems++] = item;
	return 0;
}

/* ---- objects ------------------------------------------------------------ */

static uint32_t hash_key(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static void hash_insert(gv_hocon_value *o, size_t idx)
{
	size_t mask = o->hash_cap - 1;
	size_t j = hash_key(o->fields[idx].key, o->fields[idx].key_len) & mask;

	while (o->hash[j])
		j = (j + 1) & mask;
	o->hash[j] = (uint32_t)idx + 1;
}

static int hash_rebuild(gv_hocon_value *o)
{
	size_t cap = 32, i;

	free(o->hash);
	o->hash = NULL;
	o->hash_cap = 0;
	if (o->nfields < HASH_MIN)
		return 0;
	while (cap < o->nfields * 2)
		cap *= 2;
	o->hash = calloc(cap, sizeof(*o->hash));
	if (!o->hash)
		return gv_error_set(GV_ENOMEM, "out of memory");
	o->hash_cap = cap;
	for (i = 0; i < o->nfields; i++)
		hash_insert(o, i);
	return 0;
}

static long field_index(const gv_hocon_value *o, const char *key, size_t n)
{
	size_t i;

	if (o->hash) {
		size_t mask = o->hash_cap - 1, j = hash_key(key, n) & mask;

		for (; o->hash[j]; j = (j + 1) & mask) {
			const gv_hocon_field *f = &o->fields[o->hash[j] - 1];

			if (f->key_len == n && memcmp(f->key, key, n) == 0)
				return (long)(o->hash[j] - 1);
		}
		return -1;
	}
	for (i = 0; i < o->nfields; i++)
		if (o->fields[i].key_len == n && memcmp(o->fields[i].key, key, n) == 0)
			return (long)i;
	return -1;
}

/* Append a new field; consumes v (freed on failure).  The key is copied. */
static int field_append(struct parser *P, gv_hocon_value *o, const char *key, size_t n,
                        unsigned line, unsigned col, gv_hocon_value *v)
{
	gv_hocon_field *f;
	char *k;

	if (o->nfields == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		gv_hocon_field *p = realloc(o->fields, cap * sizeof(*p));

		if (!p)
			goto nomem;
		o->fields = p;
		o->cap = cap;
	}
	k = malloc(n + 1);
	if (!k)
		goto nomem;
	memcpy(k, key, n);
	k[n] = '\0';
	f = &o->fields[o->nfields++];
	f->key = k;
	f->key_len = n;
	f->value = v;
	f->line = line;
	f->col = col;
	if (o->hash && o->nfields * 2 <= o->hash_cap) {
		hash_insert(o, o->nfields - 1);
		return 0;
	}
	if (o->nfields >= HASH_MIN)
		return hash_rebuild(o);
	return 0;
nomem:
	gv_hocon_free(v);
	return gv_error_set(GV_ENOMEM, "%s: out of memory", P->name);
}

static int set_field(struct parser *P, gv_hocon_value *o, const char *key, size_t n,
                     unsigned line, unsigned col, gv_hocon_value *v);

/* Move src's fields into dst (later wins, objects merge); frees src. */
static int merge_object(struct parser *P, gv_hocon_value *dst, gv_hocon_value *src)
{
	size_t i;
	int err = 0;

	for (i = 0; i < src->nfields && err == 0; i++) {
		gv_hocon_field *f = &src->fields[i];
		gv_hocon_value *v = f->value;

		f->value = NULL;
		if (v)
			err = set_field(P, dst, f->key, f->key_len, f->line, f->col, v);
	}
	gv_hocon_free(src);
	return err;
}

static unsigned chain_len(const gv_hocon_value *v)
{
	unsigned n = 0;

	for (; v && v->prev; v = v->prev)
		n++;
	return n;
}

/*
 * Store nv in *slot over whatever was there (consumes nv).  The earlier
 * value is merged (both objects), kept as the fallback of a pending value
 * (an optional substitution that finds nothing leaves it in place; a
 * substitution yielding an object merges over it), or freed.  nv may carry
 * a chain of its own; the earlier value goes under its bottom.
 */
static int set_value(struct parser *P, gv_hocon_value **slot, gv_hocon_value *nv)
{
	gv_hocon_value *old = *slot, **link, *b;
	unsigned line = nv->line, col = nv->col;
	int err = 0;

	*slot = nv;
	if (!old)
		return 0;
	link = slot;
	while ((*link)->prev)
		link = &(*link)->prev;
	b = *link;
	if (b->type == GV_HOCON_OBJECT && old->type == GV_HOCON_OBJECT) {
		*link = old;
		err = merge_object(P, old, b);
	} else if (is_pending(b) || (b->type == GV_HOCON_OBJECT && is_pending(old))) {
		b->prev = old;
	} else {
		gv_hocon_free(old);
	}
	if (err == 0 && chain_len(*slot) > MAX_CHAIN)
		err = perr(P, line, col, "more than %d overrides of one key waiting on substitutions",
		           MAX_CHAIN);
	return err;
}

static int set_field(struct parser *P, gv_hocon_value *o, const char *key, size_t n,
                     unsigned line, unsigned col, gv_hocon_value *v)
{
	long i = field_index(o, key, n);

	if (i < 0)
		return field_append(P, o, key, n, line, col, v);
	o->fields[i].line = line;
	o->fields[i].col = col;
	return set_value(P, &o->fields[i].value, v);
}

/* Deep copy of a resolved value placed `depth` levels below the root. */
static int copy_value(struct parser *P, const gv_hocon_value *src, unsigned depth,
                      gv_hocon_value **out)
{
	gv_hocon_value *v, *c;
	size_t i;
	int err;

	*out = NULL;
	if (depth > GV_HOCON_MAX_DEPTH)
		return perr(P, src->line, src->col,
		            "nesting deeper than %d levels after substitution", GV_HOCON_MAX_DEPTH);
	if (src->str)
		err = val_string(P, &v, src->str, src->len, src->line, src->col);
	else
		err = val_new(P, &v, src->type, src->line, src->col);
	if (err < 0)
		return err;
	v->type = src->type;
	v->boolean = src->boolean;
	v->number = src->number;
	for (i = 0; i < src->nitems; i++) {
		if (!src->items[i])
			continue;
		if ((err = copy_value(P, src->items[i], depth + 1, &c)) < 0 ||
		    (err = items_append(P, v, c)) < 0)
			goto fail;
	}
	for (i = 0; i < src->nfields; i++) {
		const gv_hocon_field *f = &src->fields[i];

		if (!f->value)
			continue;
		if ((err = copy_value(P, f->value, depth + 1, &c)) < 0 ||
		    (err = field_append(P, v, f->key, f->key_len, f->line, f->col, c)) < 0)
			goto fail;
	}
	*out = v;
	return 0;
fail:
	gv_hocon_free(v);
	return err;
}

/* ---- input: checks, positions, whitespace ------------------------------ */

static int check_input(struct parser *P)
{
	const unsigned char *s = (const unsigned char *)P->p;
	size_t n = (size_t)(P->end - P->p), i = 0;
	unsigned line = 1, col = 1;

	while (i < n) {
		unsigned char c = s[i];
		size_t len = 1, k;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c == 0)
			return perr(P, line, col, "NUL byte in the input");
		if (c == '\n') {
			line++;
			col = 1;
			i++;
			continue;
		}
		if (c < 0x80) {
			col++;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return perr(P, line, col, "invalid UTF-8 (byte 0x%02x)", c);
		}
		if (n - i < len)
			return perr(P, line, col, "invalid UTF-8 (truncated sequence)");
		for (k = 1; k < len; k++) {
			unsigned char d = s[i + k];

			if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xbf))
				return perr(P, line, col, "invalid UTF-8 (byte 0x%02x)", d);
		}
		i += len;
		col++;
	}
	return 0;
}

static int at_end(const struct parser *P)
{
	return P->p >= P->end;
}

static int peek(const struct parser *P)
{
	return P->p < P->end ? (unsigned char)*P->p : -1;
}

static int peek_at(const struct parser *P, size_t k)
{
	return (size_t)(P->end - P->p) > k ? (unsigned char)P->p[k] : -1;
}

static void advance(struct parser *P)
{
	unsigned char c = (unsigned char)*P->p++;

	if (c == '\n') {
		P->line++;
		P->col = 1;
	} else if ((c & 0xc0) != 0x80) {
		P->col++;
	}
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static int at_comment(const struct parser *P)
{
	int c = peek(P);

	return c == '#' || (c == '/' && peek_at(P, 1) == '/');
}

static void skip_ws(struct parser *P)
{
	while (is_space(peek(P)))
		advance(P);
}

/* Spaces, then a comment up to (not including) the new line. */
static void skip_ws_comment(struct parser *P)
{
	skip_ws(P);
	if (at_comment(P))
		while (!at_end(P) && *P->p != '\n')
			advance(P);
}

/* Spaces, comments and new lines. */
static void skip_all(struct parser *P)
{
	for (;;) {
		skip_ws_comment(P);
		if (peek(P) != '\n')
			return;
		advance(P);
	}
}

/* Characters allowed in unquoted strings and keys (HOCON's list). */
static int is_unquoted(int c)
{
	if (c < 0x20 || c == 0x7f)
		return 0;
	if (c == ' ')
		return 0;
	return strchr("$\"{}[]:=,+#`^?!@*&\\", c) == NULL;
}

/* Where a simple value ends: end, new line, separator, closer, comment. */
static int at_value_end(const struct parser *P)
{
	int c = peek(P);

	return c < 0 || c == '\n' || c == ',' || c == '}' || c == ']' || at_comment(P);
}

/* Name the character at the cursor for a message. */
static const char *describe_here(const struct parser *P, char *buf, size_t cap)
{
	int c = peek(P);

	if (c < 0)
		return "the end of the input";
	if (c == '\n')
		return "a new line";
	if (c >= 0x20 && c < 0x7f) {
		snprintf(buf, cap, "'%c'", c);
	} else if (c >= 0x80) {
		size_t n = 1;

		while (n < 4 && P->p + n < P->end && ((unsigned char)P->p[n] & 0xc0) == 0x80)
			n++;
		snprintf(buf, cap, "'%.*s'", (int)n, P->p);
	} else {
		snprintf(buf, cap, "byte 0x%02x", c);
	}
	return buf;
}

/* ---- parser: strings ---------------------------------------------------- */

static int buf_failed(struct parser *P, gv_hocon_buf *b, unsigned line, unsigned col,
                      const char *what)
{
	if (b->err == GV_EINVAL)
		return perr(P, line, col, "%s longer than %u bytes", what, GV_HOCON_MAX_STRING);
	return b->err;
}

static int hex4(struct parser *P, unsigned *out, unsigned line, unsigned col)
{
	unsigned v = 0;
	int i, c;

	for (i = 0; i < 4; i++) {
		c = peek(P);
		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (unsigned)(c - 'A' + 10);
		else
			return perr(P, line, col, "invalid \\u escape: expected 4 hex digits");
		advance(P);
	}
	*out = v;
	return 0;
}

static void put_utf8(gv_hocon_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	gv_hocon_buf_add(b, u, n);
}

/* After the backslash: one escape, appended to b. */
static int parse_escape(struct parser *P, gv_hocon_buf *b, unsigned line, unsigned col)
{
	int c = peek(P);
	unsigned cp, lo;
	char ch;
	int err;

	switch (c) {
	case '"': case '\\': case '/': ch = (char)c; break;
	case 'b': ch = '\b'; break;
	case 'f': ch = '\f'; break;
	case 'n': ch = '\n'; break;
	case 'r': ch = '\r'; break;
	case 't': ch = '\t'; break;
	case 'u':
		advance(P);
		if ((err = hex4(P, &cp, line, col)) < 0)
			return err;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (peek(P) != '\\' || peek_at(P, 1) != 'u')
				return perr(P, line, col, "invalid \\u escape: unpaired surrogate");
			advance(P);
			advance(P);
			if ((err = hex4(P, &lo, line, col)) < 0)
				return err;
			if (lo < 0xdc00 || lo > 0xdfff)
				return perr(P, line, col, "invalid \\u escape: unpaired surrogate");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			return perr(P, line, col, "invalid \\u escape: unpaired surrogate");
		}
		if (cp == 0)
			return perr(P, line, col, "\\u0000 is not allowed in a string");
		put_utf8(b, cp);
		return 0;
	default:
		if (c < 0 || c == '\n')
			return perr(P, line, col, "unfinished escape at the end of the line");
		if (c >= 0x20 && c < 0x7f)
			return perr(P, line, col, "invalid escape '\\%c'", c);
		return perr(P, line, col, "invalid escape");
	}
	advance(P);
	gv_hocon_buf_add(b, &ch, 1);
	return 0;
}

/* """...""": raw text, new lines allowed; extra closing quotes belong to
 * the string.  The cursor is just after the opening quotes. */
static int parse_triple(struct parser *P, gv_hocon_buf *b, unsigned line, unsigned col)
{
	for (;;) {
		const char *s = P->p;
		int c;

		while ((c = peek(P)) >= 0 && c != '"' && (c >= 0x20 || c == '\n' || c == '\t' || c == '\r'))
			advance(P);
		gv_hocon_buf_add(b, s, (size_t)(P->p - s));
		if (b->err)
			return buf_failed(P, b, line, col, "string");
		if (c < 0)
			return perr(P, line, col, "triple-quoted string is never closed");
		if (c != '"')
			return perr(P, P->line, P->col,
			            "control character 0x%02x in a string", (unsigned)c);
		if (peek_at(P, 1) == '"' && peek_at(P, 2) == '"') {
			size_t n = 0;

			while (peek(P) == '"') {
				advance(P);
				n++;
			}
			while (n-- > 3)
				gv_hocon_buf_add(b, "\"", 1);
			return b->err ? buf_failed(P, b, line, col, "string") : 0;
		}
		advance(P);
		gv_hocon_buf_add(b, "\"", 1);
	}
}

/* A quoted string at the cursor, appended (unescaped) to b. */
static int parse_quoted(struct parser *P, gv_hocon_buf *b)
{
	unsigned line = P->line, col = P->col;
	int err;

	advance(P);
	if (peek(P) == '"' && peek_at(P, 1) == '"') {
		advance(P);
		advance(P);
		return parse_triple(P, b, line, col);
	}
	for (;;) {
		const char *s = P->p;
		int c;

		while ((c = peek(P)) >= 0x20 && c != '"' && c != '\\')
			advance(P);
		gv_hocon_buf_add(b, s, (size_t)(P->p - s));
		if (b->err)
			return buf_failed(P, b, line, col, "string");
		if (c == '"') {
			advance(P);
			return 0;
		}
		if (c < 0 || c == '\n')
			return perr(P, line, col, "string is never closed (missing '\"')");
		if (c != '\\')
			return perr(P, P->line, P->col,
			            "control character 0x%02x in a string (write it as an escape)",
			            (unsigned)c);
		{
			unsigned el = P->line, ec = P->col;

			advance(P);
			if ((err = parse_escape(P, b, el, ec)) < 0)
				return err;
		}
		if (b->err)
			return buf_failed(P, b, line, col, "string");
	}
}

/* ---- parser: keys ------------------------------------------------------- */

struct keypath {
	char *seg[GV_HOCON_MAX_DEPTH];
	size_t len[GV_HOCON_MAX_DEPTH];
	unsigned line[GV_HOCON_MAX_DEPTH], col[GV_HOCON_MAX_DEPTH];
	size_t n;
	int plain_include; /* the unquoted word `include` on its own */
};

static void keypath_free(struct keypath *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->seg[i]);
	k->n = 0;
}

/* A dotted key: parts of unquoted and quoted text, split at unquoted '.'. */
static int parse_key(struct parser *P, struct keypath *k)
{
	char what[16];

	k->n = 0;
	k->plain_include = 0;
	for (;;) {
		gv_hocon_buf b = GV_HOCON_BUF_INIT(GV_HOCON_MAX_STRING);
		unsigned line = P->line, col = P->col;
		int any = 0, quoted = 0, err;

		for (;;) {
			int c = peek(P);

			if (c == '"') {
				if (peek_at(P, 1) == '"' && peek_at(P, 2) == '"') {
					gv_hocon_buf_free(&b);
					return perr(P, P->line, P->col, "a key cannot be a triple-quoted string");
				}
				if ((err = parse_quoted(P, &b)) < 0) {
					gv_hocon_buf_free(&b);
					return err;
				}
				quoted = any = 1;
			} else if (c >= 0 && c != '.' && is_unquoted(c) &&
			           !(c == '/' && peek_at(P, 1) == '/')) {
				const char *s = P->p;

				while ((c = peek(P)) >= 0 && c != '.' && is_unquoted(c) &&
				       !(c == '/' && peek_at(P, 1) == '/'))
					advance(P);
				gv_hocon_buf_add(&b, s, (size_t)(P->p - s));
				any = 1;
			} else {
				break;
			}
			if (b.err) {
				err = buf_failed(P, &b, line, col, "key");
				gv_hocon_buf_free(&b);
				return err;
			}
		}
		if (!any) {
			gv_hocon_buf_free(&b);
			if (k->n == 0)
				return perr(P, P->line, P->col, "expected a key, got %s",
				            describe_here(P, what, sizeof(what)));
			return perr(P, P->line, P->col, "expected a key after '.', got %s",
			            describe_here(P, what, sizeof(what)));
		}
		if (b.len == 0) {
			gv_hocon_buf_free(&b);
			return perr(P, line, col, "empty key");
		}
		if (k->n == GV_HOCON_MAX_DEPTH) {
			gv_hocon_buf_free(&b);
			return perr(P, line, col, "key with more than %d parts", GV_HOCON_MAX_DEPTH);
		}
		k->plain_include = k->n == 0 && !quoted && b.len == 7 &&
		                   memcmp(b.ptr, "include", 7) == 0;
		k->seg[k->n] = b.ptr;
		k->len[k->n] = b.len;
		k->line[k->n] = line;
		k->col[k->n] = col;
		k->n++;
		if (peek(P) != '.')
			return 0;
		k->plain_include = 0;
		advance(P);
	}
}

/* ---- parser: values ----------------------------------------------------- */

static int parse_value(struct parser *P, unsigned depth, gv_hocon_value **out);
static int parse_body(struct parser *P, gv_hocon_value *obj, int closer, unsigned depth,
                      unsigned oline, unsigned ocol);

static int is_number(const char *s, size_t n)
{
	size_t i = 0;

#define DIGIT(j) ((j) < n && s[j] >= '0' && s[j] <= '9')
	if (i < n && s[i] == '-')
		i++;
	if (!DIGIT(i))
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (DIGIT(i))
			i++;
	if (i < n && s[i] == '.') {
		i++;
		if (!DIGIT(i))
			return 0;
		while (DIGIT(i))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (!DIGIT(i))
			return 0;
		while (DIGIT(i))
			i++;
	}
#undef DIGIT
	return i == n;
}

/* ${path} or ${?path} at the cursor. */
static int parse_subst(struct parser *P, gv_hocon_value **out)
{
	unsigned line = P->line, col = P->col;
	struct keypath k = { .n = 0 };
	gv_hocon_buf joined = GV_HOCON_BUF_INIT(GV_HOCON_MAX_STRING);
	gv_hocon_value *s = NULL, *seg;
	char what[16];
	size_t i;
	int err, opt = 0;

	*out = NULL;
	advance(P);
	advance(P);
	if (peek(P) == '?') {
		advance(P);
		opt = 1;
	}
	if ((err = parse_key(P, &k)) < 0)
		goto out;
	if (peek(P) != '}') {
		if (is_space(peek(P)))
			err = perr(P, P->line, P->col, "spaces are not allowed inside ${...}");
		else
			err = perr(P, P->line, P->col, "expected '}' to close the substitution, got %s",
			           describe_here(P, what, sizeof(what)));
		goto out;
	}
	advance(P);
	if ((err = val_new(P, &s, GV_HOCON_SUBST_, line, col)) < 0)
		goto out;
	s->optional = opt;
	for (i = 0; i < k.n; i++) {
		if (i)
			gv_hocon_buf_add(&joined, ".", 1);
		gv_hocon_buf_add(&joined, k.seg[i], k.len[i]);
		if ((err = val_string(P, &seg, k.seg[i], k.len[i], line, col)) < 0 ||
		    (err = items_append(P, s, seg)) < 0)
			goto out;
	}
	if (joined.err) {
		err = buf_failed(P, &joined, line, col, "substitution");
		goto out;
	}
	s->str = joined.ptr;
	s->len = joined.len;
	joined.ptr = NULL;
	*out = s;
	s = NULL;
out:
	gv_hocon_free(s);
	gv_hocon_buf_free(&joined);
	keypath_free(&k);
	return err;
}

/* Move text accumulated so far into a STRING part of a CONCAT_. */
static int flush_part(struct parser *P, gv_hocon_value *concat, gv_hocon_buf *text,
                      unsigned line, unsigned col)
{
	gv_hocon_value *part;
	int err;

	if (!text->len)
		return 0;
	if ((err = val_string(P, &part, text->ptr, text->len, line, col)) < 0)
		return err;
	text->len = 0;
	return items_append(P, concat, part);
}

/*
 * Simple values on one line: quoted, unquoted and substitutions,
 * concatenated with the whitespace between them kept.  A lone unquoted
 * token may be a number, true, false or null.
 */
static int parse_concat(struct parser *P, gv_hocon_value **out)
{
	unsigned line = P->line, col = P->col, pl = line, pc = col;
	gv_hocon_buf text = GV_HOCON_BUF_INIT(GV_HOCON_MAX_STRING);
	gv_hocon_value *concat = NULL, *v = NULL, *s;
	int ntok = 0, last_unquoted = 0, err = 0, c;
	char what[16];

	*out = NULL;
	for (;;) {
		const char *ws;

		c = peek(P);
		if (c == '"') {
			if ((err = parse_quoted(P, &text)) < 0)
				goto fail;
			last_unquoted = 0;
		} else if (c == '$' && peek_at(P, 1) == '{') {
			if (!concat && (err = val_new(P, &concat, GV_HOCON_CONCAT_, line, col)) < 0)
				goto fail;
			if ((err = flush_part(P, concat, &text, pl, pc)) < 0 ||
			    (err = parse_subst(P, &s)) < 0 ||
			    (err = items_append(P, concat, s)) < 0)
				goto fail;
			pl = P->line;
			pc = P->col;
			last_unquoted = 0;
		} else if (c == '$') {
			err = perr(P, P->line, P->col,
			           "unexpected '$' (a substitution is written ${name})");
			goto fail;
		} else if (c >= 0 && is_unquoted(c) && !(c == '/' && peek_at(P, 1) == '/')) {
			const char *u = P->p;

			while ((c = peek(P)) >= 0 && is_unquoted(c) &&
			       !(c == '/' && peek_at(P, 1) == '/'))
				advance(P);
			gv_hocon_buf_add(&text, u, (size_t)(P->p - u));
			last_unquoted = 1;
		} else {
			err = perr(P, P->line, P->col, "expected a value, got %s",
			           describe_here(P, what, sizeof(what)));
			goto fail;
		}
		if (text.err) {
			err = buf_failed(P, &text, line, col, "string");
			goto fail;
		}
		ntok++;
		ws = P->p;
		skip_ws(P);
		if (at_value_end(P))
			break;
		c = peek(P);
		if (c == '{' || c == '[') {
			err = perr(P, P->line, P->col,
			           "cannot concatenate an object or array with other values");
			goto fail;
		}
		if (c == '$' && peek_at(P, 1) != '{') {
			err = perr(P, P->line, P->col,
			           "unexpected '$' (a substitution is written ${name})");
			goto fail;
		}
		if (c != '"' && c != '$' && !is_unquoted(c)) {
			err = perr(P, P->line, P->col,
			           "unexpected %s in a value (put the value in double quotes)",
			           describe_here(P, what, sizeof(what)));
			goto fail;
		}
		gv_hocon_buf_add(&text, ws, (size_t)(P->p - ws));
	}
	if (concat) {
		if ((err = flush_part(P, concat, &text, pl, pc)) < 0)
			goto fail;
		if (ntok == 1 && concat->nitems == 1) {
			*out = concat->items[0];
			concat->nitems = 0;
			gv_hocon_free(concat);
		} else {
			*out = concat;
		}
		gv_hocon_buf_free(&text);
		return 0;
	}
	if ((err = val_string(P, &v, text.ptr ? text.ptr : "", text.len, line, col)) < 0)
		goto fail;
	if (ntok == 1 && last_unquoted) {
		if (strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0) {
			v->type = GV_HOCON_BOOL;
			v->boolean = v->str[0] == 't';
			free(v->str);
			v->str = NULL;
			v->len = 0;
		} else if (strcmp(v->str, "null") == 0) {
			v->type = GV_HOCON_NULL;
			free(v->str);
			v->str = NULL;
			v->len = 0;
		} else if (is_number(v->str, v->len)) {
			v->type = GV_HOCON_NUMBER;
			v->number = strtod(v->str, NULL);
		}
	}
	gv_hocon_buf_free(&text);
	*out = v;
	return 0;
fail:
	gv_hocon_free(concat);
	gv_hocon_buf_free(&text);
	return err;
}

static int parse_object(struct parser *P, unsigned depth, gv_hocon_value **out)
{
	unsigned line = P->line, col = P->col;
	gv_hocon_value *o;
	int err;

	*out = NULL;
	if ((err = val_new(P, &o, GV_HOCON_OBJECT, line, col)) < 0)
		return err;
	advance(P);
	if ((err = parse_body(P, o, '}', depth, line, col)) < 0) {
		gv_hocon_free(o);
		return err;
	}
	advance(P);
	*out = o;
	return 0;
}

static int parse_array(struct parser *P, unsigned depth, gv_hocon_value **out)
{
	unsigned line = P->line, col = P->col;
	gv_hocon_value *a, *item;
	size_t idx = 0, saved;
	char what[16];
	int err, c;

	*out = NULL;
	if ((err = val_new(P, &a, GV_HOCON_ARRAY, line, col)) < 0)
		return err;
	advance(P);
	for (;;) {
		skip_all(P);
		c = peek(P);
		if (c < 0) {
			err = perr(P, line, col, "'[' is never closed");
			goto fail;
		}
		if (c == ']') {
			advance(P);
			break;
		}
		if (c == ',') {
			err = perr(P, P->line, P->col, "unexpected ','");
			goto fail;
		}
		saved = path_push_index(P, idx);
		if ((err = parse_value(P, depth + 1, &item)) < 0 ||
		    (err = items_append(P, a, item)) < 0)
			goto fail;
		skip_ws_comment(P);
		c = peek(P);
		if (c == ',') {
			advance(P);
		} else if (c >= 0 && c != '\n' && c != ']') {
			err = perr(P, P->line, P->col, "expected ',' or ']' after an array element, got %s",
			           describe_here(P, what, sizeof(what)));
			goto fail;
		}
		path_pop(P, saved);
		idx++;
	}
	*out = a;
	return 0;
fail:
	gv_hocon_free(a);
	return err;
}

static int parse_value(struct parser *P, unsigned depth, gv_hocon_value **out)
{
	int c = peek(P), err;

	*out = NULL;
	if (depth > GV_HOCON_MAX_DEPTH)
		return perr(P, P->line, P->col, "nesting deeper than %d levels", GV_HOCON_MAX_DEPTH);
	if (c != '{' && c != '[')
		return parse_concat(P, out);
	err = c == '{' ? parse_object(P, depth, out) : parse_array(P, depth, out);
	if (err < 0)
		return err;
	skip_ws(P);
	if (!at_value_end(P)) {
		gv_hocon_free(*out);
		*out = NULL;
		return perr(P, P->line, P->col,
		            "cannot concatenate an object or array with other values");
	}
	return 0;
}

/* Store v under the dotted key k in obj, creating objects on the way. */
static int assign(struct parser *P, gv_hocon_value *obj, const struct keypath *k,
                  gv_hocon_value *v)
{
	gv_hocon_value *cur = obj, *child;
	size_t i;
	int err;

	for (i = 0; i + 1 < k->n; i++) {
		long j = field_index(cur, k->seg[i], k->len[i]);

		if (j >= 0 && cur->fields[j].value &&
		    cur->fields[j].value->type == GV_HOCON_OBJECT) {
			cur = cur->fields[j].value;
			continue;
		}
		if ((err = val_new(P, &child, GV_HOCON_OBJECT, k->line[i], k->col[i])) < 0 ||
		    (err = set_field(P, cur, k->seg[i], k->len[i], k->line[i], k->col[i], child)) < 0) {
			gv_hocon_free(v);
			return err;
		}
		cur = child;
	}
	i = k->n - 1;
	return set_field(P, cur, k->seg[i], k->len[i], k->line[i], k->col[i], v);
}

static int at_include_call(const struct parser *P)
{
	static const char *const calls[] = { "file(", "url(", "classpath(", "required(" };
	size_t i, left = (size_t)(P->end - P->p);

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (left >= strlen(calls[i]) && memcmp(P->p, calls[i], strlen(calls[i])) == 0)
			return 1;
	return 0;
}

/* key (= | : | before '{') value.  Leaves the key on the message path. */
static int parse_field(struct parser *P, gv_hocon_value *obj, unsigned depth)
{
	struct keypath k = { .n = 0 };
	unsigned kl = P->line, kc = P->col;
	size_t saved = P->pathlen, i;
	gv_hocon_value *v = NULL;
	char what[16];
	int err, c;

	if ((err = parse_key(P, &k)) < 0)
		goto out;
	for (i = 0; i < k.n; i++)
		path_push(P, k.seg[i], k.len[i], 0);
	skip_ws(P);
	c = peek(P);
	if (k.plain_include && (c == '"' || at_include_call(P))) {
		path_pop(P, saved);
		err = perr(P, kl, kc, "'include' is not supported: put the settings in this file");
		goto out;
	}
	if (depth + k.n > GV_HOCON_MAX_DEPTH) {
		err = perr(P, kl, kc, "nesting deeper than %d levels", GV_HOCON_MAX_DEPTH);
		goto out;
	}
	if (c == '{') {
		err = parse_value(P, depth + (unsigned)k.n, &v);
	} else if (c == '=' || c == ':') {
		advance(P);
		skip_all(P);
		err = parse_value(P, depth + (unsigned)k.n, &v);
	} else if (c == '+' && peek_at(P, 1) == '=') {
		err = perr(P, P->line, P->col, "'+=' is not supported");
	} else {
		err = perr(P, P->line, P->col, "expected '=', ':' or '{' after the key, got %s",
		           describe_here(P, what, sizeof(what)));
	}
	if (err < 0)
		goto out;
	err = assign(P, obj, &k, v);
out:
	keypath_free(&k);
	return err;
}

/* Fields up to `closer` ('}' or 0 for the end of the input). */
static int parse_body(struct parser *P, gv_hocon_value *obj, int closer, unsigned depth,
                      unsigned oline, unsigned ocol)
{
	char what[16];
	size_t saved;
	int err, c;

	for (;;) {
		skip_all(P);
		c = peek(P);
		if (c < 0) {
			if (closer)
				return perr(P, oline, ocol, "'{' is never closed");
			return 0;
		}
		if (c == closer)
			return 0;
		if (c == ',' || c == '}' || c == ']')
			return perr(P, P->line, P->col, "unexpected '%c'", c);
		saved = P->pathlen;
		if ((err = parse_field(P, obj, depth)) < 0)
			return err;
		skip_ws_comment(P);
		c = peek(P);
		if (c == ',')
			advance(P);
		else if (c >= 0 && c != '\n' && c != closer)
			return perr(P, P->line, P->col,
			            "expected ',' or a new line after the value, got %s",
			            describe_here(P, what, sizeof(what)));
		path_pop(P, saved);
	}
}

/* ---- resolver ----------------------------------------------------------- */

static int resolve_shallow(struct parser *P, gv_hocon_value **slot, unsigned depth);
static int resolve_deep(struct parser *P, gv_hocon_value **slot, unsigned depth);

/* The value path s names in the fallback tree, or NULL. */
static const gv_hocon_value *fallback_find(const struct parser *P, const gv_hocon_value *s)
{
	const gv_hocon_value *cur = P->fallback;
	size_t i;

	for (i = 0; cur && i < s->nitems; i++) {
		long k;

		if (cur->type != GV_HOCON_OBJECT ||
		    (k = field_index(cur, s->items[i]->str, s->items[i]->len)) < 0)
			return NULL;
		cur = cur->fields[k].value;
	}
	return cur;
}

/*
 * The value substitution s (part of `self`, the value being resolved)
 * names, as an owned copy placed `depth` levels down (*out NULL when it
 * names nothing).  The merged document first, then the fallback tree, then
 * the environment.  Reaching `self` is a self-reference (`a = ${a}x`): it
 * means the value the key had before, else the fallback's.  Reaching any
 * other value being resolved is a cycle.
 */
static int lookup(struct parser *P, const gv_hocon_value *s, const gv_hocon_value *self,
                  unsigned depth, gv_hocon_value **out)
{
	gv_hocon_value **slot = NULL, *cur = P->root;
	const gv_hocon_value *fb;
	char saved[PATH_MSG];
	size_t savedlen = P->pathlen, i;
	const char *env;
	int err = 0, seen_self;

	*out = NULL;
	memcpy(saved, P->path, savedlen + 1);
	path_pop(P, 0);
	for (i = 0; i < s->nitems && cur; i++) {
		const gv_hocon_value *seg = s->items[i];
		long k;

		if (cur->type != GV_HOCON_OBJECT ||
		    (k = field_index(cur, seg->str, seg->len)) < 0 || !cur->fields[k].value) {
			cur = NULL;
			break;
		}
		path_push(P, seg->str, seg->len, 0);
		slot = &cur->fields[k].value;
		seen_self = 0;
		while ((*slot)->resolving) {
			seen_self |= *slot == self;
			if (!(*slot)->prev) {
				if (seen_self && fallback_find(P, s)) {
					cur = NULL;
					goto not_in_document;
				}
				goto cycle;
			}
			slot = &(*slot)->prev;
		}
		if (slot != &cur->fields[k].value && !seen_self)
			goto cycle;
		if ((err = resolve_shallow(P, slot, (unsigned)i + 1)) < 0)
			goto out;
		cur = err == UNDEF ? NULL : *slot;
		err = 0;
	}
	if (cur) {
		if ((err = resolve_deep(P, slot, (unsigned)s->nitems)) < 0)
			goto out;
		cur = err == UNDEF ? NULL : *slot;
		err = 0;
	}
not_in_document:
	path_pop(P, 0);
	memcpy(P->path, saved, savedlen + 1);
	P->pathlen = savedlen;
	if (cur)
		return copy_value(P, cur, depth, out);
	if ((fb = fallback_find(P, s)) != NULL)
		return copy_value(P, fb, depth, out);
	env = getenv(s->str);
	if (!env)
		return 0;
	if (strlen(env) > GV_HOCON_MAX_STRING)
		return perr(P, s->line, s->col, "environment variable %.100s is longer than %u bytes",
		            s->str, GV_HOCON_MAX_STRING);
	return val_string(P, out, env, strlen(env), s->line, s->col);
cycle:
	memcpy(P->path, saved, savedlen + 1);
	P->pathlen = savedlen;
	return perr(P, s->line, s->col, "${%.100s} is part of a substitution cycle", s->str);
out:
	memcpy(P->path, saved, savedlen + 1);
	P->pathlen = savedlen;
	return err;
}

static int undefined(struct parser *P, const gv_hocon_value *s)
{
	return perr(P, s->line, s->col,
	            "${%.100s} is not defined (no such key, no such environment variable; "
	            "${?%.100s} would make it optional)", s->str, s->str);
}

/* An object written over a pending value: merge over what that became. */
static int resolve_object_prev(struct parser *P, gv_hocon_value **slot, unsigned depth)
{
	gv_hocon_value *v = *slot, *p;
	int err;

	if ((err = resolve_shallow(P, &v->prev, depth)) < 0)
		return err;
	p = v->prev;
	v->prev = NULL;
	v->resolving = 0;
	if (!p)
		return 0;
	if (p->type != GV_HOCON_OBJECT) {
		gv_hocon_free(p);
		return 0;
	}
	*slot = p;
	return merge_object(P, p, v);
}

static int resolve_subst(struct parser *P, gv_hocon_value **slot, unsigned depth)
{
	gv_hocon_value *v = *slot, *found, *p;
	int err;

	if ((err = lookup(P, v, v, depth, &found)) < 0)
		return err;
	if (found) {
		if (found->type == GV_HOCON_OBJECT && v->prev) {
			if ((err = resolve_shallow(P, &v->prev, depth)) < 0) {
				gv_hocon_free(found);
				return err;
			}
			if (v->prev && v->prev->type == GV_HOCON_OBJECT) {
				p = v->prev;
				v->prev = NULL;
				*slot = p;
				gv_hocon_free(v);
				return merge_object(P, p, found);
			}
		}
		*slot = found;
		gv_hocon_free(v);
		return 0;
	}
	if (!v->optional)
		return undefined(P, v);
	if (v->prev && (err = resolve_shallow(P, &v->prev, depth)) < 0)
		return err;
	p = v->prev;
	v->prev = NULL;
	*slot = p;
	gv_hocon_free(v);
	return p ? 0 : UNDEF;
}

static int resolve_concat(struct parser *P, gv_hocon_value **slot, unsigned depth)
{
	gv_hocon_value *v = *slot, *res, *found;
	gv_hocon_buf b = GV_HOCON_BUF_INIT(GV_HOCON_MAX_STRING);
	size_t i;
	int err = 0;

	for (i = 0; i < v->nitems; i++) {
		const gv_hocon_value *part = v->items[i];

		if (part->type == GV_HOCON_STRING) {
			gv_hocon_buf_add(&b, part->str, part->len);
			continue;
		}
		if ((err = lookup(P, part, v, depth, &found)) < 0)
			goto out;
		if (!found) {
			if (!part->optional) {
				err = undefined(P, part);
				goto out;
			}
			continue;
		}
		switch (found->type) {
		case GV_HOCON_STRING:
		case GV_HOCON_NUMBER:
			gv_hocon_buf_add(&b, found->str, found->len);
			break;
		case GV_HOCON_BOOL:
			gv_hocon_buf_puts(&b, found->boolean ? "true" : "false");
			break;
		default:
			err = perr(P, part->line, part->col,
			           "${%.100s} is %s and cannot be part of a string", part->str,
			           gv_hocon_type_name(found->type));
			gv_hocon_free(found);
			goto out;
		}
		gv_hocon_free(found);
		if (b.err)
			break;
	}
	if (b.err) {
		err = buf_failed(P, &b, v->line, v->col, "string");
		goto out;
	}
	if ((err = val_string(P, &res, b.ptr ? b.ptr : "", b.len, v->line, v->col)) < 0)
		goto out;
	*slot = res;
	gv_hocon_free(v);
out:
	gv_hocon_buf_free(&b);
	return err;
}

/*
 * Make *slot a resolved value (its children may still be pending).
 * Returns 0, UNDEF (then *slot is NULL: an optional substitution found
 * nothing and there was no earlier value), or an error.
 */
static int resolve_shallow(struct parser *P, gv_hocon_value **slot, unsigned depth)
{
	gv_hocon_value *v = *slot;
	int err;

	if (!v)
		return UNDEF;
	if (!is_pending(v) && !v->prev)
		return 0;
	if (v->resolving && v->type == GV_HOCON_SUBST_)
		return perr(P, v->line, v->col, "${%.100s} is part of a substitution cycle", v->str);
	if (v->resolving)
		return perr(P, v->line, v->col, "this value is part of a substitution cycle");
	if (P->rdepth >= GV_HOCON_MAX_SUBST)
		return perr(P, v->line, v->col, "substitutions nested more than %d deep",
		            GV_HOCON_MAX_SUBST);
	P->rdepth++;
	v->resolving = 1;
	if (v->type == GV_HOCON_SUBST_)
		err = resolve_subst(P, slot, depth);
	else if (v->type == GV_HOCON_CONCAT_)
		err = resolve_concat(P, slot, depth);
	else
		err = resolve_object_prev(P, slot, depth);
	P->rdepth--;
	return err;
}

static int resolve_deep(struct parser *P, gv_hocon_value **slot, unsigned depth)
{
	gv_hocon_value *v;
	size_t i, saved;
	int err;

	if ((err = resolve_shallow(P, slot, depth)) != 0)
		return err;
	v = *slot;
	for (i = 0; i < v->nfields; i++) {
		if (!v->fields[i].value)
			continue;
		saved = path_push(P, v->fields[i].key, v->fields[i].key_len, 0);
		err = resolve_deep(P, &v->fields[i].value, depth + 1);
		path_pop(P, saved);
		if (err < 0)
			return err;
	}
	if (v->type != GV_HOCON_ARRAY)
		return 0;
	for (i = 0; i < v->nitems; i++) {
		if (!v->items[i])
			continue;
		saved = path_push_index(P, i);
		err = resolve_deep(P, &v->items[i], depth + 1);
		path_pop(P, saved);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Drop fields and items an optional substitution left undefined. */
static int compact(gv_hocon_value *v)
{
	size_t i, j;
	int err;

	if (v->type == GV_HOCON_OBJECT) {
		for (i = j = 0; i < v->nfields; i++) {
			if (!v->fields[i].value) {
				free(v->fields[i].key);
				continue;
			}
			if ((err = compact(v->fields[i].value)) < 0)
				return err;
			v->fields[j++] = v->fields[i];
		}
		if (j != v->nfields) {
			v->nfields = j;
			return hash_rebuild(v);
		}
	} else if (v->type == GV_HOCON_ARRAY) {
		for (i = j = 0; i < v->nitems; i++) {
			if (!v->items[i])
				continue;
			if ((err = compact(v->items[i])) < 0)
				return err;
			v->items[j++] = v->items[i];
		}
		v->nitems = j;
	}
	return 0;
}

/* ---- entry point -------------------------------------------------------- */

int gv_hocon_parse(gv_hocon_value **out, const char *name, const char *text, size_t len)
{
	return gv_hocon_parse_with_fallback(out, name, text, len, NULL);
}

int gv_hocon_parse_with_fallback(gv_hocon_value **out, const char *name, const char *text,
                                 size_t len, const gv_hocon_value *fallback)
{
	struct parser P;
	char what[16];
	int err;

	*out = NULL;
	memset(&P, 0, sizeof(P));
	P.name = name ? name : "<config>";
	P.fallback = fallback && fallback->type == GV_HOCON_OBJECT ? fallback : NULL;
	if (len > GV_HOCON_MAX_INPUT)
		return gv_error_set(GV_EINVAL, "%s: larger than %u KiB", P.name,
		                    GV_HOCON_MAX_INPUT / 1024);
	P.p = text ? text : "";
	P.end = P.p + (text ? len : 0);
	P.line = P.col = 1;
	if ((err = check_input(&P)) < 0)
		return err;
	if (P.end - P.p >= 3 && memcmp(P.p, "\xef\xbb\xbf", 3) == 0)
		P.p += 3;
	if ((err = val_new(&P, &P.root, GV_HOCON_OBJECT, 1, 1)) < 0)
		return err;
	skip_all(&P);
	if (peek(&P) == '{') {
		unsigned line = P.line, col = P.col;

		advance(&P);
		if ((err = parse_body(&P, P.root, '}', 0, line, col)) < 0)
			goto fail;
		advance(&P);
		skip_all(&P);
		if (!at_end(&P)) {
			err = perr(&P, P.line, P.col, "unexpected %s after the closing '}'",
			           describe_here(&P, what, sizeof(what)));
			goto fail;
		}
	} else if (peek(&P) == '[') {
		err = perr(&P, P.line, P.col, "the configuration must be an object, not an array");
		goto fail;
	} else if ((err = parse_body(&P, P.root, 0, 0, 1, 1)) < 0) {
		goto fail;
	}
	path_pop(&P, 0);
	if ((err = resolve_deep(&P, &P.root, 0)) < 0 || (err = compact(P.root)) < 0)
		goto fail;
	*out = P.root;
	return 0;
fail:
	gv_hocon_free(P.root);
	return err;
}

/* ---- lookup, describe, equal, dump -------------------------------------- */

const gv_hocon_field *gv_hocon_find(const gv_hocon_value *obj, const char *key)
{
	long i;

	if (!obj || obj->type != GV_HOCON_OBJECT || !key)
		return NULL;
	i = field_index(obj, key, strlen(key));
	return i < 0 || !obj->fields[i].value ? NULL : &obj->fields[i];
}

const char *gv_hocon_type_name(gv_hocon_type t)
{
	switch (t) {
	case GV_HOCON_NULL: return "null";
	case GV_HOCON_BOOL: return "a boolean";
	case GV_HOCON_NUMBER: return "a number";
	case GV_HOCON_STRING: return "a string";
	case GV_HOCON_ARRAY: return "an array";
	case GV_HOCON_OBJECT: return "an object";
	case GV_HOCON_SUBST_: return "a substitution";
	case GV_HOCON_CONCAT_: return "a concatenation";
	}
	return "a value";
}

const char *gv_hocon_describe(char *buf, size_t cap, const gv_hocon_value *v)
{
	size_t n;

	if (!cap)
		return buf;
	buf[0] = '\0';
	if (!v) {
		snprintf(buf, cap, "nothing");
		return buf;
	}
	switch (v->type) {
	case GV_HOCON_STRING:
		n = v->len;
		if (n > 40) {
			n = 40;
			while (n > 0 && ((unsigned char)v->str[n] & 0xc0) == 0x80)
				n--;
		}
		snprintf(buf, cap, "\"%.*s%s\"", (int)n, v->str, n < v->len ? "..." : "");
		break;
	case GV_HOCON_NUMBER:
		snprintf(buf, cap, "%.40s", v->str);
		break;
	case GV_HOCON_BOOL:
		snprintf(buf, cap, "%s", v->boolean ? "true" : "false");
		break;
	default:
		snprintf(buf, cap, "%s", gv_hocon_type_name(v->type));
	}
	return buf;
}

int gv_hocon_equal(const gv_hocon_value *a, const gv_hocon_value *b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	if (a->type != b->type || a->boolean != b->boolean || a->len != b->len ||
	    a->nitems != b->nitems || a->nfields != b->nfields)
		return 0;
	if (a->len && memcmp(a->str, b->str, a->len) != 0)
		return 0;
	for (i = 0; i < a->nitems; i++)
		if (!gv_hocon_equal(a->items[i], b->items[i]))
			return 0;
	for (i = 0; i < a->nfields; i++) {
		const gv_hocon_field *f = &a->fields[i], *g = &b->fields[i];

		if (f->key_len != g->key_len || memcmp(f->key, g->key, f->key_len) != 0 ||
		    !gv_hocon_equal(f->value, g->value))
			return 0;
	}
	return 1;
}

static void indent(gv_hocon_buf *b, int n)
{
	while (n-- > 0)
		gv_hocon_buf_add(b, "  ", 2);
}

static void dump_value(gv_hocon_buf *b, const gv_hocon_value *v, int level)
{
	size_t i;

	switch (v->type) {
	case GV_HOCON_NULL:
		gv_hocon_buf_puts(b, "null");
		break;
	case GV_HOCON_BOOL:
		gv_hocon_buf_puts(b, v->boolean ? "true" : "false");
		break;
	case GV_HOCON_NUMBER:
		gv_hocon_buf_add(b, v->str, v->len);
		break;
	case GV_HOCON_STRING:
		gv_hocon_buf_quoted(b, v->str, v->len);
		break;
	case GV_HOCON_ARRAY:
		gv_hocon_buf_puts(b, "[\n");
		for (i = 0; i < v->nitems; i++) {
			indent(b, level + 1);
			dump_value(b, v->items[i], level + 1);
			gv_hocon_buf_puts(b, "\n");
		}
		indent(b, level);
		gv_hocon_buf_puts(b, "]");
		break;
	case GV_HOCON_OBJECT:
		gv_hocon_buf_puts(b, "{\n");
		for (i = 0; i < v->nfields; i++) {
			indent(b, level + 1);
			gv_hocon_buf_quoted(b, v->fields[i].key, v->fields[i].key_len);
			gv_hocon_buf_puts(b, " = ");
			dump_value(b, v->fields[i].value, level + 1);
			gv_hocon_buf_puts(b, "\n");
		}
		indent(b, level);
		gv_hocon_buf_puts(b, "}");
		break;
	default:
		break;
	}
}

int gv_hocon_dump(char **out, const gv_hocon_value *root)
{
	gv_hocon_buf b = GV_HOCON_BUF_INIT(DUMP_MAX);

	*out = NULL;
	dump_value(&b, root, 0);
	gv_hocon_buf_puts(&b, "\n");
	if (b.err) {
		gv_hocon_buf_free(&b);
		return b.err == GV_EINVAL ? gv_error_set(GV_EINVAL, "configuration dump too large")
		                          : GV_ENOMEM;
	}
	*out = b.ptr;
	return 0;
}
