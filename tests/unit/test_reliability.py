"""Issue 14, the cases that need no training: every one ends in one line and a non-zero exit,
and leaves nothing behind (no record, no run directory, no half-written file).

    bad CLI values (--seed -5, --cfg-options syntax, a 300-byte path component), an unwritable,
    missing, read-only or immutable results/reports folder, a full disk, broken images, a
    hand-edited synthetic set, a corrupt record in status and report, the states status shows
    (stopped at iteration N, an orphaned worker as running (pid N)), and the row lock handed
    from a killed sweep to its worker, which a re-run then waits for."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.orchestrate.locks import is_locked, lock_path, row_lock
from harness.orchestrate.ownership import read_holder
from harness.orchestrate.status import row_state
from harness.paper.rows import get_row
from harness.store import Record, Status, Store, WorkerOutcome

from tests.conftest import ROOT, wait_until


def one_line_error(capsys, argv, *expected, env: dict | None = None) -> str:
    with _env(env or {}):
        rc = main(argv)
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert rc == 2, out.err
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), out.err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (we may be root): yields a function (size, ro) -> mount point."""
    mounts = []

    def mount(size: str = "1m", ro: bool = False) -> Path:
        point = tmp_path / f"mnt{len(mounts)}"
        point.mkdir()
        opts = f"size={size}" + (",ro" if ro else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'}); "
                        "the disk-full and read-only cases need root and CAP_SYS_ADMIN")
        mounts.append(point)
        return point

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(point: Path, leave_bytes: int = 0) -> None:
    """Fill a tmpfs up, leaving about leave_bytes free."""
    st = os.statvfs(point)
    free = st.f_bavail * st.f_frsize - leave_bytes
    with open(point / "filler", "wb") as f:
        try:
            f.write(b"\0" * max(free, 0))
            f.flush()
        except OSError:
            pass


# --- CLI values ----------------------------------------------------------------------------

def test_a_negative_seed_is_refused_before_anything_runs(capsys, isolated_outputs):
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--seed", "-5"],
                   "argument --seed: must be between 0 and 4294967295 (got -5)")
    one_line_error(capsys, ["status", "--seed", "-1"], "argument --seed")
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--seed", "4294967295",
                            "--seeds", "2"], "goes past the largest seed")
    assert files_under(isolated_outputs / "results") == []


@pytest.mark.parametrize("item, expected", [
    ("foo", "'foo' is not KEY=VALUE"),
    ("a=[1,2", "'a=[1,2': the brackets in '[1,2' do not balance"),
    ("a.b=(1,[2)", "the brackets in '(1,[2)' do not balance"),
    ("=3", "'=3': '' is not a config key"),
    ("a b=3", "'a b=3': 'a b' is not a config key"),
    ("optim_wrapper.optimizer.lr=inf", "inf and nan cannot be written into a config file"),
    ("a=[1,nan]", "'a=[1,nan]': inf and nan"),
])
def test_cfg_options_syntax_names_the_offending_item(capsys, isolated_outputs, item, expected):
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--cfg-options",
                            "train_cfg.max_iters=2", item], "argument --cfg-options: ", expected)
    assert files_under(isolated_outputs / "results") == []


def test_good_cfg_options_parse_as_mmengine_reads_them():
    from harness.cli.main import build_parser
    args = build_parser().parse_args(["run", "table1.c", "--cfg-options", "a.b=[1,(2,3)]",
                                      "param_scheduler.1.gamma=1e300", "c=x=y"])
    assert args.cfg_options == {"a.b": [1, (2, 3)], "param_scheduler.1.gamma": 1e300,
                                "c": "x=y"}


def test_a_too_long_path_component_is_one_line(capsys, tmp_path, isolated_outputs):
    long = tmp_path / ("a" * 300)
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--data-root", str(long)],
                   "argument --data-root: a folder or file name in it is 300 bytes long",
                   "allows 255")
    one_line_error(capsys, ["report", "--name", "n" * 300], "argument --name")
    # the same through the environment: the results folder cannot be made
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke"],
                   f"cannot make the results folder: {long}", "File name too long",
                   env={"FPN_REPRO_RESULTS": str(long)})
    assert files_under(isolated_outputs / "results") == [] and long.name not in os.listdir(tmp_path)


