"""The camera pipeline's bookkeeping on a scripted scene: hand-built person and face detections go
through the real tracker, face association, age vote, line, groups, staff filter and windowing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from edge_agent.pipeline import CameraPipeline, build_gallery
from edge_agent.sources import Frame
from edge_agent.types import Detections
from storelens.config import parse_config
from storelens.config.sources import CameraConfig

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
FPS = 10
SCENE = {
    "edge": {
        "pipeline": {"faces_every_frames": 1},
        "reid": {"enabled": False},
        "analytics": {
            "lines": [{"name": "door", "start": [240, 0], "end": [240, 360], "in_side": "left"}],
            "zones": [{"name": "stockroom", "polygon": [[0, 0], [80, 0], [80, 80], [0, 80]], "staff_only": True},
                      {"name": "till", "polygon": [[300, 150], [480, 150], [480, 360], [300, 360]]}],
        },
    }
}

# name -> (first frame, last frame, foot y, x at first frame, px per frame, age); x = None stands still
PEOPLE = {
    "parent": (0, 40, 250, 100, 8, 36),
    "child": (1, 40, 300, 90, 8, 8),
    "alone": (200, 240, 250, 100, 8, 52),
    "clerk": (0, 240, 70, 40, 0, 30),  # stays in the stockroom all along
}


def _people_at(i: int) -> list[tuple[str, np.ndarray, int]]:
    out = []
    for name, (first, last, y, x0, speed, age) in PEOPLE.items():
        if first <= i <= last:
            x = x0 + speed * (i - first)
            h = 90 if name == "child" else 140
            out.append((name, np.array([x - 20, y - h, x + 20, y], float), age))
    return out


def _detector(frames: dict[int, int]):
    def detect(image: np.ndarray) -> Detections:
        people = _people_at(frames[id(image)])
        return Detections(xyxy=np.array([b for _, b, _ in people]).reshape(-1, 4),
                          confidence=np.full(len(people), 0.9))
    return detect


def _faces(frames: dict[int, int]):
    def faces(image: np.ndarray, age_wanted=None) -> Detections:
        people = _people_at(frames[id(image)])
        boxes = [[b[0] + 12, b[1] + 4, b[2] - 12, b[1] + 24] for _, b, _ in people]
        probs = np.zeros((len(people), 81))
        for row, (_, _, age) in enumerate(people):
            probs[row, age] = 1.0
        return Detections(xyxy=np.array(boxes, float).reshape(-1, 4), confidence=np.full(len(people), 0.9),
                          data={"age": np.array([a for *_, a in people], float), "age_probs": probs})
    return faces


@pytest.fixture()
def windows():
    cfg = parse_config(SCENE)
    frames: dict[int, int] = {}
    pipeline = CameraPipeline(cfg, CameraConfig(id="cam1", url="scripted"), detector=_detector(frames),
                              faces=_faces(frames), embedder=None, gallery=build_gallery(cfg), mapper=None)
    out = []
    for i in range(260):
        image = np.zeros((360, 480, 3), np.uint8)
        frames[id(image)] = i
        gap = 30.0 if i == 150 else 0.0
        ts = START + timedelta(seconds=i / FPS + (30 if i >= 150 else 0))
        out += pipeline.process(Frame(image, ts, i, "cam1", gap_s=gap))
    return out + pipeline.flush()


def test_scripted_scene_counts(windows) -> None:
    [w] = windows
    assert (w.entries, w.exits) == (3, 0)
    assert w.unique_visitors == 3  # the clerk is staff
    assert (w.group_visits, w.family_visits) == (1, 1)  # parent + child; the lone shopper is no group
    assert w.visitors_with_age == 3
    assert [a for a, n in enumerate(w.age_histogram) if n] == [8, 36, 52]
    assert w.gap_seconds == pytest.approx(30.0)
    assert w.frames == 260 and w.seq == 0
    assert w.zone_visits["till"].visits == 3 and "stockroom" not in w.zone_visits
    assert w.occupancy_max == 2


def test_windows_close_as_time_passes_and_seq_increments() -> None:
    cfg = parse_config({"edge": {"window_minutes": 1, "pipeline": {"faces": False}, "reid": {"enabled": False}}})
    pipeline = CameraPipeline(cfg, CameraConfig(id="cam1", url="scripted"), detector=lambda img: Detections.empty(),
                              faces=None, embedder=None, gallery=build_gallery(cfg), mapper=None)
    closed = []
    for s in range(0, 200, 10):
        closed += pipeline.process(Frame(np.zeros((10, 10, 3), np.uint8), START + timedelta(seconds=s), s, "cam1"))
    closed += pipeline.flush()
    assert [w.seq for w in closed] == [0, 1, 2, 3]
    assert [w.frames for w in closed] == [6, 6, 6, 2]
    assert all(b.window_start == a.window_end for a, b in zip(closed, closed[1:], strict=False))
