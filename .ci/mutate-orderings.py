#!/usr/bin/env python3
"""Weakens each memory ordering of a primitive's algorithm in turn and checks that some loom
test fails. Usage: .ci/mutate-orderings.py <crate> <loom-test>  (slow: one loom run per mutation;
run by .ci/run). An entry may carry `unobservable_by_loom` with the reason loom cannot
see that weakening; it is listed, not run."""
import json, os, signal, subprocess, sys

signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # so `finally` restores the file

crate, test = sys.argv[1], sys.argv[2]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
mutations = json.load(open(os.path.join(root, "crates", crate, "tests", "orderings.json")))
env = dict(os.environ, RUSTFLAGS="--cfg loom", LOOM_MAX_PREEMPTIONS="2")
survivors = []
for m in mutations:
    if "unobservable_by_loom" in m:
        print(f"skipped  {m['name']}: {m['unobservable_by_loom']}", flush=True)
        continue
    path = os.path.join(root, "crates", crate, m["file"])
    orig = open(path).read()
    assert orig.count(m["from"]) == 1, f"{m['name']}: pattern must occur once in {m['file']}"
    open(path, "w").write(orig.replace(m["from"], m["to"]))
    try:
        r = subprocess.run(["cargo", "test", "-q", "-p", crate, "--test", test, "--release",
                            "--target-dir", os.path.join(root, "target", "loom")],
                           cwd=root, env=env, capture_output=True, text=True, timeout=1200)
        killed = r.returncode != 0
    except subprocess.TimeoutExpired:
        killed = True
    finally:
        open(path, "w").write(orig)
    print(f"{'caught ' if killed else 'MISSED '} {m['name']}", flush=True)
    if not killed:
        survivors.append(m["name"])
sys.exit(1 if survivors else 0)
