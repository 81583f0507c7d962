"""How many images, annotations and which categories an annotation file holds: the facts that
say whether a run read COCO at full size (harness/data/coco.py SPLIT_SIZES).

COCO's train2017 file is ~450 MB: parsed into dicts it takes several GB. The count parses it
once with every image and annotation entry dropped as soon as it is parsed (json's
object_hook), so memory is the file's text plus one entry at a time, and caches the result by
the file's fingerprint (harness/data/validate.py annotation_fingerprint) under
harness/paths.py cache_dir(): a file is counted once, whatever store or checkout asks."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.data.validate import annotation_fingerprint
from harness.errors import HarnessError
from harness.paths import cache_dir
from harness.store import write_json_atomic

_MEMO: dict[str, "Counts"] = {}


@dataclass(frozen=True)
class Counts:
    images: int
    annotations: int | None            # None: the file has no annotation list (test-dev)
    categories: tuple[tuple[int, str], ...]


def _lean(entry: dict):
    """object_hook: an image ('file_name') or annotation ('image_id') entry becomes a
    placeholder once parsed; the categories and the top-level object are kept."""
    return 0 if "image_id" in entry or "file_name" in entry else entry


def _count(path: Path) -> Counts:
    try:
        # decoded at once: the bytes are released before parsing, so the text is held once
        data = json.loads(Path(path).read_bytes().decode("utf-8"), object_hook=_lean)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"cannot count {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise HarnessError(f"cannot count {path}: not a COCO annotation file (no 'images' list)")
    anns = data.get("annotations")
    cats = tuple((c.get("id"), c.get("name")) for c in data.get("categories") or []
                 if isinstance(c, dict))
    return Counts(len(data["images"]), len(anns) if isinstance(anns, list) else None, cats)


def annotation_counts(path: Path, fingerprint: str | None = None) -> Counts:
    """The counts of `path`, from the cache when its fingerprint was counted before."""
    fp = fingerprint or annotation_fingerprint(path)
    if fp in _MEMO:
        return _MEMO[fp]
    cached = cache_dir() / "annotation_counts" / f"{fp}.json"
    try:
        raw = json.loads(cached.read_text())
        counts = Counts(raw["images"], raw["annotations"],
                        tuple((int(i), str(n)) for i, n in raw["categories"]))
    except (OSError, ValueError, KeyError, TypeError):
        counts = _count(path)
        try:
            write_json_atomic(cached, asdict(counts))
        except OSError:
            pass   # a read-only cache costs a recount next time, never a failed run
    _MEMO[fp] = counts
    return counts
