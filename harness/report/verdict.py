"""The one judgement rule: whether a run may be compared with the paper, and how a measured
number compares with a published one. The report's cells, the tidy CSV and the claims all
decide through here, so they can never disagree.

A number is `within` when |measured - published| <= the tolerance that applies to its row and
metric, `outside` otherwise. The tolerance is the report's (`--tolerance`, default
DEFAULT_TOLERANCE) unless paper_configs/published.yaml overrides it for the table, the row or
one metric (as mmdet's regression tooling has a default with per-model overrides)."""
from __future__ import annotations

from enum import Enum

from harness.config.profiles import PROFILES
from harness.paper.rows import Row, Table

EPS = 1e-9   # deltas are rounded to 4 decimals in records: a delta equal to the tolerance is within


class Verdict(str, Enum):
    WITHIN = "within"
    OUTSIDE = "outside"
    NOT_RUN = "not run"
    NA = "n/a"                       # the evaluator's -1: no objects of that size
    NOT_PUBLISHED = "not published"
    NOT_JUDGED = "not judged"        # not a reproduction (smoke, or a record that says so)
    FAILED = "failed"
    SERVER = "COCO server only"      # Table 4's test-dev columns: scored by the COCO server

    def __str__(self) -> str:
        return self.value


def may_judge(records: list[dict]) -> bool:
    """Runs may be judged against the paper only under a reproduction profile, and only if every
    record says so: `reproduction.judged`, decided when the record was written (profile, the
    audit of the run's own config, full-size COCO, the published backbone weights, its
    producers: harness/orchestrate/reproduction.py). A record written before that check
    existed has no `reproduction`; its `is_reproduction` decides."""
    if not records:
        return False
    for r in records:
        p = PROFILES.get(r.get("profile"))
        if not (p and p.is_reproduction):
            return False
        rep = r.get("reproduction")
        if isinstance(rep, dict):
            if rep.get("judged") is not True:
                return False
        elif r.get("is_reproduction", True) is False:
            return False
    return True


def reasons(record: dict) -> list[dict]:
    """Why a run is not the paper's experiment ({kind, text} each, first the one to show),
    tolerating records from disk with junk in the field."""
    rep = record.get("reproduction")
    found = rep.get("reasons") if isinstance(rep, dict) else None
    out = []
    for x in found if isinstance(found, list) else []:
        if isinstance(x, dict):
            out.append({"kind": str(x.get("kind", "setting")), "text": str(x.get("text", "?"))})
        elif isinstance(x, str):
            out.append({"kind": "setting", "text": x})
    return out


def allowed_deviations(record: dict) -> list[dict]:
    """The reasons of a run judged anyway (--allow-deviations): they go beside every verdict
    it enters. Empty for a reproduction and for a run that is not judged."""
    return reasons(record) if may_judge([record]) else []


def judgement_mark(record: dict) -> str:
    """How `status`, `list` and `run` mark a paper-profile run that is not a reproduction:
    "not judged: <first reason>", or "judged with deviations" (--allow-deviations); "" for a
    reproduction and for other profiles (their name says it)."""
    p = PROFILES.get(record.get("profile"))
    found = reasons(record)
    if not (p and p.is_reproduction) or record.get("status") != "done":
        return ""
    if not may_judge([record]):
        return "not judged: " + (found[0]["text"] if found else "its record says it is not a reproduction")
    return "judged with deviations (--allow-deviations): " + found[0]["text"] if found else ""


def judge(published: float, measured: float, tol: float) -> Verdict:
    return Verdict.WITHIN if abs(measured - published) <= tol + EPS else Verdict.OUTSIDE


def tolerance_for(table: Table, row: Row, metric: str, default: float) -> float:
    """The band a number of `row` on `metric` is judged with: the row's override, else the
    table's, else `default` (the report's --tolerance)."""
    for override in (row.tolerance, table.tolerance):
        if isinstance(override, dict) and metric in override:
            return float(override[metric])
        if isinstance(override, (int, float)):
            return float(override)
    return default
