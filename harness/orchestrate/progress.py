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


def launch_and_follow(cmd: list[str], log_path: Path, label: str, log=print,
                      threads: int | None = None) -> int:
    """Run cmd (a worker command from harness/orchestrate/launch.py) with its output appended to
    log_path, follow that log, and return the exit code."""
    # torch >= 2.6 loads checkpoints with weights_only=True, which refuses MMEngine's own
    # checkpoints (they pickle the message hub): resume and load_from need the old behaviour.
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONUNBUFFERED="1")
    if threads:   # several local workers share the cores; a user's OMP_NUM_THREADS wins
        env.setdefault("OMP_NUM_THREADS", str(threads))
    last_shown, last_key, pos = 0.0, None, 0
    log_path.touch()
    with open(log_path, "a", encoding="utf-8") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=log_path.parent)
    with open(log_path, encoding="utf-8", errors="replace") as reader:
        while True:
            finished = proc.poll() is not None
            reader.seek(pos)
            chunk = reader.read()
            complete = chunk[:chunk.rfind("\n") + 1]
            pos += len(complete.encode("utf-8", errors="replace"))
            for line in complete.splitlines():
                p = progress_line(line)
                if not p:
                    continue
                phase, i, n, extra = p
                t = time.monotonic()
                if (phase, i) != last_key and (t - last_shown >= 5 or i == n or (phase == "test" and i == 1)):
                    log(f"  {label} {phase} {i}/{n}{extra}")
                    last_shown, last_key = t, (phase, i)
            if finished:
                break
            time.sleep(0.5)
    return proc.returncode
