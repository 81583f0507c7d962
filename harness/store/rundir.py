"""The one place that knows what lies inside a run directory.

    results/runs/<row>/<profile>/seed<k>/
        record.json      the record (what reports read), written by the orchestrator
        config.py        the resolved MMDetection config the worker runs
        outcome.json     the worker's result (rank 0), read back by the orchestrator
        attempt.json     a launched worker whose outcome is not yet a record (ownership.py)
        worker.log       the worker's stdout/stderr (MMEngine's log lines: progress)
        worker.sbatch    the SLURM script, for --launcher slurm
        work/            MMEngine's work dir: checkpoints, `last_checkpoint`, vis_data
        merged.pth       Table 5 "yes": the checkpoint merged from steps 3 and 4
        proposals/       an RPN's dumped proposals and their manifest
        test_dev/        Table 4: the COCO test-dev result file for the evaluation server
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    path: Path

    record = property(lambda self: self.path / "record.json")
    config = property(lambda self: self.path / "config.py")
    outcome = property(lambda self: self.path / "outcome.json")
    attempt = property(lambda self: self.path / "attempt.json")
    log = property(lambda self: self.path / "worker.log")
    sbatch = property(lambda self: self.path / "worker.sbatch")
    work = property(lambda self: self.path / "work")
    merged = property(lambda self: self.path / "merged.pth")
    proposals = property(lambda self: self.path / "proposals")
    test_dev = property(lambda self: self.path / "test_dev")

    def last_checkpoint(self) -> Path | None:
        """The checkpoint MMEngine names in work/last_checkpoint, if that file still exists."""
        try:
            path = Path((self.work / "last_checkpoint").read_text().strip())
        except OSError:
            return None
        return path if path.exists() else None

    def checkpoint_iteration(self) -> int | None:
        """The iteration of the last checkpoint (iter_<n>.pth), if there is one."""
        ckpt = self.last_checkpoint()
        if ckpt is None:
            return None
        n = ckpt.stem.split("_")[-1]
        return int(n) if n.isdigit() else 0
