"""Video sources behind one interface: files, RTSP/HTTP streams and USB cameras via cv2.VideoCapture.

A file is read at its own pace (or paced at its own time when `realtime`); timestamps are the
decoder's presentation time on top of the configured start time, never index / header fps
(edge_agent/sources/stream_time.py says why). A file whose header count disagrees with what decodes
is fine; one whose decoder fails with data left, or whose container is cut short, raises
InputError naming the file and frame after every frame before it was delivered. A live source is stamped by the clock, and when it drops
it is reopened with exponential backoff; the lost time travels on the next Frame as `gap_s`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from edge_agent.sources.frame import Frame
from edge_agent.sources.stream_time import StreamClock, container_shortfall, frames_in_stream
from storelens.config.sources import CameraConfig
from storelens.errors import InputError
from storelens.retry import Backoff

log = logging.getLogger(__name__)

_LIVE_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "v4l2://", "/dev/video")


def is_live(url: str) -> bool:
    """A camera (stamped by the clock) rather than a file (stamped by its position); schemes in any case."""
    return url.lower().startswith(_LIVE_PREFIXES) or url.isdigit()


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def video_capture(url: str, open_timeout_s: float, read_timeout_s: float) -> cv2.VideoCapture:
    """A capture of a file, stream or USB camera (a digit is a device index); may not be opened."""
    # Timeouts stop a dead RTSP server from blocking a read for FFmpeg's default ~30 s.
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
    return cv2.VideoCapture(int(url) if url.isdigit() else url, cv2.CAP_ANY, params)


def decoded_images(path: Path) -> Iterator[np.ndarray]:
    """Every image a video file decodes to, in order, for offline evaluation (audits, benchmarks).

    No timestamps, pacing or truncation check: FileSource does those for the pipeline."""
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            yield image
    finally:
        cap.release()


class _Throttle:
    """Lets through at most `max_fps` frames per second of frame time (0 = all)."""

    def __init__(self, max_fps: float) -> None:
        self._step = timedelta(seconds=1.0 / max_fps) if max_fps > 0 else timedelta(0)
        self._due: datetime | None = None

    def allow(self, ts: datetime) -> bool:
        # 1 ms slack so a 10 fps file is not thinned by float rounding at max_fps = 10
        if self._due is not None and ts < self._due - timedelta(milliseconds=1):
            return False
        # Due times advance on a fixed grid, so 25 fps thinned to 10 gives 10, not every 3rd frame;
        # after a long pause the grid restarts from now.
        late = self._due is not None and ts - self._due < self._step
        self._due = (self._due if late else ts) + self._step
        return True


class FileSource:
    """Frames of a video file, stamped with the start time plus the stream's presentation time."""

    def __init__(self, cfg: CameraConfig, stop: threading.Event | None = None) -> None:
        self.path = Path(cfg.url).expanduser()
        self._cfg = cfg
        self._stop = stop or threading.Event()
        self._cap = self._open()
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or 25.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.start = cfg.start_time or datetime.fromtimestamp(os.stat(self.path).st_mtime, UTC)
        self._told = False

    def _open(self) -> cv2.VideoCapture:
        if not self.path.is_file():
            raise InputError(f"video {self.path}: no such file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise InputError(f"video {self.path}: cannot open (not a video or unsupported codec)")
        return cap

    def __iter__(self) -> Iterator[Frame]:
        index, pass_start, lost = 0, 0, 0.0
        clock0 = time.monotonic()
        stream = StreamClock(self.fps)
        throttle = _Throttle(self._cfg.max_fps)
        while not self._stop.is_set():
            ok, image = self._cap.read()
            if not ok:
                self._check_complete(index - pass_start, stream.duration_s)
                if not self._cfg.loop or index == pass_start:
                    return
                self._cap.release()
                self._cap, pass_start = self._open(), index
                stream.restart()
                continue
            offset, gap = stream.next(self._cap.get(cv2.CAP_PROP_POS_MSEC))
            index += 1
            lost += self._lost(gap, offset)
            ts = self.start + timedelta(seconds=offset)
            if not throttle.allow(ts):
                continue
            if self._cfg.realtime:
                self._stop.wait(max(0.0, clock0 + offset - time.monotonic()))
            yield Frame(image, ts, index - 1, self._cfg.id, gap_s=lost)
            lost = 0.0

    def _lost(self, gap_s: float, at_s: float) -> float:
        if gap_s:  # the decoder skipped a damaged stretch, or the recording paused: no video then
            log.warning("video %s: no frames for %.1f s before %.1f s (damaged or not recorded); counted as a gap",
                        self.path, gap_s, at_s)
        return gap_s

    def _check_complete(self, frames_read: int, seconds: float) -> None:
        """The stream ended. A decode failure with data left, or a container cut short, is an error;
        a header whose frame count (or fps) disagrees with what decoded is not."""
        where = f"video {self.path}: unreadable at frame {frames_read} ({seconds:.1f} s)"
        if self._cap.grab():  # the decoder gave up on a stretch, yet frames follow it
            raise InputError(f"{where}: the decoder failed with data left (file corrupt); "
                             "frames before it were processed")
        short = container_shortfall(self.path)
        if short:
            raise InputError(f"{where}: the file ends {short} bytes before its container says it does "
                             "(truncated); frames before it were processed")
        held = frames_in_stream(self.path, self.frame_count)
        if held is not None and frames_read < held - 1:
            raise InputError(f"{where}: {held - frames_read} of the {held} frames in the file's index did not "
                             "decode (file corrupt); every frame that decoded was processed")
        if self.frame_count and abs(frames_read - self.frame_count) > 1 and not self._told:
            self._told = True  # once, not on every pass of a looped file
            log.info("video %s: the header says %d frames at %.3g fps; %d decoded over %.1f s of stream time "
                     "(timestamps come from the stream)", self.path, self.frame_count, self.fps, frames_read, seconds)

    def close(self) -> None:
        self._cap.release()


class LiveSource:
    """A camera stream stamped by the clock; drops are reconnected with backoff and reported."""

    def __init__(
        self,
        cfg: CameraConfig,
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cfg = cfg
        self._stop = stop or threading.Event()
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None
        self.connects = 0

    def __iter__(self) -> Iterator[Frame]:
        index, lost_since = 0, None
        throttle = _Throttle(self._cfg.max_fps)
        while not self._stop.is_set():
            if self._cap is None:
                lost_since = lost_since or self._clock()
                self._cap = self._reconnect()
                continue
            ok, image = self._cap.read()
            if not ok:
                log.warning("camera %s: stream dropped (%s); reconnecting", self._cfg.id, redact(self._cfg.url))
                self._cap.release()
                self._cap, lost_since = None, self._clock()
                continue
            now = self._clock()
            if not throttle.allow(now):
                continue
            gap = (now - lost_since).total_seconds() if lost_since and index else 0.0
            lost_since = None
            yield Frame(image, now, index, self._cfg.id, gap_s=gap)
            index += 1

    def _reconnect(self) -> cv2.VideoCapture | None:
        """Open the stream, retrying with jittered exponential backoff until it opens or we are stopped."""
        backoff = Backoff(self._cfg.reconnect_initial_s, max(self._cfg.reconnect_initial_s, self._cfg.reconnect_max_s))
        attempts = 0
        while not self._stop.is_set():
            cap = video_capture(self._cfg.url, self._cfg.open_timeout_s, self._cfg.read_timeout_s)
            if cap.isOpened():
                if attempts:
                    log.info("camera %s: reconnected after %d attempts", self._cfg.id, attempts)
                self.connects += 1
                return cap
            cap.release()
            if attempts == 0:  # log once per outage, not once per retry
                log.warning("camera %s: cannot open %s; retrying with backoff", self._cfg.id, redact(self._cfg.url))
            attempts += 1
            self._stop.wait(backoff.next())
        return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


VideoSource = FileSource | LiveSource


def open_source(cfg: CameraConfig, stop: threading.Event | None = None) -> VideoSource:
    """The source for a camera's url: live stream/USB device, else a file."""
    if is_live(cfg.url):
        return LiveSource(cfg, stop)
    return FileSource(cfg, stop)
