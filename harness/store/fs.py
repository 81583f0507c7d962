"""File-system failures as one line: a full disk, a read-only or unwritable folder, a missing
one, a name too long. The CLI turns these into `harness: error: PATH: cause (what to do)`, and
`harness run` / `harness report` probe their output folders before any work starts, so a
results folder that cannot be written costs a second, not a training run.

No torch/mmdet imports."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from harness.errors import HarnessError

# errno -> what the user can do about it. Only these are a problem of the environment (a path
# the user chose, a disk); any other OSError is a bug and keeps its traceback.
ADVICE = {
    errno.ENOSPC: "the disk is full: free space or point the harness at a larger disk",
    errno.EDQUOT: "the disk quota is exhausted: free space or point the harness at another disk",
    errno.EROFS: "a read-only file system: point the harness at a writable folder",
    errno.EACCES: "permission denied: point the harness at a folder you can write",
    errno.EPERM: "not permitted (an immutable folder?): point the harness at a writable folder",
    errno.ENAMETOOLONG: "a file or folder name is too long for the file system: use a shorter path",
    errno.ENOENT: "a folder on the way does not exist and cannot be made: use an existing path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: use another path",
    errno.EISDIR: "a folder stands where a file must be written: remove it or use another path",
    errno.EIO: "an I/O error: check the disk",
    errno.EEXIST: "a file stands where a folder must be: remove it or use another path",
}


def is_environment_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in ADVICE


def describe(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """One line: the path, the system's words for the cause, and what to do."""
    where = path if path is not None else exc.filename
    cause = exc.strerror or str(exc)
    advice = ADVICE.get(exc.errno)
    setting = _setting_for(where)
    tail = f" ({advice}{'; ' + setting if setting else ''})" if advice else ""
    return " ".join(f"{where or 'a file'}: {cause}{tail}".split())


def _setting_for(path) -> str | None:
    """Which setting moves the output folder that path lies in (so the user knows what to change)."""
    if path is None:
        return None
    from harness.paths import reports_dir, results_dir
    p = os.path.abspath(str(path))
    for var, folder in (("FPN_REPRO_RESULTS", results_dir()), ("FPN_REPRO_REPORTS", reports_dir())):
        root = os.path.abspath(str(folder))
        if p == root or p.startswith(root.rstrip("/") + "/"):
            return f"{var} moves that folder"
    return None


def renamed(exc: OSError, path: str | os.PathLike) -> OSError:
    """The same error (same errno, so the same OSError subclass) naming `path`: a write to a
    temp file fails with the temp file's name or none, but the user cares about the target."""
    if exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def ensure_writable_dir(path: Path, what: str) -> Path:
    """Make `path` (a folder the harness writes into) and prove it takes a file: created, a few
    bytes written and synced, removed. HarnessError in one line otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if not is_environment_error(exc):
            raise
        raise HarnessError(f"cannot make the {what} folder: {describe(exc, exc.filename or path)}") \
            from None
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".harness-probe-")
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        if not is_environment_error(exc):
            raise
        raise HarnessError(f"cannot write the {what} folder: {describe(exc, path)}") from None
    return path
