"""Tracker boundary (real ByteTrack on hand-built boxes), track lifecycle, faces -> persons, age votes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.tracking.faces import AgeVotes, associate
from edge_agent.tracking.lifecycle import TrackLifecycle
from edge_agent.tracking.tracker import PersonTracker
from edge_agent.types import Detections
from storelens.config.tracking import TrackingConfig


def _walkers(step: int) -> Detections:
    """Two people walking towards each other's side at 5 px/frame, kept apart vertically."""
    a = [100 + 5 * step, 100, 140 + 5 * step, 200]
    b = [400 - 5 * step, 300, 440 - 5 * step, 400]
    return Detections(xyxy=np.array([a, b], float), confidence=np.array([0.9, 0.85]),
                      data={"tag": np.array(["a", "b"])})


def test_tracker_keeps_ids_and_our_columns() -> None:
    tracker = PersonTracker(TrackingConfig())
    seen: dict[str, set[int]] = {"a": set(), "b": set()}
    for step in range(20):
        out = tracker.update(_walkers(step))
        for tag, tid in zip(out.data["tag"].tolist(), out.tracker_id.tolist(), strict=True):
            seen[tag].add(tid)
    assert len(seen["a"]) == 1 and len(seen["b"]) == 1 and seen["a"] != seen["b"]


def test_tracker_ids_are_per_instance() -> None:
    first, second = PersonTracker(TrackingConfig()), PersonTracker(TrackingConfig())
    for step in range(3):
        ids1 = first.update(_walkers(step)).tracker_id
    for step in range(3):
        ids2 = second.update(_walkers(step)).tracker_id
    assert sorted(ids1.tolist()) == sorted(ids2.tolist())


def test_empty_frames_give_empty_tracks() -> None:
    out = PersonTracker(TrackingConfig()).update(Detections.empty())
    assert len(out) == 0 and out.tracker_id is not None


def test_lifecycle_reports_starts_and_ends_after_the_buffer() -> None:
    life = TrackLifecycle(lost_frames=2)
    seen = lambda *ids: Detections(xyxy=np.zeros((len(ids), 4)), tracker_id=np.array(ids, np.int64))  # noqa: E731
    events = [life.update(seen(1, 2)), life.update(seen(2)), life.update(seen(2)), life.update(seen(2, 3))]
    assert [e.started for e in events] == [(1, 2), (), (), (3,)]
    assert [e.ended for e in events] == [(), (), (), (1,)]
    assert life.end_all().ended == (2, 3)


PERSONS = Detections(xyxy=np.array([[100, 100, 160, 300], [150, 110, 210, 310], [400, 100, 460, 300]], float),
                     tracker_id=np.array([1, 2, 3]))


@pytest.mark.parametrize(
    ("name", "face_boxes", "expected"),
    [
        ("face in the head of person 0", [[118, 105, 142, 135]], [0]),
        ("face at the feet belongs to no one", [[118, 260, 142, 290]], [-1]),
        ("face outside every box", [[300, 105, 330, 135]], [-1]),
        ("overlapping people: nearest top centre wins", [[168, 112, 192, 140]], [1]),
        ("two faces, one person each", [[118, 105, 142, 135], [418, 105, 442, 135]], [0, 2]),
        ("two faces in one head: only the best scoring", [[118, 105, 142, 135], [120, 108, 140, 130]], [0, -1]),
    ],
)
def test_face_association(name: str, face_boxes: list, expected: list[int]) -> None:
    faces = Detections(xyxy=np.array(face_boxes, float), confidence=np.linspace(0.9, 0.8, len(face_boxes)))
    assert associate(PERSONS, faces).tolist() == expected, name


def _faces(boxes: list, ages: list[float], peak: list[int]) -> Detections:
    probs = np.zeros((len(boxes), 81))
    for i, p in enumerate(peak):
        probs[i, p] = 1.0
    return Detections(xyxy=np.array(boxes, float), data={"age": np.array(ages, float), "age_probs": probs})


def test_age_is_voted_per_visitor_over_good_faces_only() -> None:
    votes = AgeVotes()
    persons = PERSONS.with_data(visitor=np.array([11, 12, 13]))
    votes.update(persons, _faces([[118, 105, 142, 135]], [30.0], [30]))
    votes.update(persons, _faces([[118, 105, 142, 135]], [40.0], [40]))
    out = votes.update(persons, _faces([[118, 105, 142, 135], [418, 105, 442, 135]], [math.nan, 7.0], [70, 7]))
    ages = out.data["age"]
    assert ages[0] == pytest.approx(35.0)  # mean of 30 and 40: the gated (NaN) face did not vote
    assert math.isnan(ages[1]) and ages[2] == pytest.approx(7.0)
    assert votes.take_face_counts() == (4, 1) and votes.take_face_counts() == (0, 0)
    assert votes.pop(11) == pytest.approx(35.0) and math.isnan(votes.age_of(11))
