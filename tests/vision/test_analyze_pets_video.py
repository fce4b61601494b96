"""The whole camera pipeline on the PETS 2009 sample with its shipped scene config.

One pass over the video (module fixture) feeds several checks: counts are consistent with where
tracks begin and end, the heatmap lies on the walkway, windows are complete. A truncated copy
keeps its windows and reports one clear error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from edge_agent.analytics.zones import points_in_polygon
from edge_agent.analyze import analyze_video, summarize
from edge_agent.pipeline import CameraPipeline
from edge_agent.samples import get_sample, sample_config_path
from edge_agent.sources import FileSource
from storelens.cli import main
from storelens.config import load_config
from storelens.config.sources import CameraConfig

pytestmark = [pytest.mark.vision, pytest.mark.slow]

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
# Regions of the 480x360 frame, looked up on frames 0, 200, 400, 560 and 700. People walk on the
# paved path and crossroads, and some cross the lawn; nobody walks on the buildings' walls.
GROUND = [(0, 40), (190, 40), (190, 68), (380, 68), (400, 55), (480, 50), (480, 360), (0, 360)]
WALKWAY = [(0, 108), (200, 116), (330, 100), (430, 50), (480, 45), (480, 330), (400, 285), (280, 220),
           (200, 195), (100, 180), (0, 170)]


@pytest.fixture(scope="module")
def cfg(models_cfg):
    cfg = load_config(sample_config_path(get_sample()))
    return cfg.model_copy(update={"models": models_cfg})


@pytest.fixture(scope="module")
def video(media_dir):
    return media_dir / "video" / get_sample().file


@pytest.fixture(scope="module")
def run(cfg, video):
    """Process every frame, remembering each track's first and last foot point."""
    camera = CameraConfig(id="cam1", url=str(video), start_time=START)
    pipeline = CameraPipeline.from_config(cfg, camera)
    ends: dict[int, list[np.ndarray]] = {}
    windows = []
    for frame in FileSource(camera):
        windows += pipeline.process(frame)
        tracks = pipeline.last_tracks
        for tid, foot in zip(tracks.tracker_id.tolist(), tracks.foot_points, strict=True):
            ends.setdefault(tid, [foot, foot])[1] = foot
    windows += pipeline.flush()
    return pipeline, windows, ends


def test_one_complete_window(run) -> None:
    pipeline, windows, _ = run
    assert len(windows) == 1
    w = windows[0]
    assert (w.window_start, w.frames, w.seq, w.camera_id) == (START, 795, 0, "cam1")
    assert w.model_versions["persons"].startswith("yolox_nano:")
    assert 8 <= w.unique_visitors <= 30  # ~7 people in view at a time over 80 s
    assert 4 <= w.occupancy_max <= 12
    assert sum(w.dwell_seconds_histogram.counts) == w.unique_visitors
    assert set(pipeline.times.per_frame_ms()) == {"persons", "tracking", "reid", "faces", "analytics", "visits"}


def test_entries_and_exits_match_where_tracks_began_and_ended(run) -> None:
    """Net crossings equal (tracks that ended inside) - (tracks that began inside): the occupancy behind
    the line changes exactly by entries - exits."""
    pipeline, windows, ends = run
    line = pipeline.scene.lines[0]
    clear = lambda p: abs(line.signed_distance(p)[0]) >= line.cfg.band_px  # noqa: E731
    inside = lambda p: int((line.signed_distance(p)[0] > 0) == (line.cfg.in_side == "right"))  # noqa: E731
    expected = sum(inside(b) - inside(a) for a, b in ends.values() if clear(a) and clear(b))
    entries, exits = sum(w.entries for w in windows), sum(w.exits for w in windows)
    print(f"entries {entries}, exits {exits}, net {entries - exits}, from track ends {expected}")
    assert entries >= 5 and exits >= 5  # people walk both ways along the path
    assert abs((entries - exits) - expected) <= 2


def test_heatmap_mass_lies_on_the_walkway(run) -> None:
    pipeline, windows, _ = run
    heat = windows[0].heatmap
    cells = np.array(heat.cells, float)
    assert cells[:, 2].sum() >= 100
    centres = (cells[:, :2] + 0.5) * heat.cell_m
    to_image = np.linalg.inv(pipeline.floor_mapper.matrix)
    image = cv2.perspectiveTransform(centres.reshape(-1, 1, 2), to_image).reshape(-1, 2)
    share = lambda region: cells[points_in_polygon(image, region), 2].sum() / cells[:, 2].sum()  # noqa: E731
    print(f"heatmap: {cells[:, 2].sum():.0f} samples, {share(WALKWAY):.1%} on the path, {share(GROUND):.1%} on the ground")
    assert share(GROUND) >= 0.98  # not on walls or roofs
    assert share(WALKWAY) >= 0.8  # mostly on the path (measured 91%), the rest on the lawn


def test_truncated_video_keeps_its_windows(cfg, video, tmp_path) -> None:
    cut = tmp_path / "cut.avi"
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) // 8])
    result = analyze_video(cfg, CameraConfig(id="cam1", url=str(cut), start_time=START))
    assert result.error is not None and f"video {cut}: unreadable at frame {result.frames}" in str(result.error)
    assert result.frames > 30 and len(result.windows) == 1 and result.windows[0].frames == result.frames
    assert summarize(result)["frames"] == result.frames


def test_cli_writes_windows_then_reports_the_broken_file(cfg, video, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("STORELENS_MODEL_DIR", str(cfg.models.dir))
    cut, out = tmp_path / "cut.avi", tmp_path / "out.json"
    data = video.read_bytes()
    cut.write_bytes(data[: len(data) // 10])
    code = main(["analyze", str(cut), "--config", str(sample_config_path(get_sample())), "--json", str(out),
                 "--start", "2024-05-01T09:00:00Z"])
    captured = capsys.readouterr()
    assert code == 4
    errors = [line for line in captured.err.splitlines() if line.startswith("storelens: error:")]
    assert len(errors) == 1 and str(cut) in errors[0] and "unreadable at frame" in errors[0]
    written = json.loads(out.read_text())
    assert written["summary"]["frames"] > 20 and len(written["windows"]) == 1
    assert set(written["summary"]) >= {"frames", "fps", "entries", "exits", "unique_visitors", "family_visits",
                                       "age_histogram", "heatmap", "stage_ms_per_frame"}
    assert "entries / exits" in captured.out
