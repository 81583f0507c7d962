#!/usr/bin/env bash
# Host packages the test suite needs, installed when missing (Debian/Ubuntu apt-get, as root), so
# that no test installs anything itself. Idempotent: when every program is there it does nothing.
#   slurm-wlm + munge   the single-node SLURM cluster the SLURM launcher test starts
#   poppler-utils       pdftoppm/pdftotext/pdfinfo, which render and read the report PDF in tests
# Not root, or no apt-get: one line saying what to install; the tests that need it then skip or
# fail with their own reason. FPN_REPRO_HOST_PACKAGES=0 skips this step.
set -euo pipefail

say() { printf '[host-packages] %s\n' "$*" >&2; }
[ "${FPN_REPRO_HOST_PACKAGES:-1}" = 0 ] && exit 0

# program -> Debian package (daemons live in sbin, which a non-root PATH may lack)
PROGRAMS="sbatch:slurm-wlm slurmctld:slurm-wlm slurmd:slurm-wlm munged:munge
          pdftoppm:poppler-utils pdftotext:poppler-utils pdfinfo:poppler-utils"
missing=()
for entry in $PROGRAMS; do
    prog=${entry%%:*} pkg=${entry#*:}
    PATH="$PATH:/usr/sbin:/sbin" command -v "$prog" >/dev/null 2>&1 && continue
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install -y ${missing[*]}), else the tests that need them skip"
    exit 0
fi
say "installing ${missing[*]} with apt-get (once per machine)"
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -qq "${missing[@]}" >/dev/null 2>"$1"; }
err=$(mktemp)
# a fresh image's package lists may be empty or stale: update once and retry
if ! apt_install "$err" && ! { apt-get update -qq >/dev/null 2>>"$err" && apt_install "$err"; }; then
    say "apt-get install ${missing[*]} failed ($(grep -v '^W:' "$err" | tail -n1)); the tests that need them skip"
fi
rm -f "$err"
exit 0
