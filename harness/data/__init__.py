"""Data sets for the harness, all in the COCO 2017 layout (annotations/instances_<split>.json,
<split>/<images>): a seeded synthetic set, a tiny subset of real COCO, and fast sanity checks (annotations, and every image's header)."""

from harness.data.subset import make_subset
from harness.data.synth import make_synthetic
from harness.data.validate import annotation_fingerprint, check_data_root

__all__ = ["annotation_fingerprint", "check_data_root", "make_subset", "make_synthetic"]
