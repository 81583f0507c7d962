"""Evaluation of every metric the harness reports, with faster-coco-eval or pycocotools.

Light on import (no mmdet, no torch): the CLI and the record builder use
  set_backend(cfg, name)   `--evaluator NAME` on a resolved config
  describe(cfg)            the record's metric_source (metric, backend and version)
The metric classes register in mmdet's METRICS when `harness.evaluation.metrics` is imported
(a run's custom_imports). See README, section Evaluation.
"""
from .backends import BACKENDS, DEFAULT_BACKEND, describe, set_backend

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "describe", "set_backend"]
