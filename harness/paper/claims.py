"""The paper's textual claims as checkable statements over the results.

A claim compares two rows: delta = mean(A) - mean(B) over `paper`-profile runs only (smoke
numbers are shown for information and never decide a verdict). A literature row (He et al.'s
baseline, SharpMask) enters with its published number, as the paper compares them. `quote` is
the paper's words verbatim; `context` holds our words (which rows the sentence means); d is
published(A) - published(B) in the paper's own tables. `tests/unit/test_claims_fidelity.py`
pins every claim's rows, metric and threshold against the paper's text.

The encoding follows the words (tol: the report's tolerance, 0.5 points by default, the band
within which one COCO number reproduces; a claim's delta is held to the same band):
  gain       a stated number of points, "8.0 points increase", "10 points higher", "another
             point" (= 1): holds if delta >= N - tol with N the number the text states, not a
             rounder or smaller one; where the text states only where A ends ("increases AR to
             48.1"), N is the table's gap d.
  large      a large gap in words only ("lag far behind", "significantly degrades"): holds if
             delta >= 0.8 d - tol, most of the paper's gap.
  direction  a direction only ("better", "marginally worse", "a small margin"): delta > 0;
             flagged when delta is inside the tolerance band (noise).
  no_gain    "no advantage": delta <= tol.
  on_par     "on par", "largely unchanged": |delta| <= |d| + tol, i.e. no further apart than the
             two rows the paper calls on par (1(d) vs 1(a): 1.2 points), within tolerance.
  ratio      "nearly double": A >= r B - tol, r the paper's own ratio (32.6 / 17.4 = 1.87).
  faster     "reduces the testing time": A's inference time per image below B's, both measured
             on the same device (B's time includes the RPN run that makes its proposals).
A claim on a column only the COCO evaluation server scores (Table 4's test-dev) reads "COCO
server only". Otherwise it has not enough data when either row has no finished reproduction run
or its metric is undefined. With several runs per row the spread is sqrt(std_A^2 + std_B^2); a
verdict whose margin to its threshold is smaller than that says so."""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("gain", "large", "direction", "no_gain", "on_par", "ratio", "faster")
TIME = "ms/img"   # the inference-time "metric" of `faster` claims: the records' runtime


@dataclass(frozen=True)
class Claim:
    id: str
    section: str
    quote: str                  # the paper's words, verbatim
    a: str                      # row id
    b: str                      # row id
    metric: str                 # paper column of A (as in published.yaml), or TIME
    paper_delta: float | None   # published(a) - published(b); None: the paper gives no numbers
    kind: str
    stated: float | None = None   # gain: N as the words state it; ratio: the paper's A / B
    context: str = ""             # our words around the quote
    metric_b: str | None = None   # B's column when it differs from A's
    b_plus: str | None = None     # faster: the row whose time adds to B's (its proposals' RPN)

    @property
    def column_b(self) -> str:
        return self.metric_b or self.metric

    def bounds(self, tol: float, b_value: float | None = None) -> tuple[float | None, float | None]:
        """(lowest, highest) measured delta that supports the claim; None: unbounded."""
        d = self.paper_delta
        if self.kind == "gain":
            return (d if self.stated is None else self.stated) - tol, None
        if self.kind == "large":
            return 0.8 * d - tol, None
        if self.kind == "no_gain":
            return None, tol
        if self.kind == "on_par":
            return -abs(d) - tol, abs(d) + tol
        if self.kind == "ratio":   # A >= r B - tol  <=>  delta >= (r - 1) B - tol
            return (None if b_value is None else (self.stated - 1) * b_value - tol), None
        return 0.0, None   # direction: delta > 0; faster: see evaluate (delta < 0)

    def rule(self, tol: float, b_value: float | None = None) -> str:
        if self.kind == "direction":
            return "delta > 0"
        if self.kind == "faster":
            return "delta < 0 (A faster)"
        lo, hi = self.bounds(tol, b_value)
        if self.kind == "ratio" and lo is None:
            return f"A >= {self.stated:.2f} x B - {tol:g}"
        if lo is not None and hi is not None:
            return f"|delta| <= {hi:.1f}"
        return f"delta >= {lo:.1f}" if lo is not None else f"delta <= {hi:.1f}"


