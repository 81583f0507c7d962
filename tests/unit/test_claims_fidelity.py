"""Every claim is encoded as the paper words it: its quote is verbatim, its rows, metric and
threshold are pinned, and the threshold follows from the words (a lenient encoding fails here).
The checks against the paper's text skip when ../shared (the paper) is absent. No torch."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.report.aggregate import group_records
from harness.report.claims import (CLAIMS, FAILS, HOLDS, NOT_ENOUGH, SERVER_ONLY, TIME, evaluate,
                                   evaluate_all)
from harness.report.fidelity_notes import claim_text, claims_intro, paper_delta_text
from harness.paper.rows import load_tables

TOL = 0.5
TABLES = load_tables()
BY_ID = {c.id: c for c in CLAIMS}
ROOT = Path(__file__).resolve().parents[2]
PAPER = next((p / "shared" / "paper" / "fpn_lin2017.md" for p in ROOT.parents
              if (p / "shared" / "paper" / "fpn_lin2017.md").is_file()), None)
needs_paper = pytest.mark.skipif(PAPER is None, reason="the paper (../shared) is not here")

# id: (A, B, A's metric, B's metric, kind, lowest delta, highest delta) at tolerance 0.5.
PINNED = {
    "rpn_fpn_vs_c4_ar1k": ("table1.c", "table1.a", "AR@1k", "AR@1k", "gain", 7.5, None),
    "rpn_fpn_vs_c4_ars": ("table1.c", "table1.a", "AR_s@1k", "AR_s@1k", "gain", 12.4, None),
    "rpn_c5_no_advantage": ("table1.b", "table1.a", "AR@1k", "AR@1k", "no_gain", None, 0.5),
    "rpn_bottom_up_on_par": ("table1.d", "table1.a", "AR@1k", "AR@1k", "on_par", -1.7, 1.7),
    "rpn_top_down": ("table1.c", "table1.d", "AR@1k", "AR@1k", "large", 4.94, None),
    "rpn_lateral": ("table1.c", "table1.e", "AR@1k", "AR@1k", "gain", 9.5, None),
    "rpn_pyramid_vs_p2": ("table1.c", "table1.f", "AR@1k", "AR@1k", "direction", 0.0, None),
    "rpn_p2_vs_c4": ("table1.f", "table1.a", "AR@1k", "AR@1k", "direction", 0.0, None),
    "fast_fpn_vs_c4_ap": ("table2.c", "table2.a", "AP", "AP", "gain", 1.5, None),
    "fast_fpn_vs_c4_aps": ("table2.c", "table2.a", "AP_s", "AP_s", "gain", 1.6, None),
    "fast_fpn_vs_c5_2fc": ("table2.c", "table2.b", "AP", "AP", "gain", 4.6, None),
    "fast_2fc_no_advantage": ("table2.b", "table2.a", "AP", "AP", "no_gain", None, 0.5),
    "fast_top_down": ("table2.c", "table2.d", "AP", "AP", "large", 6.7, None),
    "fast_lateral": ("table2.c", "table2.e", "AP", "AP", "direction", 0.0, None),
    "fast_pyramid_vs_p2": ("table2.c", "table2.f", "AP", "AP", "direction", 0.0, None),
    "faster_fpn_vs_c4_ap": ("table3.c", "table3.a", "AP", "AP", "gain", 1.8, None),
    "faster_fpn_vs_c4_ap50": ("table3.c", "table3.a", "AP@0.5", "AP@0.5", "gain", 3.3, None),
    "faster_fpn_vs_he": ("table3.c", "table3.*", "AP", "AP", "gain", 7.1, None),
    "faster_fpn_vs_he_ap50": ("table3.c", "table3.*", "AP@0.5", "AP@0.5", "gain", 9.1, None),
    "share_features_r50": ("table5.r50_yes", "table5.r50_no", "AP", "AP", "direction", 0.0, None),
    "share_features_r101": ("table5.r101_yes", "table5.r101_no", "AP", "AP", "direction", 0.0, None),
    "share_features_time": ("table5.r50_yes", "table5.r50_no", TIME, TIME, "faster", 0.0, None),
    "r101_2x_minival": ("table4.ours", "table5.r101_no", "AP (minival)", "AP", "gain", 0.1, None),
    "testdev_ap_vs_best": ("table4.ours", "table4.attractionnet", "AP (test-dev)",
                           "AP (test-dev)", "gain", 0.0, None),
    "segm_7x7_unchanged": ("table6.b", "table6.a", "AR@1k", "AR@1k", "on_par", -0.6, 0.6),
    "segm_dual_vs_5x5": ("table6.c", "table6.a", "AR@1k", "AR@1k", "gain", 1.8, None),
    "segm_dual_vs_7x7": ("table6.c", "table6.b", "AR@1k", "AR@1k", "gain", 1.7, None),
    "segm_mask28": ("table6.d", "table6.c", "AR@1k", "AR@1k", "gain", 0.5, None),
    "segm_2x_schedule": ("table6.e", "table6.d", "AR@1k", "AR@1k", "gain", 0.9, None),
    "segm_vs_sharpmask": ("table6.e", "table6.sharpmask", "AR@1k", "AR@1k", "gain", 7.8, None),
    "segm_small_double": ("table6.e", "table6.sharpmask", "AR_s@1k", "AR_s@1k", "ratio", 14.7, None),
}


def published(row_id: str, metric: str):
    tid, _, letter = row_id.partition(".")
    return TABLES[tid].rows[letter].published.get(metric)


def squash(text: str) -> str:
    """The paper's markdown and a plain quote, compared letter by letter: no markup, no spaces."""
    text = text.replace("\\times", "x").replace("’", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"[\s$*^{}\\]", "", re.sub(r"<[^>]+>", "", text))


