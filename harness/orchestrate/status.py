"""`harness status`: every row's state, progress and ETA, read from the store (never from the
memory of a sweep, so it works while sweeps run elsewhere and after they die). Rows handed to
SLURM also show their job's id and state, as SLURM tells it now (harness/orchestrate/adopt.py;
a job that ended without its record is finalised first), and the proposal dumps that run as
jobs of their own get a line each."""
from __future__ import annotations

from harness.errors import HarnessError
from harness.orchestrate.adopt import Tracked, settle, track
from harness.orchestrate.locks import is_locked, lock_path
from harness.orchestrate.ownership import Attempt, read_holder
from harness.orchestrate.plan import plan
from harness.orchestrate.progress import last_error, last_progress
from harness.orchestrate.resume import last_outcome, resume_point
from harness.paper.rows import Row
from harness.report.verdict import judgement_mark
from harness.store import BadRecord, RunDir, Status, Store
from harness.worker.device_check import setup_failure


def _live(t: Tracked, log_path) -> tuple[Status, str]:
    if t.state.state == "PENDING":
        why = t.state.reason
        return Status.PENDING, ("waiting for its producers' jobs" if why == "Dependency" else
                                f"queued ({why})" if why not in ("", "None") else "queued")
    return Status.RUNNING, last_progress(log_path) or "starting"


def _rerun(run: RunDir) -> str:
    it = resume_point(run)
    return f"a re-run resumes it from {run.last_checkpoint().name}" if it is not None \
        else "a re-run starts it over"


def _blocked(row: Row, states: dict, tracked: dict) -> str | None:
    """Why a producer keeps this row from running (any kind: proposals and their dump, same
    run, init, merge), or None."""
    for edge in row.edges:
        state = states.get(edge.row, (Status.PENDING,))[0]
        if state in (Status.FAILED, Status.BLOCKED):
            return f"by {edge.row} ({state}, {edge.label})"
        dump = tracked.get((edge.row, "dump")) if edge.kind == "proposals" else None
        if dump is not None and not dump.live and dump.state.state not in ("COMPLETED", "CANCELLED"):
            return f"by {edge.row}'s proposal dump (SLURM job {dump.job.job_id} {dump.state.state})"
    return None


def _ended_job(store: Store, row: Row, t: Tracked, states: dict, tracked: dict) -> tuple[Status, str]:
    """A row whose SLURM job ended without writing its record."""
    run = store.run(row.id, t.job.profile, t.job.seed)
    if t.job.cancelled_at:
        return Status.STOPPED, f"cancelled by 'harness cancel' at {t.job.cancelled_at}; {_rerun(run)}"
    blocked = _blocked(row, states, tracked)
    if blocked:
        return Status.BLOCKED, f"{blocked}; SLURM cancelled its job"
    if t.state.state == "CANCELLED":
        stopped = [e.row for e in row.edges if states.get(e.row, (None,))[0] == Status.STOPPED]
        return Status.STOPPED, (f"SLURM cancelled it after {stopped[0]} was stopped" if stopped
                                else "its SLURM job was cancelled") + f"; {_rerun(run)}"
    why = last_error(run.job_log, run.log)
    return Status.FAILED, f"SLURM job {t.job.job_id} {t.state.state}" + (f": {why}" if why else "")


