"""`harness run table1.c table2.c table6.c --preflight` for real, on the synthetic set at the
paper's input size with a local random-init ResNet-50 as `--pretrained` (no download): every row
trains 4 iterations and tests 8 images with the paper profile's config, table2.c on table1.c's
preflight proposals, and the table prices each row's full schedule from what was measured.

Takes minutes on a CPU (three R-50 rows at 800 px, one proposal dump); measured in the README's preflight section."""
from __future__ import annotations

import json
import re
import pytest

from harness.orchestrate.preflight import COCO_TRAIN_IMAGES, COCO_VAL_IMAGES, _duration, project

from tests.conftest import run_cli

ROWS = ("table1.c", "table2.c", "table6.c")


@pytest.fixture(scope="module")
def preflight(tmp_path_factory, synth_root):
    import torch
    from mmdet.models.backbones import ResNet
    tmp = tmp_path_factory.mktemp("preflight")
    # The layout open-mmlab's detectron2/resnet50_caffe has (and torchvision's): conv1, bn1,
    # layer1..4 at the top level, what the configs' init_cfg=Pretrained loads into the backbone.
    weights = tmp / "resnet50_random.pth"
    torch.save(ResNet(depth=50, style="caffe").state_dict(), weights)
    env = {"FPN_REPRO_RESULTS": str(tmp / "results"), "FPN_REPRO_REPORTS": str(tmp / "reports"),
           "FPN_REPRO_SYNTH_DATA": str(synth_root)}    # no --data-root: the synthetic set
    proc = run_cli("run", *ROWS, "--preflight", "--pretrained", f"resnet50={weights}", env=env,
                   timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = tmp / "results" / "runs"
    records = {r: json.loads((runs / r / "preflight" / "seed0" / "record.json").read_text()) for r in ROWS}
    return {"proc": proc, "results": tmp / "results", "records": records, "weights": weights}


def _table_line(text: str, row: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {row} |"))


# The rows' own schedules (Sec. 5.1: RPN 30k + 10k; Sec. 5.2 and Appendix A: 60k + 20k).
PAPER_ITERS = {"table1.c": 40_000, "table2.c": 80_000, "table6.c": 80_000}


def test_every_row_passes_and_the_table_shows_s_iter_memory_and_projected_hours(preflight):
    out = preflight["proc"].stdout
    md = (preflight["results"] / "preflight.md").read_text()
    assert md in out                                   # printed and written alike
    for row in ROWS:
        rec = preflight["records"][row]
        pf, rt = rec["preflight"], rec["runtime"]
        assert rec["status"] == "done" and rec["profile"] == "preflight" and rec["is_reproduction"] is False
        assert pf["iterations"] == 4 and rec["iterations"] == 4
        assert pf["warmup_iterations_excluded"] == 2 and pf["iterations_timed"] == 2
        assert pf["seconds_per_iter"] > 0 and pf["peak_memory_mb"] > 500   # an R-50 at 800 px
        assert pf["memory_kind"] == "RSS (ru_maxrss)" and rt["images_timed"] + 2 == 8
        # the paper's schedule on 1 process x 2 images: 16-image steps by accumulating 8
        assert rec["schedule"]["accumulative_counts"] == 8
        assert pf["full_max_iters"] == PAPER_ITERS[row] * 8
        line = _table_line(md, row)
        assert "passed (4 it, 8 test img)" in line and "cpu x1" in line
        assert f"{pf['seconds_per_iter']:.3f} (2 it)" in line and "GiB RSS" in line
        dump = COCO_TRAIN_IMAGES + COCO_VAL_IMAGES if row == "table1.c" else 0  # table2.c's producer
        proj = project(pf["seconds_per_iter"], pf["full_max_iters"], rt["seconds_per_image"], 1,
                       False, dump)
        assert f"| {_duration(proj.wall_s)} | n/a (CPU) |" in line
        assert re.search(r"\| [\d.]+ h \|", line)                       # projected hours
    assert "3/3 rows passed" in md and "no GPU-hours" in md


def test_the_runs_used_the_paper_profiles_config_weights_and_preflight_proposals(preflight):
    from mmengine.config import Config
    recs = preflight["records"]
    cfgs = {r: Config.fromfile(recs[r]["config"]["resolved"]) for r in ROWS}
    for row, cfg in cfgs.items():
        assert cfg.train_dataloader.batch_size == 2                     # images per GPU
        assert cfg.optim_wrapper.accumulative_counts == 8 and cfg.optim_wrapper.optimizer.lr > 0.01
        steps = [s for s in cfg.train_dataloader.dataset.pipeline if s["type"] in ("Resize", "ProposalBroadcaster")]
        resize = steps[0] if steps[0]["type"] == "Resize" else steps[0]["transforms"][0]
        # the paper's input: shorter side 800 (Sec. 5.1), longer side capped at py-faster-rcnn's 1000
        assert tuple(resize["scale"]) == (1000, 800)
        assert cfg.model.backbone.init_cfg.checkpoint == str(preflight["weights"])
        # 8 images per split of the synthetic set (proposal dumps take seconds, not hours)
        assert "/preflight_data/" in cfg.data_root
    assert cfgs["table2.c"].model.train_cfg.rcnn.sampler.num == 512     # RoIs per image
    loads = [s for s in cfgs["table2.c"].train_dataloader.dataset.pipeline if s["type"] == "LoadProposals"]
    assert loads[0]["num_max_proposals"] == 2000
    assert cfgs["table1.c"].model.test_cfg.rpn.max_per_img == 1000
    prop = recs["table2.c"]["proposals"]
    assert prop["producer"] == "table1.c" and prop["checkpoint_sha256"] == recs["table1.c"]["checkpoint_sha256"]
    assert all("/table1.c/preflight/seed0/proposals/" in f for f in prop["files"].values())
    # never mixed with paper runs
    assert not list((preflight["results"] / "runs").glob("*/paper"))
