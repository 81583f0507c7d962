"""The harness's checkpoint hook on a real MMEngine Runner (a toy model, CPU, seconds): a save
that fails half-way (a full disk) leaves no partial file and keeps the previous resume point;
a NaN loss or non-finite weights never become a checkpoint; every row's config uses the hook
without changing its hash."""
from __future__ import annotations

import copy
import errno
import uuid
from pathlib import Path

import pytest
import torch
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader

from harness.models.checkpoint import AtomicCheckpointHook
from harness.models.hooks import FailOnNonFiniteLoss, NonFiniteLossError


class Toy(BaseModel):
    def __init__(self, nan_loss_at: int | None = None):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        self.nan_loss_at, self.steps = nan_loss_at, 0

    def forward(self, inputs, labels=None, mode="tensor"):
        out = self.lin(inputs)
        if mode != "loss":
            return out
        self.steps += 1
        loss = ((out - labels) ** 2).mean()
        return {"loss": loss * float("nan") if self.steps == self.nan_loss_at else loss}


def toy_runner(work: Path, max_iters: int, hook=None, lr: float = 0.01, nan_loss_at=None) -> Runner:
    data = [{"inputs": torch.tensor([float(i), 1.0]), "labels": torch.tensor([float(i)])}
            for i in range(8)]
    hook = hook or AtomicCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1)
    return Runner(model=Toy(nan_loss_at), work_dir=str(work), experiment_name=uuid.uuid4().hex,
                  train_dataloader=DataLoader(data, batch_size=2, shuffle=False),
                  optim_wrapper=dict(optimizer=dict(type="SGD", lr=lr)),
                  train_cfg=dict(by_epoch=False, max_iters=max_iters),
                  default_hooks=dict(checkpoint=hook), custom_hooks=[FailOnNonFiniteLoss()])


def leftovers(work: Path) -> list[str]:
    return sorted(p.name for p in work.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


def test_a_save_that_fails_half_way_leaves_no_partial_file_and_keeps_the_last_resume_point(
        tmp_path, monkeypatch):
    put = LocalBackend.put

    def disk_fills_at_iter_3(self, obj, filepath):
        if "iter_3" in str(filepath):
            Path(filepath).write_bytes(bytes(obj)[: len(obj) // 3])   # what a full disk leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, "put", disk_fills_at_iter_3)
    runner = toy_runner(tmp_path, max_iters=4)
    with pytest.raises(OSError) as info:
        runner.train()
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(tmp_path / "iter_3.pth")     # the checkpoint, not a temp
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["iter_2.pth"]
    assert leftovers(tmp_path) == []
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_2.pth")
    ckpt = torch.load(tmp_path / "iter_2.pth", weights_only=False)
    assert {"message_hub", "optimizer", "state_dict"} <= set(ckpt) and ckpt["meta"]["iter"] == 2


def test_a_nan_loss_at_a_checkpoint_iteration_is_never_saved(tmp_path):
    runner = toy_runner(tmp_path, max_iters=4, nan_loss_at=2)
    with pytest.raises(NonFiniteLossError, match="loss became nan at iteration 2") as info:
        runner.train()
    assert info.value.diverged_at_iteration == 2
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["iter_1.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == str(tmp_path / "iter_1.pth")


def test_non_finite_weights_are_not_saved(tmp_path):
    # An infinite step: the loss of iteration 1 is finite (computed before the update), the
    # weights it leaves are not.
    runner = toy_runner(tmp_path, max_iters=2, lr=float("inf"))
    with pytest.raises(NonFiniteLossError, match=r"weights became non-finite \(lin\.") as info:
        runner.train()
    assert info.value.diverged_at_iteration == 1
    assert list(tmp_path.glob("*.pth")) == [] and not (tmp_path / "last_checkpoint").exists()


def test_old_checkpoints_go_only_after_the_new_one_is_written(tmp_path):
    toy_runner(tmp_path, max_iters=3).train()
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["iter_3.pth"]
    assert leftovers(tmp_path) == []


def test_every_row_config_uses_the_hook_and_keeps_its_hash():
    from harness.config.profiles import get_profile
    from harness.config.resolve import config_hash, resolve_config
    from harness.paper.rows import get_row
    for profile in ("smoke", "paper"):
        cfg = resolve_config(get_row("table2.c"), get_profile(profile), Path("/data"),
                             Path("/tmp/w")).cfg
        assert cfg.default_hooks.checkpoint.type == "AtomicCheckpointHook"
        stock = copy.deepcopy(cfg)
        stock.default_hooks.checkpoint.type = "CheckpointHook"
        assert config_hash(stock) == config_hash(cfg)
        other = copy.deepcopy(cfg)
        other.default_hooks.checkpoint.interval = 7
        assert config_hash(other) != config_hash(cfg)
