"""The harness's checkpoint hook: MMEngine's CheckpointHook, made safe to resume from.

MMEngine's hook writes `iter_N.pth` straight to its final name (a full disk leaves half a file
that a re-run then fails to resume from), deletes the oldest kept checkpoint *before* the new one
is written (a failed save then leaves no resume point at all), writes `last_checkpoint` in place,
and saves whatever the weights are (NaN included). This one, for local work dirs:

- refuses to save weights that are not finite (the run fails as diverged, see hooks.py);
- writes the checkpoint to a temp name in the same folder and renames it into place;
- then points `last_checkpoint` at it (atomically), and only then removes the checkpoints that
  `max_keep_ckpts` drops.

So every checkpoint on disk is complete, `last_checkpoint` always names one that exists, and a
failure (e.g. ENOSPC) is raised as an OSError naming the checkpoint it could not write. Other
backends (object stores) keep MMEngine's behaviour.

resolve.py puts it in every config as default_hooks.checkpoint; the config hash treats it as the
CheckpointHook it replaces (how a checkpoint is written is not part of the experiment)."""
from __future__ import annotations

import os
from pathlib import Path

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from harness.models.hooks import NonFiniteLossError
from harness.store.atomic import TEMP_PREFIX, TEMP_SUFFIX, write_text_atomic
from harness.store.fs import renamed


def non_finite_tensor(model) -> str | None:
    """The name of the first floating-point weight or buffer holding NaN/inf, or None."""
    import torch
    module = model.module if is_model_wrapper(model) else model
    for name, value in module.state_dict().items():
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            return name
    return None


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        # Every rank checks (DDP keeps the weights identical), so all of them stop together.
        bad = non_finite_tensor(runner.model)
        if bad is not None:
            raise NonFiniteLossError(
                f"weights became non-finite ({bad}) at iteration {runner.iter + 1}; not saved as "
                "a checkpoint", runner.iter + 1)
        dropped = self._keep(runner, step)
        filename = self.filename_tmpl.format(step)
        final = Path(self.out_dir) / filename
        self.last_ckpt = str(final)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        if not is_main_process():
            return    # runner.save_checkpoint is rank 0's alone (master_only)
        tmp = final.with_name(f"{TEMP_PREFIX}{filename}.{os.getpid()}{TEMP_SUFFIX}")
        try:
            runner.save_checkpoint(
                self.out_dir, tmp.name, self.file_client_args, save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                backend_args=self.backend_args, **self.args)
            os.replace(tmp, final)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise renamed(exc, final) from exc
            raise
        write_text_atomic(Path(runner.work_dir) / "last_checkpoint", str(final))
        for old in dropped:
            (Path(self.out_dir) / self.filename_tmpl.format(old)).unlink(missing_ok=True)

    def _keep(self, runner, step) -> list:
        """MMEngine's max_keep_ckpts book-keeping (the message hub, saved in the checkpoint,
        carries it across a resume), but returning the steps to delete instead of deleting
        them: they go only once the new checkpoint is safely on disk."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return []
        dropped = []
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            dropped.append(self.keep_ckpt_ids.popleft())
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        return dropped if is_main_process() else []
