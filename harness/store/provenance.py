"""What a record needs to be checkable: code version, package versions, host."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata

from harness.paths import ROOT

PACKAGES = ("torch", "torchvision", "mmcv", "mmdet", "mmengine", "numpy", "pycocotools",
            "faster-coco-eval")


def git_state() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    commit = git("rev-parse", "HEAD")
    # Outputs (results/, data/, reports/) are ignored, so "dirty" means the code changed.
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit or "unknown", "dirty": bool(status) if status is not None else None}


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def host() -> dict:
    return {"hostname": platform.node(), "platform": platform.platform()}
