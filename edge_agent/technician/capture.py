"""Opening a camera for a technician: bounded time, and one clear line when it cannot be read.

The edge agent's own sources (edge_agent.sources) retry a dropped camera forever, which is right
for a service; a technician at the door wants to know within seconds that the URL is wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from edge_agent.sources.video import is_live, redact, video_capture
from storelens.errors import InputError

log = logging.getLogger(__name__)


def source_kind(url: str) -> str:
    if url.isdigit() or url.startswith("/dev/video"):
        return "usb"
    return urlsplit(url).scheme if is_live(url) else "file"


def open_capture(url: str, timeout_s: float = 5.0) -> cv2.VideoCapture:
    """An opened capture whose first frame was readable; InputError (one line) otherwise."""
    if source_kind(url) == "file" and not Path(url).expanduser().is_file():
        raise InputError(f"video {url}: no such file")
    cap = video_capture(url, timeout_s, timeout_s)
    if not cap.isOpened():
        cap.release()
        raise InputError(f"camera {redact(url)}: cannot connect or open (unreachable, wrong path or credentials, "
                         f"or not a video) within {timeout_s:g} s")
    return cap


def fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    return text if text.isprintable() and text else "unknown"


class CameraReader:
    """Frames from a camera for a bounded time, reopening a dropped live stream within that time.

    `frames()` yields (BGR image, stream timestamp ms); a file yields at most `seconds` of video.
    """

    def __init__(self, url: str, seconds: float, timeout_s: float = 5.0) -> None:
        self.url, self.seconds, self.timeout_s = url, seconds, timeout_s
        self.kind = source_kind(url)
        self._cap = open_capture(url, timeout_s)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.codec = fourcc(self._cap)
        self.reconnects = 0
        self.elapsed_s = 0.0

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        start = time.monotonic()
        limit = self.seconds * max(self.fps, 1.0) if self.kind == "file" else float("inf")
        count = 0
        try:
            while time.monotonic() - start < self.seconds and count < limit:
                ok, image = self._cap.read()
                if ok:
                    count += 1
                    yield image, float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
                elif self.kind == "file":
                    break
                else:
                    self._reopen(start + self.seconds)
        finally:
            self.elapsed_s = time.monotonic() - start
            self._cap.release()

    def _reopen(self, deadline: float) -> None:
        log.warning("camera %s: stream dropped; reconnecting", redact(self.url))
        self._cap.release()
        self.reconnects += 1
        while True:
            try:
                self._cap = open_capture(self.url, self.timeout_s)
                log.info("camera %s: stream is back", redact(self.url))
                return
            except InputError:
                if time.monotonic() + 0.5 >= deadline:
                    raise InputError(f"camera {redact(self.url)}: stream dropped and did not come back "
                                     f"within the {self.seconds:g} s run") from None
                time.sleep(0.5)
