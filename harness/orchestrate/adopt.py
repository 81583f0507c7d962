"""Adopting SLURM jobs: what became of the jobs kept next to the runs (harness/store/job.py),
asked of SLURM once per command. The SLURM sweep adopts a live job instead of submitting its row
again, `harness status` shows it, `harness cancel` stops it.

A row job that ended without the record it should have written (its batch step was killed after
the worker finished, or ran out of time) is finalised here from its attempt (finalize.py), under
the row's lock, so two commands never both write it; a row that the same run stands for (`same
as`, written by its source's job) is written here if that job could not. A job that was
cancelled, by `harness cancel` or by SLURM because a producer failed, leaves no record: the
row is stopped or blocked, and a re-run resumes it."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.orchestrate import slurm
from harness.orchestrate.locks import row_lock
from harness.orchestrate.options import now
from harness.orchestrate.ownership import Attempt
from harness.orchestrate.progress import last_error
from harness.store import Store, SubmittedJob

KINDS = ("row", "dump", "alias")   # alias: a `same as` row, written by its source's job


@dataclass
class Tracked:
    job: SubmittedJob
    state: slurm.JobState

    @property
    def live(self) -> bool:
        return self.state.live

    def describe(self) -> str:
        waits = self.state.reason if self.state.state == "PENDING" and \
            self.state.reason not in ("", "None") else ""
        return f"job {self.job.job_id} {self.state.state}" + (f" ({waits})" if waits else "")


def job_path(store: Store, kind: str, row: str, profile: str, seed: int) -> Path:
    run = store.run(row, profile, seed)
    return run.dump_job if kind == "dump" else run.job


def job_log(store: Store, job: SubmittedJob) -> tuple[Path, Path]:
    """(the worker's log, the job's own output) of a row or dump job."""
    run = store.run(job.row, job.profile, job.seed)
    return (run.dump_log, run.dump_job_log) if job.kind == "dump" else (run.log, run.job_log)


def jobs_of(store: Store, row_ids: list[str], profile: str, seed: int) -> dict[tuple, SubmittedJob]:
    """(row, kind) -> the job kept next to its run, for those that have one."""
    out = {}
    for row in row_ids:
        for kind in ("row", "dump"):
            job = SubmittedJob.read(job_path(store, kind, row, profile, seed))
            if job is not None:
                out[(row, job.kind)] = job
    return out


def track(store: Store, row_ids: list[str], profile: str, seed: int,
          states: dict[str, slurm.JobState] | None = None) -> dict[tuple, Tracked]:
    """What SLURM says of each kept job (one squeue call; none at all without kept jobs)."""
    jobs = jobs_of(store, row_ids, profile, seed)
    if not jobs:
        return {}
    states = states if states is not None else slurm.query([j.job_id for j in jobs.values()])
    return {key: Tracked(job, states.get(job.job_id) or slurm.JobState(job.job_id, "UNKNOWN"))
            for key, job in jobs.items()}


def slurm_available() -> bool:
    return shutil.which("squeue") is not None


def settle(store: Store, tracked: Tracked, log=print) -> dict | None:
    """The record an ended row (or alias) job should have left: finalised here if the job ended
    without it. None when it left nothing to finalise (never reached its worker, or cancelled
    before the worker finished)."""
    job = tracked.job
    if tracked.live or job.kind == "dump":
        return None
    rec = store.get(job.row, job.profile, job.seed)
    if job.kind == "alias":
        return rec or _alias(store, job)
    if rec is not None and rec.get("slurm_job") == job.job_id:
        return rec                                           # written by the job itself
    from harness.orchestrate.finalize import finalize_ended
    run = store.run(job.row, job.profile, job.seed)
    cancelled = bool(job.cancelled_at) or tracked.state.state == "CANCELLED"
    if cancelled and not run.outcome.exists():
        return None
    with row_lock(store.root, job.row, job.profile, job.seed, log=lambda *_: None):
        # Under the lock: the attempt is removed once a record is made from it (ownership.py),
        # so a record made by a command that got here first is found, never made twice.
        rec = store.get(job.row, job.profile, job.seed)
        if rec is not None and rec.get("slurm_job") == job.job_id:
            return rec
        attempt = Attempt.read(run)
        if attempt is None or attempt.slurm_job != job.job_id:
            return None
        why = last_error(run.job_log, run.log)
        rec = finalize_ended(store, run, job.row, job.profile, job.seed, attempt,
                             no_outcome=f"SLURM job {job.job_id} ended {tracked.state.state}"
                             + (f": {why}" if why else ""))
    if rec is None:
        return None
    log(f"{job.row} [{job.profile}]: SLURM job {job.job_id} ended without its record; "
        f"finalised it here ({rec['status']})")
    return rec


def _alias(store: Store, job: SubmittedJob) -> dict | None:
    from harness.orchestrate.sweep import alias_record
    from harness.paper.rows import get_row
    row = get_row(job.row)
    source = store.get(row.same_as, job.profile, job.seed)
    return alias_record(row, source, store) if source and source["status"] == "done" else None


def refuse_live(store: Store, row_ids: list[str], profile: str, seed: int) -> None:
    """A local or torchrun sweep never runs a row whose SLURM job is queued or running."""
    if not jobs_of(store, row_ids, profile, seed) or not slurm_available():
        return
    for t in track(store, row_ids, profile, seed).values():
        if t.live:
            raise HarnessError(f"{t.job.row} [{profile}] has a live SLURM job {t.job.job_id} "
                               f"({t.state.state}); wait for it ('harness status') or run "
                               f"'harness cancel {t.job.row}' first")


def cancel(store: Store, row_ids: list[str], profile: str, seed: int, log=print) -> list[Tracked]:
    """scancel the live jobs of these rows (their training and their proposal dumps) and mark
    them cancelled, so status shows the rows stopped; a re-run resumes them."""
    if not slurm_available():
        raise HarnessError("harness cancel needs SLURM's squeue and scancel on PATH")
    live = [t for t in track(store, row_ids, profile, seed).values()
            if t.live and t.job.kind != "alias"]
    if not live:
        raise HarnessError(f"no live SLURM job for {', '.join(row_ids)} [{profile}, seed {seed}]; "
                           "'harness status' shows what ran")
    slurm.scancel(sorted({t.job.job_id for t in live}))
    for t in live:
        t.job.cancelled_at = now()
        t.job.write(job_path(store, t.job.kind, t.job.row, profile, seed))
        log(f"{t.job.row} [{profile}]: cancelled {t.job.kind} job {t.job.job_id} "
            f"(was {t.state.state}); the next 'harness run' picks it up again")
    return live
