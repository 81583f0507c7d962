"""Resolve a row's MMDetection config: row file + profile overlay + data root + run settings.

The result is dumped next to the run, so every record points at a self-contained config that
`mmdet`'s own tools/train.py can also run."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError
from .profiles import Profile
from .rows import Row
from .schedule import ScheduleChange, rescale

# Registered by the harness itself (hooks now, FPN variants later); imported by every run.
HARNESS_IMPORTS = ["harness.hooks", "harness.necks", "harness.ops"]


def mmdet_configs_dir() -> Path:
    """The installed mmdet's config tree (inherited by absolute path: notes §2)."""
    import importlib.util
    spec = importlib.util.find_spec("mmdet")
    if spec is None or spec.origin is None:
        raise HarnessError("mmdet is not installed in this Python; run tools/bootstrap.sh "
                           "or set FPN_REPRO_PYTHON to an environment that has it")
    path = Path(spec.origin).parent / ".mim" / "configs"
    if not path.is_dir():
        raise HarnessError(f"mmdet's configs are missing ({path}); reinstall mmdet==3.3.0")
    return path


def load_row_config(row: Row):
    import logging

    from mmengine.config import Config
    from mmengine.logging import MMLogger
    os.environ["MMDET_CONFIGS"] = str(mmdet_configs_dir())
    # mmengine announces every environment substitution at INFO: noise in the harness's output.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return Config.fromfile(str(row.config_path))
    finally:
        logger.setLevel(level)


@dataclass
class Resolved:
    cfg: object                       # mmengine Config
    schedule: ScheduleChange | None


def _dataloaders(cfg):
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if cfg.get(key) is not None:
            yield key, cfg[key]


def _evaluators(cfg):
    for key in ("val_evaluator", "test_evaluator"):
        ev = cfg.get(key)
        if ev is None:
            continue
        yield from (ev if isinstance(ev, list) else [ev])


def _transforms(pipeline):
    """Every step of a pipeline, including those nested in wrappers (ProposalBroadcaster)."""
    for step in pipeline:
        yield step
        yield from _transforms(step.get("transforms", []))


def _pipelines(cfg):
    for _, loader in _dataloaders(cfg):
        yield loader.dataset.pipeline


def apply_data_root(cfg, data_root: Path) -> None:
    root = str(data_root).rstrip("/") + "/"
    cfg.data_root = root
    for _, loader in _dataloaders(cfg):
        loader.dataset.data_root = root
    for ev in _evaluators(cfg):
        # CocoMetric does not join its ann_file with data_root: do it here.
        if ev.get("ann_file") and not os.path.isabs(ev.ann_file):
            ann = ev.ann_file
            ann = ann[ann.index("annotations/"):] if "annotations/" in ann else ann
            ev.ann_file = os.path.join(root, ann)


def apply_profile(cfg, profile: Profile, pretrained: str | None = None) -> ScheduleChange | None:
    if profile.img_scale is not None:
        for pipeline in _pipelines(cfg):
            for step in _transforms(pipeline):
                if step.get("type") == "Resize":
                    step["scale"] = tuple(profile.img_scale)
    if not profile.pretrained:
        cfg.model.backbone.init_cfg = None
    elif pretrained:
        cfg.model.backbone.init_cfg = dict(type="Pretrained", checkpoint=pretrained)
    for key, loader in _dataloaders(cfg):
        loader.num_workers = profile.num_workers
        loader.persistent_workers = profile.num_workers > 0
    cfg.default_hooks.logger.interval = profile.log_interval
    change = None
    if profile.max_iters is not None or profile.images_per_gpu is not None:
        if profile.images_per_gpu is not None:
            cfg.train_dataloader.batch_size = profile.images_per_gpu
        change = rescale(cfg, images_per_batch=cfg.train_dataloader.batch_size,
                         max_iters=profile.max_iters)
    return change


def resolve_config(row: Row, profile: Profile, data_root: Path, work_dir: Path, seed: int = 0,
                   pretrained: str | None = None) -> Resolved:
    cfg = load_row_config(row)
    change = apply_profile(cfg, profile, pretrained)
    apply_data_root(cfg, data_root)
    imports = list(cfg.get("custom_imports", {}).get("imports", []))
    cfg.custom_imports = dict(imports=imports + [m for m in HARNESS_IMPORTS if m not in imports],
                              allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [dict(type="FailOnNonFiniteLoss")]
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    return Resolved(cfg=cfg, schedule=change)


def config_hash(cfg) -> str:
    """Identity of the experiment: the resolved config minus where it runs and writes."""
    from mmengine.config import Config
    c = Config(cfg.to_dict())
    for key in ("work_dir", "data_root"):
        c.pop(key, None)
    text = c.pretty_text
    text = text.replace(str(cfg.get("data_root", "")), "<data_root>/")
    return hashlib.sha256(text.encode()).hexdigest()[:16]
