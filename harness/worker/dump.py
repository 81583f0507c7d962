"""The worker's proposal dump: an RPN checkpoint tested on each split with mmdet's
DumpProposals, each split's file renamed into place only when complete.

With N processes (torchrun, srun) MMEngine's DefaultSampler shards the images over the ranks and
the evaluator gathers every rank's proposals back into dataset order on rank 0, which alone
writes the file. Two things make that file byte-for-byte the one a single process writes:
  - one image per batch, so an image's features never depend on which images share its batch
    (a batch is padded to its largest image, and the padding reaches the convolutions);
  - rank 0 rewrites DumpProposals' pickle as plain {"bboxes", "scores"} float32 arrays (which
    mmdet's LoadProposals reads as it reads InstanceData), pickled without the memo: the bytes
    of InstanceData's pickle follow the per-process string hash seed (it holds Python sets),
    and pickle's memo writes an object it has seen before (a dtype, a string) as a reference,
    so proposals gathered from other ranks (unpickled: objects of their own) would pickle to
    other bytes than the same proposals made in one process.
Each process computes with the threads its launcher gives it (torchrun: one per process); an
image's proposals are the same to the last bit only with the same number of threads."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

from harness.data.coco import proposal_splits
from harness.store import atomic_file


def dump_in_worker(cfg, out_dir: Path, checkpoint: str, launcher: str = "none") -> None:
    """Test the RPN at `checkpoint` on each split; rank 0 writes out_dir/<split>.pkl."""
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    from harness.worker.distributed import setup_distributed
    setup_distributed(cfg, launcher)
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
        c.test_dataloader.batch_size = 1      # see the module doc
        ds = c.test_dataloader.dataset
        ds.ann_file = ann_rel
        ds.data_prefix = dict(img=images)
        tmp_name = f".{split}.mmdet.tmp.pkl"
        c.test_evaluator = dict(type="DumpProposals", output_dir=str(out_dir),
                                proposals_file=tmp_name, num_max_proposals=n)
        Runner.from_cfg(c).test()
        if get_rank() == 0:
            _write_plain(out_dir / tmp_name, out_dir / f"{split}.pkl")


def _write_plain(mmdet_file: Path, out: Path) -> None:
    """DumpProposals' file -> {image: {"bboxes", "scores"}} in the same image order, written
    atomically (a consumer never reads half a file)."""
    import numpy as np
    with open(mmdet_file, "rb") as f:
        raw = pickle.load(f)
    plain = {name: {"bboxes": np.ascontiguousarray(p["bboxes"], dtype="<f4"),
                    "scores": np.ascontiguousarray(p["scores"], dtype="<f4")}
             for name, p in raw.items()}
    with atomic_file(out) as tmp, open(tmp, "wb") as f:
        pickler = pickle.Pickler(f, protocol=4)
        pickler.fast = True        # no memo: the bytes follow the values only (module doc)
        pickler.dump(plain)
        f.flush()
        os.fsync(f.fileno())
    mmdet_file.unlink()
