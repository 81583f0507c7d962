"""Table 5's 4-step training (Ren et al. [29], Sec. 3.2 there), the parts MMDetection lacks.

Steps 1-2 are ordinary rows (RPN; Fast R-CNN on its proposals). Steps 3-4 are rows that start
from step 2's checkpoint (`init_from`) with backbone and FPN frozen by their configs. The last
row builds one Faster R-CNN from them (`merge`): backbone + FPN + RoI head of step 4 and the RPN
head of step 3, which shares exactly those layers because neither step changed them. Only then
is it tested, once."""
from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.store import Store
from harness.store.atomic import save_torch_atomic

SHARED = ("backbone.", "neck.")
# part of a merge -> {prefix in its checkpoint: prefix in the Faster R-CNN}. mmdet's RPN detector
# keeps its head as `bbox_head`; FasterRCNN calls the same head `rpn_head`.
PARTS = {"rpn": {"bbox_head.": "rpn_head."},
         "detector": {"backbone.": "backbone.", "neck.": "neck.", "roi_head.": "roi_head."}}


def producer_checkpoint(store: Store, row_id: str, profile: str, seed: int) -> tuple[str, str]:
    """(path, sha256) of a finished row's final checkpoint, or a one-line HarnessError."""
    rec = store.get(row_id, profile, seed)
    if rec is None or rec.get("status") != "done":
        raise HarnessError(f"{row_id} has no finished {profile} run (seed {seed}) to start from; "
                           f"run 'harness run {row_id} --profile {profile}' first")
    ckpt = rec.get("checkpoint")
    if not ckpt or not Path(ckpt).exists():
        raise HarnessError(f"{row_id}'s checkpoint {ckpt} is missing; run it again with "
                           f"'harness run {row_id} --profile {profile} --force'")
    return ckpt, rec["checkpoint_sha256"]


def _state(path: str) -> dict:
    import torch
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return ckpt.get("state_dict", ckpt)


def shared_differences(a: dict, b: dict) -> list[str]:
    """Shared-layer tensors that differ between two state dicts (or exist in one only)."""
    import torch
    keys = {k for k in (*a, *b) if k.startswith(SHARED)}
    return sorted(k for k in keys if k not in a or k not in b or not torch.equal(a[k], b[k]))


def merge_checkpoints(sources: dict[str, str], out: Path) -> Path:
    """Write the Faster R-CNN checkpoint of the 4-step training from sources {"rpn": step-3
    checkpoint, "detector": step-4 checkpoint}; refuse if they do not share backbone + FPN."""
    if set(sources) != set(PARTS):
        raise HarnessError(f"published.yaml: a merge needs exactly {sorted(PARTS)}, got {sorted(sources)}")
    states = {part: _state(path) for part, path in sources.items()}
    diff = shared_differences(states["rpn"], states["detector"])
    if diff:
        raise HarnessError(
            f"the RPN ({sources['rpn']}) and the detector ({sources['detector']}) do not share "
            f"their backbone and FPN ({len(diff)} tensors differ, e.g. {diff[0]}); steps 3 and 4 "
            "must both start from the same step-2 model and keep those layers frozen")
    merged = {}
    for part, renames in PARTS.items():
        for old, new in renames.items():
            taken = {new + k[len(old):]: v for k, v in states[part].items() if k.startswith(old)}
            if not taken:
                raise HarnessError(f"{sources[part]} has no '{old}*' weights: it is not the "
                                   f"{part} step of a 4-step training")
            merged.update(taken)
    save_torch_atomic({"state_dict": merged, "meta": {"merged_from": dict(sources)}}, out)
    return Path(out)
