#!/usr/bin/env bash
# Runs Mosquitto's own broker test suite (test/broker of Debian's mosquitto
# source package) against midge, and fails if a test that is not in
# exclusions.txt fails.
#
#   conformance/mosquitto-suite.sh                 # midge, built from this tree
#   conformance/mosquitto-suite.sh 02-subpub-qos1  # just these tests
#   conformance/mosquitto-suite.sh --reference     # Debian's mosquitto, every test
#   conformance/mosquitto-suite.sh --cluster       # 3 midge nodes behind a load balancer
#
# Needs: python3 with psutil (Debian's python3-psutil), openssl, and the
# source package, fetched with `apt-get source mosquitto` (a deb-src line
# for the machine's Debian suite, and dpkg-dev) unless MOSQUITTO_SRC names
# an unpacked copy. Work files go to MOSQUITTO_SUITE_WORK (default: a
# directory under ${TMPDIR:-/tmp}); each test's output is kept in its logs/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=${MOSQUITTO_SUITE_WORK:-${TMPDIR:-/tmp}/midge-mosquitto-suite}
jobs=${MOSQUITTO_SUITE_JOBS:-8}
reference=false
cluster=false
tests=()
for a in "$@"; do
	case $a in
	--reference) reference=true ;;
	--cluster) cluster=true ;;
	-*) echo "unknown flag $a" >&2; exit 2 ;;
	*) tests+=("$a") ;;
	esac
done

mkdir -p "$work"
src=${MOSQUITTO_SRC:-}
if [ -z "$src" ]; then
	src=$(find "$work/source" -maxdepth 1 -type d -name 'mosquitto-*' 2>/dev/null | head -n1 || true)
	if [ -z "$src" ]; then
		mkdir -p "$work/source"
		(cd "$work/source" && apt-get source mosquitto >/dev/null)
		src=$(find "$work/source" -maxdepth 1 -type d -name 'mosquitto-*' | head -n1)
	fi
fi
[ -f "$src/test/broker/test.py" ] || { echo "no test/broker/test.py in $src" >&2; exit 1; }

# A fresh copy of the suite for every run: the tests write configuration,
# persistence and password files next to themselves.
run=$work/run
rm -rf "$run" "$work/logs"
mkdir -p "$run"
cp -a "$src/test" "$run/test"
chmod 755 "$run"/test/broker/*.py

# Debian ships the suite without certificates (the originals expired);
# make a new set. The broker may drop root for the mosquitto user, so the
# keys must be readable by others.
(cd "$run/test/ssl" && bash ./gen.sh >"$work/gen-certs.log" 2>&1) ||
	{ cat "$work/gen-certs.log" >&2; exit 1; }
chmod 644 "$run"/test/ssl/*.key
chmod -R a+rwX "$run"

if $reference; then
	broker=/usr/sbin/mosquitto
	# Mosquitto's C plugins, for the tests that load them.
	if [ -d "$src/include" ]; then
		cp -a "$src/include" "$src/config.mk" "$src/lib" "$src/src" "$run/" 2>/dev/null || true
		make -C "$run/test/broker/c" >"$work/plugins.log" 2>&1 || echo "some test plugins did not build (see $work/plugins.log)" >&2
	fi
	if [ -f /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so ]; then
		mkdir -p "$run/plugins/dynamic-security"
		ln -sf /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so "$run/plugins/dynamic-security/"
	fi
	all=--all
else
	broker=$work/bin/midge
	(cd "$root" && go build -o "$broker" ./cmd/midge)
	all=
	exclusions=$here/exclusions.txt
	if $cluster; then
		# Each test's broker is a cluster of three nodes behind a round-robin
		# load balancer (conformance/lbcluster): consecutive connections of a
		# test land on different nodes.
		export MIDGE=$broker
		broker=$work/bin/lbcluster
		(cd "$root" && go build -o "$broker" ./conformance/lbcluster)
		exclusions=$here/cluster-exclusions.txt
		# Forming the cluster takes a few seconds; the suite waits two for a
		# broker's port.
		sed -i 's/for i in range(0, 20):/for i in range(0, 100):/' "$run/test/mosq_test.py"
	fi
fi
# The suite starts /usr/sbin/mosquitto (Debian's patch of its paths).
grep -rl /usr/sbin/mosquitto "$run/test" | xargs sed -i "s#/usr/sbin/mosquitto#$broker#g"

# The scripts run with #!/usr/bin/env python3: Debian's, which has psutil.
export PATH=/usr/bin:$PATH
results=$work/results-$($reference && echo reference || { $cluster && echo cluster; } || echo midge).txt
# As root, the brokers drop to the user mosquitto: what the tests create
# (the dynamic security tests' directories and files, which the broker
# rewrites) must be writable by it, as for a suite run by a plain user.
[ "$(id -u)" = 0 ] && umask 000
cd "$run/test/broker"
exec python3 "$here/runner.py" . "${exclusions:-$here/exclusions.txt}" "$work/logs" -j "$jobs" -t 240 \
	--results "$results" $all "${tests[@]}"
