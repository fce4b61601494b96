"""Live unique visitors: a visitor counts in the window in which the edge decided they are new; the
visit's dwell and age go into the window in which it closes. Staff found out later are taken back
out of the window that counted them while it is still open, and only then.

Scripted people (hand-built detections) go through the real tracker, identity, scene and visit
lifecycle with 1-minute windows.
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
FPS = 5
STOCKROOM = [[0, 0], [100, 0], [100, 100], [0, 100]]


def _box(x: float, y: float) -> list[float]:
    return [x - 20, y - 140, x + 20, y]


SHELF = [[290, 350], [330, 350], [330, 450], [290, 450]]


def _run(people: dict[str, tuple[float, float, object]], seconds: float, *, ttl_s: float = 1800,
         ages: dict[str, int] | None = None) -> list:
    """people: name -> (first s, last s, position(t) -> (x, y) foot point)."""
    zones = [{"name": "stock", "polygon": STOCKROOM, "staff_only": True}, {"name": "shelf", "polygon": SHELF}]
    cfg = parse_config({"edge": {"window_minutes": 1, "reid": {"enabled": False, "ttl_s": ttl_s},
                                 "pipeline": {"faces_every_frames": 1}, "analytics": {"zones": zones}}})
    at: dict[int, float] = {}

    def visible(image):
        t = at[id(image)]
        return [(name, _box(*where(t))) for name, (first, last, where) in people.items() if first <= t <= last]

    def detect(image):
        boxes = [b for _, b in visible(image)]
        return Detections(xyxy=np.array(boxes, float).reshape(-1, 4), confidence=np.full(len(boxes), 0.9))

    def faces(image, age_wanted=None):
        seen = visible(image)
        probs = np.zeros((len(seen), 81))
        for row, (name, _) in enumerate(seen):
            probs[row, (ages or {}).get(name, 30)] = 1.0
        boxes = [[b[0] + 10, b[1] + 4, b[2] - 10, b[1] + 24] for _, b in seen]
        return Detections(xyxy=np.array(boxes, float).reshape(-1, 4), confidence=np.full(len(seen), 0.9),
                          data={"age": probs.argmax(axis=1).astype(float), "age_probs": probs})

    pipeline = CameraPipeline(cfg, CameraConfig(id="cam1", url="scripted"), detector=detect,
                              faces=faces if ages else None, embedder=None, gallery=build_gallery(cfg), mapper=None)
    windows = []
    for i in range(int(seconds * FPS)):
        image = np.zeros((480, 640, 3), np.uint8)
        at[id(image)] = i / FPS
        windows += pipeline.process(Frame(image, START + timedelta(seconds=i / FPS), i, "cam1"))
    return windows + pipeline.flush()


def _walk(x0: float, y: float, speed: float, t0: float):
    return lambda t: (x0 + speed * (t - t0), y)


def _to_stockroom(leave_at: float, seconds: float = 5.0):
    """Stands at the counter, then walks into the stockroom in `seconds`."""
    def where(t: float) -> tuple[float, float]:
        k = min(max((t - leave_at) / seconds, 0.0), 1.0)
        return 300 - 250 * k, 300 - 220 * k
    return where


def test_unique_visitors_rise_in_the_window_that_decided_them() -> None:
    people = {"a": (2, 20, _walk(150, 300, 10, 2)), "b": (70, 90, _walk(150, 400, 10, 70)),
              "c": (130, 140, _walk(300, 350, 5, 130))}
    windows = _run(people, 150)
    assert [w.window_start.minute for w in windows] == [0, 1, 2]
    assert [w.unique_visitors for w in windows] == [1, 1, 1]  # each minute's visitor, live
    # The gallery keeps them for 30 min: every visit closes at shutdown, in the last window.
    assert [sum(w.dwell_seconds_histogram.counts) for w in windows] == [0, 0, 3]


def test_dwell_and_age_go_to_the_window_in_which_the_visit_closes() -> None:
    people = {"a": (2, 20, _walk(150, 300, 10, 2)), "b": (50, 58, _walk(300, 400, 10, 50))}
    windows = _run(people, 100, ttl_s=15, ages={"a": 25, "b": 61})
    first, second = windows
    assert (first.unique_visitors, second.unique_visitors) == (2, 0)
    # a left at 20 s and is forgotten 15 s later (first window); b left at 58 s, forgotten at 73 s.
    assert (first.visitors_with_age, second.visitors_with_age) == (1, 1)
    assert _aged(first) in ([24], [25]) and _aged(second) in ([60], [61])  # the vote is a weighted mean
    assert first.dwell_seconds_histogram.counts[1] == 1  # 18 s: the 10-30 s bin
    # b stood at the shelf from 50 s to 53 s (first window); the zone visit counts with the visit, later.
    assert "shelf" not in first.zone_visits and second.zone_visits["shelf"].visits == 1
    assert second.zone_visits["shelf"].mean_dwell_s == pytest.approx(3.0, abs=0.3)


def test_staff_found_out_while_their_window_is_open_are_taken_back_out() -> None:
    # The clerk is decided on arrival at the counter and walks into the stockroom 10 s later.
    windows = _run({"clerk": (2, 40, _to_stockroom(12)), "shopper": (5, 30, _walk(200, 400, 5, 5))}, 50)
    [w] = windows
    assert w.unique_visitors == 1 and sum(w.dwell_seconds_histogram.counts) == 1
    assert w.zone_visits["shelf"].visits == 1  # the shopper, who walked past it


def test_staff_found_out_after_their_window_closed_stay_counted_there_only() -> None:
    # Decided at 09:00:50; into the stockroom at 09:01:10, after the 09:00 window was closed and sent.
    first, second = _run({"clerk": (50, 100, _to_stockroom(65))}, 110)
    assert (first.unique_visitors, second.unique_visitors) == (1, 0)  # counts never go negative
    assert sum(second.dwell_seconds_histogram.counts) == 0  # no dwell, age or group for staff


def _aged(window) -> list[int]:
    return [age for age, n in enumerate(window.age_histogram) if n]


@pytest.mark.parametrize("restart_at", [20, 45])
def test_a_flushed_half_and_the_rest_add_up(restart_at: int) -> None:
    """edge_agent/resume.py sums the two halves of a window: each half counts its own decisions."""
    from edge_agent.resume import merge_windows

    people = {"a": (2, 10, _walk(150, 300, 10, 2)), "b": (30, 40, _walk(150, 400, 10, 30))}
    whole = _run(people, 55)[0]
    before = {n: (f, min(last, restart_at - 0.2), w) for n, (f, last, w) in people.items() if f < restart_at}
    half = _run(before, restart_at)[0]
    after = {n: (f, last, w) for n, (f, last, w) in people.items() if last >= restart_at}
    rest = [w for w in _run(after, 55) if w.window_start == half.window_start][0]
    merged = merge_windows(half, rest.model_copy(update={"seq": half.seq + 1}))
    assert merged.unique_visitors == whole.unique_visitors + (1 if 30 <= restart_at <= 40 else 0)
