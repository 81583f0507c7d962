"""`harness status`: every row's state, progress and ETA, read from the store (never from the
memory of a sweep, so it works while sweeps run elsewhere and after they die)."""
from __future__ import annotations

from harness.orchestrate.locks import is_locked
from harness.orchestrate.plan import plan
from harness.orchestrate.progress import last_progress
from harness.paper.rows import Row
from harness.report.verdict import judgement_mark
from harness.store import Status, Store
from harness.worker.device_check import setup_failure


def row_state(store: Store, row: Row, profile: str, seed: int,
              states: dict[str, tuple[Status, str]]) -> tuple[Status, str]:
    """A row's state; `states` holds those of the rows planned before it (its producers)."""
    run = store.run(row.id, profile, seed)
    if is_locked(store.root, row.id, profile, seed):
        return Status.RUNNING, last_progress(run.log) or "starting"
    rec = store.get(row.id, profile, seed)
    if rec is not None and rec.get("status") == Status.DONE:
        extra = " (resumed)" if rec.get("resumed") else ""
        mark = judgement_mark(rec)
        extra += f" ({mark})" if mark else ""
        return Status.DONE, f"{rec.get('finished_at', '')}{extra}"
    setup = setup_failure(run.path)   # its last attempt's set-up failure (no record was written)
    if setup:
        return Status.FAILED, f"set-up: {setup}"
    if rec is not None and rec.get("status") == Status.FAILED:
        return Status.FAILED, rec.get("reason") or "unknown reason"
    if rec is None and (run.work / "last_checkpoint").exists():
        name = run.last_checkpoint().name if run.last_checkpoint() else "a checkpoint"
        return Status.STOPPED, f"interrupted at {name}; a re-run resumes it"
    for edge in row.edges:   # any kind of producer: proposals, same run, init, merge
        state = states.get(edge.row, (Status.PENDING,))[0]
        if state in (Status.FAILED, Status.BLOCKED):
            return Status.BLOCKED, f"by {edge.row} ({state}, {edge.label})"
    return Status.PENDING, ""


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
