"""Table 1(c) in the smoke profile, for real: MMEngine trains the RPN on the synthetic data,
the harness's metric evaluates it (faster-coco-eval, the default), the harness records and
reports it."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from harness.paper.rows import load_tables

from tests.conftest import ROOT, run_cli

T1 = load_tables()["table1"]
# The metric's own line in the worker log (harness/evaluation/metrics.py), its key for each
# Table 1 column
METRIC_KEY = {"AR@100": "AR@100", "AR@1k": "AR@1000", "AR_s@1k": "AR_s@1000",
              "AR_m@1k": "AR_m@1000", "AR_l@1k": "AR_l@1000"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, synth_root):
    results = tmp_path_factory.mktemp("results")
    # The module's own copy of the data: the last test edits its annotations.
    data = Path(shutil.copytree(synth_root, tmp_path_factory.mktemp("data") / "synth"))
    env = {"FPN_REPRO_RESULTS": str(results), "FPN_REPRO_REPORTS": str(results.parent / "reports")}
    proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(data), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record_path = results / "runs" / "table1.c" / "smoke" / "seed0" / "record.json"
    return {"proc": proc, "env": env, "results": results, "record_path": record_path,
            "data": data, "record": json.loads(record_path.read_text())}


def read_record(smoke_run, row: str, seed: int = 0) -> dict:
    return json.loads((smoke_run["results"] / "runs" / row / "smoke" / f"seed{seed}" /
                       "record.json").read_text())


def test_record_holds_every_paper_metric_from_this_runs_evaluation(smoke_run):
    rec = smoke_run["record"]
    assert rec["status"] == "done" and rec["row"] == "table1.c" and rec["profile"] == "smoke"
    assert rec["is_reproduction"] is False
    assert set(rec["metrics"]) == set(T1.metrics)
    log = (smoke_run["record_path"].parent / "worker.log").read_text()
    line = re.search(r"HarnessCocoMetric \(faster_coco_eval ([\d.]+)\): (.*)", log)
    assert line, "no line of the metric in the worker log"
    version = metadata.version("faster-coco-eval")
    assert line.group(1) == version
    assert rec["metric_source"] == f"HarnessCocoMetric (faster-coco-eval {version} COCOeval_faster)"
    logged = dict(kv.rsplit(" ", 1) for kv in line.group(2).strip().split(", "))
    for col, key in METRIC_KEY.items():
        coco_value = float(logged[key])
        if coco_value < 0:
            assert rec["metrics"][col] is None and col in rec["metrics_na"]
        else:
            assert rec["metrics"][col] == pytest.approx(100 * coco_value, abs=1e-6), col
            assert 0.0 <= rec["metrics"][col] <= 100.0
    assert rec["raw_metrics"]["coco/AR@1000"] * 100 == pytest.approx(rec["metrics"]["AR@1k"])


def test_record_provenance(smoke_run):
    rec = smoke_run["record"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert rec["code"]["commit"] == (head.stdout.strip() or "unknown")
    assert rec["packages"]["mmdet"] == metadata.version("mmdet") == "3.3.0"
    assert rec["packages"]["mmcv"] == "2.1.0" and rec["packages"]["torch"] == metadata.version("torch")
    assert rec["environment"]["device"] == "cpu" and rec["environment"]["world_size"] == 1
    assert re.fullmatch(r"[0-9a-f]{16}", rec["config"]["hash"])
    assert Path(rec["config"]["resolved"]).exists()
    assert rec["iterations"] == 8 and rec["images_per_batch"] == 2
    assert rec["schedule"]["milestones"] == [6] and rec["schedule"]["lr"] == pytest.approx(0.0025)
    assert rec["wall_time_s"] > 0 and rec["started_at"] < rec["finished_at"]
    ann = rec["data"]["annotations"]
    assert set(ann) == {"train", "test"} and all(len(a["sha256_16"]) == 16 for a in ann.values())
    assert (Path(rec["work_dir"]) / "iter_8.pth").exists()
    # smoke keeps one slim checkpoint (weights + meta), and the record's sha256 is of that file
    assert not (Path(rec["work_dir"]) / "iter_4.pth").exists()
    import torch
    from harness.orchestrate.proposals import file_sha256
    assert set(torch.load(rec["checkpoint"], weights_only=False)) == {"state_dict", "meta"}
    assert rec["checkpoint_sha256"] == file_sha256(Path(rec["checkpoint"]))
    rt = rec["runtime"]        # measured by MMEngine's test-loop timer, warm-up excluded
    assert rt["device"] == "cpu" and rt["batch_size"] == 1 and rt["warmup_iterations_excluded"] == 2
    assert rt["images_timed"] == 6                                     # 8 val images - 2 warm-up
    assert rt["seconds_per_image"] > rt["seconds_per_image_model_only"] > 0


def test_the_lr_mmengine_trained_with_is_the_profiles_lr(smoke_run):
    """The record's lr_used comes from MMEngine's message hub; the log's `lr:` column must agree,
    and the peak must be the configured lr (a warm-up that never ramps trains at 0.001 x lr)."""
    rec = smoke_run["record"]
    lr = rec["schedule"]["lr"]
    assert lr == pytest.approx(0.02 * 2 / 16)                      # the smoke profile's lr
    used = rec["lr_used"]
    assert used["peak"] == pytest.approx(lr, rel=1e-6)
    assert used["first"] == pytest.approx(0.001 * lr, rel=1e-6)     # iteration 1: warm-up start
    assert used["last"] == pytest.approx(0.1 * lr, rel=1e-6)        # after the step at 6 of 8
    log = (smoke_run["record_path"].parent / "worker.log").read_text()
    logged = [float(m.group(1)) for m in re.finditer(r"Iter\(train\) \[\d+/8\].*?\blr: (\S+)", log)]
    assert len(logged) == 8 and max(logged) == pytest.approx(used["peak"], rel=1e-3)
    assert logged[0] == pytest.approx(used["first"], rel=1e-3)


def test_rerun_does_nothing_unless_forced(smoke_run):
    before = smoke_run["record_path"].read_bytes()
    proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root",
                   str(smoke_run["data"]), env=smoke_run["env"])
    assert proc.returncode == 0 and "already done" in proc.stdout
    assert smoke_run["record_path"].read_bytes() == before


def test_report_shows_measured_beside_published(smoke_run):
    proc = run_cli("report", "--name", "t", env=smoke_run["env"])
    assert proc.returncode == 0, proc.stderr
    rec = smoke_run["record"]
    table1 = proc.stdout.split("### Table 1.")[1].split("### Table 2.")[0]   # 2(c), 3(c) are "(c) FPN" too
    line = [ln for ln in table1.splitlines() if ln.startswith("| (c) FPN")]
    assert len(line) == 1
    for col, published in zip(T1.metrics, (44.0, 56.3, 44.9, 63.4, 66.2)):
        v = rec["metrics"][col]
        expected = f"{published:.1f} / n/a" if v is None else \
            f"{published:.1f} / {v:.1f} / {v - published:+.1f}"
        assert expected in line[0], (col, line[0])
    assert "smoke: pipeline check, not a reproduction" in line[0]
    assert "smoke (not judged)" in line[0]      # a smoke number is never called a reproduction
    assert "36.1 / not run" in table1           # 1(a): runnable, no result in this store
    report = Path(smoke_run["env"]["FPN_REPRO_REPORTS"]) / "t.md"
    assert line[0] in report.read_text()


def test_nan_loss_fails_the_row_with_a_one_line_reason(smoke_run):
    proc = run_cli("run", "table1.c", "--profile", "smoke", "--seed", "1", "--data-root",
                   str(smoke_run["data"]),
                   "--cfg-options", "optim_wrapper.optimizer.lr=1e10", env=smoke_run["env"])
    assert proc.returncode == 1
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("harness: error:")]
    assert len(err) == 1 and "loss became nan" in err[0] and "worker.log" in err[0]
    assert "Traceback" not in proc.stderr
    rec = json.loads((smoke_run["results"] / "runs" / "table1.c" / "smoke" / "seed1" /
                      "record.json").read_text())
    assert rec["status"] == "failed" and rec["metrics"] == {}
    assert rec["cfg_options"] == {"optim_wrapper.optimizer.lr": "10000000000.0"}


def test_table2_row_trains_on_the_dumped_proposals_of_table1c(smoke_run):
    synth_root = smoke_run["data"]
    proc = run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(synth_root),
                   env=smoke_run["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "table1.c [smoke]: already done" in proc.stdout      # the producer is reused
    assert "dumping proposals" in proc.stdout
    runs = smoke_run["results"] / "runs"
    producer = json.loads((runs / "table1.c" / "smoke" / "seed0" / "record.json").read_text())
    rec = json.loads((runs / "table2.c" / "smoke" / "seed0" / "record.json").read_text())
    assert rec["status"] == "done" and set(rec["metrics"]) == {"AP@0.5", "AP", "AP_s", "AP_m", "AP_l"}
    assert rec["lr_used"]["peak"] == pytest.approx(rec["schedule"]["lr"], rel=1e-6)
    assert rec["proposals"]["producer"] == "table1.c"
    assert rec["proposals"]["checkpoint_sha256"] == producer["checkpoint_sha256"]
    manifest = json.loads((runs / "table1.c" / "smoke" / "seed0" / "proposals" /
                           "manifest.json").read_text())
    assert manifest["checkpoint"] == producer["checkpoint"]
    assert {s: e["max_per_image"] for s, e in manifest["splits"].items()} == \
        {"train2017": 2000, "val2017": 1000}
    cfg = (runs / "table2.c" / "smoke" / "seed0" / "config.py").read_text()
    assert rec["proposals"]["files"]["train2017"] in cfg and rec["proposals"]["files"]["val2017"] in cfg
    # the pickles hold the producer's proposals for every image of each split
    import pickle
    with open(rec["proposals"]["files"]["val2017"], "rb") as f:
        val = pickle.load(f)
    ann = json.loads((synth_root / "annotations" / "instances_val2017.json").read_text())
    assert len(val) == len(ann["images"])
    assert all(0 < len(p["bboxes"]) <= 1000 for p in val.values())

    # 3(c) is 2(c)'s run: its record carries the same numbers and says so
    proc = run_cli("run", "table3.c", "--profile", "smoke", "--data-root", str(synth_root),
                   env=smoke_run["env"])
    assert proc.returncode == 0, proc.stderr
    alias = json.loads((runs / "table3.c" / "smoke" / "seed0" / "record.json").read_text())
    assert alias["same_as"] == "table2.c" and alias["metrics"] == rec["metrics"]


def test_table3_row_pairs_its_own_rpn_with_its_detector(smoke_run):
    proc = run_cli("run", "table3.b", "--profile", "smoke", "--data-root", str(smoke_run["data"]),
                   env=smoke_run["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = smoke_run["results"] / "runs"
    rpn = json.loads((runs / "table1.b" / "smoke" / "seed0" / "record.json").read_text())
    rec = json.loads((runs / "table3.b" / "smoke" / "seed0" / "record.json").read_text())
    assert rpn["status"] == "done" and rec["status"] == "done"
    for r in (rpn, rec):   # the LR MMEngine trained with is the one each config states
        assert r["lr_used"]["peak"] == pytest.approx(r["schedule"]["lr"], rel=1e-6), r["row"]
    assert rec["proposals"]["producer"] == "table1.b"
    assert rec["proposals"]["checkpoint_sha256"] == rpn["checkpoint_sha256"]
    assert all(v is None or 0 <= v <= 100 for v in rec["metrics"].values())


def test_a_producer_that_really_fails_blocks_only_its_dependents(smoke_run):
    """No monkeypatch: five anchor strides are table1.c's own setting but invalid for the C4 RPN
    (one feature map), so table1.a fails for real in its worker; table3.a (on its proposals) is
    blocked with that reason, and table1.c, independent of it and run after it (--slots 1),
    still trains and tests."""
    proc = run_cli("run", "table3.a", "table1.c", "--profile", "smoke", "--seed", "2", "--slots", "1",
                   "--data-root", str(smoke_run["data"]), "--cfg-options",
                   "model.rpn_head.anchor_generator.strides=[4,8,16,32,64]", env=smoke_run["env"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.index("table1.a") < out.index("table3.a") < out.index("table1.c (")
    producer = read_record(smoke_run, "table1.a", seed=2)
    assert producer["status"] == "failed" and producer["reason"] and producer["metrics"] == {}
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("harness: error:")]
    assert any(ln.startswith("harness: error: table1.a [smoke, seed 2] failed: ") for ln in err), err
    blocked = [ln for ln in err if ln.startswith("harness: error: table3.a [smoke, seed 2] blocked: ")]
    assert blocked and f"needs table1.a, which failed: {producer['reason']}" in blocked[0]
    assert not (smoke_run["results"] / "runs" / "table3.a" / "smoke" / "seed2").exists()
    independent = read_record(smoke_run, "table1.c", seed=2)
    assert independent["status"] == "done" and independent["iterations"] == 8
    assert "1/3 rows done, 2 failed or blocked" in out


def test_force_archives_the_old_run_and_the_consumer_dumps_the_new_checkpoints_proposals(smoke_run):
    runs = smoke_run["results"] / "runs"
    run_dir = runs / "table1.c" / "smoke" / "seed0"
    old = read_record(smoke_run, "table1.c")
    old_log = (run_dir / "worker.log").read_text()
    if not (run_dir / "proposals" / "manifest.json").exists():   # this test run alone
        assert run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(smoke_run["data"]),
                       env=smoke_run["env"]).returncode == 0
    old_manifest = json.loads((run_dir / "proposals" / "manifest.json").read_text())

    proc = run_cli("run", "table1.c", "--profile", "smoke", "--force", "--data-root",
                   str(smoke_run["data"]), env=smoke_run["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archived = list((smoke_run["results"] / "archive" / "table1.c" / "smoke").glob("seed0-*"))
    assert len(archived) == 1, archived             # moved, never deleted: record, log, proposals
    assert json.loads((archived[0] / "record.json").read_text()) == old
    assert (archived[0] / "worker.log").read_text() == old_log
    assert json.loads((archived[0] / "proposals" / "manifest.json").read_text()) == old_manifest
    new = read_record(smoke_run, "table1.c")
    assert new["status"] == "done" and new["started_at"] >= old["finished_at"]
    assert new["checkpoint_sha256"] != old["checkpoint_sha256"]
    assert (run_dir / "worker.log").read_text().count("Iter(train) [8/8]") == 1   # a fresh log

    proc = run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(smoke_run["data"]),
                   env=smoke_run["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "table1.c [smoke]: dumping proposals" in proc.stdout
    manifest = json.loads((run_dir / "proposals" / "manifest.json").read_text())
    assert manifest["checkpoint_sha256"] == new["checkpoint_sha256"] != old_manifest["checkpoint_sha256"]
    # 2(c)'s record was made on the old proposals: kept, and said so, never passed off as new
    assert "table2.c [smoke]: kept a record made with another config, data or proposals" in proc.stdout
    assert read_record(smoke_run, "table2.c")["proposals"]["checkpoint_sha256"] == old["checkpoint_sha256"]


def test_changed_annotations_make_the_dump_stale_and_it_is_made_again(smoke_run):
    """Last in this module: it edits the module's data copy in place (one val object removed)."""
    from harness.data.validate import annotation_fingerprint
    data, runs = smoke_run["data"], smoke_run["results"] / "runs"
    folder = runs / "table1.c" / "smoke" / "seed0" / "proposals"
    if not (folder / "manifest.json").exists():                   # this test run alone
        assert run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(data),
                       env=smoke_run["env"]).returncode == 0
    before = json.loads((folder / "manifest.json").read_text())
    inodes = {p.name: p.stat().st_ino for p in folder.glob("*.pkl")}
    ann_path = data / "annotations" / "instances_val2017.json"
    ann = json.loads(ann_path.read_text())
    ann["annotations"] = ann["annotations"][:-1]
    ann_path.write_text(json.dumps(ann))

    proc = run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(data),
                   env=smoke_run["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "proposals of table1.c: stale" in proc.stdout and "dumped for other annotations" in proc.stdout
    assert "table1.c [smoke]: dumping proposals" in proc.stdout
    after = json.loads((folder / "manifest.json").read_text())
    assert after != before
    assert after["splits"]["val2017"]["annotations_sha256_16"] == annotation_fingerprint(ann_path) \
        != before["splits"]["val2017"]["annotations_sha256_16"]
    assert all(p.stat().st_ino != inodes[p.name] for p in folder.glob("*.pkl"))   # written anew


def test_a_dump_for_another_data_root_reads_that_root(smoke_run, synth_root, tmp_path):
    """The producer's record is reused on any data root (the root is not in the config hash):
    its proposals are dumped again for the new root, over the new root's images, never over the
    images of the root it trained on."""
    import pickle
    data2 = Path(shutil.copytree(synth_root, tmp_path / "synth2"))
    ann_path = data2 / "annotations" / "instances_val2017.json"
    ann = json.loads(ann_path.read_text())
    gone = ann["images"].pop()                                   # one val image fewer
    ann["annotations"] = [a for a in ann["annotations"] if a["image_id"] != gone["id"]]
    ann_path.write_text(json.dumps(ann))
    (data2 / "val2017" / gone["file_name"]).unlink()

    proc = run_cli("run", "table2.c", "--profile", "smoke", "--data-root", str(data2),
                   env=smoke_run["env"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "table1.c [smoke]: dumping proposals" in proc.stdout
    assert "table1.c [smoke]: training" not in proc.stdout         # the producer's record is kept
    folder = smoke_run["results"] / "runs" / "table1.c" / "smoke" / "seed0" / "proposals"
    with open(folder / "val2017.pkl", "rb") as f:
        dumped = {Path(name).name for name in pickle.load(f)}
    assert dumped == {im["file_name"] for im in ann["images"]}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["splits"]["val2017"]["annotations"] == str(ann_path)
