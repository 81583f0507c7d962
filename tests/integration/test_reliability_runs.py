"""Issue 14 on real smoke runs of table1.c (each scenario at most one row of training):

- a killed worker with a checkpoint shows as `stopped at iteration 4 (a re-run resumes)`, and
  the re-run resumes it;
- a `kill -9` of the harness leaves its worker running as an orphan that keeps the row:
  `status` shows it `running (pid N)`, a re-run waits for it (showing its progress), then makes
  the one record from its outcome;
- a corrupt record: status says so, and a re-run starts over (archiving the old run) instead of
  resuming from the finished, slimmed checkpoint;
- a full disk (50 MB tmpfs): one line naming the checkpoint and the cause, no partial file;
- a loss that diverges at a checkpoint iteration: no checkpoint of it, and the re-run refuses
  in one line pointing at --force.

Processes are synchronised by polling their logs and files, never by sleeping blindly."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.orchestrate.locks import is_locked, lock_path
from harness.orchestrate.ownership import read_holder

from tests import conftest
from tests.conftest import ROOT, run_cli


def wait_until(predicate, what: str):
    """Training rows are slow to reach a point: a longer wait, polled less often."""
    return conftest.wait_until(predicate, what, timeout=600, every=0.2)


def text(path: Path, start: int = 0) -> str:
    try:
        return path.read_bytes()[start:].decode(errors="replace")
    except OSError:
        return ""


class Cli:
    """`harness ...` in its own session (so a test can kill it alone, or with its worker)."""

    def __init__(self, tmp: Path, env: dict, *args: str):
        self.out, self.err = tmp / f"out-{time.monotonic_ns()}", tmp / f"err-{time.monotonic_ns()}"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "harness.cli", *args], cwd=ROOT, stdout=out, stderr=err,
                env=dict(os.environ, PYTHONUNBUFFERED="1", **env), start_new_session=True)

    @property
    def stdout(self) -> str:
        return text(self.out)

    @property
    def stderr(self) -> str:
        return text(self.err)

    def wait(self, timeout: float = 900) -> int:
        return self.proc.wait(timeout=timeout)

    def kill_all(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("harness: error:")]


def status_line(env: dict, row: str = "table1.c", seed: int = 0) -> str:
    proc = run_cli("status", row, "--profile", "smoke", "--seed", str(seed), env=env)
    assert proc.returncode == 0, proc.stderr
    return next(ln for ln in proc.stdout.splitlines() if ln.startswith(f"  {row} "))


@pytest.fixture(scope="module")
def store(tmp_path_factory, synth_root):
    results = tmp_path_factory.mktemp("results")
    env = {"FPN_REPRO_RESULTS": str(results), "FPN_REPRO_REPORTS": str(results.parent / "reports")}
    run_dir = results / "runs" / "table1.c" / "smoke" / "seed0"
    return {"results": results, "env": env, "run": run_dir, "tmp": results.parent,
            "args": ("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root))}


def _holder(results: Path, harness_pid: int):
    h = read_holder(lock_path(results, "table1.c", "smoke", 0))
    return h if h is not None and h.harness_pid == harness_pid else None


@pytest.fixture(scope="module")
def kill_then_orphan(store):
    """Kill the worker after its iteration-4 checkpoint (the harness lives on); re-run, which
    resumes; kill that harness (the worker lives on); re-run, which waits and records."""
    s, env, run = store, store["env"], store["run"]
    out: dict = {}
    first = Cli(s["tmp"], env, *s["args"])
    try:
        wait_until(lambda: (run / "work" / "last_checkpoint").exists(), "the iteration-4 checkpoint")
        worker = wait_until(lambda: _holder(s["results"], first.proc.pid), "the worker's pid")
        os.kill(worker.pid, signal.SIGKILL)
        out["first_rc"], out["first_err"] = first.wait(), first.stderr
        out["stopped"] = status_line(env)
    finally:
        first.kill_all()

    offset = len(text(run / "worker.log"))
    second = Cli(s["tmp"], env, *s["args"])
    try:
        wait_until(lambda: "Iter(train) [5/8]" in text(run / "worker.log", offset), "the resume")
        orphan = wait_until(lambda: _holder(s["results"], second.proc.pid), "the resumed worker")
        os.kill(second.proc.pid, signal.SIGKILL)            # the harness only: its worker runs on
        second.proc.wait()
        out["second_out"] = second.stdout
        out["orphan_alive"] = is_locked(s["results"], "table1.c", "smoke", 0)
        out["orphan_status"] = status_line(env)
        os.kill(orphan.pid, signal.SIGSTOP)   # keep it running until the re-run is seen waiting
        third = Cli(s["tmp"], env, *s["args"])
        try:
            wait_until(lambda: "waiting for it" in third.stdout, "the re-run to wait")
            os.kill(orphan.pid, signal.SIGCONT)
            out["third_rc"] = third.wait()
            out["third_out"], out["third_err"] = third.stdout, third.stderr
        finally:
            third.kill_all()
    finally:
        with contextlib.suppress(NameError, ProcessLookupError):
            os.kill(orphan.pid, signal.SIGCONT)
        second.kill_all()
    out.update(orphan=orphan, second_pid=second.proc.pid, offset=offset,
               record=json.loads((run / "record.json").read_text()))
    return out


def test_a_killed_worker_with_a_checkpoint_is_stopped_and_a_rerun_resumes(kill_then_orphan):
    k = kill_then_orphan
    assert k["first_rc"] == 1
    assert error_lines(k["first_err"]) and "worker killed by signal 9" in error_lines(k["first_err"])[0]
    assert k["stopped"].split() == "table1.c stopped at iteration 4, checkpoint iter_4.pth " \
                                   "(a re-run resumes)".split()
    assert "resuming from its last checkpoint" in k["second_out"]


def test_an_orphaned_worker_keeps_its_row_and_the_rerun_records_its_outcome(store, kill_then_orphan):
    k, run = kill_then_orphan, store["run"]
    assert k["orphan_alive"]
    assert f"running  (pid {k['orphan'].pid}) train " in k["orphan_status"]
    assert f"orphaned: its harness (pid {k['second_pid']}) is gone" in k["orphan_status"]
    assert k["third_rc"] == 0, k["third_out"][-2000:] + k["third_err"][-2000:]
    assert f"being run by pid {k['orphan'].pid} on" in k["third_out"]
    assert "recording the outcome (done) of the worker that ran on after its harness " \
           f"(pid {k['second_pid']}) stopped" in k["third_out"]
    rec = k["record"]
    assert rec["status"] == "done" and rec["resumed_from_iteration"] == 4 and rec["iterations"] == 8
    assert len(list(store["results"].glob("runs/*/*/*/record.json"))) == 1
    assert not (store["results"] / "archive").exists()                # nothing moved under it
    log = text(run / "worker.log", k["offset"])
    assert log.count("Iter(train) [8/8]") == 1                        # one worker trained 5..8
    assert "Traceback" not in log and "FileNotFoundError" not in log
    assert not (run / "attempt.json").exists()
    assert not is_locked(store["results"], "table1.c", "smoke", 0)
    assert status_line(store["env"]).split()[1] == "done"


def test_a_corrupt_record_is_reported_and_the_rerun_starts_over(store, kill_then_orphan):
    run, env = store["run"], store["env"]
    record = run / "record.json"
    record.write_text(record.read_text()[:300])
    line = status_line(env)
    assert line.split()[1] == "corrupt" and f"{record}: unreadable (" in line
    rerun = Cli(store["tmp"], env, *store["args"])
    try:
        # (the announcement comes after the old run dir moved away: the log is then the new one)
        wait_until(lambda: "training and testing" in rerun.stdout and
                   "Iter(train) [1/8]" in text(run / "worker.log"), "training from scratch")
        out = rerun.stdout
    finally:
        rerun.kill_all()
    assert f"its record {record} is corrupt (unreadable (" in out and "starting the row over" in out
    assert "resuming" not in out
    archived = list((store["results"] / "archive" / "table1.c" / "smoke").glob("seed0-*"))
    assert len(archived) == 1
    assert len((archived[0] / "record.json").read_text()) == 300       # the corrupt record, kept
    assert (archived[0] / "work" / "iter_8.pth").exists()             # the old run, kept whole
    assert "message_hub" not in text(run / "worker.log")              # no resume was attempted


def test_a_full_disk_is_one_line_and_leaves_no_partial_checkpoint(tmp_path, synth_root):
    disk = tmp_path / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=50m", "tmpfs", str(disk)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 50 MB tmpfs here ({r.stderr.strip()}); needs root and "
                    "CAP_SYS_ADMIN")
    try:
        env = {"FPN_REPRO_RESULTS": str(disk), "FPN_REPRO_REPORTS": str(tmp_path / "reports")}
        proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root),
                       env=env)
        run = disk / "runs" / "table1.c" / "smoke" / "seed0"
        errors = error_lines(proc.stderr)
        assert proc.returncode == 1 and len(errors) == 1, proc.stderr[-3000:]
        assert f"[Errno 28] No space left on device: '{run / 'work' / 'iter_4.pth'}'" in errors[0]
        assert "Traceback" not in proc.stderr
        left = sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.is_file())
        assert not [f for f in left if f.endswith(".pth") or f.endswith(".tmp")], left
        assert not (run / "work" / "last_checkpoint").exists()
        rec = json.loads((run / "record.json").read_text())
        assert rec["status"] == "failed" and "No space left on device" in rec["reason"]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_weights_that_diverge_are_never_a_resume_point_and_the_rerun_refuses(store):
    # The lr jumps to 2.5e37 for iteration 3's step: the loss of iteration 4, a checkpoint
    # iteration, is no longer finite (MMEngine's own hook order would save iter_4.pth first).
    args = (*store["args"], "--seed", "1", "--cfg-options", "param_scheduler.1.milestones=[2]",
            "param_scheduler.1.gamma=1e40")
    run = store["results"] / "runs" / "table1.c" / "smoke" / "seed1"
    proc = run_cli(*args, env=store["env"])
    errors = error_lines(proc.stderr)
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr[-3000:]
    assert "NonFiniteLossError" in errors[0] and "at iteration 4" in errors[0]
    assert list((run / "work").glob("*.pth")) == [] and not (run / "work" / "last_checkpoint").exists()
    assert json.loads((run / "record.json").read_text())["status"] == "failed"
    log_before = (run / "worker.log").read_text()

    again = run_cli(*args, env=store["env"])
    errors = error_lines(again.stderr)
    assert again.returncode == 1 and len(errors) == 1, again.stderr[-3000:]
    assert "not run again: its last attempt of this config diverged" in errors[0]
    assert "pass --force to start it over" in errors[0]
    assert "training and testing" not in again.stdout and "resuming" not in again.stdout
    assert (run / "worker.log").read_text() == log_before               # no worker started
    assert status_line(store["env"], seed=1).split()[1] == "failed"
