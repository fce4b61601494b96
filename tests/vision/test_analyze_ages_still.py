"""Faces belong to visitors, end to end: a group photo held in front of the camera for a few seconds.

Real persons, real faces and real ages flow through tracking, re-ID, face association and the
per-visitor vote; each visitor adds exactly one age to the window's histogram.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from edge_agent.faces import FacePipeline
from edge_agent.pipeline import CameraPipeline
from edge_agent.sources import Frame
from storelens.config import StorelensConfig
from storelens.config.sources import CameraConfig

pytestmark = pytest.mark.vision

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_each_visitor_adds_one_voted_age(models_cfg, media_dir) -> None:
    cfg = StorelensConfig(models=models_cfg)
    image = cv2.imread(str(media_dir / "faces" / "t1.jpg"))
    pipeline = CameraPipeline.from_config(cfg, CameraConfig(id="cam1", url="still"))
    faces_alone = len(FacePipeline.from_config(cfg)(image))
    for i in range(12):
        pipeline.process(Frame(image, START + timedelta(seconds=i / 5), i, "cam1"))
    people = len(pipeline.last_tracks)
    voted = pipeline.last_tracks.data
    aged = np.isfinite(voted["age"])
    assert ((voted["age_low"] < voted["age"]) & (voted["age"] < voted["age_high"]))[aged].all()
    [window] = pipeline.flush()
    print(f"{people} people tracked, {faces_alone} faces, {window.visitors_with_age} visitors with an age, "
          f"histogram total {sum(window.age_histogram)}")
    assert people >= 4 and faces_alone >= 4
    assert window.unique_visitors == people  # one visitor per person, however many frames
    assert 4 <= window.visitors_with_age <= people
    assert sum(window.age_histogram) == window.visitors_with_age  # one age per visitor, not per face
    assert window.faces_seen >= 6 * faces_alone - 6  # faces ran every 2nd frame on 12 frames
    ages = [a for a, n in enumerate(window.age_histogram) for _ in range(n)]
    # Adults of about 25-35 in a studio photo: faceapi_age (default) measured 13, 17, 21, 21, 24, 30.
    assert all(12 <= a <= 60 for a in ages), ages