def _c(id, section, quote, a, b, metric, d, kind, **kw) -> Claim:
    return Claim(id, section, quote, a, b, metric, d, kind, **kw)


CLAIMS: list[Claim] = [
    # Sec. 5.1.1, Table 1 (RPN)
    _c("rpn_fpn_vs_c4_ar1k", "5.1.1", "Placing FPN in RPN improves AR1k to 56.3 (Table 1(c)), "
       "which is 8.0 points increase over the single-scale RPN baseline (Table 1(a)).",
       "table1.c", "table1.a", "AR@1k", 8.0, "gain", stated=8.0),
    _c("rpn_fpn_vs_c4_ars", "5.1.1", "the performance on small objects (AR_s1k) is boosted by a "
       "large margin of 12.9 points.", "table1.c", "table1.a", "AR_s@1k", 12.9, "gain", stated=12.9,
       context="Table 1(c) vs (a)"),
    _c("rpn_c5_no_advantage", "5.1.1", "Table 1(b) shows no advantage over (a), indicating that a "
       "single higher-level feature map is not enough", "table1.b", "table1.a", "AR@1k", -3.4,
       "no_gain"),
    _c("rpn_bottom_up_on_par", "5.1.1", "The results in Table 1(d) are just on par with the RPN "
       "baseline", "table1.d", "table1.a", "AR@1k", 1.2, "on_par",
       context="the single-scale RPN baseline, Table 1(a)"),
    _c("rpn_top_down", "5.1.1", "and lag far behind ours.", "table1.c", "table1.d", "AR@1k", 6.8,
       "large", context="Table 1(d), without the top-down pathway, vs ours, Table 1(c)"),
    _c("rpn_lateral", "5.1.1", "FPN has an AR1k score 10 points higher than Table 1(e).",
       "table1.c", "table1.e", "AR@1k", 10.2, "gain", stated=10.0),
    _c("rpn_pyramid_vs_p2", "5.1.1", "This variant (Table 1(f)) is better than the baseline but "
       "inferior to our approach.", "table1.c", "table1.f", "AR@1k", 5.0, "direction",
       context="ours, Table 1(c), vs Table 1(f)"),
    _c("rpn_p2_vs_c4", "5.1.1", "This variant (Table 1(f)) is better than the baseline",
       "table1.f", "table1.a", "AR@1k", 3.0, "direction", context="the baseline: Table 1(a)"),
    # Sec. 5.2.1, Table 2 (Fast R-CNN on fixed proposals)
    _c("fast_fpn_vs_c4_ap", "5.2.1", "Comparing with the baseline in Table 2(a), our method "
       "improves AP by 2.0 points", "table2.c", "table2.a", "AP", 2.0, "gain", stated=2.0),
    _c("fast_fpn_vs_c4_aps", "5.2.1", "and small object AP by 2.1 points.",
       "table2.c", "table2.a", "AP_s", 2.1, "gain", stated=2.1, context="Table 2(c) vs (a)"),
    _c("fast_fpn_vs_c5_2fc", "5.2.1", "Comparing with the baseline that also adopts a 2-fc head "
       "(Table 2(b)), our method improves AP by 5.1 points.", "table2.c", "table2.b", "AP", 5.1,
       "gain", stated=5.1),
    _c("fast_2fc_no_advantage", "5.2.1", "the 2-fc head does not give us any orthogonal "
       "advantage over the baseline in Table 2(a).", "table2.b", "table2.a", "AP", -3.1, "no_gain",
       context="Table 2(b)"),
    _c("fast_top_down", "5.2.1", "removing top-down connections (Table 2(d)) significantly "
       "degrades the accuracy", "table2.c", "table2.d", "AP", 9.0, "large"),
    _c("fast_lateral", "5.2.1", "removing lateral connections leads to inferior results",
       "table2.c", "table2.e", "AP", 2.6, "direction", context="Table 2(e) vs (c)"),
    _c("fast_pyramid_vs_p2", "5.2.1", "Its result (33.4 AP) is marginally worse than that of "
       "using all pyramid levels (33.9 AP, Table 2(c)).", "table2.c", "table2.f", "AP", 0.5,
       "direction", context="Table 2(f)"),
    # Sec. 5.2.2, Table 3 (Faster R-CNN) and Table 5 (sharing features)
    _c("faster_fpn_vs_c4_ap", "5.2.2", "our FPN (Table 3(c)) is better than this strong baseline "
       "by 2.3 points AP", "table3.c", "table3.a", "AP", 2.3, "gain", stated=2.3,
       context="the baseline: Table 3(a)"),
    _c("faster_fpn_vs_c4_ap50", "5.2.2", "and 3.8 points AP@0.5.", "table3.c", "table3.a",
       "AP@0.5", 3.8, "gain", stated=3.8, context="Table 3(c) vs (a)"),
    _c("faster_fpn_vs_he", "5.2.2", "comparing with He et al.'s ResNet-50 Faster R-CNN baseline "
       "in Table 3(*), our method improves AP by 7.6 points", "table3.c", "table3.*", "AP", 7.6,
       "gain", stated=7.6),
    _c("faster_fpn_vs_he_ap50", "5.2.2", "and AP@0.5 by 9.6 points.", "table3.c", "table3.*",
       "AP@0.5", 9.6, "gain", stated=9.6, context="Table 3(c) vs He et al.'s baseline, 3(*)"),
    _c("share_features_r50", "5.2.2", "we find that sharing features improves accuracy by a "
       "small margin", "table5.r50_yes", "table5.r50_no", "AP", 0.4, "direction",
       context="Table 5, ResNet-50"),
    _c("share_features_r101", "5.2.2", "we find that sharing features improves accuracy by a "
       "small margin", "table5.r101_yes", "table5.r101_no", "AP", 0.2, "direction",
       context="Table 5, ResNet-101"),
    _c("share_features_time", "5.2.2", "Feature sharing also reduces the testing time.",
       "table5.r50_yes", "table5.r50_no", TIME, None, "faster", b_plus="table1.c",
       context="Table 5, ResNet-50: the shared model vs the RPN of 1(c) plus the detector of "
               "2(c), each timed on its own test run"),
    # Sec. 5.2.3, Tables 4 and 5
    _c("r101_2x_minival", "5.2.3", "This increases AP on minival to 35.6", "table4.ours",
       "table5.r101_no", "AP (minival)", 0.6, "gain", metric_b="AP",
       context="2x the mini-batches at each learning rate (Table 4's model) vs the ResNet-101 of "
               "Table 5, not shared (35.0)"),
    _c("testdev_ap_vs_best", "5.2.3", "On the test-dev set, our method increases over the "
       "existing best results by 0.5 points of AP (36.2 vs. 35.7)", "table4.ours",
       "table4.attractionnet", "AP (test-dev)", 0.5, "gain", stated=0.5),
    # Sec. 6.1, Table 6 (segment proposals)
    _c("segm_7x7_unchanged", "6.1", "Switching to a slightly larger 7x7 MLP leaves accuracy "
       "largely unchanged.", "table6.b", "table6.a", "AR@1k", 0.1, "on_par"),
    _c("segm_dual_vs_5x5", "6.1", "Using both MLPs together increases accuracy to 45.7 AR.",
       "table6.c", "table6.a", "AR@1k", 2.3, "gain", context="from 43.4 with the single 5x5 MLP"),
    _c("segm_dual_vs_7x7", "6.1", "Using both MLPs together increases accuracy to 45.7 AR.",
       "table6.c", "table6.b", "AR@1k", 2.2, "gain", context="from 43.5 with the single 7x7 MLP"),
    _c("segm_mask28", "6.1", "Increasing mask output size from 14x14 to 28x28 increases AR "
       "another point", "table6.d", "table6.c", "AR@1k", 1.0, "gain", stated=1.0),
    _c("segm_2x_schedule", "6.1", "Finally, doubling the training iterations increases AR to "
       "48.1.", "table6.e", "table6.d", "AR@1k", 1.4, "gain"),
    _c("segm_vs_sharpmask", "6.1", "We outperform the accuracy of these approaches by over 8.3 "
       "points AR.", "table6.e", "table6.sharpmask", "AR@1k", 8.3, "gain", stated=8.3,
       context="the best of them, SharpMask, vs Table 6(e)"),
    _c("segm_small_double", "6.1", "In particular, we nearly double the accuracy on small "
       "objects.", "table6.e", "table6.sharpmask", "AR_s@1k", 15.2, "ratio", stated=32.6 / 17.4,
       context="Table 6(e) vs the best of them on small objects, SharpMask"),
]
