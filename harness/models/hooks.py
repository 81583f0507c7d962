"""MMEngine hooks the harness adds to every run."""
from __future__ import annotations

import math

from mmengine.hooks import Hook
from mmdet.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    pass


@HOOKS.register_module()
class FailOnNonFiniteLoss(Hook):
    """Stop at the first NaN/inf loss: a diverged run must fail loudly, not report garbage.

    (mmdet's CheckInvalidLossHook only checks every 50 iterations and fails with an empty message.)
    """

    priority = "VERY_LOW"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not outputs or "loss" not in outputs:
            return
        value = float(outputs["loss"])
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"loss became {value} at iteration {runner.iter + 1}")
