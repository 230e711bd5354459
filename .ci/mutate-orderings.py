#!/usr/bin/env python3
"""Every memory ordering is pinned by a loom model: weakens each one in turn and requires a loom
test to fail.

Usage: .ci/mutate-orderings.py [--list] CRATE:LOOM_TEST ...
       (.ci/run: venom-seqlock:loom_seqlock venom-mpsc:loom_mpsc venom-channel:loom_channel)

The list of mutants is derived from the source, not kept by hand: every `Ordering::Acquire`,
`Release`, `AcqRel` and `SeqCst` in `crates/<crate>/src/*.rs` (comments and `#[cfg(test)]`
modules excluded) becomes `Relaxed`, and every `fence(...)` is removed; a `SeqCst` fence is also
weakened to `AcqRel` (the weakening that matters for a Dekker pair). The workspace's sync facade
lives in venom-shm and is not mutated. `orderings-exempt.json` next to this script names sites
that may survive, each with its reason: `unobservable` (load buffering, which loom does not
explore; at most one site in ten per crate) or `open` (a survivor no model kills yet, with the
model that would: a debt, reported on every run, and the run fails once such a site is killed,
so the list only shrinks). Anything else that survives fails the run.
`--list` prints the derived sites and exits.

One build serves every mutant: a copy of the workspace (target/mutants/src) gets each site `i`
rewritten as `venom_shm::sync::mutant(i, original, weakened)` (a fence: `if mutant(i, true,
false) { fence(..) }`), is built once with `--cfg loom --cfg venom_mutants`, and each loom test
binary then runs once per site with `VENOM_MUTANT=i`, two at a time.
"""
import concurrent.futures, json, os, re, shutil, subprocess, sys, time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
STRONG = re.compile(r"Ordering::(Acquire|Release|AcqRel|SeqCst)\b")
FENCE = re.compile(r"\bfence\(Ordering::(\w+)\)")
M = "::venom_shm::sync::mutant"


class Site:
    def __init__(self, crate, path, line, col, end, ordering, kind):
        self.crate, self.path, self.line, self.col, self.end = crate, path, line, col, end
        self.ordering, self.kind, self.id = ordering, kind, None

    def label(self):
        text = open(os.path.join(ROOT, self.path)).read().split("\n")[self.line].strip()
        return f"{self.path}:{self.line + 1} [{self.kind}] {text}"


def sites(crate):
    """Every mutation site of a crate, in source order."""
    src = os.path.join("crates", crate, "src")
    found = []
    for name in sorted(os.listdir(os.path.join(ROOT, src))):
        if not name.endswith(".rs"):
            continue
        path = os.path.join(src, name)
        lines = open(os.path.join(ROOT, path)).read().split("\n")
        for i, line in enumerate(lines):
            if line.strip().startswith("#[cfg(test)]") and i + 1 < len(lines) \
                    and lines[i + 1].strip().startswith("mod "):
                break  # unit tests, to the end of the file
            code = line.split("//", 1)[0]
            fences = [m for m in FENCE.finditer(code)]
            for m in fences:
                found.append(Site(crate, path, i, m.start(), m.end(), m.group(1), "fence removed"))
                if m.group(1) == "SeqCst":
                    found.append(Site(crate, path, i, m.start(), m.end(), "SeqCst",
                                      "fence SeqCst -> AcqRel"))
            for m in STRONG.finditer(code):
                if any(f.start() <= m.start() < f.end() for f in fences):
                    continue
                found.append(Site(crate, path, i, m.start(), m.end(), m.group(1),
                                  f"{m.group(1)} -> Relaxed"))
    return found


