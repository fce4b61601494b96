"""The lock file and the install size of each role: `./dev lock` and `./dev sizes`.

Standard library only, so it runs from a fresh clone before any virtualenv exists
(`python3 -m devkit.installs lock|sizes`). Both build throwaway virtualenvs with pip itself:

- lock: installs `.[dev]` into a fresh venv and writes `pip freeze` of it to constraints.txt. By
  default the current pins are kept (new dependencies are resolved, removed ones drop out);
  `--upgrade` resolves everything anew within pyproject's ranges.
- sizes: installs the package with each extra, through the lock, and prints its size on disk and
  its number of distributions, beyond what a bare venv already holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
EXTRAS = ("core", "edge", "cloud", "dashboard", "all", "dev")
_HEADER = """\
# What the test suite runs with: ./dev and CI install `pip install -c constraints.txt -e '.[dev]'`.
# pyproject.toml says which versions the code supports; this file pins the ones it was tested with.
# Refresh: `./dev lock` (keeps these pins, resolves new or removed dependencies)
#          `./dev lock --upgrade` (everything re-resolved to the newest allowed), then `./dev test`.
# Made on {python} {platform}; pip skips pins for packages an install does not need.
"""


def _run(cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """Run quietly; on failure show what the command said, then stop."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    kwargs.setdefault("stdout", subprocess.PIPE)
    done = subprocess.run(list(cmd), env=env, stderr=subprocess.PIPE, text=True, **kwargs)
    if done.returncode:
        sys.stderr.write(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout or ''}{done.stderr}")
        raise SystemExit(done.returncode)
    return done


def make_venv(where: Path) -> Path:
    """A bare virtualenv at `where`; returns its python."""
    _run([sys.executable, "-m", "venv", str(where)])
    python = where / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    return python


def requirement(extra: str, editable: bool = False) -> list[str]:
    """pip arguments installing this checkout with `extra` ('core' = no extra)."""
    spec = str(ROOT) if extra == "core" else f"{ROOT}[{extra}]"
    return ["-e", spec] if editable else [spec]


def installed(python: Path) -> dict[str, str]:
    """Distribution name (lower case) -> version, as pip lists them."""
    out = _run([str(python), "-m", "pip", "list", "--format=json"]).stdout
    return {row["name"].lower(): row["version"] for row in json.loads(out)}


def tree_bytes(path: Path) -> int:
    """Bytes of regular files under `path` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = Path(dirpath) / name
            if not full.is_symlink():
                total += full.stat().st_size
    return total


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(_run([str(python), "-c", code]).stdout.strip())


def freeze(python: Path) -> list[str]:
    out = _run([str(python), "-m", "pip", "freeze", "--exclude-editable"]).stdout
    return sorted((line for line in out.splitlines() if line and not line.startswith("#")), key=str.lower)


def lock(upgrade: bool) -> int:
    """Write constraints.txt from a fresh `.[dev]` install; returns the number of pins."""
    with tempfile.TemporaryDirectory(prefix="storelens-lock-") as tmp:
        python = make_venv(Path(tmp) / "venv")
        pins = [] if upgrade or not LOCK.is_file() else ["-c", str(LOCK)]
        _run([str(python), "-m", "pip", "install", "-q", *pins, *requirement("dev", editable=True)])
        lines = freeze(python)
    header = _HEADER.format(python=f"Python {sys.version.split()[0]}", platform=f"{sys.platform} {os.uname().machine}")
    LOCK.write_text(header + "\n".join(lines) + "\n")
    return len(lines)


def measure(extra: str, tmp: Path, baseline: tuple[int, set[str]]) -> tuple[float, int]:
    """(MB on disk, distributions) that installing `extra` adds to a bare venv."""
    python = make_venv(tmp / extra)
    pins = ["-c", str(LOCK)] if LOCK.is_file() else []
    _run([str(python), "-m", "pip", "install", "-q", *pins, *requirement(extra)])
    added = set(installed(python)) - baseline[1]
    size = tree_bytes(site_packages(python)) - baseline[0]
    return size / 1e6, len(added)


def sizes(extras: Sequence[str]) -> list[tuple[str, float, int]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="storelens-sizes-") as tmp:
        bare = make_venv(Path(tmp) / "bare")
        baseline = (tree_bytes(site_packages(bare)), set(installed(bare)))
        for extra in extras:
            mb, count = measure(extra, Path(tmp), baseline)
            rows.append((extra, mb, count))
            print(f"{extra:<10} {mb:8.0f} MB {count:5d} packages", flush=True)  # noqa: T201 (a CLI)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    lock_p = sub.add_parser("lock", help="regenerate constraints.txt")
    lock_p.add_argument("--upgrade", action="store_true", help="resolve every dependency anew")
    sizes_p = sub.add_parser("sizes", help="install size per extra, through the lock")
    sizes_p.add_argument("extras", nargs="*", metavar="EXTRA", help=f"any of {', '.join(EXTRAS)} (default: all)")
    args = parser.parse_args(argv)
    if args.cmd == "lock":
        count = lock(args.upgrade)
        print(f"wrote {LOCK.name}: {count} pins", flush=True)  # noqa: T201 (a CLI)
        return 0
    unknown = sorted(set(args.extras) - set(EXTRAS))
    if unknown:
        parser.error(f"unknown extra {', '.join(unknown)}; choose from {', '.join(EXTRAS)}")
    print(f"{'extra':<10} {'size':>11} {'':>5} (beyond a bare venv; storelens itself included)")  # noqa: T201
    sizes(args.extras or EXTRAS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
