"""Schedule rescaling keeps the paper's shape (Sec. 5.1: 30k + 10k iterations at 16 images)."""
from __future__ import annotations

from mmengine.config import Config

from harness.config.schedule import fit_to_batch, rescale


def paper_rpn_schedule() -> Config:
    return Config(dict(
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=40000, val_interval=40000),
        param_scheduler=[
            dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=500),
            dict(type="MultiStepLR", by_epoch=False, begin=0, end=40000, milestones=[30000])],
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.02)),
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=5000))))


def test_fewer_images_scale_lr_down_and_iterations_up():
    cfg = paper_rpn_schedule()
    change = rescale(cfg, images_per_batch=4)
    assert cfg.optim_wrapper.optimizer.lr == 0.005
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.param_scheduler[1].milestones == [120000]
    assert cfg.param_scheduler[0].end == 2000
    assert change.milestones == [120000] and change.paper_lr == 0.02 and change.lr == 0.005


def test_explicit_length_keeps_step_at_the_same_fraction():
    cfg = paper_rpn_schedule()
    rescale(cfg, images_per_batch=2, max_iters=8)
    assert cfg.train_cfg.max_iters == 8
    assert cfg.param_scheduler[1].milestones == [6]  # 30k/40k = 75 %
    assert cfg.param_scheduler[1].end == 8
    # 500 x 8/40000 = 0.1 iterations: kept at 2, the shortest warm-up LinearLR ramps through
    # (end exclusive: iteration 0 at 0.001 x lr, iteration 1 at the full lr)
    assert (cfg.param_scheduler[0].begin, cfg.param_scheduler[0].end) == (0, 2)
    assert cfg.default_hooks.checkpoint.interval == 8
    assert cfg.optim_wrapper.optimizer.lr == 0.0025


def test_warm_up_length_is_declared_and_dropped_only_when_the_run_cannot_ramp():
    cfg = paper_rpn_schedule()
    change = rescale(cfg, images_per_batch=2, max_iters=8)
    assert (change.paper_warmup_iters, change.warmup_iters) == (500, 2)
    assert change.as_dict()["warmup_iters"] == 2            # what the record's schedule shows
    cfg = paper_rpn_schedule()
    change = rescale(cfg, images_per_batch=2, max_iters=4000)  # long enough: scaled as usual
    assert cfg.param_scheduler[0].end == 50 and change.warmup_iters == 50
    cfg = paper_rpn_schedule()
    change = rescale(cfg, images_per_batch=2, max_iters=1)     # one iteration cannot ramp
    assert [s.type for s in cfg.param_scheduler] == ["MultiStepLR"]
    assert (change.paper_warmup_iters, change.warmup_iters) == (500, None)


def test_paper_batch_is_left_alone():
    cfg = paper_rpn_schedule()
    rescale(cfg, images_per_batch=16)
    assert (cfg.train_cfg.max_iters, cfg.optim_wrapper.optimizer.lr) == (40000, 0.02)
    assert cfg.param_scheduler[1].milestones == [30000]


def test_fewer_gpus_accumulate_gradients_to_the_papers_update():
    cfg = paper_rpn_schedule()
    change, deviation = fit_to_batch(cfg, images_per_step=4)          # 2 GPUs x 2 images
    assert cfg.optim_wrapper.accumulative_counts == 4
    assert cfg.optim_wrapper.optimizer.lr == 0.02                      # the paper's lr
    assert cfg.train_cfg.max_iters == 160000                           # 40k updates x 4 passes
    assert cfg.param_scheduler[1].milestones == [120000]
    assert "accumulated over 4 steps" in deviation and change.max_iters == 160000


def test_batch_that_does_not_divide_16_scales_lr_linearly():
    cfg = paper_rpn_schedule()
    change, deviation = fit_to_batch(cfg, images_per_step=6)          # 3 GPUs x 2 images
    assert "accumulative_counts" not in cfg.optim_wrapper
    assert cfg.optim_wrapper.optimizer.lr == 0.0075
    assert cfg.train_cfg.max_iters == 106667
    assert "lr scaled linearly" in deviation


def test_papers_batch_needs_no_change():
    cfg = paper_rpn_schedule()
    assert fit_to_batch(cfg, images_per_step=16) == (None, None)
    assert cfg.train_cfg.max_iters == 40000