def instrument(dest, all_sites):
    """Writes the instrumented copy of the workspace to `dest`."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for f in files:
        if f and os.path.isfile(os.path.join(ROOT, f)):
            os.makedirs(os.path.dirname(os.path.join(dest, f)) or dest, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(dest, f))
    by_line = {}
    for s in all_sites:
        by_line.setdefault((s.path, s.line), []).append(s)
    for path in {s.path for s in all_sites}:
        lines = open(os.path.join(ROOT, path)).read().split("\n")
        for (p, i), group in by_line.items():
            if p != path:
                continue
            line = lines[i]
            spans = {}
            for s in group:
                spans.setdefault((s.col, s.end), []).append(s)
            for (col, end), ss in sorted(spans.items(), reverse=True):
                text = line[col:end]
                if ss[0].kind.startswith("fence"):
                    order = f"Ordering::{ss[0].ordering}"
                    for s in ss:
                        if s.kind == "fence SeqCst -> AcqRel":
                            order = f"{M}({s.id}, Ordering::SeqCst, Ordering::AcqRel)"
                    removed = next(s for s in ss if s.kind == "fence removed")
                    text = f"if {M}({removed.id}, true, false) {{ fence({order}) }}"
                else:
                    (s,) = ss
                    text = f"{M}({s.id}, Ordering::{s.ordering}, Ordering::Relaxed)"
                line = line[:col] + text + line[end:]
            lines[i] = line
        open(os.path.join(dest, path), "w").write("\n".join(lines))


def main():
    args = sys.argv[1:]
    only_list = "--list" in args
    targets = [a.split(":") for a in args if a != "--list"]
    exempt = json.load(open(os.path.join(ROOT, ".ci", "orderings-exempt.json")))
    all_sites, listed = [], {}
    for crate, _ in targets:
        found = sites(crate)
        for u in (u for u in exempt if u["crate"] == crate):
            hits = [s for s in found if s.path.endswith("/" + u["file"]) and s.kind == u["mutation"]
                    and u["line_contains"] in s.label()]
            assert len(hits) == 1, f"{u}: must name exactly one site, names {len(hits)}"
            listed[hits[0]] = (u["kind"], u["reason"])
        n = sum(1 for s in found if s in listed and listed[s][0] == "unobservable")
        assert n * 10 <= len(found), \
            f"{crate}: {n} of {len(found)} sites listed unobservable (at most 1 in 10)"
        all_sites += found
    for i, s in enumerate(all_sites):
        s.id = i + 1
    if only_list:
        for s in all_sites:
            print(f"{s.id:3} " + (f"{listed[s][0]:8} " if s in listed else "") + s.label())
        return
    start = time.time()
    dest = os.path.join(ROOT, "target", "mutants", "src")
    instrument(dest, all_sites)
    env = dict(os.environ, RUSTFLAGS="--cfg loom --cfg venom_mutants", LOOM_MAX_PREEMPTIONS="2")
    env.pop("VENOM_MUTANT", None)
    binaries = {}
    for crate, test in targets:
        out = subprocess.run(["cargo", "test", "-p", crate, "--test", test, "--release",
                              "--no-run", "--message-format=json", "--target-dir",
                              os.path.join(ROOT, "target", "mutants", "target")],
                             cwd=dest, env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"building the instrumented {crate} failed:\n{out.stderr}")
        for line in out.stdout.split("\n"):
            if '"executable":"' in line:
                msg = json.loads(line)
                if msg.get("target", {}).get("name") == test and msg.get("executable"):
                    binaries[crate] = msg["executable"]
    print(f"instrumented build: {time.time() - start:.0f} s", flush=True)

    def run(crate, mutant):
        e = dict(env)
        if mutant is not None:
            e["VENOM_MUTANT"] = str(mutant)
        try:
            r = subprocess.run([binaries[crate], "-q"], env=e, capture_output=True, text=True,
                               timeout=900)
            return r.returncode != 0
        except subprocess.TimeoutExpired:
            return True

    for crate, _ in targets:
        assert not run(crate, None), f"{crate}: the loom tests fail with no mutant"
    failed = False
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for crate, _ in targets:
            t0 = time.time()
            mine = [s for s in all_sites if s.crate == crate]
            todo = [s for s in mine if not (s in listed and listed[s][0] == "unobservable")]
            caught = dict(zip(todo, pool.map(lambda s: run(crate, s.id), todo)))
            for s in mine:
                if s not in caught:
                    print(f"unobservable {s.label()}: {listed[s][1]}", flush=True)
                elif s in listed:
                    state = "KILLED (drop it from orderings-exempt.json)" if caught[s] else "open"
                    print(f"{state} {s.label()}: {listed[s][1]}", flush=True)
                    failed |= caught[s]
                else:
                    print(f"{'caught ' if caught[s] else 'MISSED '} {s.label()}", flush=True)
                    failed |= not caught[s]
            killed = sum(caught.values())
            opened = sum(1 for s in todo if s in listed)
            print(f"== {crate}: {killed} / {len(mine)} mutants killed "
                  f"({100 * killed // len(mine)} %), {len(mine) - len(todo)} unobservable, "
                  f"{opened} open ({time.time() - t0:.0f} s)", flush=True)
    sys.exit(1 if failed else 0)


main()
