"""`harness run/sweep --launcher slurm`: SLURM holds the DAG, not this process.

Every row of the plan, and every proposal dump a consumer needs, is submitted as its own SLURM
job (harness/orchestrate/job.py runs inside it) that waits for its producers' jobs with
`--dependency=afterok:<ids>` and `--kill-on-invalid-dep=yes`: when a producer fails, SLURM
cancels everything after it. Each job finalises what it produces (the record, the proposal
manifest), so after submission nothing depends on this process: with `--detach` it returns at
once; without, it only watches the jobs and prints their progress (harness/orchestrate/follow.py),
and killing it loses nothing.

Each job id is kept next to its run (RunDir.job, RunDir.dump_job). A later sweep adopts a job
that is still queued or running (harness/orchestrate/adopt.py) and never submits a row that has
a live job; one submission at a time per store, profile and seed (a lock), and a job whose id
was never written (this process died just after sbatch answered) is found by its unique name."""
from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.orchestrate import slurm
from harness.orchestrate.adopt import Tracked, job_path, jobs_of, settle, track
from harness.orchestrate.job import spec_argv
from harness.orchestrate.locks import row_lock
from harness.orchestrate.options import RunOptions, now
from harness.orchestrate.plan import Step, plan
from harness.orchestrate.proposals import check
from harness.paper.rows import Row
from harness.store import Status, Store, SubmittedJob


class Submission:
    def __init__(self, steps: list[Step], opts: RunOptions, store: Store, data_root: Path, log):
        self.opts, self.store, self.data_root, self.log = opts, store, data_root, log
        self.profile, self.seed = opts.profile.name, opts.seed
        ids = [s.row.id for s in steps]
        kept = jobs_of(store, ids, self.profile, self.seed)
        self.states = slurm.query([j.job_id for j in kept.values()])  # also live jobs by name
        self.tracked = track(store, ids, self.profile, self.seed, self.states)
        self.waits: dict[str, str] = {}      # row -> the live job its dependents wait for
        self.dumps: dict[str, str] = {}      # producer -> its live proposal dump job
        self.results: dict[str, dict] = {}
        self.submitted: list[SubmittedJob] = []
        self.adopted: list[SubmittedJob] = []
        self.aliases = {}                    # source row -> the `same as` rows in this plan
        for s in steps:
            if s.row.same_as:
                self.aliases.setdefault(s.row.same_as, []).append(s.row.id)

    @property
    def jobs(self) -> list[SubmittedJob]:
        return self.submitted + self.adopted

    def _notice(self, row: Row, status: str, reason: str, job: str | None = None) -> dict:
        """Not a record (nothing is written): what a row that has no final record yet reports."""
        return {"row": row.id, "table": row.table, "profile": self.profile, "seed": self.seed,
                "status": status, "reason": reason, "metrics": {}, "job": job}

    def _kept(self, row: str, kind: str) -> Tracked | None:
        t = self.tracked.get((row, kind))
        if t is not None:
            return t
        name = slurm.job_name(self.store.root, kind, row, self.profile, self.seed)
        live = [s for s in self.states.values() if s.name == name and s.live]
        if not live:
            return None
        run = self.store.run(row, self.profile, self.seed)
        job = SubmittedJob(live[-1].job_id, kind, name, row, self.profile, self.seed, "unknown",
                           str(run.dump_sbatch if kind == "dump" else run.sbatch))
        job.write(job_path(self.store, kind, row, self.profile, self.seed))
        self.log(f"{row} [{self.profile}]: found its {kind} job {job.job_id} by name; adopted")
        return Tracked(job, live[-1])

    def _adopt(self, t: Tracked) -> str:
        if self.opts.force:
            raise HarnessError(f"{t.job.row} has a live SLURM job {t.job.job_id} ({t.state.state});"
                               f" wait for it, or 'harness cancel {t.job.row}' before --force")
        self.adopted.append(t.job)
        what = "proposal dump" if t.job.kind == "dump" else "row"
        self.log(f"{t.job.row} [{self.profile}]: {what} job {t.job.job_id} is {t.state.state}; "
                 "adopted (not submitted again)")
        return t.job.job_id

    def step(self, step: Step) -> dict:
        row = step.row
        if row.same_as:
            return self._alias(row)
        t = self._kept(row.id, "row")
        if t is not None and t.live:
            self.waits[row.id] = self._adopt(t)
            for edge in row.edges:     # its live proposal dump is this sweep's too: followed
                if edge.kind == "proposals":
                    self._live_dump(edge.row)
            return self._notice(row, str(Status.RUNNING if t.state.state == "RUNNING"
                                         else Status.PENDING), t.describe(), t.job.job_id)
        if t is not None:
            settle(self.store, t, self.log)          # ended: finalise a record it did not write
        rec = self.store.get(row.id, self.profile, self.seed)
        if rec and rec.get("status") == "done" and not self.opts.force:
            self.log(f"{row.id} [{self.profile}]: already done ({rec.get('finished_at', '')})")
            return rec
        after = []
        for edge in row.edges:
            producer = self.results[edge.row]
            if producer["status"] == Status.BLOCKED:
                return self._notice(row, str(Status.BLOCKED), f"needs {edge.row}, which is "
                                    f"blocked: {producer['reason']}")
            if edge.kind == "proposals":
                dump = self._dump(edge.row)
                after += [dump] if dump else []
            elif edge.row in self.waits:
                after.append(self.waits[edge.row])
        job = self._submit("row", row, after, self.aliases.get(row.id, []))
        self.waits[row.id] = job.job_id
        return self._notice(row, str(Status.PENDING), job_text(job), job.job_id)

    def _alias(self, row: Row) -> dict:
        """A `same as` row: written now if its source is done, else by its source's job (the
        alias's own job file names that job, so status and later sweeps follow it)."""
        from harness.orchestrate.sweep import alias_record
        source = self.results[row.same_as]
        if source["status"] == Status.DONE:
            return alias_record(row, source, self.store)
        if source["status"] == Status.BLOCKED:
            return self._notice(row, str(Status.BLOCKED), f"needs {row.same_as}: {source['reason']}")
        job_id = self.waits[row.same_as]
        src = next(j for j in self.jobs if j.job_id == job_id)
        SubmittedJob(job_id, "alias", src.name, row.id, self.profile, self.seed, now(), src.script,
                     [job_id]).write(job_path(self.store, "alias", row.id, self.profile, self.seed))
        return self._notice(row, str(Status.PENDING), f"written by {row.same_as}'s job {job_id}",
                            job_id)

    def _live_dump(self, producer: str) -> str | None:
        """producer's proposal dump job of this sweep: the one adopted or submitted before, or a
        live one found now (adopted); None when there is none."""
        if producer not in self.dumps:
            t = self._kept(producer, "dump")
            if t is not None and t.live:
                self.dumps[producer] = self._adopt(t)
        return self.dumps.get(producer)

    def _dump(self, producer: str) -> str | None:
        """The job that dumps producer's proposals, submitted if they will not be fresh (the
        producer runs in this sweep, or they are stale); None when they already are."""
        if (job := self._live_dump(producer)) is not None:
            return job
        if producer in self.waits or check(self.store, producer, self.profile, self.seed,
                                           self.data_root, verify=False).status != "fresh":
            from harness.paper.rows import get_row
            after = [self.waits[producer]] if producer in self.waits else []
            self.dumps[producer] = self._submit("dump", get_row(producer), after, []).job_id
        return self.dumps.get(producer)

    def _submit(self, kind: str, row: Row, after: list[str], aliases: list[str]) -> SubmittedJob:
        from harness.orchestrate.resume import archive_run
        run = self.store.run(row.id, self.profile, self.seed)
        if kind == "row" and self.opts.force:
            dump = self._kept(row.id, "dump")
            if dump is not None and dump.live:
                self._adopt(dump)            # refuses: --force would archive a live job's files
            archive_run(run, self.store)     # as a local --force does, before the job exists
        script, output = (run.sbatch, run.job_log) if kind == "row" else \
            (run.dump_sbatch, run.dump_job_log)
        existed = {p for p in script.parents if p.exists()}
        name = slurm.job_name(self.store.root, kind, row.id, self.profile, self.seed)
        launch = self.opts.launch
        slurm.write_script(script, name, launch.processes, output, launch.slurm_args,
                           spec_argv(kind, row.id, self.opts, self.store.root, self.data_root,
                                     aliases))
        try:
            job_id = slurm.sbatch(script, after)
        except HarnessError as exc:
            script.unlink(missing_ok=True)   # nothing half-made stays: no script, no new folder
            for folder in script.parents:
                if folder in existed:
                    break
                folder.rmdir()
            earlier = ", ".join(f"{j.row} ({j.kind}) {j.job_id}" for j in self.submitted)
            raise HarnessError(f"{row.id}: {exc}" + (f"; submitted before it, and still queued: "
                                                     f"{earlier}" if earlier else "")) from None
        job = SubmittedJob(job_id, kind, name, row.id, self.profile, self.seed, now(), str(script),
                           list(after))
        job.write(job_path(self.store, kind, row.id, self.profile, self.seed))
        self.submitted.append(job)
        self.log(f"{row.id} [{self.profile}]: {job_text(job)}")
        return job


