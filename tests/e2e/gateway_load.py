#!/usr/bin/python3
"""gateway_load.py - clients putting and reading blobs through several
gateways at once (tests/e2e/test_gateways.sh, bench/bench_gateways.sh).

    gateway_load.py [options] URL [URL...]

Blob j (0 <= j < --blobs) has bytes drawn from a generator seeded with
(--seed, j), so every run and every process agrees on them.  --clients
threads share the blobs (j modulo the count).  Each PUT goes to
URL[j mod len(URLs)]; with --read-back, the blob is then read through the
next URL at once and compared.  The first --same blobs are put through
two gateways at the same moment (two connections released together).

With --min-seconds S the clients go round their blobs again (puts of
bytes already stored) until S seconds have passed, or, with --until FILE,
until FILE exists (at most S seconds).

Prints one JSON document: puts, put_errors (by status), read_mismatches,
seconds, puts_per_second, first_error_s, last_error_s and last_put_s
(seconds from the start; null when none), distinct_keys (with --keys
FILE: one key per line, written there).  Sends $GRAVITON_TOKEN as a bearer token.  Exit 0 unless
a request could not be made at all.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def blob(seed, j, smin, smax):
    r = random.Random("%d/%d" % (seed, j))
    n = smin if smin == smax else r.randint(smin, smax)
    return r.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def key_of(data):
    return "sha256:%s:%d" % (hashlib.sha256(data).hexdigest(), len(data))


class Conn:
    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.c = None
        tok = os.environ.get("GRAVITON_TOKEN", "")
        self.head = {"Authorization": "Bearer " + tok} if tok else {}

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.c.request(method, path, body=body, headers=self.head)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("urls", nargs="+")
    ap.add_argument("--blobs", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--same", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size-min", type=int, default=1024)
    ap.add_argument("--size-max", type=int, default=16384)
    ap.add_argument("--read-back", action="store_true")
    ap.add_argument("--keys")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--min-seconds", type=float, default=0)
    ap.add_argument("--until")
    a = ap.parse_args()

    lock = threading.Lock()
    res = {"puts": 0, "put_errors": {}, "read_mismatches": [], "keys": {},
           "first_error_s": None, "last_error_s": None, "last_put_s": None}
    fatal = []
    t0 = time.monotonic()

    def put_one(conn, data):
        st, body = conn.request("PUT", "/v1/blobs", data)
        now = round(time.monotonic() - t0, 3)
        with lock:
            if st in (200, 201):
                res["puts"] += 1
                res["last_put_s"] = now
            else:
                res["put_errors"][str(st)] = res["put_errors"].get(str(st), 0) + 1
                if res["first_error_s"] is None:
                    res["first_error_s"] = now
                res["last_error_s"] = now
        return st

    def client(i):
        conns = [Conn(u, a.timeout) for u in a.urls]
        twins = [Conn(u, a.timeout) for u in a.urls]
        try:
            while True:
                one_round(i, conns, twins)
                if time.monotonic() - t0 >= a.min_seconds:
                    break
                if a.until and os.path.exists(a.until):
                    break
        except Exception as e:  # noqa: BLE001 - reported, fails the run
            with lock:
                fatal.append("client %d: %r" % (i, e))

    def one_round(i, conns, twins):
        if True:
            for j in range(i, a.blobs, a.clients):
                if a.until and os.path.exists(a.until):
                    return
                data = blob(a.seed, j, a.size_min, a.size_max)
                g = j % len(a.urls)
                if j < a.same and len(a.urls) > 1:
                    # The same bytes through two gateways at once.
                    go = threading.Barrier(2)
                    out = [None, None]

                    def twin(k, conn):
                        go.wait()
                        out[k] = put_one(conn, data)

                    ts = [threading.Thread(target=twin, args=(0, conns[g])),
                          threading.Thread(target=twin,
                                           args=(1, twins[(g + 1) % len(a.urls)]))]
                    for t in ts:
                        t.start()
                    for t in ts:
                        t.join()
                    st = 201 if 201 in out or 200 in out else out[0]
                else:
                    st = put_one(conns[g], data)
                if st not in (200, 201):
                    continue
                k = key_of(data)
                with lock:
                    res["keys"][k] = j
                if a.read_back:
                    other = conns[(g + 1) % len(a.urls)]
                    rst, got = other.request("GET", "/v1/blobs/" + k)
                    if rst != 200 or got != data:
                        with lock:
                            res["read_mismatches"].append(
                                {"key": k, "status": rst, "bytes": len(got)})

    ts = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    if a.keys:
        with open(a.keys, "w") as f:
            for k in sorted(res["keys"]):
                f.write(k + "\n")
    out = {
        "puts": res["puts"],
        "put_errors": res["put_errors"],
        "read_mismatches": res["read_mismatches"][:10],
        "nread_mismatches": len(res["read_mismatches"]),
        "distinct_keys": len(res["keys"]),
        "seconds": round(dt, 3),
        "puts_per_second": round(res["puts"] / dt, 1) if dt > 0 else 0,
        "fatal": fatal,
        "first_error_s": res["first_error_s"],
        "last_error_s": res["last_error_s"],
        "last_put_s": res["last_put_s"],
    }
    print(json.dumps(out, sort_keys=True))
    return 1 if fatal else 0


if __name__ == "__main__":
    sys.exit(main())
