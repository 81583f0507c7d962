"""Is a `--pretrained` file an ImageNet ResNet of the right depth? Checked before any row runs.

mmengine's `Pretrained` init loads the file into the backbone with strict=False: a detector
checkpoint (keys under `backbone.`), a ResNet-101 given as resnet50, or any other state dict
only logs missing keys, and the row trains from random weights for its whole schedule. The
keys the backbone (mmdet's ResNet) and the C4 rows' conv5 head (a ResLayer, `layer4.*`) take
are torchvision's: conv1, bn1, layer1..layer4 (open-mmlab's detectron2 caffe checkpoints use
the same names)."""
from __future__ import annotations

import re
from pathlib import Path

from harness.errors import HarnessError

# Bottleneck blocks in layer3 (conv4_x): what tells ResNet-50 from ResNet-101 (He et al., Table 1)
LAYER3_BLOCKS = {"resnet50": 6, "resnet101": 23}


def _load_state(path: Path, label: str) -> dict:
    """The tensors' names without reading the tensors where torch allows it (mmap)."""
    import torch
    try:
        try:
            ckpt = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
        except RuntimeError:   # written with the legacy (non-zip) format: no mmap
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one line
        raise HarnessError(f"--pretrained {label}: not a PyTorch checkpoint "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        ckpt = ckpt["state_dict"]
    return ckpt if isinstance(ckpt, dict) else {}


def resnet_problem(keys, depth_key: str) -> str | None:
    """What is wrong with a state dict's keys as ImageNet weights for depth_key (None: fine)."""
    names = {re.sub(r"^module\.", "", str(k)) for k in keys}
    if "conv1.weight" not in names or not all(any(n.startswith(f"layer{i}.") for n in names)
                                              for i in range(1, 5)):
        sample = ", ".join(sorted(names)[:3]) or "no tensors"
        return (f"holds no ResNet weights (expected conv1.weight and layer1..layer4.* at the top "
                f"level, as torchvision's and open-mmlab's ResNet checkpoints have; found {sample}...)")
    blocks = len({m.group(1) for n in names if (m := re.match(r"layer3\.(\d+)\.", n))})
    if blocks != LAYER3_BLOCKS[depth_key]:
        other = next((k for k, b in LAYER3_BLOCKS.items() if b == blocks), f"{blocks}-block")
        return f"holds {other} weights (layer3 has {blocks} blocks), not {depth_key}"
    return None


def check_pretrained(pretrained: dict[str, str]) -> None:
    """One-line HarnessError unless every local --pretrained file is a ResNet of its depth.
    URLs are fetched by mmengine at run time and checked there."""
    for key, value in pretrained.items():
        if "://" in value:
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            raise HarnessError(f"--pretrained {key}={value}: no such file")
        problem = resnet_problem(_load_state(path, f"{key}={value}"), key)
        if problem:
            raise HarnessError(f"--pretrained {key}={value} {problem}")
