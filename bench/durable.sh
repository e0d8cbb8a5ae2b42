#!/usr/bin/env bash
# Durable QoS 1 throughput: persistent subscribers (their sessions kept,
# so every message is stored before PUBACK) against midge with
# persistence_sync always, with persistence_sync interval N, without
# persistence, and Debian's mosquitto with persistence on (a snapshot
# every autosave_interval: not durable per message). Rounds alternate
# between the brokers; the medians of delivered msg/s are printed.
#
#   bench/durable.sh [ROUNDS [DURATION [INTERVAL_MS]]]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
dur=${2:-10s}
interval=${3:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/midge" ./cmd/midge
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
port=$((20000 + RANDOM % 20000))

conf() { # conf KIND: the config file's lines
	printf 'listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000\nmax_inflight_messages 100\n' "$port"
	case $1 in
	always) printf 'user root\npersistence true\npersistence_location %s/\n' "$work/data" ;;
	interval) printf 'user root\npersistence true\npersistence_location %s/\npersistence_sync interval %d\n' "$work/data" "$interval" ;;
	off) printf 'user root\n' ;;
	mosquitto) printf 'user root\npersistence true\npersistence_location %s/\n' "$work/data" ;;
	esac
}

# run KIND LOAD...: one run on a fresh broker and store, prints delivered msg/s
run() {
	local kind=$1 bin=$work/midge
	shift
	[ "$kind" = mosquitto ] && bin=$mosquitto
	rm -rf "$work/data" && mkdir -p "$work/data"
	conf "$kind" >"$work/b.conf"
	"$bin" -c "$work/b.conf" 2>"$work/$kind.log" &
	local pid=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.05
	done
	"$work/midge" bench "$@" -p "$port" -d "$dur" -broker-pid "$pid" >"$work/$kind.out" 2>&1 || { cat "$work/$kind.out" >&2; }
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	if grep -qE "lost +[1-9]" "$work/$kind.out"; then echo "LOSS in $kind: $(grep lost "$work/$kind.out")" >&2; fi
	sed -n 's/.*delivered *[0-9]* (\([0-9]*\) msg\/s while publishing.*/\1/p' "$work/$kind.out"
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kinds="always interval off mosquitto"
for load in "fanout --publishers 1 --subscribers 10 -q 1 --persistent" "pairs --publishers 20 -q 1 --persistent"; do
	declare -A res=()
	for r in $(seq "$rounds"); do
		line="round $r:"
		for k in $kinds; do
			# shellcheck disable=SC2086
			v=$(run "$k" $load)
			res[$k]+="$v "
			line+=" $k $v"
		done
		echo "$line" >&2
	done
	echo "midge bench $load, $dur x $rounds rounds, delivered msg/s (median):"
	printf '  %-44s %s\n' "midge, persistence_sync always" "$(echo "${res[always]}" | median)"
	printf '  %-44s %s\n' "midge, persistence_sync interval $interval" "$(echo "${res[interval]}" | median)"
	printf '  %-44s %s\n' "midge, persistence off" "$(echo "${res[off]}" | median)"
	printf '  %-44s %s\n' "mosquitto 2.0.11, persistence true" "$(echo "${res[mosquitto]}" | median)"
	unset res
done
