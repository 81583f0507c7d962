"""The worker's proposal dump: an RPN checkpoint tested on each split with mmdet's
DumpProposals, each split's file renamed into place only when complete."""
from __future__ import annotations

import os
from pathlib import Path

from harness.data.coco import proposal_splits


def dump_in_worker(cfg, out_dir: Path, checkpoint: str) -> None:
    """Test the RPN at `checkpoint` on each split; write out_dir/<split>.pkl."""
    from mmengine.runner import Runner
    for split, (ann_rel, images, n) in proposal_splits(Path(cfg.data_root)).items():
        c = cfg.copy()
        for key in ("train_dataloader", "train_cfg", "optim_wrapper", "param_scheduler",
                    "val_dataloader", "val_cfg", "val_evaluator"):
            c[key] = None
        c.load_from = checkpoint
        c.resume = False
        c.work_dir = str(out_dir / "work")
        c.experiment_name = f"dump_{split}"
        c.model.test_cfg.rpn.max_per_img = n
        ds = c.test_dataloader.dataset
        ds.ann_file = ann_rel
        ds.data_prefix = dict(img=images)
        tmp_name = f".{split}.{os.getpid()}.tmp.pkl"
        c.test_evaluator = dict(type="DumpProposals", output_dir=str(out_dir),
                                proposals_file=tmp_name, num_max_proposals=n)
        Runner.from_cfg(c).test()
        os.replace(out_dir / tmp_name, out_dir / f"{split}.pkl")
