"""Runs grouped per row and profile, reduced to mean, spread and n per paper metric.

Tables, claims, plots and the CSV all read these groups, so they can never disagree on what
was measured. Only `done` runs contribute numbers; a row run several times (seeds) is its mean.
Whether a group may be judged against the paper is decided by harness/report/verdict.py."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from harness.report.verdict import may_judge, reasons
from harness.config.profiles import PROFILES
from harness.paper.rows import Table


def get(d, *keys, default=None):
    """d[k1][k2]... tolerating missing keys and non-dict values (records come from disk)."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return default if d is None else d


def lines(v) -> list[str]:
    """A record's list-of-strings field (deviations), tolerating a bare string or junk."""
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v] if isinstance(v, (list, tuple)) else []


@dataclass(frozen=True)
class Cell:
    """One metric of one row under one profile."""
    mean: float | None
    std: float | None          # sample std over runs; None with a single run
    n: int                     # runs that produced a number
    na: bool                   # undefined (CocoMetric's -1: no objects of that size)


@dataclass
class Group:
    row: str
    profile: str
    records: list[dict] = field(default_factory=list)
    alias_of: str | None = None    # the row whose runs these are (3(c) = 2(c))

    @property
    def done(self) -> list[dict]:
        return [r for r in self.records if r.get("status") == "done"]

    @property
    def judged(self) -> bool:
        return may_judge(self.records)

    @property
    def reasons(self) -> list[dict]:
        """Why these runs are not the paper's experiment: the reasons of the first run that has
        any (with --allow-deviations, the group is judged and these go beside its verdicts)."""
        return next((found for r in self.records if (found := reasons(r))), [])

    @property
    def reproduction_profile(self) -> bool:
        """A `paper`-profile group, judged or not (smoke groups are pipeline checks)."""
        p = PROFILES.get(self.profile)
        return bool(p and p.is_reproduction)

    def cell(self, metric: str) -> Cell | None:
        """None when no run of this group finished."""
        done = self.done
        if not done:
            return None
        vals = [v for r in done if metric not in (r.get("metrics_na") or [])
                and isinstance(v := get(r, "metrics", metric), (int, float))]
        if not vals:
            return Cell(None, None, 0, na=True)
        return Cell(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None,
                    len(vals), na=False)

    def runtime(self) -> tuple[float, str, bool] | None:
        """Mean inference seconds per image, the device, and whether data loading is included."""
        rts = [r["runtime"] for r in self.done if isinstance(r.get("runtime"), dict)
               and isinstance(r["runtime"].get("seconds_per_image"), (int, float))]
        if not rts:
            return None
        device = ", ".join(sorted({str(rt.get("device") or "?") for rt in rts}))
        with_data = all(rt.get("with_data_loading", True) is not False for rt in rts)
        return statistics.fmean(rt["seconds_per_image"] for rt in rts), device, with_data


def group_records(records: list[dict], tables: dict[str, Table]) -> dict[str, dict[str, Group]]:
    """row id -> profile -> Group. A `same_as` row without runs of its own borrows its source's."""
    out: dict[str, dict[str, Group]] = {}
    for rec in records:
        out.setdefault(rec["row"], {}).setdefault(
            rec["profile"], Group(rec["row"], rec["profile"])).records.append(rec)
    for g in (g for prof in out.values() for g in prof.values()):
        g.records.sort(key=lambda r: (r.get("seed") if isinstance(r.get("seed"), int) else 0))
    for table in tables.values():
        for row in table.rows.values():
            if row.same_as and row.id not in out and row.same_as in out:
                out[row.id] = {p: Group(row.id, p, g.records, alias_of=row.same_as)
                               for p, g in out[row.same_as].items()}
    return out


def judged_group(groups: dict[str, dict[str, Group]], row_id: str) -> Group | None:
    """The reproduction-profile group of a row (the one claims may use), if any."""
    for g in groups.get(row_id, {}).values():
        if g.judged:
            return g
    return None