# --- results and reports folders -----------------------------------------------------------

def test_a_results_or_reports_folder_that_cannot_be_made(capsys, isolated_outputs):
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke"],
                   "cannot make the results folder: /proc/nope: No such file or directory",
                   "FPN_REPRO_RESULTS moves that folder", env={"FPN_REPRO_RESULTS": "/proc/nope"})
    one_line_error(capsys, ["report"],
                   "cannot make the reports folder: /proc/nope: No such file or directory",
                   env={"FPN_REPRO_REPORTS": "/proc/nope"})


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    env = dict(os.environ, FPN_REPRO_REPORTS="/proc/nope", FPN_REPRO_RESULTS=str(tmp_path / "r"))
    r = subprocess.run([sys.executable, "-m", "harness.cli", "report"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "/proc/nope" in r.stderr


def test_an_immutable_results_folder(capsys, tmp_path):
    results = tmp_path / "frozen"
    results.mkdir()
    if subprocess.run(["chattr", "+i", str(results)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        one_line_error(capsys, ["run", "table1.c", "--profile", "smoke"],
                       f"cannot write the results folder: {results}: Operation not permitted",
                       env={"FPN_REPRO_RESULTS": str(results)})
    finally:
        subprocess.run(["chattr", "-i", str(results)], capture_output=True)
    assert files_under(results) == []


def test_a_read_only_results_folder(capsys, tmpfs):
    ro = tmpfs("1m", ro=True)
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke"],
                   f"cannot write the results folder: {ro}: Read-only file system",
                   env={"FPN_REPRO_RESULTS": str(ro)})


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(capsys, tmpfs, isolated_outputs):
    full = tmpfs("1m")
    fill(full)
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke"],
                   f"cannot write the results folder: {full}: No space left on device",
                   "the disk is full", env={"FPN_REPRO_RESULTS": str(full)})
    one_line_error(capsys, ["data", "synth", "--out", str(full / "synth")],
                   f"{full / 'synth'}: No space left on device")
    assert files_under(full) == ["filler"]
    # room for the folder probe but not for the report: the write fails at the CLI boundary
    nearly = tmpfs("1m")
    fill(nearly, leave_bytes=8192)
    line = one_line_error(capsys, ["report", "--name", "r"], f"{nearly / 'r.md'}: No space left",
                          "FPN_REPRO_REPORTS moves that folder", env={"FPN_REPRO_REPORTS": str(nearly)})
    assert "Traceback" not in line
    assert [f for f in files_under(nearly) if f != "filler" and not f.startswith("_figures")] == []


def test_a_worker_that_cannot_write_its_outcome_says_so_in_one_line(capsys, tmpfs):
    from harness.store import RunDir
    from harness.worker.main import write_failure
    full = tmpfs("1m")
    fill(full)
    run = RunDir(full)
    write_failure(run, WorkerOutcome("failed", "OSError: [Errno 28] No space left on device"))
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"harness.worker: cannot write the outcome: {run.outcome}: No space left on "
                   "device (the disk is full: free space or point the harness at a larger disk); "
                   "the run failed with OSError: [Errno 28] No space left on device"]
    assert files_under(full) == ["filler"]
    # what the harness then records: the missing outcome, with the exit code or signal
    assert WorkerOutcome.read(run.outcome, 1).reason == (
        "worker exited with code 1 without an outcome (killed, or it could not write one: see "
        "its log)")
    assert WorkerOutcome.read(run.outcome, -9).reason == \
        "worker killed by signal 9 before it wrote an outcome"


# --- data ----------------------------------------------------------------------------------

def test_broken_images_are_named_before_training(capsys, synth_root, tmp_path, isolated_outputs):
    root = Path(shutil.copytree(synth_root, tmp_path / "data"))
    train = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    names = [im["file_name"] for im in train["images"]]
    (root / "train2017" / names[5]).write_bytes(b"")                  # 0 bytes
    (root / "train2017" / names[2]).write_text("<html>not an image</html>")
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--data-root", str(root)],
                   f"unreadable image: {root / 'train2017' / names[2]} is not an image",
                   "2 of the 16 images listed in instances_train2017.json")
    (root / "train2017" / names[2]).write_bytes((synth_root / "train2017" / names[2]).read_bytes())
    one_line_error(capsys, ["run", "table1.c", "--profile", "smoke", "--data-root", str(root)],
                   f"{root / 'train2017' / names[5]} is an empty file")
    assert not (isolated_outputs / "results" / "runs").exists()     # nothing started


