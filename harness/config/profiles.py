"""Profiles: overlays applied to a row's config, never second copies of the row.

`paper` is the row as published (COCO from --data-root, ImageNet-pretrained backbone, the full
schedule). `smoke` checks the whole pipeline in about a minute on a CPU: synthetic data, random
init, small images, a handful of iterations with the paper's schedule shape."""
from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    needs_data_root: bool             # True: the user must pass --data-root
    pretrained: bool                  # False: random init (no downloads)
    img_scale: tuple[int, int] | None  # None: keep the row's (paper) input size
    max_iters: int | None             # None: the row's (paper) schedule
    images_per_gpu: int | None        # None: the row's
    num_workers: int
    log_interval: int
    is_reproduction: bool             # may its numbers be judged against the paper?
    # Region detectors only (None: the row's). A conv5 head over 512 RoIs x 1000 test
    # proposals is ~1 TFLOP per image: minutes per iteration on a CPU.
    rois_per_image: int | None = None
    proposals_per_image: tuple[int, int] | None = None   # (train, test)
    # Keep one checkpoint per run and drop its optimizer state once the run is done: a smoke
    # sweep of all rows otherwise leaves ~15 GB of checkpoints (2 per run, C5 2fc ones 800 MB).
    slim_checkpoints: bool = False
    # preflight: the paper's resolved config (schedule included, so its length is known), stopped
    # after this many iterations and tested on this many images (harness/orchestrate/preflight.py)
    stop_after_iters: int | None = None
    test_images: int | None = None


PROFILES = {
    "paper": Profile(
        name="paper", description="as published: COCO 2017 via --data-root, pretrained "
        "backbone, full schedule (GPUs)", needs_data_root=True, pretrained=True, img_scale=None,
        max_iters=None, images_per_gpu=None, num_workers=4, log_interval=50,
        is_reproduction=True),
    "smoke": Profile(
        name="smoke", description="pipeline check: synthetic data, random init, 320x256 images, "
        "8 iterations, 32 RoIs and 300/100 proposals per image (CPU)", needs_data_root=False, pretrained=False, img_scale=(320, 256),
        max_iters=8, images_per_gpu=2, num_workers=0, log_interval=1, is_reproduction=False,
        rois_per_image=32, proposals_per_image=(300, 100), slim_checkpoints=True),
    # What the paper profile costs here, before spending it: its exact model, input size,
    # proposal/RoI counts, images per GPU, weights and launcher, for a few iterations.
    "preflight": Profile(
        name="preflight", description="the paper profile's configs, weights and launcher for 4 "
        "iterations and a test on 8 images: does each row run here, and what does its full "
        "schedule cost (not judged)", needs_data_root=False, pretrained=True, img_scale=None,
        max_iters=None, images_per_gpu=None, num_workers=4, log_interval=1,
        is_reproduction=False, slim_checkpoints=True, stop_after_iters=4, test_images=8),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise HarnessError(f"unknown profile '{name}'; valid profiles: {', '.join(PROFILES)}") from None
