#!/usr/bin/env bash
# Gatehouse's hot path under load, side by side with what the same
# machine does without Gatehouse's work, in one run:
#
#   forward-auth  Gatehouse answering auth checks for a signed-in user
#                 vs a bare Go handler returning an empty 200 (the limit
#                 for any HTTP check)
#   proxy         Gatehouse proxying a signed-in user's requests
#                 vs httputil.ReverseProxy with a tuned transport (the
#                 limit for any Go proxy)
#   nginx         nginx auth_request -> Gatehouse -> upstream
#                 vs nginx auth_request -> bare handler -> upstream
#
# and prints requests/s, p99 latency, the ratios (throughput and p99 of
# forward-auth and the proxy against the same-headers yardsticks below,
# with what is wanted: >= 0.85 x and <= 1.5 x), and the CPU time each
# forward-auth check costs the server process (read from /proc).
#
# A second pair of yardsticks sends the same identity headers as
# Gatehouse: a handler answering an empty 200 with the header lines of
# Gatehouse's own forward-auth answer (captured once, after the sign-in),
# and the bare proxy adding them to the request it forwards (and dropping
# the cookie, which is Gatehouse's and which Gatehouse drops). They are the
# limit for any check or proxy that gives the same answer, and tell
# Gatehouse's own cost from the cost of writing the headers.
#
# Everything listens on 127.0.0.1 and every run is bounded (DURATION
# seconds); all processes are stopped on exit.
#
# Gatehouse runs with server.tls.mode "off" (plain HTTP on loopback), as
# behind a TLS-terminating proxy: this measures the check and the proxy,
# not TLS. Its configuration is examples/forward-auth.yaml plus a route
# for the proxy runs; nginx's is examples/nginx/nginx.conf.
#
# wrk, the servers and Gatehouse share this machine's cores: on a small
# machine the absolute figures are low and the ratios are what counts.
#
# Usage: scripts/loadtest.sh   (from anywhere in the repository)
# Environment: DURATION (seconds per run, default 10), CONNECTIONS
# (default 64), THREADS (wrk threads, default 2), WARMUP (seconds before
# each run, default 2), ROUNDS (default 1: with more, every pair is
# measured that many times, alternating, and the medians are compared).
# PIN=1 runs wrk on core 0 and everything it measures on the other cores
# (taskset, GOMAXPROCS set to match), so wrk does not compete with the
# servers: the ratios then compare the servers' CPU cost per request and
# p99 is not inflated by wrk's own scheduling (needs 2+ cores and taskset).
# GATEHOUSE_* variables reach Gatehouse, e.g.
# GATEHOUSE_GATEWAY_FORWARD_AUTH_HEADERS_ASSERTION=false to measure
# forward-auth without the signed assertion, or
# GATEHOUSE_SERVER_MIN_HEAP_MIB=0 to run Gatehouse without its heap floor
# (Go's default collector pacing, as the yardsticks run). GATEHOUSE_GOGC and
# GATEHOUSE_GODEBUG become Gatehouse's GOGC and GODEBUG (and no other
# process's), e.g. GATEHOUSE_GOGC=400, or GATEHOUSE_GODEBUG=gctrace=1
# with LOGS=DIR, which keeps every process's log in DIR.
# Needs: go, wrk, nginx, curl (Debian: apt-get install -y wrk nginx curl).
set -euo pipefail

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-1}
PIN=${PIN:-0}

for tool in go wrk nginx curl; do
	command -v "$tool" >/dev/null || { echo "loadtest: $tool is not installed (apt-get install -y wrk nginx curl)" >&2; exit 1; }
done
case "$DURATION$CONNECTIONS$THREADS$WARMUP$ROUNDS" in *[!0-9]*) echo "loadtest: DURATION, CONNECTIONS, THREADS, WARMUP and ROUNDS are whole numbers" >&2; exit 1 ;; esac
if [ "$DURATION" -lt 1 ] || [ "$DURATION" -gt 120 ]; then echo "loadtest: DURATION must be 1 to 120 seconds" >&2; exit 1; fi
case "$PIN" in 0 | 1) ;; *) echo "loadtest: PIN must be 0 or 1" >&2; exit 1 ;; esac
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 10 ]; then echo "loadtest: ROUNDS must be 1 to 10" >&2; exit 1; fi

