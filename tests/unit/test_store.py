"""The record store: atomic writes, tolerant reads."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.store import Record, Store, write_json_atomic

from tests.conftest import ROOT


def record(row="table1.c", profile="smoke", seed=0, **metrics):
    return Record(row=row, table=row.split(".")[0], profile=profile, seed=seed, status="done",
                  metrics=metrics or {"AR@100": 12.5}).to_dict()


def test_write_then_get_round_trips(tmp_path):
    store = Store(tmp_path)
    path = store.write(record(**{"AR@100": 1.5, "AR@1k": None}))
    assert path == tmp_path / "runs" / "table1.c" / "smoke" / "seed0" / "record.json"
    assert store.get("table1.c", "smoke")["metrics"] == {"AR@100": 1.5, "AR@1k": None}
    assert store.get("table1.c", "paper") is None


def test_failed_serialisation_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(ValueError):  # NaN is not JSON: a record must never hold one
        write_json_atomic(path, {"a": float("nan")})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# A writer process that stops half-way through writing a record and says so: the test then
# kills it at exactly that point (no timing guesses). The pause is injected where the store
# opens its file, so whatever write_json_atomic does (temp file + rename, or a mutation that
# writes in place) is caught mid-write.
WRITER = """
import builtins, sys, time
from pathlib import Path
import harness.store.atomic as atomic

class HalfThenHang:
    def __init__(self, f):
        self.f = f
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.f.__exit__(*exc)
    def write(self, text):
        self.f.write(text[: len(text) // 2])
        self.f.flush()
        print("MID-WRITE", flush=True)
        time.sleep(600)
    def __getattr__(self, name):
        return getattr(self.f, name)

atomic.open = lambda *a, **k: HalfThenHang(builtins.open(*a, **k))
atomic.write_json_atomic(Path(sys.argv[1]), {"row": "new", "payload": "x" * 200000})
"""


def kill_mid_write(path, sig) -> subprocess.Popen:
    import os
    import signal
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # SIGINT at its default in the writer, as in a terminal: a suite started in the background
    # (`./run_tests.sh &`, nohup) has it ignored, the child inherits that, and Python then never
    # turns it into KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = proc.stdout.readline()              # blocks until the writer is half-way
    assert line.strip() == "MID-WRITE", (line, proc.stderr.read() if proc.poll() is not None else "")
    proc.send_signal(sig)
    proc.wait(timeout=30)
    return proc


@pytest.mark.parametrize("sig_name", ["SIGKILL", "SIGINT"])
def test_a_writer_killed_mid_write_leaves_the_old_record_whole(tmp_path, sig_name):
    import signal
    store = Store(tmp_path)
    path = store.write(record(**{"AR@100": 1.5}))
    old = path.read_bytes()
    proc = kill_mid_write(path, getattr(signal, sig_name))
    assert proc.returncode != 0
    assert path.read_bytes() == old                                # intact, never half a file
    assert store.get("table1.c", "smoke")["metrics"] == {"AR@100": 1.5}
    good, bad = store.scan()
    assert [r["row"] for r in good] == ["table1.c"] and bad == []
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    if sig_name == "SIGINT":
        # Ctrl-C raises KeyboardInterrupt in the writer: atomic_file removes its temp file
        assert leftovers == [], leftovers
    else:
        # SIGKILL gives the writer no chance to clean up: its partial temp file remains, hidden
        # (dot-named) beside the record, never read as one (scan above) ...
        assert len(leftovers) == 1 and leftovers[0].startswith(".record.json.") and \
            leftovers[0].endswith(".tmp"), leftovers
        # ... until the row's next run removes it (with a checkpoint's, in work/) before it
        # launches its worker (harness/orchestrate/row.py)
        run = store.run("table1.c", "smoke", 0)
        half = (path.parent / leftovers[0]).stat().st_size
        run.work.mkdir(parents=True)
        (run.work / ".iter_8.pth.x1.tmp").write_bytes(b"\0" * 3000)
        (run.work / "iter_4.pth").write_bytes(b"kept")
        assert run.remove_temp_files() == {leftovers[0]: half, "work/.iter_8.pth.x1.tmp": 3000}
        assert sorted(p.name for p in run.path.rglob("*") if p.is_file()) == ["iter_4.pth", "record.json"]


def test_scan_reports_corrupt_records_by_name_and_keeps_the_rest(tmp_path):
    store = Store(tmp_path)
    store.write(record("table1.c"))
    bad = store.record_path("table1.a", "smoke")
    bad.parent.mkdir(parents=True)
    bad.write_text('{"schema": 1, "row": "table1.a", ')  # truncated
    missing = store.record_path("table1.b", "smoke")
    missing.parent.mkdir(parents=True)
    missing.write_text(json.dumps({"schema": 1, "row": "table1.b", "profile": "smoke"}))
    good, problems = store.scan()
    assert [r["row"] for r in good] == ["table1.c"]
    assert {p.path for p in problems} == {bad, missing}
    assert any("unreadable" in p.reason for p in problems)
    assert any("status" in p.reason for p in problems)


def test_scan_rejects_non_numeric_metric(tmp_path):
    store = Store(tmp_path)
    path = store.write(record())
    data = json.loads(path.read_text())
    assert Record.from_dict(data).to_dict() == record()     # the file round-trips through the schema
    data["metrics"]["AR@100"] = "12.5"
    path.write_text(json.dumps(data))
    good, problems = store.scan()
    assert good == [] and "AR@100" in problems[0].reason
