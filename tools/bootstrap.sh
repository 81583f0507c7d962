#!/usr/bin/env bash
# Idempotent set-up shared by run_all.sh and run_tests.sh. Prints the python to use on its last
# line of stdout (everything else goes to stderr), so callers do: PY=$(tools/bootstrap.sh).
#
#   FPN_REPRO_PYTHON=/path/to/python  use an existing environment where `mmdet` and `mmcv.ops`
#                                     import (cluster users with their own CUDA build of mmcv)
#   FPN_REPRO_WHEELHOUSE=DIR          install mmcv from a wheel in DIR instead of building it
#   FPN_REPRO_VENV=DIR                where to make the virtual environment (default: ./.venv)
#   FPN_REPRO_CACHE=DIR               per-user cache for the built mmcv wheel
#                                     (default: ${XDG_CACHE_HOME:-~/.cache}/fpn-repro)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MMCV_VERSION=2.1.0
say() { printf '[bootstrap] %s\n' "$*" >&2; }
# pip -q still warns about every unreadable extra index of a machine's pip.conf; keep real errors.
quiet_pip() { "$PY" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2) >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# --- 1. a user-provided environment -------------------------------------------------------------
if [ -n "${FPN_REPRO_PYTHON:-}" ]; then
    PY=$FPN_REPRO_PYTHON
    [ -x "$PY" ] || die "FPN_REPRO_PYTHON=$PY is not an executable python"
    "$PY" -c 'import mmdet, mmcv.ops' 2>/dev/null \
        || die "FPN_REPRO_PYTHON=$PY cannot import mmdet and mmcv.ops; install mmcv with ops there, or unset FPN_REPRO_PYTHON to let the harness make .venv"
    if ! "$PY" -c 'import harness' 2>/dev/null; then
        say "installing the harness (editable, no dependencies) into $PY"
        "$PY" -m pip install -q --no-deps -e "$ROOT" >&2
    fi
    echo "$PY"; exit 0
fi

# --- 2. the project's own .venv ---------------------------------------------------------------
VENV=${FPN_REPRO_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
# The stamp changes whenever the pins or this script change, so an edit re-runs the set-up.
STAMP_WANT=$(cat "$ROOT/requirements/runtime.txt" "$ROOT/requirements/test.txt" "$ROOT/pyproject.toml" \
             "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
STAMP_FILE=$VENV/.fpn-repro-stamp
if [ -x "$PY" ] && [ "$(cat "$STAMP_FILE" 2>/dev/null)" = "$STAMP_WANT" ]; then
    echo "$PY"; exit 0
fi

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

T0=$(date +%s)
if [ ! -x "$PY" ]; then
    BASE=$(find_python311) || die "Python 3.11 not found; install it or point FPN_REPRO_BASE_PYTHON at one"
    say "creating $VENV with $BASE"
    "$BASE" -m venv "$VENV"
fi
say "installing pinned packages (torch, mmengine, mmdet, ...); first time: a few minutes"
quiet_pip install -q --upgrade "pip<26"
quiet_pip install -q -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/test.txt"

# --- 3. mmcv with compiled ops ------------------------------------------------------------------
mmcv_ok() { "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "'$MMCV_VERSION'"' 2>/dev/null; }
TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
PYTAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
CACHE=${FPN_REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fpn-repro}/wheels/torch-$TORCH_VERSION-$PYTAG-$(uname -m)

install_wheel_from() {  # $1: folder; succeeds only if a wheel there installs and its ops load
    local w
    w=$(ls "$1"/mmcv-$MMCV_VERSION-$PYTAG-*.whl 2>/dev/null | head -n1) || true
    [ -n "$w" ] || return 1
    say "installing $(basename "$w") from $1"
    quiet_pip install -q --no-deps --force-reinstall "$w"
    mmcv_ok
}

build_mmcv() {
    local work log start n total
    work=$(mktemp -d "${TMPDIR:-/tmp}/mmcv-build.XXXXXX")
    log=$work/build.log
    say "building mmcv $MMCV_VERSION with ops from the PyPI sdist for torch $TORCH_VERSION"
    say "measured: about 26 minutes on 2 cores (once per machine: the wheel is cached in $CACHE)"
    # --no-build-isolation: pip prepares metadata even to download, and mmcv needs pkg_resources
    quiet_pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work"
    tar -xzf "$work"/mmcv-$MMCV_VERSION.tar.gz -C "$work"
    local src=$work/mmcv-$MMCV_VERSION
    # torch >= 2.10 headers refuse C++17; mmcv 2.1.0 hard-codes it.
    if "$PY" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(v < (2, 10))'; then
        sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    fi
    # the CPU build compiles csrc/pytorch/*.cpp and csrc/pytorch/cpu/*.cpp (77 objects)
    total=$(find "$src/mmcv/ops/csrc/pytorch" -maxdepth 2 -name "*.cpp" -not -path "*/mlu/*" -not -path "*/npu/*" -not -path "*/mps/*" -not -path "*/cuda/*" | wc -l)
    start=$(date +%s)
    ( cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" -m pip wheel -v --no-build-isolation --no-deps -w "$work/dist" . >"$log" 2>&1 ) &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 20
        n=$(find "$src/build" -name '*.o' 2>/dev/null | wc -l)
        local el=$(( $(date +%s) - start ))
        local eta="?"
        [ "$n" -gt 0 ] && eta=$(( el * (total - n) / n / 60 ))
        say "mmcv build: $n/$total objects compiled, $((el / 60))m$((el % 60))s elapsed, ETA ~${eta} min"
    done
    wait "$pid" || { tail -n 30 "$log" >&2; die "mmcv build failed; full log: $log"; }
    mkdir -p "$CACHE"
    cp "$work"/dist/mmcv-*.whl "$CACHE/.tmp.whl" && mv "$CACHE/.tmp.whl" "$CACHE/$(basename "$work"/dist/mmcv-*.whl)"
    say "mmcv built in $(( ($(date +%s) - start) / 60 )) min; cached in $CACHE"
    rm -rf "$work"
}

if ! mmcv_ok; then
    if [ -n "${FPN_REPRO_WHEELHOUSE:-}" ] && install_wheel_from "$FPN_REPRO_WHEELHOUSE"; then :
    elif install_wheel_from "$CACHE"; then :
    else
        [ -n "${FPN_REPRO_WHEELHOUSE:-}" ] && say "no usable mmcv $MMCV_VERSION wheel for $PYTAG + torch $TORCH_VERSION in $FPN_REPRO_WHEELHOUSE"
        build_mmcv
        install_wheel_from "$CACHE" || die "the freshly built mmcv wheel does not import its ops"
    fi
fi

# --- 4. the harness itself --------------------------------------------------------------------
quiet_pip install -q --no-deps -e "$ROOT"
"$PY" -c 'import mmdet, mmcv.ops, harness' || die "the environment in $VENV does not import mmdet/mmcv.ops/harness"
echo "$STAMP_WANT" > "$STAMP_FILE"
say "environment ready in $(( $(date +%s) - T0 )) s: $VENV"
echo "$PY"