def job_text(job: SubmittedJob) -> str:
    what = "proposal dump job" if job.kind == "dump" else "job"
    return f"submitted {what} {job.job_id}" + (f" (after {', '.join(job.after)})" if job.after else "")


def submit(rows: list[Row], opts: RunOptions, store: Store, data_root: Path,
           log=print) -> Submission:
    """Submit (or adopt) the jobs of rows and their dependencies; one submission at a time."""
    steps = plan(rows)
    with row_lock(store.root, "slurm-submission", opts.profile.name, opts.seed, log):
        sub = Submission(steps, opts, store, data_root, log)
        for step in steps:
            sub.results[step.row.id] = sub.step(step)
    return sub


def run_slurm(rows: list[Row], opts: RunOptions, store: Store, data_root: Path, log=print,
              detach: bool = False) -> list[dict]:
    """Submit the sweep; with detach return at once (records follow from the jobs), else watch
    the jobs and return each row's record or why it has none."""
    from harness.orchestrate.follow import follow, results
    sub = submit(rows, opts, store, data_root, log)
    log(f"{len(sub.submitted)} SLURM job(s) submitted, {len(sub.adopted)} adopted")
    if detach:
        log(f"detached: each job writes its own record; 'harness status --profile "
            f"{opts.profile.name}' shows them, 'harness cancel' stops them")
        return [sub.results[s.row.id] for s in plan(rows)]
    follow(store, sub.jobs, log)
    return results(store, rows, opts.profile.name, opts.seed, log)