def test_a_split_that_passed_is_not_opened_again(synth_root, tmp_path, monkeypatch):
    from harness.data import images
    from harness.data.validate import check_data_root
    check_data_root(synth_root, cache_dir=tmp_path)
    assert len(list((tmp_path / "images").glob("*.ok"))) == 2      # train and val
    monkeypatch.setattr(images, "_problem", lambda p: pytest.fail(f"{p} opened again"))
    check_data_root(synth_root, cache_dir=tmp_path)


def test_synthetic_set_staleness_says_what_happened_and_which_command_fixes_it(
        capsys, tmp_path, isolated_outputs):
    from harness.data.synth import make_synthetic
    from harness.orchestrate.data_root import prepare_data_root
    from harness.config.profiles import get_profile
    synth = tmp_path / "synth"
    env = {"FPN_REPRO_SYNTH_DATA": str(synth)}
    make_synthetic(synth)
    ann = synth / "annotations" / "instances_val2017.json"
    data = json.loads(ann.read_text())
    data["annotations"][0]["bbox"][0] += 1
    ann.write_text(json.dumps(data))
    one_line_error(capsys, ["run", "table2.c", "--profile", "smoke"], "edited by hand",
                   "'harness data synth --force'", f"--data-root {synth}", env=env)
    one_line_error(capsys, ["run", "table2.c", "--profile", "smoke", "--force"], "edited by hand",
                   env=env)
    with _env(env):
        assert main(["data", "synth", "--force"]) == 0           # the command the line names
        prepare_data_root(get_profile("smoke"), None)            # and the set is good again
    make_synthetic(synth, seed=1, force=True)
    one_line_error(capsys, ["run", "table2.c", "--profile", "smoke"],
                   "made with other parameters: seed 1 (wanted 0)", env=env)
    assert not (isolated_outputs / "results" / "runs").exists()


# --- status and records --------------------------------------------------------------------

def _state(store: Store, row_id="table1.c"):
    return row_state(store, get_row(row_id), "smoke", 0, {})


def _checkpoint(store: Store, it: int = 4):
    run = store.run("table1.c", "smoke", 0)
    run.work.mkdir(parents=True, exist_ok=True)
    (run.work / f"iter_{it}.pth").write_bytes(b"x")
    (run.work / "last_checkpoint").write_text(str(run.work / f"iter_{it}.pth"))
    return run


def test_a_killed_worker_with_a_checkpoint_is_stopped_not_failed(tmp_path):
    store = Store(tmp_path)
    run = _checkpoint(store)
    store.write(Record(row="table1.c", profile="smoke", status="failed",
                       reason=WorkerOutcome.read(run.outcome, -9).reason))
    assert _state(store) == (Status.STOPPED, "at iteration 4, checkpoint iter_4.pth (a re-run resumes)")
    # a worker that failed with an outcome is failed, with its reason
    WorkerOutcome("failed", "RuntimeError: CUDA out of memory").write(run.outcome)
    assert _state(store) == (Status.FAILED, store.get("table1.c", "smoke")["reason"])


def test_a_diverged_run_is_failed_and_not_a_resume_point(tmp_path):
    store = Store(tmp_path)
    run = _checkpoint(store)
    reason = "NonFiniteLossError: loss became nan at iteration 6"
    WorkerOutcome("failed", reason, diverged_at_iteration=6).write(run.outcome)
    store.write(Record(row="table1.c", profile="smoke", status="failed", reason=reason))
    assert _state(store) == (Status.FAILED, reason)


