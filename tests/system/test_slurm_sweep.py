"""The SLURM sweep on a real single-node SLURM (started here, as tests/system/slurm_cluster.py
does for the other SLURM test): SLURM holds the DAG (afterok edges, dependents cancelled when a
producer fails), each job writes its own record, a detached sweep returns at once, a killed
sweep loses nothing and its re-run adopts the live job, `harness cancel` stops rows, and SLURM
refusing a job leaves nothing behind. Smoke rows take minutes on a shared CPU: only the first
three tests train, the others hold their jobs or never reach SLURM."""
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
from tests.system.slurm_cluster import Cluster, running

DONE_WITHIN_S = 1800      # a chain of three smoke jobs on a loaded 2-core machine


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running(tmp_path_factory.mktemp("slurm")) as c:   # one cluster for the module's tests
        yield c


def env_of(tmp_path: Path, cluster: Cluster) -> dict:
    return {"FPN_REPRO_RESULTS": str(tmp_path / "results"), "SLURM_CONF": str(cluster.conf)}


def run_dir(tmp_path: Path, row: str) -> Path:
    return tmp_path / "results" / "runs" / row / "smoke" / "seed0"


def job(tmp_path: Path, row: str, kind: str = "row") -> dict:
    return json.loads((run_dir(tmp_path, row) / "slurm" / f"{kind}.json").read_text())


def record(tmp_path: Path, row: str) -> dict:
    return json.loads((run_dir(tmp_path, row) / "record.json").read_text())


def status(tmp_path: Path, cluster: Cluster, *targets: str) -> str:
    proc = run_cli("status", *targets, "--profile", "smoke", env=env_of(tmp_path, cluster))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def status_until(tmp_path, cluster, target: str, done, timeout: float = DONE_WITHIN_S) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = status(tmp_path, cluster, target)
        if done(out):
            return out
        time.sleep(10)
    raise AssertionError(f"status never got there:\n{out}")


def line_of(out: str, name: str) -> str:
    """The status line of a row ("table1.c") or of its proposal dump ("table1.c dump")."""
    return next(line for line in out.splitlines() if re.match(rf"\s+{re.escape(name)}\s\s", line))


def completed_jobs(cluster: Cluster, name: str) -> list[str]:
    """Job ids SLURM's job completion log (`sacct -c`; this cluster keeps no accounting
    database) holds under a job name."""
    out = subprocess.run(["sacct", "-c", "-n", "-P", "-o", "JobIDRaw,JobName,State"],
                         capture_output=True, text=True, env=cluster.env).stdout
    return [f.split("|")[0] for f in out.splitlines() if f.split("|")[1:2] == [name]]


def test_detached_sweep_submits_the_dag_and_the_jobs_finalise_themselves(tmp_path, synth_root,
                                                                         cluster):
    t0 = time.monotonic()
    proc = run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(synth_root),
                   "--launcher", "slurm", "--detach", env=env_of(tmp_path, cluster))
    submit_s = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert submit_s < 30, submit_s                     # Python start-up included, on a busy CPU
    rpn, dump, det = job(tmp_path, "table1.c"), job(tmp_path, "table1.c", "dump"), job(tmp_path, "table2.c")
    assert "3 SLURM job(s) submitted" in proc.stdout
    assert dump["after"] == [rpn["job_id"]] and det["after"] == [dump["job_id"]]
    # SLURM, not the harness, holds the edges
    show = subprocess.run(["scontrol", "show", "job", det["job_id"]], capture_output=True,
                          text=True, env=cluster.env).stdout
    assert f"Dependency=afterok:{dump['job_id']}" in show, show

    out = status_until(tmp_path, cluster, "table2.c",
                       lambda o: "running" not in o and "pending" not in o)
    assert "2 done" in out, out
    assert f"[job {rpn['job_id']} COMPLETED]" in line_of(out, "table1.c")
    assert f"[job {dump['job_id']} COMPLETED]" in line_of(out, "table1.c dump")
    assert f"[job {det['job_id']} COMPLETED]" in line_of(out, "table2.c")
    assert record(tmp_path, "table1.c")["slurm_job"] == rpn["job_id"]       # each job wrote its own
    rec = record(tmp_path, "table2.c")
    assert rec["status"] == "done" and rec["slurm_job"] == det["job_id"] and rec["launcher"] == "slurm"
    from harness.orchestrate.proposals import check
    from harness.store import Store
    state = check(Store(tmp_path / "results"), "table1.c", "smoke", 0, synth_root)
    assert state.status == "fresh", state.reason
    manifest = json.loads((run_dir(tmp_path, "table1.c") / "proposals" / "manifest.json").read_text())
    assert (manifest["launcher"], manifest["processes"], manifest["slurm_job"]) == \
        ("slurm", 1, dump["job_id"])
    assert rec["proposals"]["checkpoint_sha256"] == manifest["checkpoint_sha256"]


