"""Table 6's training split, chosen when a row's config is resolved against a data root.

Table 6 says "All models are trained on the train set": COCO 2014 train (~80k images), not the
trainval35k of Tables 1-5 (~ COCO 2017 train, 118k). A row config that knows the paper's split
names it as `paper_train_split = dict(ann_file=..., img=...)` (relative to the data root) and
declares the fallback as `paper_deviations['training split']`. When the data root holds both the
annotation file and the image folder, `apply_paper_train_split` points the train dataloader at
them and withdraws that declaration; otherwise the config keeps train2017 and the declared
deviation, which `harness audit` and the report's Table 6 footnote show.

harness/config/resolve.py's resolve_config calls it right after the data root is applied.
Deciding here, not in the row config, keeps one config per row whatever the data root: the
resolved config (dumped beside each run, and hashed) records which split the run used.
"""
from __future__ import annotations

from pathlib import Path

SPLIT_SETTING = "training split"   # the `harness audit` setting the fallback is declared under


def paper_split_available(split: dict, data_root: Path) -> bool:
    root = Path(data_root)
    return (root / split["ann_file"]).is_file() and (root / split["img"]).is_dir()


def apply_paper_train_split(cfg, data_root: Path) -> bool:
    """Train on the config's `paper_train_split` when data_root has it; True if switched.

    Rows without `paper_train_split` (Tables 1-5) are left alone."""
    split = cfg.get("paper_train_split")
    if not split or cfg.get("train_dataloader") is None:
        return False
    if not paper_split_available(split, data_root):
        return False
    ds = cfg.train_dataloader.dataset
    ds.ann_file = split["ann_file"]
    ds.data_prefix = dict(img=split["img"])
    deviations = cfg.get("paper_deviations")
    if deviations and SPLIT_SETTING in deviations:
        deviations[SPLIT_SETTING] = None   # None: no longer a deviation (paper_configs/README.md)
    return True
