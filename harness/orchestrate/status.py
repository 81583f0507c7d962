"""`harness status`: every row's state, progress and ETA, read from the store (never from the
memory of a sweep, so it works while sweeps run elsewhere and after they die)."""
from __future__ import annotations

from harness.orchestrate.locks import is_locked, lock_path
from harness.orchestrate.ownership import Attempt, read_holder
from harness.orchestrate.plan import plan
from harness.orchestrate.progress import last_progress
from harness.orchestrate.resume import last_outcome, resume_point
from harness.paper.rows import Row
from harness.report.verdict import judgement_mark
from harness.store import BadRecord, Status, Store
from harness.worker.device_check import setup_failure


def row_state(store: Store, row: Row, profile: str, seed: int,
              states: dict[str, tuple[Status, str]]) -> tuple[Status, str]:
    """A row's state; `states` holds those of the rows planned before it (its producers)."""
    run = store.run(row.id, profile, seed)
    if is_locked(store.root, row.id, profile, seed):
        return Status.RUNNING, _running(store, row, profile, seed, run)
    rec = store.get_or_bad(row.id, profile, seed)
    if isinstance(rec, BadRecord):
        return Status.CORRUPT, (f"{rec.path}: {rec.reason}; a re-run starts the row over (the "
                                "old run goes to results/archive/)")
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
    for edge in row.edges:   # any kind of producer: proposals, same run, init, merge
        state = states.get(edge.row, (Status.PENDING,))[0]
        if state in (Status.FAILED, Status.BLOCKED):
            return Status.BLOCKED, f"by {edge.row} ({state}, {edge.label})"
    return Status.PENDING, ""


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
    states: dict[str, tuple[Status, str]] = {}
    for step in plan(rows):
        states[step.row.id] = row_state(store, step.row, profile, seed, states)
    width = max(len(r) for r in states)
    lines = [f"profile {profile}, seed {seed}, store {store.root}"]
    lines += [f"  {rid:{width}}  {state:8} {detail}".rstrip() for rid, (state, detail) in states.items()]
    counts: dict[str, int] = {}
    for state, _ in states.values():
        counts[state] = counts.get(state, 0) + 1
    lines.append("  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)
