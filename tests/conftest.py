"""Shared fixtures: every test gets its own results/reports folders; data is made once.

Tests live in tiers by folder, and each folder is a marker (`-m unit`, `-m 'not system'`):
    unit/         pure logic, never imports torch (checked at the end of a unit-only session)
    component/    builds configs and models (imports mmdet), no training
    integration/  trains and tests real rows on the synthetic set (minutes)
    system/       real torchrun, SLURM and poppler (host packages from tools/host_packages.sh)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT.parent / "shared" / "paper" / "fpn_lin2017.md"
TIERS = ("unit", "component", "integration", "system")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def pytest_sessionfinish(session, exitstatus):
    """The unit tier's promise: a session of unit tests alone never imports torch."""
    items = getattr(session, "items", [])
    if items and all(item.get_closest_marker("unit") for item in items) and "torch" in sys.modules:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nFAILED: the unit tier imported torch; move the test to tests/component or keep "
              "torch/mmdet out of the code it exercises", file=sys.stderr)
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


def wait_until(predicate, what: str, timeout: float = 60, every: float = 0.05):
    """The predicate's first true value, polled every `every` s; a failure after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := predicate()):
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
