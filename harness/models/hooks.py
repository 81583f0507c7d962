"""MMEngine hooks the harness adds to every run."""
from __future__ import annotations

import math

from mmengine.hooks import Hook
from mmdet.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """Training diverged at `diverged_at_iteration` (1-based): the worker hands it on
    (outcome.json), and the orchestrator then refuses to resume the same config."""

    def __init__(self, message: str, iteration: int | None = None):
        super().__init__(message)
        self.diverged_at_iteration = iteration


@HOOKS.register_module()
class FailOnNonFiniteLoss(Hook):
    """Stop at the first NaN/inf loss: a diverged run must fail loudly, not report garbage.

    (mmdet's CheckInvalidLossHook only checks every 50 iterations and fails with an empty message.)

    It runs after the logger (so the log shows the loss) and before the checkpoint hook (LOW
    comes before CheckpointHook's VERY_LOW): the iteration whose loss is not finite never
    becomes a checkpoint, so a re-run cannot resume from weights that diverged.
    """

    priority = "LOW"

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not outputs or "loss" not in outputs:
            return
        value = float(outputs["loss"])
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"loss became {value} at iteration {runner.iter + 1}", runner.iter + 1)


# The atomic checkpoint hook lives in its own module; importing it here registers it for every
# run (this module is in each config's custom_imports; a new import there would change every
# config hash).
from harness.models import checkpoint as _checkpoint  # noqa: E402,F401
