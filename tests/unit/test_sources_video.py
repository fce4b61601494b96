"""Video sources on real files: timestamps, looping, truncated files, live reconnect with gaps."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from itertools import islice

import numpy as np
import pytest

from edge_agent.sources import FileSource, LiveSource, open_source
from edge_agent.sources.video import decoded_images, is_live
from storelens.config.sources import CameraConfig
from storelens.errors import InputError

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def video(media_dir):
    return media_dir / "video" / "TUD-Campus.mp4"  # 71 frames, 25 fps


@pytest.mark.parametrize(
    ("url", "live"),
    [("rtsp://10.0.0.5/stream1", True), ("/dev/video0", True), ("0", True), ("https://cam/x.mjpg", True),
     ("/data/clip.mp4", False), ("clip.avi", False)],
)
def test_kind_of_source(url: str, live: bool) -> None:
    assert is_live(url) is live


def test_file_frames_have_position_timestamps(video) -> None:
    frames = list(FileSource(CameraConfig(id="c1", url=str(video), start_time=START)))
    assert len(frames) == 71
    assert [f.index for f in frames[:3]] == [0, 1, 2]
    assert frames[25].ts - frames[0].ts == timedelta(seconds=1)
    assert frames[0].ts == START and frames[0].camera_id == "c1" and frames[0].image.shape == (480, 640, 3)


def test_decoded_images_are_the_frames_the_pipeline_source_sees(video) -> None:
    images = list(decoded_images(video))
    frames = list(FileSource(CameraConfig(id="c1", url=str(video), start_time=START)))
    assert len(images) == len(frames) == 71
    assert all(np.array_equal(a, f.image) for a, f in zip(images[::10], frames[::10], strict=True))


def test_loop_keeps_time_moving_forward(video) -> None:
    src = open_source(CameraConfig(id="c1", url=str(video), start_time=START, loop=True))
    frames = list(islice(iter(src), 150))
    assert [f.index for f in frames] == list(range(150))
    assert all(b.ts > a.ts for a, b in zip(frames, frames[1:], strict=False))


@pytest.mark.parametrize(("what", "content"), [("missing", None), ("not a video", b"hello, not a video" * 100)])
def test_unreadable_file_is_one_clear_error(tmp_path, what: str, content: bytes | None) -> None:
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=f"video {path}"):
        FileSource(CameraConfig(id="c1", url=str(path)))


def test_truncated_file_ends_with_error_naming_file_and_frame(media_dir, tmp_path) -> None:
    full = (media_dir / "video" / "vtest_pets2009_480x360.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full[: len(full) // 3])
    frames = []
    with pytest.raises(InputError) as err:
        for frame in FileSource(CameraConfig(id="c1", url=str(cut), start_time=START)):
            frames.append(frame.index)
    assert len(frames) > 100  # everything before the break was delivered
    assert f"video {cut}: unreadable at frame {len(frames)} (" in str(err.value) and "truncated" in str(err.value)


def test_live_drop_is_reconnected_and_the_gap_recorded(video, caplog) -> None:
    """A stream that ends is a drop: the source reopens it after the backoff and reports the gap."""
    stop = threading.Event()
    cfg = CameraConfig(id="door", url=str(video), reconnect_initial_s=0.2, reconnect_max_s=1)
    source = LiveSource(cfg, stop)
    with caplog.at_level(logging.WARNING):
        frames = list(islice(iter(source), 71 + 5))
    stop.set()
    gaps = [f.gap_s for f in frames]
    assert gaps[:71] == [0.0] * 71
    assert gaps[71] > 0  # first frame after the reconnect carries the lost time
    assert frames[71].index == 71 and source.connects == 2
    assert "stream dropped" in caplog.text


def test_unreachable_camera_retries_with_backoff_until_stopped(caplog) -> None:
    stop = threading.Event()
    cfg = CameraConfig(id="door", url="rtsp://127.0.0.1:9/none", reconnect_initial_s=0.05, reconnect_max_s=0.2)
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    with caplog.at_level(logging.WARNING):
        frames = list(LiveSource(cfg, stop))
    timer.cancel()
    assert frames == []
    assert caplog.text.count("cannot open rtsp://127.0.0.1:9/none") == 1  # logged once per outage


@pytest.mark.parametrize(("max_fps", "expected"), [(0, 71), (25, 71), (10, 29), (5, 15)])
def test_max_fps_thins_frames_by_their_time(video, max_fps: float, expected: int) -> None:
    frames = list(FileSource(CameraConfig(id="c1", url=str(video), start_time=START, max_fps=max_fps)))
    assert len(frames) == expected
    span = (frames[-1].ts - frames[0].ts).total_seconds()
    assert (len(frames) - 1) / span <= (max_fps or 25) + 1e-6


def test_realtime_paces_a_file_at_its_fps(video) -> None:
    import time

    t0 = time.monotonic()
    frames = list(islice(iter(FileSource(CameraConfig(id="c1", url=str(video), realtime=True))), 13))
    assert len(frames) == 13 and time.monotonic() - t0 >= 12 / 25 - 0.02
