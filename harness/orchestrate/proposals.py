"""Proposals as a dependency: Table 2/3 detectors train and test on an RPN's dumped proposals.

The producer's run dir holds `proposals/{train2017,val2017}.pkl` and a manifest naming the
checkpoint (by sha256) and annotation files they came from. A dump whose checkpoint or
annotations no longer match is stale and is made again; it is never used silently. A dump runs
on the row's launcher and process count like its training (under SLURM: as its own job, see
harness/orchestrate/slurm_sweep.py), and the manifest says which."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.data.validate import annotation_fingerprint
from harness.errors import HarnessError
from harness.orchestrate.launch import Launch, command
from harness.orchestrate.options import now
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


def check(store: Store, producer_id: str, profile: str, seed: int, data_root: Path,
          verify: bool = True) -> ProposalState:
    """Are the producer's dumped proposals usable for data_root as they stand? verify=False skips
    hashing the files and annotations (gigabytes on COCO): what a SLURM submission asks to
    decide whether a dump job is needed; the consumer's job then verifies."""
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
        same = (entry.get("annotations_sha256_16") == annotation_fingerprint(ann) if verify
                else entry.get("annotations") == str(ann))
        if not same:
            return ProposalState("stale", f"{path} was dumped for other annotations than {ann}", {})
        if verify and entry.get("sha256") != file_sha256(path):
            return ProposalState("stale", f"{path} changed after it was dumped", {})
        files[split] = str(path)
    return ProposalState("fresh", "up to date", files, ckpt)


def dump(store: Store, producer_id: str, profile: str, seed: int, data_root: Path,
         launch: Launch, follow, log=print) -> ProposalState:
    """Run the producer's checkpoint over train and val, on `launch` (the row's launcher and
    process count, as its training ran), and write the proposals and their manifest atomically.
    follow(cmd, log_path, label) runs the worker command and returns its exit code."""
    rec = store.get(producer_id, profile, seed)
    assert rec is not None and rec.get("status") == "done"
    ckpt = rec.get("checkpoint")
    if not ckpt or not Path(ckpt).exists():
        raise HarnessError(f"{producer_id}'s checkpoint {ckpt} is missing; run it again with "
                           f"'harness run {producer_id} --profile {profile} --force'")
    run = store.run(producer_id, profile, seed)
    folder = run.proposals
    folder.mkdir(parents=True, exist_ok=True)
    cmd = command(run.path, launch, ["--dump-proposals", str(folder), "--checkpoint", ckpt,
                                     "--data-root", str(data_root)])
    log(f"{producer_id} [{profile}]: dumping proposals (train {SPLIT_PROPOSALS['train2017']}, "
        f"val {SPLIT_PROPOSALS['val2017']} per image) from {Path(ckpt).name} "
        f"({launch.launcher} x{launch.processes})")
    rc = follow(cmd, run.dump_log, f"{producer_id} [{profile}] dump")
    wanted = splits(data_root)
    missing = [s for s in wanted if not (folder / f"{s}.pkl").exists()]
    if rc != 0 or missing:
        raise HarnessError(f"dumping {producer_id}'s proposals failed (exit code {rc}); "
                           f"see {run.dump_log}")
    entries = {}
    for split, (ann_rel, _, n) in wanted.items():
        ann = Path(data_root) / ann_rel
        entries[split] = {"file": f"{split}.pkl", "max_per_image": n,
                          "sha256": file_sha256(folder / f"{split}.pkl"),
                          "annotations": str(ann), "annotations_sha256_16": annotation_fingerprint(ann)}
    job = os.environ.get("SLURM_JOB_ID") if launch.inside_job else None
    write_json_atomic(folder / MANIFEST, {"producer": producer_id, "profile": profile, "seed": seed,
                                          "checkpoint": ckpt,
                                          "checkpoint_sha256": rec.get("checkpoint_sha256"),
                                          "launcher": launch.launcher, "processes": launch.processes,
                                          "slurm_job": job, "dumped_at": now(), "splits": entries})
    state = check(store, producer_id, profile, seed, data_root)
    assert state.status == "fresh", state
    return state
