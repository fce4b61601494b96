"""The installed environment is consistent: pip's own check, and one owner per importable package.

opencv-python and opencv-python-headless both write `cv2/`; onnxruntime, onnxruntime-gpu and
onnxruntime-openvino all write `onnxruntime/`. pip installs such pairs side by side without a word,
and whichever came last silently wins file by file. The RECORD files say who wrote what.
"""

from __future__ import annotations

import collections
import importlib.metadata as md
import subprocess
import sys

import pytest


def _owners() -> dict[str, set[str]]:
    """Installed file path (relative to site-packages) -> names of the distributions whose RECORD lists it."""
    owners: dict[str, set[str]] = collections.defaultdict(set)
    for dist in md.distributions():
        for path in dist.files or []:
            text = str(path)
            if text.endswith(".pyc") or ".dist-info/" in text or text.startswith(".."):
                continue
            owners[text].add(dist.metadata["Name"])
    return owners


def test_pip_check_passes() -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("module", ["cv2", "onnxruntime"])
def test_exactly_one_distribution_owns(module: str) -> None:
    found = _owners().get(f"{module}/__init__.py", set())
    assert len(found) == 1, f"{module}/ is written by {sorted(found) or 'nothing'}: install exactly one of them"


def test_no_file_is_written_by_two_distributions() -> None:
    clashes = {path: sorted(names) for path, names in _owners().items() if len(names) > 1}
    assert not clashes, f"{len(clashes)} files with two owners, e.g. {next(iter(clashes.items()))}"


def test_the_active_opencv_is_the_declared_wheel() -> None:
    import cv2

    owner = md.packages_distributions().get("cv2", [])
    assert owner == ["opencv-python"], owner
    assert cv2.__file__.endswith("cv2/__init__.py")
