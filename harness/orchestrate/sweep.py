"""The sweep: run rows with their dependencies, up to `slots` at once. A row starts as soon as
its producers have finished; a failed producer blocks only its dependents (they report why,
and no record is written for a row that never ran)."""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

from harness.errors import HarnessError
from harness.orchestrate.adopt import refuse_live
from harness.orchestrate.locks import row_lock
from harness.orchestrate.options import RunOptions
from harness.orchestrate.plan import Step, plan
from harness.orchestrate.progress import launch_and_follow
from harness.orchestrate.proposals import check, dump
from harness.orchestrate.row import run_row
from harness.paper.rows import Row, load_tables, paper_metrics
from harness.store import Status, Store


def _blocked(row: Row, profile: str, reason: str) -> dict:
    """Not a record (nothing is written): what a row that could not start reports."""
    return {"row": row.id, "table": row.table, "profile": profile, "status": str(Status.BLOCKED),
            "reason": reason, "metrics": {}}


def alias_record(row: Row, source: dict, store: Store) -> dict:
    """A row whose run is another row's (the paper's 3(c) is 2(c)): same numbers, its own record."""
    rec = {k: v for k, v in source.items() if not k.startswith("_")}
    rec.update(row=row.id, table=row.table, row_name=row.name, same_as=source["row"],
               same_as_record=str(store.record_path(source["row"], source["profile"],
                                                    source.get("seed", 0))))
    if source["status"] == "done":
        rec["metrics"], rec["metrics_na"], problem = paper_metrics(
            load_tables()[row.table], source["raw_metrics"], row.step)
        if problem:
            rec.update(status="failed", reason=problem, metrics={})
    store.write(rec)
    return rec


def _step(step: Step, opts: RunOptions, store: Store, data_root: Path, results: dict, log) -> dict:
    row, profile = step.row, opts.profile.name
    for dep in row.deps:
        if results.get(dep, {}).get("status") != "done":
            prior = results.get(dep) or store.get(dep, profile, opts.seed) or {}
            return _blocked(row, profile, f"needs {dep}, which failed: {prior.get('reason') or 'it did not finish'}")
    if row.same_as:
        return alias_record(row, results[row.same_as], store)
    proposals = None
    if row.proposals_from:
        # One dump per producer even when several consumers start at once.
        with row_lock(store.root, row.proposals_from, profile, opts.seed,
                      log=lambda *_: None) as lock:
            proposals = check(store, row.proposals_from, profile, opts.seed, data_root)
            if proposals.status != "fresh":
                log(f"  proposals of {row.proposals_from}: {proposals.status} ({proposals.reason})")
                try:   # the dump worker shares the producer's lock, as a row's worker does
                    proposals = dump(store, row.proposals_from, profile, opts.seed, data_root,
                                     opts.launch,
                                     lambda cmd, path, label: launch_and_follow(
                                         cmd, path, label, log, threads=opts.worker_threads,
                                         lock=lock),
                                     log)
                except HarnessError as exc:
                    return _blocked(row, profile, str(exc))
    try:
        return run_row(row, opts, store, data_root, log, proposals)
    except HarnessError as exc:
        if not (row.init_from or row.merge):
            raise
        return _blocked(row, profile, str(exc))   # a producer's checkpoint is missing or unusable


def execute(rows: list[Row], opts: RunOptions, store: Store, data_root: Path, log=print,
            slots: int = 1, detach: bool = False) -> list[dict]:
    """One result per planned step (a record, or a blocked notice), with progress and ETA.
    --launcher slurm hands the whole plan to SLURM (slurm_sweep.py); detach: do not wait."""
    if opts.launch.launcher == "slurm":
        from harness.orchestrate.slurm_sweep import run_slurm
        return run_slurm(rows, opts, store, data_root, log, detach)
    steps = plan(rows)
    refuse_live(store, [s.row.id for s in steps], opts.profile.name, opts.seed)
    if min(slots, len(steps)) > 1 and opts.launch.launcher == "local" and opts.worker_threads is None:
        opts = replace(opts, worker_threads=max(1, (os.cpu_count() or 1) // slots))
        log(f"running up to {slots} rows at once, {opts.worker_threads} thread(s) each "
            "(--slots to change)")
    deps = {s.row.id: s.row.deps for s in steps}
    results: dict[str, dict] = {}
    pending, running = list(steps), {}
    t0 = time.monotonic()
    profile = opts.profile.name
    with ThreadPoolExecutor(max_workers=max(1, slots)) as pool:
        while pending or running:
            for step in list(pending):
                if len(running) >= max(1, slots):
                    break
                if all(d in results for d in deps[step.row.id]):
                    pending.remove(step)
                    why = "" if step.requested else " (dependency)"
                    log(f"[{len(results) + len(running) + 1}/{len(steps)}] {step.row.id} "
                        f"({step.row.name}){why}, profile {profile}, seed {opts.seed}")
                    running[pool.submit(_step, step, opts, store, data_root, results, log)] = step
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                step = running.pop(fut)
                results[step.row.id] = fut.result()
                n, elapsed = len(results), time.monotonic() - t0
                eta = f", ETA {elapsed / n * (len(steps) - n):.0f} s" if n < len(steps) else ""
                log(f"  {n}/{len(steps)} rows finished ({step.row.id}: {results[step.row.id]['status']})"
                    f", {elapsed:.0f} s elapsed{eta}")
    return [results[s.row.id] for s in steps]
