"""The one place that knows what lies inside a run directory.

    results/runs/<row>/<profile>/seed<k>/
        record.json      the record (what reports read), written by the orchestrator
        config.py        the resolved MMDetection config the worker runs
        outcome.json     the worker's result (rank 0), read back by the orchestrator
        attempt.json     a launched worker whose outcome is not yet a record, and what it ran
                         with (orchestrate/ownership.py, orchestrate/finalize.py)
        worker.log       the worker's stdout/stderr (MMEngine's log lines: progress)
        slurm/           --launcher slurm: the row's job and its proposal dump's job, each as
                         <kind>.sbatch (the script), <kind>.json (job id, dependencies, whether
                         `harness cancel` stopped it: store/job.py) and <kind>.log (the job's
                         own output: the harness inside it, SLURM's messages)
        work/            MMEngine's work dir: checkpoints, `last_checkpoint`, vis_data
        merged.pth       Table 5 "yes": the checkpoint merged from steps 3 and 4
        proposals/       an RPN's dumped proposals, their manifest and the dump's log
        test_dev/        Table 4: the COCO test-dev result file for the evaluation server
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.store.atomic import TEMP_GLOB, write_text_atomic


@dataclass(frozen=True)
class RunDir:
    path: Path

    record = property(lambda self: self.path / "record.json")
    config = property(lambda self: self.path / "config.py")
    outcome = property(lambda self: self.path / "outcome.json")
    attempt = property(lambda self: self.path / "attempt.json")
    log = property(lambda self: self.path / "worker.log")
    slurm = property(lambda self: self.path / "slurm")
    sbatch = property(lambda self: self.slurm / "row.sbatch")
    job = property(lambda self: self.slurm / "row.json")
    job_log = property(lambda self: self.slurm / "row.log")
    dump_sbatch = property(lambda self: self.slurm / "dump.sbatch")
    dump_job = property(lambda self: self.slurm / "dump.json")
    dump_job_log = property(lambda self: self.slurm / "dump.log")
    work = property(lambda self: self.path / "work")
    merged = property(lambda self: self.path / "merged.pth")
    proposals = property(lambda self: self.path / "proposals")
    test_dev = property(lambda self: self.path / "test_dev")
    dump_log = property(lambda self: self.proposals / "dump.log")

    def last_checkpoint(self) -> Path | None:
        """The checkpoint MMEngine names in work/last_checkpoint, if that file still exists.
        The name is absolute: in a store that was moved or copied since, it still names the old
        place, so the file of that name in this work dir comes first."""
        try:
            named = Path((self.work / "last_checkpoint").read_text().strip())
        except OSError:
            return None
        return next((p for p in (self.work / named.name, named) if p.is_file()), None)

    def remove_temp_files(self) -> dict[str, int]:
        """Temp files of atomic writes (store/atomic.py) that a killed writer left: a checkpoint's
        can be gigabytes. Only for the holder of the row's lock, before it launches a worker:
        nobody else writes here then."""
        gone = {}   # name (relative to the run dir) -> bytes
        for folder in (self.path, self.work):
            for tmp in folder.glob(TEMP_GLOB):
                try:
                    size = tmp.stat().st_size
                    tmp.unlink()
                except FileNotFoundError:
                    continue
                gone[tmp.relative_to(self.path).as_posix()] = size
        return gone

    def name_last_checkpoint_here(self) -> None:
        """Before a resume: work/last_checkpoint names this work dir's file, which is the one
        MMEngine's resume then loads (not the old place of a moved or copied store)."""
        ckpt = self.last_checkpoint()
        if ckpt is not None and ckpt.parent == self.work:
            write_text_atomic(self.work / "last_checkpoint", str(ckpt))

    def checkpoint_iteration(self) -> int | None:
        """The iteration of the last checkpoint (iter_<n>.pth), if there is one."""
        ckpt = self.last_checkpoint()
        if ckpt is None:
            return None
        n = ckpt.stem.split("_")[-1]
        return int(n) if n.isdigit() else 0
