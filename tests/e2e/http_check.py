#!/usr/bin/env python3
"""http_check.py - drives a running `graviton serve` for tests/e2e/test_http.sh.

    python3 http_check.py COMMAND URL [ARGS...]

Each command prints one line per check, read by the shell side:

    ok<US>description
    FAIL<US>description<US>expected<US>got
    #<US>note

and exits 0; a crash exits non-zero and counts as a failure there.  <US>
is the ASCII unit separator (0x1f), so that empty fields survive the
shell's `read`.
Standard library only.
"""

import hashlib
import http.client
import json
import math
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

TIMEOUT = 60.0


# ---- reporting ---------------------------------------------------------------

_out_lock = threading.Lock()


def _clean(s):
    return str(s).replace("\x1f", " ").replace("\n", " ")[:600]


def ok(desc):
    with _out_lock:
        print("ok\x1f%s" % _clean(desc), flush=True)


def fail(desc, expected="", got=""):
    with _out_lock:
        print("FAIL\x1f%s\x1f%s\x1f%s" % (_clean(desc), _clean(expected), _clean(got)), flush=True)


def note(text):
    with _out_lock:
        print("#\x1f%s" % _clean(text), flush=True)


def check(desc, cond, expected="", got=""):
    if cond:
        ok(desc)
    else:
        fail(desc, expected, got)
    return bool(cond)


def expect_eq(desc, want, got):
    return check(desc, want == got, repr(want), repr(got))


# ---- HTTP --------------------------------------------------------------------


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "HTTP %d %r" % (self.status, self.body[:300])


class Client:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, url, token=None, timeout=TIMEOUT):
        u = urllib.parse.urlsplit(url)
        self.host = u.hostname
        self.port = u.port
        # The server's token, as serve_start (lib.sh) exports it; token=""
        # on a request sends none.
        self.token = token if token is not None else os.environ.get("GRAVITON_TOKEN")
        self.timeout = timeout
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, token=None):
        h = dict(headers or {})
        tok = token if token is not None else self.token
        if tok and "Authorization" not in h:
            h["Authorization"] = "Bearer " + tok
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if r.will_close:
                    self.close()
                return Resp(r.status, hdrs, data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server had closed: retry once
                # on a fresh one (requests here are idempotent or PUTs of
                # content-addressed bytes).
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def blob_key(data):
    return "sha256:%s:%d" % (hashlib.sha256(data).hexdigest(), len(data))


def is_json_error(resp):
    try:
        j = resp.json()
    except Exception:
        return False
    return isinstance(j, dict) and isinstance(j.get("error"), str) and isinstance(j.get("message"), str)


def auth_headers(h):
    """h plus the server's token (GRAVITON_TOKEN), when there is one."""
    tok = os.environ.get("GRAVITON_TOKEN")
    return dict(h, Authorization="Bearer " + tok) if tok else h


def with_auth(head):
    """A raw request's bytes with the server's token (GRAVITON_TOKEN) as an
    Authorization header after the request line, unless it has one."""
    tok = os.environ.get("GRAVITON_TOKEN")
    if not tok or b"\r\n" not in head or b"\nAuthorization:" in head:
        return head
    line, rest = head.split(b"\r\n", 1)
    return line + b"\r\nAuthorization: Bearer " + tok.encode() + b"\r\n" + rest


def raw_exchange(url, payload, read_timeout=10.0, chunks=None):
    """Send raw bytes on a fresh socket and read until the server closes or
    the timeout passes.  Returns (status or None, closed, raw bytes)."""
    if chunks is None:
        payload = with_auth(payload)
    else:
        chunks = [with_auth(chunks[0])] + list(chunks[1:])
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=read_timeout)
    got = b""
    closed = False
    try:
        try:
            for piece in ([payload] if chunks is None else chunks):
                s.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            got += b
            if b"\r\n\r\n" in got:
                head = got.split(b"\r\n\r\n", 1)[0]
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if m and len(got) >= len(head) + 4 + int(m.group(1)):
                    break
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", got)
    return (int(m.group(1)) if m else None), closed, got


