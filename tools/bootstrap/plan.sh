# The set-up's decisions (sourced by tools/bootstrap.sh). `decide` sets, from the environment
# alone and without changing anything (`--plan` prints them and stops):
#   CUDA_OPS (1/0) + CUDA_WHY     whether mmcv is built with CUDA ops, and why
#   TOOLKIT (system/pypi/none) + TOOLKIT_HOME + TOOLKIT_WHY    the CUDA toolkit for that build
#   ARCHS + ARCHS_WHY             TORCH_CUDA_ARCH_LIST of the build
#   KEY, CACHE                    the wheel cache key and folder
# README: "Setting up on a GPU cluster" explains the rules to users; keep the two in step.

# PyPI's torch wheel of the pinned version is a CUDA 13.0 build on Linux x86_64 (GPU or not); the
# plan for a .venv that does not exist yet assumes it, and the set-up decides again once torch is in.
PINNED_TORCH=$(sed -n 's/^torch==//p' "$REQ/runtime.txt")
PINNED_TORCH_CUDA=13.0
DEFAULT_ARCHS="7.0;8.0;9.0"   # V100, A100, H100/H200: what a login node builds for its GPU nodes

# Compute capabilities of the GPUs this machine has (one per line, sorted, unique); empty when none.
gpu_caps() {
    command -v nvidia-smi >/dev/null 2>&1 || return 0
    timeout 20 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null \
        | tr -d ' ' | grep -E '^[0-9]+\.[0-9]+$' | sort -u -V || true
}
gpu_count() {
    command -v nvidia-smi >/dev/null 2>&1 || { echo 0; return; }
    timeout 20 nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true
}
# A SLURM cluster whose nodes offer GPUs (`sinfo` lists a gpu GRES): this is its login node.
slurm_has_gpus() {
    command -v sinfo >/dev/null 2>&1 || return 1
    timeout 10 sinfo -h -o '%G' 2>/dev/null | grep -qi 'gpu'
}

decide_cuda() {
    local n
    CUDA_OPS=0
    case "${FPN_REPRO_CUDA:-}" in
        ""|0|1) ;;
        *) die "FPN_REPRO_CUDA=$FPN_REPRO_CUDA: use 1 (build CUDA ops) or 0 (CPU ops only)";;
    esac
    if [ -z "$TORCH_CUDA" ]; then
        if [ "${FPN_REPRO_CUDA:-}" = 1 ]; then die "FPN_REPRO_CUDA=1 but torch $TORCH_VERSION has no CUDA (a CPU-only build)"; fi
        CUDA_WHY="torch $TORCH_VERSION is a CPU-only build"; return
    fi
    n=$(gpu_count)
    if [ "${FPN_REPRO_CUDA:-}" = 1 ]; then CUDA_OPS=1; CUDA_WHY="FPN_REPRO_CUDA=1"
    elif [ "${FPN_REPRO_CUDA:-}" = 0 ]; then CUDA_WHY="FPN_REPRO_CUDA=0 asks for CPU ops only"
    elif [ "$n" -gt 0 ]; then CUDA_OPS=1; CUDA_WHY="$n GPU(s) visible (nvidia-smi)"
    elif [ -n "${TORCH_CUDA_ARCH_LIST:-}" ]; then CUDA_OPS=1; CUDA_WHY="TORCH_CUDA_ARCH_LIST is set"
    elif [ -n "${CUDA_HOME:-}" ]; then CUDA_OPS=1; CUDA_WHY="CUDA_HOME is set: a CUDA toolkit or module is loaded"
    elif slurm_has_gpus; then CUDA_OPS=1; CUDA_WHY="SLURM lists GPU nodes (sinfo): a login node builds what they need"
    else CUDA_WHY="no GPU visible and none asked for; FPN_REPRO_CUDA=1 builds CUDA ops for GPU nodes elsewhere"
    fi
    CUDA_WHY="torch has CUDA $TORCH_CUDA; $CUDA_WHY"
}

# CUDA 13 builds Turing (7.5) and newer only (Maxwell, Pascal and Volta were dropped in 13.0).
min_arch() { [ "${TORCH_CUDA%%.*}" -ge 13 ] && echo 7.5 || echo 0; }
arch_below() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ] && [ "$1" != "$2" ]; }

