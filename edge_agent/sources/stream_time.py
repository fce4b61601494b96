"""Time and completeness of a video file, taken from what the stream holds rather than its header.

A header can disagree with its stream and still be healthy: an AVI written on a 50 fps time base
holds a frame in every second tick (the others are empty "drop" chunks), so its header says 682
frames at 50 fps while 341 frames at 25 fps decode, without a single decoder error. Counting
frames and dividing by the header's fps halves every dwell time in such a file, and comparing the
count with the header calls it corrupt. So frame times come from the decoder's presentation time
(`CAP_PROP_POS_MSEC`). A file is cut short when its container says it is longer than the bytes on
disk, and corrupt when fewer frames decode than its index holds (AVI idx1: the non-empty chunks of
the video stream; MP4/MOV: the sample table), which is a decode failure with data left.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

GAP_MIN_S = 1.0  # a jump in presentation time this long (and 10 steps or more) is lost video, not a frame
_BMFF_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"mfra", b"styp", b"sidx", b"uuid", b"meta"}


class StreamClock:
    """Seconds since the first frame, from the decoder's presentation times (milliseconds).

    FFmpeg gives the first frame of a stream with B-frames a time after 0 (reorder delay) and frames
    flushed out of the decoder at the end no time at all (0): times count from the first frame, and a
    missing or backward time continues one step after the previous frame. A long jump forward is a
    gap: video lost (damaged stretch skipped by the decoder) or never recorded.
    """

    def __init__(self, header_fps: float) -> None:
        self._step = 1.0 / header_fps if header_fps > 0 else 0.04  # until the stream shows its own
        self._origin_ms: float | None = None  # presentation time of this pass's first frame
        self._base = 0.0  # our time of this pass's first frame (a looped file keeps moving forward)
        self._last: float | None = None

    def next(self, pos_ms: float) -> tuple[float, float]:
        """(seconds since the first frame, seconds of video lost just before this frame)."""
        known = math.isfinite(pos_ms)
        if self._origin_ms is None:
            self._origin_ms = pos_ms if known else 0.0
            self._last = self._base
            return self._base, 0.0
        t = self._base + (pos_ms - self._origin_ms) / 1000 if known else -math.inf
        if t <= self._last:  # no time (0 before the origin), or not after the previous frame
            t, jump = self._last + self._step, None
        else:
            jump = t - self._last
        gap = 0.0
        if jump is not None and jump >= max(GAP_MIN_S, 10 * self._step):
            gap = jump - self._step
        elif jump is not None:
            self._step = jump
        self._last = t
        return t, gap

    def restart(self) -> None:
        """A looped file starts again: its presentation times restart, ours go on one step later."""
        if self._last is not None:
            self._base = self._last + self._step
        self._origin_ms = None

    @property
    def duration_s(self) -> float:
        """Seconds of video seen so far: first frame to one step after the last."""
        return 0.0 if self._last is None else self._last + self._step


def container_shortfall(path: Path) -> int:
    """Bytes the file's top-level container structure declares beyond its end: > 0 means cut short.

    RIFF (AVI, including OpenDML's extra RIFF chunks) and ISO BMFF (MP4, MOV) are walked chunk by
    chunk; other formats give 0 (nothing to check against).
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] == b"RIFF":
            end = _riff_end(f, size)
        elif head[4:8] in _BMFF_TOP:
            end = _bmff_end(f, size)
        else:
            return 0
    return max(0, end - size)


def _riff_end(f, size: int) -> int:
    off = 0
    while off + 8 <= size:
        f.seek(off)
        tag, length = struct.unpack("<4sI", f.read(8))
        if tag != b"RIFF":
            break  # trailing bytes that are not a RIFF chunk: not ours to judge
        end = off + 8 + length
        if end > size:
            return end
        off = end + (length & 1)
    return min(off, size)


def _bmff_end(f, size: int) -> int:
    off = 0
    while off + 8 <= size:
        f.seek(off)
        length, tag = struct.unpack(">I4s", f.read(8))
        if length == 1:
            length = struct.unpack(">Q", f.read(8))[0]
        elif length == 0:
            return size  # the last box runs to the end of the file
        if length < 8 or tag not in _BMFF_TOP and not tag.isalnum():
            break
        if off + length > size:
            return off + length
        off += length
    return min(off, size)


def frames_in_stream(path: Path, header_count: int) -> int | None:
    """How many frames the stream itself holds, where the file says so reliably: an AVI's index,
    or for MP4/MOV the decoder's count (it is the sample table's there). None when unknown."""
    avi = indexed_frames(path)
    if avi is not None:
        return avi
    with path.open("rb") as f:
        bmff = f.read(8)[4:8] in _BMFF_TOP
    return header_count if bmff and header_count > 0 else None


def indexed_frames(path: Path) -> int | None:
    """Video frames an AVI's idx1 index holds (drop chunks of size 0 left out); None when the file is
    not a single-RIFF AVI with an index (OpenDML files past 1 GB index elsewhere)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
            return None
        riff_end = 8 + struct.unpack("<I", head[4:8])[0]
        if riff_end + 8 <= size:
            f.seek(riff_end + (riff_end & 1))
            if f.read(4) == b"RIFF":
                return None  # an AVIX extension follows: idx1 covers only the first part
        video, index = _avi_layout(f, 12, min(riff_end, size))
        if video is None or index is None:
            return None
        f.seek(index[0])
        entries = np.frombuffer(f.read(index[1] // 16 * 16), dtype=[("id", "S4"), ("flags", "<u4"), ("off", "<u4"),
                                                                     ("size", "<u4")])
    ours = np.char.startswith(entries["id"], f"{video:02d}".encode())
    return int((ours & (entries["size"] > 0)).sum())


def _avi_layout(f, start: int, end: int) -> tuple[int | None, tuple[int, int] | None]:
    """(number of the first video stream, (offset, length) of idx1) from the top of an AVI."""
    streams, video, index = 0, None, None
    for tag, data, length in _riff_chunks(f, start, end):
        if tag == b"strh":
            f.seek(data)
            if f.read(4) == b"vids" and video is None:
                video = streams
            streams += 1
        elif tag == b"idx1":
            index = (data, length)
    return video, index


def _riff_chunks(f, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(tag, data offset, length) of every chunk, inside the hdrl/strl lists too (not movi's frames)."""
    off = start
    while off + 8 <= end:
        f.seek(off)
        tag, length = struct.unpack("<4sI", f.read(8))
        if tag == b"LIST":
            kind = f.read(4)
            if kind in (b"hdrl", b"strl"):
                yield from _riff_chunks(f, off + 12, min(off + 8 + length, end))
        else:
            yield tag, off + 8, length
        off += 8 + length + (length & 1)
