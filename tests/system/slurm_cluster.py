"""A single-node SLURM on loopback for the tests (Debian slurm-wlm + munge, run as root).

Checks that the packages are installed (./run_tests.sh's set-up installs them:
tools/host_packages.sh) and starts munged, slurmctld and slurmd with a minimal single-node config
(one partition, munge, proctrack/linuxproc, no cgroups: what a container allows) in a temporary
folder; `stop()` ends what it started. Anything that does not come up raises RuntimeError with
the reason, so the test fails instead of skipping."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONF = """ClusterName=fpnrepro
SlurmctldHost={host}
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
JobCompType=jobcomp/filetxt
JobCompLoc={d}/log/jobcomp.txt
"""


def _run(*cmd: str, timeout: int = 300, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_installed() -> None:
    """./run_tests.sh's set-up installs slurm-wlm and munge (tools/host_packages.sh); tests never
    install packages."""
    missing = [t for t in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(t)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} missing: run ./run_tests.sh (its set-up installs "
                           "slurm-wlm and munge) or apt-get install slurm-wlm munge")


class Cluster:
    def __init__(self, folder: Path):
        self.dir = folder
        self.conf = folder / "slurm.conf"
        self.started: list[str] = []

    @property
    def env(self) -> dict:
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def start(self) -> "Cluster":
        ensure_installed()
        self._munge()
        for sub in ("state", "spool", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        host = socket.gethostname().split(".")[0]
        self.conf.write_text(CONF.format(host=host, d=self.dir, cpus=os.cpu_count(),
                                         ctld_port=_free_port(), d_port=_free_port()))
        for daemon in ("slurmctld", "slurmd"):
            r = _run(daemon, "-f", str(self.conf), env=self.env)
            if r.returncode != 0:
                raise RuntimeError(f"{daemon} did not start: {r.stderr.strip()[-300:]}")
            self.started.append(daemon)
        deadline = time.time() + 60
        state = ""
        while time.time() < deadline:
            state = _run("sinfo", "-h", "-o", "%T", env=self.env).stdout.strip()
            if state in ("idle", "mixed"):
                return self
            time.sleep(1)
        logs = (self.dir / "log" / "slurmctld.log").read_text()[-400:] \
            if (self.dir / "log" / "slurmctld.log").exists() else ""
        raise RuntimeError(f"the SLURM node never became idle (state '{state}'): {logs}")

    def _munge(self) -> None:
        if _run("pgrep", "-x", "munged").returncode == 0:
            return
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            r = _run("mungekey", "--create")
            if r.returncode != 0:
                raise RuntimeError(f"no munge key and mungekey failed: {r.stderr.strip()}")
            shutil.chown(key, "munge", "munge")
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        r = _run("runuser", "-u", "munge", "--", "/usr/sbin/munged")
        if r.returncode != 0:
            raise RuntimeError(f"munged did not start: {r.stderr.strip()}")
        self.started.append("munged")

    def stop(self) -> None:
        for daemon in reversed(self.started):
            pidfile = self.dir / f"{daemon}.pid"
            if pidfile.exists():
                _run("kill", pidfile.read_text().strip())
            else:
                _run("pkill", "-x", daemon)
        self.started.clear()


@contextlib.contextmanager
def running(folder: Path):
    """A started cluster for a test fixture; a cluster that does not come up fails the test."""
    import pytest
    cluster = Cluster(folder)
    try:
        cluster.start()
    except RuntimeError as exc:
        cluster.stop()
        pytest.fail(f"could not start a single-node SLURM: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
