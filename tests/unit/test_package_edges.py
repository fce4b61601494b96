"""The package edges hold: edge and cloud never import each other, production never imports devkit,
and the cloud processes (ingest, dashboard) never load OpenCV or ONNX Runtime.

Layers, bottom up:
- base `storelens` (config tree, errors, paths, wire contract, shared rules): imports no other package;
- edge (`edge_agent`, `hardware`) and cloud (`cloud_sync`, `dashboard`): the base and their own side;
- `devkit` (benchmarks, demo, throwaway servers) and `storelens.cli`: anything.
Every import statement counts, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("storelens", "edge_agent", "hardware", "cloud_sync", "dashboard", "devkit")
EDGE = {"edge_agent", "hardware"}
CLOUD = {"cloud_sync", "dashboard"}


def _layer(module: str) -> str:
    top = module.split(".")[0]
    if module in ("storelens.cli", "storelens.__main__") or module.startswith("storelens.cli."):
        return "cli"
    if top == "storelens":
        return "base"
    if top in EDGE:
        return "edge"
    if top in CLOUD:
        return "cloud"
    return top  # devkit


ALLOWED = {
    "base": {"base"},
    "edge": {"base", "edge"},
    "cloud": {"base", "cloud"},
    "devkit": {"base", "edge", "cloud", "devkit"},
    "cli": {"base", "edge", "cloud", "devkit", "cli"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT]


def _sources() -> list[Path]:
    return sorted(p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts)


def violations() -> list[str]:
    bad = []
    for path in _sources():
        layer = _layer(_module_name(path))
        for line, name in _imports(path):
            if _layer(name) not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {layer} code imports {name} ({_layer(name)})")
    return bad


def test_no_import_crosses_a_package_edge():
    assert violations() == []


@pytest.mark.parametrize(("importer", "imported", "expected"), [
    ("edge_agent/x.py", "cloud_sync.ingest", "edge code imports cloud_sync.ingest (cloud)"),
    ("cloud_sync/x.py", "edge_agent.buffer", "cloud code imports edge_agent.buffer (edge)"),
    ("dashboard/x.py", "edge_agent.attributes.visibility", "cloud code imports"),
    ("storelens/x.py", "cloud_sync.db", "base code imports cloud_sync.db (cloud)"),
    ("edge_agent/x.py", "devkit.bench.synth", "edge code imports devkit.bench.synth (devkit)"),
])
def test_the_walk_catches_a_violation(tmp_path, monkeypatch, importer, imported, expected):
    """The check itself can fail: a planted import across an edge is reported with file and line."""
    for pkg in PROJECT:
        (tmp_path / pkg).mkdir()
    planted = tmp_path / importer
    planted.write_text(f"def later():\n    from {imported} import something\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = violations()
    assert len(found) == 1
    assert found[0].startswith(f"{importer}:2: ") and expected in found[0]


CLOUD_PROCESS = """
import pkgutil, sys, importlib
import cloud_sync, dashboard
from storelens.cli import build_parser
build_parser()
skip = ("dashboard.pages.", "cloud_sync.db.migrations")
for pkg in (cloud_sync, dashboard):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if not info.name.startswith(skip):
            importlib.import_module(info.name)
from sqlmodel import create_engine
from dashboard.app import create_app
from storelens.config import StorelensConfig
create_app(create_engine("sqlite://"), StorelensConfig().dashboard, development=True)
heavy = sorted(m for m in ("cv2", "onnxruntime", "numpy.linalg._umath_linalg_cv2") if m in sys.modules)
print(",".join(heavy))
"""


def test_cloud_processes_never_load_opencv_or_onnxruntime():
    """Ingest and the dashboard import every module of their packages, the CLI and a whole Dash app."""
    done = subprocess.run([sys.executable, "-c", CLOUD_PROCESS], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "", f"a cloud process loaded: {done.stdout.strip()}"
