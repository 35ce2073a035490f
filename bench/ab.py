#!/usr/bin/env python3
"""Compare two taskd_bench binaries (a change and its parent) in one run.

  bench/ab.py OLD_BINARY NEW_BINARY [--times N] -- [taskd_bench args...]

Runs OLD and NEW alternately N times (default 3), each with the given
taskd_bench arguments and --json, and prints each scenario's median rate and
p50 for both, with NEW/OLD. Alternating in one run keeps the machine's drift
out of the ratio. Asserts nothing.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    old, new, rest = args[0], args[1], args[2:]
    times = 3
    if rest[:1] == ["--times"]:
        times, rest = int(rest[1]), rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    got = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as d:
        for i in range(times):
            order = [("old", old), ("new", new)] if i % 2 == 0 else [("new", new), ("old", old)]
            for name, binary in order:
                path = os.path.join(d, f"{name}-{i}.json")
                subprocess.run([binary, *rest, "--json", path], check=True,
                               stdout=subprocess.DEVNULL)
                with open(path) as f:
                    got[name].append(json.load(f))
    print(f"{'scenario':<18} {'target':<8} {'old rate':>10} {'new rate':>10} {'new/old':>8}"
          f" {'old p50':>9} {'new p50':>9}")
    for sc, targets in got["old"][0]["scenarios"].items():
        for target in targets:
            def med(name, field):
                vals = [r["scenarios"][sc][target][field] for r in got[name]
                        if sc in r["scenarios"] and target in r["scenarios"][sc]]
                return statistics.median(vals) if vals else float("nan")
            o, n = med("old", "rate"), med("new", "rate")
            print(f"{sc:<18} {target:<8} {o:>10.0f} {n:>10.0f} {n / o if o else float('nan'):>8.2f}"
                  f" {med('old', 'p50_us'):>9.0f} {med('new', 'p50_us'):>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
