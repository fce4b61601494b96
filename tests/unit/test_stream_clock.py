"""Frame times from the decoder's presentation times, as FFmpeg reports them through OpenCV."""

from __future__ import annotations

import pytest

from edge_agent.sources.stream_time import StreamClock, container_shortfall


def _times(fps: float, positions_ms: list[float]) -> list[tuple[float, float]]:
    clock = StreamClock(fps)
    return [tuple(round(v, 3) for v in clock.next(p)) for p in positions_ms]


@pytest.mark.parametrize(
    ("name", "header_fps", "positions", "expected"),
    [
        ("plain 25 fps", 25, [0, 40, 80, 120], [0, 0.04, 0.08, 0.12]),
        # B-frames: FFmpeg's first frame reads 200 ms; the last two, flushed from the decoder, read 0.
        ("reorder delay and flushed tail", 10, [200, 300, 400, 0, 0], [0, 0.1, 0.2, 0.3, 0.4]),
        # The header says 50 fps; the stream holds a frame every 40 ms: the stream wins.
        ("header fps wrong", 50, [0, 40, 80, 120], [0, 0.04, 0.08, 0.12]),
        ("variable rate", 25, [0, 40, 120, 160], [0, 0.04, 0.12, 0.16]),
        ("a time going backwards continues at the last step", 25, [0, 40, 80, 60, 160], [0, 0.04, 0.08, 0.12, 0.16]),
    ],
)
def test_frame_times(name: str, header_fps: float, positions: list[float], expected: list[float]) -> None:
    assert [t for t, _gap in _times(header_fps, positions)] == expected, name


def test_a_long_jump_is_a_gap() -> None:
    times = _times(10, [0, 100, 200, 5200, 5300])
    assert [t for t, _ in times] == [0, 0.1, 0.2, 5.2, 5.3]
    assert [g for _, g in times] == [0, 0, 0, 4.9, 0]  # 5 s without frames, one frame's worth expected


def test_a_looped_file_keeps_moving_forward() -> None:
    clock = StreamClock(25)
    first = [clock.next(p)[0] for p in (0, 40, 80)]
    clock.restart()
    second = [clock.next(p)[0] for p in (0, 40)]
    assert first + second == pytest.approx([0, 0.04, 0.08, 0.12, 0.16])
    assert clock.duration_s == pytest.approx(0.2)


def test_container_shortfall(tmp_path) -> None:
    riff = b"RIFF" + (1000).to_bytes(4, "little") + b"AVI " + bytes(996)  # declares 1008 bytes, holds them
    whole, cut, other = tmp_path / "whole.avi", tmp_path / "cut.avi", tmp_path / "clip.mkv"
    whole.write_bytes(riff)
    cut.write_bytes(riff[:600])
    other.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(100))
    assert (container_shortfall(whole), container_shortfall(cut), container_shortfall(other)) == (0, 408, 0)
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes((16).to_bytes(4, "big") + b"ftyp" + bytes(8) + (5000).to_bytes(4, "big") + b"mdat" + bytes(100))
    assert container_shortfall(mp4) == 5000 - 108
