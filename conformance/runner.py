#!/usr/bin/env python3
"""Run Mosquitto's broker test suite (test/broker) against a broker binary.

Reads the test list from the suite's own test.py, runs the tests in
parallel with a time limit each, keeps every test's output in a log
directory, and compares the outcome with the exclusion list: the run fails
if a test that is not excluded fails.

usage: runner.py SUITE_BROKER_DIR EXCLUSIONS_FILE LOG_DIR [-j N] [-t SECONDS] [TEST...]
"""

import argparse
import ast
import os
import socket
import subprocess
import sys
import time


def read_tests(broker_dir):
    """The (ports, script) pairs of test.py's `tests` list, in order."""
    with open(os.path.join(broker_dir, "test.py")) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "tests" for t in node.targets
        ):
            return [tuple(ast.literal_eval(e)) for e in node.value.elts]
    raise SystemExit("no tests list in test.py")


def read_exclusions(path):
    """Test name -> reason, from lines 'NAME  reason...' ('#' comments)."""
    out = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            if len(parts) < 2:
                raise SystemExit(f"{path}:{lineno}: exclusion without a reason")
            out[parts[0]] = parts[1]
    return out


def port_free(port):
    """Whether nothing listens on 127.0.0.1:port (or [::1]:port)."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def run_batch(pending, args, excluded, jobs=0, suffix=""):
    """Runs the (ports, script, name) tests, jobs at a time; name -> passed."""
    # Ports as test.py hands them out: 1888 and up, each test its own.
    free_ports = list(range(1888, 1888 + max(args.j * 3, 21)))
    jobs = jobs or args.j
    pending = list(pending)
    running = []
    results = {}
    stalled_since = None
    while pending or running:
        while pending and len(running) < jobs:
            ports, script, name = pending[0]
            if len(free_ports) < ports:
                break
            # A port is handed out again only once nothing listens on it:
            # a broker that outlived its test would answer the next one.
            ready = [p for p in free_ports if port_free(p)]
            if len(ready) < ports:
                break
            pending.pop(0)
            mine = ready[:ports]
            for p in mine:
                free_ports.remove(p)
            log = open(os.path.join(args.log_dir, name + ".log" + suffix), "wb")
            proc = subprocess.Popen(
                [sys.executable, script] + [str(p) for p in mine],
                cwd=args.broker_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            running.append((proc, name, mine, time.time(), log))
        if running or not pending:
            stalled_since = None
        elif stalled_since is None:
            stalled_since = time.time()
        elif time.time() - stalled_since > 30:
            busy = [p for p in free_ports if not port_free(p)]
            print(f"runner: ports {busy} stay in use with no test running", flush=True)
            raise SystemExit(1)
        time.sleep(0.05)
        for item in list(running):
            proc, name, mine, began, log = item
            took = time.time() - began
            rc = proc.poll()
            if rc is None and took > args.t:
                os.killpg(proc.pid, 9)
                proc.wait()
                log.write(b"\nrunner: timed out after %.0f s\n" % args.t)
                rc = "timeout"
            if rc is None:
                continue
            # Whatever the test started (brokers included) goes with it.
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            log.close()
            running.remove(item)
            free_ports.extend(mine)
            ok = rc == 0
            results[name] = ok
            mark = "pass" if ok else ("FAIL (timeout)" if rc == "timeout" else f"FAIL (rc {rc})")
            note = " [excluded]" if name in excluded else ""
            print(f"{took:7.2f}s  {mark:14s} {name}{note}", flush=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("broker_dir")
    ap.add_argument("exclusions")
    ap.add_argument("log_dir")
    ap.add_argument("-j", type=int, default=8, help="tests at once")
    ap.add_argument("-t", type=float, default=120, help="seconds a test may take")
    ap.add_argument("--all", action="store_true", help="also run excluded tests")
    ap.add_argument("--reruns", type=int, default=2,
                    help="times a failed test runs again alone before it counts as failed (0: none)")
    ap.add_argument("--results", help="write 'name pass|fail|excluded' lines here")
    ap.add_argument("only", nargs="*", help="run just these tests")
    args = ap.parse_intermixed_args()

    excluded = read_exclusions(args.exclusions)
    tests = []
    for ports, script in read_tests(args.broker_dir):
        name = os.path.basename(script)[:-3]
        if not os.path.exists(os.path.join(args.broker_dir, script)):
            if name not in excluded:
                raise SystemExit(f"{name} is listed in test.py but absent, and not excluded")
            continue
        if args.only and name not in args.only:
            continue
        tests.append((ports, script, name))
    os.makedirs(args.log_dir, exist_ok=True)

    start = time.time()
    pending = [t for t in tests if args.all or t[2] not in excluded]
    results = run_batch(pending, args, excluded)
    # A test that failed among others runs again alone, up to --reruns
    # times: on a loaded machine with two cores, timing-sensitive tests
    # (of either broker) fail now and then while eight run at once, and a
    # test racing two connections against each other can lose right after
    # a heavy one. A test that never passes still fails; every run's log
    # is kept.
    failed = [t for t in pending if not results.get(t[2])]
    flaky = []
    for attempt in range(1, args.reruns + 1):
        if not failed:
            break
        print(f"\nrunning {len(failed)} failed tests again, one at a time (try {attempt}):", flush=True)
        again = run_batch(failed, args, excluded, jobs=1, suffix=f".rerun{attempt}")
        for t in failed:
            if again.get(t[2]):
                results[t[2]] = True
                flaky.append(t[2])
        failed = [t for t in failed if not again.get(t[2])]

    unexpected = sorted(n for n, ok in results.items() if not ok and n not in excluded)
    passed = sum(1 for ok in results.values() if ok)
    if flaky:
        print("failed among others, passed alone: " + " ".join(sorted(flaky)))
    print(f"\npassed {passed}, failed {len(results) - passed}, "
          f"excluded {sum(1 for t in tests if t[2] in excluded and t[2] not in results)}, "
          f"in {time.time() - start:.0f} s")
    if args.results:
        with open(args.results, "w") as f:
            for _, _, name in tests:
                state = "excluded" if name not in results else ("pass" if results[name] else "fail")
                if name in flaky:
                    state = "pass-alone"
                f.write(f"{name} {state}\n")
    if unexpected:
        print("failed and not excluded:")
        for n in unexpected:
            print("  " + n)
        # The end of each one's output, so that a CI log says why.
        for n in unexpected:
            for suffix in [f".rerun{i}" for i in range(args.reruns, 0, -1)] + [""]:
                path = os.path.join(args.log_dir, n + ".log" + suffix)
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        tail = f.read()[-3000:].decode("utf-8", "replace")
                    print(f"\n--- end of {n}.log{suffix} ---\n{tail}")
                    break
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
