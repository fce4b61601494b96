"""The live pipeline reports how well it sees faces: a backlit door is flagged, a normal one is not.

The group photo from ../shared/media (six frontal faces) is held in front of the camera for a moment,
as is and as the backlight benchmark's variant (devkit/bench/synth.py): people 3 stops under a
bright street. Real persons, tracking and faces run through CameraPipeline.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import cv2
import pytest

from devkit.bench import synth
from edge_agent.detect.faces import build_face_detector
from edge_agent.pipeline import CameraPipeline
from edge_agent.sources import Frame
from storelens.config import StorelensConfig
from storelens.config.sources import CameraConfig
from storelens.facehealth import BACKLIGHT_PROBLEM_STOPS

pytestmark = pytest.mark.vision

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
STOPS = 3.0


@pytest.fixture(scope="module")
def cfg(models_cfg) -> StorelensConfig:
    return StorelensConfig(models=models_cfg)


@pytest.fixture(scope="module")
def scenes(cfg, media_dir) -> dict:
    image = cv2.imread(str(media_dir / "faces" / "t1.jpg"))
    boxes = build_face_detector(cfg.edge.faces, cfg.models)(image).xyxy
    return {"original": image, "backlit": synth.backlit(image, boxes, STOPS)}


def _health(cfg, image):
    pipeline = CameraPipeline.from_config(cfg, CameraConfig(id="door", url="still"))
    for i in range(6):
        pipeline.process(Frame(image, START + timedelta(seconds=i / 5), i, "door"))
    return pipeline.face_health()


@pytest.fixture(scope="module")
def health(cfg, scenes) -> dict:
    return {name: _health(cfg, image) for name, image in scenes.items()}


def test_backlit_door_is_flagged_and_the_normal_one_is_not(health) -> None:
    normal, backlit = health["original"], health["backlit"]
    print(f"original {normal}\nbacklit {STOPS:g} stops {backlit}")
    assert normal.faces_seen >= 6 and backlit.faces_seen >= 6  # the face pipeline ran on tracked people
    assert normal.backlight_stops < 0 and normal.problems() == []  # faces lit better than the room
    assert backlit.backlight_stops >= BACKLIGHT_PROBLEM_STOPS and backlit.problems() == ["backlit faces"]
    # Read in linear light, the score moves by the exposure change (at least; the street got brighter too).
    assert backlit.backlight_stops - normal.backlight_stops >= STOPS - 0.5
    # Against the clipped street it reads about the applied stops (measured 3.10; veiling glare caps it
    # as the stops grow: 3.5-3.9 at 4 stops, 3.9-4.5 at 5, 2.3-2.6 at 3 stops with a dirty dome's flare).
    assert backlit.backlight_stops == pytest.approx(STOPS, abs=0.6)


def test_face_size_is_the_same_whatever_the_light(health) -> None:
    normal, backlit = health["original"], health["backlit"]
    assert 80 <= normal.median_face_px <= 130  # t1.jpg at 1280 px wide
    assert backlit.median_face_px == pytest.approx(normal.median_face_px, rel=0.1)
    assert normal.small_face_fraction == backlit.small_face_fraction == 0.0


def test_face_health_carries_only_aggregate_numbers(health) -> None:
    for summary in health.values():
        values = dataclasses.asdict(summary).values()
        assert all(v is None or isinstance(v, int | float) for v in values)
