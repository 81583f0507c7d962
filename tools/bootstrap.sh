#!/usr/bin/env bash
# Idempotent set-up shared by run_all.sh and run_tests.sh. Prints the python to use on its last
# line of stdout (everything else goes to stderr), so callers do: PY=$(tools/bootstrap.sh).
#
#   tools/bootstrap.sh --plan         print every decision (python, torch, CUDA ops or not and why,
#                                     toolkit, archs, cache key, where mmcv comes from); do nothing
#   tools/bootstrap.sh --wheelhouse-for DIR [--python-version 3.11] [--without-torch] [--no-toolkit]
#                                     download everything the set-up installs into DIR (for offline
#                                     machines; see README: "Setting up on a GPU cluster")
#   tools/bootstrap.sh --pypi-toolkit install (once) the PyPI CUDA toolkit matching torch's CUDA
#                                     into the cache and print its CUDA_HOME
#
#   FPN_REPRO_PYTHON=/path/to/python  use an existing environment (its own torch, e.g. a cluster's
#                                     CUDA build): what it lacks is installed there, mmcv built
#   FPN_REPRO_VENV=DIR                where to make the virtual environment (default: ./.venv)
#   FPN_REPRO_CUDA=1|0                mmcv with CUDA ops, or CPU ops only (default: a GPU visible
#                                     or asked for; the rules: README: "Setting up on a GPU cluster")
#   TORCH_CUDA_ARCH_LIST="8.0;9.0"    GPU archs of the CUDA build (default: the visible GPUs',
#                                     else 7.0;8.0;9.0 minus what torch's CUDA cannot build)
#   CUDA_HOME=DIR                     the CUDA toolkit (else nvcc on PATH, else one from PyPI)
#   FPN_REPRO_WHEELHOUSE=DIR          take packages (and a fitting mmcv wheel) from DIR first
#   FPN_REPRO_OFFLINE=1               ... and from DIR alone (pip --no-index)
#   FPN_REPRO_CACHE=DIR               per-user cache for built mmcv wheels and the PyPI toolkit
#                                     (default: ${XDG_CACHE_HOME:-~/.cache}/fpn-repro)
#   MAX_JOBS=N                        parallel compile jobs of the mmcv build (default: all cores)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for part in common plan toolkit mmcv wheelhouse; do
    # shellcheck source=/dev/null
    . "$ROOT/tools/bootstrap/$part.sh"
done

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit "${1:-0}"; }
PLAN_ONLY=0; TOOLKIT_ONLY=0; WH_FOR=""; WH_PYVER=3.11; WITH_TORCH=1; WITH_TOOLKIT=1
while [ $# -gt 0 ]; do
    case "$1" in
        --plan) PLAN_ONLY=1 ;;
        --pypi-toolkit) TOOLKIT_ONLY=1 ;;
        --wheelhouse-for) [ $# -ge 2 ] || die "--wheelhouse-for needs a folder"; WH_FOR=$2; shift ;;
        --python-version) [ $# -ge 2 ] || die "--python-version needs X.Y"; WH_PYVER=$2; shift
                          [[ "$WH_PYVER" =~ ^3\.[0-9]+$ ]] || die "--python-version $WH_PYVER: expected 3.N, e.g. 3.12" ;;
        --without-torch) WITH_TORCH=0 ;;
        --no-toolkit) WITH_TOOLKIT=0 ;;
        -h|--help) usage 0 ;;
        *) die "unknown option $1 (see tools/bootstrap.sh --help)" ;;
    esac
    shift
done
if [ -n "$WH_FOR" ]; then
    wheelhouse_for "$WH_FOR" "$WH_PYVER" "$WITH_TORCH" "$WITH_TOOLKIT"; exit 0
fi
case "$OFFLINE" in 0|1) ;; *) die "FPN_REPRO_OFFLINE=$OFFLINE: use 1 or 0";; esac
[ "$OFFLINE" = 0 ] || [ -n "$WH" ] || die "FPN_REPRO_OFFLINE=1 needs FPN_REPRO_WHEELHOUSE=DIR (made with tools/bootstrap.sh --wheelhouse-for DIR)"
T0=$(date +%s)
toolkit_only() {  # --pypi-toolkit: for builds of other CUDA extensions, and benchmarks/cuda_build.py
    [ -n "$TORCH_CUDA" ] || die "torch $TORCH_VERSION has no CUDA: no toolkit to match"
    [ -f "$REQ/cuda-toolkit-$TORCH_CUDA.txt" ] || die "no PyPI toolkit is set up for CUDA $TORCH_CUDA (requirements/cuda-toolkit-*.txt)"
    PY=${PROBE_PY:-$PY}
    [ "$OFFLINE" = 0 ] || offline_precheck $(req_lines "$REQ/cuda-toolkit-$TORCH_CUDA.txt")
    install_pypi_toolkit "$CACHE_ROOT/toolkits/cuda-$TORCH_CUDA"
    echo "$CACHE_ROOT/toolkits/cuda-$TORCH_CUDA"; exit 0
}

