#!/usr/bin/python3
"""s3_check.py - the S3 front door's finer API checks for tests/e2e/test_s3_api.sh.

    /usr/bin/python3 s3_check.py URL ACCESS SECRET RO_ACCESS RO_SECRET ONE_ACCESS ONE_SECRET

boto3 (Debian's python3-boto3) drives the ordinary calls; a small SigV4
signer of its own (tests/e2e/s3_sign.py) sends what boto3 will not: aws-chunked
bodies, tampered chunks and payload hashes, skewed clocks,
virtual-host-style Host headers.  One line per check, as http_check.py:
ok<US>desc, FAIL<US>desc<US>expected<US>got.
"""

import datetime
import hashlib
import hmac
import sys
import urllib.parse

import os
import socket

import boto3
import botocore
from botocore.config import Config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3_sign  # noqa: E402

URL, AK, SK, RO_AK, RO_SK, ONE_AK, ONE_SK = sys.argv[1:8]
U = urllib.parse.urlsplit(URL)


def send(method, path, **kw):
    kw.setdefault("ak", AK)
    kw.setdefault("sk", SK)
    return s3_sign.send(URL, method, path, **kw)

US = "\x1f"


def ok(desc):
    print("ok" + US + desc, flush=True)


def check(desc, want, got):
    if want == got:
        ok(desc)
    else:
        print("FAIL" + US + desc + US + repr(want)[:300] + US + repr(got)[:300], flush=True)


def client(ak=AK, sk=SK, **cfg):
    return boto3.client("s3", endpoint_url=URL, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 0},
                                      **cfg))


def code_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "no error"


