"""The paper's textual claims as checkable statements over the results.

Every claim compares two rows on one metric: "A beats B by d" with d = published(A) -
published(B) (the paper's own tables; `tests/test_claims.py` checks each d against
published.yaml). The measured delta is mean(A) - mean(B) over judged `paper`-profile runs only
(reproductions: harness/report/verdict.py may_judge): smoke numbers are shown for information
and never decide a verdict; a paper-profile run that is not a reproduction never enters, and
one judged anyway (--allow-deviations) has its reasons in the verdict's note. A literature row (He et
al.'s baseline, SharpMask) enters with its published number, as the paper compares them.

Rules (`tol` is the report's tolerance, 0.5 points by default: the band within which one COCO
number reproduces; a claim's delta is held to the same band):
  gain       the text states the gain ("8.0 points increase"): holds if delta >= d - tol
  roughly    the text gives a round or qualitative large gap ("10 points higher", "lag far
             behind"): holds if delta >= 0.8 d - tol, i.e. at least about the paper's gap
  direction  the text claims a direction only ("marginally worse", "a small margin"):
             holds if delta > 0; flagged when delta is inside the tolerance band (noise)
  no_gain    "no advantage": holds if delta <= tol
  on_par     "largely unchanged": holds if |delta| <= tol
A claim fails otherwise. It has not enough data when either row has no finished reproduction
run, its metric is undefined, or the row is not in published.yaml yet (Tables 4 and 5).
With several runs per row the spread is sqrt(std_A^2 + std_B^2); a verdict whose margin to
its threshold is smaller than that says so."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.report.aggregate import Group, judged_group
from harness.paper.constants import DEFAULT_TOLERANCE
from harness.paper.rows import Table

HOLDS, FAILS, NOT_ENOUGH = "holds", "fails", "not enough data"
KINDS = ("gain", "roughly", "direction", "no_gain", "on_par")
EPS = 1e-9


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    quote: str          # the paper's words
    a: str              # row id
    b: str              # row id
    metric: str         # paper column, as in published.yaml
    paper_delta: float  # published(a) - published(b)
    kind: str

    def bounds(self, tol: float) -> tuple[float | None, float | None]:
        """(lowest, highest) measured delta that supports the claim; None: unbounded."""
        d = self.paper_delta
        return {"gain": (d - tol, None), "roughly": (0.8 * d - tol, None),
                "direction": (0.0, None), "no_gain": (None, tol),
                "on_par": (-tol, tol)}[self.kind]

    def rule(self, tol: float) -> str:
        lo, hi = self.bounds(tol)
        if self.kind == "direction":
            return "delta > 0"
        if lo is not None and hi is not None:
            return f"|delta| <= {hi:.1f}"
        return f"delta >= {lo:.1f}" if lo is not None else f"delta <= {hi:.1f}"


def _c(id, section, quote, a, b, metric, d, kind):
    return Claim(id, section, quote, a, b, metric, d, kind)


CLAIMS: list[Claim] = [
    # Sec. 5.1.1, Table 1 (RPN)
    _c("rpn_fpn_vs_c4_ar1k", "5.1.1", "Placing FPN in RPN improves AR1k to 56.3 (Table 1(c)), "
       "which is 8.0 points increase over the single-scale RPN baseline (Table 1(a)).",
       "table1.c", "table1.a", "AR@1k", 8.0, "gain"),
    _c("rpn_fpn_vs_c4_ars", "5.1.1", "the performance on small objects (AR_s1k) is boosted by a "
       "large margin of 12.9 points.", "table1.c", "table1.a", "AR_s@1k", 12.9, "gain"),
    _c("rpn_c5_no_advantage", "5.1.1", "Table 1(b) shows no advantage over (a), indicating that a "
       "single higher-level feature map is not enough.", "table1.b", "table1.a", "AR@1k", -3.4,
       "no_gain"),
    _c("rpn_top_down", "5.1.1", "How important is top-down enrichment? The results in Table 1(d) "
       "are just on par with the RPN baseline and lag far behind ours.",
       "table1.c", "table1.d", "AR@1k", 6.8, "roughly"),
    _c("rpn_lateral", "5.1.1", "How important are lateral connections? FPN has an AR1k score 10 "
       "points higher than Table 1(e).", "table1.c", "table1.e", "AR@1k", 10.2, "roughly"),
    _c("rpn_pyramid_vs_p2", "5.1.1", "How important are pyramid representations? This variant "
       "(Table 1(f)) is better than the baseline but inferior to our approach.",
       "table1.c", "table1.f", "AR@1k", 5.0, "direction"),
    _c("rpn_p2_vs_c4", "5.1.1", "This variant (Table 1(f)) is better than the baseline.",
       "table1.f", "table1.a", "AR@1k", 3.0, "direction"),
    # Sec. 5.2.1, Table 2 (Fast R-CNN on fixed proposals)
    _c("fast_fpn_vs_c4_ap", "5.2.1", "Comparing with the baseline in Table 2(a), our method "
       "improves AP by 2.0 points", "table2.c", "table2.a", "AP", 2.0, "gain"),
    _c("fast_fpn_vs_c4_aps", "5.2.1", "... and small object AP by 2.1 points.",
       "table2.c", "table2.a", "AP_s", 2.1, "gain"),
    _c("fast_fpn_vs_c5_2fc", "5.2.1", "Comparing with the baseline that also adopts a 2-fc head "
       "(Table 2(b)), our method improves AP by 5.1 points.", "table2.c", "table2.b", "AP", 5.1,
       "gain"),
    _c("fast_2fc_no_advantage", "5.2.1", "the 2-fc head does not give us any orthogonal "
       "advantage over the baseline in Table 2(a).", "table2.b", "table2.a", "AP", -3.1, "no_gain"),
    _c("fast_top_down", "5.2.1", "removing top-down connections (Table 2(d)) significantly "
       "degrades the accuracy", "table2.c", "table2.d", "AP", 9.0, "roughly"),
    _c("fast_lateral", "5.2.1", "Table 2(d) and (e) show that removing top-down connections or "
       "removing lateral connections leads to inferior results", "table2.c", "table2.e", "AP",
       2.6, "direction"),
    _c("fast_pyramid_vs_p2", "5.2.1", "Its result (33.4 AP) is marginally worse than that of "
       "using all pyramid levels (33.9 AP, Table 2(c)).", "table2.c", "table2.f", "AP", 0.5,
       "direction"),
    # Sec. 5.2.2, Table 3 (Faster R-CNN) and Table 5 (sharing features)
    _c("faster_fpn_vs_c4_ap", "5.2.2", "our FPN (Table 3(c)) is better than this strong baseline "
       "by 2.3 points AP", "table3.c", "table3.a", "AP", 2.3, "gain"),
    _c("faster_fpn_vs_c4_ap50", "5.2.2", "... and 3.8 points AP@0.5.", "table3.c", "table3.a",
       "AP@0.5", 3.8, "gain"),
    _c("faster_fpn_vs_he", "5.2.2", "comparing with He et al.'s ResNet-50 Faster R-CNN baseline "
       "in Table 3(*), our method improves AP by 7.6 points", "table3.c", "table3.*", "AP", 7.6,
       "gain"),
    _c("share_features_r50", "5.2.2", "we find that sharing features improves accuracy by a "
       "small margin (Table 5, ResNet-50).", "table5.r50_yes", "table5.r50_no", "AP", 0.4,
       "direction"),
    _c("share_features_r101", "5.2.2", "sharing features improves accuracy by a small margin "
       "(Table 5, ResNet-101).", "table5.r101_yes", "table5.r101_no", "AP", 0.2, "direction"),
    # Sec. 5.2.3, Table 4 (test-dev)
    _c("testdev_ap_vs_best", "5.2.3", "On the test-dev set, our method increases over the "
       "existing best results by 0.5 points of AP (36.2 vs. 35.7)", "table4.ours",
       "table4.attractionnet", "AP (test-dev)", 0.5, "gain"),
    # Sec. 6.1, Table 6 (segment proposals)
    _c("segm_7x7_unchanged", "6.1", "Switching to a slightly larger 7x7 MLP leaves accuracy "
       "largely unchanged.", "table6.b", "table6.a", "AR@1k", 0.1, "on_par"),
    _c("segm_dual_vs_5x5", "6.1", "Using both MLPs together increases accuracy to 45.7 AR "
       "(from 43.4 with the single 5x5 MLP).", "table6.c", "table6.a", "AR@1k", 2.3, "gain"),
    _c("segm_dual_vs_7x7", "6.1", "Using both MLPs together increases accuracy to 45.7 AR "
       "(single 7x7 MLP: 43.5).", "table6.c", "table6.b", "AR@1k", 2.2, "gain"),
    _c("segm_mask28", "6.1", "Increasing mask output size from 14x14 to 28x28 increases AR "
       "another point", "table6.d", "table6.c", "AR@1k", 1.0, "roughly"),
    _c("segm_2x_schedule", "6.1", "Finally, doubling the training iterations increases AR to "
       "48.1.", "table6.e", "table6.d", "AR@1k", 1.4, "gain"),
    _c("segm_vs_sharpmask", "6.1", "We outperform the accuracy of these approaches by over 8.3 "
       "points AR.", "table6.e", "table6.sharpmask", "AR@1k", 8.3, "gain"),
]


@dataclass(frozen=True)
class Side:
    value: float | None
    std: float | None
    n: int
    source: str          # "paper" | "literature" | why there is no number
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


def _side(row_id: str, metric: str, tables: dict[str, Table], groups) -> Side:
    tid, _, letter = row_id.partition(".")
    row = tables.get(tid).rows.get(letter) if tid in tables else None
    if row is None:
        return Side(None, None, 0, f"{row_id} is not in published.yaml yet")
    if metric not in tables[tid].metrics:
        return Side(None, None, 0, f"{tid} has no metric {metric}")
    if row.literature:
        return Side(row.published.get(metric), None, 0, "literature")
    g: Group | None = judged_group(groups, row_id)
    if g is None:
        why = "not run" if row.runnable else "not runnable yet"
        return Side(None, None, 0, f"{row_id} {why} (paper profile)")
    cell = g.cell(metric)
    if cell is None:
        return Side(None, None, 0, f"{row_id} has no finished paper-profile run")
    if cell.na:
        return Side(None, None, 0, f"{metric} of {row_id} is n/a")
    return Side(cell.mean, cell.std, cell.n, "paper", tuple(r["text"] for r in g.reasons))


def _info_delta(claim: Claim, groups) -> float | None:
    """Mean(A) - mean(B) over the first non-reproduction profile both rows share."""
    a, b = groups.get(claim.a, {}), groups.get(claim.b, {})
    for profile in sorted(set(a) & set(b)):
        if a[profile].judged or a[profile].reproduction_profile:
            continue   # a paper-profile run that is not a reproduction never enters a claim
        ca, cb = a[profile].cell(claim.metric), b[profile].cell(claim.metric)
        if ca and cb and ca.mean is not None and cb.mean is not None:
            return ca.mean - cb.mean
    return None


def evaluate(claim: Claim, tables: dict[str, Table], groups, tol: float = DEFAULT_TOLERANCE) -> ClaimResult:
    sa, sb = _side(claim.a, claim.metric, tables, groups), _side(claim.b, claim.metric, tables, groups)
    runs = " / ".join(str(s.n) if s.source == "paper" else
                      "lit." if s.source == "literature" else "0" for s in (sa, sb))
    rule = claim.rule(tol)
    if sa.value is None or sb.value is None or "paper" not in (sa.source, sb.source):
        missing = "; ".join(s.source for s in (sa, sb) if s.value is None)
        info = _info_delta(claim, groups)
        note = missing or "no reproduction run on either side"
        if info is not None:   # with no paper run on either side, "smoke only" says it all
            smoke = f"smoke only: measured delta {info:+.1f} shown for information"
            note = smoke if sa.value is None and sb.value is None else f"{note}; {smoke}"
        return ClaimResult(claim, NOT_ENOUGH, None, info, rule, runs, note)
    delta = sa.value - sb.value
    lo, hi = claim.bounds(tol)
    ok = (lo is None or delta >= lo - EPS) and (hi is None or delta <= hi + EPS)
    if claim.kind == "direction":
        ok = delta > EPS
    notes = []
    margin = min(abs(delta - x) for x in (lo, hi) if x is not None)
    spread = math.sqrt(sum(s.std ** 2 for s in (sa, sb) if s.std is not None)) \
        if any(s.std is not None for s in (sa, sb)) else None
    if spread is not None and margin < spread:
        notes.append(f"verdict hinges on a margin of {margin:.1f}, smaller than the run-to-run "
                     f"spread ±{spread:.1f}")
    elif spread is None and claim.kind == "direction" and abs(delta) <= tol:
        notes.append(f"delta within the ±{tol:g} tolerance band (single runs: spread unknown)")
    if not ok and claim.kind in ("gain", "roughly") and delta > 0:
        notes.append(f"direction holds, gain smaller than the paper's {claim.paper_delta:+.1f}")
    if not ok and claim.kind in ("gain", "roughly", "direction") and delta <= 0:
        notes.append("reversed")
    for row_id, side in ((claim.a, sa), (claim.b, sb)):
        if side.deviations:
            notes.append(f"{row_id} judged with deviations (--allow-deviations): "
                         + "; ".join(side.deviations))
    return ClaimResult(claim, HOLDS if ok else FAILS, delta, None, rule, runs, "; ".join(notes))


def evaluate_all(tables: dict[str, Table], groups, tol: float = DEFAULT_TOLERANCE,
                 claims: list[Claim] | None = None) -> list[ClaimResult]:
    return [evaluate(c, tables, groups, tol) for c in (CLAIMS if claims is None else claims)]