# --- 1. a user-provided environment -------------------------------------------------------------
if [ -n "${FPN_REPRO_PYTHON:-}" ]; then
    PY=$FPN_REPRO_PYTHON
    [ -x "$PY" ] || die "FPN_REPRO_PYTHON=$PY is not an executable python"
    probe_python
    [ -n "$TORCH_VERSION" ] || die "FPN_REPRO_PYTHON=$PY has no torch; install your torch build there, or unset FPN_REPRO_PYTHON to let the set-up make .venv"
    MMCV_ANY_VERSION=1   # the environment's own mmcv is kept whatever its version, if its ops suit
    PY_DESC="$PY (Python $PY_VERSION, $PYTAG; existing environment from FPN_REPRO_PYTHON)"
    TORCH_DESC="$TORCH_VERSION${TORCH_CUDA:+, CUDA $TORCH_CUDA} (the environment's own, kept)"
    decide
    [ "$TOOLKIT_ONLY" = 0 ] || toolkit_only
    mapfile -t MISSING < <("$PY" "$TOOLS/probe.py" missing "$REQ/runtime.txt" "$REQ/test.txt" "$REQ/existing-env.txt")
    if [ "$PLAN_ONLY" = 1 ]; then
        print_plan; echo "missing_packages: ${MISSING[*]:-none}"; exit 0
    fi
    [ "$OFFLINE" = 0 ] || { offline_precheck ${MISSING[@]+"${MISSING[@]}"}; offline_precheck_mmcv; }
    if [ ${#MISSING[@]} -gt 0 ]; then
        say "installing what $PY lacks (--no-deps: its own torch, numpy, ... stay): ${MISSING[*]}"
        pip_install --no-deps "${MISSING[@]}"
    fi
    ensure_mmcv
    if [ "$HAS_HARNESS" = 0 ]; then
        say "installing the harness (editable, no dependencies) into $PY"
        pip_install --no-deps --no-build-isolation -e "$ROOT"
    fi
    "$PY" -c 'import mmdet, mmcv.ops, harness' || die "$PY does not import mmdet/mmcv.ops/harness"
    echo "$PY"; exit 0
fi

# --- 2. the project's own .venv ---------------------------------------------------------------
VENV=${FPN_REPRO_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
find_python311() {
    for cand in "${FPN_REPRO_BASE_PYTHON:-}" python3.11 python3; do
        [ -n "$cand" ] || continue
        command -v "$cand" >/dev/null 2>&1 || continue
        if "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$cand"; return 0
        fi
    done
    return 1
}
plan_venv() {  # facts of the venv, or of the pinned stack it is about to get
    local venv_py=$PY
    if [ -x "$venv_py" ]; then
        probe_python
        PY_DESC="$PY (Python $PY_VERSION, $PYTAG; the project venv)"
    else
        PY=$(find_python311) || die "Python 3.11 not found; install it or point FPN_REPRO_BASE_PYTHON at one"
        probe_python
        PY_DESC="$venv_py (Python $PY_VERSION, $PYTAG; to be made with $PY)"
        MMCV_HERE=""; MMCV_KIND=none; TORCH_VERSION=""; TORCH_CUDA_DIR=""   # the base python's
    fi
    PROBE_PY=$PY; PY=$venv_py
    if [ "${TORCH_VERSION%%+*}" = "$PINNED_TORCH" ]; then
        TORCH_DESC="$TORCH_VERSION${TORCH_CUDA:+, CUDA $TORCH_CUDA} (installed, the pin)"
    else
        TORCH_VERSION="$PINNED_TORCH+cu${PINNED_TORCH_CUDA//./}"; TORCH_CUDA=$PINNED_TORCH_CUDA; TORCH_ASSUMED=1
        TORCH_DESC="$PINNED_TORCH, CUDA $PINNED_TORCH_CUDA assumed (the pin, not installed yet: PyPI's Linux x86_64 wheel; decided again once installed)"
    fi
    decide
}
# The stamp changes whenever the pins, the set-up or its mmcv plan change, so any re-runs it.
stamp() { (cat "$REQ"/*.txt "$ROOT/pyproject.toml" "$ROOT/tools/bootstrap.sh" "$TOOLS"/*.sh "$TOOLS"/*.py; echo "$KEY") \
          | sha256sum | cut -c1-16; }
STAMP_FILE=$VENV/.fpn-repro-stamp
plan_venv
[ "$TOOLKIT_ONLY" = 0 ] || toolkit_only
if [ -x "$PY" ] && [ "$(cat "$STAMP_FILE" 2>/dev/null)" = "$(stamp)" ]; then
    [ "$PLAN_ONLY" = 1 ] || { echo "$PY"; exit 0; }
    STATE="up to date (stamp matches): the set-up would do nothing"
else
    STATE="the set-up would run ($( [ -x "$PY" ] && echo "pins, set-up or mmcv plan changed" || echo "no venv yet"))"
fi
if [ "$PLAN_ONLY" = 1 ]; then print_plan; echo "state: $STATE"; exit 0; fi

if [ "$OFFLINE" = 1 ]; then
    mapfile -t SPECS < <(req_lines "$REQ/runtime.txt" "$REQ/test.txt"; echo "pip<26")
    offline_precheck "${SPECS[@]}"; offline_precheck_mmcv
fi
if [ ! -x "$PY" ]; then
    say "creating $VENV with $PROBE_PY"
    "$PROBE_PY" -m venv "$VENV"
fi
say "installing pinned packages (torch, mmengine, mmdet, ...); first time: a few minutes"
pip_install --upgrade "pip<26"
pip_install -r "$REQ/runtime.txt" -r "$REQ/test.txt"
PROBE_PY=$PY; TORCH_ASSUMED=0; probe_python; decide   # now from the installed torch, not the pin
say "mmcv: $WANT_KIND ops ($CUDA_WHY); cache key $KEY"

# --- 3. mmcv with compiled ops, 4. the harness itself -------------------------------------------
ensure_mmcv
pip_install --no-deps --no-build-isolation -e "$ROOT"
"$PY" -c 'import mmdet, mmcv.ops, harness' || die "the environment in $VENV does not import mmdet/mmcv.ops/harness"
stamp > "$STAMP_FILE"
say "environment ready in $(( $(date +%s) - T0 )) s: $VENV"
echo "$PY"
