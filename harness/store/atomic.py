"""Atomic writes: a reader (a report, a status, a resuming run) never sees half a file.

Every file the harness writes goes through `atomic_file`: the content is written to a temp file
in the same folder, flushed, and renamed over the target; on any failure the temp file is
removed and the old file, if any, is left as it was. A failure of the file system (a full disk)
is raised as an OSError that names the target, not the temp file (harness/store/fs.py)."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from harness.store.fs import renamed


# A temp file is hidden beside its target: `.<name>.<random>.tmp` (what a killed writer leaves;
# store/rundir.py removes them). The checkpoint hook, harness/models/checkpoint.py, names its own
# temp files the same way.
TEMP_PREFIX, TEMP_SUFFIX = ".", ".tmp"
TEMP_GLOB = f"{TEMP_PREFIX}*{TEMP_SUFFIX}"


@contextlib.contextmanager
def atomic_file(path: Path):
    """Yield a temp path in path's folder; on success it replaces path (readable by all, as
    an ordinary file would be), on failure it is removed: readers never see half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.",
                                   suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise renamed(exc, exc.filename or path) from exc
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)   # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise renamed(exc, path) from exc
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def save_torch_atomic(obj, path: Path) -> None:
    """torch.save, complete or absent. Serialised in memory first (as MMEngine's own
    save_checkpoint does): torch's C++ file writer reports a full disk as a RuntimeError without
    the path, a Python write as the OSError it is."""
    import io

    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        f.write(buf.getbuffer())
        f.flush()
        os.fsync(f.fileno())
