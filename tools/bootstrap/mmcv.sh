# mmcv with compiled ops (sourced by tools/bootstrap.sh): from the environment, a wheelhouse, the
# per-user wheel cache, or built from the sdist, always of the kind the plan wants (plan.sh).
# MMCV_ANY_VERSION=1 (existing environments) accepts any mmcv version whose ops load.

# Do mmcv's ops load here, and are they of the planned kind? (imports torch: seconds)
mmcv_ok() {
    "$PY" - "$MMCV_VERSION" "${MMCV_ANY_VERSION:-0}" "$WANT_KIND" <<'EOF' 2>/dev/null
import sys
import mmcv, mmcv.ops
want, any_version, kind = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
assert any_version or mmcv.__version__ == want
cuda = mmcv.ops.get_compiling_cuda_version()   # "not available" in a CPU-only build
assert kind == "cpu" or cuda.split(".")[0] == kind[len("cuda"):]
EOF
}

# The first mmcv wheel in folder $1 for this Python whose ops suit the plan (empty if none).
fitting_wheel() {
    local w k
    for w in "$1"/mmcv-$MMCV_VERSION-$PYTAG-*.whl; do
        [ -f "$w" ] || continue
        k=$("${PROBE_PY:-$PY}" "$TOOLS/probe.py" wheel-kind "$w" 2>/dev/null || echo none)
        if kind_fits "$k"; then echo "$w"; return 0; fi
        say "not using $w: its ops are $k, the plan wants $WANT_KIND" >&2
    done
}

sdist_source() {
    if [ -n "$WH" ] && [ -f "$WH/mmcv-$MMCV_VERSION.tar.gz" ]; then echo "$WH/mmcv-$MMCV_VERSION.tar.gz"
    elif [ "$OFFLINE" = 1 ]; then echo ""
    else echo "PyPI"; fi
}

BUILD_NOTE_CPU="CPU ops: 77 C++ sources, measured 26 min on 2 cores"
BUILD_NOTE_CUDA="CUDA ops: the 77 C++ sources plus 58 CUDA ones, each compiled for every arch: much longer than the CPU build's 26 min on 2 cores; MAX_JOBS compiles in parallel, all cores by default"

describe_wheel_source() {
    local w
    if [ -n "${MMCV_KIND:-}" ] && [ "$MMCV_KIND" != none ] && kind_fits "$MMCV_KIND" \
        && { [ "${MMCV_ANY_VERSION:-0}" = 1 ] || [ "$MMCV_VERSION" = "${MMCV_HERE:-}" ]; }; then
        echo "installed already (mmcv ${MMCV_HERE}, $MMCV_KIND ops)"; return
    fi
    if [ -n "$WH" ] && w=$(fitting_wheel "$WH" 2>/dev/null) && [ -n "$w" ]; then echo "wheelhouse: $w"; return; fi
    if w=$(fitting_wheel "$CACHE" 2>/dev/null) && [ -n "$w" ]; then echo "cache: $w"; return; fi
    local src; src=$(sdist_source)
    [ -n "$src" ] || { echo "none: offline and $WH has no mmcv-$MMCV_VERSION.tar.gz"; return; }
    if [ "$CUDA_OPS" = 1 ]; then echo "build from $src into $CACHE; $BUILD_NOTE_CUDA"
    else echo "build from $src into $CACHE; $BUILD_NOTE_CPU"; fi
}

install_wheel_from() {  # $1: folder; succeeds only if a fitting wheel there installs and its ops load
    local w
    w=$(fitting_wheel "$1") || true
    [ -n "$w" ] || return 1
    say "installing $(basename "$w") from $1"
    pip_or_die "installing $w" install -q --no-deps --force-reinstall "$w"
    mmcv_ok
}

