"""The report: published / measured / delta, `not run`, `n/a`, profiles, corrupt records."""
from __future__ import annotations

import pandas as pd

from harness.report.tables import render_table
from harness.report.write import write_report
from harness.report.tidy import TIDY_COLUMNS
from harness.paper.rows import load_tables
from harness.store import Store

from tests.unit.test_store import record

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
    ok.update(is_reproduction=True)   # Record's default is False: a record must say it is one
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
    text, path, problems = write_report(store, tmp_path / "reports", "r", pdf=False, figures=False)
    assert path.read_text() == text
    assert len(problems) == 1 and str(broken) in problems[0]
    assert "44.0 / 10.0 / -34.0" in text
    df = pd.read_csv(store.root / "results.csv")
    assert list(df.columns) == TIDY_COLUMNS
    assert len(df) == len(T1.metrics)
    assert df.loc[df.metric == "AR@1k", "delta"].item() == 10.0 - 56.3


# ---- issue 5: verdicts, tolerance, deviations, other reproductions, runtime, spread ----------

import pytest  # noqa: E402

from harness.errors import HarnessError  # noqa: E402
from harness.report.write import Written  # noqa: E402

from tests.report_records import full_record  # noqa: E402


def test_cell_verdicts_use_the_tolerance_which_is_a_setting():
    rec = full_record("table1.c", "paper", metrics={"AR@100": 44.5, "AR@1k": 56.9, "AR_s@1k": 44.9,
                                                    "AR_m@1k": 63.4, "AR_l@1k": 66.2})
    line = line_of(render_table(T1, [rec]), "(c) FPN")
    assert "44.0 / 44.5 / +0.5 within" in line
    assert "56.3 / 56.9 / +0.6 outside" in line
    wide = line_of(render_table(T1, [rec], tolerance=1.0), "(c) FPN")
    assert "56.3 / 56.9 / +0.6 within" in wide and "outside" not in wide


def test_smoke_cells_are_never_judged():
    rec = full_record("table1.c", metrics={m: 44.0 for m in T1.metrics})
    line = line_of(render_table(T1, [rec]), "(c) FPN")
    assert "44.0 / 44.0 / +0.0 smoke (not judged)" in line
    assert " within" not in line and "outside" not in line


def test_a_cell_verdict_inside_the_spread_says_so():
    recs = [full_record("table1.c", "paper", s, metrics={"AR@100": v})
            for s, v in ((0, 43.0), (1, 45.6))]
    line = line_of(render_table(T1, recs), "(c) FPN")
    assert "44.0 / 44.3 ±1.8 (n=2) / +0.3 within (hinges on a margin < spread ±1.8)" in line


def test_deviations_and_resumes_are_listed_next_to_the_numbers():
    rec = full_record("table1.c", "paper", images_per_batch=8, resumed=True,
                      resumed_from_iteration=1000,
                      deviations=["8 images per batch instead of 16: lr and iterations scaled"],
                      environment={"device": "cuda", "num_gpus": 4, "world_size": 4})
    text = render_table(T1, [rec])
    assert "see note [1]" in line_of(text, "(c) FPN")
    note = next(ln for ln in text.splitlines() if ln.startswith("- [1] (c) paper:"))
    assert "8 images per batch instead of 16: lr and iterations scaled" in note
    assert note.count("images per batch") == 1          # not derived a second time
    assert "4 GPUs instead of the paper's 8" in note and "resumed from iteration 1000" in note


def test_other_reproductions_and_measured_runtime_are_extra_columns():
    t1 = render_table(T1, [])
    header = t1.splitlines()[[i for i, ln in enumerate(t1.splitlines()) if ln.startswith("| row")][0]]
    assert "Detectron (other repro.)" in header and "mmdet (other repro.)" in header
    assert "AR@1k 57.2" in line_of(t1, "(c) FPN") and "AR@1k 51.6" in line_of(t1, "(a) baseline")
    assert "measured s/img" not in header
    t6 = load_tables()["table6"]
    rec = full_record("table6.a", runtime={"seconds_per_image": 0.27, "device": "cpu",
                                           "batch_size": 1})
    text = render_table(t6, [rec])
    assert "measured s/img (device)" in text and "0.270 (cpu)" in line_of(text, "(a) single MLP")
    assert "(other repro.)" not in text                    # no zoo has Table 6 numbers


