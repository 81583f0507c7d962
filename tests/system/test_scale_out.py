"""Launch paths for real on this CPU machine: torchrun (2 gloo processes), a single-node SLURM
(2 tasks), resume after SIGKILL, two sweeps at once, status, and the dry-run plan."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.system.slurm_cluster import running



def store_env(tmp_path: Path) -> dict:
    return {"FPN_REPRO_RESULTS": str(tmp_path / "results"), "FPN_REPRO_REPORTS": str(tmp_path / "rep")}


def record(tmp_path: Path, row="table1.c", seed=0) -> dict:
    return json.loads((tmp_path / "results" / "runs" / row / "smoke" / f"seed{seed}" /
                       "record.json").read_text())


def test_torchrun_two_gloo_processes_make_one_record(tmp_path, synth_root):
    proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root),
                   "--launcher", "torchrun", "--gpus", "2", env=store_env(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rec = record(tmp_path)
    assert rec["status"] == "done" and rec["launcher"] == "torchrun"
    assert rec["environment"]["world_size"] == 2 and rec["images_per_step"] == 4
    assert rec["schedule"]["lr"] == pytest.approx(0.005)        # 4 images: lr x 4/16
    assert len(list((tmp_path / "results" / "runs").glob("*/*/*/record.json"))) == 1
    log = (tmp_path / "results" / "runs" / "table1.c" / "smoke" / "seed0" / "worker.log").read_text()
    assert "Iter(test) [4/4]" in log                               # 8 val images split over 2 ranks


@pytest.fixture
def slurm(tmp_path_factory):
    with running(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def test_slurm_job_with_two_tasks_makes_one_record(tmp_path, synth_root, slurm):
    env = dict(store_env(tmp_path), SLURM_CONF=str(slurm.conf))
    proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root),
                   "--launcher", "slurm", "--gpus", "2", env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rec = record(tmp_path)
    assert rec["status"] == "done" and rec["launcher"] == "slurm"
    assert rec["environment"]["world_size"] == 2
    run_dir = tmp_path / "results" / "runs" / "table1.c" / "smoke" / "seed0"
    script = (run_dir / "slurm" / "row.sbatch").read_text()   # the job runs the row, its worker
    assert "#SBATCH --ntasks=2" in script and "-m harness.orchestrate.job row table1.c" in script
    assert rec["slurm_job"] == json.loads((run_dir / "slurm" / "row.json").read_text())["job_id"]
    assert "(FPN, slurm x2)" in (run_dir / "slurm" / "row.log").read_text()   # srun, 2 tasks
    acct = subprocess.run(["squeue", "-h"], capture_output=True, text=True, env=slurm.env)
    assert acct.returncode == 0 and acct.stdout.strip() == ""   # the job is over, nothing queued


def _wait_for(path: Path, text: str, timeout: float = 600, proc: subprocess.Popen | None = None) -> str:
    """Poll the worker's log until `text` appears (no fixed sleeps: the test moves when the
    worker does). Fails early if `proc` (the sweep) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text(errors="replace") if path.exists() else ""
        if text in log:
            return log
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep exited ({proc.returncode}) before '{text}' in {path}")
        time.sleep(0.05)
    raise AssertionError(f"'{text}' never appeared in {path}")


def _train_iterations(log: str) -> list[int]:
    return [int(i) for i in re.findall(r"Iter\(train\) \[\s*(\d+)/8\]", log)]


def test_sigkilled_row_resumes_from_its_checkpoint(tmp_path, synth_root):
    env = dict(os.environ, **store_env(tmp_path))
    cmd = [sys.executable, "-m", "harness.cli", "run", "table1.a", "--profile", "smoke",
           "--data-root", str(synth_root)]
    sweep = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    run_dir = tmp_path / "results" / "runs" / "table1.a" / "smoke" / "seed0"
    # MMEngine logs iteration 5 after the iteration-4 checkpoint is on disk: kill right then.
    _wait_for(run_dir / "worker.log", "Iter(train) [5/8]", proc=sweep)
    os.killpg(sweep.pid, signal.SIGKILL)                            # the sweep and its worker
    sweep.wait()
    # The worker (not this process's child) lets go of its row's lock once the kill has ended
    # it, which on a busy machine can come a moment after the sweep's end: status waits for that.
    from harness.orchestrate.locks import is_locked
    deadline = time.time() + 60
    while is_locked(tmp_path / "results", "table1.a", "smoke", 0):
        assert time.time() < deadline, "the killed worker still holds its row after 60 s"
        time.sleep(0.5)
    first = (run_dir / "worker.log").read_text()
    assert not (run_dir / "record.json").exists()
    assert 5 <= max(_train_iterations(first)) < 8                   # killed mid-run, really
    # The store moves before the re-run (scratch -> project space): the old paths are gone, and
    # the checkpoint, the work dir and the config hash must be found from the new place.
    moved = tmp_path / "moved"
    moved.mkdir()
    (tmp_path / "results").rename(moved / "results")
    run_dir = moved / "results" / "runs" / "table1.a" / "smoke" / "seed0"
    assert str(tmp_path / "results") in (run_dir / "work" / "last_checkpoint").read_text()
    # what a worker killed while saving its next checkpoint leaves (store/atomic.py)
    (run_dir / "work" / ".iter_8.pth.k1ll.tmp").write_bytes(b"\0" * 4096)
    status = run_cli("status", "table1.a", "--profile", "smoke", env=store_env(moved))
    assert "stopped" in status.stdout and "iter_4.pth" in status.stdout

    proc = run_cli("run", "table1.a", "--profile", "smoke", "--data-root", str(synth_root),
                   env=store_env(moved))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "resuming from its last checkpoint" in proc.stdout
    assert "removed 1 temp file(s) that a killed writer left (0.0 MiB): work/.iter_8.pth.k1ll.tmp" \
        in proc.stdout and not (run_dir / "work" / ".iter_8.pth.k1ll.tmp").exists()
    log = (run_dir / "worker.log").read_text()
    second = log[len(first):]                                       # the second attempt's output
    # MMEngine itself says it resumed (Runner.resume), from the iteration-4 checkpoint ...
    assert re.search(r"resumed epoch: \d+, iter: 4\b", second), second[-3000:]
    assert "resumed" not in first
    # ... and trains 5..8 only: iteration 1 ran once in all, in the first attempt
    assert _train_iterations(second) == [5, 6, 7, 8]
    assert log.count("Iter(train) [1/8]") == 1 and "Iter(train) [1/8]" not in second
    rec = record(moved, "table1.a")
    assert rec["work_dir"] == str(run_dir / "work")
    assert rec["status"] == "done" and rec["resumed"] is True
    assert rec["resumed_from_iteration"] == 4 and rec["iterations"] == 8
    # the LR history survives the resume (MMEngine restores it from the checkpoint)
    lr = rec["schedule"]["lr"]
    assert rec["lr_used"]["first"] == pytest.approx(0.001 * lr) and rec["lr_used"]["peak"] == pytest.approx(lr)
    # one evaluation, after the resume
    # (the harness's metric logs one line per evaluation: harness/evaluation/metrics.py)
    assert len(re.findall(r"HarnessCocoMetric \(\w+ [\d.]+\): ", log)) == 1, log[-3000:]
    assert set(rec["metrics"]) == {"AR@100", "AR@1k", "AR_s@1k", "AR_m@1k", "AR_l@1k"}
    assert not (moved / "results" / "archive").exists()              # nothing was thrown away
    assert not (tmp_path / "results").exists()                       # nothing written at the old place


