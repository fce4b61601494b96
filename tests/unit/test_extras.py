"""A command whose extra is not installed says which one, in one line, with exit code 6."""

from __future__ import annotations

import importlib.metadata as md
import re
import sys

import pytest

from storelens.cli import main
from storelens.errors import EXIT_UNAVAILABLE
from storelens.extras import MODULE_EXTRAS, extra_for


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _extra_closure(extra: str, seen: set[str] | None = None) -> set[str]:
    """Distributions an extra of storelens installs, following self-references and installed dependencies."""
    from packaging.requirements import Requirement

    seen = seen if seen is not None else set()
    names: set[str] = set()
    for text in md.requires("storelens") or []:
        req = Requirement(text)
        if not req.marker or not req.marker.evaluate({"extra": extra}):
            continue
        if _norm(req.name) == "storelens":
            for inner in req.extras - seen:
                seen.add(inner)
                names |= _extra_closure(inner, seen)
        else:
            names |= _dependencies(_norm(req.name))
    return names


def _dependencies(dist: str, seen: set[str] | None = None) -> set[str]:
    from packaging.requirements import Requirement

    seen = seen if seen is not None else set()
    if dist in seen:
        return set()
    seen.add(dist)
    try:
        requires = md.requires(dist) or []
    except md.PackageNotFoundError:
        return {dist}
    for text in requires:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            _dependencies(_norm(req.name), seen)
    return seen


@pytest.mark.parametrize("module", sorted(MODULE_EXTRAS))
def test_each_named_extra_really_installs_the_module(module: str) -> None:
    dist, extras = MODULE_EXTRAS[module]
    for extra in extras:
        assert _norm(dist) in _extra_closure(extra), f"pyproject's [{extra}] does not install {dist} ({module})"


@pytest.mark.parametrize(("module", "command", "extra"), [
    ("motmetrics", "storelens bench tracking", "bench"), ("dash", "storelens dashboard", "dashboard"),
    ("paho", "storelens cloud ingest", "cloud"), ("paho", "storelens sync run", "edge"),
    ("cv2", "storelens analyze", "edge"), ("sqlmodel", "storelens cloud ingest", "cloud")])
def test_extra_for_a_command(module: str, command: str, extra: str) -> None:
    assert extra_for(ModuleNotFoundError(f"No module named {module!r}", name=module), command) == extra


def test_an_unknown_module_is_a_bug_not_an_install_problem() -> None:
    assert extra_for(ModuleNotFoundError("No module named 'edge_agent.nope'", name="edge_agent.nope")) is None


def test_bench_tracking_without_motmetrics_says_so_before_any_work(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "motmetrics", None)  # as if not installed
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "motmetrics" else object())
    assert main(["bench", "tracking", "--media", "/nonexistent"]) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err.strip()
    assert err == ("storelens: error: storelens bench tracking needs the 'bench' extra (motmetrics is not "
                   "installed): pip install 'storelens[bench]'")


def test_dashboard_without_dash_names_the_extra(monkeypatch, capsys, tmp_path) -> None:
    for name in [m for m in sys.modules if m == "dash" or m.startswith(("dash.", "dashboard"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dash", None)
    assert main(["dashboard", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == EXIT_UNAVAILABLE
    err = capsys.readouterr().err
    assert "storelens dashboard needs the 'dashboard' extra" in err and err.count("\n") == 1


def test_a_gpu_box_gets_one_onnx_runtime_and_the_same_edge_stack() -> None:
    gpu, edge = _extra_closure("gpu"), _extra_closure("edge")
    assert "onnxruntime-gpu" in gpu and "onnxruntime" not in gpu  # both write onnxruntime/: never together
    assert "onnxruntime" in edge and "onnxruntime-gpu" not in edge
    assert edge - {"onnxruntime"} - _dependencies("onnxruntime") <= gpu


@pytest.mark.parametrize(("extra", "absent"), [("cloud", {"opencv-python", "onnxruntime", "dash", "pandas"}),
                                               ("dashboard", {"opencv-python", "onnxruntime", "trackers"}),
                                               ("edge", {"dash", "pandas", "sqlmodel", "alembic"})])
def test_each_role_carries_only_its_own_stack(extra: str, absent: set[str]) -> None:
    assert not _extra_closure(extra) & absent
