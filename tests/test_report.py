"""The report: published / measured / delta, `not run`, `n/a`, profiles, corrupt records."""
from __future__ import annotations

import pandas as pd

from harness.report import TIDY_COLUMNS, render_table, write_report
from harness.rows import load_tables
from harness.store import Store

from .test_store import record

T1 = load_tables()["table1"]


def line_of(text: str, label: str) -> str:
    hits = [ln for ln in text.splitlines() if ln.startswith(f"| {label}")]
    assert len(hits) == 1, (label, text)
    return hits[0]


def test_measured_row_shows_published_measured_and_delta():
    rec = record(**{"AR@100": 12.34, "AR@1k": 20.0, "AR_s@1k": None, "AR_m@1k": 30.0, "AR_l@1k": 66.2})
    rec["metrics_na"] = ["AR_s@1k"]
    text = render_table(T1, [rec])
    line = line_of(text, "(c) FPN")
    assert "44.0 / 12.3 / -31.7" in line
    assert "56.3 / 20.0 / -36.3" in line
    assert "44.9 / n/a" in line            # CocoMetric's -1: undefined, never a number
    assert "66.2 / 66.2 / +0.0" in line
    assert "smoke: pipeline check, not a reproduction" in line
    assert "reproduction)" not in line


def test_rows_without_results_say_not_run_and_never_show_a_number():
    text = render_table(T1, [])
    for label, published in (("(a) baseline on conv4", "36.1"), ("(c) FPN", "44.0")):
        line = line_of(text, label)
        assert f"{published} / not run" in line and "/ -" not in line and "+" not in line
    t3 = render_table(load_tables()["table3"], [])
    line = line_of(t3, "(*) baseline from He et al. [16]")
    assert "47.3 / literature" in line and "| - | literature |" in line


def test_paper_profile_is_labelled_a_reproduction_and_failures_show_reason():
    ok = record(profile="paper", **{m: 50.0 for m in T1.metrics})
    bad = record(row="table1.c", profile="smoke")
    bad.update(status="failed", metrics={}, reason="loss became nan at iteration 3")
    text = render_table(T1, [ok, bad])
    rows = [ln for ln in text.splitlines() if ln.startswith("| (c) FPN")]
    assert len(rows) == 2
    assert any("as published (reproduction)" in r and "44.0 / 50.0 / +6.0" in r for r in rows)
    assert any("failed: loss became nan at iteration 3" in r and "50.0" not in r for r in rows)


def test_several_seeds_show_mean_std_and_n():
    recs = [record(seed=s, **{"AR@100": v}) for s, v in ((0, 10.0), (1, 12.0))]
    line = line_of(render_table(T1, recs), "(c) FPN")
    assert "44.0 / 11.0 ±1.4 (n=2) / -33.0" in line


def test_write_report_skips_corrupt_records_and_exports_tidy_csv(tmp_path):
    store = Store(tmp_path / "results")
    store.write(record(**{m: 10.0 for m in T1.metrics}))
    broken = store.record_path("table1.a", "smoke")
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    text, path, problems = write_report(store, tmp_path / "reports", "r")
    assert path.read_text() == text
    assert len(problems) == 1 and str(broken) in problems[0]
    assert "44.0 / 10.0 / -34.0" in text
    df = pd.read_csv(store.root / "results.csv")
    assert list(df.columns) == TIDY_COLUMNS
    assert len(df) == len(T1.metrics)
    assert df.loc[df.metric == "AR@1k", "delta"].item() == 10.0 - 56.3
