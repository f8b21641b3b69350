# bench/put_round.sh - one round of 4 KiB PUTs over HTTP (sourced by
# bench_put_http.sh and bench_pg.sh).
#
#   put_round GRAVITON [GLOBAL OPTIONS...]: start `GRAVITON serve` on a
#   fresh data directory $W/data (auth off, so wrk needs no token) on a
#   free loopback port, run wrk -c$CONNS -d$SECS with bench/http_put.lua,
#   stop the server; prints puts/s, exits when a PUT failed.  $SRV_PID is
#   the running server, for the caller's exit trap.
#
#   median N...: the median of the numbers.

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

put_round() {
	local gv=$1 port url i bad

	shift
	rm -rf "$W/data"
	port=$(free_port)
	url=http://127.0.0.1:$port
	printf 'graviton.server.auth = off\n' >"$W/bench.conf"
	# A build from before authentication existed knows no such key (and
	# needs none).
	"$gv" config check "$W/bench.conf" >/dev/null 2>&1 || : >"$W/bench.conf"
	"$gv" --data-dir "$W/data" --config "$W/bench.conf" "$@" serve \
		--listen "127.0.0.1:$port" >>"$W/serve.log" 2>&1 </dev/null &
	SRV_PID=$!
	for ((i = 0; i < 300; i++)); do
		curl -sf "$url/healthz" >/dev/null 2>&1 && break
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.1
	done
	curl -sf "$url/healthz" >/dev/null 2>&1 || { echo "put_round: no server" >&2; tail -n 5 "$W/serve.log" >&2; exit 1; }
	sync
	wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$HERE/http_put.lua" "$url" >"$W/wrk.out"
	kill "$SRV_PID"
	wait "$SRV_PID" || { echo "put_round: the server exited non-zero" >&2; exit 1; }
	SRV_PID=
	bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$W/wrk.out")
	if [ -n "$bad" ]; then
		echo "put_round: $bad PUTs failed" >&2
		exit 1
	fi
	awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$W/wrk.out"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
