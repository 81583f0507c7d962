"""Proposals as a dependency: Table 2/3 detectors train and test on an RPN's dumped proposals.

The producer's run dir holds `proposals/{train2017,val2017}.pkl` and a manifest naming the
checkpoint (by sha256) and annotation files they came from. A dump whose checkpoint or
annotations no longer match is stale and is made again; it is never used silently."""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.data.validate import annotation_fingerprint
from harness.errors import HarnessError
from harness.data.coco import proposal_splits as splits
from harness.paper.constants import PROPOSALS_PER_IMAGE as SPLIT_PROPOSALS
from harness.store import Store, write_json_atomic
MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ProposalState:
    status: str            # "fresh", "stale" or "missing"
    reason: str
    files: dict[str, str]  # split -> pkl path (when fresh)
    checkpoint_sha256: str | None = None


def proposals_dir(store: Store, producer_id: str, profile: str, seed: int) -> Path:
    return store.run(producer_id, profile, seed).proposals


def check(store: Store, producer_id: str, profile: str, seed: int, data_root: Path) -> ProposalState:
    """Are the producer's dumped proposals usable for data_root as they stand?"""
    rec = store.get(producer_id, profile, seed)
    if rec is None or rec.get("status") != "done":
        return ProposalState("missing", f"{producer_id} has no finished {profile} run", {})
    folder = proposals_dir(store, producer_id, profile, seed)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return ProposalState("missing", f"{producer_id}'s proposals were never dumped", {})
    ckpt = rec.get("checkpoint_sha256")
    if manifest.get("checkpoint_sha256") != ckpt:
        return ProposalState("stale", f"{producer_id}'s checkpoint changed since its proposals "
                             "were dumped", {})
    files = {}
    for split, (ann_rel, _, _) in splits(data_root).items():
        entry = manifest.get("splits", {}).get(split, {})
        path = folder / f"{split}.pkl"
        if not path.exists():
            return ProposalState("missing", f"{path} is missing", {})
        ann = Path(data_root) / ann_rel
        if entry.get("annotations_sha256_16") != annotation_fingerprint(ann):
            return ProposalState("stale", f"{path} was dumped for other annotations than {ann}", {})
        if entry.get("sha256") != file_sha256(path):
            return ProposalState("stale", f"{path} changed after it was dumped", {})
        files[split] = str(path)
    return ProposalState("fresh", "up to date", files, ckpt)


def dump(store: Store, producer_id: str, profile: str, seed: int, data_root: Path,
         launch, log=print) -> ProposalState:
    """Run the producer's checkpoint over train and val and write the proposals atomically."""
    rec = store.get(producer_id, profile, seed)
    assert rec is not None and rec.get("status") == "done"
    ckpt = rec.get("checkpoint")
    if not ckpt or not Path(ckpt).exists():
        raise HarnessError(f"{producer_id}'s checkpoint {ckpt} is missing; run it again with "
                           f"'harness run {producer_id} --profile {profile} --force'")
    folder = proposals_dir(store, producer_id, profile, seed)
    folder.mkdir(parents=True, exist_ok=True)
    run_dir = store.run_dir(producer_id, profile, seed)
    cmd = [sys.executable, "-m", "harness.worker", str(run_dir), "--dump-proposals", str(folder),
           "--checkpoint", ckpt]
    log(f"{producer_id} [{profile}]: dumping proposals (train {SPLIT_PROPOSALS['train2017']}, "
        f"val {SPLIT_PROPOSALS['val2017']} per image) from {Path(ckpt).name}")
    rc = launch(cmd, folder / "dump.log", f"{producer_id} [{profile}] dump")
    wanted = splits(data_root)
    missing = [s for s in wanted if not (folder / f"{s}.pkl").exists()]
    if rc != 0 or missing:
        raise HarnessError(f"dumping {producer_id}'s proposals failed (exit code {rc}); "
                           f"see {folder / 'dump.log'}")
    entries = {}
    for split, (ann_rel, _, n) in wanted.items():
        ann = Path(data_root) / ann_rel
        entries[split] = {"file": f"{split}.pkl", "max_per_image": n,
                          "sha256": file_sha256(folder / f"{split}.pkl"),
                          "annotations": str(ann), "annotations_sha256_16": annotation_fingerprint(ann)}
    write_json_atomic(folder / MANIFEST, {"producer": producer_id, "profile": profile, "seed": seed,
                                          "checkpoint": ckpt,
                                          "checkpoint_sha256": rec.get("checkpoint_sha256"),
                                          "splits": entries})
    state = check(store, producer_id, profile, seed, data_root)
    assert state.status == "fresh", state
    return state
