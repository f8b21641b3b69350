#!/usr/bin/env python3
"""contract_check.py - helpers of test_contract.sh.

  contract_check.py http URL DIR KEY MISSING BLOB NAME...
      fetch the HTTP answers matching the commands NAME (put, stat, status,
      sectors, repair/scrub/presence/rebalance as jobs polled to their end, sector
      add/set-health/drain (of $CONTRACT_DRAIN)/remove, the errors) into
      DIR/NAME.http.json, the status into DIR/NAME.http.status
  contract_check.py compare DIR NAME...
      for each NAME, compare the shapes (field names and value types, nested)
      of DIR/NAME.local.json, DIR/NAME.remote.json and DIR/NAME.http.json;
      print "ok - ..." or "FAIL - ..." lines

Only loopback is ever contacted.  Values may differ (durations, job ids,
sector ids); a field may be null in one document and set in another only
where the API says it may be null.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

# Fields the API documents as "null or a value".
NULLABLE = {"created", "last_verified", "reason", "source", "summary", "next"}


def shape(v, path, out, nullable=False):
    """Flatten v into {path: type}; lists merge their elements' shapes."""
    if v is None:
        out.setdefault(path, set()).add("null")
    elif isinstance(v, bool):
        out.setdefault(path, set()).add("bool")
    elif isinstance(v, int):
        out.setdefault(path, set()).add("int")
    elif isinstance(v, float):
        out.setdefault(path, set()).add("float")
    elif isinstance(v, str):
        out.setdefault(path, set()).add("str")
    elif isinstance(v, list):
        out.setdefault(path, set()).add("list")
        for x in v:
            shape(x, path + "[]", out)
    elif isinstance(v, dict):
        out.setdefault(path, set()).add("object")
        for k, x in v.items():
            shape(x, path + "." + k, out)
    return out


def compatible(a, b, path):
    """Two type sets agree; null stands in for anything where allowed."""
    leaf = path.rsplit(".", 1)[-1].rstrip("[]")
    if leaf in NULLABLE:
        a, b = a - {"null"}, b - {"null"}
        return not a or not b or a == b
    return a == b


def compare(da, db, na, nb):
    """Problems between two documents' shapes (paths under an empty list
    in one document are not compared)."""
    sa, sb = shape(da, "$", {}), shape(db, "$", {})
    problems = []
    for p in sorted(set(sa) | set(sb)):
        parent = p.rsplit("[]", 1)[0] if "[]" in p else None
        if p not in sa or p not in sb:
            # inside a list one side has no elements of: nothing to compare
            if parent is not None and any(
                    q.startswith(parent + "[]") for q in (sb if p not in sa else sa)) and not any(
                    q.startswith(parent + "[]") for q in (sa if p not in sa else sb)):
                continue
            problems.append("%s only in %s" % (p, na if p in sa else nb))
        elif not compatible(sa[p], sb[p], p):
            problems.append("%s: %s in %s, %s in %s" % (p, "/".join(sorted(sa[p])), na,
                                                          "/".join(sorted(sb[p])), nb))
    return problems


def cmd_compare(d, names):
    failed = 0
    for name in names:
        docs = {}
        for side in ("local", "remote", "http"):
            p = os.path.join(d, "%s.%s.json" % (name, side))
            try:
                with open(p) as f:
                    docs[side] = json.loads(f.read())
            except (OSError, ValueError) as e:
                print("FAIL - %s: %s output is not one JSON document: %s" % (name, side, e))
                failed += 1
        if len(docs) != 3:
            continue
        for a, b in (("local", "remote"), ("local", "http")):
            pr = compare(docs[a], docs[b], a, b)
            if pr:
                print("FAIL - %s: %s and %s differ: %s" % (name, a, b, "; ".join(pr[:8])))
                failed += 1
            else:
                print("ok   - %s: %s and %s have the same fields and types" % (name, a, b))
    return 1 if failed else 0


