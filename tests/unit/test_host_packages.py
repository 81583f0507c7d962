"""tools/host_packages.sh (run by ./run_tests.sh so that no test installs packages): installs only
what is missing, only as root, once; otherwise says in one line what to install. Run in a sandbox
whose PATH holds basic tools plus fakes of `id`, `apt-get` and the programs; nothing is installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "host_packages.sh"
SLURM = ("sbatch", "slurmctld", "slurmd", "munged")
POPPLER = ("pdftoppm", "pdftotext", "pdfinfo")


class Host:
    def __init__(self, tmp: Path, uid: int = 0):
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for tool in ("bash", "sh", "mktemp", "grep", "tail", "rm", "cat", "touch", "chmod"):
            (self.bin / tool).symlink_to(shutil.which(tool))
        self.log = tmp / "apt.log"
        self.fake("id", f"echo {uid}")
        self.programs(*SLURM)

    def fake(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)

    def programs(self, *names: str) -> None:
        for n in names:
            self.fake(n, "exit 0")

    def apt(self, fail_install_until_update: bool = False) -> None:
        """Logs each call; `install poppler-utils` puts the poppler programs on PATH."""
        gate = 'grep -q update "$LOG" || exit 100' if fail_install_until_update else ""
        makes = "; ".join(f'printf "#!/bin/sh\\n" > {self.bin}/{p}; chmod +x {self.bin}/{p}'
                          for p in POPPLER)
        self.fake("apt-get", f"""LOG={self.log}
echo "$*" >> "$LOG"
case "$1" in install) {gate}
  case "$*" in *poppler-utils*) {makes} ;; esac ;; esac
exit 0""")

    def run(self, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(SCRIPT)], env={"PATH": str(self.bin), **env},
                              capture_output=True, text=True, timeout=60)

    def apt_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def test_nothing_missing_does_nothing(tmp_path):
    host = Host(tmp_path)
    host.programs(*POPPLER)
    host.apt()
    proc = host.run()
    assert (proc.returncode, proc.stderr, host.apt_calls()) == (0, "", [])


def test_root_installs_what_is_missing_once(tmp_path):
    host = Host(tmp_path)
    host.apt()
    proc = host.run()
    assert proc.returncode == 0
    assert host.apt_calls() == ["install -y -qq poppler-utils"]
    assert "installing poppler-utils with apt-get" in proc.stderr
    again = host.run()
    assert (again.returncode, again.stderr) == (0, "")
    assert host.apt_calls() == ["install -y -qq poppler-utils"], "idempotent: no second install"


def test_stale_package_lists_are_updated_once_then_installed(tmp_path):
    host = Host(tmp_path)
    host.apt(fail_install_until_update=True)
    assert host.run().returncode == 0
    assert host.apt_calls() == ["install -y -qq poppler-utils", "update -qq",
                                "install -y -qq poppler-utils"]
    assert all(shutil.which(p, path=str(host.bin)) for p in POPPLER)


def test_not_root_says_what_to_install_in_one_line(tmp_path):
    host = Host(tmp_path, uid=1000)
    host.apt()
    proc = host.run()
    assert proc.returncode == 0 and host.apt_calls() == []
    assert proc.stderr.splitlines() == [
        "[host-packages] missing poppler-utils: install them (Debian/Ubuntu: sudo apt-get install "
        "-y poppler-utils), else the tests that need them skip"]


def test_opt_out(tmp_path):
    host = Host(tmp_path)
    host.apt()
    proc = host.run(FPN_REPRO_HOST_PACKAGES="0")
    assert (proc.returncode, proc.stderr, host.apt_calls()) == (0, "", [])
