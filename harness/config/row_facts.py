"""Facts the read-only verbs need from each row's config (Table 1's #anchors, the declared
deviations), computed once and kept in a small cache file, so `harness list` and `harness
report` do not parse ~30 configs (mmdet's bases included: about a second) on every call.

The cache (results/cache/row_facts.json) is keyed by a fingerprint of every file under
paper_configs/ and the mmdet version: editing any row config, or another mmdet, recomputes it."""
from __future__ import annotations

import hashlib
import json
from importlib import metadata

from harness.paths import PAPER_CONFIGS, results_dir
from harness.store.atomic import write_json_atomic


_HASHED: dict[tuple, str] = {}


def _fingerprint() -> str:
    """Hashed once per state of the files: a report asks once per row, and re-reading ~30 files
    and mmdet's metadata each time cost more than the facts themselves."""
    paths = sorted(PAPER_CONFIGS.rglob("*.py"))
    state = tuple((p, st.st_mtime_ns, st.st_size) for p in paths for st in [p.stat()])
    if state not in _HASHED:
        h = hashlib.sha256()
        for path in paths:
            h.update(path.relative_to(PAPER_CONFIGS).as_posix().encode() + b"\0" + path.read_bytes())
        try:
            h.update(metadata.version("mmdet").encode())
        except metadata.PackageNotFoundError:
            pass
        _HASHED.clear()
        _HASHED[state] = h.hexdigest()[:16]
    return _HASHED[state]


def _compute(row) -> dict:
    from harness.config.anchors import count_anchors, humanize
    from harness.config.resolve import declared_deviations, load_row_config
    cfg = load_row_config(row)
    anchors = humanize(count_anchors(cfg)) if cfg.model.get("rpn_head") else None
    return {"anchors": anchors, "paper_deviations": declared_deviations(cfg)}


_MEMO: dict[str, dict] = {}


def row_facts(row) -> dict:
    """{anchors, paper_deviations} of a runnable row's own config."""
    path = results_dir() / "cache" / "row_facts.json"
    key = _fingerprint()
    if _MEMO.get("key") != key:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        _MEMO.clear()
        _MEMO.update(key=key, rows=data.get("rows", {}) if data.get("key") == key else {})
    rows = _MEMO["rows"]
    if row.id not in rows:
        rows[row.id] = _compute(row)
        try:
            write_json_atomic(path, {"key": key, "rows": rows})
        except OSError:
            pass   # a read-only store: the facts are recomputed next time, nothing is lost
    return rows[row.id]