def request(url, method, path, body=None, token=None):
    u = urllib.parse.urlsplit(url)
    assert u.hostname in ("127.0.0.1", "localhost"), "loopback only"
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {}
    tok = os.environ.get("GRAVITON_TOKEN") if token is None else token
    if tok:
        h["Authorization"] = "Bearer " + tok
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def save(d, name, status, data):
    with open(os.path.join(d, name + ".http.json"), "wb") as f:
        f.write(data)
    with open(os.path.join(d, name + ".http.status"), "w") as f:
        f.write("%d\n" % status)


def job(url, kind, dry_run, method="POST", path=None, body=None):
    """Start a job (POST /v1/KIND, or METHOD PATH with a JSON body) and poll
    it to its end."""
    if path is None:
        path = "/v1/%s%s" % (kind, "?dry_run=1" if dry_run else "")
    st, data = request(url, method, path, body=None if body is None else json.dumps(body))
    if st != 202:
        return st, data
    jid = json.loads(data)["job"]
    deadline = time.time() + 120
    while time.time() < deadline:
        st, data = request(url, "GET", "/v1/jobs/%d" % jid)
        if st != 200 or json.loads(data).get("state") != "running":
            return st, data
        time.sleep(0.1)
    return 0, b"job did not finish within 120 s"


def cmd_http(url, d, key, missing, blob, names):
    # the sector the drain plans for (one holding a replica), from the script
    drain = os.environ.get("CONTRACT_DRAIN", "s01")
    steps = {
        "sector_add": lambda: request(url, "POST", "/v1/sectors", body=json.dumps(
            {"id": "x_http", "path": os.path.join(d, "x_http")})),
        "sector_health": lambda: request(url, "PATCH", "/v1/sectors/x_http",
                                         body=json.dumps({"healthy": False})),
        "sector_drain": lambda: job(url, "drain", True, "PATCH",
                                    "/v1/sectors/%s?dry_run=1" % drain, {"state": "draining"}),
        "sector_remove": lambda: request(url, "DELETE", "/v1/sectors/x_http"),
        "err_sector_missing": lambda: request(url, "PATCH", "/v1/sectors/nope",
                                              body=json.dumps({"healthy": False})),
        "err_sector_exists": lambda: request(url, "POST", "/v1/sectors", body=json.dumps(
            {"id": "s01", "path": os.path.join(d, "s01")})),
        "err_drain_missing": lambda: request(url, "PATCH", "/v1/sectors/nope",
                                             body=json.dumps({"state": "draining"})),
        "put": lambda: request(url, "PUT", "/v1/blobs", body=open(blob, "rb").read()),
        "stat": lambda: request(url, "GET", "/v1/blobs/%s/replicas" % key),
        "status": lambda: request(url, "GET", "/v1/status"),
        "sectors": lambda: request(url, "GET", "/v1/sectors"),
        "repair": lambda: job(url, "repair", True),
        "scrub": lambda: job(url, "scrub", False),
        "presence": lambda: job(url, "scrub/presence", False),
        "rebalance": lambda: job(url, "rebalance", True),
        "queue": lambda: request(url, "GET", "/v1/repair/queue"),
        "err_missing": lambda: request(url, "GET", "/v1/blobs/%s/replicas" % missing),
        "err_key": lambda: request(url, "GET", "/v1/blobs/sha256:00:1/replicas"),
        "err_token": lambda: request(url, "GET", "/v1/status", token="wrong-token"),
        "ls": lambda: request(url, "GET", "/v1/blobs?limit=1"),
        "gc": lambda: job(url, "gc", True),
        "err_rm_missing": lambda: request(url, "DELETE", "/v1/blobs/%s" % missing),
    }
    for n in names:
        save(d, n, *steps[n]())
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        sys.exit(cmd_compare(sys.argv[2], sys.argv[3:]))
    if sys.argv[1] == "http":
        sys.exit(cmd_http(*sys.argv[2:7], sys.argv[7:]))
    sys.exit("usage: contract_check.py compare DIR NAME... | http URL DIR KEY MISSING BLOB NAME...")