decide_archs() {
    local caps a kept="" dropped="" min
    ARCHS=""; ARCHS_WHY=""
    [ "$CUDA_OPS" = 1 ] || return 0
    min=$(min_arch)
    caps=$(gpu_caps)
    if [ -n "${TORCH_CUDA_ARCH_LIST:-}" ]; then
        ARCHS=$TORCH_CUDA_ARCH_LIST; ARCHS_WHY="from TORCH_CUDA_ARCH_LIST"
        for a in $(echo "$ARCHS" | tr ';, ' '\n\n\n' | sed 's/+PTX//'); do
            if arch_below "$a" "$min"; then die "TORCH_CUDA_ARCH_LIST has $a, which CUDA $TORCH_CUDA cannot build (it builds $min and newer)"; fi
        done
        return 0
    fi
    if [ -n "$caps" ]; then
        ARCHS=$(echo "$caps" | paste -sd ';'); ARCHS_WHY="the visible GPUs"
        for a in $caps; do
            if arch_below "$a" "$min"; then die "this machine's GPU has compute capability $a, which torch's CUDA $TORCH_CUDA does not support; use an environment with a torch built for an older CUDA (FPN_REPRO_PYTHON)"; fi
        done
        return 0
    fi
    for a in $(echo "$DEFAULT_ARCHS" | tr ';' ' '); do
        if arch_below "$a" "$min"; then dropped="$dropped $a"; else kept="$kept;$a"; fi
    done
    ARCHS=${kept#;}
    ARCHS_WHY="the default for V100/A100/H100 is $DEFAULT_ARCHS, TORCH_CUDA_ARCH_LIST sets others"
    if [ -n "$dropped" ]; then ARCHS_WHY="$ARCHS_WHY;${dropped} dropped: CUDA $TORCH_CUDA builds $min and newer only"; fi
}

# nvcc's own idea of its toolkit root (it follows wrapper scripts and module symlinks), else the
# folder above its bin/.
nvcc_home() {
    local top
    top=$(cd "${TMPDIR:-/tmp}" && timeout 20 "$1" -dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n1)
    if [ -n "$top" ] && [ -d "$top" ]; then (cd "$top" && pwd -P); else dirname "$(dirname "$(readlink -f "$1")")"; fi
}
nvcc_release() { timeout 20 "$1" --version 2>/dev/null | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p' | head -n1; }

decide_toolkit() {
    local nvcc="" origin="" home ver
    TOOLKIT=none; TOOLKIT_HOME=""; TOOLKIT_WHY="not needed for CPU ops"
    [ "$CUDA_OPS" = 1 ] || return 0
    if [ -n "${CUDA_HOME:-}" ]; then nvcc=$CUDA_HOME/bin/nvcc; origin="CUDA_HOME=$CUDA_HOME"
    elif command -v nvcc >/dev/null 2>&1; then nvcc=$(command -v nvcc); origin="nvcc on PATH ($nvcc)"
    fi
    TOOLKIT_WHY="no system CUDA toolkit (neither CUDA_HOME nor nvcc on PATH)"
    if [ -n "$nvcc" ]; then
        ver=$( [ -x "$nvcc" ] && nvcc_release "$nvcc" || true)
        if [ "$ver" = "$TORCH_CUDA" ]; then
            if [ -n "${CUDA_HOME:-}" ]; then home=$CUDA_HOME; else home=$(nvcc_home "$nvcc"); fi
            TOOLKIT=system; TOOLKIT_HOME=$home; TOOLKIT_WHY="system CUDA $ver from $origin"
            return 0
        fi
        TOOLKIT_WHY="the system toolkit ($origin) is CUDA ${ver:-?}, torch needs $TORCH_CUDA"
    fi
    if [ -z "${TORCH_CUDA_DIR:-}" ] && [ "${TORCH_ASSUMED:-0}" = 0 ]; then
        TOOLKIT_WHY="$TOOLKIT_WHY; torch's environment has no nvidia/cu${TORCH_CUDA%%.*} CUDA headers for a PyPI toolkit: load a CUDA $TORCH_CUDA module or set CUDA_HOME"
    elif [ -f "$REQ/cuda-toolkit-$TORCH_CUDA.txt" ]; then
        TOOLKIT=pypi; TOOLKIT_HOME=$CACHE_ROOT/toolkits/cuda-$TORCH_CUDA
        local state="to be installed from PyPI"
        if [ -x "$TOOLKIT_HOME/bin/nvcc" ]; then state="installed before"
        elif [ "$OFFLINE" = 1 ]; then state="to be installed from $WH"; fi
        TOOLKIT_WHY="$TOOLKIT_WHY; so the PyPI CUDA $TORCH_CUDA compiler of requirements/cuda-toolkit-$TORCH_CUDA.txt with torch's own CUDA headers, $state"
    else
        TOOLKIT_WHY="$TOOLKIT_WHY; no PyPI toolkit is set up for CUDA $TORCH_CUDA: load a CUDA $TORCH_CUDA module or set CUDA_HOME"
    fi
}

decide() {
    decide_cuda; decide_archs; decide_toolkit
    local tag=cpu
    if [ "$CUDA_OPS" = 1 ]; then tag="cu$TORCH_CUDA-arch$(echo "$ARCHS" | tr ';, ' '___')"; fi
    KEY="mmcv$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG-$tag-$(uname -m)"
    CACHE=$CACHE_ROOT/wheels/$KEY
    WANT_KIND=cpu
    if [ "$CUDA_OPS" = 1 ]; then WANT_KIND=cuda${TORCH_CUDA%%.*}; fi
}

# Does an mmcv of kind $1 (cpu, cudaN, none) serve this plan? CUDA ops also run CPU tensors.
kind_fits() { [ "$1" = "$WANT_KIND" ] || { [ "$WANT_KIND" = cpu ] && [ "${1#cuda}" != "$1" ]; }; }

print_plan() {
    cat <<EOF
python: $PY_DESC
torch: $TORCH_DESC
cuda_ops: $( [ "$CUDA_OPS" = 1 ] && echo yes || echo no) ($CUDA_WHY)
toolkit: $TOOLKIT${TOOLKIT_HOME:+ $TOOLKIT_HOME} ($TOOLKIT_WHY)
archs: ${ARCHS:--}${ARCHS_WHY:+ ($ARCHS_WHY)}
cache_key: $KEY
wheel: $(describe_wheel_source)
offline: $( [ "$OFFLINE" = 1 ] && echo "yes, from $WH alone" || echo "no${WH:+ (wheelhouse $WH first)}")
EOF
}
