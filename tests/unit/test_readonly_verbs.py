"""The read-only verbs answer from configs and records alone: none of them imports torch or
mmdet (which costs seconds of start-up and would make `harness list` on a login node slow)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.report_records import smoke_store_records

PROBE = """
import sys
from harness.cli.main import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:          # --help
    rc = exc.code or 0
print("HEAVY", sorted(m for m in ("torch", "mmdet", "mmcv") if m in sys.modules))
sys.exit(rc)
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from harness.store import Store
    root = tmp_path_factory.mktemp("store")
    s = Store(root / "results")
    for rec in smoke_store_records():
        s.write(rec)
    return s.root


@pytest.mark.parametrize("argv", [
    ["list"], ["list", "table1"], ["status", "--profile", "smoke"], ["audit", "--help"],
    ["sweep", "--dry-run", "--profile", "paper"], ["report"]], ids=" ".join)
def test_read_only_verbs_never_import_torch_or_mmdet(argv, store, tmp_path):
    if argv[0] in ("status", "report"):
        argv = [*argv, "--results", str(store)]
    env = {"FPN_REPRO_REPORTS": str(tmp_path / "reports"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stdout, proc.stdout[-500:]
