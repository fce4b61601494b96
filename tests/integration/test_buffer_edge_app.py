"""`storelens edge run` as a real process on real video: SIGTERM flushes, restart resumes and merges,
and nothing is stamped while the clock is behind what the box already wrote."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from edge_agent.buffer import EdgeBuffer
from edge_agent.resume import PartialStore
from storelens.cli import main
from storelens.wire import AggregateWindow
from tests.servers import storelens, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.vision, pytest.mark.slow]

VIDEO = "video/vtest_pets2009_480x360.avi"  # 795 frames at 10 fps: 79.5 s of video


def _config(tmp_path, media_dir, model_dir, redis_url: str, *, start: str, realtime: bool, name: str,
            max_fps: float = 0):
    raw = {"models": {"dir": str(model_dir), "providers": ["cpu"]},
           "edge": {"window_minutes": 1, "cameras": [{"id": "door", "url": str(media_dir / VIDEO),
                                                      "start_time": start, "realtime": realtime,
                                                      "max_fps": max_fps}]},
           "sync": {"redis_url": redis_url}}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _windows(buffer: EdgeBuffer) -> list[AggregateWindow]:
    return [AggregateWindow.model_validate_json(e.payload) for e in buffer.read_batch("test", 100)]


def test_sigterm_flushes_and_a_restart_in_the_same_window_merges(tmp_path, media_dir, model_dir,
                                                                redis_server, redis_client) -> None:
    first = _config(tmp_path, media_dir, model_dir, redis_server.url, start="2026-03-01T10:00:00Z",
                    realtime=True, name="run1.yaml")
    proc = storelens(["edge", "run", "--config", str(first)], env={}, log_path=tmp_path / "edge1.log")
    wait_for(lambda: "scene looks" in (tmp_path / "edge1.log").read_text(), 60, "frames to flow")
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    buffer = EdgeBuffer(redis_client)
    partials = PartialStore(redis_client, stream=buffer.stream)
    assert redis_client.hlen(partials.key) == 1  # the half window is remembered for a restart
    # The camera keeps running while the box restarts: the second run starts 20 s into the video.
    second = _config(tmp_path, media_dir, model_dir, redis_server.url, start="2026-03-01T10:00:20Z",
                     realtime=False, name="run2.yaml")
    proc = storelens(["edge", "run", "--config", str(second)], env={}, log_path=tmp_path / "edge2.log")
    assert proc.wait(180) == 0  # the file ends: its last window is final, not partial
    windows = _windows(buffer)
    print([(w.window_start.strftime("%H:%M"), w.seq, w.frames) for w in windows])
    flushed, merged, last = windows
    assert flushed.window_start == merged.window_start and merged.seq > flushed.seq
    assert merged.frames == flushed.frames + 400  # 10:00:20..10:01:00 at 10 fps, added to the first half
    assert last.window_start.minute == 1 and redis_client.hlen(partials.key) == 0
    assert "merging the window" in (tmp_path / "edge2.log").read_text()


def test_no_window_is_stamped_while_the_clock_is_behind_until_the_floor_is_cleared(
        tmp_path, media_dir, model_dir, redis_server, redis_client) -> None:
    ahead = datetime.now(UTC) + timedelta(seconds=50)  # the box stamped up to 50 s from now: wait for it
    redis_client.hset("storelens:aggregates:floor", "door", ahead.isoformat())
    cfg = _config(tmp_path, media_dir, model_dir, redis_server.url, start="2026-03-01T10:00:00Z",
                  realtime=False, name="c.yaml", max_fps=2)
    proc = storelens(["edge", "run", "--config", str(cfg)], env={}, log_path=tmp_path / "edge.log")
    wait_for(lambda: "not stamping windows" in (tmp_path / "edge.log").read_text(), 30, "the clock warning")
    time.sleep(1)
    assert EdgeBuffer(redis_client).stats().depth == 0
    assert main(["sync", "clear-clock-floor", "--config", str(cfg)]) == 0  # the technician's one command
    assert proc.wait(180) == 0  # resumed at once, and ran the file to its end
    log = (tmp_path / "edge.log").read_text()
    assert "clear-clock-floor" in log and "stamping resumes" in log
    assert EdgeBuffer(redis_client).stats().depth == 2


def test_a_window_stamped_far_in_the_future_never_blocks_the_box(tmp_path, media_dir, model_dir, redis_server,
                                                                  redis_client) -> None:
    redis_client.hset("storelens:aggregates:floor", "door", "2099-01-01T00:00:00+00:00")  # a clock once set to 2099
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cfg = _config(tmp_path, media_dir, model_dir, redis_server.url, start=now.isoformat(), realtime=False,
                  name="c.yaml", max_fps=2)
    proc = storelens(["edge", "run", "--config", str(cfg)], env={}, log_path=tmp_path / "edge.log")
    assert proc.wait(180) == 0
    errors = [line for line in (tmp_path / "edge.log").read_text().splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "2099-01-01" in errors[0] and "Not waiting" in errors[0]
    assert EdgeBuffer(redis_client).stats().depth == 2  # stamped from the clock as it reads now
    assert PartialStore(redis_client, stream="storelens:aggregates").newest() < datetime(2099, 1, 1, tzinfo=UTC)