def test_every_claim_is_pinned_rows_metric_kind_and_threshold():
    assert set(PINNED) == set(BY_ID)
    for cid, (a, b, ma, mb, kind, lo, hi) in PINNED.items():
        c = BY_ID[cid]
        assert (c.a, c.b, c.metric, c.column_b, c.kind) == (a, b, ma, mb, kind), cid
        blo, bhi = c.bounds(TOL, published(b, mb) if kind == "ratio" else None)
        assert blo == pytest.approx(lo) if lo is not None else blo is None, (cid, blo)
        assert bhi == pytest.approx(hi) if hi is not None else bhi is None, (cid, bhi)


def test_the_paper_deltas_are_the_paper_tables():
    for c in CLAIMS:
        pa, pb = published(c.a, c.metric), published(c.b, c.column_b)
        if c.kind == "faster":
            assert c.paper_delta is None and c.b_plus == "table1.c"   # the paper gives no times
        else:
            assert c.paper_delta == pytest.approx(pa - pb, abs=0.051), c.id


@needs_paper
def test_quotes_are_verbatim():
    paper = squash(PAPER.read_text(encoding="utf-8"))
    for c in CLAIMS:   # our words (which rows) live in c.context, never in the quote
        assert squash(c.quote) in paper, (c.id, c.quote)


@needs_paper
def test_each_threshold_follows_the_words():
    for c in CLAIMS:
        q, d = c.quote, c.paper_delta
        lo, hi = c.bounds(TOL, published(c.b, c.column_b) if c.kind == "ratio" else None)
        said = re.search(r"(\d+(?:\.\d+)?) points", q)
        if c.kind == "gain" and (said or "another point" in q):
            n = float(said.group(1)) if said else 1.0      # "another point" = 1
            assert c.stated == n and lo == pytest.approx(n - TOL), c.id   # N as written
        elif c.kind == "gain":   # "increases ... to V": V is A's published number, d the gap
            assert f"to {published(c.a, c.metric)}" in q and c.stated is None, c.id
            assert lo == pytest.approx(d - TOL), c.id
        elif c.kind == "on_par":
            assert "on par" in q or "largely unchanged" in q, c.id
            assert (lo, hi) == (pytest.approx(-abs(d) - TOL), pytest.approx(abs(d) + TOL)), c.id
        elif c.kind == "large":
            assert "far behind" in q or "significantly" in q, c.id
        elif c.kind == "ratio":
            assert "nearly double" in q, c.id
            assert c.stated == pytest.approx(published(c.a, c.metric) / published(c.b, c.metric))
        elif c.kind == "faster":
            assert "testing time" in q, c.id
        elif c.kind == "no_gain":
            assert "no advantage" in q or "not give us any" in q, c.id
        else:
            assert re.search(r"better|worse|inferior|small margin", q), c.id


