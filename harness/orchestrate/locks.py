"""One lock per (row, profile, seed): two sweeps started at once never run the same row twice.

flock(2) locks die with their process, so a killed sweep never leaves a stale lock behind."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


@contextlib.contextmanager
def row_lock(store_root: Path, row_id: str, profile: str, seed: int, log=print):
    """Hold the row's lock; if another process holds it, say so and wait for it."""
    path = Path(store_root) / "locks" / f"{row_id}__{profile}__seed{seed}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            log(f"{row_id} [{profile}]: being run by {holder}; waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {os.uname().nodename}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def is_locked(store_root: Path, row_id: str, profile: str, seed: int) -> bool:
    path = Path(store_root) / "locks" / f"{row_id}__{profile}__seed{seed}.lock"
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