def test_a_killed_sweep_loses_nothing_and_its_rerun_adopts_the_job(tmp_path, synth_root, cluster):
    env = dict(os.environ, **env_of(tmp_path, cluster))
    cmd = [sys.executable, "-m", "harness.cli", "run", "table1.c", "--profile", "smoke",
           "--data-root", str(synth_root), "--launcher", "slurm"]
    sweep = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    log = run_dir(tmp_path, "table1.c") / "worker.log"
    deadline = time.time() + 600
    while not (log.exists() and "Iter(train)" in log.read_text(errors="replace")):
        assert time.time() < deadline and sweep.poll() is None, "the job never started training"
        time.sleep(1)
    os.killpg(sweep.pid, signal.SIGKILL)               # the waiting sweep, while its job trains
    sweep.wait()
    first = job(tmp_path, "table1.c")
    assert "running" in status(tmp_path, cluster, "table1.c")    # SLURM's job lives on

    proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root),
                   "--launcher", "slurm", env=env_of(tmp_path, cluster), timeout=DONE_WITHIN_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"row job {first['job_id']} is RUNNING; adopted" in proc.stdout
    assert "0 SLURM job(s) submitted, 1 adopted" in proc.stdout
    assert "finalised it here" not in proc.stdout    # the job wrote its record, nobody else
    rec_path = run_dir(tmp_path, "table1.c") / "record.json"
    rec, inode = json.loads(rec_path.read_text()), rec_path.stat().st_ino
    assert rec["status"] == "done" and rec["slurm_job"] == first["job_id"]
    assert completed_jobs(cluster, first["name"]) == [first["job_id"]]   # one job for the row
    again = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root),
                    "--launcher", "slurm", "--detach", env=env_of(tmp_path, cluster))
    assert again.returncode == 0 and "already done" in again.stdout
    assert "done" in status(tmp_path, cluster, "table1.c") and rec_path.stat().st_ino == inode


def test_a_failing_producer_keeps_its_dependents_from_ever_starting(tmp_path, synth_root, cluster):
    proc = run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(synth_root),
                   "--launcher", "slurm", "--detach", "--cfg-options", "model.type=NoSuchDetector",
                   env=env_of(tmp_path, cluster))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = status_until(tmp_path, cluster, "table2.c",
                       lambda o: "blocked" in line_of(o, "table2.c"), timeout=900)
    assert "NoSuchDetector" in line_of(out, "table1.c") and "failed" in line_of(out, "table1.c")
    assert "blocked" in line_of(out, "table1.c dump")
    assert "by table1.c (failed, proposals); SLURM cancelled its job" in line_of(out, "table2.c")
    for row, kind in (("table1.c", "dump"), ("table2.c", "row")):
        assert "CANCELLED" in line_of(out, f"{row} dump" if kind == "dump" else row)
    assert not (run_dir(tmp_path, "table2.c") / "worker.log").exists()      # never started
    assert not (run_dir(tmp_path, "table2.c") / "record.json").exists()
    assert not (run_dir(tmp_path, "table1.c") / "proposals" / "dump.log").exists()


def test_cancel_stops_live_jobs_and_a_second_sweep_never_submits_them_again(tmp_path, synth_root,
                                                                           cluster):
    args = ["run", "table2.c", "--profile", "smoke", "--data-root", str(synth_root),
            "--launcher", "slurm", "--detach", "--slurm-args=--hold"]      # held: nothing runs
    assert run_cli(*args, env=env_of(tmp_path, cluster)).returncode == 0
    again = run_cli(*args, env=env_of(tmp_path, cluster))
    # all three: table1.c's row and proposal dump jobs, and table2.c's
    assert again.returncode == 0 and "0 SLURM job(s) submitted, 3 adopted" in again.stdout
    rpn = job(tmp_path, "table1.c")
    proc = run_cli("cancel", "table1.c", "--profile", "smoke", env=env_of(tmp_path, cluster))
    assert proc.returncode == 0, proc.stderr
    assert f"cancelled row job {rpn['job_id']}" in proc.stdout and "cancelled dump job" in proc.stdout
    out = status_until(tmp_path, cluster, "table2.c", lambda o: "pending" not in o, timeout=120)
    assert "stopped" in line_of(out, "table1.c") and "harness cancel" in line_of(out, "table1.c")
    assert "SLURM cancelled it after table1.c was stopped" in line_of(out, "table2.c")
    proc = run_cli("cancel", "table1.c", "--profile", "smoke", env=env_of(tmp_path, cluster))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "harness: error: no live SLURM job for table1.c [smoke, seed 0]; 'harness status' shows "
        "what ran"]


def test_slurm_refusing_or_down_leaves_nothing_behind(tmp_path, synth_root, cluster):
    args = ["run", "table2.c", "--profile", "smoke", "--data-root", str(synth_root),
            "--launcher", "slurm", "--detach"]
    proc = run_cli(*args, "--slurm-args=--partition=nosuchpartition", env=env_of(tmp_path, cluster))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("harness: error: table1.c: sbatch refused") and \
        "invalid partition" in proc.stderr.lower()
    runs = tmp_path / "results" / "runs"
    assert not runs.exists() or not any(p.is_file() for p in runs.rglob("*"))   # no script, no record
    down = tmp_path / "down.conf"             # the same cluster's config, its controller unreachable
    down.write_text("\n".join("SlurmctldPort=1" if line.startswith("SlurmctldPort=") else line
                              for line in cluster.conf.read_text().splitlines()))
    proc = run_cli(*args, env=dict(env_of(tmp_path, cluster), SLURM_CONF=str(down)))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Unable to contact slurm controller" in proc.stderr
    assert not runs.exists() or not any(p.is_file() for p in runs.rglob("*"))
