"""Many people arriving at the same moment: the crash `analyze` hit at flush on a 1280x720 crowd clip.

Groups that formed in the same frame share `last_arrival`; comparing them as dataclasses compared
their lists of numpy floor points and raised "truth value of an array ... is ambiguous".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from edge_agent.analytics.groups import GroupDetector, GroupResult
from edge_agent.pipeline import CameraPipeline, build_gallery
from edge_agent.sources import Frame
from edge_agent.types import Detections
from storelens.config import parse_config
from storelens.config.sources import CameraConfig

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_groups_formed_in_the_same_instant_complete_one_at_a_time() -> None:
    groups = GroupDetector(gap_s=4, distance_m=2, child_age=13)
    for vid in range(12):  # twelve arrivals at t=0, 10 m apart: twelve groups with the same last_arrival
        groups.arrive(vid, 0.0, np.array([10.0 * vid, 5.0]))
    assert groups.close(3, 30, staff=False, now=100) == [GroupResult(1, False)]  # the others stay open
    assert groups.close(7, 8, staff=False, now=100) == [GroupResult(1, True)]
    assert sorted(groups.flush(now=200), key=lambda r: r.family) == [GroupResult(1, False)] * 10


def test_flush_with_many_simultaneous_groups() -> None:
    groups = GroupDetector(gap_s=4, distance_m=2, child_age=13)
    for vid in range(20):  # pairs standing together, ten pairs spread over the floor, all at once
        groups.arrive(vid, 5.0, np.array([20.0 * (vid // 2), 0.5 * (vid % 2)]))
    assert groups.flush(now=6.0) == [GroupResult(2, False)] * 10


def _crowd(count: int):
    """`count` people standing still, spread over a 1280x720 frame, all present from the first frame."""
    cols = 8
    boxes = [[60 + 150 * (i % cols), 80 + 300 * (i // cols), 110 + 150 * (i % cols), 230 + 300 * (i // cols)]
             for i in range(count)]
    return Detections(xyxy=np.array(boxes, float), confidence=np.full(count, 0.9))


def test_pipeline_flush_with_a_crowd_arriving_at_once() -> None:
    """No entrance line: every new visitor's first sighting is an arrival, so all arrive together."""
    cfg = parse_config({"edge": {"pipeline": {"faces": False}, "reid": {"enabled": False}}})
    crowd = _crowd(16)
    pipeline = CameraPipeline(cfg, CameraConfig(id="cam1", url="scripted"), detector=lambda image: crowd,
                              faces=None, embedder=None, gallery=build_gallery(cfg), mapper=None)
    image = np.zeros((720, 1280, 3), np.uint8)
    windows = []
    for i in range(30):
        windows += pipeline.process(Frame(image, START + timedelta(seconds=i / 10), i, "cam1"))
    windows += pipeline.flush()
    [w] = windows
    assert w.unique_visitors == 16 and sum(w.dwell_seconds_histogram.counts) == 16
    assert 0 < w.group_visits <= 8  # neighbours on the pixel floor may pair up; every group has >= 2
