"""Row configs state the paper's settings; profiles are overlays, not copies."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.configs import config_hash, resolve_config
from harness.profiles import get_profile
from harness.rows import load_tables, resolve

ROW_C = load_tables()["table1"].rows["c"]


def resolved(profile: str, data_root="/data/coco", work="/tmp/w"):
    return resolve_config(ROW_C, get_profile(profile), Path(data_root), Path(work)).cfg


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
    assert resize.scale == (1333, 800)
    assert cfg.test_evaluator.metric == "proposal"
    assert tuple(cfg.test_evaluator.proposal_nums) == (100, 300, 1000)
    assert cfg.test_evaluator.ann_file == "/data/coco/annotations/instances_val2017.json"
    assert cfg.model.backbone.init_cfg.type == "Pretrained"
    assert cfg.model.backbone.style == "caffe"


def test_smoke_profile_changes_only_what_it_declares():
    paper = flatten(resolved("paper").to_dict())
    smoke = flatten(resolved("smoke").to_dict())
    changed = {k for k in paper.keys() | smoke.keys() if paper.get(k) != smoke.get(k)}
    allowed_prefixes = (
        "train_dataloader.dataset.pipeline.2.scale", "test_dataloader.dataset.pipeline.1.scale",
        "model.backbone.init_cfg", "train_dataloader.batch_size", "train_cfg.max_iters",
        "train_cfg.val_interval", "param_scheduler.", "optim_wrapper.optimizer.lr",
        "default_hooks.checkpoint.interval", "default_hooks.logger.interval",
        "train_dataloader.num_workers", "train_dataloader.persistent_workers",
        "test_dataloader.num_workers", "test_dataloader.persistent_workers")
    unexpected = {k for k in changed if not k.startswith(allowed_prefixes)}
    assert not unexpected, unexpected
    assert "train_cfg.max_iters" in changed and "model.backbone.init_cfg.type" in changed


def test_config_hash_ignores_where_but_not_what():
    a = config_hash(resolved("smoke", "/data/a", "/tmp/w1"))
    b = config_hash(resolved("smoke", "/elsewhere/b", "/tmp/w2"))
    assert a == b
    assert config_hash(resolved("paper")) != a


def test_every_runnable_row_config_builds_its_model():
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    for row in resolve([t for t in load_tables()]):
        cfg = resolve_config(row, get_profile("smoke"), Path("/data"), Path("/tmp/w")).cfg
        model = MODELS.build(cfg.model)
        model.eval()
        with torch.no_grad():
            feats = model.extract_feat(torch.zeros(1, 3, 256, 320))
        strides = [256 // f.shape[-2] for f in feats]
        if row.id == "table1.c":
            assert strides == [4, 8, 16, 32, 64]
            assert all(f.shape[1] == 256 for f in feats)
