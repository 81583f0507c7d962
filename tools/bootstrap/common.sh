# Shared helpers of tools/bootstrap.sh (sourced; expects ROOT, and PY once a python is chosen).

MMCV_VERSION=2.1.0
TOOLS=$ROOT/tools/bootstrap
REQ=$ROOT/requirements
CACHE_ROOT=${FPN_REPRO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fpn-repro}
WH=${FPN_REPRO_WHEELHOUSE:-}
OFFLINE=${FPN_REPRO_OFFLINE:-0}

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# pip, with its warnings about unreadable extra indexes of a machine's pip.conf dropped. On failure
# PIP_ERR holds the last lines of its errors and PIP_MISSING the first distribution not found.
pip_run() {
    local err rc=0
    err=$(mktemp "${TMPDIR:-/tmp}/pip-err.XXXXXX")
    "$PY" -m pip "$@" >&2 2>"$err" || rc=$?
    PIP_ERR=$(grep -v -e 'is ignored: it is neither a file nor a directory' -e "Running pip as the 'root' user" -e '^$' "$err" | tail -n 15 || true)
    rm -f "$err"
    if [ "$rc" = 0 ]; then [ -z "$PIP_ERR" ] || printf '%s\n' "$PIP_ERR" >&2; return 0; fi
    PIP_MISSING=$(printf '%s\n' "$PIP_ERR" | sed -n 's/.*No matching distribution found for \([^ ;]*\).*/\1/p' | head -n1)
    return "$rc"
}
pip_or_die() {  # $1: what is being done, for the error line; the rest: pip's arguments
    local what=$1; shift
    pip_run "$@" && return 0
    printf '%s\n' "$PIP_ERR" >&2
    die "$what failed${PIP_MISSING:+: no distribution found for $PIP_MISSING}"
}

# Where pip takes packages from: the wheelhouse alone when offline (--isolated: no pip.conf or
# PIP_* indexes and find-links either), the wheelhouse first otherwise.
pip_sources() {
    if [ "$OFFLINE" = 1 ]; then printf '%s\n' --isolated --no-index --find-links "$WH"
    elif [ -n "$WH" ]; then printf '%s\n' --find-links "$WH"
    fi
}

# `pip install` from pip_sources; offline, a package not in the wheelhouse is named in one line.
pip_install() {
    local src=()
    mapfile -t src < <(pip_sources)
    pip_run install -q ${src[@]+"${src[@]}"} "$@" && return 0
    if [ -n "$PIP_MISSING" ] && [ "$OFFLINE" = 1 ]; then
        die "offline: $WH has no wheel for $PIP_MISSING (Python ${PYTAG:-?}); add it with tools/bootstrap.sh --wheelhouse-for $WH on a connected machine"
    fi
    printf '%s\n' "$PIP_ERR" >&2
    die "pip install $* failed${PIP_MISSING:+: no distribution found for $PIP_MISSING}"
}

# Python facts (no torch import): PY_VERSION PYTAG TORCH_VERSION TORCH_CUDA TORCH_CUDA_DIR
# MMCV_HERE MMCV_KIND HAS_HARNESS (probe.py)
probe_python() { eval "$("$PY" "$TOOLS/probe.py" env)"; }

# The pinned requirement lines of a file (comments and blank lines dropped).
req_lines() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$@" | grep -v '^$' || true; }
