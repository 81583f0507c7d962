"""Tables 4 and 5: the ResNet-101 entry with its test-dev result file, and the 4-step training
(RPN -> Fast R-CNN -> RPN frozen -> Fast R-CNN frozen -> one merged Faster R-CNN).

Unit tests check the registry, the merge and that the merged model loads strictly; the
integration test runs `harness run table4 table5.r50_yes --profile smoke` for real and checks
the frozen layers bit for bit."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from harness.errors import HarnessError
from harness.four_step import merge_checkpoints, shared_differences
from harness.rows import get_row, load_tables, resolve
from harness.run import plan

from .conftest import run_cli


def test_registry_has_25_runnable_rows_and_the_steps_stay_out_of_the_tables():
    tables = load_tables()
    runnable = [r for t in tables.values() for r in t.runnable_rows]
    assert len(runnable) == 25
    assert [r.id for r in resolve(["table5"])] == ["table5.r50_no", "table5.r50_yes",
                                                   "table5.r101_no", "table5.r101_yes"]
    assert "r50_step3" not in tables["table5"].rows and get_row("table5.r50_step3").step
    assert resolve(["table5.r50_step3"]) == [get_row("table5.r50_step3")]   # runnable by id
    # the paper's inference times (Sec. 5.2.2 "Running time", Table 6's column) are data too
    assert [get_row(r).paper_time_s for r in ("table5.r50_yes", "table5.r101_yes", "table3.a",
                                               "table6.c")] == [0.148, 0.172, 0.32, 0.24]


def test_plan_runs_the_four_steps_in_order_before_the_merge():
    order = [s.row.id for s in plan([get_row("table5.r50_yes")])]
    assert order == ["table1.c", "table2.c", "table5.r50_step3", "table5.r50_step4", "table5.r50_yes"]
    order = [s.row.id for s in plan([get_row("table4.ours"), get_row("table5.r101_yes")])]
    assert order == ["table5.r101_rpn", "table4.ours", "table5.r101_no", "table5.r101_step3",
                     "table5.r101_step4", "table5.r101_yes"]
    step4 = get_row("table5.r101_step4")
    assert (step4.init_from, step4.proposals_from) == ("table5.r101_no", "table5.r101_step3")


def _save(tmp: Path, name: str, state: dict) -> str:
    path = tmp / f"{name}.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    return str(path)


def _states():
    g = torch.Generator().manual_seed(0)
    shared = {"backbone.conv1.weight": torch.randn(4, 3, generator=g),
              "neck.lateral_convs.0.conv.weight": torch.randn(2, 4, generator=g)}
    rpn = dict(shared, **{"bbox_head.rpn_cls.weight": torch.randn(3, 2, generator=g)})
    det = dict(shared, **{"roi_head.bbox_head.fc_cls.weight": torch.randn(81, 2, generator=g)})
    return rpn, det


def test_merge_renames_the_rpn_head_and_takes_shared_layers_once(tmp_path):
    rpn, det = _states()
    out = merge_checkpoints({"rpn": _save(tmp_path, "rpn", rpn), "detector": _save(tmp_path, "det", det)},
                            tmp_path / "merged.pth")
    merged = torch.load(out, weights_only=False)["state_dict"]
    assert sorted(merged) == ["backbone.conv1.weight", "neck.lateral_convs.0.conv.weight",
                              "roi_head.bbox_head.fc_cls.weight", "rpn_head.rpn_cls.weight"]
    assert torch.equal(merged["rpn_head.rpn_cls.weight"], rpn["bbox_head.rpn_cls.weight"])
    assert torch.equal(merged["roi_head.bbox_head.fc_cls.weight"], det["roi_head.bbox_head.fc_cls.weight"])


def test_merge_refuses_heads_that_do_not_share_backbone_and_fpn(tmp_path):
    rpn, det = _states()
    det = dict(det, **{"neck.lateral_convs.0.conv.weight": det["neck.lateral_convs.0.conv.weight"] + 1e-6})
    with pytest.raises(HarnessError, match=r"do not share their backbone and FPN \(1 tensors differ, "
                                           r"e.g. neck.lateral_convs.0.conv.weight\)"):
        merge_checkpoints({"rpn": _save(tmp_path, "rpn", rpn), "detector": _save(tmp_path, "det", det)},
                          tmp_path / "merged.pth")
    assert not (tmp_path / "merged.pth").exists()
    with pytest.raises(HarnessError, match="no 'bbox_head.\\*' weights: it is not the rpn step"):
        merge_checkpoints({"rpn": _save(tmp_path, "det2", _states()[1]),
                           "detector": _save(tmp_path, "det3", _states()[1])}, tmp_path / "m.pth")


def _model(row_id: str):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from harness.configs import resolve_config
    from harness.profiles import get_profile
    register_all_modules()
    cfg = resolve_config(get_row(row_id), get_profile("smoke"), Path("/data"), Path("/tmp/w")).cfg
    return MODELS.build(cfg.model)


def test_merged_checkpoint_loads_strictly_into_the_table5_model_with_one_backbone(tmp_path):
    """The step configs and the merged Faster R-CNN config describe the same layers: a merge of
    step-3/step-4 weights fills every parameter of the r50_yes model, and nothing is left over."""
    from mmengine.runner import load_checkpoint
    from mmdet.models.backbones import ResNet
    from mmdet.models.necks import FPN
    step3, step4 = _model("table5.r50_step3"), _model("table5.r50_step4")
    step3.backbone.load_state_dict(step4.backbone.state_dict())   # as if both came from step 2
    step3.neck.load_state_dict(step4.neck.state_dict())
    out = merge_checkpoints({"rpn": _save(tmp_path, "s3", step3.state_dict()),
                             "detector": _save(tmp_path, "s4", step4.state_dict())},
                            tmp_path / "merged.pth")
    faster = _model("table5.r50_yes")
    load_checkpoint(faster, str(out), map_location="cpu", strict=True)
    assert torch.equal(faster.rpn_head.rpn_cls.weight, step3.bbox_head.rpn_cls.weight)
    assert torch.equal(faster.roi_head.bbox_head.fc_cls.weight, step4.roi_head.bbox_head.fc_cls.weight)
    # one backbone and one FPN feed both heads
    assert sum(isinstance(m, ResNet) for m in faster.modules()) == 1
    assert sum(isinstance(m, FPN) for m in faster.modules()) == 1
    assert not shared_differences({k: v for k, v in faster.state_dict().items()},
                                  {k: v for k, v in step4.state_dict().items()})


# ---- integration: the real smoke runs -----------------------------------------------------------

def _with_test_dev(synth: Path, root: Path) -> Path:
    """The synthetic set laid out like a COCO tree that also has test-dev (image list only)."""
    (root / "annotations").mkdir(parents=True)
    for split in ("train2017", "val2017"):
        os.symlink(synth / split, root / split)
        os.symlink(synth / "annotations" / f"instances_{split}.json",
                   root / "annotations" / f"instances_{split}.json")
    os.symlink(synth / "val2017", root / "test2017")
    val = json.loads((synth / "annotations" / "instances_val2017.json").read_text())
    (root / "annotations" / "image_info_test-dev2017.json").write_text(json.dumps(
        {"images": val["images"], "categories": val["categories"]}))
    return root


@pytest.fixture(scope="module")
def tables45(tmp_path_factory, synth_root):
    base = tmp_path_factory.mktemp("t45")
    data = _with_test_dev(synth_root, base / "coco")
    env = {"FPN_REPRO_RESULTS": str(base / "results"), "FPN_REPRO_REPORTS": str(base / "reports")}
    proc = run_cli("run", "table4", "table5.r50_yes", "--profile", "smoke", "--data-root", str(data),
                   env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = base / "results" / "runs"
    recs = {p.parts[-4]: json.loads(p.read_text()) for p in runs.glob("*/smoke/seed0/record.json")}
    return {"proc": proc, "env": env, "records": recs, "data": data}


def _ckpt_state(rec: dict) -> dict:
    return torch.load(rec["checkpoint"], map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.integration
def test_every_step_ran_and_the_merge_names_its_sources(tables45):
    recs = tables45["records"]
    assert set(recs) == {"table1.c", "table2.c", "table5.r50_step3", "table5.r50_step4",
                         "table5.r50_yes", "table5.r101_rpn", "table4.ours"}
    assert all(r["status"] == "done" for r in recs.values()), {k: r["reason"] for k, r in recs.items()}
    yes = recs["table5.r50_yes"]
    assert yes["merged_from"] == {
        "rpn": {"row": "table5.r50_step3", "checkpoint_sha256": recs["table5.r50_step3"]["checkpoint_sha256"]},
        "detector": {"row": "table5.r50_step4",
                     "checkpoint_sha256": recs["table5.r50_step4"]["checkpoint_sha256"]}}
    assert set(yes["metrics"]) == {"AP@0.5", "AP"} and yes["iterations"] == 0   # tested, not trained
    assert recs["table5.r50_step3"]["init_from"]["checkpoint_sha256"] == recs["table2.c"]["checkpoint_sha256"]
    assert recs["table5.r50_step4"]["proposals"]["producer"] == "table5.r50_step3"
    assert "testing the merged model" in tables45["proc"].stdout


@pytest.mark.integration
def test_steps_3_and_4_leave_backbone_and_fpn_bit_identical_and_train_their_heads(tables45):
    recs = tables45["records"]
    step2, step3, step4 = (_ckpt_state(recs[k]) for k in ("table2.c", "table5.r50_step3", "table5.r50_step4"))
    shared = [k for k in step2 if k.startswith(("backbone.", "neck."))]
    assert len(shared) > 300 and any(k.startswith("neck.") for k in shared)
    assert shared_differences(step2, step3) == [] and shared_differences(step2, step4) == []
    # ... while what is not frozen did train (the check above could otherwise pass vacuously)
    assert not torch.equal(step2["roi_head.bbox_head.fc_cls.weight"], step4["roi_head.bbox_head.fc_cls.weight"])
    step1 = _ckpt_state(recs["table1.c"])
    assert shared_differences(step1, step2)   # step 2 itself trains the backbone and FPN
    merged = torch.load(recs["table5.r50_yes"]["checkpoint"], weights_only=False)["state_dict"]
    for k, v in step3.items():
        if k.startswith("bbox_head."):
            assert torch.equal(merged["rpn_head." + k[len("bbox_head."):]], v)
    assert all(torch.equal(merged[k], v) for k, v in step4.items())


@pytest.mark.integration
def test_table4_writes_a_test_dev_result_file_and_reports_minival_beside_the_server_columns(tables45):
    rec = tables45["records"]["table4.ours"]
    assert rec["proposals"]["producer"] == "table5.r101_rpn" and set(rec["metrics"]) == {"AP (minival)"}
    td = rec["test_dev"]
    dets = json.loads(Path(td["result_file"]).read_text())
    ids = {im["id"] for im in json.loads(
        (tables45["data"] / "annotations" / "image_info_test-dev2017.json").read_text())["images"]}
    assert td["images"] == len(ids) and isinstance(dets, list)
    assert all(d["image_id"] in ids and len(d["bbox"]) == 4 and "score" in d for d in dets)
    manifest = json.loads((Path(rec["work_dir"]).parents[3] / "table5.r101_rpn" / "smoke" / "seed0" /
                           "proposals" / "manifest.json").read_text())
    assert set(manifest["splits"]) == {"train2017", "val2017", "test-dev2017"}
    proc = run_cli("report", "--name", "t45", env=tables45["env"])
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("| (ours)"))
    assert "35.6 / 0.0 / -35.6 smoke (not judged)" in line and "59.1 / COCO server only" in line
    assert "test-dev results for the COCO server" in line
    assert "r50_step3" not in proc.stderr          # steps are not "unknown rows"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("| (r50_yes)"))
    assert "| 0.148 / 0." in line and "(cpu)" in line     # the paper's M40 time beside this run's
    assert "one model merged from rpn of table5.r50_step3 + detector of table5.r50_step4" in proc.stdout
    import pandas as pd   # the steps are runs too: in the tidy CSV, unjudged, with their own metrics
    tidy = pd.read_csv(Path(tables45["env"]["FPN_REPRO_RESULTS"]) / "results.csv")
    step3 = tidy[tidy.row == "table5.r50_step3"]
    assert "coco/AR@1000" in set(step3.metric) and step3.published.isna().all()
