"""Which COCO API computes the numbers: faster-coco-eval (default) or pycocotools.

Both expose the same `COCO` and `COCOeval` classes; faster-coco-eval's matching and accumulation
are C++ (pycocotools' `evaluateImg` is pure Python, minutes per test at 1000 proposals per image).
The harness's metrics (harness/evaluation/metrics.py, segm.py) run one procedure on either, so a
backend is one config key: `backend='faster_coco_eval' | 'pycocotools'` on the metric. This module
imports neither mmdet nor torch: the CLI and the record builder use `set_backend` and `describe`.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from importlib import metadata

from harness.errors import HarnessError

BACKENDS = ("faster_coco_eval", "pycocotools")
DEFAULT_BACKEND = "faster_coco_eval"
# distribution name of each backend (for its version)
DISTRIBUTION = {"faster_coco_eval": "faster-coco-eval", "pycocotools": "pycocotools"}
# Metric types that take a `backend` key: every metric the harness reports.
METRIC_TYPES = ("HarnessCocoMetric", "SegmentProposalMetric")
# The module that registers them, imported by every run's worker (harness/config/resolve.py).
METRICS_MODULE = "harness.evaluation.metrics"
# How a metric computes, not what: keys the config hash leaves out (see hashed_evaluator).
COMPUTE_KEYS = ("backend", "chunk_images")


@dataclass(frozen=True)
class Api:
    name: str
    version: str
    COCO: type
    COCOeval: type

    def load(self, ann_file: str):
        """The ground truth; pycocotools prints progress to stdout, kept out of the log."""
        with contextlib.redirect_stdout(io.StringIO()):
            return self.COCO(ann_file)

    def results(self, gt, anns: list[dict]):
        """A result COCO object for `anns` (with id, area, iscrowd and, for boxes, bbox), as
        `gt.loadRes(anns)` builds it; loadRes would recompute every mask's area and box one call
        at a time, and neither is needed again (segm IoU uses the masks, area ranges the area)."""
        with contextlib.redirect_stdout(io.StringIO()):
            res = self.COCO()
            res.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"],
                           "annotations": anns}
            res.createIndex()
        return res

    def evaluator(self, gt, dt, iou_type: str):
        if self.name == "faster_coco_eval":
            return self.COCOeval(gt, dt, iou_type, print_function=lambda *a, **k: None)
        return self.COCOeval(gt, dt, iou_type)


def check_name(name: str) -> str:
    if name not in BACKENDS:
        raise HarnessError(f"unknown evaluation backend '{name}'; use one of: {', '.join(BACKENDS)}")
    return name


def backend_version(name: str) -> str | None:
    try:
        return metadata.version(DISTRIBUTION[check_name(name)])
    except metadata.PackageNotFoundError:
        return None


def get_api(name: str) -> Api:
    """The backend's classes; a clear error when it is not installed."""
    version = backend_version(name)
    if version is None:
        raise HarnessError(f"evaluation backend '{name}' is not installed: pip install "
                           f"{DISTRIBUTION[name]} (pinned in requirements/runtime.txt), or choose "
                           f"another with --evaluator ({', '.join(BACKENDS)})")
    if name == "faster_coco_eval":
        from faster_coco_eval import COCO, COCOeval_faster
        return Api(name, version, COCO, COCOeval_faster)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return Api(name, version, COCO, COCOeval)


def evaluators(cfg):
    """Every evaluator config of a config (val and test; each a dict or a list of dicts)."""
    for key in ("val_evaluator", "test_evaluator"):
        ev = cfg.get(key)
        if ev is not None:
            yield from (ev if isinstance(ev, list) else [ev])


def set_backend(cfg, name: str) -> None:
    """`--evaluator NAME`: every harness metric of the config computes with backend NAME."""
    check_name(name)
    for ev in evaluators(cfg):
        if ev.get("type") in METRIC_TYPES:
            ev["backend"] = name


def hashed_evaluator(ev) -> None:
    """An evaluator as the config hash sees it (in place, on the hash's copy of the config).

    The backend and the AR chunk size change how a number is computed, never the number (the
    parity suite, tests/unit/test_evaluation.py and tests/component/test_eval_parity.py, holds
    both backends to the same values), so they are not the experiment: a run evaluated with
    either hashes the same, and records and resumable runs made before these metrics existed,
    with mmdet's CocoMetric, keep their hash (HarnessCocoMetric hashes as the CocoMetric it
    replaced; tests/component/test_config_hash.py)."""
    if ev.get("type") not in METRIC_TYPES:
        return
    for key in COMPUTE_KEYS:
        ev.pop(key, None)
    if ev.get("type") == "HarnessCocoMetric":
        ev["type"] = "CocoMetric"


def describe(cfg) -> str:
    """The record's `metric_source`: the test metric and the COCO API (with version) behind it,
    e.g. 'HarnessCocoMetric (faster-coco-eval 1.8.0 COCOeval_faster)'."""
    ev = cfg.get("test_evaluator")
    evs = ev if isinstance(ev, list) else [ev] if ev else []
    parts = []
    for e in evs:
        kind = e.get("type")
        if kind in METRIC_TYPES:
            name = check_name(e.get("backend", DEFAULT_BACKEND))
            engine = "COCOeval_faster" if name == "faster_coco_eval" else "COCOeval"
            parts.append(f"{kind} ({DISTRIBUTION[name]} {backend_version(name) or 'not installed'} "
                         f"{engine})")
        else:  # mmdet's own metrics (CocoMetric) use pycocotools
            parts.append(f"MMDetection {kind} (pycocotools {backend_version('pycocotools')} COCOeval)")
    return "; ".join(parts) or "none"
