/*
 * test_s3_sigv4.c - SigV4 as the S3 front door checks it, against AWS's
 * published vectors (the Signature Version 4 test suite's get-vanilla,
 * post-vanilla and query-order cases; the S3 API reference's examples of
 * a GET with Range, a PUT, GET ?lifecycle, a listing, a presigned URL and
 * an aws-chunked upload) and our own: tampered signatures and chunks,
 * clock skew, expiry, anonymous requests, bodies cut anywhere.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/digest.h"
#include "server/s3_sigv4.h"

#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T20130524 1369353600 /* 2013-05-24T00:00:00Z */
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The signature of a canonical request (test-suite form, any service). */
static void suite_sig(char out[65], const char *method, const char *path, const char *query,
                      const gv_s3_hdr *h, size_t nh, const char *signed_headers)
{
	char *creq = gv_s3_canonical_request(method, path, query, 0, h, nh, signed_headers, EMPTY);
	char hx[65], sts[512];
	uint8_t d[32], key[32], s[32];
	unsigned int ol = 32;

	assert_non_null(creq);
	gv_sha256_buf(d, creq, strlen(creq));
	free(creq);
	gv_s3_hex(hx, d, 32);
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n20150830T123600Z\n"
	         "20150830/us-east-1/service/aws4_request\n%s", hx);
	gv_s3_signing_key(key, SUITE_SECRET, "20150830", "us-east-1", "service");
	HMAC(EVP_sha256(), key, 32, (const unsigned char *)sts, strlen(sts), s, &ol);
	gv_s3_hex(out, s, 32);
}

