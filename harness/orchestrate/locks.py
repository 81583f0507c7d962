"""One lock per (row, profile, seed): two sweeps started at once never run the same row twice.

flock(2) locks die with their process, so a killed sweep never leaves a stale lock behind. The
lock belongs to the open file, not to one process: the sweep hands it down to the worker it
starts (harness/orchestrate/ownership.py), so a worker that outlives its sweep keeps the row
locked until it has written its outcome, and a re-run waits for it instead of racing it."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def lock_path(store_root: Path, row_id: str, profile: str, seed: int) -> Path:
    return Path(store_root) / "locks" / f"{row_id}__{profile}__seed{seed}.lock"


@dataclass
class RowLock:
    path: Path
    file: IO
    handed_to: int | None = None      # the worker process that shares this lock

    def fileno(self) -> int:
        return self.file.fileno()

    def hand_to(self, pid: int) -> None:
        """Name the worker as the holder: it keeps the lock if this process dies."""
        from harness.orchestrate.ownership import holder_line
        self.handed_to = pid
        self._say(holder_line(pid, harness_pid=os.getpid()))

    def _say(self, text: str) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.file.write(text)
        self.file.flush()


@contextlib.contextmanager
def row_lock(store_root: Path, row_id: str, profile: str, seed: int, log=print,
             while_waiting=None):
    """Hold the row's lock; if another process holds it, say so and wait for it (calling
    while_waiting, e.g. to show the holder's progress, every half second)."""
    from harness.orchestrate.ownership import describe_holder, holder_line, pid_alive
    path = lock_path(store_root, row_id, profile, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            log(f"{row_id} [{profile}]: being run by {describe_holder(f.read())}; waiting for it")
            _wait(f, while_waiting)
        lock = RowLock(path, f)
        lock._say(holder_line(os.getpid()))
        try:
            yield lock
        finally:
            # Closing the file releases the lock only once the worker, which shares it, is gone
            # too (flock(LOCK_UN) would release it for both: never used here).
            if lock.handed_to is None or not pid_alive(lock.handed_to):
                lock._say("")


def _wait(f, while_waiting) -> None:
    if while_waiting is None:
        fcntl.flock(f, fcntl.LOCK_EX)
        return
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            while_waiting()
            time.sleep(0.5)


def is_locked(store_root: Path, row_id: str, profile: str, seed: int) -> bool:
    path = lock_path(store_root, row_id, profile, seed)
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
