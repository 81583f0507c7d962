"""Other reproductions (Detectron, detectron2, mmdet model zoos) from
paper_configs/other_reproductions.yaml: extra report columns, never used to judge a run."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from harness.errors import HarnessError
from harness.paths import PAPER_CONFIGS

OTHERS = PAPER_CONFIGS / "other_reproductions.yaml"


@dataclass(frozen=True)
class Others:
    sources: dict[str, dict]                       # name -> {title, url}
    values: dict[str, dict[str, dict[str, float]]]  # row id -> paper column -> source -> number
    notes: dict[str, dict[str, str]]               # row id -> source -> remark

    def for_table(self, table_id: str) -> list[str]:
        """The sources with a number for some row of this table, in file order."""
        used = {s for row, per in self.values.items() if row.split(".")[0] == table_id
                for vals in per.values() for s in vals}
        return [s for s in self.sources if s in used]

    def cell(self, row_id: str, source: str) -> str:
        """e.g. 'AR@1k 57.2' (several metrics joined), '' where the source has none."""
        parts = [f"{m} {vals[source]:.1f}" for m, vals in self.values.get(row_id, {}).items()
                 if source in vals]
        note = self.notes.get(row_id, {}).get(source)
        return " · ".join(parts) + (f" ({note})" if parts and note else "")


@lru_cache(maxsize=None)
def load_others(path: Path = OTHERS) -> Others:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HarnessError(f"cannot read {path}: {exc}") from None
    sources = dict(data.get("sources") or {})
    values, notes = {}, {}
    for row, per in (data.get("values") or {}).items():
        per = dict(per or {})
        notes[row] = dict(per.pop("notes", None) or {})
        values[row] = {}
        for metric, vals in per.items():
            unknown = set(vals) - set(sources)
            if unknown:
                raise HarnessError(f"{path}: {row} {metric} names unknown sources "
                                   f"{sorted(unknown)}; declare them under 'sources'")
            values[row][metric] = {s: float(v) for s, v in vals.items()}
    return Others(sources, values, notes)
