"""The registry of paper tables and rows, read from paper_configs/published.yaml.

A row id is `<table>.<letter>` (e.g. `table1.c`); a table id (`table1`) stands for its runnable
rows. The published numbers and the row's config path live together in the yaml, so the list of
rows, their numbers and what can be run never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

from harness.errors import HarnessError
from harness.paths import PAPER_CONFIGS, PUBLISHED


class Edge(NamedTuple):
    """One dependency of a row on another: the one model of dependencies that planning, status,
    the dry-run plan and the audit all read.

    kind: "same_as" (this row's run *is* the other's: the paper's 3(c) = 2(c)), "proposals"
    (trains and tests on the other's dumped proposals), "init" (starts from the other's final
    checkpoint: 4-step steps 3-4), "merge" (a test-only model merged from the other's weights;
    `part` says which: rpn or detector)."""
    kind: str
    row: str
    part: str | None = None

    @property
    def label(self) -> str:
        return {"same_as": "same run", "merge": f"merged {self.part}"}.get(self.kind, self.kind)


@dataclass(frozen=True)
class Row:
    table: str
    letter: str
    name: str
    published: dict[str, float | None]
    columns: dict[str, object] = field(default_factory=dict)
    config: str | None = None          # relative to paper_configs/
    literature: bool = False
    proposals_from: str | None = None  # row id of the RPN whose dumped proposals this row uses
    same_as: str | None = None         # row id whose run *is* this row's (e.g. 3(c) = 2(c))
    init_from: str | None = None       # row id whose final checkpoint initialises this row
    merge: dict[str, str] = field(default_factory=dict)  # part -> row id: a test-only merged model
    step: bool = False                 # a dependency the paper does not tabulate (4-step training)
    task: str | None = None            # a step's own task when it differs from its table's
    schedule: str = "1x"               # "2x": twice the iterations at each learning rate
    paper_time_s: float | None = None  # the paper's inference s/image (M40), where it gives one
    tolerance: float | dict | None = None  # overrides the report's tolerance (all or per metric)

    @property
    def edges(self) -> list[Edge]:
        out = [Edge("same_as", self.same_as)] if self.same_as else []
        out += [Edge("proposals", self.proposals_from)] if self.proposals_from else []
        out += [Edge("init", self.init_from)] if self.init_from else []
        return out + [Edge("merge", d, part) for part, d in self.merge.items()]

    @property
    def deps(self) -> list[str]:
        """Rows that must finish first, each once, in a stable order."""
        return list(dict.fromkeys(e.row for e in self.edges))

    @property
    def id(self) -> str:
        return f"{self.table}.{self.letter}"

    @property
    def runnable(self) -> bool:
        return self.config is not None and not self.literature

    @property
    def config_path(self) -> Path:
        if self.config is None:
            raise HarnessError(f"{self.id} ({self.name}) has no config yet; it cannot be run")
        return PAPER_CONFIGS / self.config


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    section: str
    task: str
    metrics: dict[str, str]            # paper column -> MMDetection metric key
    columns: list[str]
    rows: dict[str, Row]
    note: str = ""
    steps: dict[str, Row] = field(default_factory=dict)  # run as dependencies, never tabulated
    tolerance: float | dict | None = None  # overrides the report's tolerance for this table

    @property
    def local_metrics(self) -> list[str]:
        """Columns a run measures (Table 4's test-dev columns map to null: COCO server only)."""
        return [m for m, key in self.metrics.items() if key]

    @property
    def runnable_rows(self) -> list[Row]:
        return [r for r in self.rows.values() if r.runnable]


def paper_metrics(table: Table, raw: dict, step: bool = False) -> tuple[dict, list, str | None]:
    """A run's evaluator output (fractions) as the table's columns in percent: (metrics, columns
    without objects of that size, problem). The evaluator's -1 (no objects of a size) is None.
    A step row (not in the paper's tables) keeps every key its evaluator reported."""
    if step:
        return ({k: round(100.0 * v, 4) for k, v in raw.items() if v >= 0},
                sorted(k for k, v in raw.items() if v < 0), None)
    metrics, na = {}, []
    for col, key in table.metrics.items():
        if key is None:      # scored by the COCO server only (Table 4's test-dev columns)
            continue
        if key not in raw:
            return {}, [], f"the evaluator reported no '{key}' (got {sorted(raw)})"
        if raw[key] < 0:
            metrics[col] = None
            na.append(col)
        else:
            metrics[col] = round(100.0 * raw[key], 4)
    return metrics, na, None


def parse_published(data: dict) -> dict[str, Table]:
    tables = {}
    for tid, t in data.items():
        rows = {}
        for letter, r in t["rows"].items():
            letter = str(letter)
            unknown = set(r.get("published", {})) - set(t["metrics"])
            if unknown:
                raise HarnessError(f"published.yaml: {tid}.{letter} has metrics {sorted(unknown)} "
                                   f"that {tid} does not declare; fix paper_configs/published.yaml")
            rows[letter] = _row(tid, letter, r, t, step=False)
        steps = {str(k): _row(tid, str(k), r, t, step=True) for k, r in (t.get("steps") or {}).items()}
        clash = set(rows) & set(steps)
        if clash:
            raise HarnessError(f"published.yaml: {tid} has {sorted(clash)} both as rows and steps")
        tables[tid] = Table(id=tid, title=t["title"], section=str(t.get("section", "")),
                            task=t["task"], metrics=dict(t["metrics"]),
                            columns=list(t.get("columns", [])), rows=rows, note=t.get("note", ""),
                            steps=steps, tolerance=_tolerance(tid, t.get("tolerance"), t))
    return tables


def _row(tid: str, letter: str, r: dict, t: dict, step: bool) -> Row:
    return Row(table=tid, letter=letter, name=r["name"],
               published={} if step else {m: r.get("published", {}).get(m) for m in t["metrics"]},
               columns={} if step else {c: r.get(c) for c in t.get("columns", [])},
               config=r.get("config"), literature=bool(r.get("literature", False)),
               proposals_from=r.get("proposals_from"), same_as=r.get("same_as"),
               init_from=r.get("init_from"), merge=dict(r.get("merge") or {}), step=step,
               task=r.get("task"), schedule=str(r.get("schedule", "1x")),
               paper_time_s=r.get("paper_time_s", r.get("time_s")),
               tolerance=_tolerance(f"{tid}.{letter}", r.get("tolerance"), t))


def _tolerance(where: str, value, table: dict):
    """A tolerance override: a number of points >= 0, or {metric: points} for the table's metrics."""
    def bad(v) -> bool:
        return isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = set(value) - set(table["metrics"])
        if unknown or any(bad(v) for v in value.values()):
            raise HarnessError(f"published.yaml: {where} has a tolerance override for "
                               f"{sorted(unknown) or 'a metric'} that is not a metric of its table "
                               "with a number >= 0; fix paper_configs/published.yaml")
        return dict(value)
    if bad(value):
        raise HarnessError(f"published.yaml: {where} has tolerance {value!r}; give points >= 0")
    return float(value)


@lru_cache(maxsize=None)
def load_tables(path: Path = PUBLISHED) -> dict[str, Table]:
    with open(path, encoding="utf-8") as f:
        return parse_published(yaml.safe_load(f))


def all_rows(tables: dict[str, Table] | None = None) -> list[Row]:
    tables = tables or load_tables()
    return [r for t in tables.values() for r in (*t.rows.values(), *t.steps.values())]


def get_row(row_id: str, tables: dict[str, Table] | None = None) -> Row:
    tables = tables or load_tables()
    tid, _, letter = row_id.partition(".")
    try:
        table = tables[tid]
        return table.rows[letter] if letter in table.rows else table.steps[letter]
    except KeyError:
        raise HarnessError(f"published.yaml refers to unknown row '{row_id}'") from None


def resolve(targets: list[str], tables: dict[str, Table] | None = None) -> list[Row]:
    """Turn row and table ids into the runnable rows they name, in paper order, without repeats.

    An unknown id, or a row without a config, is a HarnessError that lists what would work."""
    tables = tables or load_tables()
    out: list[Row] = []
    for target in targets:
        tid, _, letter = target.strip().lower().partition(".")
        if tid not in tables:
            raise HarnessError(f"unknown table or row '{target}'; valid tables: "
                               f"{', '.join(tables)} (see 'harness list')")
        table = tables[tid]
        if not letter:
            if not table.runnable_rows:
                raise HarnessError(f"{tid} has no runnable rows yet (see 'harness list {tid}')")
            chosen = table.runnable_rows
        elif letter not in table.rows and letter not in table.steps:
            raise HarnessError(f"unknown row '{target}'; rows of {tid}: "
                               f"{', '.join(r.id for r in [*table.rows.values(), *table.steps.values()])}")
        else:
            row = table.rows.get(letter) or table.steps[letter]
            if not row.runnable:
                why = "is a literature-only row" if row.literature else "has no config yet"
                runnable = ", ".join(r.id for r in table.runnable_rows) or "none yet"
                raise HarnessError(f"{row.id} ({row.name}) {why}; runnable rows of {tid}: {runnable}")
            chosen = [row]
        out.extend(r for r in chosen if r not in out)
    return out
