"""`harness`: list paper rows, run them on MMEngine, report against the published numbers.

The parser lives here, what each verb does in harness/cli/commands.py. Every user error ends
as one line on stderr and exit code 2 (never a traceback)."""
from __future__ import annotations

import argparse
import os
import sys

from harness.cli import commands, values
from harness.errors import HarnessError
from harness.paper.constants import DEFAULT_TOLERANCE


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + error; one line is the house style
        raise HarnessError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="harness", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="tables, rows, published numbers, and which have results")
    ls.add_argument("tables", nargs="*", help="table ids (default: all)")
    ls.set_defaults(func=commands.cmd_list)

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
    run.set_defaults(func=commands.cmd_run)

    st = sub.add_parser("status", help="state, progress and ETA of every row")
    st.add_argument("targets", nargs="*", help="row or table ids (default: all)")
    st.add_argument("--profile", default="paper")
    st.add_argument("--seed", type=values.seed, default=0)
    st.add_argument("--results", type=values.path, help="results store (default: results/)")
    st.set_defaults(func=commands.cmd_status)

    cn = sub.add_parser("cancel", help="cancel the live SLURM jobs of rows (scancel); they are "
                        "stopped, and a re-run resumes them")
    cn.add_argument("targets", nargs="*", help="row or table ids (default: all)")
    cn.add_argument("--profile", default="paper")
    cn.add_argument("--seed", type=values.seed, default=0)
    cn.add_argument("--results", type=values.path, help="results store (default: results/)")
    cn.set_defaults(func=commands.cmd_cancel)

    aud = sub.add_parser("audit", help="the paper's stated settings against each row's config")
    aud.add_argument("tables", nargs="+", help="table or row ids (e.g. table1, table2.c)")
    aud.set_defaults(func=commands.cmd_audit)

    rep = sub.add_parser("report", help="compare results with the published numbers")
    rep.add_argument("--name", type=values.file_stem, default="fpn_reproduction",
                     help="reports/<name>.md")
    rep.add_argument("--results", type=values.path, help="results store (default: results/)")
    rep.add_argument("--tolerance", type=values.points, default=DEFAULT_TOLERANCE, metavar="POINTS",
                     help="a measured number within this many points of the published one "
                          "reproduces it (default %(default)s; published.yaml may override it per table, row or metric)")
    rep.set_defaults(func=commands.cmd_report)

    data = sub.add_parser("data", help="make data sets").add_subparsers(
        dest="data_command", required=True, parser_class=_Parser)
    syn = data.add_parser("synth", help="the tiny deterministic COCO-format set smoke runs use")
    syn.add_argument("--out", type=values.path, help="default: data/synth")
    syn.add_argument("--seed", type=values.seed, default=0)
    syn.add_argument("--force", action="store_true", help="overwrite a different set in --out")
    syn.set_defaults(func=commands.cmd_data_synth)
    sb = data.add_parser("subset", help="a consistent tiny subset of a real COCO 2017 tree")
    sb.add_argument("--coco-root", type=values.path, required=True)
    sb.add_argument("--images", type=values.positive_int, required=True, help="images per split")
    sb.add_argument("--out", type=values.path, default="data/coco_subset")
    sb.add_argument("--seed", type=values.seed, default=0)
    sb.add_argument("--copy", action="store_true", help="copy images instead of symlinking")
    sb.set_defaults(func=commands.cmd_data_subset)
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
