"""Every image a run trains or tests on is opened before training starts: a 0-byte or non-image
file among 118k COCO images otherwise surfaces as an OpenCV assertion minutes (or hours) into
training, naming no file.

Only the header is read (PIL's `open` + `verify`: format, size, mode; no pixel decoding), by a
pool of threads (the work is file I/O), so all of COCO train2017 takes seconds. A split that
passed is remembered under the results folder (cache/images/), keyed by the annotation file's
fingerprint, the image folder's path and its modification time (a file added, removed or
renamed there changes it), so later runs skip the check."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.errors import HarnessError

_CHUNK = 512      # images per task: 118k single-image futures would cost more than the reads


def _problem(path: Path) -> str | None:
    """Why path is not an image PIL can open, or None."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.verify()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
        try:
            if path.stat().st_size == 0:
                return "an empty file"
        except OSError as err:
            return err.strerror or str(err)
        return f"not an image that can be read ({type(exc).__name__})"


def _chunk_problems(paths: list[Path]) -> list[tuple[Path, str]]:
    return [(p, why) for p in paths if (why := _problem(p)) is not None]


def _cache_key(fingerprint: str, img_dir: Path) -> str:
    try:
        mtime = img_dir.stat().st_mtime_ns
    except OSError:
        mtime = 0
    text = f"{fingerprint}|{os.path.realpath(img_dir)}|{mtime}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def check_images_readable(names: list[str], img_dir: Path, ann_path: Path, fingerprint: str,
                          cache_dir: Path | None = None) -> None:
    """HarnessError (one line) naming the first listed image that cannot be opened."""
    marker = cache_dir / "images" / f"{_cache_key(fingerprint, img_dir)}.ok" if cache_dir else None
    if marker is not None and marker.exists():
        return
    paths = [img_dir / n for n in names]
    chunks = [paths[i:i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    with ThreadPoolExecutor(max_workers=min(32, 4 * (os.cpu_count() or 1))) as pool:
        bad = [b for found in pool.map(_chunk_problems, chunks) for b in found]
    if bad:
        first, why = bad[0]
        raise HarnessError(
            f"unreadable image: {first} is {why} ({len(bad)} of the {len(paths)} images listed "
            f"in {ann_path.name} cannot be opened); replace the file(s) or remove them from "
            f"{ann_path}")
    if marker is not None:
        from harness.store import write_text_atomic
        try:
            write_text_atomic(marker, f"{len(paths)} images of {ann_path} open\n")
        except OSError:
            pass    # the cache only saves time; a results folder that cannot take it fails later
