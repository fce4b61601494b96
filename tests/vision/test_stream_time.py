"""Time from the stream: an H.264 AVI whose header disagrees with its stream is healthy.

The first 300 frames of PETS 2009 (10 fps) are written as H.264 AVI by ffmpeg twice: at their own
rate, and on a 20 fps time base, where ffmpeg's AVI muxer fills every other tick with an empty drop
chunk, so the header claims 2x the frames at 2x the fps while the stream holds the real 300 frames
at 10 fps (the file the issue met: "682 frames at 50 fps" holding 341 at 25). A third copy has only
its header's frame counts doubled, patched here in Python (avih dwTotalFrames, strh dwLength).
Every copy must give all 300 frames, no error, 29.9 s of stream time and the same dwell times.
A copy cut short, or one damaged in the middle, still raises one clear error.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.analyze import analyze_video
from edge_agent.samples import get_sample, sample_config_path
from edge_agent.sources import FileSource
from storelens.config import load_config
from storelens.config.sources import CameraConfig
from storelens.errors import InputError

pytestmark = [pytest.mark.vision, pytest.mark.slow]

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
FRAMES = 300


def _ffmpeg(src: Path, out: Path, *extra: str) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg not found (./dev installs it with apt-get)")
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-an", "-frames:v", str(FRAMES),
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "20", "-pix_fmt", "yuv420p", *extra, str(out)],
                   check=True)
    return out


def _headers(path: Path) -> dict[str, int]:
    """avih and the video strh fields, read from the file as any player would."""
    data = path.read_bytes()
    avih = data.index(b"avih") + 8
    strh = _video_strh(data)
    us_per_frame, total = struct.unpack_from("<I", data, avih)[0], struct.unpack_from("<I", data, avih + 16)[0]
    scale, rate, _start, length = struct.unpack_from("<4I", data, strh + 20)
    return {"us_per_frame": us_per_frame, "total": total, "scale": scale, "rate": rate, "length": length}


def _video_strh(data: bytes | bytearray) -> int:
    """Offset of the video stream header's data (its fccType reads 'vids')."""
    at = data.index(b"strh")
    while data[at + 8: at + 12] != b"vids":
        at = data.index(b"strh", at + 4)
    return at + 8


def _double_counts(src: Path, out: Path) -> Path:
    """The same file with its header claiming twice the frames (dwTotalFrames, dwLength)."""
    data = bytearray(src.read_bytes())
    avih, strh = data.index(b"avih") + 8, _video_strh(data)
    struct.pack_into("<I", data, avih + 16, 2 * struct.unpack_from("<I", data, avih + 16)[0])
    struct.pack_into("<I", data, strh + 32, 2 * struct.unpack_from("<I", data, strh + 32)[0])
    out.write_bytes(bytes(data))
    return out


@pytest.fixture(scope="module")
def clips(media_dir, tmp_path_factory) -> dict[str, Path]:
    src = media_dir / "video" / get_sample().file
    root = tmp_path_factory.mktemp("avi")
    honest = _ffmpeg(src, root / "honest.avi")
    double_rate = _ffmpeg(src, root / "double_rate.avi", "-r", "20", "-fps_mode", "vfr")
    return {"honest": honest, "double_rate": double_rate, "double_count": _double_counts(honest, root / "count.avi")}


def test_the_headers_lie_as_intended(clips) -> None:
    honest, double = _headers(clips["honest"]), _headers(clips["double_rate"])
    assert (honest["rate"] / honest["scale"], honest["length"], honest["total"]) == (10, FRAMES, FRAMES)
    assert double["rate"] / double["scale"] == 20 and double["us_per_frame"] == 50_000
    assert double["length"] >= 2 * FRAMES - 1 and double["total"] >= 2 * FRAMES - 1
    assert _headers(clips["double_count"])["length"] == 2 * FRAMES


@pytest.mark.parametrize("clip", ["honest", "double_rate", "double_count"])
def test_every_frame_at_its_stream_time(clips, clip: str) -> None:
    frames = list(FileSource(CameraConfig(id="c1", url=str(clips[clip]), start_time=START)))  # raises if "corrupt"
    assert len(frames) == FRAMES
    assert frames[0].ts == START
    assert (frames[-1].ts - frames[0].ts).total_seconds() == pytest.approx((FRAMES - 1) / 10, abs=0.01)
    steps = {round((b.ts - a.ts).total_seconds(), 3) for a, b in zip(frames, frames[1:], strict=False)}
    assert steps == {0.1} and all(f.gap_s == 0 for f in frames)


def test_dwell_times_match_the_honest_file(clips, models_cfg) -> None:
    cfg = load_config(sample_config_path(get_sample())).model_copy(update={"models": models_cfg})
    runs = {name: analyze_video(cfg, CameraConfig(id="cam1", url=str(clips[name]), start_time=START))
            for name in ("honest", "double_rate")}
    honest, double = (runs[n].windows[0] for n in ("honest", "double_rate"))
    assert all(r.error is None and r.frames == FRAMES for r in runs.values())
    assert double.dwell_seconds_histogram == honest.dwell_seconds_histogram
    print("dwell histogram", honest.dwell_seconds_histogram.counts, "unique", honest.unique_visitors)
    assert sum(honest.dwell_seconds_histogram.counts[1:]) >= 3  # 10 s or more: halved times would sit lower
    assert (double.unique_visitors, double.entries, double.exits) == (honest.unique_visitors, honest.entries,
                                                                     honest.exits)


def test_a_file_cut_short_is_still_an_error(clips, tmp_path) -> None:
    data = clips["double_rate"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    frames = []
    with pytest.raises(InputError, match=r"truncated") as err:
        for frame in FileSource(CameraConfig(id="c1", url=str(cut), start_time=START)):
            frames.append(frame)
    assert 100 < len(frames) < FRAMES and f"video {cut}: unreadable at frame {len(frames)}" in str(err.value)


def test_a_damaged_middle_is_still_an_error(clips, tmp_path) -> None:
    data = bytearray(clips["honest"].read_bytes())
    middle = len(data) // 2
    data[middle: middle + len(data) // 8] = bytes(len(data) // 8)  # zeros over an eighth of the frames
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    frames = []
    with pytest.raises(InputError, match=r"did not decode \(file corrupt\)"):
        for frame in FileSource(CameraConfig(id="c1", url=str(broken), start_time=START)):
            frames.append(frame)
    assert len(frames) > FRAMES // 2  # everything that decoded was delivered
