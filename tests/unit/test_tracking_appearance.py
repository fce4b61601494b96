"""The appearance tracker on hand-built detections: crossing people keep their own tracks, a person
hidden for a while keeps theirs, and colour-less boxes still track by motion."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.tracking.appearance import DIM, similarity
from edge_agent.tracking.tracker import PersonTracker
from edge_agent.types import Detections
from storelens.config.tracking import TrackingConfig

RED, BLUE = np.eye(DIM, dtype=np.float32)[0], np.eye(DIM, dtype=np.float32)[1]


def _frame(people: list[tuple[float, np.ndarray | None]], score: float = 0.9) -> Detections:
    """People as (x of the box's left edge, colour): 40x120 boxes on one row."""
    xyxy = np.array([[x, 100, x + 40, 220] for x, _ in people], np.float32).reshape(-1, 4)
    colour = np.stack([c if c is not None else np.zeros(DIM, np.float32) for _, c in people]) if people else \
        np.zeros((0, DIM), np.float32)
    return Detections(xyxy=xyxy, confidence=np.full(len(people), score, np.float32), data={"colour": colour})


def _crossing(front_only: range) -> list[Detections]:
    """RED walks right from x=100, BLUE left from x=300, 10 px a frame; during `front_only` only BLUE is seen."""
    frames = []
    for f in range(21):
        red, blue = (100 + 10 * f, RED), (300 - 10 * f, BLUE)
        frames.append(_frame([blue] if f in front_only else [red, blue]))
    return frames


def _ids_by_colour(tracker: PersonTracker, frames: list[Detections]) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = {"red": set(), "blue": set()}
    for dets in frames:
        out = tracker.update(dets)
        for tid, colour in zip(out.tracker_id.tolist(), out.data["colour"], strict=True):
            seen["red" if colour[0] > 0.5 else "blue"].add(tid)
    return seen


def test_crossing_people_keep_their_tracks() -> None:
    seen = _ids_by_colour(PersonTracker(TrackingConfig()), _crossing(front_only=range(9, 12)))
    assert len(seen["red"]) == 1 and len(seen["blue"]) == 1 and seen["red"] != seen["blue"]


def test_motion_only_tracker_lets_the_front_person_take_over() -> None:
    seen = _ids_by_colour(PersonTracker(TrackingConfig(type="bytetrack")), _crossing(front_only=range(9, 12)))
    assert seen["red"] & seen["blue"] or len(seen["red"]) > 1  # a take-over or a fragment: what the gate prevents


@pytest.mark.parametrize(("radius", "same"), [(1.0, True), (0.01, False)])
def test_a_person_hidden_for_a_while_is_recovered(radius: float, same: bool) -> None:
    tracker = PersonTracker(TrackingConfig(recover_radius=radius))
    ids = []
    for f in range(8):  # walks right 10 px a frame
        ids += tracker.update(_frame([(100 + 10 * f, RED)])).tracker_id.tolist()
    for _ in range(6):  # hidden: nothing detected
        assert len(tracker.update(_frame([]))) == 0
    # Reappears where walking on would have taken them, but the box stopped: far from the prediction's overlap.
    ids += tracker.update(_frame([(100 + 10 * 7 + 25, RED)])).tracker_id.tolist()
    ids += tracker.update(_frame([(100 + 10 * 7 + 35, RED)])).tracker_id.tolist()
    assert (len(set(ids)) == 1) is same


def test_someone_else_is_not_recovered_into_a_lost_track() -> None:
    tracker = PersonTracker(TrackingConfig())
    first = {int(t) for f in range(5) for t in tracker.update(_frame([(100 + 10 * f, RED)])).tracker_id}
    tracker.update(_frame([]))
    later = {int(t) for f in range(3) for t in tracker.update(_frame([(150 + 10 * f, BLUE)])).tracker_id}
    assert first and later and not first & later


def test_boxes_without_colour_track_by_motion() -> None:
    tracker = PersonTracker(TrackingConfig())
    ids = [int(t) for f in range(6) for t in tracker.update(_frame([(100 + 10 * f, None)])).tracker_id]
    assert len(ids) == 6 and len(set(ids)) == 1  # the first frame confirms at once


def test_similarity_is_neutral_without_a_descriptor() -> None:
    assert similarity(RED[None], np.zeros((1, DIM), np.float32))[0, 0] == 1.0
    assert similarity(RED[None], BLUE[None])[0, 0] == 0.0
