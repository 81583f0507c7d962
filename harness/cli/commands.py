"""What each `harness` verb does, given its parsed arguments (harness/cli/main.py builds the
parser and turns errors into one line). Heavy imports stay inside the verbs that need them, so
the read-only verbs start without torch or mmdet."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.cli import values
from harness.errors import HarnessError


def cmd_list(args) -> int:
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


def cmd_run(args) -> int:
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


def cmd_status(args) -> int:
    from harness.paths import results_dir
    from harness.config.profiles import get_profile
    from harness.paper.rows import resolve
    from harness.orchestrate.status import render_status
    from harness.store import Store
    profile = get_profile(args.profile)
    store = Store(Path(args.results) if args.results else results_dir())
    print(render_status(store, resolve(_targets(args)), profile.name, args.seed))
    return 0


def cmd_cancel(args) -> int:
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


def cmd_audit(args) -> int:
    from harness.config.audit import audit_row, render
    from harness.paper.rows import resolve
    findings = [f for row in resolve(args.tables) for f in audit_row(row)]
    print(render(findings))
    bad = [f for f in findings if f.verdict == "MISMATCH"]
    deviations = [f for f in findings if f.verdict.startswith("deviation")]
    print(f"\n{len(findings)} settings checked: {len(bad)} mismatches, "
          f"{len(deviations)} declared deviations")
    return 1 if bad else 0


def cmd_report(args) -> int:
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


def cmd_data_synth(args) -> int:
    from harness.data.synth import make_synthetic
    from harness.paths import synthetic_data_dir
    out = Path(args.out) if args.out else synthetic_data_dir()
    summary = make_synthetic(out, seed=args.seed, force=args.force)
    print(f"synthetic COCO-format data in {out}: {summary}")
    return 0


def cmd_data_subset(args) -> int:
    from harness.data.subset import make_subset
    summary = make_subset(Path(args.coco_root), Path(args.out), images=args.images, seed=args.seed,
                          link=not args.copy)
    print(f"COCO subset in {args.out}: {summary}")
    return 0