def _wait_for_output(proc: subprocess.Popen, text: str, timeout: float = 600) -> str:
    """Read a sweep's stdout (bytes) as it comes until `text` appears: select() wakes on output,
    so there is no polling interval, and a sweep that never says it is a failure, not a hang."""
    import selectors
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(timeout=left):
                raise AssertionError(f"no '{text}' within {timeout} s: {seen.decode()[-2000:]}")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"the sweep exited ({proc.wait()}) without '{text}': "
                                     f"{seen.decode()[-2000:]}")
            seen += chunk
    return seen.decode()


def test_two_sweeps_at_once_run_a_row_once(tmp_path, synth_root):
    """The second sweep must reach the row while the first is still training it: the first
    sweep (and its worker) is paused with SIGSTOP once it trains, until the second says that
    it waits for the row's lock."""
    import contextlib
    env = dict(os.environ, **store_env(tmp_path), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "harness.cli", "run", "table1.b", "--profile", "smoke",
           "--data-root", str(synth_root)]
    first = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    run_dir = tmp_path / "results" / "runs" / "table1.b" / "smoke" / "seed0"
    second = None
    try:
        _wait_for(run_dir / "worker.log", "Iter(train) [1/8]", proc=first)
        status = run_cli("status", "table1.b", "--profile", "smoke", env=store_env(tmp_path))
        assert "running" in status.stdout and "train" in status.stdout    # progress from the log
        os.killpg(first.pid, signal.SIGSTOP)                        # the first sweep holds the lock
        try:
            second = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True)
            waited = _wait_for_output(second, "being run by pid")
            # the first sweep's worker holds the row (it inherits the lock: issue 14)
            assert f"(worker of harness pid {first.pid})" in waited
            assert not (run_dir / "record.json").exists()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(first.pid, signal.SIGCONT)
    except BaseException:
        for proc in (first, second):                                # leave no sweep behind
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        raise
    out1, err1 = first.communicate(timeout=900)
    rest2, err2 = second.communicate(timeout=900)
    out2 = waited + rest2.decode()
    assert first.returncode == 0 and second.returncode == 0, err1 + err2.decode()
    assert "already done" in out2 and "training and testing" not in out2
    assert (run_dir / "worker.log").read_text().count("Iter(train) [8/8]") == 1
    assert not (tmp_path / "results" / "archive").exists()
    assert record(tmp_path, "table1.b")["status"] == "done"


def test_seeds_make_one_record_each(tmp_path, synth_root):
    proc = run_cli("run", "table1.b", "--profile", "smoke", "--data-root", str(synth_root),
                   "--seeds", "2", "--cfg-options", "train_cfg.max_iters=2", env=store_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    seeds = [record(tmp_path, "table1.b", s) for s in (0, 1)]
    assert [r["seed"] for r in seeds] == [0, 1] and all(r["status"] == "done" for r in seeds)
    cfgs = [Path(r["config"]["resolved"]).read_text() for r in seeds]
    assert "seed=0" in cfgs[0].replace(" ", "") and "seed=1" in cfgs[1].replace(" ", "")


def test_dry_run_prints_the_plan_fast_without_torch():
    code = ("import sys, time; t = time.perf_counter(); from harness.cli.main import main; "
            "rc = main(['sweep', '--dry-run']); "
            "print('ELAPSED', time.perf_counter() - t, 'TORCH', 'torch' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    elapsed, torch_loaded = proc.stdout.split("ELAPSED")[1].split("TORCH")
    assert float(elapsed) < 1.0 and torch_loaded.strip() == "False"
    out = proc.stdout
    assert "table2.a" in out and "table1.c (proposals)" in out and "table2.c (same run)" in out
    assert out.index("table1.c ") < out.index("table2.a")
    assert "estimated" in out and "GPU-hours" in out
