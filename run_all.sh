#!/usr/bin/env bash
# The main job: set up the environment (idempotent), run the paper's rows as a dependency-aware
# sweep (`harness sweep`), then write the report.
#
#   ./run_all.sh --smoke                         tiny synthetic COCO data, random init, CPU
#   ./run_all.sh --data-root /data/coco          the paper profile on COCO 2017 (GPUs)
#   ./run_all.sh --smoke table1 table2.c         only some tables or rows
#   ./run_all.sh --data-root /data/coco --launcher slurm --gpus 8 \
#                --slurm-args '--partition=gpu --gres=gpu:8'
#   ./run_all.sh --data-root /data/coco --launcher slurm --gpus 8 --detach \
#                --slurm-args '--partition=gpu --gres=gpu:8'   submit and return (README: SLURM)
#   ./run_all.sh --dry-run                       the plan: rows, dependencies, GPU-hours
#   ./run_all.sh --preflight table1 table2       each row as the paper runs it, for 4 iterations:
#                                                passes? s/iter, memory, projected hours
# Every option of `harness run` works here (--launcher, --gpus, --slots, --seeds, --force, ...).
set -euo pipefail
cd "$(dirname "$0")"
PY=$(tools/bootstrap.sh)

args=()
# nothing to report yet: a dry run runs nothing; a preflight prints its own table
# (results/preflight.md); a detached SLURM sweep only submitted (its jobs write the records; run
# `harness report` once `harness status` shows them)
report=1
for a in "$@"; do
    case "$a" in
        --smoke) args+=(--profile smoke) ;;
        --dry-run|--preflight|--detach) report=0; args+=("$a") ;;
        *) args+=("$a") ;;
    esac
done

status=0
"$PY" -m harness.cli sweep ${args[@]+"${args[@]}"} || status=$?
if [ "$report" = 1 ]; then
    "$PY" -m harness.cli report
fi
exit $status
