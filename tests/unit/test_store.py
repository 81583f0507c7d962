"""The record store: atomic writes, tolerant reads."""
from __future__ import annotations

import json

import pytest

from harness.store import Record, Store, write_json_atomic


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
