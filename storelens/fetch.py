"""Fetch a file from a URL or a local mirror and install it only once its sha256 matches.

Shared by models (`storelens models pull`) and sample videos. The file is written to a temporary
name beside the destination, verified, then renamed: a failed or corrupt download never replaces
a good file and never leaves a partial one behind.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from storelens.errors import StorelensError


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https", "file")


def mirror_source(mirror: str, file: str) -> str:
    """Where `file` sits in a mirror given as a directory or a base URL."""
    if is_url(mirror):
        return mirror.rstrip("/") + "/" + file
    return str(Path(mirror) / file)


def _copy(source: str, dest: Path) -> None:
    if is_url(source):
        with urllib.request.urlopen(source, timeout=60) as resp, dest.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(resp, out)
    else:
        shutil.copyfile(source, dest)


def fetch_verified(source: str, dest: Path, sha256: str, *, what: str,
                   error: type[StorelensError] = StorelensError) -> None:
    """Install `source` at `dest` if its sha256 matches; raise `error` naming `what` otherwise."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        try:
            _copy(source, tmp_path)
        except OSError as exc:
            raise error(f"{what}: cannot fetch {source}: {exc}") from exc
        actual = sha256_of(tmp_path)
        if actual != sha256:
            raise error(f"{what} from {source} has sha256 {actual[:12]}…, expected {sha256[:12]}…; not installed")
        tmp_path.replace(dest)
    finally:
        tmp_path.unlink(missing_ok=True)
