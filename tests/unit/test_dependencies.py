"""Proposals as a dependency, on a fake store: order, reuse, staleness, failed producers."""
from __future__ import annotations

import json
from pathlib import Path


from harness.orchestrate import sweep as run_module
from harness.config.profiles import get_profile
from harness.orchestrate.proposals import MANIFEST, SPLIT_PROPOSALS, check, file_sha256, proposals_dir
from harness.paper.rows import get_row, resolve
from harness.orchestrate.sweep import RunOptions, execute, plan
from harness.store import RECORD_SCHEMA, Store
from harness.data.validate import annotation_fingerprint


def ids(steps):
    return [(s.row.id, s.requested) for s in steps]


def test_plan_puts_producers_first_once():
    steps = plan(resolve(["table2"]))
    assert ids(steps)[0] == ("table1.c", False)
    assert [s.row.id for s in steps[1:]] == [f"table2.{x}" for x in "abcdef"]
    steps = plan(resolve(["table3"]))
    order = [s.row.id for s in steps]
    assert order.index("table1.a") < order.index("table3.a")
    assert order.index("table1.b") < order.index("table3.b")
    assert order.index("table2.c") < order.index("table3.c")        # 3(c) is 2(c)'s run
    assert order.count("table1.c") == 1


def test_plan_marks_a_requested_dependency_as_requested():
    steps = plan(resolve(["table2.c", "table1.c"]))
    assert ids(steps) == [("table1.c", True), ("table2.c", True)]


def plant_producer(store: Store, synth_root: Path, tmp_path: Path, ckpt_bytes=b"weights-1") -> dict:
    ckpt = tmp_path / "iter_8.pth"
    ckpt.write_bytes(ckpt_bytes)
    rec = {"schema": RECORD_SCHEMA, "row": "table1.c", "table": "table1", "profile": "smoke",
           "seed": 0, "status": "done", "metrics": {}, "checkpoint": str(ckpt),
           "checkpoint_sha256": file_sha256(ckpt)}
    store.write(rec)
    return rec


def plant_dump(store: Store, synth_root: Path, rec: dict) -> Path:
    folder = proposals_dir(store, "table1.c", "smoke", 0)
    folder.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in SPLIT_PROPOSALS:
        (folder / f"{split}.pkl").write_bytes(split.encode())
        ann = synth_root / "annotations" / f"instances_{split}.json"
        splits[split] = {"sha256": file_sha256(folder / f"{split}.pkl"),
                         "annotations_sha256_16": annotation_fingerprint(ann)}
    (folder / MANIFEST).write_text(json.dumps({"checkpoint_sha256": rec["checkpoint_sha256"],
                                               "splits": splits}))
    return folder


def test_no_producer_run_means_missing(tmp_path, synth_root):
    state = check(Store(tmp_path), "table1.c", "smoke", 0, synth_root)
    assert state.status == "missing" and "no finished smoke run" in state.reason


def test_matching_dump_is_reused(tmp_path, synth_root):
    store = Store(tmp_path / "r")
    rec = plant_producer(store, synth_root, tmp_path)
    assert check(store, "table1.c", "smoke", 0, synth_root).status == "missing"
    folder = plant_dump(store, synth_root, rec)
    state = check(store, "table1.c", "smoke", 0, synth_root)
    assert state.status == "fresh"
    assert state.files == {s: str(folder / f"{s}.pkl") for s in SPLIT_PROPOSALS}
    assert state.checkpoint_sha256 == rec["checkpoint_sha256"]


def test_new_checkpoint_makes_the_dump_stale(tmp_path, synth_root):
    store = Store(tmp_path / "r")
    plant_dump(store, synth_root, plant_producer(store, synth_root, tmp_path))
    plant_producer(store, synth_root, tmp_path, b"weights-2")     # the RPN was run again
    state = check(store, "table1.c", "smoke", 0, synth_root)
    assert state.status == "stale" and "checkpoint changed" in state.reason


def test_other_annotations_or_an_edited_file_make_the_dump_stale(tmp_path, synth_root):
    import shutil
    store = Store(tmp_path / "r")
    folder = plant_dump(store, synth_root, plant_producer(store, synth_root, tmp_path))
    other = Path(shutil.copytree(synth_root, tmp_path / "other"))
    ann = other / "annotations" / "instances_val2017.json"
    ann.write_text(ann.read_text() + "\n")  # same content, another file: another fingerprint
    state = check(store, "table1.c", "smoke", 0, other)
    assert state.status == "stale" and "other annotations" in state.reason
    (folder / "train2017.pkl").write_bytes(b"tampered")
    state = check(store, "table1.c", "smoke", 0, synth_root)
    assert state.status == "stale" and "changed after it was dumped" in state.reason


def test_failed_producer_blocks_its_consumers_and_says_why(tmp_path, synth_root, monkeypatch):
    store = Store(tmp_path / "r")
    calls = []

    def fake_run_row(row, opts, store, data_root, log=print, proposals=None):
        calls.append(row.id)
        rec = {"schema": RECORD_SCHEMA, "row": row.id, "table": row.table, "profile": "smoke",
               "seed": 0, "status": "failed", "metrics": {},
               "reason": "NonFiniteLossError: loss became nan at iteration 3"}
        store.write(rec)
        return rec

    monkeypatch.setattr(run_module, "run_row", fake_run_row)
    out = execute([get_row("table2.c"), get_row("table3.c")], RunOptions(get_profile("smoke")),
                  store, synth_root, log=lambda *_: None)
    assert calls == ["table1.c"]                              # nothing trains on missing proposals
    by_row = {r["row"]: r for r in out}
    assert by_row["table2.c"]["status"] == "blocked"
    assert by_row["table2.c"]["reason"] == \
        "needs table1.c, which failed: NonFiniteLossError: loss became nan at iteration 3"
    assert by_row["table3.c"]["status"] == "blocked" and "table2.c" in by_row["table3.c"]["reason"]
    assert store.get("table2.c", "smoke") is None             # no record for a row that never ran


def test_failed_producer_error_reaches_the_cli_in_one_line(tmp_path, synth_root, monkeypatch, capsys):
    from harness.cli.main import main
    store_root = tmp_path / "results"
    store = Store(store_root)

    def fake_run_row(row, opts, store_, data_root, log=print, proposals=None):
        rec = {"schema": RECORD_SCHEMA, "row": row.id, "table": row.table, "profile": "smoke",
               "seed": 0, "status": "failed", "metrics": {}, "reason": "loss became nan",
               "work_dir": str(store.run_dir(row.id, "smoke") / "work")}
        store.write(rec)
        return rec

    monkeypatch.setattr(run_module, "run_row", fake_run_row)
    rc = main(["run", "table2.b", "--profile", "smoke", "--data-root", str(synth_root),
               "--results", str(store_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert "harness: error: table2.b [smoke, seed 0] blocked: needs table1.c, which failed: " \
        "loss became nan" in err