def row_state(store: Store, row: Row, profile: str, seed: int,
              states: dict[str, tuple[Status, str]], tracked: dict | None = None) -> tuple[Status, str]:
    """A row's state; `states` holds those of the rows planned before it (its producers),
    `tracked` the SLURM jobs of the plan (adopt.track)."""
    tracked = tracked or {}
    run = store.run(row.id, profile, seed)
    t = tracked.get((row.id, "row")) or tracked.get((row.id, "alias"))
    if t is not None and t.live:
        if t.job.kind == "alias":
            return Status.PENDING, f"the same run as {row.same_as}: its job writes this record"
        return _live(t, run.log)
    if is_locked(store.root, row.id, profile, seed):
        return Status.RUNNING, _running(store, row, profile, seed, run)
    rec = store.get_or_bad(row.id, profile, seed)
    if isinstance(rec, BadRecord):
        return Status.CORRUPT, (f"{rec.path}: {rec.reason}; a re-run starts the row over (the "
                                "old run goes to results/archive/)")
    if t is not None and t.job.kind == "row" and t.state.state != "COMPLETED" and (
            rec is None or rec.get("slurm_job") != t.job.job_id):
        return _ended_job(store, row, t, states, tracked)
    if t is not None and t.job.kind == "alias" and rec is None and \
            states.get(row.same_as, (None,))[0] == Status.STOPPED:
        return Status.STOPPED, f"the same run as {row.same_as}, which was stopped"
    if rec is not None and rec.get("status") == Status.DONE:
        extra = " (resumed)" if rec.get("resumed") else ""
        mark = judgement_mark(rec)
        extra += f" ({mark})" if mark else ""
        return Status.DONE, f"{rec.get('finished_at', '')}{extra}"
    setup = setup_failure(run.path)   # its last attempt's set-up failure (no record was written)
    if setup:
        return Status.FAILED, f"set-up: {setup}"
    if Attempt.read(run) is not None and (outcome := last_outcome(run)) is not None:
        return Status.PENDING, (f"its worker finished ({outcome.status}) after its harness "
                                "stopped; a re-run records the outcome")
    # No record, or a failed one without an outcome (its worker was killed): a checkpoint that
    # a re-run continues from makes the row stopped, not failed.
    killed = rec is None or not run.outcome.exists()
    if killed and (it := resume_point(run)) is not None:
        return Status.STOPPED, f"at iteration {it}, checkpoint {run.last_checkpoint().name} " \
                               "(a re-run resumes)"
    if rec is not None and rec.get("status") == Status.FAILED:
        return Status.FAILED, rec.get("reason") or "unknown reason"
    blocked = _blocked(row, states, tracked)
    return (Status.BLOCKED, blocked) if blocked else (Status.PENDING, "")


def dump_state(store: Store, t: Tracked, producer: tuple[Status, str]) -> tuple[Status, str]:
    """The state of a proposal dump that runs as a SLURM job of its own, after its producer
    row (whose state is `producer`)."""
    run = store.run(t.job.row, t.job.profile, t.job.seed)
    if t.live:
        return _live(t, run.dump_log)
    if t.state.state == "COMPLETED":
        return Status.DONE, f"proposals in {run.proposals}"
    if t.job.cancelled_at:
        return Status.STOPPED, f"cancelled by 'harness cancel' at {t.job.cancelled_at}"
    if t.state.state == "CANCELLED":
        if producer[0] in (Status.FAILED, Status.BLOCKED, Status.STOPPED):
            return (Status.STOPPED if producer[0] == Status.STOPPED else Status.BLOCKED,
                    f"by {t.job.row} ({producer[0]}); SLURM cancelled its job")
        return Status.STOPPED, "its SLURM job was cancelled"
    why = last_error(run.dump_job_log, run.dump_log)
    return Status.FAILED, f"SLURM job {t.job.job_id} {t.state.state}" + (f": {why}" if why else "")


def _running(store: Store, row: Row, profile: str, seed: int, run) -> str:
    """`(pid N) <progress>`; an orphan (a worker whose sweep died) is said to be one."""
    holder = read_holder(lock_path(store.root, row.id, profile, seed))
    progress = last_progress(run.log) or "starting"
    if holder is None:
        return progress
    text = f"(pid {holder.pid}) {progress}"
    if holder.orphaned:
        text += (f"; orphaned: its harness (pid {holder.harness_pid}) is gone, a re-run waits "
                 "for it and records its outcome")
    return text


def render_status(store: Store, rows: list[Row], profile: str, seed: int = 0) -> str:
    steps = plan(rows)
    lines = [f"profile {profile}, seed {seed}, store {store.root}"]
    try:
        tracked = track(store, [s.row.id for s in steps], profile, seed)
    except HarnessError as exc:      # jobs were submitted, but SLURM cannot be asked from here
        tracked = {}
        lines.append(f"  (SLURM jobs not shown: {exc})")
    for t in tracked.values():
        settle(store, t, log=lambda msg: lines.append(f"  ({msg})"))
    states: dict[str, tuple[Status, str]] = {}
    shown: list[tuple[str, Status, str, Tracked | None]] = []
    for step in steps:
        rid = step.row.id
        states[rid] = row_state(store, step.row, profile, seed, states, tracked)
        t = tracked.get((rid, "row")) or tracked.get((rid, "alias"))
        shown.append((rid, *states[rid], t))
        dump = tracked.get((rid, "dump"))
        if dump is not None:
            shown.append((f"{rid} dump", *dump_state(store, dump, states[rid]), dump))
    width = max(len(r[0]) for r in shown)
    for rid, state, detail, t in shown:
        job = f"  [job {t.job.job_id} {t.state.state}]" if t is not None else ""
        lines.append(f"  {rid:{width}}  {state:8} {detail}{job}".rstrip())
    counts: dict[str, int] = {}
    for state, _ in states.values():
        counts[state] = counts.get(state, 0) + 1
    lines.append("  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)
