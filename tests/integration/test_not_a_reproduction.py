"""Issue 15, as a new user ran it: `harness run table1.c --profile paper` on the synthetic set
with a random-init ResNet-50 file and 2 iterations. The record must say it is not a
reproduction, with the schedule, data and weights reasons, and the report must judge nothing.

Kept cheap: --cfg-options also shrink the input to 320x256 (paper-size input on a CPU is ~20 s
an image), train on 1 image per step and load data in the main process; the first two are
further reasons, as they should be."""
from __future__ import annotations

import json

import pytest

from harness.orchestrate.proposals import file_sha256

from tests.conftest import run_cli

SHRINK = ["train_dataloader.batch_size=1", "train_dataloader.dataset.pipeline.2.scale=(320,256)",
          "test_dataloader.dataset.pipeline.1.scale=(320,256)",
          "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
          "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False"]


@pytest.fixture(scope="module")
def shortened(tmp_path_factory, synth_root):
    import torch
    from mmdet.models.backbones import ResNet
    tmp = tmp_path_factory.mktemp("issue15")
    weights = tmp / "random_init_r50.pth"
    torch.manual_seed(0)
    torch.save(ResNet(depth=50, style="caffe").state_dict(), weights)
    env = {"FPN_REPRO_RESULTS": str(tmp / "results"), "FPN_REPRO_REPORTS": str(tmp / "reports"),
           "FPN_REPRO_CACHE": str(tmp / "cache")}
    proc = run_cli("run", "table1.c", "--profile", "paper", "--data-root", str(synth_root),
                   "--pretrained", f"resnet50={weights}",
                   "--cfg-options", "train_cfg.max_iters=2", *SHRINK, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((tmp / "results" / "runs" / "table1.c" / "paper" / "seed0" /
                         "record.json").read_text())
    return {"proc": proc, "env": env, "record": record, "weights": weights}


def test_the_record_says_it_is_not_a_reproduction_and_why(shortened):
    rec = shortened["record"]
    rep = rec["reproduction"]
    assert rec["status"] == "done" and rep["judged"] is False and rec["is_reproduction"] is False
    texts = {r["kind"]: r["text"] for r in reversed(rep["reasons"])}   # the first of each kind
    assert texts["schedule"] == "schedule 2 iterations, 8 per update, paper 30k + 10k"
    assert texts["data"] == "data train2017 16 images / 68 annotations, COCO 118287 / 860001"
    assert texts["weights"].startswith("weights random_init_r50.pth (sha256 ")
    assert [r["kind"] for r in rep["reasons"][:4]] == ["schedule", "data", "data", "weights"]
    assert {"input shorter side [256], paper [800]", "images per GPU 1, paper 2",
            "images per SGD update 8, paper 16"} <= {r["text"] for r in rep["reasons"]}
    # the checkpoint the worker actually loaded, by sha256
    assert rec["pretrained"] == [{"source": str(shortened["weights"]), "path": str(shortened["weights"]),
                                  "sha256": file_sha256(shortened["weights"])}]
    # what ran, not the 320000 iterations the fitting projected before --cfg-options
    assert rec["iterations"] == 2 and rec["schedule"]["max_iters"] == 2
    assert rec["schedule"]["milestones"] == [] and "320000" not in json.dumps(rec["deviations"])
    assert rec["deviations"] == ["1 image per step instead of 16: gradients accumulated over 8 "
                                 "steps (8 images per update, not the paper's 16); 2 iterations = "
                                 "1 update of 2 images"]
    out = shortened["proc"].stdout
    assert "not a reproduction: schedule 2 iterations" in out                # said before training
    assert "; not judged: schedule 2 iterations, 8 per update, paper 30k + 10k" in out


def test_the_report_judges_nothing_and_status_and_list_say_so(shortened):
    env = shortened["env"]
    report = run_cli("report", "--name", "r", env=env)
    assert report.returncode == 0, report.stderr
    text = report.stdout
    assert "Published numbers (reproduction runs): 0 within ±0.5, 0 outside" in text
    assert "Claims: 0 hold, 0 fail" in text
    assert "- 1 paper-profile run not judged: schedule changed (" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("| (c) FPN | {P_k}"))
    assert line.count("not judged [") == 5 and " within" not in line and "outside" not in line
    status = run_cli("status", "table1.c", env=env).stdout
    assert "(not judged: schedule 2 iterations, 8 per update, paper 30k + 10k)" in status
    assert "paper:done (not judged)" in run_cli("list", "table1", env=env).stdout
