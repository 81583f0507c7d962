"""Resolve a row's MMDetection config: row file + profile overlay + data root + run settings.

The result is dumped next to the run, so every record points at a self-contained config that
`mmdet`'s own tools/train.py can also run."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.evaluation.backends import METRICS_MODULE, evaluators, hashed_evaluator
from harness.config.profiles import Profile
from harness.paper.rows import Row
from harness.config.table6_split import apply_paper_train_split
from harness.config.schedule import (ScheduleChange, fit_deviation, fit_to_batch, rescale,
                                     schedule_ran)

# The harness's MMDetection plugins (harness/models/) and metrics (harness/evaluation/), imported
# by every run's worker.
HARNESS_IMPORTS = ["harness.models.hooks", "harness.models.necks", "harness.models.roi_pool",
                   METRICS_MODULE]
# Stable ids of those plugins as the config hash sees them: modules may move (they did, from
# harness/necks.py to harness/models/necks.py) without changing a row's hash, so records and
# resumable runs made before a move stay valid (tests/component/test_config_hash.py).
PLUGIN_IDS = {"harness.models.hooks": "harness.hooks", "harness.models.necks": "harness.necks",
              "harness.models.roi_pool": "harness.ops",
              "harness.models.segment": "harness.mask_proposals"}


def mmdet_configs_dir() -> Path:
    """The installed mmdet's config tree. Row configs inherit its files by absolute path
    (`{{$MMDET_CONFIGS:}}/...`): mmengine resolves the `mmdet::` scope through pkg_resources,
    which is deprecated and absent from setuptools >= 81 environments."""
    import importlib.util
    spec = importlib.util.find_spec("mmdet")
    if spec is None or spec.origin is None:
        raise HarnessError("mmdet is not installed in this Python; run tools/bootstrap.sh "
                           "or set FPN_REPRO_PYTHON to an environment that has it")
    path = Path(spec.origin).parent / ".mim" / "configs"
    if not path.is_dir():
        raise HarnessError(f"mmdet's configs are missing ({path}); reinstall mmdet==3.3.0")
    return path


def load_config(path: Path):
    """A config file as written (bases inherited, mmdet's included), parsed but never built: no
    torch import, so `harness list`, `audit`, the report and the dry-run stay fast."""
    import mmengine.config.config as mmengine_config
    from mmengine.config import Config
    os.environ["MMDET_CONFIGS"] = str(mmdet_configs_dir())
    # mmengine announces every environment substitution through MMLogger at INFO, and the first
    # MMLogger imports torch (to ask for the distributed rank): seconds of start-up for a line
    # of noise. Only that announcement is dropped, while the config is read.
    announce = mmengine_config.print_log
    mmengine_config.print_log = lambda msg, logger=None, level=logging.INFO: \
        None if level <= logging.INFO else announce(msg, logger, level)
    try:
        # the plugins in custom_imports are the worker's to import (they import torch)
        return Config.fromfile(str(path), import_custom_modules=False)
    finally:
        mmengine_config.print_log = announce


def load_row_config(row: Row):
    return load_config(row.config_path)


@dataclass
class Resolved:
    cfg: object                       # mmengine Config
    schedule: ScheduleChange | None
    deviations: list[str]             # one line each: how this run departs from the paper's setup
    fitted: bool = False              # the row's schedule was fitted to fewer images per step
    published_weights: list[str] = field(default_factory=list)  # the row config's ImageNet checkpoints
    before_options: object = None     # the config before --cfg-options (None: there were none)

    def ran(self, images_per_step: int) -> tuple[dict | None, list[str]]:
        """The schedule and deviation lines of `cfg` as it stands now, after --cfg-options: the
        record states what ran, never what the fitting projected before the options."""
        if (self.cfg.get("harness") or {}).get("test_only"):
            return None, []    # a merged model (Table 5) is tested only: it trains nothing
        deviations = [fit_deviation(self.cfg, images_per_step)] if self.fitted else []
        return schedule_ran(self.cfg, images_per_step), deviations


def _dataloaders(cfg):
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        if cfg.get(key) is not None:
            yield key, cfg[key]


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
    for ev in evaluators(cfg):
        # CocoMetric does not join its ann_file with data_root: do it here.
        if ev.get("ann_file") and not os.path.isabs(ev.ann_file):
            ann = ev.ann_file
            ann = ann[ann.index("annotations/"):] if "annotations/" in ann else ann
            ev.ann_file = os.path.join(root, ann)


def _pretrained_modules(node):
    """Every sub-config of the model that loads a pretrained checkpoint."""
    if isinstance(node, dict):
        init = node.get("init_cfg")
        if isinstance(init, dict) and init.get("type") == "Pretrained":
            yield node
        for value in node.values():
            yield from _pretrained_modules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _pretrained_modules(value)


def _per_split(cfg, train_test: tuple[int, int]):
    """(train, test) values aligned with _dataloaders(cfg)."""
    for key, _ in _dataloaders(cfg):
        yield train_test[0] if key == "train_dataloader" else train_test[1]


# --pretrained KEY=PATH: which ImageNet checkpoint a PATH replaces, by the name in the config's
# init_cfg (open-mmlab://detectron2/resnet50_caffe, .../resnet101_caffe). A bare PATH is ResNet-50.
PRETRAINED_KEYS = ("resnet50", "resnet101")


def parse_pretrained(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, path = value.partition("=")
        if not sep or "/" in key:            # a bare path (which may itself contain '=')
            key, path = "resnet50", value
        if key not in PRETRAINED_KEYS:
            raise HarnessError(f"--pretrained {value}: unknown backbone '{key}'; use "
                               f"{' or '.join(k + '=PATH' for k in PRETRAINED_KEYS)} (bare PATH = resnet50)")
        out[key] = path
    return out


def _pretrained_key(checkpoint: str) -> str | None:
    name = str(checkpoint).rsplit("/", 1)[-1]
    return next((k for k in sorted(PRETRAINED_KEYS, key=len, reverse=True) if k in name), None)


def apply_profile(cfg, profile: Profile, pretrained: dict[str, str] | None = None,
                  processes: int = 1) -> ScheduleChange | None:
    if profile.img_scale is not None:
        for pipeline in _pipelines(cfg):
            for step in _transforms(pipeline):
                if step.get("type") == "Resize":
                    step["scale"] = tuple(profile.img_scale)
    for module in _pretrained_modules(cfg.model):
        # Random init in smoke (nothing to download); --pretrained replaces every ImageNet
        # checkpoint (the backbone's, and the C4 rows' conv5 head, initialised from the same model).
        if not profile.pretrained:
            module.init_cfg = None
        elif pretrained and (key := _pretrained_key(module.init_cfg.checkpoint)) in pretrained:
            # only the matching depth: R-50 weights never go into an R-101 row (or vice versa)
            module.init_cfg = dict(type="Pretrained", checkpoint=pretrained[key])
    rcnn = cfg.model.get("train_cfg", {}).get("rcnn")
    if profile.rois_per_image is not None and rcnn is not None:
        rcnn.sampler.num = profile.rois_per_image
    if profile.proposals_per_image is not None:
        for (key, loader), n in zip(_dataloaders(cfg), _per_split(cfg, profile.proposals_per_image)):
            for step in loader.dataset.pipeline:
                if step.get("type") == "LoadProposals":
                    step["num_max_proposals"] = n
    for key, loader in _dataloaders(cfg):
        loader.num_workers = profile.num_workers
        loader.persistent_workers = profile.num_workers > 0
    cfg.default_hooks.logger.interval = profile.log_interval
    change = None
    if profile.max_iters is not None or profile.images_per_gpu is not None:
        if profile.images_per_gpu is not None:
            cfg.train_dataloader.batch_size = profile.images_per_gpu
        change = rescale(cfg, images_per_batch=cfg.train_dataloader.batch_size * processes,
                         max_iters=profile.max_iters)
        if profile.max_iters is not None:  # keep a mid-run checkpoint: resume must be testable
            cfg.default_hooks.checkpoint.interval = max(1, profile.max_iters // 2)
    if profile.slim_checkpoints:
        cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    return change


def resolve_config(row: Row, profile: Profile, data_root: Path, work_dir: Path, seed: int = 0,
                   pretrained: dict[str, str] | None = None, processes: int = 1) -> Resolved:
    cfg = load_row_config(row)
    published = sorted({m.init_cfg.checkpoint for m in _pretrained_modules(cfg.model)})
    change = apply_profile(cfg, profile, pretrained, processes)
    deviations, fitted = [], False
    if change is None:  # the row's own schedule: fit it to this run's images per step
        change, deviation = fit_to_batch(cfg, cfg.train_dataloader.batch_size * processes)
        deviations += [deviation] if deviation else []
        fitted = deviation is not None
    if profile.stop_after_iters is not None:
        stop_early(cfg, profile.stop_after_iters)
    apply_data_root(cfg, data_root)
    apply_paper_train_split(cfg, data_root)   # Table 6: train2014 where the data root has it
    imports = list(cfg.get("custom_imports", {}).get("imports", []))
    cfg.custom_imports = dict(imports=imports + [m for m in HARNESS_IMPORTS if m not in imports],
                              allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.get("custom_hooks", [])) + [dict(type="FailOnNonFiniteLoss")]
    _atomic_checkpoints(cfg)
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    return Resolved(cfg=cfg, schedule=change, deviations=deviations, fitted=fitted,
                    published_weights=published)


# harness/models/checkpoint.py: complete-or-absent checkpoints, never non-finite ones.
ATOMIC_CHECKPOINT_HOOK = "AtomicCheckpointHook"


def _atomic_checkpoints(cfg) -> None:
    ckpt = (cfg.get("default_hooks") or {}).get("checkpoint")
    if ckpt is not None and ckpt.get("type") == "CheckpointHook":
        ckpt.type = ATOMIC_CHECKPOINT_HOOK


# The harness's own keys in a resolved config live under `cfg.harness` (what the orchestrator
# adds: the proposals' and init checkpoints by sha256, the merge, test-only). The hash sees them
# under the top-level names they had before the namespace existed, in the order they were set.
HARNESS_KEYS = {"proposals_checkpoint_sha256": "proposals_checkpoint_sha256",
                "init_from": "init_from", "merged_from": "merged_from",
                "test_only": "harness_test_only"}


def harness_keys(cfg):
    """cfg.harness, made on first use."""
    if cfg.get("harness") is None:
        cfg.harness = dict()
    return cfg.harness


def declared_deviations(cfg) -> dict[str, str]:
    """The config's `paper_deviations` (setting -> reason), as mmengine merged them over its
    bases, less those a child row withdrew with None."""
    return {k: str(v) for k, v in (cfg.get("paper_deviations") or {}).items() if v is not None}


def stop_early(cfg, iters: int) -> None:
    """Preflight: the run's resolved schedule, stopped after `iters` iterations. Its full length
    stays in the config (`cfg.harness.preflight`), for the worker to report and the orchestrator to
    price; the LR schedule is left as resolved (a few warm-up iterations of the real run)."""
    harness_keys(cfg).preflight = dict(full_max_iters=int(cfg.train_cfg.max_iters),
                                       iterations=int(iters))
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = int(iters)
    if cfg.default_hooks.get("checkpoint") is not None:
        cfg.default_hooks.checkpoint.interval = int(iters)


def config_hash(cfg) -> str:
    """Identity of the experiment: the resolved config minus where it runs and writes."""
    from mmengine.config import Config
    d = cfg.to_dict()
    own = d.pop("harness", None) or {}
    d.update({HARNESS_KEYS.get(k, k): own[k] for k in [*HARNESS_KEYS, *own] if k in own})
    c = Config(d)
    # load_from is a path in the store; the checkpoint's sha256 (init_from / merged_from) is what
    # identifies it.
    for key in ("work_dir", "data_root", "load_from"):
        c.pop(key, None)
    # Proposal files live in the store, which may move (scratch -> project space); the
    # producer's checkpoint sha256 (harness.proposals_checkpoint_sha256) and the data identify
    # them, so only the file's name is hashed.
    datasets = [(c.get(k) or {}).get("dataset") for k in
                ("train_dataloader", "val_dataloader", "test_dataloader")]
    for holder in [*datasets, c.get("test_dev")]:
        if holder and holder.get("proposal_file"):
            holder.proposal_file = Path(holder.proposal_file).name
    # How a checkpoint is written is not the experiment: the atomic hook hashes as the
    # CheckpointHook it replaces, so records and resumable runs made before it stay valid.
    ckpt = (c.get("default_hooks") or {}).get("checkpoint")
    if ckpt is not None and ckpt.get("type") == ATOMIC_CHECKPOINT_HOOK:
        ckpt.type = "CheckpointHook"
    if c.get("custom_imports"):
        # the metrics module computes what mmdet's CocoMetric computed before it existed
        c.custom_imports.imports = [PLUGIN_IDS.get(m, m) for m in c.custom_imports.imports
                                    if m != METRICS_MODULE]
    for ev in evaluators(c):       # which COCO API computes a metric is not the experiment
        hashed_evaluator(ev)
    text = c.pretty_text
    text = text.replace(str(cfg.get("data_root", "")), "<data_root>/")
    return hashlib.sha256(text.encode()).hexdigest()[:16]
