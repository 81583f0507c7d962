"""The results store: one JSON record per run, written atomically, read tolerantly.

Layout (under results/, or $FPN_REPRO_RESULTS):
    runs/<row>/<profile>/seed<k>/record.json   the record (what reports read)
    runs/<row>/<profile>/seed<k>/config.py     the resolved MMDetection config
    runs/<row>/<profile>/seed<k>/work/         MMEngine's work dir (logs, checkpoints)
    runs/<row>/<profile>/seed<k>/worker.log    the worker's stdout/stderr
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

RECORD_SCHEMA = 1
RECORD_NAME = "record.json"


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a temp path in path's folder; on success it replaces path (readable by all, as
    an ordinary file would be), on failure it is removed: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)   # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


@dataclass
class BadRecord:
    path: Path
    reason: str


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)

    def run_dir(self, row_id: str, profile: str, seed: int = 0) -> Path:
        return self.root / "runs" / row_id / profile / f"seed{seed}"

    def record_path(self, row_id: str, profile: str, seed: int = 0) -> Path:
        return self.run_dir(row_id, profile, seed) / RECORD_NAME

    def write(self, record: dict) -> Path:
        path = self.record_path(record["row"], record["profile"], record.get("seed", 0))
        write_json_atomic(path, record)
        return path

    def get(self, row_id: str, profile: str, seed: int = 0) -> dict | None:
        path = self.record_path(row_id, profile, seed)
        if not path.exists():
            return None
        rec = _load(path)
        return rec if isinstance(rec, dict) else None

    def scan(self) -> tuple[list[dict], list[BadRecord]]:
        """All readable records, and the files that could not be read (reported, never fatal)."""
        good, bad = [], []
        for path in sorted((self.root / "runs").glob(f"*/*/*/{RECORD_NAME}")):
            rec = _load(path)
            if isinstance(rec, BadRecord):
                bad.append(rec)
            else:
                rec["_path"] = str(path)
                good.append(rec)
        return good, bad


_REQUIRED = {"schema": int, "row": str, "profile": str, "status": str, "metrics": dict}


def _load(path: Path) -> dict | BadRecord:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return BadRecord(path, f"unreadable ({exc})")
    if not isinstance(rec, dict):
        return BadRecord(path, "not a JSON object")
    for key, typ in _REQUIRED.items():
        if not isinstance(rec.get(key), typ):
            return BadRecord(path, f"field '{key}' missing or not {typ.__name__}")
    if rec["schema"] > RECORD_SCHEMA:
        return BadRecord(path, f"schema {rec['schema']} is newer than this harness ({RECORD_SCHEMA})")
    for name, value in rec["metrics"].items():
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
            return BadRecord(path, f"metric '{name}' is not a finite number")
    return rec
