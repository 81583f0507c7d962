"""Following a worker: start its process, read MMEngine's log lines as they come, and show one
progress line per step change (at most every 5 s for long runs). `harness status` reads the same
lines back from a run's log, and a failure's last error line from the logs of a SLURM job."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

# MMEngine's log lines: "Iter(train) [ 5/8]  ... eta: 0:00:12 ... loss: 1.2345 ..."
_ITER = re.compile(r"Iter\((train|test)\)\s*\[\s*(\d+)/(\d+)\]")
_ETA = re.compile(r"eta: (\S+)")
_LOSS = re.compile(r"\bloss: (\S+)")


def progress_line(line: str):
    """(phase, i, n, extra text) of an MMEngine iteration line, or None."""
    m = _ITER.search(line)
    if not m:
        return None
    eta, loss = _ETA.search(line), _LOSS.search(line)
    return (m.group(1), int(m.group(2)), int(m.group(3)),
            (f", loss {loss.group(1)}" if loss else "") + (f", ETA {eta.group(1)}" if eta else ""))


def last_progress(log_path: Path) -> str | None:
    """The newest progress of a run from its log (for `harness status`)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        p = progress_line(line)
        if p:
            return f"{p[0]} {p[1]}/{p[2]}{p[3]}"
    return None


# Lines that say why a run failed: the harness's own error or a Python exception (the last line
# of a traceback); failing those, SLURM's (time limit, cancellation, a task that died).
_ERROR = re.compile(r"^(harness: error: .*|([\w.]+\.)?\w*(Error|Exception|Interrupt)\b.*)$")
_SLURM_ERROR = re.compile(r"^.*\b(slurmstepd|srun|sbatch): error: .*$")


def last_error(*logs: Path) -> str | None:
    """The last line that reads as an error in the first of `logs` that has one."""
    for path in logs:
        try:
            lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
        except OSError:
            continue
        for pattern in (_ERROR, _SLURM_ERROR):
            found = [line for line in lines if pattern.match(line)]
            if found:
                return " ".join(found[-1].split())[:300]
    return None


class LogFollower:
    """Reads a worker's log as it grows and shows one progress line per step change (at most
    every 5 s, plus the last step and the first test step). Used for the worker a run launches
    and for one a re-run waits for (an orphan: then the log's history is skipped and only its
    latest progress shown)."""

    def __init__(self, log_path: Path, label: str, log=print, from_end: bool = False):
        self.path, self.label, self.log = Path(log_path), label, log
        self.pos: int | None = None if from_end else 0
        self.last_shown, self.last_key = 0.0, None

    def poll(self) -> None:
        if self.pos is None:        # first look at someone else's log: where it stands now
            try:
                self.pos = self.path.stat().st_size
            except OSError:
                return
            if (now := last_progress(self.path)) is not None:
                self.log(f"  {self.label} {now}")
            return
        try:
            with open(self.path, encoding="utf-8", errors="replace") as reader:
                reader.seek(self.pos)
                chunk = reader.read()
        except OSError:
            return
        complete = chunk[:chunk.rfind("\n") + 1]
        self.pos += len(complete.encode("utf-8", errors="replace"))
        for line in complete.splitlines():
            p = progress_line(line)
            if not p:
                continue
            phase, i, n, extra = p
            t = time.monotonic()
            if (phase, i) != self.last_key and (t - self.last_shown >= 5 or i == n or
                                                (phase == "test" and i == 1)):
                self.log(f"  {self.label} {phase} {i}/{n}{extra}")
                self.last_shown, self.last_key = t, (phase, i)


def launch_and_follow(cmd: list[str], log_path: Path, label: str, log=print,
                      threads: int | None = None, lock=None) -> int:
    """Run cmd (a worker command from harness/orchestrate/launch.py) with its output appended to
    log_path, follow that log, and return the exit code.

    lock: the row's lock (harness/orchestrate/locks.py), handed down to the worker process, so
    that the row stays locked while the worker lives even if this process dies
    (harness/orchestrate/ownership.py)."""
    from harness.orchestrate.ownership import inherit
    # torch >= 2.6 loads checkpoints with weights_only=True, which refuses MMEngine's own
    # checkpoints (they pickle the message hub): resume and load_from need the old behaviour.
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONUNBUFFERED="1")
    if threads:   # several local workers share the cores; a user's OMP_NUM_THREADS wins
        env.setdefault("OMP_NUM_THREADS", str(threads))
    pass_fds = inherit(lock)
    log_path.touch()
    with open(log_path, "a", encoding="utf-8") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=log_path.parent, pass_fds=pass_fds)
    if lock is not None and pass_fds:
        lock.hand_to(proc.pid)
    follower = LogFollower(log_path, label, log)
    while True:
        finished = proc.poll() is not None
        follower.poll()
        if finished:
            break
        time.sleep(0.5)
    return proc.returncode