static void suite_vectors(void **state)
{
	gv_s3_hdr h[] = { { "Host", "example.amazonaws.com" },
	                  { "X-Amz-Date", "20150830T123600Z" } };
	char sig[65];

	(void)state;
	suite_sig(sig, "GET", "/", "", h, 2, "host;x-amz-date");
	assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	suite_sig(sig, "POST", "/", "", h, 2, "host;x-amz-date");
	assert_string_equal(sig, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
	suite_sig(sig, "GET", "/", "Param2=value2&Param1=value1", h, 2, "host;x-amz-date");
	assert_string_equal(sig, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static gv_s3_err check(const char *method, const char *path, const char *query, gv_s3_hdr *h,
                       size_t nh, const char *secret, long long now, gv_s3_auth *a)
{
	char msg[256];
	gv_s3_err e = gv_s3_auth_parse(a, query, h, nh, msg, sizeof(msg));

	if (e != S3_OK)
		return e;
	return gv_s3_auth_verify(a, method, path, query, h, nh, secret, "us-east-1", (time_t)now, msg,
	                         sizeof(msg));
}

#define AUTH(sh, sig) \
	"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," \
	"SignedHeaders=" sh ",Signature=" sig

static void s3_get_with_range(void **state)
{
	gv_s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", EMPTY },
		{ "x-amz-date", "20130524T000000Z" },
		{ "Authorization", AUTH("host;range;x-amz-content-sha256;x-amz-date",
		                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") },
	};
	gv_s3_auth a;

	(void)state;
	assert_int_equal(check("GET", "/test.txt", "", h, 5, S3_SECRET, T20130524, &a), S3_OK);
	assert_string_equal(a.access_key, "AKIAIOSFODNN7EXAMPLE");
	assert_int_equal(a.payload, S3_PAYLOAD_HEX);
	/* a wrong secret, a changed header, a changed path */
	assert_int_equal(check("GET", "/test.txt", "", h, 5, "x" S3_SECRET, T20130524, &a),
	                 S3_SIGNATURE_MISMATCH);
	h[1].value = "bytes=0-10";
	assert_int_equal(check("GET", "/test.txt", "", h, 5, S3_SECRET, T20130524, &a),
	                 S3_SIGNATURE_MISMATCH);
	h[1].value = "bytes=0-9";
	assert_int_equal(check("GET", "/test.txu", "", h, 5, S3_SECRET, T20130524, &a),
	                 S3_SIGNATURE_MISMATCH);
	/* the clock: 15 minutes either way */
	assert_int_equal(check("GET", "/test.txt", "", h, 5, S3_SECRET, T20130524 + 899, &a), S3_OK);
	assert_int_equal(check("GET", "/test.txt", "", h, 5, S3_SECRET, T20130524 + 901, &a),
	                 S3_SKEWED);
	assert_int_equal(check("GET", "/test.txt", "", h, 5, S3_SECRET, T20130524 - 901, &a),
	                 S3_SKEWED);
	/* a tampered signature */
	h[4].value = AUTH("host;range;x-amz-content-sha256;x-amz-date",
	                  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb42");
	assert_int_equal(check("GET", "/test.txt", "", h, 5, S3_SECRET, T20130524, &a),
	                 S3_SIGNATURE_MISMATCH);
}

static void s3_put_object(void **state)
{
	gv_s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "x-amz-content-sha256",
		  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" },
		{ "Authorization",
		  AUTH("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") },
	};
	gv_s3_auth a;

	(void)state;
	assert_int_equal(check("PUT", "/test%24file.text", "", h, 6, S3_SECRET, T20130524, &a), S3_OK);
	assert_string_equal(a.payload_hash,
	                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

static void s3_get_queries(void **state)
{
	gv_s3_hdr h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-content-sha256", EMPTY },
		{ "Authorization", AUTH("host;x-amz-content-sha256;x-amz-date",
		                        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") },
	};
	gv_s3_auth a;

	(void)state;
	assert_int_equal(check("GET", "/", "lifecycle", h, 4, S3_SECRET, T20130524, &a), S3_OK);
	h[3].value = AUTH("host;x-amz-content-sha256;x-amz-date",
	                  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	assert_int_equal(check("GET", "/", "max-keys=2&prefix=J", h, 4, S3_SECRET, T20130524, &a),
	                 S3_OK);
	/* the query's order does not matter, its values do */
	assert_int_equal(check("GET", "/", "prefix=J&max-keys=2", h, 4, S3_SECRET, T20130524, &a),
	                 S3_OK);
	assert_int_equal(check("GET", "/", "max-keys=3&prefix=J", h, 4, S3_SECRET, T20130524, &a),
	                 S3_SIGNATURE_MISMATCH);
}

#define PRESIGNED(exp, sig) \
	"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F" \
	"us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=" exp \
	"&X-Amz-SignedHeaders=host&X-Amz-Signature=" sig

static void s3_presigned(void **state)
{
	gv_s3_hdr h[] = { { "Host", "examplebucket.s3.amazonaws.com" } };
	const char *q = PRESIGNED("86400",
	                          "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	gv_s3_auth a;

	(void)state;
	assert_int_equal(check("GET", "/test.txt", q, h, 1, S3_SECRET, T20130524 + 3600, &a), S3_OK);
	assert_true(a.presigned);
	assert_int_equal(a.payload, S3_PAYLOAD_UNSIGNED);
	/* X-Amz-Expires is honoured */
	assert_int_equal(check("GET", "/test.txt", q, h, 1, S3_SECRET, T20130524 + 86400, &a), S3_OK);
	assert_int_equal(check("GET", "/test.txt", q, h, 1, S3_SECRET, T20130524 + 86401, &a),
	                 S3_EXPIRED);
	/* a longer lifetime is not the one signed */
	q = PRESIGNED("86500", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	assert_int_equal(check("GET", "/test.txt", q, h, 1, S3_SECRET, T20130524, &a),
	                 S3_SIGNATURE_MISMATCH);
	q = PRESIGNED("604801", "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	assert_int_equal(check("GET", "/test.txt", q, h, 1, S3_SECRET, T20130524, &a),
	                 S3_AUTH_QUERY_MALFORMED);
}

static void anonymous_and_malformed(void **state)
{
	gv_s3_hdr h[] = { { "Host", "x" }, { "Authorization", "" } };
	gv_s3_auth a;
	char msg[128];

	(void)state;
	assert_int_equal(gv_s3_auth_parse(&a, "", h, 1, msg, sizeof(msg)), S3_ACCESS_DENIED);
	h[1].value = "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=";
	assert_int_equal(gv_s3_auth_parse(&a, "", h, 2, msg, sizeof(msg)), S3_INVALID_ARGUMENT);
	h[1].value = "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request";
	assert_int_equal(gv_s3_auth_parse(&a, "", h, 2, msg, sizeof(msg)), S3_AUTH_MALFORMED);
	h[1].value = "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request,"
	             "SignedHeaders=host,Signature=" EMPTY;
	assert_int_equal(gv_s3_auth_parse(&a, "", h, 2, msg, sizeof(msg)), S3_AUTH_MALFORMED);
	/* a presigned query missing its signature */
	assert_int_equal(gv_s3_auth_parse(&a, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=5", h,
	                                  1, msg, sizeof(msg)),
	                 S3_AUTH_QUERY_MALFORMED);
}

/* ---- aws-chunked ------------------------------------------------------ */

typedef struct sink {
	char *buf;
	size_t n, cap;
} sink;

static int to_sink(void *p, const char *buf, size_t n)
{
	sink *s = p;

	assert_true(s->n + n <= s->cap);
	memcpy(s->buf + s->n, buf, n);
	s->n += n;
	return 0;
}

#define SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define C1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define C2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define C3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

/* The S3 reference's chunked upload: 65536 + 1024 bytes of 'a'. */
static char *chunked_body(size_t *len, const char *s1, const char *s2, const char *s3)
{
	char *b = malloc(70000), *p = b;

	p += sprintf(p, "10000;chunk-signature=%s\r\n", s1);
	memset(p, 'a', 65536);
	p += 65536;
	p += sprintf(p, "\r\n400;chunk-signature=%s\r\n", s2);
	memset(p, 'a', 1024);
	p += 1024;
	p += sprintf(p, "\r\n0;chunk-signature=%s\r\n\r\n", s3);
	*len = (size_t)(p - b);
	return b;
}

static void seed_auth(gv_s3_auth *a)
{
	gv_s3_hdr h[] = {
		{ "Host", "s3.amazonaws.com" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "Authorization",
		  AUTH("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
		       "x-amz-decoded-content-length;x-amz-storage-class", SEED) },
		{ "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" },
		{ "Content-Encoding", "aws-chunked" },
		{ "x-amz-decoded-content-length", "66560" },
		{ "Content-Length", "66824" },
	};

	assert_int_equal(check("PUT", "/examplebucket/chunkObject.txt", "", h, 8, S3_SECRET,
	                       T20130524, a),
	                 S3_OK);
	assert_int_equal(a->payload, S3_PAYLOAD_STREAMING);
}

/* Feed body in pieces of `step` bytes; the decoder's verdict. */
static gv_s3_err feed(const gv_s3_auth *a, const char *body, size_t len, size_t step,
                      uint64_t decoded, sink *out)
{
	gv_s3_chunked *d = gv_s3_chunked_new(a, decoded);
	char msg[128];
	gv_s3_err e = S3_OK;
	size_t off;

	assert_non_null(d);
	out->n = 0;
	for (off = 0; off < len && e == S3_OK; off += step)
		e = gv_s3_chunked_feed(d, body + off, len - off < step ? len - off : step, to_sink, out,
		                       msg, sizeof(msg));
	if (e == S3_OK)
		e = gv_s3_chunked_finish(d, msg, sizeof(msg));
	gv_s3_chunked_free(d);
	return e;
}

static void chunked_reference(void **state)
{
	static const size_t steps[] = { 1, 2, 3, 7, 64, 4096, 65537, 1 << 20 };
	char buf[70000];
	sink out = { buf, 0, sizeof(buf) };
	gv_s3_auth a;
	size_t len, i;
	char *body = chunked_body(&len, C1, C2, C3);

	(void)state;
	seed_auth(&a);
	assert_int_equal(len, 66824);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(feed(&a, body, len, steps[i], 66560, &out), S3_OK);
		assert_int_equal(out.n, 66560);
		assert_ptr_equal(memchr(out.buf, 'b', out.n), NULL);
	}
	/* cut anywhere: never accepted */
	for (i = 0; i < len; i += 997)
		assert_int_not_equal(feed(&a, body, i, 4096, 66560, &out), S3_OK);
	assert_int_not_equal(feed(&a, body, len - 2, 4096, 66560, &out), S3_OK);
	/* a byte of data changed */
	body[100] = 'b';
	assert_int_equal(feed(&a, body, len, 4096, 66560, &out), S3_SIGNATURE_MISMATCH);
	free(body);
	/* chunks reordered or a signature tampered with */
	body = chunked_body(&len, C2, C1, C3);
	assert_int_equal(feed(&a, body, len, 4096, 66560, &out), S3_SIGNATURE_MISMATCH);
	free(body);
	body = chunked_body(&len, C1, C2,
	                    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df8");
	assert_int_equal(feed(&a, body, len, 4096, 66560, &out), S3_SIGNATURE_MISMATCH);
	free(body);
	/* the announced decoded length must match */
	body = chunked_body(&len, C1, C2, C3);
	assert_int_not_equal(feed(&a, body, len, 4096, 66559, &out), S3_OK);
	assert_int_not_equal(feed(&a, body, len, 4096, 66561, &out), S3_OK);
	free(body);
}

static void chunked_malformed(void **state)
{
	char buf[16];
	sink out = { buf, 0, sizeof(buf) };
	char line[GV_S3_CHUNK_LINE_MAX + 16];
	gv_s3_auth a;

	(void)state;
	seed_auth(&a);
	assert_int_not_equal(feed(&a, "zz;chunk-signature=" SEED "\r\n", 87, 87, 0, &out), S3_OK);
	assert_int_not_equal(feed(&a, "1;chunk-signature=" SEED "\n", 84, 84, 1, &out), S3_OK);
	assert_int_not_equal(
		feed(&a, "11111111111111111;chunk-signature=" SEED "\r\n", 100, 100, 1, &out), S3_OK);
	/* an endless header line is refused at the bound */
	memset(line, '1', sizeof(line));
	assert_int_not_equal(feed(&a, line, sizeof(line), 1000, 1, &out), S3_OK);
}

static void canonical_encoding(void **state)
{
	gv_s3_hdr h[] = { { "host", "  a   b  " }, { "X-Multi", "1" }, { "x-multi", " 2 " } };
	char *c = gv_s3_canonical_request("GET", "/b/a%20b+c%2Fd~", "b=2&a=x%20y&a=&c", 0, h, 3,
	                                  "host;x-multi", "UNSIGNED-PAYLOAD");

	(void)state;
	assert_non_null(c);
	assert_string_equal(c, "GET\n/b/a%20b%2Bc/d~\na=&a=x%20y&b=2&c=\nhost:a b\nx-multi:1,2\n\n"
	                       "host;x-multi\nUNSIGNED-PAYLOAD");
	free(c);
	/* a signed header the request lacks */
	assert_null(gv_s3_canonical_request("GET", "/", "", 0, h, 3, "host;range", EMPTY));
	/* malformed escapes */
	assert_null(gv_s3_canonical_request("GET", "/%zz", "", 0, h, 3, "host", EMPTY));
	assert_null(gv_s3_canonical_request("GET", "/%2", "", 0, h, 3, "host", EMPTY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suite_vectors),
		cmocka_unit_test(s3_get_with_range),
		cmocka_unit_test(s3_put_object),
		cmocka_unit_test(s3_get_queries),
		cmocka_unit_test(s3_presigned),
		cmocka_unit_test(anonymous_and_malformed),
		cmocka_unit_test(chunked_reference),
		cmocka_unit_test(chunked_malformed),
		cmocka_unit_test(canonical_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
