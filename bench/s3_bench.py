#!/usr/bin/python3
"""s3_bench.py - the S3 front door's figures against the native API, for
bench/bench_s3.sh.  The same small client (http.client, kept-alive
connections, one process per client) drives both, so the client's own
cost is the same on each side; S3 requests are signed (SigV4, unsigned
payload), native ones carry the bearer token.

    s3_bench.py small S3_URL AK SK NATIVE_URL TOKEN CLIENTS SECONDS
        4 KiB PutObject vs 4 KiB PUT /v1/blobs from CLIENTS clients: puts/s
    s3_bench.py list S3_URL AK SK BUCKET
        ListObjectsV2 pages of 1,000 over the whole bucket: names/s
    s3_bench.py copy S3_URL AK SK BUCKET KEY N
        CopyObject of KEY N times: median and worst milliseconds
"""

import http.client
import multiprocessing
import os
import re
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import s3_sign  # noqa: E402


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=60)


def small_worker(args):
    kind, url, ak, sk, token, idx, secs = args
    c = conn(url)
    n, seq = 0, 0
    end = time.monotonic() + secs
    prefix = os.urandom(16)
    while time.monotonic() < end:
        body = prefix + seq.to_bytes(8, "big") + bytes(4096 - 24)
        seq += 1
        if kind == "s3":
            st, _, _ = s3_sign.send(url, "PUT", "/bench/w%d/%d" % (idx, seq), body=body,
                                    payload="UNSIGNED-PAYLOAD", ak=ak, sk=sk, conn=c)
        else:
            c.request("PUT", "/v1/blobs", body=body, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            st = r.status
        if st not in (200, 201):
            raise SystemExit("%s put failed: %d" % (kind, st))
        n += 1
    return n


def small(s3, ak, sk, native, token, clients, secs):
    s3_sign.send(s3, "PUT", "/bench", ak=ak, sk=sk)
    out = {}
    for kind, url in (("native", native), ("s3", s3)):
        with multiprocessing.Pool(clients) as p:
            t0 = time.monotonic()
            counts = p.map(small_worker, [(kind, url, ak, sk, token, i, secs) for i in range(clients)])
            out[kind] = sum(counts) / (time.monotonic() - t0)
    print("native %.0f s3 %.0f" % (out["native"], out["s3"]))


def listing(url, ak, sk, bucket):
    c = conn(url)
    token, names, pages = None, 0, 0
    t0 = time.monotonic()
    while True:
        q = {"list-type": "2", "max-keys": "1000"}
        if token:
            q["continuation-token"] = token
        st, _, data = s3_sign.send(url, "GET", "/" + bucket, query=q, ak=ak, sk=sk, conn=c,
                                   payload="UNSIGNED-PAYLOAD")
        if st != 200:
            raise SystemExit("list failed: %d %s" % (st, data[:200]))
        names += data.count(b"<Key>")
        pages += 1
        m = re.search(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>", data)
        if not m:
            break
        token = m.group(1).decode()
    dt = time.monotonic() - t0
    print("names %d pages %d seconds %.2f rate %.0f" % (names, pages, dt, names / dt))


def copy(url, ak, sk, bucket, key, n):
    c = conn(url)
    ms = []
    for i in range(n):
        t0 = time.monotonic()
        st, _, data = s3_sign.send(url, "PUT", "/%s/copy-%d" % (bucket, i), ak=ak, sk=sk, conn=c,
                                   headers={"x-amz-copy-source": "/%s/%s" % (bucket, key)},
                                   payload="UNSIGNED-PAYLOAD")
        ms.append((time.monotonic() - t0) * 1000)
        if st != 200:
            raise SystemExit("copy failed: %d %s" % (st, data[:200]))
    print("median_ms %.1f worst_ms %.1f" % (statistics.median(ms), max(ms)))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "small":
        small(*sys.argv[2:7], int(sys.argv[7]), float(sys.argv[8]))
    elif cmd == "list":
        listing(*sys.argv[2:6])
    elif cmd == "copy":
        copy(*sys.argv[2:7], int(sys.argv[7]))