# Build tools missing from the environment go into a side folder put on PYTHONPATH/PATH for the
# build only, so an existing environment keeps its own setuptools: mmcv's setup.py needs
# pkg_resources (gone in setuptools 81), `pip wheel` the wheel package, torch's builder ninja.
build_tools_needed() {  # one spec per line; a venv still to be made gets setuptools/wheel anyway
    if [ -x "$PY" ]; then
        "$PY" -c 'import pkg_resources' >/dev/null 2>&1 || grep -m1 '^setuptools' "$REQ/runtime.txt"
        "$PY" -c 'import wheel' >/dev/null 2>&1 || grep -m1 '^wheel' "$REQ/runtime.txt"
    fi
    command -v ninja >/dev/null 2>&1 || req_lines "$REQ/build.txt"
}
build_tools_overlay() {
    local dir=$1 need=()
    mapfile -t need < <(build_tools_needed)
    [ ${#need[@]} -gt 0 ] || return 0
    say "build tools for this build only (in $dir): ${need[*]}"
    pip_install --no-deps --target "$dir" "${need[@]}"
}

ensure_mmcv() {
    mmcv_ok && return 0
    [ -n "$WH" ] && install_wheel_from "$WH" && return 0
    install_wheel_from "$CACHE" && return 0
    build_mmcv
    install_wheel_from "$CACHE" || die "the freshly built mmcv wheel does not load its ops ($WANT_KIND)"
}

build_mmcv() {
    local work log start n total el eta src pid vars=() bpath
    bpath="$(dirname "$PY"):$PATH"
    work=$(mktemp -d "${TMPDIR:-/tmp}/mmcv-build.XXXXXX")
    log=$work/build.log
    if [ "$CUDA_OPS" = 1 ]; then
        [ "$TOOLKIT" != none ] || die "no CUDA $TORCH_CUDA toolkit for the CUDA build: $TOOLKIT_WHY"
        if [ "$TOOLKIT" = pypi ]; then install_pypi_toolkit "$TOOLKIT_HOME"; fi
        say "building mmcv $MMCV_VERSION with CUDA ops for torch $TORCH_VERSION, archs $ARCHS, toolkit $TOOLKIT_HOME"
        say "($BUILD_NOTE_CUDA; once per cache key: the wheel is kept in $CACHE)"
        vars=(FORCE_CUDA=1 "TORCH_CUDA_ARCH_LIST=$ARCHS" "CUDA_HOME=$TOOLKIT_HOME")
        bpath="$TOOLKIT_HOME/bin:$bpath"
    else
        say "building mmcv $MMCV_VERSION with CPU ops for torch $TORCH_VERSION"
        say "($BUILD_NOTE_CPU; once per cache key: the wheel is kept in $CACHE)"
        # mmcv's setup.py also builds CUDA ops whenever torch sees a GPU; hide them for a CPU build
        vars=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
    fi
    src=$(sdist_source)
    if [ "$src" = PyPI ]; then
        # --no-build-isolation: pip prepares metadata even to download, and mmcv needs pkg_resources
        pip_or_die "downloading the mmcv sdist" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$work"
        src=$work/mmcv-$MMCV_VERSION.tar.gz
    fi
    [ -f "$src" ] || die "no mmcv $MMCV_VERSION sdist (offline, and $WH has no mmcv-$MMCV_VERSION.tar.gz)"
    tar -xzf "$src" -C "$work"
    local tree=$work/mmcv-$MMCV_VERSION
    # torch >= 2.10 headers refuse C++17; mmcv 2.1.0 hard-codes it (for g++ and nvcc alike).
    if "$PY" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(v < (2, 10))'; then
        sed -i 's/-std=c++17/-std=c++20/g' "$tree/setup.py"
    fi
    build_tools_overlay "$work/tools"
    # objects to compile: csrc/pytorch/*.cpp and cpu/*.cpp (77), plus cuda/*.cu and cuda/*.cpp
    total=$(find "$tree/mmcv/ops/csrc/pytorch" -maxdepth 2 -name '*.cpp' -not -path '*/mlu/*' -not -path '*/npu/*' -not -path '*/mps/*' -not -path '*/cuda/*' | wc -l)
    [ "$CUDA_OPS" = 1 ] && total=$(( total + $(find "$tree/mmcv/ops/csrc/pytorch/cuda" \( -name '*.cu' -o -name '*.cpp' \) | wc -l) ))
    start=$(date +%s)
    ( cd "$tree" && env "${vars[@]}" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        PYTHONPATH="$work/tools${PYTHONPATH:+:$PYTHONPATH}" PATH="$work/tools/bin:$bpath" \
        "$PY" -m pip wheel -v --no-build-isolation --no-deps -w "$work/dist" . >"$log" 2>&1 ) &
    pid=$!
    local tick=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1; tick=$((tick + 1))
        [ $((tick % 20)) = 0 ] || continue   # a progress line every 20 s
        n=$(find "$tree/build" -name '*.o' 2>/dev/null | wc -l)
        el=$(( $(date +%s) - start )); eta="?"
        [ "$n" -gt 0 ] && eta=$(( el * (total - n) / n / 60 ))
        say "mmcv build ($WANT_KIND): $n/$total objects compiled, $((el / 60))m$((el % 60))s elapsed, ETA ~${eta} min"
    done
    wait "$pid" || { tail -n 30 "$log" >&2; die "mmcv build failed; full log: $log"; }
    mkdir -p "$CACHE"
    local whl; whl=$(ls "$work"/dist/mmcv-*.whl)
    cp "$whl" "$CACHE/.tmp.whl" && mv "$CACHE/.tmp.whl" "$CACHE/$(basename "$whl")"
    say "mmcv built in $(( ($(date +%s) - start) / 60 )) min; cached in $CACHE"
    rm -rf "$work"
}
