"""Shared fixtures: every test gets its own results/reports folders; data is made once."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT.parent / "shared" / "paper" / "fpn_lin2017.md"


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path, monkeypatch):
    """No test writes into the checkout's results/ or reports/."""
    monkeypatch.setenv("FPN_REPRO_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("FPN_REPRO_REPORTS", str(tmp_path / "reports"))
    return tmp_path


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    from harness.data.synth import make_synthetic
    root = tmp_path_factory.mktemp("data") / "synth"
    make_synthetic(root)
    return root


def run_cli(*args: str, env: dict | None = None, timeout: int = 900):
    """The console entry point in a fresh process, as a user runs it."""
    import subprocess
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=ROOT)
