"""Time the Tables 1-3 smoke sweep: seconds per row, and the total against the 6-minute target.

    .venv/bin/python benchmarks/smoke_sweep.py [--tables table1 table2 table3]

Runs `harness run ... --profile smoke` in a fresh results store (so nothing is reused) and reads
each record's wall time (training + testing in the worker process, as the harness measured it)
plus the dumps' time from the sweep's own clock."""
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", nargs="+", default=["table1", "table2", "table3"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FPN_REPRO_RESULTS=str(Path(tmp) / "results"),
                   FPN_REPRO_REPORTS=str(Path(tmp) / "reports"))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", *args.tables,
                               "--profile", "smoke"], env=env, cwd=ROOT, text=True,
                              capture_output=True)
        total = time.perf_counter() - t0
        records = [json.loads(p.read_text())
                   for p in sorted((Path(tmp) / "results" / "runs").glob("*/*/*/record.json"))]
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    print(f"{'row':10} {'status':8} {'seconds':>8}")
    rows_s = 0.0
    for rec in records:
        secs = rec.get("wall_time_s") or 0.0
        rows_s += secs if not rec.get("same_as") else 0.0
        note = f"  (= {rec['same_as']}'s run)" if rec.get("same_as") else ""
        print(f"{rec['row']:10} {rec['status']:8} {secs:8.1f}{note}")
    print(f"rows: {len(records)}; training+testing {rows_s:.0f} s; proposal dumps and harness "
          f"overhead {total - rows_s:.0f} s")
    print(f"whole sweep: {total:.0f} s = {total / TARGET_S:.2f} x the {TARGET_S} s target "
          f"on {os.cpu_count()} cores")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
