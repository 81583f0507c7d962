"""The results store: one record per run, written atomically, read tolerantly.

Layout (under results/, or $FPN_REPRO_RESULTS): runs/<row>/<profile>/seed<k>/ (a RunDir: see
harness/store/rundir.py), archive/ (runs replaced by --force), locks/."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.store.atomic import write_json_atomic
from harness.store.record import Record, RecordError
from harness.store.rundir import RunDir


@dataclass
class BadRecord:
    path: Path
    reason: str


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)

    def run(self, row_id: str, profile: str, seed: int = 0) -> RunDir:
        return RunDir(self.root / "runs" / row_id / profile / f"seed{seed}")

    def run_dir(self, row_id: str, profile: str, seed: int = 0) -> Path:
        return self.run(row_id, profile, seed).path

    def record_path(self, row_id: str, profile: str, seed: int = 0) -> Path:
        return self.run(row_id, profile, seed).record

    def write(self, record: Record | dict) -> Path:
        rec = record if isinstance(record, Record) else Record.from_dict(record)
        path = self.record_path(rec.row, rec.profile, rec.seed)
        write_json_atomic(path, rec.to_dict())
        return path

    def get(self, row_id: str, profile: str, seed: int = 0) -> dict | None:
        rec = self.get_or_bad(row_id, profile, seed)
        return rec if isinstance(rec, dict) else None

    def get_or_bad(self, row_id: str, profile: str, seed: int = 0) -> dict | BadRecord | None:
        """The record, None if there is none, or the BadRecord saying why its file is unusable
        (status and run report a corrupt record as such, not as a row never run)."""
        path = self.record_path(row_id, profile, seed)
        if not path.exists():
            return None
        return load(path)

    def scan(self) -> tuple[list[dict], list[BadRecord]]:
        """All readable records, and the files that could not be read (reported, never fatal)."""
        good, bad = [], []
        for path in sorted((self.root / "runs").glob("*/*/*/record.json")):
            rec = load(path)
            if isinstance(rec, BadRecord):
                bad.append(rec)
            else:
                rec["_path"] = str(path)
                good.append(rec)
        return good, bad


def load(path: Path) -> dict | BadRecord:
    """A record file as the dict readers use (validated through Record), or why it is bad."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return BadRecord(path, f"unreadable ({exc})")
    try:
        Record.from_dict(data)
    except RecordError as exc:
        return BadRecord(path, str(exc))
    return data
