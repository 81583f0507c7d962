"""The LR a shortened schedule really gives, stepped through MMEngine's own parameter schedulers
the way its ParamSchedulerHook does (one step after every training iteration): a warm-up that
never ramps would leave the whole run at 0.001 x lr while the config says lr."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import mmengine.optim  # noqa: F401 - registers LinearLR, MultiStepLR
from mmengine.registry import PARAM_SCHEDULERS

from harness.config.profiles import get_profile
from harness.config.resolve import resolve_config
from harness.paper.rows import all_rows, get_row


def lr_per_iteration(cfg) -> list[float]:
    """The LR of every training iteration, as RuntimeInfoHook logs it (before the step)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer)) for s in cfg.param_scheduler]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        for s in schedulers:
            s.step()
    return lrs


def smoke_cfg(row_id: str):
    return resolve_config(get_row(row_id), get_profile("smoke"), Path("/d"), Path("/w")).cfg


def test_smoke_rpn_warms_up_for_one_iteration_then_trains_at_its_lr_and_steps_at_75_percent():
    cfg = smoke_cfg("table1.c")
    lr = cfg.optim_wrapper.optimizer.lr
    assert lr == pytest.approx(0.02 * 2 / 16)
    expected = [0.001 * lr] + [lr] * 5 + [0.1 * lr] * 2
    assert lr_per_iteration(cfg) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("row", [r for r in all_rows() if r.runnable and not r.merge and not r.same_as],
                         ids=lambda r: r.id)
def test_every_smoke_row_reaches_its_configured_lr(row):
    cfg = resolve_config(row, get_profile("smoke"), Path("/d"), Path("/w")).cfg
    lrs = lr_per_iteration(cfg)
    assert max(lrs) == pytest.approx(cfg.optim_wrapper.optimizer.lr, rel=1e-9), lrs