def chunked_body(key, seed, amz, scope, chunks, bad=None):
    """aws-chunked framing of chunks, each signed after the previous one."""
    out, prev = b"", seed
    for i, data in enumerate(list(chunks) + [b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev,
                         hashlib.sha256(b"").hexdigest(), hashlib.sha256(data).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if bad == i:
            data = data[:-1] + bytes([data[-1] ^ 1])
        out += b"%x;chunk-signature=%s\r\n" % (len(data), sig.encode()) + data + b"\r\n"
        prev = sig
    return out


def xml_code(data):
    s = data.decode(errors="replace")
    i = s.find("<Code>")
    return s[i + 6:s.find("</Code>")] if i >= 0 else s[:80]


# ---- the checks ------------------------------------------------------------------

s3 = client()
s3.create_bucket(Bucket="api")
body = bytes(range(256)) * 400  # 102400 bytes
s3.put_object(Bucket="api", Key="obj", Body=body, ContentType="text/x-test",
              Metadata={"Colour": "blue", "n": "1"})
h = s3.head_object(Bucket="api", Key="obj")
check("HeadObject: size", len(body), h["ContentLength"])
check("HeadObject: ETag is the MD5", '"%s"' % hashlib.md5(body).hexdigest(), h["ETag"])
check("HeadObject: content type", "text/x-test", h["ContentType"])
check("HeadObject: user metadata (names lower-case)", {"colour": "blue", "n": "1"}, h["Metadata"])
etag = h["ETag"]

g = s3.get_object(Bucket="api", Key="obj", Range="bytes=1000-1999")
check("Range: 206 and the bytes", (206, body[1000:2000]),
      (g["ResponseMetadata"]["HTTPStatusCode"], g["Body"].read()))
check("Range: Content-Range", "bytes 1000-1999/102400", g["ContentRange"])
g = s3.get_object(Bucket="api", Key="obj", Range="bytes=-10")
check("Range: the last 10 bytes", body[-10:], g["Body"].read())
check("Range past the end: InvalidRange",
      "InvalidRange", code_of(s3.get_object, Bucket="api", Key="obj", Range="bytes=200000-"))
check("If-Match another ETag: PreconditionFailed", "PreconditionFailed",
      code_of(s3.get_object, Bucket="api", Key="obj", IfMatch='"0123"'))
check("If-Match the ETag: the object", body,
      s3.get_object(Bucket="api", Key="obj", IfMatch=etag)["Body"].read())
check("If-None-Match the ETag: 304", "304",
      code_of(s3.get_object, Bucket="api", Key="obj", IfNoneMatch=etag))
future = datetime.datetime.utcnow() + datetime.timedelta(days=1)
past = datetime.datetime.utcnow() - datetime.timedelta(days=1)
check("If-Modified-Since later: 304", "304",
      code_of(s3.get_object, Bucket="api", Key="obj", IfModifiedSince=future))
check("If-Modified-Since earlier: the object", len(body),
      len(s3.get_object(Bucket="api", Key="obj", IfModifiedSince=past)["Body"].read()))
check("If-Unmodified-Since earlier: PreconditionFailed", "PreconditionFailed",
      code_of(s3.get_object, Bucket="api", Key="obj", IfUnmodifiedSince=past))
check("GetObject of a missing key: NoSuchKey", "NoSuchKey",
      code_of(s3.get_object, Bucket="api", Key="nope"))
check("GetObject in a missing bucket: NoSuchBucket", "NoSuchBucket",
      code_of(s3.get_object, Bucket="nobucket", Key="x"))
check("HeadBucket of a missing bucket: 404", "404", code_of(s3.head_bucket, Bucket="nobucket"))

# Content-MD5 and the signed payload hash: refused, nothing stored
st, _, data = send("PUT", "/api/md5", body=b"abc", headers={"content-md5": "AAAAAAAAAAAAAAAAAAAAAA=="})
check("a wrong Content-MD5: BadDigest", (400, "BadDigest"), (st, xml_code(data)))
st, _, data = send("PUT", "/api/sha", body=b"abc", payload=hashlib.sha256(b"abd").hexdigest())
check("a body that is not the signed hash: XAmzContentSHA256Mismatch",
      (400, "XAmzContentSHA256Mismatch"), (st, xml_code(data)))
check("... neither was stored", ("NoSuchKey", "NoSuchKey"),
      (code_of(s3.head_object, Bucket="api", Key="md5") and
       code_of(s3.get_object, Bucket="api", Key="md5"),
       code_of(s3.get_object, Bucket="api", Key="sha")))
big = b"x" * (3 << 20)  # digested on a thread of its own beside the writes
st, _, data = send("PUT", "/api/sha-big", body=big, payload=hashlib.sha256(big + b"y").hexdigest())
check("a 3 MiB body that is not the signed hash: XAmzContentSHA256Mismatch",
      (400, "XAmzContentSHA256Mismatch"), (st, xml_code(data)))
st, _, data = send("PUT", "/api/sha-big", body=big, headers={"content-md5": "AAAAAAAAAAAAAAAAAAAAAA=="})
check("a 3 MiB body with a wrong Content-MD5: BadDigest", (400, "BadDigest"), (st, xml_code(data)))
check("... neither was stored", "NoSuchKey", code_of(s3.get_object, Bucket="api", Key="sha-big"))
st, _, data = send("PUT", "/api/sha-big", body=big)
check("a 3 MiB body with its signed hash", (200, '"%s"' % hashlib.md5(big).hexdigest()),
      (st, _.get("etag")))
st, _, data = send("PUT", "/api/unsigned", body=b"unsigned body", payload="UNSIGNED-PAYLOAD")
check("UNSIGNED-PAYLOAD is accepted", 200, st)
st, _, data = send("GET", "/api/obj", when=datetime.datetime.utcnow() - datetime.timedelta(minutes=20))
check("a clock 20 minutes off: RequestTimeTooSkewed", (403, "RequestTimeTooSkewed"),
      (st, xml_code(data)))

# two different Content-Length headers (request smuggling): refused
sock = socket.create_connection((U.hostname, U.port), timeout=30)
sock.sendall(b"PUT /api/cl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde")
check("two different Content-Length headers: 400", b"HTTP/1.1 400", sock.recv(4096)[:12])
sock.close()

# aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), chunks checked while streaming
chunks = [b"a" * 65536, bytes(range(256)) * 100, b"tail"]
whole = b"".join(chunks)
for bad, desc in ((None, "an aws-chunked upload"), (1, "a tampered chunk")):
    framed = {}

    def frame(key, seed, amz, scope, bad=bad):
        framed["b"] = chunked_body(key, seed, amz, scope, chunks, bad)
        return framed["b"]
    # the framed length is known before signing: the framing's size does not
    # depend on the signatures' values
    n = len(chunked_body(b"k", "0" * 64, "x", "y", chunks))
    name = "chunked" if bad is None else "chunked-bad"
    st, _, data = send("PUT", "/api/" + name, headers={
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(whole)),
        "content-length": str(n)}, payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD", tamper=frame)
    if bad is None:
        check(desc + ": 200", (200, ""), (st, data.decode()[:200]))
        check(desc + ": reads back decoded", whole,
              s3.get_object(Bucket="api", Key=name)["Body"].read())
        check(desc + ": the ETag is the decoded bytes' MD5", '"%s"' % hashlib.md5(whole).hexdigest(),
              s3.head_object(Bucket="api", Key=name)["ETag"])
    else:
        check(desc + ": SignatureDoesNotMatch", (403, "SignatureDoesNotMatch"), (st, xml_code(data)))
        check(desc + ": nothing stored", "404", code_of(s3.head_object, Bucket="api", Key=name))

# virtual-host style: BUCKET.localhost
st, _, data = send("GET", "/obj", host="api.localhost:%d" % U.port)
check("virtual-host-style GetObject", (200, body), (st, data))
st, _, data = send("GET", "/", query={"list-type": "2", "prefix": "ch"}, host="api.localhost:%d" % U.port)
check("virtual-host-style ListObjectsV2", True, st == 200 and b"<Key>chunked</Key>" in data)

# listings: prefix, delimiter, max-keys, continuation, markers
names = sorted(["d%d/f%02d" % (d, i) for d in range(3) for i in range(10)] +
               ["top%02d" % i for i in range(7)] + ["a b+c/x", "\u00e9t\u00e9/y"])
for n in names:
    s3.put_object(Bucket="api", Key="L/" + n, Body=n.encode())
got, tok, pages = [], None, 0
while True:
    kw = {"Bucket": "api", "Prefix": "L/", "MaxKeys": 4}
    if tok:
        kw["ContinuationToken"] = tok
    p = s3.list_objects_v2(**kw)
    pages += 1
    got += [o["Key"][2:] for o in p.get("Contents", [])]
    if not p["IsTruncated"]:
        break
    tok = p["NextContinuationToken"]
check("ListObjectsV2 in pages of 4: every name once, in order", names, got)
check("... in ceil(n / 4) pages", (len(names) + 3) // 4, pages)
seen, tok = [], None
while True:
    kw = {"Bucket": "api", "Prefix": "L/", "Delimiter": "/", "MaxKeys": 3}
    if tok:
        kw["ContinuationToken"] = tok
    p = s3.list_objects_v2(**kw)
    seen += [c["Prefix"] for c in p.get("CommonPrefixes", [])] + [o["Key"] for o in p.get("Contents", [])]
    if not p["IsTruncated"]:
        break
    tok = p["NextContinuationToken"]
want = sorted(set("L/" + (n.split("/")[0] + "/" if "/" in n else n) for n in names))
check("ListObjectsV2 with a delimiter: common prefixes once each, across pages", want, sorted(seen))
seen, marker = [], ""
while True:
    p = s3.list_objects(Bucket="api", Prefix="L/d1/", MaxKeys=4, Marker=marker)
    seen += [o["Key"] for o in p.get("Contents", [])]
    if not p["IsTruncated"]:
        break
    marker = p.get("NextMarker") or p["Contents"][-1]["Key"]
check("ListObjects (v1) with markers", ["L/d1/f%02d" % i for i in range(10)], seen)
seen, marker = [], ""
for _ in range(100):
    p = s3.list_objects(Bucket="api", Prefix="L/", Delimiter="/", MaxKeys=2, Marker=marker)
    seen += [c["Prefix"] for c in p.get("CommonPrefixes", [])] + [o["Key"] for o in p.get("Contents", [])]
    if not p["IsTruncated"]:
        break
    marker = p["NextMarker"]
check("ListObjects (v1) with a delimiter: NextMarker past each common prefix", want, sorted(seen))
check("max-keys=0: nothing, not truncated", (0, False),
      (s3.list_objects_v2(Bucket="api", Prefix="L/", MaxKeys=0).get("KeyCount"),
       s3.list_objects_v2(Bucket="api", Prefix="L/", MaxKeys=0)["IsTruncated"]))
check("ListObjectsV2 of a missing bucket: NoSuchBucket", "NoSuchBucket",
      code_of(s3.list_objects_v2, Bucket="nobucket"))

# DeleteObjects
r = s3.delete_objects(Bucket="api", Delete={"Objects": [{"Key": "L/top00"}, {"Key": "L/top01"},
                                                        {"Key": "never-was"}]})
check("DeleteObjects: all three deleted (a missing key counts)", ["L/top00", "L/top01", "never-was"],
      sorted(d["Key"] for d in r.get("Deleted", [])))
check("... and gone", "NoSuchKey", code_of(s3.get_object, Bucket="api", Key="L/top00"))
st, _, data = send("POST", "/api", query={"delete": ""}, body=b"<Delete><Object><Key>x</Key>")
check("DeleteObjects with malformed XML: MalformedXML", (400, "MalformedXML"), (st, xml_code(data)))

# CopyObject: the same blob under a new name; REPLACE metadata
r = s3.copy_object(Bucket="api", Key="copy", CopySource={"Bucket": "api", "Key": "obj"})
check("CopyObject: the source's ETag", etag, r["CopyObjectResult"]["ETag"])
h = s3.head_object(Bucket="api", Key="copy")
check("CopyObject keeps the metadata", ({"colour": "blue", "n": "1"}, "text/x-test"),
      (h["Metadata"], h["ContentType"]))
s3.copy_object(Bucket="api", Key="copy2", CopySource={"Bucket": "api", "Key": "obj"},
               MetadataDirective="REPLACE", Metadata={"k": "v"}, ContentType="text/plain")
h = s3.head_object(Bucket="api", Key="copy2")
check("CopyObject REPLACE", ({"k": "v"}, "text/plain"), (h["Metadata"], h["ContentType"]))
check("CopyObject of a missing source: NoSuchKey", "NoSuchKey",
      code_of(s3.copy_object, Bucket="api", Key="c3", CopySource={"Bucket": "api", "Key": "nope"}))

# multipart
MiB = 1 << 20
p1, p2, p3 = b"1" * (5 * MiB), b"2" * (5 * MiB), b"33333"
up = s3.create_multipart_upload(Bucket="api", Key="mp", ContentType="video/x-test",
                                Metadata={"m": "p"})["UploadId"]
e1 = s3.upload_part(Bucket="api", Key="mp", UploadId=up, PartNumber=1, Body=p1)["ETag"]
e3 = s3.upload_part(Bucket="api", Key="mp", UploadId=up, PartNumber=3, Body=p3)["ETag"]
e2 = s3.upload_part_copy(Bucket="api", Key="mp", UploadId=up, PartNumber=2,
                         CopySource={"Bucket": "api", "Key": "obj"},
                         CopySourceRange="bytes=0-99")["CopyPartResult"]["ETag"]
check("UploadPartCopy with a range: the range's MD5", '"%s"' % hashlib.md5(body[:100]).hexdigest(), e2)
e2 = s3.upload_part(Bucket="api", Key="mp", UploadId=up, PartNumber=2, Body=p2)["ETag"]
parts = s3.list_parts(Bucket="api", Key="mp", UploadId=up)["Parts"]
check("ListParts", [(1, 5 * MiB), (2, 5 * MiB), (3, 5)], [(p["PartNumber"], p["Size"]) for p in parts])
check("ListMultipartUploads", [up],
      [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="api").get("Uploads", [])])
P = lambda *l: {"Parts": [{"PartNumber": n, "ETag": e} for n, e in l]}
check("Complete with a wrong ETag: InvalidPart", "InvalidPart",
      code_of(s3.complete_multipart_upload, Bucket="api", Key="mp", UploadId=up,
              MultipartUpload=P((1, e1), (2, '"00000000000000000000000000000000"'))))
check("Complete out of order: InvalidPartOrder", "InvalidPartOrder",
      code_of(s3.complete_multipart_upload, Bucket="api", Key="mp", UploadId=up,
              MultipartUpload=P((2, e2), (1, e1))))
r = s3.complete_multipart_upload(Bucket="api", Key="mp", UploadId=up,
                                 MultipartUpload=P((1, e1), (2, e2), (3, e3)))
md5s = b"".join(hashlib.md5(x).digest() for x in (p1, p2, p3))
check("Complete: the multipart ETag", '"%s-3"' % hashlib.md5(md5s).hexdigest(), r["ETag"])
g = s3.get_object(Bucket="api", Key="mp")
check("the multipart object reads as its parts", p1 + p2 + p3, g["Body"].read())
check("... with the upload's type and metadata", ("video/x-test", {"m": "p"}),
      (g["ContentType"], g["Metadata"]))
g = s3.get_object(Bucket="api", Key="mp", Range="bytes=%d-%d" % (5 * MiB - 3, 5 * MiB + 2))
check("a range across two parts", p1[-3:] + p2[:3], g["Body"].read())
check("the completed upload is gone: NoSuchUpload", "NoSuchUpload",
      code_of(s3.list_parts, Bucket="api", Key="mp", UploadId=up))
up = s3.create_multipart_upload(Bucket="api", Key="mp2")["UploadId"]
a1 = s3.upload_part(Bucket="api", Key="mp2", UploadId=up, PartNumber=1, Body=b"x" * 100)["ETag"]
a2 = s3.upload_part(Bucket="api", Key="mp2", UploadId=up, PartNumber=2, Body=b"y" * 100)["ETag"]
check("Complete with a small part not last: EntityTooSmall", "EntityTooSmall",
      code_of(s3.complete_multipart_upload, Bucket="api", Key="mp2", UploadId=up,
              MultipartUpload=P((1, a1), (2, a2))))
check("an upload id under another key: NoSuchUpload", ("NoSuchUpload", "NoSuchUpload"),
      (code_of(s3.upload_part, Bucket="api", Key="other", UploadId=up, PartNumber=3, Body=b"z"),
       code_of(s3.abort_multipart_upload, Bucket="api", Key="other", UploadId=up)))
s3.abort_multipart_upload(Bucket="api", Key="mp2", UploadId=up)
check("AbortMultipartUpload: then NoSuchUpload", "NoSuchUpload",
      code_of(s3.upload_part, Bucket="api", Key="mp2", UploadId=up, PartNumber=1, Body=b"z"))
check("... and no object", "NoSuchKey", code_of(s3.get_object, Bucket="api", Key="mp2"))

# keys: read-only, one bucket only
ro = client(RO_AK, RO_SK)
check("a read-only key reads", body, ro.get_object(Bucket="api", Key="obj")["Body"].read())
for desc, fn, kw in (("PutObject", ro.put_object, {"Bucket": "api", "Key": "ro", "Body": b"x"}),
                     ("DeleteObject", ro.delete_object, {"Bucket": "api", "Key": "obj"}),
                     ("CreateBucket", ro.create_bucket, {"Bucket": "robucket"}),
                     ("CreateMultipartUpload", ro.create_multipart_upload,
                      {"Bucket": "api", "Key": "ro"}),
                     ("CopyObject", ro.copy_object,
                      {"Bucket": "api", "Key": "ro", "CopySource": {"Bucket": "api", "Key": "obj"}})):
    check("a read-only key: %s is AccessDenied" % desc, "AccessDenied", code_of(fn, **kw))
check("... and changed nothing", (len(body), "NoSuchKey", "404"),
      (s3.head_object(Bucket="api", Key="obj")["ContentLength"],
       code_of(s3.get_object, Bucket="api", Key="ro"), code_of(s3.head_bucket, Bucket="robucket")))
s3.create_bucket(Bucket="only-this")
one = client(ONE_AK, ONE_SK)
one.put_object(Bucket="only-this", Key="k", Body=b"mine")
check("a key limited to one bucket uses it", b"mine",
      one.get_object(Bucket="only-this", Key="k")["Body"].read())
check("... and no other", "AccessDenied", code_of(one.get_object, Bucket="api", Key="obj"))
check("... ListBuckets shows it only its own", ["only-this"],
      [b["Name"] for b in one.list_buckets()["Buckets"]])
check("... CopyObject from another bucket is AccessDenied", "AccessDenied",
      code_of(one.copy_object, Bucket="only-this", Key="c", CopySource={"Bucket": "api", "Key": "obj"}))

# buckets
check("DeleteBucket of a bucket with names: BucketNotEmpty", "BucketNotEmpty",
      code_of(s3.delete_bucket, Bucket="only-this"))
s3.delete_object(Bucket="only-this", Key="k")
s3.delete_bucket(Bucket="only-this")
check("DeleteBucket of an empty bucket", "404", code_of(s3.head_bucket, Bucket="only-this"))
check("CreateBucket with a bad name: InvalidBucketName", "InvalidBucketName",
      code_of(s3.create_bucket, Bucket="Bad_Name"))
check("ListBuckets", True, "api" in [b["Name"] for b in s3.list_buckets()["Buckets"]])
check("an unsupported subresource: NotImplemented", "NotImplemented",
      code_of(s3.get_bucket_acl, Bucket="api"))
