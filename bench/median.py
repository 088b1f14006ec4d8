#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/median.py - settle benchmark targets that sit inside this machine's
run-to-run noise: run gnt-bench N times (--json; by default the target
lines and the floors and ceilings measured beside them) and print, per line,
the median ratio over the runs with its range, against the target.  A
target is met when the median ratio meets it.

  bench/median.py [-n N] [--only LIST] [--bench PATH]   run gnt-bench N times
  bench/median.py --input FILE...                        read saved --json runs

Exit status 0 when every target the runs carry is met by its median, 1 when
one is not, 2 on a usage or input error.
"""
import json
import statistics
import subprocess
import sys

TARGET_LINES = ("hypercall_rtt,map_1,map_16,map_16_unit,map_1024,map_1024_unit,"
                "map_256MiB,evtchn_rtt,vchan_64k_1m,vchan_64b_1m,vchan_64b_64k,"
                "vchan_4k_64k,vchan_64k_64k,xenvchan_64k,xenvchan_64b,xenvchan_4k,"
                "vchan_vs_xenvchan_64k,vchan_vs_xenvchan_64b,vchan_vs_xenvchan_4k,"
                "ring_ceiling_4k_64k,ring_ceiling_64k_1m,dir_1GiB")


def parse(lines, runs):
    """Add one run's JSON lines to runs: name -> list of records."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        rec = json.loads(line)
        for key in ("bench", "ratio", "target"):
            if key not in rec:
                raise ValueError("a line without %r: %s" % (key, line))
        runs.setdefault(rec["bench"], []).append(rec)


def met(ratio, target):
    if target > 0:
        return ratio <= target
    if target < 0:
        return ratio >= -target
    return None


def report(runs, out):
    ok = True
    out.write("%-28s %5s %9s %17s %8s  %s\n" % ("bench", "runs", "median", "range", "target", ""))
    for name, recs in runs.items():
        ratios = [r["ratio"] for r in recs]
        target = recs[0]["target"]
        med = statistics.median(ratios)
        verdict = met(med, target)
        if target > 0:
            tg = "<=%.1fx" % target
        elif target < 0:
            tg = ">=%.1fx" % -target
        else:
            tg = "-"
        mark = {True: "met", False: "MISSED", None: ""}[verdict]
        if verdict is False:
            ok = False
        out.write("%-28s %5d %9.3f %8.3f-%-8.3f %8s  %s\n"
                  % (name, len(ratios), med, min(ratios), max(ratios), tg, mark))
    return ok


def main(argv):
    n, only, bench, inputs = 5, TARGET_LINES, "build/bin/gnt-bench", None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-n" and i + 1 < len(argv):
            n = int(argv[i + 1])
            i += 2
        elif a == "--only" and i + 1 < len(argv):
            only = argv[i + 1]
            i += 2
        elif a == "--bench" and i + 1 < len(argv):
            bench = argv[i + 1]
            i += 2
        elif a == "--input":
            inputs = argv[i + 1:]
            break
        else:
            sys.stderr.write(__doc__)
            return 2
    runs = {}
    try:
        if inputs is not None:
            if not inputs:
                raise ValueError("--input needs files")
            for path in inputs:
                with open(path) as f:
                    parse(f, runs)
        else:
            if n < 1:
                raise ValueError("-n must be at least 1")
            for k in range(n):
                sys.stderr.write("median.py: run %d of %d\n" % (k + 1, n))
                res = subprocess.run([bench, "--json", "--only", only],
                                     stdout=subprocess.PIPE, text=True, check=True)
                parse(res.stdout.splitlines(), runs)
    except (OSError, ValueError, subprocess.CalledProcessError) as e:
        sys.stderr.write("median.py: %s\n" % e)
        return 2
    if not runs:
        sys.stderr.write("median.py: no results\n")
        return 2
    return 0 if report(runs, sys.stdout) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