def test_write_report_returns_pdf_and_csv_skips_unknown_rows_and_checks_tolerance(tmp_path):
    store = Store(tmp_path / "results")
    store.write(full_record("table1.c", "paper", metrics={"AR@100": 44.2}))
    stray = full_record("table1.c")
    stray.update(row="table1.z")
    store.write(stray)
    written = write_report(store, tmp_path / "reports", "r", pdf=False)
    text, path, problems = written                         # still a 3-tuple for the CLI
    assert isinstance(written, Written) and written.pdf is None
    assert any("table1.z" in p and "not in published.yaml" in p for p in problems)
    assert "Skipped records" in text and "table1.z" in text
    assert all(f.exists() for f in written.figures) and written.figures
    df = pd.read_csv(written.csv)
    assert set(df.row) == {"table1.c"}
    assert df.loc[df.metric == "AR@100", "verdict"].item() == "within"
    assert df.loc[df.metric == "AR@1k", "measured"].isna().all()   # not measured: empty, not 0
    assert df.is_reproduction.all() and df.seed.dtype.kind == "i"
    for bad in (-0.1, float("nan")):   # HarnessError: the CLI prints it as one line
        with pytest.raises(HarnessError, match="tolerance"):
            write_report(store, tmp_path / "reports", "r", tolerance=bad, pdf=False)


def test_odd_but_loadable_fields_do_not_break_the_report(tmp_path):
    store = Store(tmp_path / "results")
    rec = full_record("table1.c", "paper", environment="gpu", code=None, data=[],
                      packages="?", runtime="fast", deviations="one GPU: lr scaled",
                      gpu_hours="n/a", metrics={m: 50.0 for m in T1.metrics})
    store.write(rec)
    text, _, problems = write_report(store, tmp_path / "reports", "r", pdf=False)
    assert problems == []
    assert "44.0 / 50.0 / +6.0 outside" in text
    assert "one GPU: lr scaled" in text and "o; n; e" not in text
    df = pd.read_csv(store.root / "results.csv")
    assert (df.deviations == "one GPU: lr scaled").all()


def test_figures_of_an_earlier_report_do_not_outlive_their_data(tmp_path):
    store = Store(tmp_path / "results")
    path = store.write(full_record("table1.c"))
    first = write_report(store, tmp_path / "reports", "r", pdf=False)
    assert first.figures and all(f.exists() for f in first.figures)
    path.unlink()
    second = write_report(store, tmp_path / "reports", "r", pdf=False)
    assert second.figures == [] and "nothing to plot" in second.text
    assert not any(f.exists() for f in first.figures)


def test_a_failed_seed_beside_finished_ones_is_counted_and_explained():
    ok = full_record("table1.c", "paper", 0, metrics={m: 50.0 for m in T1.metrics})
    bad = full_record("table1.c", "paper", 1)
    bad.update(status="failed", metrics={}, reason="node lost")
    text = render_table(T1, [ok, bad])
    line = line_of(text, "(c) FPN")
    assert "1 of 2 runs failed" in line and "44.0 / 50.0 / +6.0 outside" in line  # mean of done
    assert "seed 1: failed: node lost" in text


def test_an_alias_row_says_whose_runs_it_shows():
    t3 = load_tables()["table3"]
    borrowed = line_of(render_table(t3, [full_record("table2.c", "paper")]), "(c) FPN")
    assert "the runs of table2.c (same model)" in borrowed and "33.9 / 33.9 / +0.0 within" in borrowed
    own = line_of(render_table(t3, [full_record("table3.c", same_as="table2.c")]), "(c) FPN")
    assert "the runs of table2.c (same model)" in own
