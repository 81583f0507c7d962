"""The registry of tables and rows, and the published numbers against the paper's text."""
from __future__ import annotations

import re

import pytest

from harness.errors import HarnessError
from harness.paper.rows import load_tables, parse_published, resolve

from tests.conftest import PAPER

TABLE1_METRICS = ["AR@100", "AR@1k", "AR_s@1k", "AR_m@1k", "AR_l@1k"]


def test_table1_has_every_row_and_column():
    t1 = load_tables()["table1"]
    assert list(t1.rows) == ["a", "b", "c", "d", "e", "f"]
    assert list(t1.metrics) == TABLE1_METRICS
    assert t1.metrics["AR@1k"] == "coco/AR@1000"
    anchors = {r.letter: r.columns["anchors"] for r in t1.rows.values()}
    assert anchors == {"a": "47k", "b": "12k", "c": "200k", "d": "200k", "e": "200k", "f": "750k"}
    assert [r.columns["lateral"] for r in t1.rows.values()] == [False, False, True, True, False, True]
    assert [r.columns["top_down"] for r in t1.rows.values()] == [False, False, True, False, True, True]
    for row in t1.rows.values():
        assert all(isinstance(row.published[m], float) for m in TABLE1_METRICS), row.id


def _paper_table1() -> dict[str, list[float]]:
    """Table 1 as printed in the paper's text: row letter -> its five AR numbers."""
    text = PAPER.read_text(encoding="utf-8")
    block = text[text.index("RPN\tfeature"):text.index("Table 1.")]
    rows = {}
    for line in block.splitlines():
        m = re.match(r"\(([a-f])\)", line)
        if m:
            cells = re.sub(r"</?b>", "", line).split("\t")
            rows[m.group(1)] = [float(c) for c in cells[-5:]]
    return rows


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text (../shared/paper) is not beside this checkout")
def test_published_numbers_match_the_paper_text():
    printed = _paper_table1()
    assert set(printed) == set("abcdef")
    t1 = load_tables()["table1"]
    for letter, values in printed.items():
        assert [t1.rows[letter].published[m] for m in TABLE1_METRICS] == values, letter


def test_resolve_table_gives_its_runnable_rows_in_order():
    rows = resolve(["table1"])
    assert [r.id for r in rows] == [r.id for r in load_tables()["table1"].runnable_rows]
    assert "table1.c" in [r.id for r in rows]
    assert all(r.config_path.exists() for r in rows)


def test_resolve_deduplicates_and_accepts_case():
    assert [r.id for r in resolve(["TABLE1.C", "table1.c"])] == ["table1.c"]


@pytest.mark.parametrize("target, expected", [
    ("table9", "unknown table or row 'table9'; valid tables: table1"),
    ("table1.z", "unknown row 'table1.z'; rows of table1: table1.a, table1.b"),
    ("nonsense", "unknown table or row 'nonsense'"),
])
def test_unknown_ids_list_valid_ones(target, expected):
    with pytest.raises(HarnessError) as err:
        resolve([target])
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_row_without_config_is_not_runnable_and_says_which_are():
    data = {"tx": {"title": "T", "task": "proposals", "metrics": {"AR": "coco/AR@100"},
                   "rows": {"a": {"name": "no config", "published": {"AR": 1.0}},
                            "b": {"name": "runnable", "published": {"AR": 2.0},
                                  "config": "table1/c_rpn_r50_fpn.py"},
                            "c": {"name": "other paper", "literature": True, "published": {}}}}}
    tables = parse_published(data)
    with pytest.raises(HarnessError, match=r"tx.a \(no config\) has no config yet; runnable rows of tx: tx.b"):
        resolve(["tx.a"], tables)
    with pytest.raises(HarnessError, match="literature-only"):
        resolve(["tx.c"], tables)
    assert [r.id for r in resolve(["tx"], tables)] == ["tx.b"]


def test_published_metric_not_declared_by_table_is_rejected():
    data = {"tx": {"title": "T", "task": "proposals", "metrics": {"AR": "coco/AR@100"},
                   "rows": {"a": {"name": "x", "published": {"AP": 1.0}}}}}
    with pytest.raises(HarnessError, match="AP"):
        parse_published(data)
