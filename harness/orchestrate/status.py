"""`harness status`: every row's state, progress and ETA, read from the store (never from memory
of a sweep, so it works while sweeps run elsewhere and after they die)."""
from __future__ import annotations

from pathlib import Path

from harness.orchestrate.locks import is_locked
from harness.orchestrate.sweep import last_progress, plan
from harness.store.records import Store
from harness.worker.device_check import setup_failure


def row_state(store: Store, row, profile: str, seed: int, states: dict) -> tuple[str, str]:
    rec = store.get(row.id, profile, seed)
    if is_locked(store.root, row.id, profile, seed):
        progress = last_progress(store.run_dir(row.id, profile, seed) / "worker.log")
        return "running", progress or "starting"
    if rec is not None and rec.get("status") == "done":
        extra = " (resumed)" if rec.get("resumed") else ""
        return "done", f"{rec.get('finished_at', '')}{extra}"
    setup = setup_failure(store.run_dir(row.id, profile, seed))   # its last attempt's, no record
    if setup and (rec is None or rec.get("status") != "done"):
        return "failed", f"set-up: {setup}"
    if rec is not None and rec.get("status") == "failed":
        return "failed", rec.get("reason") or "unknown reason"
    ckpt = store.run_dir(row.id, profile, seed) / "work" / "last_checkpoint"
    if rec is None and ckpt.exists():
        return "stopped", f"interrupted at {Path(ckpt.read_text().strip()).name}; a re-run resumes it"
    for dep in (row.proposals_from, row.same_as):
        if dep and states.get(dep, ("",))[0] in ("failed", "blocked"):
            return "blocked", f"by {dep} ({states[dep][0]})"
    return "pending", ""


def render_status(store: Store, rows, profile: str, seed: int = 0) -> str:
    states: dict[str, tuple[str, str]] = {}
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
