"""`storelens bench faces|age|backlight` run and print their numbers (speed is reported, not asserted)."""

from __future__ import annotations

import re

import pytest

from storelens.cli import main

pytestmark = pytest.mark.vision


@pytest.fixture(scope="module")
def config_file(model_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "storelens.yaml"
    path.write_text(f"models:\n  dir: {model_dir}\n  providers: [cpu]\n")
    return path


def test_bench_faces_prints_timings_throughput_and_memory(config_file, media_dir, capsys):
    assert (
        main(["bench", "faces", "--repeat", "2", "--config", str(config_file), "--media", str(media_dir)])
        == 0
    )
    out = capsys.readouterr().out
    for size in ("640x360", "1280x720"):
        assert re.search(rf"yunet {size} \(configured\)\s+\d+\.\d+ ms", out)
        assert re.search(rf"yunet {size} \+ enhancement, 2 passes\s+\d+\.\d+ ms", out)
    assert re.search(r"age \(faceapi_age; real faces", out)  # the configured (default) age model
    assert re.search(r"age model, batch of 16 views\s+\d+\.\d+ ms .* faces/s", out)  # 8 faces, face + mirror
    assert re.search(r"age stage, 8 faces x 2 views \(crops\+model\)\s+\d+\.\d+ ms .* faces/s", out)
    assert re.search(r"peak RSS: \d+ MiB", out)


def test_bench_backlight_prints_a_row_per_variant(config_file, media_dir, capsys):
    args = ["bench", "backlight", "--set", "tune", "--variants", "original", "backlit-4", "--config",
            str(config_file), "--media", str(media_dir)]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tune ")]
    rows = [line.split() for line in lines]
    assert sorted(row[1:3] for row in rows) == sorted([group, variant] for variant in ("original", "backlit-4")
                                                      for group in ("faces", "utk", "all"))
    recall_auto = {(row[1], row[2]): float(re.search(r"%/\s*(\d+\.\d)%", line).group(1))
                   for row, line in zip(rows, lines, strict=True)}
    assert recall_auto[("all", "original")] == 100.0 and recall_auto[("all", "backlit-4")] >= 95.0


def test_bench_with_a_missing_media_dir_is_one_error_line(config_file, tmp_path, capsys):
    assert main(["bench", "age", "--config", str(config_file), "--media", str(tmp_path / "nope")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "--media" in err[0]


def test_bench_age_prints_error_per_decade_coverage_and_visitors(config_file, media_dir, tmp_path, capsys):
    """On a copy of 2 faces per decade: both models side by side (age-v1 when its extra is there)."""
    import shutil

    from edge_agent.attributes.age_eval import utk_chips

    for chip in utk_chips(media_dir / "utk_decades", per_decade=2):
        shutil.copy(chip.path, tmp_path / chip.path.name)
    args = ["bench", "age", "--set", str(tmp_path), "--visitors", "2", "--repeat", "1", "--config", str(config_file)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"age on {tmp_path}: 18 faces (2, 2, 2, 2, 2, 2, 2, 2, 2 per decade)" in out
    assert re.search(r"0-9 10-19 20-29 30-39 40-49 50-59 60-69 70-79 80-89\s+balanced\s+18-75\s+ms/face\s+cpu ms", out)
    rows = [ln.split() for ln in out.splitlines() if ln.strip().startswith(("faceapi_age ", "age_v1 "))]
    models = {r[0] for r in rows}
    assert "faceapi_age" in models and ("age_v1" in models or "age_v1: skipped" in out)
    error_row = next(r for r in rows if r[0] == "faceapi_age" and len(r) == 16)  # 9 decades + 6 columns
    assert 0 < float(error_row[10]) < 15  # decade-balanced MAE, years
    coverage_row = next(r for r in rows if r[0] == "faceapi_age" and len(r) == 13)
    assert coverage_row[1] == "0.80" and 0 <= float(coverage_row[11]) <= 1
    assert "shared error fraction measured" in out and re.search(r"^\s+2\s+\d+ ", out, re.M)


def test_bench_age_without_labelled_faces_is_one_error_line(config_file, tmp_path, capsys):
    assert main(["bench", "age", "--set", str(tmp_path), "--config", str(config_file)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0] and "--set" in err[0]
