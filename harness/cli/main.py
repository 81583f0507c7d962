"""`harness`: list paper rows, run them on MMEngine, report against the published numbers.

Every user error ends as one line on stderr and exit code 2 (never a traceback)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.cli import values
from harness.errors import HarnessError
from harness.paper.constants import DEFAULT_TOLERANCE


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + error; one line is the house style
        raise HarnessError(f"{message} (see '{self.prog} --help')")


def _cmd_list(args) -> int:
    from harness.cli.listing import render_list
    from harness.paths import results_dir
    from harness.store import Store
    print(render_list(Store(results_dir()), args.tables))
    return 0


def _launch_of(args):
    from harness.orchestrate.launch import Launch
    launch = Launch(launcher=args.launcher, processes=args.gpus,
                    slurm_args=tuple(args.slurm_args.split()) if args.slurm_args else ())
    launch.check()
    return launch


def _targets(args) -> list[str]:
    from harness.paper.rows import load_tables
    return args.targets or [t.id for t in load_tables().values() if t.runnable_rows]


def _cmd_run(args) -> int:
    from harness.paths import results_dir
    from harness.config.profiles import get_profile
    from harness.config.resolve import parse_pretrained
    from harness.paper.rows import get_row, load_tables, resolve
    from harness.orchestrate.data_root import prepare_data_root
    from harness.orchestrate.options import RunOptions, default_slots
    from harness.orchestrate.plan import plan, render_plan
    from harness.orchestrate.sweep import execute
    from harness.report.verdict import judgement_mark
    from harness.store import Store
    from harness.store.fs import ensure_writable_dir

    from harness.orchestrate.preflight import preflight_profile
    preflight = preflight_profile(args.preflight, args.profile, args.preflight_iters)
    profile = preflight or get_profile(args.profile)
    if args.detach and preflight:
        raise HarnessError("--detach does not go with --preflight: its table needs every row's "
                           "result, so the command waits for them")
    rows = resolve(_targets(args))
    launch = _launch_of(args)
    if args.detach and launch.launcher != "slurm":
        raise HarnessError("--detach needs --launcher slurm: local and torchrun rows run inside "
                           "this process (keep it alive with nohup or tmux)")
    pretrained = parse_pretrained(args.pretrained)
    slots = default_slots(profile, launch) if args.slots is None else args.slots
    if args.seed + args.seeds - 1 > values.MAX_SEED:
        raise HarnessError(f"--seed {args.seed} with --seeds {args.seeds} goes past the largest "
                           f"seed, {values.MAX_SEED}")
    if args.dry_run:
        print(render_plan(plan(rows), profile, launch, args.seeds))
        return 0
    if profile.pretrained and pretrained:   # a wrong file would train from random weights
        from harness.config.weights import check_pretrained
        check_pretrained(pretrained)
    # Segment proposals (Table 6) train on instance masks: check for them before any training.
    tables = load_tables()
    need_masks = any(tables[s.row.table].task == "segment_proposals" for s in plan(rows))
    # A results folder that cannot be written fails here, not after the data checks or a run.
    store = Store(ensure_writable_dir(Path(args.results) if args.results else results_dir(),
                                      "results"))
    data_root = prepare_data_root(profile, Path(args.data_root) if args.data_root else None,
                                  need_masks=need_masks, cache_dir=store.root / "cache")
    if preflight:   # a few images per split, so that dependencies' proposal dumps are quick too
        from harness.orchestrate.preflight import preflight_data
        data_root = preflight_data(data_root, store.root, preflight.test_images)
    results = []
    for seed in range(args.seed, args.seed + args.seeds):
        opts = RunOptions(profile=profile, data_root=data_root, force=args.force, seed=seed,
                          pretrained=pretrained,
                          cfg_options=args.cfg_options or {}, evaluator=args.evaluator,
                          launch=launch, allow_deviations=args.allow_deviations,
                          pretrained_equivalent=args.pretrained_equivalent)
        results += execute(rows, opts, store, data_root, slots=slots, detach=args.detach)
    queued = [r for r in results if r["status"] in ("pending", "running")]   # --detach
    failed = [r for r in results if r["status"] != "done" and r not in queued]
    for rec in results:
        label = f"{rec['row']} [{rec['profile']}, seed {rec.get('seed', args.seed)}]"
        if rec["status"] == "done" and preflight:
            continue   # its metrics mean nothing after a few iterations; the table follows
        if rec["status"] == "done":
            row = get_row(rec["row"])
            cols = [k for k in ("coco/AR@1000", "coco/bbox_mAP_50", "coco/bbox_mAP")
                    if k in rec["metrics"]] if row.step else load_tables()[rec["table"]].local_metrics
            shown = ", ".join(f"{k} {rec['metrics'][k]:.1f}" if rec["metrics"].get(k) is not None
                              else f"{k} n/a" for k in cols)
            mark = judgement_mark(rec)
            print(f"  {label}: {shown}" + (f"; {mark}" if mark else ""))
        elif rec in queued:
            print(f"  {label}: {rec['status']}, {rec['reason']}")
        else:
            log = f" (log: {Path(rec['work_dir']).parent / 'worker.log'})" if rec.get("work_dir") else ""
            print(f"harness: error: {label} {rec['status']}: {rec['reason']}{log}", file=sys.stderr)
    print(f"{len(results) - len(failed) - len(queued)}/{len(results)} rows done" +
          (f", {len(queued)} queued or running in SLURM" if queued else "") +
          (f", {len(failed)} failed or blocked" if failed else ""))
    if preflight:
        from harness.orchestrate.preflight import render_preflight, write_preflight
        text = render_preflight(results, launch, slots)
        print(text + f"written to {write_preflight(store.root, text)}")
    return 1 if failed else 0


def _cmd_status(args) -> int:
    from harness.paths import results_dir
    from harness.config.profiles import get_profile
    from harness.paper.rows import resolve
    from harness.orchestrate.status import render_status
    from harness.store import Store
    profile = get_profile(args.profile)
    store = Store(Path(args.results) if args.results else results_dir())
    print(render_status(store, resolve(_targets(args)), profile.name, args.seed))
    return 0


def _cmd_cancel(args) -> int:
    from harness.config.profiles import get_profile
    from harness.orchestrate.adopt import cancel
    from harness.orchestrate.plan import plan
    from harness.paper.rows import resolve
    from harness.paths import results_dir
    from harness.store import Store
    profile = get_profile(args.profile)
    rows = resolve(_targets(args))
    ids = [r.id for r in rows] if args.targets else [s.row.id for s in plan(rows)]
    store = Store(Path(args.results) if args.results else results_dir())
    cancel(store, ids, profile.name, args.seed)
    return 0


def _cmd_audit(args) -> int:
    from harness.config.audit import audit_row, render
    from harness.paper.rows import resolve
    findings = [f for row in resolve(args.tables) for f in audit_row(row)]
    print(render(findings))
    bad = [f for f in findings if f.verdict == "MISMATCH"]
    deviations = [f for f in findings if f.verdict.startswith("deviation")]
    print(f"\n{len(findings)} settings checked: {len(bad)} mismatches, "
          f"{len(deviations)} declared deviations")
    return 1 if bad else 0


def _cmd_report(args) -> int:
    from harness.paths import reports_dir, results_dir
    from harness.report.write import write_report
    from harness.store import Store
    from harness.store.fs import ensure_writable_dir
    store = Store(Path(args.results) if args.results else results_dir())
    written = write_report(store, ensure_writable_dir(reports_dir(), "reports"), args.name,
                           tolerance=args.tolerance)
    text, path, problems = written
    for p in problems:
        print(f"harness: warning: {p}", file=sys.stderr)
    print(text)
    print(f"report written to {path}" + (f" and {written.pdf}" if written.pdf else "")
          + (f"; tidy results in {written.csv}" if written.csv else ""))
    return 0


def _cmd_data_synth(args) -> int:
    from harness.data.synth import make_synthetic
    from harness.paths import synthetic_data_dir
    out = Path(args.out) if args.out else synthetic_data_dir()
    summary = make_synthetic(out, seed=args.seed, force=args.force)
    print(f"synthetic COCO-format data in {out}: {summary}")
    return 0


def _cmd_data_subset(args) -> int:
    from harness.data.subset import make_subset
    summary = make_subset(Path(args.coco_root), Path(args.out), images=args.images, seed=args.seed,
                          link=not args.copy)
    print(f"COCO subset in {args.out}: {summary}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="harness", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="tables, rows, published numbers, and which have results")
    ls.add_argument("tables", nargs="*", help="table ids (default: all)")
    ls.set_defaults(func=_cmd_list)

    run = sub.add_parser("run", aliases=["sweep"], help="run rows or whole tables (e.g. table1.c, table1) with "
                         "their dependencies")
    run.add_argument("targets", nargs="*", help="row ids (table1.c) or table ids (table1); "
                     "default: every table with runnable rows")
    run.add_argument("--profile", default="paper", help="paper (default) or smoke")
    run.add_argument("--data-root", type=values.path, help="COCO-format data root (paper: COCO 2017); smoke "
                     "defaults to the embedded synthetic set")
    run.add_argument("--pretrained", action="append", type=values.pretrained, metavar="[resnet50=|resnet101=]PATH",
                     help="ImageNet backbone checkpoint (path or URL) for the paper profile, per "
                          "depth; repeat for both (a bare PATH is resnet50)")
    run.add_argument("--pretrained-equivalent", action="store_true",
                     help="declare the --pretrained files equivalent to the config's published "
                          "ImageNet weights (recorded); without it another file is not a reproduction")
    run.add_argument("--allow-deviations", action="store_true",
                     help="judge these runs against the paper even if they are not reproductions "
                          "(recorded; the report prints their reasons beside every verdict)")
    run.add_argument("--seed", type=values.seed, default=0)
    run.add_argument("--force", action="store_true", help="run again even if a record exists")
    run.add_argument("--results", type=values.path, help="results store (default: results/)")
    run.add_argument("--cfg-options", nargs="+", action=values.ConfigOptions, metavar="KEY=VALUE",
                     help="override config keys after the profile (as mmdet's tools/train.py); "
                     "recorded with the run")
    run.add_argument("--evaluator", type=values.evaluator, default="faster-coco-eval",
                     metavar="{faster-coco-eval,pycocotools}",
                     help="the COCO API behind every metric (default faster-coco-eval: C++, the "
                          "same numbers as pycocotools); not part of the config hash")
    run.add_argument("--launcher", default="local", help="local (default), torchrun or slurm")
    run.add_argument("--gpus", type=values.positive_int, default=1, help="processes (GPUs) per row")
    run.add_argument("--slurm-args", help="extra sbatch options, e.g. '--partition=gpu --gres=gpu:8'")
    run.add_argument("--slots", type=values.positive_int, default=None,
                     help="rows run at once (a row starts when its dependencies are done); "
                          "default 1, or for CPU smoke runs one per core (up to 4), each "
                          "worker then using cores/slots threads")
    run.add_argument("--seeds", type=values.positive_int, default=1, help="replicas per row, seeds --seed.. "
                     "--seed+N-1, each its own record")
    run.add_argument("--detach", action="store_true",
                     help="with --launcher slurm: submit the jobs and return (each job writes its "
                          "own record; see 'harness status', stop them with 'harness cancel')")
    run.add_argument("--preflight", action="store_true",
                     help="every planned row as the paper profile runs it (model, input size, "
                     "weights, launcher) for a few iterations and a test on 8 images, on the "
                     "given data root or the synthetic set: passed or why not, s/iter, peak "
                     "memory and the projected time of the full sweep (results/preflight.md)")
    run.add_argument("--preflight-iters", type=values.positive_int, metavar="N",
                     help="training iterations per row in --preflight (default 4)")
    run.add_argument("--dry-run", action="store_true",
                     help="print the plan (rows, dependencies, GPU-hours) and exit")
    run.set_defaults(func=_cmd_run)

    st = sub.add_parser("status", help="state, progress and ETA of every row")
    st.add_argument("targets", nargs="*", help="row or table ids (default: all)")
    st.add_argument("--profile", default="paper")
    st.add_argument("--seed", type=values.seed, default=0)
    st.add_argument("--results", type=values.path, help="results store (default: results/)")
    st.set_defaults(func=_cmd_status)

    cn = sub.add_parser("cancel", help="cancel the live SLURM jobs of rows (scancel); they are "
                        "stopped, and a re-run resumes them")
    cn.add_argument("targets", nargs="*", help="row or table ids (default: all)")
    cn.add_argument("--profile", default="paper")
    cn.add_argument("--seed", type=values.seed, default=0)
    cn.add_argument("--results", type=values.path, help="results store (default: results/)")
    cn.set_defaults(func=_cmd_cancel)

    aud = sub.add_parser("audit", help="the paper's stated settings against each row's config")
    aud.add_argument("tables", nargs="+", help="table or row ids (e.g. table1, table2.c)")
    aud.set_defaults(func=_cmd_audit)

    rep = sub.add_parser("report", help="compare results with the published numbers")
    rep.add_argument("--name", type=values.file_stem, default="fpn_reproduction",
                     help="reports/<name>.md")
    rep.add_argument("--results", type=values.path, help="results store (default: results/)")
    rep.add_argument("--tolerance", type=values.points, default=DEFAULT_TOLERANCE, metavar="POINTS",
                     help="a measured number within this many points of the published one "
                          "reproduces it (default %(default)s; published.yaml may override it per table, row or metric)")
    rep.set_defaults(func=_cmd_report)

    data = sub.add_parser("data", help="make data sets").add_subparsers(
        dest="data_command", required=True, parser_class=_Parser)
    syn = data.add_parser("synth", help="the tiny deterministic COCO-format set smoke runs use")
    syn.add_argument("--out", type=values.path, help="default: data/synth")
    syn.add_argument("--seed", type=values.seed, default=0)
    syn.add_argument("--force", action="store_true", help="overwrite a different set in --out")
    syn.set_defaults(func=_cmd_data_synth)
    sb = data.add_parser("subset", help="a consistent tiny subset of a real COCO 2017 tree")
    sb.add_argument("--coco-root", type=values.path, required=True)
    sb.add_argument("--images", type=values.positive_int, required=True, help="images per split")
    sb.add_argument("--out", type=values.path, default="data/coco_subset")
    sb.add_argument("--seed", type=values.seed, default=0)
    sb.add_argument("--copy", action="store_true", help="copy images instead of symlinking")
    sb.set_defaults(func=_cmd_data_subset)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `harness list | head`: the reader left; say nothing, and keep Python's exit-time
        # flush of stdout from raising the same error again (the recipe in Python's signal docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:   # a full disk, an unwritable folder, a name too long: one line
        from harness.store.fs import describe, is_environment_error
        if not is_environment_error(exc):
            raise
        print(f"harness: error: {describe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m harness.cli.main
    sys.exit(main())
