"""The data a sweep reads: the user's --data-root, or the embedded synthetic set (made on first
use), checked before anything trains so that bad data costs seconds, not a queued job."""
from __future__ import annotations

from pathlib import Path

from harness.config.profiles import Profile
from harness.data.coco import COCO_CLASSES
from harness.data.validate import check_data_root
from harness.errors import HarnessError
from harness.paths import synthetic_data_dir


def prepare_data_root(profile: Profile, data_root: Path | None, log=print,
                      need_masks: bool = False, cache_dir: Path | None = None) -> Path:
    if data_root is None:
        if profile.needs_data_root:
            raise HarnessError(
                f"the {profile.name} profile needs COCO 2017: pass --data-root PATH (a folder with "
                "annotations/instances_{train,val}2017.json, train2017/ and val2017/)")
        from harness.data.synth import make_synthetic
        data_root = synthetic_data_dir()
        if not (data_root / "SYNTH.json").exists():
            log(f"making the synthetic data set in {data_root}")
        make_synthetic(data_root, fix=(
            "regenerate it with 'harness data synth --force', or pass --data-root "
            f"{data_root} to train on it as it is"))
    data_root = Path(data_root).expanduser().resolve()
    check_data_root(data_root, known_classes=COCO_CLASSES, need_masks=need_masks,
                    cache_dir=cache_dir)
    return data_root
