"""The sweep's plan: the requested rows and everything they depend on (harness/paper/rows.py:
Edge), each once, producers first. The dry-run view prices it in GPU-hours under the paper's
schedule without importing torch (it must answer in well under a second)."""
from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError
from harness.paper.constants import PAPER_GPU_HOURS, PAPER_GPUS
from harness.paper.rows import Row, get_row, load_tables


@dataclass(frozen=True)
class Step:
    row: Row
    requested: bool     # asked for by the user (vs. pulled in as a dependency)


def plan(rows: list[Row]) -> list[Step]:
    """Rows in an order where every producer comes first."""
    out: list[Step] = []
    seen: dict[str, int] = {}

    def visit(row: Row, requested: bool, chain: tuple[str, ...]) -> None:
        if row.id in chain:
            raise HarnessError(f"published.yaml has a dependency cycle: {' -> '.join(chain + (row.id,))}")
        for dep in row.deps:
            visit(get_row(dep), False, chain + (row.id,))
        if row.id in seen:
            if requested:
                out[seen[row.id]] = Step(row, True)
            return
        seen[row.id] = len(out)
        out.append(Step(row, requested))

    for r in rows:
        visit(r, True, ())
    return out


def paper_gpu_hours(row: Row) -> float | None:
    """GPU-hours of the row's training under the paper's schedule; None where the paper states no
    training time (Table 6); 0 for rows that train nothing (an alias, a merged model)."""
    if row.same_as or row.merge:
        return 0.0
    hours = PAPER_GPU_HOURS.get(row.task or load_tables()[row.table].task)
    return None if hours is None else hours * (2 if row.schedule == "2x" else 1)


def render_plan(steps: list[Step], profile, launch, seeds: int) -> str:
    lines = [f"plan: {len(steps)} rows x {seeds} seed(s), profile {profile.name}, launcher "
             f"{launch.launcher} x{launch.processes}",
             f"  {'#':>3}  {'row':17} {'needs':66} {'GPU-h (paper schedule)':>22}  name"]
    total, unknown = 0.0, 0
    for i, step in enumerate(steps, 1):
        row = step.row
        kinds: dict[str, list[str]] = {}
        for e in row.edges:
            kinds.setdefault(e.row, []).append(e.label)
        needs = ", ".join(f"{d} ({' + '.join(k)})" for d, k in kinds.items()) or "-"
        hours = paper_gpu_hours(row)
        if hours is None:
            unknown += 1
        else:
            total += hours * seeds
        shown = "?" if hours is None else f"{hours:.0f}"
        lines.append(f"  {i:>3}  {row.id:17} {needs:66} {shown:>22}  {row.name}"
                     + ("" if step.requested else "  (dependency)"))
    lines.append(f"estimated {total:.0f} GPU-hours for the paper profile (~{total / PAPER_GPUS:.0f} h "
                 f"on {PAPER_GPUS} GPUs; proposal dumps not counted"
                 + (f"; {unknown} row(s) without a published training time not counted)" if unknown else ")")
                 + (f"; the {profile.name} profile takes minutes on a CPU" if profile.name == "smoke" else ""))
    return "\n".join(lines)
