"""`storelens camera probe`: what a camera delivers (resolution, frame rate, codec) and how reliably.

Dropped frames are counted from the stream's own timestamps: a step of k frame intervals means
k - 1 frames never arrived. A stream that breaks during the probe is reopened (within the time
budget) and counted as a reconnect, so a flaky camera shows up here rather than in the night's data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edge_agent.technician.capture import CameraReader, redact
from storelens.errors import InputError


@dataclass(frozen=True)
class ProbeReport:
    url: str
    kind: str
    width: int
    height: int
    codec: str
    fps_declared: float
    fps_measured: float
    frames: int
    dropped_frames: int
    reconnects: int
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


class DropCounter:
    """Missing frames from successive presentation timestamps (milliseconds)."""

    def __init__(self, fps: float) -> None:
        self.interval_ms = 1000.0 / fps if fps > 0 else 0.0
        self.last_ms: float | None = None
        self.dropped = 0

    def update(self, pos_ms: float) -> None:
        # A timestamp going backwards is a restarted stream (reconnect): start counting again.
        if self.interval_ms and self.last_ms is not None and pos_ms > self.last_ms:
            steps = round((pos_ms - self.last_ms) / self.interval_ms)
            self.dropped += max(0, steps - 1)
        self.last_ms = pos_ms


def probe(url: str, seconds: float = 5.0, timeout_s: float = 5.0) -> ProbeReport:
    """Read the source for `seconds` (a file: at most that much of its video) and report."""
    reader = CameraReader(url, seconds, timeout_s)
    drops = DropCounter(reader.fps)
    frames = 0
    for _image, pos_ms in reader.frames():  # pixels are dropped at once: the probe needs only timing
        frames += 1
        drops.update(pos_ms)
    if frames == 0:
        raise InputError(f"camera {redact(url)}: opened but delivered no frame in {seconds:g} s")
    live = reader.kind != "file"
    measured = frames / reader.elapsed_s if live and reader.elapsed_s > 0 else reader.fps
    return ProbeReport(redact(url), reader.kind, reader.width, reader.height, reader.codec, round(reader.fps, 2),
                       round(measured, 2), frames, drops.dropped, reader.reconnects, round(reader.elapsed_s, 2))
