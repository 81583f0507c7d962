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


def _cell(text: str) -> float | None:
    """A printed number ("<b>44.0</b>", "1.50 <sup>†</sup>"); "-" or "—": not reported."""
    text = re.sub(r"<sup>.*?</sup>|</?b>", "", text).strip()
    return None if text in ("-", "—", "") else float(text)


def _printed_rows(text: str, header: str, caption: str) -> dict[str, list[str]]:
    """The tab-separated data lines of a table in the paper's text, by their first cell."""
    start = text.index(header)
    block = text[start:text.index(caption, start)]
    return {line.split("\t")[0].strip(): line.split("\t")[1:]
            for line in block.splitlines()[1:] if "\t" in line}


def _label(printed: dict[str, list[str]], prefix: str) -> list[str]:
    hits = [cells for label, cells in printed.items() if label.startswith(prefix)]
    assert len(hits) == 1, (prefix, list(printed))
    return hits[0]


# Where each row of published.yaml is printed: (table header, caption, {row: label prefix},
# which cells, in the order of published.yaml's metrics). Table 5 prints side by
# side in one line per "share features?" answer.
PRINTED = {
    "table1": ("RPN\tfeature", "Table 1.", {x: f"({x})" for x in "abcdef"}, slice(-5, None)),
    "table2": ("Fast R-CNN\tproposals", "Table 2.", {x: f"({x})" for x in "abcdef"}, slice(-5, None)),
    "table3": ("Faster R-CNN\tproposals", "Table 3.", {"*": "(*)", "a": "(a)", "b": "(b)", "c": "(c)"},
               slice(-5, None)),
    "table6": ("\timage pyramid\tAR", "Table 6.", {
        "deepmask": "DeepMask", "sharpmask": "SharpMask", "instancefcn": "InstanceFCN",
        "a": "single MLP [ $5", "b": "single MLP [ $7", "c": "dual MLP", "d": "+ 2x mask resolution",
        "e": "+ 2x train schedule"}, slice(-5, -1)),
}
TABLE4 = {"ours": "ours, Faster R-CNN", "grmi": "G-RMI", "attractionnet": "AttractionNet",
          "faster_rcnn_pp": "Faster R-CNN +++", "multipath": "Multipath", "ion": "ION"}


def _paper_numbers(text: str) -> dict[str, dict[str, float | None]]:
    """Every row's numbers as printed in the paper: row id -> {metric: value or None}."""
    tables = load_tables()
    out = {}
    for tid, (header, caption, labels, cells) in PRINTED.items():
        printed = _printed_rows(text, header, caption)
        for letter, prefix in labels.items():
            values = [_cell(c) for c in _label(printed, prefix)[cells]]
            out[f"{tid}.{letter}"] = dict(zip(tables[tid].metrics, values))
    # Table 4: test-dev is the first five number columns, test-std the last five
    printed = _printed_rows(text, "method\tbackbone\tcompetition", "Table 4.")
    for letter, prefix in TABLE4.items():
        values = [_cell(c) for c in _label(printed, prefix)[-10:-5]]
        out[f"table4.{letter}"] = dict(zip([m for m in tables["table4"].metrics if "test-dev" in m], values))
    # ... and "ours" on minival, which the harness can measure, is stated in Sec. 5.2.3's text
    minival = re.search(r"This increases AP on minival to ([\d.]+)", text)
    out["table4.ours"]["AP (minival)"] = float(minival.group(1))
    printed = _printed_rows(text, "share features?\tResNet-50", "Table 5.")
    for answer in ("no", "yes"):
        r50_50, r50, r101_50, r101 = (_cell(c) for c in printed[answer])
        out[f"table5.r50_{answer}"] = {"AP@0.5": r50_50, "AP": r50}
        out[f"table5.r101_{answer}"] = {"AP@0.5": r101_50, "AP": r101}
    return out


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text (../shared/paper) is not beside this checkout")
def test_published_numbers_match_the_paper_text():
    """Every number of every table in published.yaml, cell by cell, against the paper's text;
    a row of published.yaml that the paper does not print fails too."""
    printed = _paper_numbers(PAPER.read_text(encoding="utf-8"))
    rows = {r.id: r for t in load_tables().values() for r in t.rows.values()}
    assert set(printed) == set(rows)
    for row_id, numbers in printed.items():
        published = {m: v for m, v in rows[row_id].published.items() if v is not None}
        assert published == {m: v for m, v in numbers.items() if v is not None}, row_id
    assert printed["table1.c"]["AR@1k"] == 56.3 and printed["table5.r101_yes"]["AP"] == 35.2


@pytest.mark.skipif(not PAPER.exists(), reason="the paper's text (../shared/paper) is not beside this checkout")
def test_published_times_match_the_paper_text():
    """Table 6's time column and the running times of Sec. 5.2.2 (s per image on an M40)."""
    text = PAPER.read_text(encoding="utf-8")
    tables = load_tables()
    header, caption, labels, _ = PRINTED["table6"]
    printed = _printed_rows(text, header, caption)
    for letter, prefix in labels.items():
        assert tables["table6"].rows[letter].paper_time_s == _cell(_label(printed, prefix)[-1]), letter
    running = text[text.index("**Running time.**"):].split("\n")[0]
    r50, r101, c4 = (float(x) for x in re.search(
        r"time of ([\d.]+) seconds per image .* for ResNet-50, and ([\d.]+) seconds for ResNet-101"
        r".*Table 3\(a\) runs at ([\d.]+) seconds", running).groups())
    assert tables["table5"].rows["r50_yes"].paper_time_s == r50
    assert tables["table5"].rows["r101_yes"].paper_time_s == r101
    assert tables["table3"].rows["a"].paper_time_s == c4


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
