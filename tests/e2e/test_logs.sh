#!/usr/bin/env bash
# Structured logs of `serve`: with graviton.log.format = json every stderr
# line is one JSON object whose fields are the event's own (not one message
# string), stamped with an RFC 3339 UTC time in milliseconds; the lifecycle
# (listening, runs of repair and scrub, a sector going down, reloads, stop)
# is logged at info or above; a reload that fails says why as an event.
source "$(dirname "$0")/lib.sh"

must gv init --sectors 4 --racks 2 --zones 2
printf 'data\n' >"$T/f"
must gv put "$T/f"
CONF=$T/graviton.conf
cat >"$CONF" <<'EOF'
graviton.log.format = json
graviton.health { interval = 100ms, down-after = 1s, up-after = 1s }
EOF
LOG=$T/serve.log
must serve_start "$LOG" --config "$CONF"

# wait_for PATTERN: LOG has a line matching PATTERN within 30 s.
wait_for() {
	local i

	for ((i = 0; i < 300; i++)); do
		grep -q -- "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}

# A sector taken away goes down; a bad configuration then a good one.
S=$(replica_sectors "$(key_of "$T/f")" | head -n 1)
mv "$D/sectors/$S" "$T/away"
expect_true "the detector logs the sector it lost" wait_for '"event":"sector_down"'
printf 'graviton.log.format = json\ngraviton.server {\n' >"$CONF"
kill -HUP "$SERVE_PID"
expect_true "a failed reload is logged" wait_for '"event":"reload","result":"failed"'
printf 'graviton.log.format = json\n' >"$CONF"
kill -HUP "$SERVE_PID"
expect_true "a reload is logged" wait_for '"event":"reload","result":"ok"'
serve_stop TERM
expect_eq "serve stops cleanly" 0 "$SERVE_RC"

# pylog CHECK: run a check over the parsed lines (prints what it finds).
out=$("$PY" - "$LOG" "$S" <<'PYEOF'
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
docs, bad = [], []
for l in lines:
    try:
        d = json.loads(l)
        if not isinstance(d, dict):
            raise ValueError
        docs.append(d)
    except ValueError:
        bad.append(l)
print("unparsed", len(bad), bad[:2])
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
print("badts", sum(1 for d in docs if not ts.match(str(d.get("ts")))))
print("keys", sum(1 for d in docs if list(d)[:3] != ["ts", "level", "event"]))
print("msg", sum(1 for d in docs if "msg" in d or d.get("event") == "message"))
def first(ev, **kw):
    for d in docs:
        if d.get("event") == ev and all(d.get(k) == v for k, v in kw.items()):
            return d
    return {}
ls = first("listening")
print("listening", ls.get("level"), ls.get("auth"), str(ls.get("url", "")).startswith("http://127.0.0.1:"))
rs = first("repair_start")
print("repair_start", rs.get("level"), type(rs.get("parallel_jobs")).__name__)
re_ = first("repair_end")
print("repair_end", re_.get("level"), type(re_.get("bytes")).__name__)
print("scrub_end", first("scrub_end").get("level"))
sd = first("sector_down")
print("sector_down", sd.get("level"), sd.get("sector") == sys.argv[2], bool(sd.get("reason")))
rf = first("reload", result="failed")
print("reload_failed", rf.get("level"), rf.get("file", "").endswith("graviton.conf"),
      "graviton.conf:" in rf.get("error", ""))
print("reload_ok", first("reload", result="ok").get("level"))
print("stopping", first("stopping").get("level"), first("stopping").get("signal"))
print("stopped", first("stopped").get("level"))
PYEOF
)
note "$out"
expect_match "every line is a JSON object" '^unparsed 0 ' "$(grep ^unparsed <<<"$out")"
expect_match "every timestamp is RFC 3339 UTC with milliseconds" '^badts 0$' "$(grep ^badts <<<"$out")"
expect_match "every line starts ts, level, event" '^keys 0$' "$(grep ^keys <<<"$out")"
expect_match "no line is one message string" '^msg 0$' "$(grep ^msg <<<"$out")"
expect_match "the start is an info event with its fields" '^listening info on True$' \
	"$(grep ^listening <<<"$out")"
expect_match "repair runs are info events with numbers" '^repair_start info int$' \
	"$(grep ^repair_start <<<"$out")"
expect_match "... and their end too" '^repair_end info int$' "$(grep ^repair_end <<<"$out")"
expect_match "scrub runs are logged at info" '^scrub_end info$' "$(grep ^scrub_end <<<"$out")"
expect_match "a sector down is a warning naming it and why" '^sector_down warn True True$' \
	"$(grep ^sector_down <<<"$out")"
expect_match "a failed reload is an error event with the file and the parse error" \
	'^reload_failed error True True$' "$(grep ^reload_failed <<<"$out")"
expect_match "a reload is an info event" '^reload_ok info$' "$(grep ^reload_ok <<<"$out")"
expect_match "the stop is an info event with its signal" '^stopping info SIGTERM$' \
	"$(grep ^stopping <<<"$out")"
expect_match "... and so is its end" '^stopped info$' "$(grep ^stopped <<<"$out")"

# A field that is not UTF-8 (a path may hold any byte) stays, its odd
# bytes as '?', and the line is still JSON.
printf 'graviton.log.format = json\n' >"$CONF"
ODD=$T/odd$'\xff'dir
D_SAVED=$D
D=$ODD
must gv init --sectors 1
must serve_start "$T/odd.log" --config "$CONF"
serve_stop TERM
D=$D_SAVED
expect_match "a path with invalid UTF-8 is logged with its odd byte as ?" \
	"^ok .*odd[?]dir\$" "$("$PY" -c '
import json, sys
for l in open(sys.argv[1], "rb").read().decode("utf-8", "replace").splitlines():
    d = json.loads(l)
    if d.get("event") == "listening":
        print("ok", d["data_dir"])' "$T/odd.log" 2>&1)"

# The text format stays one key=value line per event, time first.
LOG=$T/text.log
printf 'graviton.log.format = text\n' >"$CONF"
mv "$T/away" "$D/sectors/$S"
must serve_start "$LOG" --config "$CONF"
printf 'graviton {\n' >"$CONF"
kill -HUP "$SERVE_PID"
expect_true "a failed reload is logged as text" wait_for 'event=reload result=failed'
serve_stop TERM
expect_match "text lines: time, level, event and fields" \
	'^[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z error event=reload result=failed file="[^"]*graviton.conf" error="[^"]*graviton.conf:[0-9]+:[0-9]+: ' \
	"$(grep 'event=reload' "$LOG")"
finish