def test_a_corrupt_record_is_reported_as_such(capsys, tmp_path):
    store = Store(tmp_path / "results")
    _checkpoint(store, 8)
    path = store.write(Record(row="table1.c", table="table1", profile="smoke", status="done"))
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    state, detail = _state(store)
    assert state == Status.CORRUPT and detail.startswith(f"{path}: unreadable (")
    assert "a re-run starts the row over" in detail
    with _env({"FPN_REPRO_RESULTS": str(store.root)}):
        assert main(["status", "table1", "--profile", "smoke"]) == 0
        out = capsys.readouterr().out
        assert [ln for ln in out.splitlines() if ln.startswith("  table1.c ")] == [
            f"  table1.c  corrupt  {detail}"]
        assert main(["report", "--name", "r"]) == 0
        warnings = [ln for ln in capsys.readouterr().err.splitlines() if str(path) in ln]
        assert len(warnings) == 1 and warnings[0].startswith(
            f"harness: warning: skipped unreadable record {path}: unreadable (")


# --- the row lock outlives a killed sweep ----------------------------------------------------

SWEEP = """
import sys
from pathlib import Path
from harness.orchestrate.locks import row_lock
from harness.orchestrate.progress import launch_and_follow
store, gate, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
worker = [sys.executable, "-c", "import os, sys, time\\n"
          "print('Iter(train) [3/8]  eta: 0:00:09  loss: 1.25', flush=True)\\n"
          "while not os.path.exists(sys.argv[1]): time.sleep(0.05)\\n", gate]
with row_lock(store, "table1.c", "smoke", 0) as lock:
    launch_and_follow(worker, log, "table1.c [smoke]", lock=lock)
"""


def test_a_worker_keeps_its_row_after_its_sweep_is_killed_and_a_rerun_waits_for_it(tmp_path):
    store = Store(tmp_path / "results")
    run = store.run("table1.c", "smoke", 0)
    run.path.mkdir(parents=True)
    gate = tmp_path / "let-the-worker-finish"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    sweep = subprocess.Popen([sys.executable, "-c", SWEEP, str(store.root), str(gate), str(run.log)],
                             env=env, start_new_session=True)
    try:
        wait_until(lambda: run.log.exists() and "Iter(train)" in run.log.read_text(), "the worker")
        holder = wait_until(lambda: (h := read_holder(lock_path(store.root, "table1.c", "smoke", 0)))
                            and h.harness_pid and h, "the worker to be named the holder")
        assert holder.harness_pid == sweep.pid and holder.pid != sweep.pid
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait()
        assert is_locked(store.root, "table1.c", "smoke", 0)       # the orphan holds the row
        state, detail = _state(store)
        assert state == Status.RUNNING
        assert detail.startswith(f"(pid {holder.pid}) train 3/8, loss 1.25, ETA 0:00:09")
        assert f"orphaned: its harness (pid {sweep.pid}) is gone" in detail

        said, got = [], threading.Event()

        def rerun():
            from harness.orchestrate.progress import LogFollower
            follower = LogFollower(run.log, "table1.c [smoke]", said.append, from_end=True)
            with row_lock(store.root, "table1.c", "smoke", 0, said.append, follower.poll):
                got.set()

        waiter = threading.Thread(target=rerun)
        waiter.start()
        wait_until(lambda: any("waiting for it" in s for s in said), "the re-run to wait")
        wait_until(lambda: any("train 3/8" in s for s in said), "the orphan's progress shown")
        assert not got.is_set()
        assert f"being run by pid {holder.pid} on" in said[0] and "is gone" in said[0]
        gate.touch()                                                   # the orphan finishes
        waiter.join(timeout=60)
        assert got.is_set() and not is_locked(store.root, "table1.c", "smoke", 0)
    finally:
        gate.touch()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sweep.pid, signal.SIGKILL)
