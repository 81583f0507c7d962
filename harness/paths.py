"""Where things live. Every default can be moved with an environment variable so tests and
cluster users can keep results and data outside the checkout."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAPER_CONFIGS = ROOT / "paper_configs"
PUBLISHED = PAPER_CONFIGS / "published.yaml"


def results_dir() -> Path:
    return Path(os.environ.get("FPN_REPRO_RESULTS", ROOT / "results"))


def reports_dir() -> Path:
    return Path(os.environ.get("FPN_REPRO_REPORTS", ROOT / "reports"))


def synthetic_data_dir() -> Path:
    """The embedded default data set that the smoke profile uses (made by `harness data synth`)."""
    return Path(os.environ.get("FPN_REPRO_SYNTH_DATA", ROOT / "data" / "synth"))


def cache_dir() -> Path:
    """Facts derived from input files and keyed by their content (annotation counts by the
    file's fingerprint): shared by every store and checkout, safe to delete."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fpn-repro"
    return Path(os.environ.get("FPN_REPRO_CACHE", default))