# With PIN=1: on "run_server" the servers, on "run_wrk" the load generator.
run_server=()
run_wrk=()
if [ "$PIN" = 1 ]; then
	cores=$(nproc)
	[ "$cores" -ge 2 ] || { echo "loadtest: PIN=1 needs at least 2 cores" >&2; exit 1; }
	command -v taskset >/dev/null || { echo "loadtest: PIN=1 needs taskset (apt-get install -y util-linux)" >&2; exit 1; }
	run_server=(env GOMAXPROCS=$((cores - 1)) taskset -c "1-$((cores - 1))")
	run_wrk=(taskset -c 0)
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-load.XXXXXX")
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "${LOGS:-}" ]; then
		mkdir -p "$LOGS" && cp "$work"/*.log "$LOGS"/ 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "loadtest: $*" >&2
	for f in "$work"/*.log; do
		[ -s "$f" ] && { echo "--- $(basename "$f"):" >&2; tail -n 20 "$f" >&2; }
	done
	exit 1
}

# wait_port ADDR: until something listens there (15 s at most).
wait_port() {
	local i
	for i in $(seq 150); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	die "nothing listens on $1"
}

echo "building gatehouse and the yardstick (scripts/loadbare)..."
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse && go build -o "$work/loadbare" ./scripts/loadbare)

mapfile -t ports < <("$work/loadbare" --mode ports --count 7)
bare=127.0.0.1:${ports[0]}        # bare handler: the upstream app and the free check
bareproxy=127.0.0.1:${ports[1]}   # httputil.ReverseProxy -> bare
gh=127.0.0.1:${ports[2]}          # Gatehouse
ngx_gh=127.0.0.1:${ports[3]}      # nginx, auth_request -> Gatehouse
ngx_free=127.0.0.1:${ports[4]}    # nginx, auth_request -> bare
same=127.0.0.1:${ports[5]}        # bare handler sending Gatehouse's identity headers
sameproxy=127.0.0.1:${ports[6]}   # bare proxy forwarding them -> bare

"${run_server[@]}" "$work/loadbare" --mode handler --listen "$bare" >"$work/bare.log" 2>&1 &
bare_pid=$!
pids+=($!)
"${run_server[@]}" "$work/loadbare" --mode proxy --listen "$bareproxy" --upstream "http://$bare" >"$work/bareproxy.log" 2>&1 &
pids+=($!)

# Gatehouse: examples/forward-auth.yaml, with its public URL on its own
# listener (the sign-in below talks to it directly), an in-memory store,
# and a route that proxies the app host to the bare handler.
GATEHOUSE_SERVER_PUBLIC_URL="http://127.0.0.1:${ports[2]}" \
GATEHOUSE_SERVER_LISTEN="$gh" \
GATEHOUSE_STORE_BACKEND=memory \
GATEHOUSE_LOG_LEVEL=warn \
GOGC="${GATEHOUSE_GOGC:-${GOGC:-}}" GODEBUG="${GATEHOUSE_GODEBUG:-${GODEBUG:-}}" \
GATEHOUSE_GATEWAY_ROUTES_0_NAME=app \
GATEHOUSE_GATEWAY_ROUTES_0_HOST=localhost \
GATEHOUSE_GATEWAY_ROUTES_0_UPSTREAMS="http://$bare" \
	"${run_server[@]}" "$work/gatehouse" serve --config "$root/examples/forward-auth.yaml" >"$work/gatehouse.log" 2>&1 &
gh_pid=$!
pids+=($!)

# nginx twice, from the example: the listen address, Gatehouse's address
# (or the bare handler's, for the free check), the app's, and logs and
# temp files in the work directory. No access log: the runs measure the
# path, not the disk.
nginx_conf() { # NAME LISTEN CHECK
	local dir="$work/$1"
	mkdir -p "$dir"
	sed -e "s|listen 80|listen $2|" \
		-e "s|server 127.0.0.1:9091;|server $3;|" \
		-e "s|server app:80;|server $bare;|" \
		-e "s|^http {|http {\n    access_log off;\n    client_body_temp_path $dir/client_body;\n    proxy_temp_path $dir/proxy;\n    fastcgi_temp_path $dir/fastcgi;\n    uwsgi_temp_path $dir/uwsgi;\n    scgi_temp_path $dir/scgi;|" \
		"$root/examples/nginx/nginx.conf" >"$dir/nginx.conf"
	grep -q "server $3;" "$dir/nginx.conf" && grep -q "listen $2" "$dir/nginx.conf" || die "examples/nginx/nginx.conf changed: update nginx_conf in $0"
	local global="daemon off; pid $dir/nginx.pid;"
	[ "$(id -u)" = 0 ] && global="$global user root;"
	"${run_server[@]}" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$work/$1.log" -g "$global" >>"$work/$1.log" 2>&1 &
	pids+=($!)
}
nginx_conf nginx-gatehouse "$ngx_gh" "$gh"
nginx_conf nginx-free "$ngx_free" "$bare"

for a in "$bare" "$bareproxy" "$gh" "$ngx_gh" "$ngx_free"; do wait_port "$a"; done

echo "signing alice in..."
cookie=$("$work/loadbare" --mode signin --connect "$gh" --url "http://localhost:${ports[2]}/docs" \
	--user alice --password demo-password-alice) || die "sign-in failed"

# Every run sends the same request headers as its counterpart.
auth_headers=(-H "Host: localhost" -H "Cookie: $cookie" -H "X-Original-URL: http://localhost/docs" -H "X-Original-Method: GET")
app_headers=(-H "Host: localhost" -H "Cookie: $cookie")

# The same-headers yardsticks send the identity headers of Gatehouse's
# answer for alice. (Its assertion expires within a minute, which a
# yardstick does not mind: it only costs the same bytes to send.)
curl -s -o /dev/null -D "$work/answer.txt" "${auth_headers[@]}" "http://$gh/.gatehouse/auth" || die "forward-auth answer for the yardsticks"
grep -qi '^X-Forwarded-User: alice' "$work/answer.txt" || die "Gatehouse's forward-auth answer has no identity headers: $(cat "$work/answer.txt")"
"${run_server[@]}" "$work/loadbare" --mode handler --headers "$work/answer.txt" --listen "$same" >"$work/same.log" 2>&1 &
same_pid=$!
pids+=($!)
"${run_server[@]}" "$work/loadbare" --mode proxy --headers "$work/answer.txt" --strip-cookies --listen "$sameproxy" --upstream "http://$bare" >"$work/sameproxy.log" 2>&1 &
pids+=($!)
for a in "$same" "$sameproxy"; do wait_port "$a"; done

# Sanity: each path answers 200 before it is measured.
check() { # NAME URL HEADERS...
	local name=$1 url=$2 code
	shift 2
	code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url") || true
	[ "$code" = 200 ] || die "$name: GET $url answered $code, want 200"
}
check "bare handler" "http://$bare/.gatehouse/auth" "${auth_headers[@]}"
check "forward-auth" "http://$gh/.gatehouse/auth" "${auth_headers[@]}"
check "bare proxy" "http://$bareproxy/docs" "${app_headers[@]}"
check "gatehouse proxy" "http://$gh/docs" "${app_headers[@]}"
check "nginx + free check" "http://$ngx_free/docs" "${app_headers[@]}"
check "nginx + gatehouse" "http://$ngx_gh/docs" "${app_headers[@]}"
check "same-headers handler" "http://$same/.gatehouse/auth" "${auth_headers[@]}"
check "same-headers proxy" "http://$sameproxy/docs" "${app_headers[@]}"
# An anonymous request must not pass: the runs above measure real checks.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost" "http://$ngx_gh/docs") || true
[ "$code" = 401 ] || die "nginx + gatehouse let an anonymous request through ($code)"

# to_ms VALUE: wrk's "123.45us" / "1.23ms" / "1.02s" in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
		printf "%.3f", n }'
}

# median VALUES...
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A rps p99 errs all_rps all_p99
# cpu_ticks PID: the CPU time (user + system, in clock ticks) PID used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

declare -A all_cpu
# measure KEY URL HEADERS...: a warm-up, then the measured run. With
# CPU_PID set, also the CPU time that process spent per request.
measure() {
	local key=$1 url=$2 out r p e c0="" c1 n cpu=""
	shift 2
	"${run_wrk[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$@" "$url" >/dev/null 2>&1 || true
	[ -n "${CPU_PID:-}" ] && c0=$(cpu_ticks "$CPU_PID")
	out=$("${run_wrk[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" 2>&1) || die "wrk $key: $out"
	if [ -n "$c0" ]; then
		c1=$(cpu_ticks "$CPU_PID")
		n=$(awk '/requests in/ {print $1}' <<<"$out")
		cpu=$(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) * 1e6 / hz / n}')
		all_cpu[$key]="${all_cpu[$key]:-} $cpu"
	fi
	r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	[ -n "$r" ] || die "wrk $key printed no Requests/sec: $out"
	p=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	e=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' <<<"$out")
	all_rps[$key]="${all_rps[$key]:-} $r"
	all_p99[$key]="${all_p99[$key]:-} $p"
	errs[$key]=$((${errs[$key]:-0} + e))
	printf '  %-20s %10s req/s  p99 %7s ms  errors %s%s\n' "$key" "$r" "$p" "$e" "${cpu:+  cpu $cpu µs/req}"
}

echo "measuring: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency (each after a ${WARMUP}s warm-up), $ROUNDS round(s);"
if [ "$PIN" = 1 ]; then
	echo "wrk pinned to core 0; nginx, Gatehouse and the yardsticks to cores 1-$((cores - 1))"
else
	echo "$(nproc) cores shared by wrk, nginx, Gatehouse and the yardsticks"
fi
for round in $(seq "$ROUNDS"); do
	[ "$ROUNDS" -gt 1 ] && echo " round $round"
	CPU_PID=$bare_pid measure bare-handler "http://$bare/.gatehouse/auth" "${auth_headers[@]}"
	CPU_PID=$same_pid measure same-headers "http://$same/.gatehouse/auth" "${auth_headers[@]}"
	CPU_PID=$gh_pid measure forward-auth "http://$gh/.gatehouse/auth" "${auth_headers[@]}"
	measure bare-proxy "http://$bareproxy/docs" "${app_headers[@]}"
	measure same-headers-proxy "http://$sameproxy/docs" "${app_headers[@]}"
	measure gatehouse-proxy "http://$gh/docs" "${app_headers[@]}"
	measure nginx-free-check "http://$ngx_free/docs" "${app_headers[@]}"
	measure nginx-gatehouse "http://$ngx_gh/docs" "${app_headers[@]}"
done
for key in "${!all_rps[@]}"; do
	# shellcheck disable=SC2086 # word splitting wanted
	rps[$key]=$(median ${all_rps[$key]})
	# shellcheck disable=SC2086
	p99[$key]=$(median ${all_p99[$key]})
done

# verdict NAME OURS YARDSTICK: OURS's requests/s against the same-headers
# YARDSTICK (>= 0.85 wanted) and its p99 against the yardstick's p99 in the
# same run (<= 1.5 x wanted).
verdict() {
	awk -v name="$1" -v a="${rps[$2]}" -v b="${rps[$3]}" -v p="${p99[$2]}" -v pb="${p99[$3]}" \
		-v e="$((errs[$2] + errs[$3]))" 'BEGIN {
		r = a / b; q = p / pb
		printf "%-13s %10.0f %10.0f %6.2f  %-6s  %8.2f %8.2f %6.2f  %-6s%s\n", name, a, b, r,
			(r >= 0.85 ? "met" : "MISSED"), p, pb, q, (q <= 1.5 ? "met" : "MISSED"), (e > 0 ? "  (" e " errors)" : "")
	}'
}
echo
echo "Gatehouse vs the same-headers yardstick at $CONNECTIONS connections (req/s; p99 in ms; medians of $ROUNDS round(s))"
echo "wanted: throughput >= 0.85 x the yardstick's, p99 <= 1.5 x the yardstick's p99"
printf '%-13s %10s %10s %6s  %-6s  %8s %8s %6s  %s\n' "path" "gatehouse" "yardstick" "ratio" "" "p99" "p99 yard" "ratio" ""
verdict forward-auth forward-auth same-headers
verdict proxy gatehouse-proxy same-headers-proxy

# share NAME A B: A's requests/s as a share of B's.
share() { awk -v name="$1" -v a="${rps[$2]}" -v b="${rps[$3]}" 'BEGIN {printf "%-13s %10.0f %10.0f %6.2f\n", name, a, b, a / b}'; }
echo
echo "With the same identity headers ($(grep -i '^[a-z-]*:' "$work/answer.txt" | grep -ciEv '^(date|content-length|content-type):') header lines; Gatehouse's answer head is $(wc -c <"$work/answer.txt") bytes):"
printf '%-13s %10s %10s %6s\n' "" "req/s" "yardstick" "ratio"
share "headers only" same-headers bare-handler
share forward-auth forward-auth same-headers
share "headers only" same-headers-proxy bare-proxy
share proxy gatehouse-proxy same-headers-proxy
echo
echo "Against the bare yardsticks (the headers' cost and Gatehouse's together):"
share forward-auth forward-auth bare-handler
share proxy gatehouse-proxy bare-proxy
share nginx nginx-gatehouse nginx-free-check
echo "(\"headers only\": the same-headers yardstick against the bare one, the cost of sending the headers;"
echo " forward-auth and proxy: Gatehouse against the same-headers yardstick, Gatehouse's own cost)"
# shellcheck disable=SC2086 # word splitting wanted
echo "CPU per forward-auth check (the server process alone, user + system; medians): Gatehouse $(median ${all_cpu[forward-auth]}) µs, same-headers handler $(median ${all_cpu[same-headers]}) µs, bare handler $(median ${all_cpu[bare-handler]}) µs"
