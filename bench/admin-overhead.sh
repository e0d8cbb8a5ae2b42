#!/usr/bin/env bash
# The admin listener's cost on the fan-out benchmark: midge built at BASE
# (before the metrics' counters existed), midge at HEAD with no admin
# listener, and HEAD with /metrics scraped every second. Rounds alternate
# between the three so that a noisy machine hurts them alike; the medians
# of delivered msg/s are printed.
#
#   bench/admin-overhead.sh [BASE [ROUNDS [DURATION]]]
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-531fd4c}
rounds=${2:-5}
dur=${3:-10s}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git worktree add --detach "$work/base" "$base" >/dev/null 2>&1
(cd "$work/base" && go build -o "$work/midge-base" ./cmd/midge)
go build -o "$work/midge-head" ./cmd/midge
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$token" >"$work/tokens"

port=$((20000 + RANDOM % 20000))
aport=$((port + 1))
conf() {
	printf 'user root\nlistener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000\nmax_inflight_messages 100\n' "$port"
	if [ "$1" = admin ]; then
		printf 'admin_listener 127.0.0.1:%d\nadmin_token_file %s\n' "$aport" "$work/tokens"
	fi
}

# run NAME BINARY CONF SCRAPE: one round, prints delivered msg/s
run() {
	local bin=$2 scrape=$4
	conf "$3" >"$work/midge.conf"
	"$bin" -c "$work/midge.conf" 2>"$work/$1.log" &
	local pid=$!
	for _ in $(seq 100); do
		grep -q ' running$' "$work/$1.log" 2>/dev/null && break
		sleep 0.05
	done
	local scraper=
	if [ "$scrape" = yes ]; then
		(while sleep 1; do curl -s -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$aport/metrics"; done) &
		scraper=$!
	fi
	"$work/midge-head" bench fanout -p "$port" -d "$dur" -broker-pid "$pid" >"$work/$1.out" 2>&1
	[ -n "$scraper" ] && kill "$scraper" 2>/dev/null
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	sed -n 's/.*delivered *[0-9]* (\([0-9]*\) msg\/s while publishing.*/\1/p' "$work/$1.out"
}

declare -A results
for r in $(seq "$rounds"); do
	b=$(run base "$work/midge-base" plain no)
	h=$(run head "$work/midge-head" plain no)
	s=$(run scraped "$work/midge-head" admin yes)
	results[base]+="$b " results[head]+="$h " results[scraped]+="$s "
	echo "round $r: base $b head $h scraped $s" >&2
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "fanout 1 -> 50, QoS 0, $dur x $rounds rounds, delivered msg/s (median):"
printf '  %-40s %s\n' "midge $base (no admin counters)" "$(echo "${results[base]}" | median)"
printf '  %-40s %s\n' "midge $(git rev-parse --short HEAD), admin listener off" "$(echo "${results[head]}" | median)"
printf '  %-40s %s\n' "midge $(git rev-parse --short HEAD), /metrics scraped every 1 s" "$(echo "${results[scraped]}" | median)"
for k in base head scraped; do echo "  $k: ${results[$k]}"; done
