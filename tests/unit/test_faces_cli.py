"""`storelens faces`: JSON lines per image, a readable table, and one error line per bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storelens.cli import main

pytestmark = pytest.mark.vision  # runs the real models on real photos


@pytest.fixture(scope="module")
def config_file(model_dir, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "storelens.yaml"
    path.write_text(f"models:\n  dir: {model_dir}\n  providers: [cpu]\n")
    return path


def _bad_files(directory: Path, media_dir: Path) -> dict[str, Path]:
    jpeg = (media_dir / "faces" / "t1.jpg").read_bytes()
    files = {
        "truncated": directory / "truncated.jpg",
        "empty": directory / "empty.jpg",
        "text": directory / "notes.jpg",
        "missing": directory / "does-not-exist.jpg",
    }
    files["truncated"].write_bytes(jpeg[: len(jpeg) // 3])
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image\n")
    return files


@pytest.mark.parametrize("kind", ["truncated", "empty", "text", "missing"])
def test_a_bad_file_gets_one_error_line_and_the_rest_is_processed(
    kind, config_file, media_dir, tmp_path, capsys
):
    bad = _bad_files(tmp_path, media_dir)[kind]
    good1, good2 = media_dir / "faces" / "astronaut.png", media_dir / "faces" / "t1.jpg"
    rc = main(["faces", "--json", "--config", str(config_file), str(good1), str(bad), str(good2)])
    out, err = capsys.readouterr()
    assert rc == 1
    errors = [line for line in err.splitlines() if line.startswith("storelens: error:")]
    assert errors == [line for line in errors if str(bad) in line] and len(errors) == 1
    assert "Traceback" not in err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == [str(good1), str(good2)]
    assert [len(r["faces"]) for r in records] == [1, 6]


def test_json_record_fields_and_units(config_file, media_dir, capsys):
    image = media_dir / "faces" / "astronaut.png"
    assert main(["faces", "--json", "--config", str(config_file), str(image)]) == 0
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (face,) = record["faces"]
    assert set(face) == {"box", "score", "landmarks", "quality", "age", "age_confidence", "band", "age_low", "age_high"}
    assert face["age_low"] < face["age"] < face["age_high"]  # the interval at edge.age.interval_level
    x1, y1, x2, y2 = face["box"]
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 512  # astronaut.png is 512x512: original pixels
    assert len(face["landmarks"]) == 5 and all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face["landmarks"])
    assert 0 < face["score"] <= 1 and 0 < face["quality"] <= 1 and 0 < face["age_confidence"] <= 1
    assert 20 < face["age"] < 60 and face["band"] in {"22-25", "26-30", "31-35", "36-45", "46-55"}


def test_table_output(config_file, media_dir, capsys):
    assert main(["faces", "--config", str(config_file), str(media_dir / "faces" / "t1.jpg")]) == 0
    out = capsys.readouterr().out
    assert "t1.jpg: 6 face(s)" in out and out.count("band ") == 6


def test_bad_config_is_one_error_line(tmp_path, media_dir, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("edge:\n  age:\n    bands: [0, 40, 20]\n")
    rc = main(["faces", "--config", str(cfg), str(media_dir / "faces" / "t1.jpg")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3
    assert len(err) == 1 and "edge.age.bands" in err[0] and "strictly increasing" in err[0]
