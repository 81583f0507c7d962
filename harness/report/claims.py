"""The paper's claims (harness/paper/claims.py: what each says and how it is encoded) checked
against the results: verdict, measured delta, the rule it was held to."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.report.aggregate import Group, judged_group
from harness.paper.claims import CLAIMS, KINDS, TIME, Claim  # noqa: F401  (re-exported for callers)
from harness.paper.constants import DEFAULT_TOLERANCE
from harness.paper.rows import Table

HOLDS, FAILS, NOT_ENOUGH, SERVER_ONLY = "holds", "fails", "not enough data", "COCO server only"
EPS = 1e-9


@dataclass(frozen=True)
class Side:
    value: float | None
    std: float | None
    n: int
    source: str          # "paper" | "literature" | why there is no number
    device: str | None = None
    deviations: tuple = ()   # reasons of runs judged anyway (--allow-deviations)


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: str
    measured_delta: float | None    # from reproduction runs only
    info_delta: float | None        # smoke-only delta, for information, never judged
    rule: str
    runs: str                       # "n_A / n_B"
    note: str


def _row(row_id: str, tables: dict[str, Table]):
    tid, _, letter = row_id.partition(".")
    return tables[tid].rows.get(letter) if tid in tables else None


def _time(g: Group) -> Side | None:
    rt = g.runtime()
    return None if rt is None else Side(rt[0] * 1000, None, len(g.done), "paper", f"{rt[1]}, "
                                        f"{'with' if rt[2] else 'without'} data loading")


def _side(row_id: str, metric: str, tables: dict[str, Table], groups) -> Side:
    row = _row(row_id, tables)
    if row is None:
        return Side(None, None, 0, f"{row_id} is not in published.yaml yet")
    tid = row_id.partition(".")[0]
    if metric != TIME and metric not in tables[tid].metrics:
        return Side(None, None, 0, f"{tid} has no metric {metric}")
    if row.literature:
        return Side(row.published.get(metric), None, 0, "literature")
    g: Group | None = judged_group(groups, row_id)
    if g is None:
        why = "not run" if row.runnable else "not runnable yet"
        return Side(None, None, 0, f"{row_id} {why} (paper profile)")
    if metric == TIME:
        return _time(g) or Side(None, None, 0, f"{row_id} has no measured inference time")
    cell = g.cell(metric)
    if cell is None:
        return Side(None, None, 0, f"{row_id} has no finished paper-profile run")
    if cell.na:
        return Side(None, None, 0, f"{metric} of {row_id} is n/a")
    return Side(cell.mean, cell.std, cell.n, "paper",
                deviations=tuple(r["text"] for r in g.reasons))


def _plus(side: Side, extra: Side) -> Side:
    """B's time with its proposals' RPN: both measured, on one device, or not enough data."""
    if side.value is None:
        return side
    if extra.value is None:
        return extra
    if extra.device != side.device:
        return Side(None, None, 0, f"times measured on different devices ({side.device} / "
                    f"{extra.device})")
    return Side(side.value + extra.value, None, min(side.n, extra.n), "paper", side.device)


def _info_delta(claim: Claim, groups) -> float | None:
    """Mean(A) - mean(B) over the first non-reproduction profile both rows share."""
    if claim.metric == TIME:
        return None
    a, b = groups.get(claim.a, {}), groups.get(claim.b, {})
    for profile in sorted(set(a) & set(b)):
        if a[profile].judged or a[profile].reproduction_profile:
            continue   # a paper-profile run that is not a reproduction never enters a claim
        ca, cb = a[profile].cell(claim.metric), b[profile].cell(claim.column_b)
        if ca and cb and ca.mean is not None and cb.mean is not None:
            return ca.mean - cb.mean
    return None


def evaluate(claim: Claim, tables: dict[str, Table], groups, tol: float = DEFAULT_TOLERANCE) -> ClaimResult:
    table_a = tables.get(claim.a.partition(".")[0])
    if table_a is not None and claim.metric != TIME and table_a.metrics.get(claim.metric, 1) is None:
        return ClaimResult(claim, SERVER_ONLY, None, None, claim.rule(tol), "-",
                           "scored by the COCO evaluation server; Table 4's run writes the result "
                           "file to submit")
    sa, sb = _side(claim.a, claim.metric, tables, groups), _side(claim.b, claim.column_b, tables, groups)
    if claim.b_plus:
        sb = _plus(sb, _side(claim.b_plus, claim.metric, tables, groups))
    if claim.kind == "faster" and sa.value is not None and sb.value is not None \
            and sa.device != sb.device:
        sb = Side(None, None, 0, f"times measured on different devices ({sa.device} / {sb.device})")
    runs = " / ".join(str(s.n) if s.source == "paper" else
                      "lit." if s.source == "literature" else "0" for s in (sa, sb))
    rule = claim.rule(tol, sb.value)
    if sa.value is None or sb.value is None or "paper" not in (sa.source, sb.source):
        missing = "; ".join(s.source for s in (sa, sb) if s.value is None)
        info = _info_delta(claim, groups)
        note = missing or "no reproduction run on either side"
        if info is not None:   # with no paper run on either side, "smoke only" says it all
            smoke = f"smoke only: measured delta {info:+.1f} shown for information"
            note = smoke if sa.value is None and sb.value is None else f"{note}; {smoke}"
        return ClaimResult(claim, NOT_ENOUGH, None, info, rule, runs, note)
    delta = sa.value - sb.value
    lo, hi = claim.bounds(tol, sb.value)
    ok = (lo is None or delta >= lo - EPS) and (hi is None or delta <= hi + EPS)
    if claim.kind == "direction":
        ok = delta > EPS
    if claim.kind == "faster":
        ok = delta < -EPS
    notes = []
    margin = min(abs(delta - x) for x in (lo, hi) if x is not None)
    spread = math.sqrt(sum(s.std ** 2 for s in (sa, sb) if s.std is not None)) \
        if any(s.std is not None for s in (sa, sb)) else None
    if spread is not None and margin < spread:
        notes.append(f"verdict hinges on a margin of {margin:.1f}, smaller than the run-to-run "
                     f"spread ±{spread:.1f}")
    elif spread is None and claim.kind == "direction" and abs(delta) <= tol:
        notes.append(f"delta within the ±{tol:g} tolerance band (single runs: spread unknown)")
    if claim.kind == "faster":
        notes.append(f"{sa.value:.1f} vs {sb.value:.1f} ms/img on {sa.device}")
    if not ok and claim.kind in ("gain", "large", "ratio") and delta > 0:
        notes.append("direction holds, gain smaller than the paper's words")
    if not ok and claim.kind in ("gain", "large", "ratio", "direction") and delta <= 0:
        notes.append("reversed")
    for row_id, side in ((claim.a, sa), (claim.b, sb)):
        if side.deviations:
            notes.append(f"{row_id} judged with deviations (--allow-deviations): "
                         + "; ".join(side.deviations))
    return ClaimResult(claim, HOLDS if ok else FAILS, delta, None, rule, runs, "; ".join(notes))


def evaluate_all(tables: dict[str, Table], groups, tol: float = DEFAULT_TOLERANCE,
                 claims: list[Claim] | None = None) -> list[ClaimResult]:
    return [evaluate(c, tables, groups, tol) for c in (CLAIMS if claims is None else claims)]
