"""Time the Tables 1-3 smoke sweep: seconds per row, and the total against the 6-minute target,
one row at a time (--slots 1) and with the smoke default (one row per core), side by side.

    .venv/bin/python benchmarks/smoke_sweep.py [--tables table1 table2 table3] [--only-default]

Each variant runs `harness run ... --profile smoke` in a fresh results store (so nothing is
reused) and reads each record's wall time (training + testing in the worker process, as the
harness measured it) plus the dumps' time from the sweep's own clock."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 6 * 60


def sweep(tables: list[str], slots: list[str]) -> tuple[float, list[dict], int]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FPN_REPRO_RESULTS=str(Path(tmp) / "results"),
                   FPN_REPRO_REPORTS=str(Path(tmp) / "reports"))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", *tables,
                               "--profile", "smoke", *slots], env=env, cwd=ROOT, text=True,
                              capture_output=True)
        total = time.perf_counter() - t0
        records = [json.loads(p.read_text())
                   for p in sorted((Path(tmp) / "results" / "runs").glob("*/*/*/record.json"))]
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    return total, records, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="+", default=["table1", "table2", "table3"])
    ap.add_argument("--only-default", action="store_true", help="skip the --slots 1 baseline")
    args = ap.parse_args()
    variants = [("default slots", [])] if args.only_default else \
        [("--slots 1", ["--slots", "1"]), ("default slots", [])]
    results = {name: sweep(args.tables, extra) for name, extra in variants}
    names = list(results)
    print(f"{'row':10} {'status':8} " + " ".join(f"{n + ' (s)':>18}" for n in names))
    rows = [r["row"] for r in results[names[-1]][1]]
    by = {n: {r["row"]: r for r in results[n][1]} for n in names}
    for row in rows:
        cells = []
        for n in names:
            rec = by[n].get(row, {})
            cells.append(f"{rec.get('wall_time_s') or 0.0:18.1f}")
        note = f"  (= {by[names[-1]][row]['same_as']}'s run)" if by[names[-1]][row].get("same_as") else ""
        print(f"{row:10} {by[names[-1]][row]['status']:8} " + " ".join(cells) + note)
    for n in names:
        total, records, _ = results[n]
        rows_s = sum(r.get("wall_time_s") or 0.0 for r in records if not r.get("same_as"))
        print(f"{n}: {len(records)} rows; row wall times sum {rows_s:.0f} s; whole sweep {total:.0f} s "
              f"= {total / TARGET_S:.2f} x the {TARGET_S} s target on {os.cpu_count()} cores")
    if len(names) == 2:
        print(f"speed-up of the default over --slots 1: {results[names[0]][0] / results[names[1]][0]:.2f}x")
    return max(rc for _, _, rc in results.values())


if __name__ == "__main__":
    sys.exit(main())
