"""The one judgement rule (harness/report/verdict.py) and published.yaml's tolerance overrides."""
from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.paper.constants import DEFAULT_TOLERANCE
from harness.paper.rows import parse_published
from harness.report.verdict import Verdict, judge, may_judge, tolerance_for

TABLE = {"title": "T", "task": "proposals", "metrics": {"AR@100": "coco/AR@100", "AR@1k": "k"},
         "rows": {"a": {"name": "a", "published": {"AR@100": 40.0}}}}


def tables(table_tol=None, row_tol=None):
    t = dict(TABLE, rows={"a": dict(TABLE["rows"]["a"])})
    if table_tol is not None:
        t["tolerance"] = table_tol
    if row_tol is not None:
        t["rows"]["a"]["tolerance"] = row_tol
    return parse_published({"t": t})


def test_within_is_inclusive_and_outside_is_not():
    assert judge(40.0, 40.5, 0.5) == Verdict.WITHIN
    assert judge(40.0, 39.5, 0.5) == Verdict.WITHIN
    assert judge(40.0, 40.51, 0.5) == Verdict.OUTSIDE
    assert DEFAULT_TOLERANCE == 0.5


def test_only_reproduction_profiles_and_records_may_be_judged():
    assert may_judge([{"profile": "paper"}])
    assert not may_judge([{"profile": "smoke"}])
    assert not may_judge([{"profile": "paper"}, {"profile": "paper", "is_reproduction": False}])
    assert not may_judge([{"profile": "nonsense"}]) and not may_judge([])


@pytest.mark.parametrize("table_tol, row_tol, metric, expected", [
    (None, None, "AR@100", 0.7),          # the report's default
    (1.0, None, "AR@100", 1.0),           # the table's
    ({"AR@1k": 2.0}, None, "AR@100", 0.7),
    ({"AR@1k": 2.0}, None, "AR@1k", 2.0),
    (1.0, {"AR@100": 0.3}, "AR@100", 0.3),  # a row's override wins over its table's
    (1.0, {"AR@100": 0.3}, "AR@1k", 1.0),
])
def test_tolerance_overrides(table_tol, row_tol, metric, expected):
    t = tables(table_tol, row_tol)["t"]
    assert tolerance_for(t, t.rows["a"], metric, 0.7) == expected


@pytest.mark.parametrize("table_tol, row_tol", [(-1, None), ("x", None), (None, {"AP": 1.0}),
                                                (None, {"AR@100": -0.1}), (True, None)])
def test_bad_overrides_are_one_line(table_tol, row_tol):
    with pytest.raises(HarnessError, match="published.yaml: t"):
        tables(table_tol, row_tol)
