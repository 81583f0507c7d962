"""Table 1's #anchors column and the fidelity audit."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.anchors import (PAPER_INPUT, count_anchors, count_anchors_mmdet,
                                    featmap_sizes, humanize)
from harness.config.audit import audit_row, render
from harness.config.resolve import load_row_config
from harness.paper.rows import Row, load_tables, resolve

T1 = load_tables()["table1"]


def test_featmap_sizes_round_up_like_resnet():
    assert featmap_sizes([4, 16, 32, 64], (800, 1000)) == [(200, 250), (50, 63), (25, 32), (13, 16)]


@pytest.mark.parametrize("letter, exact", [("a", 47250), ("b", 12000), ("c", 199974),
                                           ("d", 199974), ("e", 199974), ("f", 750000)])
def test_anchor_count_of_every_table1_row_matches_the_published_column(letter, exact):
    row = T1.rows[letter]
    n = count_anchors(load_row_config(row))
    assert n == exact
    assert count_anchors_mmdet(load_row_config(row)) == exact   # the arithmetic is mmdet's
    assert humanize(n) == row.columns["anchors"]


def test_anchor_count_follows_the_input_size():
    cfg = load_row_config(T1.rows["c"])
    assert PAPER_INPUT == (800, 1000)
    assert count_anchors(cfg, (400, 500)) < count_anchors(cfg) / 3


def test_every_row_of_tables_1_to_3_matches_the_paper():
    findings = [f for r in resolve(["table1", "table2", "table3"]) for f in audit_row(r, with_smoke=False)]
    assert len({f.row for f in findings}) == 15
    bad = [f for f in findings if f.verdict == "MISMATCH"]   # declared deviations are allowed
    assert not bad, render(bad)


def _planted_row(tmp_path: Path, body: str) -> Row:
    base = load_tables()["table1"].rows["c"]
    cfg = tmp_path / "planted.py"
    cfg.write_text(f"_base_ = '{base.config_path}'\n{body}\n")
    return Row(table="table1", letter="c", name="planted", published=base.published,
               columns=base.columns, config=str(cfg))


def test_audit_flags_a_planted_mismatch(tmp_path):
    row = _planted_row(tmp_path, "optim_wrapper = dict(optimizer=dict(lr=0.01))\n"
                                 "model = dict(rpn_head=dict(anchor_generator=dict(ratios=[1.0])))")
    findings = {f.setting: f for f in audit_row(row)}
    assert findings["learning rate"].verdict == "MISMATCH" and findings["learning rate"].config == 0.01
    assert findings["anchor aspect ratios"].verdict == "MISMATCH"
    assert findings["#anchors per image"].verdict == "MISMATCH"   # 1 ratio: a third of 200k
    assert findings["momentum"].verdict == "ok"


def test_declared_deviation_is_shown_with_its_reason(tmp_path):
    row = _planted_row(tmp_path, "optim_wrapper = dict(optimizer=dict(lr=0.01))\n"
                                 "paper_deviations = {'learning rate': 'halved for 4 GPUs'}")
    f = {f.setting: f for f in audit_row(row)}["learning rate"]
    assert f.verdict == "deviation: halved for 4 GPUs"


def test_smoke_overrides_are_an_overlay_not_a_mismatch():
    findings = {f.setting: f for f in audit_row(T1.rows["c"])}
    lr = findings["learning rate"]
    assert lr.verdict == "ok" and lr.config == 0.02 and lr.smoke == pytest.approx(0.0025)
    assert findings["input shorter side (px)"].smoke == [256]
    assert findings["momentum"].smoke is None
    text = render(list(findings.values()))
    assert "MISMATCH" not in text and "0.0025" in text
