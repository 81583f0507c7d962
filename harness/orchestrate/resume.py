"""Continue an unfinished run, start it over, or refuse: what a re-run (without --force) does
with what an earlier attempt left in the run directory.

- A checkpoint of the same config that MMEngine can resume from (it has the message hub and the
  optimizer state) is continued, as long as the attempt did not finish (a finished run's
  checkpoint is final, and in smoke slimmed to weights only) and did not diverge.
- A corrupt record, a finished or unreadable checkpoint, another config: start over; the old
  directory goes to results/archive/.
- An attempt of the same config that diverged (a NaN/inf loss or weights): refused, one line
  pointing at --force. The same config would diverge again; the checkpoints it kept are from
  before the divergence (harness/models/hooks.py, checkpoint.py), but resuming them repeats it.

`resume_point` is the torch-free half that `harness status` shares; `archive_run` moves a run
that is started over (or forced) to results/archive/."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.store import BadRecord, RunDir, Store, WorkerOutcome


@dataclass(frozen=True)
class Decision:
    resume: bool
    refused: str | None = None    # the one-line reason not to run at all
    note: str | None = None       # said before starting over


def last_outcome(run: RunDir) -> WorkerOutcome | None:
    """The outcome the last worker wrote (it is removed before each launch), if any."""
    if not run.outcome.exists():
        return None
    return WorkerOutcome.read(run.outcome, 0)


def resume_point(run: RunDir) -> int | None:
    """The iteration a re-run would resume from, judged from the files alone: a checkpoint
    exists and the last worker neither finished nor diverged."""
    it = run.checkpoint_iteration()
    if it is None:
        return None
    outcome = last_outcome(run)
    if outcome is not None and (outcome.status == "done" or outcome.diverged_at_iteration):
        return None
    return it


def diverged(run: RunDir) -> str | None:
    outcome = last_outcome(run)
    if outcome is not None and outcome.status == "failed" and outcome.diverged_at_iteration:
        return outcome.reason or f"diverged at iteration {outcome.diverged_at_iteration}"
    return None


def decide(run: RunDir, config_hash: str, existing: dict | BadRecord | None) -> Decision:
    """What a re-run without --force does (a `done` record of this config was handled before)."""
    if isinstance(existing, BadRecord):
        return Decision(False, note=f"its record {existing.path} is corrupt ({existing.reason}); "
                                    "starting the row over (the old run goes to results/archive/)")
    if existing is not None and existing.get("status") == "done":
        return Decision(False)
    if _config_hash_of(run) != config_hash:
        return Decision(False)
    if (why := diverged(run)) is not None:
        return Decision(False, refused=f"not run again: its last attempt of this config diverged "
                                       f"({why}), and would again; change the config (e.g. "
                                       "--cfg-options optim_wrapper.optimizer.lr=...) or pass "
                                       "--force to start it over")
    if resume_point(run) is None:
        return Decision(False)
    ckpt = run.last_checkpoint()
    if not _can_resume_from(ckpt):
        return Decision(False, note=f"its checkpoint {ckpt} cannot be resumed from (unreadable, "
                                    "or final weights only); starting the row over (the old run "
                                    "goes to results/archive/)")
    return Decision(True)


def _config_hash_of(run: RunDir) -> str | None:
    from harness.config.resolve import config_hash
    try:
        from mmengine.config import Config
        return config_hash(Config.fromfile(str(run.config), import_custom_modules=False))
    except Exception:  # noqa: BLE001 - no (readable) earlier config: nothing to resume
        return None


def _can_resume_from(ckpt: Path | None) -> bool:
    """MMEngine's resume needs the message hub (and restores the optimizer from it too): a
    slimmed checkpoint lacks them, a truncated one does not load. Memory-mapped, so only the
    small pickle is read, not the tensors."""
    if ckpt is None:
        return False
    import torch
    try:
        keys = torch.load(ckpt, map_location="cpu", mmap=True, weights_only=False).keys()
    except Exception:  # noqa: BLE001 - whatever makes it unloadable makes it no resume point
        return False
    return {"message_hub", "state_dict"} <= set(keys)


def archive_run(run: RunDir, store: Store, keep_slurm: bool = False) -> None:
    """--force, or starting over an unfinished attempt, keeps the previous run (record, config,
    logs) under results/archive/. keep_slurm: a SLURM job that starts its row over keeps its
    own files (RunDir.slurm: its script, its id, the output SLURM is writing into)."""
    if not run.path.exists():
        return
    own = run.slurm if keep_slurm and run.slurm.exists() else None
    if own is not None and all(p == own for p in run.path.iterdir()):
        return                              # nothing there yet but the job's own files
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = store.root / "archive" / run.path.relative_to(store.root / "runs")
    dest = dest.with_name(f"{dest.name}-{stamp}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run.path), str(dest))
    if own is not None:   # a rename: the job's open output file moves back with it
        run.path.mkdir(parents=True)
        shutil.move(str(dest / own.name), str(own))
