"""s3_sign.py - a small SigV4 signer (header form) of the tests' own, for what
boto3 will not send: aws-chunked bodies, tampered payloads, skewed clocks,
other Host headers.  Also used by bench/bench_s3.sh.  Standard library only.
"""

import datetime
import hashlib
import hmac
import http.client
import urllib.parse


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(sk, day, region="us-east-1"):
    k = hmac256(("AWS4" + sk).encode(), day)
    for part in (region, "s3", "aws4_request"):
        k = hmac256(k, part)
    return k


def quote(s, safe="-_.~"):
    return urllib.parse.quote(s, safe=safe)


def sign(method, path, host, ak, sk, query=None, headers=None, payload="UNSIGNED-PAYLOAD",
         when=None):
    """The request's headers (Authorization included), its query string,
    and what the body's signing needs: (headers, query, key, seed, date, scope)."""
    when = when or datetime.datetime.utcnow()
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    h = {"host": host, "x-amz-date": amz, "x-amz-content-sha256": payload}
    for k, v in (headers or {}).items():
        h[k.lower()] = v
    q = sorted((quote(k), quote(v)) for k, v in (query or {}).items())
    cq = "&".join("%s=%s" % kv for kv in q)
    names = sorted(h)
    creq = "\n".join([method, quote(path, safe="-_.~/"), cq,
                      "".join("%s:%s\n" % (n, h[n].strip()) for n in names),
                      ";".join(names), h["x-amz-content-sha256"]])
    scope = "%s/us-east-1/s3/aws4_request" % day
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = signing_key(sk, day)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ak, scope, ";".join(names), sig)
    return h, cq, key, sig, amz, scope


def send(url, method, path, query=None, body=b"", headers=None, payload=None, ak="", sk="",
         host=None, when=None, tamper=None, conn=None):
    """Sign (header form) and send; returns (status, headers, body).
    payload: the x-amz-content-sha256 to sign (default: the body's digest);
    tamper(key, seed, date, scope) may return the body to send instead;
    conn: a kept-alive http.client connection to use."""
    u = urllib.parse.urlsplit(url)
    host = host or "%s:%d" % (u.hostname, u.port)
    h, cq, key, sig, amz, scope = sign(method, path, host, ak, sk, query, headers,
                                       payload or hashlib.sha256(body).hexdigest(), when)
    if tamper:
        body = tamper(key, sig, amz, scope)
    c = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.putrequest(method, quote(path, safe="-_.~/") + ("?" + cq if cq else ""), skip_host=True,
                 skip_accept_encoding=True)
    for k, v in h.items():
        c.putheader(k, v)
    if method in ("PUT", "POST") and "content-length" not in h:
        c.putheader("content-length", str(len(body)))
    c.endheaders()
    if body:
        c.send(body)
    r = c.getresponse()
    data = r.read()
    if not conn:
        c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