# ---- Prometheus text format (0.0.4), strict -----------------------------------

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
FLOAT_RE = re.compile(r"[+-]?(Inf|NaN|(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(Exception):
    pass


def parse_float(text, where):
    if not FLOAT_RE.match(text):
        raise PromError("%s: '%s' is not a valid float" % (where, text))
    return float(text)


def unescape_help(text, where):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "\\n":
                raise PromError("%s: bad escape in HELP text" % where)
            out.append("\\" if text[i + 1] == "\\" else "\n")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_sample(line, where):
    """name{l="v",...} value [timestamp] -> (name, labels dict, value)."""
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
    if not m:
        raise PromError("%s: bad metric name" % where)
    name = m.group(0)
    i = m.end()
    labels = {}
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            if i < len(line) and line[i] == "}":
                i += 1
                break
            lm = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", line[i:])
            if not lm:
                raise PromError("%s: bad label name at column %d" % (where, i + 1))
            lname = lm.group(0)
            if lname.startswith("__"):
                raise PromError("%s: reserved label name %s" % (where, lname))
            if lname in labels:
                raise PromError("%s: label %s given twice" % (where, lname))
            i += lm.end()
            if line[i:i + 2] != '="':
                raise PromError("%s: expected =\" after label %s" % (where, lname))
            i += 2
            val = []
            while True:
                if i >= len(line):
                    raise PromError("%s: unterminated label value" % where)
                c = line[i]
                if c == "\\":
                    if i + 1 >= len(line) or line[i + 1] not in '\\"n':
                        raise PromError("%s: bad escape in label value" % where)
                    val.append({"\\": "\\", '"': '"', "n": "\n"}[line[i + 1]])
                    i += 2
                elif c == '"':
                    i += 1
                    break
                else:
                    val.append(c)
                    i += 1
            labels[lname] = "".join(val)
            if i < len(line) and line[i] == ",":
                i += 1
            elif i < len(line) and line[i] == "}":
                pass
            else:
                raise PromError("%s: expected , or } after a label" % where)
    if i >= len(line) or line[i] != " ":
        raise PromError("%s: expected a space before the value" % where)
    rest = line[i + 1:].split(" ")
    if len(rest) not in (1, 2) or "" in rest:
        raise PromError("%s: expected 'value [timestamp]' after the name" % where)
    value = parse_float(rest[0], where)
    if len(rest) == 2 and not re.match(r"-?\d+\Z", rest[1]):
        raise PromError("%s: bad timestamp '%s'" % (where, rest[1]))
    return name, labels, value


def family_of(sample_name, types):
    """The declared family a sample belongs to, or None."""
    if sample_name in types and types[sample_name] != "histogram":
        return sample_name
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            base = sample_name[: -len(suffix)]
            t = types.get(base)
            if t == "histogram" or (t == "summary" and suffix != "_bucket"):
                return base
    return None


def parse_prometheus(text):
    """Parse and validate; returns {family: {"type", "help", "samples"}}."""
    if not text:
        raise PromError("empty exposition")
    if not text.endswith("\n"):
        raise PromError("the exposition does not end with a newline")
    if "\r" in text or "\0" in text:
        raise PromError("carriage return or NUL in the exposition")
    fams = {}
    types = {}
    done = set()      # families whose group has ended
    current = None    # family of the group being read
    series = set()

    def enter(fam, where):
        nonlocal current
        if fam != current:
            if fam in done:
                raise PromError("%s: lines of %s are not one group" % (where, fam))
            if current is not None:
                done.add(current)
            current = fam

    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d" % n
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                if not METRIC_NAME_RE.match(name):
                    raise PromError("%s: bad metric name '%s' in %s" % (where, name, kind))
                enter(name, where)
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if kind == "HELP":
                    if f["help"] is not None:
                        raise PromError("%s: second HELP for %s" % (where, name))
                    f["help"] = unescape_help(parts[3] if len(parts) > 3 else "", where)
                else:
                    if f["type"] is not None:
                        raise PromError("%s: second TYPE for %s" % (where, name))
                    if f["samples"]:
                        raise PromError("%s: TYPE of %s after its samples" % (where, name))
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        raise PromError("%s: unknown type '%s' for %s" % (where, t, name))
                    f["type"] = t
                    types[name] = t
            # any other comment is allowed and ignored
            continue
        if line[0] in " \t" or line != line.rstrip(" \t"):
            raise PromError("%s: leading or trailing whitespace" % where)
        name, labels, value = parse_sample(line, where)
        fam = family_of(name, types)
        if fam is None:
            raise PromError("%s: sample %s has no TYPE line before it" % (where, name))
        enter(fam, where)
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise PromError("%s: duplicate series %s%s" % (where, name, dict(labels)))
        series.add(key)
        t = types[fam]
        if t == "counter" and (math.isnan(value) or value < 0):
            raise PromError("%s: counter %s is %r" % (where, name, value))
        if t == "histogram":
            if name.endswith("_bucket") != ("le" in labels):
                raise PromError("%s: 'le' must label exactly the _bucket samples" % where)
            if name.endswith("_bucket"):
                parse_float(labels["le"], where + " (le)")
        fams[fam]["samples"].append((name, labels, value))
    for name, f in fams.items():
        if f["type"] is None:
            raise PromError("%s has HELP but no TYPE" % name)
        if f["type"] == "histogram":
            check_histogram(name, f["samples"])
    return fams


def check_histogram(name, samples):
    groups = {}
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if sname == name + "_bucket":
            g["buckets"].append((parse_float(labels["le"], name), value))
        elif sname == name + "_sum":
            g["sum"] = value
        else:
            g["count"] = value
    for rest, g in groups.items():
        where = "%s%s" % (name, dict(rest))
        if g["sum"] is None or g["count"] is None:
            raise PromError("%s: _sum or _count missing" % where)
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise PromError("%s: the last bucket is not le=\"+Inf\"" % where)
        for (le0, v0), (le1, v1) in zip(b, b[1:]):
            if not le1 > le0:
                raise PromError("%s: bucket bounds not increasing (%r, %r)" % (where, le0, le1))
            if v1 < v0:
                raise PromError("%s: cumulative counts fall (%r at le=%r, %r at le=%r)"
                                % (where, v0, le0, v1, le1))
        for _, v in b:
            if v < 0 or v != int(v):
                raise PromError("%s: bucket count %r" % (where, v))
        if b[-1][1] != g["count"]:
            raise PromError("%s: +Inf bucket %r != _count %r" % (where, b[-1][1], g["count"]))
        if g["count"] > 0 and (math.isnan(g["sum"]) or g["sum"] < 0):
            raise PromError("%s: _sum %r" % (where, g["sum"]))


def metric_value(fams, name, labels=None):
    for fam in fams.values():
        for sname, l, v in fam["samples"]:
            if sname == name and (labels is None or all(l.get(k) == w for k, w in labels.items())):
                return v
    return None


# ---- commands ----------------------------------------------------------------


def cmd_metrics_selftest():
    good = (
        "# HELP a_total A counter with \\\\ and \\n in its help.\n"
        "# TYPE a_total counter\n"
        'a_total{x="q\\"uote",y="back\\\\slash\\nnl"} 3\n'
        "a_total{x=\"2\",} 4 1700000000000\n"
        "# a free comment\n"
        "# TYPE h histogram\n"
        'h_bucket{le="0.5"} 1\n'
        'h_bucket{le="1"} 2\n'
        'h_bucket{le="+Inf"} 2\n'
        "h_sum 0.75\n"
        "h_count 2\n"
        "# TYPE g gauge\n"
        "g -1.5e-3\n"
        "g{a=\"b\"} NaN\n"
        "g{a=\"c\"} +Inf\n"
    )
    try:
        f = parse_prometheus(good)
        ok("the parser accepts a valid exposition")
        expect_eq("the parser unescapes label values", 'q"uote',
                  f["a_total"]["samples"][0][1]["x"])
    except PromError as e:
        fail("the parser accepts a valid exposition", "no error", str(e))
    bad = {
        "no TYPE": "x 1\n",
        "TYPE after sample": "# TYPE x gauge\nx 1\n# TYPE x gauge\n",
        "unknown type": "# TYPE x meter\nx 1\n",
        "bad name": "# TYPE 1x gauge\n1x 1\n",
        "bad label name": '# TYPE x gauge\nx{1a="b"} 1\n',
        "reserved label": '# TYPE x gauge\nx{__a="b"} 1\n',
        "bad escape": '# TYPE x gauge\nx{a="\\t"} 1\n',
        "unterminated value": '# TYPE x gauge\nx{a="b} 1\n',
        "bad float": "# TYPE x gauge\nx 1.2.3\n",
        "missing value": "# TYPE x gauge\nx\n",
        "duplicate series": '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n',
        "duplicate label": '# TYPE x gauge\nx{a="1",a="2"} 1\n',
        "split group": "# TYPE x gauge\n# TYPE y gauge\nx 1\n",
        "negative counter": "# TYPE c counter\nc -1\n",
        "no +Inf bucket": '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
        "falling buckets": ('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="2"} 1\n'
                            'h_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n'),
        "count mismatch": '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
        "no _sum": '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 2\n',
        "le on _count": '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count{le="1"} 2\n',
        "no final newline": "# TYPE x gauge\nx 1",
        "trailing space": "# TYPE x gauge\nx 1 \n",
        "second HELP": "# HELP x a\n# HELP x b\n# TYPE x gauge\nx 1\n",
    }
    for what, doc in bad.items():
        try:
            parse_prometheus(doc)
            fail("the parser rejects an exposition with %s" % what, "an error", "accepted")
        except PromError:
            ok("the parser rejects an exposition with %s" % what)


REQUIRED_METRICS = {
    "graviton_replication_factor": "gauge",
    "graviton_replication_under_replicated": "gauge",
    "graviton_replication_over_replicated": "gauge",
    "graviton_replication_healthy_replicas": "gauge",
    "graviton_replication_unhealthy_replicas": "gauge",
    "graviton_repair_queue_size": "gauge",
    "graviton_repair_queue_dead": "gauge",
    "graviton_repair_rate_bytes_per_second": "gauge",
    "graviton_repair_jobs_completed_total": "counter",
    "graviton_repair_jobs_failed_total": "counter",
    "graviton_sector_capacity_bytes": "gauge",
    "graviton_sector_used_bytes": "gauge",
    "graviton_sector_healthy": "gauge",
    "graviton_http_requests_total": "counter",
    "graviton_http_request_duration_seconds": "histogram",
}


def scrape(c):
    r = c.request("GET", "/metrics")
    if r.status != 200:
        raise PromError("GET /metrics: HTTP %d" % r.status)
    return parse_prometheus(r.body.decode("utf-8")), r


def cmd_metrics(url):
    c = Client(url)
    try:
        fams, r = scrape(c)
    except (PromError, UnicodeDecodeError) as e:
        fail("/metrics parses as Prometheus text format", "no error", str(e))
        return
    ok("/metrics parses as Prometheus text format (%d families, %d series)"
       % (len(fams), sum(len(f["samples"]) for f in fams.values())))
    check("/metrics has a text/plain content type with version 0.0.4",
          r.headers.get("content-type", "").startswith("text/plain")
          and "version=0.0.4" in r.headers.get("content-type", ""),
          "text/plain; version=0.0.4", r.headers.get("content-type"))
    missing = ["%s (%s)" % (n, t) for n, t in REQUIRED_METRICS.items()
               if n not in fams or fams[n]["type"] != t or not fams[n]["samples"]]
    check("/metrics has the seed's metric names with their types", not missing,
          "all of %d" % len(REQUIRED_METRICS), "missing or mistyped: %s" % ", ".join(missing))
    hist = fams.get("graviton_http_request_duration_seconds", {"samples": []})
    routes = {l.get("route") for _, l, _ in hist["samples"]}
    check("the latency histogram has several routes", len(routes) >= 3, ">= 3 routes",
          sorted(r for r in routes if r))


def cmd_under_replicated(url, sector, deadline_s):
    """Mark SECTOR unhealthy: the under-replicated gauge rises; the
    background repair brings it back to 0 before the deadline."""
    c = Client(url)
    fams, _ = scrape(c)
    before = metric_value(fams, "graviton_replication_under_replicated")
    expect_eq("under-replicated gauge is 0 before", 0.0, before)
    done0 = metric_value(fams, "graviton_repair_jobs_completed_total") or 0
    # The gauges are cached for a second after a scrape: let the window
    # pass, so the next scrape computes them right after the PATCH (before
    # the background repair can undo it).
    time.sleep(1.2)
    r = c.request("PATCH", "/v1/sectors/" + sector, body=json.dumps({"healthy": False}),
                  headers={"Content-Type": "application/json"})
    check("PATCH /v1/sectors/%s {healthy:false} -> 200" % sector, r.status == 200, 200, r)
    seen = 0
    for _ in range(3):
        fams, _ = scrape(c)
        seen = max(seen, metric_value(fams, "graviton_replication_under_replicated") or 0)
        if seen:
            break
    check("under-replicated gauge rises after the sector is marked unhealthy", seen > 0,
          "> 0", seen)
    sh = metric_value(fams, "graviton_sector_healthy", {"sector": sector})
    expect_eq("graviton_sector_healthy{sector=%s} is 0" % sector, 0.0, sh)
    t0 = time.monotonic()
    val = seen
    while time.monotonic() - t0 < deadline_s:
        time.sleep(0.25)
        fams, _ = scrape(c)
        val = metric_value(fams, "graviton_replication_under_replicated")
        if val == 0:
            break
    check("under-replicated gauge falls back to 0 after the background repair (%.1f s)"
          % (time.monotonic() - t0), val == 0, 0, val)
    done1 = metric_value(fams, "graviton_repair_jobs_completed_total") or 0
    check("graviton_repair_jobs_completed_total rose", done1 > done0, "> %r" % done0, done1)
    unhealthy = metric_value(fams, "graviton_replication_unhealthy_replicas")
    note("after repair: unhealthy_replicas=%r repair_jobs_completed=%r" % (unhealthy, done1))
    r = c.request("PATCH", "/v1/sectors/" + sector, body=json.dumps({"healthy": True}))
    check("PATCH /v1/sectors/%s {healthy:true} -> 200" % sector, r.status == 200, 200, r)


def poll_job(c, job_id, deadline_s=120):
    t0 = time.monotonic()
    j = None
    while time.monotonic() - t0 < deadline_s:
        r = c.request("GET", "/v1/jobs/%s" % job_id)
        if r.status != 200:
            return r, None
        j = r.json()
        if j.get("state") != "running":
            return r, j
        time.sleep(0.1)
    return None, j


def cmd_api(url, gv, data_dir, extra_dir):
    c = Client(url)
    rnd = random.Random(7)

    # health
    r = c.request("GET", "/healthz")
    check("GET /healthz -> 200 {status:ok}", r.status == 200 and r.json().get("status") == "ok",
          "200 ok", r)
    r = c.request("GET", "/readyz")
    check("GET /readyz -> 200", r.status == 200, 200, r)

    # put
    data = bytes(rnd.getrandbits(8) for _ in range(100000))
    key = blob_key(data)
    r = c.request("PUT", "/v1/blobs", body=data)
    j = r.json() if r.status == 201 else {}
    check("PUT /v1/blobs -> 201", r.status == 201, 201, r)
    expect_eq("PUT returns the content key", key, j.get("key"))
    expect_eq("PUT returns the size", len(data), j.get("size"))
    check("PUT reports quorum_met and its replicas",
          j.get("quorum_met") is True and isinstance(j.get("replicas"), list)
          and len(j["replicas"]) >= 2, "quorum_met true, >= 2 replicas", j)
    r = c.request("POST", "/v1/blobs", body=data)
    check("POST /v1/blobs of the same bytes -> 201, same key",
          r.status == 201 and r.json().get("key") == key, key, r)
    empty = b""
    r = c.request("PUT", "/v1/blobs", body=empty)
    check("PUT of an empty body -> 201 with the empty blob's key",
          r.status == 201 and r.json().get("key") == blob_key(empty), blob_key(empty), r)

    # get, head
    r = c.request("GET", "/v1/blobs/" + key)
    check("GET /v1/blobs/{key} -> 200 with every byte", r.status == 200 and r.body == data,
          "200 and %d identical bytes" % len(data), "HTTP %d, %d bytes" % (r.status, len(r.body)))
    expect_eq("GET Content-Type is application/octet-stream", "application/octet-stream",
              r.headers.get("content-type"))
    r = c.request("GET", "/v1/blobs/" + blob_key(empty))
    check("GET of the empty blob -> 200, no bytes", r.status == 200 and r.body == b"", "200 b''", r)
    r = c.request("HEAD", "/v1/blobs/" + key)
    check("HEAD -> 200, Content-Length = size, no body",
          r.status == 200 and r.headers.get("content-length") == str(len(data)) and r.body == b"",
          "200, %d, empty" % len(data), "%d %s %d" % (r.status, r.headers.get("content-length"), len(r.body)))
    check("GET/HEAD advertise Accept-Ranges: bytes", r.headers.get("accept-ranges") == "bytes",
          "bytes", r.headers.get("accept-ranges"))

    # ranges
    n = len(data)
    for rng, lo, hi in (("bytes=0-0", 0, 0), ("bytes=10-19", 10, 19), ("bytes=99990-", 99990, n - 1),
                        ("bytes=-5", n - 5, n - 1), ("bytes=50000-999999999", 50000, n - 1)):
        r = c.request("GET", "/v1/blobs/" + key, headers={"Range": rng})
        want_cr = "bytes %d-%d/%d" % (lo, hi, n)
        check("Range %s -> 206, Content-Range %s, the right bytes" % (rng, want_cr),
              r.status == 206 and r.headers.get("content-range") == want_cr
              and r.body == data[lo:hi + 1],
              "206 %s %d bytes" % (want_cr, hi - lo + 1),
              "%d %s %d bytes%s" % (r.status, r.headers.get("content-range"), len(r.body),
                                    "" if r.body == data[lo:hi + 1] else " (wrong bytes)"))
    r = c.request("GET", "/v1/blobs/" + key, headers={"Range": "bytes=0-%d" % (n - 1)})
    check("Range covering the whole blob -> 200 or 206 with every byte",
          r.status in (200, 206) and r.body == data, "every byte", r.status)
    for rng in ("bytes=%d-" % n, "bytes=%d-%d" % (n + 5, n + 10), "bytes=99999999999999999999-"):
        r = c.request("GET", "/v1/blobs/" + key, headers={"Range": rng})
        check("Range %s -> 416, Content-Range bytes */%d, JSON error" % (rng, n),
              r.status == 416 and r.headers.get("content-range") == "bytes */%d" % n
              and is_json_error(r), "416 bytes */%d" % n,
              "%d %s %r" % (r.status, r.headers.get("content-range"), r.body[:120]))
    for rng in ("bytes=abc", "bytes=", "bytes=-", "items=0-1", "bytes=1-2-3", "bytes=5-x",
                "bytes=9-3", "0-1", "bytes=--1"):
        r = c.request("GET", "/v1/blobs/" + key, headers={"Range": rng})
        check("malformed Range '%s' -> 400 JSON error" % rng,
              r.status == 400 and is_json_error(r) and r.json()["error"] == "invalid_range",
              "400 invalid_range", r)

    # malformed keys
    hx = hashlib.sha256(b"x").hexdigest()
    for bad in ("not-a-key", "sha256:zz:1", "sha256:%s:1" % hx[:-1], "md5:%s:1" % hx,
                "sha256:%s:-1" % hx, "sha256:%s" % hx, "sha256:%s:1x" % hx,
                "sha256:%s:99999999999999999999999" % hx, "SHA256:%s:1" % hx.upper(),
                "a" * 3000):
        shown = bad if len(bad) < 80 else bad[:20] + "...(%d chars)" % len(bad)
        for method in ("GET", "HEAD", "DELETE"):
            r = c.request(method, "/v1/blobs/" + urllib.parse.quote(bad, safe=":"))
            ok_ = r.status == 400 and (method == "HEAD" or is_json_error(r))
            check("%s malformed key '%s' -> 400" % (method, shown), ok_, 400, r)
        r = c.request("GET", "/v1/blobs/%s/replicas" % urllib.parse.quote(bad, safe=":"))
        check("GET replicas of malformed key '%s' -> 400" % shown,
              r.status == 400 and is_json_error(r), 400, r)
    unknown = blob_key(b"never stored " + os.urandom(8))
    for method in ("GET", "HEAD", "DELETE"):
        r = c.request(method, "/v1/blobs/" + unknown)
        check("%s of an unknown key -> 404" % method,
              r.status == 404 and (method == "HEAD" or is_json_error(r)), 404, r)

    # replicas: the stat --json contract
    same, last = False, None
    for _ in range(5):
        r = c.request("GET", "/v1/blobs/%s/replicas" % key)
        p = subprocess.run([gv, "--data-dir", data_dir, "stat", key, "--json"],
                           capture_output=True, timeout=60)
        try:
            last = (r.json(), json.loads(p.stdout))
        except ValueError:
            last = (r.body[:200], p.stdout[:200] + p.stderr[:200])
            break
        if r.status == 200 and last[0] == last[1]:
            same = True
            break
        time.sleep(0.5)
    check("GET /v1/blobs/{key}/replicas equals `graviton stat KEY --json`", same,
          last[1] if last else "", last[0] if last else "")
    if same:
        j = last[0]
        check("replicas document: key, size, healthy_replicas, replicas[sector, healthy, ranges]",
              j["key"] == key and j["size"] == n and j["healthy_replicas"] >= 2
              and all({"sector", "healthy", "ranges"} <= set(x) for x in j["replicas"]),
              "stat --json fields", j)

    # status
    same, last = False, None
    for _ in range(5):
        r = c.request("GET", "/v1/status")
        p = subprocess.run([gv, "--data-dir", data_dir, "status", "--json"],
                           capture_output=True, timeout=60)
        try:
            last = (r.json(), json.loads(p.stdout))
        except ValueError:
            last = (r.body[:200], p.stdout[:200] + p.stderr[:200])
            break
        if r.status == 200 and last[0] == last[1]:
            same = True
            break
        time.sleep(0.5)
    check("GET /v1/status equals `graviton status --json`", same,
          last[1] if last else "", last[0] if last else "")

    # sectors
    r = c.request("GET", "/v1/sectors")
    secs = r.json() if r.status == 200 else []
    check("GET /v1/sectors -> 200, the 6 default sectors, all healthy",
          r.status == 200 and len(secs) == 6 and all(s["healthy"] for s in secs), "6 healthy", r)
    body = json.dumps({"id": "s07", "path": os.path.join(extra_dir, "s07"), "rack": "rack-1",
                       "zone": "zone-1"})
    r = c.request("POST", "/v1/sectors", body=body, headers={"Content-Type": "application/json"})
    check("POST /v1/sectors adds s07 -> 201 with the sector object",
          r.status == 201 and isinstance(r.json(), dict) and r.json()["id"] == "s07"
          and r.json()["healthy"] is True, "201 {id: s07, healthy: true}", r)
    check("the new sector's directory exists", os.path.isdir(os.path.join(extra_dir, "s07")),
          "a directory", "none")
    r = c.request("POST", "/v1/sectors", body=body)
    check("POST the same sector again -> 409", r.status == 409 and is_json_error(r), 409, r)
    for what, b in (("not JSON", "{"), ("no id", '{"path":"/tmp/x"}'),
                    ("bad id", json.dumps({"id": "bad id!", "path": extra_dir + "/x"})),
                    ("capacity of the wrong type", json.dumps({"id": "s08", "path": extra_dir + "/s08",
                                                               "capacity": [1]})),
                    ("an unknown field", json.dumps({"id": "s08", "path": extra_dir + "/s08",
                                                     "helthy": False}))):
        r = c.request("POST", "/v1/sectors", body=b)
        check("POST /v1/sectors with %s -> 400" % what, r.status == 400 and is_json_error(r), 400, r)
    check("... the unknown field is named in the error",
          r.status == 400 and "helthy" in r.json().get("message", ""), "'helthy' named", r)
    check("... and nothing was added", not os.path.exists(os.path.join(extra_dir, "s08")),
          "no s08 directory", "s08 created")
    r = c.request("GET", "/v1/sectors")
    expect_eq("GET /v1/sectors lists 7 sectors", 7, len(r.json()) if r.status == 200 else r)
    r = c.request("PATCH", "/v1/sectors/nosuch", body='{"healthy":false}')
    check("PATCH an unknown sector -> 404", r.status == 404 and is_json_error(r), 404, r)
    r = c.request("PATCH", "/v1/sectors/s07", body='{"healthy":"no"}')
    check("PATCH with a non-boolean 'healthy' -> 400", r.status == 400 and is_json_error(r), 400, r)
    # The whole body is validated before anything changes.
    c.request("PATCH", "/v1/sectors/s07", body='{"healthy":false}')
    for body, what in (('{"healthy":true,"state":"bogus"}', "a bad state"),
                       ('{"healthy":true,"colour":"red"}', "an unknown field"),
                       ('{"healthy":true,"state":7}', "a non-string state")):
        r = c.request("PATCH", "/v1/sectors/s07", body=body)
        check("PATCH {healthy:true} with %s -> 400" % what, r.status == 400 and is_json_error(r), 400, r)
        r = c.request("GET", "/v1/sectors")
        s07 = [x for x in r.json() if x.get("id") == "s07"] if r.status == 200 else []
        check("... and s07 stays unhealthy (nothing applied)",
              len(s07) == 1 and s07[0].get("healthy") is False, "healthy false", s07)
    r = c.request("PATCH", "/v1/sectors/s07", body='{"healthy":true}')
    check("PATCH {healthy:true} -> 200 with the sector object",
          r.status == 200 and isinstance(r.json(), dict) and r.json().get("id") == "s07"
          and r.json().get("healthy") is True, "200 {id: s07, healthy: true}", r)
    for m in ("POST", "PUT", "DELETE"):
        r = c.request(m, "/healthz")
        check("%s /healthz -> 405 with Allow: GET, HEAD" % m,
              r.status == 405 and "GET" in r.headers.get("allow", ""), 405, r)

    # readyz: fewer healthy sectors than min-replicas (2) -> 503
    ids = ["s01", "s02", "s03", "s04", "s05", "s06", "s07"]
    for sid in ids[:-1]:
        r = c.request("PATCH", "/v1/sectors/" + sid, body='{"healthy":false}')
        if r.status != 200:
            fail("PATCH /v1/sectors/%s {healthy:false}" % sid, 200, r)
    r = c.request("GET", "/readyz")
    check("GET /readyz -> 503 JSON error with 1 healthy sector (min-replicas 2)",
          r.status == 503 and is_json_error(r), 503, r)
    r = c.request("GET", "/healthz")
    check("GET /healthz stays 200 while not ready", r.status == 200, 200, r)
    r = c.request("PUT", "/v1/blobs", body=b"no quorum " + os.urandom(16))
    check("PUT without enough healthy sectors -> 503 JSON error",
          r.status == 503 and is_json_error(r), 503, r)
    for sid in ids[:-1]:
        r = c.request("PATCH", "/v1/sectors/" + sid, body='{"healthy":true}')
        if r.status != 200:
            fail("PATCH /v1/sectors/%s {healthy:true}" % sid, 200, r)
    r = c.request("GET", "/readyz")
    check("GET /readyz -> 200 again once the sectors are healthy", r.status == 200, 200, r)

    # jobs
    for kind in ("repair", "scrub", "rebalance"):
        r = c.request("POST", "/v1/%s?dry_run=1" % kind)
        jid = r.json().get("job") if r.status in (200, 202) else None
        if not check("POST /v1/%s?dry_run=1 -> 202 with a job id" % kind,
                     r.status == 202 and isinstance(jid, int), "202 {job: N}", r):
            continue
        check("the job's status_url names it", r.json().get("status_url") == "/v1/jobs/%d" % jid,
              "/v1/jobs/%d" % jid, r.json().get("status_url"))
        r, j = poll_job(c, jid)
        check("GET /v1/jobs/%d reaches state done (%s)" % (jid, kind),
              j is not None and j.get("state") == "done" and j.get("kind") == kind
              and isinstance(j.get("summary"), dict) and "error" not in j["summary"],
              "state done, a summary", j if j is not None else r)
        if kind == "repair" and j:
            check("the dry-run repair summary counts the scanned keys",
                  j["summary"].get("keys_scanned", 0) >= 2 and j.get("dry_run") is True,
                  "keys_scanned >= 2, dry_run true", j["summary"])
    r = c.request("GET", "/v1/jobs/999999")
    check("GET an unknown job -> 404", r.status == 404 and is_json_error(r), 404, r)
    r = c.request("GET", "/v1/jobs/abc")
    check("GET a malformed job id -> 400", r.status == 400 and is_json_error(r), 400, r)
    r = c.request("GET", "/v1/repair")
    check("GET /v1/repair -> 405 with Allow: POST",
          r.status == 405 and "POST" in r.headers.get("allow", ""), "405 Allow: POST", r)
    r = c.request("GET", "/v1/nothing")
    check("an unknown endpoint -> 404 JSON error", r.status == 404 and is_json_error(r), 404, r)

    # delete
    r = c.request("DELETE", "/v1/blobs/" + key)
    check("DELETE /v1/blobs/{key} -> 200", r.status == 200, 200, r)
    r = c.request("GET", "/v1/blobs/" + key)
    check("GET after DELETE -> 404 JSON error", r.status == 404 and is_json_error(r), 404, r)
    r = c.request("HEAD", "/v1/blobs/" + key)
    expect_eq("HEAD after DELETE -> 404", 404, r.status)
    r = c.request("GET", "/v1/blobs/%s/replicas" % key)
    expect_eq("replicas after DELETE -> 404", 404, r.status)
    left = []
    for root, _, names in os.walk(os.path.join(data_dir, "sectors")):
        left += [nm for nm in names if nm == "%s-%d" % (key.split(":")[1], n)]
    for root, _, names in os.walk(extra_dir):
        left += [nm for nm in names if nm == "%s-%d" % (key.split(":")[1], n)]
    expect_eq("no replica file of the deleted blob is left in any sector", [], left)


def cmd_concurrent(url, nclients, nblobs):
    nclients, nblobs = int(nclients), int(nblobs)
    rnd = random.Random(1234)
    sizes = [5, 100, 511, 4096, 4097, 10000, 65536, 100000, 250000]
    blobs = []
    for i in range(nblobs):
        sz = rnd.choice(sizes) if i % 4 else rnd.randint(4, 20000)
        # distinct contents (the index first), random bytes after
        blobs.append((i.to_bytes(4, "big") + os.urandom(sz))[:sz])
    # Two identical blobs on purpose (concurrent puts of the same content)
    # and an empty one.
    if nblobs > 10:
        blobs[1] = blobs[0]
        blobs[2] = b""
    keys = [blob_key(b) for b in blobs]
    errors = []
    elock = threading.Lock()
    barrier = threading.Barrier(nclients)

    def err(msg):
        with elock:
            errors.append(msg)

    def worker(w):
        c = Client(url)
        mine = list(range(w, nblobs, nclients))
        try:
            barrier.wait(timeout=60)
            for i in mine:
                r = c.request("PUT", "/v1/blobs", body=blobs[i])
                if r.status != 201:
                    err("put %d: %r" % (i, r))
                elif r.json().get("key") != keys[i]:
                    err("put %d: key %s, want %s" % (i, r.json().get("key"), keys[i]))
            for i in mine:
                r = c.request("GET", "/v1/blobs/" + keys[i])
                if r.status != 200 or r.body != blobs[i]:
                    err("get %d: HTTP %d, %d bytes (want %d)%s" % (
                        i, r.status, len(r.body), len(blobs[i]),
                        "" if r.body == blobs[i] else ", wrong bytes"))
            # read some of the other clients' blobs too (all puts done by
            # then only for those already acknowledged; retry briefly)
            other = [(w * 7 + k * 13) % nblobs for k in range(5)]
            for i in other:
                for _ in range(100):
                    r = c.request("GET", "/v1/blobs/" + keys[i])
                    if r.status != 404:
                        break
                    time.sleep(0.1)
                if r.status != 200 or r.body != blobs[i]:
                    err("cross get %d: HTTP %d, %d bytes" % (i, r.status, len(r.body)))
        except Exception as e:  # noqa: BLE001 - report, don't crash the run
            err("client %d: %s: %s" % (w, type(e).__name__, e))
        finally:
            c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    dt = time.monotonic() - t0
    alive = sum(t.is_alive() for t in threads)
    note("%d clients, %d blobs (%d bytes): %.1f s" % (nclients, nblobs, sum(map(len, blobs)), dt))
    expect_eq("%d concurrent clients finished" % nclients, 0, alive)
    check("%d concurrent clients put and read %d blobs with no error, every byte right"
          % (nclients, nblobs), not errors, "no error",
          "%d errors: %s" % (len(errors), "; ".join(errors[:5])))
    # Afterwards, one pass over everything from a single client.
    c = Client(url)
    bad = [i for i in range(nblobs) if c.request("GET", "/v1/blobs/" + keys[i]).body != blobs[i]]
    check("all %d blobs read back afterwards" % nblobs, not bad, "none bad", "%d bad" % len(bad))
    r = c.request("GET", "/v1/status")
    distinct = len(set(keys))
    check("/v1/status counts at least the %d distinct blobs" % distinct,
          r.status == 200 and r.json()["blobs"] >= distinct, ">= %d" % distinct, r)


def cmd_auth(url, token):
    c = Client(url)
    data = b"auth " + os.urandom(32)
    key = blob_key(data)
    for path, method, body in (("/v1/status", "GET", None), ("/v1/blobs", "PUT", data),
                               ("/v1/blobs/" + key, "GET", None), ("/v1/sectors", "GET", None),
                               ("/v1/repair?dry_run=1", "POST", None),
                               ("/v1/blobs/" + key, "DELETE", None)):
        r = c.request(method, path, body=body, token="")
        check("%s %s without a token -> 401 JSON error" % (method, path),
              r.status == 401 and is_json_error(r), 401, r)
        if r.status == 401:
            check("the 401 carries WWW-Authenticate: Bearer",
                  r.headers.get("www-authenticate", "").startswith("Bearer"),
                  "Bearer ...", r.headers.get("www-authenticate"))
    for desc, hdr in (("a wrong token", "Bearer wrong-" + token),
                      ("a token one byte short", "Bearer " + token[:-1]),
                      ("the token with a byte changed", "Bearer " + token[:-1] + chr(ord(token[-1]) ^ 1)),
                      ("the token as Basic auth", "Basic " + token),
                      ("the bare token", token),
                      ("an empty bearer", "Bearer "),
                      ("the token twice", "Bearer " + token + token)):
        r = c.request("GET", "/v1/status", headers={"Authorization": hdr}, token="")
        check("GET /v1/status with %s -> 401" % desc, r.status == 401 and is_json_error(r), 401, r)
    r = c.request("PUT", "/v1/blobs", body=data, headers={"Authorization": "Bearer nope"}, token="")
    expect_eq("PUT with a wrong token -> 401", 401, r.status)
    r = c.request("GET", "/v1/blobs/" + key, token=token)
    expect_eq("the rejected PUTs stored nothing (GET with the token -> 404)", 404, r.status)
    r = c.request("GET", "/v1/status", token=token)
    check("GET /v1/status with the right token -> 200", r.status == 200, 200, r)
    r = c.request("PUT", "/v1/blobs", body=data, token=token)
    check("PUT with the right token -> 201", r.status == 201 and r.json().get("key") == key, 201, r)
    r = c.request("GET", "/v1/blobs/" + key, token=token)
    check("GET with the right token -> the bytes", r.status == 200 and r.body == data, 200, r)
    r = c.request("GET", "/healthz", token="")
    check("GET /healthz without a token -> 200", r.status == 200, 200, r)
    r = c.request("GET", "/readyz", token="")
    check("GET /readyz without a token -> 200 (probes carry none)", r.status == 200, 200, r)
    r = c.request("GET", "/metrics", token="")
    ok_ = r.status == 200
    if ok_:
        try:
            parse_prometheus(r.body.decode())
        except PromError as e:
            ok_ = False
            r = str(e)
    check("GET /metrics without a token -> 200, parses", ok_, 200, r)
    r = c.request("DELETE", "/v1/blobs/" + key, token=token)
    expect_eq("DELETE with the right token -> 200", 200, r.status)


def healthz_ok(url, after):
    c = Client(url, timeout=10)
    try:
        r = c.request("GET", "/healthz")
        check("/healthz answers after %s" % after, r.status == 200, 200, r)
    except Exception as e:  # noqa: BLE001
        fail("/healthz answers after %s" % after, 200, "%s: %s" % (type(e).__name__, e))
    finally:
        c.close()


def cmd_malformed(url, max_body, idle_s):
    max_body, idle_s = int(max_body), float(idle_s)
    c = Client(url)
    u = urllib.parse.urlsplit(url)
    hostport = "%s:%d" % (u.hostname, u.port)

    # bad keys, bad ranges (raw, beyond what http.client lets through)
    for desc, path in (("a NUL in the key", "/v1/blobs/sha256%3A%00"),
                       ("a key with a slash", "/v1/blobs/sha256:aa/bb:1"),
                       ("a percent-encoded newline", "/v1/blobs/%0a"),
                       ("a 20000-byte key", "/v1/blobs/" + "b" * 20000)):
        st, closed, raw = raw_exchange(url, ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                                             % (path, hostport)).encode())
        check("GET with %s -> 4xx" % desc, st is not None and 400 <= st < 500, "4xx",
              st if st else "closed" if closed else raw[:100])
    healthz_ok(url, "bad keys")
    data = os.urandom(5000)
    r = c.request("PUT", "/v1/blobs", body=data)
    key = blob_key(data)
    check("set-up PUT -> 201", r.status == 201, 201, r)
    for rng in ("bytes=0-1,", "bytes=\x01", "bytes=" + "9" * 5000, "bytes=-99999999999999999999999"):
        st, closed, raw = raw_exchange(url, ("GET /v1/blobs/%s HTTP/1.1\r\nHost: %s\r\nRange: %s\r\n"
                                             "Connection: close\r\n\r\n" % (key, hostport, rng)).encode())
        check("Range '%s' -> a status (not a crash)" % (rng if len(rng) < 40 else rng[:20] + "..."),
              st in (200, 206, 400, 416), "200, 206, 400 or 416", st)
    healthz_ok(url, "bad ranges")

    # header floods
    many = "".join("X-Flood-%d: %s\r\n" % (i, "v" * 100) for i in range(5000))
    st, closed, raw = raw_exchange(url, ("GET /healthz HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                                         % (hostport, many)).encode())
    check("5000 headers -> 4xx or connection closed",
          (st is not None and 400 <= st < 500) or (st is None and closed), "4xx or closed",
          st if st else raw[:100])
    healthz_ok(url, "5000 headers")
    st, closed, raw = raw_exchange(url, ("GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Huge: %s\r\n\r\n"
                                         % (hostport, "h" * 1000000)).encode())
    check("a 1 MB header -> 4xx or connection closed",
          (st is not None and 400 <= st < 500) or (st is None and closed), "4xx or closed",
          st if st else raw[:100])
    healthz_ok(url, "a 1 MB header")
    # a header that never ends, sent in pieces
    chunks = [("GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Endless: " % hostport).encode()]
    chunks += [b"e" * 65536] * 160
    st, closed, raw = raw_exchange(url, None, chunks=chunks)
    check("an endless header (10 MB) -> 4xx or connection closed",
          (st is not None and 400 <= st < 500) or (st is None and closed), "4xx or closed",
          st if st else raw[:100])
    healthz_ok(url, "an endless header")
    st, closed, raw = raw_exchange(url, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(200))
    check("a TLS hello / binary garbage -> 4xx or connection closed",
          (st is not None and 400 <= st < 500) or (st is None and closed), "4xx or closed",
          st if st else raw[:100])
    st, closed, raw = raw_exchange(url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    check("a negative Content-Length -> 4xx or connection closed",
          (st is not None and 400 <= st < 500) or (st is None and closed), "4xx or closed",
          st if st else raw[:100])
    healthz_ok(url, "garbage requests")
    # many connections at once, each flooding headers
    results = []

    def flood():
        results.append(raw_exchange(url, ("GET /healthz HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                                           % (hostport, many)).encode(), read_timeout=20))
    ts = [threading.Thread(target=flood) for _ in range(40)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    good = sum(1 for st, closed, _ in results if (st is not None and 400 <= st < 500) or (st is None and closed))
    expect_eq("40 parallel header floods each get 4xx or a closed connection", 40, good)
    healthz_ok(url, "40 parallel header floods")

    # bodies over max-body-size
    blobs_before = c.request("GET", "/v1/status").json()["blobs"]
    exact = os.urandom(max_body)
    r = c.request("PUT", "/v1/blobs", body=exact)
    check("a body of exactly max-body-size (%d) -> 201" % max_body, r.status == 201, 201, r)
    over = os.urandom(max_body + 1)
    st, closed, raw = raw_exchange(url, ("PUT /v1/blobs HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                                         % (hostport, len(over))).encode())
    body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    check("Content-Length max-body-size + 1 -> 413 JSON error before the body is sent",
          st == 413 and b'"too_large"' in body, 413, st if st else raw[:100])
    st, closed, raw = raw_exchange(url, ("PUT /v1/blobs HTTP/1.1\r\nHost: %s\r\nExpect: 100-continue\r\n"
                                         "Content-Length: %d\r\n\r\n" % (hostport, 10 * max_body)).encode())
    check("Expect: 100-continue with a body over the limit -> 413, no 100 Continue",
          st == 413, 413, raw[:100])
    try:
        r = Client(url).request("PUT", "/v1/blobs", body=over)
        st = r.status
    except (ConnectionError, OSError) as e:
        st = type(e).__name__
    check("a client that sends the whole over-limit body anyway -> 413 or closed",
          st == 413 or isinstance(st, str), "413 or closed", st)
    # without Content-Length (chunked): the limit is found while reading
    def gen():
        for _ in range(4 * max_body // 65536 + 1):
            yield os.urandom(65536)
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("PUT", "/v1/blobs", body=gen(), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        st = conn.getresponse().status
        conn.close()
    except (ConnectionError, OSError, http.client.HTTPException) as e:
        st = type(e).__name__
    check("a chunked body over max-body-size -> 413 or connection closed",
          st == 413 or isinstance(st, str), "413 or closed", st)
    healthz_ok(url, "bodies over the limit")
    for what, b in (("max-body-size + 1", over),):
        r = c.request("GET", "/v1/blobs/" + blob_key(b))
        expect_eq("the %s body was not stored (GET -> 404)" % what, 404, r.status)
    after = c.request("GET", "/v1/status").json()["blobs"]
    expect_eq("only the accepted body added a blob", blobs_before + 1, after)
    st, closed, raw = raw_exchange(url, ("POST /v1/sectors HTTP/1.1\r\nHost: %s\r\n"
                                         "Content-Length: %d\r\n\r\n" % (hostport, 200 * 1024)).encode())
    check("a 200 KiB JSON body announced to POST /v1/sectors -> 413",
          st == 413, 413, st if st else raw[:100])
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("POST", "/v1/sectors", body=iter([b"{" + b" " * 65536] * 4 + [b"}"]),
                     encode_chunked=True, headers=auth_headers({"Transfer-Encoding": "chunked"}))
        st = conn.getresponse().status
        conn.close()
    except (ConnectionError, OSError, http.client.HTTPException) as e:
        st = type(e).__name__
    check("a 256 KiB chunked JSON body to POST /v1/sectors -> 413 or connection closed",
          st == 413 or isinstance(st, str), "413 or closed", st)
    healthz_ok(url, "oversize JSON bodies")

    # slow clients: a stalled request must not hold up others, and is cut
    # after idle-timeout
    slow = []
    for i in range(20):
        s = socket.create_connection((u.hostname, u.port), timeout=idle_s * 4 + 30)
        s.sendall(("GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Sl" % hostport).encode())
        slow.append(s)
    part = os.urandom(4000)
    s = socket.create_connection((u.hostname, u.port), timeout=idle_s * 4 + 30)
    s.sendall(with_auth(("PUT /v1/blobs HTTP/1.1\r\nHost: %s\r\nContent-Length: 8000\r\n\r\n"
                         % hostport).encode()) + part)
    slow.append(s)
    t_stall = time.monotonic()
    worst = 0.0
    fresh = Client(url, timeout=10)
    for i in range(20):
        t = time.monotonic()
        r = fresh.request("GET", "/healthz")
        worst = max(worst, time.monotonic() - t)
        if r.status != 200:
            break
        time.sleep(0.02)
    check("with 21 stalled clients others are served (20 requests, slowest %.3f s)" % worst,
          r.status == 200 and worst < 2.0, "200 each within 2 s", "%s, %.3f s" % (r, worst))
    dd = hashlib.sha256(b"served meanwhile" + os.urandom(8)).hexdigest().encode()
    r = fresh.request("PUT", "/v1/blobs", body=dd)
    check("a PUT is served meanwhile", r.status == 201, 201, r)
    fresh.close()
    closed_n = 0
    deadline = t_stall + idle_s + 15
    for s in slow:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            b = s.recv(4096)
            if b == b"" or b.startswith(b"HTTP/1.1 4") or b.startswith(b"HTTP/1.1 5"):
                closed_n += 1
        except ConnectionResetError:
            closed_n += 1
        except socket.timeout:
            pass
        s.close()
    waited = time.monotonic() - t_stall
    expect_eq("the stalled connections are closed after idle-timeout (%.0f s; waited %.1f s)"
              % (idle_s, waited), len(slow), closed_n)
    check("... and not long before it", waited >= idle_s * 0.5, ">= %.1f s" % (idle_s * 0.5),
          "%.1f s" % waited)
    # the stalled upload recorded nothing
    stalled_key = blob_key(part + b"\0" * 4000)
    r = c.request("GET", "/v1/blobs/" + stalled_key)
    expect_eq("the stalled upload stored nothing", 404, r.status)
    healthz_ok(url, "slow clients")


def cmd_sigterm_load(url, ready_file, out_dir, nslow, nfull):
    """Start NFULL complete uploads (recorded) and NSLOW slow uploads that
    send half their body and keep the connection open, trickling; write
    READY_FILE; hold the slow ones until the server closes them."""
    nslow, nfull = int(nslow), int(nfull)
    u = urllib.parse.urlsplit(url)
    c = Client(url)
    full = []
    for i in range(nfull):
        data = os.urandom(1000 + 997 * i)
        r = c.request("PUT", "/v1/blobs", body=data)
        if r.status == 201 and r.json()["key"] == blob_key(data):
            full.append(blob_key(data))
            with open(os.path.join(out_dir, "full.%d" % i), "wb") as f:
                f.write(data)
        else:
            fail("complete upload %d before SIGTERM" % i, 201, r)
    c.close()
    check("%d complete uploads before SIGTERM" % nfull, len(full) == nfull, nfull, len(full))
    slow = []
    partial_keys = []
    for i in range(nslow):
        size = 200000 + i
        data = os.urandom(size)
        partial_keys.append(blob_key(data))
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        s.sendall(with_auth(("PUT /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                             % size).encode()) + data[: size // 2])
        slow.append([s, size // 2, data, False])
    with open(os.path.join(out_dir, "partial.keys"), "w") as f:
        f.write("\n".join(partial_keys) + "\n")
    # Give the server time to take every slow upload's first bytes.
    time.sleep(1.0)
    with open(ready_file + ".tmp", "w") as f:
        f.write("%d\n" % len(slow))
    os.rename(ready_file + ".tmp", ready_file)
    t0 = time.monotonic()
    open_n = len(slow)
    answered = 0
    while open_n and time.monotonic() - t0 < 60:
        for e in slow:
            s, sent, data, done = e
            if done:
                continue
            s.setblocking(False)
            try:
                # an answer or the end of the stream: the server let go
                if s.recv(4096).startswith(b"HTTP/"):
                    answered += 1
                e[3] = True
            except BlockingIOError:
                # still open: trickle one more byte (never the last)
                if sent < len(data) - 1:
                    try:
                        s.send(data[sent:sent + 1])
                        e[1] += 1
                    except OSError:
                        e[3] = True
            except OSError:
                e[3] = True
        open_n = sum(1 for e in slow if not e[3])
        time.sleep(0.05)
    for e in slow:
        e[0].close()
    expect_eq("the server closed every slow upload after SIGTERM (%.1f s)" % (time.monotonic() - t0),
              0, open_n)
    note("%d of %d slow uploads got an HTTP answer before the close" % (answered, len(slow)))


def cmd_after_sigterm(gv, data_dir, out_dir, min_replicas):
    """The data dir after the SIGTERM: nothing half-recorded."""
    min_replicas = int(min_replicas)
    p = subprocess.run([gv, "--data-dir", data_dir, "status", "--json"], capture_output=True, timeout=120)
    try:
        st = json.loads(p.stdout)
        ok("`graviton status --json` opens the data dir after the SIGTERM")
    except ValueError:
        fail("`graviton status --json` opens the data dir after the SIGTERM", "JSON",
             p.stdout[:200] + p.stderr[:300])
        st = None
    db = sqlite3.connect(os.path.join(data_dir, "graviton.db"), timeout=30)
    # Paths under the data directory are kept relative to it.
    sectors = {i: os.path.join(data_dir, p) for i, p in db.execute("SELECT id, path FROM sectors")}
    rows = db.execute("SELECT key, sector, size, complete FROM replicas").fetchall()
    nblobs = db.execute("SELECT count(*) FROM blobs").fetchone()[0]
    orphans = db.execute("SELECT key FROM blobs WHERE key NOT IN (SELECT key FROM replicas)").fetchall()
    expect_eq("no blob row without a replica row", [], orphans)
    short = db.execute("SELECT b.key, count(r.sector) FROM blobs b LEFT JOIN replicas r "
                       "ON r.key = b.key AND r.complete = 1 GROUP BY b.key HAVING count(r.sector) < ?",
                       (min_replicas,)).fetchall()
    expect_eq("every blob has at least min-replicas (%d) complete replica rows" % min_replicas, [], short)
    missing = []
    for key, sector, size, complete in rows:
        if not complete:
            continue
        hx, sz = key.split(":")[1], key.split(":")[2]
        path = os.path.join(sectors[sector], "objects", hx[:2], "%s-%s" % (hx, sz))
        if not os.path.isfile(path) or os.path.getsize(path) != int(sz):
            missing.append("%s@%s" % (key[:20], sector))
    check("every complete replica row has its object file (%d rows)" % len(rows), not missing,
          "none missing", missing[:5])
    ghost = db.execute("SELECT count(*) FROM replicas WHERE key NOT IN (SELECT key FROM blobs)").fetchone()[0]
    expect_eq("no replica row without its blob row", 0, ghost)
    partial = [k for k in open(os.path.join(out_dir, "partial.keys")).read().split() if k]
    recorded = {k for (k,) in db.execute("SELECT key FROM blobs")}
    bad = [k for k in partial if k in recorded]
    expect_eq("none of the half-sent uploads is recorded", [], bad)
    left = []
    for sid, spath in sectors.items():
        for sub in ("tmp", "partial"):
            d = os.path.join(spath, sub)
            if os.path.isdir(d):
                left += ["%s/%s/%s" % (sid, sub, n) for n in os.listdir(d)]
    expect_eq("the aborted uploads left no temporary files in the sectors", [], left[:5])
    if st is not None:
        expect_eq("status --json counts the blobs in the index", nblobs, st.get("blobs"))
    db.close()
    n_ok = n_all = 0
    for name in sorted(os.listdir(out_dir)):
        if not name.startswith("full."):
            continue
        n_all += 1
        data = open(os.path.join(out_dir, name), "rb").read()
        p = subprocess.run([gv, "--data-dir", data_dir, "get", blob_key(data)], capture_output=True,
                           timeout=120)
        if p.returncode == 0 and p.stdout == data:
            n_ok += 1
        else:
            note("get %s: exit %d %s" % (blob_key(data)[:24], p.returncode, p.stderr[:200]))
    check("every fully sent upload reads back with `graviton get` (%d)" % n_all,
          n_all > 0 and n_ok == n_all, n_all, n_ok)


# ---- limits: many clients, slow headers, drain, refusals, ranges, metrics ---


def _raise_nofile(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def _connect_from(url, src, timeout=30.0):
    """A socket to the server bound to the source address src."""
    u = urllib.parse.urlsplit(url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((u.hostname, u.port))
    return s


def _request_bytes(method, path, extra=b""):
    return with_auth(b"%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method.encode(), path.encode(), extra))


def _closed_without_answer(s, wait_s):
    """True when the server closes s (EOF or reset) without a byte of answer
    within wait_s; False when it answers or leaves it open."""
    s.settimeout(wait_s)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def cmd_many(url, nclients, key):
    """nclients connections open at once (from 127.0.1.x, 100 per address),
    then each GETs the blob `key`: every one must answer 200 with its bytes."""
    import selectors
    n = int(nclients)
    _raise_nofile(n + 256)
    want = None
    c = Client(url)
    r = c.request("GET", "/v1/blobs/" + key)
    want = r.body
    deadline = time.monotonic() + 120
    socks = []
    refused = 0
    for i in range(n):
        try:
            socks.append(_connect_from(url, "127.0.1.%d" % (i // 100 + 1)))
        except OSError:
            refused += 1
    expect_eq("%d connections opened at once" % n, 0, refused)
    req = _request_bytes("GET", "/v1/blobs/" + key)
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        try:
            s.sendall(req)
        except OSError:
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    done = 0
    good = 0
    while bufs and time.monotonic() < deadline:
        for k, _ in sel.select(timeout=1.0):
            s = k.fileobj
            try:
                b = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                b = b""
            if b:
                bufs[s] += b
                got = bufs[s]
                if b"\r\n\r\n" not in got:
                    continue
                head, body = got.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if not m or len(body) < int(m.group(1)):
                    continue
                good += head.startswith(b"HTTP/1.1 200") and body == want
            sel.unregister(s)
            del bufs[s]
            done += 1
    for s in socks:
        s.close()
    expect_eq("all %d concurrent clients got the blob (200, right bytes)" % n, n, good)


def cmd_per_address(url, limit, key):
    """`limit` downloads from 127.0.0.2 stalled (never read) hold that
    address's connections; one more from it is refused at once, while
    127.0.0.1 keeps being answered."""
    limit = int(limit)
    held = []
    for _ in range(limit):
        s = _connect_from(url, "127.0.0.2")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(_request_bytes("GET", "/v1/blobs/" + key))
        held.append(s)
    # the server has taken all of them (each answered its headers)
    for s in held:
        s.settimeout(30)
        s.recv(16)
    extra = _connect_from(url, "127.0.0.2")
    try:
        extra.sendall(_request_bytes("GET", "/healthz"))
    except OSError:
        pass
    check("connection %d from 127.0.0.2 is closed without an answer" % (limit + 1),
          _closed_without_answer(extra, 20), "closed", "answered or left open")
    extra.close()
    c = Client(url)
    expect_eq("/healthz from 127.0.0.1 while 127.0.0.2 is at its limit", 200,
              c.request("GET", "/healthz").status)
    expect_eq("/metrics from 127.0.0.1 while 127.0.0.2 is at its limit", 200,
              c.request("GET", "/metrics").status)
    c.close()
    for s in held:
        s.close()


def _metric(url, name):
    fams, _ = scrape(Client(url))
    return metric_value(fams, name)


def cmd_slow_headers(url, nslow, timeout_s):
    """nslow connections from 127.0.0.2 trickle a header byte every 0.3 s:
    the server closes each past its header timeout (well before 20 s),
    while 127.0.0.1 keeps being answered."""
    nslow, timeout_s = int(nslow), float(timeout_s)
    before = _metric(url, "graviton_http_header_timeouts_total")
    text = _request_bytes("GET", "/healthz").replace(b"\r\n\r\n", b"\r\nX-Slow: " + b"a" * 200)
    opened = time.monotonic()
    socks = [_connect_from(url, "127.0.0.2") for _ in range(nslow)]
    closed_at = {}
    answered = 0
    c = Client(url)
    pos = 0
    while len(closed_at) < nslow and time.monotonic() - opened < 20 and pos < len(text):
        for i, s in enumerate(socks):
            if i in closed_at:
                continue
            try:
                s.sendall(text[pos:pos + 1])
            except OSError:
                closed_at[i] = time.monotonic() - opened
                continue
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed_at[i] = time.monotonic() - opened
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed_at[i] = time.monotonic() - opened
            s.setblocking(True)
        pos += 1
        answered += c.request("GET", "/healthz").status == 200
        time.sleep(0.3)
    asked = pos
    check("every /healthz from 127.0.0.1 answered while %d slow-header clients trickle" % nslow,
          answered == asked and asked > 0, asked, answered)
    expect_eq("the server closed all %d slow-header connections within 20 s" % nslow,
              nslow, len(closed_at))
    if closed_at:
        check("none closed before the header timeout (%.0f s)" % timeout_s,
              min(closed_at.values()) >= timeout_s * 0.9, ">= %.1f s" % timeout_s,
              "%.1f s" % min(closed_at.values()))
    after = _metric(url, "graviton_http_header_timeouts_total")
    check("graviton_http_header_timeouts_total counts them",
          after is not None and before is not None and after - before >= nslow,
          "+%d" % nslow, "%r -> %r" % (before, after))
    for s in socks:
        s.close()


def cmd_drain(url, key, pid, out_file):
    """A slow reader downloads `key`; SIGTERM reaches the server after the
    first MiB: the download still completes, right bytes; new connections
    are refused meanwhile."""
    import signal
    u = urllib.parse.urlsplit(url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(30)
    s.connect((u.hostname, u.port))
    s.sendall(_request_bytes("GET", "/v1/blobs/" + key))
    got = b""
    signalled = False
    refused_seen = False
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        try:
            b = s.recv(65536)
        except OSError:
            break
        if not b:
            break
        got += b
        if not signalled and len(got) > (1 << 20):
            os.kill(int(pid), signal.SIGTERM)
            signalled = True
        elif signalled and not refused_seen:
            try:
                socket.create_connection((u.hostname, u.port), timeout=2).close()
            except OSError:
                refused_seen = True
        if b"\r\n\r\n" in got:
            head, body = got.split(b"\r\n\r\n", 1)
            m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                break
        time.sleep(0.005)
    s.close()
    check("SIGTERM was sent during the download", signalled, "sent", "not sent")
    body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
    expect_eq("the download in flight at SIGTERM got every byte",
              key, blob_key(body) if body else "nothing")
    check("new connections are refused while the server drains", refused_seen,
          "refused", "accepted")


def cmd_refusals(url, max_body):
    """Bodies refused mid-upload are answered with the JSON error."""
    max_body = int(max_body)
    chunk = b"x" * 65536
    n = max_body // len(chunk) + 8
    head = b"PUT /v1/blobs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [head] + [b"10000\r\n" + chunk + b"\r\n"] * n + [b"0\r\n\r\n"]
    st, closed, raw = raw_exchange(url, None, chunks=pieces)
    body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    expect_eq("chunked upload over max-body-size -> 413", 413, st)
    check("... with a JSON error", is_json_error(Resp(st or 0, {}, body)), "JSON error", body[:200])
    head = b"POST /v1/sectors HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [head] + [b"10000\r\n" + chunk + b"\r\n"] * 3 + [b"0\r\n\r\n"]
    st, closed, raw = raw_exchange(url, None, chunks=pieces)
    body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    expect_eq("chunked JSON body over 64 KiB -> 413", 413, st)
    check("... with a JSON error", is_json_error(Resp(st or 0, {}, body)), "JSON error", body[:200])


def cmd_full_put(url, size):
    """A chunked upload onto full sectors: 507 with the JSON error."""
    size = int(size)
    data = os.urandom(size)
    head = b"PUT /v1/blobs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [head]
    for i in range(0, size, 65536):
        c = data[i:i + 65536]
        pieces.append(b"%x\r\n" % len(c) + c + b"\r\n")
    pieces.append(b"0\r\n\r\n")
    st, closed, raw = raw_exchange(url, None, chunks=pieces)
    body = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    expect_eq("chunked upload onto full sectors -> 507", 507, st)
    r = Resp(st or 0, {}, body)
    check("... with the JSON error no_space", is_json_error(r) and r.json()["error"] == "no_space",
          "no_space", body[:200])


def cmd_ranges(url):
    c = Client(url)
    data = bytes(range(100))
    r = c.request("PUT", "/v1/blobs", body=data)
    key = r.json()["key"]
    path = "/v1/blobs/" + key

    def get(rng, method="GET", headers=None):
        h = dict(headers or {})
        if rng is not None:
            h["Range"] = rng
        return c.request(method, path, headers=h)

    for rng, want, body in [
        ("bytes=2-18446744073709551615", 206, data[2:]),
        ("bytes=2-18446744073709551616", 206, data[2:]),
        ("bytes=2-99999999999999999999999999", 206, data[2:]),
        ("bytes=-7", 206, data[-7:]),
        ("Bytes=0-1", 206, data[0:2]),
        ("BYTES=10-19", 206, data[10:20]),
        ("bytes=-1000", 200, data),
    ]:
        r = get(rng)
        check("Range %s -> %d" % (rng, want), r.status == want and r.body == body,
              "%d, %d bytes" % (want, len(body)), "%d, %d bytes" % (r.status, len(r.body)))
    r = get("bytes=-7")
    expect_eq("Range bytes=-7: Content-Range", "bytes 93-99/100", r.headers.get("content-range"))
    for rng in ("bytes=100-", "bytes=200-300", "bytes=-0", "bytes=18446744073709551616-"):
        r = get(rng)
        check("Range %s -> 416 with Content-Range bytes */100" % rng,
              r.status == 416 and r.headers.get("content-range") == "bytes */100",
              "416 bytes */100", "%d %s" % (r.status, r.headers.get("content-range")))
    for rng in ("bytes=5-2", "items=0-1", "bytes=1-2-3", "bytes=x"):
        expect_eq("Range %s -> 400" % rng, 400, get(rng).status)
    tok = os.environ.get("GRAVITON_TOKEN", "")
    for scheme in ("bearer", "BEARER", "Bearer"):
        r = c.request("GET", path, headers={"Authorization": scheme + " " + tok})
        expect_eq("Authorization scheme %r is accepted" % scheme, 200, r.status)
    g = get("bytes=-7")
    h = get("bytes=-7", method="HEAD")
    check("HEAD with a Range answers as GET (206, same headers, no body)",
          h.status == g.status and not h.body and all(
              h.headers.get(k) == g.headers.get(k)
              for k in ("content-range", "content-length", "etag", "content-type")),
          g.headers, "%d %r" % (h.status, h.headers))
    st, closed, raw = raw_exchange(url, b"PUT /v1/blobs HTTP/1.1\r\nHost: t\r\n"
                                   b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde")
    expect_eq("two different Content-Length headers -> 400", 400, st)
    return key


def cmd_head_unhealthy(url, key):
    c = Client(url)
    g = c.request("GET", "/v1/blobs/" + key)
    h = c.request("HEAD", "/v1/blobs/" + key)
    check("with no healthy replica GET -> 503", g.status == 503, 503, g.status)
    check("... and HEAD -> the same status, no body", h.status == g.status and not h.body,
          g.status, "%d %d bytes" % (h.status, len(h.body)))


def cmd_metrics_cache(url, nscrapers):
    """nscrapers parallel scrapes share the cached gauges: at most one
    computation per started second of the burst; past the window the
    gauges move."""
    n = int(nscrapers)
    before = _metric(url, "graviton_metrics_index_scans_total")
    blobs0 = _metric(url, "graviton_blobs")
    errors = []

    def worker():
        try:
            scrape(Client(url))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    elapsed = time.monotonic() - t0
    after = _metric(url, "graviton_metrics_index_scans_total")
    expect_eq("%d parallel scrapes all parse" % n, [], errors)
    bound = 2 + math.ceil(elapsed)
    check("%d parallel scrapes in %.2f s computed the gauges at most %d times" % (n, elapsed, bound),
          after is not None and before is not None and after - before <= bound,
          "<= %d" % bound, "%r -> %r" % (before, after))
    Client(url).request("PUT", "/v1/blobs", body=os.urandom(1000))
    deadline = time.monotonic() + 30
    blobs1 = blobs0
    while time.monotonic() < deadline and blobs1 <= blobs0:
        time.sleep(0.3)
        blobs1 = _metric(url, "graviton_blobs")
    check("graviton_blobs rises after a put, past the cache window", blobs1 > blobs0,
          "> %r" % blobs0, blobs1)
    final = _metric(url, "graviton_metrics_index_scans_total")
    check("... computed afresh", final is not None and final > after, "> %r" % after, final)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    table = {
        "metrics-selftest": cmd_metrics_selftest,
        "metrics": cmd_metrics,
        "under-replicated": lambda url, sector, dl: cmd_under_replicated(url, sector, float(dl)),
        "api": cmd_api,
        "concurrent": cmd_concurrent,
        "auth": cmd_auth,
        "malformed": cmd_malformed,
        "sigterm-load": cmd_sigterm_load,
        "after-sigterm": cmd_after_sigterm,
        "many": cmd_many,
        "per-address": cmd_per_address,
        "slow-headers": cmd_slow_headers,
        "drain": cmd_drain,
        "refusals": cmd_refusals,
        "full-put": cmd_full_put,
        "ranges": cmd_ranges,
        "head-unhealthy": cmd_head_unhealthy,
        "metrics-cache": cmd_metrics_cache,
    }
    if cmd not in table:
        sys.exit("http_check.py: unknown command %s" % cmd)
    table[cmd](*args)


if __name__ == "__main__":
    main(sys.argv)