def _rec(row_id, profile="paper", metrics=None, runtime=None, seed=0):
    tid = row_id.split(".")[0]
    rec = {"row": row_id, "profile": profile, "seed": seed, "status": "done",
           "is_reproduction": profile == "paper",
           "metrics": {m: published(row_id, m) for m in TABLES[tid].metrics} | (metrics or {})}
    if runtime is not None:
        rec["runtime"] = {"seconds_per_image": runtime, "device": "NVIDIA H100",
                          "with_data_loading": True}
    return rec


def judge(cid, records):
    return evaluate(BY_ID[cid], TABLES, group_records(records, TABLES), TOL)


def test_on_par_holds_as_far_apart_as_the_paper_and_no_further():
    a = _rec("table1.a")                                   # 48.3; the paper's 1(d): 49.5
    assert judge("rpn_bottom_up_on_par", [a, _rec("table1.d", metrics={"AR@1k": 50.0})]).verdict == HOLDS
    assert judge("rpn_bottom_up_on_par", [a, _rec("table1.d", metrics={"AR@1k": 50.1})]).verdict == FAILS
    assert judge("rpn_bottom_up_on_par", [a, _rec("table1.d", metrics={"AR@1k": 46.6})]).verdict == HOLDS


def test_n_points_is_held_to_n_as_written():
    c = _rec("table1.c")                                   # 56.3: "10 points higher" than 1(e)
    assert judge("rpn_lateral", [c, _rec("table1.e", metrics={"AR@1k": 46.8})]).verdict == HOLDS
    assert judge("rpn_lateral", [c, _rec("table1.e", metrics={"AR@1k": 47.0})]).verdict == FAILS
    mask = _rec("table6.c")                                # 45.7: "another point"
    assert judge("segm_mask28", [mask, _rec("table6.d", metrics={"AR@1k": 46.2})]).verdict == HOLDS
    assert judge("segm_mask28", [mask, _rec("table6.d", metrics={"AR@1k": 46.1})]).verdict == FAILS


def test_nearly_double_is_the_paper_ratio_of_the_literature_row():
    ok = judge("segm_small_double", [_rec("table6.e", metrics={"AR_s@1k": 32.1})])
    assert ok.verdict == HOLDS and ok.rule == "delta >= 14.7" and ok.runs == "1 / lit."
    assert judge("segm_small_double", [_rec("table6.e", metrics={"AR_s@1k": 32.0})]).verdict == FAILS


def test_testing_time_adds_the_rpn_and_needs_one_device():
    yes = _rec("table5.r50_yes", runtime=0.148)
    det, rpn = _rec("table2.c", runtime=0.100), _rec("table1.c", runtime=0.060)
    res = judge("share_features_time", [yes, det, rpn])   # 148 ms vs 100 + 60 ms
    assert res.verdict == HOLDS and res.measured_delta == pytest.approx(-12.0)
    assert judge("share_features_time", [yes, det]).verdict == NOT_ENOUGH   # RPN time missing
    for slower in (0.170, 0.1603, 0.160):   # slower, by less than a "tolerance", or equal
        assert judge("share_features_time", [_rec("table5.r50_yes", runtime=slower), det, rpn]
                     ).verdict == FAILS, slower
    other = dict(rpn, runtime=dict(rpn["runtime"], device="cpu"))
    res = judge("share_features_time", [yes, det, other])
    assert res.verdict == NOT_ENOUGH and "different devices" in res.note
    smoke = [dict(r, profile="smoke", is_reproduction=False) for r in (yes, det, rpn)]
    assert judge("share_features_time", smoke).verdict == NOT_ENOUGH


def test_test_dev_claims_read_coco_server_only_whatever_was_run():
    for records in ([], [_rec("table4.ours")]):
        res = judge("testdev_ap_vs_best", records)
        assert res.verdict == SERVER_ONLY and "COCO evaluation server" in res.note
    assert sum(r.verdict == SERVER_ONLY for r in evaluate_all(TABLES, {})) == 1


def test_the_report_words_state_the_rules_and_mark_our_words():
    intro = claims_intro(0.5)
    for words in ("'on par'", "|delta| <= |d| + 0.5", "delta >= N - 0.5", "with N as written",
                  "'nearly double'", "COCO server only", "words in brackets are ours"):
        assert words in intro, words
    c = BY_ID["share_features_r50"]
    assert claim_text(c) == f'"{c.quote}" [Table 5, ResNet-50]'
    assert paper_delta_text(BY_ID["share_features_time"]) == "-"
    assert paper_delta_text(BY_ID["segm_small_double"]) == "+15.2 (x1.87)"
