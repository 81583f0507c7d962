"""Watching a SLURM sweep: poll SLURM for the sweep's jobs and print each change of state and
the progress of the running ones (from their logs), until none is queued or running; then each
row's result, as `harness status` would give it. Only watches: the jobs finalise their own
records, so killing this process loses nothing, and a sweep started again adopts the jobs."""
from __future__ import annotations

import time

from harness.orchestrate import slurm
from harness.orchestrate.adopt import Tracked, job_log, settle, track
from harness.orchestrate.plan import plan
from harness.orchestrate.progress import last_progress
from harness.orchestrate.status import row_state
from harness.paper.rows import Row
from harness.store import Status, Store, SubmittedJob

POLL_S = 5.0        # squeue is cheap; a row's progress line changes every few seconds at most
SHOW_EVERY_S = 30.0


def follow(store: Store, jobs: list[SubmittedJob], log=print, poll: float = POLL_S) -> None:
    """Until every job in `jobs` has ended: one line per job whenever its state changes, and
    for a running job its progress at most every SHOW_EVERY_S."""
    jobs = list({j.job_id: j for j in jobs if j.kind != "alias"}.values())
    shown: dict[str, tuple[str, str, float]] = {}
    while jobs:
        states = slurm.query([j.job_id for j in jobs])
        for job in jobs:
            t = Tracked(job, states[job.job_id])
            progress = last_progress(job_log(store, job)[0]) if t.state.state == "RUNNING" else None
            state, last_progress_shown, when = shown.get(job.job_id, ("", "", 0.0))
            changed = t.describe() != state
            if changed or (progress and progress != last_progress_shown
                           and time.monotonic() - when >= SHOW_EVERY_S):
                what = f"{job.row} proposal dump" if job.kind == "dump" else job.row
                log(f"  {what} [{job.profile}]: {t.describe()}" + (f", {progress}" if progress else ""))
                shown[job.job_id] = (t.describe(), progress or "", time.monotonic())
        if not any(states[j.job_id].live for j in jobs):
            return
        time.sleep(poll)


def results(store: Store, rows: list[Row], profile: str, seed: int, log=print) -> list[dict]:
    """Each planned row's record, or, where it has none that is current, its state and why (the
    rule `harness status` uses); records that ended jobs did not write are finalised first."""
    steps = plan(rows)
    tracked = track(store, [s.row.id for s in steps], profile, seed)
    for t in tracked.values():
        settle(store, t, log)
    states: dict = {}
    out = []
    for step in steps:
        state, detail = states[step.row.id] = row_state(store, step.row, profile, seed, states,
                                                        tracked)
        rec = store.get(step.row.id, profile, seed)
        if rec is not None and state in (Status.DONE, Status.FAILED) and rec["status"] == state:
            out.append(rec)
        else:
            out.append({"row": step.row.id, "table": step.row.table, "profile": profile,
                        "seed": seed, "status": str(state), "reason": detail, "metrics": {}})
    return out
