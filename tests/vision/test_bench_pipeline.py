"""`storelens bench pipeline` runs on any video and prints fps with decode, the models-only bound and
their ratio (the numbers themselves are for people to read: speed is never asserted in a test)."""

from __future__ import annotations

import re

import pytest

from devkit.bench.pipeline import scaled_scene
from edge_agent.samples import get_sample, sample_config_path
from storelens.cli import main
from storelens.config import load_config

pytestmark = [pytest.mark.vision, pytest.mark.slow]


def test_bench_pipeline_prints_fps_with_decode_bound_and_ratio(media_dir, model_dir, capsys, monkeypatch) -> None:
    monkeypatch.setenv("STORELENS_MODEL_DIR", str(model_dir))
    code = main(["bench", "pipeline", "--video", str(media_dir / "video" / "TUD-Campus.mp4"), "--frames", "8"])
    out = capsys.readouterr().out
    assert code == 0
    full = re.search(r"full pipeline, decode included:\s+([\d.]+) fps", out)
    bound = re.search(r"decode \+ models only .*?:\s+([\d.]+) fps", out)
    ratio = re.search(r"ratio full / models-only:\s+([\d.]+)", out)
    assert full and bound and ratio, out
    assert float(ratio.group(1)) == pytest.approx(float(full.group(1)) / float(bound.group(1)), abs=0.02)
    assert "640x480, 8 frames" in out and "stage ms/frame: decode" in out


def test_the_crowd_scene_is_scaled_with_its_frames() -> None:
    cfg = load_config(sample_config_path(get_sample()))
    scaled = scaled_scene(cfg, 1280 / 480, 720 / 360)
    line, big = cfg.edge.analytics.lines[0], scaled.edge.analytics.lines[0]
    assert big.start == pytest.approx((line.start[0] * 8 / 3, line.start[1] * 2))
    zone, big_zone = cfg.edge.analytics.zones[0], scaled.edge.analytics.zones[0]
    assert big_zone.polygon[1] == pytest.approx((zone.polygon[1][0] * 8 / 3, zone.polygon[1][1] * 2))
    assert scaled.edge.analytics.homography.floor_points == cfg.edge.analytics.homography.floor_points
