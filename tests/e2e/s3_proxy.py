# tests/e2e/s3_proxy.py - a loopback HTTP proxy in front of an S3 server,
# for the s3 sector tests (s3_door_lib.sh: door_proxy).
#
#   python3 s3_proxy.py UPSTREAM_PORT PORTFILE LOG
#
# Listens on an ephemeral 127.0.0.1 port (written to PORTFILE once it
# accepts) and forwards every request as it is (headers included, so
# SigV4 signatures still hold) to 127.0.0.1:UPSTREAM_PORT.  LOG gets one
# line per request as it starts: METHOD HOST PATH.
import http.client, http.server, os, socketserver, sys, threading

up, portfile, logfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
log = open(logfile, "a", buffering=1)


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def go(self):
        with lock:
            log.write("%s %s %s\n" % (self.command, self.headers.get("Host", ""), self.path))
        c = http.client.HTTPConnection("127.0.0.1", up, timeout=120)
        c.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() != "expect":
                c.putheader(k, v)
        c.endheaders()
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            b = self.rfile.read(min(left, 1 << 20))
            if not b:
                return
            c.send(b)
            left -= len(b)
        r = c.getresponse()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection"):
                self.send_header(k, v)
        if r.getheader("Content-Length") is None:
            data = r.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.end_headers()
        while self.command != "HEAD":
            b = r.read(1 << 20)
            if not b:
                break
            self.wfile.write(b)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = go


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


s = S(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
