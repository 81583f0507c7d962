"""Making a data set in place without ever leaving half of one: build it in a temp folder,
fingerprint it (tree_hash, kept in its manifest), then rename it onto its path."""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from harness.errors import HarnessError
from harness.store.atomic import write_text_atomic


def tree_hash(root: Path, exclude: tuple[str, ...]) -> str:
    """sha256 over every file's relative path and bytes (sorted), so any change shows."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in exclude):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_json(path: Path, obj: object) -> None:
    """Deterministic compact JSON, written atomically."""
    write_text_atomic(path, json.dumps(obj, separators=(",", ":")) + "\n")


def publish_dir(tmp: Path, root: Path, force: bool) -> None:
    """Rename a finished temp tree onto root. An existing root is only replaced when force is set
    (or it is an empty directory); the old tree is moved aside first, so root is never half-made."""
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    if root.exists() or root.is_symlink():
        if not force:
            raise HarnessError(f"{root} already exists with other content; pick an empty path or pass "
                               "--force to replace it")
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        root.rename(old / root.name)
        tmp.rename(root)
        shutil.rmtree(old)
        return
    try:
        tmp.rename(root)
    except OSError as e:  # root appeared meanwhile (a concurrent run)
        raise HarnessError(f"{root} appeared while it was being written ({e.strerror}); run again") from None


def read_manifest(root: Path, name: str) -> dict | None:
    """The manifest JSON object in root, or None if absent or unreadable."""
    try:
        data = json.loads((root / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
