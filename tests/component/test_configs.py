"""Row configs state the paper's settings; profiles are overlays, not copies."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config.resolve import config_hash, resolve_config
from harness.config.profiles import get_profile
from harness.paper.rows import all_rows, load_tables, resolve

ROW_C = load_tables()["table1"].rows["c"]


def resolved(profile: str, data_root="/data/coco", work="/tmp/w"):
    # the paper ran on 8 GPUs; with fewer, a run's schedule is fitted (tests/test_schedule.py)
    return resolve_config(ROW_C, get_profile(profile), Path(data_root), Path(work),
                          processes=8 if profile == "paper" else 1).cfg


def flatten(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): obj}


def test_paper_profile_states_section_4_1_and_5_1():
    cfg = resolved("paper")
    head = cfg.model.rpn_head
    assert head.anchor_generator.scales == [8]                       # 8 x stride 4 = 32 px on P2
    assert head.anchor_generator.strides == [4, 8, 16, 32, 64]       # P2..P6
    assert head.anchor_generator.ratios == [0.5, 1.0, 2.0]
    assert cfg.model.neck.out_channels == 256 and cfg.model.neck.num_outs == 5
    assert cfg.model.neck.add_extra_convs is False                   # P6 = subsampled P5
    rpn = cfg.model.train_cfg.rpn
    assert (rpn.assigner.pos_iou_thr, rpn.assigner.neg_iou_thr) == (0.7, 0.3)
    assert rpn.sampler.num == 256 and rpn.allowed_border == -1
    assert cfg.model.test_cfg.rpn.max_per_img == 1000
    opt = cfg.optim_wrapper.optimizer
    assert (opt.lr, opt.momentum, opt.weight_decay) == (0.02, 0.9, 0.0001)
    assert cfg.train_cfg.max_iters == 40000
    assert cfg.param_scheduler[-1].milestones == [30000]
    assert cfg.train_dataloader.batch_size == 2                      # x 8 GPUs = 16
    resize = [s for s in cfg.train_dataloader.dataset.pipeline if s.type == "Resize"][0]
    assert resize.scale == (1000, 800)                          # py-faster-rcnn MAX_SIZE 1000
    assert cfg.test_evaluator.metric == "proposal"
    assert tuple(cfg.test_evaluator.proposal_nums) == (100, 300, 1000)
    assert cfg.test_evaluator.ann_file == "/data/coco/annotations/instances_val2017.json"
    assert cfg.model.backbone.init_cfg.type == "Pretrained"
    assert cfg.model.backbone.style == "caffe"


SMOKE_MAY_CHANGE = re.compile(r"""^(
    (train|test)_dataloader\.dataset\.pipeline\.\d+(\.transforms\.\d+)?\.(scale|num_max_proposals)
  | model\.(backbone|roi_head\.shared_head)\.init_cfg(\..*)?
  | model\.train_cfg\.rcnn\.sampler\.num
  | train_dataloader\.batch_size | train_cfg\.(max_iters|val_interval) | param_scheduler\..*
  | optim_wrapper\.optimizer\.lr | default_hooks\.(checkpoint|logger)\.interval
  | default_hooks\.checkpoint\.max_keep_ckpts
  | (train|test)_dataloader\.(num_workers|persistent_workers)
)$""", re.X)


@pytest.mark.parametrize("row", [r for r in all_rows() if r.runnable], ids=lambda r: r.id)
def test_smoke_profile_changes_only_what_it_declares(row):
    paper = flatten(resolve_config(row, get_profile("paper"), Path("/d"), Path("/w"),
                                   processes=8).cfg.to_dict())
    smoke = flatten(resolve_config(row, get_profile("smoke"), Path("/d"), Path("/w")).cfg.to_dict())
    changed = {k for k in paper.keys() | smoke.keys() if paper.get(k) != smoke.get(k)}
    unexpected = {k for k in changed if not SMOKE_MAY_CHANGE.match(k)}
    assert not unexpected, unexpected
    assert "train_cfg.max_iters" in changed and "model.backbone.init_cfg.type" in changed
    assert not any(k.endswith("init_cfg.type") and smoke.get(k) == "Pretrained" for k in smoke)


def test_config_hash_ignores_where_but_not_what():
    a = config_hash(resolved("smoke", "/data/a", "/tmp/w1"))
    b = config_hash(resolved("smoke", "/elsewhere/b", "/tmp/w2"))
    assert a == b
    assert config_hash(resolved("paper")) != a


def expected_features(row, m) -> tuple[list[int] | None, list[int] | None, int]:
    """What the heads of a row's model config consume: (feature strides exactly, feature
    strides as a prefix (RoI levels), channels). Derived from the heads, not from the model."""
    if m.type == "FPNSegmentProposer":          # Appendix A: P2..P6, d = 128
        return [4, 8, 16, 32, 64], None, m.head.in_channels
    rpn = m.get("rpn_head")
    roi = m.roi_head.bbox_roi_extractor if m.get("roi_head") else None
    exact = list(rpn.anchor_generator.strides) if rpn else None
    if roi is not None and m.get("neck") is None:
        exact = list(roi.featmap_strides)       # C4 / C5: the one map the RoIs pool from
    channels = rpn.in_channels if rpn else roi.out_channels
    return exact, list(roi.featmap_strides) if roi else None, channels


RESNET_BLOCKS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}


@pytest.mark.parametrize("row", [r for r in all_rows() if r.runnable], ids=lambda r: r.id)
def test_every_runnable_row_config_builds_the_model_its_heads_expect(row):
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.utils import import_modules_from_strings
    register_all_modules()
    cfg = resolve_config(row, get_profile("smoke"), Path("/data"), Path("/tmp/w")).cfg
    import_modules_from_strings(**cfg.custom_imports)   # as the worker's Config.fromfile does
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == cfg.model.type
    # ResNet-101 where the paper's table (or the step's name) says so, ResNet-50 elsewhere
    depth = 101 if "101" in row.id or row.columns.get("backbone") == "ResNet-101" else 50
    blocks = [len(getattr(model.backbone, name)) for name in model.backbone.res_layers]
    assert blocks == RESNET_BLOCKS[depth][:len(blocks)] and len(blocks) >= 3, (depth, blocks)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 256, 320))
    strides = [256 // f.shape[-2] for f in feats]
    assert all(320 // f.shape[-1] == s for f, s in zip(feats, strides))
    exact, prefix, channels = expected_features(row, cfg.model)
    assert exact is not None or prefix is not None
    if exact is not None:
        assert strides == exact, (strides, exact)
    if prefix is not None:
        assert strides[:len(prefix)] == prefix, (strides, prefix)
    if cfg.model.get("neck") is not None and cfg.model.neck.get("num_outs") is not None:
        assert len(strides) == cfg.model.neck.num_outs
    assert all(f.shape[1] == channels for f in feats), ([f.shape[1] for f in feats], channels)
    if row.id == "table1.c":                    # Sec. 4.1: P2..P6 at 256 channels
        assert strides == [4, 8, 16, 32, 64] and channels == 256


def test_pretrained_goes_only_to_backbones_of_its_depth():
    from harness.config.resolve import _pretrained_modules, parse_pretrained
    from harness.errors import HarnessError
    from harness.paper.rows import get_row
    weights = parse_pretrained(["/w/r50.pth", "resnet101=/w/r101.pth"])
    assert weights == {"resnet50": "/w/r50.pth", "resnet101": "/w/r101.pth"}

    def checkpoints(row_id, given):
        cfg = resolve_config(get_row(row_id), get_profile("paper"), Path("/d"), Path("/w"),
                             pretrained=given, processes=8).cfg
        return sorted(m.init_cfg.checkpoint for m in _pretrained_modules(cfg.model))

    assert checkpoints("table1.c", weights) == ["/w/r50.pth"]
    assert checkpoints("table5.r101_rpn", weights) == ["/w/r101.pth"]
    # C4 rows initialise backbone and conv5 head from the same ImageNet model
    assert checkpoints("table2.a", weights) == ["/w/r50.pth", "/w/r50.pth"]
    # an R-101 row without an R-101 path keeps its config's checkpoint, never the R-50 one
    assert checkpoints("table5.r101_rpn", parse_pretrained(["/w/r50.pth"])) == \
        ["open-mmlab://detectron2/resnet101_caffe"]
    with pytest.raises(HarnessError, match="unknown backbone 'resnet152'"):
        parse_pretrained(["resnet152=/w/x.pth"])
