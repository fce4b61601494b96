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
    assert re.search(r"age model, batch of 8 chips\s+\d+\.\d+ ms .* faces/s", out)
    assert re.search(r"peak RSS: \d+ MiB", out)


def test_bench_backlight_prints_a_row_per_variant(config_file, media_dir, capsys):
    args = ["bench", "backlight", "--stops", "4", "--config", str(config_file), "--media", str(media_dir)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[2:]] == [
        ["original", "0", "47"],
        ["backlit", "4", "47"],
        ["dark", "4", "47"],
    ]


def test_bench_with_a_missing_media_dir_is_one_error_line(config_file, tmp_path, capsys):
    assert main(["bench", "age", "--config", str(config_file), "--media", str(tmp_path / "nope")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "--media" in err[0]
