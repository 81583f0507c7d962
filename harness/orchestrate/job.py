"""What runs inside a SLURM job of the SLURM sweep (harness/orchestrate/slurm_sweep.py):

    python -m harness.orchestrate.job row  ROW --profile P --seed K --data-root D --results R ...
    python -m harness.orchestrate.job dump ROW --profile P --seed K --data-root D --results R ...

The same code a local sweep runs for one step (run_row; proposals.dump), with the worker
started as an `srun` step of this job's allocation (harness/orchestrate/launch.py). So the job
finalises what it produced itself, atomically: the record (and the records of rows that are
the same run, --alias), or the proposals and their manifest. Nothing depends on the process
that submitted it. Exit code 0 only when the row is done (or the proposals fresh): SLURM then
starts the jobs that wait for this one (afterok), and cancels them otherwise."""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from harness.errors import HarnessError


def spec_argv(kind: str, row: str, opts, store_root: Path, data_root: Path,
              aliases: list[str] = ()) -> list[str]:
    """The arguments that make this module run `kind` for `row` as `opts` asks. No --force: the
    sweep archived a forced row's run when it submitted the job (a job SLURM requeues must
    resume its run, not throw it away again)."""
    argv = [sys.executable, "-m", "harness.orchestrate.job", kind, row,
            "--profile", opts.profile.name, "--seed", str(opts.seed),
            "--data-root", str(data_root), "--results", str(store_root),
            "--gpus", str(opts.launch.processes)]
    if opts.profile.stop_after_iters is not None:   # --preflight-iters changes the profile's
        argv += ["--stop-after-iters", str(opts.profile.stop_after_iters)]
    if opts.pretrained:
        argv += ["--pretrained", json.dumps(opts.pretrained)]
    if opts.cfg_options:   # values are Python literals (mmengine's DictAction): repr round-trips
        argv += ["--cfg-options", json.dumps({k: repr(v) for k, v in opts.cfg_options.items()})]
    # how the record judges the run (harness/orchestrate/reproduction.py)
    argv += ["--allow-deviations"] * opts.allow_deviations
    argv += ["--pretrained-equivalent"] * opts.pretrained_equivalent
    if opts.evaluator:   # the metrics' backend (harness/evaluation/backends.py)
        argv += ["--evaluator", opts.evaluator]
    for alias in aliases:
        argv += ["--alias", alias]
    return argv


def _options(args):
    from dataclasses import replace

    from harness.config.profiles import get_profile
    from harness.orchestrate.launch import Launch
    from harness.orchestrate.options import RunOptions
    return RunOptions(
        profile=replace(get_profile(args.profile), stop_after_iters=args.stop_after_iters)
        if args.stop_after_iters is not None else get_profile(args.profile),
        data_root=args.data_root, seed=args.seed,
        pretrained=json.loads(args.pretrained) if args.pretrained else None,
        cfg_options={k: ast.literal_eval(v) for k, v in json.loads(args.cfg_options).items()},
        launch=Launch("slurm", args.gpus, inside_job=True),
        allow_deviations=args.allow_deviations, pretrained_equivalent=args.pretrained_equivalent,
        evaluator=args.evaluator)


def _row(args, opts, store) -> bool:
    from harness.orchestrate.proposals import check
    from harness.orchestrate.row import run_row
    from harness.orchestrate.sweep import alias_record
    from harness.paper.rows import get_row
    row, profile = get_row(args.row), opts.profile.name
    proposals = None
    if row.proposals_from:     # dumped by the dump job this one waited for
        proposals = check(store, row.proposals_from, profile, opts.seed, args.data_root)
        if proposals.status != "fresh":
            raise HarnessError(f"the proposals of {row.proposals_from} are {proposals.status} "
                               f"({proposals.reason}); run the sweep again to dump them")
    rec = run_row(row, opts, store, args.data_root, proposals=proposals)
    for alias in args.alias:
        alias_record(get_row(alias), rec, store)
    return rec["status"] == "done"


def _dump(args, opts, store) -> bool:
    from harness.orchestrate.progress import launch_and_follow
    from harness.orchestrate.proposals import check, dump
    profile = opts.profile.name
    state = check(store, args.row, profile, opts.seed, args.data_root)
    if state.status == "fresh":
        print(f"{args.row} [{profile}]: proposals already up to date")
        return True
    print(f"{args.row} [{profile}]: proposals {state.status} ({state.reason})")
    dump(store, args.row, profile, opts.seed, args.data_root, opts.launch,
         lambda cmd, path, label: launch_and_follow(cmd, path, label), print)
    return True


def main(argv: list[str] | None = None) -> int:
    from harness.store import Store
    ap = argparse.ArgumentParser(prog="harness.orchestrate.job")
    ap.add_argument("kind", choices=["row", "dump"])
    ap.add_argument("row")
    ap.add_argument("--profile", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--gpus", type=int, default=1)
    ap.add_argument("--stop-after-iters", type=int)
    ap.add_argument("--pretrained")
    ap.add_argument("--cfg-options", default="{}")
    ap.add_argument("--alias", action="append", default=[])
    ap.add_argument("--allow-deviations", action="store_true")
    ap.add_argument("--pretrained-equivalent", action="store_true")
    ap.add_argument("--evaluator")
    args = ap.parse_args(argv)
    try:
        opts = _options(args)
        ok = (_row if args.kind == "row" else _dump)(args, opts, Store(args.results))
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
