"""No camera ever silently stops: `edge run`'s camera workers on real video, with injected stage failures.

Three cameras play TUD-Campus (71 frames, real models) into a real Redis buffer with 1-minute
windows; the first second of video falls in the 10:00 window, the rest in 10:01.
- `steady` runs clean and must come out exactly as a run of the same video on its own;
- `flaky`'s analytics stage raises once, on its 40th frame (inside the 10:01 window);
- `broken`'s analytics stage raises on every frame from its 10th on.
Every camera must deliver both windows, `flaky` with every frame counted and the counts from
before its failure kept; each failure is counted in live health as `stage_errors`, logged once
per camera and stage (no traceback per frame), and the repeating one is retried with backoff
(the backoff's timing itself is pinned with a fake clock in tests/unit/test_supervise.py).
"""

from __future__ import annotations

import logging
import threading

import pytest

from edge_agent.analyze import analyze_video
from edge_agent.app import run_edge
from edge_agent.buffer import EdgeBuffer
from edge_agent.live_status import EdgeStatus
from edge_agent.pipeline import CameraPipeline
from storelens.config import parse_config
from storelens.wire import AggregateWindow

pytestmark = [pytest.mark.integration, pytest.mark.vision, pytest.mark.slow]

VIDEO = "video/TUD-Campus.mp4"
START = "2026-03-01T10:00:59Z"
FAIL_ONCE_AT = 40
FAIL_FROM = 10


class InjectedFailure(RuntimeError):
    pass


def _config(media_dir, model_dir, redis_url: str):
    cameras = [{"id": cam, "url": str(media_dir / VIDEO), "start_time": START} for cam in ("steady", "flaky", "broken")]
    return parse_config({
        "models": {"dir": str(model_dir), "providers": ["cpu"]},
        "edge": {"window_minutes": 1, "cameras": cameras, "reid": {"store_level": False},
                 "pipeline": {"restart_initial_s": 0.05, "restart_max_s": 0.4}},
        "sync": {"redis_url": redis_url},
    })


@pytest.fixture
def injected(monkeypatch):
    """Wrap the analytics stage of every pipeline built for `flaky` and `broken` (rebuilt ones too)."""
    calls = {"flaky": 0, "broken": 0}
    rebuilt = {"flaky": 0, "broken": 0}
    build = CameraPipeline.from_config.__func__

    def from_config(cls, cfg, camera, gallery=None, **kwargs):
        pipeline = build(cls, cfg, camera, gallery, **kwargs)
        if camera.id in calls:
            rebuilt[camera.id] += 1
            update = pipeline.scene.update

            def failing(*args, **kwargs):
                calls[camera.id] += 1
                n = calls[camera.id]
                if (camera.id == "flaky" and n == FAIL_ONCE_AT) or (camera.id == "broken" and n >= FAIL_FROM):
                    raise InjectedFailure(f"injected failure on call {n}")
                return update(*args, **kwargs)

            pipeline.scene.update = failing
        return pipeline

    monkeypatch.setattr(CameraPipeline, "from_config", classmethod(from_config))
    return calls, rebuilt


def test_a_failing_stage_is_counted_logged_once_and_the_camera_goes_on(media_dir, model_dir, redis_server,
                                                                      redis_client, injected, caplog) -> None:
    calls, rebuilt = injected
    cfg = _config(media_dir, model_dir, redis_server.url)
    with caplog.at_level(logging.INFO):
        runs = run_edge(cfg, threading.Event())
    assert [r.error for r in runs] == [None, None, None]  # nobody stopped
    windows: dict[str, list[AggregateWindow]] = {}
    for entry in EdgeBuffer(redis_client).read_batch("test", 100):
        window = AggregateWindow.model_validate_json(entry.payload)
        windows.setdefault(window.camera_id, []).append(window)
    for cam in windows.values():
        cam.sort(key=lambda w: w.window_start)
    print({cam: [(w.window_start.strftime("%H:%M"), w.frames, w.entries, w.unique_visitors, w.gap_seconds)
                 for w in ws] for cam, ws in windows.items()})
    assert {cam: [w.window_start.minute for w in ws] for cam, ws in windows.items()} == {
        "steady": [0, 1], "flaky": [0, 1], "broken": [0, 1]}

    # Other cameras unaffected: `steady` is exactly what the same video gives on its own.
    alone = analyze_video(cfg, cfg.edge.cameras[0]).windows
    assert [_counts(w) for w in windows["steady"]] == [_counts(w) for w in alone]

    # `flaky`: one failure, one rebuild, every frame in its window, the counts before the failure kept.
    flaky = windows["flaky"]
    assert [w.frames for w in flaky] == [25, 46] and rebuilt["flaky"] == 2
    assert _without_seq(flaky[0]) == _without_seq(windows["steady"][0])  # closed before the failure: intact
    assert flaky[1].unique_visitors >= windows["steady"][1].unique_visitors - 1
    assert flaky[1].entries == windows["steady"][1].entries

    # `broken`: it keeps failing; rebuilt each time after a growing wait, its windows still come out,
    # and the video it could not analyse is counted as gap seconds: frames + gaps cover the whole clip.
    broken = windows["broken"]
    assert broken[0].frames >= FAIL_FROM  # the frames before the first failure went through
    assert 2 <= rebuilt["broken"] - 1 < 71 - FAIL_FROM  # failures retried, but not on every frame
    covered = sum(w.frames for w in broken) / 25 + sum(w.gap_seconds for w in broken)
    assert covered == pytest.approx(71 / 25, abs=0.1) and broken[1].gap_seconds > 1.0

    health = {cam.camera_id: cam for cam in EdgeStatus(redis_client).cameras()}
    assert health["steady"].stage_errors == 0
    assert health["flaky"].stage_errors == 1
    assert health["broken"].stage_errors == rebuilt["broken"] - 1 >= 2
    assert health["broken"].problem == "analytics stage failing"

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "stage analytics failed" in r.getMessage()]
    assert sorted(r.getMessage().split(":")[0] for r in errors) == ["camera broken", "camera flaky"]  # once each
    assert all(r.exc_info and r.exc_info[0] is InjectedFailure for r in errors)
    # How far the backoff grows depends on how fast this box decodes; tests/unit/test_supervise.py pins it.
    assert all("camera broken" in r.getMessage() for r in caplog.records if "keeps failing" in r.getMessage())


def _without_seq(window: AggregateWindow) -> dict:
    return window.model_dump(exclude={"seq", "camera_id"})  # the buffer numbers windows box-wide


def _counts(window: AggregateWindow) -> tuple:
    return (window.window_start, window.frames, window.entries, window.exits, window.unique_visitors,
            window.occupancy_max, window.dwell_seconds_histogram.counts)
