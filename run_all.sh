#!/usr/bin/env bash
# The main job: set up the environment (idempotent), run every runnable paper row, write the report.
#
#   ./run_all.sh --smoke                       tiny synthetic COCO data, random init, CPU (minutes)
#   ./run_all.sh --data-root /data/coco        the paper profile on COCO 2017 (GPUs; days)
#   ./run_all.sh --smoke table1                only some tables or rows
# Any other option is passed to `harness run` (e.g. --force, --seed N, --pretrained PATH).
set -euo pipefail
cd "$(dirname "$0")"
PY=$(tools/bootstrap.sh)
HARNESS=("$PY" -m harness.cli)

profile=paper
targets=()
passthrough=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) profile=smoke ;;
        --profile) profile=$2; shift ;;
        --profile=*) profile=${1#--profile=} ;;
        -*) passthrough+=("$1")
            # options of `harness run` that take a value
            case "$1" in --data-root|--pretrained|--seed|--results) passthrough+=("$2"); shift ;; esac ;;
        *) targets+=("$1") ;;
    esac
    shift
done
if [ ${#targets[@]} -eq 0 ]; then
    # every table that has a runnable row
    mapfile -t targets < <("$PY" -c 'from harness.rows import load_tables
for t in load_tables().values():
    if t.runnable_rows: print(t.id)')
fi

[ "$profile" = smoke ] && "${HARNESS[@]}" data synth
status=0
"${HARNESS[@]}" run "${targets[@]}" --profile "$profile" ${passthrough[@]+"${passthrough[@]}"} || status=$?
"${HARNESS[@]}" report
exit $status
